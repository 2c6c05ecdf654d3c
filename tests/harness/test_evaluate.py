"""`agentdistill eval` / `rollout`: which agent runs, bad input, the command end to end."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from harness import cli
from harness.evaluate import newest_student, resolve_agent


def student(root, name: str, env: str, created: str, kind: str = "student"):
    path = root / name
    path.mkdir(parents=True)
    (path / "agentdistill.json").write_text(
        json.dumps({"kind": kind, "env": env, "method": "sad", "preset": "tiny", "created": created})
    )
    return path


def test_default_agent_is_the_newest_student_for_the_env_else_expert(tmp_path):
    assert resolve_agent("", "webshop", tmp_path)[0] == "expert"
    assert "no trained student for webshop" in resolve_agent("", "webshop", tmp_path)[2]
    student(tmp_path, "p1/students/sad", "webshop", "2025-01-01T00:00:00")
    newest = student(tmp_path, "p2/students/sft", "webshop", "2025-03-01T00:00:00")
    student(tmp_path, "p3/students/sad", "hotpotqa", "2025-06-01T00:00:00")
    student(tmp_path, "p4/teacher", "webshop", "2025-09-01T00:00:00", kind="teacher")
    assert newest_student("webshop", tmp_path) == newest
    name, kwargs, label = resolve_agent("", "webshop", tmp_path)
    assert (name, kwargs["model"]) == ("lm", str(newest)) and "newest student for webshop" in label
    assert resolve_agent(str(newest), "webshop", tmp_path)[:2] == ("lm", {"model": str(newest)})
    assert resolve_agent("random", "webshop", tmp_path) == ("random", {}, "random")


@pytest.mark.parametrize("argv, message", [
    (["--env", "nosuchenv", "--agent", "expert"], "unknown environment 'nosuchenv'"),
    (["--env", "webshop", "--agent", "nosuchagent"], "unknown agent 'nosuchagent'"),
    (["--env", "webshop", "--agent", "expert", "--episodes", "0"], "episodes must be >= 1"),
    (["--env", "webshop", "--agent", "expert", "--workers", str((os.cpu_count() or 1) + 1)], "more than the"),
    (["--env", "webshop", "--agent", "random", "--agent-opt", "colour=blue"], "rejected its options"),
    (["--env", "webshop", "--agent-opt", "oops"], "expected KEY=VALUE"),
])
def test_bad_input_is_one_clear_line_and_exit_2(argv, message, capsys, tmp_path):
    assert cli.main(["eval", *argv, "--runs-dir", str(tmp_path), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_a_path_that_is_not_a_model_fails_cleanly_from_the_shell(tmp_path):
    not_a_model = tmp_path / "notes"
    not_a_model.mkdir()
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness.cli",
            "eval",
            "--env",
            "webshop",
            "--agent",
            str(not_a_model),
            "--runs-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 2
    assert "is not a saved model" in out.stderr and "Traceback" not in out.stderr


def test_eval_command_writes_log_and_summary(tmp_path, capsys):
    rc = cli.main(["eval", "--env", "webshop", "--agent", "random", "--episodes", "3", "--workers", "0",
                   "--run", "r1", "--runs-dir", str(tmp_path), "--no-progress"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "agent random" in out and "success rate" in out
    summary = json.loads((tmp_path / "r1" / "summary.json").read_text())
    for key in (
        "env",
        "agent",
        "split",
        "episodes",
        "success_rate",
        "mean_score",
        "mean_steps",
        "invalid_action_rate",
        "mean_reason_tokens",
        "mean_act_tokens",
        "tokens_per_s",
        "wall_s",
    ):
        assert key in summary
    assert summary["episodes"] == 3 and summary["split"] == "test"
    # resuming under the same name with another agent is refused
    assert cli.main(["eval", "--env", "webshop", "--agent", "expert", "--episodes", "3", "--workers", "0",
                     "--run", "r1", "--runs-dir", str(tmp_path), "--no-progress"]) == 2
    assert "holds a different run" in capsys.readouterr().err


def test_rollout_defaults_to_the_train_split(tmp_path):
    assert cli.main(["rollout", "--env", "webshop", "--agent", "random", "--episodes", "2", "--workers", "0",
                     "--run", "tr", "--runs-dir", str(tmp_path), "--no-progress"]) == 0
    assert json.loads((tmp_path / "tr" / "summary.json").read_text())["split"] == "train"
