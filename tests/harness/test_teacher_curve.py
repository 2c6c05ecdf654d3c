"""The teacher curve script at a tiny budget: one fine-tuning schedule stopped at each point, each stop
exported and played on held-out train tasks, and ``curve.json`` written (resumable)."""
from __future__ import annotations

import json

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
    # one training: its metrics.csv holds steps 1 and 2 once each (a header and two rows)
    lines = (out / "teacher" / "metrics.csv").read_text().splitlines()
    assert len(lines) == 3
    # a rerun reads the finished points back instead of playing them again
    (out / "play_step_1" / "summary.json").unlink()
    assert main([*ARGS, "--out", str(out)]) == 0
    assert not (out / "play_step_1" / "summary.json").exists()
