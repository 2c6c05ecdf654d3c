"""ALFWorldEnv on the real engine: contract, official-layout loading, actions, bad input."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from gymnasium.utils.env_checker import check_env

import envs
from envs.alfworld.engine import GameFileError
from envs.alfworld.env import ALFWorldEnv
from envs.alfworld.generator import TASK_TYPES


@pytest.fixture(scope="module")
def env(tiny_alfworld_root: Path) -> ALFWorldEnv:
    return ALFWorldEnv(split="test", data=tiny_alfworld_root)


def test_check_env(env: ALFWorldEnv) -> None:
    check_env(env, skip_render_check=True)


def test_registered_name_builds_the_env(tiny_alfworld_root: Path) -> None:
    made = envs.make("alfworld", split="valid_unseen", data=str(tiny_alfworld_root / "json_2.1.1"), max_steps=7)
    assert isinstance(made.unwrapped, ALFWorldEnv) and made.unwrapped.max_steps == 7


def test_reset_text_and_info(env: ALFWorldEnv) -> None:
    obs, info = env.reset(options={"task_id": env.task_ids[0]})
    assert obs.startswith("You are in the middle of a room. Looking quickly around you, you see ")
    assert "\nYour task is to: " in obs and "Welcome to TextWorld" not in obs
    assert info["task"] and info["task"] in obs
    assert info["task_type"] in TASK_TYPES and info["task_id"] == env.task_ids[0]
    assert "look" in info["admissible_actions"] and any(a.startswith("go to ") for a in info["admissible_actions"])
    assert info["won"] is False and info["score"] == 0.0 and info["invalid_action"] is False


def test_walkthrough_wins_with_reward_one(env: ALFWorldEnv) -> None:
    for task_id in env.task_ids:
        _, info = env.reset(options={"task_id": task_id})
        for action in info["walkthrough"]:
            assert action in info["admissible_actions"], (task_id, action)
            _obs, reward, terminated, _truncated, info = env.step(action)
        assert terminated and reward == 1.0 and info["won"] and info["score"] == 1.0, task_id


def test_old_put_phrasing_is_accepted(env: ALFWorldEnv) -> None:
    task_id = next(t for t in env.task_ids if t.startswith("pick_and_place_simple"))
    _, info = env.reset(options={"task_id": task_id})
    *head, last = info["walkthrough"]
    for action in head:
        env.step(action)
    obj, recep = last[len("move "):].split(" to ")
    obs, reward, terminated, _, info = env.step(f"Put {obj} in/on {recep}.")
    assert not info["invalid_action"] and terminated and reward == 1.0
    assert obs == f"You move the {obj} to the {recep}."


@pytest.mark.parametrize("action", ["", "dance wildly", "take unicorn 1 from cabinet 1", "go to " + "x" * 10_000,
                                    "Thought: hmm\nAction: ???", "__import__('os').system('echo hi')"])
def test_invalid_actions_say_nothing_happens(env: ALFWorldEnv, action: str) -> None:
    env.reset(options={"task_id": env.task_ids[0]})
    obs, reward, terminated, _truncated, info = env.step(action)
    assert obs == "Nothing happens." and info["invalid_action"] is True
    assert reward == 0.0 and not terminated and env.steps == 1


def test_truncates_at_max_steps(tiny_alfworld_root: Path) -> None:
    short = ALFWorldEnv(split="valid_unseen", data=tiny_alfworld_root, max_steps=2)
    short.reset(seed=3)
    assert short.step("look")[3] is False
    assert short.step("look")[3] is True


def test_alfworld_data_env_var(tiny_alfworld_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALFWORLD_DATA", str(tiny_alfworld_root))
    assert len(ALFWorldEnv(split="valid_unseen").task_ids) == 12


def test_upstream_skip_rules(tiny_alfworld_root: Path, tmp_path: Path) -> None:
    split = tmp_path / "json_2.1.1" / "valid_unseen"
    shutil.copytree(tiny_alfworld_root / "json_2.1.1" / "valid_unseen", split)
    folders = sorted(p.parent for p in split.rglob("game.tw-pddl"))
    unsolvable = json.loads((folders[0] / "game.tw-pddl").read_text()) | {"solvable": False}
    (folders[0] / "game.tw-pddl").write_text(json.dumps(unsolvable))
    (folders[1] / "game.tw-pddl").unlink()
    shutil.move(folders[2], folders[2].parent.parent / (folders[2].parent.name + "-Sliced-movable"))
    assert len(ALFWorldEnv(split="valid_unseen", data=tmp_path).task_ids) == 9


def test_corrupt_game_file_is_named(tiny_alfworld_root: Path, tmp_path: Path) -> None:
    shutil.copytree(tiny_alfworld_root / "json_2.1.1" / "valid_unseen", tmp_path / "valid_unseen")
    env = ALFWorldEnv(split="valid_unseen", data=tmp_path)
    bad = tmp_path / "valid_unseen" / env.task_ids[0] / "game.tw-pddl"
    game = json.loads(bad.read_text())
    bad.write_text(json.dumps(game | {"pddl_problem": "(define (problem broken"}))
    with pytest.raises(GameFileError, match=str(bad)):
        env.reset(options={"task_id": env.task_ids[0]})
    bad.write_text("{not json")
    with pytest.raises(GameFileError, match=f"{bad}: not a JSON game file"):
        ALFWorldEnv(split="valid_unseen", data=tmp_path)


def test_missing_data_path_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="json_2.1.1/valid_unseen"):
        ALFWorldEnv(split="test", data=tmp_path / "nowhere")
    with pytest.raises(ValueError, match="unknown ALFWorld split"):
        ALFWorldEnv(split="dev", data=tmp_path)
