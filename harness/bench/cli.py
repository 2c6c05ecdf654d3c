"""``agentdistill bench``: speed and memory figures, each measured side by side with what a user would
otherwise run, printed as one table and written to ``<out>/bench.json`` (rewritten after each figure, its
``finished`` false until the last, so a run stopped midway keeps the figures it measured).

    agentdistill bench                          # CPU, every figure (make bench)
    agentdistill bench --device cuda            # GPU settings of figures 3, 4, 7 (make bench DEVICE=cuda)
    agentdistill bench --only policy distill --budget 60   # up to 60 s of repeats per comparison
    agentdistill bench --only opd                           # on-policy distillation: scoring, round split

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
 7     opd         student tokens scored/s by the live teacher over a round's student
                   episodes; wall time of one OPD round split into rollout / scoring / training
 8     finetune    tokens/s of ``agentdistill train`` fine-tuning SmolLM2-135M (bf16 where the  ≥ 2.5×
                   CPU has it, LM head at loss positions) vs a plain fp32 HF forward+backward
 9     decoding    SmolLM2-135M in the agent's precision, both rows vs HF ``generate``:
                   LM-agent turns/s on replayed WebShop expert episodes (per-slot KV kept       ≥ 3×
                   across turns) vs re-prefilling every turn, each row decoding the same tokens;
                   ms per decoding step at B = 16, same prompt lengths (ratio generate / ours)  ≥ 1.0
=====  ==========  ==========================================================================  =======

How a comparison is measured (:func:`harness.bench.core.measure`): both sides run in this process,
interleaved repeat by repeat (A B, B A, ...), with torch and BLAS/OpenMP threads pinned to the same
count for both (``--threads``; figure 3 on CPU: 1, see :mod:`harness.bench.policy`; stated in the
table); one warm-up round is discarded; repeats go on
until the 95% bootstrap interval of the ratio (resampling paired repeats) lies within ±15% of its
median, or the figure's time budget (``--budget``) is spent. The table prints each ratio's median and
interval; a ratio whose interval stayed wider is marked "unstable" instead of ok/MISS. Figure 1 also
prints the harness overhead in µs per env step added to the bare loop (target ≤ 50 µs with the episode
log on), measured on recorded episodes played back (:mod:`harness.bench.replay`).
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

from harness.bench.core import BenchContext, Budget, Result, load_average, machine, threads_label
from harness.cuda import require_cuda
from harness.errors import UserError
from harness.metrics import format_number
from harness.options import finite_float

#: figure number -> (name, "module:function"); each function takes a BenchContext and returns Results
FIGURES: dict[int, tuple[str, str]] = {
    1: ("overhead", "harness.bench.rollouts:harness_overhead"),
    2: ("scaling", "harness.bench.rollouts:parallel_scaling"),
    3: ("policy", "harness.bench.policy:batched_policy"),
    4: ("distill", "harness.bench.training:distill_throughput"),
    5: ("latency", "harness.bench.rollouts:step_latency"),
    6: ("memory", "harness.bench.rollouts:rollout_memory"),
    7: ("opd", "harness.bench.opd:opd_round"),
    8: ("finetune", "harness.bench.finetune:finetune_throughput"),
    9: ("decoding", "harness.bench.decoding:decoding"),
}
#: seconds of repeats per comparison after its minimum repeats (make bench stays within ~6 min on 2 cores)
DEFAULT_BUDGET_S = 25.0
#: repeats of the figures that compare nothing (latency, generation time, memory)
PLAIN_REPEATS = 3


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


def _interval(s: dict[str, Any]) -> str:
    return f"{format_number(s['median'])} [{format_number(s['low'])}–{format_number(s['high'])}]"


def _overhead(row: dict[str, Any]) -> str:
    added = row.get("overhead_us_per_step")
    if not added:
        return ""
    over = f" over {added['steps']:,} replayed steps" if added.get("steps") else ""
    if added["target"] is None:
        return _interval(added) + over
    verdict = "ok" if added["meets_target"] else "MISS"
    return f"{_interval(added)} ≤ {added['target']:g} {verdict}{over}"


def format_table(rows: list[dict[str, Any]]) -> str:
    """The printed table: ours median [min–max], the baseline's median, the ratio's median [95% interval]
    against its floor (ok, MISS, or unstable), µs/step added, the threads and the paired repeats; then
    what each figure's baseline is."""
    header = ("fig", "what", "unit", "ours median [min–max]", "baseline", "ratio median [95% CI]", "floor",
              "verdict", "µs/step added [95% CI]", "threads", "n")
    lines = [header]
    baselines: dict[int, list[str]] = {}
    for row in rows:
        if "error" in row:
            cells = (str(row["figure"]), row["name"], row["unit"], "not measured: " + row["error"][:70])
            lines.append(cells + ("",) * (len(header) - len(cells)))
            continue
        base = ratio = ""
        if "baseline" in row:
            base, ratio = format_number(row["baseline"]["median"]), _interval(row["ratio"])
            if row["baseline_label"] not in baselines.setdefault(row["figure"], []):
                baselines[row["figure"]].append(row["baseline_label"])
        floor = f"≥ {format_number(row['floor'])}" if "floor" in row else ""
        lines.append((str(row["figure"]), row["name"], row["unit"], _range(row["value"]), base, ratio, floor,
                      row.get("verdict", ""), _overhead(row), threads_label(row.get("threads")),
                      str(row["repeats"])))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    text = ["  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip() for line in lines]
    text.insert(1, "-" * max(len(line) for line in text))
    text += [f"baseline of figure {fig}: {'; '.join(labels)}" for fig, labels in sorted(baselines.items())]
    return "\n".join(text)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``agentdistill bench``."""
    parser.add_argument(
        "--device",
        choices=("cpu", "cuda"),
        default="cpu",
        help="cpu: the CPU settings; cuda: the GPU settings of figures 3, 4 and 7 (others stay on CPU)",
    )
    parser.add_argument("--out", default="runs/bench", help="folder for bench.json (default runs/bench)")
    parser.add_argument("--budget", type=finite_float, default=DEFAULT_BUDGET_S, metavar="SECONDS",
                        help="seconds of further repeats per comparison once its minimum repeats are done, "
                        f"while its ratio is not yet stable (default {DEFAULT_BUDGET_S:g})")
    parser.add_argument("--min-repeats", type=int, default=5,
                        help="paired repeats per comparison at least, after one warm-up round (default 5)")
    parser.add_argument("--max-repeats", type=int, default=50,
                        help="paired repeats per comparison at most (default 50)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch and BLAS/OpenMP threads pinned for both sides of every comparison "
                        "(default: the machine's cores)")
    parser.add_argument("--quick", action="store_true",
                        help="a tiny budget (2 repeats, no time budget, tiny sizes): checks that it runs")
    parser.add_argument(
        "--only",
        nargs="+",
        metavar="FIGURE",
        default=None,
        help="figures to run, by name or number: "
        + ", ".join(f"{n} {name}" for n, (name, _) in FIGURES.items()),
    )


def _load(averages: list[float] | None) -> str:
    return "/".join(f"{x:g}" for x in averages) if averages else "unknown"


def context_budget(args: argparse.Namespace) -> Budget:
    """The budget of each comparison from the options (``--quick``: 2 repeats, no time budget)."""
    try:
        if args.quick:
            return Budget(seconds=0.0, min_repeats=2, max_repeats=2)
        return Budget(seconds=args.budget, min_repeats=args.min_repeats, max_repeats=args.max_repeats)
    except ValueError as err:
        raise UserError(f"--budget/--min-repeats/--max-repeats: {err}") from err


def run(args: argparse.Namespace) -> int:
    """Run the selected figures, print the table and write ``<out>/bench.json``."""
    import tempfile

    budget = context_budget(args)
    cores = os.cpu_count() or 1
    threads = cores if args.threads is None else args.threads
    if threads < 1:
        raise UserError(f"--threads must be >= 1, got {threads}")
    if args.device == "cuda":
        require_cuda("--device cuda")
    figures = select_figures(args.only)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    load_before = load_average()
    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    path = out_dir / "bench.json"

    def write_report(finished: bool) -> dict[str, Any]:
        """bench.json with the figures measured so far (after each figure, so a stopped run keeps them)."""
        report = {
            "created": datetime.now(UTC).isoformat(timespec="seconds"), "device": args.device,
            "budget": {"seconds": budget.seconds, "min_repeats": budget.min_repeats,
                       "max_repeats": budget.max_repeats, "warmup": budget.warmup},
            "threads": threads, "quick": args.quick, "machine": machine(), "load_average_before": load_before,
            "wall_s": round(time.perf_counter() - started, 1), "finished": finished, "figures": rows,
        }
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(report, indent=1, allow_nan=False))
        tmp.replace(path)
        return report

    with tempfile.TemporaryDirectory(prefix="bench-", dir=out_dir) as scratch:
        repeats = 2 if args.quick else PLAIN_REPEATS
        ctx = BenchContext(args.device, budget, threads, repeats, args.quick, Path(scratch), cores)
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
            write_report(finished=False)
            print(f"[bench] figure {number} {name}: {time.perf_counter() - t0:.0f} s", file=sys.stderr,
                  flush=True)
            print(format_table([r.to_json() for r in results]), file=sys.stderr, flush=True)
    report = write_report(finished=True)
    host = report["machine"]
    load = f"{_load(load_before)} → {_load(host['load_average'])}"
    print(f"machine: {cores} cores, {host.get('gpu', 'no GPU')}; device {args.device}; threads {threads}; "
          f"budget {budget.seconds:g} s, {budget.min_repeats}–{budget.max_repeats} repeats per comparison; "
          f"load average (1/5/15 min) {load}; {report['wall_s']:.0f} s")
    print(format_table(rows))
    print(f"bench.json: {path}")
    return 0
