"""Procedural ALFWorld games: a task on an ALFRED floor plan, written as the PDDL problem the engine plays.

``generate_game(seed, task_type, scenes)`` samples, deterministically from ``seed``:

1. a floor plan whose room supports the task type (ALFRED's ``GOALS_VALID``) and a target: object
   type, destination receptacle type (``parent_target``) or lamp (``toggle_target``);
2. the scene's objects as ALFRED samples them: 1-4 instances of the target (2-4 for pick_two) and 1-3
   of every other carriable type present in that floor plan, each in a random receptacle that may hold
   it, and one of each decor type (houseplant, television, ...: not carriable) where real games show it;
   no target instance starts in a destination receptacle, and ALFRED's task rules hold (a
   heat/cool/clean task never targets its appliance, which starts empty; pick_two never targets a
   coffeemachine, toiletpaperhanger or handtowelholder);
3. the PDDL problem in the layout of ALFWorld's ``initial_state.pddl`` (mangled ALFRED ids such as
   ``cabinet_bar__plus_00_dot_68_bar_...``; every object ``inReceptacle`` and ``objectAtLocation``),
   the goal from ``alfworld.gen.goal_library`` and the task text from its templates, as in
   ``alfworld-generate``.
"""
from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from envs.alfworld.scenes import (
    DECOR_RESTS,
    LAMP_TYPES,
    Scene,
    alfred_id,
    can_contain,
    constants,
    has_property,
    is_openable,
    pickupable_types,
)
from envs.alfworld.upstream import domain_path, grammar_path, import_alfworld

TASK_TYPES: tuple[str, ...] = (
    "pick_and_place_simple",
    "look_at_obj_in_light",
    "pick_clean_then_place_in_recep",
    "pick_heat_then_place_in_recep",
    "pick_cool_then_place_in_recep",
    "pick_two_obj_and_place",
)
#: the appliance a state-change task uses, and the object property it needs
APPLIANCES: dict[str, tuple[str, str]] = {
    "pick_clean_then_place_in_recep": ("SinkBasin", "Cleanable"),
    "pick_heat_then_place_in_recep": ("Microwave", "Heatable"),
    "pick_cool_then_place_in_recep": ("Fridge", "Coolable"),
}
MAX_INSTANCES = 4  # ALFRED's PICKUP_REPEAT_MAX: 1-4 instances of the target (2-4 for pick_two)
MAX_DISTRACTOR_INSTANCES = 3  # ALFRED's MAX_NUM_OF_OBJ_INSTANCES: 1-3 of every other object type
#: ALFRED's goal_to_invalid_receptacle: destinations a task type may not use; ALFRED also starts these empty
INVALID_DESTINATIONS: dict[str, frozenset[str]] = {
    "pick_heat_then_place_in_recep": frozenset({"Microwave"}),
    "pick_cool_then_place_in_recep": frozenset({"Fridge"}),
    "pick_clean_then_place_in_recep": frozenset({"SinkBasin"}),
    "pick_two_obj_and_place": frozenset({"CoffeeMachine", "ToiletPaperHanger", "HandTowelHolder"}),
}


@dataclass(frozen=True)
class TaskSpec:
    """ALFRED's ``pddl_params`` for one game (empty string = unused, as in ALFRED's traj_data)."""

    task_type: str
    scene_num: int
    object_target: str
    parent_target: str = ""
    toggle_target: str = ""

    def pddl_params(self) -> dict[str, Any]:
        return {
            "object_target": self.object_target,
            "parent_target": self.parent_target,
            "toggle_target": self.toggle_target,
            "mrecep_target": "",
            "object_sliced": False,
        }

    def task_dir(self) -> str:
        """Official task folder name, e.g. ``pick_and_place_simple-SprayBottle-None-Toilet-422``."""
        last = self.parent_target or self.toggle_target
        return f"{self.task_type}-{self.object_target}-None-{last}-{self.scene_num}"


@dataclass
class GeneratedGame:
    """A game ready to be written: the task, its text, the PDDL problem and ``traj_data.json`` content."""

    spec: TaskSpec
    trial: str
    goal_text: str
    pddl_problem: str
    traj_data: dict[str, Any] = field(default_factory=dict)


def mangle(name: str) -> str:
    """ALFRED id -> PDDL name, as ALFWorld's ``fix_pddl_str_chars`` does (``|`` -> ``_bar_``, ...)."""
    for char, word in (("-", "_minus_"), ("|", "_bar_"), ("+", "_plus_"), (".", "_dot_"), (",", "_comma_")):
        name = name.replace(char, word)
    return name


@cache
def domain_text() -> str:
    return domain_path().read_text()


@cache
def grammar_text() -> str:
    return grammar_path().read_text()


@cache
def _goal_library() -> dict[str, dict[str, Any]]:
    return import_alfworld("alfworld.gen.goal_library").gdict


def goal_templates(task_type: str) -> tuple[str, ...]:
    """ALFWorld's task sentences for ``task_type`` (``"put a clean {obj} in {recep}"``, ...)."""
    return tuple(_goal_library()[task_type]["templates"])


def task_types_for(scene: Scene) -> list[str]:
    """Task types ALFRED allows in this scene's room."""
    valid = constants().GOALS_VALID
    return [t for t in TASK_TYPES if scene.room in valid[t]]


@cache
def candidate_specs(scene: Scene, task_type: str) -> tuple[TaskSpec, ...]:
    """Every (object, destination / lamp) choice for ``task_type`` that this scene can host."""
    rtypes = scene.receptacle_types()
    carriable = [t for t in scene.object_types if t in pickupable_types()]
    specs = []
    if task_type == "look_at_obj_in_light":
        for lamp in (t for t in scene.object_types if t in LAMP_TYPES):
            specs += [TaskSpec(task_type, scene.scene_num, obj, toggle_target=lamp) for obj in carriable]
        return tuple(specs)
    appliance, prop = APPLIANCES.get(task_type, ("", ""))
    if appliance and appliance not in rtypes:
        return ()
    invalid = INVALID_DESTINATIONS.get(task_type, frozenset())
    for obj in carriable:
        if prop and not has_property(obj, prop):
            continue
        for parent in sorted(rtypes):
            if parent in invalid or not can_contain(parent, obj):
                continue
            # the target must be able to start somewhere that is not a destination
            if any(r.type != parent and r.type not in invalid for r in scene.holders(obj)):
                specs.append(TaskSpec(task_type, scene.scene_num, obj, parent_target=parent))
    return tuple(specs)


def trial_name(seed: str) -> str:
    """The trial folder of a generated game: ``generated_<seed>`` (``generated_valid_unseen_7_0``), never
    mistaken for an official ALFRED trial (``trial_T20190909_124852_071149``)."""
    return "generated_" + re.sub(r"[^A-Za-z0-9]+", "_", seed).strip("_")


def _place_objects(scene: Scene, spec: TaskSpec, rng: random.Random) -> list[tuple[str, str, str]]:
    """(alfred id, type, receptacle id) for every object instance in the scene."""
    empty = INVALID_DESTINATIONS.get(spec.task_type, frozenset())  # ALFRED's 'empty' constraint
    placed, ids = [], set()
    for otype in scene.object_types:
        holders = [r for r in scene.holders(otype) if r.type not in empty]
        if otype == spec.object_target:
            holders = [r for r in holders if r.type != spec.parent_target]
        if not holders:
            continue
        if otype == spec.object_target:
            low = 2 if spec.task_type == "pick_two_obj_and_place" else 1
            count = rng.randint(low, MAX_INSTANCES)
        elif otype in LAMP_TYPES:
            count = 1
        else:
            count = rng.randint(1, MAX_DISTRACTOR_INSTANCES)
        for _ in range(count):
            oid = alfred_id(otype, rng)
            while oid in ids:
                oid = alfred_id(otype, rng)
            ids.add(oid)
            placed.append((oid, otype, rng.choice(holders).alfred_id))
    for otype in scene.decor_types:  # one of each, where real games show it
        holders = [r for r in scene.receptacles if r.type in DECOR_RESTS[otype] and r.type not in empty]
        if holders:
            placed.append((alfred_id(otype, rng), otype, rng.choice(holders).alfred_id))
    return placed


def pddl_problem(
    scene: Scene, spec: TaskSpec, placed: Sequence[tuple[str, str, str]], problem_id: str, rng: random.Random
) -> str:
    """The PDDL problem text: objects, initial facts, and ALFWorld's goal for ``spec``."""
    rtypes = sorted(scene.receptacle_types())
    otypes = sorted({otype for _, otype, _ in placed})
    locations = sorted({r.location for r in scene.receptacles})  # receptacles may share a location
    start = f"loc|{rng.randint(-20, 20)}|{rng.randint(-20, 20)}|{rng.choice((0, 90, 180, 270))}|30"
    while start in locations:
        start = f"loc|{rng.randint(-20, 20)}|{rng.randint(-20, 20)}|{rng.choice((0, 90, 180, 270))}|30"
    c = constants()
    location_of = {r.alfred_id: r.location for r in scene.receptacles}

    objects = ["agent1 - agent"]
    objects += [f"{t}Type - otype" for t in otypes]
    objects += [f"{t}Type - rtype" for t in rtypes]
    objects += [f"{mangle(oid)} - object" for oid, _, _ in placed]
    objects += [f"{mangle(r.alfred_id)} - receptacle" for r in scene.receptacles]
    objects += [f"{mangle(loc)} - location" for loc in [*locations, start]]

    init = [f"(receptacleType {mangle(r.alfred_id)} {r.type}Type)" for r in scene.receptacles]
    init += [f"(objectType {mangle(oid)} {otype}Type)" for oid, otype, _ in placed]
    init += [f"(canContain {rt}Type {ot}Type)" for rt in rtypes for ot in otypes if can_contain(rt, ot)]
    for oid, otype, rid in placed:
        name = mangle(oid)
        if otype not in LAMP_TYPES and otype not in DECOR_RESTS:
            init.append(f"(pickupable {name})")
        if otype in c.MOVABLE_RECEPTACLES_SET:
            init.append(f"(isReceptacleObject {name})")
        for prop, pred in (("Cleanable", "cleanable"), ("Heatable", "heatable"), ("Coolable", "coolable"),
                           ("Toggleable", "toggleable"), ("Sliceable", "sliceable")):
            if has_property(otype, prop):
                init.append(f"({pred} {name})")
        init.append(f"(inReceptacle {name} {mangle(rid)})")
        init.append(f"(objectAtLocation {name} {mangle(location_of[rid])})")  # slice, look need it
    init += [f"(openable {mangle(r.alfred_id)})" for r in scene.receptacles if is_openable(r.type)]
    init.append(f"(atLocation agent1 {mangle(start)})")
    init += [f"(receptacleAtLocation {mangle(r.alfred_id)} {mangle(r.location)})" for r in scene.receptacles]

    goal = _goal_library()[spec.task_type]["pddl"].format(
        obj=spec.object_target, recep=spec.parent_target, toggle=spec.toggle_target, mrecep=""
    ).replace("#", "-")
    return (
        f"(define (problem plan_{problem_id})\n(:domain alfred)\n(:objects\n    "
        + "\n    ".join(objects)
        + "\n)\n(:init\n    "
        + "\n    ".join(init)
        + "\n)\n"
        + goal.strip()
        + "\n"
    )


def goal_text(spec: TaskSpec, rng: random.Random) -> str:
    """The task sentence from ALFWorld's templates, filled like ``get_templated_task_desc`` (lower case)."""
    template = rng.choice(_goal_library()[spec.task_type]["templates"])
    return template.format(
        obj=spec.object_target.lower(),
        recep=spec.parent_target.lower(),
        toggle=spec.toggle_target.lower(),
        mrecep=""
    )


def game_content(game: GeneratedGame) -> dict[str, Any]:
    """The ``game.tw-pddl`` content of ``game``, before its plan is checked (no walkthrough yet)."""
    return {
        "pddl_domain": domain_text(),
        "grammar": grammar_text().replace("UNKNOWN GOAL", game.goal_text),
        "pddl_problem": game.pddl_problem,
        "solvable": False,
        "walkthrough": None,
    }


def generate_game(seed: str, task_type: str, scenes: Sequence[Scene]) -> GeneratedGame:
    """One game of ``task_type`` on one of ``scenes``, fully determined by ``seed``."""
    if task_type not in TASK_TYPES:
        raise ValueError(f"unknown ALFWorld task type {task_type!r}; expected one of {TASK_TYPES}")
    rng = random.Random(seed)
    hosts = [s for s in scenes if task_type in task_types_for(s) and candidate_specs(s, task_type)]
    if not hosts:
        raise ValueError(f"no scene among {[s.scene_num for s in scenes]} can host a {task_type} task")
    scene = rng.choice(hosts)
    spec = rng.choice(candidate_specs(scene, task_type))
    placed = _place_objects(scene, spec, rng)
    trial = trial_name(seed)
    text = goal_text(spec, rng)
    problem = pddl_problem(scene, spec, placed, trial, rng)
    traj_data = {
        "task_id": trial,
        "task_type": spec.task_type,
        "pddl_params": spec.pddl_params(),
        "scene": {"floor_plan": scene.floor_plan, "scene_num": scene.scene_num, "random_seed": seed},
        "turk_annotations": {"anns": [{"task_desc": text, "high_descs": [], "votes": []}]},
        "generator": {"name": "agentdistill", "seed": seed},
    }
    return GeneratedGame(spec=spec, trial=trial, goal_text=text, pddl_problem=problem, traj_data=traj_data)
