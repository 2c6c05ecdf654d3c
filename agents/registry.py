"""Agent registry. Third-party agents register through the entry-point group ``agentdistill.agents``
(name → ``"package.module:factory"``, where the factory takes keyword options and returns an Agent)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from importlib.metadata import entry_points
from typing import Any

ENTRY_POINT_GROUP = "agentdistill.agents"


@dataclass(frozen=True)
class AgentSpec:
    name: str
    factory: str | Callable[..., Any]  # "module:callable" or the callable itself
    description: str = ""

    def load(self) -> Callable[..., Any]:
        if callable(self.factory):
            return self.factory
        module, _, attr = self.factory.partition(":")
        return getattr(import_module(module), attr)


_REGISTRY: dict[str, AgentSpec] = {}
_plugins_loaded = False


def register(name: str, factory: str | Callable[..., Any], description: str = "") -> AgentSpec:
    """Register an agent factory under ``name`` (replaces an earlier entry of that name)."""
    spec = AgentSpec(name=name, factory=factory, description=description)
    _REGISTRY[name] = spec
    return spec


def _load_plugins() -> None:
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name not in _REGISTRY:
            register(ep.name, ep.value, description=f"plugin from {ep.value}")


def names() -> list[str]:
    """Names of every registered agent, plugins included, sorted."""
    _load_plugins()
    return sorted(_REGISTRY)


def spec(name: str) -> AgentSpec:
    """The registry entry for ``name``; an unknown name raises ``KeyError`` listing the known ones."""
    _load_plugins()
    if name not in _REGISTRY:
        raise KeyError(f"unknown agent {name!r}; known agents: {', '.join(names())}")
    return _REGISTRY[name]


def make(name: str, **kwargs: Any):
    """Build the agent registered as ``name``, e.g. ``make("expert", env="webshop")``."""
    return spec(name).load()(**kwargs)
