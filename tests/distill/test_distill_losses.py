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
    lambdas = {"lambda_reason": 1.0, "lambda_act": 0.0} if zeroed == "act" else {"lambda_reason": 0.0, "lambda_act": 1.0}
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


def test_sad_equals_token_kd_when_spans_cover_the_completion(logits, masks):
    student, teacher = logits
    reason, act = masks
    completion = reason | act
    # reason covers every completion token, act none: the two losses coincide
    torch.testing.assert_close(
        sad_loss(student, teacher, completion, torch.zeros_like(act), 1.0, 1.0, 1.5),
        token_kd_loss(student, teacher, completion, 1.5),
    )
    # the spans split the completion, λ_r = λ_a, both normalised by the completion count (DESIGN's Σ form)
    n = completion.sum()
    torch.testing.assert_close(
        sad_loss(student, teacher, reason, act, 0.7, 0.7, normalizers=(n, n)),
        0.7 * token_kd_loss(student, teacher, completion),
    )


def test_sad_rejects_overlapping_spans(logits, masks):
    student, teacher = logits
    reason, _ = masks
    with pytest.raises(ValueError, match="overlap"):
        sad_loss(student, teacher, reason, reason)


def test_topk_kl_approaches_full_kl_as_k_grows(logits, masks):
    student, teacher = logits
    mask = masks[0] | masks[1]
    full = token_kd_loss(student, teacher, mask)
    errors = [float((token_kd_loss(student, topk_of(teacher, k), mask) - full).abs()) for k in (1, 5, 20, 45, V)]
    assert errors[0] > 0.05
    assert all(later <= earlier + 1e-6 for earlier, later in itertools.pairwise(errors))
    assert errors[-1] < 1e-4


def test_chunked_equals_unchunked_values_and_gradients(logits, masks):
    student, teacher = logits
    reason, act = masks
    grads = []
    for chunk in (3, 1000):
        s = student.clone().requires_grad_(True)
        loss = sad_loss(s, teacher, reason, act, chunk=chunk) + token_kd_loss(s, topk_of(teacher, 7), reason, chunk=chunk)
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
