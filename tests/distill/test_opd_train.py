"""On-policy distillation end to end on tiny models: opd trains on a log with guided turns through the
CLI and reports its token budget and time split; sad_opd with unit λs is opd step for step; the depth
curriculum counts exactly the completions of the first turns."""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pandas as pd
import pytest
from transformers import AutoTokenizer

from distill.config import OPDConfig, SADOPDConfig
from distill.data import BatchPlan, collate, encode_episodes, load_episodes, micro_batches, split_heldout
from distill.train import count_tokens, first_turns, train
from harness.cli import main as cli_main

SMALL = {"batch_size": 4, "micro_batch_size": 2, "max_length": 384, "lr": 3e-3, "warmup_steps": 1,
         "eval_fraction": 0.2, "max_steps": 2, "eval_every": 2, "save_every": 2, "seed": 0}


def metrics(run: Path) -> list[dict[str, str]]:
    with (run / "metrics.csv").open() as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def guided_run(distill_root, teacher_run) -> Path:
    """The tiny teacher's logged run with a ``guided`` column: a guide played every third turn (step 1, 4,
    ...); episode 0's flags are null, as a writer that predates the column leaves them."""
    frame = pd.read_parquet(teacher_run / "episodes.parquet")
    guided = (frame["step"] % 3 == 1).astype(object)
    guided[frame["episode"] == 0] = None
    frame["guided"] = guided
    run = distill_root / "runs" / "opd-guided"
    run.mkdir(parents=True)
    frame.to_parquet(run / "episodes.parquet", index=False)
    assert 0 < frame["guided"].eq(True).sum() < len(frame)
    return run


@pytest.fixture(scope="module")
def opd_run(distill_root, tiny_teacher, guided_run) -> Path:
    out = distill_root / "opd"
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in SMALL.items()]
    args = ["distill", "--method", "opd", "--teacher", str(tiny_teacher), "--student", "tiny-student",
            "--data", str(guided_run), "--out", str(out), *flags, "--no-progress", "--no-tensorboard"]
    assert cli_main(args) == 0
    return out


def test_opd_trains_on_guided_episodes_and_reports_its_token_budget_and_time_split(opd_run):
    rows = metrics(opd_run)
    assert [r["step"] for r in rows] == ["1", "2"]
    for row in rows:
        assert math.isfinite(float(row["loss"])) and float(row["loss"]) > 0
        assert float(row["loss_tokens"]) > 0
    assert math.isfinite(float(rows[-1]["eval_loss"]))
    summary = json.loads((opd_run / "train_summary.json").read_text())
    assert summary["student_tokens"] == sum(int(float(r["loss_tokens"])) for r in rows)
    assert summary["teacher_forward_s"] > 0 and summary["train_s"] > 0
    assert summary["teacher_signal"] == "logits"
    record = json.loads((opd_run / "agentdistill.json").read_text())
    assert (record["method"], record["kind"]) == ("opd", "student")
    assert record["student_tokens"] == summary["student_tokens"]


def test_sad_opd_with_unit_lambdas_trains_exactly_like_opd(distill_root, tiny_teacher, guided_run, opd_run):
    config = SADOPDConfig(
        data=[str(guided_run)], out=str(distill_root / "sad-opd"), model="tiny-student",
        teacher=str(tiny_teacher), lambda_reason=1.0, lambda_act=1.0, progress=False, tensorboard=False,
        **SMALL,
    )
    sad_opd, opd = metrics(train(config)), metrics(opd_run)
    for a, b in zip(sad_opd, opd, strict=True):
        for key in ("loss", "grad_norm", "loss_tokens", "eval_loss", "eval_kl_reason", "eval_kl_act"):
            if a[key] or b[key]:
                assert float(a[key]) == pytest.approx(float(b[key]), rel=1e-5, abs=1e-6), (key, a["step"])


def test_depth_curriculum_counts_exactly_the_completions_of_the_first_turns(distill_root, tiny_teacher,
                                                                           teacher_run):
    """On a log without the guided column (every turn the student's), JSD, the first 4 turns only."""
    config = OPDConfig(
        data=[str(teacher_run)], out=str(distill_root / "opd-depth"), model="tiny-student",
        teacher=str(tiny_teacher), divergence="jsd", beta=0.3, max_turns=4, progress=False,
        tensorboard=False, **SMALL,
    )
    rows = metrics(train(config))
    # the trainer's batches, rebuilt: the completion tokens of the first turns in each step's global batch
    tokenizer = AutoTokenizer.from_pretrained(Path(config.out) / "init")
    episodes, _ = split_heldout(load_episodes(config.data), config.eval_fraction, config.seed)
    examples = encode_episodes(episodes, tokenizer, config.max_length, logged_context=True)
    plan = BatchPlan([len(e) for e in examples], config.batch_size, config.seed)
    shallow, every = [], []
    for step, row in enumerate(rows):
        parts = micro_batches(plan.global_batch(step), config.micro_batch_size, 0, 1)
        batches = [collate([examples[i] for i in part], int(tokenizer.pad_token_id)) for part in parts]
        shallow.append(count_tokens([first_turns(b, config.max_turns) for b in batches])[0])
        every.append(count_tokens(batches)[0])
        assert float(row["loss_tokens"]) == shallow[-1], step
        assert math.isfinite(float(row["loss"])) and (float(row["loss"]) > 0) == (shallow[-1] > 0)
    assert 0 < sum(shallow) < sum(every)
