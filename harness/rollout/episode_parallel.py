"""The episode-parallel loop: for an agent that does not batch (experts, random), one shared policy
call per round gains nothing, so each Ray env worker (:class:`EpisodeWorker`) gets its own copy of
the agent and plays whole episodes, a few at a time (the round loop, run inside the worker). That
scales with the workers.

Faults: a chunk of episodes lost with its worker (dead, or hung: no answer within ``episode_timeout``
seconds per episode of the chunk) is re-run on a fresh one ``max_retries`` times, then its episodes
are written as failed. Every job ends written exactly once.
"""
from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from harness import interrupt
from harness.rollout.round_loop import RoundLoop
from harness.rollout.rows import EpisodeRows
from harness.rollout.workers import (
    AgentSpec,
    EnvWorker,
    EpisodeJob,
    Policy,
    PolicyHandle,
    WorkerHung,
    WorkerPool,
    actor_death,
    actor_died_errors,
    ray_get,
)

#: the most episodes one worker plays per call (smaller chunks when there are few jobs)
MAX_CHUNK = 16


class EpisodeWorker(EnvWorker):
    """An env worker with its own copy of the agent, which plays whole episodes (:meth:`play`). The
    agent is built when the worker starts, so building it is never part of a chunk's time limit."""

    def __init__(self, env: str, env_kwargs: dict[str, Any], agent: AgentSpec):
        super().__init__(env, env_kwargs)
        self._policy = Policy(agent)

    def play(self, jobs: Sequence[EpisodeJob], row_base: dict[str, Any],
             max_retries: int) -> list[list[dict[str, Any]]]:
        """Play ``jobs`` to the end here; each episode's rows."""
        episodes: list[list[dict[str, Any]]] = []
        rows = EpisodeRows(self.env, row_base)
        RoundLoop(jobs, WorkerPool.local(self), PolicyHandle.local(self._policy), rows, episodes.append,
                  in_flight=len(jobs), max_retries=max_retries).run()
        return episodes


def run_episode_parallel(jobs: Sequence[EpisodeJob], pool: WorkerPool, rows: EpisodeRows,
                         on_episode: Callable[[list[dict[str, Any]]], None], *, max_retries: int,
                         on_round: Callable[[], None] | None = None,
                         episode_timeout: float | None = None) -> None:
    """Keep every :class:`EpisodeWorker` of ``pool`` busy with chunks of whole episodes;
    hand each finished episode's rows to ``on_episode``. A chunk still running ``episode_timeout``
    seconds per episode after it was sent is taken as hung: its worker is killed and replaced."""
    import ray

    size = max(1, min(MAX_CHUNK, math.ceil(len(jobs) / (4 * len(pool)))))
    pending = deque((list(jobs[i:i + size]), 0) for i in range(0, len(jobs), size))
    idle = list(range(len(pool)))
    in_flight: dict[Any, tuple[int, list[EpisodeJob], int]] = {}
    deadline: dict[Any, float] = {}  # ref -> when its chunk counts as hung
    while pending or in_flight:
        interrupt.check()  # a Ctrl-C whose KeyboardInterrupt a finaliser swallowed
        while idle and pending:
            w = idle.pop()
            chunk, attempt = pending.popleft()
            ref = pool.handles[w].play.remote(chunk, rows.row_base, max_retries)
            in_flight[ref] = (w, chunk, attempt)
            if episode_timeout is not None:
                deadline[ref] = time.monotonic() + episode_timeout * len(chunk)
        if on_round is not None:
            on_round()
        wait_s = max(0.0, min(deadline.values()) - time.monotonic()) if deadline else None
        ready, _ = ray.wait(list(in_flight), num_returns=1, timeout=wait_s)
        ref = ready[0] if ready else min(deadline, key=deadline.__getitem__)
        w, chunk, attempt = in_flight.pop(ref)
        deadline.pop(ref, None)
        idle.append(w)
        try:
            if not ready:
                raise pool.kill_hung(w, episode_timeout * len(chunk))
            episodes = ray_get(ref)
        except (*actor_died_errors(), WorkerHung) as err:
            pool.replace(w)
            if attempt < max_retries:
                pending.appendleft((chunk, attempt + 1))
            else:
                for job in chunk:
                    on_episode(rows.failed(job, attempt + 1, actor_death(err)))
            continue
        for episode_rows in episodes:
            on_episode(episode_rows)
