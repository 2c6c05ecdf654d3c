"""``agentdistill compare``: two agents' closed-loop runs, paired on the tasks and env seeds both played.

    agentdistill compare runs/a/student_eval/smol-81m_sad_s0 runs/b/student_eval/smol-81m_sad_s0
    agentdistill compare SAD_SEED0,SAD_SEED1 KD_SEED0,KD_SEED1 --labels sad,token_kd

Each arm is one run directory (an ``eval`` or a pipeline's ``student_eval/<label>``) or several joined by
commas: one per training seed of the same method. Episodes pair on (task id, env seed): episode ``i`` of a
run with ``seed`` s and ``task_offset`` k played its task with env seed s + k + i (:mod:`harness.tasks`),
so runs of the same env, split, data and env options that played the same count of episodes pair on every
one of them; runs that played different counts pair on the episodes they share. For success and score the
difference (first arm − second) is the report's two-level paired bootstrap (:mod:`harness.report.statistics`:
training seeds within each arm, then the shared tasks) with a plain 95% interval, "inconclusive" where it
contains 0. Runs of different envs, splits, data or protocols (``run.json``'s ``data``: step limit, command
format, ...) are refused, naming the run and the field: their episodes are not the same tasks.
"""
from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.errors import UserError
from harness.logs import read_episodes
from harness.metrics import per_episode
from harness.report.comparison import PAIRED_METRICS, Comparison
from harness.report.statistics import (
    bootstrap_p_value,
    percentile_interval,
    point_estimate,
    two_level_bootstrap,
)
from harness.run_dir import DATA_KEYS, RUN_FILE

#: run.json fields two compared runs must share (and ``data``'s :data:`DATA_KEYS`: the data and the protocol
#: as played, step limit included): otherwise their episodes are not the same tasks. The env options as given
#: may differ (``max_steps=50`` given or left at its default of 50): the protocol says what was played
SAME_TASKS = ("env", "split")


@dataclass(frozen=True)
class PlayedRun:
    """One run directory's episodes (one row each: :func:`harness.metrics.per_episode` plus ``env_seed``)
    and its ``run.json``."""

    path: Path
    record: dict[str, Any]
    episodes: pd.DataFrame

    @property
    def keys(self) -> set[tuple[str, int]]:
        """(task id, env seed) of every episode it played."""
        return set(zip(self.episodes["task_id"], self.episodes["env_seed"], strict=True))


def load_run(path: str | Path) -> PlayedRun:
    """The run at ``path`` (a directory holding ``run.json`` and its episodes), each episode with the env
    seed it was played with."""
    path = Path(path)
    record_file = path / RUN_FILE
    if not record_file.is_file():
        raise FileNotFoundError(f"{record_file}: no such file; expected the directory of an eval, a rollout "
                                "or a pipeline's teacher_eval / student_eval/<label> run")
    try:
        record = json.loads(record_file.read_text())
    except json.JSONDecodeError as err:
        raise UserError(f"{record_file}: not JSON ({err})") from None
    for field in ("seed", "task_offset", "env", "split"):
        if field not in record:
            raise UserError(f"{record_file}: no {field!r} field; expected the run.json an eval writes")
    try:
        episodes = per_episode(read_episodes(path))
    except ValueError as err:
        raise UserError(str(err)) from None
    episodes["env_seed"] = int(record["seed"]) + int(record["task_offset"]) + episodes["episode"].astype(int)
    return PlayedRun(path, record, episodes)


def check_same_tasks(runs: list[PlayedRun]) -> None:
    """Refuse runs whose episodes are not the same tasks: another env, split, data or protocol."""
    first = runs[0]
    for run in runs[1:]:
        for field in SAME_TASKS:
            if run.record.get(field) != first.record.get(field):
                raise UserError(f"{run.path}: {field} {run.record.get(field)!r} differs from {first.path}'s "
                                f"{first.record.get(field)!r}; compared runs must play the same tasks")
        for key in DATA_KEYS:
            ours, theirs = (r.record.get("data", {}).get(key) for r in (run, first))
            if ours != theirs:
                raise UserError(f"{run.path}: data.{key} {ours!r} differs from {first.path}'s {theirs!r}; "
                                "compared runs must play the same data")


def outcome_matrix(runs: list[PlayedRun], keys: list[tuple[str, int]], column: str) -> np.ndarray:
    """[runs, keys]: each run's ``column`` on each shared (task id, env seed)."""
    rows = []
    for run in runs:
        by_key = run.episodes.set_index(["task_id", "env_seed"])[column].astype(float)  # one episode a key
        rows.append(by_key.reindex(keys).to_numpy())
    return np.array(rows, dtype=float).reshape(len(runs), len(keys))


def compare(arm_a: list[PlayedRun], arm_b: list[PlayedRun], labels: tuple[str, str],
            n_boot: int = 10_000, seed: int = 0) -> tuple[list[Comparison], dict[str, Any]]:
    """``labels[0]`` − ``labels[1]`` on success and score over the episodes every run of both arms played,
    and the facts beside it (shared episodes, each arm's means, tasks only one arm won)."""
    runs = arm_a + arm_b
    check_same_tasks(runs)
    keys = sorted(set.intersection(*(r.keys for r in runs)))
    if not keys:
        raise UserError("the runs share no (task id, env seed): they played different tasks (another seed or "
                        "task_offset); nothing to pair")
    out, facts = [], {"episodes": len(keys), "played": {str(r.path): len(r.episodes) for r in runs}}
    for metric, column in PAIRED_METRICS.items():
        a, b = outcome_matrix(arm_a, keys, column), outcome_matrix(arm_b, keys, column)
        draws = two_level_bootstrap(a, b, n_boot=n_boot, seed=seed)
        low, high = percentile_interval(draws)
        out.append(Comparison(
            str(runs[0].record["env"]), "", labels[0], labels[1], metric, mean=point_estimate(a, b), low=low,
            high=high, tasks=len(keys), seeds=(len(arm_a), len(arm_b)), p_value=bootstrap_p_value(draws),
            gamma=0.05, primary=True, family=0, no_signal=not a.any() and not b.any()))
        facts[metric] = {labels[0]: float(a.mean()), labels[1]: float(b.mean())}
        if metric == "success":
            a_task, b_task = a.mean(axis=0), b.mean(axis=0)
            facts["only_won_by"] = {labels[0]: int(((a_task > 0) & (b_task == 0)).sum()),
                                    labels[1]: int(((b_task > 0) & (a_task == 0)).sum())}
    return out, facts


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Two arms (run directories, seeds of one arm joined by commas) and the bootstrap's settings."""
    parser.add_argument("arms", nargs=2, metavar="RUN[,RUN...]",
                        help="the two arms: an eval run directory, or one per training seed joined by commas")
    parser.add_argument("--labels", default=None,
                        help="names of the two arms, comma-separated (default: each arm's first directory's "
                        "name)")
    parser.add_argument("--boot", type=int, default=10_000, help="bootstrap draws")
    parser.add_argument("--seed", type=int, default=0, help="the bootstrap's random seed")
    parser.add_argument("--json", default=None, help="also write the comparison to this JSON file")


def run(args: argparse.Namespace) -> int:
    """Print (and with ``--json`` write) the paired comparison of the two arms."""
    arms = [[load_run(p) for p in arm.split(",") if p] for arm in args.arms]
    if any(not arm for arm in arms):
        raise UserError(f"arms {args.arms}: each needs at least one run directory")
    labels = tuple(args.labels.split(",")) if args.labels else tuple(arm[0].path.name for arm in arms)
    if len(labels) != 2 or labels[0] == labels[1]:
        raise UserError(f"--labels {args.labels!r}: expected two different names joined by a comma")
    if args.boot < 1:
        raise UserError(f"--boot {args.boot}: expected a positive number of draws")
    comparisons, facts = compare(arms[0], arms[1], labels, n_boot=args.boot, seed=args.seed)
    print(f"{labels[0]} − {labels[1]}, paired on {facts['episodes']} episodes (task id, env seed) that every "
          f"run played; seeds {len(arms[0])} and {len(arms[1])} (resampled: {comparisons[0].resampled})")
    for c in comparisons:
        means = facts[c.metric]
        print(f"  {c.metric:<8} {means[labels[0]]:.3f} vs {means[labels[1]]:.3f}   difference {c.mean:+.3f} "
              f"[{c.low:+.3f}, {c.high:+.3f}] (95%)   {c.verdict}")
    won = facts["only_won_by"]
    print(f"  tasks only one arm won: {labels[0]} {won[labels[0]]}, {labels[1]} {won[labels[1]]}")
    if args.json:
        rows = [{"metric": c.metric, "difference": c.mean, "low": c.low, "high": c.high, "p_value": c.p_value,
                 "verdict": c.verdict} for c in comparisons]
        record = {"labels": labels, "facts": facts, "comparisons": rows}
        Path(args.json).write_text(json.dumps(record, indent=2))
    return 0
