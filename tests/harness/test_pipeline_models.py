"""`agentdistill pipeline` with the user's own models: --teacher / --student as local Hugging Face
directories, --student-init, --teacher-steps 0, --constrain-actions; and the refusal, before any stage, of
a teacher and student that do not share a tokenizer."""
from __future__ import annotations

import json

import pytest
import torch
from transformers import AutoModelForCausalLM

from distill.models import build_tiny
from harness import cli
from harness.experiment.stages import read_marker
from harness.logs import read_episodes

TEXTS = [
    "Thought: I should search for the item.\nAction: search[red running shoes]\n",
    "Observation: [SEP] Back to Search [SEP] Page 1 (Total results: 10) [SEP] Next > [SEP] B0001 shoes\n",
    "Thought: The first result matches.\nAction: click[b0001]\nAction: click[buy now]\n",
] * 20
#: the smoke test's smallest useful budget (tests/harness/test_pipeline_smoke.py), one method
BUDGET = ["--demo-episodes", "8", "--rollout-episodes", "4", "--eval-episodes", "3", "--student-steps", "4",
          "--offline-states", "4", "--max-length", "512", "--max-new-tokens", "24", "--max-steps", "4",
          "--batch-size", "2", "--workers", "0", "--methods", "sad"]


def pipeline(runs, run: str, teacher: str, student: str, *extra: str) -> list[str]:
    return ["pipeline", "--env", "webshop", "--preset", "tiny", "--runs-dir", str(runs), "--run", run,
            "--teacher", teacher, "--student", student, "--teacher-steps", "0", *extra, *BUDGET]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """(teacher dir, student dir, a student dir with another tokenizer): plain save_pretrained dirs."""
    root = tmp_path_factory.mktemp("models")
    teacher = build_tiny(TEXTS, root / "teacher")
    student = build_tiny([], root / "student", preset="tiny-student", tokenizer_from=teacher, seed=1)
    other_texts = ["Question: who? Action: finish[x]\n"] * 20
    stranger = build_tiny(other_texts, root / "stranger", preset="tiny-student")
    return teacher, student, stranger


@pytest.mark.slow
def test_pipeline_with_two_local_model_dirs_end_to_end(models, tmp_path):
    teacher, student, _ = models
    command = pipeline(tmp_path, "own", str(teacher), str(student), "--student-init", "scratch",
                       "--constrain-actions")
    assert cli.main(command) == 0
    root = tmp_path / "own"
    # the teacher plays as given: copied, untrained
    assert read_marker(root / "teacher")["params"]["max_steps"] == 0
    weights = "model.safetensors"
    assert (root / "teacher" / weights).read_bytes() == (teacher / weights).read_bytes()
    # every teacher turn was decoded under the constraint: a forced Thought line, then the action
    rollouts = read_episodes(root / "teacher_rollouts")
    assert rollouts["completion"].map(lambda c: c.startswith("Thought:") and c.count("\nAction: ") == 1).all()
    assert rollouts["topk_ids"].map(len).gt(0).all()
    # the student: the given directory's shape, fresh weights (scratch), trained, evaluated, reported
    label = "student_sad_s0"
    params = read_marker(root / "students" / label)["params"]
    assert (params["student"], params["student_init"]) == (str(student), "scratch")
    init = AutoModelForCausalLM.from_pretrained(root / "student_init" / label)
    given = AutoModelForCausalLM.from_pretrained(student)
    assert init.config.hidden_size == given.config.hidden_size == 128
    assert not torch.equal(init.model.layers[0].mlp.up_proj.weight, given.model.layers[0].mlp.up_proj.weight)
    assert read_marker(root / "student_eval" / label) is not None
    manifest = json.loads((root / "pipeline.json").read_text())
    assert manifest["constrain_actions"] is True and manifest["student_init"] == "scratch"
    assert f"--teacher {teacher}" in manifest["command"] and "--constrain-actions" in manifest["command"]
    assert "| teacher |" in (root / "report.md").read_text()
    # free decoding stays measured: the same teacher, unconstrained, is a row of its own
    free = read_episodes(root / "teacher_eval_free")
    assert not free["completion"].map(lambda c: c.startswith("Thought:") and "\nAction: " in c).all()
    assert "constrain_actions" not in read_marker(root / "teacher_eval_free")["params"]["agent_kwargs"]
    assert "| teacher, free decoding |" in (root / "report.md").read_text()


def test_a_student_with_another_tokenizer_is_refused_before_any_stage(models, tmp_path, capsys):
    teacher, _, stranger = models
    assert cli.main(pipeline(tmp_path, "bad", str(teacher), str(stranger))) == 2
    assert "different vocabularies" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()
    assert cli.main(pipeline(tmp_path, "bad", "tiny", str(teacher))) == 2  # a config preset cannot play
    assert "--teacher-steps 0 plays the teacher as given" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()
