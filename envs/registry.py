"""Environment registry: short names (`webshop`) ↔ Gymnasium ids (`agentdistill/WebShop-v0`).

Third-party packages add environments through the entry-point group ``agentdistill.envs``;
each entry point's value is ``"package.module:EnvClass"`` and its name is the short name.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from importlib.metadata import entry_points
from typing import Any

import gymnasium

ENTRY_POINT_GROUP = "agentdistill.envs"


@dataclass(frozen=True)
class EnvSpec:
    """What the registry knows about one environment."""

    name: str
    gym_id: str
    entry_point: str
    description: str = ""


_REGISTRY: dict[str, EnvSpec] = {}
_plugins_loaded = False


def register(name: str, entry_point: str, *, gym_id: str | None = None, description: str = "") -> EnvSpec:
    """Register an environment under ``name`` (and a Gymnasium id, ``agentdistill/<name>-v0`` by default)."""
    gym_id = gym_id or f"agentdistill/{name}-v0"
    spec = EnvSpec(name=name, gym_id=gym_id, entry_point=entry_point, description=description)
    _REGISTRY[name] = spec
    if gym_id not in gymnasium.registry:
        gymnasium.register(id=gym_id, entry_point=entry_point)
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
    """Names of every registered environment, plugins included, sorted."""
    _load_plugins()
    return sorted(_REGISTRY)


def spec(name: str) -> EnvSpec:
    """The registry entry for ``name``; an unknown name raises ``KeyError`` listing the known ones."""
    _load_plugins()
    if name not in _REGISTRY:
        raise KeyError(f"unknown environment {name!r}; known environments: {', '.join(names())}")
    return _REGISTRY[name]


def make(name: str, **kwargs: Any) -> gymnasium.Env:
    """Build the environment registered as ``name`` (same as ``gymnasium.make(gym_id, **kwargs)``)."""
    return gymnasium.make(spec(name).gym_id, **kwargs)


def load(name: str) -> Callable[..., gymnasium.Env]:
    """The class (or factory) registered as ``name``: what :func:`make` calls with its keyword options, so
    a caller can read which options it takes (and their annotated types) before building one."""
    module, _, attr = spec(name).entry_point.partition(":")
    return getattr(import_module(module), attr)
