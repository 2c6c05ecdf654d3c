"""What every bench figure shares: :func:`measure` (the sides of a comparison interleaved repeat by repeat,
threads pinned, repeated until each ratio is stable), :func:`median_interval` (the bootstrap interval of
a median over paired repeats), :class:`Result` (a row of the table), :class:`BenchContext`, and the
machine's description."""
from __future__ import annotations

import contextlib
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ENV_NAMES = ("alfworld", "hotpotqa", "webshop")
#: a ratio is stable when its 95% interval lies within ± this fraction of its median
STABLE_WITHIN = 0.15
#: bootstrap resamples of the paired repeats
RESAMPLES = 2000


# --- statistics -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Interval:
    """A median and its 95% percentile-bootstrap interval."""

    median: float
    low: float
    high: float

    def within(self, fraction: float) -> bool:
        """Whether the interval lies inside ``median · (1 ± fraction)`` (for a positive median)."""
        return (1 - fraction) * self.median <= self.low and self.high <= (1 + fraction) * self.median


def median_interval(values: Sequence[float], confidence: float = 0.95, seed: int = 0) -> Interval:
    """The median of ``values`` (one per paired repeat) and the percentile-bootstrap interval of that
    median: the repeats are resampled with replacement, so each resample keeps a repeat's pair together."""
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        raise ValueError("median_interval of no values")
    idx = np.random.default_rng(seed).integers(0, data.size, size=(RESAMPLES, data.size))  # [resamples, n]
    medians = np.median(data[idx], axis=1)  # [resamples]
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(medians, [tail, 100 - tail])
    return Interval(float(np.median(data)), float(low), float(high))


def spread(values: Sequence[float]) -> dict[str, Any]:
    """Median, min, max and the values themselves."""
    if not values:
        raise ValueError("spread of no values")
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "values": list(values),
    }


# --- threads --------------------------------------------------------------------------------------
@contextlib.contextmanager
def pinned_threads(threads: int) -> Iterator[dict[str, int]]:
    """Pin torch's intra-op threads and every BLAS/OpenMP pool this process has loaded to ``threads``
    (restored on exit); yields what was set, ``{"torch": n, "blas": n}``, for the table."""
    import torch
    from threadpoolctl import threadpool_limits

    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with threadpool_limits(limits=threads):
            yield {"torch": torch.get_num_threads(), "blas": threads}
    finally:
        torch.set_num_threads(before)


def threads_label(threads: dict[str, int] | None) -> str:
    """``torch 2, BLAS 2`` for the table; empty when a row was not measured under pinned threads."""
    return f"torch {threads['torch']}, BLAS {threads['blas']}" if threads else ""


# --- paired measurement ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Budget:
    """How long a comparison runs: ``warmup`` discarded rounds, then at least ``min_repeats`` paired
    repeats, then more until every ratio is stable, ``seconds`` have passed or ``max_repeats`` is hit."""

    seconds: float
    min_repeats: int = 5
    max_repeats: int = 50
    warmup: int = 1

    def __post_init__(self) -> None:
        if self.min_repeats < 2 or self.max_repeats < self.min_repeats or self.warmup < 0 or self.seconds < 0:
            raise ValueError(
                f"budget needs 2 <= min_repeats <= max_repeats, warmup >= 0, seconds >= 0; got {self}"
            )


@dataclass
class Measured:
    """One side's value per paired repeat (warm-ups excluded), the threads both ran with, why the
    repeats stopped ("stable", "time budget", "max repeats") and the seconds the repeats took."""

    samples: dict[str, list[float]]
    threads: dict[str, int]
    stopped: str
    seconds: float


def measure(
    sides: dict[str, Callable[[], float]],
    ratios: Sequence[tuple[str, str]],
    budget: Budget,
    threads: int,
) -> Measured:
    """Run every side once per repeat, interleaved (A B, B A, ...), with ``threads`` pinned for all of
    them; discard ``budget.warmup`` rounds, then repeat until the 95% bootstrap interval of each
    ``(numerator, denominator)`` ratio (over paired repeats) lies within ±``STABLE_WITHIN`` of its median,
    or the budget is spent. Each side returns a positive number (a rate or a time)."""
    names = list(sides)
    unknown = {name for pair in ratios for name in pair} - set(names)
    if unknown:
        raise ValueError(f"ratios name sides that do not exist: {sorted(unknown)}; sides: {names}")
    samples: dict[str, list[float]] = {name: [] for name in names}
    with pinned_threads(threads) as pinned:

        def one_round(r: int, keep: bool) -> None:
            for name in names if r % 2 == 0 else names[::-1]:
                value = float(sides[name]())
                if not value > 0:
                    raise ValueError(f"side {name!r} returned {value}; expected a positive number")
                if keep:
                    samples[name].append(value)

        for r in range(budget.warmup):
            one_round(r, keep=False)
        started = time.perf_counter()
        stopped = "max repeats"
        for r in range(budget.max_repeats):
            one_round(budget.warmup + r, keep=True)
            if r + 1 < budget.min_repeats:
                continue
            if all(median_interval(_ratio(samples, *pair)).within(STABLE_WITHIN) for pair in ratios):
                stopped = "stable"
                break
            if time.perf_counter() - started >= budget.seconds:
                stopped = "time budget"
                break
    return Measured(samples, pinned, stopped, time.perf_counter() - started)


def _ratio(samples: dict[str, list[float]], numerator: str, denominator: str) -> list[float]:
    return [a / b for a, b in zip(samples[numerator], samples[denominator], strict=True)]


# --- a row of the table ---------------------------------------------------------------------------
@dataclass
class Result:
    """One row of the table: a value per repeat and, for a comparison, the baseline's value per repeat
    (paired), a ratio floor, the harness overhead in µs per step (and the env steps it was measured
    over), and the threads both sides ran with."""

    figure: int
    name: str
    unit: str
    values: list[float]
    baseline: list[float] = field(default_factory=list)
    baseline_label: str = ""
    floor: float | None = None
    higher_is_better: bool = True
    overhead_us_per_step: list[float] = field(default_factory=list)
    overhead_target_us: float | None = None
    overhead_steps: int | None = None
    threads: dict[str, int] | None = None
    stopped: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    note: str = ""
    error: str = ""

    def ratios(self) -> list[float]:
        """ours / baseline per repeat (higher is better), or baseline / ours where lower is better."""
        pairs = zip(self.values, self.baseline, strict=True)
        if self.higher_is_better:
            return [a / b for a, b in pairs]
        return [b / a for a, b in pairs]

    def to_json(self) -> dict[str, Any]:
        """The row as bench.json stores it; ``verdict`` is ok/MISS only for a stable ratio."""
        out: dict[str, Any] = {"figure": self.figure, "name": self.name, "unit": self.unit}
        if self.error:
            return {**out, "error": self.error, "note": self.note}
        out["value"] = spread(self.values)
        if self.baseline:
            ratio = median_interval(self.ratios())
            stable = ratio.within(STABLE_WITHIN)
            out.update(
                baseline=spread(self.baseline),
                baseline_label=self.baseline_label,
                ratio={"median": ratio.median, "low": ratio.low, "high": ratio.high,
                       "values": self.ratios(), "stable": stable},
            )
            if self.floor is not None:
                out["floor"] = self.floor
                out["verdict"] = ("ok" if ratio.median >= self.floor else "MISS") if stable else "unstable"
            elif not stable:
                out["verdict"] = "unstable"
        if self.overhead_us_per_step:
            added = median_interval(self.overhead_us_per_step)
            out["overhead_us_per_step"] = {
                "median": added.median, "low": added.low, "high": added.high,
                "values": self.overhead_us_per_step, "target": self.overhead_target_us,
                "steps": self.overhead_steps,
                "meets_target": None if self.overhead_target_us is None
                else added.median <= self.overhead_target_us,
            }
        out.update(repeats=len(self.values), threads=self.threads, stopped=self.stopped,
                   details=self.details, note=self.note)
        return out


def paired_result(figure: int, name: str, unit: str, measured: Measured, ours: str, baseline: str,
                  **row: Any) -> Result:
    """A :class:`Result` comparing side ``ours`` with side ``baseline`` of ``measured``."""
    return Result(figure, name, unit, measured.samples[ours], measured.samples[baseline],
                  threads=measured.threads, stopped=measured.stopped, **row)


@dataclass
class BenchContext:
    """What every figure gets: device, the budget of each comparison, the threads it pins, the repeats
    of figures that compare nothing, the quick flag, a scratch dir and the machine's cores."""

    device: str
    budget: Budget
    threads: int
    repeats: int
    quick: bool
    work_dir: Path
    cores: int

    def pick(self, full: Any, quick: Any) -> Any:
        """The full budget's value, or the tiny one under ``--quick``."""
        return quick if self.quick else full


def available_envs() -> tuple[list[str], dict[str, str]]:
    """(envs that build, {env: why not}) among alfworld, hotpotqa, webshop."""
    import envs

    ready, missing = [], {}
    for name in ENV_NAMES:
        try:
            envs.make(name, split="test").close()
            ready.append(name)
        except Exception as err:
            missing[name] = f"{type(err).__name__}: {err}"
    return ready, missing


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages (None where the platform has none)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def machine() -> dict[str, Any]:
    """Cores, CPU, memory, load average, torch and GPU of this machine."""
    import torch

    info: dict[str, Any] = {
        "cores": os.cpu_count(),
        "cpu": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "torch": torch.__version__,
    }
    with contextlib.suppress(ValueError, OSError):  # sysconf names this platform does not know
        info["memory_GiB"] = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    info["load_average"] = load_average()
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name()
    return info
