"""The real `agentdistill pipeline` command end to end on webshop with a very small budget (a smoke
test in CleanRL's style), then resume, --force and bad-input behaviour, each on its own copy of the
directory it made (so the tests pass in any order, alone or together)."""
from __future__ import annotations

import json
import shutil
import time

import pytest

from harness import cli
from harness.experiment.stages import STAGES, read_marker
from harness.logs import read_episodes

#: every knob at its smallest useful value: the run takes ~1-2 minutes on 2 cores
TINY_BUDGET = [
    "--demo-episodes",
    "8",
    "--teacher-steps",
    "8",
    "--rollout-episodes",
    "4",
    "--eval-episodes",
    "3",
    "--student-steps",
    "4",
    "--offline-states",
    "4",
    "--max-length",
    "512",
    "--max-new-tokens",
    "24",
    "--max-steps",
    "4",
    "--batch-size",
    "2",
    "--workers",
    "0",
]


def _command(runs_dir, *extra: str) -> list[str]:
    return ["pipeline", "--env", "webshop", "--preset", "tiny", "--runs-dir", str(runs_dir), "--run", "smoke",
            *TINY_BUDGET, *extra]


@pytest.fixture(scope="module")
def built_pipeline(tmp_path_factory):
    """(runs dir, pipeline dir, wall seconds) of one run of the command; no test changes it."""
    runs = tmp_path_factory.mktemp("runs")
    started = time.perf_counter()
    assert cli.main(_command(runs)) == 0
    return runs, runs / "smoke", time.perf_counter() - started


@pytest.fixture
def pipeline_dir(built_pipeline, tmp_path):
    """A private copy of the built pipeline, for a test that reruns or redoes stages in it."""
    _, built, wall = built_pipeline
    runs = tmp_path / "runs"
    shutil.copytree(built, runs / "smoke")
    return runs, runs / "smoke", wall


@pytest.mark.slow
def test_pipeline_runs_every_stage_and_writes_the_report(built_pipeline):
    _, root, _ = built_pipeline
    for stage in (
        "demos",
        "teacher",
        "teacher_rollouts",
        "teacher_eval",
        "baselines/expert",
        "baselines/random",
    ):
        assert read_marker(root / stage) is not None, stage
    labels = sorted(p.name for p in (root / "students").iterdir())
    assert labels == ["tiny-student_sad_s0", "tiny-student_sft_s0", "tiny-student_token_kd_s0"]
    for label in labels:
        assert (
            read_marker(root / "students" / label)["tokenizer"] == read_marker(root / "teacher")["tokenizer"]
        )
        assert read_marker(root / "student_eval" / label) is not None
        offline = json.loads((root / "offline" / label / "metrics.json").read_text())
        assert offline["states"] == 4
        assert offline["action_match"] in (0.0, 0.25, 0.5, 0.75, 1.0)  # matching actions / 4 states
    # same init, data, steps and seed across methods
    params = [read_marker(root / "students" / label)["params"] for label in labels]
    assert {(p["model"], p["data"], p["max_steps"], p["seed"]) for p in params} == {
        ("tiny-student", "teacher_rollouts", 4, 0)
    }
    rollouts = read_episodes(root / "teacher_rollouts")
    assert rollouts["topk_ids"].map(len).gt(0).all()  # the students' top-k signal was logged
    md = (root / "report.md").read_text()
    for row in ("| teacher |", "| random agent |", "| tiny-student · sad |", "| tiny-student · token_kd |",
                "| tiny-student · sft |"):
        assert row in md
    assert "| first-result (scripted) |" in md  # WebShop's third baseline
    assert "- env step limit: 4 steps per episode" in md and "- data source: **generated world" in md
    assert "every agent and seed played these same tasks with the same env seeds" in md
    assert "| tiny-student | SAD (span KL) − token-level KD | success |" in md
    for name in ("report.csv", "report.html", "plots/success_by_method.png", "plots/training_curves.png"):
        assert (root / name).stat().st_size > 0
    manifest = json.loads((root / "pipeline.json").read_text())
    assert manifest["env"] == "webshop" and "--student-steps 4" in manifest["command"]


@pytest.mark.slow
def test_rerun_skips_every_finished_stage(pipeline_dir):
    runs, root, first_wall = pipeline_dir
    before = {marker.parent: read_marker(marker.parent)["id"] for marker in root.rglob(".complete.json")}
    model = root / "students" / "tiny-student_sad_s0" / "model.safetensors"
    mtime = model.stat().st_mtime
    started = time.perf_counter()
    assert cli.main(_command(runs)) == 0
    assert time.perf_counter() - started < first_wall / 2
    assert {p: read_marker(p)["id"] for p in before} == before
    assert model.stat().st_mtime == mtime


@pytest.mark.slow
def test_force_redoes_one_stage_and_stale_dependents_are_refused(pipeline_dir, capsys):
    runs, root, _ = pipeline_dir
    old = read_marker(root / "offline" / "tiny-student_sft_s0")["id"]
    assert cli.main(_command(runs, "--force", "offline")) == 0
    assert read_marker(root / "offline" / "tiny-student_sft_s0")["id"] != old
    # redo the teacher's evaluation only: the offline metrics read its states, so they are now stale
    old_eval = read_marker(root / "teacher_eval")["id"]
    assert cli.main(_command(runs, "--force", "teacher_eval")) == 2
    assert read_marker(root / "teacher_eval")["id"] != old_eval
    err = capsys.readouterr().err
    assert (
        "stage 'offline'" in err and "built from an earlier teacher_eval" in err and "--force offline+" in err
    )
    assert cli.main(_command(runs, "--force", "offline+")) == 0


@pytest.mark.slow
def test_changed_budget_or_other_env_is_a_clear_error(pipeline_dir, capsys):
    runs, _, _ = pipeline_dir
    changed = _command(runs)
    changed[changed.index("--eval-episodes") + 1] = "5"
    assert cli.main(changed) == 2
    err = capsys.readouterr().err
    assert "stage 'teacher_eval'" in err and "episodes: was 3, now 5" in err
    other = _command(runs)
    other[other.index("webshop")] = "hotpotqa"
    assert cli.main(other) == 2
    assert "holds a pipeline for env 'webshop'" in capsys.readouterr().err
    assert set(STAGES) >= {"demos", "report"}
