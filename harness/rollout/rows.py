"""Episode-log rows (the columns of :data:`harness.logs.COLUMNS`) built from what the agent and the
env returned: one row per agent step, and one row for an episode that failed."""
from __future__ import annotations

from typing import Any

from agents.base import AgentStep
from harness.logs import empty_row
from harness.metrics import span_token_counts
from harness.rollout.workers import EnvResult, EpisodeJob


class EpisodeRows:
    """Builds the rows of one run's episodes on ``env``; ``row_base`` holds the columns every row
    shares (run_id, split, ...)."""

    def __init__(self, env: str, row_base: dict[str, Any]):
        self.env, self.row_base = env, dict(row_base)

    def blank(self, job: EpisodeJob) -> dict[str, Any]:
        """A row of ``job`` with every column at its empty value."""
        ids = {"env": self.env, "task_id": job.task_id, "episode": job.episode}
        return {**empty_row(), **self.row_base, **ids}

    def failed(self, job: EpisodeJob, attempts: int, error: str) -> list[dict[str, Any]]:
        """The one row written for an episode that failed ``attempts`` times."""
        tries = f"{attempts} attempt" + ("s" if attempts != 1 else "")
        return [{**self.blank(job), "error": f"failed after {tries}: {error}"}]

    def step(self, job: EpisodeJob, index: int, observation: str, info: dict[str, Any],
             step: AgentStep) -> dict[str, Any]:
        """The row of the agent's ``index``-th step, taken on ``observation``; the env's answer is
        filled in by :meth:`record`."""
        if step.n_reason_tokens is None or step.n_act_tokens is None:
            n_reason, n_act = span_token_counts(step.text)
        else:
            n_reason, n_act = step.n_reason_tokens, step.n_act_tokens
        row = self.blank(job)
        row.update({
            "task": str(info.get("task", "")), "task_type": str(info.get("task_type") or ""),
            "step": index, "observation": observation, "thought": step.thought,
            "action": step.action, "completion": step.text, "n_reason_tokens": int(n_reason),
            "n_act_tokens": int(n_act), "latency_s": float(step.latency_s),
            "token_ids": step.token_ids, "topk_ids": step.topk_ids, "topk_logprobs": step.topk_logprobs,
            "n_dropped_turns": step.n_dropped_turns, "prompt_tokens": step.prompt_tokens,
            "guided": step.guided,
        })
        return row

    @staticmethod
    def record(row: dict[str, Any], result: EnvResult) -> None:
        """Fill ``row`` with the env's answer to its action."""
        info = result.info
        row.update({
            "reward": result.reward, "terminated": result.terminated, "truncated": result.truncated,
            "won": bool(info.get("won", False)), "score": float(info.get("score", 0.0)),
            "invalid_action": bool(info.get("invalid_action", False)),
        })
