"""The agent contract: what every agent (expert, random, LM, HTTP) implements.

An agent plays one or more episodes at once; each episode lives in a *slot* (an int the
caller chooses, 0 by default). Single-episode use:

    agent.reset(info)                       # info from env.reset
    step = agent.act(observation, info)     # -> AgentStep
    obs, reward, terminated, truncated, info = env.step(step.action)

Batched use (what the harness does for LM agents): ``agent.reset(info, slot=i)`` per
env, then ``agent.act_batch([obs_i, ...], [info_i, ...], slots=[i, ...])``.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from agents.react import Turn


@dataclass
class AgentStep:
    """One agent turn: the completion text and what it parsed into.

    ``text`` is the completion exactly as produced (``Thought: ...\\nAction: ...``).
    LM agents also fill ``token_ids`` (the generated tokens) and, when asked to log them,
    ``topk_ids`` / ``topk_logprobs`` (one list of k per generated token), and record the context
    they were produced in: ``n_dropped_turns`` (earlier turns left out of the prompt by
    :mod:`agents.context`) and ``prompt_tokens`` (the length of the prompt fed to the model).
    ``guided`` is True when a guide (a teacher LM or the per-step expert) played the turn in place of
    the agent being trained (:mod:`agents.guided`).
    """

    thought: str
    action: str
    text: str
    token_ids: list[int] | None = None
    topk_ids: list[list[int]] | None = None
    topk_logprobs: list[list[float]] | None = None
    n_reason_tokens: int | None = None
    n_act_tokens: int | None = None
    latency_s: float = 0.0
    n_dropped_turns: int | None = None
    prompt_tokens: int | None = None
    guided: bool = False


@dataclass
class Episode:
    """What an agent remembers of one episode: the task, the first observation, the turns so far."""

    task: str
    first_observation: str | None = None
    turns: list[Turn] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)

    def observe(self, observation: str) -> None:
        """Record the observation that answers the last turn (or the first one)."""
        if self.first_observation is None:
            self.first_observation = observation
        elif self.turns and self.turns[-1].observation is None:
            self.turns[-1].observation = observation


class Agent:
    """Base class: keeps one :class:`Episode` per slot; subclasses implement :meth:`act_batch`."""

    #: one line shown by ``agentdistill agents``
    description: ClassVar[str] = ""
    #: True when act_batch serves many episodes in one call (an LM on its device); the harness then
    #: runs one copy of the agent for all envs. False: every env worker plays whole episodes with its
    #: own copy, which scales with workers.
    batched: ClassVar[bool] = False

    def __init__(self) -> None:
        self.episodes: dict[int, Episode] = {}

    def reset(self, info: dict[str, Any], slot: int = 0) -> None:
        """Start a new episode in ``slot``; ``info`` is what ``env.reset`` returned."""
        self.episodes[slot] = Episode(task=str(info.get("task", "")), info=dict(info))

    def act(self, observation: str, info: dict[str, Any] | None = None, slot: int = 0) -> AgentStep:
        """The next turn for the episode in ``slot``, given the latest observation."""
        return self.act_batch([observation], [info or {}], slots=[slot])[0]

    def act_batch(
        self,
        observations: Sequence[str],
        infos: Sequence[dict[str, Any]] | None = None,
        slots: Sequence[int] | None = None,
    ) -> list[AgentStep]:
        """One turn for each (observation, info, slot); the default serves them one by one."""
        slots = list(range(len(observations))) if slots is None else list(slots)
        infos = [{} for _ in observations] if infos is None else list(infos)
        if not (len(observations) == len(infos) == len(slots)):
            raise ValueError(
                f"act_batch got {len(observations)} observations, {len(infos)} infos, {len(slots)} slots"
            )
        steps = []
        for obs, info, slot in zip(observations, infos, slots, strict=True):
            episode = self._episode(slot)
            episode.observe(obs)
            episode.info = dict(info) if info else episode.info
            step = self.step(episode, obs, info or {})
            episode.turns.append(Turn(thought=step.thought, action=step.action, text=step.text))
            steps.append(step)
        return steps

    def step(self, episode: Episode, observation: str, info: dict[str, Any]) -> AgentStep:
        """One turn of one episode; override this (simple agents) or :meth:`act_batch` (batched ones)."""
        raise NotImplementedError(f"{type(self).__name__} must implement step() or act_batch()")

    def _episode(self, slot: int) -> Episode:
        if slot not in self.episodes:
            raise RuntimeError(
                f"{type(self).__name__}: slot {slot} has no episode; call reset(info, slot={slot}) first"
            )
        return self.episodes[slot]
