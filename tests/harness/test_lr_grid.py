"""`agentdistill pipeline --lr-grid`: the choice rule, the option's errors, the grid's units and time
estimate, and the command end to end at toy size (each method's three rates played on held-out train tasks,
the choice the recorded numbers give, every student trained at it, the seed-0 student copied from the grid,
the report)."""
from __future__ import annotations

import argparse
import dataclasses
import json
import math

import pytest
import torch
from safetensors.torch import load_file

from harness import cli
from harness.errors import UserError
from harness.experiment import lr_grid
from harness.experiment.layout import STAGE_MARKER, write_json
from harness.experiment.pipeline import Pipeline, add_arguments, canonical_command
from harness.experiment.presets import PRESETS
from harness.experiment.stages import read_marker
from harness.logs import read_episodes

#: smaller still than the smoke test's budget (tests/harness/test_pipeline_smoke.py): 2 held-out episodes a
#: point, free decoding (no second teacher evaluation); two on-policy rounds of 3 episodes set the offset
BUDGET = ["--demo-episodes", "8", "--teacher-steps", "2", "--rollout-episodes", "2", "--eval-episodes", "1",
          "--student-steps", "2", "--offline-states", "1", "--max-length", "256", "--max-new-tokens", "16",
          "--max-steps", "2", "--batch-size", "2", "--workers", "0", "--opd-rounds", "2",
          "--opd-episodes", "3", "--lr-grid-episodes", "2", "--no-constrain-actions"]


def _chosen(*points: tuple[float, float, float]) -> float:
    """The multiplier :func:`lr_grid.choose` picks out of (multiplier, success, score) points."""
    return lr_grid.choose([{"multiplier": m, "success_rate": s, "mean_score": v} for m, s, v in points])[
        "multiplier"]


def test_choice_is_best_success_then_score_then_x1():
    assert _chosen((0.5, 0.2, 0.1), (1, 0.1, 0.9), (2, 0.0, 1.0)) == 0.5
    assert _chosen((0.5, 0.2, 0.1), (1, 0.2, 0.3), (2, 0.2, 0.4)) == 2
    assert _chosen((0.5, 0.0, 0.0), (1, 0.0, 0.0), (2, 0.0, 0.0)) == 1
    # without x1 in the grid, the multiplier nearest it (on a log scale; the smaller of two as near)
    assert _chosen((0.25, 0, 0), (0.5, 0, 0), (4, 0, 0)) == 0.5
    assert _chosen((2, 0, 0), (0.5, 0, 0)) == 0.5


def test_multipliers_parse_and_bad_values_are_errors():
    assert lr_grid.parse_multipliers("2,0.5,1") == (0.5, 1.0, 2.0)
    for bad in ("", "0.5,0", "1,1", "a,2", "-1", "inf"):
        with pytest.raises(UserError, match="--lr-grid .*expected distinct positive multipliers"):
            lr_grid.parse_multipliers(bad)
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert parser.parse_args(["--env", "webshop"]).lr_grid is None  # off by default
    args = parser.parse_args(["--env", "webshop", "--lr-grid"])
    assert lr_grid.parse_multipliers(args.lr_grid) == lr_grid.DEFAULT_MULTIPLIERS
    assert "--lr-grid 0.5,1,2" in canonical_command(args)


def test_a_bad_grid_is_refused_before_any_stage(tmp_path, capsys):
    assert cli.main(["pipeline", "--env", "webshop", "--runs-dir", str(tmp_path), "--lr-grid", "1,0"]) == 2
    assert "--lr-grid '1,0': expected distinct positive multipliers" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_grid_units_heldout_tasks_and_time_estimate(tmp_path):
    preset = PRESETS["tiny"]
    plain = Pipeline(tmp_path, "webshop", preset, ("sad", "opd"), seeds=2, ablations=True, forced=set(),
                     command="test")
    grid = Pipeline(tmp_path, "webshop", preset, ("sad", "opd"), seeds=2, ablations=True, forced=set(),
                    command="test", lr_grid=(0.5, 1.0, 2.0))
    # one choice per size and method (main and ablation sizes), made by its seed-0 student
    assert [(s.student, s.method, s.seed) for s in grid.lr_grid_specs()] == [
        ("tiny-student", "sad", 0), ("tiny-student", "opd", 0), ("tiny", "sad", 0), ("tiny", "opd", 0)]
    assert plain.lr_grid_specs() == []
    units = grid.lr_grid_units()
    assert len(units) == 4 * (3 * 2 + 1)  # per size and method: 3 x (train, held-out play), the choice
    trained = [u for u in units if u.path.parent.name == "models"]
    assert sorted({u.params["lr"] for u in trained}) == [preset.student_lr * m for m in (0.5, 1.0, 2.0)]
    plays = [u for u in units if u.path.parent.name == "heldout"]
    # past the demos (512), the teacher's rollouts (64) and every on-policy round (3 x 32)
    offset = max(preset.demo_episodes, preset.rollout_episodes, preset.opd_rounds * preset.opd_episodes)
    assert {(u.params["split"], u.params["task_offset"], u.params["episodes"]) for u in plays} == {
        ("train", offset, preset.lr_grid_episodes)}
    # the estimate: the grid's trainings and plays, less the seed-0 students it does not train twice
    with_grid, without = grid.expected_seconds(), plain.expected_seconds()
    assert without["lr_grid"] == 0 and with_grid["lr_grid"] > 0
    assert with_grid["students"] < without["students"]
    assert sum(with_grid.values()) - sum(without.values()) > 0.9 * with_grid["lr_grid"] * 2 / 3
    with pytest.raises(UserError, match="no learning rate chosen yet for tiny-student · sad"):
        grid.student_unit(grid.specs[0])
    # once chosen (the choice unit's marker and record, written here as that unit writes them), every student
    # of the size and method trains at the chosen rate, and seed 0's main row is the grid's model, copied
    for method, multiplier in (("sad", 2.0), ("opd", 0.5)):
        choice = tmp_path / "lr_grid" / "choice" / f"tiny-student_{method}"
        write_json(choice / lr_grid.RECORD, {"chosen_multiplier": multiplier,
                                             "chosen_lr": multiplier * preset.student_lr})
        write_json(choice / STAGE_MARKER, {"stage": "lr_grid", "env": "webshop"})
    for spec in grid.specs:
        if spec.student != "tiny-student":
            continue
        multiplier = {"sad": 2.0, "opd": 0.5}[spec.method]
        unit = grid.student_unit(spec)
        lr = multiplier * preset.student_lr
        assert (unit.params["lr"], unit.params["lr_multiplier"]) == (lr, multiplier), spec.label
        point = grid.lr_grid_point(spec, multiplier).path
        reused = spec.seed == 0 and not spec.variant
        assert (point in unit.inputs) == reused, spec.label
        if reused:
            assert point == tmp_path / "lr_grid" / "models" / f"tiny-student_{spec.method}_s0_x{multiplier:g}"
    assert any(s.variant for s in grid.specs if s.student == "tiny-student")  # ablation rows were checked


def test_heldout_tasks_that_wrap_into_trained_ones_are_refused(tmp_path):
    preset = PRESETS["tiny"]  # 2,844 train tasks: the first 512 are the demos'
    pipeline = Pipeline(tmp_path, "webshop", dataclasses.replace(preset, lr_grid_episodes=2500), ("sft",),
                        seeds=1, ablations=False, forced=set(), command="test", lr_grid=(1.0, 2.0))
    with pytest.raises(UserError, match="--lr-grid-episodes 2500: the webshop train split has too few tasks"):
        pipeline.lr_grid_units()


@pytest.mark.slow
def test_pipeline_lr_grid_end_to_end(tmp_path):
    command = ["pipeline", "--env", "webshop", "--preset", "tiny", "--runs-dir", str(tmp_path), "--run",
               "grid", "--methods", "sft", "--seeds", "2", "--lr-grid", *BUDGET]
    assert cli.main(command) == 0
    root = tmp_path / "grid"
    manifest = json.loads((root / "pipeline.json").read_text())
    offset = manifest["lr_grid"]["task_offset"]
    assert offset == 8  # past the 8 demos, 2 rollouts and 2 x 3 on-policy episodes
    assert "--lr-grid 0.5,1,2" in manifest["command"]
    md = (root / "report.md").read_text()
    assert "### webshop: learning-rate grid (held-out train tasks)" in md
    assert "webshop: learning-rate grid (held-out train tasks)</h4>" in (root / "report.html").read_text()
    trained_tasks = {*read_episodes(root / "demos")["task_id"], *read_episodes(root / "teacher_rollouts")[
        "task_id"]}
    record = json.loads((root / "lr_grid" / "choice" / "tiny-student_sft" / lr_grid.RECORD).read_text())
    points = record["points"]
    assert [p["multiplier"] for p in points] == [0.5, 1.0, 2.0]
    # each point: its own training at m x student_lr, played on held-out train tasks, its line in the report
    for p in points:
        model = root / "lr_grid" / "models" / f"tiny-student_sft_s0_x{p['multiplier']:g}"
        assert read_marker(model)["params"]["lr"] == p["multiplier"] * PRESETS["tiny"].student_lr == p["lr"]
        heldout = root / p["heldout"]
        run = json.loads((heldout / "run.json").read_text())
        assert (run["split"], run["task_offset"], p["episodes"]) == ("train", offset, 2)
        assert not set(read_episodes(heldout)["task_id"]) & trained_tasks
        summary = json.loads((heldout / "summary.json").read_text())
        assert (p["success_rate"], p["mean_score"]) == (summary["success_rate"], summary["mean_score"])
        assert (f"| tiny-student · sft | ×{p['multiplier']:g} | {p['lr']:.3g} | {p['success_rate']:.2f} | "
                f"{p['mean_score']:.2f} | 2 |") in md
    # the rule on the recorded numbers: best success, then score, then x1
    best = max(p["success_rate"] for p in points)
    top = max(p["mean_score"] for p in points if p["success_rate"] == best)
    tied = [p["multiplier"] for p in points if (p["success_rate"], p["mean_score"]) == (best, top)]
    expected = 1.0 if 1.0 in tied else min(tied, key=lambda m: (abs(math.log(m)), m))
    base = PRESETS["tiny"].student_lr
    assert (record["chosen_multiplier"], record["chosen_lr"]) == (expected, expected * base)
    assert manifest["lr_grid"]["chosen"] == {"tiny-student · sft": {"multiplier": expected,
                                                                    "lr": record["chosen_lr"]}}
    chosen_line = next(line for line in md.splitlines()
                       if line.startswith(f"| tiny-student · sft | ×{expected:g} |"))
    assert chosen_line.endswith("| chosen |")
    # every seed's student trains at the chosen rate (the trainer's config in its checkpoint says so too)
    for seed in (0, 1):
        params = read_marker(root / "students" / f"tiny-student_sft_s{seed}")["params"]
        assert (params["lr"], params["lr_multiplier"]) == (record["chosen_lr"], expected)
    checkpoint = torch.load(root / "students" / "tiny-student_sft_s1" / "checkpoints" / "last.pt",
                            weights_only=True)
    assert checkpoint["config"]["lr"] == record["chosen_lr"]
    # seed 0's is the grid's model of the chosen rate, copied rather than trained again
    source = f"lr_grid/models/tiny-student_sft_s0_x{expected:g}"
    assert read_marker(root / "students" / "tiny-student_sft_s0")["reused_from"] == source
    copied = load_file(root / "students" / "tiny-student_sft_s0" / "model.safetensors")
    original = load_file(root / source / "model.safetensors")
    assert copied.keys() == original.keys() and all(torch.equal(copied[k], original[k]) for k in original)
    # resumable unit by unit: a rerun redoes nothing of the grid (nor anything else)
    before = {m.parent: read_marker(m.parent)["id"] for m in root.rglob(".complete.json")}
    assert any(path.parts[-3] == "lr_grid" for path in before)
    assert cli.main(command) == 0
    assert {path: read_marker(path)["id"] for path in before} == before
