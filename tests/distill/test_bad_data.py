"""``train``/``distill`` on junk episode logs, bad numbers, devices this machine lacks and a full disk: one
line on stderr, exit 2, naming the file, field or value and what was expected, before a model is built
(issue 29, items 5 and 7)."""
from __future__ import annotations

import errno
from pathlib import Path

import pandas as pd
import pytest
import torch
from conftest import episode_rows, write_run

from distill.config import SADConfig
from distill.data import load_episodes
from harness.cli import main as cli_main


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert len(lines) == 1, err
    return lines[0]


def _junk_log(root: Path, kind: str, react_episodes: list[dict]) -> Path:
    """A run directory whose episodes.parquet is ``kind`` of junk; returns the file."""
    run = root / kind.replace(" ", "-")
    run.mkdir(parents=True)
    file = run / "episodes.parquet"
    rows = pd.DataFrame(episode_rows("r", react_episodes[:2]))
    if kind == "not parquet":
        file.write_bytes(b"PAR1 but not really")
    elif kind == "foreign":
        pd.DataFrame({"id": [1, 2], "text": ["a", "b"]}).to_parquet(file)
    elif kind == "string episodes":
        rows.assign(episode=rows["episode"].astype(str)).to_parquet(file)
    elif kind == "string steps":
        rows.assign(step=rows["step"].astype(str)).to_parquet(file)
    elif kind == "text token ids":
        rows.assign(token_ids=[["a", "b"]] * len(rows)).to_parquet(file)
    return file


JUNK = {
    "not parquet": "cannot be read as a Parquet episode log",
    "foreign": "missing column(s) ['run_id', 'env', 'episode', 'step', 'task', 'observation', 'completion']",
    "string episodes": "column 'episode' holds",
    "string steps": "column 'step' holds",
    "text token ids": "column 'token_ids' holds list<element: string>; expected lists of token ids",
}


@pytest.mark.parametrize("kind", list(JUNK))
def test_train_on_a_junk_episode_log_is_one_line_naming_the_file(tmp_path, capsys, react_episodes, kind):
    file = _junk_log(tmp_path, kind, react_episodes)
    out = tmp_path / "out"
    assert cli_main(["train", "--data", str(file.parent), "--out", str(out), "--no-progress"]) == 2
    line = one_error_line(capsys)
    assert line.startswith(f"agentdistill train: error: options: {file}: ") and JUNK[kind] in line, line
    assert not out.exists()  # refused before anything was written
    with pytest.raises(ValueError, match=f"^{file}: .*"):  # the trainer's own reader says the same
        load_episodes([file])


@pytest.fixture
def good_run(tmp_path, react_episodes) -> Path:
    return write_run(tmp_path / "runs", "demos", episode_rows("demos", react_episodes[:2]))


@pytest.mark.parametrize("extra, expected", [
    (["--lr", "nan"], "lr=nan: expected a finite number"),
    (["--grad-clip", "inf"], "grad_clip=inf: expected a finite number"),
    (["--curriculum-alpha=-inf"], "curriculum_alpha=-inf: expected a finite number"),
    (["--seed", "-1"], "seed=-1 is out of range: expected >= 0"),
    (["--device", "bogus"], "device='bogus' is out of range: expected auto, cpu, cuda or cuda:N"),
    (["--device", "cuda:x"], "device='cuda:x' is out of range: expected auto, cpu, cuda or cuda:N"),
])
def test_train_refuses_a_bad_number_or_device_in_one_line(tmp_path, capsys, good_run, extra, expected):
    out = tmp_path / "out"
    assert cli_main(["train", "--data", str(good_run), "--out", str(out), *extra]) == 2
    line = one_error_line(capsys)
    assert line.startswith("agentdistill train: error: options: ") and expected in line, line
    assert not out.exists()


def test_distill_refuses_a_nan_temperature(tmp_path, capsys, good_run):
    argv = ["distill", "--method", "sad", "--data", str(good_run), "--out", str(tmp_path / "out"),
            "--teacher-signal", "topk", "--temperature", "nan"]
    assert cli_main(argv) == 2
    assert "temperature=nan: expected a finite number" in one_error_line(capsys)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this torch can use a GPU here")
@pytest.mark.parametrize("device", ["cuda", "cuda:1"])
def test_train_on_cuda_without_one_says_how_to_get_it(tmp_path, capsys, good_run, device):
    argv = ["train", "--data", str(good_run), "--out", str(tmp_path / "out"), "--device", device]
    assert cli_main(argv) == 2
    line = one_error_line(capsys)
    assert f"device={device!r}: " in line and "see README: GPU install" in line and "--device cpu" in line
    if torch.version.cuda is None and torch.version.hip is None:
        assert "is a CPU build without CUDA" in line and "make install DEVICE=cuda" in line


@pytest.mark.parametrize("field, value, expected", [
    ("max_steps", True, "a whole number"),
    ("max_steps", 2.5, "a whole number"),
    ("micro_batch_size", float("nan"), "a whole number"),
    ("lambda_reason", float("inf"), "a finite number"),
    ("temperature", True, "a finite number"),
    ("stop_at_step", float("nan"), "a whole number or None"),
])
def test_configs_refuse_bools_nan_and_infinities(tmp_path, field, value, expected):
    with pytest.raises(ValueError, match=rf"^{field}={value!r}: expected {expected}$"):
        SADConfig(data=["x"], out=str(tmp_path), teacher_signal="topk", **{field: value})
    assert SADConfig(data=["x"], out=str(tmp_path), teacher_signal="topk", lr=1e-3, temperature=2)


def test_disk_full_while_saving_a_checkpoint_leaves_no_temp_file_and_says_so(tmp_path, capsys, good_run,
                                                                              monkeypatch):
    def full_disk(obj, file, *args, **kwargs):  # the checkpoint runs out of space halfway
        Path(file).write_bytes(b"half a checkpoint")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full_disk)
    out = tmp_path / "out"
    argv = ["train", "--data", str(good_run), "--out", str(out), "--max-steps", "1", "--batch-size", "2",
            "--micro-batch-size", "2", "--max-length", "256", "--warmup-steps", "0",
            "--save-every", "1", "--no-progress", "--no-tensorboard"]
    assert cli_main(argv) == 2
    line = capsys.readouterr().err.splitlines()[-1]  # after the model builder's progress bars
    assert line.startswith("agentdistill train: error: no space left on device writing ") and str(out) in line
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]
