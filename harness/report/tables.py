"""The report's numbers: one :class:`Row` per agent (expert, teacher, random agent, each student
size x method x variant) with its closed-loop metrics per seed, the offline metrics of students,
parameters and compression; formatted as markdown and CSV tables; stage wall times, training
curves and sample trajectories. Rows report mean ± std over seeds and a 95% bootstrap interval on
success over the test tasks (each task's success averaged over seeds first: every seed plays the same
tasks with the same env seeds, so episodes of different seeds are not independent draws).
"""
from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from distill.models import count_parameters
from harness.errors import UserError
from harness.experiment.layout import (
    MANIFEST,
    OFFLINE_METRICS,
    ROUNDS,
    STAGE_MARKER,
    STUDENT_DESCRIPTION,
    TRAIN_SUMMARY,
    Layout,
    read_manifest,
)
from harness.experiment.lr_grid import read_choices
from harness.experiment.offline_metrics import compression_ratio
from harness.experiment.presets import model_name
from harness.logs import read_episodes
from harness.metrics import bootstrap_ci, per_episode, per_task_means

#: method order in tables and plots
METHOD_ORDER = ("sad", "token_kd", "sft", "sad_opd", "opd")
METHOD_TITLES = {"sad": "SAD (span KL)", "token_kd": "token-level KD", "sft": "imitation (SFT)",
                 "opd": "on-policy KD (OPD)", "sad_opd": "on-policy SAD (span OPD)"}


# --- per-run numbers ------------------------------------------------------------------------------


def run_metrics(episodes: pd.DataFrame) -> dict[str, float]:
    """Closed-loop numbers of one evaluation run from its :func:`harness.metrics.per_episode` table (an
    episode that errored out counts as lost)."""
    steps = float(episodes["steps"].sum())
    return {
        "episodes": float(len(episodes)),
        "wins": float(episodes["won"].sum()),
        "success": float(episodes["won"].mean()),
        "score": float(episodes["score"].mean()),
        "steps": float(episodes["steps"].mean()),
        "invalid": float(episodes["invalid_rate"].mean()),
        "latency_ms": 1000.0 * float(episodes["agent_s"].sum()) / steps if steps else float("nan"),
        "reason_len": float(episodes["reason_per_step"].mean()),
    }


# --- rows -----------------------------------------------------------------------------------------

#: the numbers a row reports, each as mean ± std over seeds
METRICS = (
    "success",
    "score",
    "steps",
    "invalid",
    "latency_ms",
    "reason_len",
    "action_match",
    "reasoning_match",
    "student_tokens",
)

#: the per-round fields of ``rounds.json`` the report reads
ROUND_FIELDS = ("round", "guide", "guide_p", "depth_limit", "episodes", "success_rate", "mean_score",
                "guided_turn_fraction", "student_tokens", "rollout_s", "scoring_s", "train_s")


def read_rounds(model_dir: Path) -> list[dict[str, Any]]:
    """An on-policy student's ``rounds.json`` (one record per round, in round order); [] where the student
    has none (an off-policy method). A malformed file is an error naming it and the field."""
    path = Path(model_dir) / ROUNDS
    if not path.is_file():
        return []
    try:
        rounds = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise UserError(
            f"{path}: not valid JSON ({err}); expected the list of rounds run_opd writes"
        ) from None
    if not isinstance(rounds, list) or not all(isinstance(r, dict) for r in rounds):
        raise UserError(
            f"{path}: expected a JSON list with one object per round, got {type(rounds).__name__}"
        )
    for record in rounds:
        missing = [f for f in ROUND_FIELDS if f not in record]
        if missing:
            raise UserError(f"{path}: round {record.get('round', '?')} lacks {', '.join(missing)}; "
                            f"expected the fields {', '.join(ROUND_FIELDS)}")
    return sorted(rounds, key=lambda r: int(r["round"]))


#: what each trainer's ``teacher_signal`` means in the report
SIGNALS = {"topk": "logged top-k", "logits": "live logits", "served_topk": "served top-k",
           None: "teacher's tokens"}


def teacher_signal(model_dir: Path) -> str:
    """What the student learnt from: the on-policy rounds' ``teacher_signal`` (the live teacher, or a served
    teacher's top-k with its k), else the trainer's (``train_summary.json``: logged top-k, live logits, or
    none for imitation); "–" unrecorded."""
    rounds = read_rounds(model_dir)
    path = Path(model_dir) / TRAIN_SUMMARY
    if rounds:
        signal = rounds[-1].get("teacher_signal", "logits")  # on-policy rounds score with the live teacher
        if signal == "served_topk":
            return f"{SIGNALS[signal]} (k={rounds[-1].get('teacher_topk')})"
    elif path.is_file():
        signal = json.loads(path.read_text()).get("teacher_signal")
    else:
        return "–"
    return SIGNALS.get(signal, str(signal))


def student_tokens(model_dir: Path) -> float:
    """Completion tokens a student was trained on (in the loss, over all its steps): summed over the rounds
    of ``rounds.json`` for an on-policy student, else ``student_tokens`` of ``train_summary.json``; NaN where
    neither records it (a model trained before the field existed)."""
    rounds = read_rounds(model_dir)
    if rounds:
        counts = [r["student_tokens"] for r in rounds]
        return float("nan") if None in counts else float(sum(counts))
    path = Path(model_dir) / TRAIN_SUMMARY
    value = json.loads(path.read_text()).get("student_tokens") if path.is_file() else None
    return float(value) if value is not None else float("nan")


@dataclass
class Row:
    """One line of the comparison table: an agent, its runs (one per seed) and their numbers."""

    name: str
    kind: str  # "expert" | "teacher" | "baseline" | "student"
    env: str
    method: str = ""
    student: str = ""
    variant: str = ""
    seeds: list[int] = field(default_factory=list)
    eval_dirs: list[Path] = field(default_factory=list)
    model_dirs: list[Path] = field(default_factory=list)
    per_seed: list[dict[str, float]] = field(default_factory=list)
    episode_tables: list[pd.DataFrame] = field(default_factory=list)  # per_episode() of each eval dir
    rounds: list[list[dict[str, Any]]] = field(default_factory=list)  # students: rounds.json of each seed
    params: int | None = None
    compression: float | None = None
    signal: str = "–"  # students: what they learnt from (:func:`teacher_signal`)

    def mean(self, metric: str) -> float:
        values = [s[metric] for s in self.per_seed if metric in s and not math.isnan(s[metric])]
        return sum(values) / len(values) if values else float("nan")

    def std(self, metric: str) -> float:
        values = [s[metric] for s in self.per_seed if metric in s and not math.isnan(s[metric])]
        if len(values) < 2:
            return float("nan")
        mu = sum(values) / len(values)
        return math.sqrt(sum((v - mu) ** 2 for v in values) / (len(values) - 1))

    @property
    def episodes(self) -> int:
        return int(sum(s.get("episodes", 0) for s in self.per_seed))

    def task_means(self, column: str) -> pd.Series:
        """task_id -> ``column`` averaged over this row's seeds and repeats of the task."""
        return per_task_means(self.episode_tables, column)

    def success_interval(self) -> tuple[float, float]:
        """95% bootstrap interval of success over the tasks (per-task success averaged over seeds)."""
        return bootstrap_ci(self.task_means("won").to_numpy(), n_boot=10_000)

    @property
    def tasks(self) -> int:
        return len(self.task_means("won"))


def _student_meta(layout: Layout, label: str) -> dict[str, Any]:
    path = layout.student(label) / STUDENT_DESCRIPTION
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: missing; every student_eval/{label} needs the student's description there"
        )
    return json.loads(path.read_text())


def _row_sort_key(row: Row) -> tuple:
    kinds = {"expert": 0, "teacher": 1, "baseline": 2, "student": 3}
    method = METHOD_ORDER.index(row.method) if row.method in METHOD_ORDER else len(METHOD_ORDER)
    return kinds.get(row.kind, 9), -(row.params or 0), method, row.variant, row.name


def collect_rows(root: Path) -> list[Row]:
    """Every finished evaluation of one env's pipeline directory as table rows (unfinished ones left out)."""
    layout = Layout(Path(root))
    env = read_manifest(layout.root)["env"]
    rows: list[Row] = []
    teacher_params = count_parameters(layout.teacher) if any(layout.teacher.glob("*.safetensors")) else None

    def finished(run_dir: Path) -> bool:
        return (run_dir / "episodes.parquet").is_file() and (run_dir / "summary.json").is_file()

    if finished(layout.baseline("expert")):
        rows.append(Row("expert (scripted)", "expert", env, eval_dirs=[layout.baseline("expert")]))
    if finished(layout.teacher_eval):
        rows.append(
            Row(
                "teacher",
                "teacher",
                env,
                eval_dirs=[layout.teacher_eval],
                model_dirs=[layout.teacher],
                params=teacher_params,
                compression=1.0 if teacher_params else None,
            )
        )
    if finished(layout.teacher_eval_free):
        rows.append(Row("teacher, free decoding", "teacher", env, eval_dirs=[layout.teacher_eval_free],
                        model_dirs=[layout.teacher], params=teacher_params))
    baselines = sorted(p.name for p in (layout.root / "baselines").glob("*") if p.name != "expert")
    for agent in baselines:
        if finished(layout.baseline(agent)):
            name = "random agent" if agent == "random" else f"{agent} (scripted)"
            rows.append(Row(name, "baseline", env, eval_dirs=[layout.baseline(agent)]))

    students: dict[tuple[str, str, str], Row] = {}
    for eval_dir in sorted(p for p in (layout.root / "student_eval").glob("*") if p.is_dir()):
        if not finished(eval_dir):
            continue
        meta = _student_meta(layout, eval_dir.name)
        student = model_name(meta["student"])
        key = (student, meta["method"], meta.get("variant", ""))
        if key not in students:
            variant = f" ({meta['variant']})" if meta.get("variant") else ""
            students[key] = Row(
                f"{student} · {meta['method']}{variant}",
                "student",
                env,
                method=meta["method"],
                student=student,
                variant=meta.get("variant", ""),
            )
        row = students[key]
        row.seeds.append(int(meta["seed"]))
        row.eval_dirs.append(eval_dir)
        row.model_dirs.append(layout.student(eval_dir.name))
    rows.extend(students.values())

    for row in rows:
        for i, eval_dir in enumerate(row.eval_dirs):
            episodes = per_episode(read_episodes(eval_dir))
            row.episode_tables.append(episodes)
            numbers = run_metrics(episodes)
            if row.kind == "student":
                offline_path = layout.offline(eval_dir.name) / OFFLINE_METRICS
                if offline_path.is_file():
                    offline = json.loads(offline_path.read_text())
                    numbers["action_match"] = float(offline["action_match"])
                    numbers["reasoning_match"] = float(offline["reasoning_match"])
                numbers["student_tokens"] = student_tokens(row.model_dirs[i])
                row.rounds.append(read_rounds(row.model_dirs[i]))
                if i == 0:
                    row.signal = teacher_signal(row.model_dirs[0])
                if i == 0 and any(row.model_dirs[0].glob("*.safetensors")):
                    row.params = count_parameters(row.model_dirs[0])
                    if teacher_params:
                        row.compression = compression_ratio(teacher_params, row.params)
            row.per_seed.append(numbers)
    return sorted(rows, key=_row_sort_key)


# --- tables ---------------------------------------------------------------------------------------

TABLE_COLUMNS = ("agent", "teacher signal", "params", "compression", "success", "95% CI (tasks)", "score",
                 "steps", "invalid actions", "latency/step (ms)", "action match",
                 "reasoning match (ROUGE-L F)", "reasoning length (tok)", "student tokens trained", "tasks",
                 "episodes", "seeds")


TABLE_NOTE = (
    "Teacher signal: what a student learnt from (logged top-k of the teacher's rollouts, the live "
    "teacher's logits, or the teacher's tokens for imitation); rows with different signals compare the "
    "signal too. Success, score and the other numbers: mean ± std over training seeds (no ± with one "
    "seed); 95% CI (tasks): percentile bootstrap of success over the test tasks, each task's success "
    "averaged over seeds (all seeds and agents play the same tasks with the same env seeds). "
    "Action match / reasoning match: the student's greedy turn against the teacher's on held-out "
    "teacher states (test split). Reasoning length: tokens of thought per step (word pieces for agents "
    "without a tokenizer). Student tokens trained: completion tokens in the student's loss over all its "
    "optimizer steps (on-policy methods: summed over their rounds), the compute each method was given."
)


def format_mean_std(mean: float, std: float, digits: int = 2) -> str:
    """``mean ± std`` (just the mean when std is NaN: one seed; "–" when there is no value)."""
    if math.isnan(mean):
        return "–"
    return f"{mean:.{digits}f} ± {std:.{digits}f}" if not math.isnan(std) else f"{mean:.{digits}f}"


def format_count(mean: float, std: float) -> str:
    """A count as ``812k ± 3k`` / ``1.20M`` (mean ± std over seeds; "–" when there is no value)."""
    if math.isnan(mean):
        return "–"
    scale, suffix, digits = (
        (1e6, "M", 2) if abs(mean) >= 1e6 else (1e3, "k", 0) if abs(mean) >= 1e4 else (1.0, "", 0)
    )

    def short(n: float) -> str:  # both numbers in the mean's unit
        return f"{n / scale:.{digits}f}{suffix}"

    return f"{short(mean)} ± {short(std)}" if not math.isnan(std) else short(mean)


def _params(n: int | None) -> str:
    if not n:
        return "–"
    return f"{n / 1e6:.1f}M" if n >= 1e6 else f"{n / 1e3:.0f}k"


def table_cells(row: Row) -> list[str]:
    """One row of the markdown/HTML table, formatted."""
    low, high = row.success_interval()
    return [
        row.name,
        row.signal,
        _params(row.params),
        f"{row.compression:.1f}×" if row.compression else "–",
        format_mean_std(row.mean("success"), row.std("success")),
        f"[{low:.2f}, {high:.2f}]" if not math.isnan(low) else "–",
        format_mean_std(row.mean("score"), row.std("score")),
        format_mean_std(row.mean("steps"), row.std("steps"), 1),
        format_mean_std(row.mean("invalid"), row.std("invalid")),
        format_mean_std(row.mean("latency_ms"), row.std("latency_ms"), 1),
        format_mean_std(row.mean("action_match"), row.std("action_match")),
        format_mean_std(row.mean("reasoning_match"), row.std("reasoning_match")),
        format_mean_std(row.mean("reason_len"), row.std("reason_len"), 1),
        format_count(row.mean("student_tokens"), row.std("student_tokens")),
        str(row.tasks),
        str(row.episodes),
        str(len(row.per_seed)),
    ]


def markdown_table(rows: list[Row]) -> str:
    """The comparison table in GitHub markdown."""
    lines = ["| " + " | ".join(TABLE_COLUMNS) + " |", "|" + "---|" * len(TABLE_COLUMNS)]
    lines += ["| " + " | ".join(table_cells(r)) + " |" for r in rows]
    return "\n".join(lines)


def csv_records(rows: list[Row]) -> list[dict[str, Any]]:
    """The comparison table as flat records: one column per number (mean, std, interval)."""
    records = []
    for row in rows:
        low, high = row.success_interval()
        record: dict[str, Any] = {"env": row.env, "agent": row.name, "kind": row.kind, "method": row.method,
                                  "student": row.student, "variant": row.variant,
                                  "teacher_signal": row.signal, "params": row.params or "",
                                  "compression": row.compression or "", "tasks": row.tasks,
                                  "episodes": row.episodes,
                                  "seeds": " ".join(map(str, row.seeds)), "success_ci_low": low,
                                  "success_ci_high": high}
        for metric in METRICS:
            record[f"{metric}_mean"] = row.mean(metric)
            record[f"{metric}_std"] = row.std(metric)
        records.append(record)
    return records


def write_csv(rows: list[Row], path: Path) -> None:
    records = csv_records(rows)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(records[0]) if records else ["env", "agent"])
        writer.writeheader()
        writer.writerows(records)


def stage_times(root: Path) -> list[tuple[str, float]]:
    """(stage, wall seconds summed over its units) from the completion markers under ``root``, in the
    order the stages finished; ``--env all`` stages read ``<env>/<stage>``."""
    root = Path(root)
    walls: dict[str, float] = {}
    last: dict[str, float] = {}
    for marker in root.rglob(STAGE_MARKER):
        data = json.loads(marker.read_text())
        parts = marker.parent.relative_to(root).parts
        nested = len(parts) > 1 and (root / parts[0] / MANIFEST).is_file()
        stage = "/".join(parts[:2] if nested else parts[:1])
        walls[stage] = walls.get(stage, 0.0) + float(data.get("wall_s", 0.0))
        last[stage] = max(last.get(stage, 0.0), float(data.get("finished_at", 0.0)))
    return [(stage, walls[stage]) for stage in sorted(walls, key=lambda s: last[s])]


def training_curves(root: Path) -> dict[str, pd.DataFrame]:
    """label -> that model's ``metrics.csv`` (the teacher's and each student's), where present."""
    layout = Layout(Path(root))
    curves = {}
    if (layout.teacher / "metrics.csv").is_file():
        curves["teacher (SFT)"] = pd.read_csv(layout.teacher / "metrics.csv")
    for path in sorted((layout.root / "students").glob("*/metrics.csv")):
        curves[path.parent.name] = pd.read_csv(path)
    return curves


#: held-out columns of metrics.csv the report tabulates at the last evaluation: column -> heading
FINAL_KL_COLUMNS = {
    "eval_kl_reason": "KL reason (full vocab)",
    "eval_kl_act": "KL act (full vocab)",
    "eval_bucket_kl_reason": "bucket KL reason (top-k, lower bound)",
    "eval_bucket_kl_act": "bucket KL act (top-k, lower bound)",
}


def final_kl_markdown(rows: list[Row]) -> str:
    """Each student row's held-out KL to the teacher at its last evaluation, mean ± std over seeds
    (full-vocabulary KL against the live teacher; bucket KL labelled as the lower bound it is)."""
    lines = ["| student | " + " | ".join(FINAL_KL_COLUMNS.values()) + " |",
             "|---|" + "---|" * len(FINAL_KL_COLUMNS)]
    for row in rows:
        if row.kind != "student":
            continue
        values: dict[str, list[float]] = {c: [] for c in FINAL_KL_COLUMNS}
        for model_dir in row.model_dirs:
            path = model_dir / "metrics.csv"
            frame = pd.read_csv(path) if path.is_file() else pd.DataFrame()
            for column in FINAL_KL_COLUMNS:
                logged = frame[column].dropna() if column in frame.columns else pd.Series(dtype=float)
                if len(logged):
                    values[column].append(float(logged.iloc[-1]))
        cells = []
        for column in FINAL_KL_COLUMNS:
            v = values[column]
            mean = sum(v) / len(v) if v else float("nan")
            std = math.sqrt(sum((x - mean) ** 2 for x in v) / (len(v) - 1)) if len(v) > 1 else float("nan")
            cells.append(format_mean_std(mean, std, 3))
        lines.append(f"| {row.name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


ROUND_COLUMNS = ("student", "seed", "round", "tasks from", "temperature", "guide", "guide p", "guide loss",
                 "depth limit", "episodes",
                 "success (train, own rollouts)", "score", "guided turns", "student tokens", "rollout (s)",
                 "scoring (s)", "training (s)")


def _number(value: Any, digits: int) -> str:
    """``value`` with ``digits`` decimals; "–" for None (a timing the trainer did not report)."""
    return "–" if value is None else f"{float(value):.{digits}f}"


def round_cells(rows: list[Row]) -> list[list[str]]:
    """One formatted line per round of every on-policy student row (each seed's ``rounds.json``)."""
    lines = []
    for row in rows:
        for seed, rounds in zip(row.seeds, row.rounds, strict=True):
            for r in rounds:
                depth = int(r["depth_limit"])
                tokens = float("nan") if r["student_tokens"] is None else float(r["student_tokens"])
                offset = r.get("task_offset")
                wrapped = " (wrapped)" if r.get("tasks_wrapped") else ""
                tasks_from = "–" if offset is None else f"{offset}{wrapped}"
                lines.append([row.name, str(seed), str(r["round"]), tasks_from,
                              _number(r.get("rollout_temperature"), 1), str(r["guide"]),
                              _number(r["guide_p"], 2), str(r.get("guided_loss", "–")),
                              str(depth) if depth else "all", str(r["episodes"]),
                              _number(r["success_rate"], 2), _number(r["mean_score"], 2),
                              _number(r["guided_turn_fraction"], 2), format_count(tokens, float("nan")),
                              *(_number(r[k], 1) for k in ("rollout_s", "scoring_s", "train_s"))])
    return lines


def rounds_markdown(rows: list[Row]) -> str:
    """The on-policy students' rounds in GitHub markdown ("" when no row has rounds)."""
    cells = round_cells(rows)
    if not cells:
        return ""
    lines = ["| " + " | ".join(ROUND_COLUMNS) + " |", "|" + "---|" * len(ROUND_COLUMNS)]
    return "\n".join(lines + ["| " + " | ".join(c) + " |" for c in cells])


ROUNDS_NOTE = (
    "Round r: the student of round r − 1 (round 0: the initial student every method starts from) plays "
    "the train split, a guide playing each turn instead with probability p (guided turns: their share); "
    "the live teacher scores the student's tokens (scoring), and the student trains on them (training). "
    "Success here is on the round's own train-split rollouts, guided turns included; the test success of "
    "the final model is the table's. Round r plays the train tasks from r x episodes on (tasks from), "
    "sampling at the temperature shown; the rounds are one training: one warm-up, one learning-rate "
    "schedule and one optimizer state continued from round to round."
)


LR_GRID_COLUMNS = ("student · method", "multiplier", "learning rate", "held-out success", "held-out score",
                   "episodes", "chosen")


def lr_grid_cells(root: Path) -> list[list[str]]:
    """One formatted line per learning-rate grid point of each size and method of one env's pipeline
    directory (``--lr-grid``; none without it), the chosen one marked."""
    manifest = read_manifest(Path(root))
    if "lr_grid" not in manifest:
        return []
    lines = []
    for record in read_choices(Path(root)):
        if record.get("method") not in manifest.get("methods", []):
            continue
        for point in record["points"]:
            chosen = "chosen" if point["multiplier"] == record["chosen_multiplier"] else ""
            name = f"{model_name(record['student'])} · {record['method']}"
            lines.append([name, f"×{point['multiplier']:g}", f"{point['lr']:.3g}",
                          _number(point["success_rate"], 2), _number(point["mean_score"], 2),
                          str(point["episodes"]), chosen])
    return lines


def lr_grid_markdown(root: Path) -> str:
    """The learning-rate grid in GitHub markdown, with the held-out tasks it played ("" without a grid)."""
    cells = lr_grid_cells(root)
    if not cells:
        return ""
    grid = read_manifest(Path(root))["lr_grid"]
    lines = ["| " + " | ".join(LR_GRID_COLUMNS) + " |", "|" + "---|" * len(LR_GRID_COLUMNS)]
    lines += ["| " + " | ".join(c) + " |" for c in cells]
    where = (f"Held-out tasks: the train split from position {grid.get('task_offset', '?')} of its task "
             f"order on (past every train task of the demos, teacher rollouts and on-policy rounds), seed "
             f"{grid.get('seed', '?')} students.")
    return "\n".join(lines) + "\n\n" + where


LR_GRID_NOTE = (
    "Learning-rate grid (--lr-grid): for each student size and method, the student of seed 0 trained at "
    "each multiple of the preset's student learning rate and played held-out train tasks that no model "
    "trained on and that are not test tasks; the chosen rate (best success, then mean score, then the "
    "multiplier nearest x1) is the one every student of that size and method in the tables trained at, "
    "every seed and ablation row."
)


# --- trajectories ---------------------------------------------------------------------------------


@dataclass
class Trajectory:
    """One episode of one agent, for the HTML report."""

    agent: str
    task_id: str
    task: str
    won: bool
    score: float
    steps: list[dict[str, Any]]  # observation, completion, reward per step


def sample_trajectories(rows: list[Row], n_tasks: int = 3, max_steps: int = 10) -> list[list[Trajectory]]:
    """For up to ``n_tasks`` test tasks that every row played (first seed), each row's episode on it,
    so a reader compares what each agent does on the same task."""
    logs = {row.name: read_episodes(row.eval_dirs[0]) for row in rows if row.eval_dirs}
    if not logs:
        return []
    common = None
    for df in logs.values():
        ids = list(dict.fromkeys(df.sort_values(["episode", "step"])["task_id"].astype(str)))
        common = ids if common is None else [t for t in common if t in set(ids)]
    groups = []
    for task_id in (common or [])[:n_tasks]:
        group = []
        for name, df in logs.items():
            ep_rows = df[df["task_id"].astype(str) == task_id]
            first_episode = ep_rows["episode"].min()
            ep = ep_rows[ep_rows["episode"] == first_episode].sort_values("step")
            last = ep.iloc[-1]
            task = str(ep.iloc[0]["task"]) if "task" in ep else ""
            steps = [
                {
                    "observation": str(r.observation),
                    "completion": str(r.completion),
                    "reward": float(r.reward),
                }
                for r in ep.head(max_steps).itertuples()
            ]
            group.append(Trajectory(name, task_id, task, bool(last["won"]), float(last["score"]), steps))
        groups.append(group)
    return groups
