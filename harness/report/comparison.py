"""What the report says about the comparison itself: SAD against token-KD and against SFT, and the
on-policy methods against their off-policy counterparts, paired on the test task, and the facts a reader
needs to trust it — the training seeds, the tasks and env seeds every agent played, the env's data source,
step limit and protocol options.

Pairing: every student of every method and seed plays the same task ids with the same env seeds
(:mod:`harness.tasks`). Each difference is a two-level paired bootstrap (:mod:`.statistics`): training
seeds resampled within each method, then tasks, the same tasks for both. One comparison per env is
pre-declared primary — SAD − token-KD on success, for the preset's main student — and gets a plain 95%
interval; every other one is in a Holm family (m = their number) and gets its Holm-adjusted interval. An
interval that contains 0 is "inconclusive", with its width; two arms that never succeed (every outcome 0,
every task and seed) are "no signal".
"""
from __future__ import annotations

import dataclasses
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.experiment.layout import MANIFEST, STAGE_MARKER, STUDENT_DESCRIPTION
from harness.experiment.presets import ON_POLICY_METHODS
from harness.metrics import per_task_means
from harness.report.statistics import (
    bootstrap_p_value,
    holm_gammas,
    percentile_interval,
    point_estimate,
    two_level_bootstrap,
)
from harness.report.tables import METHOD_TITLES, Row

#: (method, baseline) pairs the report compares (those whose two rows the run has), SAD first; then on-policy
#: against off-policy (OPD against token-KD: another divergence on the student's own states; span OPD
#: against SAD: the same spans on the student's own states) and the spans on-policy (span OPD against OPD)
PAIRS = (("sad", "token_kd"), ("sad", "sft"), ("opd", "token_kd"), ("opd", "sft"), ("sad_opd", "sad"),
         ("sad_opd", "opd"))
#: the pre-declared primary comparison of every env: (method, baseline, metric), at the main student
PRIMARY = ("sad", "token_kd", "success")
#: family-wise error rate: the primary's interval is 1 − ALPHA, the others' Holm-adjusted to it
ALPHA = 0.05
#: the heading of the paired table
COMPARISON_HEADING = "methods against their baselines, paired on the test tasks"
#: report name -> per-episode column
PAIRED_METRICS = {"success": "won", "score": "score"}


@dataclass(frozen=True)
class Comparison:
    """``method − baseline`` on one metric, paired on the test tasks both played: the two-level
    bootstrap's interval at level 1 − ``gamma`` (primary: 0.95; the rest Holm-adjusted over ``family``)."""

    env: str
    student: str
    method: str
    baseline: str
    metric: str
    mean: float
    low: float
    high: float
    tasks: int
    seeds: tuple[int, int]  # training seeds of (method, baseline)
    p_value: float  # two-sided bootstrap p-value, unadjusted
    gamma: float  # the interval's level is 1 − gamma
    primary: bool
    family: int  # m, the Holm family's size (0 for the primary)
    no_signal: bool  # every outcome of both methods is 0 (every task, every seed)

    @property
    def level(self) -> str:
        """The interval's level: "95%, primary" or e.g. "99.5%, Holm-adjusted, m = 11"."""
        percent = f"{100 * (1 - self.gamma):.4g}%"
        return f"{percent}, primary" if self.primary else f"{percent}, Holm-adjusted, m = {self.family}"

    @property
    def resampled(self) -> str:
        """What the interval resamples: tasks only where both methods have one seed, else seeds then tasks."""
        if self.seeds == (1, 1):
            return "tasks only (1 seed each)"
        return f"seeds ({self.seeds[0]}, {self.seeds[1]}), then tasks"

    @property
    def verdict(self) -> str:
        """"no signal" when both arms are all 0, "inconclusive" when the interval contains 0, else which
        method is higher."""
        if self.tasks == 0:
            return "no common tasks"
        if self.no_signal:
            return "no signal: every agent failed every task"
        if self.low <= 0.0 <= self.high:
            return (f"inconclusive (interval [{self.low:+.3f}, {self.high:+.3f}] contains 0, "
                    f"width {self.high - self.low:.3f})")
        higher = self.method if self.low > 0 else self.baseline
        return f"{METHOD_TITLES.get(higher, higher)} higher"


def outcome_matrices(a: Row, b: Row, column: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(``a``'s [seeds, tasks] outcomes, ``b``'s, the task ids): each cell one seed's ``column`` on a task
    (averaged over that seed's repeats of it), over the tasks every seed of both rows played."""
    per_seed = [[per_task_means([table], column) for table in row.episode_tables] for row in (a, b)]
    series = per_seed[0] + per_seed[1]
    tasks = sorted(set.intersection(*(set(s.index) for s in series))) if series else []
    a_out, b_out = (np.array([[s[t] for t in tasks] for s in seeds], dtype=float)
                    .reshape(len(seeds), len(tasks)) for seeds in per_seed)  # [seeds, 0]: no common task
    return a_out, b_out, tasks


def main_student(rows: list[Row]) -> str:
    """The student size of the primary comparison: the preset's first student (the manifest's
    ``budget.students``, read from the pipeline directory of the rows' evaluations) where the rows have it,
    else the first student size of the rows."""
    students = list(dict.fromkeys(r.student for r in rows if r.kind == "student" and not r.variant))
    for row in rows:
        if row.kind == "student" and row.eval_dirs:
            path = row.eval_dirs[0].parent.parent / MANIFEST  # <pipeline>/student_eval/<label>
            declared = (_read_json(path).get("budget") or {}).get("students") or []
            if declared and declared[0] in students:
                return declared[0]
            break
    return students[0] if students else ""


def paired_comparisons(rows: list[Row], n_boot: int = 10_000, seed: int = 0,
                       primary_student: str | None = None) -> list[Comparison]:
    """Every :data:`PAIRS` difference (success and score) whose two methods the rows have, for each student
    size of one env's rows (main rows only: no ablation variant): :data:`PRIMARY` at ``primary_student``
    (default :func:`main_student`) at 95%, every other one Holm-adjusted over them all."""
    main = {(r.student, r.method): r for r in rows if r.kind == "student" and not r.variant}
    primary_student = main_student(rows) if primary_student is None else primary_student
    pending: list[tuple[Comparison, np.ndarray | None]] = []  # each comparison, its bootstrap draws
    for student in dict.fromkeys(s for s, _ in main):
        for method, baseline in PAIRS:
            a, b = main.get((student, method)), main.get((student, baseline))
            if a is None or b is None:
                continue
            for metric, column in PAIRED_METRICS.items():
                a_out, b_out, tasks = outcome_matrices(a, b, column)
                draws = two_level_bootstrap(a_out, b_out, n_boot=n_boot, seed=seed) if tasks else None
                nan = float("nan")
                pending.append((Comparison(
                    a.env, student, method, baseline, metric,
                    mean=point_estimate(a_out, b_out) if tasks else nan, low=nan, high=nan, tasks=len(tasks),
                    seeds=(len(a.episode_tables), len(b.episode_tables)),
                    p_value=bootstrap_p_value(draws) if draws is not None else nan, gamma=ALPHA,
                    primary=(method, baseline, metric) == PRIMARY and student == primary_student, family=0,
                    no_signal=bool(tasks) and not a_out.any() and not b_out.any(),
                ), draws))
    family = [i for i, (c, draws) in enumerate(pending) if not c.primary and draws is not None]
    gammas = dict(zip(family, holm_gammas([pending[i][0].p_value for i in family], ALPHA), strict=True))
    out = []
    for i, (c, draws) in enumerate(pending):
        if draws is not None:
            gamma = gammas.get(i, ALPHA)
            low, high = percentile_interval(draws, gamma)
            c = dataclasses.replace(c, low=low, high=high, gamma=gamma,
                                    family=0 if c.primary else len(family))
        out.append(c)
    return out


COMPARISON_COLUMNS = ("student", "comparison", "metric", "difference", "interval (paired: seeds, then tasks)",
                      "level", "resampled", "tasks", "verdict")


def comparison_cells(c: Comparison) -> list[str]:
    """One row of the paired table, formatted."""
    title = f"{METHOD_TITLES.get(c.method, c.method)} − {METHOD_TITLES.get(c.baseline, c.baseline)}"
    if c.tasks == 0:
        return [c.student, title, c.metric, "–", "–", "–", "–", "0", c.verdict]
    return [c.student, title, c.metric, f"{c.mean:+.3f}", f"[{c.low:+.3f}, {c.high:+.3f}]", c.level,
            c.resampled, str(c.tasks), c.verdict]


def sad_settings(row: Row) -> dict[str, Any]:
    """λ_r, λ_a and span_norm a SAD (or SAD-OPD) row's students trained with (their recorded overrides over
    the config defaults)."""
    from distill.config import SADConfig, SADOPDConfig

    config = SADOPDConfig if row.method == "sad_opd" else SADConfig
    defaults = {f.name: f.default for f in dataclasses.fields(config)
                if f.name in ("lambda_reason", "lambda_act", "span_norm")}
    overrides = _read_json(row.model_dirs[0] / STUDENT_DESCRIPTION).get("overrides") or {}
    return {k: overrides.get(k, v) for k, v in defaults.items()}


def same_objective_note(rows: list[Row]) -> str:
    """A warning when the main SAD row trains token-KD's objective (λ_r = λ_a = 1, span_norm "sum": the
    same loss on the same tokens), so that SAD − token-KD is 0 by construction; "" otherwise."""
    sad = [r for r in rows if r.kind == "student" and r.method == "sad" and not r.variant and r.model_dirs]
    for row in sad:
        settings = sad_settings(row)
        if settings == {"lambda_reason": 1.0, "lambda_act": 1.0, "span_norm": "sum"}:
            return ("Note: the SAD students here were trained with λ_r = λ_a = 1 (span_norm sum), which is "
                    "token-KD's objective exactly: SAD − token-KD is 0 by construction. SAD differs from "
                    "token-KD only through λ_r ≠ λ_a (the λ ablation rows).")
    return ""


def comparison_notes(comparisons: list[Comparison]) -> list[str]:
    """What a reader needs to read the paired table: which comparison is primary, the Holm family, and that
    one-seed intervals reflect task sampling only."""
    primary = [c for c in comparisons if c.primary]
    family = max((c.family for c in comparisons), default=0)
    method, baseline, metric = PRIMARY
    what = f"{METHOD_TITLES[method]} − {METHOD_TITLES[baseline]} on {metric}"
    if primary:
        notes = [f"Primary comparison (declared before the run): {what} for {primary[0].student}, at 95%."]
    else:
        notes = [f"No primary comparison here ({what} needs both rows): every comparison is Holm-adjusted."]
    if family:
        family_text = (f"The other {family} comparisons are one Holm family (m = {family})" if family > 1
                       else "The other comparison is a Holm family of one (m = 1)")
        notes.append(f"{family_text}: each interval is at its Holm-adjusted level, so that the chance that "
                     "any of them shows a difference that is not there is at most 5%.")
    if any(c.seeds == (1, 1) for c in comparisons):
        notes.append("With one training seed per method the intervals reflect task sampling only: they say "
                     "nothing about how another training of the same method would do (`--seeds N`).")
    return notes


def comparison_markdown(comparisons: list[Comparison]) -> str:
    """The paired table in GitHub markdown, followed by :func:`comparison_notes`."""
    lines = ["| " + " | ".join(COMPARISON_COLUMNS) + " |", "|" + "---|" * len(COMPARISON_COLUMNS)]
    lines += ["| " + " | ".join(comparison_cells(c)) + " |" for c in comparisons]
    return "\n".join(lines) + "\n\n" + " ".join(comparison_notes(comparisons))


PAIRED_NOTE = (
    "Paired comparisons: a two-level bootstrap (10,000 draws). Each draw resamples every method's training "
    "seeds with replacement, independently per method (seeds are separate trainings, not pairs), then the "
    "test tasks with replacement, the same tasks for both methods (every agent plays the same tasks with "
    "the same env seeds); the difference is the mean over the drawn tasks of the first method's outcome, "
    "averaged over its drawn seeds, minus the second's. The interval is that distribution's percentile "
    "interval: 95% for the one primary comparison per env (SAD − token-KD on success), Holm-adjusted for the "
    "rest (the k-th smallest bootstrap p-value of m gets level 1 − 0.05/(m − k + 1), until the first "
    "interval that contains 0; that level holds for the rest). An interval that contains 0 is inconclusive: "
    "no difference was shown, which is not evidence of none. \"No signal\": both methods scored 0 on every "
    "task with every seed, so the data say nothing about them."
)


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.is_file() else {}


def initial_student(model_dir: Path) -> str | None:
    """``student (init rule)`` a trained student started from, read off its stage marker; None when the
    marker is missing. Off-policy markers record the rule only where ``--student-init`` was given; else it
    is the preset's: layers of the teacher (``init_from_teacher``), a config built from scratch, or the
    pretrained weights."""
    from distill.models import PRESETS as MODEL_PRESETS

    params = _read_json(model_dir / STAGE_MARKER).get("params")
    if not params:
        return None
    student = str(params.get("student") or params.get("model"))
    init = params.get("student_init")
    if init is None:
        config = student in MODEL_PRESETS and MODEL_PRESETS[student].source == "config"
        init = "teacher-layers" if params.get("init_from_teacher") else "scratch" if config else "pretrained"
    return f"{Path(student).name} ({init})"


def initial_students_fact(rows: list[Row]) -> str:
    """Whether the on-policy students started from the off-policy ones' model, read off their markers."""
    on, off = set(), set()
    for row in rows:
        if row.kind == "student":
            inits = {initial_student(d) or "not recorded" for d in row.model_dirs}
            (on if row.method in ON_POLICY_METHODS else off).update(inits)
    if on and on == off:
        return "same initial student as the off-policy methods"
    text = f"initial student {', '.join(sorted(on)) or 'not recorded'}"
    return text + (f"; the off-policy methods' {', '.join(sorted(off))}" if off else "")


def evaluation_facts(rows: list[Row], manifest: dict[str, Any]) -> list[str]:
    """Markdown bullet lines for one env: data source (``summary.json``, else ``run.json``'s ``data``),
    step limit, protocol options (``run.json``'s ``data.protocol``), training seeds, the tasks and env seeds
    the agents played (and whether every run played the same ones)."""
    sources: dict[str, set[str]] = {}
    protocols: dict[str, str] = {}
    env_seeds: set[int] = set()
    for row in rows:
        for eval_dir in row.eval_dirs:
            summary, run = _read_json(eval_dir / "summary.json"), _read_json(eval_dir / "run.json")
            data = run.get("data") or {}  # what the env reported: data_source, fingerprint, protocol
            source = str(summary.get("data_source") or data.get("data_source") or "not recorded")
            sources.setdefault(source, set()).add(row.name)
            if data.get("protocol"):
                protocols[json.dumps(data["protocol"], sort_keys=True, default=str)] = row.name
            env_seeds.add(int(run.get("seed", 0)))
    lines = []
    for source, names in sorted(sources.items()):
        label = "generated world (not the official benchmark)" if source == "generated" else source
        who = "" if len(sources) == 1 else f" ({', '.join(sorted(names))})"
        lines.append(f"- data source: **{label}**{who}")
    step_limit = manifest.get("max_steps") or manifest.get("budget", {}).get("max_steps") or "not recorded"
    lines.append(f"- env step limit: {step_limit} steps per episode")
    for protocol in protocols:
        lines.append(f"- protocol options: `{protocol}`")
    opd = manifest.get("on_policy")
    if opd:
        lines.append(
            f"- on-policy methods: {opd['rounds']} rounds × {opd['episodes_per_round']} train episodes, "
            f"{opd['steps_per_round']} optimizer steps a round; guide {opd['guide']} (p {opd['guide_p0']:g} "
            f"in round 0, decaying to 0), divergence {opd['divergence']}, depth curriculum "
            f"{'on' if opd['depth_curriculum'] else 'off'}; {initial_students_fact(rows)}"
        )
    seeds = sorted({seed for r in rows if r.kind == "student" for seed in r.seeds})
    if seeds:
        lines.append(f"- training seeds: {', '.join(map(str, seeds))} (seed i for every method)")
    for row in rows:
        if row.kind == "student" and row.method in ("sad", "sad_opd") and row.model_dirs:
            s = sad_settings(row)
            lines.append(f"- {row.name}: λ_r {s['lambda_reason']:g}, λ_a {s['lambda_act']:g}, "
                         f"span_norm {s['span_norm']}")
    # one task set per evaluation run (a row has one run per seed)
    task_sets = {
        f"{r.name}" + (f" seed {r.seeds[i]}" if r.seeds else ""): frozenset(table["task_id"])
        for r in rows
        for i, table in enumerate(r.episode_tables)
    }
    common = frozenset.intersection(*task_sets.values()) if task_sets else frozenset()
    usual = Counter(task_sets.values()).most_common(1)[0][0] if task_sets else frozenset()
    types = Counter()
    for row in rows[:1]:
        first = row.episode_tables[0]
        types.update(first.drop_duplicates("task_id")["task_type"].fillna("").astype(str))
    episodes = max((len(t) for r in rows for t in r.episode_tables), default=0)
    type_text = ", ".join(f"{t} {n}" for t, n in sorted(types.items()) if t) or "no task types"
    first_seed = min(env_seeds) if env_seeds else 0
    same = len(set(task_sets.values())) == 1 and len(env_seeds) <= 1
    lines.append(
        f"- tasks: {len(common)} test tasks ({type_text}), drawn stratified by task type; episode i uses env "
        f"seed {first_seed} + i (i < {episodes}); "
        + ("every agent and seed played these same tasks with the same env seeds"
           if same else "**agents played different tasks or env seeds**: "
           + f"env seeds from {sorted(env_seeds)}; "
           + ", ".join(f"{name} played {len(s - usual)} other task(s)" for name, s in task_sets.items()
                       if s != usual))
    )
    return lines
