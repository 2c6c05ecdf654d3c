"""HotPotQAEnv: ReAct's search/lookup/finish semantics, bad input, step cap, data sources."""
import ast
import json

import gymnasium
import pytest
from gymnasium.utils.env_checker import check_env

import envs
from envs.core import INFO_KEYS
from envs.hotpotqa.env import HotPotQAEnv
from envs.hotpotqa.official import HotPotQAFormatError


@pytest.fixture()
def env(official_file):
    env = HotPotQAEnv(split="dev", data=str(official_file))
    env.reset(options={"task_id": "q-bridge"})
    return env


def test_reset_shows_the_question(env):
    obs, info = env.reset(options={"task_id": "q-bridge"})
    assert obs == "Question: Where was the explorer after whom Lake Orvell is named born?"
    assert set(INFO_KEYS) <= set(info)
    assert info["admissible_actions"] is None
    assert info["task_type"] == "bridge" and info["em"] == 0.0 and info["f1"] == 0.0
    assert env.task_ids == ["q-bridge", "q-compare"]


def test_search_exact_title_shows_first_five_sentences(env):
    obs, reward, terminated, truncated, info = env.step("search[lake orvell]")
    assert obs.startswith("Lake Orvell is a glacial lake") and "ferry crosses" in obs
    assert "western sector" not in obs  # the 6th sentence is only reachable by lookup
    assert (reward, terminated, truncated, info["invalid_action"]) == (0.0, False, False, False)


def test_search_without_exact_title_lists_similar_titles(env):
    obs, *_ = env.step("search[Orvell]")
    assert obs.startswith("Could not find [Orvell]. Similar: [")
    similar = ast.literal_eval(obs[len("Could not find [Orvell]. Similar: "):-1])
    assert {"Lake Orvell", "Ida Orvell", "Orvell Lake Lodge"} <= set(similar) and len(similar) <= 5


def test_search_not_found(env):
    obs, *_ = env.step("search[Zzyzx Quorble]")
    assert obs == "Could not find [Zzyzx Quorble]. Similar: []."


def test_lookup_pages_through_matches_case_insensitively(env):
    assert env.step("lookup[sector]")[0] == "No more results."  # no page yet
    env.step("search[Lake Orvell]")
    assert env.step("lookup[sector]")[0] == "(Result 1 / 2) Its eastern sector is shallow and freezes every winter."
    assert env.step("lookup[sector]")[0] == "(Result 2 / 2) The western sector reaches a depth of 180 metres."
    assert env.step("lookup[sector]")[0] == "No more results."
    assert env.step("lookup[SECTOR]")[0].startswith("(Result 1 / 2) Its eastern")  # a new keyword starts over


def test_failed_search_keeps_page_and_new_search_resets_lookup(official_file):
    env = HotPotQAEnv(split="dev", data=str(official_file), max_steps=20)
    env.reset(options={"task_id": "q-bridge"})
    env.step("search[Lake Orvell]")
    env.step("lookup[sector]")
    env.step("search[Nowhere At All]")
    assert env.step("lookup[sector]")[0].startswith("(Result 2 / 2)")
    env.step("search[Lake Orvell]")
    assert env.step("lookup[sector]")[0].startswith("(Result 1 / 2)")


def test_react_capitalised_forms_and_think(env):
    assert env.step("Search[Ida Orvell]")[0].startswith("Ida Orvell (1790")
    assert env.step("Lookup[born]")[0] == "(Result 1 / 1) She was born in Kessford."
    assert env.step("think[I should answer]")[0] == "Nice thought."
    obs, reward, terminated, truncated, info = env.step("Finish[Kessford]")
    assert obs == "Episode finished, reward = 1"
    assert (reward, terminated, truncated) == (1.0, True, False)
    assert info["em"] == 1.0 and info["f1"] == 1.0 and info["won"] and info["answer"] == "Kessford"


def test_finish_scores_em_and_f1(env):
    _, reward, terminated, _, info = env.step("finish[the town of Kessford]")
    assert reward == 0.0 and terminated and not info["won"]
    assert info["em"] == 0.0 and 0.0 < info["f1"] < 1.0 and info["score"] == info["f1"]
    obs, reward, _, _, info = env.step("finish[Kessford]")  # after the end: invalid, not a second answer
    assert obs.startswith("Invalid action:") and info["invalid_action"] and reward == 0.0


@pytest.mark.parametrize(
    "action",
    ["jump[Lake Orvell]", "search[Lake Orvell", "search Lake Orvell", "search[]", "lookup[  ]", "search[a]]",
     "search[" + "x" * 100_000 + "]", "y" * 1_000_000, "", "\x00\udcff[]", "finish[yes] please"],
)
def test_bad_input_is_an_invalid_action_never_an_exception(env, action):
    obs, reward, terminated, _, info = env.step(action)
    assert obs.startswith("Invalid action:") and len(obs) < 400
    assert info["invalid_action"] and reward == 0.0 and not terminated
    assert env.steps == 1


def test_step_cap_truncates(official_file):
    env = HotPotQAEnv(split="dev", data=str(official_file), max_steps=3)
    env.reset(options={"task_id": "q-compare"})
    assert env.step("think[a]")[3] is False
    assert env.step("search[Lake Orvell]")[3] is False
    _, _, terminated, truncated, info = env.step("lookup[lake]")
    assert truncated and not terminated and info["em"] == 0.0


def test_check_env_bundled_and_official(official_file):
    check_env(HotPotQAEnv(split="test"))
    check_env(HotPotQAEnv(split="dev", data=str(official_file)))


def test_registry_and_bundled_splits():
    env = gymnasium.make("agentdistill/HotPotQA-v0", split="dev")
    assert len(env.unwrapped.task_ids) == 500
    env = envs.make("hotpotqa", split="test", max_steps=4)
    obs, info = env.reset(seed=1)
    assert obs.startswith("Question: ") and info["task_type"] in ("bridge", "comparison")
    assert len(HotPotQAEnv(split="train").task_ids) >= 10_000
    with pytest.raises(ValueError, match="no split 'validation'"):
        HotPotQAEnv(split="validation")


def test_data_env_var_and_bad_paths(official_file, tmp_path, monkeypatch):
    monkeypatch.setenv("HOTPOTQA_DATA", str(official_file))
    assert HotPotQAEnv().task_ids == ["q-bridge", "q-compare"]
    monkeypatch.setenv("HOTPOTQA_DATA", str(tmp_path / "missing.json"))
    with pytest.raises(FileNotFoundError, match="missing.json"):
        HotPotQAEnv()
    monkeypatch.delenv("HOTPOTQA_DATA")
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps([{"_id": "x", "question": "q?", "type": "bridge", "supporting_facts": [], "context": []}]))
    with pytest.raises(HotPotQAFormatError, match=r"broken.json: record 0: missing field\(s\) \['answer'\]"):
        HotPotQAEnv(data=str(broken))
    broken.write_text(json.dumps([{"_id": "x", "question": "q?", "answer": "a", "type": "multi-hop",
                                   "supporting_facts": [], "context": []}]))
    with pytest.raises(HotPotQAFormatError, match="'type' is 'multi-hop'"):
        HotPotQAEnv(data=str(broken))
    broken.write_text("{not json")
    with pytest.raises(HotPotQAFormatError, match="not valid UTF-8 JSON"):
        HotPotQAEnv(data=str(broken))
