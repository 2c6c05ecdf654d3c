"""The teacher curve script at a tiny budget: one fine-tuning schedule stopped at each point, each stop
exported and played on held-out train tasks, and ``curve.json`` written (resumable)."""
from __future__ import annotations

import json

import pandas as pd

from harness.experiment.teacher_curve import main

ARGS = ["--env", "webshop", "--model", "tiny", "--demos", "4", "--steps", "1,2", "--episodes", "1",
        "--max-length", "1024", "--batch-size", "2", "--micro-batch-size", "2", "--warmup-steps", "1",
        "--max-new-tokens", "16", "--workers", "0"]


def test_the_curve_stops_one_schedule_at_each_point_and_plays_held_out_tasks(tmp_path):
    out = tmp_path / "curve"
    assert main([*ARGS, "--out", str(out)]) == 0
    record = json.loads((out / "curve.json").read_text())
    first, second = record["points"]
    assert (first["steps"], second["steps"]) == (1, 2)
    assert 0 < first["tokens"] < second["tokens"] and first["loss_tokens"] < second["loss_tokens"]
    assert record["held_out_tasks"] == [4, 4]  # the tasks after the demos'
    run = json.loads((out / "play_step_2" / "run.json").read_text())
    assert run["task_offset"] == 4 and run["split"] == "train"
    assert (out / "model_step_1" / "model.safetensors").is_file()
    # each exported stop says what it is: a teacher of this env, at its own step (not the schedule's last)
    record = json.loads((out / "model_step_1" / "agentdistill.json").read_text())
    assert (record["kind"], record["env"], record["steps"]) == ("teacher", "webshop", 1)
    assert record["base_model"] == "tiny" and record["method"] == "sft"
    # one training: its metrics.csv holds steps 1 and 2 once each (a header and two rows)
    lines = (out / "teacher" / "metrics.csv").read_text().splitlines()
    assert len(lines) == 3
    # a rerun reads the finished points back instead of playing them again
    (out / "play_step_1" / "summary.json").unlink()
    assert main([*ARGS, "--out", str(out)]) == 0
    assert not (out / "play_step_1" / "summary.json").exists()


def test_the_dagger_round_trains_on_the_experts_labels_of_the_teachers_own_states(tmp_path):
    out = tmp_path / "curve"
    args = [*ARGS[:ARGS.index("--steps")], "--steps", "1", *ARGS[ARGS.index("--steps") + 2:]]
    assert main([*args, "--dagger-steps", "1", "--dagger-episodes", "2", "--dagger-control",
                 "--out", str(out)]) == 0
    dagger, control = json.loads((out / "curve.json").read_text())["dagger"]
    assert (dagger["arm"], control["arm"]) == ("dagger", "control")
    assert dagger["after_steps"] == control["after_steps"] == 1 and dagger["steps"] == control["steps"] == 1
    # the teacher played the two train tasks after the demos' (4) and the held-out one (1)
    assert json.loads((out / "dagger_rollouts" / "run.json").read_text())["task_offset"] == 5
    assert dagger["played_tasks"] == [5, 6]
    played = pd.read_parquet(out / "dagger_rollouts" / "episodes.parquet")
    assert dagger["states"] == len(played) and dagger["diverged_episodes"] == 0
    # both arms start from the curve's model; only the DAgger arm trains on the expert's turns alone
    for arm, loss_on in (("dagger", "guided"), ("control", "completion")):
        record = json.loads((out / f"{arm}_teacher" / "agentdistill.json").read_text())
        assert record["loss_on"] == loss_on and record["base_model"] == str(out / "model_step_1")
        assert (out / f"{arm}_play" / "summary.json").is_file()


def test_a_lora_curve_trains_only_the_adapters_and_exports_them_merged(tmp_path):
    from safetensors.torch import load_file

    out = tmp_path / "curve"
    args = [*ARGS[:ARGS.index("--steps")], "--steps", "1", *ARGS[ARGS.index("--steps") + 2:]]
    assert main([*args, "--lora-rank", "2", "--lora-alpha", "4", "--lr", "1e-2", "--out", str(out)]) == 0
    assert json.loads((out / "curve.json").read_text())["lora"] == {"lora_rank": 2, "lora_alpha": 4.0}
    base = load_file(out / "teacher" / "init" / "model.safetensors")
    tuned = load_file(out / "model_step_1" / "model.safetensors")
    assert tuned.keys() == base.keys()  # a plain model: the adapters are folded in, not saved beside it
    changed = {name for name in base if not (tuned[name] == base[name]).all()}
    # the adapted projections moved; embeddings and norms (no adapters) kept the base's values
    assert any(name.endswith("q_proj.weight") for name in changed)
    assert not any("embed_tokens" in name or "norm" in name for name in changed)
