"""Scripted expert (teacher) agents, one module per environment.

Honest-expert rule: an expert chooses a demo's action only from what an agent sees — the task
(``info["task"]``), the observations so far and ``info["admissible_actions"]`` — and its thoughts
name only what was shown. The env's privileged info keys (``env.privileged_info_keys``: the hidden
goal, plan or gold facts) serve scoring and :meth:`Expert.relabel` only.
"""
from __future__ import annotations

from collections.abc import Sequence
from importlib import import_module
from typing import Any, ClassVar

from agents.base import Agent, AgentStep, Episode

#: env name -> "module:class" of its expert
EXPERTS: dict[str, str] = {
    "alfworld": "agents.experts.alfworld:ALFWorldExpert",
    "hotpotqa": "agents.experts.hotpotqa:HotPotQAExpert",
    "webshop": "agents.experts.webshop:WebShopExpert",
}

#: env name -> its expert's version, bumped whenever that expert's behaviour changes; pipeline stages built
#: on the env's demos record it, so caches made by an older expert are rebuilt rather than reused (one
#: version per env: a changed WebShop expert leaves HotPotQA's demos and teacher valid). Until version 6
#: one number covered all three experts, hence the shared history.
EXPERT_VERSIONS: dict[str, int] = {"alfworld": 5, "hotpotqa": 6, "webshop": 7}


class Expert(Agent):
    """Base of the scripted experts.

    Subclasses implement :meth:`step` (the honest demo policy) and :meth:`relabel` (the turn the
    expert would play now from any history, e.g. a student's partial trajectory; it may use
    privileged info, and its thought says so when it does).
    """

    env_name: ClassVar[str] = ""

    def act_batch(
        self,
        observations: Sequence[str],
        infos: Sequence[dict[str, Any]] | None = None,
        slots: Sequence[int] | None = None,
    ) -> list[AgentStep]:
        if infos is None or any(not info for info in infos):
            raise ValueError(
                f"{type(self).__name__} needs the info dict that env.reset/env.step returned with every "
                "observation (it reads info['task'] and info['admissible_actions']); got none. "
                "An expert never acts on a previous step's info."
            )
        return super().act_batch(observations, infos, slots)

    def relabel(self, episode: Episode, info: dict[str, Any]) -> AgentStep:
        """The turn this expert would play next after ``episode`` (task, first observation, turns with
        their observations), given the latest ``info`` (privileged keys allowed)."""
        raise NotImplementedError(f"{type(self).__name__} does not implement relabel()")


def make_expert(env: str, **kwargs: Any) -> Expert:
    """The scripted expert for ``env``; an env without one raises ``KeyError`` naming those that have one."""
    if env not in EXPERTS:
        raise KeyError(f"no expert agent for env {env!r}; experts exist for: {', '.join(sorted(EXPERTS))}")
    module, _, cls = EXPERTS[env].partition(":")
    return getattr(import_module(module), cls)(**kwargs)
