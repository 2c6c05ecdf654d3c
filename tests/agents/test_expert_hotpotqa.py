"""The scripted HotPotQA expert: EM on the bundled test split, ReAct-format turns, official data."""
import json
import statistics

import pytest

import agents
from agents.experts.hotpotqa import HotPotQAExpert
from agents.react import parse
from envs.hotpotqa.data import ensure_bundled
from envs.hotpotqa.env import HotPotQAEnv


def play(env, agent, task_id):
    obs, info = env.reset(options={"task_id": task_id})
    agent.reset(info)
    done = False
    while not done:
        step = agent.act(obs, info)
        obs, _, terminated, truncated, info = env.step(step.action)
        done = terminated or truncated
    return info, agent.episodes[0].turns


@pytest.fixture(scope="module")
def test_episodes():
    env = HotPotQAEnv(split="test", data=str(ensure_bundled()))  # explicit: module fixtures run before autouse ones
    agent = agents.make("expert", env="hotpotqa")
    assert isinstance(agent, HotPotQAExpert)
    return [play(env, agent, task_id) for task_id in env.task_ids]


def test_expert_em_on_bundled_test_split(test_episodes):
    em = statistics.mean(info["em"] for info, _ in test_episodes)
    f1 = statistics.mean(info["f1"] for info, _ in test_episodes)
    assert em >= 0.95 and f1 >= 0.95
    assert not any(info["invalid_action"] for info, _ in test_episodes)


def test_expert_turns_are_react_format(test_episodes):
    used_lookup = False
    for info, turns in test_episodes:
        assert turns[0].action.startswith("Search[") and turns[0].thought.startswith("I need to search")
        assert turns[-1].action == f"Finish[{info['gold']['answer']}]"
        assert "the answer is" in turns[-1].thought
        for turn in turns:
            parsed = parse(turn.text)
            assert parsed.has_action and parsed.action == turn.action and parsed.thought == turn.thought
        used_lookup |= any(t.action.startswith("Lookup[") for t in turns)
    assert used_lookup


def test_expert_respects_a_short_step_cap():
    env, agent = HotPotQAEnv(split="test", max_steps=2), HotPotQAExpert()
    _, turns = play(env, agent, env.task_ids[0])
    assert len(turns) == 2 and turns[-1].action.startswith("Finish[")


def test_expert_on_official_format_file(tmp_path):
    lake = ["Lake Vimmer is a lake in the eastern hills.", " It is fed by two streams.", " Boats are banned.",
            " It is popular with swimmers.", " The water is clear.", " The lake was named after the surveyor Tom Vimmer."]
    surveyor = ["Tom Vimmer was a surveyor.", " He was born in Ostbury."]
    record = {"_id": "a1", "question": "Where was the surveyor the lake Lake Vimmer was named after born?",
              "answer": "Ostbury", "type": "bridge", "supporting_facts": [["Lake Vimmer", 5], ["Tom Vimmer", 1]],
              "context": [["Lake Vimmer", lake], ["Tom Vimmer", surveyor]]}
    path = tmp_path / "hotpot_dev_distractor_v1.json"
    path.write_text(json.dumps([record]))
    info, turns = play(HotPotQAEnv(split="dev", data=str(path)), HotPotQAExpert(), "a1")
    assert info["em"] == 1.0
    assert [t.action for t in turns] == ["Search[Lake Vimmer]", "Lookup[named]", "Search[Tom Vimmer]", "Finish[Ostbury]"]


def test_expert_needs_the_env_gold_info():
    agent = HotPotQAExpert()
    agent.reset({"task": "q?"})
    with pytest.raises(ValueError, match="info\\['gold'\\]"):
        agent.act("Question: q?", {})
    with pytest.raises(TypeError, match="no options"):
        HotPotQAExpert(temperature=0.5)


@pytest.fixture(autouse=True)
def _bundled_data_by_default(monkeypatch):
    """The expert is measured on the bundled world, whatever $HOTPOTQA_DATA says."""
    monkeypatch.delenv("HOTPOTQA_DATA", raising=False)
