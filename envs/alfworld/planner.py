"""The expert plan of an ALFWorld task, built from the engine's initial facts.

ALFWorld's six task types all have the same shape: fetch the target object, change its state with an
appliance if the task asks (sinkbasin / microwave / fridge), then either put it in a destination
receptacle (twice for pick_two) or switch on a lamp while holding it (look_at). Knowing where every
object is (the engine's facts), the shortest plan is written down directly; the game generator then
replays it in the engine, and a game counts as solvable when the engine reports it won. This is
much faster than Fast Downward's search (``PddlEnv`` ``replan``), which ``AlfredEngine`` still uses
for games without a walkthrough.
"""
from __future__ import annotations

from typing import Any

from envs.alfworld.engine import World

#: task type -> (appliance receptacle type, verb) for the state-change tasks
STATE_CHANGES: dict[str, tuple[str, str]] = {
    "pick_clean_then_place_in_recep": ("sinkbasin", "clean"),
    "pick_heat_then_place_in_recep": ("microwave", "heat"),
    "pick_cool_then_place_in_recep": ("fridge", "cool"),
}


class NoPlan(ValueError):
    """The facts leave the task impossible (no target object, no destination, ...)."""


def _of_kind(world: World, kind: str, among: list[str]) -> list[str]:
    return sorted((n for n in among if world.kind.get(n) == kind), key=_natural)


def _natural(name: str) -> tuple[str, int]:
    base, _, num = name.rpartition(" ")
    return (base, int(num)) if num.isdigit() else (name, 0)


def expert_plan(world: World, task_type: str, pddl_params: dict[str, Any]) -> list[str]:
    """The command sequence that solves the task from the state ``world`` describes."""
    target = str(pddl_params.get("object_target", "")).lower()
    parent = str(pddl_params.get("parent_target", "")).lower()
    toggle = str(pddl_params.get("toggle_target", "")).lower()
    receptacles = sorted(world.receptacles, key=_natural)
    where = {obj: r for r, objs in world.contents.items() for obj in objs}
    targets = sorted((o for o in where if world.kind.get(o) == target), key=_natural)
    need = 2 if task_type == "pick_two_obj_and_place" else 1
    if len(targets) < need:
        raise NoPlan(f"the scene has {len(targets)} {target}(s), the task needs {need}")
    opened = set(world.opened)
    plan: list[str] = []
    at: list[str] = []  # the receptacle the agent stands at, once it has gone somewhere

    def visit(receptacle: str) -> None:
        if at[-1:] != [receptacle]:  # "go to" where you stand is not a command
            plan.append(f"go to {receptacle}")
            at.append(receptacle)
        if receptacle in world.openable and receptacle not in opened:
            plan.append(f"open {receptacle}")
            opened.add(receptacle)

    def fetch(obj: str) -> None:
        visit(where[obj])
        plan.append(f"take {obj} from {where[obj]}")

    if task_type == "look_at_obj_in_light":
        lamps = [o for o in where if world.kind.get(o) == toggle]
        if not lamps:
            raise NoPlan(f"no {toggle} in the scene")
        lamp = min(lamps, key=_natural)
        fetch(targets[0])
        visit(where[lamp])
        plan.append(f"use {lamp}")
        return plan

    destinations = _of_kind(world, parent, receptacles)
    if not destinations:
        raise NoPlan(f"no {parent} in the scene")
    destination = destinations[0]
    for obj in targets[:need]:
        fetch(obj)
        if task_type in STATE_CHANGES:
            appliance_kind, verb = STATE_CHANGES[task_type]
            appliances = _of_kind(world, appliance_kind, receptacles)
            if not appliances:
                raise NoPlan(f"no {appliance_kind} in the scene")
            visit(appliances[0])
            plan.append(f"{verb} {obj} with {appliances[0]}")
        visit(destination)
        plan.append(f"move {obj} to {destination}")
    return plan

