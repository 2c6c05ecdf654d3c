"""The training loop shared by every method (sft, token_kd, sad, opd, sad_opd): :func:`train`.

One optimizer step:

1. ``BatchPlan`` names the step's global batch (a pure function of seed and step, so ``--resume``
   sees the same batches); this process takes its micro-batches of it.
2. The masked-token counts of the whole global batch are summed over processes; every micro-batch
   loss is its masked *sum* divided by those global counts. Gradient accumulation and DDP therefore
   give exactly the loss and gradient of one process on the whole batch.
3. Forward under bf16 autocast on CUDA and on CPUs with AMX / AVX512-BF16 (``precision``, fp32
   elsewhere: :mod:`agents.precision`), the LM head only at the positions in the loss
   (:mod:`distill.loss_positions`); teacher logits at those positions (forward only, no grad) or the
   logged top-k; the method's loss (in fp32); backward (DDP syncs only on the last micro-batch).
4. Clip the gradient norm, AdamW step, warm-up + cosine LR step.

Every ``eval_every`` steps and at the end (a periodic evaluation less than half an interval before the
end is left to the final one): held-out loss, per-span KL to the teacher (where a teacher signal exists)
and per-span NLL; a live teacher's held-out logits are computed once and kept (:class:`HeldOutTeacher`).
Every ``save_every`` steps and at the end: ``checkpoints/last.pt`` (model, optimizer, scheduler, step; RNG
state per process). Metrics go to ``metrics.csv`` and TensorBoard.
The trained model is saved with ``save_pretrained`` (plus tokenizer and ``agentdistill.json``) in ``out``.

On-policy methods (opd, sad_opd) train on episodes the student played: the live teacher's logits, under
the exact context each step was played in (``logged_context``); their loss covers the first ``max_turns``
turns of each episode (0: all), the divergence on the student's own turns and the guided loss on turns a
guide played. With ``teacher_url`` a served teacher scores them instead (:func:`score_served`): before the
first step every training sequence goes to the server once, its prompt log-probs give the top-k at each
completion token, and those train as logged top-k do (``teacher_signal`` "served_topk").
``train_summary.json`` records ``student_tokens`` (tokens in the loss over all steps), ``teacher_forward_s``
(the live teacher's forward passes, or the served scoring: the scoring time) and ``train_s`` (the rest of
the optimizer steps), the last two for this invocation.

Run it on several GPUs with ``torchrun --nproc-per-node N -m distill.cli distill ...``.
"""
from __future__ import annotations

import contextlib
import csv
import errno
import json
import math
import os
import pickle
import random
import re
import shutil
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from agents.model_files import check_model_dir
from agents.precision import autocast, resolve_precision
from agents.prompts import instructions as env_instructions
from agents.react import render
from distill import losses
from distill.config import DistillConfig, OPDConfig, SADConfig, SADOPDConfig, SFTConfig, TrainConfig
from distill.curriculum import RootPacing, easiest_first
from distill.data import (
    BatchPlan,
    EpisodeLog,
    Example,
    collate,
    encode_episodes,
    has_topk,
    load_episodes,
    mean_topk_entropy,
    micro_batches,
    split_heldout,
)
from distill.lora import apply_lora, merge_lora, require_peft
from distill.loss_positions import LossPositionLM, at_positions, loss_positions
from distill.models import MARKER, PRESETS, build_student, check_same_vocabulary, resolve_model_path
from distill.span_control import random_act_spans

METRIC_COLUMNS = [
    "step", "loss", "lr", "grad_norm", "tokens", "loss_tokens", "tokens_per_s",
    "eval_loss", "eval_kl_reason", "eval_kl_act", "eval_bucket_kl_reason", "eval_bucket_kl_act",
    "eval_nll_reason", "eval_nll_act",
]


@dataclass(frozen=True)
class Runtime:
    """Where this process runs: device, DDP rank and world size, and the precision it computes in."""

    device: torch.device
    rank: int = 0
    world_size: int = 1
    precision: str = "fp32"  # resolved: "bf16" (autocast) or "fp32"

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def autocast(self) -> contextlib.AbstractContextManager:
        """bf16 autocast when ``precision`` is bf16; nothing (fp32) otherwise."""
        return autocast(self.precision, self.device)

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def sum(self, values: list[float]) -> list[float]:
        """Element-wise sum over processes (float64 on the wire)."""
        if not self.distributed:
            return values
        device = self.device if dist.get_backend() == "nccl" else "cpu"
        t = torch.tensor(values, dtype=torch.float64, device=device)
        dist.all_reduce(t)
        return t.tolist()


def setup_runtime(device: str, precision: str = "auto") -> Runtime:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1), pick the device and resolve the
    precision on it (:func:`agents.precision.resolve_precision`)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    dev = torch.device(device)
    if dev.type == "cuda":
        dev = torch.device("cuda", local if world > 1 else (dev.index or 0))
        torch.cuda.set_device(dev)
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo", rank=rank, world_size=world)
    return Runtime(dev, rank, world, resolve_precision(precision, dev))


def lr_multiplier(step: int, warmup: int, total: int, min_ratio: float) -> float:
    """Linear warm-up to 1 over ``warmup`` steps, then cosine decay to ``min_ratio`` at ``total``."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


# --------------------------------------------------------------------------- models


def episode_texts(episodes: list[EpisodeLog]) -> Iterator[str]:
    """The rendered text of each episode (what a tiny preset's BPE is trained on)."""
    for ep in episodes:
        yield render(ep.task, ep.observations[0], ep.turns(), instructions=env_instructions(ep.env))[0]


def prepare_student(config: TrainConfig, episodes: list[EpisodeLog], runtime: Runtime) -> Path:
    """The directory to load the student from: the given one, a pretrained preset, or a config
    preset built once (by process 0) into ``out/init``."""
    preset = PRESETS.get(config.model)
    if preset is None or preset.source == "pretrained":
        return resolve_model_path(config.model)
    init = Path(config.out) / "init"
    if runtime.is_main and not (init / "config.json").is_file():
        build_student(
            config.model, init, teacher=config.teacher, texts=list(episode_texts(episodes)),
            init_from_teacher=config.init_from_teacher, seed=config.seed,
        )
    runtime.barrier()
    return init


def load_models(config: TrainConfig, episodes: list[EpisodeLog], runtime: Runtime):
    """(student, tokenizer, teacher model or None); the teacher is loaded whenever ``--teacher`` names one:
    the live-teacher signal, and the held-out full-vocabulary KL of every method. Checks that teacher and
    student share a vocabulary."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    student_dir = prepare_student(config, episodes, runtime)
    tokenizer = AutoTokenizer.from_pretrained(student_dir, trust_remote_code=False)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    torch.manual_seed(config.seed)
    student = AutoModelForCausalLM.from_pretrained(
        student_dir, dtype=torch.float32, trust_remote_code=False, use_safetensors=True
    ).to(runtime.device)
    if config.lora_rank:  # only the adapters train; save_final merges them into the saved model
        student = apply_lora(student, config.lora_rank, config.lora_alpha, config.lora_targets)
    teacher = None
    if config.teacher:
        teacher_dir = resolve_model_path(config.teacher)
        check_same_vocabulary(
            AutoTokenizer.from_pretrained(teacher_dir, trust_remote_code=False), tokenizer, str(teacher_dir),
            str(student_dir),
        )
        dtype = torch.bfloat16 if runtime.device.type == "cuda" else torch.float32
        teacher = AutoModelForCausalLM.from_pretrained(
            teacher_dir, dtype=dtype, trust_remote_code=False, use_safetensors=True
        ).to(runtime.device).eval()
        teacher.requires_grad_(False)
        if teacher.config.vocab_size != student.config.vocab_size:
            raise ValueError(
                f"teacher {teacher_dir} has {teacher.config.vocab_size} output logits, student {student_dir} "
                f"{student.config.vocab_size}: they must match for logit distillation"
            )
    return student, tokenizer, teacher


def _has_guided_loss(example: Example) -> bool:
    """Whether ``example`` has a completion token of a guided turn (``guided_mask`` is [] without any)."""
    return any(g and c for g, c in zip(example.guided_mask or [False] * len(example), example.completion_mask,
                                       strict=True))


def loss_mask(batch: dict[str, torch.Tensor], loss_on: str) -> torch.Tensor:
    """The tokens the training loss covers (B, T): the completions; with ``loss_on="guided"`` the
    completions of guided turns only (a DAgger aggregate's expert labels); with ``loss_on="episode"`` every
    real next token from a sequence's first completion on (observations too). Not the prompt header
    before it, whose "(... N earlier turns omitted ...)" line a model must never learn to write first."""
    if loss_on == "completion":
        return batch["completion_mask"]
    if loss_on == "guided":
        return batch["completion_mask"] & batch["guided_mask"]
    started = batch["completion_mask"].cumsum(-1) > 0  # (B, T)
    return (batch["labels"] != -100) & started


#: the teacher signal of an on-policy method scored by a served teacher (``teacher_url``): its top-k
SERVED_TOPK = "served_topk"


def teacher_signal(config: TrainConfig, episodes: list[EpisodeLog]) -> str | None:
    """"topk" (logged), "logits" (teacher model), :data:`SERVED_TOPK` (an on-policy method's served teacher)
    or None (sft: no teacher distribution needed)."""
    if not isinstance(config, DistillConfig):
        return None
    if isinstance(config, OPDConfig) and config.teacher_url:
        return SERVED_TOPK
    logged = has_topk(episodes)
    if config.teacher_signal == "topk" or (config.teacher_signal == "auto" and logged):
        if not logged:
            raise ValueError(
                f"{config.data}: --teacher-signal topk needs topk_ids/topk_logprobs in every episode"
            )
        return "topk"
    if not config.teacher:
        raise ValueError(
            f"{config.data}: these episodes have no logged top-k, "
            f"so {config.method} needs --teacher PATH for logits"
        )
    return "logits"


def score_served(config: OPDConfig, tokenizer: Any, examples: list[Example]) -> None:
    """Give every example the served teacher's top-k (``teacher_url``, ``teacher_topk``) at its completion
    tokens, in the logged top-k's format (the top-k that predicted each token; ``[]`` elsewhere): the
    sequence up to its last completion token goes to the server as one prompt, so each token is scored
    under exactly the context the student is trained in (:class:`agents.served_scoring.ServedScorer`)."""
    from agents.served_scoring import ServedScorer

    positions = [[t for t, is_completion in enumerate(e.completion_mask) if is_completion] for e in examples]
    scored = [i for i, wanted in enumerate(positions) if wanted]
    scorer = ServedScorer(str(config.teacher_url), tokenizer, k=config.teacher_topk,
                          model=config.teacher_model,
                          tokenizer_name=f"the student's tokenizer ({tokenizer.name_or_path})")
    topk = scorer.score([examples[i].input_ids[:positions[i][-1] + 1] for i in scored],
                        [positions[i] for i in scored])
    for example in examples:
        example.topk_ids = [[] for _ in example.input_ids]
        example.topk_logprobs = [[] for _ in example.input_ids]
    for i, (ids, logprobs) in zip(scored, topk, strict=True):
        example = examples[i]
        for t, top_ids, top_lps in zip(positions[i], ids, logprobs, strict=True):
            example.topk_ids[t], example.topk_logprobs[t] = top_ids, top_lps
        example.stats["teacher_entropy"] = mean_topk_entropy(example)


# --------------------------------------------------------------------------- loss


def count_tokens(batches: list[dict[str, torch.Tensor]], own_spans: bool = False) -> list[float]:
    """[completion, reason, act] masked-token counts over micro-batches; ``own_spans``: reason / act
    tokens of guided turns left out (the spans sad_opd's divergence covers). A batch with ``token_weight``
    (:func:`first_turn_weights`) counts its completion tokens by weight."""
    def count(batch: dict[str, torch.Tensor], name: str) -> float:
        mask = batch[name]
        if name == "completion_mask" and "token_weight" in batch:
            return float(losses.masked_sum(batch["token_weight"], mask))
        if own_spans and name != "completion_mask":
            mask = mask & ~batch["guided_mask"]
        return int(mask.sum())

    return [
        float(sum(count(b, name) for b in batches))
        for name in ("completion_mask", "reason_mask", "act_mask")
    ]


def first_turn_weights(batch: dict[str, torch.Tensor], weight: float) -> dict[str, torch.Tensor]:
    """``batch`` with ``token_weight`` (B, T): ``weight`` on the completion tokens of each episode's first
    turn (``step_index`` 0), 1 elsewhere; none added for a weight of 1 (the plain mean)."""
    if weight == 1:
        return batch
    first = batch["step_index"] == 0  # (B, T)
    return {**batch, "token_weight": torch.where(first, weight, 1.0).to(torch.float32)}


#: the per-token masks a loss reads
LOSS_MASKS = ("completion_mask", "reason_mask", "act_mask", "guided_mask")


def first_turns(batch: dict[str, torch.Tensor], max_turns: int) -> dict[str, torch.Tensor]:
    """``batch`` with its loss masks cut to completions of each episode's first ``max_turns`` turns (the
    depth curriculum of TCOD; 0: every turn)."""
    if max_turns == 0:
        return batch
    kept = (batch["step_index"] >= 0) & (batch["step_index"] < max_turns)  # (B, T)
    return {**batch, **{name: batch[name] & kept for name in LOSS_MASKS}}


def method_loss(
    config: TrainConfig,
    logits: torch.Tensor,
    batch: dict[str, torch.Tensor],
    teacher: losses.Teacher | None,
    counts: list[float],
) -> torch.Tensor:
    """The method's loss for one micro-batch.

    Normalised by the global ``counts`` [completion, reason, act].
    """
    if config.method == "sft":
        return losses.sft_loss(logits, batch["labels"], batch["completion_mask"], normalizer=counts[0],
                               weights=batch.get("token_weight"))
    assert isinstance(config, DistillConfig) and teacher is not None
    if isinstance(config, OPDConfig):
        on_policy = {
            "divergence": config.divergence, "beta": config.beta, "skew_alpha": config.skew_alpha,
            "guided_loss": config.guided_loss, "normalizer": counts[0], "chunk": config.kl_chunk,
        }
        if isinstance(config, SADOPDConfig):
            return losses.sad_opd_loss(
                logits, teacher, batch["labels"], batch["reason_mask"], batch["act_mask"],
                batch["guided_mask"], config.lambda_reason, config.lambda_act, config.temperature,
                span_norm=config.span_norm, normalizers=(counts[1], counts[2]), **on_policy,
            )
        return losses.opd_loss(
            logits, teacher, batch["labels"], batch["completion_mask"], batch["guided_mask"],
            config.temperature, **on_policy,
        )
    if isinstance(config, SADConfig):
        return losses.sad_loss(
            logits, teacher, batch["reason_mask"], batch["act_mask"], config.lambda_reason, config.lambda_act,
            config.temperature, span_norm=config.span_norm, normalizer=counts[0],
            normalizers=(counts[1], counts[2]), chunk=config.kl_chunk,
        )
    return losses.token_kd_loss(
        logits,
        teacher,
        batch["completion_mask"],
        config.temperature,
        normalizer=counts[0],
        chunk=config.kl_chunk,
    )


def as_loss_position_lm(model: Any) -> LossPositionLM | None:
    """``model`` wrapped to compute logits at loss positions only (None stays None; a wrapped one stays)."""
    if model is None or isinstance(model, LossPositionLM):
        return model
    return LossPositionLM(model)


def teacher_of(
    input_ids: torch.Tensor, picked: dict[str, torch.Tensor], rows: torch.Tensor, cols: torch.Tensor,
    teacher: LossPositionLM | None, signal: str | None,
) -> losses.Teacher | None:
    """The teacher distribution at the loss positions (rows, cols) of a right-padded micro-batch, as
    (1, N, ...): the logged top-k (``picked``, already at those positions), or the teacher model's logits
    computed there (no padding mask: under the causal mask no real position sees a pad)."""
    if signal == "topk":
        return picked["topk_ids"], picked["topk_logprobs"]
    if signal == "logits" and teacher is not None:
        with torch.no_grad():
            return teacher(input_ids, None, rows, cols)
    return None


class HeldOutTeacher:
    """The live teacher's logits on the held-out micro-batches, kept between evaluations: the teacher is
    frozen and the held-out micro-batches are the same at every evaluation, so only the first one runs its
    forward passes (on 2 CPU cores the 135M teacher's pass was ~60% of a ~2-minute evaluation). Logits are
    kept as the forward produced them (bf16 under autocast) up to ``max_bytes``; micro-batches past it run
    their forward every time."""

    def __init__(self, max_bytes: int = 2 << 30) -> None:
        self.max_bytes, self.kept_bytes = max_bytes, 0
        self.kept: dict[int, torch.Tensor] = {}

    def get(self, index: int) -> torch.Tensor | None:
        """Micro-batch ``index``'s kept logits, or None."""
        return self.kept.get(index)

    def keep(self, index: int, logits: losses.Teacher | None) -> None:
        """Keep micro-batch ``index``'s logits while they fit in ``max_bytes``."""
        if isinstance(logits, torch.Tensor) and self.kept_bytes + logits.nbytes <= self.max_bytes:
            self.kept[index] = logits
            self.kept_bytes += logits.nbytes


class TeacherClock:
    """Time spent in the live teacher's forward passes: wall time on CPU; on CUDA a pair of events around
    each pass, read once per step (:meth:`seconds`) instead of synchronising around every pass."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"
        self.cpu_s = 0.0
        self.events: list[tuple[Any, Any]] = []

    @contextlib.contextmanager
    def timing(self) -> Iterator[None]:
        if self.cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            yield
            end.record()
            self.events.append((start, end))
        else:
            began = time.perf_counter()
            yield
            self.cpu_s += time.perf_counter() - began

    def seconds(self) -> float:
        """Seconds timed so far (on CUDA: waits for the recorded events)."""
        for start, end in self.events:
            end.synchronize()
            self.cpu_s += start.elapsed_time(end) / 1000
        self.events.clear()
        return self.cpu_s


@dataclass
class MicroBatch:
    """One micro-batch as the step consumes it: the whole window's ids (B, T), the loss positions (rows,
    cols: (N,)), every per-token tensor at those positions (``picked``: (1, N, ...)) and the batch's
    non-padding token count. Built on the host; :meth:`to` moves it (pinned, asynchronously on CUDA)."""

    input_ids: torch.Tensor
    rows: torch.Tensor
    cols: torch.Tensor
    picked: dict[str, torch.Tensor]
    tokens: int

    def to(self, device: torch.device) -> MicroBatch:
        def move(t: torch.Tensor) -> torch.Tensor:
            return t.pin_memory().to(device, non_blocking=True) if device.type == "cuda" else t

        return MicroBatch(move(self.input_ids), move(self.rows), move(self.cols),
                          {k: move(v) for k, v in self.picked.items()}, self.tokens)


def to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


@torch.no_grad()
def evaluate(
    config: TrainConfig, model: Any, teacher_model: Any, signal: str | None, examples: list[Example],
    pad_id: int, runtime: Runtime, held_out_teacher: HeldOutTeacher | None = None,
) -> dict[str, float]:
    """Held-out metrics on completion tokens (each process evaluates its share; sums are added over
    processes; ``held_out_teacher`` keeps the live teacher's logits for the next call on the same examples):

    - ``eval_loss``: the method's objective, with its teacher signal and temperature;
    - ``eval_kl_reason`` / ``eval_kl_act``: full-vocabulary KL(p_T ‖ p_S) at T = 1 against the teacher
      *model*, per span; only when one is loaded (``--teacher``): logged top-k alone cannot give it;
    - ``eval_bucket_kl_reason`` / ``eval_bucket_kl_act``: KL over the logged top-k + tail buckets at
      T = 1, when the held-out episodes logged top-k. Bucketing can only lose information, so this is
      a lower bound of the full KL and can look converged while the full KL is not;
    - ``eval_nll_reason`` / ``eval_nll_act``: NLL of the logged tokens.

    On-policy methods: ``eval_loss`` is their training loss (:func:`method_loss`, masks and normalisers
    as in training, over the whole held-out set); top-k logged with the student's episodes are the
    player's own, so no bucket KL is reported, except with a served teacher (:data:`SERVED_TOPK`), whose
    top-k of the held-out sequences are its own: their bucket KL is reported and the loss uses them.
    """
    student, teacher = as_loss_position_lm(model), as_loss_position_lm(teacher_model)
    model.eval()
    on_policy = isinstance(config, OPDConfig)
    served = signal == SERVED_TOPK
    logged = (served or not on_policy) and all(e.topk_ids is not None for e in examples)
    temperature = config.temperature if isinstance(config, DistillConfig) else 1.0
    # per mask (completion, reason, act): count, NLL, full KL (T=1), bucket KL (T=1), KL of the objective
    sums = np.zeros((3, 5))
    mine = examples[runtime.rank::runtime.world_size]
    size = config.micro_batch_size
    chunks = [mine[start:start + size] for start in range(0, len(mine), size)]
    on_policy_counts, on_policy_loss = [], 0.0  # the on-policy loss's global normalisers, as in training
    if on_policy:
        masked = [first_turns(collate(chunk, pad_id), config.max_turns) for chunk in chunks]
        on_policy_counts = runtime.sum(count_tokens(masked, own_spans=True))
    held_out_teacher = held_out_teacher or HeldOutTeacher(max_bytes=0)
    for index, chunk in enumerate(chunks):
        full_batch = to_device(collate(chunk, pad_id, logged), runtime.device)
        # every metric reads completion positions only (reason and act partition them): (1, N, ...) below
        rows, cols = loss_positions(full_batch["completion_mask"])
        batch = at_positions(full_batch, rows, cols)
        with runtime.autocast():
            logits = student(full_batch["input_ids"], None, rows, cols)  # (1, N, V)
            live = held_out_teacher.get(index)
            if live is None:
                live = teacher_of(full_batch["input_ids"], batch, rows, cols, teacher, "logits")
                held_out_teacher.keep(index, live)
        bucket = teacher_of(full_batch["input_ids"], batch, rows, cols, None, "topk") if logged else None
        nll = losses.nll_per_token(logits, batch["labels"])  # (1, N)
        nothing = torch.zeros_like(nll)
        full_kl = losses.kl_per_token(logits, live) if live is not None else nothing  # (1, N)
        bucket_kl = losses.kl_per_token(logits, bucket) if bucket is not None else nothing  # (1, N)
        if on_policy:
            loss_batch = first_turns(batch, config.max_turns)
            scorer = bucket if served else live
            on_policy_loss += float(method_loss(config, logits, loss_batch, scorer, on_policy_counts))
        objective = None if on_policy else {"logits": live, "topk": bucket}.get(signal or "")
        objective_kl = nothing if objective is None else losses.kl_per_token(logits, objective, temperature)
        for i, name in enumerate(("completion_mask", "reason_mask", "act_mask")):
            mask = batch[name]
            values = (nll, full_kl, bucket_kl, objective_kl)
            sums[i] += [float(mask.sum()), *(float(losses.masked_sum(v, mask)) for v in values)]
    model.train()
    sums = np.asarray(runtime.sum(sums.ravel().tolist())).reshape(3, 5)
    counts = sums[:, 0]  # (3,)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums[:, 1:] / sums[:, :1]  # (3 masks, [nll, full KL, bucket KL, objective KL])
    (nll_c, _, _, kl_c), (nll_r, full_r, bucket_r, kl_r), (nll_a, full_a, bucket_a, kl_a) = means.tolist()
    metrics = {"eval_nll_reason": nll_r, "eval_nll_act": nll_a}
    if teacher_model is not None:
        metrics.update(eval_kl_reason=full_r, eval_kl_act=full_a)
    if logged:
        metrics.update(eval_bucket_kl_reason=bucket_r, eval_bucket_kl_act=bucket_a)
    if on_policy:
        metrics["eval_loss"] = runtime.sum([on_policy_loss])[0]
    elif isinstance(config, SADConfig) and config.span_norm == "sum":
        weighted = config.lambda_reason * sums[1, 4] + config.lambda_act * sums[2, 4]
        metrics["eval_loss"] = temperature**2 * weighted / max(counts[0], 1.0)
    elif isinstance(config, SADConfig):
        metrics["eval_loss"] = temperature**2 * (config.lambda_reason * kl_r + config.lambda_act * kl_a)
    elif isinstance(config, DistillConfig) and config.method != "sft":
        metrics["eval_loss"] = temperature**2 * kl_c
    else:
        metrics["eval_loss"] = nll_c
    return metrics


# --------------------------------------------------------------------------- checkpoints and logs


def checkpoint_dir(config: TrainConfig) -> Path:
    return Path(config.out) / "checkpoints"


def save_checkpoint(
    config: TrainConfig, step: int, model: Any, optimizer: Any, scheduler: Any, runtime: Runtime
) -> None:
    """``checkpoints/last.pt`` (by process 0) and ``checkpoints/rng-<rank>.pt`` (every process).

    Both are written atomically and hold only tensors and plain values (numpy's RNG keys as a tensor), so
    they load with ``weights_only=True``: reading a checkpoint never unpickles an object.
    """
    folder = checkpoint_dir(config)
    folder.mkdir(parents=True, exist_ok=True)
    kind, keys, pos, has_gauss, cached_gaussian = np.random.get_state()
    rng = {
        "python": random.getstate(),  # (version, tuple of ints, None or float)
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached_gaussian],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
    }
    _atomic_save(rng, folder / f"rng-{runtime.rank}.pt")
    if runtime.is_main:
        state = {
            "step": step, "model": unwrap(model).state_dict(), "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(), "config": asdict(config), "method": config.method,
        }
        _atomic_save(state, folder / "last.pt")
    runtime.barrier()


#: bytes free under which a failed checkpoint write is taken for a full disk (torch.save then raises a
#: RuntimeError without an errno)
LOW_DISK_BYTES = 64 * 2**20


def _atomic_save(obj: Any, path: Path) -> None:
    """``torch.save`` to a temp file renamed over ``path``; a failed write leaves no temp file, and a full
    disk is raised as ``OSError(ENOSPC)`` naming the file (the CLI prints it as one line)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    try:
        torch.save(obj, tmp)
        tmp.replace(path)
    except BaseException as err:
        tmp.unlink(missing_ok=True)
        errno_ = getattr(err, "errno", None)
        full = errno_ in (errno.ENOSPC, errno.EDQUOT) or (
            isinstance(err, RuntimeError) and shutil.disk_usage(path.parent).free < LOW_DISK_BYTES
        )
        if full:
            raise OSError(errno.ENOSPC, "No space left on device", str(tmp)) from err
        raise


#: what a checkpoint holds (``checkpoints/last.pt``)
CHECKPOINT_KEYS = ("step", "model", "optimizer", "scheduler", "config", "method")
#: settings that may differ on --resume without changing what is trained
RUN_CONTROL = frozenset({
    "resume", "overwrite", "allow_changes", "stop_at_step", "device", "compile", "progress", "tensorboard",
    "save_every", "eval_every",
})


def _load(path: Path, what: str, mmap: bool = False) -> Any:
    """``torch.load`` of one of our own files (``mmap``: tensors mapped, not read) with ``weights_only=True``:
    tensors and plain values only, so no object is ever unpickled and no code in the file runs. A file that
    holds anything else, or a damaged one, is a one-line error naming it."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as err:
        if "Weights only load failed" not in str(err):
            raise ValueError(_damaged(path, what, err)) from None
        named = re.search(r"GLOBAL ([\w.]+)", str(err))
        held = f" ({named.group(1)})" if named else ""
        raise ValueError(f"{path}: not a {what} this trainer wrote: it holds objects other than tensors and "
                         f"plain values{held}, which are never loaded (unpickling them can run code); "
                         "start over with --overwrite") from None
    except (RuntimeError, EOFError, ValueError, OSError) as err:
        if mmap:  # torch's mmap error does not say what is wrong: a plain read does
            return _load(path, what)
        raise ValueError(_damaged(path, what, err)) from None


def _damaged(path: Path, what: str, err: Exception) -> str:
    """The one-line message for a truncated or damaged file of ours."""
    detail = (str(err).splitlines() or [""])[0][:160]
    return (f"{path}: not a readable {what} ({type(err).__name__}: {detail}); it is truncated or damaged: "
            "start over with --overwrite")


def settings_changes(saved: dict[str, Any], config: TrainConfig) -> list[str]:
    """``name: old -> new`` for every training setting of ``config`` that differs from ``saved`` (a
    checkpoint's config), run-control options (device, progress, ...) left out; settings the checkpoint
    predates are not compared."""
    current = asdict(config)
    return [
        f"{f.name}: {saved[f.name]!r} -> {current[f.name]!r}" for f in fields(config)
        if f.name not in RUN_CONTROL and f.name in saved and saved[f.name] != current[f.name]
    ]


def read_checkpoint(config: TrainConfig, rank: int = 0, mmap: bool = False) -> dict[str, Any]:
    """``checkpoints/last.pt`` (and process ``rank``'s RNG state, as ``state["rng"]``), checked: readable,
    written by the same method, and with the same training settings unless ``allow_changes``."""
    path = checkpoint_dir(config) / "last.pt"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: nothing to resume from; run without --resume first")
    state = _load(path, "checkpoint", mmap)
    missing = [k for k in CHECKPOINT_KEYS if not isinstance(state, dict) or k not in state]
    if missing:
        raise ValueError(f"{path}: not a checkpoint of this trainer (no {', '.join(missing)})")
    if state["method"] != config.method:
        raise ValueError(f"{path} was written by method {state['method']!r}, not {config.method!r}")
    changes = settings_changes(state["config"], config)
    if changes and not config.allow_changes:
        raise ValueError(f"{path} was trained with other settings ({'; '.join(changes)}): pass "
                         "--allow-changes to continue with the new ones, or --overwrite to start over")
    rng_path = checkpoint_dir(config) / f"rng-{rank}.pt"
    state["rng"] = _load(rng_path, "RNG state") if rng_path.is_file() else None
    return state


def restore_checkpoint(state: dict[str, Any], model: Any, optimizer: Any, scheduler: Any) -> int:
    """Restore model, optimizer, scheduler and RNG from a :func:`read_checkpoint` state; returns its step."""
    unwrap(model).load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    rng = state["rng"]
    if rng is not None:
        random.setstate(rng["python"])
        kind, keys, pos, has_gauss, cached_gaussian = rng["numpy"]
        np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached_gaussian))
        torch.set_rng_state(rng["torch"])
        if rng["cuda"] is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])
    return int(state["step"])


def export_checkpoint(config: TrainConfig, out: Path | None = None) -> Path:
    """``save_pretrained`` the model of ``config.out``'s checkpoint in ``out`` (default ``config.out``) with
    the student's tokenizer, LoRA adapters merged as :func:`save_final` merges them: the model of a training
    stopped before its last step (``stop_at_step``), which saves none itself, with the ``agentdistill.json``
    record of :func:`model_record` for the checkpoint's step (read after :func:`train` has returned: its
    ``train_summary.json`` names the env). Returns ``out``."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target = Path(config.out) if out is None else Path(out)
    summary = _training_summary(Path(config.out))
    init = Path(config.out) / "init"  # a config preset the trainer built
    base = init if (init / "config.json").is_file() else resolve_model_path(config.model)
    state = _load(checkpoint_dir(config) / "last.pt", "checkpoint", mmap=True)
    model = AutoModelForCausalLM.from_pretrained(
        base, dtype=torch.float32, trust_remote_code=False, use_safetensors=True
    )
    if config.lora_rank:
        model = apply_lora(model, config.lora_rank, config.lora_alpha, config.lora_targets)
    model.load_state_dict(state["model"])
    merge_lora(model).save_pretrained(target)
    tokenizer = AutoTokenizer.from_pretrained(base, trust_remote_code=False)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.save_pretrained(target)
    record = model_record(config, summary["env"], {**summary, "steps": int(state["step"])})
    (target / MARKER).write_text(json.dumps(record, indent=2) + "\n")
    return target


def _training_summary(out: Path) -> dict[str, Any]:
    """The ``train_summary.json`` :func:`train` wrote in ``out`` on returning; a one-line error naming the
    file where it is missing, unreadable or older than the ``env`` field an exported record needs."""
    path = out / "train_summary.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing; export a checkpoint after train() has returned (it writes "
                                "this summary, whose env the exported model's record names)")
    try:
        summary = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: not readable JSON ({err})") from None
    if not isinstance(summary, dict) or not isinstance(summary.get("env"), str):
        raise ValueError(f"{path}: expected an object with an 'env' string (written by train() since the "
                         "model record of exports); resume the training once to rewrite it")
    return summary


#: what :func:`train` writes in ``out`` besides the saved model: a folder holding one is a training output
TRAINING_OUTPUTS = frozenset({"checkpoints", "init", "tb", "metrics.csv", "train_summary.json", MARKER})


def check_out_dir(config: TrainConfig) -> bool:
    """Refuse a non-empty ``out`` unless resuming it or, with ``overwrite``, unless it holds an earlier
    training (a folder of other things is never deleted). True when ``out`` must be emptied first."""
    out = Path(config.out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"out={out}: exists and is not a directory")
    entries = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
    if config.resume or not entries:
        return False
    shown = ", ".join(entries[:6]) + (", ..." if len(entries) > 6 else "")
    if not config.overwrite:
        raise ValueError(f"out={out} is not empty ({shown}): pass --resume to continue the training there, "
                         "--overwrite to replace it, or choose another --out")
    if not TRAINING_OUTPUTS & set(entries):
        raise ValueError(f"out={out} holds no earlier training ({shown}); --overwrite replaces only a "
                         "training output: choose an empty or new --out")
    return True


def prepare_out_dir(config: TrainConfig, runtime: Runtime) -> None:
    """:func:`check_out_dir`, then (``overwrite``) empty ``out``."""
    clear = check_out_dir(config)
    runtime.barrier()  # every process has looked before anything in out is deleted or written
    if clear and runtime.is_main:
        for entry in Path(config.out).iterdir():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
    runtime.barrier()


def check_model_inputs(config: TrainConfig) -> None:
    """One-line errors for missing or damaged model files (student, teacher, a resumed run's init), before
    any data or model is loaded; ``lora_rank`` > 0 without peft installed."""
    if config.lora_rank:
        require_peft()
    preset = PRESETS.get(config.model)
    if preset is None or preset.source == "pretrained":
        resolve_model_path(config.model)
    if config.teacher:
        resolve_model_path(config.teacher)
    init = Path(config.out) / "init"
    if config.resume and init.is_dir():
        check_model_dir(init)


def preflight(config: TrainConfig) -> None:
    """Everything :func:`train` checks before it starts, without changing anything: ``out`` (not empty
    without --resume / --overwrite), the model files, and on --resume the checkpoint and its settings."""
    check_out_dir(config)
    check_model_inputs(config)
    if config.resume:
        read_checkpoint(config, mmap=True)


def unwrap(model: Any) -> Any:
    """The plain model under DDP, torch.compile and :class:`LossPositionLM` wrappers."""
    model = model.module if isinstance(model, DistributedDataParallel) else model
    model = getattr(model, "_orig_mod", model)
    return model.model if isinstance(model, LossPositionLM) else model


class MetricsLog:
    """``metrics.csv`` (resumable: rows after the resumed step are dropped) and TensorBoard events."""

    def __init__(self, out: Path, start_step: int, tensorboard: bool) -> None:
        self.path = out / "metrics.csv"
        rows = []
        if start_step > 0 and self.path.is_file():
            with self.path.open() as f:
                rows = [r for r in csv.DictReader(f) if int(r["step"]) <= start_step]
        #: tokens in the loss over the kept rows (the steps before a resume)
        self.kept_loss_tokens = sum(float(r.get("loss_tokens") or 0) for r in rows)
        with self.path.open("w", newline="") as f:
            writer = csv.DictWriter(f, METRIC_COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
        self.writer = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.writer = SummaryWriter(
                    str(out / "tb"), purge_step=start_step + 1 if start_step else None
                )
            except ImportError:
                tqdm.write("[distill] tensorboard is not installed: metrics go to metrics.csv only")

    def write(self, row: dict[str, float]) -> None:
        with self.path.open("a", newline="") as f:
            csv.DictWriter(f, METRIC_COLUMNS).writerow({k: row.get(k, "") for k in METRIC_COLUMNS})
        if self.writer is not None:
            for key, value in row.items():
                if key != "step" and not math.isnan(value):
                    self.writer.add_scalar(key, value, int(row["step"]))
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def model_record(config: TrainConfig, env: str, summary: dict[str, Any]) -> dict[str, Any]:
    """The ``agentdistill.json`` record of a model ``config`` trained on ``env``'s episodes: what it is
    (``kind``: the config's role), how it was trained, and ``summary`` (``train_summary.json``'s figures)."""
    return {
        "kind": config.role,
        "env": env,
        "method": config.method,
        "loss_on": config.loss_on,
        "preset": config.model if config.model in PRESETS else None,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "data": [str(d) for d in config.data],
        "teacher": config.teacher,
        "base_model": config.model,
        **({"lora": {"rank": config.lora_rank, "alpha": config.lora_alpha, "targets": config.lora_targets}}
           if config.lora_rank else {}),
        **summary,
    }


def save_final(config: TrainConfig, model: Any, tokenizer: Any, env: str, summary: dict[str, Any]) -> None:
    """``save_pretrained`` model + tokenizer in ``out`` and the ``agentdistill.json`` record."""
    out = Path(config.out)
    merge_lora(unwrap(model)).save_pretrained(out)  # LoRA adapters folded in: a plain transformers model
    tokenizer.save_pretrained(out)
    (out / MARKER).write_text(json.dumps(model_record(config, env, summary), indent=2) + "\n")


# --------------------------------------------------------------------------- the loop


def train(config: TrainConfig) -> Path:
    """Train the student (or a teacher, with role="teacher") described by ``config``.

    Returns ``config.out``.
    """
    runtime = setup_runtime(config.device, config.precision)
    prepare_out_dir(config, runtime)
    check_model_inputs(config)
    resumed = read_checkpoint(config, runtime.rank) if config.resume else None
    changes = settings_changes(resumed["config"], config) if resumed is not None else []
    if changes and runtime.is_main:
        tqdm.write(f"[distill] resuming {config.out} with changed settings: {'; '.join(changes)}",
                   file=sys.stderr)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    random.seed(config.seed)
    np.random.seed(config.seed)

    episodes = load_episodes(config.data)
    env_names = sorted({ep.env for ep in episodes})
    if len(env_names) != 1:
        raise ValueError(f"{config.data}: episodes from several envs {env_names}; train one env at a time")
    signal = teacher_signal(config, episodes)
    model, tokenizer, teacher_model = load_models(config, episodes, runtime)
    pad_id = int(tokenizer.pad_token_id)
    train_eps, eval_eps = split_heldout(episodes, config.eval_fraction, config.seed)
    # logged top-k are trained (and their bucket KL evaluated) under the context they were logged in; an
    # on-policy method scores the student's tokens under the exact context the student saw
    on_policy = isinstance(config, OPDConfig)
    train_set = encode_episodes(
        train_eps, tokenizer, config.max_length, logged_context=signal == "topk" or on_policy
    )
    eval_set = encode_episodes(
        eval_eps, tokenizer, config.max_length, logged_context=has_topk(eval_eps) or on_policy
    )
    served_s = 0.0  # the served teacher's scoring, before the first step
    if signal == SERVED_TOPK:
        began = time.perf_counter()
        score_served(config, tokenizer, train_set + eval_set)  # type: ignore[arg-type]
        served_s = time.perf_counter() - began
    topk = signal in ("topk", SERVED_TOPK)  # trained as logged top-k
    if config.loss_on == "guided":  # windows of the learner's own turns alone carry no loss: not trained
        train_set = [e for e in train_set if _has_guided_loss(e)]
        if not train_set:
            raise ValueError(f"{config.data}: loss_on='guided' but no episode has a guided turn (the log's "
                             "'guided' column); train on a DAgger aggregate (harness.experiment.dagger)")
    if isinstance(config, SADConfig) and config.span_control == "random":
        train_set = random_act_spans(train_set, config.seed)  # the control; held-out metrics keep the spans

    config.accumulation_steps(runtime.world_size)  # rejects a batch size that does not split evenly
    order = pacing = None
    if config.curriculum:
        order = easiest_first(
            train_set, config.curriculum_alpha, config.curriculum_beta, config.curriculum_gamma
        )
        pacing = RootPacing(config.curriculum_start, config.curriculum_steps or max(1, config.max_steps // 2))
    plan = BatchPlan([len(e) for e in train_set], config.batch_size, config.seed, order, pacing)

    decay = [p for p in model.parameters() if p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.ndim < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=config.lr, betas=(0.9, 0.95), fused=runtime.device.type == "cuda",
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_multiplier(s, config.warmup_steps, config.max_steps, config.min_lr_ratio)
    )
    start_step = restore_checkpoint(resumed, model, optimizer, scheduler) if resumed is not None else 0
    del resumed  # its tensors now live in the model and optimizer
    model.train()
    # the LM head runs at loss positions only (the student's and a live teacher's)
    model = student_lm = LossPositionLM(model)
    teacher_lm = as_loss_position_lm(teacher_model)
    if config.compile:
        model = torch.compile(model)
    if runtime.distributed:
        device_ids = [runtime.device.index] if runtime.device.type == "cuda" else None
        model = DistributedDataParallel(model, device_ids=device_ids)

    log = MetricsLog(out, start_step, config.tensorboard) if runtime.is_main else None
    last_step = config.stop_at_step or config.max_steps
    bar = tqdm(
        total=config.max_steps, initial=start_step, disable=not (config.progress and runtime.is_main),
        desc=f"{config.method} {out.name}", unit="step", dynamic_ncols=True,
    )
    wall0, tokens_seen, busy_s = time.perf_counter(), 0, 0.0
    loss_tokens = log.kept_loss_tokens if log is not None else 0.0
    eval_metrics: dict[str, float] = {}
    def prepare(step: int) -> tuple[list[MicroBatch], list[float]]:
        """This process's micro-batches of ``step`` (collated, cut to the loss positions, on the host) and
        their [completion, reason, act] counts; runs in a background thread one step ahead."""
        mine = micro_batches(
            plan.global_batch(step), config.micro_batch_size, runtime.rank, runtime.world_size
        )
        batches = [collate([train_set[i] for i in ids], pad_id, topk) for ids in mine]
        for batch in batches:
            batch["completion_mask"] = loss_mask(batch, config.loss_on)
        if on_policy:
            batches = [first_turns(batch, config.max_turns) for batch in batches]
        if isinstance(config, SFTConfig):
            batches = [first_turn_weights(batch, config.first_turn_weight) for batch in batches]
        prepared = []
        for batch in batches:
            rows, cols = loss_positions(batch["completion_mask"])  # (N,), (N,): the loss's positions
            prepared.append(MicroBatch(batch["input_ids"], rows, cols, at_positions(batch, rows, cols),
                                       int(batch["attention_mask"].sum())))
        return prepared, count_tokens(batches, own_spans=on_policy)

    clock = TeacherClock(runtime.device)
    held_out_teacher = HeldOutTeacher()
    prefetch = ThreadPoolExecutor(max_workers=1, thread_name_prefix="collate")
    upcoming = prefetch.submit(prepare, start_step) if start_step < last_step else None
    for step in range(start_step, last_step):
        t0 = time.perf_counter()
        prepared, local_counts = upcoming.result()  # type: ignore[union-attr]
        upcoming = prefetch.submit(prepare, step + 1) if step + 1 < last_step else None
        counts = runtime.sum(local_counts)  # global [completion, reason, act]
        step_loss_sum, step_tokens = torch.zeros((), device=runtime.device), 0
        for index, micro in enumerate(prepared):
            micro = micro.to(runtime.device)
            sync = index == len(prepared) - 1 or not runtime.distributed
            with (contextlib.nullcontext() if sync else model.no_sync()):
                with runtime.autocast():
                    # right padding: with the causal mask alone every real position sees only real tokens,
                    # so no padding mask is passed (the fused / flash attention kernels then apply)
                    logits = model(micro.input_ids, None, micro.rows, micro.cols)  # (1, N, V)
                    with clock.timing():
                        teacher = teacher_of(micro.input_ids, micro.picked, micro.rows, micro.cols,
                                             teacher_lm, "topk" if topk else signal)
                loss = method_loss(config, logits, micro.picked, teacher, counts)
                (loss * runtime.world_size).backward()  # DDP averages gradients over processes
            step_loss_sum += loss.detach()
            step_tokens += micro.tokens
        step_loss = float(step_loss_sum)  # the step's one host sync
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip or float("inf"))
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step_loss, step_tokens = runtime.sum([step_loss, float(step_tokens)])
        elapsed = time.perf_counter() - t0
        busy_s += elapsed
        tokens_seen += int(step_tokens)
        loss_tokens += counts[0]
        done = step + 1
        row = {
            "step": done, "loss": step_loss, "lr": scheduler.get_last_lr()[0], "grad_norm": float(grad_norm),
            "tokens": step_tokens, "loss_tokens": counts[0], "tokens_per_s": step_tokens / elapsed,
        }
        # every eval_every steps and at the end; a periodic evaluation less than half an interval before
        # the end is left to the final one (192 steps every 38: 38 ... 152, 192, not 190 and 192)
        periodic = config.eval_every and done % config.eval_every == 0
        due = done == config.max_steps or (periodic and 2 * (config.max_steps - done) >= config.eval_every)
        if due and eval_set:
            eval_metrics = evaluate(config, student_lm, teacher_lm, signal, eval_set, pad_id, runtime,
                                    held_out_teacher)
            row.update(eval_metrics)
        if log is not None:
            log.write(row)
        bar.update(1)
        bar.set_postfix(loss=f"{step_loss:.4f}", lr=f"{row['lr']:.2e}", tok_s=f"{row['tokens_per_s']:.0f}")
        if done % config.save_every == 0 or done == last_step:
            save_checkpoint(config, done, model, optimizer, scheduler, runtime)
    bar.close()
    prefetch.shutdown()
    teacher_s = clock.seconds() + served_s
    if log is not None:
        log.close()
    summary = {
        "steps": last_step, "tokens_per_s": tokens_seen / busy_s if busy_s else None,
        "wall_s": round(time.perf_counter() - wall0, 3), "student_tokens": int(loss_tokens),
        "teacher_forward_s": round(teacher_s, 3), "train_s": round(busy_s - teacher_s, 3),
        "train_sequences": len(train_set),
        "eval_sequences": len(eval_set), "teacher_signal": signal,
        **({"teacher_topk": config.teacher_topk} if signal == SERVED_TOPK else {}),  # type: ignore[union-attr]
        "world_size": runtime.world_size, "env": env_names[0],
        "device": str(runtime.device), "precision": runtime.precision,
        **{k: v for k, v in eval_metrics.items() if not math.isnan(v)},
    }
    if runtime.is_main and last_step == config.max_steps:
        save_final(config, model, tokenizer, env_names[0], summary)
    if runtime.is_main:
        (out / "train_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    runtime.barrier()
    if runtime.distributed:
        dist.destroy_process_group()
    return out
