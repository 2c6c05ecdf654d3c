"""ALFWorld's official data layout, written and read by one piece of code.

    <root>/json_2.1.1/<split>/<task folder>/<trial folder>/game.tw-pddl
                                                          /traj_data.json

e.g. ``valid_unseen/pick_and_place_simple-SprayBottle-None-Toilet-422/trial_T20190909_124852_071149``.
A task id is ``<task folder>/<trial folder>``. Discovery skips what ``AlfredTWEnv.collect_game_files``
skips: ``movable`` / ``Sliced`` trajectories, task types outside the six, missing game files, and games
whose ``solvable`` flag is missing or false. A game file that is not valid JSON is an error naming it.
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from envs.alfworld.engine import read_game_file
from envs.alfworld.generator import TASK_TYPES
from envs.json_files import json_type, read_json

DATA_DIR = "json_2.1.1"
SPLITS: tuple[str, ...] = ("train", "valid_seen", "valid_unseen")
#: split names users may type -> the folder they mean ("test" is what ReAct evaluates on)
SPLIT_ALIASES: dict[str, str] = {"test": "valid_unseen", "eval_in_distribution": "valid_seen",
                                 "eval_out_of_distribution": "valid_unseen"}
GAME_FILE = "game.tw-pddl"
TRAJ_FILE = "traj_data.json"


@dataclass(frozen=True)
class GameRecord:
    """One playable game: its id, task type and folder."""

    task_id: str
    task_type: str
    folder: Path

    @property
    def game_file(self) -> Path:
        return self.folder / GAME_FILE


def split_folder_name(split: str) -> str:
    """``train`` / ``valid_seen`` / ``valid_unseen`` for a split name or alias; anything else raises."""
    name = SPLIT_ALIASES.get(split, split)
    if name not in SPLITS:
        raise ValueError(f"unknown ALFWorld split {split!r}; expected one of {SPLITS + tuple(SPLIT_ALIASES)}")
    return name


def official_split_dir(path: Path, split: str) -> Path:
    """The split folder inside a user's ALFWorld data: ``path`` may be ``$ALFWORLD_DATA``, its
    ``json_2.1.1`` folder, or the split folder itself."""
    path = Path(path).expanduser()
    name = split_folder_name(split)
    for candidate in (path / DATA_DIR / name, path / name, path):
        if candidate.is_dir() and (candidate.name == name):
            return candidate
    raise FileNotFoundError(
        f"ALFWorld data {path}: no {DATA_DIR}/{name} folder (expected the official tree, "
        f"<data>/{DATA_DIR}/<train|valid_seen|valid_unseen>/<task>/<trial>/{GAME_FILE})"
    )


TRAJ_FORMAT = "a JSON object with a string 'task_type' and an object 'pddl_params' (ALFRED's traj_data.json)"


def read_traj_data(path: Path) -> dict[str, Any]:
    """A ``traj_data.json``, checked for ``task_type`` and ``pddl_params``."""
    try:
        data = read_json(path, TRAJ_FORMAT)
    except OSError as err:
        raise ValueError(f"{path}: cannot read trajectory data ({err})") from err
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected {TRAJ_FORMAT}, got {json_type(data)}")
    for key, kind, expected in (("task_type", str, "a string"), ("pddl_params", dict, "an object")):
        if not isinstance(data.get(key), kind):
            raise ValueError(f"{path}: field {key!r} must be {expected}, got {json_type(data.get(key))}")
    return data


def discover(split_dir: Path) -> list[GameRecord]:
    """Every playable game under ``split_dir``, sorted by task id, with upstream's skip rules."""
    records = []
    for root, _, files in os.walk(split_dir):
        if TRAJ_FILE not in files or "movable" in root or "Sliced" in root:
            continue
        folder = Path(root)
        task_type = read_traj_data(folder / TRAJ_FILE)["task_type"]
        if task_type not in TASK_TYPES or not (folder / GAME_FILE).is_file():
            continue
        if read_game_file(folder / GAME_FILE).get("solvable"):
            records.append(GameRecord(folder.relative_to(split_dir).as_posix(), task_type, folder))
    return sorted(records, key=lambda r: r.task_id)


def write_json_atomic(path: Path, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` via a temporary file and a rename (readers never see half a
    file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(data, f)
    os.replace(tmp, path)


def write_game(split_dir: Path, task_id: str, game: dict[str, Any], traj_data: dict[str, Any]) -> GameRecord:
    """Write one game (``game.tw-pddl`` content and ``traj_data.json`` content) under ``split_dir``."""
    folder = split_dir / task_id
    write_json_atomic(folder / TRAJ_FILE, traj_data)
    write_json_atomic(folder / GAME_FILE, game)
    return GameRecord(task_id, traj_data["task_type"], folder)
