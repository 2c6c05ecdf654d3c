"""``agentdistill pipeline``: the paper's experiment end to end, every stage cached and resumable.

    agentdistill pipeline --env webshop --preset tiny            # make pipeline ENV=webshop PRESET=tiny
    agentdistill pipeline --env all --preset gpu --seeds 3
    agentdistill pipeline --env alfworld --ablations              # make ablation ENV=alfworld

Stages, in order, each in ``runs/<pipeline>/<stage>/`` (layout: :mod:`harness.report`):

    demos             scripted expert on the train split
    teacher           SFT of the preset's teacher model on the demos
    teacher_rollouts  the teacher on the train split, token ids and top-k log-probs logged
    teacher_eval      the teacher, closed loop on the test split (also the held-out teacher states)
    baselines         scripted expert and random agent on the test split
    students          one student per method x seed (x ablation variant): same init, data, steps, seeds
    student_eval      every student, closed loop on the test split (Ray workers)
    offline           action match / reasoning match of every student on held-out teacher states
    report            report.md, report.csv, plots/, report.html (always rebuilt)

A unit of work (one stage dir, or one student in it) is done when its ``.complete.json`` marker
exists; a rerun skips it. The marker records what the unit was asked (``params``), the env, the
tokenizer of any model it made or used, and the id of every input it read. A rerun that asks for
something else, or whose inputs were redone since, stops with an error naming the stage — nothing
finished is ever silently redone; ``--force STAGE`` (``--force STAGE+``: that stage and every later
one) removes and redoes it.
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.cli import UserError
from harness.report import MANIFEST, MARKER, Layout, build_report

ENVS = ("alfworld", "webshop", "hotpotqa")
STAGES = ("demos", "teacher", "teacher_rollouts", "teacher_eval", "baselines", "students", "student_eval",
          "offline", "report")
METHODS = ("sad", "token_kd", "sft")


@dataclass(frozen=True)
class Preset:
    """Models and budget of one pipeline size. Every budget field is also a command-line knob."""

    name: str
    teacher: str  # model preset of the teacher (SFT on the demos)
    students: tuple[str, ...]  # student model presets of the main table
    ablation_students: tuple[str, ...]  # extra sizes for --ablations
    demo_episodes: int  # expert episodes on the train split
    rollout_episodes: int  # teacher episodes on the train split (the students' data)
    eval_episodes: int  # test episodes per evaluated agent
    teacher_steps: int
    student_steps: int
    batch_size: int
    micro_batch_size: int
    max_length: int  # tokens per training sequence (and prompt + completion at play time)
    teacher_lr: float
    student_lr: float
    max_new_tokens: int  # per agent turn
    log_topk: int  # teacher top-k logged for distillation
    offline_states: int  # held-out teacher states for action / reasoning match
    workers: int  # Ray env workers
    device: str
    init_from_teacher: tuple[str, ...]  # students (same width as the teacher) that start from its layers
    max_steps: int | None = None  # env steps per episode; None: ENV_MAX_STEPS[preset][env]


#: env steps per episode: enough for the scripted expert (webshop ~5, hotpotqa ~3-5, alfworld ~10-20)
ENV_MAX_STEPS = {"tiny": {"webshop": 10, "hotpotqa": 7, "alfworld": 25},
                 "gpu": {"webshop": 15, "hotpotqa": 7, "alfworld": 40}}

PRESETS: dict[str, Preset] = {
    # 2 CPU cores: a 2-layer 256-wide teacher (~2M params) and a 2-layer 128-wide student (~0.6M).
    # The teacher must learn to copy (queries, product ids, options) from the page, which takes ~2M
    # tokens of SFT (~4k tokens a step); 512 demos keep it from memorising the train tasks. 1536 tokens
    # hold a whole WebShop episode (<= ~1450 tokens): no windows, and no header cut from the play-time prompt
    "tiny": Preset(
        name="tiny", teacher="tiny", students=("tiny-student",), ablation_students=("tiny",),
        demo_episodes=512, rollout_episodes=64, eval_episodes=20, teacher_steps=500, student_steps=200,
        batch_size=4, micro_batch_size=4, max_length=1536, teacher_lr=5e-3, student_lr=3e-3,
        max_new_tokens=64, log_topk=20, offline_states=32, workers=2, device="cpu", init_from_teacher=(),
    ),
    # one H100/H200: SmolLM2-135M teacher, ~46M and ~15M students
    "gpu": Preset(
        name="gpu", teacher="smollm2-135m", students=("smol-45m", "smol-15m"), ablation_students=(),
        demo_episodes=400, rollout_episodes=400, eval_episodes=100, teacher_steps=400, student_steps=600,
        batch_size=32, micro_batch_size=16, max_length=1536, teacher_lr=1e-4, student_lr=5e-4,
        max_new_tokens=96, log_topk=20, offline_states=200, workers=4, device="auto", init_from_teacher=("smol-45m",),
    ),
}


#: ablation variants of SAD: label -> config overrides (λ_r = 0, λ_a = 0, curriculum off)
ABLATIONS: dict[str, dict[str, Any]] = {
    "act only (λ_r=0)": {"lambda_reason": 0.0},
    "reason only (λ_a=0)": {"lambda_act": 0.0},
    "no curriculum": {"curriculum": False},
}
#: SAD as the paper runs it: span KL with the curriculum; the baselines train on the same data in random order
METHOD_DEFAULTS: dict[str, dict[str, Any]] = {"sad": {"curriculum": True}, "token_kd": {}, "sft": {}}

#: measured costs (tiny: 2 shared CPU cores; gpu: one H100) behind the time estimate printed at the start
_COSTS = {
    "tiny": {"startup": 8.0, "expert_episode": 0.03, "lm_step": 0.12, "teacher_tokens_per_s": 5000.0,
             "student_tokens_per_s": 8000.0, "offline_state": 0.15},
    "gpu": {"startup": 20.0, "expert_episode": 0.05, "lm_step": 0.05, "teacher_tokens_per_s": 150_000.0,
            "student_tokens_per_s": 300_000.0, "offline_state": 0.02},
}


# --- stage bookkeeping ----------------------------------------------------------------------------


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
    marker = path / MARKER
    if not marker.is_file():
        return None
    try:
        return json.loads(marker.read_text())
    except json.JSONDecodeError as err:
        raise UserError(f"{marker}: corrupt completion marker ({err}); remove it to redo that stage") from None


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` as JSON atomically (temp file + rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(payload, indent=2, sort_keys=True, default=str))
    tmp.replace(path)


def tokenizer_fingerprint(model_dir: Path) -> str:
    """A short hash of a saved tokenizer's vocabulary (same hash = same token ids)."""
    from transformers import AutoTokenizer

    vocab = AutoTokenizer.from_pretrained(model_dir).get_vocab()
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
        """Run every unit of ``stage`` under one progress bar; returns their markers."""
        from tqdm import tqdm

        todo = sum(read_marker(u.path) is None or stage in self.forced for u in units)
        print(f"[pipeline] stage {stage}: {len(units)} unit(s), {todo} to run, expected ~{expected_s / 60:.1f} min",
              file=sys.stderr, flush=True)
        markers = []
        with tqdm(total=len(units), desc=f"stage {stage}", unit="unit", file=sys.stderr, leave=True) as bar:
            for unit in units:
                markers.append(self.run_unit(unit))
                bar.update(1)
        return markers

    def run_unit(self, unit: Unit) -> dict[str, Any]:
        rel = unit.path.relative_to(self.root)
        if unit.stage in self.forced and unit.path not in self._redone and unit.path.exists():
            shutil.rmtree(unit.path)
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
        unit.path.mkdir(parents=True, exist_ok=True)
        extra = unit.work()
        marker = {"stage": unit.stage, "env": self.env, "params": unit.params, "inputs": input_ids,
                  "id": uuid.uuid4().hex, "wall_s": time.perf_counter() - started, "finished_at": time.time(),
                  "tokenizer": next(iter(tokenizers.values()), None), **extra}
        _write_json(unit.path / MARKER, marker)
        return marker

    def _input_marker(self, unit: Unit, path: Path) -> dict[str, Any]:
        marker = read_marker(path)
        if marker is None:
            raise UserError(f"stage {unit.stage!r} needs the finished output of stage "
                            f"{path.relative_to(self.root).parts[0]!r} at {path}, which is missing or incomplete")
        if marker.get("env") != self.env:
            raise UserError(f"stage {unit.stage!r} expected {path} to hold env {self.env!r}, found env "
                            f"{marker.get('env')!r}; use another --run for another env")
        return marker

    def _check_done(self, unit: Unit, done: dict[str, Any], input_ids: dict[str, str]) -> None:
        rel = unit.path.relative_to(self.root)
        redo = f"rerun with --force {unit.stage}+ to redo it (and what depends on it)"
        if done.get("env") != self.env:
            raise UserError(f"stage {unit.stage!r} at {rel} was made for env {done.get('env')!r}, not {self.env!r}; "
                            "use another --run")
        asked = json.loads(json.dumps(unit.params, default=str))
        if done.get("params") != asked:
            changed = {k: (done.get("params", {}).get(k), v) for k, v in asked.items()
                       if done.get("params", {}).get(k) != v}
            detail = ", ".join(f"{k}: was {a!r}, now {b!r}" for k, (a, b) in changed.items())
            raise UserError(f"stage {unit.stage!r} at {rel} was completed with other settings ({detail}); {redo}")
        stale = [name for name, ident in input_ids.items() if done.get("inputs", {}).get(name) != ident]
        if stale:
            raise UserError(f"stage {unit.stage!r} at {rel} was built from an earlier {', '.join(stale)}, "
                            f"redone since; {redo}")


# --- the stages -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class StudentSpec:
    """One student to train: model preset, method, ablation variant, seed."""

    student: str
    method: str
    seed: int
    variant: str = ""
    overrides: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        slug = "".join(c if c.isalnum() else "-" for c in self.variant.split(" (")[0]).strip("-")
        return f"{self.student}_{self.method}{'_' + slug if slug else ''}_s{self.seed}"


def student_specs(preset: Preset, methods: tuple[str, ...], seeds: int, ablations: bool) -> list[StudentSpec]:
    """Every student of the run: each size x method x seed, plus the SAD ablations and extra sizes."""
    specs = [StudentSpec(s, m, seed) for s in preset.students for m in methods for seed in range(seeds)]
    if ablations:
        main = preset.students[0]
        specs += [StudentSpec(main, "sad", seed, variant, overrides)
                  for variant, overrides in ABLATIONS.items() for seed in range(seeds)]
        specs += [StudentSpec(s, m, seed) for s in preset.ablation_students for m in methods for seed in range(seeds)
                  if s not in preset.students]
    return specs


class Pipeline:
    """One env's pipeline: builds the units of every stage and runs them in order."""

    def __init__(self, root: Path, env: str, preset: Preset, methods: tuple[str, ...], seeds: int, ablations: bool,
                 forced: set[str], command: str):
        self.layout = Layout(root)
        self.root, self.env, self.preset = root, env, preset
        self.methods, self.seeds, self.ablations = methods, seeds, ablations
        self.runner = StageRunner(root, env, forced)
        self.command = command
        self.specs = student_specs(preset, methods, seeds, ablations)
        self.max_steps = preset.max_steps or ENV_MAX_STEPS[preset.name][env]

    # --- sizing ---
    def expected_seconds(self) -> dict[str, float]:
        """A rough time per stage from the preset's measured per-unit costs (printed before starting)."""
        p, cost = self.preset, _COSTS[self.preset.name]
        lm_episode = cost["lm_step"] * self.max_steps * p.max_new_tokens / 64  # untrained models use every step
        teacher_step = p.batch_size * p.max_length / cost["teacher_tokens_per_s"]
        student_step = p.batch_size * p.max_length / cost["student_tokens_per_s"]
        n = len(self.specs)
        return {
            "demos": cost["startup"] + cost["expert_episode"] * p.demo_episodes,
            "teacher": cost["startup"] + teacher_step * p.teacher_steps,
            "teacher_rollouts": cost["startup"] + lm_episode * p.rollout_episodes / max(1, p.workers) ** 0.5,
            "teacher_eval": cost["startup"] + lm_episode * p.eval_episodes / max(1, p.workers) ** 0.5,
            "baselines": 2 * (cost["startup"] + cost["expert_episode"] * p.eval_episodes),
            "students": n * (cost["startup"] + student_step * p.student_steps),
            "student_eval": n * (cost["startup"] + 0.5 * lm_episode * p.eval_episodes / max(1, p.workers) ** 0.5),
            "offline": n * (cost["startup"] + cost["offline_state"] * p.offline_states),
            "report": 10.0,
        }

    def write_manifest(self) -> None:
        manifest = {"env": self.env, "preset": self.preset.name, "seeds": self.seeds, "methods": list(self.methods),
                    "ablations": self.ablations, "budget": dataclasses.asdict(self.preset),
                    "command": self.command, "commit": git_commit()}
        path = self.layout.manifest
        if path.is_file():
            old = json.loads(path.read_text())
            if (old.get("env"), old.get("preset")) != (self.env, self.preset.name):
                raise UserError(f"{self.root} holds a pipeline for env {old.get('env')!r} preset {old.get('preset')!r}, "
                                f"not env {self.env!r} preset {self.preset.name!r}; pick another --run")
            manifest["seeds"] = max(self.seeds, int(old.get("seeds", 0)))
            manifest["ablations"] = self.ablations or bool(old.get("ablations"))
        _write_json(path, manifest)

    # --- units ---
    def _eval_unit(self, stage: str, path: Path, agent: str, split: str, episodes: int, inputs: tuple[Path, ...] = (),
                   agent_kwargs: dict[str, Any] | None = None, log_topk: int = 0, workers: int | None = None) -> Unit:
        params = {"agent": agent, "split": split, "episodes": episodes, "max_steps": self.max_steps,
                  "log_topk": log_topk, "agent_kwargs": agent_kwargs or {}}

        def work() -> dict[str, Any]:
            from harness.evaluate import evaluate

            summary = evaluate(self.env, agent, split=split, episodes=episodes,
                               workers=self.preset.workers if workers is None else workers, run=str(path),
                               env_kwargs={"max_steps": self.max_steps}, agent_kwargs=agent_kwargs,
                               log_topk=log_topk, progress=True)
            return {"success_rate": summary["success_rate"], "episodes": summary["episodes"]}

        return Unit(stage, path, params, inputs, work)

    def _lm_kwargs(self, model_dir: Path) -> dict[str, Any]:
        device = None if self.preset.device == "auto" else self.preset.device
        return {"model": str(model_dir), "max_new_tokens": self.preset.max_new_tokens,
                "max_prompt_tokens": self.preset.max_length - self.preset.max_new_tokens, "device": device}

    def _train_unit(self, stage: str, path: Path, method: str, data: Path, model: str, *, role: str, seed: int,
                    steps: int, lr: float, inputs: tuple[Path, ...], overrides: dict[str, Any]) -> Unit:
        p = self.preset
        settings: dict[str, Any] = {
            "model": model, "role": role, "max_steps": steps, "batch_size": p.batch_size,
            "micro_batch_size": p.micro_batch_size, "max_length": p.max_length, "lr": lr, "seed": seed,
            "warmup_steps": min(20, steps // 10), "eval_every": max(1, steps // 5), "save_every": max(1, steps // 2),
            "device": p.device, **overrides,
        }
        if role == "student":
            settings["teacher"] = str(self.layout.teacher)
            if model in p.init_from_teacher:
                settings["init_from_teacher"] = True

        def work() -> dict[str, Any]:
            from distill.config import METHODS as CONFIGS
            from distill.train import train

            resume = (path / "checkpoints" / "last.pt").is_file()
            config = CONFIGS[method](data=[str(data)], out=str(path), resume=resume, **settings)
            train(config)
            return {"tokenizer": tokenizer_fingerprint(path)}

        return Unit(stage, path, {"method": method, "data": str(data.relative_to(self.root)), **settings}, inputs, work)

    def _offline_unit(self, spec: StudentSpec) -> Unit:
        student_dir = self.layout.student(spec.label)
        out = self.layout.offline(spec.label).parent

        def work() -> dict[str, Any]:
            import agents
            from harness.offline_metrics import student_offline_metrics, teacher_states
            from harness.report import read_run_episodes

            states = teacher_states(read_run_episodes(self.layout.teacher_eval), self.preset.offline_states, seed=0)
            agent = agents.make("lm", env=self.env, **self._lm_kwargs(student_dir))
            metrics = student_offline_metrics(agent, states)
            _write_json(self.layout.offline(spec.label), metrics)
            return metrics

        return Unit("offline", out, {"offline_states": self.preset.offline_states, "max_new_tokens":
                                     self.preset.max_new_tokens}, (student_dir, self.layout.teacher_eval), work)

    # --- running ---
    def run(self) -> None:
        p, L, run = self.preset, self.layout, self.runner
        self.write_manifest()
        expected = self.expected_seconds()
        print(f"[pipeline] {self.env} · preset {p.name} · {len(self.specs)} students · expected ~"
              f"{sum(expected.values()) / 60:.1f} min in all "
              f"({', '.join(f'{s} {t / 60:.1f}' for s, t in expected.items())} min)", file=sys.stderr, flush=True)
        started = time.perf_counter()
        run.run_stage("demos", [self._eval_unit("demos", L.demos, "expert", "train", p.demo_episodes)],
                      expected["demos"])
        run.run_stage("teacher", [self._train_unit(
            "teacher", L.teacher, "sft", L.demos, p.teacher, role="teacher", seed=0, steps=p.teacher_steps,
            lr=p.teacher_lr, inputs=(L.demos,), overrides={})], expected["teacher"])
        teacher = self._lm_kwargs(L.teacher)
        run.run_stage("teacher_rollouts", [self._eval_unit(
            "teacher_rollouts", L.teacher_rollouts, "lm", "train", p.rollout_episodes, inputs=(L.teacher,),
            agent_kwargs=teacher, log_topk=p.log_topk)], expected["teacher_rollouts"])
        run.run_stage("teacher_eval", [self._eval_unit(
            "teacher_eval", L.teacher_eval, "lm", "test", p.eval_episodes, inputs=(L.teacher,), agent_kwargs=teacher)],
            expected["teacher_eval"])
        run.run_stage("baselines", [self._eval_unit("baselines", L.baseline(a), a, "test", p.eval_episodes)
                                    for a in ("expert", "random")], expected["baselines"])
        students = []
        for spec in self.specs:
            overrides = {**METHOD_DEFAULTS[spec.method], **spec.overrides}
            unit = self._train_unit("students", L.student(spec.label), spec.method, L.teacher_rollouts, spec.student,
                                    role="student", seed=spec.seed, steps=p.student_steps, lr=p.student_lr,
                                    inputs=(L.teacher_rollouts, L.teacher), overrides=overrides)
            unit.work = _with_description(unit.work, L.student(spec.label), spec)
            students.append(unit)
        run.run_stage("students", students, expected["students"])
        run.run_stage("student_eval", [self._eval_unit(
            "student_eval", L.student_eval(s.label), "lm", "test", p.eval_episodes, inputs=(L.student(s.label),),
            agent_kwargs=self._lm_kwargs(L.student(s.label))) for s in self.specs], expected["student_eval"])
        run.run_stage("offline", [self._offline_unit(s) for s in self.specs], expected["offline"])
        print(f"[pipeline] {self.env}: all stages done in {(time.perf_counter() - started) / 60:.1f} min",
              file=sys.stderr, flush=True)


def _with_description(work: Callable[[], dict[str, Any]], model_dir: Path, spec: StudentSpec) -> Callable[[], dict[str, Any]]:
    """``work`` that also writes ``student.json`` (what the report groups rows by) next to the model."""

    def wrapped() -> dict[str, Any]:
        extra = work()
        _write_json(model_dir / "student.json", {"student": spec.student, "method": spec.method,
                                                 "variant": spec.variant, "seed": spec.seed,
                                                 "overrides": spec.overrides})
        return extra

    return wrapped


def git_commit() -> str:
    """The current commit (with ``+dirty`` for local changes), or "unknown" outside a git checkout."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], check=False, capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            return "unknown"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], check=False, capture_output=True,
                               text=True, timeout=10).stdout.strip()
        return head.stdout.strip() + ("+dirty" if dirty else "")
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


# --- command line ---------------------------------------------------------------------------------

#: budget knobs: option -> Preset field
KNOBS = ("demo_episodes", "rollout_episodes", "eval_episodes", "teacher_steps", "student_steps", "batch_size",
         "micro_batch_size", "max_length", "max_new_tokens", "max_steps", "log_topk", "offline_states", "workers")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--env", required=True, choices=(*ENVS, "all"), help="environment, or all three in turn")
    parser.add_argument("--preset", default="tiny", choices=tuple(PRESETS), help="tiny: 2 CPU cores, gpu: one H100")
    parser.add_argument("--seeds", type=int, default=1, help="repeat students and their evaluation with seeds 0..N-1")
    parser.add_argument("--run", default=None, help="pipeline directory name under --runs-dir (default <env>-<preset>)")
    parser.add_argument("--runs-dir", default="runs")
    parser.add_argument("--force", action="append", default=[], metavar="STAGE",
                        help=f"redo STAGE (STAGE+: it and every later stage); stages: {', '.join(STAGES)}")
    parser.add_argument("--ablations", action="store_true",
                        help="add SAD with λ_r=0, λ_a=0, without curriculum, and other student sizes")
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated distillation methods")
    parser.add_argument("--device", default=None, help="training/inference device (default: the preset's)")
    for knob in KNOBS:
        parser.add_argument(f"--{knob.replace('_', '-')}", type=int, default=None, help=f"override the preset's {knob}")


def preset_from_args(args: argparse.Namespace) -> Preset:
    """The chosen preset with the budget knobs the user set."""
    overrides = {k: getattr(args, k) for k in KNOBS if getattr(args, k, None) is not None}
    for knob, value in overrides.items():
        if value < (0 if knob == "workers" else 1):
            raise UserError(f"--{knob.replace('_', '-')} must be >= {0 if knob == 'workers' else 1}, got {value}")
    if getattr(args, "device", None):
        overrides["device"] = args.device
    preset = dataclasses.replace(PRESETS[args.preset], **overrides)
    if preset.batch_size % preset.micro_batch_size:
        preset = dataclasses.replace(preset, micro_batch_size=preset.batch_size)
    return preset


def canonical_command(args: argparse.Namespace) -> str:
    """The command line that reproduces this run (recorded in the manifest and the report)."""
    parts = ["agentdistill pipeline", f"--env {args.env}", f"--preset {args.preset}", f"--seeds {args.seeds}"]
    if args.run:
        parts.append(f"--run {args.run}")
    if args.ablations:
        parts.append("--ablations")
    if args.methods != ",".join(METHODS):
        parts.append(f"--methods {args.methods}")
    if args.device:
        parts.append(f"--device {args.device}")
    parts += [f"--{k.replace('_', '-')} {getattr(args, k)}" for k in KNOBS if getattr(args, k, None) is not None]
    return " ".join(parts)


def run(args: argparse.Namespace) -> int:
    if args.seeds < 1:
        raise UserError(f"--seeds must be >= 1, got {args.seeds}")
    methods = tuple(m.strip() for m in args.methods.split(",") if m.strip())
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise UserError(f"--methods {args.methods!r}: expected a comma-separated subset of {', '.join(METHODS)}")
    preset = preset_from_args(args)
    forced = parse_force(args.force)
    root = Path(args.runs_dir) / (args.run or f"{args.env}-{preset.name}{'-ablations' if args.ablations else ''}")
    command = canonical_command(args)
    env_list = list(ENVS) if args.env == "all" else [args.env]
    started = time.perf_counter()
    if args.env == "all":
        root.mkdir(parents=True, exist_ok=True)
        manifest = root / MANIFEST
        if manifest.is_file() and json.loads(manifest.read_text()).get("env") != "all":
            raise UserError(f"{root} holds a single-env pipeline; pick another --run for --env all")
        _write_json(manifest, {"env": "all", "envs": env_list, "preset": preset.name, "seeds": args.seeds,
                               "methods": list(methods), "command": command, "commit": git_commit()})
    for env in env_list:
        env_root = root / env if args.env == "all" else root
        Pipeline(env_root, env, preset, methods, args.seeds, args.ablations, forced, command).run()
    written = build_report(root)
    wall = time.perf_counter() - started
    print(f"[pipeline] done in {wall / 60:.1f} min; report: {written['markdown']}  {written['html']}", file=sys.stderr)
    print((root / "report.md").read_text())
    return 0
