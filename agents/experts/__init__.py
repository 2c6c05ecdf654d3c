"""Scripted expert (teacher) agents, one module per environment."""
from __future__ import annotations

from importlib import import_module
from typing import Any

from agents.base import Agent

#: env name -> "module:class" of its expert
EXPERTS: dict[str, str] = {
    "alfworld": "agents.experts.alfworld:ALFWorldExpert",
    "hotpotqa": "agents.experts.hotpotqa:HotPotQAExpert",
    "webshop": "agents.experts.webshop:WebShopExpert",
}


def make_expert(env: str, **kwargs: Any) -> Agent:
    """The scripted expert for ``env``; an env without one raises ``KeyError`` naming those that have one."""
    if env not in EXPERTS:
        raise KeyError(f"no expert agent for env {env!r}; experts exist for: {', '.join(sorted(EXPERTS))}")
    module, _, cls = EXPERTS[env].partition(":")
    return getattr(import_module(module), cls)(**kwargs)
