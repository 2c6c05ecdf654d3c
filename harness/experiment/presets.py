"""The pipeline's sizes (``--preset tiny`` for 2 CPU cores, ``gpu`` for one H100/H200), the
distillation methods and ablations it compares, and the students it trains."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ENVS = ("alfworld", "webshop", "hotpotqa")
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
    max_steps: int | None = None  # env steps per episode; None: the env's standard ENV_MAX_STEPS[env]


#: env steps per episode, each benchmark's standard limit (ReAct / upstream): every preset uses them
ENV_MAX_STEPS = {"webshop": 15, "hotpotqa": 7, "alfworld": 50}

PRESETS: dict[str, Preset] = {
    # 2 CPU cores: a 2-layer 256-wide teacher (~2M params) and a 2-layer 128-wide student (~0.6M).
    # The teacher must learn to copy (queries, product ids, options) from the page, which takes ~2M
    # tokens of SFT (~4k tokens a step); 512 demos keep it from memorising the train tasks. 1536 tokens
    # hold a whole WebShop episode (<= ~1450 tokens): no windows, and no header cut from the play-time prompt
    "tiny": Preset(
        name="tiny",
        teacher="tiny",
        students=("tiny-student",),
        ablation_students=("tiny",),
        demo_episodes=512,
        rollout_episodes=64,
        eval_episodes=100,
        teacher_steps=500,
        student_steps=200,
        batch_size=4,
        micro_batch_size=4,
        max_length=1536,
        teacher_lr=5e-3,
        student_lr=3e-3,
        max_new_tokens=64,
        log_topk=20,
        offline_states=32,
        workers=2,
        device="cpu",
        init_from_teacher=(),
    ),
    # one H100/H200: SmolLM2-135M teacher, ~46M and ~15M students
    "gpu": Preset(
        name="gpu",
        teacher="smollm2-135m",
        students=("smol-45m", "smol-15m"),
        ablation_students=(),
        demo_episodes=400,
        rollout_episodes=400,
        eval_episodes=100,
        teacher_steps=400,
        student_steps=600,
        batch_size=32,
        micro_batch_size=16,
        max_length=1536,
        teacher_lr=1e-4,
        student_lr=5e-4,
        max_new_tokens=96,
        log_topk=20,
        offline_states=200,
        workers=4,
        device="auto",
        init_from_teacher=("smol-45m",),
    ),
}


@dataclass(frozen=True)
class Ablation:
    """One ablation row: ``method`` trained with config ``overrides``, labelled ``label`` in the report."""

    method: str
    label: str
    overrides: dict[str, Any]


#: each method's settings in every row of the run (ablation rows change one of them). SAD with
#: λ_r = λ_a is token-KD on the same tokens by construction (its loss divides both span sums by
#: token-KD's normaliser), so SAD's row weights the act span twice: the spans are then the one thing
#: that differs between the two. The paper's text gives no λ values; change them here or per run.
METHOD_SETTINGS: dict[str, dict[str, Any]] = {"sad": {"lambda_reason": 1.0, "lambda_act": 2.0}}

#: one knob per row. Curriculum is its own axis, off by default for every method, so "+curriculum" is
#: a row for SAD and token-KD alike; "per-span mean" is SAD's earlier objective (λ_r·mean_r + λ_a·mean_a)
ABLATIONS: tuple[Ablation, ...] = (
    Ablation("sad", "act only (λ_r=0)", {"lambda_reason": 0.0}),
    Ablation("sad", "reason only (λ_a=0)", {"lambda_act": 0.0}),
    Ablation("sad", "+curriculum", {"curriculum": True}),
    Ablation("token_kd", "+curriculum", {"curriculum": True}),
    Ablation("sad", "equal span weights (λ_r = λ_a = 1, = token-KD)", {"lambda_act": 1.0}),
    Ablation("sad", "per-span mean (span_norm=per_span_mean)", {"span_norm": "per_span_mean"}),
)

#: measured costs (tiny: 2 shared CPU cores; gpu: one H100) behind the time estimate printed at the start.
#: ``lm_step``: seconds per LM agent turn of 64 new tokens; ``LM_STEP_BY_ENV`` overrides it where the
#: prompts are longer (measured with 2 workers on 2 shared cores: the tiny teacher playing HotPotQA,
#: 0.21 s a turn, and WebShop at its 15-step limit with ~1,400-token prompts, 0.28 s a turn; ALFWorld's
#: prompts grow as long over its 50 steps, so it is assumed to cost what WebShop does)
COSTS = {
    "tiny": {"startup": 8.0, "expert_episode": 0.03, "lm_step": 0.12, "teacher_tokens_per_s": 5000.0,
             "student_tokens_per_s": 8000.0, "offline_state": 0.15},
    "gpu": {"startup": 20.0, "expert_episode": 0.05, "lm_step": 0.05, "teacher_tokens_per_s": 150_000.0,
            "student_tokens_per_s": 300_000.0, "offline_state": 0.02},
}
#: per-env ``lm_step`` (seconds a turn as the estimate's formula counts it: divided by √workers)
LM_STEP_BY_ENV = {"tiny": {"hotpotqa": 0.18, "webshop": 0.4, "alfworld": 0.4}}


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
        model = self.student.rstrip("/").rsplit("/", 1)[-1]  # a model directory or hub id: its last part
        return f"{model}_{self.method}{'_' + slug if slug else ''}_s{self.seed}"


def student_specs(preset: Preset, methods: tuple[str, ...], seeds: int, ablations: bool) -> list[StudentSpec]:
    """Every student of the run: each size x method x seed (seed i for every method), plus the ablation
    rows of the methods in ``methods`` and the extra sizes."""
    def settings(method: str, **overrides: Any) -> dict[str, Any]:
        return {**METHOD_SETTINGS.get(method, {}), **overrides}

    specs = [StudentSpec(s, m, seed, overrides=settings(m))
             for s in preset.students for m in methods for seed in range(seeds)]
    if ablations:
        main = preset.students[0]
        specs += [StudentSpec(main, a.method, seed, a.label, settings(a.method, **a.overrides))
                  for a in ABLATIONS if a.method in methods for seed in range(seeds)]
        specs += [
            StudentSpec(s, m, seed, overrides=settings(m))
            for s in preset.ablation_students
            for m in methods
            for seed in range(seeds)
            if s not in preset.students
        ]
    return specs
