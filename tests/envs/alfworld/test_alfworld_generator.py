"""The game generator: deterministic, official layout, every task type, solvable on the engine."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from envs.alfworld import data, game_files, generator, scenes


def test_same_seed_same_game_files(tmp_path: Path) -> None:
    sizes = {"pick_heat_then_place_in_recep": 1, "pick_two_obj_and_place": 1}
    first = data.build_split(tmp_path / "a", "valid_unseen", sizes=sizes, workers=1)
    second = data.build_split(tmp_path / "b", "valid_unseen", sizes=sizes, workers=1)
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file() and p.name != data.CATALOG)
    again = sorted(p.relative_to(second) for p in second.rglob("*") if p.is_file() and p.name != data.CATALOG)
    assert files and files == again
    for rel in files:
        assert (first / rel).read_bytes() == (second / rel).read_bytes(), rel


def test_different_seeds_differ() -> None:
    unseen = [scenes.load_scene(n) for n in scenes.scene_numbers(unseen=True)]
    games = {generator.generate_game(f"s{i}", "pick_and_place_simple", unseen).pddl_problem for i in range(4)}
    assert len(games) == 4


def test_tree_has_official_layout_and_every_task_type(tiny_alfworld_root: Path) -> None:
    split_dir = tiny_alfworld_root / "json_2.1.1" / "valid_unseen"
    records = game_files.discover(split_dir)
    assert {r.task_type for r in records} == set(generator.TASK_TYPES)
    assert len(records) == 12
    for record in records:
        task_folder, trial = record.task_id.split("/")
        assert task_folder.startswith(record.task_type + "-") and trial.startswith("generated_valid_unseen_")
        assert int(task_folder.rsplit("-", 1)[1]) in scenes.UNSEEN_SCENES
        game = json.loads(record.game_file.read_text())
        assert game["solvable"] is True and game["walkthrough"]
        assert not trial.startswith("trial_T")  # never mistaken for an official ALFRED trial
        assert "UNKNOWN GOAL" not in game["grammar"] and "(:goal" in game["pddl_problem"]
        traj = json.loads((record.folder / "traj_data.json").read_text())
        assert traj["task_type"] == record.task_type
        params = {"object_target", "parent_target", "toggle_target", "mrecep_target"}
        assert set(traj["pddl_params"]) >= params


def test_scenes_have_alfred_vocabulary() -> None:
    kitchen = scenes.load_scene(1)
    types = kitchen.receptacle_types()
    assert {"Cabinet", "Fridge", "Microwave", "SinkBasin", "StoveBurner"} <= types
    assert sum(r.type == "Cabinet" for r in kitchen.receptacles) > 3  # several instances of a type
    burner_spots = {r.location for r in kitchen.receptacles if r.type == "StoveBurner"}
    assert len(burner_spots) == 2  # four burners, reached two from each spot
    assert "Apple" in kitchen.object_types


def test_unseen_scenes_are_not_used_by_train() -> None:
    assert not set(scenes.scene_numbers(unseen=False)) & set(scenes.UNSEEN_SCENES)
    assert sorted(scenes.scene_numbers(unseen=True)) == sorted(scenes.UNSEEN_SCENES)


def test_unknown_task_type_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown ALFWorld task type"):
        generator.generate_game("x", "slice_and_eat", [scenes.load_scene(1)])


def test_official_split_sizes() -> None:
    assert sum(data.SPLIT_SIZES["valid_seen"].values()) == 140
    assert sum(data.SPLIT_SIZES["valid_unseen"].values()) == 134
    assert sum(data.SPLIT_SIZES["train"].values()) >= 3000


def test_solver_drops_games_and_the_catalog_reports_the_drop_rate(tmp_path: Path) -> None:
    calls: list[Path] = []

    def every_other(game_file: Path) -> bool:  # rejects each game's first try
        calls.append(game_file)
        return len(calls) % 2 == 0

    split_dir = data.build_split(tmp_path, "valid_unseen", sizes={"pick_and_place_simple": 2}, workers=1,
                                 solver=every_other)
    catalog = json.loads((split_dir / data.CATALOG).read_text())
    assert [g["seed"] for g in catalog["games"]] == ["valid_unseen:0:1", "valid_unseen:1:1"]
    assert len(catalog["dropped"]) == 2 and catalog["drop_rate"] == 0.5
    assert all("every_other does not solve it" in d for d in catalog["dropped"])
