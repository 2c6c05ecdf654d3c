"""On-policy methods in `agentdistill pipeline`: the units opd / sad_opd build (same start, seed and optimizer
settings as the off-policy students, the round budget, SAD's λ for sad_opd), the options' errors, and the
command end to end at toy size with `--methods sft,opd,sad_opd` (rows, student tokens, the round plot)."""
from __future__ import annotations

import csv
import json

import pytest
from safetensors.torch import load_file

from harness import cli
from harness.errors import UserError
from harness.experiment.pipeline import OnPolicySettings, Pipeline
from harness.experiment.presets import PRESETS
from harness.experiment.stages import read_marker

#: the smoke test's smallest useful budget (tests/harness/test_pipeline_smoke.py), and two short rounds
BUDGET = ["--demo-episodes", "8", "--teacher-steps", "8", "--rollout-episodes", "4", "--eval-episodes", "3",
          "--student-steps", "4", "--offline-states", "4", "--max-length", "512", "--max-new-tokens", "24",
          "--max-steps", "4", "--batch-size", "2", "--workers", "0",
          "--opd-rounds", "2", "--opd-episodes", "2", "--opd-steps", "2"]


def _command(runs, *extra: str) -> list[str]:
    return ["pipeline", "--env", "webshop", "--preset", "tiny", "--runs-dir", str(runs), "--run", "opd",
            "--methods", "sft,opd,sad_opd", *BUDGET, *extra]


def test_on_policy_units_share_the_off_policy_start_and_record_their_rounds(tmp_path):
    preset = PRESETS["tiny"]
    pipeline = Pipeline(tmp_path, "webshop", preset, ("sft", "opd", "sad_opd"), seeds=2, ablations=False,
                        forced=set(), command="test",
                        on_policy=OnPolicySettings(guide="expert", guide_p0=0.5, divergence="jsd"))
    units = {(s.method, s.seed): pipeline.student_unit(s) for s in pipeline.specs}
    sft, opd, sad_opd = (units[(m, 1)].params for m in ("sft", "opd", "sad_opd"))
    steps = preset.student_steps // preset.opd_rounds  # 200 // 3: the off-policy budget spread over rounds
    assert (opd["rounds"], opd["steps_per_round"], opd["total_steps"]) == (3, steps, 3 * steps)
    schedule = (opd["guide"], opd["guide_p0"], opd["divergence"], opd["depth_curriculum"])
    assert schedule == ("expert", 0.5, "jsd", False)
    assert opd["episodes_per_round"] == preset.opd_episodes and opd["env_max_steps"] == 15
    # the same student, init rule, seed, learning rate and batches as the off-policy students of that seed
    for key in ("seed", "lr", "batch_size", "micro_batch_size", "max_length", "device", "teacher"):
        assert opd[key] == sad_opd[key] == sft[key], key
    assert (opd["student"], opd["student_init"], sft["model"]) == ("tiny-student", "scratch", "tiny-student")
    assert (sad_opd["lambda_reason"], sad_opd["lambda_act"]) == (1.0, 2.0) and "lambda_act" not in opd
    # plays as the evaluated students play (the model itself changes every round)
    assert opd["agent_kwargs"] == {"max_new_tokens": 64, "max_prompt_tokens": 1536 - 64, "device": "cpu"}
    assert units[("opd", 1)].inputs == (pipeline.layout.teacher,)  # its data is its own, not the teacher's
    assert units[("opd", 0)].path == tmp_path / "students" / "tiny-student_opd_s0"
    assert pipeline.expected_seconds()["students"] > 0


def test_bad_on_policy_options_are_errors_before_any_stage(tmp_path, capsys):
    cases = {
        ("--guide-p0", "1.5"): "--guide-p0 1.5: expected a probability in [0, 1]",
        ("--opd-rounds", "0"): "--opd-rounds must be >= 1, got 0",
        ("--methods", "sft,dagger"): "--methods 'sft,dagger': expected a comma-separated subset of sad, "
                                     "token_kd, sft, opd, sad_opd",
    }
    for extra, message in cases.items():
        assert cli.main(_command(tmp_path, *extra)) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "opd").exists()
    with pytest.raises(UserError, match="--divergence 'tv': expected one of reverse_kl"):
        OnPolicySettings(divergence="tv")


@pytest.mark.slow
def test_pipeline_with_on_policy_methods_end_to_end(tmp_path):
    assert cli.main(_command(tmp_path, "--guide-p0", "1.0")) == 0
    root = tmp_path / "opd"
    labels = sorted(p.name for p in (root / "students").iterdir())
    assert labels == ["tiny-student_opd_s0", "tiny-student_sad_opd_s0", "tiny-student_sft_s0"]
    # the on-policy students start from the off-policy student's initial weights
    initial = load_file(root / "student_init" / "tiny-student_opd_s0" / "model.safetensors")
    sft_init = load_file(root / "students" / "tiny-student_sft_s0" / "init" / "model.safetensors")
    assert initial.keys() == sft_init.keys() and all((initial[k] == sft_init[k]).all() for k in initial)
    rounds = {}
    for label in ("tiny-student_opd_s0", "tiny-student_sad_opd_s0"):
        student = root / "students" / label
        rounds[label] = json.loads((student / "rounds.json").read_text())
        assert [(r["round"], r["guide"], r["guide_p"]) for r in rounds[label]] == [(0, "teacher", 1.0),
                                                                                (1, "teacher", 0.0)]
        assert all(r["student_tokens"] > 0 and r["episodes"] == 2 for r in rounds[label])
        # the final model is the last round's, in the student's directory like every student's
        final = load_file(student / "model.safetensors")
        last = load_file(student / "round_1" / "model" / "model.safetensors")
        assert all((final[k] == last[k]).all() for k in final)
        assert read_marker(root / "student_eval" / label) is not None
        assert json.loads((root / "offline" / label / "metrics.json").read_text())["states"] == 4
    params = read_marker(root / "students" / "tiny-student_sad_opd_s0")["params"]
    assert (params["rounds"], params["steps_per_round"], params["lambda_act"]) == (2, 2, 2.0)
    # the report: the rows, the student tokens each trained on, the rounds and their plot
    md = (root / "report.md").read_text()
    for row in ("| tiny-student · opd |", "| tiny-student · sad_opd |", "| tiny-student · sft |"):
        assert row in md
    records = {r["agent"]: r for r in csv.DictReader((root / "report.csv").open())}
    for label, method in (("tiny-student_opd_s0", "opd"), ("tiny-student_sad_opd_s0", "sad_opd")):
        tokens = sum(r["student_tokens"] for r in rounds[label])
        assert float(records[f"tiny-student · {method}"]["student_tokens_mean"]) == tokens
        success = rounds[label][0]["success_rate"]
        round_zero = (f"| tiny-student · {method} | 0 | 0 | 0 | 1.0 | teacher | 1.00 | forward_kl | all | 2 "
                      f"| {success:.2f} |")
        assert round_zero in md
    sft_summary = json.loads((root / "students" / "tiny-student_sft_s0" / "train_summary.json").read_text())
    assert float(records["tiny-student · sft"]["student_tokens_mean"]) == sft_summary["student_tokens"] > 0
    assert (root / "plots" / "opd_rounds.png").stat().st_size > 1000 and "plots/opd_rounds.png" in md
    for pair in ("on-policy KD (OPD) − imitation (SFT)", "on-policy SAD (span OPD) − on-policy KD (OPD)"):
        assert f"| tiny-student | {pair} | success |" in md
    manifest = json.loads((root / "pipeline.json").read_text())
    assert manifest["on_policy"]["rounds"] == 2 and "--methods sft,opd,sad_opd" in manifest["command"]
    assert "--opd-rounds 2" in manifest["command"]
