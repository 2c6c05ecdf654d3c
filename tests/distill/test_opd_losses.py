"""On-policy distillation losses: each divergence against its definition, the properties a wrong
implementation would break (zero at the teacher, gradient only through the student, chunking, the limits
of JSD's β and skew KL's α), and how opd / sad_opd combine the student's own turns with guided ones."""
from __future__ import annotations

import typing

import pytest
import torch
import torch.nn.functional as F

from distill import config as distill_config
from distill.losses import (
    DIVERGENCES,
    divergence_per_token,
    forward_kl_per_token,
    jsd_loss,
    jsd_per_token,
    kl_per_token,
    nll_per_token,
    opd_loss,
    reverse_kl_loss,
    reverse_kl_per_token,
    sad_opd_loss,
    sft_loss,
    skew_kl_loss,
    skew_kl_per_token,
    token_kd_loss,
)

B, T, V = 2, 12, 50


@pytest.fixture
def logits():
    g = torch.Generator().manual_seed(0)
    student = torch.randn(B, T, V, generator=g) * 2
    teacher = torch.randn(B, T, V, generator=g) * 2
    return student, teacher


@pytest.fixture
def turns():
    """prompt 0-2, a student turn 3-6 (reason 3-4, act 5-6), observation 7, a guided turn 8-10 (reason 8,
    act 9-10), padding 11; (reason, act, completion, guided), each (B, T)."""
    reason = torch.zeros(B, T, dtype=torch.bool)
    act = torch.zeros(B, T, dtype=torch.bool)
    guided = torch.zeros(B, T, dtype=torch.bool)
    reason[:, 3:5] = True
    act[:, 5:7] = True
    reason[:, 8] = True
    act[:, 9:11] = True
    guided[:, 8:11] = True
    return reason, act, reason | act, guided


def probs(student: torch.Tensor, teacher: torch.Tensor, temperature: float = 1.0):
    """(p_S, p_T) in float64, computed independently of the code under test."""
    return (F.softmax(student.double() / temperature, -1), F.softmax(teacher.double() / temperature, -1))


def kl(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    return (p * (p.log() - q.log())).sum(-1)


def per_token(kind: str, student: torch.Tensor, teacher, temperature: float = 1.0, chunk: int = 256):
    return divergence_per_token(kind, student, teacher, temperature, chunk, beta=0.3, skew_alpha=0.2)


def topk_of(teacher: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    top = F.log_softmax(teacher, -1).topk(k, dim=-1)
    return top.indices, top.values


def test_divergence_names_are_the_configs():
    assert DIVERGENCES == ("reverse_kl", "forward_kl", "jsd", "skew_kl")
    assert typing.get_args(distill_config.Divergence) == DIVERGENCES


@pytest.mark.parametrize("temperature", [1.0, 2.0])
def test_each_divergence_matches_its_definition(logits, temperature):
    student, teacher = logits
    q, p = probs(student, teacher, temperature)
    beta, alpha = 0.3, 0.2
    mixture = beta * p + (1 - beta) * q
    expected = {
        "forward_kl": kl(p, q),
        "reverse_kl": kl(q, p),
        "jsd": beta * kl(p, mixture) + (1 - beta) * kl(q, mixture),
        "skew_kl": kl(p, alpha * p + (1 - alpha) * q),
    }
    for kind in DIVERGENCES:
        got = per_token(kind, student, teacher, temperature)
        assert got.dtype == torch.float32
        torch.testing.assert_close(got.double(), expected[kind], atol=1e-5, rtol=1e-4, msg=kind)


@pytest.mark.parametrize("temperature", [1.0, 2.0])
def test_every_divergence_and_opd_loss_is_zero_when_the_student_is_the_teacher(logits, turns, temperature):
    student, teacher = logits
    reason, act, completion, guided = turns
    for kind in DIVERGENCES:
        assert per_token(kind, teacher.clone(), teacher, temperature).abs().max() < 1e-5, kind
        assert per_token(kind, student, teacher, temperature)[completion].min() > 1e-3, kind
        no_guide = torch.zeros_like(guided)
        labels = teacher.argmax(-1)
        same = opd_loss(teacher.clone(), teacher, labels, completion, no_guide, temperature, divergence=kind)
        assert abs(float(same)) < 1e-5, kind
        same = sad_opd_loss(teacher.clone(), teacher, labels, reason, act, no_guide, 0.5, 2.0, temperature,
                            divergence=kind)
        assert abs(float(same)) < 1e-5, kind


def test_the_loss_functions_are_the_masked_mean_times_t_squared(logits, turns):
    student, teacher = logits
    _, _, completion, _ = turns
    temperature, n = 2.0, 40
    cases = {
        "reverse_kl": reverse_kl_loss(student, teacher, completion, temperature, normalizer=n),
        "jsd": jsd_loss(student, teacher, completion, temperature, beta=0.3, normalizer=n),
        "skew_kl": skew_kl_loss(student, teacher, completion, temperature, alpha=0.2, normalizer=n),
    }
    for kind, loss in cases.items():
        expected = temperature**2 * per_token(kind, student, teacher, temperature)[completion].sum() / n
        torch.testing.assert_close(loss, expected, msg=kind)
    mean = reverse_kl_loss(student, teacher, completion)  # default normaliser: the mask's count
    torch.testing.assert_close(mean, reverse_kl_per_token(student, teacher)[completion].mean())


def test_gradient_flows_only_through_the_student_and_only_on_masked_tokens(logits, turns):
    student, teacher = logits
    reason, act, completion, guided = turns
    labels = teacher.argmax(-1)
    losses = {kind: (lambda s, t, kind=kind: opd_loss(s, t, labels, completion, guided, 2.0, divergence=kind))
              for kind in DIVERGENCES}
    losses["sad_opd"] = lambda s, t: sad_opd_loss(s, t, labels, reason, act, guided, 0.5, 2.0)
    for name, loss_fn in losses.items():
        s = student.clone().requires_grad_(True)
        t = teacher.clone().requires_grad_(True)
        loss_fn(s, t).backward()
        assert t.grad is None, f"{name}: the teacher is a constant target"
        grad_norm = s.grad.norm(dim=-1)  # (B, T)
        assert torch.all(grad_norm[~completion] == 0), name
        assert torch.all(grad_norm[completion] > 0), name


@pytest.mark.parametrize("kind", DIVERGENCES)
def test_chunked_equals_unchunked_values_and_gradients(logits, turns, kind):
    student, teacher = logits
    reason, act, completion, guided = turns
    labels = teacher.argmax(-1)
    results = []
    for chunk in (5, 1000):
        s = student.clone().requires_grad_(True)
        loss = opd_loss(s, teacher, labels, completion, guided, 1.5, divergence=kind, beta=0.3,
                        skew_alpha=0.2, guided_loss="forward_kl", chunk=chunk)
        loss = loss + sad_opd_loss(s, teacher, labels, reason, act, guided, 0.3, 2.0, divergence=kind,
                                   chunk=chunk)
        loss.backward()
        results.append((loss.detach(), s.grad))
    torch.testing.assert_close(results[0][0], results[1][0])
    torch.testing.assert_close(results[0][1], results[1][1])
    torch.testing.assert_close(per_token(kind, student, teacher, chunk=5), per_token(kind, student, teacher))


def test_jsd_runs_from_forward_kl_at_beta_0_to_reverse_kl_at_beta_1(logits):
    student, teacher = logits
    forward, reverse = kl_per_token(student, teacher), reverse_kl_per_token(student, teacher)
    assert forward_kl_per_token is kl_per_token
    torch.testing.assert_close(jsd_per_token(student, teacher, beta=0.0), forward)
    torch.testing.assert_close(jsd_per_token(student, teacher, beta=1.0), reverse)
    # near the ends JSD(β) / β -> forward KL and JSD(β) / (1 − β) -> reverse KL (the GKD paper's limits)
    errors = []
    for eps in (1e-2, 1e-3, 1e-5):
        near_forward = jsd_per_token(student, teacher, beta=eps) / eps
        near_reverse = jsd_per_token(student, teacher, beta=1 - eps) / eps
        errors.append((float(((near_forward - forward) / forward).abs().max()),
                       float(((near_reverse - reverse) / reverse).abs().max())))
    assert errors[0][0] > errors[1][0] > errors[2][0] and errors[0][1] > errors[1][1] > errors[2][1]
    assert max(errors[-1]) < 0.01
    # β = 0.5 is the symmetric Jensen-Shannon divergence, bounded by log 2
    half = jsd_per_token(student, teacher, beta=0.5)
    torch.testing.assert_close(half, jsd_per_token(teacher, student, beta=0.5))
    assert float(half.max()) <= torch.log(torch.tensor(2.0)) + 1e-6
    with pytest.raises(ValueError, match=r"beta=1.5: the JSD's interpolation weight must be in \[0, 1\]"):
        jsd_per_token(student, teacher, beta=1.5)


def test_skew_kl_is_forward_kl_at_alpha_0_and_shrinks_as_alpha_grows(logits):
    student, teacher = logits
    forward = kl_per_token(student, teacher)
    torch.testing.assert_close(skew_kl_per_token(student, teacher, alpha=0.0), forward)
    previous = forward
    for alpha in (0.1, 0.4, 0.8):
        skew = skew_kl_per_token(student, teacher, alpha=alpha)
        assert torch.all(skew <= (1 - alpha) * forward + 1e-6), alpha  # KL is convex in its 2nd argument
        assert torch.all(skew < previous), alpha
        previous = skew
    with pytest.raises(ValueError, match=r"alpha=1.0: the skew KL's mixing weight must be in \[0, 1\)"):
        skew_kl_per_token(student, teacher, alpha=1.0)


@pytest.mark.parametrize("kind", ["reverse_kl", "jsd", "skew_kl"])
def test_divergences_that_need_full_logits_refuse_a_topk_teacher(logits, turns, kind):
    student, teacher = logits
    _, _, completion, guided = turns
    with pytest.raises(ValueError, match=f"divergence '{kind}' needs the teacher's full logits, but the "
                                         "teacher is logged top-k"):
        opd_loss(student, topk_of(teacher, 5), teacher.argmax(-1), completion, guided, divergence=kind)
    with pytest.raises(ValueError, match="share a vocabulary"):
        per_token(kind, student, teacher[..., :-1])
    # forward KL works over top-k buckets, as token-KD's does
    bucketed = opd_loss(student, topk_of(teacher, 5), teacher.argmax(-1), completion, guided,
                        divergence="forward_kl")
    assert torch.isfinite(bucketed) and bucketed > 0


def test_opd_is_the_divergence_on_own_turns_plus_cross_entropy_on_guided_ones(logits, turns):
    student, teacher = logits
    _, _, completion, guided = turns
    labels = torch.randint(0, V, (B, T), generator=torch.Generator().manual_seed(1))
    temperature, n = 2.0, 50
    own, guide = completion & ~guided, completion & guided
    loss = opd_loss(student, teacher, labels, completion, guided, temperature, divergence="reverse_kl",
                    normalizer=n)
    divergence = reverse_kl_per_token(student, teacher, temperature)
    nll = nll_per_token(student, labels)
    expected = (temperature**2 * divergence[own].sum() + nll[guide].sum()) / n
    torch.testing.assert_close(loss, expected)
    # guided tokens only: imitation learning on the guide's tokens
    only_guided = opd_loss(student, teacher, labels, guide, guided)
    torch.testing.assert_close(only_guided, sft_loss(student, labels, guide))
    # guided_loss="forward_kl": token-KD on the guide's tokens instead
    kd = opd_loss(student, teacher, labels, guide, guided, temperature, guided_loss="forward_kl")
    torch.testing.assert_close(kd, token_kd_loss(student, teacher, guide, temperature))
    # no guided turn: the divergence's masked mean over the completion
    no_guide = torch.zeros_like(guided)
    torch.testing.assert_close(opd_loss(student, teacher, labels, completion, no_guide),
                               reverse_kl_loss(student, teacher, completion))


@pytest.mark.parametrize("kind", DIVERGENCES)
def test_sad_opd_with_unit_lambdas_is_opd(logits, turns, kind):
    student, teacher = logits
    reason, act, completion, guided = turns
    labels = teacher.argmax(-1)
    for n in (None, 77):
        opd = opd_loss(student, teacher, labels, completion, guided, 2.0, divergence=kind, normalizer=n)
        sad = sad_opd_loss(student, teacher, labels, reason, act, guided, 1.0, 1.0, 2.0, divergence=kind,
                           normalizer=n)
        assert abs(float(sad - opd)) < 1e-6, (kind, n)


def test_sad_opd_weighs_the_students_own_spans_and_leaves_guided_turns_unweighted(logits, turns):
    student, teacher = logits
    reason, act, completion, guided = turns
    labels = teacher.argmax(-1)
    d = reverse_kl_per_token(student, teacher)
    nll = nll_per_token(student, labels)
    own_reason, own_act, guide = reason & ~guided, act & ~guided, completion & guided
    got = sad_opd_loss(student, teacher, labels, reason, act, guided, 0.3, 2.0)
    expected = (0.3 * d[own_reason].sum() + 2.0 * d[own_act].sum() + nll[guide].sum()) / completion.sum()
    torch.testing.assert_close(got, expected)
    per_span = sad_opd_loss(student, teacher, labels, reason, act, guided, 0.3, 2.0,
                            span_norm="per_span_mean")
    expected = 0.3 * d[own_reason].mean() + 2.0 * d[own_act].mean() + nll[guide].sum() / completion.sum()
    torch.testing.assert_close(per_span, expected)
    with pytest.raises(ValueError, match="overlap"):
        sad_opd_loss(student, teacher, labels, reason, reason, guided)


def test_a_micro_batch_of_guided_turns_only_skips_the_divergence_but_still_backpropagates(logits, turns):
    student, teacher = logits
    _, _, completion, _ = turns
    labels = teacher.argmax(-1)
    s = student.clone().requires_grad_(True)
    # a top-k teacher would be refused by reverse KL: the divergence is not computed when no own token exists
    loss = opd_loss(s, topk_of(teacher, 3), labels, completion, completion.clone())
    torch.testing.assert_close(loss, sft_loss(student, labels, completion))
    loss.backward()
    assert torch.isfinite(s.grad).all() and s.grad.abs().sum() > 0
    empty = torch.zeros_like(completion)
    s = student.clone().requires_grad_(True)
    nothing = opd_loss(s, teacher, labels, empty, empty)
    nothing.backward()  # no loss token (a depth limit can empty a micro-batch): zero, not an error
    assert float(nothing.detach()) == 0.0 and torch.all(s.grad == 0)


def test_bad_names_are_clear_errors(logits, turns):
    student, teacher = logits
    _, _, completion, guided = turns
    labels = teacher.argmax(-1)
    with pytest.raises(ValueError, match=r"divergence='kl': expected one of \['reverse_kl', 'forward_kl', "):
        opd_loss(student, teacher, labels, completion, guided, divergence="kl")
    with pytest.raises(ValueError, match=r"guided_loss='ce': expected one of \['sft', 'forward_kl'\]"):
        opd_loss(student, teacher, labels, completion, guided, guided_loss="ce")
    with pytest.raises(ValueError, match=r"span_norm='mean': expected one of"):
        sad_opd_loss(student, teacher, labels, completion, torch.zeros_like(guided), guided, span_norm="mean")
