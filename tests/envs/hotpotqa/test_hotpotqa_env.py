"""HotPotQAEnv: ReAct's search/lookup/finish semantics, bad input, step cap, data sources, react500."""

import ast
import json
import random

import gymnasium
import pytest
from gymnasium.utils.env_checker import check_env

import envs
from envs.core import INFO_KEYS
from envs.hide_privileged import HidePrivilegedInfo
from envs.hotpotqa.env import HotPotQAEnv
from envs.hotpotqa.official import HotPotQAFormatError, react500_indices


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
    assert info["answer"] == "Kessford" and info["prediction"] is None
    assert info["gold"]["evidence"] == [
        "The lake was named after the explorer Ida Orvell.",
        "She was born in Kessford.",
    ]
    assert env.task_ids == ["q-bridge", "q-compare"]


def test_search_exact_title_shows_first_five_sentences(env):
    obs, reward, terminated, truncated, info = env.step("search[lake orvell]")
    assert obs.startswith("Lake Orvell is a glacial lake") and "ferry crosses" in obs
    assert "western sector" not in obs  # the 6th sentence is only reachable by lookup
    assert (reward, terminated, truncated, info["invalid_action"]) == (0.0, False, False, False)


def test_search_without_exact_title_lists_similar_titles(env):
    obs, *_ = env.step("search[Orvell]")
    assert obs.startswith("Could not find [Orvell]. Similar: [")
    similar = ast.literal_eval(obs[len("Could not find [Orvell]. Similar: ") : -1])
    assert {"Lake Orvell", "Ida Orvell", "Orvell Lake Lodge"} <= set(similar) and len(similar) <= 5


def test_search_not_found(env):
    obs, *_ = env.step("search[Zzyzx Quorble]")
    assert obs == "Could not find [Zzyzx Quorble]. Similar: []."


def test_lookup_pages_through_matches_case_insensitively(env):
    assert env.step("lookup[sector]")[0] == "No more results."  # no page yet
    env.step("search[Lake Orvell]")
    assert (
        env.step("lookup[sector]")[0]
        == "(Result 1 / 2) Its eastern sector is shallow and freezes every winter."
    )
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
    assert info["em"] == 1.0 and info["f1"] == 1.0 and info["won"] and info["prediction"] == "Kessford"


def test_finish_scores_em_and_f1(env):
    _, reward, terminated, _, info = env.step("finish[the town of Kessford]")
    assert reward == 0.0 and terminated and not info["won"]
    assert info["em"] == 0.0 and 0.0 < info["f1"] < 1.0 and info["score"] == info["f1"]
    obs, reward, _, _, info = env.step("finish[Kessford]")  # after the end: invalid, not a second answer
    assert obs.startswith("Invalid action:") and info["invalid_action"] and reward == 0.0


@pytest.mark.parametrize(
    "action",
    [
        "jump[Lake Orvell]",
        "search[Lake Orvell",
        "search Lake Orvell",
        "search[]",
        "lookup[  ]",
        "search[a]]",
        "search[" + "x" * 100_000 + "]",
        "y" * 1_000_000,
        "",
        "\x00\udcff[]",
        "finish[yes] please",
        "finish[]",
        "Finish[   ]",
    ],
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
    with pytest.raises(FileNotFoundError, match=r"missing\.json"):
        HotPotQAEnv()
    monkeypatch.delenv("HOTPOTQA_DATA")
    broken = tmp_path / "broken.json"
    broken.write_text(
        json.dumps([{"_id": "x", "question": "q?", "type": "bridge", "supporting_facts": [], "context": []}])
    )
    with pytest.raises(HotPotQAFormatError, match=r"broken.json: record 0: missing field\(s\) \['answer'\]"):
        HotPotQAEnv(data=str(broken))
    broken.write_text(
        json.dumps(
            [
                {
                    "_id": "x",
                    "question": "q?",
                    "answer": "a",
                    "type": "multi-hop",
                    "supporting_facts": [],
                    "context": [],
                }
            ]
        )
    )
    with pytest.raises(HotPotQAFormatError, match="'type' is 'multi-hop'"):
        HotPotQAEnv(data=str(broken))
    broken.write_text("{not json")
    with pytest.raises(HotPotQAFormatError, match=r"broken\.json: not valid JSON"):
        HotPotQAEnv(data=str(broken))


def test_empty_finish_is_invalid_and_the_episode_goes_on(env):
    obs, reward, terminated, _, info = env.step("finish[ ]")
    assert obs == "Invalid action: finish[] needs an answer."
    assert info["invalid_action"] and not terminated and reward == 0.0 and info["prediction"] is None
    _, reward, terminated, _, info = env.step("finish[Kessford]")
    assert terminated and reward == 1.0 and info["prediction"] == "Kessford"


def test_data_source_and_privileged_keys(official_file):
    assert HotPotQAEnv(split="test").reset(seed=0)[1]["data_source"] == "generated"
    official = HotPotQAEnv(split="dev", data=str(official_file))
    assert official.reset(seed=0)[1]["data_source"] == str(official_file.resolve())
    assert HotPotQAEnv.privileged_info_keys == ("answer", "gold")
    hidden = HidePrivilegedInfo(official)
    _, info = hidden.reset(options={"task_id": "q-bridge"})
    assert "answer" not in info and "gold" not in info and info["task"].startswith("Where was the explorer")
    *_, info = hidden.step("finish[Kessford]")
    assert "answer" not in info and "gold" not in info and info["em"] == 1.0


def _dev_file(path, n):
    """A dev-format file of ``n`` one-paragraph questions, ids q0000..."""
    records = [
        {
            "_id": f"q{i:04d}",
            "question": f"What is item {i}?",
            "answer": f"thing {i}",
            "type": "bridge",
            "supporting_facts": [[f"Item {i}", 0]],
            "context": [[f"Item {i}", [f"Item {i} is thing {i}."]]],
        }
        for i in range(n)
    ]
    path.write_text(json.dumps(records))
    return path


def test_react500_is_reacts_shuffle_of_the_dev_file(tmp_path):
    path = _dev_file(tmp_path / "hotpot_dev_distractor_v1.json", 620)
    env = HotPotQAEnv(split="dev", data=str(path), subset="react500")
    order = list(range(620))
    random.Random(233).shuffle(order)  # the ReAct notebook's rule: shuffle all indices, play the first 500
    assert env.task_ids == [f"q{i:04d}" for i in order[:500]]
    assert HotPotQAEnv(split="dev", data=str(path), subset="react500").task_ids == env.task_ids
    assert env.reset()[1]["protocol"] == {"max_steps": 7, "subset": "react500", "empty_finish": "invalid"}
    assert len(set(env.task_ids)) == 500 and env.task_ids[:3] != ["q0000", "q0001", "q0002"]
    # on the real dev file (7,405 records) these are the first questions ReAct plays
    assert react500_indices(7405)[:5] == [3687, 6238, 5388, 3522, 3824]
    obs, _ = env.reset(options={"task_id": env.task_ids[0]})
    assert obs == f"Question: What is item {order[0]}?"
    with pytest.raises(ValueError, match="unknown task_id 'q9999' in split 'dev' \\(subset react500\\)"):
        env.reset(options={"task_id": "q9999"})
    small = HotPotQAEnv(split="dev", data=str(_dev_file(tmp_path / "small.json", 30)), subset="react500")
    assert sorted(small.task_ids) == [f"q{i:04d}" for i in range(30)]


def test_react500_needs_official_data_and_a_known_subset(official_file):
    with pytest.raises(ValueError, match="generated world"):
        HotPotQAEnv(split="dev", subset="react500")
    with pytest.raises(ValueError, match="subset='react100'"):
        HotPotQAEnv(split="dev", data=str(official_file), subset="react100")


def test_empty_sentences_are_hidden_and_supporting_fact_indices_still_name_their_sentence(tmp_path):
    page = [
        "Mount Kell is a peak.",
        " ",
        "It rises above the valley.",
        "",
        "Its summit is rocky.",
        "Snow covers it in winter.",
        "It was first climbed by Ada Brenn.",
        "Ada Brenn was a guide.",
    ]
    record = {
        "_id": "e1",
        "question": "Who first climbed Mount Kell?",
        "answer": "Ada Brenn",
        "type": "bridge",
        "supporting_facts": [["Mount Kell", 6]],
        "context": [["Mount Kell", page]],
    }
    path = tmp_path / "dev.json"
    path.write_text(json.dumps([record]))
    env = HotPotQAEnv(split="dev", data=str(path))
    _, info = env.reset(options={"task_id": "e1"})
    assert info["gold"]["supporting_facts"] == [["Mount Kell", 6]]
    assert info["gold"]["evidence"] == ["It was first climbed by Ada Brenn."]
    obs = env.step("search[Mount Kell]")[0]
    assert obs == (
        "Mount Kell is a peak. It rises above the valley. Its summit is rocky. Snow covers it in winter. "
        "It was first climbed by Ada Brenn."
    )
    assert env.step("lookup[it]")[0] == "(Result 1 / 4) It rises above the valley."
