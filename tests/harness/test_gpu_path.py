"""The GPU path fails fast without CUDA (torch.cuda.is_available() patched False: the fake-CUDA-absent test):
``--preset gpu`` and ``bench --device cuda`` refuse to start in one line naming ``make install DEVICE=cuda``
(exit 2) unless ``--device cpu`` is given; ``make install DEVICE=cuda`` installs the CUDA build of the same
torch and the stamp records the build, so switching DEVICE reinstalls while the CPU path stays as it was."""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import torch

from harness import cli
from harness.errors import UserError
from harness.experiment import pipeline as pipeline_module
from harness.experiment.pipeline import (
    OnPolicySettings,
    Pipeline,
    add_arguments,
    check_device,
    preset_from_args,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def _refusal(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "make install DEVICE=cuda" in err and "torch.cuda.is_available() is False" in err
    return err


def test_the_gpu_preset_refuses_to_start_without_cuda(no_cuda, tmp_path, capsys):
    assert cli.main(["pipeline", "--env", "webshop", "--preset", "gpu", "--runs-dir", str(tmp_path)]) == 2
    assert "--preset gpu (device 'auto') needs CUDA" in _refusal(capsys)
    assert not any(tmp_path.iterdir())  # refused before any stage, lock or manifest
    assert cli.main(["pipeline", "--env", "webshop", "--preset", "tiny", "--device", "cuda",
                     "--runs-dir", str(tmp_path)]) == 2
    assert "--device cuda needs CUDA" in _refusal(capsys)


def test_bench_on_cuda_refuses_to_start_without_cuda(no_cuda, tmp_path, capsys):
    assert cli.main(["bench", "--device", "cuda", "--out", str(tmp_path / "bench"), "--only", "policy"]) == 2
    assert _refusal(capsys).startswith("agentdistill bench: error: --device cuda needs CUDA")
    assert not (tmp_path / "bench").exists()


def _gpu_preset(*options: str) -> tuple[argparse.Namespace, Pipeline]:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--env", "webshop", "--preset", "gpu", *options])
    preset = preset_from_args(args)
    return args, Pipeline(Path("unused"), "webshop", preset, ("sft",), 1, False, set(), "test")


def test_device_cpu_given_runs_the_gpu_preset_on_the_cpu_as_asked(no_cuda):
    args, pipeline = _gpu_preset("--device", "cpu")
    check_device(pipeline.preset, args.device)  # no refusal
    assert pipeline.device() == "cpu"
    assert pipeline._lm_kwargs(Path("teacher"))["device"] == "cpu"
    assert pipeline._optimizer_settings(10, 1e-4, 0)["device"] == "cpu"
    args, pipeline = _gpu_preset("--device", "auto")  # asked for the fallback by name: granted
    check_device(pipeline.preset, args.device)
    args, pipeline = _gpu_preset()
    with pytest.raises(UserError, match="make install DEVICE=cuda"):
        check_device(pipeline.preset, args.device)


# --- the Makefile: which torch build `make` installs, read from its dry run (make -n) ---

def _dry_run(venv: Path, *arguments: str, stamp: str | None = None) -> list[str]:
    """The commands ``make -n`` would run with ``VENV=venv``; ``stamp``: the install stamp's content
    (None: no venv yet), written newer than pyproject.toml so that only the build can make it stale."""
    if stamp is not None:
        venv.mkdir(parents=True, exist_ok=True)
        (venv / ".installed-stamp").write_text(stamp)
        future = time.time() + 3600
        os.utime(venv / ".installed-stamp", (future, future))
    done = subprocess.run(["make", "-n", "--no-print-directory", "-C", str(ROOT), f"VENV={venv}", *arguments],
                          capture_output=True, text=True, timeout=60,
                          env={**{k: v for k, v in os.environ.items() if k != "MAKELEVEL"}, "MAKEFLAGS": ""})
    assert done.returncode == 0, done.stderr
    # make's own messages ("make: ...", or "make[1]: ..." when this runs under `make test`) are not commands
    return [line.rstrip() for line in done.stdout.splitlines() if not re.match(r"make(\[\d+\])?:", line)]


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_install_cpu_stays_as_it_was_and_cuda_installs_the_cuda_build(tmp_path):
    venv = tmp_path / "venv"
    pip, python = f"{venv}/bin/pip", f"{venv}/bin/python"
    fresh = _dry_run(venv, "test")
    assert f"{pip} install -q torch==2.13.0" in fresh and f"{python} -m pytest" in fresh
    assert not [c for c in fresh if "uninstall" in c or "TORCH_IS_CUDA" in c]  # the CPU path as before
    assert fresh[-2] == f"echo cpu > {venv}/.installed-stamp"
    cuda = _dry_run(venv, "install", "DEVICE=cuda")  # a new venv with the CUDA build
    assert cuda.index(f'{python} -c "$TORCH_IS_CUDA" 2>/dev/null || {pip} uninstall -q -y torch') \
        < cuda.index(f"{pip} install -q torch==2.13.0") < cuda.index(f'{python} -c "$TORCH_IS_CUDA_OR_SAY"')
    assert cuda[-1] == f"echo cuda > {venv}/.installed-stamp"
    # a CPU venv: DEVICE=cuda on install switches it; on other targets it keeps its build
    switched = _dry_run(venv, "install", "DEVICE=cuda", stamp="cpu\n")
    assert f"{pip} install -q torch==2.13.0" in switched
    assert switched[-1] == f"echo cuda > {venv}/.installed-stamp"
    bench = _dry_run(venv, "bench", "DEVICE=cuda", stamp="cpu\n")
    assert bench == [f"{venv}/bin/agentdistill bench --device cuda"]
    assert _dry_run(venv, "install", stamp="cpu\n") == []  # up to date: nothing to run
    assert _dry_run(venv, "test", stamp="") == [f"{python} -m pytest"]  # a stamp from before builds: cpu
    # a CUDA venv: kept by a plain install, switched back by DEVICE=cpu
    assert _dry_run(venv, "install", stamp="cuda\n") == []
    back = _dry_run(venv, "install", "DEVICE=cpu", stamp="cuda\n")
    assert back.index(f"{pip} uninstall -q -y torch") < back.index(f"{pip} install -q torch==2.13.0")
    assert back[-1] == f"echo cpu > {venv}/.installed-stamp"


# --- the estimate: every unit, at batch cost, constrained decoding's host work ---

def _estimate(*options: str, constrain: bool = True) -> dict[str, float]:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--env", "alfworld", "--preset", "gpu", *options])
    methods = tuple(m for m in args.methods.split(",") if m)
    on_policy = OnPolicySettings(args.guide, args.guide_p0, args.depth_curriculum, args.divergence)
    return Pipeline(Path("unused"), "alfworld", preset_from_args(args), methods, 1, False, set(), "test",
                    constrain_actions=constrain, on_policy=on_policy).expected_seconds()


def test_the_estimate_counts_two_teacher_evaluations_when_constrained(monkeypatch):
    free, constrained = _estimate(constrain=False), _estimate()
    assert constrained["teacher_eval"] > 2 * free["teacher_eval"]  # and the constrained one's host work
    monkeypatch.setattr(pipeline_module, "CONSTRAINED_STEP_S", 0.0)
    monkeypatch.setattr(pipeline_module, "CONSTRAINED_TURN_S", {})
    assert _estimate()["teacher_eval"] == pytest.approx(2 * free["teacher_eval"])
    others = {stage: t for stage, t in _estimate().items() if stage not in ("teacher_eval", "offline")}
    assert others == pytest.approx({stage: free[stage] for stage in others})  # offline: + the replay


def test_on_policy_rounds_cost_whole_batches_and_both_generate_calls_of_a_guided_round(monkeypatch):
    monkeypatch.setattr(pipeline_module, "CONSTRAINED_STEP_S", 0.0)  # the host work grows with episodes
    monkeypatch.setattr(pipeline_module, "CONSTRAINED_TURN_S", {})
    students = {options: _estimate("--methods", "opd", *options)["students"] for options in (
        ("--opd-episodes", "32"), ("--opd-episodes", "100"), ("--guide", "none"), ("--guide-p0", "0.5"))}
    assert students["--opd-episodes", "32"] == students["--opd-episodes", "100"]  # a batch of 100 either way
    # p0 1 (rounds p = 1, 0.5, 0): a guided middle round runs the student's and the teacher's generate calls;
    # p0 0.5 (p = 0.5, 0.25, 0) has two such rounds; without a guide the student's calls alone
    assert students["--guide-p0", "0.5"] > students["--opd-episodes", "32"] > students["--guide", "none"]
