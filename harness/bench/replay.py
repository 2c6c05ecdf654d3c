"""Figure 1's harness overhead measured on replayed episodes, so that the env's and the expert's own
work (milliseconds per step for ALFWorld and WebShop) does not drown the microseconds the harness adds.

1. :func:`record` plays the expert on a real env with the bare ``reset/step`` loop (episode ``i``
   seeded ``i``, the tasks ``evaluate`` would play) and keeps everything both returned: each reset's
   observation and info, each step's observation, reward, terminated, truncated and info, and the
   expert's :class:`~agents.base.AgentStep` of every turn.
2. :func:`register_replay` plugs a :class:`ReplayEnv` and a :class:`ReplayAgent` over that recording
   into the env and agent registries (the way a researcher adds an env or an agent), under the
   bench-only names :data:`REPLAY_ENV` and :data:`REPLAY_AGENT`, in the calling process only.
3. :func:`replayed_eval_seconds` and :func:`replayed_bare_seconds` time ``harness.evaluate.evaluate``
   (workers 0, one episode in flight, episode log on) and the bare loop on them; both return
   recorded objects at ~zero cost, so the difference of their CPU time per step
   (:func:`overhead_us_per_step`) is what the harness adds, with each env's real observation and info
   sizes.

The replay env's split is the recorded tasks, in recorded order: a replay of more episodes than were
recorded plays them again from the first (episode ``i`` plays recorded episode ``i mod n``).
"""
from __future__ import annotations

import contextlib
import copy
import io
import shutil
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium

from agents.base import Agent, AgentStep
from envs.core import TextEnv, UnicodeText

#: bench-only registry names of the replay env and agent (registered by :func:`register_replay`)
REPLAY_ENV = "bench-replay"
REPLAY_AGENT = "bench-replay"


@dataclass(frozen=True)
class RecordedStep:
    """One turn of a recorded episode: the expert's step and what ``env.step`` returned for it."""

    agent_step: AgentStep
    observation: str
    reward: float
    terminated: bool
    truncated: bool
    info: dict[str, Any]


@dataclass(frozen=True)
class RecordedEpisode:
    """One recorded episode: its task, reset seed, what ``env.reset`` returned, and its turns."""

    task_id: str
    seed: int
    observation: str
    info: dict[str, Any]
    steps: tuple[RecordedStep, ...]


@dataclass(frozen=True)
class Recording:
    """The expert's episodes on ``env``, as :func:`record` played them."""

    env: str
    episodes: tuple[RecordedEpisode, ...]

    @property
    def steps(self) -> int:
        """Env steps over all recorded episodes."""
        return sum(len(e.steps) for e in self.episodes)


def record(env_name: str, tasks: Sequence[str]) -> Recording:
    """Play the expert on ``env_name``'s test split with the bare loop over ``tasks`` (episode ``i`` seeded
    ``i``, like ``evaluate``) and keep every reset's, step's and turn's outputs."""
    import agents
    import envs

    env = envs.make(env_name, split="test")
    agent = agents.make("expert", env=env_name)
    episodes = []
    try:
        for i, task in enumerate(tasks):
            first_obs, first_info = obs, info = env.reset(seed=i, options={"task_id": task})
            agent.reset(info, slot=0)
            steps, done = [], False
            while not done:
                turn = agent.act(obs, info, slot=0)
                obs, reward, terminated, truncated, info = env.step(turn.action)
                steps.append(RecordedStep(copy.copy(turn), obs, float(reward), bool(terminated),
                                          bool(truncated), info))
                done = terminated or truncated
            episodes.append(RecordedEpisode(str(task), i, first_obs, first_info, tuple(steps)))
    finally:
        env.close()
    return Recording(env_name, tuple(episodes))


# --- the recordings the replay env and agent play, by key (this process only) -----------------------
_RECORDINGS: dict[str, Recording] = {}


def register_replay(key: str, recording: Recording) -> dict[str, str]:
    """Store ``recording`` under ``key`` and register :data:`REPLAY_ENV` / :data:`REPLAY_AGENT` in the env
    and agent registries (once per process); returns the env and agent options that select it."""
    import agents
    import envs

    if len({e.task_id for e in recording.episodes}) != len(recording.episodes) or not recording.episodes:
        raise ValueError(f"recording {key!r}: needs one episode per task, got "
                         f"{[e.task_id for e in recording.episodes]}")
    _RECORDINGS[key] = recording
    if REPLAY_ENV not in envs.names():
        envs.register(REPLAY_ENV, f"{__name__}:ReplayEnv", description="bench only: replays a recording")
    if REPLAY_AGENT not in agents.names():
        agents.register(REPLAY_AGENT, f"{__name__}:ReplayAgent", "bench only: replays a recording's turns")
    return {"recording": key}


def registered_recording(key: str) -> Recording:
    """The recording registered under ``key``."""
    if key not in _RECORDINGS:
        raise KeyError(f"no recording {key!r} registered in this process; registered: {sorted(_RECORDINGS)}")
    return _RECORDINGS[key]


class ReplayEnv(gymnasium.Env[str, str]):
    """Returns a recording's outputs: ``reset(options={"task_id": t})`` the recorded reset of task ``t``,
    then each ``step`` the next recorded step of that episode (the action must be the recorded one)."""

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(self, split: str = "test", recording: str = ""):
        self.split = split
        self.recording = registered_recording(recording)
        self.observation_space = UnicodeText(TextEnv.max_observation_chars)
        self.action_space = UnicodeText(TextEnv.max_action_chars)
        self._by_task = {e.task_id: e for e in self.recording.episodes}
        self._task_ids = [e.task_id for e in self.recording.episodes]
        # one task type per task, sorting in recorded order: harness.tasks' stratified order is then
        # the recorded order
        self._types = {task_id: f"{i:08d}" for i, task_id in enumerate(self._task_ids)}
        self._episode: RecordedEpisode | None = None
        self._next = 0

    @property
    def task_ids(self) -> list[str]:
        """The recorded tasks, in recorded order."""
        return self._task_ids

    def task_type(self, task_id: str) -> str:
        """A type of its own per task, in recorded order (so the stratified order is the recorded one)."""
        return self._types[task_id]

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        task_id = (options or {}).get("task_id")
        if task_id not in self._by_task:
            raise ValueError(f"replay of {self.recording.env}: task_id {task_id!r} was not recorded; "
                             f"recorded: {self._task_ids[:10]}")
        self._episode, self._next = self._by_task[task_id], 0
        return self._episode.observation, self._episode.info

    def step(self, action: str):
        episode = self._episode
        if episode is None or self._next >= len(episode.steps):
            raise RuntimeError(f"replay of {self.recording.env}: step() without a recorded step to replay")
        turn = episode.steps[self._next]
        if action != turn.agent_step.action:
            raise ValueError(f"replay of {self.recording.env} task {episode.task_id} step {self._next}: "
                             f"action {action!r}, recorded {turn.agent_step.action!r}")
        self._next += 1
        return turn.observation, turn.reward, turn.terminated, turn.truncated, turn.info


class ReplayAgent(Agent):
    """Plays a recording's turns: after ``reset(info)`` (the episode is ``info["task_id"]``) each ``act``
    returns a copy of the next recorded :class:`AgentStep` (a copy: the harness sets ``latency_s``)."""

    description = "bench only: replays a recording's turns"

    def __init__(self, env: str = REPLAY_ENV, recording: str = ""):
        super().__init__()
        self.recording = registered_recording(recording)
        self._by_task = {e.task_id: e for e in self.recording.episodes}
        self._turns: dict[int, Iterator[RecordedStep]] = {}  # slot -> the rest of its episode's turns

    def reset(self, info: dict[str, Any], slot: int = 0) -> None:
        self._turns[slot] = iter(self._by_task[info["task_id"]].steps)

    def act_batch(self, observations: Sequence[str], infos: Sequence[dict[str, Any]] | None = None,
                  slots: Sequence[int] | None = None) -> list[AgentStep]:
        slots = list(range(len(observations))) if slots is None else list(slots)
        return [copy.copy(next(self._turns[slot]).agent_step) for slot in slots]


# --- timing -----------------------------------------------------------------------------------------
def replayed_eval_seconds(options: dict[str, str], episodes: int, run_dir: Path) -> tuple[float, int]:
    """(CPU seconds, env steps) of ``harness.evaluate.evaluate`` playing ``episodes`` replayed episodes
    with workers 0, one episode in flight and the episode log on (``run_dir`` is removed afterwards)."""
    from harness.evaluate import evaluate

    c0 = time.process_time()
    with contextlib.redirect_stdout(io.StringIO()):
        summary = evaluate(REPLAY_ENV, REPLAY_AGENT, episodes=episodes, workers=0, in_flight=1, run=run_dir,
                           env_kwargs=options, agent_kwargs=options, progress=False,
                           command=["agentdistill", "bench", "--only", "overhead"])
    cpu = time.process_time() - c0
    shutil.rmtree(run_dir)
    return cpu, int(summary["env_steps"])


def replayed_bare_seconds(options: dict[str, str], tasks: Sequence[str]) -> tuple[float, int]:
    """(CPU seconds, env steps) of the bare loop over ``tasks`` (episode ``i`` seeded ``i``) on the
    replay env and agent, each built once, as a user's script would."""
    import agents
    import envs

    c0 = time.process_time()
    env = envs.make(REPLAY_ENV, split="test", **options)
    agent = agents.make(REPLAY_AGENT, env=REPLAY_ENV, **options)
    steps = 0
    try:
        for i, task in enumerate(tasks):
            obs, info = env.reset(seed=i, options={"task_id": task})
            agent.reset(info, slot=0)
            done = False
            while not done:
                obs, _, terminated, truncated, info = env.step(agent.act(obs, info, slot=0).action)
                steps += 1
                done = terminated or truncated
    finally:
        env.close()
    return time.process_time() - c0, steps


def overhead_us_per_step(eval_s: Sequence[float], bare_s: Sequence[float], steps: int) -> list[float]:
    """µs the harness adds per env step, per paired repeat: (eval − bare CPU seconds) / steps."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    return [1e6 * (e - b) / steps for e, b in zip(eval_s, bare_s, strict=True)]
