"""Generated scenes list the receptacles real ALFWorld games of the same floor plan list."""

from __future__ import annotations

import json
import re
from collections import Counter
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


#: (task id, receptacles of the first observation) of real valid_seen games on train floor plans,
#: verbatim (public trajectory logs of official games)
REAL_TRAIN_PLAN_RECEPTACLES = {
    4: (
        "valid_seen/pick_clean_then_place_in_recep-Spatula-None-DiningTable-4/trial_T20190909_002804_564168",
        "a cabinet 2, a cabinet 1, a coffeemachine 1, a countertop 3, a countertop 2, a countertop 1,"
        " a diningtable 1, a drawer 6, a drawer 5, a drawer 4, a drawer 3, a drawer 2, a drawer 1,"
        " a fridge 1, a garbagecan 1, a microwave 1, a sinkbasin 1, a stoveburner 4, a stoveburner 3,"
        " a stoveburner 2, a stoveburner 1, and a toaster 1",
    ),
    7: (
        "valid_seen/pick_cool_then_place_in_recep-Plate-None-Cabinet-7/trial_T20190907_231206_512424",
        "a cabinet 13, a cabinet 12, a cabinet 11, a cabinet 10, a cabinet 9, a cabinet 8,"
        " a cabinet 7, a cabinet 6, a cabinet 5, a cabinet 4, a cabinet 3, a cabinet 2, a cabinet 1,"
        " a coffeemachine 1, a countertop 2, a countertop 1, a diningtable 1, a drawer 4, a drawer 3,"
        " a drawer 2, a drawer 1, a fridge 1, a garbagecan 1, a microwave 1, a shelf 3, a shelf 2,"
        " a shelf 1, a sinkbasin 1, a stoveburner 4, a stoveburner 3, a stoveburner 2,"
        " a stoveburner 1, and a toaster 1",
    ),
    8: (
        "valid_seen/pick_clean_then_place_in_recep-ButterKnife-None-Drawer-8/trial_T20190909_124425_112757",
        "a cabinet 18, a cabinet 17, a cabinet 16, a cabinet 15, a cabinet 14, a cabinet 13,"
        " a cabinet 12, a cabinet 11, a cabinet 10, a cabinet 9, a cabinet 8, a cabinet 7,"
        " a cabinet 6, a cabinet 5, a cabinet 4, a cabinet 3, a cabinet 2, a cabinet 1,"
        " a coffeemachine 1, a countertop 4, a countertop 3, a countertop 2, a countertop 1,"
        " a drawer 7, a drawer 6, a drawer 5, a drawer 4, a drawer 3, a drawer 2, a drawer 1,"
        " a fridge 1, a garbagecan 1, a microwave 1, a sinkbasin 1, a stoveburner 4, a stoveburner 3,"
        " a stoveburner 2, a stoveburner 1, and a toaster 1",
    ),
    11: (
        "valid_seen/pick_cool_then_place_in_recep-Lettuce-None-CounterTop-11/trial_T20190908_222555_651605",
        "a cabinet 10, a cabinet 9, a cabinet 8, a cabinet 7, a cabinet 6, a cabinet 5, a cabinet 4,"
        " a cabinet 3, a cabinet 2, a cabinet 1, a coffeemachine 1, a countertop 3, a countertop 2,"
        " a countertop 1, a diningtable 1, a drawer 6, a drawer 5, a drawer 4, a drawer 3, a drawer 2,"
        " a drawer 1, a fridge 1, a garbagecan 1, a microwave 1, a sinkbasin 1, a stoveburner 4,"
        " a stoveburner 3, a stoveburner 2, a stoveburner 1, and a toaster 1",
    ),
    12: (
        "valid_seen/pick_cool_then_place_in_recep-Tomato-None-CounterTop-12/trial_T20190909_063844_274181",
        "a cabinet 19, a cabinet 18, a cabinet 17, a cabinet 16, a cabinet 15, a cabinet 14,"
        " a cabinet 13, a cabinet 12, a cabinet 11, a cabinet 10, a cabinet 9, a cabinet 8,"
        " a cabinet 7, a cabinet 6, a cabinet 5, a cabinet 4, a cabinet 3, a cabinet 2, a cabinet 1,"
        " a coffeemachine 1, a countertop 3, a countertop 2, a countertop 1, a drawer 4, a drawer 3,"
        " a drawer 2, a drawer 1, a fridge 1, a garbagecan 1, a microwave 1, a sinkbasin 1,"
        " a stoveburner 4, a stoveburner 3, a stoveburner 2, a stoveburner 1, and a toaster 1",
    ),
    14: (
        "valid_seen/pick_heat_then_place_in_recep-Egg-None-Fridge-14/trial_T20190909_091314_636733",
        "a cabinet 8, a cabinet 7, a cabinet 6, a cabinet 5, a cabinet 4, a cabinet 3, a cabinet 2,"
        " a cabinet 1, a coffeemachine 1, a countertop 2, a countertop 1, a fridge 1, a garbagecan 1,"
        " a microwave 1, a sinkbasin 1, a stoveburner 4, a stoveburner 3, a stoveburner 2,"
        " a stoveburner 1, and a toaster 1",
    ),
    15: (
        "valid_seen/pick_heat_then_place_in_recep-Tomato-None-Fridge-15/trial_T20190909_020200_054379",
        "a cabinet 11, a cabinet 10, a cabinet 9, a cabinet 8, a cabinet 7, a cabinet 6, a cabinet 5,"
        " a cabinet 4, a cabinet 3, a cabinet 2, a cabinet 1, a coffeemachine 1, a countertop 2,"
        " a countertop 1, a diningtable 1, a drawer 3, a drawer 2, a drawer 1, a fridge 1,"
        " a garbagecan 1, a microwave 1, a sinkbasin 1, a stoveburner 4, a stoveburner 3,"
        " a stoveburner 2, a stoveburner 1, and a toaster 1",
    ),
    18: (
        "valid_seen/pick_cool_then_place_in_recep-Pan-None-StoveBurner-18/trial_T20190906_181023_216915",
        "a cabinet 16, a cabinet 15, a cabinet 14, a cabinet 13, a cabinet 12, a cabinet 11,"
        " a cabinet 10, a cabinet 9, a cabinet 8, a cabinet 7, a cabinet 6, a cabinet 5, a cabinet 4,"
        " a cabinet 3, a cabinet 2, a cabinet 1, a coffeemachine 1, a countertop 2, a countertop 1,"
        " a diningtable 1, a drawer 5, a drawer 4, a drawer 3, a drawer 2, a drawer 1, a fridge 1,"
        " a garbagecan 1, a microwave 1, a safe 1, a sinkbasin 1, a stoveburner 4, a stoveburner 3,"
        " a stoveburner 2, a stoveburner 1, and a toaster 1",
    ),
    21: (
        "valid_seen/pick_heat_then_place_in_recep-Mug-None-SideTable-21/trial_T20190909_090729_088825",
        "a cabinet 4, a cabinet 3, a cabinet 2, a cabinet 1, a coffeemachine 1, a countertop 1,"
        " a diningtable 3, a diningtable 2, a diningtable 1, a drawer 1, a fridge 1, a garbagecan 1,"
        " a microwave 1, a sidetable 1, a sinkbasin 1, a stoveburner 4, a stoveburner 3,"
        " a stoveburner 2, a stoveburner 1, and a toaster 1",
    ),
    24: (
        "valid_seen/pick_heat_then_place_in_recep-Tomato-None-Fridge-24/trial_T20190908_033721_967359",
        "a cabinet 23, a cabinet 22, a cabinet 21, a cabinet 20, a cabinet 19, a cabinet 18,"
        " a cabinet 17, a cabinet 16, a cabinet 15, a cabinet 14, a cabinet 13, a cabinet 12,"
        " a cabinet 11, a cabinet 10, a cabinet 9, a cabinet 8, a cabinet 7, a cabinet 6, a cabinet 5,"
        " a cabinet 4, a cabinet 3, a cabinet 2, a cabinet 1, a coffeemachine 1, a countertop 3,"
        " a countertop 2, a countertop 1, a diningtable 1, a drawer 4, a drawer 3, a drawer 2,"
        " a drawer 1, a fridge 1, a garbagecan 1, a microwave 1, a sinkbasin 1, a stoveburner 4,"
        " a stoveburner 3, a stoveburner 2, a stoveburner 1, and a toaster 1",
    ),
    27: (
        "valid_seen/pick_cool_then_place_in_recep-Plate-None-Cabinet-27/trial_T20190906_173120_350651",
        "a cabinet 12, a cabinet 11, a cabinet 10, a cabinet 9, a cabinet 8, a cabinet 7, a cabinet 6,"
        " a cabinet 5, a cabinet 4, a cabinet 3, a cabinet 2, a cabinet 1, a coffeemachine 1,"
        " a countertop 2, a countertop 1, a diningtable 1, a drawer 3, a drawer 2, a drawer 1,"
        " a fridge 1, a garbagecan 1, a microwave 1, a sinkbasin 1, a stoveburner 4, a stoveburner 3,"
        " a stoveburner 2, a stoveburner 1, and a toaster 1",
    ),
    201: (
        "valid_seen/pick_and_place_simple-CreditCard-None-ArmChair-201/trial_T20190908_124340_258012",
        "a armchair 2, a armchair 1, a coffeetable 1, a diningtable 2, a diningtable 1, a drawer 2,"
        " a drawer 1, a garbagecan 1, a sidetable 2, a sidetable 1, a sofa 1, and a tvstand 1",
    ),
    203: (
        "valid_seen/pick_two_obj_and_place-RemoteControl-None-Ottoman-203/trial_T20190906_182952_858723",
        "a armchair 1, a coffeetable 1, a diningtable 1, a drawer 7, a drawer 6, a drawer 5,"
        " a drawer 4, a drawer 3, a drawer 2, a drawer 1, a garbagecan 1, a ottoman 1, a sidetable 1,"
        " and a sofa 1",
    ),
    205: (
        "valid_seen/pick_two_obj_and_place-Watch-None-Dresser-205/trial_T20190907_182211_592010",
        "a armchair 2, a armchair 1, a diningtable 1, a drawer 4, a drawer 3, a drawer 2, a drawer 1,"
        " a dresser 1, a garbagecan 1, a ottoman 1, a sidetable 3, a sidetable 2, a sidetable 1,"
        " and a sofa 1",
    ),
    207: (
        "valid_seen/pick_and_place_simple-Vase-None-CoffeeTable-207/trial_T20190909_091246_807206",
        "a armchair 2, a armchair 1, a coffeetable 2, a coffeetable 1, a garbagecan 1, a shelf 8,"
        " a shelf 7, a shelf 6, a shelf 5, a shelf 4, a shelf 3, a shelf 2, a shelf 1, a sofa 1,"
        " and a tvstand 1",
    ),
    213: (
        "valid_seen/pick_two_obj_and_place-Box-None-CoffeeTable-213/trial_T20190906_200927_069627",
        "a armchair 2, a armchair 1, a coffeetable 1, a diningtable 1, a drawer 12, a drawer 11,"
        " a drawer 10, a drawer 9, a drawer 8, a drawer 7, a drawer 6, a drawer 5, a drawer 4,"
        " a drawer 3, a drawer 2, a drawer 1, a dresser 1, a garbagecan 1, a sidetable 3,"
        " a sidetable 2, a sidetable 1, and a sofa 1",
    ),
    216: (
        "valid_seen/look_at_obj_in_light-Statue-None-DeskLamp-216/trial_T20190909_193045_208933",
        "a armchair 1, a diningtable 1, a drawer 4, a drawer 3, a drawer 2, a drawer 1,"
        " a garbagecan 1, a shelf 1, a sidetable 3, a sidetable 2, a sidetable 1, and a sofa 1",
    ),
    222: (
        "valid_seen/pick_and_place_simple-Watch-None-SideTable-222/trial_T20190909_051813_197569",
        "a armchair 1, a coffeetable 1, a drawer 7, a drawer 6, a drawer 5, a drawer 4, a drawer 3,"
        " a drawer 2, a drawer 1, a garbagecan 1, a sidetable 3, a sidetable 2, a sidetable 1,"
        " a sofa 2, a sofa 1, and a tvstand 1",
    ),
    224: (
        "valid_seen/pick_and_place_simple-Newspaper-None-Sofa-224/trial_T20190909_111324_949106",
        "a armchair 1, a cabinet 1, a drawer 21, a drawer 20, a drawer 19, a drawer 18, a drawer 17,"
        " a drawer 16, a drawer 15, a drawer 14, a drawer 13, a drawer 12, a drawer 11, a drawer 10,"
        " a drawer 9, a drawer 8, a drawer 7, a drawer 6, a drawer 5, a drawer 4, a drawer 3,"
        " a drawer 2, a drawer 1, a dresser 1, a garbagecan 1, a sidetable 5, a sidetable 4,"
        " a sidetable 3, a sidetable 2, a sidetable 1, and a sofa 1",
    ),
    303: (
        "valid_seen/look_at_obj_in_light-Vase-None-DeskLamp-303/trial_T20190907_150418_457594",
        "a bed 1, a desk 1, a drawer 5, a drawer 4, a drawer 3, a drawer 2, a drawer 1, a dresser 1,"
        " a garbagecan 1, a shelf 12, a shelf 11, a shelf 10, a shelf 9, a shelf 8, a shelf 7,"
        " a shelf 6, a shelf 5, a shelf 4, a shelf 3, a shelf 2, a shelf 1, and a sidetable 1",
    ),
    305: (
        "valid_seen/pick_two_obj_and_place-AlarmClock-None-Dresser-305/trial_T20190907_165826_194855",
        "a bed 1, a desk 1, a drawer 5, a drawer 4, a drawer 3, a drawer 2, a drawer 1, a dresser 1,"
        " a garbagecan 1, a laundryhamper 1, and a shelf 1",
    ),
    310: (
        "valid_seen/pick_and_place_simple-Pencil-None-Desk-310/trial_T20190909_113054_894334",
        "a bed 1, a cabinet 4, a cabinet 3, a cabinet 2, a cabinet 1, a desk 1, a drawer 2,"
        " a drawer 1, a garbagecan 1, a shelf 1, and a sidetable 1",
    ),
    314: (
        "valid_seen/look_at_obj_in_light-CD-None-DeskLamp-314/trial_T20190907_114323_767231",
        "a bed 1, a desk 1, a drawer 5, a drawer 4, a drawer 3, a drawer 2, a drawer 1, a dresser 1,"
        " and a garbagecan 1",
    ),
    316: (
        "valid_seen/look_at_obj_in_light-Bowl-None-DeskLamp-316/trial_T20190908_230702_962704",
        "a bed 1, a desk 1, a drawer 2, a drawer 1, a garbagecan 1, a shelf 1, and a sidetable 1",
    ),
    320: (
        "valid_seen/look_at_obj_in_light-CD-None-DeskLamp-320/trial_T20190907_224451_655673",
        "a bed 1, a desk 2, a desk 1, a garbagecan 1, a shelf 5, a shelf 4, a shelf 3, a shelf 2,"
        " and a shelf 1",
    ),
    323: (
        "valid_seen/look_at_obj_in_light-Pillow-None-DeskLamp-323/trial_T20190908_053153_077977",
        "a bed 2, a bed 1, a desk 1, a drawer 11, a drawer 10, a drawer 9, a drawer 8, a drawer 7,"
        " a drawer 6, a drawer 5, a drawer 4, a drawer 3, a drawer 2, a drawer 1, a dresser 1,"
        " a garbagecan 1, a safe 1, a sidetable 2, and a sidetable 1",
    ),
    324: (
        "valid_seen/pick_and_place_simple-CellPhone-None-Bed-324/trial_T20190907_233817_198528",
        "a bed 1, a drawer 10, a drawer 9, a drawer 8, a drawer 7, a drawer 6, a drawer 5, a drawer 4,"
        " a drawer 3, a drawer 2, a drawer 1, a dresser 1, a garbagecan 1, a shelf 7, a shelf 6,"
        " a shelf 5, a shelf 4, a shelf 3, a shelf 2, and a shelf 1",
    ),
    328: (
        "valid_seen/look_at_obj_in_light-Laptop-None-DeskLamp-328/trial_T20190908_201550_622420",
        "a bed 1, a desk 1, a drawer 2, a drawer 1, a garbagecan 1, a shelf 1, and a sidetable 1",
    ),
    401: (
        "valid_seen/pick_clean_then_place_in_recep-DishSponge-None-Cart-401/trial_T20190907_024634_972453",
        "a bathtubbasin 1, a cart 1, a garbagecan 1, a handtowelholder 2, a handtowelholder 1,"
        " a shelf 4, a shelf 3, a shelf 2, a shelf 1, a sinkbasin 1, a toilet 1,"
        " a toiletpaperhanger 1, a towelholder 2, and a towelholder 1",
    ),
    402: (
        "valid_seen/pick_two_obj_and_place-SprayBottle-None-Toilet-402/trial_T20190910_222914_814642",
        "a bathtubbasin 1, a cabinet 4, a cabinet 3, a cabinet 2, a cabinet 1, a countertop 1,"
        " a garbagecan 1, a handtowelholder 2, a handtowelholder 1, a shelf 1, a sinkbasin 2,"
        " a sinkbasin 1, a toilet 1, a toiletpaperhanger 1, a towelholder 2, and a towelholder 1",
    ),
    403: (
        "valid_seen/pick_clean_then_place_in_recep-DishSponge-None-CounterTop-403/"
        "trial_T20190908_144357_621068",
        "a bathtubbasin 1, a cabinet 4, a cabinet 3, a cabinet 2, a cabinet 1, a countertop 1,"
        " a garbagecan 1, a handtowelholder 1, a shelf 1, a sinkbasin 2, a sinkbasin 1, a toilet 1,"
        " a toiletpaperhanger 1, a towelholder 2, and a towelholder 1",
    ),
    405: (
        "valid_seen/pick_clean_then_place_in_recep-Cloth-None-Cabinet-405/trial_T20190907_080903_889497",
        "a bathtubbasin 1, a cabinet 5, a cabinet 4, a cabinet 3, a cabinet 2, a cabinet 1,"
        " a countertop 1, a garbagecan 1, a handtowelholder 2, a handtowelholder 1, a sinkbasin 1,"
        " a toilet 1, a toiletpaperhanger 1, and a towelholder 1",
    ),
    407: (
        "valid_seen/pick_and_place_simple-Candle-None-Toilet-407/trial_T20190909_055248_059513",
        "a bathtubbasin 1, a cabinet 4, a cabinet 3, a cabinet 2, a cabinet 1, a countertop 1,"
        " a garbagecan 1, a handtowelholder 1, a sinkbasin 2, a sinkbasin 1, a toilet 1,"
        " a toiletpaperhanger 1, and a towelholder 1",
    ),
    414: (
        "valid_seen/pick_and_place_simple-SoapBottle-None-Cabinet-414/trial_T20190908_110131_524518",
        "a bathtubbasin 1, a cabinet 9, a cabinet 8, a cabinet 7, a cabinet 6, a cabinet 5,"
        " a cabinet 4, a cabinet 3, a cabinet 2, a cabinet 1, a countertop 2, a countertop 1,"
        " a drawer 1, a garbagecan 1, a handtowelholder 1, a sinkbasin 1, a toilet 1,"
        " a toiletpaperhanger 1, and a towelholder 1",
    ),
    415: (
        "valid_seen/pick_and_place_simple-SprayBottle-None-Toilet-415/trial_T20190909_075955_678702",
        "a bathtubbasin 1, a countertop 1, a drawer 4, a drawer 3, a drawer 2, a drawer 1,"
        " a dresser 1, a garbagecan 1, a handtowelholder 2, a handtowelholder 1, a shelf 2, a shelf 1,"
        " a sinkbasin 1, a toilet 1, a toiletpaperhanger 1, and a towelholder 1",
    ),
    419: (
        "valid_seen/pick_two_obj_and_place-SprayBottle-None-GarbageCan-419/trial_T20190908_164236_518264",
        "a bathtubbasin 1, a drawer 2, a drawer 1, a garbagecan 1, a handtowelholder 1, a sidetable 1,"
        " a sinkbasin 1, a toilet 1, a toiletpaperhanger 1, and a towelholder 1",
    ),
    423: (
        "valid_seen/pick_clean_then_place_in_recep-SoapBar-None-Drawer-423/trial_T20190906_202340_749336",
        "a bathtubbasin 1, a countertop 2, a countertop 1, a drawer 8, a drawer 7, a drawer 6,"
        " a drawer 5, a drawer 4, a drawer 3, a drawer 2, a drawer 1, a garbagecan 1,"
        " a handtowelholder 4, a handtowelholder 3, a handtowelholder 2, a handtowelholder 1,"
        " a sinkbasin 2, a sinkbasin 1, a toilet 1, a toiletpaperhanger 1, and a towelholder 1",
    ),
    426: (
        "valid_seen/pick_two_obj_and_place-TissueBox-None-Toilet-426/trial_T20190909_044602_338962",
        "a bathtubbasin 1, a countertop 1, a drawer 8, a drawer 7, a drawer 6, a drawer 5, a drawer 4,"
        " a drawer 3, a drawer 2, a drawer 1, a garbagecan 1, a handtowelholder 1, a sinkbasin 1,"
        " a toilet 1, a toiletpaperhanger 1, a towelholder 2, and a towelholder 1",
    ),
}

@pytest.mark.parametrize("scene_num", sorted(REAL_TRAIN_PLAN_RECEPTACLES))
def test_receptacles_of_train_plans_match_real_games(scene_num: int) -> None:
    """Train floor plans with a public real transcript carry its inventory (the layout files miss some)."""
    _, listed = REAL_TRAIN_PLAN_RECEPTACLES[scene_num]
    items = re.split(", and |, ", listed)
    expected = Counter(re.sub(r" [0-9]+$", "", item.removeprefix("a ")) for item in items)
    assert Counter(r.type.lower() for r in scenes.load_scene(scene_num).receptacles) == expected

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
