"""The installed ``alfworld`` package: its data files and modules, imported without side effects.

``import alfworld`` runs ``alfworld.info``, which sets ``os.environ["ALFWORLD_DATA"]`` (to
``~/.cache/alfworld`` when unset) and creates that folder. Our env reads ``ALFWORLD_DATA`` to find the
user's official games, so every alfworld import goes through :func:`import_alfworld`, which leaves the
variable exactly as the user set it.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
from functools import cache
from pathlib import Path
from types import ModuleType

from envs.cache import cache_dir


@cache
def package_dir() -> Path:
    """Folder of the installed ``alfworld`` package (found without importing it)."""
    spec = importlib.util.find_spec("alfworld")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "the ALFWorld env needs the `alfworld` package: pip install 'agentdistill[alfworld]'"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def domain_path() -> Path:
    """``alfred.pddl``: the PDDL domain every ALFWorld game is played under."""
    return package_dir() / "data" / "alfred.pddl"


def grammar_path() -> Path:
    """``alfred.twl2``: the TextWorld grammar (command templates and feedback text)."""
    return package_dir() / "data" / "alfred.twl2"


def layouts_dir() -> Path:
    """ALFRED's per-floor-plan scene files (``FloorPlan<N>-objects.json``, ``-openable.json``)."""
    return package_dir() / "gen" / "layouts"


def import_alfworld(module: str) -> ModuleType:
    """``importlib.import_module(module)`` for an ``alfworld.*`` module, keeping ``ALFWORLD_DATA`` as it
    was."""
    before = os.environ.get("ALFWORLD_DATA")
    # alfworld.info creates the folder the variable names; point it at one that already exists
    os.environ["ALFWORLD_DATA"] = before or str(cache_dir("alfworld"))
    try:
        return importlib.import_module(module)
    finally:
        if before is None:
            os.environ.pop("ALFWORLD_DATA", None)
        else:
            os.environ["ALFWORLD_DATA"] = before
