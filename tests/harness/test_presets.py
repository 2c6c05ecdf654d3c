"""The ``gpu`` preset's sizing: one env's pipeline (one seed) in <= 10 minutes of one H100/H200 by the
pipeline's own estimate, with its per-turn cost derived from the H200 anchors for the preset's own batch,
students with real capacity beyond their embeddings, and the teacher's origin (weights dequantised from a
Q4_1 GGUF) recorded in the manifest."""
from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import pytest
import torch
from transformers import AutoConfig, AutoTokenizer, LlamaForCausalLM

from distill.models import PRESETS as MODEL_PRESETS
from distill.models import _llama_config, count_parameters, resolve_model_path
from harness.experiment.pipeline import Pipeline, add_arguments, preset_from_args
from harness.experiment.presets import COSTS, COSTS_BY_ENV, ENV_MAX_STEPS, ENVS, PRESETS

GPU = PRESETS["gpu"]


def gpu_pipeline(root: Path, env: str, *options: str, preset: str = "gpu") -> Pipeline:
    """The pipeline ``agentdistill pipeline --env ENV --preset gpu OPTIONS`` would run (default methods)."""
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--env", env, "--preset", preset, *options])
    methods = tuple(m for m in args.methods.split(",") if m)
    return Pipeline(root, env, preset_from_args(args), methods, args.seeds, args.ablations, set(), "test")


@pytest.mark.parametrize("env", ENVS)
def test_gpu_preset_estimates_one_env_one_seed_within_ten_minutes(tmp_path, env):
    stages = gpu_pipeline(tmp_path, env).expected_seconds()
    assert sum(stages.values()) <= 600, {s: round(t) for s, t in stages.items()}
    # every LM stage plays the env's standard step limit (HotPotQA's agents end sooner), so ALFWorld's 50
    # steps cost the most
    alfworld = gpu_pipeline(tmp_path / "a", "alfworld").expected_seconds()
    if env != "alfworld":
        assert stages["teacher_eval"] < alfworld["teacher_eval"]
    assert ENV_MAX_STEPS["alfworld"] == 50 and GPU.max_steps is None and GPU.eval_episodes >= 100


def test_hotpotqa_episodes_count_four_steps_and_env_costs_override_known_keys(tmp_path, monkeypatch):
    """Trained HotPotQA agents finish in ~4 of the 7 steps, so its LM stages cost 4/7 of playing to the
    limit; an env's cost overrides only name COSTS' keys (a typo would silently change nothing)."""
    import harness.experiment.pipeline as pipeline_module

    def lm_part(stages):
        return stages["teacher_rollouts"] - COSTS["smol"]["startup"]

    counted = gpu_pipeline(tmp_path, "hotpotqa", preset="smol").expected_seconds()
    monkeypatch.setattr(pipeline_module, "EPISODE_STEPS", {})
    to_limit = gpu_pipeline(tmp_path, "hotpotqa", preset="smol").expected_seconds()
    assert lm_part(counted) == pytest.approx(lm_part(to_limit) * 4 / ENV_MAX_STEPS["hotpotqa"])
    for preset, by_env in COSTS_BY_ENV.items():
        for env, overrides in by_env.items():
            assert env in ENVS and set(overrides) <= set(COSTS[preset]) | {"constrained_turn"}, (preset, env)


def test_a_student_trains_at_its_own_measured_rate_in_the_estimate(tmp_path):
    """``--student smol-81m`` trains at its measured speed (STUDENT_SPEED, relative to smol-45m's rate on
    the env), not smol-45m's."""
    from harness.experiment.presets import STUDENT_SPEED

    def training(*options):
        pipeline = gpu_pipeline(tmp_path, "hotpotqa", "--methods", "sad", *options, preset="smol")
        return pipeline.expected_seconds()["students"] - COSTS["smol"]["startup"]

    ratio = 1 / STUDENT_SPEED["smol"]["smol-81m"]
    assert training("--student", "smol-81m") == pytest.approx(training() * ratio)
    assert training("--student", "/models/elsewhere/smol-81m") == pytest.approx(training() * ratio)


#: the longest turn of the scripted experts' demos a decoding round waits for (SmolLM2 tokens, 40 train
#: episodes per env): ALFWorld's first-turn plan, then its later turns over 50 rounds; WebShop; HotPotQA
DEMO_ROUND_TOKENS = {"alfworld": (127 + 49 * 58) / 50, "webshop": 100, "hotpotqa": 65}


def test_gpu_lm_cost_is_the_anchor_derivation_for_the_presets_batch():
    """COSTS["gpu"] / COSTS_BY_ENV["gpu"] are what the H200 anchors give for this preset's batch, new
    tokens, prompt length and workers (presets.py derives them); changing one without re-deriving fails."""
    step_s, python_per_sequence_s = 128 / 5328, 30e-6  # generate at batch 128 (anchors); the agent's loop
    achieved_flops, teacher_params = 90.7e12, 134.5e6  # the anchor's distillation step; SmolLM2-135M
    batch, new, prompt = GPU.policy_batch, GPU.max_new_tokens, GPU.max_length - GPU.max_new_tokens
    prefill_s = batch * prompt * 2 * teacher_params / achieved_flops

    def lm_step(tokens_a_round: float) -> float:  # a turn as the estimate counts it: / sqrt(workers)
        turn_s = (tokens_a_round * (step_s + batch * python_per_sequence_s) + prefill_s) / batch
        return turn_s * 64 / new * GPU.workers ** 0.5

    assert COSTS["gpu"]["lm_step"] == pytest.approx(lm_step(new), rel=0.03)
    for env, tokens in DEMO_ROUND_TOKENS.items():
        assert COSTS_BY_ENV["gpu"][env]["lm_step"] == pytest.approx(lm_step(tokens), rel=0.03), env
    # the derivation's assumptions: every LM stage plays in full batches of policy_batch episodes
    assert GPU.eval_episodes % GPU.policy_batch == 0 and GPU.rollout_episodes % GPU.policy_batch == 0
    full_fine_tuning = achieved_flops / (6 * teacher_params)
    assert COSTS["gpu"]["teacher_tokens_per_s"] == pytest.approx(full_fine_tuning, rel=0.03)


def test_gpu_preset_plays_its_episodes_in_one_batch_and_passes_lora_to_the_teacher(tmp_path):
    pipeline = gpu_pipeline(tmp_path, "webshop")
    assert pipeline._lm_kwargs(tmp_path / "teacher")["batch_size"] == GPU.policy_batch == 100
    assert "lora_rank" not in pipeline.teacher_unit().params  # full fine-tuning by default
    lora = Pipeline(tmp_path / "lora", "webshop", dataclasses.replace(GPU, teacher_lora_rank=8), ("sft",), 1,
                    False, set(), "test")
    assert lora.teacher_unit().params["lora_rank"] == 8
    tiny = gpu_pipeline(tmp_path / "tiny", "webshop", preset="tiny")
    assert "batch_size" not in tiny._lm_kwargs(tmp_path / "teacher")  # tiny's markers stay as they were


def test_gpu_students_have_real_capacity_beyond_their_embeddings():
    path = resolve_model_path("smollm2-135m")
    config, tokenizer = AutoConfig.from_pretrained(path).to_dict(), AutoTokenizer.from_pretrained(path)
    students = (*GPU.students, *GPU.ablation_students)
    assert "smol-15m" not in students and GPU.students == ("smol-45m",)
    shares = {}
    for name in students:
        with torch.device("meta"):
            model = LlamaForCausalLM(_llama_config(MODEL_PRESETS[name], tokenizer, config))
        shares[name] = 1 - model.model.embed_tokens.weight.numel() / count_parameters(model)
    assert all(share >= 0.35 for share in shares.values()), shares
    assert set(GPU.init_from_teacher) == {"smol-45m", "smol-81m"}  # the 576-wide ones start from its layers


def test_the_manifest_records_the_teachers_dequantised_q4_1_origin(tmp_path):
    pipeline = gpu_pipeline(tmp_path, "hotpotqa", "--student", "smol-25m")
    pipeline.write_manifest()
    origins = json.loads(pipeline.layout.manifest.read_text())["model_origins"]
    assert set(origins) == {"smollm2-135m", "smol-25m"}
    assert "dequantised" in origins["smollm2-135m"] and "Q4_1 GGUF" in origins["smollm2-135m"]
    assert origins["smol-25m"].startswith("built from a config")


def test_an_envs_own_preset_values_apply_to_that_env_only_and_knobs_still_win(tmp_path, monkeypatch):
    """``by_env`` gives one env its own budget (the teacher's steps, batch, learning rate): its pipeline's
    teacher unit trains with them, other envs keep the preset's, a command-line knob overrides both, and
    the estimate counts the teacher's own batch."""
    import harness.experiment.presets as presets_module

    smol = dataclasses.replace(PRESETS["smol"], by_env={
        "webshop": {"teacher_steps": 96, "teacher_batch_size": 4, "teacher_lr": 3e-4}})
    monkeypatch.setitem(presets_module.PRESETS, "smol", smol)
    webshop = gpu_pipeline(tmp_path / "w", "webshop", preset="smol")
    hotpotqa = gpu_pipeline(tmp_path / "h", "hotpotqa", preset="smol")
    ws, hp = webshop.preset, hotpotqa.preset
    assert (ws.teacher_steps, ws.teacher_batch, ws.teacher_lr) == (96, 4, 3e-4)
    assert ws.by_env == {} and ws.batch_size == smol.batch_size  # the students' batch
    assert (hp.teacher_steps, hp.teacher_batch) == (smol.teacher_steps, smol.batch_size)
    trained = webshop.teacher_unit().params
    assert (trained["max_steps"], trained["batch_size"], trained["micro_batch_size"], trained["lr"]) == (
        96, 4, smol.micro_batch_size, 3e-4)
    assert hotpotqa.teacher_unit().params["batch_size"] == smol.batch_size
    knob = gpu_pipeline(tmp_path / "k", "webshop", "--teacher-steps", "10", "--teacher-batch-size", "3",
                        preset="smol")
    assert (knob.preset.teacher_steps, knob.teacher_unit().params["micro_batch_size"]) == (10, 3)
    cost = COSTS["smol"]

    def teacher_s(pipeline):
        return pipeline.expected_seconds()["teacher"] - cost["startup"]

    same_batch = gpu_pipeline(tmp_path / "s", "webshop", "--teacher-batch-size", str(smol.batch_size),
                              preset="smol")
    assert teacher_s(webshop) == pytest.approx(teacher_s(same_batch) * 4 / smol.batch_size)
    with pytest.raises(ValueError, match="by_env"):
        dataclasses.replace(smol, by_env={"webshop": {"teacher_step": 1}})
    with pytest.raises(ValueError, match="not an env"):
        dataclasses.replace(smol, by_env={"web": {"teacher_steps": 1}})


def test_an_fp32_cpu_run_of_a_preset_costed_in_bf16_is_estimated_at_its_measured_slowdown(tmp_path):
    """smol's costs were measured in bf16: in fp32 on the CPU (no AMX / AVX512-BF16, or --precision fp32)
    training and play take FP32_CPU_SLOWDOWN times as long; tiny has no measured factor and is unchanged."""
    from harness.experiment.presets import FP32_CPU_SLOWDOWN

    def stages(preset, precision):
        pipeline = gpu_pipeline(tmp_path / f"{preset}-{precision}", "hotpotqa", "--methods", "sad",
                                "--precision", precision, preset=preset)
        assert pipeline.device() == "cpu"
        return pipeline.expected_seconds()

    slow, start = FP32_CPU_SLOWDOWN["smol"], COSTS["smol"]["startup"]
    bf16, fp32 = stages("smol", "bf16"), stages("smol", "fp32")
    for stage, factor in (("teacher", slow["train"]), ("students", slow["train"]),
                          ("teacher_rollouts", slow["play"]), ("student_eval", slow["play"])):
        assert fp32[stage] - start == pytest.approx((bf16[stage] - start) * factor), stage
    assert slow["train"] > 1 and slow["play"] > 1
    assert stages("tiny", "fp32") == stages("tiny", "bf16")
