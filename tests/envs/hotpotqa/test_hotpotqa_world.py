"""The generated world: size, question types, supporting facts, distractors, determinism."""
import json

import pytest

from envs.hotpotqa.data import ensure_bundled, load_bundle, write_bundle
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


def test_both_types_and_yes_no(world):
    questions = world.questions("train")
    types = {q.type for q in questions}
    answers = {q.answer for q in questions if q.type == "comparison"}
    assert types == {"bridge", "comparison"}
    assert {"yes", "no"} <= answers
    assert sum(q.type == "bridge" for q in questions) > len(questions) // 3


@pytest.mark.parametrize("split", ["test", "dev"])
def test_supporting_facts_and_hops_hold(world, split):
    for q in world.questions(split):
        assert len(q.supporting_facts) == len(q.hops) == 2
        for (title, index), hop in zip(q.supporting_facts, q.hops):
            page = world.store[title]
            sentence = page.sentences[index]
            assert (hop.title, hop.sentence) == (title, index)
            if index >= SUMMARY_SENTENCES:  # reachable only by lookup: the keyword must hit it first
                assert page.sentences_with(hop.keyword)[0] == sentence
            assert normalize_answer(hop.value) in normalize_answer(sentence)
        if q.type == "bridge":
            first = world.store[q.supporting_facts[0][0]]
            assert normalize_answer(q.answer) not in normalize_answer(" ".join(first.sentences))
            assert normalize_answer(q.answer) not in normalize_answer(q.question)
            assert normalize_answer(q.hops[0].value) in normalize_answer(first.sentences[q.supporting_facts[0][1]])
            assert q.hops[1].value == q.answer


def test_some_facts_need_lookup(world):
    beyond = sum(i >= SUMMARY_SENTENCES for q in world.questions("test") for _, i in q.supporting_facts)
    assert beyond >= 50


def test_distractors_share_names(world):
    titles = [p.title for p in world.store.pages]
    disambiguated = [t for t in titles if t.endswith(")")]
    assert len(disambiguated) >= 100
    bases = {t.rsplit(" (", 1)[0] for t in disambiguated}
    assert all(base not in world.store for base in bases)  # a bare shared name is never an exact page
    assert any(t.endswith(" film)") for t in disambiguated) and any(t.endswith("(novel)") for t in disambiguated)


def test_pages_link_to_each_other(world):
    director_q = next(q for q in world.questions("train") if q.question.startswith("In which city was the director of"))
    film, person = (world.store[t] for t, _ in director_q.supporting_facts)
    assert director_q.hops[0].value in " ".join(film.sentences)
    film_name = film.title.rsplit(" (", 1)[0]
    assert film_name in " ".join(person.sentences)  # the director's page names the film back


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
