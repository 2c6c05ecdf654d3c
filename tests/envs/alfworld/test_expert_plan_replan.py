"""``expert_plan=True`` runs the planner after reset and after each command the engine applies, never after
an action that changes nothing (invalid, or ``think:``): the plan from the unchanged state still stands."""

from __future__ import annotations

from pathlib import Path

import pytest

from envs.alfworld.env import ALFWorldEnv


def test_invalid_and_think_actions_do_not_run_the_planner(
    tiny_alfworld_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = ALFWorldEnv(split="test", data=tiny_alfworld_root, expert_plan=True)
    task_id = next(t for t in env.task_ids if not t.split("/")[0].endswith("-10"))  # kitchens plan slowly
    planner = env._engine.expert_plan  # the real planner, counted
    calls: list[int] = []

    def counted() -> list[str]:
        calls.append(1)
        return planner()

    monkeypatch.setattr(env._engine, "expert_plan", counted)
    _, info = env.reset(options={"task_id": task_id})
    plan = info["extra.expert_plan"]
    assert len(calls) == 1 and plan and plan[0] in info["admissible_actions"]

    for junk in ("dance wildly", "think: where could it be?", "go to nowhere 1", plan[0].upper()):
        *_, info = env.step(junk)
        assert len(calls) == 1 and info["invalid_action"] == (not junk.startswith("think:"))
        assert info["extra.expert_plan"] == plan
        info["extra.expert_plan"].clear()  # the caller's copy: the next info still has the whole plan
    assert planner() == plan  # the state did not change, so neither did the plan

    *_, info = env.step(plan[0])  # a command the engine applies: the planner runs from the new state
    moved = info["extra.expert_plan"]
    assert len(calls) == 2 and moved == planner() and moved[0] in info["admissible_actions"]
    *_, info = env.step("dance wildly")
    assert len(calls) == 2 and info["invalid_action"] and info["extra.expert_plan"] == moved

    env.reset(options={"task_id": task_id})
    assert len(calls) == 3
