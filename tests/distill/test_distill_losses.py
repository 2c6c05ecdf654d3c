"""Properties of the distillation losses that a wrong implementation would break."""
from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F

from distill.losses import kl_per_token, sad_loss, sft_loss, token_kd_loss

B, T, V = 2, 12, 50


@pytest.fixture
def logits():
    g = torch.Generator().manual_seed(0)
    student = torch.randn(B, T, V, generator=g) * 2
    teacher = torch.randn(B, T, V, generator=g) * 2
    return student, teacher


@pytest.fixture
def masks():
    """prompt 0-2, reason 3-6, act 7-8, observation 9-11 (per sequence)."""
    reason = torch.zeros(B, T, dtype=torch.bool)
    act = torch.zeros(B, T, dtype=torch.bool)
    reason[:, 3:7] = True
    act[:, 7:9] = True
    return reason, act


def topk_of(teacher: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    top = F.log_softmax(teacher, -1).topk(k, dim=-1)
    return top.indices, top.values


def test_kl_is_zero_when_student_equals_teacher(logits, masks):
    _, teacher = logits
    reason, act = masks
    completion = reason | act
    assert token_kd_loss(teacher.clone(), teacher, completion).abs() < 1e-6
    assert sad_loss(teacher.clone(), teacher, reason, act, temperature=2.0).abs() < 1e-6
    assert token_kd_loss(teacher.clone(), topk_of(teacher, 5), completion).abs() < 1e-6
    student, _ = logits
    assert token_kd_loss(student, teacher, completion) > 0.1


def test_kl_matches_its_definition_with_temperature(logits, masks):
    student, teacher = logits
    reason, act = masks
    mask = reason | act
    temperature = 2.0
    p = F.softmax(teacher / temperature, -1)
    kl = (p * (F.log_softmax(teacher / temperature, -1) - F.log_softmax(student / temperature, -1))).sum(-1)
    expected = temperature**2 * kl[mask].mean()
    torch.testing.assert_close(token_kd_loss(student, teacher, mask, temperature), expected)


@pytest.mark.parametrize("zeroed", ["act", "reason"])
def test_sad_with_one_lambda_zero_ignores_that_span(logits, masks, zeroed):
    student, teacher = logits
    reason, act = masks
    student = student.clone().requires_grad_(True)
    if zeroed == "act":
        lambdas = {"lambda_reason": 1.0, "lambda_act": 0.0}
    else:
        lambdas = {"lambda_reason": 0.0, "lambda_act": 1.0}
    sad_loss(student, teacher, reason, act, **lambdas).backward()
    dead, live = (act, reason) if zeroed == "act" else (reason, act)
    grad_norm = student.grad.norm(dim=-1)  # (B, T)
    assert torch.all(grad_norm[dead] == 0)
    assert torch.all(grad_norm[live] > 0)


def test_no_gradient_from_prompt_or_observation_tokens(logits, masks):
    student, teacher = logits
    reason, act = masks
    for loss_fn in (
        lambda s: sad_loss(s, teacher, reason, act),
        lambda s: token_kd_loss(s, topk_of(teacher, 4), reason | act),
        lambda s: sft_loss(s, teacher.argmax(-1), reason | act),
    ):
        s = student.clone().requires_grad_(True)
        loss_fn(s).backward()
        outside = ~(reason | act)
        assert torch.all(s.grad[outside] == 0)
        assert torch.all(s.grad.norm(dim=-1)[reason | act] > 0)


@pytest.mark.parametrize("temperature", [1.0, 2.0])
@pytest.mark.parametrize("signal", ["logits", "topk"])
def test_sad_with_unit_lambdas_is_token_kd_exactly(logits, masks, temperature, signal):
    student, teacher = logits
    reason, act = masks
    completion = reason | act
    teacher_signal = teacher if signal == "logits" else topk_of(teacher, 5)
    kd = token_kd_loss(student, teacher_signal, completion, temperature)
    sad = sad_loss(student, teacher_signal, reason, act, 1.0, 1.0, temperature)
    assert abs(float(sad - kd)) < 1e-6
    # with the trainer's global normaliser (the completion count over all micro-batches) too
    n = 3 * completion.sum()
    kd = token_kd_loss(student, teacher_signal, completion, temperature, normalizer=n)
    sad = sad_loss(student, teacher_signal, reason, act, temperature=temperature, normalizer=n)
    assert abs(float(sad - kd)) < 1e-6


def test_sad_is_the_lambda_weighted_sum_over_span_tokens(logits, masks):
    student, teacher = logits
    reason, act = masks
    kl = kl_per_token(student, teacher)  # (B, T)
    n = (reason | act).sum()
    expected = (0.3 * kl[reason].sum() + 2.0 * kl[act].sum()) / n
    torch.testing.assert_close(sad_loss(student, teacher, reason, act, 0.3, 2.0), expected)
    # λ_r = λ_a = 1 weighs every completion token alike, whatever the spans' sizes
    longer_reason = reason.clone()
    longer_reason[:, 1:3] = True
    kd = token_kd_loss(student, teacher, longer_reason | act)
    torch.testing.assert_close(sad_loss(student, teacher, longer_reason, act), kd)


def test_per_span_mean_is_an_option(logits, masks):
    student, teacher = logits
    reason, act = masks
    kl = kl_per_token(student, teacher)  # (B, T)
    expected = 0.3 * kl[reason].mean() + 2.0 * kl[act].mean()
    per_span = sad_loss(student, teacher, reason, act, 0.3, 2.0, span_norm="per_span_mean")
    torch.testing.assert_close(per_span, expected)
    torch.testing.assert_close(
        sad_loss(student, teacher, reason, act, 0.3, 2.0, span_norm="per_span_mean", normalizers=(10, 20)),
        0.3 * kl[reason].sum() / 10 + 2.0 * kl[act].sum() / 20,
    )
    per_span = sad_loss(student, teacher, reason, act, span_norm="per_span_mean")
    assert abs(float(per_span - token_kd_loss(student, teacher, reason | act))) > 1e-3, "another objective"
    with pytest.raises(ValueError, match=r"span_norm='mean': expected one of \['sum', 'per_span_mean'\]"):
        sad_loss(student, teacher, reason, act, span_norm="mean")


@pytest.mark.parametrize("temperature", [2.0, 4.0])
def test_topk_kl_is_zero_for_a_student_equal_to_the_teacher_at_any_temperature(logits, masks, temperature):
    _, teacher = logits
    reason, act = masks
    for k in (1, 5, 20):
        kd = token_kd_loss(teacher.clone(), topk_of(teacher, k), reason | act, temperature)
        assert abs(float(kd)) < 1e-6, k
        sad = sad_loss(teacher.clone(), topk_of(teacher, k), reason, act, temperature=temperature)
        assert abs(float(sad)) < 1e-6, k


@pytest.mark.parametrize("temperature", [0.5, 2.0, 4.0])
def test_topk_kl_buckets_at_temperature_one_then_tempers_both(logits, temperature):
    student, teacher = logits
    ids, lps = topk_of(teacher, 6)

    def buckets(log_probs: torch.Tensor) -> torch.Tensor:  # (B, T, V) at T = 1 -> (B, T, k + 1) log-masses
        top = log_probs.gather(-1, ids)
        tail = torch.log1p(-top.exp().sum(-1, keepdim=True).clamp(max=1 - 1e-7))
        return torch.cat([top, tail], -1)

    p = F.log_softmax(buckets(F.log_softmax(teacher, -1)) / temperature, -1)
    q = F.log_softmax(buckets(F.log_softmax(student, -1)) / temperature, -1)
    expected = (p.exp() * (p - q)).sum(-1)  # (B, T)
    torch.testing.assert_close(kl_per_token(student, (ids, lps), temperature), expected, atol=1e-5, rtol=1e-4)


def test_sad_rejects_overlapping_spans(logits, masks):
    student, teacher = logits
    reason, _ = masks
    with pytest.raises(ValueError, match="overlap"):
        sad_loss(student, teacher, reason, reason)


def test_topk_kl_approaches_full_kl_as_k_grows(logits, masks):
    student, teacher = logits
    mask = masks[0] | masks[1]
    full = token_kd_loss(student, teacher, mask)
    errors = [
        float((token_kd_loss(student, topk_of(teacher, k), mask) - full).abs()) for k in (1, 5, 20, 45, V)
    ]
    assert errors[0] > 0.05
    assert all(later <= earlier + 1e-6 for earlier, later in itertools.pairwise(errors))
    assert errors[-1] < 1e-4


def test_chunked_equals_unchunked_values_and_gradients(logits, masks):
    student, teacher = logits
    reason, act = masks
    grads = []
    for chunk in (3, 1000):
        s = student.clone().requires_grad_(True)
        loss = sad_loss(s, teacher, reason, act, chunk=chunk)
        loss = loss + token_kd_loss(s, topk_of(teacher, 7), reason, chunk=chunk)
        loss.backward()
        grads.append((loss.detach(), s.grad))
    torch.testing.assert_close(grads[0][0], grads[1][0])
    torch.testing.assert_close(grads[0][1], grads[1][1])


def test_sft_loss_is_masked_cross_entropy(logits, masks):
    student, teacher = logits
    mask = masks[0] | masks[1]
    labels = teacher.argmax(-1)
    expected = F.cross_entropy(student[mask], labels[mask])
    torch.testing.assert_close(sft_loss(student, labels, mask), expected)


def test_bf16_student_logits_are_computed_in_fp32(logits, masks):
    student, teacher = logits
    kl = kl_per_token(student.bfloat16(), teacher.bfloat16())
    assert kl.dtype == torch.float32


def test_mismatched_vocabularies_are_a_clear_error(logits, masks):
    student, teacher = logits
    with pytest.raises(ValueError, match="share a vocabulary"):
        token_kd_loss(student, teacher[..., :-1], masks[0])
    ids, lps = topk_of(teacher, 3)
    with pytest.raises(ValueError, match="outside the student's vocabulary"):
        token_kd_loss(student[..., :10], (ids.clamp(min=10), lps), masks[0])
