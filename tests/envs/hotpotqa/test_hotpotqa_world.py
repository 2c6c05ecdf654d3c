"""The generated world: size, question mix and forms, supporting facts, distractors, determinism."""

import json
import re
import statistics

import pytest

from envs.hotpotqa.data import BUNDLE_VERSION, bundle_dir, ensure_bundled, load_bundle, write_bundle
from envs.hotpotqa.env import HotPotQAEnv
from envs.hotpotqa.pages import SUMMARY_SENTENCES
from envs.hotpotqa.scoring import normalize_answer
from envs.hotpotqa.world import generate_world


@pytest.fixture(scope="module")
def world():
    return load_bundle(ensure_bundled())


def test_bundle_sizes(world):
    manifest = json.loads((ensure_bundled() / "manifest.json").read_text())
    assert manifest["counts"]["pages"] == len(world.store) >= 3000
    assert len(world.questions("train")) >= 10_000
    assert len(world.questions("dev")) == len(world.questions("test")) == 500


def test_questions_are_distinct_across_splits(world):
    texts = [q.question for split in ("train", "dev", "test") for q in world.questions(split)]
    assert len(set(texts)) == len(texts)


def test_question_mix_is_near_hotpotqa_dev(world):
    """Real dev: 79.9% bridge, 20.1% comparison, 6.2% yes/no answers."""
    questions = world.questions("train")
    bridge = sum(q.type == "bridge" for q in questions) / len(questions)
    yes_no = [q.answer for q in questions if q.answer in ("yes", "no")]
    assert 0.77 <= bridge <= 0.83
    assert 0.05 <= len(yes_no) / len(questions) <= 0.075
    assert 0.35 <= yes_no.count("yes") / len(yes_no) <= 0.65
    assert all(q.type == "comparison" for q in questions if q.answer in ("yes", "no"))


def test_many_question_forms(world):
    """Questions are phrased many ways: distinct wordings once the entity names are masked."""
    forms = set()
    for q in world.questions("train"):
        text = q.question
        for title, _ in q.supporting_facts:
            text = text.replace(re.sub(r" \(.*\)$", "", title), "X")
        forms.add(re.sub(r"\b(the film|the novel|the band|the company) X", "X", text))
    assert len(forms) >= 150


def test_pages_are_long_and_facts_often_need_lookup(world):
    assert statistics.mean(len(p.sentences) for p in world.store.pages) >= 8
    beyond = sum(i >= SUMMARY_SENTENCES for q in world.questions("test") for _, i in q.supporting_facts)
    assert beyond >= 150


@pytest.mark.parametrize("split", ["test", "dev"])
def test_supporting_facts_and_hops_hold(world, split):
    for q in world.questions(split):
        assert len(q.supporting_facts) == len(q.hops) == 2
        for (title, index), hop in zip(q.supporting_facts, q.hops, strict=True):
            page = world.store[title]
            sentence = page.sentences[index]
            assert (hop.title, hop.sentence) == (title, index)
            if index >= SUMMARY_SENTENCES:  # reachable only by lookup: each keyword must hit it first
                assert hop.keywords and all(page.sentences_with(k)[0] == sentence for k in hop.keywords)
                first_hop = world.store[q.hops[0].title].sentences[q.hops[0].sentence]
                shown = f"{q.question} {page.summary()} {first_hop}"
                assert any(k.lower() in shown.lower() for k in hop.keywords)  # the agent has seen the word
            else:
                assert hop.keywords == ()
            assert normalize_answer(hop.value) in normalize_answer(sentence)
        if q.type == "bridge":
            first = world.store[q.supporting_facts[0][0]]
            assert normalize_answer(q.answer) not in normalize_answer(" ".join(first.sentences))
            assert normalize_answer(q.answer) not in normalize_answer(q.question)
            assert normalize_answer(q.hops[0].value) in normalize_answer(
                first.sentences[q.supporting_facts[0][1]]
            )
            assert q.hops[1].value == q.answer


def test_distractors_share_names(world):
    titles = [p.title for p in world.store.pages]
    disambiguated = [t for t in titles if t.endswith(")")]
    assert len(disambiguated) >= 100
    bases = {t.rsplit(" (", 1)[0] for t in disambiguated}
    assert all(base not in world.store for base in bases)  # a bare shared name is never an exact page
    assert any(t.endswith(" film)") for t in disambiguated) and any(
        t.endswith("(novel)") for t in disambiguated
    )


def test_lookalike_names_make_similar_lists_matter(world):
    titles = {p.title for p in world.store.pages}
    lookalikes = [t for t in titles if t.startswith("The ") and t[4:] in titles]
    assert len(lookalikes) >= 40  # "The Silent Harbour" beside "Silent Harbour"
    needs_list = 0
    for q in world.questions("test"):
        for title, _ in q.supporting_facts:
            base = re.sub(r" \(.*\)$", "", title)
            if base != title:  # search[base] fails; its Similar list must offer the page
                needs_list += 1
                assert title in world.search.similar(base)
    assert needs_list >= 30


def test_pages_link_to_each_other(world):
    director_q = next(
        q for q in world.questions("train") if q.question.startswith("In which city was the director of")
    )
    film, person = (world.store[t] for t, _ in director_q.supporting_facts)
    assert director_q.hops[0].value in " ".join(film.sentences)
    film_name = film.title.rsplit(" (", 1)[0]
    assert film_name in " ".join(person.sentences)  # the director's page names the film back


def test_bundle_cache_is_keyed_by_world_version():
    assert BUNDLE_VERSION == "v3" and bundle_dir().name == "world-v3-seed0"
    assert json.loads((ensure_bundled() / "manifest.json").read_text())["version"] == "v3"


def test_ensure_bundled_is_idempotent():
    manifest = ensure_bundled() / "manifest.json"
    before = manifest.stat().st_mtime_ns
    assert ensure_bundled() / "manifest.json" == manifest and manifest.stat().st_mtime_ns == before


def test_generation_is_deterministic_by_seed(tmp_path, world):
    sizes = {"test": 30, "train": 30}
    store_a, splits_a = generate_world(seed=7, split_sizes=sizes)
    store_b, splits_b = generate_world(seed=7, split_sizes=sizes)
    assert [p.title for p in store_a.pages] == [p.title for p in store_b.pages]
    assert [q.to_json() for q in splits_a["test"]] == [q.to_json() for q in splits_b["test"]]
    bundled = world.questions("test")[:30]
    assert [q.question for q in splits_a["test"]] != [q.question for q in bundled]  # seed 7 is not seed 0
    # a world written in the bundled layout plays through data=DIRECTORY
    env = HotPotQAEnv(split="train", data=str(write_bundle(tmp_path / "world7", store_a, splits_a)))
    assert env.task_ids == [q.id for q in splits_a["train"]]
    assert env.reset(options={"task_id": "train-00003"})[0] == f"Question: {splits_a['train'][3].question}"
