"""Distillation losses: span-wise KL (SAD), token-level KD, and imitation (cross-entropy).

Alignment: every tensor is indexed by *logit position*. ``student_logits[b, t]`` predicts the token
at ``t + 1``; ``mask[b, t]`` says whether that predicted token counts; ``labels[b, t]`` is that token;
a teacher is either full logits of the same shape as the student's, or a top-k pair
``(ids, logprobs)`` of shape (B, T, k) holding the teacher's k most likely next tokens at ``t``.

KL is forward KL(p_T ‖ p_S) on temperature-softened distributions, multiplied by T² as in standard
KD. With a top-k teacher the distribution is the k logged tokens plus one *tail* bucket holding the
remaining mass, at temperature 1 as logged; the student is bucketed the same way at temperature 1 (its
tail is its probability outside those k ids), and then both k + 1 bucket vectors are softened by T, so
a student equal to the teacher has KL 0 at every T. It is computed in fp32 over chunks of the
sequence; under autograd each chunk is recomputed in the backward pass (activation checkpointing),
so the fp32 (B, T, V) intermediates of a 49k vocabulary never all live at once.

``normalizer`` (keyword): the count to divide the masked sum by. The default is the mask's own
count (a mean); the trainer passes the global count over all micro-batches and processes, so that
gradient accumulation and DDP give the same loss as one big batch. SAD's default objective divides
both span sums by that same completion-token count, so SAD with λ_r = λ_a = 1 *is* token-KD.
"""
from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

#: full teacher logits (B, T, V), or top-k (ids (B, T, k) long, logprobs (B, T, k) float)
Teacher = torch.Tensor | tuple[torch.Tensor, torch.Tensor]

DEFAULT_CHUNK = 256
TAIL_EPS = 1e-6


def _kl_full(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """Per-position KL(p_T ‖ p_S) for full logits: (B, C, V), (B, C, V) -> (B, C), fp32."""
    log_q = F.log_softmax(student.float() / temperature, dim=-1)  # (B, C, V)
    log_p = F.log_softmax(teacher.float() / temperature, dim=-1)  # (B, C, V)
    return (log_p.exp() * (log_p - log_q)).sum(-1)  # (B, C)


def _kl_topk(
    student: torch.Tensor, ids: torch.Tensor, logprobs: torch.Tensor, temperature: float
) -> torch.Tensor:
    """Per-position KL over the k logged tokens plus a tail bucket: (B, C, V), (B, C, k) x2 -> (B, C).

    Both sides are bucketed at temperature 1 (the teacher's log-probs are logged at T = 1), then both
    bucket vectors are tempered: tempering the student over the full vocabulary before bucketing would
    compare two different functions of T and give KL > 0 for a student equal to the teacher."""
    log_q_all = F.log_softmax(student.float(), dim=-1)  # (B, C, V), T = 1
    log_q_top = log_q_all.gather(-1, ids)  # (B, C, k)
    # a finite fill (not -inf) keeps logsumexp's backward finite when the k ids cover the vocabulary
    outside = log_q_all.scatter(-1, ids, -1e4)  # (B, C, V): the student's tail tokens only
    log_q_tail = torch.logsumexp(outside, dim=-1, keepdim=True)  # (B, C, 1)
    log_q = F.log_softmax(torch.cat([log_q_top, log_q_tail], dim=-1) / temperature, dim=-1)  # (B, C, k+1)

    lp = logprobs.float()  # (B, C, k), at temperature 1 as logged
    tail_mass = 1.0 - lp.exp().sum(-1, keepdim=True)  # (B, C, 1)
    # below 1e-6 the "tail" is rounding noise of k logged fp32/bf16 probabilities: treat it as empty
    tail_mass = torch.where(tail_mass > TAIL_EPS, tail_mass, torch.zeros_like(tail_mass))
    log_p = F.log_softmax(torch.cat([lp, tail_mass.log()], dim=-1) / temperature, dim=-1)  # (B, C, k+1)
    p = log_p.exp()
    return torch.where(p > 0, p * (log_p - log_q), torch.zeros_like(p)).sum(-1)  # (B, C)


def kl_per_token(
    student_logits: torch.Tensor, teacher: Teacher, temperature: float = 1.0, chunk: int = DEFAULT_CHUNK
) -> torch.Tensor:
    """KL(p_T ‖ p_S) at every position, (B, T) fp32, computed chunk by chunk over T (not scaled by T²)."""
    if temperature <= 0:
        raise ValueError(f"temperature={temperature} must be > 0")
    batch, length, vocab = student_logits.shape
    if isinstance(teacher, torch.Tensor):
        if teacher.shape != student_logits.shape:
            raise ValueError(
                f"teacher logits {tuple(teacher.shape)} and student logits {tuple(student_logits.shape)} "
                "differ; teacher and student must share a vocabulary"
            )
        parts: tuple[torch.Tensor, ...] = (teacher,)
        fn = _kl_full
    else:
        ids, logprobs = teacher
        if ids.shape[:2] != (batch, length) or ids.shape != logprobs.shape:
            raise ValueError(
                f"top-k teacher ids {tuple(ids.shape)} / logprobs {tuple(logprobs.shape)} do not match "
                f"student logits {tuple(student_logits.shape)}: expected (B, T, k) for both"
            )
        if ids.numel() and int(ids.max()) >= vocab:
            raise ValueError(
                f"top-k teacher id {int(ids.max())} is outside the student's vocabulary of {vocab}"
            )
        parts, fn = (ids.long(), logprobs), _kl_topk
    out = []
    for start in range(0, length, chunk):
        pieces = [student_logits[:, start:start + chunk], *(p[:, start:start + chunk] for p in parts)]
        if torch.is_grad_enabled() and student_logits.requires_grad:
            out.append(checkpoint(fn, *pieces, temperature, use_reentrant=False))
        else:
            out.append(fn(*pieces, temperature))
    return torch.cat(out, dim=1)  # (B, T)


def masked_sum(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Sum of ``values`` where ``mask`` is true (NaN/inf outside the mask cannot leak in)."""
    return torch.where(mask.bool(), values, torch.zeros_like(values)).sum()


def _divide(total: torch.Tensor, mask: torch.Tensor, normalizer: float | torch.Tensor | None) -> torch.Tensor:
    count = mask.sum() if normalizer is None else torch.as_tensor(normalizer, device=total.device)
    return total / count.clamp(min=1).to(total.dtype)


def token_kd_loss(
    student_logits: torch.Tensor,
    teacher: Teacher,
    mask: torch.Tensor,
    temperature: float = 1.0,
    *,
    normalizer: float | torch.Tensor | None = None,
    chunk: int = DEFAULT_CHUNK,
) -> torch.Tensor:
    """Token-level KD: T² · mean over ``mask`` positions of KL(p_T ‖ p_S)."""
    kl = kl_per_token(student_logits, teacher, temperature, chunk)  # (B, T)
    return temperature**2 * _divide(masked_sum(kl, mask), mask, normalizer)


#: how SAD divides its span sums: "sum" (the paper's objective, one normaliser for both spans, so
#: λ_r = λ_a = 1 is token-KD), or "per_span_mean" (each span's mean KL, an ablation)
SpanNorm = Literal["sum", "per_span_mean"]
SPAN_NORMS: tuple[str, ...] = ("sum", "per_span_mean")


def sad_loss(
    student_logits: torch.Tensor,
    teacher: Teacher,
    reason_mask: torch.Tensor,
    act_mask: torch.Tensor,
    lambda_reason: float = 1.0,
    lambda_act: float = 1.0,
    temperature: float = 1.0,
    *,
    span_norm: SpanNorm = "sum",
    normalizer: float | torch.Tensor | None = None,
    normalizers: tuple[float | torch.Tensor, float | torch.Tensor] | None = None,
    chunk: int = DEFAULT_CHUNK,
) -> torch.Tensor:
    """Structured Agent Distillation.

    ``span_norm="sum"`` (default, the paper's): T² · (λ_r · Σ_reason KL + λ_a · Σ_act KL) / N, with N the
    count token-KD divides by (``normalizer``; default the number of span tokens, which is the number of
    completion tokens when the masks partition them), so λ_r = λ_a = 1 equals :func:`token_kd_loss`.
    ``span_norm="per_span_mean"``: T² · (λ_r · mean_reason KL + λ_a · mean_act KL), each span divided by
    its own count (``normalizers`` = (reason count, act count); default each mask's count).
    """
    if span_norm not in SPAN_NORMS:
        raise ValueError(f"span_norm={span_norm!r}: expected one of {list(SPAN_NORMS)}")
    if bool((reason_mask.bool() & act_mask.bool()).any()):
        raise ValueError("reason_mask and act_mask overlap: a token may be in one span only")
    kl = kl_per_token(student_logits, teacher, temperature, chunk)  # (B, T)
    reason_sum, act_sum = masked_sum(kl, reason_mask), masked_sum(kl, act_mask)
    if span_norm == "sum":
        spans = reason_mask.bool() | act_mask.bool()  # (B, T)
        return temperature**2 * _divide(lambda_reason * reason_sum + lambda_act * act_sum, spans, normalizer)
    n_reason, n_act = normalizers if normalizers is not None else (None, None)
    reason = _divide(reason_sum, reason_mask, n_reason)
    act = _divide(act_sum, act_mask, n_act)
    return temperature**2 * (lambda_reason * reason + lambda_act * act)


def sft_loss(
    student_logits: torch.Tensor,
    labels: torch.Tensor,
    mask: torch.Tensor,
    *,
    normalizer: float | torch.Tensor | None = None,
    chunk: int = DEFAULT_CHUNK,
) -> torch.Tensor:
    """Imitation learning: mean cross-entropy of ``labels`` (the teacher's tokens) over ``mask`` positions."""
    return _divide(masked_sum(nll_per_token(student_logits, labels, chunk), mask), mask, normalizer)


def nll_per_token(
    student_logits: torch.Tensor, labels: torch.Tensor, chunk: int = DEFAULT_CHUNK
) -> torch.Tensor:
    """Negative log-likelihood of ``labels`` at every position, (B, T) fp32, chunked over T."""
    if labels.shape != student_logits.shape[:2]:
        raise ValueError(f"labels {tuple(labels.shape)} do not match logits {tuple(student_logits.shape)}")
    vocab = student_logits.shape[-1]
    safe = labels.clamp(0, vocab - 1).long()  # padding labels (-100) are masked out by the caller

    def nll(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return -F.log_softmax(logits.float(), dim=-1).gather(-1, target.unsqueeze(-1)).squeeze(-1)  # (B, C)

    out = []
    for start in range(0, labels.shape[1], chunk):
        pieces = (student_logits[:, start:start + chunk], safe[:, start:start + chunk])
        if torch.is_grad_enabled() and student_logits.requires_grad:
            out.append(checkpoint(nll, *pieces, use_reentrant=False))
        else:
            out.append(nll(*pieces))
    return torch.cat(out, dim=1)  # (B, T)
