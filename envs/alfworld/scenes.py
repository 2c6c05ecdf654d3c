"""ALFRED's scenes and vocabulary, read from the installed ``alfworld`` package.

A scene is one of ALFRED's 120 AI2-THOR floor plans (kitchens 1-30, living rooms 201-230, bedrooms
301-330, bathrooms 401-430). ``alfworld/gen/layouts`` ships, per floor plan, the object types present
(``FloorPlan<N>-objects.json``) and the receptacle instances with their ALFRED ids and interaction
points (``FloorPlan<N>-openable.json``). Which receptacle type holds which object type, and which
objects can be cleaned, heated, cooled or switched on, come from ``alfworld.gen.constants``.
"""
from __future__ import annotations

import json
import random
from dataclasses import dataclass
from functools import cache

from envs.alfworld.upstream import import_alfworld, layouts_dir

ROOMS: dict[str, range] = {
    "Kitchen": range(1, 31),
    "LivingRoom": range(201, 231),
    "Bedroom": range(301, 331),
    "Bathroom": range(401, 431),
}
#: ALFRED's valid_unseen floor plans: no train or valid_seen game uses them
UNSEEN_SCENES: tuple[int, ...] = (10, 219, 308, 424)
#: lamps are fixtures: switched on in place ("use desklamp 1"), never picked up
LAMP_TYPES: tuple[str, ...] = ("DeskLamp", "FloorLamp")
#: furniture a lamp stands on or next to
LAMP_STANDS: frozenset[str] = frozenset(
    {"SideTable", "Desk", "Dresser", "Shelf", "CoffeeTable", "TVStand", "DiningTable"}
)
#: receptacle types THOR has in a scene without an entry in the -openable.json file, and how many
EXTRA_RECEPTACLE_COUNTS: dict[str, int] = {"StoveBurner": 4}
#: receptacles added without a layout point share one spot this many at a time: a front and a back burner
#: are reached from one place ("You are facing the stoveburner 3, and stoveburner 1." in real games)
RECEPTACLES_PER_SPOT: dict[str, int] = {"StoveBurner": 2}
#: scene objects nobody carries that sit in/on a receptacle, as real ALFWorld games show them ("On the dresser
#: 1, you see ..., and a television 1."), and the receptacle types public transcripts and ReAct's prompts
#: show them on; placed when the floor plan's objects.json lists them, never a task target. Mirror: only on
#: a countertop (ReAct's prompts). ScrubBrush and wall fixtures (window, painting) stand on the floor or
#: hang on a wall in THOR, in no receptacle, so no observation lists them.
DECOR_RESTS: dict[str, frozenset[str]] = {
    "HousePlant": frozenset({"CounterTop", "DiningTable", "SideTable", "CoffeeTable", "Shelf", "Cabinet"}),
    "Television": frozenset({"Dresser", "TVStand"}),
    "PaperTowelRoll": frozenset({"CounterTop", "DiningTable", "GarbageCan"}),
    "Mirror": frozenset({"CounterTop"}),
}
#: every receptacle instance of a floor plan, as real ALFWorld games list them in their first observation
#: (public transcripts: the four valid_unseen plans and 38 train plans seen in valid_seen games; the lists
#: are written out in tests/envs/alfworld/test_alfworld_scenes.py). The layouts' -openable.json files list
#: only some of them (plan 10: 3 of 6 cabinets; 308: 3 of 6 drawers, 5 of 6 shelves; 224: 19 of 21
#: drawers; 324: 3 of 7 shelves); the other floor plans keep the layout's inventory.
REAL_RECEPTACLE_COUNTS: dict[int, dict[str, int]] = {
    10: {"Cabinet": 6, "CoffeeMachine": 1, "CounterTop": 3, "Drawer": 3, "Fridge": 1, "GarbageCan": 1,
         "Microwave": 1, "Shelf": 3, "SinkBasin": 1, "StoveBurner": 4, "Toaster": 1},
    219: {"ArmChair": 1, "Cabinet": 4, "Drawer": 5, "Dresser": 1, "GarbageCan": 1, "Safe": 1, "Shelf": 12,
          "SideTable": 1, "Sofa": 1},
    308: {"Bed": 1, "Desk": 2, "Drawer": 6, "GarbageCan": 1, "LaundryHamper": 1, "Safe": 1, "Shelf": 6},
    424: {"Cabinet": 4, "CounterTop": 1, "GarbageCan": 1, "HandTowelHolder": 2, "SinkBasin": 2, "Toilet": 1,
          "ToiletPaperHanger": 1, "TowelHolder": 1},
    4: {"Cabinet": 2, "CoffeeMachine": 1, "CounterTop": 3, "DiningTable": 1, "Drawer": 6, "Fridge": 1,
        "GarbageCan": 1, "Microwave": 1, "SinkBasin": 1, "StoveBurner": 4, "Toaster": 1},
    7: {"Cabinet": 13, "CoffeeMachine": 1, "CounterTop": 2, "DiningTable": 1, "Drawer": 4, "Fridge": 1,
        "GarbageCan": 1, "Microwave": 1, "Shelf": 3, "SinkBasin": 1, "StoveBurner": 4, "Toaster": 1},
    8: {"Cabinet": 18, "CoffeeMachine": 1, "CounterTop": 4, "Drawer": 7, "Fridge": 1, "GarbageCan": 1,
        "Microwave": 1, "SinkBasin": 1, "StoveBurner": 4, "Toaster": 1},
    11: {"Cabinet": 10, "CoffeeMachine": 1, "CounterTop": 3, "DiningTable": 1, "Drawer": 6, "Fridge": 1,
         "GarbageCan": 1, "Microwave": 1, "SinkBasin": 1, "StoveBurner": 4, "Toaster": 1},
    12: {"Cabinet": 19, "CoffeeMachine": 1, "CounterTop": 3, "Drawer": 4, "Fridge": 1, "GarbageCan": 1,
         "Microwave": 1, "SinkBasin": 1, "StoveBurner": 4, "Toaster": 1},
    14: {"Cabinet": 8, "CoffeeMachine": 1, "CounterTop": 2, "Fridge": 1, "GarbageCan": 1, "Microwave": 1,
         "SinkBasin": 1, "StoveBurner": 4, "Toaster": 1},
    15: {"Cabinet": 11, "CoffeeMachine": 1, "CounterTop": 2, "DiningTable": 1, "Drawer": 3, "Fridge": 1,
         "GarbageCan": 1, "Microwave": 1, "SinkBasin": 1, "StoveBurner": 4, "Toaster": 1},
    18: {"Cabinet": 16, "CoffeeMachine": 1, "CounterTop": 2, "DiningTable": 1, "Drawer": 5, "Fridge": 1,
         "GarbageCan": 1, "Microwave": 1, "Safe": 1, "SinkBasin": 1, "StoveBurner": 4, "Toaster": 1},
    21: {"Cabinet": 4, "CoffeeMachine": 1, "CounterTop": 1, "DiningTable": 3, "Drawer": 1, "Fridge": 1,
         "GarbageCan": 1, "Microwave": 1, "SideTable": 1, "SinkBasin": 1, "StoveBurner": 4, "Toaster": 1},
    24: {"Cabinet": 23, "CoffeeMachine": 1, "CounterTop": 3, "DiningTable": 1, "Drawer": 4, "Fridge": 1,
         "GarbageCan": 1, "Microwave": 1, "SinkBasin": 1, "StoveBurner": 4, "Toaster": 1},
    27: {"Cabinet": 12, "CoffeeMachine": 1, "CounterTop": 2, "DiningTable": 1, "Drawer": 3, "Fridge": 1,
         "GarbageCan": 1, "Microwave": 1, "SinkBasin": 1, "StoveBurner": 4, "Toaster": 1},
    201: {"ArmChair": 2, "CoffeeTable": 1, "DiningTable": 2, "Drawer": 2, "GarbageCan": 1, "SideTable": 2,
          "Sofa": 1, "TVStand": 1},
    203: {"ArmChair": 1, "CoffeeTable": 1, "DiningTable": 1, "Drawer": 7, "GarbageCan": 1, "Ottoman": 1,
          "SideTable": 1, "Sofa": 1},
    205: {"ArmChair": 2, "DiningTable": 1, "Drawer": 4, "Dresser": 1, "GarbageCan": 1, "Ottoman": 1,
          "SideTable": 3, "Sofa": 1},
    207: {"ArmChair": 2, "CoffeeTable": 2, "GarbageCan": 1, "Shelf": 8, "Sofa": 1, "TVStand": 1},
    213: {"ArmChair": 2, "CoffeeTable": 1, "DiningTable": 1, "Drawer": 12, "Dresser": 1, "GarbageCan": 1,
          "SideTable": 3, "Sofa": 1},
    216: {"ArmChair": 1, "DiningTable": 1, "Drawer": 4, "GarbageCan": 1, "Shelf": 1, "SideTable": 3,
          "Sofa": 1},
    222: {"ArmChair": 1, "CoffeeTable": 1, "Drawer": 7, "GarbageCan": 1, "SideTable": 3, "Sofa": 2,
          "TVStand": 1},
    224: {"ArmChair": 1, "Cabinet": 1, "Drawer": 21, "Dresser": 1, "GarbageCan": 1, "SideTable": 5,
          "Sofa": 1},
    303: {"Bed": 1, "Desk": 1, "Drawer": 5, "Dresser": 1, "GarbageCan": 1, "Shelf": 12, "SideTable": 1},
    305: {"Bed": 1, "Desk": 1, "Drawer": 5, "Dresser": 1, "GarbageCan": 1, "LaundryHamper": 1, "Shelf": 1},
    310: {"Bed": 1, "Cabinet": 4, "Desk": 1, "Drawer": 2, "GarbageCan": 1, "Shelf": 1, "SideTable": 1},
    314: {"Bed": 1, "Desk": 1, "Drawer": 5, "Dresser": 1, "GarbageCan": 1},
    316: {"Bed": 1, "Desk": 1, "Drawer": 2, "GarbageCan": 1, "Shelf": 1, "SideTable": 1},
    320: {"Bed": 1, "Desk": 2, "GarbageCan": 1, "Shelf": 5},
    323: {"Bed": 2, "Desk": 1, "Drawer": 11, "Dresser": 1, "GarbageCan": 1, "Safe": 1, "SideTable": 2},
    324: {"Bed": 1, "Drawer": 10, "Dresser": 1, "GarbageCan": 1, "Shelf": 7},
    328: {"Bed": 1, "Desk": 1, "Drawer": 2, "GarbageCan": 1, "Shelf": 1, "SideTable": 1},
    401: {"BathtubBasin": 1, "Cart": 1, "GarbageCan": 1, "HandTowelHolder": 2, "Shelf": 4, "SinkBasin": 1,
          "Toilet": 1, "ToiletPaperHanger": 1, "TowelHolder": 2},
    402: {"BathtubBasin": 1, "Cabinet": 4, "CounterTop": 1, "GarbageCan": 1, "HandTowelHolder": 2, "Shelf": 1,
          "SinkBasin": 2, "Toilet": 1, "ToiletPaperHanger": 1, "TowelHolder": 2},
    403: {"BathtubBasin": 1, "Cabinet": 4, "CounterTop": 1, "GarbageCan": 1, "HandTowelHolder": 1, "Shelf": 1,
          "SinkBasin": 2, "Toilet": 1, "ToiletPaperHanger": 1, "TowelHolder": 2},
    405: {"BathtubBasin": 1, "Cabinet": 5, "CounterTop": 1, "GarbageCan": 1, "HandTowelHolder": 2,
          "SinkBasin": 1, "Toilet": 1, "ToiletPaperHanger": 1, "TowelHolder": 1},
    407: {"BathtubBasin": 1, "Cabinet": 4, "CounterTop": 1, "GarbageCan": 1, "HandTowelHolder": 1,
          "SinkBasin": 2, "Toilet": 1, "ToiletPaperHanger": 1, "TowelHolder": 1},
    414: {"BathtubBasin": 1, "Cabinet": 9, "CounterTop": 2, "Drawer": 1, "GarbageCan": 1,
          "HandTowelHolder": 1, "SinkBasin": 1, "Toilet": 1, "ToiletPaperHanger": 1, "TowelHolder": 1},
    415: {"BathtubBasin": 1, "CounterTop": 1, "Drawer": 4, "Dresser": 1, "GarbageCan": 1,
          "HandTowelHolder": 2, "Shelf": 2, "SinkBasin": 1, "Toilet": 1, "ToiletPaperHanger": 1,
          "TowelHolder": 1},
    419: {"BathtubBasin": 1, "Drawer": 2, "GarbageCan": 1, "HandTowelHolder": 1, "SideTable": 1,
          "SinkBasin": 1, "Toilet": 1, "ToiletPaperHanger": 1, "TowelHolder": 1},
    423: {"BathtubBasin": 1, "CounterTop": 2, "Drawer": 8, "GarbageCan": 1, "HandTowelHolder": 4,
          "SinkBasin": 2, "Toilet": 1, "ToiletPaperHanger": 1, "TowelHolder": 1},
    426: {"BathtubBasin": 1, "CounterTop": 1, "Drawer": 8, "GarbageCan": 1, "HandTowelHolder": 1,
          "SinkBasin": 1, "Toilet": 1, "ToiletPaperHanger": 1, "TowelHolder": 2},
}


@cache
def constants():
    """``alfworld.gen.constants`` (object/receptacle vocabulary), imported without side effects."""
    return import_alfworld("alfworld.gen.constants")


@cache
def static_receptacle_types() -> frozenset[str]:
    """Receptacle types fixed in the scene (cabinet, fridge, ...); movable ones (mug, bowl) are objects."""
    c = constants()
    return frozenset(
        t for t in c.RECEPTACLES if t not in c.MOVABLE_RECEPTACLES_SET and t in c.VAL_RECEPTACLE_OBJECTS
    )


@cache
def pickupable_types() -> frozenset[str]:
    """Object types an agent can carry: everything some receptacle holds, except receptacles and slices."""
    held = set().union(*constants().VAL_RECEPTACLE_OBJECTS.values())
    return frozenset(t for t in held if t not in static_receptacle_types() and "Sliced" not in t)


def can_contain(receptacle_type: str, object_type: str) -> bool:
    """Whether ALFRED lets ``object_type`` be put in/on ``receptacle_type``."""
    if object_type in LAMP_TYPES:
        return receptacle_type in LAMP_STANDS
    return object_type in constants().VAL_RECEPTACLE_OBJECTS.get(receptacle_type, ())


def has_property(object_type: str, prop: str) -> bool:
    """``prop`` is one of ALFRED's action classes: Cleanable, Heatable, Coolable, Toggleable, Sliceable."""
    return object_type in constants().VAL_ACTION_OBJECTS[prop]


def is_openable(receptacle_type: str) -> bool:
    return receptacle_type in constants().OPENABLE_CLASS_SET


@cache
def openable_names() -> frozenset[str]:
    """Receptacle types with a door or lid, as players write them (``fridge``, ``cabinet``, ``drawer``)."""
    return frozenset(t.lower() for t in static_receptacle_types() if is_openable(t))


def room_of(scene_num: int) -> str:
    for room, nums in ROOMS.items():
        if scene_num in nums:
            return room
    raise ValueError(
        f"scene {scene_num} is not an ALFRED floor plan (expected 1-30, 201-230, 301-330 or 401-430)"
    )


@dataclass(frozen=True)
class Receptacle:
    """One receptacle instance: ALFRED id (``Cabinet|+00.68|+00.50|-02.20``), type and PDDL location."""

    alfred_id: str
    type: str
    location: str


@dataclass(frozen=True)
class Scene:
    """A floor plan: its receptacle instances, the carriable / lamp object types present in it and its
    decor (:data:`DECOR_RESTS` types present that some receptacle here can show)."""

    scene_num: int
    room: str
    receptacles: tuple[Receptacle, ...]
    object_types: tuple[str, ...]
    decor_types: tuple[str, ...] = ()

    @property
    def floor_plan(self) -> str:
        return f"FloorPlan{self.scene_num}"

    def receptacle_types(self) -> set[str]:
        return {r.type for r in self.receptacles}

    def holders(self, object_type: str) -> list[Receptacle]:
        """Receptacles in this scene that can hold ``object_type``."""
        return [r for r in self.receptacles if can_contain(r.type, object_type)]


def alfred_id(object_type: str, rng: random.Random) -> str:
    """A fresh ALFRED-style object id: ``Type|x|y|z`` with signed, zero-padded coordinates."""
    x, y, z = (rng.uniform(-4.0, 4.0) for _ in range(3))
    return f"{object_type}|{x:+06.2f}|{abs(y):+06.2f}|{z:+06.2f}"


def receptacle_id(receptacle_type: str, rng: random.Random) -> str:
    """A fresh ALFRED-style receptacle id; basins are named after their fixture as in THOR
    (``Sink|x|y|z|SinkBasin``), which is how ALFWorld's demangler names them ``sinkbasin``."""
    base = alfred_id(receptacle_type.removesuffix("Basin"), rng)
    return f"{base}|{receptacle_type}" if receptacle_type.endswith("Basin") else base


def grid_location(x: float, z: float, rotation: int, horizon: int) -> str:
    """The PDDL location of an interaction point (metres, degrees) on THOR's 0.25 m grid. Receptacles
    with the same point share a location, as in ALFRED's scenes (two drawers reached from one spot)."""
    return f"loc|{round(x / 0.25)}|{round(z / 0.25)}|{int(rotation)}|{int(horizon)}"


def _receptacle_type(rid: str) -> str:
    parts = rid.split("|")
    return parts[-1] if len(parts) == 5 else parts[0]  # Sink|x|y|z|SinkBasin -> SinkBasin


@cache
def load_scene(scene_num: int) -> Scene:
    """The floor plan ``scene_num`` from the installed layouts (deterministic)."""
    room = room_of(scene_num)
    objects_file = layouts_dir() / f"FloorPlan{scene_num}-objects.json"
    points_file = layouts_dir() / f"FloorPlan{scene_num}-openable.json"
    try:
        present = json.loads(objects_file.read_text())
        points = json.loads(points_file.read_text())
    except (OSError, ValueError) as err:
        raise FileNotFoundError(
            f"ALFRED layout for FloorPlan{scene_num} unreadable ({objects_file}, {points_file}): {err}"
        ) from err
    static = static_receptacle_types()
    receptacles = [
        Receptacle(rid, _receptacle_type(rid), grid_location(*point))
        for rid, point in sorted(points.items())
        if _receptacle_type(rid) in static
    ]
    rng = random.Random(f"layout-{scene_num}")
    have = {r.type for r in receptacles}
    counts = {t: EXTRA_RECEPTACLE_COUNTS.get(t, 1) for t in sorted(set(present) & static - have)}
    if scene_num in REAL_RECEPTACLE_COUNTS:  # the real inventory: add what the layout files leave out
        real = REAL_RECEPTACLE_COUNTS[scene_num]
        kept: list[Receptacle] = []
        for receptacle in receptacles:  # the layout's instances of the real types, at most the real count
            if sum(r.type == receptacle.type for r in kept) < real.get(receptacle.type, 0):
                kept.append(receptacle)
        receptacles = kept
        counts = {t: n - sum(r.type == t for r in receptacles) for t, n in sorted(real.items())}
    for rtype, count in counts.items():
        location = ""
        for index in range(count):
            if index % RECEPTACLES_PER_SPOT.get(rtype, 1) == 0:
                point = (rng.uniform(-3, 3), rng.uniform(-3, 3), rng.choice((0, 90, 180, 270)), 30)
                location = grid_location(*point)
            receptacles.append(Receptacle(receptacle_id(rtype, rng), rtype, location))
    types = {r.type for r in receptacles}
    carriable = sorted(
        t for t in set(present)
        if (t in pickupable_types() or t in LAMP_TYPES) and any(can_contain(rt, t) for rt in types)
    )
    decor = sorted(t for t in set(present) & set(DECOR_RESTS) if DECOR_RESTS[t] & types)
    return Scene(scene_num, room, tuple(receptacles), tuple(carriable), tuple(decor))


def scene_numbers(unseen: bool) -> list[int]:
    """Floor plans of the unseen split (``unseen=True``) or of train / valid_seen."""
    every = [n for nums in ROOMS.values() for n in nums]
    return [n for n in every if (n in UNSEEN_SCENES) == unseen]


@cache
def likely_holders(object_type: str) -> tuple[str, ...]:
    """Receptacle types (lower case, as players write them) that may hold ``object_type`` (any case),
    most specific first: a type that holds few kinds of things (fridge, coffeemachine) is a better
    guess than one that holds anything (countertop, shelf). Empty for an unknown type."""
    wanted = object_type.lower()
    by_name = {t.lower(): t for t in (*pickupable_types(), *LAMP_TYPES)}
    if wanted not in by_name:
        return ()
    otype = by_name[wanted]
    vocabulary = constants().VAL_RECEPTACLE_OBJECTS
    holders = [r for r in sorted(static_receptacle_types()) if can_contain(r, otype)]
    holders.sort(key=lambda r: len(vocabulary.get(r, ())))
    return tuple(r.lower() for r in holders)
