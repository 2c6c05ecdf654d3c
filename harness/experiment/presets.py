"""The pipeline's sizes (``--preset tiny`` and ``smol`` for 2 CPU cores, ``gpu`` for one H100/H200), the
distillation methods and ablations it compares, and the students it trains."""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

ENVS = ("alfworld", "webshop", "hotpotqa")
#: methods that train on the teacher's logged rollouts (the default ``--methods``)
OFF_POLICY_METHODS = ("sad", "token_kd", "sft")
#: methods whose student plays the train split in rounds and is scored there by the live teacher
#: (:func:`harness.experiment.opd.run_opd`)
ON_POLICY_METHODS = ("opd", "sad_opd")
METHODS = OFF_POLICY_METHODS + ON_POLICY_METHODS


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
    #: episodes played at once, all in one batch of the LM agent (0: evaluate's default of 4 per worker,
    #: in the agent's batches of 16). A GPU decodes 100 sequences in about the time of one (COSTS["gpu"])
    #: every LM agent decodes its Action: within what the env accepts (agents/constrained.py); the teacher
    #: is also evaluated decoding freely. A 2M-parameter teacher trained from scratch cannot spell most
    #: actions (83-94% invalid free-decoded); constrained, none is invalid
    constrain_actions: bool = True
    policy_batch: int = 0
    teacher_lora_rank: int = 0  # > 0: the teacher fine-tunes LoRA adapters of this rank (distill/lora.py)
    #: "auto": bf16 autocast on CUDA and on CPUs with AMX / AVX512-BF16, fp32 elsewhere (agents/precision.py),
    #: for training and play alike; "bf16" / "fp32" force it
    precision: str = "auto"
    # on-policy methods (opd, sad_opd): rounds of (student plays, teacher scores, student trains)
    opd_rounds: int = 3
    opd_episodes: int = 32  # student episodes on the train split per round
    opd_steps: int | None = None  # optimizer steps per round; None: student_steps // opd_rounds
    #: --lr-grid: episodes each grid point plays on held-out train tasks (harness/experiment/lr_grid.py)
    lr_grid_episodes: int = 50
    teacher_batch_size: int = 0  # sequences per teacher optimizer step; 0: batch_size
    #: an env's own values of this preset's fields (:meth:`for_env`), e.g. a longer teacher fine-tuning where
    #: the env's demos make more training windows; the command-line knobs still override them
    by_env: Mapping[str, Mapping[str, Any]] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        names = {f.name for f in dataclasses.fields(self)} - {"name", "by_env"}
        for env, values in self.by_env.items():
            if env not in ENVS:
                raise ValueError(f"preset {self.name!r}: by_env key {env!r} is not an env "
                                 f"({', '.join(ENVS)})")
            unknown = sorted(set(values) - names)
            if unknown:
                raise ValueError(f"preset {self.name!r}: by_env[{env!r}] sets {unknown}, not preset fields")

    def for_env(self, env: str) -> Preset:
        """This preset as it runs on ``env``: its ``by_env[env]`` values applied (and ``by_env`` emptied, so a
        recorded budget lists the values that ran)."""
        return dataclasses.replace(self, **dict(self.by_env.get(env, {})), by_env={})

    @property
    def teacher_batch(self) -> int:
        """Sequences per teacher optimizer step (``teacher_batch_size``, else ``batch_size``)."""
        return self.teacher_batch_size or self.batch_size

    def opd_steps_per_round(self) -> int:
        """Optimizer steps per on-policy round: ``opd_steps``, or the off-policy ``student_steps`` spread
        over the rounds (so both train for the same number of steps, up to the remainder)."""
        return self.opd_steps or max(1, self.student_steps // self.opd_rounds)


#: env steps per episode, each benchmark's standard limit (ReAct / upstream): every preset uses them
ENV_MAX_STEPS = {"webshop": 15, "hotpotqa": 7, "alfworld": 50}

PRESETS: dict[str, Preset] = {
    # 2 CPU cores: a 2-layer 256-wide teacher (~2M params) and a 2-layer 128-wide student (~0.6M).
    # The teacher must learn to copy (queries, product ids, options) from the page, which takes ~2M
    # tokens of SFT (~4k tokens a step); 512 demos keep it from memorising the train tasks. 1536 tokens do
    # not hold a WebShop episode: on 512 expert train demos a whole episode is median 1,892 / p90 3,868 /
    # max 4,749 tiny-BPE tokens (SmolLM2: 2,116 / 4,360 / 5,506), so 63% of demos need windows (3.8 sequences
    # a demo) and 59% of sequences are exactly 1,536 tokens. Past the limit each later step is its own
    # window whose prompt drops early turns by agents.context's rule (the header is never cut). HotPotQA
    # episodes fit (max 541 / 621 tokens); 6% / 9% of ALFWorld's need windows
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
    # 2 CPU cores, a teacher that can read and copy: SmolLM2-135M-Instruct (pretrained; weights dequantised
    # from a Q4_1 GGUF) fine-tuned in full on the demos in bf16 where the CPU has it, its LM head only at the
    # completion positions (distill/loss_positions.py); 12 steps of 8 x 1,024 tokens already made it copy the
    # instruction into its WebShop queries (DESIGN.md). Students start from its layers (smol-45m: one layer
    # in six). The success-vs-fine-tuning-tokens curve (README "Presets"): 64 steps of 4 x 1,536 tokens
    # (380k tokens, lr 2e-4) still give 0 of 20 held-out WebShop successes (mean score 0.11; 0.15 on expert
    # v7's demos, whose thoughts carry the ids checked): it copies and moves on, but misjudges what it reads.
    # On HotPotQA (generated bundle) these 32 steps (2 epochs) gave a teacher that acts: 0.25 success on the
    # 100 test tasks (README "Example results (HotPotQA, smol preset)"); 96 steps (6 epochs) give 0.45, so
    # HotPotQA's teacher trains those (by_env below). Its students
    # need more than 48 steps on 64 rollouts (held-out KL to the teacher 3.1-4.2 nats, 0.00 success):
    # 192 steps on 256 rollouts give 1.1-2.3 nats and 0.02-0.03 success, so those are the budget (1,024
    # rollouts: 0.4-1.0 nats, still 0.02, 19 min more). Not the default: WebShop's teacher does not act after
    # these 32 steps (0.66 epochs of its 390 windows) nor 64 steps at batch 4 nor a DAgger round, so it
    # trains 192 steps at batch 4 there (by_env below: ~68 min on 2 cores), and the WebShop job's estimate
    # is ~5 h, most of it students (192 steps of 8 WebShop windows each). That teacher given (0.30 on the
    # test split), 96 steps on 64 rollouts: smol-45m students 0.00 success, score 0.03; smol-81m 0.02 / 0.35
    # (README "Example results (WebShop, smol preset, ...)"). ALFWorld's teacher after 16 and 32 steps of
    # 8 windows (0.74 and 1.5 epochs) solves 0 of 20 held-out games, after 64 (3 epochs, lr 2e-4) 9 of 20:
    # by_env. Its smol-81m SAD student (128 rollouts, 96 steps of 8, run stage by stage) plays 0.00 on the
    # 100 test games, looping between two receptacles as that teacher did at 0.74 epochs; resumed to 144
    # steps 0.03, and one on-policy round (sad_opd) from there 0.01 (README).
    # HotPotQA: smol-81m (one layer in two, `--student smol-81m`) on its 256 rollouts: 0.08 success,
    # held-out KL 0.34 / 0.18, but 34 min a student on 2 cores against ~15, so not the preset's 3 students.
    # From the 96-step teacher (0.45): smol-81m token_kd 0.15 / 0.10, sad 0.07 / 0.16 (two seeds each; SAD -
    # token-KD -0.010 [-0.100, +0.080], inconclusive; README). In fp32 (AVX2-only CPU) its teacher plays 0.38.
    # Full fine-tuning, not LoRA: rank 16 gave 10 of 50 HotPotQA successes against 14, for ~9% less time.
    "smol": Preset(
        name="smol",
        teacher="smollm2-135m",
        students=("smol-45m",),
        ablation_students=("smol-25m",),
        demo_episodes=128,
        rollout_episodes=256,
        eval_episodes=100,
        teacher_steps=32,
        student_steps=192,
        batch_size=8,
        micro_batch_size=2,
        max_length=1536,
        teacher_lr=1e-4,
        student_lr=5e-4,
        max_new_tokens=96,
        log_topk=20,
        offline_states=32,
        workers=2,
        device="cpu",
        init_from_teacher=("smol-45m", "smol-81m"),
        policy_batch=32,
        # WebShop's 128 demos make 390 windows (HotPotQA's 128: one each), so its teacher gets its own budget:
        # 192 steps at batch 4 (~2 epochs), the only one measured to buy (README "A teacher's budget,
        # measured"): trained under the block-dropping context rule 0.20 success / 0.42 mean score on 20
        # held-out tasks (4,074 s); under the earlier rule 0.35 / 0.77, and 0.28 / 0.61 on the 100 test tasks
        #
        # A turn may take 96 new tokens. That cuts the expert's longest turns: 78 of 128 ALFWorld first-turn
        # plans (up to 132 SmolLM2 tokens) and ~2% of WebShop's (thoughts listing the ids checked, up to 110).
        # Room for them measured worse, not better: the 64-step ALFWorld teacher with 144-token turns won 4 of
        # the 20 held-out tasks it won 9 of with 96 (5 tasks won only with 96, none only with 144; the prompt
        # budget, 1,392 or 1,440 tokens, changed no outcome); on the 100 test games 0.43 against 0.45,
        # inconclusive. Unmeasured on WebShop, whose rows were all played at 96, so the budget stays 96
        # everywhere (README "A teacher's budget, measured")
        by_env={"webshop": {"teacher_steps": 192, "teacher_batch_size": 4, "teacher_lr": 2e-4},
                # ALFWorld's 128 demos make 172 windows of ~980 tokens: 64 steps of 8 are 3 epochs, and its
                # teacher acts there (0 of 20 held-out games at 16 and 32 steps, 9 of 20 at 64; ~35 min)
                "alfworld": {"teacher_steps": 64, "teacher_lr": 2e-4},
                # HotPotQA's 128 demos are 128 windows: 32 steps of 8 are 2 epochs. On 50 held-out train
                # tasks one 96-step schedule (lr 1e-4) wins 14 at step 32, 25 at 64 and 24 at 96; its 96-step
                # model plays 0.45 on the 100 test tasks (0.25 after the 32 steps of a 32-step schedule).
                # ~22 min on 2 cores against ~7
                "hotpotqa": {"teacher_steps": 96}},
    ),
    # one H100/H200, one env's pipeline (one seed) meant to take ~10 min; Pipeline.expected_seconds
    # (COSTS["gpu"], both teacher evaluations and constrained decoding's host work counted) gives ALFWorld
    # 12.7 min (its 50 steps bind), WebShop 7.9, HotPotQA 5.8 (4 steps an episode, EPISODE_STEPS; its action
    # tries: 50 ms a turn); 9.5 / 6.5 / 3.5 decoding freely.
    # Teacher: SmolLM2-135M-Instruct, fine-tuned in full on the demos (weights dequantised from a Q4_1 GGUF:
    # SMOLLM2_ORIGIN): 40 steps x 32 = 1,280 sequences, i.e. epochs of the 1,536-token windows of the 230
    # training demos (256 less 10% held out; SmolLM2 tokens): ~1.5 on WebShop (872 windows), ~3.2 on ALFWorld
    # (405), ~5.6 on HotPotQA (230: one window an episode).
    # Student: smol-45m, one teacher layer in six (5 x 576, 38% of its ~46M parameters outside the
    # embeddings); --ablations adds smol-25m (12 x 256, 48%) and smol-81m (15 x 576, one layer in two, 65%).
    # Every LM stage plays 100 episodes at once (policy_batch); a turn may take 128 new tokens, which holds
    # every WebShop and HotPotQA turn of the experts' demos (up to 110 tokens) and all but the longest of
    # ALFWorld's first-turn plans (up to 132 tokens over 128 demos: the last locations of those few are cut).
    "gpu": Preset(
        name="gpu",
        teacher="smollm2-135m",
        students=("smol-45m",),
        ablation_students=("smol-25m", "smol-81m"),
        demo_episodes=256,
        rollout_episodes=100,
        eval_episodes=100,
        teacher_steps=40,
        student_steps=60,
        batch_size=32,
        micro_batch_size=16,
        max_length=1536,
        teacher_lr=1e-4,
        student_lr=5e-4,
        max_new_tokens=128,
        log_topk=20,
        offline_states=64,
        workers=8,
        device="auto",
        init_from_teacher=("smol-45m", "smol-81m"),
        policy_batch=100,
        lr_grid_episodes=100,  # one batch of policy_batch: as fast as 50
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
METHOD_SETTINGS: dict[str, dict[str, Any]] = {
    "sad": {"lambda_reason": 1.0, "lambda_act": 2.0},
    "sad_opd": {"lambda_reason": 1.0, "lambda_act": 2.0},  # SAD's span weights on the student's own spans
}

#: one knob per row. Curriculum is its own axis, off by default for every method, so "+curriculum" is
#: a row for SAD and token-KD alike; "per-span mean" is SAD's earlier objective (λ_r·mean_r + λ_a·mean_a)
ABLATIONS: tuple[Ablation, ...] = (
    Ablation("sad", "act only (λ_r=0)", {"lambda_reason": 0.0}),
    Ablation("sad", "reason only (λ_a=0)", {"lambda_act": 0.0}),
    Ablation("sad", "+curriculum", {"curriculum": True}),
    Ablation("token_kd", "+curriculum", {"curriculum": True}),
    Ablation("sad", "equal span weights (λ_r = λ_a = 1, = token-KD)", {"lambda_act": 1.0}),
    # SAD's controls: the reason span up-weighted instead, and the act span's share of random tokens
    Ablation("sad", "reason up-weighted (λ_r=2, λ_a=1)", {"lambda_reason": 2.0, "lambda_act": 1.0}),
    Ablation("sad", "random-token control (span_control=random)", {"span_control": "random"}),
    Ablation("sad", "per-span mean (span_norm=per_span_mean)", {"span_norm": "per_span_mean"}),
)
#: ``--ablations controls``: only SAD's controls, the rows a SAD − token-KD difference needs before it can
#: be credited to the spans (no extra student sizes)
CONTROL_LABELS = ("reason up-weighted (λ_r=2, λ_a=1)", "random-token control (span_control=random)")
#: ``--ablations`` values: every row and the extra sizes, or SAD's controls alone
ABLATION_SETS = ("all", "controls")


def ablation_set(ablations: bool | str | None) -> str | None:
    """``--ablations``' value as one of :data:`ABLATION_SETS` (True: "all"; False / None / "": none)."""
    if ablations is True:
        return "all"
    if not ablations:
        return None
    if ablations not in ABLATION_SETS:
        raise ValueError(f"ablations={ablations!r}: expected one of {', '.join(ABLATION_SETS)}")
    return str(ablations)

#: per-unit costs behind the time estimate printed at the start (tiny: measured on 2 shared CPU cores; gpu:
#: derived below from anchors measured on one H200).
#: ``lm_step``: seconds per LM agent turn of 64 new tokens; ``COSTS_BY_ENV`` overrides any key per env
COSTS = {
    # smol, measured on 2 cores of an AVX512-BF16 CPU without AMX (teacher_curve, WebShop, 2026-12-06): the
    # trainer at 263 tokens/s (SmolLM2-135M, bf16, loss positions; 64 steps of 4 x 1,536 tokens, 380k tokens
    # in 1,445 s); constrained play of 20 held-out episodes in one batch, 15 turns each (the teacher loops),
    # 760 s: 38 s an episode (a 512-token prompt's decoding step ~130 ms at B = 8, every turn re-reads the
    # prompt once old turns are dropped to fit 1,440 tokens): COSTS_BY_ENV["smol"]["webshop"]. The 46M
    # student's rate (~3x) and the other envs' play are not measured
    # smol-45m students, HotPotQA pipeline (2026-12-06, idle): 138k tokens in 48 steps, 193-245 s a student
    # with start-up and the held-out evals: ~640 tokens/s
    "smol": {"startup": 15.0, "expert_episode": 0.03, "lm_step": 2.4, "teacher_tokens_per_s": 263.0,
             "student_tokens_per_s": 640.0, "offline_state": 0.5},
    "tiny": {"startup": 8.0, "expert_episode": 0.03, "lm_step": 0.12, "teacher_tokens_per_s": 5000.0,
             "student_tokens_per_s": 8000.0, "offline_state": 0.15},
    "gpu": {"startup": 10.0, "expert_episode": 0.05, "lm_step": 0.055, "teacher_tokens_per_s": 110_000.0,
            "student_tokens_per_s": 300_000.0, "offline_state": 0.02},
}
#: per-env overrides of COSTS' keys, measured where an env differs from the preset's figures. ``lm_step``
#: (seconds a turn as the estimate's formula counts it: divided by √workers): tiny webshop: the free-decoding
#: teacher eval of `make pipeline ENV=webshop` (every episode 15 steps, the policy actor on both cores) took
#: 185.6 s for 100 episodes: (185.6 - 8) x √2 / 1,500 = 0.17; ALFWorld is assumed to cost what WebShop does.
#: HotPotQA, both presets fitted on their idle pipelines with EPISODE_STEPS' 4 steps an episode:
#: - tiny (#27's run, 2026-12-07: 3 seeds, 5 methods, controls, lr grid; 32.2 min, estimated 103 before this
#:   fit): the free teacher eval, 100 episodes in 21.8 s: (21.8 - 8) / (100 x 4 x 64/64 / √2) = 0.049; the
#:   teacher trained 500 steps in 70.5 s (9,587 tokens/s, a 0.17 fill of the tiny tokenizer), i.e. 10,900
#:   "tokens/s" at WINDOW_FILL's 0.25; a student 29 s with start-up and held-out evals (200 steps): 14,600;
#:   512 demos in 5.6 s with start-up: an expert episode ~0.005 s; offline metrics 35.4 s for 21 students
#:   x 32 states, all constraint host work: offline_state 0; the constrained teacher eval took 3.9 s more
#:   than the free one (25.7 s against 21.8 s for 388 turns): a turn's action trie costs 10 ms with the
#:   tiny tokenizer (constrained_turn; pipeline.CONSTRAINED_TURN_S's 50 ms is SmolLM2's).
#: - smol (2026-12-06/07): teacher rollouts of 256 and 1,024 train episodes in 342 s and 1,357 s and the test
#:   eval in 190 s (constrained, batches of 32, 3.4 steps an episode) give (342 - 15 - 53) / (256 x 4 x
#:   96/64 / √2) = 0.25, 0.26 and 0.28: 0.27; offline 27 s for 3 students x 32 states: offline_state 0.07.
COSTS_BY_ENV: dict[str, dict[str, dict[str, float]]] = {
    "tiny": {
        "hotpotqa": {"lm_step": 0.049, "teacher_tokens_per_s": 10_900.0, "student_tokens_per_s": 14_600.0,
                     "expert_episode": 0.005, "offline_state": 0.0, "constrained_turn": 0.01},
        "webshop": {"lm_step": 0.17},
        "alfworld": {"lm_step": 0.17},
    },
    # smol webshop: the 192-step teacher (it buys, 8.9 steps an episode) played the 100 test episodes, 20 in
    # flight, in 1,120 s (2026-12-07, idle): counted as the estimate counts it (whole batches of 32, every
    # episode to the 15-step limit) (1,120 - 15) / (128 x 15 x 96 / 64 / sqrt(2)) = 0.54 (a teacher that
    # loops costs 4x: 38 s an episode at batch 20). ALFWorld: the 64-step teacher (by_env) played the 100
    # test episodes, 32 in flight, in 1,926 s (2026-12-07, idle; 144-token turns, which cost what 96-token
    # ones do: a turn ends at its newline; 0.45 success, 31.5 steps an episode): (1,926 - 15 - 11 of
    # constrained host work) / (128 x 50 x 96 / 64 / sqrt(2)) = 0.28. WebShop's smol-45m students (that
    # teacher given, 64 rollouts, 96 steps of 4 windows; 2026-12-07, idle): 1,240 s for two with start-up,
    # top-k encoding and held-out evals, i.e. (620 - 15) s for 96 x 4 x 1,536 window tokens: 975 a second
    # (~1,250 measured by the trainer over the 0.9 of each window filled)
    "smol": {
        "hotpotqa": {"lm_step": 0.27, "offline_state": 0.07},
        "webshop": {"lm_step": 0.54, "student_tokens_per_s": 975.0},
        "alfworld": {"lm_step": 0.28},
    },
    "gpu": {"alfworld": {"lm_step": 0.029}, "webshop": {"lm_step": 0.044}, "hotpotqa": {"lm_step": 0.031}},
}


#: a student model's trainer speed relative to its preset's own student (whose tokens/s
#: ``student_tokens_per_s`` gives, per env): smol-81m on 2 cores, bf16, SAD from logged top-k, against
#: smol-45m on the same env: HotPotQA (2026-12-07) 306-343 tokens/s over 192 steps against ~640, WebShop
#: (2026-12-07, 96 steps of 4 windows, start-up and evals counted) 489 against 975: half the rate on both
STUDENT_SPEED: dict[str, dict[str, float]] = {"smol": {"smol-81m": 0.5}}


#: how much longer a preset's CPU stages take in fp32 (a CPU without AMX / AVX512-BF16, or --precision fp32)
#: than the estimate from its costs above, which were measured in bf16. smol, HotPotQA, 2026-12-08, idle, a
#: 2-core AMD EPYC with AVX2 only (commit a2653cd): the 96-step teacher 2,600 s against the estimate's 1,134
#: (training: (2,600 - 15) / (1,134 - 15) = 2.3; bf16 on the AVX512-BF16 machines: 1,323 s); its 256 train
#: rollouts 971 s against 360, its two test evaluations 900 s against 342 (play: 2.8). The students' fp32
#: rate was not measured: it is assumed to slow down as the teacher's training did
FP32_CPU_SLOWDOWN: dict[str, dict[str, float]] = {"smol": {"train": 2.3, "play": 2.8}}


def env_costs(preset: str, env: str) -> dict[str, float]:
    """COSTS[preset] with ``env``'s measured overrides (COSTS_BY_ENV) applied."""
    return {**COSTS[preset], **COSTS_BY_ENV.get(preset, {}).get(env, {})}


#: share of a training window's ``max_length`` tokens an env's sequences fill (the trainer's tokens per step /
#: (batch x max_length)): a HotPotQA episode is one short sequence (SmolLM2 tokens: 3,030 a step of 8 x 1,536
#: in the smol teacher's training, 0.25); WebShop's fill their windows; ALFWorld's 128 demos make 172 windows
#: of 979 tokens on average (498,272 tokens in the smol teacher's 64 steps of 8 x 1,536: 0.63)
WINDOW_FILL = {"hotpotqa": 0.25, "webshop": 1.0, "alfworld": 0.63}
#: steps the estimate counts for an LM agent's episode where agents end before the env's limit: on HotPotQA
#: trained teachers and students finish in 3.4-5.9 steps (mean over 100 test episodes, 2026-12-06/07
#: pipelines: tiny teacher 3.9 constrained / 5.9 free, its students 3.5-5.1; smol teacher 3.4, 81M student
#: 3.7), so it counts 4 there, not 7. WebShop's and ALFWorld's LM agents play to the limit (15, 50)
EPISODE_STEPS = {"hotpotqa": 4}
#: ``gpu``, from ../shared/anchors/README.md (one H200, bf16; HF generate of the SmolLM2-135M shape, 512-token
#: prompts, 64 new tokens: 44 / 208 / 1,457 / 5,328 tokens/s at batch 1 / 8 / 32 / 128; a distillation step
#: 134.5M -> 37.8M, 16 x 1,024 tokens, teacher forward + student forward/backward: 182,959 tokens/s, i.e.
#: (6 x 37.8M + 2 x 134.5M) FLOPs/token = 90.7 TFLOP/s achieved):
#: - lm_step: a decoding step costs ~24 ms at any batch up to 128 (32 / 1,457 = 22 ms, 128 / 5,328 = 24 ms:
#:   launch-bound, dynamic KV cache as agents/lm.py uses), plus ~30 us a sequence for the agent's Python
#:   (the new token's text + stop check: 15-21 us of CPU time at batch 16 and 100 with the SmolLM2 tokenizer;
#:   constrained decoding's rules, mask and action tries come on top: pipeline.CONSTRAINED_STEP_S, 20 us a
#:   step, and CONSTRAINED_TURN_S, a trie a turn, 50 ms on HotPotQA). A round of policy_batch = 100
#:   episodes, prompts of up to 1,408 tokens (prefill 100 x 1,408 x 2 x 134.5M FLOPs at 90.7 TFLOP/s =
#:   0.42 s) and t new tokens costs t x 27 ms + 0.42 s. A round stops when every turn has ended: with all
#:   128 tokens (a model that never stops) 3.87 s, 38.7 ms a turn, so lm_step = 0.0387 x 64 / 128 x sqrt(8)
#:   = 0.055 (the estimate counts a turn as lm_step x max_new_tokens / 64 / sqrt(workers)). Per env, t is
#:   the longest turn of the scripted experts' demos (SmolLM2 tokens, 40 train episodes each): ALFWorld 127
#:   in round 1 (its plan), <= 58 after (59 a round over 50 rounds: 20.2 ms a turn, lm_step 0.029), WebShop
#:   100 (31.2 ms, 0.044), HotPotQA 65 (21.7 ms, 0.031): models that write turns like the demos they learnt
#:   from; the estimate still plays every episode to the step limit (the expert ends ALFWorld's in 6-17).
#:   All for batches of 100: fewer episodes at once cost the same rounds, so the estimate counts every LM
#:   stage in whole batches (an on-policy round's 32 episodes as 100, a guided round's student and teacher
#:   generate calls as one batch each). Students: 0.5 x the teacher's turn (the estimate's factor; a 5-layer
#:   student's decoding step is nearer 0.3 x).
#: - teacher_tokens_per_s: full fine-tuning, 6 x 134.5M FLOPs/token at the anchor's 90.7 TFLOP/s = 112k.
#: - student_tokens_per_s: students learn from the logged top-k (no teacher forward): 6 x 46.0M FLOPs/token
#:   (smol-45m, the largest main student) at 90.7 TFLOP/s = 329k, less ~10% for the held-out evals with the
#:   live teacher. LoRA (teacher_lora_rank) trains faster than this; it is not counted.
#: - startup (not measured on a GPU): the tiny preset's 8 s per unit (Ray workers, model load) plus ~2 s
#:   for the policy actor's CUDA context; expert_episode and offline_state are unchanged guesses.


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
        return f"{model_name(self.student)}_{self.method}{'_' + slug if slug else ''}_s{self.seed}"


def model_name(student: str) -> str:
    """A student model as labels and reports name it: a preset's name, or a model directory's or hub id's
    last part (``/tmp/runs/81m-sad`` -> ``81m-sad``)."""
    return student.rstrip("/").rsplit("/", 1)[-1]


def student_specs(
    preset: Preset, methods: tuple[str, ...], seeds: int, ablations: bool | str | None
) -> list[StudentSpec]:
    """Every student of the run: each size x method x seed (seed i for every method), plus, with
    ``ablations`` ("all" or True), the ablation rows of the methods in ``methods`` and the extra sizes, or
    ("controls") SAD's control rows alone."""
    def settings(method: str, **overrides: Any) -> dict[str, Any]:
        return {**METHOD_SETTINGS.get(method, {}), **overrides}

    which = ablation_set(ablations)
    specs = [StudentSpec(s, m, seed, overrides=settings(m))
             for s in preset.students for m in methods for seed in range(seeds)]
    if which:
        main = preset.students[0]
        rows = [a for a in ABLATIONS if a.method in methods and (which == "all" or a.label in CONTROL_LABELS)]
        specs += [StudentSpec(main, a.method, seed, a.label, settings(a.method, **a.overrides))
                  for a in rows for seed in range(seeds)]
    if which == "all":
        specs += [
            StudentSpec(s, m, seed, overrides=settings(m))
            for s in preset.ablation_students
            for m in methods
            for seed in range(seeds)
            if s not in preset.students
        ]
    return specs
