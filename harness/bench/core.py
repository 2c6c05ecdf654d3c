"""What every bench figure shares: :class:`Result` (a row of the table), :func:`alternate` (both
sides of a comparison, repeat by repeat), :class:`BenchContext`, and the machine's description."""
from __future__ import annotations

import contextlib
import os
import platform
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENV_NAMES = ("alfworld", "hotpotqa", "webshop")


@dataclass
class Result:
    """One row of the table: a value per repeat, optionally a baseline per repeat and a ratio floor."""

    figure: int
    name: str
    unit: str
    values: list[float]
    baseline: list[float] = field(default_factory=list)
    baseline_label: str = ""
    floor: float | None = None
    higher_is_better: bool = True
    details: dict[str, Any] = field(default_factory=dict)
    note: str = ""
    error: str = ""

    def ratios(self) -> list[float]:
        """ours / baseline per repeat (higher is better), or baseline / ours where lower is better."""
        pairs = zip(self.values, self.baseline, strict=True)
        if self.higher_is_better:
            return [a / b for a, b in pairs if b > 0]
        return [b / a for a, b in pairs if a > 0]

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"figure": self.figure, "name": self.name, "unit": self.unit}
        if self.error:
            return {**out, "error": self.error, "note": self.note}
        out["value"] = spread(self.values)
        if self.baseline and self.ratios():
            ratio = spread(self.ratios())
            out.update(baseline=spread(self.baseline), baseline_label=self.baseline_label, ratio=ratio)
            if self.floor is not None:
                out.update(floor=self.floor, meets_floor=ratio["median"] >= self.floor)
        out.update(details=self.details, note=self.note)
        return out


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


def alternate(sides: dict[str, Callable[[], float]], repeats: int) -> dict[str, list[float]]:
    """Run each side once per repeat, in alternating order (A B, B A, ...); each side's list of results."""
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    names = list(sides)
    out: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        for name in (names if r % 2 == 0 else names[::-1]):
            out[name].append(float(sides[name]()))
    return out


@dataclass
class BenchContext:
    """What every figure gets: device, repeats, the quick flag, a scratch dir and the machine's cores."""

    device: str
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


def machine() -> dict[str, Any]:
    """Cores, CPU, memory, torch and GPU of this machine."""
    import torch

    info: dict[str, Any] = {
        "cores": os.cpu_count(),
        "cpu": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
    }
    with contextlib.suppress(ValueError, OSError):  # sysconf names this platform does not know
        info["memory_GiB"] = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name()
    return info
