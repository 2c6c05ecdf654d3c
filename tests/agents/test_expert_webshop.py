"""The scripted WebShop teacher."""
from __future__ import annotations

import pytest

import agents
from agents.react import parse
from envs.webshop.env import WebShopEnv


def _play(env, agent, task_id):
    obs, info = env.reset(options={"task_id": task_id})
    agent.reset(info)
    steps, done = [], False
    while not done:
        step = agent.act(obs, info)
        steps.append(step)
        obs, _reward, terminated, truncated, info = env.step(step.action)
        done = terminated or truncated
    return steps, info


def test_full_expert_episode_buys_the_right_thing():
    env = WebShopEnv(split="test")
    agent = agents.make("expert", env="webshop")
    steps, info = _play(env, agent, "0")
    assert info["won"] and info["score"] == 1.0 and not info["invalid_action"]
    assert steps[0].action.startswith("search[") and steps[-1].action == "click[buy now]"
    for step in steps:
        parsed = parse(step.text)
        assert parsed.has_action and parsed.action == step.action and parsed.thought == step.thought
        assert "\n" not in step.thought and len(step.thought) > 15


def test_expert_floor_on_test_split_sample():
    env = WebShopEnv(split="test")
    agent = agents.make("expert", env="webshop")
    scores, thoughts = [], set()
    for task_id in env.task_ids[::5]:  # 100 of the 500 test goals
        steps, info = _play(env, agent, task_id)
        scores.append(info["score"])
        thoughts.update(s.thought.split(" ")[0] for s in steps)
    assert sum(scores) / len(scores) >= 0.95
    assert sum(s >= 1.0 for s in scores) / len(scores) >= 0.90
    assert len(thoughts) >= 8  # varied wording, not one fixed sentence


def test_expert_needs_the_goal():
    agent = agents.make("expert", env="webshop")
    agent.reset({"task": "buy something"})
    with pytest.raises(ValueError, match=r"info\['goal'\]"):
        agent.act("WebShop [SEP] Search", {"admissible_actions": ["search[<your query>]"], "page": "search"})
