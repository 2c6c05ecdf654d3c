"""``report.html``: one self-contained page (plots inlined as base64 PNG) with the comparison tables,
the plots and a few trajectories per agent on the same test tasks, where every completion shows its
``[REASON]`` and ``[ACT]`` spans (:func:`distill.spans.segment`) in two background colours."""
from __future__ import annotations

import base64
import html
import re
from pathlib import Path
from typing import Any

from distill.spans import segment
from harness.report.comparison import (
    COMPARISON_COLUMNS,
    COMPARISON_HEADING,
    PAIRED_NOTE,
    Comparison,
    comparison_cells,
    comparison_notes,
)
from harness.report.tables import (
    LR_GRID_COLUMNS,
    LR_GRID_NOTE,
    ROUND_COLUMNS,
    ROUNDS_NOTE,
    TABLE_COLUMNS,
    TABLE_NOTE,
    Row,
    Trajectory,
    round_cells,
    table_cells,
)

#: span background colours (solid fills, so a screenshot shows them as exact pixels)
REASON_COLOUR = "#9ecbff"
ACT_COLOUR = "#ffb870"

STYLE = f"""
body {{ font-family: system-ui, sans-serif; margin: 24px; color: #222; max-width: 1400px; }}
table {{ border-collapse: collapse; font-size: 13px; margin: 8px 0 18px; }}
th, td {{ border: 1px solid #ccc; padding: 3px 7px; text-align: right; }}
th:first-child, td:first-child {{ text-align: left; }}
th {{ background: #f3f3f3; }}
img {{ max-width: 100%; border: 1px solid #eee; margin: 6px 0; }}
.traj {{ border: 1px solid #ddd; border-radius: 6px; padding: 8px 12px; margin: 8px 0; }}
.traj h4 {{ margin: 2px 0 6px; }}
.won {{ color: #137333; }} .lost {{ color: #b3261e; }}
.obs {{ color: #666; font-size: 12px; white-space: pre-wrap; margin: 2px 0 2px 14px; }}
.completion {{ font-family: ui-monospace, monospace; font-size: 13px; white-space: pre-wrap; margin: 2px 0; }}
.reason {{ background: {REASON_COLOUR}; }}
.act {{ background: {ACT_COLOUR}; font-weight: 600; }}
.swatch {{ display: inline-block; width: 12px; height: 12px; vertical-align: middle; }}
"""


def highlight(completion: str) -> str:
    """HTML of a completion with its reason spans in ``<span class="reason">`` and act spans in
    ``<span class="act">``; everything else escaped as plain text."""
    parts, pos = [], 0
    for span in segment(completion):
        parts.append(html.escape(completion[pos:span.start]))
        parts.append(f'<span class="{span.kind}">{html.escape(completion[span.start:span.end])}</span>')
        pos = span.end
    parts.append(html.escape(completion[pos:]))
    return "".join(parts)


def _cells_table(columns: tuple[str, ...], lines: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in line) + "</tr>" for line in lines)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _table(rows: list[Row]) -> str:
    return _cells_table(TABLE_COLUMNS, [table_cells(r) for r in rows])


def _inline_markdown(text: str) -> str:
    """Escaped ``text`` with its ``**bold**`` and ```code``` marks as HTML (the facts' bullet lines)."""
    escaped = html.escape(text)
    escaped = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", escaped)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", escaped)


def _facts(lines: list[str]) -> str:
    items = "".join(f"<li>{_inline_markdown(line.removeprefix('- '))}</li>" for line in lines)
    return f"<ul>{items}</ul>"


def _comparison_table(comparisons: list[Comparison]) -> str:
    notes = " ".join(comparison_notes(comparisons))
    return (_cells_table(COMPARISON_COLUMNS, [comparison_cells(c) for c in comparisons])
            + f"<p>{_inline_markdown(notes)}</p>")


def _image(path: Path, title: str) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f'<h3>{html.escape(title)}</h3><img alt="{html.escape(title)}" src="data:image/png;base64,{data}">'


def _trajectory(traj: Trajectory, max_obs_chars: int = 400) -> str:
    outcome = '<span class="won">won</span>' if traj.won else '<span class="lost">not won</span>'
    heading = f"{html.escape(traj.agent)} — {outcome}, score {traj.score:.2f}, {len(traj.steps)} steps shown"
    lines = [f'<div class="traj"><h4>{heading}</h4>']
    for step in traj.steps:
        obs = step["observation"]
        obs = obs if len(obs) <= max_obs_chars else obs[:max_obs_chars] + " …"
        lines.append(f'<div class="obs">Observation: {html.escape(obs)}</div>')
        lines.append(f'<div class="completion">{highlight(step["completion"])}</div>')
    lines.append("</div>")
    return "\n".join(lines)


def render_html(
    manifest: dict[str, Any],
    rows_by_env: dict[str, list[Row]],
    figures: dict[str, Path],
    trajectories: dict[str, list[list[Trajectory]]],
    stage_times: list[tuple[str, float]],
    facts: dict[str, list[str]],
    comparisons: dict[str, list[Comparison]],
    lr_grids: dict[str, list[list[str]]] | None = None,
) -> str:
    """The whole page as a string (``lr_grids``: each env's learning-rate grid lines, ``--lr-grid``)."""
    title = f"Structured Agent Distillation — {', '.join(rows_by_env)} ({manifest.get('preset', '?')} preset)"
    out = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p>command: <code>{html.escape(str(manifest.get('command', '?')))}</code></p>",
        f"<p>commit <code>{html.escape(str(manifest.get('commit', '?')))}</code>"
        f" · seeds {manifest.get('seeds', '?')}</p>",
        "<h2>Results</h2>",
    ]
    for env, rows in rows_by_env.items():
        out += [f"<h3>{html.escape(env)}</h3>", _facts(facts.get(env, [])), _table(rows)]
        if comparisons.get(env):
            out += [f"<h4>{html.escape(env)}: {html.escape(COMPARISON_HEADING)}</h4>",
                    _comparison_table(comparisons[env])]
        rounds = round_cells(rows)
        if rounds:
            out += [f"<h4>{html.escape(env)}: on-policy rounds</h4>", _cells_table(ROUND_COLUMNS, rounds),
                    f"<p>{html.escape(ROUNDS_NOTE)}</p>"]
        grid = (lr_grids or {}).get(env, [])
        if grid:
            out += [f"<h4>{html.escape(env)}: learning-rate grid (held-out train tasks)</h4>",
                    _cells_table(LR_GRID_COLUMNS, grid), f"<p>{html.escape(LR_GRID_NOTE)}</p>"]
    out.append(f"<p>{html.escape(TABLE_NOTE)}</p><p>{html.escape(PAIRED_NOTE)}</p>")
    out.append("<h2>Plots</h2>")
    out += [_image(path, name) for name, path in figures.items()]
    out.append("<h2>Trajectories</h2>")
    out.append(f'<p><span class="swatch" style="background:{REASON_COLOUR}"></span> [REASON] span &nbsp; '
               f'<span class="swatch" style="background:{ACT_COLOUR}"></span> [ACT] span '
               "(split by <code>distill.spans.segment</code>)</p>")
    for env, groups in trajectories.items():
        for group in groups:
            if not group:
                continue
            out.append(f"<h3>{html.escape(env)} · task {html.escape(group[0].task_id)}</h3>")
            if group[0].task:
                out.append(f"<p><em>{html.escape(group[0].task)}</em></p>")
            out += [_trajectory(t) for t in group]
    out += ["<h2>Stage wall times</h2>", "<table><tr><th>stage</th><th>wall (s)</th></tr>"]
    out += [f"<tr><td>{html.escape(s)}</td><td>{w:.1f}</td></tr>" for s, w in stage_times]
    out += ["</table></body></html>"]
    return "\n".join(out)
