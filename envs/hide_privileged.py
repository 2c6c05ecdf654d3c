"""A wrapper that deletes an env's privileged info keys, so an agent sees only what a player sees."""
from __future__ import annotations

from typing import Any

import gymnasium


class HidePrivilegedInfo(gymnasium.Wrapper):
    """Drop ``env.unwrapped.privileged_info_keys`` (hidden answers) from the info of reset and step.

    Use it to check that an agent acts on what it can see: an honest expert behind this wrapper
    must play exactly as well as without it.

        env = HidePrivilegedInfo(envs.make("webshop", split="test"))
    """

    def __init__(self, env: gymnasium.Env):
        super().__init__(env)
        self.hidden: tuple[str, ...] = tuple(getattr(env.unwrapped, "privileged_info_keys", ()))

    def _visible(self, info: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in info.items() if k not in self.hidden}

    def reset(self, **kwargs: Any):
        obs, info = self.env.reset(**kwargs)
        return obs, self._visible(info)

    def step(self, action: str):
        obs, reward, terminated, truncated, info = self.env.step(action)
        return obs, reward, terminated, truncated, self._visible(info)
