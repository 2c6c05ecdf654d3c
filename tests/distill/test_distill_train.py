"""The trainer end to end on tiny models: loss goes down, resume continues the same curve,
two gloo processes equal one, the saved student loads and plays; an earlier training is never
silently replaced or continued with other settings, and damaged files are one-line errors."""
from __future__ import annotations

import csv
import itertools
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM

from distill.config import SADConfig, SFTConfig, TokenKDConfig
from distill.curriculum import RootPacing, easiest_first
from distill.data import BatchPlan, collate, encode_episodes, load_episodes
from distill.models import build_tiny
from distill.train import loss_mask, lr_multiplier, train
from harness.cli import main as cli_main

REPO = Path(__file__).resolve().parents[2]
SMALL = {"batch_size": 4, "micro_batch_size": 2, "max_length": 384, "lr": 3e-3, "warmup_steps": 2,
         "eval_fraction": 0.2, "progress": False, "tensorboard": False}


def metrics(run: Path) -> list[dict[str, str]]:
    with (run / "metrics.csv").open() as f:
        return list(csv.DictReader(f))


def eval_rows(run: Path) -> list[dict[str, str]]:
    return [r for r in metrics(run) if r["eval_loss"]]


def test_sft_teacher_lowers_its_heldout_loss(tiny_teacher):
    evals = eval_rows(tiny_teacher)
    assert len(evals) == 3
    assert float(evals[-1]["eval_loss"]) < float(evals[0]["eval_loss"]) - 0.3
    record = json.loads((tiny_teacher / "agentdistill.json").read_text())
    assert record["kind"] == "teacher" and record["env"] == "alfworld" and record["method"] == "sft"
    assert record["preset"] == "tiny" and record["data"] and record["created"]
    assert record["loss_on"] == "episode"


@pytest.fixture(scope="module")
def sad_student(distill_root, tiny_teacher, teacher_run) -> Path:
    """A tiny student distilled with SAD from the teacher model's full logits."""
    config = SADConfig(
        data=[str(teacher_run)], out=str(distill_root / "sad"), model="tiny-student",
        teacher=str(tiny_teacher),
        teacher_signal="logits", max_steps=16, eval_every=8, save_every=16, **SMALL,
    )
    return train(config)


def test_sad_lowers_heldout_loss_and_span_kl(sad_student):
    first, last = eval_rows(sad_student)
    for key in ("eval_loss", "eval_kl_reason", "eval_kl_act"):
        assert float(last[key]) < float(first[key]), key
    record = json.loads((sad_student / "agentdistill.json").read_text())
    assert (record["kind"], record["method"], record["teacher_signal"]) == ("student", "sad", "logits")
    assert record["loss_on"] == "completion"


def test_saved_student_reloads_and_acts_through_the_lm_agent(sad_student):
    model = AutoModelForCausalLM.from_pretrained(sad_student)
    assert model.config.num_hidden_layers == 2
    saved = model.state_dict()
    trained = torch.load(sad_student / "checkpoints" / "last.pt", weights_only=True)["model"]  # last step's
    initial = AutoModelForCausalLM.from_pretrained(sad_student / "init").state_dict()
    assert saved.keys() == trained.keys()
    for name, weights in trained.items():
        torch.testing.assert_close(saved[name], weights, rtol=0, atol=0, msg=name)
    assert [name for name in saved if torch.equal(saved[name], initial[name])] == []  # all trained
    import agents

    if "lm" not in agents.names():
        pytest.skip("the lm agent is not registered in this checkout")
    agent = agents.make("lm", model=str(sad_student), env="alfworld", max_new_tokens=12, device="cpu")
    agent.reset({"task": "put a mug in the cabinet"})
    step = agent.act("You are in the middle of a room. Your task is to: put a mug in the cabinet.")
    assert isinstance(step.text, str) and step.token_ids


def _distill_args(teacher_run: Path, teacher: Path, out: Path, steps: int, *extra: str) -> list[str]:
    return [
        "distill", "--method", "token_kd", "--teacher", str(teacher), "--student", "tiny-student",
        "--data", str(teacher_run), "--out", str(out), "--max-steps", str(steps), "--batch-size", "4",
        "--micro-batch-size", "2", "--max-length", "384", "--lr", "3e-3", "--warmup-steps", "2",
        "--eval-every", "3", "--save-every", "2", "--no-progress", "--no-tensorboard", *extra,
    ]


def test_resume_continues_the_same_curve(distill_root, tiny_teacher, teacher_run):
    straight, interrupted = distill_root / "straight", distill_root / "interrupted"
    assert cli_main(_distill_args(teacher_run, tiny_teacher, straight, 6)) == 0
    assert cli_main(_distill_args(teacher_run, tiny_teacher, interrupted, 6, "--stop-at-step", "3")) == 0
    assert not (interrupted / "model.safetensors").exists()  # stopped early: no final model yet
    assert cli_main(_distill_args(teacher_run, tiny_teacher, interrupted, 6, "--resume")) == 0
    a, b = metrics(straight), metrics(interrupted)
    assert [r["step"] for r in b] == [str(s) for s in range(1, 7)]
    for ra, rb in zip(a, b, strict=True):
        assert abs(float(ra["loss"]) - float(rb["loss"])) < 1e-5, ra["step"]
        assert float(ra["lr"]) == pytest.approx(float(rb["lr"]), rel=1e-9)
    assert abs(float(a[-1]["eval_loss"]) - float(b[-1]["eval_loss"])) < 1e-5


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_gloo_processes_match_one_on_the_same_global_batch(distill_root, tiny_teacher, teacher_run):
    one, two = distill_root / "ddp1", distill_root / "ddp2"
    assert cli_main(_distill_args(teacher_run, tiny_teacher, one, 3, "--device", "cpu")) == 0
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc-per-node", "2",
        "--master-addr", "127.0.0.1", "--master-port", str(_free_port()),
        "-m", "distill.cli", *_distill_args(teacher_run, tiny_teacher, two, 3, "--device", "cpu"),
    ]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=240,
                          check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads((two / "train_summary.json").read_text())["world_size"] == 2
    for r1, r2 in zip(metrics(one), metrics(two), strict=True):
        assert abs(float(r1["loss"]) - float(r2["loss"])) < 1e-5, r1["step"]
        assert float(r1["tokens"]) == float(r2["tokens"])
    w1 = AutoModelForCausalLM.from_pretrained(one).state_dict()
    w2 = AutoModelForCausalLM.from_pretrained(two).state_dict()
    for name in w1:
        torch.testing.assert_close(w1[name], w2[name], atol=1e-5, rtol=1e-4)


def test_mismatched_student_vocabulary_is_a_clear_error(distill_root, tiny_teacher, teacher_run):
    other = build_tiny(["Question: who? Answer: Finish[nobody]"] * 30, distill_root / "other-vocab")
    config = TokenKDConfig(
        data=[str(teacher_run)], out=str(distill_root / "mismatch"), model=str(other),
        teacher=str(tiny_teacher),
        max_steps=2, **SMALL,
    )
    with pytest.raises(ValueError, match="different vocabularies"):
        train(config)


def test_cli_rejects_options_of_another_method(distill_root, teacher_run, tiny_teacher, capsys):
    args = _distill_args(teacher_run, tiny_teacher, distill_root / "x", 1) + ["--lambda-act", "0.5"]
    assert cli_main(args) == 2
    assert "--lambda-act: not an option of --method token_kd" in capsys.readouterr().err
    bad = ["train", "--data", str(teacher_run), "--out", str(distill_root / "y"), "--lr", "5"]
    assert cli_main(bad) == 2
    assert "lr=5.0 is out of range" in capsys.readouterr().err


def test_curriculum_orders_simple_first_and_paces_in(expert_run, bpe_tokenizer):
    examples = encode_episodes(load_episodes([expert_run]), bpe_tokenizer, 100_000)
    order = easiest_first(examples, 1.0, 1.0, 0.0)
    sizes = [examples[i].stats["reason_tokens"] / 1 + examples[i].stats["act_tokens"] for i in order]
    assert sizes[0] < sizes[-1]
    pacing = RootPacing(start=0.25, steps=10)
    assert pacing(0) == 0.25 and pacing(10) == 1.0 and pacing(5) > 0.5  # root pacing runs ahead of linear
    plan = BatchPlan([len(e) for e in examples], batch_size=2, seed=0, order=order, pacing=pacing)
    pool = set(order[: -(-len(order) // 4)])
    assert set(plan.global_batch(0)) <= pool
    late = {i for s in range(10, 40) for i in plan.global_batch(s)}
    assert late - pool  # hard examples are reached


def test_lr_schedule_warms_up_then_decays_to_the_floor():
    values = [lr_multiplier(s, 4, 20, 0.1) for s in range(20)]
    assert values[:4] == [0.25, 0.5, 0.75, 1.0]
    assert all(a >= b for a, b in itertools.pairwise(values[3:]))
    assert lr_multiplier(20, 4, 20, 0.1) == pytest.approx(0.1)


def test_loss_on_episode_extends_the_loss_to_observations_after_the_first_completion(expert_run,
                                                                                       bpe_tokenizer):
    examples = encode_episodes(load_episodes([expert_run]), bpe_tokenizer, 384)
    batch = collate(examples[:4], bpe_tokenizer.pad_token_id, False)
    completion = batch["completion_mask"]
    assert torch.equal(loss_mask(batch, "completion"), completion)
    episode = loss_mask(batch, "episode")
    first = completion.int().argmax(-1)  # (B,) position of each sequence's first completion token
    for row in range(len(first)):
        assert not episode[row, : first[row]].any()  # nothing of the prompt before it
    assert (episode >= completion).all() and not (episode & (batch["labels"] == -100)).any()  # no padding
    extra = episode & ~completion  # the tokens only loss_on="episode" trains on: the observations
    observed = bpe_tokenizer.decode(batch["labels"][0][extra[0]].tolist())  # labels[t]: the token after t
    assert "Observation:" in observed and "you see" in observed
    with pytest.raises(ValueError, match="loss_on='episode' is for sft only; sad aligns"):
        SADConfig(data=["x"], out="y", loss_on="episode")
    with pytest.raises(ValueError, match="loss_on='everything' is out of range"):
        SFTConfig(data=["x"], out="y", loss_on="everything")


def test_an_earlier_training_is_never_silently_replaced_or_changed(distill_root, tiny_teacher, teacher_run,
                                                                   capsys):
    out = distill_root / "guarded"
    assert cli_main(_distill_args(teacher_run, tiny_teacher, out, 2, "--stop-at-step", "1")) == 0
    checkpoint = (out / "checkpoints" / "last.pt").read_bytes()
    capsys.readouterr()
    assert cli_main(_distill_args(teacher_run, tiny_teacher, out, 2)) == 2
    listed = "checkpoints, init, metrics.csv, train_summary.json"
    assert f"out={out} is not empty ({listed}): pass --resume" in capsys.readouterr().err
    assert (out / "checkpoints" / "last.pt").read_bytes() == checkpoint  # untouched

    changed = _distill_args(teacher_run, tiny_teacher, out, 3, "--resume", "--lr", "1e-3", "--device", "cpu")
    assert cli_main(changed) == 2
    err = capsys.readouterr().err
    changes = "max_steps: 2 -> 3; lr: 0.003 -> 0.001"
    assert f"was trained with other settings ({changes}): pass --allow-changes" in err
    assert cli_main([*changed, "--allow-changes"]) == 0  # listed, then continued from step 1
    assert f"resuming {out} with changed settings: {changes}" in capsys.readouterr().err
    assert [r["step"] for r in metrics(out)] == ["1", "2", "3"]

    assert cli_main(_distill_args(teacher_run, tiny_teacher, out, 2, "--overwrite")) == 0  # starts over
    assert [r["step"] for r in metrics(out)] == ["1", "2"]
    assert torch.load(out / "checkpoints" / "last.pt", weights_only=True)["config"]["lr"] == 3e-3

    elsewhere = distill_root / "not-a-training"
    elsewhere.mkdir()
    (elsewhere / "notes.txt").write_text("mine")
    assert cli_main(_distill_args(teacher_run, tiny_teacher, elsewhere, 2, "--overwrite")) == 2
    assert "holds no earlier training (notes.txt)" in capsys.readouterr().err
    assert (elsewhere / "notes.txt").read_text() == "mine"


def test_damaged_checkpoint_and_model_files_are_one_line_errors_naming_them(distill_root, tiny_teacher,
                                                                            teacher_run, capsys):
    out = distill_root / "damaged"
    assert cli_main(_distill_args(teacher_run, tiny_teacher, out, 2, "--stop-at-step", "1")) == 0
    last = out / "checkpoints" / "last.pt"
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])
    capsys.readouterr()
    assert cli_main(_distill_args(teacher_run, tiny_teacher, out, 2, "--resume")) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{last}: not a readable checkpoint (RuntimeError: " in err

    teacher = distill_root / "truncated-teacher"
    shutil.copytree(tiny_teacher, teacher, ignore=shutil.ignore_patterns("checkpoints", "init", "tb"))
    weights = teacher / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1000])
    assert cli_main(_distill_args(teacher_run, teacher, distill_root / "from-truncated", 2)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{weights}: not a complete safetensors file" in err
    assert not (distill_root / "from-truncated").exists()  # refused before anything was written


def test_export_without_a_finished_training_names_the_summary_and_writes_nothing(tmp_path):
    from distill.train import export_checkpoint

    out, target = tmp_path / "training", tmp_path / "export"
    out.mkdir()
    config = SFTConfig(data=["x"], out=str(out))
    with pytest.raises(FileNotFoundError, match=f"{out / 'train_summary.json'}: missing; export a checkpoint "
                                                r"after train\(\) has returned"):
        export_checkpoint(config, target)
    (out / "train_summary.json").write_text(json.dumps({"steps": 3}))  # as written before it named the env
    with pytest.raises(ValueError, match="expected an object with an 'env' string"):
        export_checkpoint(config, target)
    assert not target.exists()
