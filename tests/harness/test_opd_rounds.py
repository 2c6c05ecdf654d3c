"""On-policy distillation rounds: the guide's probability and the depth limit per round, and a real
two-round run on WebShop (guided rollouts -> live-teacher training -> the next round plays the new model)
that writes rounds.json, installs the final model and resumes round by round."""
from __future__ import annotations

import json

import pytest

from distill.models import MARKER
from harness.experiment.opd import OPDSchedule, depth_limit, guide_probability, run_opd
from harness.logs import read_episodes
from tests.harness.opd_models import LM, build_opd_models

#: one optimizer step of two sequences a round, on CPU, nothing extra written
TRAIN = {"role": "student", "batch_size": 2, "micro_batch_size": 2, "max_length": 512, "lr": 1e-3,
         "warmup_steps": 0, "eval_every": 0, "eval_fraction": 0.0, "save_every": 1, "device": "cpu",
         "progress": False, "tensorboard": False}
SCHEDULE = OPDSchedule(rounds=2, episodes_per_round=2, steps_per_round=1, guide="teacher", guide_p0=1.0,
                       depth_curriculum=True)


def test_the_guide_probability_decays_linearly_to_zero_at_the_last_round():
    assert [guide_probability(OPDSchedule(rounds=3), r) for r in range(3)] == [1.0, 0.5, 0.0]
    decay = [guide_probability(OPDSchedule(rounds=5, guide_p0=0.8), r) for r in range(5)]
    assert decay == pytest.approx([0.8, 0.6, 0.4, 0.2, 0.0])
    assert [guide_probability(OPDSchedule(rounds=3, guide="none"), r) for r in range(3)] == [0.0] * 3
    assert guide_probability(OPDSchedule(rounds=1), 0) == 0.0
    with pytest.raises(ValueError, match="round 3: expected 0..2 of 3 rounds"):
        guide_probability(OPDSchedule(rounds=3), 3)


def test_depth_limits_grow_to_every_turn():
    curriculum = OPDSchedule(rounds=3, depth_curriculum=True)
    assert [depth_limit(curriculum, r, 15) for r in range(3)] == [5, 10, 0]
    four = OPDSchedule(rounds=4, depth_curriculum=True)
    assert [depth_limit(four, r, 50) for r in range(4)] == [13, 25, 38, 0]
    assert [depth_limit(OPDSchedule(rounds=3), r, 15) for r in range(3)] == [0, 0, 0]
    with pytest.raises(ValueError, match="max_steps=0: expected >= 1"):
        depth_limit(curriculum, 0, 0)


def test_bad_schedules_are_refused():
    with pytest.raises(ValueError, match=r"OPDSchedule.rounds=0: expected >= 1"):
        OPDSchedule(rounds=0)
    with pytest.raises(ValueError, match="OPDSchedule.guide='oracle': expected one of teacher, expert, none"):
        OPDSchedule(guide="oracle")
    with pytest.raises(ValueError, match=r"OPDSchedule.guide_p0=1.2: expected a probability in \[0, 1\]"):
        OPDSchedule(guide_p0=1.2)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return build_opd_models(tmp_path_factory.mktemp("opd-models"))


def opd(models, out, schedule: OPDSchedule = SCHEDULE, method: str = "opd") -> dict:
    teacher, student = models
    return run_opd(env="webshop", method=method, student=student, teacher=teacher, out=out, schedule=schedule,
                   train_settings=TRAIN, agent_kwargs=LM, max_steps=3, workers=0, seed=0)


def test_two_rounds_play_train_record_and_resume(models, tmp_path):
    out = tmp_path / "opd"
    result = opd(models, out)
    records = json.loads((out / "rounds.json").read_text())
    assert result["rounds"] == records
    assert [(r["round"], r["guide"], r["guide_p"], r["depth_limit"]) for r in records] == [
        (0, "teacher", 1.0, 2), (1, "teacher", 0.0, 0)]
    # round 0: the teacher plays every turn (p = 1); round 1: the student alone (p = 0)
    assert [r["guided_turn_fraction"] for r in records] == [1.0, 0.0]
    for r, record in enumerate(records):
        steps = read_episodes(out / f"round_{r}" / "rollouts")
        assert steps["guided"].tolist() == [r == 0] * len(steps)
        assert record["episodes"] == 2 and record["rollout_s"] > 0 and record["train_wall_s"] > 0
        assert record["scoring_s"] >= 0 and record["train_s"] >= 0  # the trainer's time split, read back
    # round 1 plays round 0's model and continues its training (one training from the initial student);
    # the final model is installed in out
    played = json.loads((out / "round_1" / "rollouts" / "run.json").read_text())
    assert played["agent_kwargs"]["model"] == str(out / "round_0" / "model")
    marker = json.loads((out / MARKER).read_text())
    assert (marker["method"], marker["base_model"]) == ("opd", str(models[1]))
    final = out / "round_1" / "model" / "model.safetensors"
    assert (out / "model.safetensors").read_bytes() == final.read_bytes()
    assert (out / "round_0" / "model" / "model.safetensors").read_bytes() != final.read_bytes()

    # a second call finds every round done: nothing is played or trained again
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file() and "round_" in str(p)}
    assert opd(models, out)["rounds"] == records
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    # a round that crashed after its rollouts keeps them and finishes its training from the checkpoint
    (out / "round_1" / "DONE").unlink()
    again = opd(models, out)["rounds"]
    assert again[1]["rollout_s"] == records[1]["rollout_s"] and (out / "round_1" / "DONE").is_file()


def test_a_changed_schedule_or_an_off_policy_method_is_refused(models, tmp_path):
    out = tmp_path / "opd"
    with pytest.raises(ValueError, match="method 'sad': expected an on-policy method"):
        opd(models, out, method="sad")
    (out / "round_0").mkdir(parents=True)
    (out / "round_0" / "DONE").write_text(json.dumps({"round": 0, "method": "opd", "guide": "teacher",
                                                     "guide_p": 0.5, "depth_limit": 2, "steps": 1,
                                                     "total_steps": 2, "task_offset": 0,
                                                     "rollout_temperature": 1.0}))
    with pytest.raises(ValueError, match=r"round_0/DONE records a round played with other settings "
                                         r"\(guide_p: was 0.5, now 1.0\)"):
        opd(models, out)
