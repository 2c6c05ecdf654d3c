"""The round loop: many episodes in flight, one policy call per round serves every episode that
waits for an action (what a batched agent such as the LM agent needs).

Each round: (1) idle env slots start pending episodes; (2) the policy acts on every waiting episode
in **one** ``act_batch`` call; (3) each env worker steps its episodes with the chosen actions.

Faults: an env worker that dies or hangs is replaced and its in-flight episodes are re-run from the
start; a policy actor that dies or hangs is restarted and every episode in flight is re-run (their
agent state died with it). An episode whose env raises, or that was in flight on a dead actor
``max_retries + 1`` times, is written as failed with the error; so is, at once, an episode whose agent
raised an :class:`agents.errors.EpisodeError` (a reply that cannot be a turn). Every job ends
written exactly once.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from agents.base import AgentStep
from harness import interrupt
from harness.rollout.rows import EpisodeRows
from harness.rollout.workers import (
    ActorDied,
    EnvResult,
    EpisodeJob,
    PolicyHandle,
    TurnFailed,
    WorkerPool,
    actor_death,
)


@dataclass(eq=False)
class _Running:
    """Driver-side state of one episode in flight."""

    job: EpisodeJob
    worker: int
    attempt: int
    observation: str = ""
    info: dict[str, Any] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)


class RoundLoop:
    """Plays ``jobs`` on the env workers of ``pool`` with ``policy`` and hands each finished episode's
    rows to ``on_episode``; at most ``in_flight`` episodes (the policy's batch) are played at once."""

    def __init__(self, jobs: Sequence[EpisodeJob], pool: WorkerPool, policy: PolicyHandle, rows: EpisodeRows,
                 on_episode: Callable[[list[dict[str, Any]]], None], *, in_flight: int, max_retries: int,
                 on_round: Callable[[], None] | None = None):
        self.pool, self.policy, self.rows = pool, policy, rows
        self.on_episode, self.on_round = on_episode, on_round
        self.in_flight, self.max_retries = in_flight, max_retries
        self.pending: deque[tuple[EpisodeJob, int]] = deque((job, 0) for job in jobs)
        self.running: dict[int, _Running] = {}

    def run(self) -> None:
        """Play every job; returns when each has been handed to ``on_episode`` once."""
        while self.pending or self.running:
            interrupt.check()  # a Ctrl-C whose KeyboardInterrupt a finaliser swallowed
            try:
                self._start_pending()
                if self.running:
                    self._play_round()
            except ActorDied as died:
                self._lose_all(str(died))
            if self.on_round is not None:
                self.on_round()

    def _start_pending(self) -> None:
        if not self.pending or len(self.running) >= self.in_flight:
            return
        load = [0] * len(self.pool)
        for r in self.running.values():
            load[r.worker] += 1
        starts: dict[int, list[tuple[EpisodeJob, int]]] = {}
        while self.pending and len(self.running) + sum(map(len, starts.values())) < self.in_flight:
            job, attempt = self.pending.popleft()
            w = min(range(len(load)), key=lambda i: load[i])
            load[w] += 1
            starts.setdefault(w, []).append((job, attempt))
        if not starts:
            return
        results = self.pool.call({w: ("start", [j for j, _ in items]) for w, items in starts.items()})
        started: list[_Running] = []
        for w, items in starts.items():
            outcome = results[w]
            if isinstance(outcome, Exception):
                self._replace_worker(w, outcome)
                for job, attempt in items:
                    self._retry_or_fail(job, attempt, actor_death(outcome))
                continue
            for (job, attempt), result in zip(items, outcome, strict=True):
                if result.error:
                    self._retry_or_fail(job, attempt, result.error)
                    continue
                state = _Running(job, w, attempt, result.observation, result.info)
                self.running[job.episode] = state
                started.append(state)
        if started:
            refused = self.policy.call("reset", [s.info for s in started], [s.job.episode for s in started])
            lost = self._agent_failed({self.running[e]: error for e, error in refused.items()})
            if lost:
                self.policy.call("forget", lost)

    def _play_round(self) -> None:
        waiting = list(self.running.values())
        turns: list[AgentStep | TurnFailed] = self.policy.call(
            "act_batch",
            [r.observation for r in waiting],
            [r.info for r in waiting],
            [r.job.episode for r in waiting],
        )
        failed = {state: turn.error for state, turn in zip(waiting, turns, strict=True)
                  if isinstance(turn, TurnFailed)}
        by_worker: dict[int, list[tuple[int, str]]] = {}
        for state, step in zip(waiting, turns, strict=True):
            if isinstance(step, AgentStep):
                row = self.rows.step(state.job, len(state.rows), state.observation, state.info, step)
                state.rows.append(row)
                by_worker.setdefault(state.worker, []).append((state.job.episode, step.action))
        ended = self._agent_failed(failed)
        results = self.pool.call({w: ("step", actions) for w, actions in by_worker.items()})
        for w, outcome in results.items():
            if isinstance(outcome, Exception):
                self._replace_worker(w, outcome)
                continue
            for result in outcome:
                if self._apply(result):
                    ended.append(result.episode)
        if ended:
            self.policy.call("forget", ended)

    def _agent_failed(self, failed: dict[_Running, str]) -> list[int]:
        """The agent raised an EpisodeError for these episodes: each is written as failed with its error
        (not retried: a model that cannot answer once will not on a rerun) and its env is released."""
        if not failed:
            return []
        by_worker: dict[int, list[int]] = {}
        for state, error in failed.items():
            del self.running[state.job.episode]
            by_worker.setdefault(state.worker, []).append(state.job.episode)
            self.on_episode(self.rows.failed(state.job, state.attempt + 1, error))
        released = self.pool.call({w: ("drop", episodes) for w, episodes in by_worker.items()})
        for w, outcome in released.items():
            if isinstance(outcome, Exception):
                self._replace_worker(w, outcome)
        return [state.job.episode for state in failed]

    def _apply(self, result: EnvResult) -> bool:
        """Record the env's answer on its episode; True when the episode left the running set."""
        state = self.running.get(result.episode)
        if state is None:
            return False
        if result.error:
            del self.running[result.episode]
            self._retry_or_fail(state.job, state.attempt, result.error)
            return True
        self.rows.record(state.rows[-1], result)
        state.observation, state.info = result.observation, result.info
        if result.terminated or result.truncated:
            del self.running[result.episode]
            self.on_episode(state.rows)
            return True
        return False

    def _replace_worker(self, w: int, err: Exception) -> None:
        """Env worker ``w`` died: start a fresh one and re-run its in-flight episodes from the start."""
        self.pool.replace(w)
        lost = [s for s in self.running.values() if s.worker == w]
        for state in lost:
            del self.running[state.job.episode]
            self._retry_or_fail(state.job, state.attempt, actor_death(err))
        if lost:  # after the re-queueing: a policy actor that dies here loses nothing more
            self.policy.call("forget", [s.job.episode for s in lost])

    def _lose_all(self, error: str) -> None:
        """The policy actor died (and was restarted): every episode in flight is re-run from the start."""
        lost = list(self.running.values())
        self.running.clear()
        for state in lost:
            self._retry_or_fail(state.job, state.attempt, error)

    def _retry_or_fail(self, job: EpisodeJob, attempt: int, error: str) -> None:
        if attempt < self.max_retries:
            self.pending.appendleft((job, attempt + 1))
            return
        self.on_episode(self.rows.failed(job, attempt + 1, error))
