"""On-policy distillation with a served teacher (issue 30): a round's training scores the student's own tokens
with a vLLM-format server's prompt log-probs (:class:`tests.agents.vllm_like_server.VLLMLikeServer` serving
the tiny preset teacher on 127.0.0.1) instead of a teacher model, trains on them as logged top-k, and
rounds.json and the report say so."""
from __future__ import annotations

import json

import pytest
from safetensors.torch import load_file

from distill.config import OPDConfig, SADOPDConfig
from harness.experiment.opd import OPDSchedule, run_opd
from harness.report.tables import teacher_signal
from tests.agents.vllm_like_server import VLLMLikeServer
from tests.harness.opd_models import LM, build_opd_models

#: one optimizer step of two sequences, on CPU, nothing extra written
TRAIN = {"role": "student", "batch_size": 2, "micro_batch_size": 2, "max_length": 512, "lr": 1e-3,
         "warmup_steps": 0, "eval_every": 0, "eval_fraction": 0.0, "save_every": 1, "device": "cpu",
         "progress": False, "tensorboard": False, "divergence": "forward_kl"}
K = 8


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return build_opd_models(tmp_path_factory.mktemp("opd-served-models"))


def test_opd_with_a_served_teacher_runs_a_round_and_records_the_signal(models, tmp_path):
    teacher, student = models
    out = tmp_path / "opd"
    with VLLMLikeServer(str(teacher)) as server:
        settings = {**TRAIN, "teacher_url": server.base_url, "teacher_topk": K}
        result = run_opd(env="webshop", method="opd", student=student, teacher=None, out=out,
                         schedule=OPDSchedule(rounds=1, episodes_per_round=2, steps_per_round=1,
                                              guide="none"),
                         train_settings=settings, agent_kwargs=LM, max_steps=3, workers=0, seed=0)
        scored = [r["body"] for r in server.requests if r["path"] == "/v1/completions"]
    (record,) = json.loads((out / "rounds.json").read_text())
    assert (record["teacher_signal"], record["teacher_topk"], record["teacher_url"]) == (
        "served_topk", K, server.base_url)
    assert result["teacher_signal"] == "served_topk" and record["scoring_s"] > 0
    assert teacher_signal(out) == f"served top-k (k={K})"  # the report's "teacher signal" column
    # the student's sequences went to the server as id lists with prompt_logprobs, and the student trained
    assert scored and all(b["prompt_logprobs"] == K and isinstance(b["prompt"][0], list) for b in scored)
    assert record["student_tokens"] > 0
    before, after = load_file(student / "model.safetensors"), load_file(out / "model.safetensors")
    assert any(not before[name].equal(after[name]) for name in before)


def test_a_served_teacher_refuses_full_logit_divergences_credentials_and_live_logits():
    base = {"data": ["unused"], "out": "unused", "model": "tiny-student",
            "teacher_url": "http://127.0.0.1:8000/v1"}
    assert OPDConfig(**base, divergence="forward_kl").teacher_signal == "topk"
    for method in (OPDConfig, SADOPDConfig):
        with pytest.raises(ValueError, match="divergence 'reverse_kl' needs the teacher's full logits, but "
                                             "--teacher-url gives top-k"):
            method(**base)
    with pytest.raises(ValueError, match="teacher_url: holds credentials"):
        OPDConfig(**{**base, "teacher_url": "http://user:hunter22@127.0.0.1:8000/v1"},
                  divergence="forward_kl")
    with pytest.raises(ValueError, match="teacher_signal='logits': --teacher-url scores with the served"):
        OPDConfig(**base, divergence="forward_kl", teacher="teacher-dir", teacher_signal="logits")
    with pytest.raises(ValueError, match="teacher: opd scores .* give --teacher PATH or --teacher-url URL"):
        OPDConfig(data=["unused"], out="unused", model="tiny-student")
