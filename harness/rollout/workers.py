"""The two kinds of actor a rollout runs: env workers (:class:`EnvWorker`, own and step
environments) and the policy (:class:`Policy`, the agent that chooses actions), each a Ray actor
under Ray or a plain object in this process; and the handles the loops use to call them
(:class:`WorkerPool`, :class:`PolicyHandle`), which replace a dead actor with a fresh one. The
episode-parallel loop's worker, which also plays, is :class:`.episode_parallel.EpisodeWorker`."""
from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from agents.base import Agent, AgentStep

#: an Agent object, or ``(registry name, kwargs)`` to build one where the policy runs
AgentSpec = Agent | tuple[str, dict[str, Any]]


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


def actor_death(err: Exception, actor: str = "env worker") -> str:
    """The error recorded for episodes lost with a dead actor."""
    first_line = (str(err).strip().splitlines() or [""])[0][:200]
    return f"{actor} died ({type(err).__name__}: {first_line})"


def actor_died_errors() -> tuple[type[Exception], ...]:
    """The exceptions Ray raises for a call on an actor that died (crash, OOM, killed)."""
    import ray

    return (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError, ray.exceptions.ObjectLostError)


def is_batched(agent: AgentSpec) -> bool:
    """Whether ``agent`` (an object, or a registry name and options) serves many episodes per call."""
    if isinstance(agent, Agent):
        return agent.batched
    import agents

    return bool(getattr(agents.spec(agent[0]).load(), "batched", False))


class EnvWorker:
    """Owns environments of one kind and steps them; a Ray actor in Ray mode."""

    def __init__(self, env: str, env_kwargs: dict[str, Any]):
        import envs

        self.env, self.env_kwargs = env, env_kwargs
        self._make = lambda: envs.make(env, **env_kwargs)
        self._free: list[Any] = []
        self._active: dict[int, Any] = {}

    def start(self, jobs: Sequence[EpisodeJob]) -> list[EnvResult]:
        """Reset an env for each job (``reset(seed=job.seed, options={"task_id": job.task_id})``)."""
        results = []
        for job in jobs:
            try:
                env = self._active.pop(job.episode, None) or (
                    self._free.pop() if self._free else self._make()
                )
                self._active[job.episode] = env
                obs, info = env.reset(seed=job.seed, options={"task_id": job.task_id})
                results.append(EnvResult(job.episode, obs, info=info))
            except Exception as err:
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
                results.append(
                    EnvResult(episode, obs, float(reward), bool(terminated), bool(truncated), info)
                )
                if terminated or truncated:
                    self._free.append(self._active.pop(episode))
            except Exception as err:
                self._active.pop(episode, None)
                results.append(EnvResult(episode, error=f"step: {type(err).__name__}: {err}"))
        return results


class Policy:
    """The agent behind the rollout: an Agent object, or ``(registry name, kwargs)`` to build one here
    (a Ray actor in Ray mode, so the model lives where the GPU is)."""

    def __init__(self, agent: AgentSpec):
        if isinstance(agent, Agent):
            self.agent = agent
        else:
            import agents

            name, kwargs = agent
            self.agent = agents.make(name, **kwargs)

    def reset(self, infos: Sequence[dict[str, Any]], slots: Sequence[int]) -> None:
        """Start the episode of each slot."""
        for info, slot in zip(infos, slots, strict=True):
            self.agent.reset(info, slot=slot)

    def act_batch(self, observations: Sequence[str], infos: Sequence[dict[str, Any]],
                  slots: Sequence[int]) -> list[AgentStep]:
        """One ``act_batch`` call; steps whose agent did not time itself get an equal share of the call."""
        start = time.perf_counter()
        steps = self.agent.act_batch(observations, infos, slots=slots)
        share = (time.perf_counter() - start) / max(1, len(steps))
        for step in steps:
            step.latency_s = step.latency_s or share
        return steps

    def forget(self, slots: Sequence[int]) -> None:
        """Drop the episodes of ``slots`` (finished or lost)."""
        for slot in slots:
            self.agent.episodes.pop(slot, None)


class ActorDied(Exception):
    """A call on the policy actor failed because the actor died; the handle has started a new one."""


class PolicyHandle:
    """Calls the policy: a :class:`Policy` in this process, or a Ray actor that is restarted when it
    dies (the caller then re-runs the episodes it held: their agent state died with it)."""

    def __init__(self, policy: Policy | None, agent: tuple[str, dict[str, Any]] | None = None):
        self._policy, self._agent = policy, agent
        self.actor: Any = None
        self.restarts = 0
        if policy is None:
            self.actor = self._start_actor()

    @classmethod
    def local(cls, policy: Policy) -> PolicyHandle:
        return cls(policy)

    @classmethod
    def ray_actor(cls, agent: tuple[str, dict[str, Any]]) -> PolicyHandle:
        return cls(None, agent)

    def _start_actor(self) -> Any:
        import ray

        assert self._agent is not None
        gpus = 1 if ray.cluster_resources().get("GPU", 0) >= 1 and self._agent[0] == "lm" else 0
        return ray.remote(Policy).options(num_cpus=0, num_gpus=gpus, max_restarts=0).remote(self._agent)

    def call(self, method: str, *args: Any) -> Any:
        """``policy.method(*args)``; raises :class:`ActorDied` (after starting a fresh actor) when the
        Ray actor died."""
        if self.actor is None:
            return getattr(self._policy, method)(*args)
        import ray

        try:
            return ray.get(getattr(self.actor, method).remote(*args))
        except actor_died_errors() as err:
            self.restarts += 1
            self.actor = self._start_actor()
            raise ActorDied(actor_death(err, "policy actor")) from err

    def shutdown(self) -> None:
        if self.actor is not None:
            import ray

            ray.kill(self.actor, no_restart=True)


class WorkerPool:
    """The env workers of a rollout: :class:`EnvWorker` objects in this process, or Ray actors (one
    CPU each). :meth:`call` runs one method per worker, in parallel under Ray; :meth:`replace` swaps a
    dead worker for a fresh one."""

    def __init__(self, handles: list[Any], factory: Any | None, use_ray: bool):
        self.handles, self._factory, self.use_ray = handles, factory, use_ray
        self.restarts = 0

    @classmethod
    def local(cls, worker: EnvWorker) -> WorkerPool:
        """One in-process worker (workers=0, and inside an episode-parallel Ray worker)."""
        return cls([worker], None, use_ray=False)

    @classmethod
    def ray_actors(cls, n: int, worker: type[EnvWorker], *args: Any) -> WorkerPool:
        """``n`` Ray actors (one CPU each) of class ``worker``, each built with ``args``."""
        import ray

        def factory() -> Any:
            return ray.remote(worker).options(num_cpus=1, max_restarts=0).remote(*args)

        return cls([factory() for _ in range(n)], factory, use_ray=True)

    def __len__(self) -> int:
        return len(self.handles)

    def call(self, calls: dict[int, tuple[str, Any]]) -> dict[int, list[EnvResult] | Exception]:
        """Run ``method(arg)`` on each worker ``w`` of ``{w: (method, arg)}``; a dead worker gives the
        exception instead of results."""
        if not self.use_ray:
            return {w: getattr(self.handles[w], m)(arg) for w, (m, arg) in calls.items()}
        import ray

        refs = {w: getattr(self.handles[w], m).remote(arg) for w, (m, arg) in calls.items()}
        out: dict[int, list[EnvResult] | Exception] = {}
        for w, ref in refs.items():
            try:
                out[w] = ray.get(ref)
            except actor_died_errors() as err:
                out[w] = err
        return out

    def replace(self, w: int) -> None:
        """Start a fresh worker in place of the dead worker ``w``."""
        if self._factory is None:
            raise RuntimeError("an in-process env worker cannot be replaced")
        self.restarts += 1
        self.handles[w] = self._factory()

    def shutdown(self) -> None:
        if self.use_ray:
            import ray

            for handle in self.handles:
                ray.kill(handle, no_restart=True)
