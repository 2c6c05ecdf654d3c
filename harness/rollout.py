"""The rollout engine: env workers step environments, one policy call per round serves every
episode that waits for an action, finished episodes go to the episode log.

    engine = Rollout(env="webshop", agent=agent, jobs=jobs, writer=writer, workers=2)
    engine.run()

Each round: (1) idle env slots start pending episodes; (2) the agent acts on every episode waiting
for an action in **one** ``act_batch`` call (an LM agent batches them on its device); (3) each
worker steps its episodes with the chosen actions. ``workers=0`` runs workers in this process
(debugging, machines without Ray); ``workers>=1`` runs them as Ray actors, and a batched agent
(``Agent.batched``, e.g. the LM agent) given by name runs in a policy actor (on a GPU when the
cluster has one). An agent that does not batch (experts, random) gains nothing from one shared
call per round, so under Ray each env worker gets its own copy and plays whole episodes, a few at
a time, with the same loop run in-process: that scales with the workers. All modes give the same
episodes for the same seeds and a deterministic agent, because each episode depends only on its
seed, task and slot.

Faults: a worker that dies (crash, OOM, killed) is replaced and its in-flight episodes are re-run
from the start; an episode whose env raises, or that was in flight on a dead worker
``max_retries + 1`` times, is written as failed with the error. Every job ends written exactly once.
"""
from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from agents.base import Agent, AgentStep
from harness.metrics import span_token_counts


@dataclass(frozen=True)
class EpisodeJob:
    """One episode to play: its index in the run, the task and the reset seed."""

    episode: int
    task_id: str
    seed: int


@dataclass
class EnvResult:
    """What an env worker returns for one episode after a reset or a step (``error`` when it raised)."""

    episode: int
    observation: str = ""
    reward: float = 0.0
    terminated: bool = False
    truncated: bool = False
    info: dict[str, Any] = field(default_factory=dict)
    error: str = ""


def _worker_death(err: Exception) -> str:
    """The error recorded for episodes lost with a dead worker."""
    first_line = (str(err).strip().splitlines() or [""])[0][:200]
    return f"env worker died ({type(err).__name__}: {first_line})"


class EnvWorker:
    """Owns environments of one kind and steps them; a Ray actor in Ray mode. Given an agent, it can
    also play whole episodes itself (:meth:`play`)."""

    def __init__(self, env: str, env_kwargs: dict[str, Any], agent: Agent | tuple[str, dict[str, Any]] | None = None):
        import envs

        self.env, self.env_kwargs = env, env_kwargs
        self._make = lambda: envs.make(env, **env_kwargs)
        self._free: list[Any] = []
        self._active: dict[int, Any] = {}
        self._agent_spec = agent
        self._policy: Policy | None = None

    def pid(self) -> int:
        import os

        return os.getpid()

    def start(self, jobs: Sequence[EpisodeJob]) -> list[EnvResult]:
        """Reset an env for each job (``reset(seed=job.seed, options={"task_id": job.task_id})``)."""
        results = []
        for job in jobs:
            try:
                env = self._active.pop(job.episode, None) or (self._free.pop() if self._free else self._make())
                self._active[job.episode] = env
                obs, info = env.reset(seed=job.seed, options={"task_id": job.task_id})
                results.append(EnvResult(job.episode, obs, info=info))
            except Exception as err:  # noqa: BLE001 - an env bug must not take the other episodes down
                self._active.pop(job.episode, None)
                results.append(EnvResult(job.episode, error=f"reset: {type(err).__name__}: {err}"))
        return results

    def step(self, actions: Sequence[tuple[int, str]]) -> list[EnvResult]:
        """Step episode ``e`` with its action for each ``(e, action)``; finished envs return to the pool."""
        results = []
        for episode, action in actions:
            env = self._active.get(episode)
            if env is None:
                results.append(EnvResult(episode, error=f"episode {episode} is not running on this worker"))
                continue
            try:
                obs, reward, terminated, truncated, info = env.step(action)
                results.append(EnvResult(episode, obs, float(reward), bool(terminated), bool(truncated), info))
                if terminated or truncated:
                    self._free.append(self._active.pop(episode))
            except Exception as err:  # noqa: BLE001 - recorded on the episode, retried or failed
                self._active.pop(episode, None)
                results.append(EnvResult(episode, error=f"step: {type(err).__name__}: {err}"))
        return results


    def play(self, jobs: Sequence[EpisodeJob], row_base: dict[str, Any], max_retries: int) -> list[list[dict[str, Any]]]:
        """Play ``jobs`` to the end here with this worker's own agent; each episode's rows."""
        if self._agent_spec is None:
            raise RuntimeError("EnvWorker.play needs the worker to be built with an agent")
        self._policy = self._policy or Policy(self._agent_spec)
        episodes: list[list[dict[str, Any]]] = []
        Rollout(self.env, self._policy.agent, jobs, episodes.append, workers=0, in_flight=len(jobs),
                env_kwargs=self.env_kwargs, row_base=row_base, max_retries=max_retries, local_worker=self).run()
        return episodes


def is_batched(agent: Agent | tuple[str, dict[str, Any]]) -> bool:
    """Whether ``agent`` (an object, or a registry name and options) serves many episodes per call."""
    if isinstance(agent, Agent):
        return agent.batched
    import agents

    return bool(getattr(agents.spec(agent[0]).load(), "batched", False))


class Policy:
    """The agent behind the rollout: an Agent object, or ``(registry name, kwargs)`` to build one here
    (a Ray actor in Ray mode, so the model lives where the GPU is)."""

    def __init__(self, agent: Agent | tuple[str, dict[str, Any]]):
        if isinstance(agent, Agent):
            self.agent = agent
        else:
            import agents

            name, kwargs = agent
            self.agent = agents.make(name, **kwargs)

    def reset(self, infos: Sequence[dict[str, Any]], slots: Sequence[int]) -> None:
        for info, slot in zip(infos, slots):
            self.agent.reset(info, slot=slot)

    def act_batch(self, observations: Sequence[str], infos: Sequence[dict[str, Any]], slots: Sequence[int]) -> list[AgentStep]:
        """One ``act_batch`` call; steps whose agent did not time itself get an equal share of the call."""
        start = time.perf_counter()
        steps = self.agent.act_batch(observations, infos, slots=slots)
        share = (time.perf_counter() - start) / max(1, len(steps))
        for step in steps:
            step.latency_s = step.latency_s or share
        return steps

    def forget(self, slots: Sequence[int]) -> None:
        for slot in slots:
            self.agent.episodes.pop(slot, None)


@dataclass
class _Running:
    """Driver-side state of one episode in flight."""

    job: EpisodeJob
    worker: int
    attempt: int
    observation: str = ""
    info: dict[str, Any] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)


class Rollout:
    """Plays ``jobs`` with ``agent`` on ``env`` and hands each finished episode's rows to ``on_episode``.

    ``agent`` is an Agent object (run in this process) or ``(name, kwargs)`` (run in a policy actor in
    Ray mode, built here when ``workers=0``). ``in_flight`` bounds the episodes played at once (the
    policy's batch size). ``row_base`` holds the columns every row shares (run_id, split, ...).
    """

    def __init__(
        self,
        env: str,
        agent: Agent | tuple[str, dict[str, Any]],
        jobs: Sequence[EpisodeJob],
        on_episode: Callable[[list[dict[str, Any]]], None],
        *,
        workers: int = 2,
        in_flight: int = 8,
        env_kwargs: dict[str, Any] | None = None,
        row_base: dict[str, Any] | None = None,
        max_retries: int = 2,
        on_round: Callable[[Rollout], None] | None = None,
        local_worker: EnvWorker | None = None,
    ):
        if workers < 0:
            raise ValueError(f"workers must be >= 0, got {workers}")
        if in_flight < 1:
            raise ValueError(f"in_flight must be >= 1, got {in_flight}")
        self.env = env
        self.env_kwargs = dict(env_kwargs or {})
        self.jobs = list(jobs)
        self.on_episode = on_episode
        self.on_round = on_round
        self.n_workers = workers
        self.in_flight = in_flight
        self.row_base = dict(row_base or {})
        self.max_retries = max_retries
        self.restarts = 0
        self.use_ray = workers > 0
        self.workers: list[Any] = []
        self._local_worker = local_worker
        self._policy_actor = None
        self.policy: Policy | None = None
        self.agent = agent
        #: Ray and an agent that does not batch: env workers play whole episodes with their own copy
        self.episode_parallel = self.use_ray and not is_batched(agent)
        if self.use_ray and not self.episode_parallel and not isinstance(agent, Agent):
            self._policy_actor = self._start_policy_actor(agent)
        elif not self.episode_parallel:
            self.policy = Policy(agent)

    # --- policy and workers, local or Ray -----------------------------------------------------------
    def _start_policy_actor(self, agent: tuple[str, dict[str, Any]]):
        import ray

        gpus = 1 if ray.cluster_resources().get("GPU", 0) >= 1 and agent[0] == "lm" else 0
        return ray.remote(Policy).options(num_cpus=0, num_gpus=gpus).remote(agent)

    def _policy_call(self, method: str, *args):
        if self._policy_actor is not None:
            import ray

            return ray.get(getattr(self._policy_actor, method).remote(*args))
        return getattr(self.policy, method)(*args)

    def _new_worker(self):
        if not self.use_ray:
            return self._local_worker or EnvWorker(self.env, self.env_kwargs)
        import ray

        agent = self.agent if self.episode_parallel else None
        return ray.remote(EnvWorker).options(num_cpus=1, max_restarts=0).remote(self.env, self.env_kwargs, agent)

    def _call_workers(self, calls: dict[int, tuple[str, Sequence[Any]]]) -> dict[int, list[EnvResult] | Exception]:
        """Run ``method(arg)`` on each worker (in parallel under Ray); a dead worker gives its exception."""
        if not self.use_ray:
            return {w: getattr(self.workers[w], m)(arg) for w, (m, arg) in calls.items()}
        import ray

        refs = {w: getattr(self.workers[w], m).remote(arg) for w, (m, arg) in calls.items()}
        out: dict[int, list[EnvResult] | Exception] = {}
        for w, ref in refs.items():
            try:
                out[w] = ray.get(ref)
            except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError,
                    ray.exceptions.ObjectLostError) as err:
                out[w] = err
        return out

    # --- the loop ----------------------------------------------------------------------------------
    def run(self) -> None:
        """Play every job; returns when each has been handed to ``on_episode`` once."""
        self.workers = [self._new_worker() for _ in range(max(1, self.n_workers))]
        if self.episode_parallel:
            try:
                self._run_episode_parallel()
            finally:
                self._shutdown()
            return
        pending: deque[tuple[EpisodeJob, int]] = deque((job, 0) for job in self.jobs)
        running: dict[int, _Running] = {}
        try:
            while pending or running:
                self._start_pending(pending, running)
                if running:
                    self._play_round(list(running.values()), pending, running)
                if self.on_round is not None:
                    self.on_round(self)
        finally:
            self._shutdown()

    def _run_episode_parallel(self) -> None:
        """Keep every worker busy with small chunks of whole episodes; a chunk lost with its worker
        is re-run on a fresh one (``max_retries`` times, then its episodes are written as failed)."""
        import ray

        size = max(1, min(16, math.ceil(len(self.jobs) / (4 * len(self.workers)))))
        pending = deque((self.jobs[i:i + size], 0) for i in range(0, len(self.jobs), size))
        idle = list(range(len(self.workers)))
        in_flight: dict[Any, tuple[int, list[EpisodeJob], int]] = {}
        while pending or in_flight:
            while idle and pending:
                w = idle.pop()
                chunk, attempt = pending.popleft()
                ref = self.workers[w].play.remote(chunk, self.row_base, self.max_retries)
                in_flight[ref] = (w, chunk, attempt)
            if self.on_round is not None:
                self.on_round(self)
            (ref,), _ = ray.wait(list(in_flight), num_returns=1)
            w, chunk, attempt = in_flight.pop(ref)
            idle.append(w)
            try:
                episodes = ray.get(ref)
            except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError,
                    ray.exceptions.ObjectLostError) as err:
                self.restarts += 1
                self.workers[w] = self._new_worker()
                if attempt < self.max_retries:
                    pending.appendleft((chunk, attempt + 1))
                else:
                    for job in chunk:
                        error = f"failed after {attempt + 1} attempts: {_worker_death(err)}"
                        self.on_episode([{**self._blank_row(job), "error": error}])
                continue
            for rows in episodes:
                self.on_episode(rows)

    def _start_pending(self, pending: deque, running: dict[int, _Running]) -> None:
        load = [0] * len(self.workers)
        for r in running.values():
            load[r.worker] += 1
        starts: dict[int, list[tuple[EpisodeJob, int]]] = {}
        while pending and len(running) + sum(map(len, starts.values())) < self.in_flight:
            job, attempt = pending.popleft()
            w = min(range(len(load)), key=lambda i: load[i])
            load[w] += 1
            starts.setdefault(w, []).append((job, attempt))
        if not starts:
            return
        results = self._call_workers({w: ("start", [j for j, _ in items]) for w, items in starts.items()})
        started: list[_Running] = []
        for w, items in starts.items():
            outcome = results[w]
            if isinstance(outcome, Exception):
                self._replace_worker(w, running, pending, outcome)
                for job, attempt in items:
                    self._retry_or_fail(job, attempt, _worker_death(outcome), pending)
                continue
            for (job, attempt), result in zip(items, outcome):
                if result.error:
                    self._retry_or_fail(job, attempt, result.error, pending)
                    continue
                state = _Running(job, w, attempt, result.observation, result.info)
                running[job.episode] = state
                started.append(state)
        if started:
            self._policy_call("reset", [s.info for s in started], [s.job.episode for s in started])

    def _play_round(self, waiting: list[_Running], pending: deque, running: dict[int, _Running]) -> None:
        steps: list[AgentStep] = self._policy_call(
            "act_batch", [r.observation for r in waiting], [r.info for r in waiting], [r.job.episode for r in waiting]
        )
        by_worker: dict[int, list[tuple[int, str]]] = {}
        for state, step in zip(waiting, steps):
            state.rows.append(self._row(state, step))
            by_worker.setdefault(state.worker, []).append((state.job.episode, step.action))
        results = self._call_workers({w: ("step", actions) for w, actions in by_worker.items()})
        ended: list[int] = []
        for w, outcome in results.items():
            if isinstance(outcome, Exception):
                self._replace_worker(w, running, pending, outcome)
                continue
            for result in outcome:
                state = running.get(result.episode)
                if state is None:
                    continue
                if result.error:
                    del running[result.episode]
                    ended.append(result.episode)
                    self._retry_or_fail(state.job, state.attempt, result.error, pending)
                    continue
                self._record(state.rows[-1], result)
                state.observation, state.info = result.observation, result.info
                if result.terminated or result.truncated:
                    del running[result.episode]
                    ended.append(result.episode)
                    self.on_episode(state.rows)
        if ended:
            self._policy_call("forget", ended)

    def _replace_worker(self, w: int, running: dict[int, _Running], pending: deque, err: Exception) -> None:
        """Worker ``w`` died: start a fresh one and re-run its in-flight episodes from the start."""
        self.restarts += 1
        self.workers[w] = self._new_worker()
        lost = [s for s in running.values() if s.worker == w]
        for state in lost:
            del running[state.job.episode]
        if lost:
            self._policy_call("forget", [s.job.episode for s in lost])
        for state in lost:
            self._retry_or_fail(state.job, state.attempt, _worker_death(err), pending)

    def _retry_or_fail(self, job: EpisodeJob, attempt: int, error: str, pending: deque) -> None:
        if attempt < self.max_retries:
            pending.appendleft((job, attempt + 1))
            return
        row = {**self._blank_row(job), "error": f"failed after {attempt + 1} attempts: {error}"}
        self.on_episode([row])

    def _shutdown(self) -> None:
        if not self.use_ray:
            return
        import ray

        for handle in [*self.workers, self._policy_actor]:
            if handle is not None:
                ray.kill(handle, no_restart=True)

    # --- rows --------------------------------------------------------------------------------------
    def _blank_row(self, job: EpisodeJob) -> dict[str, Any]:
        return {
            **self.row_base, "env": self.env, "task_id": job.task_id, "task": "", "task_type": "",
            "episode": job.episode, "step": 0, "observation": "", "thought": "", "action": "", "completion": "",
            "reward": 0.0, "terminated": False, "truncated": False, "won": False, "score": 0.0,
            "invalid_action": False, "n_reason_tokens": 0, "n_act_tokens": 0, "latency_s": 0.0, "error": "",
        }

    def _row(self, state: _Running, step: AgentStep) -> dict[str, Any]:
        if step.n_reason_tokens is None or step.n_act_tokens is None:
            n_reason, n_act = span_token_counts(step.text)
        else:
            n_reason, n_act = step.n_reason_tokens, step.n_act_tokens
        row = self._blank_row(state.job)
        row.update({
            "task": str(state.info.get("task", "")), "task_type": str(state.info.get("task_type") or ""),
            "step": len(state.rows), "observation": state.observation, "thought": step.thought,
            "action": step.action, "completion": step.text, "n_reason_tokens": int(n_reason),
            "n_act_tokens": int(n_act), "latency_s": float(step.latency_s),
            "token_ids": step.token_ids, "topk_ids": step.topk_ids, "topk_logprobs": step.topk_logprobs,
        })
        return row

    @staticmethod
    def _record(row: dict[str, Any], result: EnvResult) -> None:
        info = result.info
        row.update({
            "reward": result.reward, "terminated": result.terminated, "truncated": result.truncated,
            "won": bool(info.get("won", False)), "score": float(info.get("score", 0.0)),
            "invalid_action": bool(info.get("invalid_action", False)),
        })

