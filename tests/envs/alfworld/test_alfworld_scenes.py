"""Generated scenes list the receptacles real ALFWorld games of the same floor plan list."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from envs.alfworld import generator, scenes
from envs.alfworld.engine import AlfredEngine, intro_observation

#: the first observation of real valid_unseen games, verbatim (public trajectory logs of official games,
#: e.g. valid_unseen/pick_heat_then_place_in_recep-Apple-None-Fridge-10/trial_T20190906_182435_622538,
#: pick_two_obj_and_place-Pillow-None-Sofa-219/trial_T20190907_163408_914117,
#: pick_two_obj_and_place-CD-None-Safe-308/trial_T20190907_050942_897916,
#: pick_clean_then_place_in_recep-SoapBar-None-Cabinet-424/trial_T20190908_214946_567644)
REAL_FIRST_OBSERVATIONS = {
    10: (
        "a cabinet 6, a cabinet 5, a cabinet 4, a cabinet 3, a cabinet 2, a cabinet 1, a coffeemachine 1,"
        " a countertop 3, a countertop 2, a countertop 1, a drawer 3, a drawer 2, a drawer 1, a fridge 1,"
        " a garbagecan 1, a microwave 1, a shelf 3, a shelf 2, a shelf 1, a sinkbasin 1, a stoveburner 4,"
        " a stoveburner 3, a stoveburner 2, a stoveburner 1, and a toaster 1"
    ),
    219: (
        "a armchair 1, a cabinet 4, a cabinet 3, a cabinet 2, a cabinet 1, a drawer 5, a drawer 4, a "
        "drawer 3, a drawer 2, a drawer 1, a dresser 1, a garbagecan 1, a safe 1, a shelf 12, a shelf 11,"
        " a shelf 10, a shelf 9, a shelf 8, a shelf 7, a shelf 6, a shelf 5, a shelf 4, a shelf 3, a "
        "shelf 2, a shelf 1, a sidetable 1, and a sofa 1"
    ),
    308: (
        "a bed 1, a desk 2, a desk 1, a drawer 6, a drawer 5, a drawer 4, a drawer 3, a drawer 2, a "
        "drawer 1, a garbagecan 1, a laundryhamper 1, a safe 1, a shelf 6, a shelf 5, a shelf 4, a shelf "
        "3, a shelf 2, and a shelf 1"
    ),
    424: (
        "a cabinet 4, a cabinet 3, a cabinet 2, a cabinet 1, a countertop 1, a garbagecan 1, a "
        "handtowelholder 2, a handtowelholder 1, a sinkbasin 2, a sinkbasin 1, a toilet 1, a "
        "toiletpaperhanger 1, and a towelholder 1"
    ),
}


@pytest.fixture(scope="module")
def engine() -> AlfredEngine:
    return AlfredEngine(walkthrough=False)


@pytest.mark.parametrize("scene_num", sorted(REAL_FIRST_OBSERVATIONS))
def test_receptacles_of_unseen_plans_match_real_games(
    scene_num: int, engine: AlfredEngine, tmp_path: Path
) -> None:
    game = generator.generate_game(
        f"inventory-{scene_num}", "pick_and_place_simple", [scenes.load_scene(scene_num)]
    )
    path = tmp_path / "game.tw-pddl"
    path.write_text(json.dumps(generator.game_content(game)))
    engine.load(path)
    first = intro_observation(engine.reset().feedback)
    listed = first.split("Looking quickly around you, you see ", 1)[1].split(".\n", 1)[0]
    assert listed == REAL_FIRST_OBSERVATIONS[scene_num]


@pytest.mark.parametrize(
    "task_type",
    [
        "pick_two_obj_and_place",
        "pick_heat_then_place_in_recep",
        "pick_cool_then_place_in_recep",
        "pick_clean_then_place_in_recep",
    ],
)
def test_alfred_task_rules(task_type: str) -> None:
    """ALFRED's goal_to_invalid_receptacle: never a destination, and empty at the start."""
    invalid = generator.INVALID_DESTINATIONS[task_type]
    unseen = [scenes.load_scene(n) for n in scenes.UNSEEN_SCENES]
    for i in range(12):
        game = generator.generate_game(f"rules-{i}", task_type, unseen)
        assert game.spec.parent_target not in invalid
        emptied = [generator.mangle(r.alfred_id) for s in unseen for r in s.receptacles if r.type in invalid]
        assert not any(
            f" {name})" in line
            for name in emptied
            for line in game.pddl_problem.splitlines()
            if line.strip().startswith("(inReceptacle")
        )
        lines = [line.strip() for line in game.pddl_problem.splitlines()]
        targets = [
            x
            for x in lines
            if x.startswith("(objectType ")
            and "?" not in x
            and x.endswith(f" {game.spec.object_target}Type)")
        ]
        assert (2 if task_type == "pick_two_obj_and_place" else 1) <= len(targets) <= generator.MAX_INSTANCES


def test_added_basins_are_named_as_alfworld_names_them(engine: AlfredEngine, tmp_path: Path) -> None:
    """FloorPlan429's layout file has no sink; the one added must read "sinkbasin 1", not "sinkbasinbasin"."""
    scene = scenes.load_scene(429)
    assert "SinkBasin" in scene.receptacle_types()
    game = generator.generate_game("basin", "pick_clean_then_place_in_recep", [scene])
    path = tmp_path / "game.tw-pddl"
    path.write_text(json.dumps(generator.game_content(game)))
    engine.load(path)
    first = intro_observation(engine.reset().feedback)
    assert "a sinkbasin 1," in first and "basinbasin" not in first


def test_objects_are_at_their_receptacles_location_so_slice_works(
    engine: AlfredEngine, tmp_path: Path
) -> None:
    """``objectAtLocation`` facts: holding a knife next to a sliceable object makes ``slice`` admissible."""
    game = generator.generate_game("slice", "pick_and_place_simple", [scenes.load_scene(10)])
    path = tmp_path / "game.tw-pddl"
    path.write_text(json.dumps(generator.game_content(game)))
    engine.load(path)
    engine.reset()
    world = engine.world()
    where = {o: r for r, objs in world.contents.items() for o in objs}
    knife = next(o for o in sorted(where) if world.kind[o] == "knife")
    food = next(
        o
        for o in sorted(where)
        if world.kind[o] in ("apple", "bread", "lettuce", "potato", "tomato") and where[o] != where[knife]
    )

    def visit(receptacle: str) -> None:
        engine.step(f"go to {receptacle}")
        if f"open {receptacle}" in engine.admissible:
            engine.step(f"open {receptacle}")

    visit(where[knife])
    engine.step(f"take {knife} from {where[knife]}")
    assert not any(a.startswith("slice ") for a in engine.admissible)
    visit(where[food])
    assert f"slice {food} with {knife}" in engine.admissible
    assert engine.step(f"slice {food} with {knife}").feedback == f"You sliced the {food} with the {knife}."


def test_receptacles_sharing_a_spot_read_as_in_real_games(engine: AlfredEngine, tmp_path: Path) -> None:
    """FloorPlan10's layout reaches two drawers from one point and the burners come in pairs: ``look`` there
    says "You are facing the A, and B.", from A "go to B" is not admissible (already there) while
    examining B shows B's contents, and an object moved from A to B is then "Next to it" (the grammar
    lists objects at the spot known not to be in one of its receptacles: taking adds that fact)."""
    scene = scenes.load_scene(10)
    spots: dict[str, list[str]] = {}
    for receptacle in scene.receptacles:
        spots.setdefault(receptacle.location, []).append(receptacle.type)
    assert sorted(types for types in spots.values() if len(types) > 1) == [
        ["Drawer", "Drawer"], ["StoveBurner", "StoveBurner"], ["StoveBurner", "StoveBurner"]
    ]
    game = generator.generate_game("shared", "pick_and_place_simple", [scene])
    path = tmp_path / "game.tw-pddl"
    path.write_text(json.dumps(generator.game_content(game)))
    engine.load(path)
    engine.reset()
    world = engine.world()
    burners = sorted(r for r in world.receptacles if world.kind[r] == "stoveburner")
    assert engine.step(f"go to {burners[0]}").feedback.startswith(f"You arrive at {burners[0]}. On the")
    assert engine.step("look").feedback == (
        f"You are facing the {burners[1]}, and {burners[0]}. Next to it, you see nothing."
    )
    assert f"go to {burners[1]}" not in engine.admissible
    assert engine.step(f"go to {burners[1]}").feedback == "Nothing happens."
    contents = world.contents.get(burners[1], [])
    listed = "nothing" if not contents else ", ".join(f"a {o}" for o in contents)
    assert engine.step(f"examine {burners[1]}").feedback == f"On the {burners[1]}, you see {listed}."
    assert f"go to {burners[2]}" in engine.admissible
    assert engine.step(f"go to {burners[2]}").feedback.startswith(f"You arrive at {burners[2]}.")
    assert engine.step("look").feedback.startswith(f"You are facing the {burners[3]}, and {burners[2]}.")
    (pan,) = world.contents[burners[0]]
    engine.step(f"go to {burners[0]}")
    engine.step(f"take {pan} from {burners[0]}")
    assert engine.step(f"move {pan} to {burners[1]}").feedback == f"You move the {pan} to the {burners[1]}."
    assert engine.step("look").feedback == (
        f"You are facing the {burners[1]}, and {burners[0]}. Next to it, you see a {pan}."
    )


@pytest.mark.parametrize(
    ("scene_num", "decor"), [(10, {"houseplant", "papertowelroll"}), (219, {"houseplant", "television"})]
)
def test_decor_is_shown_where_real_games_show_it_and_cannot_be_taken(
    scene_num: int, decor: set[str], engine: AlfredEngine, tmp_path: Path
) -> None:
    """Non-carriable scene objects the floor plan has (a television on the dresser) appear in receptacles
    of the types real games show them in, one each, and are never takeable nor a task target."""
    scene = scenes.load_scene(scene_num)
    assert {t.lower() for t in scene.decor_types} == decor
    game = generator.generate_game(f"decor-{scene_num}", "pick_and_place_simple", [scene])
    assert game.spec.object_target not in scenes.DECOR_RESTS
    path = tmp_path / "game.tw-pddl"
    path.write_text(json.dumps(generator.game_content(game)))
    engine.load(path)
    engine.reset()
    world = engine.world()
    resting = {o: r for r, objs in world.contents.items() for o in objs if world.kind[o] in decor}
    assert sorted(world.kind[o] for o in resting) == sorted(decor)
    rests = {kind.lower(): {t.lower() for t in types} for kind, types in scenes.DECOR_RESTS.items()}
    for thing, receptacle in resting.items():
        assert world.kind[receptacle] in rests[world.kind[thing]]
        engine.step(f"go to {receptacle}")
        if f"open {receptacle}" in engine.admissible:
            engine.step(f"open {receptacle}")
        assert f"take {thing} from {receptacle}" not in engine.admissible
        assert engine.step(f"take {thing} from {receptacle}").feedback == "Nothing happens."
