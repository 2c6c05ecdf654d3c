"""The trainer's precision: bf16 autocast where the CPU has AMX / AVX512-BF16 (or on CUDA), fp32 elsewhere
or when forced; the resolved precision is recorded in train_summary.json and agentdistill.json."""
from __future__ import annotations

import csv
import json

import pytest
import torch

import agents.precision as precision
from distill.config import SFTConfig
from distill.train import setup_runtime, train

SMALL = {"batch_size": 2, "micro_batch_size": 2, "max_length": 256, "lr": 3e-3, "warmup_steps": 1,
         "eval_fraction": 0.0, "progress": False, "tensorboard": False, "max_steps": 2, "save_every": 2}


@pytest.mark.parametrize(
    ("flags", "want"), [((), "fp32"), (("avx512_bf16",), "bf16"), (("amx_bf16",), "bf16")]
)
def test_auto_picks_bf16_only_on_a_cpu_with_bf16_instructions(monkeypatch, flags, want):
    monkeypatch.setattr(precision, "cpu_bf16_flags", lambda: flags)
    assert precision.resolve_precision("auto", "cpu") == want
    assert setup_runtime("cpu", "auto").precision == want
    # forcing wins over detection, both ways
    assert setup_runtime("cpu", "fp32").precision == "fp32"
    assert setup_runtime("cpu", "bf16").precision == "bf16"
    assert precision.resolve_precision("auto", "cuda") == "bf16"


def test_autocast_computes_matmuls_in_bf16_only_when_resolved_so():
    x = torch.randn(4, 8)
    w = torch.randn(8, 3)
    with precision.autocast("bf16", "cpu"):
        assert (x @ w).dtype == torch.bfloat16
    with precision.autocast("fp32", "cpu"):
        assert (x @ w).dtype == torch.float32
    with pytest.raises(ValueError, match="resolve it first"):
        precision.autocast("auto", "cpu")


def test_a_bad_precision_is_refused_naming_the_option():
    with pytest.raises(ValueError, match="precision"):
        SFTConfig(data=["x"], out="y", precision="fp16")


def _first_loss(out) -> float:
    with (out / "metrics.csv").open() as f:
        return float(next(csv.DictReader(f))["loss"])


def test_training_records_the_precision_it_ran_in(distill_root, expert_run):
    runs = {}
    for name in ("fp32", "bf16"):
        config = SFTConfig(data=[str(expert_run)], out=str(distill_root / f"precision-{name}"), model="tiny",
                           precision=name, loss_on="episode", **SMALL)
        out = train(config)
        summary = json.loads((out / "train_summary.json").read_text())
        record = json.loads((out / "agentdistill.json").read_text())
        assert summary["precision"] == record["precision"] == name
        runs[name] = _first_loss(out)
    # the same model, data and seed: bf16 matmuls move the loss a little, never a lot
    assert runs["bf16"] != runs["fp32"]
    assert runs["bf16"] == pytest.approx(runs["fp32"], rel=0.05)
