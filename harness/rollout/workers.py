"""The two kinds of actor a rollout runs: env workers (:class:`EnvWorker`, own and step
environments) and the policy (:class:`Policy`, the agent that chooses actions), each a Ray actor
under Ray or a plain object in this process; and the handles the loops use to call them
(:class:`WorkerPool`, :class:`PolicyHandle`), which replace a dead actor with a fresh one, and, given a
``timeout_s``, a hung one (no answer within that many seconds: killed, then replaced). The
episode-parallel loop's worker, which also plays, is :class:`.episode_parallel.EpisodeWorker`.

An agent's :class:`agents.errors.EpisodeError` ends that episode only: :class:`Policy` turns it into a
:class:`TurnFailed` for the episode's slot (a :class:`agents.errors.TurnErrors` keeps the turns of the
call's other episodes). An error the user must fix (a refusing or unreachable model server) raised in
an actor reaches the caller as itself, not wrapped in Ray's traceback (:func:`ray_get`)."""
from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from agents.base import Agent, AgentStep
from agents.errors import EpisodeError, TurnErrors
from harness.errors import one_line_errors

#: an Agent object, or ``(registry name, kwargs)`` to build one where the policy runs
AgentSpec = Agent | tuple[str, dict[str, Any]]
#: registered agents that run a model on the device: their policy actor gets the cluster's GPU
GPU_AGENTS = ("lm", "guided")


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


@dataclass(frozen=True)
class TurnFailed:
    """The agent could not take this episode's turn (it raised an EpisodeError): the episode is written
    as failed with ``error`` and the others go on."""

    error: str


class WorkerHung(Exception):
    """An actor did not answer within the timeout; it has been killed."""


def actor_death(err: Exception, actor: str = "env worker") -> str:
    """The error recorded for episodes lost with a dead or hung actor."""
    if isinstance(err, WorkerHung):
        return str(err)
    first_line = (str(err).strip().splitlines() or [""])[0][:200]
    return f"{actor} died ({type(err).__name__}: {first_line})"


def agent_error(err: EpisodeError) -> str:
    """The error recorded for an episode whose agent raised ``err``."""
    return f"agent: {type(err).__name__}: {str(err)[:500]}"


def actor_died_errors() -> tuple[type[Exception], ...]:
    """The exceptions Ray raises for a call on an actor that died (crash, OOM, killed)."""
    import ray

    return (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError, ray.exceptions.ObjectLostError)


def ray_get(ref: Any, timeout_s: float | None = None) -> Any:
    """``ray.get(ref)``; an error of the remote call that the user must fix
    (:func:`harness.errors.one_line_errors`) is raised as itself, without Ray's remote traceback."""
    import ray

    try:
        return ray.get(ref, timeout=timeout_s)
    except ray.exceptions.RayTaskError as err:
        if isinstance(err.cause, one_line_errors()):
            raise err.cause from None
        raise


def kill_hung(handle: Any, actor: str, pid: int | None, timeout_s: float) -> WorkerHung:
    """Kill the actor ``handle`` that did not answer within ``timeout_s``; the error that says so."""
    import ray

    ray.kill(handle, no_restart=True)
    return WorkerHung(f"{actor} (pid {pid}) hung: no answer within {timeout_s:g} s; killed and replaced")


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

    def pid(self) -> int:
        """The id of this worker's process (named when it hangs)."""
        return os.getpid()

    def drop(self, episodes: Sequence[int]) -> list[EnvResult]:
        """Abandon these running episodes (their agent failed): their envs return to the pool."""
        for episode in episodes:
            env = self._active.pop(episode, None)
            if env is not None:
                self._free.append(env)
        return []

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

    def __init__(self, agent: AgentSpec, torch_threads: int = 0):
        if torch_threads:  # a Ray actor starts with OMP_NUM_THREADS=1: the model would use one core
            import torch

            torch.set_num_threads(min(torch_threads, len(os.sched_getaffinity(0))))  # at most this node's
        if isinstance(agent, Agent):
            self.agent = agent
        else:
            import agents

            name, kwargs = agent
            self.agent = agents.make(name, **kwargs)

    def pid(self) -> int:
        """The id of the process the policy runs in."""
        return os.getpid()

    def torch_threads(self) -> int:
        """The torch intra-op threads of the policy's process (0: torch not loaded there)."""
        torch = sys.modules.get("torch")
        return torch.get_num_threads() if torch is not None else 0

    def reset(self, infos: Sequence[dict[str, Any]], slots: Sequence[int]) -> dict[int, str]:
        """Start the episode of each slot; the error of each slot whose agent refused it."""
        failed: dict[int, str] = {}
        for info, slot in zip(infos, slots, strict=True):
            try:
                self.agent.reset(info, slot=slot)
            except EpisodeError as err:
                failed[slot] = agent_error(err)
        return failed

    def act_batch(self, observations: Sequence[str], infos: Sequence[dict[str, Any]],
                  slots: Sequence[int]) -> list[AgentStep | TurnFailed]:
        """Each slot's turn, or :class:`TurnFailed` where the agent raised an EpisodeError for it. A
        batched agent gets one ``act_batch`` call, any other one call per slot (so that an error is
        its slot's); steps whose agent did not time itself get an equal share of their call."""
        if self.agent.batched:
            return self._act(observations, infos, slots)
        turns: list[AgentStep | TurnFailed] = []
        for observation, info, slot in zip(observations, infos, slots, strict=True):
            turns += self._act([observation], [info], [slot])
        return turns

    def _act(self, observations: Sequence[str], infos: Sequence[dict[str, Any]],
             slots: Sequence[int]) -> list[AgentStep | TurnFailed]:
        start = time.perf_counter()
        try:
            turns: list[AgentStep | TurnFailed] = list(self.agent.act_batch(observations, infos, slots=slots))
        except TurnErrors as err:
            missing = TurnFailed("agent: TurnErrors names neither a turn nor an error for this episode")
            turns = [err.steps[slot] if slot in err.steps
                     else TurnFailed(agent_error(err.errors[slot])) if slot in err.errors else missing
                     for slot in slots]
        except EpisodeError as err:
            turns = [TurnFailed(agent_error(err))] * len(slots)
        share = (time.perf_counter() - start) / max(1, len(turns))
        for turn in turns:
            if isinstance(turn, AgentStep):
                turn.latency_s = turn.latency_s or share
        return turns

    def forget(self, slots: Sequence[int]) -> None:
        """Drop the episodes of ``slots`` (finished or lost)."""
        for slot in slots:
            self.agent.episodes.pop(slot, None)


class ActorDied(Exception):
    """A call on the policy actor failed because the actor died; the handle has started a new one."""


class PolicyHandle:
    """Calls the policy: a :class:`Policy` in this process, or a Ray actor that is restarted when it
    dies (the caller then re-runs the episodes it held: their agent state died with it)."""

    def __init__(self, policy: Policy | None, agent: tuple[str, dict[str, Any]] | None = None,
                 timeout_s: float | None = None):
        self._policy, self._agent, self.timeout_s = policy, agent, timeout_s
        self.actor: Any = None
        self.pid: int | None = None
        self.restarts = 0
        if policy is None:
            self._start_actor()

    @classmethod
    def local(cls, policy: Policy) -> PolicyHandle:
        return cls(policy)

    @classmethod
    def ray_actor(cls, agent: tuple[str, dict[str, Any]], timeout_s: float | None = None) -> PolicyHandle:
        """A policy actor for ``agent``; a call unanswered after ``timeout_s`` counts as a death."""
        return cls(None, agent, timeout_s)

    def _start_actor(self) -> None:
        """Start the actor and wait until it is up (building the agent is not part of any timeout)."""
        import ray

        assert self._agent is not None
        resources = ray.cluster_resources()
        model = self._agent[0] in GPU_AGENTS
        gpus = 1 if resources.get("GPU", 0) >= 1 and model else 0
        # a model's forward passes use every core Ray was given: the env workers mostly wait for its turns
        threads = int(resources.get("CPU", 1)) if model else 0
        self.actor = ray.remote(Policy).options(num_cpus=0, num_gpus=gpus, max_restarts=0).remote(self._agent,
                                                                                                   threads)
        self.pid = ray_get(self.actor.pid.remote())

    def call(self, method: str, *args: Any) -> Any:
        """``policy.method(*args)``; raises :class:`ActorDied` (after starting a fresh actor) when the
        Ray actor died or did not answer within ``timeout_s``."""
        if self.actor is None:
            return getattr(self._policy, method)(*args)
        import ray

        try:
            return ray_get(getattr(self.actor, method).remote(*args), self.timeout_s)
        except (*actor_died_errors(), ray.exceptions.GetTimeoutError) as err:
            if isinstance(err, ray.exceptions.GetTimeoutError):
                assert self.timeout_s is not None
                err = kill_hung(self.actor, "policy actor", self.pid, self.timeout_s)
            self.restarts += 1
            self._start_actor()
            raise ActorDied(actor_death(err, "policy actor")) from err

    def shutdown(self) -> None:
        if self.actor is not None:
            import ray

            ray.kill(self.actor, no_restart=True)


class WorkerPool:
    """The env workers of a rollout: :class:`EnvWorker` objects in this process, or Ray actors (one
    CPU each). :meth:`call` runs one method per worker, in parallel under Ray; :meth:`replace` swaps a
    dead (or hung) worker for a fresh one. ``timeout_s``: how long :meth:`call` waits for a worker's
    answer before it kills the worker as hung (None: forever)."""

    def __init__(self, handles: list[Any], factory: Any | None, use_ray: bool,
                 timeout_s: float | None = None):
        self.handles, self._factory, self.use_ray, self.timeout_s = handles, factory, use_ray, timeout_s
        self.restarts = 0
        self.pids: list[int | None] = [None] * len(handles)
        if use_ray:
            import ray

            self.pids = ray.get([handle.pid.remote() for handle in handles])  # every worker is up

    @classmethod
    def local(cls, worker: EnvWorker) -> WorkerPool:
        """One in-process worker (workers=0, and inside an episode-parallel Ray worker)."""
        return cls([worker], None, use_ray=False)

    @classmethod
    def ray_actors(cls, n: int, worker: type[EnvWorker], *args: Any,
                   timeout_s: float | None = None) -> WorkerPool:
        """``n`` Ray actors (one CPU each) of class ``worker``, each built with ``args``."""
        import ray

        def factory() -> Any:
            return ray.remote(worker).options(num_cpus=1, max_restarts=0).remote(*args)

        return cls([factory() for _ in range(n)], factory, use_ray=True, timeout_s=timeout_s)

    def __len__(self) -> int:
        return len(self.handles)

    def call(self, calls: dict[int, tuple[str, Any]]) -> dict[int, list[EnvResult] | Exception]:
        """Run ``method(arg)`` on each worker ``w`` of ``{w: (method, arg)}``; a dead worker gives the
        exception instead of results."""
        if not self.use_ray:
            return {w: getattr(self.handles[w], m)(arg) for w, (m, arg) in calls.items()}
        import ray

        refs = {w: getattr(self.handles[w], m).remote(arg) for w, (m, arg) in calls.items()}
        if self.timeout_s is not None:
            ray.wait(list(refs.values()), num_returns=len(refs), timeout=self.timeout_s)
        out: dict[int, list[EnvResult] | Exception] = {}
        for w, ref in refs.items():
            try:
                out[w] = ray_get(ref, 0 if self.timeout_s is not None else None)
            except actor_died_errors() as err:
                out[w] = err
            except ray.exceptions.GetTimeoutError:
                out[w] = self.kill_hung(w, self.timeout_s or 0)
        return out

    def kill_hung(self, w: int, waited_s: float) -> WorkerHung:
        """Kill worker ``w``, which did not answer within ``waited_s``; the error to record."""
        return kill_hung(self.handles[w], "env worker", self.pids[w], waited_s)

    def replace(self, w: int) -> None:
        """Start a fresh worker in place of the dead worker ``w`` (and wait until it is up)."""
        if self._factory is None:
            raise RuntimeError("an in-process env worker cannot be replaced")
        import ray

        self.restarts += 1
        self.handles[w] = self._factory()
        self.pids[w] = ray.get(self.handles[w].pid.remote())

    def shutdown(self) -> None:
        if self.use_ray:
            import ray

            for handle in self.handles:
                ray.kill(handle, no_restart=True)
