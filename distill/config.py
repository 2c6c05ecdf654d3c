"""Training configurations: one dataclass per method, with help text and range checks.

Every field carries its command-line help in ``metadata["help"]`` (``distill.cli`` builds the
argparse options from these), and ``__post_init__`` rejects out-of-range values with a message
that names the field. ``METHODS`` maps a method name to its config class.

Batch sizes: ``batch_size`` is the *global* number of sequences per optimizer step. Each process
runs micro-batches of ``micro_batch_size`` sequences and accumulates
``batch_size / (micro_batch_size * world_size)`` of them, so one process and several DDP processes
see the same global batch and, because losses are normalised by the global token count, the same loss.
"""
from __future__ import annotations

import math
import re
from dataclasses import MISSING, dataclass, field, fields
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from agents.precision import PRECISIONS
from agents.redact import url_secrets
from distill.lora import LLAMA_LINEAR_LAYERS

#: what ``--device`` accepts
DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?")


def _opt(default: Any, help: str, **extra: Any) -> Any:
    """A dataclass field with command-line help (and optional extra metadata such as ``flags``)."""
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata={"help": help, **extra})
    return field(default=default, metadata={"help": help, **extra})




@dataclass
class TrainConfig:
    """Supervised fine-tuning (imitation) on logged episodes; the base of every method's config."""

    data: list[str] = field(
        metadata={"help": "run directories (runs/<id>) or episodes.parquet files to train on"}
    )
    out: str = field(metadata={"help": "output directory: the trained model, checkpoints/, metrics.csv, tb/"})
    model: str = _opt(
        "tiny",
        "model to train: a preset (tiny, tiny-student, smollm2-135m, smol-45m, smol-15m) or a model "
        "directory",
        flags=("--model", "--student"),
    )
    teacher: str | None = _opt(None, "teacher model directory (its vocabulary must match the student's)")
    role: Literal["teacher", "student"] = _opt(
        "student", "what the saved model is recorded as in agentdistill.json"
    )
    loss_on: Literal["completion", "episode", "guided"] = _opt(
        "completion",
        "tokens the loss is computed on: completion (only the agent's own Thought/Action turns; prompt and "
        "observations are context), episode (sft only: every token from a sequence's first completion on, "
        "observations too, for a model trained from scratch that must first learn to read the pages it acts "
        "on) or guided (sft only: the turns the log marks guided, e.g. the expert's labels of a DAgger "
        "aggregate, harness.experiment.dagger; the learner's own turns are context). Held-out metrics are "
        "always on completions",
    )
    max_steps: int = _opt(200, "optimizer steps")
    batch_size: int = _opt(8, "sequences per optimizer step, over all processes and accumulation")
    micro_batch_size: int = _opt(4, "sequences per forward pass per process")
    max_length: int = _opt(
        1024, "tokens per sequence; longer episodes are split into windows that keep the prompt"
    )
    lr: float = _opt(1e-3, "peak learning rate (AdamW)")
    weight_decay: float = _opt(0.01, "AdamW weight decay on matrices (not on norms and biases)")
    warmup_steps: int = _opt(10, "linear warm-up steps before the cosine decay")
    min_lr_ratio: float = _opt(0.1, "final learning rate as a fraction of --lr")
    grad_clip: float = _opt(1.0, "clip the global gradient norm to this (0 disables)")
    eval_every: int = _opt(50, "evaluate on the held-out episodes every N steps and at the end (0: only at "
                                "the end; one less than N/2 steps before the end is left to the final one)")
    eval_fraction: float = _opt(0.1, "fraction of episodes held out for evaluation")
    save_every: int = _opt(100, "write a resumable checkpoint every N steps (and always at the end)")
    resume: bool = _opt(False, "continue from OUT/checkpoints/last.pt on the same curve")
    overwrite: bool = _opt(
        False, "start over in a non-empty OUT, deleting the earlier training there (without it, or --resume, "
        "a non-empty OUT is refused)"
    )
    allow_changes: bool = _opt(
        False, "with --resume: continue although training settings differ from the checkpoint's "
        "(they are listed; without this flag they are refused)"
    )
    stop_at_step: int | None = _opt(
        None, "stop after this step (the schedule still targets --max-steps); resume later with --resume"
    )
    seed: int = _opt(0, "seed for model init, data order and held-out split")
    device: str = _opt("auto", "auto (cuda if available), cpu, cuda, cuda:N")
    compile: bool = _opt(False, "torch.compile the model (CUDA runs)")
    precision: str = _opt(
        "auto", "auto (bf16 autocast on CUDA and on CPUs with AMX / AVX512-BF16, else fp32), bf16, fp32 "
        "(agents/precision.py); losses accumulate in fp32 either way"
    )
    init_from_teacher: bool = _opt(
        False, "initialise a shrunk student preset from a subset of the teacher's layers (same width only)"
    )
    lora_rank: int = _opt(
        0, "LoRA adapters of this rank on --lora-targets, the rest frozen, merged into the saved model "
        "(distill/lora.py; needs the lora extra, peft); 0: full fine-tuning"
    )
    lora_alpha: float = _opt(16.0, "LoRA scale numerator: the adapters' update is scaled by alpha / rank")
    lora_targets: list[str] = _opt(
        list(LLAMA_LINEAR_LAYERS), "linear layers (name suffixes) that get LoRA adapters"
    )
    curriculum: bool = _opt(
        False, "order episodes simple -> complex and pace them in (see distill/curriculum.py)"
    )
    curriculum_alpha: float = _opt(1.0, "complexity weight of reason length")
    curriculum_beta: float = _opt(1.0, "complexity weight of action length")
    curriculum_gamma: float = _opt(1.0, "complexity weight of teacher entropy (needs logged top-k)")
    curriculum_start: float = _opt(0.25, "fraction of the easiest episodes available at step 0")
    curriculum_steps: int | None = _opt(
        None, "steps until every episode is available (default: half of --max-steps)"
    )
    tensorboard: bool = _opt(True, "also write TensorBoard events to OUT/tb (needs the tensorboard package)")
    progress: bool = _opt(True, "show a progress bar")

    method = "sft"

    def __post_init__(self) -> None:
        if not self.data:
            raise ValueError("data: give at least one run directory or episodes.parquet")
        _check_numbers(self)
        _check(self, "max_steps", self.max_steps >= 1, ">= 1")
        _check(self, "batch_size", self.batch_size >= 1, ">= 1")
        _check(self, "micro_batch_size", 1 <= self.micro_batch_size <= self.batch_size, "in [1, batch_size]")
        _check(self, "max_length", self.max_length >= 16, ">= 16")
        _check(self, "lr", 0 < self.lr < 1, "in (0, 1)")
        _check(self, "weight_decay", 0 <= self.weight_decay < 1, "in [0, 1)")
        _check(self, "warmup_steps", 0 <= self.warmup_steps <= self.max_steps, "in [0, max_steps]")
        _check(self, "min_lr_ratio", 0 <= self.min_lr_ratio <= 1, "in [0, 1]")
        _check(self, "grad_clip", self.grad_clip >= 0, ">= 0")
        _check(self, "lora_rank", self.lora_rank >= 0, ">= 0")
        _check(self, "lora_alpha", self.lora_alpha > 0, "> 0")
        _check(self, "lora_targets", bool(self.lora_targets) or not self.lora_rank, "at least one layer name")
        _check(self, "eval_every", self.eval_every >= 0, ">= 0")
        _check(self, "eval_fraction", 0 <= self.eval_fraction < 1, "in [0, 1)")
        _check(self, "save_every", self.save_every >= 1, ">= 1")
        _check(self, "seed", self.seed >= 0, ">= 0")
        _check(self, "device", isinstance(self.device, str) and DEVICE.fullmatch(self.device) is not None,
               "auto, cpu, cuda or cuda:N")
        _check(self, "precision", self.precision in PRECISIONS, f"one of {', '.join(PRECISIONS)}")
        _check(self, "role", self.role in ("teacher", "student"), "'teacher' or 'student'")
        _check(self, "loss_on", self.loss_on in ("completion", "episode", "guided"),
               "'completion', 'episode' or 'guided'")
        if self.loss_on != "completion" and self.method != "sft":
            raise ValueError(f"loss_on={self.loss_on!r} is for sft only; {self.method} aligns the teacher's "
                             "distribution on completion tokens, which is all the teacher signal covers")
        if self.resume and self.overwrite:
            raise ValueError("resume and overwrite: choose one (continue the training in --out, or "
                             "replace it)")
        if self.allow_changes and not self.resume:
            raise ValueError("allow_changes: only applies with --resume")
        if self.stop_at_step is not None:
            _check(self, "stop_at_step", 1 <= self.stop_at_step <= self.max_steps, "in [1, max_steps]")
        for name in ("curriculum_alpha", "curriculum_beta", "curriculum_gamma"):
            _check(self, name, getattr(self, name) >= 0, ">= 0")
        _check(self, "curriculum_start", 0 < self.curriculum_start <= 1, "in (0, 1]")
        if self.curriculum_steps is not None:
            _check(self, "curriculum_steps", self.curriculum_steps >= 1, ">= 1")

    def accumulation_steps(self, world_size: int) -> int:
        """Micro-batches per optimizer step on each process; ``batch_size`` must split evenly."""
        per_step = self.micro_batch_size * world_size
        if self.batch_size % per_step:
            raise ValueError(
                f"batch_size={self.batch_size} must be a multiple of micro_batch_size x processes "
                f"= {self.micro_batch_size} x {world_size}"
            )
        return self.batch_size // per_step


@dataclass
class SFTConfig(TrainConfig):
    """Imitation learning: cross-entropy on the teacher's completion tokens (no teacher model needed)."""

    first_turn_weight: float = _opt(
        1.0, "weight of each episode's first-turn completion tokens in the loss, the rest weighing 1 (a "
        "weighted mean): > 1 gives the turn that copies the instruction into its query more say"
    )

    method = "sft"

    def __post_init__(self) -> None:
        super().__post_init__()
        _check(self, "first_turn_weight", 0 < self.first_turn_weight <= 100, "in (0, 100]")


@dataclass
class DistillConfig(TrainConfig):
    """Knowledge distillation from a teacher: full logits from the teacher model, or logged top-k."""

    temperature: float = _opt(1.0, "KD temperature T (KL is computed on p^(1/T) and scaled by T^2)")
    teacher_signal: Literal["auto", "logits", "topk"] = _opt(
        "auto", "auto: logged top-k when every episode has it, else the teacher model's logits"
    )
    kl_chunk: int = _opt(
        256, "sequence positions per chunk of the fp32 KL (bounds memory for large vocabularies)"
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        _check(self, "temperature", 0 < self.temperature <= 20, "in (0, 20]")
        signals = ("auto", "logits", "topk")
        _check(self, "teacher_signal", self.teacher_signal in signals, "auto, logits or topk")
        _check(self, "kl_chunk", self.kl_chunk >= 1, ">= 1")
        if self.teacher_signal == "logits" and not self.teacher:
            raise ValueError("teacher: --teacher-signal logits needs --teacher PATH")


@dataclass
class TokenKDConfig(DistillConfig):
    """Token-level KD: forward KL(p_T || p_S) on every completion token, no spans."""

    method = "token_kd"


@dataclass
class SADConfig(DistillConfig):
    """Structured Agent Distillation: (λ_r · Σ KL over [REASON] tokens + λ_a · Σ KL over [ACT] tokens) / N."""

    lambda_reason: float = _opt(1.0, "weight of the KL on reason-span tokens")
    lambda_act: float = _opt(1.0, "weight of the KL on act-span tokens")
    span_norm: Literal["sum", "per_span_mean"] = _opt(
        "sum",
        "sum (the paper's): both span sums divided by the completion-token count token-KD divides by, so "
        "λ_r = λ_a = 1 is token-KD; per_span_mean (an ablation): the mean KL of each span, which gives "
        "the tokens of the shorter span more weight",
    )
    span_control: str = _opt(
        "spans", "spans: the act / reason spans; random (a control): in each training sequence as many "
        "completion tokens as its act span holds, drawn at random (fixed by --seed), take the act weight "
        "and the rest the reason weight (distill/span_control.py)"
    )

    method = "sad"

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_span_weights(self)
        _check(self, "span_control", self.span_control in ("spans", "random"), "spans or random")


def _check_span_weights(config: Any) -> None:
    """SAD's span options: ``span_norm`` and the two λs (at least one > 0)."""
    _check(config, "span_norm", config.span_norm in ("sum", "per_span_mean"), "sum or per_span_mean")
    _check(config, "lambda_reason", config.lambda_reason >= 0, ">= 0")
    _check(config, "lambda_act", config.lambda_act >= 0, ">= 0")
    if config.lambda_reason == 0 and config.lambda_act == 0:
        raise ValueError("lambda_reason and lambda_act: at least one must be > 0")


#: OPD's divergences (the names of ``distill.losses.DIVERGENCES``)
Divergence = Literal["reverse_kl", "forward_kl", "jsd", "skew_kl"]


@dataclass
class OPDConfig(DistillConfig):
    """On-policy distillation: the student trains on episodes it played itself, every one of its completion
    tokens scored by the live teacher under the exact context it saw (``--teacher`` required); tokens of
    turns a guide played (the log's ``guided`` column) take ``guided_loss`` instead (forward KL by
    default)."""

    divergence: Divergence = _opt(
        "reverse_kl",
        "divergence on the student's own tokens: reverse_kl KL(p_S||p_T) (mode-seeking), forward_kl "
        "KL(p_T||p_S), jsd (generalised JSD of GKD, see --beta), skew_kl (DistiLLM, see --skew-alpha)",
    )
    beta: float = _opt(
        0.5, "jsd's β as in TRL's GKD: M = β p_T + (1-β) p_S; β = 0 is forward KL, β = 1 reverse KL"
    )
    skew_alpha: float = _opt(0.1, "skew_kl's α: KL(p_T || α p_T + (1-α) p_S); α = 0 is forward KL")
    guided_loss: Literal["sft", "forward_kl"] = _opt(
        "forward_kl", "loss on the tokens of turns a guide (teacher or expert) played: forward_kl "
        "(KL(p_T||p_S) to the live teacher, token-KD on those turns) or sft (cross-entropy of the guide's "
        "tokens)"
    )
    max_turns: int = _opt(
        0, "depth curriculum (TCOD): only completions of the first k turns of each episode are in the loss; "
        "0: every turn"
    )
    teacher_url: str | None = _opt(
        None, "a served teacher instead of --teacher: an OpenAI-compatible vLLM server (http://HOST:PORT/v1) "
        "that scores the student's tokens with its prompt log-probs, top --teacher-topk per token, trained "
        "as logged top-k (forward_kl only; its tokenizer must be the student's; API key: "
        "AGENTDISTILL_HTTP_API_KEY)"
    )
    teacher_topk: int = _opt(20, "with --teacher-url: the teacher's top-k per token (vLLM's --max-logprobs "
                                 "caps it, 20 by default)")
    teacher_model: str | None = _opt(None, "with --teacher-url: the served model's name (default: the "
                                           "server's one model)")

    method = "opd"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.teacher_url:
            _check_teacher_url(self)
        elif not self.teacher:
            raise ValueError(f"teacher: {self.method} scores the student's own tokens with a live teacher; "
                             "give --teacher PATH or --teacher-url URL")
        elif self.teacher_signal == "topk":
            raise ValueError(f"teacher_signal='topk': {self.method} needs the live teacher's logits on the "
                             "student's tokens (logged top-k are the player's own); use logits or auto")
        else:
            self.teacher_signal = "logits"
        _check(self, "divergence", self.divergence in get_args(Divergence),
               " or ".join(get_args(Divergence)))
        _check(self, "beta", 0 <= self.beta <= 1, "in [0, 1]")
        _check(self, "skew_alpha", 0 <= self.skew_alpha < 1, "in [0, 1)")
        _check(self, "guided_loss", self.guided_loss in ("sft", "forward_kl"), "sft or forward_kl")
        _check(self, "max_turns", self.max_turns >= 0, ">= 0 (0: every turn)")


def _check_teacher_url(config: OPDConfig) -> None:
    """A served teacher's options: an http(s) URL without credentials, k >= 1, no live-logit signal, and a
    divergence that top-k can give (forward KL; the others refuse a top-k teacher as in ``distill.losses``);
    the trainer then reads the served top-k as logged top-k (``teacher_signal`` topk)."""
    url = str(config.teacher_url)
    if url_secrets(url):
        raise ValueError("teacher_url: holds credentials, which the training records would keep; put the key "
                         "in AGENTDISTILL_HTTP_API_KEY instead")
    _check(config, "teacher_url", re.match(r"https?://[^/\s]+", url) is not None,
           "an http(s) URL of an OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1")
    _check(config, "teacher_topk", config.teacher_topk >= 1, ">= 1")
    if config.teacher_signal == "logits":
        raise ValueError("teacher_signal='logits': --teacher-url scores with the served top-k; use topk or "
                         "auto")
    if config.divergence != "forward_kl":
        raise ValueError(
            f"divergence {config.divergence!r} needs the teacher's full logits, but --teacher-url gives "
            "top-k (ids, log-probs): only forward_kl can be computed over top-k buckets; use the live "
            "teacher (--teacher PATH) or divergence forward_kl"
        )
    config.teacher_signal = "topk"


@dataclass
class SADOPDConfig(OPDConfig):
    """Structured on-policy distillation: OPD's divergence weighted by λ_r / λ_a on the student's own
    reason / act spans (λ_r = λ_a = 1 with span_norm sum is opd)."""

    lambda_reason: float = _opt(1.0, "weight of the divergence on the student's own reason-span tokens")
    lambda_act: float = _opt(1.0, "weight of the divergence on the student's own act-span tokens")
    span_norm: Literal["sum", "per_span_mean"] = _opt(
        "sum",
        "sum: both span sums (and the guided turns' loss) divided by the completion-token count, so "
        "λ_r = λ_a = 1 is opd; per_span_mean (an ablation): each own span's mean divergence",
    )

    method = "sad_opd"

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_span_weights(self)


#: method name -> its config class
METHODS: dict[str, type[TrainConfig]] = {
    "sft": SFTConfig, "token_kd": TokenKDConfig, "sad": SADConfig, "opd": OPDConfig, "sad_opd": SADOPDConfig,
}


def config_fields(cls: type[TrainConfig]) -> list[Any]:
    """The dataclass fields of ``cls`` (what the CLI turns into options)."""
    return list(fields(cls))


def is_required(f: Any) -> bool:
    return f.default is MISSING and f.default_factory is MISSING


def _number_kind(hint: Any) -> tuple[type, bool] | None:
    """(int or float, None allowed) for a field annotated ``int``/``float``, optionally ``| None``."""
    if hint in (int, float):
        return hint, False
    if get_origin(hint) in (Union, UnionType):
        rest = [a for a in get_args(hint) if a is not type(None)]
        if len(rest) == 1 and rest[0] in (int, float):
            return rest[0], len(rest) < len(get_args(hint))
    return None


def _check_numbers(config: Any) -> None:
    """Every ``int`` field holds a whole number and every ``float`` field a finite number (never a bool,
    NaN or an infinity); ``None`` only where the field allows it."""
    hints = get_type_hints(type(config))
    for f in fields(config):
        kind = _number_kind(hints[f.name])
        if kind is None:
            continue
        value, (number, optional) = getattr(config, f.name), kind
        if value is None and optional:
            continue
        if number is int:
            ok = isinstance(value, int) and not isinstance(value, bool)
        else:
            ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        if not ok:
            expected = "a whole number" if number is int else "a finite number"
            raise ValueError(f"{f.name}={value!r}: expected {expected}{' or None' if optional else ''}")


def _check(config: Any, name: str, ok: bool, expected: str) -> None:
    if not ok:
        raise ValueError(f"{name}={getattr(config, name)!r} is out of range: expected {expected}")
