"""The bundled ALFWorld games: generated into the cache in the official layout, checked on the engine.

    <cache>/alfworld/<VERSION>/json_2.1.1/<split>/<task>/<trial>/{game.tw-pddl, traj_data.json}
    <cache>/alfworld/<VERSION>/json_2.1.1/<split>/catalog.json      task ids, types and seeds of the split

Split sizes and task-type mix are the official ones (train 3,553; valid_seen 140; valid_unseen 134,
on ALFRED's unseen floor plans). Game ``i`` of a split is generated from the seed ``<split>:<i>:<try>``;
its plan is replayed on the engine and the game is kept only if the engine reports it won (a failed
try is dropped, reported, and the next try used).

- ``ensure_bundled()`` (run at install) builds valid_unseen, the evaluation split, with a worker pool;
- train and valid_seen cost about 1 s of PDDL translation per game, so their catalogs are written
  at install and each game is generated and checked the first time it is played (``game_file``);
  ``python -m envs.alfworld.data train valid_seen`` builds them ahead of time.
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from tqdm import tqdm

from envs.alfworld import game_files, generator, planner, scenes
from envs.alfworld.engine import AlfredEngine
from envs.cache import cache_dir
from envs.json_files import read_json

VERSION = "v10"  # v10: real receptacle inventories of 6 more train plans (valid_seen transcripts)
# v9: real receptacle inventories of 9 train kitchens too (valid_seen transcripts)
# v8: real receptacle inventories of 23 train floor plans (valid_seen transcripts)
# v7: decor (houseplant, television, papertowelroll, mirror) in/on receptacles
# v6: receptacles share a location where the layout points coincide (burners in pairs)
# v5: real inventories of the unseen plans, ALFRED counts and rules, objectAtLocation
#: official ALFWorld games per split and task type
SPLIT_SIZES: dict[str, dict[str, int]] = {
    "train": {
        "pick_and_place_simple": 790, "look_at_obj_in_light": 308, "pick_clean_then_place_in_recep": 650,
        "pick_heat_then_place_in_recep": 459, "pick_cool_then_place_in_recep": 533,
        "pick_two_obj_and_place": 813,
    },
    "valid_seen": {
        "pick_and_place_simple": 35, "look_at_obj_in_light": 13, "pick_clean_then_place_in_recep": 27,
        "pick_heat_then_place_in_recep": 16, "pick_cool_then_place_in_recep": 25,
        "pick_two_obj_and_place": 24,
    },
    "valid_unseen": {
        "pick_and_place_simple": 24, "look_at_obj_in_light": 18, "pick_clean_then_place_in_recep": 31,
        "pick_heat_then_place_in_recep": 23, "pick_cool_then_place_in_recep": 21,
        "pick_two_obj_and_place": 17,
    },
}
#: splits built at install; the rest on first use
EAGER_SPLITS: tuple[str, ...] = ("valid_unseen",)
MAX_TRIES = 5
CATALOG = "catalog.json"


def bundled_root() -> Path:
    """``<cache>/alfworld/<version>``: holds ``json_2.1.1/``."""
    return cache_dir("alfworld", VERSION)


@dataclass(frozen=True)
class BuiltGame:
    """A generated game that the engine won by replaying its plan, ready to write."""

    index: int
    seed: str
    task_id: str
    game: dict[str, Any]
    traj_data: dict[str, Any]
    dropped: tuple[str, ...]  # seeds of earlier tries the engine could not win, with why


@cache
def _split_scenes(split: str) -> tuple[scenes.Scene, ...]:
    return tuple(scenes.load_scene(n) for n in scenes.scene_numbers(unseen=split == "valid_unseen"))


def task_type_schedule(split: str, sizes: dict[str, int]) -> list[str]:
    """The task type of every game index of the split (the official mix, in a seeded order)."""
    schedule = [t for t in generator.TASK_TYPES for _ in range(sizes.get(t, 0))]
    random.Random(f"schedule:{split}").shuffle(schedule)
    return schedule


def generate(
    split: str, index: int, task_type: str, attempt: int
) -> tuple[str, generator.GeneratedGame, dict[str, Any]]:
    """Game ``index`` of ``split`` at try ``attempt``: (seed, game, ``game.tw-pddl`` content without a
    walkthrough)."""
    seed = f"{split}:{index}:{attempt}"
    game = generator.generate_game(seed, task_type, _split_scenes(split))
    return seed, game, generator.game_content(game)


def verify(engine: AlfredEngine, game_file: Path, traj_data: dict[str, Any]) -> list[str]:
    """Load ``game_file``, replay the expert plan on the engine; the plan if the engine says won, else
    raise."""
    engine.load(game_file)
    engine.reset()
    plan = planner.expert_plan(engine.world(), traj_data["task_type"], traj_data["pddl_params"])
    state = None
    for command in plan:
        if command not in engine.admissible:
            raise planner.NoPlan(f"plan step {command!r} is not admissible")
        state = engine.step(command)
    if state is None or not state.won:
        raise planner.NoPlan("the engine does not report the task won after the plan")
    return plan


#: a solvability check on a written game file (True: keep it), e.g. "an honest expert wins it within 50
#: steps" as upstream keeps only games its handcoded expert solves. Envs import no agents, so the caller
#: that may (the harness, ``agents.experts.alfworld.solves``) passes it in.
Solver = Callable[[Path], bool]


def build_game(split_dir: Path, split: str, index: int, task_type: str, engine: AlfredEngine | None = None,
               solver: Solver | None = None) -> BuiltGame:
    """Generate game ``index`` and check it on the engine (its plan wins; ``solver`` accepts it), trying
    new seeds until one passes."""
    engine = engine or AlfredEngine(walkthrough=False)
    dropped = []
    for attempt in range(MAX_TRIES):
        seed, game, content = generate(split, index, task_type, attempt)
        scratch = split_dir / ".scratch" / f"{os.getpid()}-{index}.tw-pddl"
        game_files.write_json_atomic(scratch, content)
        try:
            plan = verify(engine, scratch, game.traj_data)
            if solver is not None and not solver(scratch):
                raise planner.NoPlan(f"{getattr(solver, '__name__', 'the solver')} does not solve it")
        except (planner.NoPlan, ValueError) as err:
            dropped.append(f"{seed}: {err}")
            continue
        finally:
            scratch.unlink(missing_ok=True)
        content.update(solvable=True, walkthrough=plan)
        task_id = f"{game.spec.task_dir()}/{game.trial}"
        return BuiltGame(index, seed, task_id, content, game.traj_data, tuple(dropped))
    raise RuntimeError(f"ALFWorld {split} game {index}: no solvable game in {MAX_TRIES} tries: {dropped}")


_worker_engine: AlfredEngine | None = None  # one per process: builds and checks games


def _build_in_worker(job: tuple[str, str, int, str, Solver | None]) -> BuiltGame:
    global _worker_engine
    _worker_engine = _worker_engine or AlfredEngine(walkthrough=False)
    split_dir, split, index, task_type, solver = job
    return build_game(Path(split_dir), split, index, task_type, _worker_engine, solver)


def build_split(root: Path, split: str, sizes: dict[str, int] | None = None, workers: int | None = None,
                solver: Solver | None = None) -> Path:
    """Generate, check and write every game of ``split`` under ``root`` (idempotent: a complete
    catalog means done); the catalog records the dropped tries and the drop rate. Returns the split folder."""
    split = game_files.split_folder_name(split)
    split_dir = Path(root) / game_files.DATA_DIR / split
    catalog = read_catalog(split_dir)
    if catalog is not None and catalog.get("complete"):
        return split_dir
    schedule = task_type_schedule(split, sizes or SPLIT_SIZES[split])
    jobs = [(str(split_dir), split, i, t, solver) for i, t in enumerate(schedule)]
    workers = max(1, min(workers or os.cpu_count() or 1, len(jobs)))
    t0 = time.perf_counter()
    built: list[BuiltGame] = []
    progress = tqdm(total=len(jobs), desc=f"ALFWorld {split}", unit="game", file=sys.stderr)
    if workers == 1:
        engine = AlfredEngine(walkthrough=False)
        results = (build_game(split_dir, split, i, t, engine, solver) for _, _, i, t, _ in jobs)
    else:
        pool = multiprocessing.get_context("spawn").Pool(workers)
        results = pool.imap_unordered(_build_in_worker, jobs, chunksize=2)
    try:
        for game in results:
            game_files.write_game(split_dir, game.task_id, game.game, game.traj_data)
            built.append(game)
            progress.update()
    finally:
        progress.close()
        if workers > 1:
            pool.terminate()
    if (split_dir / ".scratch").is_dir() and not any((split_dir / ".scratch").iterdir()):
        (split_dir / ".scratch").rmdir()
    built.sort(key=lambda g: g.index)
    dropped = [d for g in built for d in g.dropped]
    entries = [{"task_id": g.task_id, "task_type": g.traj_data["task_type"], "seed": g.seed} for g in built]
    game_files.write_json_atomic(split_dir / CATALOG, {
        "split": split, "complete": True, "games": entries, "dropped": dropped,
        "drop_rate": round(len(dropped) / (len(dropped) + len(built)), 4),
        "solver": getattr(solver, "__qualname__", None) if solver is not None else None,
        "build_seconds": round(time.perf_counter() - t0, 1), "workers": workers,
    })
    if dropped:
        print(f"[alfworld] {split}: dropped {len(dropped)} unsolvable tries: {dropped}", file=sys.stderr)
    return split_dir


def catalog_lazy_split(root: Path, split: str, sizes: dict[str, int] | None = None) -> Path:
    """Write the catalog of ``split`` without building its games (they are built when first played)."""
    split = game_files.split_folder_name(split)
    split_dir = Path(root) / game_files.DATA_DIR / split
    if read_catalog(split_dir) is not None:
        return split_dir
    entries = []
    for i, task_type in enumerate(task_type_schedule(split, sizes or SPLIT_SIZES[split])):
        seed, game, _ = generate(split, i, task_type, 0)
        task_id = f"{game.spec.task_dir()}/{game.trial}"
        entries.append({"task_id": task_id, "task_type": task_type, "seed": seed})
    game_files.write_json_atomic(
        split_dir / CATALOG, {"split": split, "complete": False, "games": entries, "dropped": []}
    )
    return split_dir


def read_catalog(split_dir: Path) -> dict[str, Any] | None:
    """A split's ``catalog.json`` (None when there is none yet); a corrupt one raises ``ValueError``."""
    path = Path(split_dir) / CATALOG
    if not path.is_file():
        return None
    catalog = read_json(path, "a bundled split catalog; delete it to rebuild the split")
    games = catalog.get("games") if isinstance(catalog, dict) else None
    if not isinstance(games, list) or not all(
        isinstance(g, dict) and all(isinstance(g.get(k), str) for k in ("task_id", "task_type", "seed"))
        for g in games
    ):
        raise ValueError(
            f"{path}: expected an object with a 'games' list of {{'task_id', 'task_type', 'seed'}} objects; "
            "delete it to rebuild the split"
        )
    return catalog


def game_file(split_dir: Path, entry: dict[str, Any]) -> Path:
    """The game file of a catalog entry, generating and checking it on the engine if it is not built yet."""
    global _worker_engine
    _worker_engine = _worker_engine or AlfredEngine(walkthrough=False)
    folder = Path(split_dir) / entry["task_id"]
    if (folder / game_files.GAME_FILE).is_file():
        return folder / game_files.GAME_FILE
    split, index, _ = entry["seed"].split(":")
    task_type = entry["task_type"]
    seed, game, content = generate(split, int(index), task_type, 0)
    path = folder / game_files.GAME_FILE
    game_files.write_json_atomic(folder / game_files.TRAJ_FILE, game.traj_data)
    game_files.write_json_atomic(path, content)
    try:
        plan = verify(_worker_engine, path, game.traj_data)
    except (planner.NoPlan, ValueError) as err:
        path.unlink(missing_ok=True)
        raise RuntimeError(
            f"generated ALFWorld game {seed} ({entry['task_id']}) is not solvable: {err}"
        ) from err
    content.update(solvable=True, walkthrough=plan)
    game_files.write_json_atomic(path, content)
    return path


def ensure_split(split: str, root: Path | None = None, solver: Solver | None = None) -> Path:
    """The bundled split folder: built now (eval splits) or catalogued for lazy building (train)."""
    split = game_files.split_folder_name(split)
    root = root or bundled_root()
    if split in EAGER_SPLITS:
        return build_split(root, split, solver=solver)
    return catalog_lazy_split(root, split)


def ensure_bundled(solver: Solver | None = None) -> Path:
    """Build the eval splits and catalogue train in the cache (idempotent, with a progress bar)."""
    root = bundled_root()
    for split in game_files.SPLITS:
        ensure_split(split, root, solver)
    return root / game_files.DATA_DIR


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build bundled ALFWorld games into the cache.")
    parser.add_argument("splits", nargs="*", default=list(game_files.SPLITS), help="splits to build fully")
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args(argv)
    for split in args.splits:
        t0 = time.perf_counter()
        path = build_split(bundled_root(), split, workers=args.workers)
        print(f"{split}: {path} in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
