"""Cached, resumable units of work: each pipeline stage is one or more :class:`Unit` s run by
:class:`StageRunner`.

A unit is done when its completion marker (:data:`~harness.experiment.layout.STAGE_MARKER`) exists;
a rerun skips it. The marker records what the unit was asked (``params``), the env, the tokenizer
of any model it made or used, and the id of every input it read. A rerun that asks for something
else, or whose inputs were redone since, stops with an error naming the stage: nothing finished is
ever silently redone, or silently reused; ``--force STAGE`` (``--force STAGE+``: that stage and every
later one) removes and redoes it.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import interrupt
from harness.errors import UserError
from harness.experiment.layout import STAGE_MARKER, write_json
from harness.run_dir import run_directory

STAGES = ("demos", "teacher", "teacher_rollouts", "teacher_eval", "baselines", "lr_grid", "students",
          "student_eval", "offline", "report")


@dataclass
class Unit:
    """One cached piece of work: a directory, what it is asked to do, what it reads, how to make it."""

    stage: str
    path: Path
    params: dict[str, Any]
    inputs: tuple[Path, ...]
    work: Callable[[], dict[str, Any]]  # fills ``path``; returns extra marker fields (e.g. tokenizer)


def read_marker(path: Path) -> dict[str, Any] | None:
    """The completion marker of a unit directory, or None while it is not complete."""
    marker = path / STAGE_MARKER
    if not marker.is_file():
        return None
    try:
        return json.loads(marker.read_text())
    except json.JSONDecodeError as err:
        raise UserError(
            f"{marker}: corrupt completion marker ({err}); remove it to redo that stage"
        ) from None


def tokenizer_fingerprint(model_dir: Path) -> str:
    """A short hash of a saved tokenizer's vocabulary (same hash = same token ids)."""
    from transformers import AutoTokenizer

    vocab = AutoTokenizer.from_pretrained(model_dir, trust_remote_code=False).get_vocab()
    return hashlib.sha256(json.dumps(sorted(vocab.items())).encode()).hexdigest()[:16]


def parse_force(values: list[str]) -> set[str]:
    """``--force`` values (``STAGE``, ``STAGE+``, comma-separated, repeatable) -> the stages to redo."""
    forced: set[str] = set()
    for value in values:
        for item in filter(None, (v.strip() for v in value.split(","))):
            name, onwards = item.rstrip("+"), item.endswith("+")
            if name not in STAGES:
                raise UserError(f"--force {item}: unknown stage {name!r}; stages: {', '.join(STAGES)}")
            forced.update(STAGES[STAGES.index(name):] if onwards else (name,))
    return forced


class StageRunner:
    """Runs units in order, skipping complete ones and refusing stale or foreign inputs."""

    def __init__(self, root: Path, env: str, forced: set[str]):
        self.root, self.env, self.forced = root, env, forced
        self._redone: set[Path] = set()

    def run_stage(self, stage: str, units: list[Unit], expected_s: float) -> list[dict[str, Any]]:
        """Run every unit of ``stage`` under one progress bar (``expected_s``: the whole stage's estimate,
        printed for the share of its units still to run); returns their markers."""
        from tqdm import tqdm

        todo = sum(read_marker(u.path) is None or stage in self.forced for u in units)
        print(
            f"[pipeline] stage {stage}: {len(units)} unit(s), {todo} to run, "
            f"expected ~{expected_s * todo / max(len(units), 1) / 60:.1f} min",
            file=sys.stderr,
            flush=True,
        )
        markers = []
        with tqdm(total=len(units), desc=f"stage {stage}", unit="unit", file=sys.stderr, leave=True) as bar:
            for unit in units:
                markers.append(self.run_unit(unit))
                bar.update(1)
        return markers

    def run_unit(self, unit: Unit) -> dict[str, Any]:
        rel = unit.path.relative_to(self.root)
        if unit.stage in self.forced and unit.path not in self._redone and unit.path.exists():
            shutil.rmtree(run_directory(unit.path))
        self._redone.add(unit.path)
        inputs = {str(p.relative_to(self.root)): self._input_marker(unit, p) for p in unit.inputs}
        input_ids = {name: m["id"] for name, m in inputs.items()}
        tokenizers = {name: m["tokenizer"] for name, m in inputs.items() if m.get("tokenizer")}
        if len(set(tokenizers.values())) > 1:
            raise UserError(f"stage {unit.stage!r} ({rel}) expected inputs with one tokenizer, found "
                            f"{tokenizers}; redo the stale ones with --force")
        done = read_marker(unit.path)
        if done is not None:
            self._check_done(unit, done, input_ids)
            return done
        started = time.perf_counter()
        run_directory(unit.path)  # a unit folder that is a symbolic link is refused, not written through
        extra = unit.work()
        interrupt.check()  # a Ctrl-C lost in a finaliser during the work: the unit is not complete
        marker = {"stage": unit.stage, "env": self.env, "params": unit.params, "inputs": input_ids,
                  "id": uuid.uuid4().hex, "wall_s": time.perf_counter() - started, "finished_at": time.time(),
                  "tokenizer": next(iter(tokenizers.values()), None), **extra}
        write_json(unit.path / STAGE_MARKER, marker)
        return marker

    def _input_marker(self, unit: Unit, path: Path) -> dict[str, Any]:
        marker = read_marker(path)
        if marker is None:
            raise UserError(
                f"stage {unit.stage!r} needs the finished output of stage "
                f"{path.relative_to(self.root).parts[0]!r} at {path}, which is missing or incomplete"
            )
        if marker.get("env") != self.env:
            raise UserError(f"stage {unit.stage!r} expected {path} to hold env {self.env!r}, found env "
                            f"{marker.get('env')!r}; use another --run for another env")
        return marker

    def _check_done(self, unit: Unit, done: dict[str, Any], input_ids: dict[str, str]) -> None:
        rel = unit.path.relative_to(self.root)
        redo = f"rerun with --force {unit.stage}+ to redo it (and what depends on it)"
        if done.get("env") != self.env:
            raise UserError(
                f"stage {unit.stage!r} at {rel} was made for env {done.get('env')!r}, not {self.env!r}; "
                "use another --run"
            )
        asked = json.loads(json.dumps(unit.params, default=str))
        if done.get("params") != asked:
            changed = {k: (done.get("params", {}).get(k), v) for k, v in asked.items()
                       if done.get("params", {}).get(k) != v}
            detail = ", ".join(f"{k}: was {a!r}, now {b!r}" for k, (a, b) in changed.items())
            raise UserError(
                f"stage {unit.stage!r} at {rel} was completed with other settings ({detail}); {redo}"
            )
        stale = [name for name, ident in input_ids.items() if done.get("inputs", {}).get(name) != ident]
        if stale:
            raise UserError(f"stage {unit.stage!r} at {rel} was built from an earlier {', '.join(stale)}, "
                            f"redone since; {redo}")
