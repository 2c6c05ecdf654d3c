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

On-policy distillation (OPD) scores the *student's own* tokens with the live teacher and lets the
divergence be chosen (:data:`DIVERGENCES`; p_T teacher, p_S student, both at temperature T):

- ``forward_kl``: KL(p_T ‖ p_S), mass-covering (the off-policy methods' KL; top-k teachers allowed);
- ``reverse_kl``: KL(p_S ‖ p_T), mode-seeking (the usual on-policy objective);
- ``jsd``: the generalised Jensen-Shannon divergence of GKD (Agarwal et al. 2024, as TRL's
  ``GKDTrainer.generalized_jsd_loss``): with M = β·p_T + (1 − β)·p_S,
  JSD(β) = β·KL(p_T ‖ M) + (1 − β)·KL(p_S ‖ M). Near β = 0 it behaves like β·forward KL, near β = 1 like
  (1 − β)·reverse KL; as in TRL, β = 0 *is* forward KL and β = 1 *is* reverse KL;
- ``skew_kl``: DistiLLM's skew KL, KL(p_T ‖ α·p_T + (1 − α)·p_S); α = 0 is forward KL.

All but forward KL need the teacher's full logits. Every divergence treats the teacher as a constant
(no gradient reaches it). :func:`opd_loss` / :func:`sad_opd_loss` add the turns a guide played
(``guided_mask``): cross-entropy on the guide's tokens (or forward KL), summed with the divergence and
divided by the same one completion-token count.
"""
from __future__ import annotations

import math
from collections.abc import Callable
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
        parts: tuple[torch.Tensor, ...] = (teacher.detach(),)
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
        parts, fn = (ids.long(), logprobs.detach()), _kl_topk
    return _chunked(fn, student_logits, parts, (temperature,), chunk)


def _chunked(
    fn: Callable[..., torch.Tensor],
    student_logits: torch.Tensor,
    parts: tuple[torch.Tensor, ...],
    args: tuple[float, ...],
    chunk: int,
) -> torch.Tensor:
    """``fn(student chunk, *part chunks, *args)`` over chunks of T, concatenated: (B, T) fp32. Under autograd
    each chunk is recomputed in the backward pass, so only one chunk's fp32 intermediates live at once."""
    out = []
    for start in range(0, student_logits.shape[1], chunk):
        pieces = [student_logits[:, start:start + chunk], *(p[:, start:start + chunk] for p in parts)]
        if torch.is_grad_enabled() and student_logits.requires_grad:
            out.append(checkpoint(fn, *pieces, *args, use_reentrant=False))
        else:
            out.append(fn(*pieces, *args))
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
    weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """Imitation learning: mean cross-entropy of ``labels`` (the teacher's tokens) over ``mask`` positions;
    with ``weights`` (same shape as ``mask``) a weighted sum, divided by ``normalizer`` (default: the
    weights' sum over the mask)."""
    nll = nll_per_token(student_logits, labels, chunk)
    if weights is None:
        return _divide(masked_sum(nll, mask), mask, normalizer)
    total = masked_sum(nll * weights, mask)
    return total / torch.as_tensor(
        float(masked_sum(weights, mask)) if normalizer is None else normalizer, device=total.device
    ).clamp(min=1e-12).to(total.dtype)


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

    return _chunked(nll, student_logits, (safe,), (), chunk)


# --------------------------------------------------------------------------- on-policy distillation

#: the divergences OPD can train with (see the module docstring)
Divergence = Literal["reverse_kl", "forward_kl", "jsd", "skew_kl"]
DIVERGENCES: tuple[str, ...] = ("reverse_kl", "forward_kl", "jsd", "skew_kl")
#: the loss on the tokens of turns a guide played: cross-entropy of its tokens, or forward KL to the teacher
GuidedLoss = Literal["sft", "forward_kl"]
GUIDED_LOSSES: tuple[str, ...] = ("sft", "forward_kl")

#: forward KL(p_T ‖ p_S) per position: the KL of token-KD and SAD (full logits or top-k)
forward_kl_per_token = kl_per_token


def _log_probs(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> tuple[torch.Tensor, ...]:
    """(log p_S, log p_T) at ``temperature``, fp32: (B, C, V) each."""
    return (F.log_softmax(student.float() / temperature, dim=-1),
            F.log_softmax(teacher.float() / temperature, dim=-1))


def _reverse_kl_full(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """Per-position KL(p_S ‖ p_T): (B, C, V), (B, C, V) -> (B, C), fp32."""
    log_q, log_p = _log_probs(student, teacher, temperature)
    return (log_q.exp() * (log_q - log_p)).sum(-1)


def _jsd_full(student: torch.Tensor, teacher: torch.Tensor, temperature: float, beta: float) -> torch.Tensor:
    """Per-position β·KL(p_T ‖ M) + (1 − β)·KL(p_S ‖ M), M = β·p_T + (1 − β)·p_S, for 0 < β < 1: -> (B, C)."""
    log_q, log_p = _log_probs(student, teacher, temperature)
    log_m = torch.logaddexp(log_p + math.log(beta), log_q + math.log1p(-beta))  # (B, C, V)
    to_teacher = (log_p.exp() * (log_p - log_m)).sum(-1)
    to_student = (log_q.exp() * (log_q - log_m)).sum(-1)
    return beta * to_teacher + (1 - beta) * to_student


def _skew_kl_full(
    student: torch.Tensor, teacher: torch.Tensor, temperature: float, alpha: float
) -> torch.Tensor:
    """Per-position KL(p_T ‖ α·p_T + (1 − α)·p_S) for 0 < α < 1: -> (B, C), fp32."""
    log_q, log_p = _log_probs(student, teacher, temperature)
    log_m = torch.logaddexp(log_p + math.log(alpha), log_q + math.log1p(-alpha))  # (B, C, V)
    return (log_p.exp() * (log_p - log_m)).sum(-1)


def _full_teacher(student_logits: torch.Tensor, teacher: Teacher, divergence: str) -> torch.Tensor:
    """The teacher's full logits, detached; a clear error for a top-k teacher or another vocabulary."""
    if not isinstance(teacher, torch.Tensor):
        raise ValueError(
            f"divergence {divergence!r} needs the teacher's full logits, but the teacher is logged top-k "
            "(ids, log-probs): only forward_kl can be computed over top-k buckets; use the live teacher "
            "(--teacher PATH, --teacher-signal logits) or divergence forward_kl"
        )
    if teacher.shape != student_logits.shape:
        raise ValueError(
            f"teacher logits {tuple(teacher.shape)} and student logits {tuple(student_logits.shape)} "
            "differ; teacher and student must share a vocabulary"
        )
    return teacher.detach()


def _check_temperature(temperature: float) -> None:
    if temperature <= 0:
        raise ValueError(f"temperature={temperature} must be > 0")


def reverse_kl_per_token(
    student_logits: torch.Tensor, teacher: Teacher, temperature: float = 1.0, chunk: int = DEFAULT_CHUNK
) -> torch.Tensor:
    """KL(p_S ‖ p_T) at every position, (B, T) fp32, chunked over T; full teacher logits only."""
    _check_temperature(temperature)
    full = _full_teacher(student_logits, teacher, "reverse_kl")
    return _chunked(_reverse_kl_full, student_logits, (full,), (temperature,), chunk)


def jsd_per_token(
    student_logits: torch.Tensor,
    teacher: Teacher,
    temperature: float = 1.0,
    chunk: int = DEFAULT_CHUNK,
    *,
    beta: float = 0.5,
) -> torch.Tensor:
    """Generalised JSD(β) of GKD at every position, (B, T) fp32; β = 0 is forward KL, β = 1 reverse KL
    (TRL's convention: M = β·p_T + (1 − β)·p_S). Full teacher logits only."""
    _check_temperature(temperature)
    if not 0 <= beta <= 1:
        raise ValueError(f"beta={beta}: the JSD's interpolation weight must be in [0, 1]")
    full = _full_teacher(student_logits, teacher, "jsd")
    if beta == 0:
        return _chunked(_kl_full, student_logits, (full,), (temperature,), chunk)
    if beta == 1:
        return _chunked(_reverse_kl_full, student_logits, (full,), (temperature,), chunk)
    return _chunked(_jsd_full, student_logits, (full,), (temperature, beta), chunk)


def skew_kl_per_token(
    student_logits: torch.Tensor,
    teacher: Teacher,
    temperature: float = 1.0,
    chunk: int = DEFAULT_CHUNK,
    *,
    alpha: float = 0.1,
) -> torch.Tensor:
    """Skew KL(p_T ‖ α·p_T + (1 − α)·p_S) of DistiLLM at every position, (B, T) fp32; α = 0 is forward KL.
    Full teacher logits only."""
    _check_temperature(temperature)
    if not 0 <= alpha < 1:
        raise ValueError(f"alpha={alpha}: the skew KL's mixing weight must be in [0, 1)")
    full = _full_teacher(student_logits, teacher, "skew_kl")
    if alpha == 0:
        return _chunked(_kl_full, student_logits, (full,), (temperature,), chunk)
    return _chunked(_skew_kl_full, student_logits, (full,), (temperature, alpha), chunk)


def divergence_per_token(
    divergence: str,
    student_logits: torch.Tensor,
    teacher: Teacher,
    temperature: float = 1.0,
    chunk: int = DEFAULT_CHUNK,
    *,
    beta: float = 0.5,
    skew_alpha: float = 0.1,
) -> torch.Tensor:
    """The named divergence (one of :data:`DIVERGENCES`) at every position, (B, T) fp32."""
    if divergence == "forward_kl":
        return kl_per_token(student_logits, teacher, temperature, chunk)
    if divergence == "reverse_kl":
        return reverse_kl_per_token(student_logits, teacher, temperature, chunk)
    if divergence == "jsd":
        return jsd_per_token(student_logits, teacher, temperature, chunk, beta=beta)
    if divergence == "skew_kl":
        return skew_kl_per_token(student_logits, teacher, temperature, chunk, alpha=skew_alpha)
    raise ValueError(f"divergence={divergence!r}: expected one of {list(DIVERGENCES)}")


#: forward KL on the masked tokens: token-level KD
forward_kl_loss = token_kd_loss


def reverse_kl_loss(
    student_logits: torch.Tensor,
    teacher: Teacher,
    mask: torch.Tensor,
    temperature: float = 1.0,
    *,
    normalizer: float | torch.Tensor | None = None,
    chunk: int = DEFAULT_CHUNK,
) -> torch.Tensor:
    """T² · mean over ``mask`` positions of KL(p_S ‖ p_T)."""
    kl = reverse_kl_per_token(student_logits, teacher, temperature, chunk)  # (B, T)
    return temperature**2 * _divide(masked_sum(kl, mask), mask, normalizer)


def jsd_loss(
    student_logits: torch.Tensor,
    teacher: Teacher,
    mask: torch.Tensor,
    temperature: float = 1.0,
    *,
    beta: float = 0.5,
    normalizer: float | torch.Tensor | None = None,
    chunk: int = DEFAULT_CHUNK,
) -> torch.Tensor:
    """T² · mean over ``mask`` positions of the generalised JSD(β)."""
    jsd = jsd_per_token(student_logits, teacher, temperature, chunk, beta=beta)  # (B, T)
    return temperature**2 * _divide(masked_sum(jsd, mask), mask, normalizer)


def skew_kl_loss(
    student_logits: torch.Tensor,
    teacher: Teacher,
    mask: torch.Tensor,
    temperature: float = 1.0,
    *,
    alpha: float = 0.1,
    normalizer: float | torch.Tensor | None = None,
    chunk: int = DEFAULT_CHUNK,
) -> torch.Tensor:
    """T² · mean over ``mask`` positions of the skew KL(p_T ‖ α·p_T + (1 − α)·p_S)."""
    skew = skew_kl_per_token(student_logits, teacher, temperature, chunk, alpha=alpha)  # (B, T)
    return temperature**2 * _divide(masked_sum(skew, mask), mask, normalizer)


def _zero(student_logits: torch.Tensor) -> torch.Tensor:
    """A fp32 zero attached to the student's graph (backward gives zero gradients, not an error)."""
    return student_logits[..., :0].float().sum()


def _guided_sum(
    student_logits: torch.Tensor,
    teacher: Teacher,
    labels: torch.Tensor,
    tokens: torch.Tensor,
    guided_loss: str,
    temperature: float,
    chunk: int,
) -> torch.Tensor:
    """Σ over ``tokens`` (a guide's turns) of the cross-entropy of the guide's tokens, or T² · forward KL."""
    if guided_loss not in GUIDED_LOSSES:
        raise ValueError(f"guided_loss={guided_loss!r}: expected one of {list(GUIDED_LOSSES)}")
    if not bool(tokens.any()):
        return _zero(student_logits)
    if guided_loss == "sft":
        return masked_sum(nll_per_token(student_logits, labels, chunk), tokens)
    return temperature**2 * masked_sum(kl_per_token(student_logits, teacher, temperature, chunk), tokens)


def _own_divergence(
    student_logits: torch.Tensor,
    teacher: Teacher,
    tokens: torch.Tensor,
    divergence: str,
    temperature: float,
    chunk: int,
    beta: float,
    skew_alpha: float,
) -> torch.Tensor:
    """The divergence per position (B, T); zeros on the student's graph (not computed) when ``tokens`` is
    empty, as in a micro-batch of turns a guide played."""
    if divergence not in DIVERGENCES:
        raise ValueError(f"divergence={divergence!r}: expected one of {list(DIVERGENCES)}")
    if not bool(tokens.any()):
        return _zero(student_logits).expand(tokens.shape)
    return divergence_per_token(
        divergence, student_logits, teacher, temperature, chunk, beta=beta, skew_alpha=skew_alpha
    )


def opd_loss(
    student_logits: torch.Tensor,
    teacher: Teacher,
    labels: torch.Tensor,
    completion_mask: torch.Tensor,
    guided_mask: torch.Tensor,
    temperature: float = 1.0,
    *,
    divergence: str = "reverse_kl",
    beta: float = 0.5,
    skew_alpha: float = 0.1,
    guided_loss: str = "sft",
    normalizer: float | torch.Tensor | None = None,
    chunk: int = DEFAULT_CHUNK,
) -> torch.Tensor:
    """On-policy distillation on one batch of episodes the student played.

    (T² · Σ_student D(p_T, p_S) + Σ_guided g) / N: D the ``divergence`` on completion tokens of the
    student's own turns (``completion_mask`` and not ``guided_mask``); g on tokens of turns a guide played
    (``completion_mask`` and ``guided_mask``): the cross-entropy of ``labels`` (``guided_loss="sft"``) or
    T² · forward KL (``"forward_kl"``). N is ``normalizer`` (default: the completion-token count)."""
    completion = completion_mask.bool()
    guided = completion & guided_mask.bool()
    own = completion & ~guided
    values = _own_divergence(student_logits, teacher, own, divergence, temperature, chunk, beta, skew_alpha)
    total = temperature**2 * masked_sum(values, own)
    total = total + _guided_sum(student_logits, teacher, labels, guided, guided_loss, temperature, chunk)
    return _divide(total, completion, normalizer)


def sad_opd_loss(
    student_logits: torch.Tensor,
    teacher: Teacher,
    labels: torch.Tensor,
    reason_mask: torch.Tensor,
    act_mask: torch.Tensor,
    guided_mask: torch.Tensor,
    lambda_reason: float = 1.0,
    lambda_act: float = 1.0,
    temperature: float = 1.0,
    *,
    divergence: str = "reverse_kl",
    beta: float = 0.5,
    skew_alpha: float = 0.1,
    guided_loss: str = "sft",
    span_norm: SpanNorm = "sum",
    normalizer: float | torch.Tensor | None = None,
    normalizers: tuple[float | torch.Tensor, float | torch.Tensor] | None = None,
    chunk: int = DEFAULT_CHUNK,
) -> torch.Tensor:
    """Structured on-policy distillation: SAD's span weights on the student's own reason / act tokens.

    Own tokens are span tokens not in ``guided_mask``; guided tokens (span tokens in it) take g as in
    :func:`opd_loss`, unweighted.

    - ``span_norm="sum"``: (T² · (λ_r · Σ_own-reason D + λ_a · Σ_own-act D) + Σ_guided g) / N, with N =
      ``normalizer`` (default: the span-token count, i.e. the completion tokens), so λ_r = λ_a = 1 is
      :func:`opd_loss`;
    - ``span_norm="per_span_mean"``: T² · (λ_r · Σ_own-reason D / n_r + λ_a · Σ_own-act D / n_a)
      + Σ_guided g / N, ``normalizers`` = (n_r, n_a) (default: the own reason / act token counts)."""
    if span_norm not in SPAN_NORMS:
        raise ValueError(f"span_norm={span_norm!r}: expected one of {list(SPAN_NORMS)}")
    reason, act = reason_mask.bool(), act_mask.bool()
    if bool((reason & act).any()):
        raise ValueError("reason_mask and act_mask overlap: a token may be in one span only")
    spans, guided_turns = reason | act, guided_mask.bool()
    own_reason, own_act, guided = reason & ~guided_turns, act & ~guided_turns, spans & guided_turns
    values = _own_divergence(
        student_logits, teacher, own_reason | own_act, divergence, temperature, chunk, beta, skew_alpha
    )
    reason_sum, act_sum = masked_sum(values, own_reason), masked_sum(values, own_act)
    guided_sum = _guided_sum(student_logits, teacher, labels, guided, guided_loss, temperature, chunk)
    if span_norm == "sum":
        weighted = temperature**2 * (lambda_reason * reason_sum + lambda_act * act_sum)
        return _divide(weighted + guided_sum, spans, normalizer)
    n_reason, n_act = normalizers if normalizers is not None else (None, None)
    weighted = lambda_reason * _divide(reason_sum, own_reason, n_reason) + lambda_act * _divide(
        act_sum, own_act, n_act
    )
    return temperature**2 * weighted + _divide(guided_sum, spans, normalizer)
