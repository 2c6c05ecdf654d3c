"""A pipeline's report, rebuilt from its stored runs: ``report.md``, ``report.csv``, ``plots/*.png``
and ``report.html``. ``agentdistill report runs/<pipeline>`` (``make report RUN=...``).

The numbers and tables are in :mod:`.tables`, the paired comparison and the evaluation facts (seeds,
tasks, data source, step limit) in :mod:`.comparison`, the figures in :mod:`.plots`, the page in
:mod:`.html`; the directory they read is :mod:`harness.experiment.layout`.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from harness.errors import UserError
from harness.experiment.layout import MANIFEST, read_manifest
from harness.experiment.offline_metrics import decoding_facts
from harness.report.comparison import (
    COMPARISON_HEADING,
    PAIRED_NOTE,
    comparison_markdown,
    evaluation_facts,
    paired_comparisons,
    same_objective_note,
)
from harness.report.tables import (
    LR_GRID_NOTE,
    ROUNDS_NOTE,
    TABLE_NOTE,
    collect_rows,
    final_kl_markdown,
    lr_grid_cells,
    lr_grid_markdown,
    markdown_table,
    rounds_markdown,
    sample_trajectories,
    stage_times,
    training_curves,
    write_csv,
)


def env_dirs(root: Path) -> list[Path]:
    """The per-env pipeline directories of ``root``: itself, or its ``<env>/`` children for ``--env all``."""
    manifest = read_manifest(root)
    if manifest.get("env") == "all":
        names = manifest.get("envs")
        plain = isinstance(names, list) and all(
            isinstance(env, str) and env not in ("", ".", "..") and Path(env).name == env for env in names
        )
        if not plain:
            raise UserError(f"{Path(root) / MANIFEST}: 'envs' is {names!r}; expected the list of env names "
                            "`agentdistill pipeline --env all` writes")
        return [Path(root) / env for env in names if (Path(root) / env / MANIFEST).is_file()]
    if not isinstance(manifest.get("env"), str):
        raise UserError(f"{Path(root) / MANIFEST}: 'env' is {manifest.get('env')!r}; expected an env name")
    return [Path(root)]


def build_report(root: str | Path) -> dict[str, Path]:
    """Write ``report.md``, ``report.csv``, ``plots/*.png`` and ``report.html`` under ``root`` from its stored
    runs (for ``--env all`` also one report per env); returns the paths written."""
    from harness.report import plots
    from harness.report.html import render_html

    root = Path(root)
    manifest = read_manifest(root)
    dirs = env_dirs(root)
    if manifest.get("env") == "all":
        for sub in dirs:
            build_report(sub)
    manifests = {read_manifest(d)["env"]: (d, read_manifest(d)) for d in dirs}
    rows_by_env = {env: collect_rows(d) for env, (d, _) in manifests.items()}
    all_rows = [row for rows in rows_by_env.values() for row in rows]
    if not all_rows:
        raise FileNotFoundError(
            f"{root}: no finished evaluation to report; run `agentdistill pipeline` first"
        )

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
    if any(any(r) for row in all_rows for r in row.rounds):
        figures["on-policy success by round"] = plots.success_by_round(
            rows_by_env, plot_dir / "opd_rounds.png"
        )
    sizes = {r.student for r in all_rows if r.kind == "student"}
    if len(sizes) > 1:
        figures["success vs student size"] = plots.success_vs_size(
            rows_by_env, plot_dir / "success_vs_size.png"
        )

    times = stage_times(root)
    md = [
        f"# Structured Agent Distillation: {', '.join(rows_by_env)} ({manifest.get('preset', '?')} preset)",
        "",
    ]
    md += [f"- command: `{manifest.get('command', '?')}`", f"- commit: `{manifest.get('commit', '?')}`",
           f"- seeds: {manifest.get('seeds', '?')}; methods: {', '.join(manifest.get('methods', []))}", ""]
    comparisons = {env: paired_comparisons(rows) for env, rows in rows_by_env.items()}
    facts = {env: evaluation_facts(rows, manifests[env][1]) + decoding_facts(manifests[env][0])
             for env, rows in rows_by_env.items()}
    for env, rows in rows_by_env.items():
        md += [f"## {env}", "", *facts[env], "", markdown_table(rows), ""]
        if comparisons[env]:
            md += [f"### {env}: {COMPARISON_HEADING}", "",
                   comparison_markdown(comparisons[env]), ""]
            note = same_objective_note(rows)
            md += [note, ""] if note else []
        if any(r.kind == "student" for r in rows):
            md += [f"### {env}: held-out KL to the teacher at the end of training", "",
                   final_kl_markdown(rows), ""]
        if rounds_markdown(rows):
            md += [f"### {env}: on-policy rounds", "", rounds_markdown(rows), "", ROUNDS_NOTE, ""]
        grid = lr_grid_markdown(manifests[env][0])
        if grid:
            md += [f"### {env}: learning-rate grid (held-out train tasks)", "", grid, "", LR_GRID_NOTE, ""]
    md += [TABLE_NOTE, "", PAIRED_NOTE, ""]
    md += ["## Plots", ""] + [f"![{title}](plots/{path.name})" for title, path in figures.items()] + [""]
    md += ["## Stage wall times", "", "| stage | wall (s) |", "|---|---|"]
    md += [f"| {stage} | {wall:.1f} |" for stage, wall in times] + [""]
    md_path = root / "report.md"
    md_path.write_text("\n".join(md))
    csv_path = root / "report.csv"
    write_csv(all_rows, csv_path)
    trajectories = {env: sample_trajectories(rows) for env, rows in rows_by_env.items()}
    html_path = root / "report.html"
    grids = {env: lr_grid_cells(d) for env, (d, _) in manifests.items()}
    html_path.write_text(render_html(manifest, rows_by_env, figures, trajectories, times, facts, comparisons,
                                     grids))
    return {"markdown": md_path, "csv": csv_path, "html": html_path, **{k: v for k, v in figures.items()}}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", help="a pipeline directory, e.g. runs/webshop-tiny")


def run(args: argparse.Namespace) -> int:
    written = build_report(Path(args.run))
    for what, path in written.items():
        print(f"{what:<24} {path}")
    return 0
