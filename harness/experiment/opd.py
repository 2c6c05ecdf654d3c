"""On-policy distillation in rounds (issue 18): the student plays, the teacher scores its tokens, the
student learns on its own episodes; repeat.

    run_opd(env="webshop", method="opd", student=initial_dir, teacher=teacher_dir, out=students_dir,
            schedule=OPDSchedule(rounds=3, guide="teacher"), train_settings={...}, agent_kwargs={...},
            max_steps=15, workers=2, seed=0)

Round r:

1. rollouts: the current student (round 0: ``student``, the initial student of the off-policy methods;
   round r: round r-1's model) plays ``episodes_per_round`` train-split episodes through
   :func:`harness.evaluate.evaluate` (Ray env workers, the batched policy actor) as the ``guided`` agent
   (:mod:`agents.guided`): the guide plays a turn instead with probability :func:`guide_probability`,
   coins seeded by (seed, round, task, step), so ``opd`` and ``sad_opd`` of one seed see the same coins;
2. training: ``distill.config.METHODS[method]`` (``opd`` / ``sad_opd``) on those episodes from the current
   student, ``steps_per_round`` optimizer steps, the live ``teacher`` scoring every student token, the loss
   on the first :func:`depth_limit` turns of each episode (TCOD's depth curriculum; 0 = all);
3. the round's record is written to ``round_<r>/DONE`` and appended to ``rounds.json``: round, method,
   guide, guide_p, depth_limit, steps (asked); episodes, success_rate, mean_score, guided_turn_fraction,
   rollout_s (the rollouts); student_tokens, scoring_s (the live teacher's forward passes), train_s and
   train_wall_s (the training, from its ``train_summary.json``; None where the trainer did not report one).

``out`` holds ``round_<r>/rollouts/`` (a harness run dir), ``round_<r>/model/`` (the training's output),
``round_<r>/DONE``, ``rounds.json`` and, once every round is done, the final model's files, so ``out`` is
a model directory like every other student's. Resumable: a round whose ``DONE`` exists is skipped (its
record must match what this call asks), finished rollouts of an unfinished round are kept
(``round_<r>/rollouts.json``), an unfinished training resumes from its checkpoint. Every JSON file is
written atomically.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agents.guided import GUIDES

ROUNDS_FILE = "rounds.json"
#: a finished round's marker, holding its record
DONE_FILE = "DONE"
#: an unfinished round's rollout record (rollouts done, training not yet)
ROLLOUTS_FILE = "rollouts.json"
#: env options the per-step expert of an env needs to relabel (ALFWorld's reads the engine planner's plan)
RELABEL_ENV_OPTIONS: dict[str, dict[str, Any]] = {"alfworld": {"expert_plan": True}}


@dataclass(frozen=True)
class OPDSchedule:
    """How many rounds, how much each plays and trains, and how the guide and the depth limit change."""

    rounds: int = 3
    episodes_per_round: int = 32  # student episodes on the train split per round
    steps_per_round: int = 60  # optimizer steps per round
    guide: str = "teacher"  # "teacher" | "expert" (DAgger: the per-step expert plays) | "none"
    guide_p0: float = 1.0  # P(guide plays a turn) in round 0, linear decay to 0 at the last round
    depth_curriculum: bool = False  # round r trains on the first k_r turns, k growing to all turns (TCOD)

    def __post_init__(self) -> None:
        for name in ("rounds", "episodes_per_round", "steps_per_round"):
            if getattr(self, name) < 1:
                raise ValueError(f"OPDSchedule.{name}={getattr(self, name)!r}: expected >= 1")
        if self.guide not in GUIDES:
            raise ValueError(f"OPDSchedule.guide={self.guide!r}: expected one of {', '.join(GUIDES)}")
        if not 0.0 <= self.guide_p0 <= 1.0:
            raise ValueError(f"OPDSchedule.guide_p0={self.guide_p0!r}: expected a probability in [0, 1]")


def _check_round(schedule: OPDSchedule, round_index: int) -> None:
    if not 0 <= round_index < schedule.rounds:
        raise ValueError(
            f"round {round_index}: expected 0..{schedule.rounds - 1} of {schedule.rounds} rounds"
        )


def guide_probability(schedule: OPDSchedule, round_index: int) -> float:
    """P(the guide plays a turn) in round ``round_index``: ``guide_p0`` in round 0, linearly down to 0 in
    the last round (Guided-OPD); 0 throughout with ``guide="none"`` or a single round."""
    _check_round(schedule, round_index)
    if schedule.guide == "none" or schedule.rounds == 1:
        return 0.0
    return schedule.guide_p0 * (schedule.rounds - 1 - round_index) / (schedule.rounds - 1)


def depth_limit(schedule: OPDSchedule, round_index: int, max_steps: int) -> int:
    """The turns of each episode round ``round_index`` trains on, 0 = all: with the depth curriculum
    ceil(max_steps * (r + 1) / rounds), growing to all turns in the last round; without it, 0."""
    _check_round(schedule, round_index)
    if max_steps < 1:
        raise ValueError(f"max_steps={max_steps}: expected >= 1 env step per episode")
    if not schedule.depth_curriculum:
        return 0
    turns = math.ceil(max_steps * (round_index + 1) / schedule.rounds)
    return 0 if turns >= max_steps else turns


def run_opd(*, env: str, method: str, student: str | Path, teacher: Path, out: Path, schedule: OPDSchedule,
            train_settings: dict[str, Any], agent_kwargs: dict[str, Any], max_steps: int, workers: int,
            seed: int, in_flight: int | None = None) -> dict[str, Any]:
    """Play and train ``schedule.rounds`` rounds (see the module docstring) and return
    ``{"rounds": [record, ...], "model": out, "student_tokens", "rollout_s", "scoring_s", "train_s"}``
    (totals over the rounds; a timing is None when a round's training did not report it).

    ``train_settings``: options of the method's config (``distill.config``) besides data, out, model,
    teacher, max_steps and max_turns, which each round sets; ``agent_kwargs``: options of the LM agent the
    student and a teacher guide play with (``model`` is each round's student); ``in_flight``: episodes played
    at once (None: evaluate's default), as the other LM stages of the pipeline play them."""
    from distill.config import METHODS, OPDConfig

    on_policy = sorted(name for name, cls in METHODS.items() if issubclass(cls, OPDConfig))
    if method not in on_policy:
        raise ValueError(f"method {method!r}: expected an on-policy method ({', '.join(on_policy)})")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    records: list[dict[str, Any]] = []
    current = str(student)
    for r in range(schedule.rounds):
        folder = out / f"round_{r}"
        asked = {"round": r, "method": method, "guide": schedule.guide,
                 "guide_p": guide_probability(schedule, r),
                 "depth_limit": depth_limit(schedule, r, max_steps), "steps": schedule.steps_per_round}
        done = folder / DONE_FILE
        if done.is_file():
            record = _finished_round(done, asked)
        else:
            rollouts = _play_round(folder, env=env, model=current, teacher=teacher, schedule=schedule,
                                   asked=asked, agent_kwargs=agent_kwargs, max_steps=max_steps,
                                   workers=workers, seed=seed, in_flight=in_flight)
            trained = _train_round(folder, method=method, model=current, teacher=teacher, asked=asked,
                                   train_settings=train_settings, seed=seed)
            record = {**asked, **rollouts, **trained}
            _write_json(done, record)
        records.append(record)
        _write_json(out / ROUNDS_FILE, records)
        current = str(folder / "model")
    _install_model(Path(current), out)

    def total(key: str) -> float | None:
        values = [rec.get(key) for rec in records]
        return None if any(v is None for v in values) else round(sum(values), 3)

    totals = {key: total(key) for key in ("student_tokens", "rollout_s", "scoring_s", "train_s")}
    return {"rounds": records, "model": str(out), **totals}


def _finished_round(done: Path, asked: dict[str, Any]) -> dict[str, Any]:
    """The record of a finished round; an error naming the marker when it was asked something else."""
    try:
        record = json.loads(done.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"{done}: not a readable round record ({err}); delete it to redo the round") \
            from None
    changed = [f"{key}: was {record.get(key)!r}, now {value!r}" for key, value in asked.items()
               if record.get(key) != value]
    if changed:
        raise ValueError(f"{done} records a round played with other settings ({'; '.join(changed)}); "
                         f"use another output directory or delete {done.parent}")
    return record


def _play_round(folder: Path, *, env: str, model: str, teacher: Path, schedule: OPDSchedule,
                asked: dict[str, Any], agent_kwargs: dict[str, Any], max_steps: int, workers: int,
                seed: int, in_flight: int | None) -> dict[str, Any]:
    """The round's rollouts (kept in ``rollouts.json`` once finished): the guided student, train split."""
    from harness.evaluate import evaluate
    from harness.logs import read_episodes

    played = folder / ROLLOUTS_FILE
    if played.is_file():
        return json.loads(played.read_text())
    env_kwargs = {"max_steps": max_steps}
    if schedule.guide == "expert":
        env_kwargs.update(RELABEL_ENV_OPTIONS.get(env, {}))
    kwargs = {**agent_kwargs, "model": model, "guide": schedule.guide, "guide_p": asked["guide_p"],
              "round_index": asked["round"], "seed": seed}
    if schedule.guide == "teacher":
        kwargs["teacher"] = str(teacher)
    run_dir = (folder / "rollouts").absolute()
    began = time.perf_counter()
    summary = evaluate(env, "guided", split="train", episodes=schedule.episodes_per_round, workers=workers,
                       run=str(run_dir), seed=seed, env_kwargs=env_kwargs, agent_kwargs=kwargs,
                       in_flight=in_flight, progress=False,
                       command=["run_opd", env, f"round={asked['round']}"])
    rollout_s = time.perf_counter() - began
    steps = read_episodes(run_dir)
    steps = steps[steps["error"] == ""]
    rollouts = {
        "episodes": int(summary["episodes"]), "success_rate": float(summary["success_rate"]),
        "mean_score": float(summary["mean_score"]),
        "guided_turn_fraction": float(steps["guided"].mean()) if len(steps) else 0.0,
        "rollout_s": round(rollout_s, 3),
    }
    _write_json(played, rollouts)
    return rollouts


def _train_round(folder: Path, *, method: str, model: str, teacher: Path, asked: dict[str, Any],
                 train_settings: dict[str, Any], seed: int) -> dict[str, Any]:
    """The round's training from ``model`` on its rollouts; its token count and time split."""
    from distill.config import METHODS
    from distill.train import train

    model_dir = folder / "model"
    resume = (model_dir / "checkpoints" / "last.pt").is_file()  # an interrupted training of this round
    settings = {"seed": seed, **train_settings, "model": model, "teacher": str(teacher),
                "max_steps": asked["steps"], "max_turns": asked["depth_limit"]}
    config = METHODS[method](data=[str(folder / "rollouts")], out=str(model_dir), resume=resume,
                             overwrite=not resume, **settings)
    began = time.perf_counter()
    train(config)
    wall_s = time.perf_counter() - began
    summary = json.loads((model_dir / "train_summary.json").read_text())
    return {"student_tokens": summary.get("student_tokens"), "scoring_s": summary.get("teacher_forward_s"),
            "train_s": summary.get("train_s"), "train_wall_s": round(wall_s, 3)}


def _install_model(model_dir: Path, out: Path) -> None:
    """Copy the final round's model files (not its checkpoints or logs folders) into ``out``, each
    through a temp file and a rename."""
    for file in sorted(model_dir.iterdir()):
        if not file.is_file():
            continue
        fd, tmp = tempfile.mkstemp(prefix=f".{file.name}.", suffix=".tmp", dir=out)
        os.close(fd)
        try:
            shutil.copy2(file, tmp)
            os.replace(tmp, out / file.name)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def _write_json(path: Path, payload: Any) -> None:
    """``payload`` as JSON in ``path``, through a temp file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(payload, indent=2) + "\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
