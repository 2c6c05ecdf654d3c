"""The report's figures (matplotlib, PNG): success by method per env, training curves, success vs
student size, the on-policy methods' success round by round. Each function writes one file and returns its
path."""
from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
import pandas as pd

from harness.report.tables import Row

COLOURS = {"expert": "#4d4d4d", "teacher": "#1f77b4", "baseline": "#bbbbbb",
           "sad": "#d62728", "token_kd": "#2ca02c", "sft": "#9467bd", "opd": "#17becf", "sad_opd": "#e377c2"}


def _colour(row: Row) -> str:
    return COLOURS.get(row.method or row.kind, "#ff7f0e")


def success_by_method(rows_by_env: dict[str, list[Row]], path: Path) -> Path:
    """Bar chart: closed-loop success of every row, one panel per env, with the 95% interval over tasks."""
    envs = list(rows_by_env)
    panel_width = max(5.0, 2.0 + 0.7 * max(len(rows) for rows in rows_by_env.values()))
    fig, axes = plt.subplots(1, len(envs), figsize=(panel_width * len(envs), 4.4), squeeze=False)
    for ax, env in zip(axes[0], envs, strict=True):
        rows = rows_by_env[env]
        means = [0.0 if math.isnan(r.mean("success")) else r.mean("success") for r in rows]
        bounds = [r.success_interval() for r in rows]
        pairs = list(zip(means, bounds, strict=True))
        lower = [max(0.0, m - lo) if not math.isnan(lo) else 0.0 for m, (lo, _) in pairs]
        upper = [max(0.0, hi - m) if not math.isnan(hi) else 0.0 for m, (_, hi) in pairs]
        x = range(len(rows))
        ax.bar(x, means, color=[_colour(r) for r in rows], yerr=[lower, upper], capsize=3)
        ax.set_xticks(list(x), [r.name for r in rows], rotation=35, ha="right", fontsize=8)
        ax.set_ylim(0, 1.05)
        ax.set_ylabel("success rate (test)")
        ax.set_title(env)
        ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)


#: metrics.csv column -> panel title of the training-curve figure, in panel order. ``eval_kl_*`` is the
#: full-vocabulary KL(teacher ‖ student) against the live teacher model; ``eval_bucket_kl_*`` only
#: compares the logged top-k + tail buckets (a lower bound of it), labelled as such
CURVE_PANELS = {
    "loss": "training loss",
    "eval_loss": "held-out loss",
    "eval_kl_reason": "held-out KL to the teacher, reason spans\n(full vocabulary)",
    "eval_kl_act": "held-out KL to the teacher, act spans\n(full vocabulary)",
    "eval_bucket_kl_reason": "bucket KL, reason spans\n(logged top-k + tail: a lower bound)",
    "eval_bucket_kl_act": "bucket KL, act spans\n(logged top-k + tail: a lower bound)",
}


def _step_column(frame: pd.DataFrame) -> str | None:
    return next((c for c in ("step", "global_step", "steps") if c in frame.columns), None)


def training_curves(curves: dict[str, pd.DataFrame], path: Path) -> Path:
    """Training loss, held-out loss and held-out KL to the teacher per span against step for every trained
    model, one panel per :data:`CURVE_PANELS` column that some model logged."""
    columns = [c for c in CURVE_PANELS
               if any(c in f.columns and f[c].notna().any() for f in curves.values())]
    if not columns:
        raise ValueError(f"no metrics.csv among {list(curves)} has any of the columns {list(CURVE_PANELS)}")
    ncols = min(2, len(columns))  # loss | held-out loss, then one row per span-KL kind
    nrows = math.ceil(len(columns) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(6.5 * ncols, 4.0 * nrows), squeeze=False)
    for ax in axes.flat[len(columns):]:
        ax.set_visible(False)
    for ax, column in zip(axes.flat, columns, strict=False):
        for label, frame in curves.items():
            if column not in frame.columns:
                continue
            step = _step_column(frame)
            data = frame[[c for c in (step, column) if c]].dropna()
            if data.empty:
                continue
            ax.plot(data[step] if step else range(len(data)), data[column], label=label, lw=1.2)
        ax.set_xlabel("step")
        ax.set_ylabel(column)
        ax.set_title(CURVE_PANELS[column], fontsize=9)
        _finish_axes(ax)
    return _save(fig, path)


def success_vs_size(rows_by_env: dict[str, list[Row]], path: Path) -> Path:
    """Success against student parameters, one line per (env, method); the teacher as a star."""
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    markers = ["o", "s", "^", "D"]
    for i, (env, rows) in enumerate(rows_by_env.items()):
        by_method: dict[str, list[tuple[int, float]]] = {}
        for row in rows:
            if row.kind == "student" and row.params and not row.variant:
                by_method.setdefault(row.method, []).append((row.params, row.mean("success")))
            if row.kind == "teacher" and row.params and row.name == "teacher":  # not its free-decoding row
                ax.scatter([row.params], [row.mean("success")], marker="*", s=120, color=COLOURS["teacher"],
                           label=f"{env}: teacher")
        for method, points in by_method.items():
            points.sort()
            ax.plot([p for p, _ in points], [s for _, s in points], marker=markers[i % len(markers)],
                    color=COLOURS.get(method), label=f"{env}: {method}")
    ax.set_xscale("log")
    ax.set_xlabel("parameters")
    ax.set_ylabel("success rate (test)")
    ax.set_ylim(-0.02, 1.02)
    _finish_axes(ax)
    return _save(fig, path)


#: rounds.json field -> y-axis label of the round-by-round figure, in panel order
ROUND_PANELS = {
    "success_rate": "success of the round's rollouts\n(train split, guided turns included)",
    "guided_turn_fraction": "share of turns played by the guide",
}


def success_by_round(rows_by_env: dict[str, list[Row]], path: Path) -> Path:
    """The on-policy students round by round (``rounds.json``): success of each round's train-split rollouts
    and the guide's share of turns, one column per env, a line per row (mean over seeds, each seed faint)."""
    envs = [env for env, rows in rows_by_env.items() if any(any(r) for row in rows for r in row.rounds)]
    if not envs:
        raise ValueError(f"no row of {list(rows_by_env)} has rounds.json: no on-policy student to plot")
    fig, axes = plt.subplots(len(ROUND_PANELS), len(envs), figsize=(5.5 * len(envs), 3.4 * len(ROUND_PANELS)),
                             squeeze=False)
    for column, env in enumerate(envs):
        for panel, (field, label) in enumerate(ROUND_PANELS.items()):
            ax = axes[panel][column]
            for row in rows_by_env[env]:
                per_seed = [pd.Series({int(r["round"]): float(r[field]) for r in rounds})
                            for rounds in row.rounds if rounds]
                if not per_seed:
                    continue
                frame = pd.concat(per_seed, axis=1)  # [rounds, seeds]
                if frame.shape[1] > 1:
                    ax.plot(frame.index, frame.to_numpy(), color=_colour(row), alpha=0.25, lw=0.8)
                ax.plot(frame.index, frame.mean(axis=1), marker="o", color=_colour(row), label=row.name)
                ax.set_xticks(list(frame.index))
            ax.set_xlabel("round")
            ax.set_ylabel(label, fontsize=8)
            ax.set_ylim(-0.02, 1.02)
            ax.set_title(env if panel == 0 else "")
            _finish_axes(ax)
    return _save(fig, path)


def _finish_axes(ax) -> None:
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
