"""ALFWorldEnv on the real engine: contract, official-layout loading, actions, bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from gymnasium.utils.env_checker import check_env

import envs
from envs.alfworld import data
from envs.alfworld.engine import GameFileError
from envs.alfworld.env import ALFWorldEnv
from envs.alfworld.generator import TASK_TYPES
from envs.hide_privileged import HidePrivilegedInfo


@pytest.fixture(scope="module")
def env(tiny_alfworld_root: Path) -> ALFWorldEnv:
    return ALFWorldEnv(split="test", data=tiny_alfworld_root)


def test_check_env(env: ALFWorldEnv) -> None:
    check_env(env, skip_render_check=True)


def test_registered_name_builds_the_env(tiny_alfworld_root: Path) -> None:
    made = envs.make(
        "alfworld", split="valid_unseen", data=str(tiny_alfworld_root / "json_2.1.1"), max_steps=7
    )
    assert isinstance(made.unwrapped, ALFWorldEnv) and made.unwrapped.max_steps == 7


def test_reset_text_and_info(env: ALFWorldEnv) -> None:
    obs, info = env.reset(options={"task_id": env.task_ids[0]})
    assert obs.startswith("You are in the middle of a room. Looking quickly around you, you see ")
    assert "\nYour task is to: " in obs and "Welcome to TextWorld" not in obs
    assert info["task"] and info["task"] in obs
    assert info["task_type"] in TASK_TYPES and info["task_id"] == env.task_ids[0]
    assert "look" in info["admissible_actions"] and any(
        a.startswith("go to ") for a in info["admissible_actions"]
    )
    assert info["won"] is False and info["score"] == 0.0 and info["invalid_action"] is False
    assert info["admissible_commands"] == info["admissible_actions"]
    assert info["extra.gamefile"].endswith(f"{env.task_ids[0]}/game.tw-pddl")


def test_walkthrough_wins_with_reward_one(env: ALFWorldEnv) -> None:
    for task_id in env.task_ids:
        _, info = env.reset(options={"task_id": task_id})
        for action in info["extra.walkthrough"]:
            assert action in info["admissible_actions"], (task_id, action)
            _obs, reward, terminated, _truncated, info = env.step(action)
        assert terminated and reward == 1.0 and info["won"] and info["score"] == 1.0, task_id


def _last_move(env: ALFWorldEnv) -> tuple[str, str]:
    """Play a pick_and_place game up to its final ``move``; (object, receptacle) of that move."""
    task_id = next(t for t in env.task_ids if t.startswith("pick_and_place_simple"))
    _, info = env.reset(options={"task_id": task_id})
    *head, last = info["extra.walkthrough"]
    for action in head:
        env.step(action)
    obj, recep = last[len("move ") :].split(" to ")
    return obj, recep


@pytest.mark.parametrize(
    "variant",
    [
        "Put {o} in/on {r}.",
        "put {o} in/on {r}",
        "Move {o} to {r}",
        "move {o} to {r}.",
        "move  {o} to {r}",
        " move {o} to {r}",
    ],
)
def test_commands_must_match_exactly(env: ALFWorldEnv, variant: str) -> None:
    obj, recep = _last_move(env)
    obs, reward, terminated, _, info = env.step(variant.format(o=obj, r=recep))
    assert obs == "Nothing happens." and info["invalid_action"] and not terminated and reward == 0.0
    obs, reward, terminated, _, info = env.step(f"move {obj} to {recep}")
    assert obs == f"You move the {obj} to the {recep}." and terminated and reward == 1.0


def test_lenient_accepts_old_phrasing_case_and_period(tiny_alfworld_root: Path) -> None:
    lenient = ALFWorldEnv(split="test", data=tiny_alfworld_root, lenient=True)
    obj, recep = _last_move(lenient)
    obs, reward, terminated, _, info = lenient.step(f"Put {obj} in/on {recep}.")
    assert not info["invalid_action"] and terminated and reward == 1.0
    assert obs == f"You move the {obj} to the {recep}."
    # the deviation is reported, so run.json and the report carry it
    assert info["protocol"] == {"commands": "lenient", "think": "OK.", "max_steps": 50, "expert_plan": False}
    assert ALFWorldEnv(split="test", data=tiny_alfworld_root).reset()[1]["protocol"]["commands"] == "exact"


@pytest.mark.parametrize("lenient", [False, True])
def test_think_answers_ok_and_uses_a_step(tiny_alfworld_root: Path, lenient: bool) -> None:
    env = ALFWorldEnv(split="test", data=tiny_alfworld_root, lenient=lenient)
    _, first = env.reset(options={"task_id": env.task_ids[0]})
    obs, reward, terminated, truncated, info = env.step("think: First I need to find the object.")
    assert (
        obs == "OK."
        and info["invalid_action"] is False
        and reward == 0.0
        and not terminated
        and not truncated
    )
    assert env.steps == 1 and info["admissible_actions"] == first["admissible_actions"]
    obs, *_, info = env.step("Think: maybe")
    assert (obs, info["invalid_action"]) == (("OK.", False) if lenient else ("Nothing happens.", True))


def test_privileged_keys_are_upstreams_and_hidden_by_the_wrapper(tiny_alfworld_root: Path) -> None:
    env = ALFWorldEnv(split="test", data=tiny_alfworld_root, expert_plan=True)
    task_id = next(t for t in env.task_ids if not t.split("/")[0].endswith("-10"))  # kitchens plan slowly
    _, info = env.reset(options={"task_id": task_id})
    assert set(ALFWorldEnv.privileged_info_keys) <= set(info)
    assert info["extra.expert_plan"] and info["extra.expert_plan"][0] in info["admissible_actions"]
    hidden = HidePrivilegedInfo(env)
    _, visible = hidden.reset(options={"task_id": task_id})
    *_, after = hidden.step(info["extra.walkthrough"][0])
    for shown in (visible, after):
        assert not set(ALFWorldEnv.privileged_info_keys) & set(shown)
        assert {"task", "admissible_actions", "admissible_commands", "data_source"} <= set(shown)


def test_per_step_expert_plan_replans_from_the_current_state(tiny_alfworld_root: Path) -> None:
    env = ALFWorldEnv(split="test", data=tiny_alfworld_root, expert_plan=True)
    task_id = next(
        t for t in env.task_ids if t.split("/")[0].endswith(("-424", "-308"))
    )  # kitchens plan slowly
    _, info = env.reset(options={"task_id": task_id})
    detour = next(
        a for a in info["admissible_actions"] if a.startswith("go to ") and a != info["extra.walkthrough"][0]
    )
    _, *_, info = env.step(detour)  # off the walkthrough: the plan must start from here
    for _ in range(20):
        _, reward, terminated, _, info = env.step(info["extra.expert_plan"][0])
        if terminated:
            break
    assert terminated and reward == 1.0
    assert "extra.expert_plan" not in ALFWorldEnv(split="test", data=tiny_alfworld_root).reset(seed=0)[1]


def test_data_source_names_generated_or_official(
    tiny_alfworld_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    official = ALFWorldEnv(split="test", data=tiny_alfworld_root)
    assert official.reset(seed=0)[1]["data_source"] == str(tiny_alfworld_root / "json_2.1.1" / "valid_unseen")
    monkeypatch.setattr(data, "bundled_root", lambda: tiny_alfworld_root)
    monkeypatch.delenv("ALFWORLD_DATA", raising=False)
    bundled = ALFWorldEnv(split="test")
    _, info = bundled.reset(seed=0)
    assert info["data_source"] == "generated"
    assert all(t.split("/")[1].startswith("generated_valid_unseen_") for t in bundled.task_ids)


@pytest.mark.parametrize(
    "action",
    [
        "",
        "dance wildly",
        "take unicorn 1 from cabinet 1",
        "go to " + "x" * 10_000,
        "Thought: hmm\nAction: ???",
        "__import__('os').system('echo hi')",
        "LOOK",
        "look.",
    ],
)
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
    with pytest.raises(GameFileError, match=f"{bad}: not valid JSON"):
        ALFWorldEnv(split="valid_unseen", data=tmp_path)


def test_missing_data_path_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="json_2.1.1/valid_unseen"):
        ALFWorldEnv(split="test", data=tmp_path / "nowhere")
    with pytest.raises(ValueError, match="unknown ALFWorld split"):
        ALFWorldEnv(split="dev", data=tmp_path)
