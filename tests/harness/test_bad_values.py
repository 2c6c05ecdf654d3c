"""Bad values on the command line and junk in a run or pipeline directory: one line on stderr, exit 2,
naming the value or file and what was expected, before a run directory, Ray or a model is started
(issue 29, items 5, 7 and 9)."""
from __future__ import annotations

import errno
import json

import pandas as pd
import pyarrow.parquet as pq
import pytest

import envs
from harness import cli
from harness.errors import disk_full, disk_full_message
from harness.logs import COLUMNS, empty_row


def eval_args(runs_dir, *extra: str) -> list[str]:
    return ["eval", "--env", "webshop", "--agent", "random", "--episodes", "1", "--workers", "0",
            "--runs-dir", str(runs_dir), "--no-progress", *extra]


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize("extra, expected", [
    (["--env-opt", "max_steps=NaN"], "--env-opt max_steps='NaN': not a finite number"),
    (["--env-opt", "max_steps=1e400"], "--env-opt max_steps='1e400': not a finite number"),
    (["--env-opt", "max_steps=Infinity"], "--env-opt max_steps='Infinity': not a finite number"),
    (["--env-opt", "max_steps=-Infinity"], "--env-opt max_steps='-Infinity': not a finite number"),
    (["--env-opt", "max_steps=true"], "--env-opt max_steps=true: expected a whole number"),
    (["--env-opt", "max_steps=1.5"], "--env-opt max_steps=1.5: expected a whole number"),
    (["--env-opt", "num_products=false"], "--env-opt num_products=false: expected a whole number or null"),
    (["--env-opt", "show_attrs=1"], "--env-opt show_attrs=1: expected true or false"),
    (["--agent", "lm", "--agent-opt", "temperature=NaN"],
     "--agent-opt temperature='NaN': not a finite number"),
    (["--agent", "lm", "--agent-opt", "temperature=true"],
     "--agent-opt temperature=true: expected a finite number"),
    (["--agent", "http", "--agent-opt", "retries=1.5"], "--agent-opt retries=1.5: expected a whole number"),
    (["--seed", "-1"], "seed must be >= 0"),
    (["--episodes", "1000000000"], "episodes=1000000000 is more than 1,000,000, the most one run plays"),
    (["--in-flight", "-1"], "in_flight must be >= 1"),
    (["--log-topk", "-1"], "log_topk must be >= 0"),
    # --episode-timeout inf / nan: refused by the option's type (test_float_options_refuse_nan_and_infinities)
])
def test_eval_refuses_a_bad_value_in_one_line_before_starting(tmp_path, capsys, extra, expected):
    runs_dir = tmp_path / "runs"
    assert cli.main(eval_args(runs_dir, *extra)) == 2
    line = one_error_line(capsys)
    assert line.startswith("agentdistill eval: error: ") and expected in line, line
    assert not runs_dir.exists()  # refused before a run directory was made


def test_a_control_character_in_an_option_key_stays_escaped_on_one_line(tmp_path, capsys):
    assert cli.main(eval_args(tmp_path / "runs", "--env-opt", "max\nsteps\x1b[2J=3")) == 2
    line = one_error_line(capsys)
    assert "'max\\nsteps\\x1b[2J'" in line and "not an option name" in line, line
    assert "\x1b" not in line


def test_a_file_as_runs_dir_or_above_the_run_is_refused(tmp_path, capsys):
    file = tmp_path / "passwd"
    file.write_text("root:x:0:0\n")
    assert cli.main(eval_args(file)) == 2
    assert f"{file} is a file, not a folder: --run/--runs-dir must name a folder" in one_error_line(capsys)
    assert cli.main(eval_args(tmp_path, "--run", str(file / "x"))) == 2
    line = one_error_line(capsys)
    assert f"{file} is a file, not a folder" in line and f"(the run would go to {file / 'x'})" in line
    assert file.read_text() == "root:x:0:0\n"


@pytest.mark.parametrize("name", ["webshop", "hotpotqa", "alfworld"])
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), True, 1.5, 0, "7"])
def test_env_constructors_refuse_a_max_steps_that_is_not_a_whole_number(name, bad):
    with pytest.raises(ValueError, match=r"max_steps must be a whole number >= 1, got "):
        envs.make(name, max_steps=bad)


def _log_with_string_episodes(path) -> None:
    row = empty_row() | {"run_id": "r", "env": "webshop", "task_id": "t"}
    frame = pd.DataFrame([row])
    frame["episode"] = frame["episode"].astype(str)
    frame.to_parquet(path)


@pytest.mark.parametrize("junk, expected", [
    ("bytes", "episodes.parquet: cannot be read as a Parquet episode log"),
    ("foreign", "episodes.parquet: not an agentdistill episode log: missing columns"),
    ("string episodes", "episodes.parquet: column 'episode' has type"),
    ("journal", "journal-1.arrows: cannot be read as an Arrow IPC episode journal"),
])
def test_resuming_a_run_with_a_junk_log_is_one_line_before_anything_is_written(tmp_path, capsys, junk,
                                                                                 expected):
    run = tmp_path / "runs" / "r"
    (run / "episodes").mkdir(parents=True)
    if junk == "bytes":
        (run / "episodes.parquet").write_bytes(b"not parquet at all")
    elif junk == "foreign":
        pd.DataFrame({"a": [1, 2]}).to_parquet(run / "episodes.parquet")
    elif junk == "string episodes":
        _log_with_string_episodes(run / "episodes.parquet")
    else:
        (run / "episodes" / "journal-1.arrows").write_bytes(b"junk")
    assert cli.main(eval_args(tmp_path / "runs", "--run", "r")) == 2
    line = one_error_line(capsys)
    assert f"{run} cannot be resumed (move the damaged file away, or pick another --run): " in line, line
    assert expected in line, line
    assert not (run / "run.json").exists()  # refused before the run was recorded


@pytest.mark.parametrize("manifest, expected", [
    ([1, 2], "pipeline.json: holds a JSON list; expected the object"),
    ("webshop", "pipeline.json: holds a JSON str; expected the object"),
    ({"env": "all", "envs": ["."]}, "pipeline.json: 'envs' is ['.']; expected the list of env names"),
    ({"env": "all"}, "pipeline.json: 'envs' is None; expected the list of env names"),
    ({"preset": "tiny"}, "pipeline.json: 'env' is None; expected an env name"),
])
def test_report_on_a_manifest_of_the_wrong_shape_is_one_line(tmp_path, capsys, manifest, expected):
    (tmp_path / "pipeline.json").write_text(json.dumps(manifest))
    assert cli.main(["report", str(tmp_path)]) == 2
    line = one_error_line(capsys)
    assert line.startswith(f"agentdistill report: error: {tmp_path}") and expected in line, line


def test_disk_full_during_eval_leaves_no_temp_file_says_so_and_the_rerun_resumes(tmp_path, capsys,
                                                                                  monkeypatch):
    real_write = pq.write_table

    def full_disk(table, where, *args, **kwargs):  # the episode log's write runs out of space halfway
        where.write(b"PAR1 half a file")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pq, "write_table", full_disk)
    argv = eval_args(tmp_path / "runs", "--run", "r")
    assert cli.main(argv) == 2
    line = one_error_line(capsys)
    run = tmp_path / "runs" / "r"
    assert f"agentdistill eval: error: no space left on device writing {run} (" in line, line
    assert "bytes free on the file system of" in line and "rerun the same command" in line
    assert not [p for p in run.rglob("*") if p.name.endswith(".tmp")]
    assert not (run / "episodes.parquet").exists()

    monkeypatch.setattr(pq, "write_table", real_write)  # space freed: the played episode is kept
    assert cli.main(argv) == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["episodes"] == 1 and summary["resumed_episodes"] == 1
    assert set(COLUMNS) <= set(pq.read_schema(run / "episodes.parquet").names)


def test_a_full_disk_behind_another_error_is_found_and_named(tmp_path):
    cause = OSError(errno.ENOSPC, "No space left on device")
    try:
        try:
            raise cause
        except OSError as err:
            raise RuntimeError("writing the episode journal failed") from err
    except RuntimeError as wrapped:
        assert disk_full(wrapped) is cause
    assert disk_full(RuntimeError("something else")) is None
    named = OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "out" / "last.pt.tmp"))
    message = disk_full_message(named, tmp_path / "elsewhere")
    assert message.startswith(f"no space left on device writing {tmp_path / 'out' / 'last.pt.tmp'} (")
    assert f"bytes free on the file system of {tmp_path})" in message


@pytest.mark.parametrize("argv", [
    ["bench", "--budget", "nan"],
    ["bench", "--budget", "inf"],
    ["pipeline", "--env", "webshop", "--guide-p0", "nan"],
    ["eval", "--env", "webshop", "--agent", "expert", "--episode-timeout", "Infinity"],
])
def test_float_options_refuse_nan_and_infinities(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "expected a finite number" in err and "Traceback" not in err
