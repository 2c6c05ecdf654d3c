"""The random agent: the floor of every results table.

It picks uniformly from ``info["admissible_actions"]``; where the env gives no list, it fills a
template action of that env (e.g. ``search[<word>]``) with a word from the task or observation.
Each slot has its own RNG seeded from (seed, slot), so an episode's actions depend only on the
seed and the episode's slot, not on what else runs in the batch.
"""
from __future__ import annotations

import random
import re
from typing import Any

from agents.base import Agent, AgentStep, Episode
from agents.react import format_turn

#: env -> action templates used when the env has no admissible-action list ("{word}" is filled in)
TEMPLATES: dict[str, tuple[str, ...]] = {
    "hotpotqa": ("search[{word}]", "lookup[{word}]", "finish[{word}]"),
    "webshop": ("search[{word}]", "click[{word}]"),
    "alfworld": ("go to {word}", "take {word}", "examine {word}"),
}
_WORDS = re.compile(r"[A-Za-z][A-Za-z0-9'-]{2,}")


class RandomAgent(Agent):
    """Uniform over admissible actions (or the env's action templates)."""

    description = "picks uniformly from admissible actions: the floor"

    def __init__(self, env: str = "", seed: int = 0):
        super().__init__()
        self.env = env
        self.seed = int(seed)
        self._rngs: dict[int, random.Random] = {}

    def reset(self, info: dict[str, Any], slot: int = 0) -> None:
        super().reset(info, slot)
        self._rngs[slot] = random.Random(self.seed * 1_000_003 + slot)

    def step(self, episode: Episode, observation: str, info: dict[str, Any]) -> AgentStep:
        slot = next(s for s, e in self.episodes.items() if e is episode)
        rng = self._rngs[slot]
        admissible = info.get("admissible_actions") or episode.info.get("admissible_actions")
        if admissible:
            action = rng.choice(list(admissible))
        else:
            words = _WORDS.findall(f"{episode.task} {observation}") or ["it"]
            action = rng.choice(TEMPLATES.get(self.env, ("{word}",))).format(word=rng.choice(words))
        thought = "I pick an action at random."
        return AgentStep(thought=thought, action=action, text=format_turn(thought, action))
