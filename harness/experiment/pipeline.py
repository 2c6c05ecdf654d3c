"""``agentdistill pipeline``: the paper's experiment end to end, every stage cached and resumable.

    agentdistill pipeline --env webshop --preset tiny            # make pipeline ENV=webshop PRESET=tiny
    agentdistill pipeline --env all --preset gpu --seeds 3
    agentdistill pipeline --env alfworld --ablations              # make ablation ENV=alfworld
    agentdistill pipeline --env webshop --methods sad,token_kd,sft,opd,sad_opd --opd-rounds 3

Stages, in order, each in ``runs/<pipeline>/<stage>/`` (layout: :mod:`harness.experiment.layout`):

    demos             scripted expert on the train split
    teacher           SFT of the preset's teacher model on the demos
    teacher_rollouts  the teacher on the train split, token ids and top-k log-probs logged
    teacher_eval      the teacher, closed loop on the test split (also the held-out teacher states); with
                      constrained decoding, also the teacher decoding freely (teacher_eval_free)
    baselines         scripted expert and random agent (WebShop: also first-result) on the test split
    lr_grid           with --lr-grid: each method's student of seed 0 at every multiplier x student_lr,
                      played on held-out train tasks; the best is every student's rate for that method
                      (:mod:`harness.experiment.lr_grid`)
    students          one student per method x seed (x ablation variant): same init, data, steps, seeds;
                      on-policy methods (opd, sad_opd) instead play rounds on the train split from the same
                      initial student (:func:`harness.experiment.opd.run_opd`)
    student_eval      every student, closed loop on the test split (Ray workers)
    offline           action match / reasoning match of every student on held-out teacher states
    report            report.md, report.csv, plots/, report.html (always rebuilt)

Each stage is one or more cached units (:mod:`harness.experiment.stages`): a rerun skips finished
ones and refuses stale ones; ``--force STAGE`` (``STAGE+``: it and every later one) redoes them. The
demos and the teacher record their env's ``agents.experts.EXPERT_VERSIONS``, so a changed expert makes them
stale.
Sizes and methods: :mod:`harness.experiment.presets`.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agents.context import CONTEXT_RULE
from agents.guided import GUIDES
from agents.model_files import write_play_settings
from agents.precision import PRECISIONS, resolve_precision
from distill.losses import DIVERGENCES
from harness import interrupt
from harness.cuda import require_cuda
from harness.errors import UserError
from harness.experiment import lr_grid
from harness.experiment.layout import (
    MANIFEST,
    OFFLINE_METRICS,
    STAGE_MARKER,
    STUDENT_DESCRIPTION,
    Layout,
    write_json,
)
from harness.experiment.presets import (
    ABLATION_SETS,
    ENV_MAX_STEPS,
    ENVS,
    EPISODE_STEPS,
    FP32_CPU_SLOWDOWN,
    METHODS,
    OFF_POLICY_METHODS,
    ON_POLICY_METHODS,
    PRESETS,
    STUDENT_SPEED,
    WINDOW_FILL,
    Preset,
    StudentSpec,
    ablation_set,
    env_costs,
    model_name,
    student_specs,
)
from harness.experiment.stages import (
    STAGES,
    StageRunner,
    Unit,
    parse_force,
    read_marker,
    tokenizer_fingerprint,
)
from harness.options import finite_float
from harness.report import build_report
from harness.run_dir import RunLock, atomic_file

#: the default --run name's suffix for each --ablations value
RUN_SUFFIX = {None: "", "all": "-ablations", "controls": "-controls"}


@dataclasses.dataclass(frozen=True)
class OnPolicySettings:
    """How the on-policy methods (opd, sad_opd) play and learn, beyond the preset's round budget: the guide
    that plays a turn instead of the student with probability p (``guide_p0`` in round 0, decaying linearly
    to 0 at the last round), the depth curriculum (round r trains on the first k_r turns) and the divergence
    the student's own turns are trained with."""

    guide: str = "teacher"
    guide_p0: float = 1.0
    depth_curriculum: bool = False
    divergence: str = "reverse_kl"

    def __post_init__(self) -> None:
        if self.guide not in GUIDES:
            raise UserError(f"--guide {self.guide!r}: expected one of {', '.join(GUIDES)}")
        if not 0.0 <= self.guide_p0 <= 1.0:
            raise UserError(f"--guide-p0 {self.guide_p0}: expected a probability in [0, 1]")
        if self.divergence not in DIVERGENCES:
            raise UserError(f"--divergence {self.divergence!r}: expected one of {', '.join(DIVERGENCES)}")


#: constrained decoding's host work in the LM agent (agents/constrained.py), seconds per sequence: per
#: decoding step (each row's allowed ids, its row of the [B, V] mask, the trie's advance) and per turn (the
#: turn's action trie, from the env's list or, on HotPotQA, from every span of the observations). Measured
#: as CPU time of one thread (the machine was shared: wall time under load 4-7 on its 2 cores was ~2x) with
#: the SmolLM2 tokenizer, turns of 128 new tokens from expert episodes' states of the test splits, at batch
#: 16 and 100: 17-21 us a step on every env (rules 2-3, mask 9-12, advance 6; the turn's text and stop check,
#: 15-21 us more, are lm_step's 30 us); a turn's trie 0.16-0.21 ms on WebShop, 0.22-0.28 ms on ALFWorld and
#: 46-47 ms on HotPotQA. On a GPU the mask's copy to the device comes on top
CONSTRAINED_STEP_S = 20e-6
CONSTRAINED_TURN_S = {"webshop": 0.0002, "alfworld": 0.0003, "hotpotqa": 0.05}


# --- the stages -----------------------------------------------------------------------------------


class Pipeline:
    """One env's pipeline: builds the units of every stage and runs them in order."""

    def __init__(
        self,
        root: Path,
        env: str,
        preset: Preset,
        methods: tuple[str, ...],
        seeds: int,
        ablations: bool | str | None,
        forced: set[str],
        command: str,
        student_init: str | None = None,
        constrain_actions: bool = False,
        on_policy: OnPolicySettings | None = None,
        lr_grid: tuple[float, ...] = (),
    ):
        self.layout = Layout(root)
        #: --lr-grid's multipliers of student_lr (empty: off, every student trains at student_lr)
        self.lr_grid = lr_grid
        self.on_policy = on_policy or OnPolicySettings()
        #: how every student starts (None: the preset's rule: its init_from_teacher presets start from the
        #: teacher's layers, other presets from scratch, a model directory / hub id from its own weights)
        self.student_init = student_init
        self.constrain_actions = constrain_actions
        self.root, self.env, self.preset = root, env, preset
        #: --ablations: "all", "controls" or None
        self.methods, self.seeds, self.ablations = methods, seeds, ablation_set(ablations)
        self.runner = StageRunner(root, env, forced)
        self.command = command
        self.specs = student_specs(preset, methods, seeds, ablations)
        self.max_steps = preset.max_steps or ENV_MAX_STEPS[env]
        self.baselines = baseline_agents(env)
        self._offline_states: list[Any] | None = None

    # --- sizing ---
    def expected_seconds(self) -> dict[str, float]:
        """A rough time per stage (printed before starting) from the preset's measured per-unit costs, with
        the env's overrides (:func:`env_costs`), each student model's own training speed
        (:data:`STUDENT_SPEED`) and an episode counted at :data:`EPISODE_STEPS` where agents end
        before the limit: every unit of every stage (both teacher evaluations of a constrained run), an LM
        stage's episodes at the cost of the batches of ``policy_batch`` they fill (a decoding step costs
        what a full batch's does), on-policy rounds with each generate call of a guided round, constrained
        decoding's host work (:data:`CONSTRAINED_STEP_S`, :data:`CONSTRAINED_TURN_S`), and with
        ``--lr-grid`` every grid point's training and held-out play (the students of seed 0 it trained at
        the chosen rate are not trained again); a CPU run in fp32 of a preset costed in bf16 takes
        :data:`FP32_CPU_SLOWDOWN` times as long to train and to play."""
        from harness.experiment.opd import OPDSchedule, guide_probability

        p, cost = self.preset, env_costs(self.preset.name, self.env)
        slowdown = self.fp32_slowdown()
        # an episode's steps: the limit, or fewer where trained agents end sooner (EPISODE_STEPS)
        steps = min(self.max_steps, EPISODE_STEPS.get(self.env, self.max_steps))
        lm_step = cost["lm_step"] * slowdown["play"]
        parallel = max(1, p.workers) ** 0.5
        lm_episode = lm_step * steps * p.max_new_tokens / 64 / parallel
        # constrained decoding's host work per episode (rules, masks, action tries; not divided by workers:
        # the policy actor does it for every episode), where the run constrains
        turn = cost.get("constrained_turn", CONSTRAINED_TURN_S.get(self.env, 0.0))
        per_turn = (CONSTRAINED_STEP_S * p.max_new_tokens + turn) * slowdown["play"]
        constrained = steps * per_turn if self.constrain_actions else 0.0

        def batched(episodes: float) -> float:
            """Episodes at batch cost: whole batches of policy_batch (none set: each episode its own cost)."""
            return math.ceil(episodes / p.policy_batch) * p.policy_batch if p.policy_batch else episodes

        def lm_stage(episodes: int, factor: float = 1.0, free: bool = False) -> float:
            """An LM stage (factor 0.5: a student's, the estimate's factor for its smaller decoding step)."""
            host = 0.0 if free else constrained * episodes
            return cost["startup"] + factor * lm_episode * batched(episodes) + host

        window = p.batch_size * p.max_length * WINDOW_FILL[self.env]  # tokens a training step reads
        # the teacher's model on a batch of batch_size
        teacher_step = window / cost["teacher_tokens_per_s"] * slowdown["train"]
        student_speed = STUDENT_SPEED.get(p.name, {})

        def student_step(student: str) -> float:
            rate = cost["student_tokens_per_s"] * student_speed.get(model_name(student), 1.0)
            return window / rate * slowdown["train"]

        n = len(self.specs)
        # a round: the student's episodes, each turn played by the student or (with probability p) its
        # guide: a teacher guide's turns in a generate call of their own, at batch cost like the student's;
        # then training with a live teacher forward per step (about a third of a teacher training step)
        schedule = OPDSchedule(rounds=p.opd_rounds, guide=self.on_policy.guide,
                               guide_p0=self.on_policy.guide_p0)

        def opd_rounds(student: str) -> float:
            total = 0.0
            for r in range(p.opd_rounds):
                guided = p.opd_episodes * guide_probability(schedule, r)
                played = (0.5 * batched(p.opd_episodes - guided)
                          + (batched(guided) if schedule.guide == "teacher" else 0.0)) * lm_episode
                experts = cost["expert_episode"] * guided if schedule.guide == "expert" else 0.0
                total += (cost["startup"] + played + experts + constrained * p.opd_episodes
                          + (student_step(student) + teacher_step / 3) * p.opd_steps_per_round())
            return total

        def training(spec: StudentSpec) -> float:
            """One student's training unit (an on-policy one: its rounds)."""
            if spec.method in ON_POLICY_METHODS:
                return opd_rounds(spec.student)
            return cost["startup"] + student_step(spec.student) * p.student_steps

        grid = self.lr_grid_specs()
        grid_s = len(self.lr_grid) * sum(training(s) + lm_stage(p.lr_grid_episodes, factor=0.5) for s in grid)
        # offline: each student answers offline_states teacher states (one turn each); a constrained run
        # first replays the teacher's sampled episodes for their admissible actions (at most one a state)
        replay = cost["expert_episode"] * p.offline_states if self.constrain_actions else 0.0
        offline_turn = per_turn if self.constrain_actions else 0.0
        return {
            "demos": cost["startup"] + cost["expert_episode"] * p.demo_episodes,
            "teacher": cost["startup"] + teacher_step * p.teacher_batch / p.batch_size * p.teacher_steps,
            "teacher_rollouts": lm_stage(p.rollout_episodes),
            # constrained runs also evaluate the teacher decoding freely (teacher_eval_free)
            "teacher_eval": lm_stage(p.eval_episodes)
            + (lm_stage(p.eval_episodes, free=True) if self.constrain_actions else 0.0),
            "baselines": len(self.baselines) * (cost["startup"] + cost["expert_episode"] * p.eval_episodes),
            "lr_grid": grid_s,
            # the grid's seed-0 students at the chosen rate are copied, not trained again
            "students": sum(training(s) for s in self.specs) - sum(training(s) for s in grid),
            "student_eval": n * lm_stage(p.eval_episodes, factor=0.5),
            # one process: each student's model loads in it (no start-up of its own)
            "offline": replay + cost["startup"]
            + n * (cost["offline_state"] + offline_turn) * p.offline_states,
            "report": 10.0,
        }

    def fp32_slowdown(self) -> dict[str, float]:
        """Training and play time factors over the preset's bf16-measured costs: :data:`FP32_CPU_SLOWDOWN`
        where this run computes in fp32 on the CPU, else 1."""
        factors = FP32_CPU_SLOWDOWN.get(self.preset.name)
        if factors and self.device() == "cpu" and resolve_precision(self.preset.precision, "cpu") == "fp32":
            return factors
        return {"train": 1.0, "play": 1.0}

    def remaining_seconds(self, expected: dict[str, float]) -> dict[str, float]:
        """``expected`` for the units still to run: each stage's estimate times the share of its units
        that have no completion marker yet (or that ``--force`` redoes). The learning-rate grid's units and
        the report are not listed before they run: they count in full."""
        L = self.layout
        labels = [s.label for s in self.specs]
        evals = [L.teacher_eval, L.teacher_eval_free] if self.constrain_actions else [L.teacher_eval]
        units: dict[str, list[Path]] = {
            "demos": [L.demos], "teacher": [L.teacher], "teacher_rollouts": [L.teacher_rollouts],
            "teacher_eval": evals, "baselines": [L.baseline(a) for a in self.baselines],
            "students": [L.student(x) for x in labels], "student_eval": [L.student_eval(x) for x in labels],
            "offline": [L.offline(x) for x in labels],
        }
        remaining = dict(expected)
        for stage, paths in units.items():
            if paths and stage not in self.runner.forced:
                todo = sum(read_marker(path) is None for path in paths)
                remaining[stage] = expected[stage] * todo / len(paths)
        return remaining

    def device(self) -> str:
        """The preset's device with "auto" resolved (cuda where torch sees one, else cpu)."""
        import torch

        if self.preset.device != "auto":
            return self.preset.device
        return "cuda" if torch.cuda.is_available() else "cpu"

    def write_manifest(self) -> None:
        manifest = {
            "env": self.env,
            "preset": self.preset.name,
            "seeds": self.seeds,
            "methods": list(self.methods),
            "ablations": self.ablations,
            "budget": dataclasses.asdict(self.preset),
            "max_steps": self.max_steps,
            "student_init": self.student_init,
            "constrain_actions": self.constrain_actions,
            "precision": resolve_precision(self.preset.precision, self.device()),
            "command": self.command,
            "commit": git_commit(),
            "model_origins": model_origins(self.preset.teacher, *(s.student for s in self.specs)),
        }
        if any(m in ON_POLICY_METHODS for m in self.methods):
            from distill.config import OPDConfig
            from harness.experiment.opd import OPDSchedule

            manifest["on_policy"] = {**dataclasses.asdict(self.on_policy), "rounds": self.preset.opd_rounds,
                                     "episodes_per_round": self.preset.opd_episodes,
                                     "steps_per_round": self.preset.opd_steps_per_round(),
                                     "rollout_temperature": OPDSchedule.rollout_temperature,
                                     "guided_loss": OPDConfig.guided_loss,
                                     "teacher_signal": "logits (the live teacher)"}
        if self.lr_grid:
            manifest["lr_grid"] = self.lr_grid_settings()
        path = self.layout.manifest
        if path.is_file():
            old = json.loads(path.read_text())
            if (old.get("env"), old.get("preset")) != (self.env, self.preset.name):
                raise UserError(
                    f"{self.root} holds a pipeline for env {old.get('env')!r} preset {old.get('preset')!r}, "
                    f"not env {self.env!r} preset {self.preset.name!r}; pick another --run"
                )
            manifest["seeds"] = max(self.seeds, int(old.get("seeds", 0)))
            earlier = ablation_set(old.get("ablations"))
            manifest["ablations"] = "all" if "all" in (self.ablations, earlier) else self.ablations or earlier
        write_json(path, manifest)

    # --- units ---
    def _eval_unit(
        self,
        stage: str,
        path: Path,
        agent: str,
        split: str,
        episodes: int,
        inputs: tuple[Path, ...] = (),
        agent_kwargs: dict[str, Any] | None = None,
        log_topk: int = 0,
        record_play: bool = False,
        task_offset: int = 0,
    ) -> Unit:
        """An evaluation unit; ``record_play``: the LM's play settings are written into its model record first
        (:func:`agents.model_files.write_play_settings`), so ``agentdistill eval`` plays it the same way;
        ``task_offset``: the split's tasks from that position of its order on (:mod:`harness.tasks`)."""
        recorded_kwargs = {
            k: self._relative(v) if k == "model" else v for k, v in (agent_kwargs or {}).items()
        }
        params = {"agent": agent, "split": split, "episodes": episodes, "max_steps": self.max_steps,
                  "log_topk": log_topk, "agent_kwargs": recorded_kwargs}
        if agent == "expert":  # demos and the expert baseline: a changed expert makes them stale
            params["expert_version"] = expert_version(self.env)
        if agent == "lm":  # an LM's prompts follow the context rule: another rule makes its episodes stale
            params["context_rule"] = CONTEXT_RULE
        if task_offset:  # recorded only where set: other units' markers stay as they were
            params["task_offset"] = task_offset

        def work() -> dict[str, Any]:
            from harness.evaluate import evaluate

            if record_play and agent_kwargs:
                write_play_settings(agent_kwargs["model"], agent_kwargs,
                                    source=f"pipeline {self.root} ({stage}: {self.command})")
            summary = evaluate(self.env, agent, split=split, episodes=episodes,
                               workers=self.preset.workers, run=str(path),
                               env_kwargs={"max_steps": self.max_steps}, agent_kwargs=agent_kwargs,
                               log_topk=log_topk, progress=True, in_flight=self.preset.policy_batch or None,
                               task_offset=task_offset)
            return {"success_rate": summary["success_rate"], "episodes": summary["episodes"]}

        return Unit(stage, path, params, inputs, work)

    def _relative(self, path: str | Path) -> str:
        """``path`` relative to the pipeline root, as markers record it (so the directory can move)."""
        return str(Path(path).relative_to(self.root))

    def _lm_kwargs(self, model_dir: Path) -> dict[str, Any]:
        device = None if self.preset.device == "auto" else self.preset.device
        kwargs = {"model": str(model_dir), "max_new_tokens": self.preset.max_new_tokens,
                  "max_prompt_tokens": self.preset.max_length - self.preset.max_new_tokens, "device": device}
        if self.preset.precision != "auto":  # recorded only where set: other runs' markers stay as they were
            kwargs["precision"] = self.preset.precision
        if self.preset.policy_batch:  # recorded only where set: other presets' markers stay as they were
            kwargs["batch_size"] = self.preset.policy_batch
        return {**kwargs, "constrain_actions": True} if self.constrain_actions else kwargs

    def _train_unit(
        self,
        stage: str,
        path: Path,
        method: str,
        data: Path,
        model: str,
        *,
        role: str,
        seed: int,
        steps: int,
        lr: float,
        inputs: tuple[Path, ...],
        overrides: dict[str, Any],
        recorded: dict[str, Any] | None = None,
    ) -> Unit:
        """A training unit; ``recorded``: marker params that are not training options."""
        p = self.preset
        settings: dict[str, Any] = {
            "model": model,
            "role": role,
            "max_steps": steps,
            **self._optimizer_settings(steps, lr, seed),
            **overrides,
        }
        if role == "student":
            from distill.models import PRESETS as MODEL_PRESETS

            settings["teacher"] = str(self.layout.teacher)
            init = self.student_init or ("teacher-layers" if model in p.init_from_teacher else "scratch")
            if model in MODEL_PRESETS and init == "teacher-layers":
                settings["init_from_teacher"] = True

        def work() -> dict[str, Any]:
            from distill.config import METHODS as CONFIGS
            from distill.train import train

            # a checkpoint: an interrupted run of this unit, continued; anything else there is a leftover
            resume = (path / "checkpoints" / "last.pt").is_file()
            config = CONFIGS[method](data=[str(data)], out=str(path), resume=resume, overwrite=not resume,
                                     **settings)
            train(config)
            return {"tokenizer": tokenizer_fingerprint(path)}

        params = {"method": method, "data": self._relative(data), **settings, **(recorded or {}),
                  "context_rule": CONTEXT_RULE}  # the contexts it trains in
        if "teacher" in settings:
            params["teacher"] = self._relative(settings["teacher"])
        return Unit(stage, path, params, inputs, work)

    def _optimizer_settings(self, steps: int, lr: float, seed: int) -> dict[str, Any]:
        """The training options every model of the run shares, for a training of ``steps`` steps."""
        p = self.preset
        return {
            "batch_size": p.batch_size,
            "micro_batch_size": p.micro_batch_size,
            "max_length": p.max_length,
            "lr": lr,
            "seed": seed,
            "warmup_steps": min(20, steps // 10),
            "eval_every": max(1, steps // 5),
            "save_every": max(1, steps // 2),
            "device": p.device,
            "precision": p.precision,
        }

    def demos_unit(self) -> Unit:
        """The scripted expert on the train split (records the expert version)."""
        return self._eval_unit("demos", self.layout.demos, "expert", "train", self.preset.demo_episodes)

    def teacher_unit(self) -> Unit:
        """SFT of the preset's teacher on the demos (records the expert version the demos came from). A
        teacher built from a config (``tiny``) knows no language yet: its loss covers the whole episode,
        observations too, so that it learns to read the pages it acts on (``loss_on="episode"``)."""
        from distill.models import PRESETS as MODEL_PRESETS

        p = self.preset
        if p.teacher_steps == 0:
            return self._given_teacher_unit()
        from_config = p.teacher in MODEL_PRESETS and MODEL_PRESETS[p.teacher].source == "config"
        return self._train_unit(
            "teacher",
            self.layout.teacher,
            "sft",
            self.layout.demos,
            p.teacher,
            role="teacher",
            seed=0,
            steps=p.teacher_steps,
            lr=p.teacher_lr,
            inputs=(self.layout.demos,),
            overrides={**({"loss_on": "episode"} if from_config else {}),
                       **({"lora_rank": p.teacher_lora_rank} if p.teacher_lora_rank else {}),
                       **self._teacher_batch()},
            recorded={"expert_version": expert_version(self.env)},
        )

    def _teacher_batch(self) -> dict[str, int]:
        """The teacher's batch where ``teacher_batch_size`` sets one (its micro-batch: the preset's where it
        divides the batch, else the whole batch); nothing otherwise, so other runs' markers stay as they
        were."""
        p = self.preset
        if not p.teacher_batch_size or p.teacher_batch_size == p.batch_size:
            return {}
        micro = p.micro_batch_size if p.teacher_batch_size % p.micro_batch_size == 0 else p.teacher_batch_size
        return {"batch_size": p.teacher_batch_size, "micro_batch_size": micro}

    def _given_teacher_unit(self) -> Unit:
        """``--teacher-steps 0``: the teacher model as given (a directory, pretrained preset or hub id),
        copied into the pipeline's teacher directory untrained."""
        from distill.models import resolve_model_path

        teacher, path = self.preset.teacher, self.layout.teacher

        def work() -> dict[str, Any]:
            source = resolve_model_path(teacher)
            for file in source.iterdir():
                if file.is_file():
                    with file.open("rb") as src, atomic_file(path / file.name, binary=True) as dst:
                        shutil.copyfileobj(src, dst)
            return {"tokenizer": tokenizer_fingerprint(path)}

        return Unit("teacher", path, {"model": teacher, "max_steps": 0}, (), work)

    def _student_model(self, spec: StudentSpec) -> tuple[str, Callable[[], None] | None]:
        """(what the student trains from, the step that builds it first or None). A model directory / hub
        id with ``--student-init scratch|teacher-layers`` is built by :func:`distill.models.init_student`
        into ``student_init/<label>``; presets and pretrained students are the training's own business."""
        from distill.models import PRESETS as MODEL_PRESETS
        from distill.models import init_student

        init = self.student_init or "pretrained"
        if spec.student in MODEL_PRESETS or init == "pretrained":
            return spec.student, None

        out = self.root / "student_init" / spec.label

        def build() -> None:
            init_student(spec.student, out, init, teacher=self.layout.teacher, seed=spec.seed)

        return str(out), build

    def student_unit(self, spec: StudentSpec) -> Unit:
        """One student: ``spec.method`` with its config defaults (curriculum off for every method) and
        ``spec.overrides``, on the teacher's rollouts, seed ``spec.seed``; an on-policy method plays its own
        rounds instead (:meth:`on_policy_unit`). With ``--lr-grid`` it trains at the rate chosen for its size
        and method (:meth:`lr_choice`), and the grid's student of that rate and seed, whose unit asks exactly
        the same, is copied instead of trained again (its marker says ``reused_from``)."""
        path = self.layout.student(spec.label)
        if not self.lr_grid:
            unit = self._student_training(spec, "students", path, self.preset.student_lr)
        else:
            multiplier, lr, choice = self.lr_choice(spec)
            unit = self._student_training(spec, "students", path, lr, multiplier)
            unit.inputs += (choice,)
            if spec.seed == lr_grid.GRID_SEED and not spec.variant:
                point = self.lr_grid_point(spec, multiplier)
                if point.params == unit.params:
                    unit.inputs += (point.path,)
                    unit.work = self._copied_student(point.path, path)
        unit.work = _with_description(unit.work, path, spec)
        return unit

    def _student_training(self, spec: StudentSpec, stage: str, path: Path, lr: float,
                          multiplier: float | None = None) -> Unit:
        """The unit of ``stage`` that trains ``spec``'s student at ``lr`` into ``path`` (``multiplier``: the
        learning-rate grid's, recorded in the marker)."""
        if spec.method in ON_POLICY_METHODS:
            return self.on_policy_unit(spec, stage, path, lr, multiplier)
        p, L = self.preset, self.layout
        model, build = self._student_model(spec)
        # recorded only where set, so the markers of runs without the options stay as they were
        recorded: dict[str, Any] = (
            {"student": spec.student, "student_init": self.student_init} if self.student_init else {}
        )
        if multiplier is not None:
            recorded["lr_multiplier"] = multiplier
        unit = self._train_unit(
            stage,
            path,
            spec.method,
            L.teacher_rollouts,
            model,
            role="student",
            seed=spec.seed,
            steps=p.student_steps,
            lr=lr,
            inputs=(L.teacher_rollouts, L.teacher),
            overrides=spec.overrides,
            recorded=recorded or None,
        )
        if build is not None:
            train = unit.work
            unit.work = lambda: (build(), train())[1]
        return unit

    def _copied_student(self, source: Path, path: Path) -> Callable[[], dict[str, Any]]:
        """A student unit's work that copies the finished grid point ``source`` (model, metrics, checkpoints,
        an on-policy student's rounds) into ``path`` and keeps what its marker says of it."""

        def work() -> dict[str, Any]:
            done = read_marker(source)
            if done is None:
                raise UserError(f"{source}: the learning-rate grid's student is not complete; rerun the "
                                "pipeline (or --force lr_grid+)")
            for item in source.iterdir():
                if item.name == STAGE_MARKER:
                    continue
                if item.is_dir():
                    shutil.copytree(item, path / item.name, dirs_exist_ok=True)
                else:
                    shutil.copy2(item, path / item.name)
            runner = ("stage", "env", "params", "inputs", "id", "wall_s", "finished_at")
            kept = {k: v for k, v in done.items() if k not in runner}
            return {**kept, "reused_from": self._relative(source)}

        return work

    def _initial_student(self, spec: StudentSpec) -> tuple[str, Path, Callable[[], None] | None]:
        """(init rule, the model directory an on-policy student starts from, the step that builds it first
        or None). It is the model the off-policy students of ``spec.seed`` start from: a config preset is
        built as the trainer builds it (:func:`distill.models.init_student` with the same teacher and seed),
        so ``opd`` and ``sft`` of one seed start from the same weights."""
        from distill.models import PRESETS as MODEL_PRESETS
        from distill.models import init_student, resolve_model_path

        p = self.preset
        if spec.student in MODEL_PRESETS and MODEL_PRESETS[spec.student].source == "config":
            rule = "teacher-layers" if spec.student in p.init_from_teacher else "scratch"
            init = self.student_init or rule
        else:
            init = self.student_init or "pretrained"
        if init == "pretrained":
            return init, resolve_model_path(spec.student), None
        out = self.root / "student_init" / spec.label

        def build() -> None:
            init_student(spec.student, out, init, teacher=self.layout.teacher, seed=spec.seed)

        return init, out, build

    def on_policy_unit(self, spec: StudentSpec, stage: str = "students", path: Path | None = None,
                       lr: float | None = None, multiplier: float | None = None) -> Unit:
        """One on-policy student (``opd`` / ``sad_opd``): ``preset.opd_rounds`` rounds of (the student plays
        ``opd_episodes`` train-split episodes, a guide playing a turn instead with probability p; the live
        teacher scores its tokens; it trains ``opd_steps_per_round()`` steps), from the initial student of
        the off-policy methods, seed ``spec.seed``. Resumable per round
        (:func:`harness.experiment.opd.run_opd`); the final model is in the student's directory like any
        other student's (``path``; default ``students/<label>``), trained at ``lr`` (default the preset's
        ``student_lr``; ``multiplier``: the learning-rate grid's, recorded)."""
        p, L, opd = self.preset, self.layout, self.on_policy
        path = path or L.student(spec.label)
        lr = p.student_lr if lr is None else lr
        init, initial, build = self._initial_student(spec)
        steps = p.opd_steps_per_round()
        # run_opd sets data, out, model, teacher and max_steps of each round's training
        # the rounds are one training of steps x rounds steps: warm-up, evaluation and saving sized for it
        train_settings = {"role": "student", "divergence": opd.divergence,
                          **self._optimizer_settings(steps * p.opd_rounds, lr, spec.seed),
                          **spec.overrides}
        agent_kwargs = self._lm_kwargs(initial)
        schedule = {"rounds": p.opd_rounds, "episodes_per_round": p.opd_episodes, "steps_per_round": steps,
                    "guide": opd.guide, "guide_p0": opd.guide_p0, "depth_curriculum": opd.depth_curriculum}

        def work() -> dict[str, Any]:
            from harness.experiment.opd import OPDSchedule, run_opd

            if build is not None:
                build()
            summary = run_opd(env=self.env, method=spec.method, student=initial, teacher=L.teacher, out=path,
                              schedule=OPDSchedule(**schedule), train_settings=train_settings,
                              agent_kwargs=agent_kwargs, max_steps=self.max_steps, workers=p.workers,
                              seed=spec.seed, in_flight=p.policy_batch or None)
            totals = {k: summary.get(k) for k in ("student_tokens", "rollout_s", "scoring_s", "train_s")}
            return {"tokenizer": tokenizer_fingerprint(path), **totals}

        params = {"method": spec.method, "student": spec.student, "student_init": init,
                  **schedule, "total_steps": steps * p.opd_rounds,
                  "env_max_steps": self.max_steps,
                  "agent_kwargs": {k: v for k, v in agent_kwargs.items() if k != "model"},
                  **train_settings, "teacher": self._relative(L.teacher), "context_rule": CONTEXT_RULE}
        if multiplier is not None:  # recorded only where set: runs without --lr-grid keep their markers
            params["lr_multiplier"] = multiplier
        return Unit(stage, path, params, (L.teacher,), work)

    # --- the learning-rate grid (--lr-grid) ---
    def lr_grid_specs(self) -> list[StudentSpec]:
        """The students that choose a learning rate: seed 0 of each size and method of the main rows (none
        without ``--lr-grid``); every other student of that size and method (seeds, ablation rows) uses it."""
        if not self.lr_grid:
            return []
        return [s for s in self.specs if s.seed == lr_grid.GRID_SEED and not s.variant]

    def lr_grid_settings(self) -> dict[str, Any]:
        """What the grid asks, as the manifest records it (the choices are added once made)."""
        return {"multipliers": list(self.lr_grid), "base_lr": self.preset.student_lr,
                "episodes": self.preset.lr_grid_episodes, "split": "train",
                "task_offset": lr_grid.heldout_offset(self.preset), "seed": lr_grid.GRID_SEED,
                "rule": lr_grid.RULE}

    def _lr_grid_dir(self, kind: str, spec: StudentSpec, multiplier: float) -> Path:
        return self.root / "lr_grid" / kind / f"{spec.label}_{lr_grid.multiplier_slug(multiplier)}"

    def _lr_choice_dir(self, spec: StudentSpec) -> Path:
        key = StudentSpec(spec.student, spec.method, lr_grid.GRID_SEED).label.removesuffix(
            f"_s{lr_grid.GRID_SEED}")
        return self.root / "lr_grid" / "choice" / key

    def lr_grid_point(self, spec: StudentSpec, multiplier: float) -> Unit:
        """The grid's student ``spec`` (seed 0, a main row) trained at ``multiplier`` x ``student_lr``."""
        return self._student_training(spec, "lr_grid", self._lr_grid_dir("models", spec, multiplier),
                                      multiplier * self.preset.student_lr, multiplier)

    def lr_choice(self, spec: StudentSpec) -> tuple[float, float, Path]:
        """(multiplier, learning rate, choice folder) chosen for ``spec``'s size and method by the grid."""
        path = self._lr_choice_dir(spec)
        record = path / lr_grid.RECORD
        if read_marker(path) is None or not record.is_file():
            raise UserError(f"{record}: no learning rate chosen yet for {spec.student} · {spec.method}; "
                            "the lr_grid stage chooses it before the students train")
        chosen = json.loads(record.read_text())
        return float(chosen["chosen_multiplier"]), float(chosen["chosen_lr"]), path

    def lr_grid_units(self) -> list[Unit]:
        """Every unit of the ``lr_grid`` stage, in order: per size and method, each multiplier's student and
        its play on the held-out train tasks, then the choice (:func:`harness.experiment.lr_grid.choose`)."""
        p = self.preset
        offset = lr_grid.heldout_offset(p)
        self._check_heldout_tasks(offset)
        units: list[Unit] = []
        for spec in self.lr_grid_specs():
            plays = []
            for multiplier in self.lr_grid:
                point = self.lr_grid_point(spec, multiplier)
                heldout = self._lr_grid_dir("heldout", spec, multiplier)
                play = self._eval_unit("lr_grid", heldout, "lm", "train", p.lr_grid_episodes,
                                       inputs=(point.path,), agent_kwargs=self._lm_kwargs(point.path),
                                       task_offset=offset)
                units += [point, play]
                plays.append((multiplier, play.path))
            units.append(self._lr_choice_unit(spec, plays))
        return units

    def _check_heldout_tasks(self, offset: int) -> None:
        """Refuse held-out tasks that wrap around into the train tasks the demos, rollouts and rounds play."""
        from harness.tasks import planned_tasks

        episodes = self.preset.lr_grid_episodes
        order = planned_tasks(self.env, "train", {"max_steps": self.max_steps}, offset + episodes)
        if set(order[:offset]) & set(order[offset:]) or len(set(order[offset:])) < episodes:
            raise UserError(f"--lr-grid-episodes {episodes}: the {self.env} train split has too few tasks "
                            f"for {episodes} held-out ones past the first {offset} (demos, teacher rollouts, "
                            "on-policy rounds); lower --lr-grid-episodes or those budgets")

    def _lr_choice_unit(self, spec: StudentSpec, plays: list[tuple[float, Path]]) -> Unit:
        """The choice of one size and method: every point's held-out success and score, the chosen rate."""
        p = self.preset
        path = self._lr_choice_dir(spec)
        settings = self.lr_grid_settings()
        params = {"student": spec.student, "method": spec.method, **settings}

        def work() -> dict[str, Any]:
            points = []
            for multiplier, run_dir in plays:
                summary = json.loads((run_dir / "summary.json").read_text())
                points.append({"multiplier": multiplier, "lr": multiplier * p.student_lr,
                               "success_rate": float(summary["success_rate"]),
                               "mean_score": float(summary["mean_score"]),
                               "episodes": int(summary["episodes"]), "heldout": self._relative(run_dir)})
            chosen = lr_grid.choose(points)
            choice = {"chosen_multiplier": chosen["multiplier"], "chosen_lr": chosen["lr"]}
            write_json(path / lr_grid.RECORD, {**params, "points": points, **choice})
            return choice

        return Unit("lr_grid", path, params, tuple(run_dir for _, run_dir in plays), work)

    def _record_lr_choices(self) -> None:
        """Add the grid's choices to the manifest (``lr_grid.chosen``: ``"<student> · <method>"`` -> the
        multiplier and learning rate)."""
        chosen = {}
        for spec in self.lr_grid_specs():
            multiplier, lr, _ = self.lr_choice(spec)
            chosen[f"{spec.student} · {spec.method}"] = {"multiplier": multiplier, "lr": lr}
        manifest = json.loads(self.layout.manifest.read_text())
        manifest["lr_grid"] = {**self.lr_grid_settings(), "chosen": chosen}
        write_json(self.layout.manifest, manifest)

    def offline_states(self) -> list[Any]:
        """The held-out teacher states of every student's offline metrics (sampled once from the teacher's
        test episodes); where the run decodes constrained, each with the admissible actions the teacher had
        there (:func:`harness.experiment.offline_metrics.replay_admissible_actions`), so that the students
        decode as in play."""
        if self._offline_states is None:
            from harness.experiment.offline_metrics import replay_admissible_actions, teacher_states
            from harness.logs import read_episodes

            run = self.layout.teacher_eval
            states = teacher_states(read_episodes(run), self.preset.offline_states, seed=0)
            if self.constrain_actions:
                states = replay_admissible_actions(states, run)
            self._offline_states = states
        return self._offline_states

    def _offline_unit(self, spec: StudentSpec) -> Unit:
        student_dir = self.layout.student(spec.label)
        out = self.layout.offline(spec.label)

        def work() -> dict[str, Any]:
            import agents
            from harness.experiment.offline_metrics import student_offline_metrics

            agent = agents.make("lm", env=self.env, **self._lm_kwargs(student_dir))
            metrics = student_offline_metrics(agent, self.offline_states())
            write_json(out / OFFLINE_METRICS, metrics)
            return metrics

        params = {"offline_states": self.preset.offline_states, "max_new_tokens": self.preset.max_new_tokens}
        if self.constrain_actions:  # recorded only where set: free-decoding runs' markers stay as they were
            params["decoding"] = "constrained"
        return Unit("offline", out, params, (student_dir, self.layout.teacher_eval), work)

    # --- running ---
    def run(self) -> None:
        p, L, run = self.preset, self.layout, self.runner
        self.write_manifest()
        expected = self.expected_seconds()
        remaining = self.remaining_seconds(expected)
        whole, left = sum(expected.values()) / 60, sum(remaining.values()) / 60
        slow = self.fp32_slowdown()
        fp32 = (f"; fp32 on this CPU: training x{slow['train']:g}, play x{slow['play']:g} over the bf16 costs"
                if slow["train"] != 1.0 else "")
        print(
            f"[pipeline] {self.env} · preset {p.name} · {len(self.specs)} students · expected ~{left:.1f} min"
            f" to run{'' if left == whole else f' ({whole:.1f} from scratch; the rest is done)'} "
            f"({', '.join(f'{s} {t / 60:.1f}' for s, t in remaining.items())} min{fp32})",
            file=sys.stderr,
            flush=True,
        )
        started = time.perf_counter()
        run.run_stage("demos", [self.demos_unit()], expected["demos"])
        run.run_stage("teacher", [self.teacher_unit()], expected["teacher"])
        teacher = self._lm_kwargs(L.teacher)
        run.run_stage("teacher_rollouts", [self._eval_unit(
            "teacher_rollouts", L.teacher_rollouts, "lm", "train", p.rollout_episodes, inputs=(L.teacher,),
            agent_kwargs=teacher, log_topk=p.log_topk)], expected["teacher_rollouts"])
        teacher_evals = [self._eval_unit("teacher_eval", L.teacher_eval, "lm", "test", p.eval_episodes,
                                         inputs=(L.teacher,), agent_kwargs=teacher, record_play=True)]
        if self.constrain_actions:  # free decoding stays measured: its own row of the report
            free = {k: v for k, v in teacher.items() if k != "constrain_actions"}
            teacher_evals.append(self._eval_unit("teacher_eval", L.teacher_eval_free, "lm", "test",
                                                 p.eval_episodes, inputs=(L.teacher,), agent_kwargs=free))
        run.run_stage("teacher_eval", teacher_evals, expected["teacher_eval"])
        run.run_stage("baselines", [self._eval_unit("baselines", L.baseline(a), a, "test", p.eval_episodes)
                                    for a in self.baselines], expected["baselines"])
        if self.lr_grid:
            run.run_stage("lr_grid", self.lr_grid_units(), expected["lr_grid"])
            self._record_lr_choices()
        students = [self.student_unit(spec) for spec in self.specs]
        run.run_stage("students", students, expected["students"])
        run.run_stage(
            "student_eval",
            [
                self._eval_unit(
                    "student_eval",
                    L.student_eval(s.label),
                    "lm",
                    "test",
                    p.eval_episodes,
                    inputs=(L.student(s.label),),
                    agent_kwargs=self._lm_kwargs(L.student(s.label)),
                    record_play=True,
                )
                for s in self.specs
            ],
            expected["student_eval"],
        )
        run.run_stage("offline", [self._offline_unit(s) for s in self.specs], expected["offline"])
        print(f"[pipeline] {self.env}: all stages done in {(time.perf_counter() - started) / 60:.1f} min",
              file=sys.stderr, flush=True)


def _with_description(
    work: Callable[[], dict[str, Any]], model_dir: Path, spec: StudentSpec
) -> Callable[[], dict[str, Any]]:
    """``work`` that also writes the student's description (the report groups rows by it) by the model."""

    def wrapped() -> dict[str, Any]:
        extra = work()
        write_json(model_dir / STUDENT_DESCRIPTION, {"student": spec.student, "method": spec.method,
                                                 "variant": spec.variant, "seed": spec.seed,
                                                 "overrides": spec.overrides})
        return extra

    return wrapped


def baseline_agents(env: str) -> tuple[str, ...]:
    """The scripted agents of the baselines stage: expert and random, and on WebShop ``first-result``
    (buy the top search hit) where that agent is registered."""
    import agents

    extra = ("first-result",) if env == "webshop" and "first-result" in agents.names() else ()
    return ("expert", "random", *extra)


def model_origins(*models: str) -> dict[str, str]:
    """Where each model's weights come from (:func:`distill.models.model_origin`), for the manifest."""
    from distill.models import model_origin

    return {model: model_origin(model) for model in dict.fromkeys(models)}


def expert_version(env: str) -> int:
    """``agents.experts.EXPERT_VERSIONS[env]``: bumped whenever ``env``'s scripted expert changes what it
    plays."""
    from agents.experts import EXPERT_VERSIONS

    return EXPERT_VERSIONS[env]


def git_commit() -> str:
    """The current commit (with ``+dirty`` for local changes), or "unknown" outside a git checkout."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], check=False, capture_output=True, text=True, timeout=10
        )
        if head.returncode != 0:
            return "unknown"
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            check=False,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        return head.stdout.strip() + ("+dirty" if dirty else "")
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


# --- command line ---------------------------------------------------------------------------------

#: budget knobs: option -> Preset field
KNOBS = (
    "demo_episodes",
    "rollout_episodes",
    "eval_episodes",
    "teacher_steps",
    "student_steps",
    "batch_size",
    "teacher_batch_size",
    "micro_batch_size",
    "max_length",
    "max_new_tokens",
    "max_steps",
    "log_topk",
    "offline_states",
    "workers",
    "opd_rounds",
    "opd_episodes",
    "opd_steps",
    "lr_grid_episodes",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--env", required=True, choices=(*ENVS, "all"), help="environment, or all three in turn"
    )
    parser.add_argument(
        "--preset", default="tiny", choices=tuple(PRESETS), help="tiny: 2 CPU cores, gpu: one H100"
    )
    parser.add_argument(
        "--seeds", type=int, default=1,
        help="train N students per method (seed i for every method); all play the same test tasks"
    )
    parser.add_argument(
        "--run", default=None, help="pipeline directory name under --runs-dir (default <env>-<preset>)"
    )
    parser.add_argument("--runs-dir", default="runs")
    parser.add_argument("--force", action="append", default=[], metavar="STAGE",
                        help=f"redo STAGE (STAGE+: it and every later stage); stages: {', '.join(STAGES)}")
    parser.add_argument("--ablations", nargs="?", const="all", default=None, choices=ABLATION_SETS,
                        help="add SAD with λ_r=0, λ_a=0, λ=(2,1), a random-token control and per-span "
                        "means, SAD and token-KD with curriculum, and other student sizes; '--ablations "
                        "controls': only SAD's controls (λ=(2,1) and the random-token control)")
    parser.add_argument(
        "--methods", default=",".join(OFF_POLICY_METHODS),
        help=f"comma-separated distillation methods out of {', '.join(METHODS)} (on-policy: "
        f"{', '.join(ON_POLICY_METHODS)}; they play --opd-rounds rounds of --opd-episodes train episodes and "
        "train --opd-steps steps a round, by default student_steps / rounds)",
    )
    parser.add_argument(
        "--guide", default="teacher", choices=GUIDES,
        help="on-policy methods: who plays a turn instead of the student with probability p (teacher: the "
        "teacher LM; expert: the per-step scripted expert, DAgger-style; none: the student plays every turn)",
    )
    parser.add_argument(
        "--guide-p0", type=finite_float, default=1.0,
        help="on-policy methods: p in round 0, decaying linearly to 0 at the last round (default 1.0)",
    )
    parser.add_argument(
        "--depth-curriculum", action="store_true",
        help="on-policy methods: round r trains on the first k_r turns of each episode, k growing to all "
        "turns",
    )
    parser.add_argument(
        "--divergence", default="reverse_kl", choices=DIVERGENCES,
        help="on-policy methods: the divergence to the live teacher on the student's own turns",
    )
    parser.add_argument(
        "--device", default=None,
        help="training/inference device (default: the preset's; the gpu preset's is auto and needs CUDA: "
        "--device cpu runs it on the CPU, --device auto uses CUDA where torch sees it, else the CPU)",
    )
    parser.add_argument(
        "--precision", default=None, choices=PRECISIONS,
        help="auto: bf16 autocast on CUDA and on CPUs with AMX / AVX512-BF16, else fp32 (the default); "
        "bf16 / fp32 force it, for training and play alike",
    )
    parser.add_argument(
        "--teacher", default=None, metavar="MODEL",
        help="teacher instead of the preset's: a model preset, a local Hugging Face model directory or a hub "
        "id; with --teacher-steps 0 it plays as given (a model that already acts)",
    )
    parser.add_argument(
        "--student", default=None, metavar="MODEL[,MODEL...]",
        help="students instead of the preset's: model presets, local model directories or hub ids "
        "(comma-separated); each must share the teacher's tokenizer, checked before any training",
    )
    parser.add_argument(
        "--student-init", default=None, choices=("scratch", "teacher-layers", "pretrained"),
        help="how every student starts: fresh weights, the teacher's embeddings and every other layer "
        "(DistilBERT; same width), or the student model's own weights (default: the preset's rule for "
        "presets, pretrained for a model directory)",
    )
    parser.add_argument(
        "--constrain-actions", action=argparse.BooleanOptionalAction, default=None,
        help="every LM agent (teacher and students) decodes its Action: constrained to what the env "
        "accepts (agents/constrained.py), and the teacher is also evaluated decoding freely; "
        "--no-constrain-actions: free decoding throughout (default: the preset's constrain_actions, on "
        "in tiny and gpu)",
    )
    parser.add_argument(
        "--lr-grid", nargs="?", const=",".join(f"{m:g}" for m in lr_grid.DEFAULT_MULTIPLIERS), default=None,
        metavar="M[,M...]",
        help="choose each method's student learning rate out of these multiples of the preset's student_lr "
        "(default 0.5,1,2): seed 0 of each size and method trains at each and plays --lr-grid-episodes "
        "held-out train tasks; the best success (then score, then x1) is every student's rate for that "
        "method",
    )
    for knob in KNOBS:
        parser.add_argument(
            f"--{knob.replace('_', '-')}", type=int, default=None, help=f"override the preset's {knob}"
        )


def preset_from_args(args: argparse.Namespace, env: str | None = None) -> Preset:
    """The chosen preset as it runs on ``env`` (default ``args.env`` where that is one env: the preset's
    ``by_env`` values for it, :meth:`Preset.for_env`) with the budget knobs the user set."""
    overrides = {k: getattr(args, k) for k in KNOBS if getattr(args, k, None) is not None}
    for knob, value in overrides.items():
        least = 0 if knob in ("workers", "teacher_steps", "teacher_batch_size") else 1
        if value < least:
            raise UserError(f"--{knob.replace('_', '-')} must be >= {least}, got {value}")
    if getattr(args, "device", None):
        overrides["device"] = args.device
    if getattr(args, "precision", None):
        overrides["precision"] = args.precision
    if getattr(args, "teacher", None):
        overrides["teacher"] = args.teacher
    if getattr(args, "student", None):
        overrides["students"] = tuple(s.strip() for s in args.student.split(",") if s.strip())
    env = env or getattr(args, "env", None)
    base = PRESETS[args.preset]
    preset = dataclasses.replace(base.for_env(env) if env in ENVS else base, **overrides)
    if preset.batch_size % preset.micro_batch_size:
        preset = dataclasses.replace(preset, micro_batch_size=preset.batch_size)
    return preset


def check_device(preset: Preset, given: str | None) -> None:
    """Refuse, before any stage runs, a device that needs CUDA where torch sees none
    (:func:`harness.cuda.require_cuda`): a preset's "auto" (the ``gpu`` preset) or a ``cuda`` device. Given
    on the command line, ``--device cpu`` runs the preset on the CPU and ``--device auto`` asks for "cuda
    where torch sees one, else cpu"."""
    if given == "auto" or not (preset.device == "auto" or preset.device.startswith("cuda")):
        return
    require_cuda(f"--device {given}" if given else f"--preset {preset.name} (device {preset.device!r})")


def check_models(preset: Preset, student_init: str | None) -> None:
    """Refuse, before any stage runs, a teacher/student choice that cannot work: a teacher that is not a
    model with ``--teacher-steps 0``, a config preset as a ``pretrained`` student, a student whose
    tokenizer or output size differs from the teacher's (:func:`distill.models.check_pair`). A ``tiny``
    BPE teacher trains its tokenizer in the run: its students are checked when they train."""
    from distill.models import PRESETS as MODEL_PRESETS
    from distill.models import check_pair, resolve_model_path

    teacher = MODEL_PRESETS.get(preset.teacher)
    if preset.teacher_steps == 0:
        try:
            resolve_model_path(preset.teacher)
        except (ValueError, FileNotFoundError) as err:
            raise UserError(
                f"--teacher-steps 0 plays the teacher as given, so it must be a model (a directory, "
                f"pretrained preset or hub id): {err}"
            ) from None
    try:
        for student in preset.students:
            spec = MODEL_PRESETS.get(student)
            if student_init == "pretrained" and spec is not None and spec.source == "config":
                raise ValueError(
                    f"--student-init pretrained: student preset {student!r} is built from a config"
                )
            if not (teacher and teacher.tokenizer == "bpe") and not (spec and spec.tokenizer == "bpe"):
                check_pair(preset.teacher, student)
    except (ValueError, FileNotFoundError) as err:
        raise UserError(str(err)) from None


def canonical_command(args: argparse.Namespace) -> str:
    """The command line that reproduces this run (recorded in the manifest and the report)."""
    parts = ["agentdistill pipeline", f"--env {args.env}", f"--preset {args.preset}", f"--seeds {args.seeds}"]
    if args.run:
        parts.append(f"--run {args.run}")
    if args.ablations:
        parts.append("--ablations" if args.ablations in (True, "all") else f"--ablations {args.ablations}")
    if args.methods != ",".join(OFF_POLICY_METHODS):
        parts.append(f"--methods {args.methods}")
    defaults = OnPolicySettings()
    for flag in ("guide", "guide_p0", "divergence"):
        value = getattr(args, flag, getattr(defaults, flag))
        if value != getattr(defaults, flag):
            parts.append(f"--{flag.replace('_', '-')} {value}")
    if getattr(args, "depth_curriculum", False):
        parts.append("--depth-curriculum")
    if args.device:
        parts.append(f"--device {args.device}")
    if getattr(args, "precision", None):
        parts.append(f"--precision {args.precision}")
    for flag in ("teacher", "student", "student_init"):
        if getattr(args, flag, None):
            parts.append(f"--{flag.replace('_', '-')} {getattr(args, flag)}")
    if getattr(args, "constrain_actions", None) is not None:
        parts.append("--constrain-actions" if args.constrain_actions else "--no-constrain-actions")
    if getattr(args, "lr_grid", None) is not None:
        parts.append(f"--lr-grid {','.join(f'{m:g}' for m in lr_grid.parse_multipliers(args.lr_grid))}")
    parts += [
        f"--{k.replace('_', '-')} {getattr(args, k)}" for k in KNOBS if getattr(args, k, None) is not None
    ]
    return " ".join(parts)


@interrupt.stops_on_sigint
def run(args: argparse.Namespace) -> int:
    """Entry point of ``agentdistill pipeline``: the pipeline directory is locked for the whole run
    (``run.lock``: a second pipeline on it is refused naming the holder), Ctrl-C always stops it."""
    if args.seeds < 1:
        raise UserError(f"--seeds must be >= 1, got {args.seeds}")
    methods = tuple(m.strip() for m in args.methods.split(",") if m.strip())
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise UserError(
            f"--methods {args.methods!r}: expected a comma-separated subset of {', '.join(METHODS)}"
        )
    preset = preset_from_args(args)
    given = getattr(args, "lr_grid", None)
    grid = lr_grid.parse_multipliers(given) if given is not None else ()
    check_device(preset, getattr(args, "device", None))
    on_policy = OnPolicySettings(args.guide, args.guide_p0, args.depth_curriculum, args.divergence)
    check_models(preset, args.student_init)
    forced = parse_force(args.force)
    root = Path(args.runs_dir) / (
        args.run or f"{args.env}-{preset.name}{RUN_SUFFIX[ablation_set(args.ablations)]}"
    )
    command = canonical_command(args)
    env_list = list(ENVS) if args.env == "all" else [args.env]
    with RunLock(root, kind="pipeline"):  # held until the report is written
        started = time.perf_counter()
        if args.env == "all":
            manifest = root / MANIFEST
            if manifest.is_file() and json.loads(manifest.read_text()).get("env") != "all":
                raise UserError(f"{root} holds a single-env pipeline; pick another --run for --env all")
            write_json(manifest, {"env": "all", "envs": env_list, "preset": preset.name,
                                  "seeds": args.seeds, "methods": list(methods), "command": command,
                                  "commit": git_commit(), **({"lr_grid": list(grid)} if grid else {})})
        for env in env_list:
            env_root = root / env if args.env == "all" else root
            Pipeline(env_root, env, preset_from_args(args, env), methods, args.seeds, args.ablations,
                     forced, command, student_init=args.student_init,
                     constrain_actions=preset.constrain_actions if args.constrain_actions is None
                     else args.constrain_actions,
                     on_policy=on_policy, lr_grid=grid).run()
        written = build_report(root)
        wall = time.perf_counter() - started
        print(
            f"[pipeline] done in {wall / 60:.1f} min; report: {written['markdown']}  {written['html']}",
            file=sys.stderr,
        )
        print((root / "report.md").read_text())
    return 0
