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
   coins seeded by (seed, round, task, step), so ``opd`` and ``sad_opd`` of one seed see the same coins.
   Round r plays the tasks from :func:`task_offset` = r × ``episodes_per_round`` of the train split's task
   order on (env seeds following the offset: ``seed + offset + i``), so no task is played twice across the
   rounds until the split runs out (the order then wraps around, recorded as ``tasks_wrapped``). The
   student's turns are sampled at ``rollout_temperature`` (default 1: its own distribution, not its argmax)
   by a sampler per episode seeded by ``seed`` and the task id (``agents.lm``), so a round played again
   replays the same rollouts whatever the batches and workers; evaluation elsewhere stays greedy;
2. training: ``distill.config.METHODS[method]`` (``opd`` / ``sad_opd``) on those episodes, the live
   ``teacher`` scoring every student token, guided turns trained with the config's ``guided_loss``
   (default forward KL to the teacher: token-KD on those turns), the loss on the first :func:`depth_limit`
   turns of each episode (TCOD's depth curriculum; 0 = all). All rounds are one training: one AdamW state
   and one LR schedule (one warm-up, one cosine decay) over ``rounds × steps_per_round`` steps. Round r
   continues round r-1's training (its checkpoint, metrics.csv and init model copied into
   ``round_<r>/model``) on the new rollouts up to step (r + 1) × ``steps_per_round`` (the trainer's
   ``resume`` with ``stop_at_step``; only data, out and max_turns may differ from the checkpoint's
   settings); the model the next round plays is saved from the round's checkpoint, the last round's by the
   trainer itself;
3. the round's record is written to ``round_<r>/DONE`` and appended to ``rounds.json``: round, method,
   guide, guide_p, depth_limit, steps (asked this round), total_steps (of the one schedule), task_offset,
   rollout_temperature; episodes, tasks_wrapped, success_rate, mean_score, guided_turn_fraction, rollout_s
   (the rollouts); student_tokens (in the loss this round, from metrics.csv), scoring_s (the live teacher's
   forward passes, or the served teacher's scoring), train_s and train_wall_s (the training, from its
   ``train_summary.json``; None where the trainer did not report one or the training had finished in an
   earlier call), guided_loss, teacher_url (None, or the served teacher's URL) and teacher_signal
   (``"logits"``: the live teacher's full logits on the student's tokens; ``"served_topk"`` with
   ``teacher_topk``: a served teacher's top-k, where an off-policy student's ``train_summary.json`` says
   ``"topk"`` for logged top-k).

A served teacher: ``teacher_url`` (and ``teacher_topk``, ``teacher_model``) in ``train_settings`` instead of a
``teacher`` directory (``teacher=None``; with ``guide="teacher"`` a teacher directory still plays the guide's
turns in process): each round's training sends the student's sequences to that vLLM server, whose prompt
log-probs give the top-k at every student token (:func:`distill.train.score_served`), trained as logged
top-k (forward KL only).

``out`` holds ``round_<r>/rollouts/`` (a harness run dir), ``round_<r>/model/`` (the training's output),
``round_<r>/DONE``, ``rounds.json`` and, once every round is done, the final model's files, so ``out`` is
a model directory like every other student's. Resumable: a round whose ``DONE`` exists is skipped (its
record must match what this call asks), finished rollouts of an unfinished round are kept
(``round_<r>/rollouts.json``, checked likewise), an unfinished training resumes from its checkpoint. Every
JSON file is written atomically.
"""
from __future__ import annotations

import csv
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
#: what of round r-1's training output round r continues from (the saved model is not: it is replaced)
CONTINUED = ("checkpoints", "init", "tb", "metrics.csv")
#: training settings a round may change from the checkpoint it continues (its data and out, the depth limit)
ROUND_CHANGES = frozenset({"data", "out", "max_turns"})


@dataclass(frozen=True)
class OPDSchedule:
    """How many rounds, how much each plays and trains, and how the guide and the depth limit change."""

    rounds: int = 3
    episodes_per_round: int = 32  # student episodes on the train split per round
    steps_per_round: int = 60  # optimizer steps per round
    guide: str = "teacher"  # "teacher" | "expert" (DAgger: the per-step expert plays) | "none"
    guide_p0: float = 1.0  # P(guide plays a turn) in round 0, linear decay to 0 at the last round
    depth_curriculum: bool = False  # round r trains on the first k_r turns, k growing to all turns (TCOD)
    rollout_temperature: float = 1.0  # the student's sampling temperature in the rollouts (0: greedy)

    def __post_init__(self) -> None:
        for name in ("rounds", "episodes_per_round", "steps_per_round"):
            if getattr(self, name) < 1:
                raise ValueError(f"OPDSchedule.{name}={getattr(self, name)!r}: expected >= 1")
        if not 0.0 <= self.rollout_temperature < math.inf:
            raise ValueError(f"OPDSchedule.rollout_temperature={self.rollout_temperature!r}: expected a "
                             "finite number >= 0 (0: greedy)")
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


def task_offset(schedule: OPDSchedule, round_index: int) -> int:
    """Where in the train split's task order round ``round_index`` starts: r × ``episodes_per_round``, so
    the rounds play disjoint tasks until the split runs out (the order then wraps around)."""
    _check_round(schedule, round_index)
    return round_index * schedule.episodes_per_round


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


def run_opd(*, env: str, method: str, student: str | Path, teacher: Path | None, out: Path,
            schedule: OPDSchedule,
            train_settings: dict[str, Any], agent_kwargs: dict[str, Any], max_steps: int, workers: int,
            seed: int, in_flight: int | None = None) -> dict[str, Any]:
    """Play and train ``schedule.rounds`` rounds (see the module docstring) and return
    ``{"rounds": [record, ...], "model": out, "student_tokens", "rollout_s", "scoring_s", "train_s",
    "teacher_signal"}`` (totals over the rounds; a timing is None when a round's training did not report it).

    ``train_settings``: options of the method's config (``distill.config``) besides data, out, model,
    teacher, max_steps, stop_at_step and max_turns, which each round sets (``teacher_url``: a served teacher
    scores the student's tokens, ``teacher`` may then be None); ``agent_kwargs``: options of the LM agent the
    student and a teacher guide play with (``model`` is each round's student); ``in_flight``: episodes played
    at once (None: evaluate's default), as the other LM stages of the pipeline play them."""
    from agents.redact import redact_url
    from distill.config import METHODS, OPDConfig

    on_policy = sorted(name for name, cls in METHODS.items() if issubclass(cls, OPDConfig))
    if method not in on_policy:
        raise ValueError(f"method {method!r}: expected an on-policy method ({', '.join(on_policy)})")
    teacher_url = train_settings.get("teacher_url") or None
    if teacher is None and teacher_url is None:
        raise ValueError("teacher: None and no teacher_url in train_settings; expected a teacher directory "
                         "or a served teacher's URL to score the student's tokens")
    if teacher is None and schedule.guide == "teacher":
        raise ValueError("guide='teacher' plays the teacher's turns in process: pass teacher=DIR, or use "
                         "guide='expert' or 'none' with a served teacher alone")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    records: list[dict[str, Any]] = []
    current = str(student)
    for r in range(schedule.rounds):
        folder = out / f"round_{r}"
        asked = {"round": r, "method": method, "guide": schedule.guide,
                 "guide_p": guide_probability(schedule, r),
                 "depth_limit": depth_limit(schedule, r, max_steps), "steps": schedule.steps_per_round,
                 "total_steps": schedule.rounds * schedule.steps_per_round,
                 "task_offset": task_offset(schedule, r), "rollout_temperature": schedule.rollout_temperature,
                 "teacher_url": redact_url(teacher_url) if teacher_url else None}
        done = folder / DONE_FILE
        if done.is_file():
            record = _checked_record(done, asked)
        else:
            rollouts = _play_round(folder, env=env, model=current, teacher=teacher, schedule=schedule,
                                   asked=asked, agent_kwargs=agent_kwargs, max_steps=max_steps,
                                   workers=workers, seed=seed, in_flight=in_flight)
            previous = out / f"round_{r - 1}" / "model" if r else None
            trained = _train_round(folder, previous, method=method, student=str(student), teacher=teacher,
                                   asked=asked, train_settings=train_settings, seed=seed)
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
    signal = records[-1].get("teacher_signal")
    return {"rounds": records, "model": str(out), **totals, "teacher_signal": signal}


def _checked_record(path: Path, asked: dict[str, Any]) -> dict[str, Any]:
    """The record in ``path`` (a finished round's ``DONE`` or its ``rollouts.json``); an error naming the file
    when it was asked something else."""
    try:
        record = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: not a readable round record ({err}); delete it to redo the round") \
            from None
    changed = [f"{key}: was {record.get(key)!r}, now {value!r}" for key, value in asked.items()
               if record.get(key) != value]
    if changed:
        raise ValueError(f"{path} records a round played with other settings ({'; '.join(changed)}); "
                         f"use another output directory or delete {path.parent}")
    return record


def _play_round(folder: Path, *, env: str, model: str, teacher: Path | None, schedule: OPDSchedule,
                asked: dict[str, Any], agent_kwargs: dict[str, Any], max_steps: int, workers: int,
                seed: int, in_flight: int | None) -> dict[str, Any]:
    """The round's rollouts (kept in ``rollouts.json`` once finished): the guided student, sampling at the
    schedule's temperature, on the train split's tasks from the round's task offset on."""
    from harness.evaluate import evaluate
    from harness.logs import read_episodes
    from harness.tasks import planned_tasks

    played = folder / ROLLOUTS_FILE
    if played.is_file():
        record = _checked_record(played, asked)
        return {key: value for key, value in record.items() if key not in asked}
    env_kwargs = {"max_steps": max_steps}
    if schedule.guide == "expert":
        env_kwargs.update(RELABEL_ENV_OPTIONS.get(env, {}))
    kwargs = {**agent_kwargs, "model": model, "guide": schedule.guide, "guide_p": asked["guide_p"],
              "round_index": asked["round"], "seed": seed, "temperature": asked["rollout_temperature"]}
    if schedule.guide == "teacher":
        kwargs["teacher"] = str(teacher)
    offset, episodes = asked["task_offset"], schedule.episodes_per_round
    so_far = planned_tasks(env, "train", env_kwargs, offset + episodes)  # every round's tasks up to this one
    run_dir = (folder / "rollouts").absolute()
    began = time.perf_counter()
    summary = evaluate(env, "guided", split="train", episodes=episodes, workers=workers, run=str(run_dir),
                       seed=seed, task_offset=offset, env_kwargs=env_kwargs, agent_kwargs=kwargs,
                       in_flight=in_flight, progress=False,
                       command=["run_opd", env, f"round={asked['round']}"])
    rollout_s = time.perf_counter() - began
    steps = read_episodes(run_dir)
    steps = steps[steps["error"] == ""]
    rollouts = {
        "episodes": int(summary["episodes"]), "tasks_wrapped": len(set(so_far)) < len(so_far),
        "success_rate": float(summary["success_rate"]), "mean_score": float(summary["mean_score"]),
        "guided_turn_fraction": float(steps["guided"].mean()) if len(steps) else 0.0,
        "rollout_s": round(rollout_s, 3),
    }
    _write_json(played, {**asked, **rollouts})
    return rollouts


def _train_round(folder: Path, previous: Path | None, *, method: str, student: str, teacher: Path | None,
                 asked: dict[str, Any], train_settings: dict[str, Any], seed: int) -> dict[str, Any]:
    """The round's part of the one training on its rollouts: round 0 starts it from ``student``, round r
    continues ``previous`` (round r-1's training output) up to step (r + 1) × steps; its token count, time
    split, guided-turn loss and teacher signal."""
    from distill.config import METHODS
    from distill.train import train

    model_dir = folder / "model"
    checkpoint = model_dir / "checkpoints" / "last.pt"
    if previous is not None and not checkpoint.is_file():
        _continue_training(previous, model_dir)
    resume = checkpoint.is_file()  # round r > 0, or an interrupted training of this round
    first, stop = asked["round"] * asked["steps"], (asked["round"] + 1) * asked["steps"]
    settings = {"seed": seed, **train_settings, "model": student,
                "teacher": str(teacher) if teacher else None, "max_steps": asked["total_steps"],
                "stop_at_step": stop, "max_turns": asked["depth_limit"]}
    config = METHODS[method](data=[str(folder / "rollouts")], out=str(model_dir), resume=resume,
                             overwrite=not resume, allow_changes=resume, **settings)
    summary_file = model_dir / "train_summary.json"
    finished = resume and summary_file.is_file() and json.loads(summary_file.read_text()).get("steps") == stop
    wall_s = None
    if not finished:  # a training that reached its step in an earlier call is not run again
        if resume:
            _check_continuation(config, folder)
        began = time.perf_counter()
        train(config)
        wall_s = round(time.perf_counter() - began, 3)
    if stop < asked["total_steps"]:
        from distill.train import export_checkpoint

        export_checkpoint(config, model_dir)
    summary = json.loads(summary_file.read_text())
    return {"student_tokens": _loss_tokens(model_dir / "metrics.csv", first, stop),
            "scoring_s": summary.get("teacher_forward_s"), "train_s": summary.get("train_s"),
            "train_wall_s": wall_s, "guided_loss": config.guided_loss,
            "teacher_signal": summary.get("teacher_signal"), "teacher_topk": summary.get("teacher_topk")}


def _continue_training(previous: Path, model_dir: Path) -> None:
    """Start ``model_dir`` as a copy of round r-1's training state (:data:`CONTINUED`), through a temp folder
    and a rename, so that this round's training continues it (one optimizer state, one LR schedule)."""
    if not (previous / "checkpoints" / "last.pt").is_file():
        raise ValueError(f"{previous}/checkpoints/last.pt: the previous round's training left no checkpoint "
                         f"to continue; delete {previous.parent} to redo that round")
    tmp = Path(tempfile.mkdtemp(prefix=".model.", dir=model_dir.parent))
    try:
        for name in CONTINUED:
            if (previous / name).is_dir():
                shutil.copytree(previous / name, tmp / name)
            elif (previous / name).is_file():
                shutil.copy2(previous / name, tmp / name)
        if model_dir.exists():  # no checkpoint there: nothing of this round's training to keep
            shutil.rmtree(model_dir)
        os.replace(tmp, model_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _check_continuation(config: Any, folder: Path) -> None:
    """Refuse to continue a checkpoint trained with other settings than :data:`ROUND_CHANGES` (the trainer
    is told ``allow_changes`` for those alone)."""
    from distill.train import checkpoint_dir, read_checkpoint, settings_changes

    saved = read_checkpoint(config, mmap=True)["config"]
    other = [change for change in settings_changes(saved, config)
             if change.split(":", 1)[0] not in ROUND_CHANGES]
    if other:
        raise ValueError(f"{checkpoint_dir(config) / 'last.pt'} was trained with other settings "
                         f"({'; '.join(other)}); use another output directory or delete {folder}")


def _loss_tokens(metrics: Path, first: int, last: int) -> int | None:
    """Completion tokens in the loss over steps ``first`` + 1 .. ``last`` (the ``loss_tokens`` column of the
    trainer's ``metrics.csv``); None without the file."""
    if not metrics.is_file():
        return None
    with metrics.open() as f:
        rows = [row for row in csv.DictReader(f) if first < int(row["step"]) <= last]
    return int(sum(float(row.get("loss_tokens") or 0) for row in rows))


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
