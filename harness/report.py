"""A pipeline's report, rebuilt from its stored runs: ``report.md``, ``report.csv``, ``plots/*.png``
and ``report.html``. ``agentdistill report runs/<pipeline>`` (``make report RUN=...``).

The stored layout (written by :mod:`harness.pipeline`, read here) of ``runs/<pipeline>/``::

    pipeline.json                  the manifest: env, preset, seeds, methods, command, commit
    <stage>/.complete.json         a stage's completion marker (wall time, inputs, env, tokenizer)
    demos/                         expert demonstrations, train split   (episodes.parquet, summary.json)
    teacher/                       the SFT teacher (save_pretrained dir + metrics.csv)
    teacher_rollouts/              teacher on the train split with top-k log-probs
    teacher_eval/                  teacher, closed loop on the test split
    baselines/{expert,random}/     scripted expert and random agent on the test split
    students/<label>/              one student per method x variant x size x seed (+ student.json)
    student_eval/<label>/          that student, closed loop on the test split
    offline/<label>/metrics.json   its offline metrics against the teacher
    report.md  report.csv  report.html  plots/

``--env all`` makes ``runs/<pipeline>/<env>/`` one such layout per env, and a combined report at
the top. Rows: expert, teacher, random agent, then each student (size x method x variant), with
mean ± std over seeds and a 95% Wilson interval on success over all episodes.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from harness.offline_metrics import compression_ratio, count_parameters

MANIFEST = "pipeline.json"
MARKER = ".complete.json"
#: method order in tables and plots
METHOD_ORDER = ("sad", "token_kd", "sft")
METHOD_TITLES = {"sad": "SAD (span KL)", "token_kd": "token-level KD", "sft": "imitation (SFT)"}


@dataclass(frozen=True)
class Layout:
    """Paths of one env's pipeline directory (see the module docstring)."""

    root: Path

    @property
    def manifest(self) -> Path:
        return self.root / MANIFEST

    def stage(self, name: str) -> Path:
        return self.root / name

    def marker(self, stage_dir: Path) -> Path:
        return stage_dir / MARKER

    @property
    def demos(self) -> Path:
        return self.root / "demos"

    @property
    def teacher(self) -> Path:
        return self.root / "teacher"

    @property
    def teacher_rollouts(self) -> Path:
        return self.root / "teacher_rollouts"

    @property
    def teacher_eval(self) -> Path:
        return self.root / "teacher_eval"

    def baseline(self, agent: str) -> Path:
        return self.root / "baselines" / agent

    def student(self, label: str) -> Path:
        return self.root / "students" / label

    def student_eval(self, label: str) -> Path:
        return self.root / "student_eval" / label

    def offline(self, label: str) -> Path:
        return self.root / "offline" / label / "metrics.json"

    @property
    def plots(self) -> Path:
        return self.root / "plots"


def read_manifest(root: Path) -> dict[str, Any]:
    """The pipeline manifest at ``root/pipeline.json``; a missing one is an error naming the path."""
    path = Path(root) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no pipeline manifest; expected a directory made by `agentdistill pipeline`")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from err


# --- per-run numbers ------------------------------------------------------------------------------


def read_run_episodes(run_dir: Path) -> pd.DataFrame:
    """The episode log of a finished evaluation run (``harness.logs.read_episodes``)."""
    from harness.logs import read_episodes

    return read_episodes(run_dir)


def run_metrics(run_dir: Path) -> dict[str, float]:
    """Closed-loop numbers of one evaluation run, from its episode log (:func:`harness.metrics.per_episode`:
    an episode that errored out counts as lost)."""
    from harness.metrics import per_episode

    episodes = per_episode(read_run_episodes(run_dir))
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


def wilson_interval(wins: float, n: float, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a success rate."""
    if n <= 0:
        return float("nan"), float("nan")
    p = wins / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


# --- rows -----------------------------------------------------------------------------------------

#: the numbers a row reports, each as mean ± std over seeds
METRICS = ("success", "score", "steps", "invalid", "latency_ms", "reason_len", "action_match", "reasoning_match")


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
    params: int | None = None
    compression: float | None = None

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

    def success_interval(self) -> tuple[float, float]:
        return wilson_interval(sum(s.get("wins", 0) for s in self.per_seed), self.episodes)


def _student_meta(layout: Layout, label: str) -> dict[str, Any]:
    path = layout.student(label) / "student.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing; every student_eval/{label} needs the student's description there")
    return json.loads(path.read_text())


def _row_sort_key(row: Row) -> tuple:
    kinds = {"expert": 0, "teacher": 1, "baseline": 2, "student": 3}
    method = METHOD_ORDER.index(row.method) if row.method in METHOD_ORDER else len(METHOD_ORDER)
    return kinds.get(row.kind, 9), -(row.params or 0), method, row.variant, row.name


def collect_rows(root: Path) -> list[Row]:
    """Every finished evaluation of one env's pipeline directory as table rows (unfinished ones are left out)."""
    layout = Layout(Path(root))
    env = read_manifest(layout.root)["env"]
    rows: list[Row] = []
    teacher_params = count_parameters(layout.teacher) if any(layout.teacher.glob("*.safetensors")) else None

    def finished(run_dir: Path) -> bool:
        return (run_dir / "episodes.parquet").is_file() and (run_dir / "summary.json").is_file()

    if finished(layout.baseline("expert")):
        rows.append(Row("expert (scripted)", "expert", env, eval_dirs=[layout.baseline("expert")]))
    if finished(layout.teacher_eval):
        rows.append(Row("teacher", "teacher", env, eval_dirs=[layout.teacher_eval], model_dirs=[layout.teacher],
                        params=teacher_params, compression=1.0 if teacher_params else None))
    if finished(layout.baseline("random")):
        rows.append(Row("random agent", "baseline", env, eval_dirs=[layout.baseline("random")]))

    students: dict[tuple[str, str, str], Row] = {}
    for eval_dir in sorted(p for p in (layout.root / "student_eval").glob("*") if p.is_dir()):
        if not finished(eval_dir):
            continue
        meta = _student_meta(layout, eval_dir.name)
        key = (meta["student"], meta["method"], meta.get("variant", ""))
        if key not in students:
            variant = f" ({meta['variant']})" if meta.get("variant") else ""
            students[key] = Row(f"{meta['student']} · {meta['method']}{variant}", "student", env,
                                method=meta["method"], student=meta["student"], variant=meta.get("variant", ""))
        row = students[key]
        row.seeds.append(int(meta["seed"]))
        row.eval_dirs.append(eval_dir)
        row.model_dirs.append(layout.student(eval_dir.name))
    rows.extend(students.values())

    for row in rows:
        for i, eval_dir in enumerate(row.eval_dirs):
            numbers = run_metrics(eval_dir)
            if row.kind == "student":
                offline_path = layout.offline(eval_dir.name)
                if offline_path.is_file():
                    offline = json.loads(offline_path.read_text())
                    numbers["action_match"] = float(offline["action_match"])
                    numbers["reasoning_match"] = float(offline["reasoning_match"])
                if i == 0 and any(row.model_dirs[0].glob("*.safetensors")):
                    row.params = count_parameters(row.model_dirs[0])
                    if teacher_params:
                        row.compression = compression_ratio(teacher_params, row.params)
            row.per_seed.append(numbers)
    return sorted(rows, key=_row_sort_key)


# --- tables ---------------------------------------------------------------------------------------

TABLE_COLUMNS = ("agent", "params", "compression", "success", "95% CI", "score", "steps", "invalid actions",
                 "latency/step (ms)", "action match", "reasoning match (ROUGE-L F)", "reasoning length (tok)",
                 "episodes", "seeds")


TABLE_NOTE = (
    "Success: mean ± std over seeds (no ± with one seed); 95% CI: Wilson interval over all test episodes. "
    "Action match / reasoning match: the student's greedy turn against the teacher's on held-out teacher states "
    "(test split). Reasoning length: tokens of thought per step (word pieces for agents without a tokenizer)."
)


def _fmt(mean: float, std: float, digits: int = 2) -> str:
    if math.isnan(mean):
        return "–"
    return f"{mean:.{digits}f} ± {std:.{digits}f}" if not math.isnan(std) else f"{mean:.{digits}f}"


def _params(n: int | None) -> str:
    if not n:
        return "–"
    return f"{n / 1e6:.1f}M" if n >= 1e6 else f"{n / 1e3:.0f}k"


def table_cells(row: Row) -> list[str]:
    """One row of the markdown/HTML table, formatted."""
    low, high = row.success_interval()
    return [
        row.name,
        _params(row.params),
        f"{row.compression:.1f}×" if row.compression else "–",
        _fmt(row.mean("success"), row.std("success")),
        f"[{low:.2f}, {high:.2f}]" if not math.isnan(low) else "–",
        _fmt(row.mean("score"), row.std("score")),
        _fmt(row.mean("steps"), row.std("steps"), 1),
        _fmt(row.mean("invalid"), row.std("invalid")),
        _fmt(row.mean("latency_ms"), row.std("latency_ms"), 1),
        _fmt(row.mean("action_match"), row.std("action_match")),
        _fmt(row.mean("reasoning_match"), row.std("reasoning_match")),
        _fmt(row.mean("reason_len"), row.std("reason_len"), 1),
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
                                  "student": row.student, "variant": row.variant, "params": row.params or "",
                                  "compression": row.compression or "", "episodes": row.episodes,
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
    for marker in root.rglob(MARKER):
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
    logs = {row.name: read_run_episodes(row.eval_dirs[0]) for row in rows if row.eval_dirs}
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
            steps = [{"observation": str(r.observation), "completion": str(r.completion), "reward": float(r.reward)}
                     for r in ep.head(max_steps).itertuples()]
            group.append(Trajectory(name, task_id, task, bool(last["won"]), float(last["score"]), steps))
        groups.append(group)
    return groups


# --- the whole report -----------------------------------------------------------------------------


def env_dirs(root: Path) -> list[Path]:
    """The per-env pipeline directories of ``root``: itself, or its ``<env>/`` children for ``--env all``."""
    manifest = read_manifest(root)
    if manifest.get("env") == "all":
        return [Path(root) / env for env in manifest["envs"] if (Path(root) / env / MANIFEST).is_file()]
    return [Path(root)]


def build_report(root: str | Path) -> dict[str, Path]:
    """Write ``report.md``, ``report.csv``, ``plots/*.png`` and ``report.html`` under ``root`` from its stored
    runs (for ``--env all`` also one report per env); returns the paths written."""
    from harness import plots
    from harness.report_html import render_html

    root = Path(root)
    manifest = read_manifest(root)
    dirs = env_dirs(root)
    if manifest.get("env") == "all":
        for sub in dirs:
            build_report(sub)
    rows_by_env = {read_manifest(d)["env"]: collect_rows(d) for d in dirs}
    all_rows = [row for rows in rows_by_env.values() for row in rows]
    if not all_rows:
        raise FileNotFoundError(f"{root}: no finished evaluation to report; run `agentdistill pipeline` first")

    plot_dir = root / "plots"
    plot_dir.mkdir(parents=True, exist_ok=True)
    figures: dict[str, Path] = {}
    figures["success by method"] = plots.success_by_method(rows_by_env, plot_dir / "success_by_method.png")
    curves = {}
    for d in dirs:
        prefix = f"{read_manifest(d)['env']}: " if len(dirs) > 1 else ""
        curves.update({prefix + k: v for k, v in training_curves(d).items()})
    if curves:
        figures["training curves"] = plots.training_curves(curves, plot_dir / "training_curves.png")
    sizes = {r.student for r in all_rows if r.kind == "student"}
    if len(sizes) > 1:
        figures["success vs student size"] = plots.success_vs_size(rows_by_env, plot_dir / "success_vs_size.png")

    times = stage_times(root)
    md = [f"# Structured Agent Distillation: {', '.join(rows_by_env)} ({manifest.get('preset', '?')} preset)", ""]
    md += [f"- command: `{manifest.get('command', '?')}`", f"- commit: `{manifest.get('commit', '?')}`",
           f"- seeds: {manifest.get('seeds', '?')}; methods: {', '.join(manifest.get('methods', []))}", ""]
    for env, rows in rows_by_env.items():
        md += [f"## {env}", "", markdown_table(rows), ""]
    md += [TABLE_NOTE, ""]
    md += ["## Plots", ""] + [f"![{title}](plots/{path.name})" for title, path in figures.items()] + [""]
    md += ["## Stage wall times", "", "| stage | wall (s) |", "|---|---|"]
    md += [f"| {stage} | {wall:.1f} |" for stage, wall in times] + [""]
    md_path = root / "report.md"
    md_path.write_text("\n".join(md))
    csv_path = root / "report.csv"
    write_csv(all_rows, csv_path)
    trajectories = {env: sample_trajectories(rows) for env, rows in rows_by_env.items()}
    html_path = root / "report.html"
    html_path.write_text(render_html(manifest, rows_by_env, figures, trajectories, times))
    return {"markdown": md_path, "csv": csv_path, "html": html_path, **{k: v for k, v in figures.items()}}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", help="a pipeline directory, e.g. runs/webshop-tiny")


def run(args: argparse.Namespace) -> int:
    written = build_report(Path(args.run))
    for what, path in written.items():
        print(f"{what:<24} {path}")
    return 0
