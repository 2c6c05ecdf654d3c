"""What the report says about the comparison itself: SAD against token-KD and against SFT, and the
on-policy methods against their off-policy counterparts, paired on the test task
(:func:`harness.metrics.paired_difference`), and the facts a reader needs to trust it — the
training seeds, the tasks and env seeds every agent played, the env's data source, step limit and
protocol options.

Pairing: every student of every method and seed plays the same task ids with the same env seeds
(:mod:`harness.tasks`), so each task gets one number per method (its success or score averaged over
the method's seeds) and the interval is a bootstrap over tasks of the per-task differences. An interval
that contains 0 is reported as "no difference".
"""
from __future__ import annotations

import dataclasses
import json
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.experiment.layout import STUDENT_DESCRIPTION
from harness.metrics import paired_difference
from harness.report.tables import METHOD_TITLES, Row

#: (method, baseline) pairs the report compares (those whose two rows the run has), SAD first; then on-policy
#: against off-policy (OPD against token-KD: another divergence on the student's own states; span OPD
#: against SAD: the same spans on the student's own states) and the spans on-policy (span OPD against OPD)
PAIRS = (("sad", "token_kd"), ("sad", "sft"), ("opd", "token_kd"), ("opd", "sft"), ("sad_opd", "sad"),
         ("sad_opd", "opd"))
#: the heading of the paired table
COMPARISON_HEADING = "methods against their baselines, paired on the test tasks"
#: report name -> per-episode column
PAIRED_METRICS = {"success": "won", "score": "score"}


@dataclass(frozen=True)
class Comparison:
    """``method − baseline`` on one metric, paired on the test tasks both played."""

    env: str
    student: str
    method: str
    baseline: str
    metric: str
    mean: float
    low: float
    high: float
    tasks: int
    seeds: int  # training seeds of each side (the smaller, when they differ)

    @property
    def verdict(self) -> str:
        """"no difference" when the 95% interval contains 0, else which side is higher."""
        if math.isnan(self.low):
            return "no common tasks"
        if self.low <= 0.0 <= self.high:
            return "no difference (the 95% interval contains 0)"
        side = "higher" if self.low > 0 else "lower"
        return f"{METHOD_TITLES.get(self.method, self.method)} {side}"


def paired_comparisons(rows: list[Row], n_boot: int = 10_000, seed: int = 0) -> list[Comparison]:
    """Every :data:`PAIRS` difference (success and score) whose two methods the rows have, for each student
    size of one env's rows (main rows only: no ablation variant)."""
    main = {(r.student, r.method): r for r in rows if r.kind == "student" and not r.variant}
    out = []
    for student in dict.fromkeys(s for s, _ in main):
        for method, baseline in PAIRS:
            a, b = main.get((student, method)), main.get((student, baseline))
            if a is None or b is None:
                continue
            for metric, column in PAIRED_METRICS.items():
                mean, low, high, tasks = paired_difference(
                    a.task_means(column), b.task_means(column), n_boot=n_boot, seed=seed
                )
                out.append(Comparison(a.env, student, method, baseline, metric, mean, low, high, tasks,
                                      min(len(a.per_seed), len(b.per_seed))))
    return out


COMPARISON_COLUMNS = ("student", "comparison", "metric", "difference", "95% CI (paired, tasks)", "tasks",
                      "seeds", "verdict")


def comparison_cells(c: Comparison) -> list[str]:
    """One row of the paired table, formatted."""
    title = f"{METHOD_TITLES.get(c.method, c.method)} − {METHOD_TITLES.get(c.baseline, c.baseline)}"
    interval = f"[{c.low:+.3f}, {c.high:+.3f}]" if not math.isnan(c.low) else "–"
    return [c.student, title, c.metric, f"{c.mean:+.3f}", interval, str(c.tasks), str(c.seeds), c.verdict]


def sad_settings(row: Row) -> dict[str, Any]:
    """λ_r, λ_a and span_norm a SAD row's students trained with (their recorded overrides over the config
    defaults)."""
    from distill.config import SADConfig

    defaults = {f.name: f.default for f in dataclasses.fields(SADConfig)
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


def comparison_markdown(comparisons: list[Comparison]) -> str:
    """The paired table in GitHub markdown."""
    lines = ["| " + " | ".join(COMPARISON_COLUMNS) + " |", "|" + "---|" * len(COMPARISON_COLUMNS)]
    lines += ["| " + " | ".join(comparison_cells(c)) + " |" for c in comparisons]
    return "\n".join(lines)


PAIRED_NOTE = (
    "Paired on the test task: each task's success (score) is averaged over a method's training seeds, the "
    "difference is taken per task, and the 95% interval is the percentile bootstrap (10,000 resamples) of "
    "the mean difference over tasks. An interval that contains 0 means no difference was found."
)


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.is_file() else {}


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
            f"{'on' if opd['depth_curriculum'] else 'off'}; same initial student as the off-policy methods"
        )
    seeds = sorted({seed for r in rows if r.kind == "student" for seed in r.seeds})
    if seeds:
        lines.append(f"- training seeds: {', '.join(map(str, seeds))} (seed i for every method)")
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
