"""The `agentdistill` command: listing subcommands and user errors without tracebacks."""
import subprocess
import sys

import pytest

from harness import cli


def run_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args], check=False, capture_output=True, text=True, timeout=120
    )


def test_envs_lists_every_env_with_a_description():
    out = run_cli("envs")
    assert out.returncode == 0
    lines = out.stdout.splitlines()
    for name, gym_id in [
        ("alfworld", "agentdistill/ALFWorld-v0"),
        ("webshop", "agentdistill/WebShop-v0"),
        ("hotpotqa", "agentdistill/HotPotQA-v0"),
    ]:
        line = next(line for line in lines if line.startswith(name))
        assert gym_id in line and len(line.split()) > 3


def test_agents_lists_every_agent():
    out = run_cli("agents")
    assert out.returncode == 0
    assert {line.split()[0] for line in out.stdout.splitlines()} >= {"expert", "random", "lm", "http"}


def test_every_subcommand_is_wired():
    parser = cli.build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command").choices
    assert set(subparsers) == set(cli.COMMANDS)
    for name, sub in subparsers.items():
        assert sub.get_default("_missing") is None, f"{name}: {sub.get_default('_missing')}"


def test_unknown_subcommand_exits_nonzero():
    out = run_cli("fly")
    assert out.returncode != 0 and "invalid choice" in out.stderr


def test_a_bad_training_option_is_one_line_and_exit_2(tmp_path, capsys):
    assert cli.main(["train", "--data", str(tmp_path), "--out", str(tmp_path / "m"), "--max-steps", "0"]) == 2
    err = capsys.readouterr().err
    assert (
        err.startswith("agentdistill train: error: options: max_steps=0 is out of range")
        and "Traceback" not in err
    )


def test_an_internal_error_is_not_dressed_up_as_a_user_error(monkeypatch, tmp_path):
    """A ValueError/KeyError from inside the harness is a bug: it propagates (traceback, exit 1)."""
    import harness.evaluate

    def broken(*args, **kwargs):
        raise KeyError("summary_rate")

    monkeypatch.setattr(harness.evaluate, "evaluate", broken)
    with pytest.raises(KeyError, match="summary_rate"):
        cli.main(["eval", "--env", "webshop", "--agent", "random", "--runs-dir", str(tmp_path)])


def test_from_the_shell_a_user_error_exits_2_and_an_internal_error_1_with_its_traceback(tmp_path):
    (tmp_path / "pipeline.json").write_text('{"env": "webshop"}')  # a pipeline with nothing to report yet
    out = run_cli("report", str(tmp_path))
    assert (
        out.returncode == 2
        and "no finished evaluation to report" in out.stderr
        and "Traceback" not in out.stderr
    )
    bug = ("import sys, harness.report as r; from harness.cli import main\n"
           "def build_report(root): raise ValueError('a bug in the report')\n"
           "r.build_report = build_report; sys.exit(main(['report', sys.argv[1]]))")
    out = subprocess.run(
        [sys.executable, "-c", bug, str(tmp_path)], check=False, capture_output=True, text=True, timeout=120
    )
    assert (
        out.returncode == 1 and "Traceback" in out.stderr and "ValueError: a bug in the report" in out.stderr
    )


def test_a_password_in_an_option_never_reaches_the_error_line(tmp_path, capsys):
    url = "https://bob:hunter22@example.com/webshop"
    argv = ["eval", "--env", "webshop", "--agent", "random", "--env-opt", f"data={url}", "--workers", "0",
            "--runs-dir", str(tmp_path), "--no-progress"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "https://bob:[REDACTED]@example.com/webshop" in err and "hunter22" not in err
