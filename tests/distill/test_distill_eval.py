"""A fair comparison in the trainer: SAD with unit λs trains exactly what token-KD trains, and the
held-out curves report the full-vocabulary KL against the teacher model beside the logged top-k's
bucket KL, never one under the other's name."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from distill.config import SADConfig, TokenKDConfig
from distill.data import collate, encode_episodes, load_episodes
from distill.models import build_tiny
from distill.train import Runtime, evaluate, train

SMALL = {"batch_size": 4, "micro_batch_size": 2, "max_length": 384, "lr": 3e-3, "warmup_steps": 1,
         "eval_fraction": 0.2, "progress": False, "tensorboard": False, "seed": 1}


def metrics(run: Path) -> list[dict[str, str]]:
    with (run / "metrics.csv").open() as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("signal", ["topk", "logits"])
def test_sad_with_unit_lambdas_trains_exactly_like_token_kd(distill_root, teacher_run, tiny_teacher, signal):
    runs = []
    for config_class in (SADConfig, TokenKDConfig):
        out = distill_root / f"fair-{config_class.method}-{signal}"
        runs.append(train(config_class(
            data=[str(teacher_run)], out=str(out), model="tiny-student", teacher=str(tiny_teacher),
            teacher_signal=signal, max_steps=2, eval_every=2, save_every=2, **SMALL,
        )))
    sad, kd = (metrics(run) for run in runs)
    for a, b in zip(sad, kd, strict=True):
        for key in ("loss", "eval_loss", "eval_kl_reason", "eval_kl_act", "grad_norm"):
            if a[key] or b[key]:
                assert float(a[key]) == pytest.approx(float(b[key]), rel=1e-5, abs=1e-6), (key, a, b)


@pytest.fixture(scope="module")
def heldout(teacher_run, tiny_teacher):
    tokenizer = AutoTokenizer.from_pretrained(tiny_teacher)
    examples = encode_episodes(load_episodes([teacher_run])[:3], tokenizer, 384)
    return tokenizer, examples


@torch.no_grad()
def test_eval_reports_full_kl_to_the_teacher_model_and_labels_the_bucket_kl(
    distill_root, tiny_teacher, heldout
):
    tokenizer, examples = heldout
    student_dir = build_tiny(
        [], distill_root / "eval-student", "tiny-student", tokenizer_from=tiny_teacher, seed=3
    )
    student = AutoModelForCausalLM.from_pretrained(student_dir).eval()
    teacher = AutoModelForCausalLM.from_pretrained(tiny_teacher).eval()
    config = SADConfig(data=["unused"], out=str(distill_root / "unused"), teacher_signal="topk", **SMALL)
    runtime = Runtime(torch.device("cpu"))

    got = evaluate(config, student, teacher, "topk", examples, 0, runtime)
    # the full KL, recomputed here from its definition over every held-out reason / act token
    batch = collate(examples, 0, topk=True)
    inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
    log_q = torch.log_softmax(student(**inputs).logits, -1)  # (B, T, V)
    log_p = torch.log_softmax(teacher(**inputs).logits, -1)  # (B, T, V)
    kl = (log_p.exp() * (log_p - log_q)).sum(-1)  # (B, T)
    assert got["eval_kl_reason"] == pytest.approx(float(kl[batch["reason_mask"]].mean()), rel=1e-4)
    assert got["eval_kl_act"] == pytest.approx(float(kl[batch["act_mask"]].mean()), rel=1e-4)
    # coarse-graining to k + 1 buckets can only lose divergence: the bucket KL is a lower bound
    assert got["eval_bucket_kl_reason"] < got["eval_kl_reason"]
    assert got["eval_bucket_kl_act"] < got["eval_kl_act"]

    # logged top-k alone: no full KL is claimed, the bucket KL keeps its own name
    alone = evaluate(config, student, None, "topk", examples, 0, runtime)
    assert "eval_kl_reason" not in alone and "eval_kl_act" not in alone
    assert alone["eval_bucket_kl_reason"] == pytest.approx(got["eval_bucket_kl_reason"])

    # a student equal to the teacher: both are 0
    same = evaluate(config, teacher, teacher, "topk", examples, 0, runtime)
    for key in ("eval_kl_reason", "eval_kl_act", "eval_bucket_kl_reason", "eval_bucket_kl_act"):
        assert abs(same[key]) < 1e-5, key


def test_held_out_evaluations_fall_every_interval_and_once_at_the_end(distill_root, teacher_run):
    """7 steps evaluated every 3: at steps 3 and 7; step 6, one step before the end, is left to the final
    evaluation rather than run twice in a row."""
    run = train(TokenKDConfig(
        data=[str(teacher_run)], out=str(distill_root / "eval-cadence"), model="tiny-student",
        teacher_signal="topk", max_steps=7, eval_every=3, save_every=7, **SMALL,
    ))
    assert [int(r["step"]) for r in metrics(run) if r["eval_loss"]] == [3, 7]


@torch.no_grad()
def test_kept_teacher_logits_give_the_same_metrics_without_a_second_teacher_pass(
    distill_root, tiny_teacher, heldout, monkeypatch
):
    """The trainer keeps the frozen teacher's held-out logits between evaluations: a second evaluation
    runs no teacher forward and reports what a fresh one reports; past its byte budget it recomputes."""
    import distill.train as train_module
    from distill.train import HeldOutTeacher

    tokenizer, examples = heldout
    student_dir = build_tiny(
        [], distill_root / "kept-student", "tiny-student", tokenizer_from=tiny_teacher, seed=4
    )
    student = AutoModelForCausalLM.from_pretrained(student_dir).eval()
    teacher = AutoModelForCausalLM.from_pretrained(tiny_teacher).eval()
    passes, teacher_of = [], train_module.teacher_of  # the teacher signals evaluate asks for

    def counted(*args):
        passes.append(args[-1])
        return teacher_of(*args)

    monkeypatch.setattr(train_module, "teacher_of", counted)
    config = SADConfig(data=["unused"], out=str(distill_root / "unused"), teacher_signal="topk", **SMALL)
    runtime = Runtime(torch.device("cpu"))

    def teacher_passes(held_out_teacher=None):
        before = passes.count("logits")
        got = evaluate(config, student, teacher, "topk", examples, 0, runtime, held_out_teacher)
        return got, passes.count("logits") - before

    fresh, chunks = teacher_passes()
    kept = HeldOutTeacher()
    assert chunks > 1 and teacher_passes(kept) == (fresh, chunks) and teacher_passes(kept) == (fresh, 0)
    tight = HeldOutTeacher(max_bytes=kept.get(0).nbytes)  # room for the first micro-batch only
    assert teacher_passes(tight) == (fresh, chunks) and teacher_passes(tight) == (fresh, chunks - 1)
