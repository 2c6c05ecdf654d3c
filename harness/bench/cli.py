"""``agentdistill bench``: speed and memory figures, each measured side by side with what a user would
otherwise run, printed as one table and written to ``<out>/bench.json``.

    agentdistill bench                          # CPU, every figure (make bench)
    agentdistill bench --device cuda            # the GPU settings of figures 3 and 4 (make bench DEVICE=cuda)
    agentdistill bench --only policy distill --repeats 5

Figures (``--only`` takes the name or the number):

=====  ==========  ==========================================================================  =======
 no.   name        what is compared                                                            floor
=====  ==========  ==========================================================================  =======
 1     overhead    expert episodes/s through ``agentdistill eval --workers 0`` vs a bare        ≥ 0.9
                   ``reset/step`` loop over the same tasks, per env
 2     scaling     env steps/s with W Ray workers vs 1 worker, W = 1 … cores                    ≥ 0.8·W
 3     policy      generated tokens/s of the ``lm`` agent's batched path vs ``model.generate``  ≥ 8× CPU
                   one env at a time (CPU); vs HF static-cache ``generate`` (CUDA)              ≥ 3× GPU
 4     distill     student tokens/s of ``distill --method sad`` vs a plain distillation loop    ≥ 1.5×
 5     latency     env step latency (median, p95), data generation time, WebShop search at
                   1×/10×/100× the bundled catalog
 6     memory      peak RSS of a 64-environment rollout, per env
=====  ==========  ==========================================================================  =======

Both sides of a comparison run in this process, alternating repeat by repeat (A B, B A, ...), because
absolute times drift on shared machines; each figure reports the median over repeats and the
min–max spread of the value, of the baseline and of their ratio.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib import import_module
from pathlib import Path
from typing import Any

from harness.bench.core import BenchContext, Result, machine
from harness.errors import UserError
from harness.metrics import format_number

#: figure number -> (name, "module:function"); each function takes a BenchContext and returns Results
FIGURES: dict[int, tuple[str, str]] = {
    1: ("overhead", "harness.bench.rollouts:harness_overhead"),
    2: ("scaling", "harness.bench.rollouts:parallel_scaling"),
    3: ("policy", "harness.bench.policy:batched_policy"),
    4: ("distill", "harness.bench.training:distill_throughput"),
    5: ("latency", "harness.bench.rollouts:step_latency"),
    6: ("memory", "harness.bench.rollouts:rollout_memory"),
}


# --- selection, table, output ---------------------------------------------------------------------
def select_figures(only: Sequence[str] | None) -> list[int]:
    """Figure numbers for ``--only`` (names or numbers); all when empty."""
    if not only:
        return sorted(FIGURES)
    by_name = {name: number for number, (name, _) in FIGURES.items()}
    chosen = []
    for item in only:
        number = int(item) if item.isdigit() else by_name.get(item)
        if number not in FIGURES:
            known = ", ".join(f"{n} {name}" for n, (name, _) in FIGURES.items())
            raise UserError(f"--only {item!r}: unknown figure; choose from {known}")
        chosen.append(number)
    return sorted(set(chosen))


def _range(s: dict[str, Any]) -> str:
    return f"{format_number(s['median'])} [{format_number(s['min'])}–{format_number(s['max'])}]"


def format_table(rows: list[dict[str, Any]]) -> str:
    """The printed table: figure, what, value [min–max], baseline, ratio vs floor."""
    header = (
        "fig",
        "what",
        "unit",
        "ours median [min–max]",
        "baseline median [min–max]",
        "ratio",
        "floor",
        "",
    )
    lines = [header]
    for row in rows:
        if "error" in row:
            lines.append(
                (
                    str(row["figure"]),
                    row["name"],
                    row["unit"],
                    "not measured: " + row["error"][:70],
                    "",
                    "",
                    "",
                    "",
                )
            )
            continue
        base = _range(row["baseline"]) + f" ({row['baseline_label']})" if "baseline" in row else ""
        ratio = _range(row["ratio"]) if "ratio" in row else ""
        floor = f"≥ {format_number(row['floor'])}" if "floor" in row else ""
        verdict = ("ok" if row["meets_floor"] else "MISS") if "meets_floor" in row else ""
        lines.append(
            (str(row["figure"]), row["name"], row["unit"], _range(row["value"]), base, ratio, floor, verdict)
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    text = ["  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip() for line in lines]
    text.insert(1, "-" * len(text[0]))
    return "\n".join(text)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``agentdistill bench``."""
    parser.add_argument(
        "--device",
        choices=("cpu", "cuda"),
        default="cpu",
        help="cpu: the CPU settings; cuda: the GPU settings of figures 3 and 4 (others stay on CPU)",
    )
    parser.add_argument("--out", default="runs/bench", help="folder for bench.json (default runs/bench)")
    parser.add_argument(
        "--repeats", type=int, default=3, help="repeats per side of each comparison (default 3)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="a tiny budget (seconds per figure): checks that it runs"
    )
    parser.add_argument(
        "--only",
        nargs="+",
        metavar="FIGURE",
        default=None,
        help="figures to run, by name or number: "
        + ", ".join(f"{n} {name}" for n, (name, _) in FIGURES.items()),
    )


def run(args: argparse.Namespace) -> int:
    """Run the selected figures, print the table and write ``<out>/bench.json``."""
    import tempfile

    if args.repeats < 1:
        raise UserError(f"--repeats must be >= 1, got {args.repeats}")
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise UserError(
                "--device cuda: torch sees no CUDA device here (torch.cuda.is_available() is False)"
            )
    figures = select_figures(args.only)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-", dir=out_dir) as scratch:
        ctx = BenchContext(args.device, args.repeats, args.quick, Path(scratch), os.cpu_count() or 1)
        for number in figures:
            name, target = FIGURES[number]
            module, _, function = target.partition(":")
            print(f"[bench] figure {number} {name} ...", file=sys.stderr, flush=True)
            t0 = time.perf_counter()
            try:
                results = getattr(import_module(module), function)(ctx)
            except Exception as err:
                if os.environ.get("AGENTDISTILL_DEBUG"):
                    raise
                results = [Result(number, name, "", [], error=f"{type(err).__name__}: {err}")]
            rows += [r.to_json() for r in results]
            print(
                f"[bench] figure {number} {name}: {time.perf_counter() - t0:.0f} s",
                file=sys.stderr,
                flush=True,
            )
    report = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"), "device": args.device,
        "repeats": args.repeats, "quick": args.quick, "machine": machine(),
        "wall_s": round(time.perf_counter() - started, 1), "figures": rows,
    }
    path = out_dir / "bench.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report, indent=1, allow_nan=False))
    tmp.replace(path)
    cores = report["machine"]["cores"]
    print(f"machine: {cores} cores, {report['machine'].get('gpu', 'no GPU')}; device {args.device}; "
          f"{args.repeats} repeats; {report['wall_s']:.0f} s")
    print(format_table(rows))
    print(f"bench.json: {path}")
    return 0
