"""The text-environment contract shared by every benchmark, in one small file.

Subclasses implement ``_reset(task_id) -> (obs, info)`` and ``_step(action) -> (obs, reward,
terminated, info)``; this base class adds what every env must do the same way:

- ``observation_space`` / ``action_space`` are :class:`UnicodeText` (any string up to a length);
- ``reset(seed=..., options={"task_id": ...})`` picks a task by id or, without one, from
  ``self.task_ids`` with the env's seeded RNG;
- an action the env cannot parse or apply raises :class:`InvalidAction` inside ``_step``; the base
  class turns it into an observation that says why, ``invalid_action=True``, reward 0, one step used;
- at ``max_steps`` (a whole number >= 1: not a float, NaN, infinity or bool) an unfinished episode is
  truncated;
- ``info`` always holds ``task_id, task, admissible_actions, won, score, invalid_action``.
"""
from __future__ import annotations

import numbers
import string
from typing import Any, ClassVar

import gymnasium
from gymnasium.spaces import Text

INFO_KEYS = ("task_id", "task", "admissible_actions", "won", "score", "invalid_action")


class InvalidAction(ValueError):
    """Raised by an env's ``_step`` for an action it cannot parse or apply.

    The message is shown to the agent.
    """


class UnicodeText(Text):
    """A Text space that contains any ``str`` up to ``max_length`` characters (samples are printable ASCII).

    Gymnasium's ``Text`` only contains strings over a fixed charset; real observations (product
    titles, Wikipedia prose) carry arbitrary Unicode, so membership only checks type and length.
    """

    def __init__(self, max_length: int, seed: int | None = None):
        super().__init__(max_length=max_length, min_length=0, charset=string.printable, seed=seed)

    def contains(self, x: Any) -> bool:
        return isinstance(x, str) and len(x) <= self.max_length

    def __repr__(self) -> str:
        return f"UnicodeText({self.max_length})"


class TextEnv(gymnasium.Env[str, str]):
    """Base class of the benchmark envs (see the module docstring for the contract)."""

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["ansi", "human"]}
    #: info keys that carry hidden answers (the goal, the plan, the gold facts): for scoring and for
    #: relabelling only. Honest experts never read them to choose a demo's action, and
    #: :class:`envs.hide_privileged.HidePrivilegedInfo` deletes them from every info.
    privileged_info_keys: ClassVar[tuple[str, ...]] = ()
    #: longest observation / action the spaces admit
    max_observation_chars = 200_000
    max_action_chars = 2_000

    def __init__(self, max_steps: int, render_mode: str | None = None):
        if isinstance(max_steps, bool) or not isinstance(max_steps, numbers.Integral) or max_steps < 1:
            raise ValueError(f"max_steps must be a whole number >= 1, got {max_steps!r}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode must be one of {self.metadata['render_modes']}, got {render_mode!r}"
            )
        self.max_steps = int(max_steps)
        self.render_mode = render_mode
        self.observation_space = UnicodeText(self.max_observation_chars)
        self.action_space = UnicodeText(self.max_action_chars)
        self.steps = 0
        self._last_obs = ""
        self._last_info: dict[str, Any] = {}

    # --- what a benchmark implements -------------------------------------------------------------
    @property
    def task_ids(self) -> list[str]:
        """Ids of the tasks in this env's split, in a fixed order."""
        raise NotImplementedError

    def _reset(self, task_id: str) -> tuple[str, dict[str, Any]]:
        raise NotImplementedError

    def _step(self, action: str) -> tuple[str, float, bool, dict[str, Any]]:
        raise NotImplementedError

    def _invalid(self, message: str) -> tuple[str, dict[str, Any]]:
        """Observation and info for an invalid action; the default repeats the message."""
        return message, {}

    # --- the Gymnasium API --------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        task_id = (options or {}).get("task_id")
        if task_id is None:
            ids = self.task_ids
            task_id = ids[int(self.np_random.integers(len(ids)))]
        self.steps = 0
        obs, info = self._reset(str(task_id))
        return self._finish(obs, info, invalid=False)

    def step(self, action: str):
        self.steps += 1
        action = action if isinstance(action, str) else str(action)
        try:
            obs, reward, terminated, info = self._step(action)
            invalid = bool(info.pop("invalid_action", False))
        except InvalidAction as err:
            obs, info = self._invalid(str(err))
            reward, terminated, invalid = 0.0, False, True
        truncated = not terminated and self.steps >= self.max_steps
        obs, info = self._finish(obs, info, invalid=invalid)
        return obs, float(reward), bool(terminated), bool(truncated), info

    def render(self) -> str | None:
        if self.render_mode == "human":
            print(self._last_obs)
            return None
        return self._last_obs

    def _finish(self, obs: str, info: dict[str, Any], invalid: bool) -> tuple[str, dict[str, Any]]:
        # shallow copies: an info a caller keeps (or mutates) never aliases a later one
        full = {k: _copied(v) for k, v in {**self._last_info, **info, "invalid_action": invalid}.items()}
        missing = [k for k in INFO_KEYS if k not in full]
        if missing:
            raise RuntimeError(
                f"{type(self).__name__} left info keys {missing} unset (contract: {INFO_KEYS})"
            )
        obs = obs[: self.max_observation_chars]
        self._last_obs, self._last_info = obs, {k: v for k, v in full.items() if k != "invalid_action"}
        return obs, full


def _copied(value: Any) -> Any:
    return value.copy() if isinstance(value, (list, dict, set)) else value
