"""Which floating-point precision a model computes in: bf16 autocast where the hardware runs it fast,
fp32 elsewhere. One rule for play (:mod:`agents.lm`) and training (:mod:`distill.train`).

    precision = resolve_precision("auto", torch.device("cpu"))   # "bf16" on a CPU with AMX / AVX512-BF16
    with autocast(precision, device):
        logits = model(ids).logits

- ``"auto"``: bf16 on CUDA and on a CPU whose flags show ``amx_bf16`` or ``avx512_bf16`` (detected once
  per process from ``/proc/cpuinfo``, or ``torch.backends.cpu.get_cpu_capability()`` where that file is
  missing); fp32 elsewhere.
- ``"bf16"`` / ``"fp32"`` force it. bf16 on a CPU without either flag is allowed (torch emulates it, slowly).

Weights stay fp32 under autocast: matmuls run in bf16, reductions (softmax, losses) in fp32, so a run
records the precision beside the device in ``run.json``, ``train_summary.json`` and the report.
"""
from __future__ import annotations

import contextlib
import functools
from pathlib import Path

import torch

PRECISIONS = ("auto", "bf16", "fp32")
#: CPU flags of the instructions that make bf16 matmuls faster than fp32 (Intel AMX, AVX512-BF16)
BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")


@functools.cache
def cpu_bf16_flags() -> tuple[str, ...]:
    """The CPU's flags among :data:`BF16_CPU_FLAGS` (empty when it has none or they cannot be read)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        capability = str(torch.backends.cpu.get_cpu_capability()).lower()  # "AVX512", "AMX", ...
        return ("amx_bf16",) if "amx" in capability else ()
    for line in text.splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[-1].split())
            return tuple(f for f in BF16_CPU_FLAGS if f in flags)
    return ()


def resolve_precision(precision: str, device: torch.device | str) -> str:
    """``"bf16"`` or ``"fp32"`` for ``precision`` (one of :data:`PRECISIONS`) on ``device``."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r}: expected one of {', '.join(PRECISIONS)}")
    if precision != "auto":
        return precision
    kind = torch.device(device).type
    if kind == "cuda":
        return "bf16"
    if kind == "cpu" and cpu_bf16_flags():
        return "bf16"
    return "fp32"


def autocast(precision: str, device: torch.device | str) -> contextlib.AbstractContextManager:
    """bf16 autocast on ``device`` for a resolved ``"bf16"``; nothing (fp32) for ``"fp32"``."""
    if precision == "bf16":
        return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)
    if precision != "fp32":
        raise ValueError(f"precision={precision!r}: resolve it first (resolve_precision)")
    return contextlib.nullcontext()
