"""The scripted ALFWorld expert solves every task type, in ReAct's Thought/Action format."""
from __future__ import annotations

from pathlib import Path

import pytest

import agents
from agents.react import parse
from envs.alfworld import data
from envs.alfworld.env import ALFWorldEnv
from envs.alfworld.generator import TASK_TYPES


@pytest.fixture(scope="module")
def tiny_alfworld_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two generated, engine-checked games per task type on the unseen floor plans."""
    root = tmp_path_factory.mktemp("alfworld-expert")
    data.build_split(root, "valid_unseen", sizes={t: 2 for t in TASK_TYPES}, workers=1)
    return root


def play(env: ALFWorldEnv, agent, task_id: str):
    obs, info = env.reset(options={"task_id": task_id})
    agent.reset(info)
    steps = []
    while True:
        step = agent.act(obs, info)
        steps.append(step)
        obs, _reward, terminated, truncated, info = env.step(step.action)
        if terminated or truncated:
            return steps, info


def test_expert_solves_every_task_type(tiny_alfworld_root: Path) -> None:
    env = ALFWorldEnv(split="valid_unseen", data=tiny_alfworld_root, max_steps=50)
    agent = agents.make("expert", env="alfworld")
    solved = {t: 0 for t in TASK_TYPES}
    detoured = 0
    for task_id in env.task_ids:
        steps, info = play(env, agent, task_id)
        detoured += len(steps) > len(info["walkthrough"])
        assert info["won"], (task_id, [s.action for s in steps])
        solved[info["task_type"]] += 1
        assert all(not s.action.startswith("think") for s in steps)
        for step in steps:
            parsed = parse(step.text)
            assert parsed.has_action and parsed.action == step.action and parsed.thought == step.thought
        first = steps[0].thought
        assert first.startswith("To solve the task, I need to find and take") and "more likely to appear in" in first
        assert any(s.thought.startswith("Now I find") for s in steps)
    assert all(n == 2 for n in solved.values()), solved
    assert detoured > 0  # it searches likely places before going to the target


def test_expert_is_deterministic(tiny_alfworld_root: Path) -> None:
    env = ALFWorldEnv(split="valid_unseen", data=tiny_alfworld_root)
    task_id = env.task_ids[-1]
    first = [s.text for s in play(env, agents.make("expert", env="alfworld"), task_id)[0]]
    again = [s.text for s in play(env, agents.make("expert", env="alfworld"), task_id)[0]]
    assert first == again


def test_expert_without_walkthrough_is_an_error() -> None:
    agent = agents.make("expert", env="alfworld")
    agent.reset({"task": "put a mug in cabinet"})
    with pytest.raises(ValueError, match="walkthrough"):
        agent.act("You are in the middle of a room.", {})
