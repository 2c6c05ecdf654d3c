"""Nothing loads code from data: a checkpoint, an RNG state file or a model directory that would run code
when loaded is refused with one line naming it, and the code never runs."""
from __future__ import annotations

import io
import json
import os
import random
import shlex
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from agents.model_files import ModelFileError, check_model_dir
from distill.config import SFTConfig
from distill.models import build_tiny
from distill.train import Runtime, read_checkpoint, restore_checkpoint, save_checkpoint
from harness.cli import main as cli_main

TEXTS = ["Thought: I need a mug.\nAction: go to cabinet 1\nObservation: On cabinet 1, you see a mug."] * 20


class Evil:
    """Unpickling it runs a shell command that creates ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {shlex.quote(str(self.marker))}",)


def one_line(err: str) -> str:
    assert err.count("\n") == 1, err
    return err


# --------------------------------------------------------------------------- checkpoints


def _config(out: Path) -> SFTConfig:
    return SFTConfig(data=["unused"], out=str(out), model="tiny", resume=True)


def test_a_checkpoint_holds_only_tensors_and_plain_values_and_resumes_the_rng_exactly(tmp_path):
    config = _config(tmp_path / "out")
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.1, betas=(0.9, 0.95))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0 / (s + 1))
    model(torch.randn(4, 3)).sum().backward()
    optimizer.step()
    scheduler.step()
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    np.random.standard_normal()  # numpy keeps a cached gaussian: it is part of the state too
    save_checkpoint(config, 7, model, optimizer, scheduler, Runtime(torch.device("cpu")))
    for name in ("last.pt", "rng-0.pt"):  # what weights_only allows: no object is ever unpickled
        torch.load(tmp_path / "out" / "checkpoints" / name, weights_only=True)
    expected = (random.random(), np.random.standard_normal(3).tolist(), np.random.randint(1 << 30),
                torch.rand(3).tolist())

    random.seed(99)
    np.random.seed(99)
    torch.manual_seed(99)
    fresh = torch.nn.Linear(3, 2)
    fresh_opt = torch.optim.AdamW(fresh.parameters(), lr=0.1, betas=(0.9, 0.95))
    fresh_sched = torch.optim.lr_scheduler.LambdaLR(fresh_opt, lambda s: 1.0 / (s + 1))
    assert restore_checkpoint(read_checkpoint(config), fresh, fresh_opt, fresh_sched) == 7
    assert (random.random(), np.random.standard_normal(3).tolist(), np.random.randint(1 << 30),
            torch.rand(3).tolist()) == expected
    assert torch.equal(fresh.weight, model.weight)
    assert fresh_opt.state_dict()["state"][0]["exp_avg"].equal(optimizer.state_dict()["state"][0]["exp_avg"])
    assert fresh_sched.last_epoch == scheduler.last_epoch


def _resume_args(data: Path, out: Path) -> list[str]:
    return ["train", "--data", str(data), "--out", str(out), "--model", "tiny", "--resume", "--no-progress",
            "--no-tensorboard"]


def test_resume_refuses_a_checkpoint_that_would_run_code(expert_run, tmp_path, capsys):
    out, marker = tmp_path / "out", tmp_path / "ran"
    (out / "checkpoints").mkdir(parents=True)
    last = out / "checkpoints" / "last.pt"
    torch.save({"x": Evil(marker)}, last)
    assert cli_main(_resume_args(expert_run, out)) == 2
    err = one_line(capsys.readouterr().err)
    assert f"{last}: not a checkpoint this trainer wrote: it holds objects other than tensors" in err
    assert "(posix.system)" in err or "(os.system)" in err
    assert not marker.exists()


def test_resume_refuses_an_rng_state_file_that_would_run_code(expert_run, tmp_path, capsys):
    out, marker = tmp_path / "out", tmp_path / "ran"
    (out / "checkpoints").mkdir(parents=True)
    torch.save({"step": 1, "model": {}, "optimizer": {}, "scheduler": {}, "config": {}, "method": "sft"},
               out / "checkpoints" / "last.pt")
    rng = out / "checkpoints" / "rng-0.pt"
    torch.save({"python": Evil(marker)}, rng)
    assert cli_main(_resume_args(expert_run, out)) == 2
    assert f"{rng}: not a RNG state this trainer wrote" in one_line(capsys.readouterr().err)
    assert not marker.exists()


# --------------------------------------------------------------------------- model directories


@pytest.fixture()
def model_dir(tmp_path) -> Path:
    return build_tiny(TEXTS, tmp_path / "m")


def _needs_code(folder: Path, marker: Path, model_type: str) -> Path:
    """Turn a saved model into one that declares its own code (``cfg.py``, which creates ``marker``)."""
    config = json.loads((folder / "config.json").read_text())
    config["model_type"] = model_type
    config["auto_map"] = {"AutoConfig": "cfg.EvilConfig", "AutoModelForCausalLM": "cfg.EvilModel"}
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "cfg.py").write_text(f"import pathlib\npathlib.Path({str(marker)!r}).touch()\n")
    return folder / "config.json"


def _unknown_type(folder: Path) -> Path:
    config = json.loads((folder / "config.json").read_text())
    config["model_type"] = "evil-lm"
    (folder / "config.json").write_text(json.dumps(config))
    return folder / "config.json"


def _pickle_weights(folder: Path) -> Path:
    weights = folder / "pytorch_model.bin"
    torch.save(load_file(folder / "model.safetensors"), weights)
    (folder / "model.safetensors").unlink()
    return weights


#: (how to spoil a model dir -> the file the error names, what the error says)
SPOILED = {
    "auto_map, unknown model_type": (lambda d, m: _needs_code(d, m, "evil-lm"), "declares code of its own"),
    "auto_map, known model_type": (lambda d, m: _needs_code(d, m, "llama"), "declares code of its own"),
    "unknown model_type": (lambda d, m: _unknown_type(d), "model_type 'evil-lm'; expected an architecture"),
    "pickle weights": (lambda d, m: _pickle_weights(d), "pickle weights are not loaded (unpickling can run"),
}


@pytest.mark.parametrize("case", list(SPOILED))
def test_eval_refuses_a_model_dir_that_needs_code_before_run_json(case, model_dir, tmp_path, capsys,
                                                                  monkeypatch):
    marker = tmp_path / "ran"
    spoil, says = SPOILED[case]
    named = spoil(model_dir, marker)
    monkeypatch.setattr(sys, "stdin", io.StringIO("y\n"))  # what transformers' trust prompt would read
    runs = tmp_path / "runs"
    argv = ["eval", "--env", "webshop", "--agent", str(model_dir), "--episodes", "1", "--workers", "0",
            "--runs-dir", str(runs), "--run", "r", "--no-progress"]
    assert cli_main(argv) == 2
    assert f"{named}: {says}" in one_line(capsys.readouterr().err)
    assert not (runs / "r" / "run.json").exists()
    assert not marker.exists()
    assert sys.stdin.read() == "y\n"  # never asked


@pytest.mark.parametrize("case", ["auto_map, unknown model_type", "pickle weights"])
def test_train_refuses_a_model_dir_that_needs_code_before_writing(case, model_dir, expert_run, tmp_path,
                                                                  capsys, monkeypatch):
    marker = tmp_path / "ran"
    spoil, says = SPOILED[case]
    named = spoil(model_dir, marker)
    monkeypatch.setattr(sys, "stdin", io.StringIO("y\n"))
    out = tmp_path / "out"
    argv = ["train", "--data", str(expert_run), "--out", str(out), "--model", str(model_dir),
            "--no-progress", "--no-tensorboard"]
    assert cli_main(argv) == 2
    assert f"{named}: {says}" in one_line(capsys.readouterr().err)
    assert not out.exists() and not marker.exists()
    assert sys.stdin.read() == "y\n"


def test_a_tokenizer_that_declares_code_is_refused(model_dir):
    file = model_dir / "tokenizer_config.json"
    settings = json.loads(file.read_text())
    settings["auto_map"] = {"AutoTokenizer": ["tok.EvilTokenizer", None]}
    file.write_text(json.dumps(settings))
    with pytest.raises(ModelFileError, match="^" + f"{file}: declares code of its own"):
        check_model_dir(model_dir)


def test_safetensors_are_used_when_pickle_weights_sit_beside_them(model_dir):
    torch.save(load_file(model_dir / "model.safetensors"), model_dir / "pytorch_model.bin")
    assert check_model_dir(model_dir) == model_dir  # transformers reads model.safetensors, never the pickle
