"""Metrics: per-episode aggregation, bootstrap intervals, task-type breakdown, word-piece counts, per-task
means over seeds and the paired bootstrap over tasks."""
from __future__ import annotations

import pandas as pd
import pytest

from harness.metrics import (
    bootstrap_ci,
    format_table,
    per_episode,
    per_task_means,
    span_token_counts,
    summarize,
    wordpiece_count,
)


def episode(i: int, steps: int, won: bool, task_type: str, invalid: int = 0, error: str = "") -> list[dict]:
    return [
        {
            "episode": i,
            "step": s,
            "task_id": f"task-{i % 3}",
            "task_type": task_type,
            "won": won and s == steps - 1,
            "score": 1.0 if won else 0.2,
            "invalid_action": s < invalid,
            "n_reason_tokens": 10,
            "n_act_tokens": 4,
            "latency_s": 0.5,
            "error": error,
            "token_ids": None,
        }
        for s in range(steps)
    ]


@pytest.fixture
def frame() -> pd.DataFrame:
    rows = episode(0, 2, True, "a") + episode(1, 4, False, "a", invalid=2) + episode(2, 3, True, "b") \
        + episode(3, 1, False, "b", error="failed after 3 attempts: boom")
    return pd.DataFrame(rows)


def test_summary_values(frame):
    s = summarize(frame, env="webshop", agent="expert", split="test", wall_s=2.0)
    assert s["episodes"] == 4 and s["failed_episodes"] == 1
    assert s["success_rate"] == pytest.approx(0.5)  # the failed episode counts as a failure
    assert s["mean_score"] == pytest.approx((1 + 0.2 + 1 + 0) / 4)
    assert s["mean_steps"] == pytest.approx(3.0)  # played episodes only
    assert s["invalid_action_rate"] == pytest.approx((0 + 0.5 + 0) / 3)
    assert s["mean_reason_tokens"] == 10 and s["mean_act_tokens"] == 4
    assert s["tokens_per_s"] == pytest.approx(14 / 0.5)
    assert s["env_steps"] == 9 and s["episodes_per_s"] == 2.0 and s["env_steps_per_s"] == 4.5
    # 4 episodes (won 1, 0, 1, 0): 1 in 16 resamples has no win, 1 in 16 only wins -> the 2.5/97.5 percentiles
    assert s["ci95"]["success_rate"] == [0.0, 1.0]
    assert s["ci95"]["mean_steps"] == [2.0, 4.0]  # played episodes of 2, 4 and 3 steps
    assert set(s["by_task_type"]) == {"a", "b"}
    assert s["by_task_type"]["a"]["success_rate"] == 0.5 and s["by_task_type"]["b"]["episodes"] == 2
    table = format_table(s)
    assert "success rate" in table and "50.0%" in table and "[a] n=2" in table


def test_bootstrap_interval_narrows_with_more_episodes():
    small = bootstrap_ci([0, 1] * 5)
    large = bootstrap_ci([0, 1] * 500)
    assert small[0] <= 0.5 <= small[1] and large[0] <= 0.5 <= large[1]
    assert large[1] - large[0] < small[1] - small[0]
    assert bootstrap_ci([1, 1, 1]) == (1.0, 1.0)


def test_word_piece_rule():
    assert wordpiece_count("search[red shoes]") == len(["sear", "ch", "[", "red", "shoe", "s", "]"])
    reason, act = span_token_counts("Thought: buy it\nAction: click[Buy Now]")
    assert reason == wordpiece_count("Thought: buy it") and act == wordpiece_count("Action: click[Buy Now]")
    assert span_token_counts("no keywords here") == (0, 0)


def test_per_task_means_average_seeds_and_repeats_of_a_task(frame):
    seed0 = per_episode(frame)  # task-0: episodes 0 (won) and 3 (failed); task-1: lost; task-2: won
    seed1 = per_episode(frame.assign(won=False, score=0.5))
    assert list(seed0["task_id"]) == ["task-0", "task-1", "task-2", "task-0"]
    means = per_task_means([seed0, seed1], "won")
    assert means.to_dict() == {"task-0": 0.25, "task-1": 0.0, "task-2": 0.5}


