"""The real ALFWorld engine: TextWorld's ``PddlEnv`` wrapped in alfworld's ``AlfredDemangler`` and
``AlfredInfos``, the stack ``alfworld-generate`` and ``AlfredTWEnv`` use.

Speed-ups (:func:`install_speedups`, applied once per process) leave the engine's behaviour unchanged:

- TextWorld re-parses every grammar template and query with TatSu at each step and deep-copies
  derivation contexts; we memoise the two parsers and copy contexts one level deep (the values are
  entity infos and variables, which derivation never mutates): ~75 ms -> ~10 ms a step;
- ``fast_downward.pddl2sas`` (PDDL -> SAS translation, 0.1-2 s) runs twice on every ``load`` and
  ``reset``: once plain (to play) and once pruned (``optimize=True``, only to speed up the planner's
  ``replan``). We translate once and hand the plain translation to both (still a correct task for the
  planner), and memoise it for the last few problems, so a reset after a load costs milliseconds.
  ``pddl2sas`` also overwrites ``sys.argv``; the wrapper puts it back.
"""
from __future__ import annotations

import copy
import re
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from envs.alfworld.upstream import import_alfworld
from envs.json_files import DataFileError, json_type, read_json

_BANNER = "-= Welcome to TextWorld, ALFRED! =-"
#: ALFWorld <= 0.3 phrasing of PutObject, still what ReAct's prompts use
_OLD_PUT = re.compile(r"^put (?P<obj>.+?) (?:in/on|in|on|into|onto) (?P<recep>.+)$")
_speedups_installed = False


class GameFileError(ValueError):
    """A game file (``game.tw-pddl`` / ``traj_data.json``) that cannot be read or played."""


def install_speedups() -> None:
    """Memoise TextWorld's grammar parsers and the PDDL translation (see the module docstring)."""
    global _speedups_installed
    if _speedups_installed:
        return
    import fast_downward
    from textworld.envs.pddl import textgen
    from textworld.logic import Rule

    parse = textgen._parse_and_convert

    @lru_cache(maxsize=4096)
    def parsed(text: str, rule_name: str | None) -> Any:
        return parse(text, rule_name=rule_name)

    def parse_cached(text: str, rule_name: str | None = None, **_: Any) -> Any:
        return copy.deepcopy(parsed(text, rule_name))  # derivation assigns contexts to the symbols

    def copy_context(context: dict[str, Any]) -> dict[str, Any]:
        return {**context, "variables": dict(context["variables"]), "mapping": dict(context["mapping"])}

    translate = fast_downward.pddl2sas

    @lru_cache(maxsize=8)
    def translated(domain: str, problem: str, verbose: bool, optimize: bool) -> Any:
        argv = sys.argv[:]
        try:
            return translate(domain, problem, verbose=verbose, optimize=optimize)
        finally:
            sys.argv[:] = argv

    def pddl2sas(domain: str, problem: str, verbose: bool = False, optimize: bool = False) -> Any:
        return translated(domain, problem, verbose, False)

    textgen._parse_and_convert = parse_cached
    textgen.copy_context = copy_context
    Rule.parse_conjunctive_query = classmethod(lru_cache(maxsize=4096)(Rule.parse_conjunctive_query.__func__))
    fast_downward.pddl2sas = pddl2sas
    _speedups_installed = True


GAME_FORMAT = "a JSON object with string fields pddl_domain, grammar, pddl_problem (ALFWorld's game.tw-pddl)"


def read_game_file(path: Path) -> dict[str, Any]:
    """A ``game.tw-pddl`` as a dict, checked for the keys the engine needs (and ``walkthrough``, when
    there is one, a list of commands)."""
    try:
        data = read_json(path, GAME_FORMAT)
    except OSError as err:
        raise GameFileError(f"{path}: cannot read game file ({err})") from err
    except DataFileError as err:
        raise GameFileError(str(err)) from err
    if not isinstance(data, dict):
        raise GameFileError(f"{path}: expected {GAME_FORMAT}, got {json_type(data)}")
    for key in ("pddl_domain", "grammar", "pddl_problem"):
        if not isinstance(data.get(key), str) or not data[key].strip():
            raise GameFileError(
                f"{path}: field {key!r} must be a non-empty string, got {json_type(data.get(key))}"
            )
    walkthrough = data.get("walkthrough")
    if walkthrough is not None and (
        not isinstance(walkthrough, list) or not all(isinstance(c, str) for c in walkthrough)
    ):
        got = json_type(walkthrough)
        raise GameFileError(f"{path}: field 'walkthrough' must be a list of commands, got {got}")
    return data


@dataclass
class World:
    """What the engine's facts say about the scene (names as the player sees them, ``apple 1``)."""

    contents: dict[str, list[str]] = field(default_factory=dict)  # receptacle -> objects in it
    kind: dict[str, str] = field(default_factory=dict)  # entity -> ALFRED type, lower case ("apple")
    receptacles: set[str] = field(default_factory=set)
    openable: set[str] = field(default_factory=set)
    opened: set[str] = field(default_factory=set)


@dataclass
class EngineState:
    """The engine's answer to a reset or a step."""

    feedback: str
    admissible: list[str]
    won: bool


class AlfredEngine:
    """One ALFWorld game at a time on TextWorld's PDDL engine with ALFWorld's names and infos."""

    def __init__(self, walkthrough: bool = True) -> None:
        """``walkthrough=False`` skips the planner on reset for games whose file has no walkthrough."""
        install_speedups()
        import textworld
        from textworld.envs.pddl import PddlEnv

        tw_env = import_alfworld("alfworld.agents.environment.alfred_tw_env")
        extras = ["gamefile", "walkthrough"] if walkthrough else ["gamefile"]
        infos = textworld.EnvInfos(admissible_commands=True, won=True, extras=extras)
        self._env = tw_env.AlfredInfos(tw_env.AlfredDemangler(PddlEnv(infos), shuffle=False))
        self.game_file: Path | None = None
        self._state: Any = None

    def load(self, game_file: Path) -> None:
        """Load ``game_file`` (a ``game.tw-pddl``); an unplayable file raises :class:`GameFileError`."""
        game_file = Path(game_file)
        data = read_game_file(game_file)
        self.game_file = None  # a failed load leaves the engine half-loaded: the next reset must load again
        try:
            self._env.load(data)
        except RecursionError as err:
            raise GameFileError(
                f"{game_file}: the engine cannot load this game: its PDDL or grammar is too deeply nested "
                "(parentheses nested beyond Python's recursion limit)"
            ) from err
        except Exception as err:  # the PDDL parser and translator raise many types, some over many lines
            first_line = next((line.strip() for line in str(err).splitlines() if line.strip()), "")
            raise GameFileError(
                f"{game_file}: the engine cannot load this game ({type(err).__name__}: {first_line[:200]})"
            ) from err
        self._env._gamefile = str(game_file)  # AlfredInfos reports the file, not the dict we parsed
        self.game_file = game_file

    def reset(self) -> EngineState:
        if self.game_file is None:
            raise RuntimeError("AlfredEngine.reset() before load()")
        self._state = self._env.reset()
        return self._snapshot()

    def step(self, command: str) -> EngineState:
        """Apply an admissible ``command`` (see :meth:`resolve`)."""
        self._state, _, _ = self._env.step(command)
        return self._snapshot()

    @property
    def admissible(self) -> list[str]:
        return list(self._state["admissible_commands"])

    @property
    def walkthrough(self) -> list[str]:
        """The game file's walkthrough, or the engine planner's plan from the initial state."""
        return list(self._state.get("extra.walkthrough") or [])

    def expert_plan(self) -> list[str]:
        """The engine planner's plan from the current state (TextWorld's ``policy_commands``, which
        upstream reports as ``extra.expert_plan``)."""
        pddl_env = self._env.unwrapped
        return list(pddl_env._pddl_state.replan(pddl_env._entity_infos))

    def resolve(self, action: str) -> str | None:
        """Lenient matching: the admissible command ``action`` means, or None. Case, spacing and a final
        period are free; the 0.3-style ``put X in/on Y`` (also ``in``, ``on``) means ``move X to Y``."""
        command = " ".join(action.lower().split()).rstrip(".")
        admissible = self._state["admissible_commands"]
        if command in admissible:
            return command
        old = _OLD_PUT.match(command)
        if old:
            moved = f"move {old['obj']} to {old['recep']}"
            if moved in admissible:
                return moved
        return None

    def world(self) -> World:
        """Receptacle contents, entity types and open/closed state, from the engine's current facts."""
        names = {key: info.name.strip() for key, info in self._env._entity_infos.items()}
        world = World()
        for fact in self._state["_facts"]:
            args = [names.get(v.name, v.name) for v in fact.arguments]
            if fact.name == "inreceptacle":
                world.contents.setdefault(args[1], []).append(args[0])
            elif fact.name in ("objecttype", "receptacletype"):
                world.kind[args[0]] = fact.arguments[1].name.removesuffix("type")
                if fact.name == "receptacletype":
                    world.receptacles.add(args[0])
            elif fact.name == "openable":
                world.openable.add(args[0])
            elif fact.name == "opened":
                world.opened.add(args[0])
        for objects in world.contents.values():
            objects.sort()
        return world

    def _snapshot(self) -> EngineState:
        return EngineState(
            feedback=self._state.feedback,
            admissible=list(self._state["admissible_commands"]),
            won=bool(self._state["won"]),
        )


def intro_observation(feedback: str) -> str:
    """The reset text as ReAct shows it: no welcome banner, scene and task on consecutive lines."""
    parts = [p.strip() for p in feedback.split("\n\n") if p.strip() and p.strip() != _BANNER]
    return "\n".join(parts)
