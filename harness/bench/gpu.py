"""The GPU figures as one prepared script: a kit made here (recorded episodes, the model's config and
tokenizer), carried to a GPU machine that has torch, transformers, pandas and pyarrow but none of ray,
gymnasium, textworld or alfworld, and run there.

    python -m harness.bench.gpu prepare --kit runs/gpu-kit      # here: needs the envs (plays the expert)
    python3 -m harness.bench.gpu run --kit runs/gpu-kit --device cuda --out runs/gpu-bench   # on the GPU

``run`` measures, side by side in one process (:func:`harness.bench.core.measure`), what ``make bench
DEVICE=cuda`` measures, with the GPU sizes, from the kit alone (it imports no env):

- figure 3: ``LMAgent.generate`` vs HF ``generate`` with a static cache (and dynamic), SmolLM2-135M
  architecture, 128 × 512-token prompts, 64 new tokens;
- figure 4: ``distill --method sad`` (top-k from the log; teacher logits) vs the naive distillation loop,
  SmolLM2-135M architecture → the anchor's 37.8M student, 16 × 1,024 tokens;
- figure 7: on-policy scoring, the teacher's forward over logged episodes (the kit's expert episodes stand
  in for a round's student episodes: the scoring cost depends on their lengths, not on who played);
- figure 9: replayed WebShop turns/s and ms per decoding step at B = 16 vs HF ``generate``.

The models have random weights (the pretrained SmolLM2 does not travel: its weights come from a package
the GPU machine lacks; speed does not depend on weights). It writes ``<out>/bench.json`` and
``<out>/bench.md``: the card, the commit, each figure's median and ratio, and the model FLOPs utilisation
(FLOPs per token × tokens/s over the card's dense bf16 peak, :data:`PEAK_BF16_FLOPS`; on a card not in
that table MFU is left out with a note). ``--toy`` (kit and run): the tiny models and sizes, which run end
to end on the CPU with ``--device cpu`` in a test.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

#: dense bf16 peak FLOP/s by a substring of ``torch.cuda.get_device_name()`` (first match wins)
PEAK_BF16_FLOPS: dict[str, float] = {
    "H100 PCIe": 756e12,
    "H100 80GB HBM3": 989e12,  # the SXM card's name
    "H100 SXM": 989e12,
    "H200": 989e12,
}
KIT_FILE = "kit.json"
#: the files of a model folder that carry its config and tokenizer (no weights)
CONFIG_FILES = ("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
                "special_tokens_map.json", "chat_template.jinja", "vocab.json", "merges.txt")
#: recorded expert episodes in a full kit (figure 4 trains on them, figures 7 and 9 replay them)
KIT_EPISODES = 200
TOY_EPISODES = 4


# --- the kit (made where the envs are) ------------------------------------------------------------
def prepare(kit: Path, *, toy: bool, episodes: int | None = None) -> Path:
    """Write the kit: ``episodes/`` (expert WebShop train episodes), the models' config and tokenizer
    (``smollm2/``; ``--toy``: the ``tiny`` teacher and ``tiny-student`` with weights) and ``kit.json``."""
    from harness.bench.training import expert_episodes, tiny_pair
    from harness.provenance import commit

    if kit.exists():
        shutil.rmtree(kit)
    kit.mkdir(parents=True)
    n = episodes or (TOY_EPISODES if toy else KIT_EPISODES)
    run_dir = expert_episodes(kit / "episodes", n)
    if toy:
        models = dict(zip(("teacher", "student"), (str(p.relative_to(kit)) for p in tiny_pair(kit, run_dir)),
                          strict=True))
    else:
        from distill.models import resolve_model_path

        source, target = Path(resolve_model_path("smollm2-135m")), kit / "smollm2"
        target.mkdir()
        for name in CONFIG_FILES:
            if (source / name).exists():
                shutil.copy2(source / name, target / name)
        models = {"config": "smollm2"}
    meta = {"created": datetime.now(UTC).isoformat(timespec="seconds"), "commit": commit(), "toy": toy,
            "episodes": n, "models": models}
    (kit / KIT_FILE).write_text(json.dumps(meta, indent=1))
    return kit


def read_kit(kit: Path) -> dict[str, Any]:
    """``kit.json`` of a prepared kit (one-line error when it is missing)."""
    path = kit / KIT_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no kit here; make one with `python -m harness.bench.gpu prepare "
                                f"--kit {kit}` where the envs are installed")
    return json.loads(path.read_text())


def kit_models(kit: Path, meta: dict[str, Any], work: Path) -> tuple[Path, Path]:
    """(teacher, student) model dirs: the toy kit's, or SmolLM2-135M's architecture and the anchor's 37.8M
    student with random weights, built from the kit's config and tokenizer."""
    from harness.bench.policy import smollm2_random_dir
    from harness.bench.training import anchor_student

    models = meta["models"]
    if meta["toy"]:
        return kit / models["teacher"], kit / models["student"]
    source = kit / models["config"]
    return smollm2_random_dir(work, source), anchor_student(work, source)


# --- the run (on the GPU) --------------------------------------------------------------------------
def figures(kit: Path, teacher: Path, student: Path, toy: bool) -> list[tuple[int, str, Callable[..., Any]]]:
    """(number, name, function of a BenchContext) of each GPU figure, with the GPU (or toy) sizes."""
    from harness.bench.decoding import decoding_rows
    from harness.bench.opd import scoring_row
    from harness.bench.policy import static_cache_rows
    from harness.bench.training import distill_rows

    episodes = kit / "episodes"
    label = "tiny" if toy else "smollm2-135m arch"
    return [
        (3, "policy", lambda ctx: static_cache_rows(
            ctx, teacher, batch=4 if toy else 128, new=8 if toy else 64, prompt_tokens=32 if toy else 512,
            label=label)),
        (4, "distill", lambda ctx: distill_rows(
            ctx, episodes, teacher, student, steps=2 if toy else 10, batch=2 if toy else 16,
            max_length=256 if toy else 1024,
            models="tiny → tiny-student" if toy else "smollm2-135m arch → 38M")),
        (7, "opd", lambda ctx: [scoring_row(
            ctx, episodes, teacher, batch=2 if toy else 16, max_length=256 if toy else 1024,
            models=f"{label} scores expert episodes")]),
        (9, "decoding", lambda ctx: decoding_rows(
            ctx, episodes, teacher, teacher, episodes=2 if toy else 32, batch=2 if toy else 16,
            max_new_tokens=8 if toy else 64, step_prompt_tokens=16 if toy else 512,
            step_new_tokens=24 if toy else 64, label=label)),
    ]


def peak_flops(card: str) -> float | None:
    """The dense bf16 peak of ``card`` from :data:`PEAK_BF16_FLOPS`, or None for a card not in it."""
    return next((peak for name, peak in PEAK_BF16_FLOPS.items() if name in card), None)


def add_mfu(row: dict[str, Any], peak: float | None) -> None:
    """``row["mfu"]`` (and ``row["baseline_mfu"]``): FLOPs per token × the median rate / ``peak``."""
    flops = row.get("details", {}).get("flops_per_token")
    if peak is None or flops is None or "value" not in row or "tokens/s" not in row["unit"]:
        return
    row["mfu"] = flops * row["value"]["median"] / peak
    if "baseline" in row:
        base = row["details"].get("baseline_flops_per_token", flops)
        row["baseline_mfu"] = base * row["baseline"]["median"] / peak


def markdown(report: dict[str, Any]) -> str:
    """``bench.md``: the card, commit and one table row per figure row."""
    from harness.metrics import format_number

    peak = report["peak_bf16_TFLOPs"]
    mfu_line = (f"FLOPs per token × tokens/s / {peak:g} TFLOP/s (the card's dense bf16 peak)" if peak
                else "omitted: no dense bf16 peak known for this card")
    lines = [f"# GPU bench, {report['created']}", "",
             f"- card: {report['card']}; torch {report['machine']['torch']}; device {report['device']}",
             f"- commit: {report['commit'] or 'unknown'} "
             f"(kit prepared at {report['kit']['commit'] or 'unknown'})",
             f"- MFU: {mfu_line}",
             f"- {report['wall_s']:g} s; toy sizes: {report['toy']}", "",
             "| fig | what | unit | ours | baseline | ratio [95% CI] | floor | verdict | MFU ours "
             "| MFU baseline |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for row in report["figures"]:
        if "error" in row:
            lines.append(f"| {row['figure']} | {row['name']} | | not measured: {row['error'][:80]} "
                         "| | | | | | |")
            continue

        def mfu(key: str, row: dict[str, Any] = row) -> str:
            return f"{row[key]:.1%}" if key in row else ""

        base = format_number(row["baseline"]["median"]) if "baseline" in row else ""
        ratio = (f"{format_number(row['ratio']['median'])} [{format_number(row['ratio']['low'])}–"
                 f"{format_number(row['ratio']['high'])}]") if "ratio" in row else ""
        floor = f"≥ {format_number(row['floor'])}" if "floor" in row else ""
        lines.append(f"| {row['figure']} | {row['name']} | {row['unit']} "
                     f"| {format_number(row['value']['median'])} | {base} | {ratio} | {floor} "
                     f"| {row.get('verdict', '')} | {mfu('mfu')} "
                     f"| {mfu('baseline_mfu')} |")
    return "\n".join(lines) + "\n"


def run(kit: Path, out: Path, *, device: str, toy: bool, budget_s: float, threads: int | None,
        only: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the GPU figures from ``kit`` on ``device``; write ``<out>/bench.json`` and ``<out>/bench.md``."""
    import torch

    from harness.bench.core import BenchContext, Budget, Result, machine
    from harness.provenance import commit

    meta = read_kit(kit)
    if meta["toy"] != toy:
        raise ValueError(f"{kit / KIT_FILE}: toy={meta['toy']}, but the run asked for toy={toy}; "
                         "prepare the kit with the same --toy")
    cores = os.cpu_count() or 1
    budget = Budget(seconds=0.0, min_repeats=2, max_repeats=2) if toy else Budget(seconds=budget_s)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    card = torch.cuda.get_device_name() if device == "cuda" else f"CPU ({machine()['cpu']})"
    peak = peak_flops(card) if device == "cuda" else None
    with tempfile.TemporaryDirectory(prefix="gpu-bench-", dir=out) as scratch:
        ctx = BenchContext(device, budget, threads or cores, 2, toy, Path(scratch), cores)
        teacher, student = kit_models(kit, meta, Path(scratch))
        for number, name, function in figures(kit, teacher, student, toy):
            if only and name not in only and str(number) not in only:
                continue
            print(f"[gpu bench] figure {number} {name} ...", file=sys.stderr, flush=True)
            try:
                results = function(ctx)
            except Exception as err:
                if os.environ.get("AGENTDISTILL_DEBUG"):
                    raise
                results = [Result(number, name, "", [], error=f"{type(err).__name__}: {err}")]
            for result in results:
                row = result.to_json()
                add_mfu(row, peak)
                rows.append(row)
    report = {"created": datetime.now(UTC).isoformat(timespec="seconds"), "device": device, "card": card,
              "commit": commit() or meta["commit"], "kit": meta, "toy": toy,
              "peak_bf16_TFLOPs": peak / 1e12 if peak else None, "machine": machine(),
              "budget": {"seconds": budget.seconds, "min_repeats": budget.min_repeats,
                         "max_repeats": budget.max_repeats},
              "wall_s": round(time.perf_counter() - started, 1), "figures": rows}
    (out / "bench.json").write_text(json.dumps(report, indent=1, allow_nan=False))
    (out / "bench.md").write_text(markdown(report))
    return report


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m harness.bench.gpu prepare|run ...``."""
    parser = argparse.ArgumentParser(prog="python -m harness.bench.gpu", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    make = sub.add_parser("prepare", help="write the kit (here, where the envs are)")
    make.add_argument("--kit", type=Path, required=True, help="folder to write the kit to (replaced)")
    make.add_argument("--toy", action="store_true", help="the tiny models, a few episodes")
    make.add_argument("--episodes", type=int, default=None, help="expert episodes to record")
    go = sub.add_parser("run", help="run the GPU figures from a kit")
    go.add_argument("--kit", type=Path, required=True, help="a folder written by prepare")
    go.add_argument("--out", type=Path, required=True, help="folder for bench.json and bench.md")
    go.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    go.add_argument("--toy", action="store_true", help="tiny sizes, 2 repeats (a kit prepared with --toy)")
    go.add_argument("--budget", type=float, default=25.0,
                    help="seconds of repeats per comparison (default 25)")
    go.add_argument("--threads", type=int, default=None, help="torch/BLAS threads (default: the cores)")
    go.add_argument("--only", nargs="+", default=None, help="figures by name or number (3, 4, 7, 9)")
    args = parser.parse_args(argv)
    try:
        if args.command == "prepare":
            print(prepare(args.kit, toy=args.toy, episodes=args.episodes))
            return 0
        if args.device == "cuda":
            import torch

            if not torch.cuda.is_available():
                raise RuntimeError("--device cuda: torch sees no CUDA device (off a GPU: --device cpu --toy)")
        report = run(args.kit, args.out, device=args.device, toy=args.toy, budget_s=args.budget,
                     threads=args.threads, only=args.only)
    except (FileNotFoundError, ValueError, RuntimeError) as err:
        print(f"python -m harness.bench.gpu: error: {err}", file=sys.stderr)
        return 2
    print((args.out / "bench.md").read_text())
    return 1 if any("error" in row for row in report["figures"]) else 0


if __name__ == "__main__":
    sys.exit(main())
