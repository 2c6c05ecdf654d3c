"""The honest HotPotQA expert: EM floor with the answer hidden, grounding, varied thoughts, relabelling,
official-format files."""

import json
import re
import statistics

import pytest

import agents
from agents.base import Episode
from agents.experts.hotpotqa import THOUGHTS, HotPotQAExpert
from agents.react import Turn, parse
from envs.hide_privileged import HidePrivilegedInfo
from envs.hotpotqa.data import ensure_bundled
from envs.hotpotqa.env import HotPotQAEnv

FLOOR_EPISODES = 200
_ACTION = re.compile(r"^(\w+)\[(.*)\]$")


class GoldFactsOnly(HidePrivilegedInfo):
    """Deletes the privileged keys, then hands back only the supporting facts (``gold`` minus its
    answer): what the expert is allowed to know about which facts matter."""

    def _visible(self, info):
        visible = super()._visible(info)
        visible["gold"] = {k: v for k, v in info["gold"].items() if k != "answer"}
        return visible


def play(env, agent, task_id):
    obs, info = env.reset(options={"task_id": task_id})
    agent.reset(info)
    done = False
    while not done:
        step = agent.act(obs, info)
        obs, _, terminated, truncated, info = env.step(step.action)
        done = terminated or truncated
    return info, agent.episodes[0]


def names_in_store(store):
    """Every page title and its base name (``Iris Vantell (architect)`` -> ``Iris Vantell``)."""
    names = set()
    for page in store.pages:
        names.update((page.title, re.sub(r"\s*\([^)]*\)$", "", page.title)))
    return names


def grounding_violations(episode, names, compared=()):
    """(turn, what, text) for every search/lookup argument, finish answer or page name in a thought that
    the question and the earlier observations had not shown, and for a yes/no answer whose thought does
    not name both ``compared`` entities (the comparison must be stated before the answer)."""
    found, seen = [], [episode.task]
    for i, turn in enumerate(episode.turns):
        before = " ".join(" ".join(seen).split()).casefold()
        verb, arg = _ACTION.match(turn.action).groups()
        if verb.lower() in ("search", "lookup") and arg.casefold() not in before:
            found.append((i, verb, arg))
        if verb.lower() == "finish" and arg.lower() not in ("yes", "no") and arg.casefold() not in before:
            found.append((i, "answer", arg))
        if verb.lower() == "finish" and arg.lower() in ("yes", "no"):
            found.extend(
                (i, "yes/no without the comparison", name) for name in compared if name not in turn.thought
            )
        for name in names:
            if (
                name in turn.thought
                and name.casefold() not in before
                and re.search(rf"(?<!\w){re.escape(name)}(?!\w)", turn.thought)
            ):
                found.append((i, "thought", name))
        seen.append(turn.observation or "")
    return found


@pytest.fixture(scope="module")
def bundled_env():
    return HotPotQAEnv(
        split="test", data=str(ensure_bundled())
    )  # explicit: module fixtures run before autouse ones


@pytest.fixture(scope="module")
def floor_episodes(bundled_env):
    env = GoldFactsOnly(bundled_env)
    agent = agents.make("expert", env="hotpotqa")
    assert isinstance(agent, HotPotQAExpert)
    return [play(env, agent, task_id) for task_id in bundled_env.task_ids[:FLOOR_EPISODES]]


def test_em_floor_with_the_answer_hidden(floor_episodes):
    em = statistics.mean(info["em"] for info, _ in floor_episodes)
    f1 = statistics.mean(info["f1"] for info, _ in floor_episodes)
    assert em >= 0.90 and f1 >= 0.90
    assert not any(info["invalid_action"] for info, _ in floor_episodes)
    assert "answer" not in floor_episodes[0][0] and "answer" not in floor_episodes[0][0]["gold"]


def test_zero_grounding_violations(floor_episodes, bundled_env):
    names = names_in_store(bundled_env.data.store)
    violations = [
        (e.task, v) for info, e in floor_episodes for v in grounding_violations(e, names, _compared(info))
    ]
    assert violations == []
    # the checks have teeth: some episodes meet a bridge entity, a Similar: list or a comparison
    assert (
        sum(any(t.observation.startswith("Could not find") for t in e.turns[:-1]) for _, e in floor_episodes)
        >= 10
    )
    assert sum(e.turns[-1].action in ("Finish[yes]", "Finish[no]") for _, e in floor_episodes) >= 5


def _compared(info):
    return [re.sub(r"\s*\([^)]*\)$", "", title) for title, _ in info["gold"]["supporting_facts"]]


def test_grounding_check_catches_an_unseen_bridge_entity(floor_episodes, bundled_env):
    info, episode = next((i, e) for i, e in floor_episodes if i["task_type"] == "bridge")
    bridge_title = info["gold"]["supporting_facts"][1][0]
    bridge_name = re.sub(r"\s*\([^)]*\)$", "", bridge_title)
    first = episode.turns[0]
    leaky = Episode(
        task=episode.task,
        turns=[
            Turn(
                f"I need to search {bridge_name} to answer this.", first.action, first.text, first.observation
            ),
            *episode.turns[1:],
        ],
    )
    assert (0, "thought", bridge_name) in grounding_violations(leaky, names_in_store(bundled_env.data.store))


def test_turns_are_react_format_and_use_lookup(floor_episodes):
    for info, episode in floor_episodes:
        assert episode.turns[0].action.startswith("Search[")
        assert episode.turns[-1].action == f"Finish[{info['prediction']}]"
        for turn in episode.turns:
            parsed = parse(turn.text)
            assert parsed.has_action and parsed.action == turn.action and parsed.thought == turn.thought
    assert sum(any(t.action.startswith("Lookup[") for t in e.turns) for _, e in floor_episodes) >= 40


def test_thoughts_are_varied(floor_episodes):
    assert all(len(set(templates)) >= 20 for templates in THOUGHTS.values())
    first_thoughts = set()
    for _, episode in floor_episodes:
        argument = _ACTION.match(episode.turns[0].action).group(2)
        first_thoughts.add(episode.turns[0].thought.replace(argument, "X").split(".")[0])
    assert len(first_thoughts) >= 10  # openers differ between episodes, not only the names


def test_same_play_with_full_info_and_behind_the_wrapper(bundled_env, floor_episodes):
    agent = HotPotQAExpert()
    for task_id, (_, hidden) in zip(bundled_env.task_ids[:30], floor_episodes[:30], strict=True):
        _, full = play(bundled_env, agent, task_id)
        assert [t.text for t in full.turns] == [t.text for t in hidden.turns]


def test_expert_refuses_missing_info_and_missing_gold(bundled_env):
    agent = HotPotQAExpert()
    agent.reset({"task": "q?"})
    with pytest.raises(ValueError, match="needs the info dict"):
        agent.act("Question: q?")
    env = HidePrivilegedInfo(bundled_env)
    obs, info = env.reset(options={"task_id": bundled_env.task_ids[0]})
    agent.reset(info)
    with pytest.raises(ValueError, match="needs info\\['gold'\\]"):
        agent.act(obs, info)
    with pytest.raises(TypeError, match="no options"):
        HotPotQAExpert(temperature=0.5)


def test_relabel_matches_play_and_recovers_from_a_student_detour(bundled_env, floor_episodes):
    agent = HotPotQAExpert()
    info, episode = floor_episodes[3]
    _, start_info = bundled_env.reset(options={"task_id": info["task_id"]})
    for k in range(len(episode.turns)):  # any prefix of its own play: relabel says what it played
        prefix = Episode(
            task=episode.task,
            first_observation=f"Question: {episode.task}",
            turns=episode.turns[:k],
            info=start_info,
        )
        assert agent.relabel(prefix, start_info).action == episode.turns[k].action
    # a student wandered off: searched an unrelated page and looked up a stray word
    obs, _, _, _, _ = bundled_env.step("Search[Valdoria]")
    lookup_obs = bundled_env.step("Lookup[currency]")[0]
    detour = Episode(
        task=episode.task,
        first_observation=f"Question: {episode.task}",
        info=start_info,
        turns=[
            Turn("", "Search[Valdoria]", "Action: Search[Valdoria]", obs),
            Turn("", "Lookup[currency]", "Action: Lookup[currency]", lookup_obs),
        ],
    )
    step = agent.relabel(detour, start_info)
    assert step.action == episode.turns[0].action and step.thought


LAKE = [
    "Lake Vimmer is a lake in the eastern hills.",
    " It is fed by two streams.",
    " Boats are banned.",
    " It is popular with swimmers.",
    " The water is clear.",
    " The lake was named after the surveyor Thomas Vimmer.",
]
SURVEYOR = ["Tom Vimmer was a surveyor.", " He was born in Ostbury."]
RIVER = ["The Ost is a river in the eastern hills.", " It is 40 kilometres long."]


@pytest.fixture()
def official_file(tmp_path):
    records = [
        {
            "_id": "a1",
            "question": "Where was the surveyor the lake Lake Vimmer was named after born?",
            "answer": "Ostbury",
            "type": "bridge",
            "supporting_facts": [["Lake Vimmer", 5], ["Tom Vimmer", 1]],
            "context": [["Lake Vimmer", LAKE], ["Tom Vimmer", SURVEYOR]],
        },
        {
            "_id": "c1",
            "question": "Are Lake Vimmer and The Ost both rivers?",
            "answer": "no",
            "type": "comparison",
            "supporting_facts": [["Lake Vimmer", 0], ["The Ost", 0]],
            "context": [["Lake Vimmer", LAKE], ["The Ost", RIVER]],
        },
    ]
    path = tmp_path / "hotpot_dev_distractor_v1.json"
    path.write_text(json.dumps(records))
    return path


def test_expert_on_official_format_file_reaches_an_unnamed_page_through_similar(official_file):
    env = HotPotQAEnv(split="dev", data=str(official_file))
    info, episode = play(GoldFactsOnly(env), HotPotQAExpert(), "a1")  # the answer read off "born in Ostbury"
    # the lake's page says "Thomas Vimmer"; the page is "Tom Vimmer": found through the Similar: list
    assert [t.action for t in episode.turns] == [
        "Search[Lake Vimmer]",
        "Lookup[named]",
        "Search[Thomas Vimmer]",
        "Search[Tom Vimmer]",
        "Finish[Ostbury]",
    ]
    assert info["em"] == 1.0
    names = {"Lake Vimmer", "Tom Vimmer", "The Ost", "Ostbury"}
    assert grounding_violations(episode, names) == []
    info, episode = play(env, HotPotQAExpert(), "c1")
    assert grounding_violations(episode, names, compared=["Lake Vimmer", "The Ost"]) == []


def test_expert_never_reads_golds_answer_on_official_data(official_file, tmp_path):
    """A record whose answer field is wrong: the expert plays the same turns (it reads the answer off the
    page), and only the score sees the field."""
    records = json.loads(official_file.read_text())
    records[0]["answer"] = "Westmoor"
    lying = tmp_path / "lying" / "hotpot_dev_distractor_v1.json"
    lying.parent.mkdir()
    lying.write_text(json.dumps(records))
    _, honest = play(HotPotQAEnv(split="dev", data=str(official_file)), HotPotQAExpert(), "a1")
    info, told = play(HotPotQAEnv(split="dev", data=str(lying)), HotPotQAExpert(), "a1")
    assert [t.text for t in told.turns] == [t.text for t in honest.turns]
    assert told.turns[-1].action == "Finish[Ostbury]" and info["em"] == 0.0


def test_expert_on_official_yes_no_states_the_comparison(official_file):
    info, episode = play(HotPotQAEnv(split="dev", data=str(official_file)), HotPotQAExpert(), "c1")
    assert [t.action for t in episode.turns] == ["Search[Lake Vimmer]", "Search[The Ost]", "Finish[no]"]
    assert (
        "Lake Vimmer is a lake" in episode.turns[-1].thought
        and "The Ost is a river" in episode.turns[-1].thought
    )
    assert info["em"] == 1.0


def test_expert_on_a_distractor_file_in_official_format(bundled_env, tmp_path):
    """60 generated questions written as hotpot_dev_distractor records (2 gold paragraphs + look-alike
    distractors), played through the official loader: no hops, keywords found from what was read."""
    world, records = bundled_env.data, []
    for q in world.questions("test")[:60]:
        titles = list(dict.fromkeys(t for t, _ in q.supporting_facts))
        bases = [re.sub(r" \(.*\)$", "", t) for t in titles]
        similar = [s for base in bases for s in world.search.similar(base) if s not in titles]
        context = [[t, list(world.store[t].sentences)] for t in titles + list(dict.fromkeys(similar))[:8]]
        records.append({"_id": q.id, "question": q.question, "answer": q.answer, "type": q.type,
                        "supporting_facts": [list(f) for f in q.supporting_facts], "context": context})
    path = tmp_path / "hotpot_dev_distractor_v1.json"
    path.write_text(json.dumps(records))
    env = HotPotQAEnv(split="dev", data=str(path))
    episodes = [play(GoldFactsOnly(env), HotPotQAExpert(), task_id) for task_id in env.task_ids]
    assert statistics.mean(info["em"] for info, _ in episodes) >= 0.9  # answers read off the pages
    names = names_in_store(env.data.store)
    assert [v for info, e in episodes for v in grounding_violations(e, names, _compared(info))] == []


def test_expert_respects_a_short_step_cap(bundled_env):
    env = HotPotQAEnv(split="test", max_steps=2)
    _, episode = play(env, HotPotQAExpert(), env.task_ids[0])
    assert len(episode.turns) == 2 and episode.turns[-1].action.startswith("Finish[")
    assert grounding_violations(episode, names_in_store(bundled_env.data.store)) == []


@pytest.fixture(autouse=True)
def _bundled_data_by_default(monkeypatch):
    """The expert is measured on the bundled world, whatever $HOTPOTQA_DATA says."""
    monkeypatch.delenv("HOTPOTQA_DATA", raising=False)
