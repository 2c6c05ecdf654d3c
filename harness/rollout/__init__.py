"""The rollout engine: env workers step environments, the agent chooses actions, finished episodes
go to the episode log.

    engine = Rollout(env="webshop", agent=agent, jobs=jobs, on_episode=writer.write, workers=2)
    engine.run()

Two loops, one per kind of agent:

- :mod:`harness.rollout.round_loop` for a batched agent (``Agent.batched``, e.g. the LM agent):
  one ``act_batch`` call per round serves every episode waiting for an action; under Ray the agent,
  given by name, runs in a policy actor (on a GPU when the cluster has one).
- :mod:`harness.rollout.episode_parallel` for an agent that does not batch (experts, random), under
  Ray: each env worker gets its own copy of the agent and plays whole episodes.

``workers=0`` runs the round loop with one env worker in this process (debugging, machines without
Ray). Every mode gives the same episodes for the same seeds and a deterministic agent, because each
episode depends only on its seed, task and slot — for an LM agent computing in fp32 on the CPU; in bf16, or
batched on a GPU, a sequence's numbers depend on what it is batched with, and greedy ties can break apart.
The actors are in :mod:`harness.rollout.workers`, the rows they produce in :mod:`harness.rollout.rows`;
where Ray runs is :mod:`harness.rollout.cluster`.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from agents.base import Agent
from harness.rollout.cluster import init_ray
from harness.rollout.episode_parallel import EpisodeWorker, run_episode_parallel
from harness.rollout.round_loop import RoundLoop
from harness.rollout.rows import EpisodeRows
from harness.rollout.workers import (
    AgentSpec,
    EnvResult,
    EnvWorker,
    EpisodeJob,
    Policy,
    PolicyHandle,
    WorkerPool,
    is_batched,
)

__all__ = ["EnvResult", "EnvWorker", "EpisodeJob", "Policy", "Rollout", "init_ray", "is_batched"]


class Rollout:
    """Plays ``jobs`` with ``agent`` on ``env`` and hands each finished episode's rows to ``on_episode``.

    ``agent`` is an Agent object (run in this process) or ``(name, kwargs)`` (run in a policy actor in
    Ray mode, built here when ``workers=0``). ``in_flight`` bounds the episodes played at once (the
    policy's batch size). ``row_base`` holds the columns every row shares (run_id, split, ...).
    ``episode_parallel`` picks the loop (default: episode-parallel exactly when Ray runs an agent that
    does not batch). ``on_round(engine)`` is called between rounds (progress, fault injection in tests).
    ``episode_timeout`` (Ray only): an env worker or the policy actor that has not answered a call
    after that many seconds (a chunk of whole episodes: that many per episode) is taken as hung,
    killed and replaced, and its episodes re-run like those of a dead one.
    """

    def __init__(
        self,
        env: str,
        agent: AgentSpec,
        jobs: Sequence[EpisodeJob],
        on_episode: Callable[[list[dict[str, Any]]], None],
        *,
        workers: int = 2,
        in_flight: int = 8,
        env_kwargs: dict[str, Any] | None = None,
        row_base: dict[str, Any] | None = None,
        max_retries: int = 2,
        on_round: Callable[[Rollout], None] | None = None,
        episode_parallel: bool | None = None,
        episode_timeout: float | None = None,
    ):
        if workers < 0:
            raise ValueError(f"workers must be >= 0, got {workers}")
        if in_flight < 1:
            raise ValueError(f"in_flight must be >= 1, got {in_flight}")
        use_ray = workers > 0
        if episode_parallel is None:
            episode_parallel = use_ray and not is_batched(agent)
        if episode_parallel and not use_ray:
            raise ValueError("episode_parallel needs Ray workers (workers >= 1)")
        if episode_timeout is not None and not (use_ray and episode_timeout > 0):
            raise ValueError(f"episode_timeout={episode_timeout} needs Ray workers and a positive number")
        self.env, self.agent, self.jobs = env, agent, list(jobs)
        self.env_kwargs = dict(env_kwargs or {})
        self.rows = EpisodeRows(env, row_base or {})
        self.on_episode, self.on_round = on_episode, on_round
        self.n_workers, self.in_flight, self.max_retries = workers, in_flight, max_retries
        self.use_ray, self.episode_parallel = use_ray, episode_parallel
        self.episode_timeout = episode_timeout
        self.pool: WorkerPool | None = None
        self.policy: PolicyHandle | None = None

    @property
    def workers(self) -> list[Any]:
        """The env workers now running (Ray actor handles, or EnvWorker objects)."""
        return self.pool.handles if self.pool is not None else []

    @property
    def policy_actor(self) -> Any:
        """The Ray actor the policy runs in, or None when it runs in this process."""
        return self.policy.actor if self.policy is not None else None

    @property
    def restarts(self) -> int:
        """Dead actors replaced so far (env workers and the policy actor)."""
        return (self.pool.restarts if self.pool else 0) + (self.policy.restarts if self.policy else 0)

    def run(self) -> None:
        """Play every job; returns when each has been handed to ``on_episode`` once."""
        on_round = (lambda: self.on_round(self)) if self.on_round is not None else None
        try:
            if self.episode_parallel:
                self.pool = WorkerPool.ray_actors(self.n_workers, EpisodeWorker, self.env, self.env_kwargs,
                                                  self.agent)
                run_episode_parallel(self.jobs, self.pool, self.rows, self.on_episode,
                                     max_retries=self.max_retries, on_round=on_round,
                                     episode_timeout=self.episode_timeout)
                return
            if self.use_ray:
                self.pool = WorkerPool.ray_actors(self.n_workers, EnvWorker, self.env, self.env_kwargs,
                                                  timeout_s=self.episode_timeout)
            else:
                self.pool = WorkerPool.local(EnvWorker(self.env, self.env_kwargs))
            if self.use_ray and not isinstance(self.agent, Agent):
                self.policy = PolicyHandle.ray_actor(self.agent, timeout_s=self.episode_timeout)
            else:
                self.policy = PolicyHandle.local(Policy(self.agent))
            RoundLoop(self.jobs, self.pool, self.policy, self.rows, self.on_episode, in_flight=self.in_flight,
                      max_retries=self.max_retries, on_round=on_round).run()
        finally:
            for part in (self.pool, self.policy):
                if part is not None:
                    part.shutdown()
