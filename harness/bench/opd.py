"""Bench figure 7, on-policy distillation (``--methods opd,sad_opd``): how fast the live teacher scores the
student's own tokens, and where the wall time of one round goes.

- **teacher scoring**: student completion tokens scored per second by the teacher's forward pass (no
  gradient) over the logged student episodes of a round, encoded and batched as the trainer encodes them
  (:func:`distill.data.encode_episodes` with the logged context, :func:`distill.data.collate`); measured
  with :func:`harness.bench.core.measure` (threads pinned, repeated until stable). Only completion tokens of
  the student's own turns count (prompt and observation tokens are context, guided turns are not scored).
- **round split**: one real round of :func:`harness.experiment.opd.run_opd` (``rounds=1``: the student
  plays the train split unguided, the teacher scores, the student trains), repeated; each repeat's
  ``rollout_s``, ``scoring_s`` and ``train_s`` from its ``rounds.json``.

CPU: the ``tiny`` teacher and ``tiny-student`` (fresh weights, BPE trained on expert WebShop episodes),
4-step episodes. CUDA: SmolLM2-135M (bf16) scoring and a 37.8M student of the anchor's shape playing and
training, 15-step episodes. There is no baseline to compare with: the rows are absolute numbers.
"""
from __future__ import annotations

import contextlib
import io
import json
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from harness.bench.core import BenchContext, Result, measure, pinned_threads
from harness.bench.training import ENV, expert_episodes, smol_pair, tiny_pair

#: the round's parts, as rounds.json names them -> the table's label
ROUND_PARTS = {"rollout_s": "rollout (student plays)", "scoring_s": "scoring (teacher forward)",
               "train_s": "training (student steps)"}


class TeacherScorer:
    """The live teacher's forward pass over logged student episodes, in the trainer's batches."""

    def __init__(self, run_dir: Path, teacher: Path, *, batch: int, max_length: int, device: str):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from distill.data import encode_episodes, load_episodes

        tokenizer = AutoTokenizer.from_pretrained(teacher, trust_remote_code=False)
        self.pad_id = int(tokenizer.pad_token_id if tokenizer.pad_token_id is not None
                          else tokenizer.eos_token_id)
        self.examples = encode_episodes(load_episodes([run_dir]), tokenizer, max_length, logged_context=True)
        if not self.examples:
            raise ValueError(f"{run_dir}: no episode to score")
        self.batch, self.device = batch, device
        dtype = torch.bfloat16 if device == "cuda" else torch.float32
        self.teacher = AutoModelForCausalLM.from_pretrained(
            teacher, dtype=dtype, trust_remote_code=False, use_safetensors=True
        ).to(device).eval()
        guided = [e.guided_mask or [False] * len(e) for e in self.examples]
        self.student_tokens = sum(c and not g for e, gm in zip(self.examples, guided, strict=True)
                                  for c, g in zip(e.completion_mask, gm, strict=True))
        self.sequence_tokens = sum(len(e) for e in self.examples)  # what the teacher reads, context included

    @torch.no_grad()
    def tokens_per_s(self) -> float:
        """One pass of the teacher over every sequence: student completion tokens per second."""
        from distill.data import collate

        started = time.perf_counter()
        for i in range(0, len(self.examples), self.batch):
            batch = collate(self.examples[i:i + self.batch], self.pad_id)
            logits = self.teacher(input_ids=batch["input_ids"].to(self.device),
                                  attention_mask=batch["attention_mask"].to(self.device)).logits  # [B, T, V]
            float(logits[0, 0, 0])  # wait for the device
        return self.student_tokens / (time.perf_counter() - started)


def one_round(out: Path, student: Path, teacher: Path, *, episodes: int, steps: int, batch: int,
              max_length: int, max_new_tokens: int, env_steps: int, device: str) -> dict[str, Any]:
    """One unguided round of ``run_opd`` in ``out`` (played in this process: ``workers=0``); its record."""
    from harness.experiment.opd import OPDSchedule, run_opd

    train_settings = {"batch_size": batch, "micro_batch_size": batch, "max_length": max_length, "lr": 1e-4,
                      "warmup_steps": 0, "eval_fraction": 0.0, "eval_every": 0, "save_every": 10 * steps,
                      "device": device, "tensorboard": False, "progress": False}
    agent_kwargs = {"max_new_tokens": max_new_tokens, "max_prompt_tokens": max_length - max_new_tokens,
                    "device": device}
    schedule = OPDSchedule(rounds=1, episodes_per_round=episodes, steps_per_round=steps, guide="none")
    with contextlib.redirect_stdout(io.StringIO()):
        run_opd(env=ENV, method="opd", student=student, teacher=teacher, out=out, schedule=schedule,
                train_settings=train_settings, agent_kwargs=agent_kwargs, max_steps=env_steps, workers=0,
                seed=0)
    return json.loads((out / "rounds.json").read_text())[0]


def opd_round(ctx: BenchContext) -> list[Result]:
    """Teacher scoring throughput and the rollout / scoring / training split of one OPD round."""
    cuda = ctx.device == "cuda"
    work = ctx.work_dir / "opd"
    if cuda:
        teacher, student = smol_pair(work)
        sizes = {"episodes": ctx.pick(16, 2), "steps": ctx.pick(10, 2), "batch": 16, "max_length": 1024,
                 "max_new_tokens": 96, "env_steps": 15}
    else:
        teacher, student = tiny_pair(work, expert_episodes(work / "episodes", ctx.pick(16, 4)))
        sizes = {"episodes": 2, "steps": 2, "batch": 2, "max_length": 512, "max_new_tokens": 24,
                 "env_steps": 4}
    with pinned_threads(ctx.threads) as threads:  # a round is seconds: one repeat fewer than other figures
        records = [one_round(work / f"round-{i}", student, teacher, device=ctx.device, **sizes)
                   for i in range(max(1, ctx.repeats - 1))]
    models = "smollm2-135m bf16 scores a 38M student" if cuda else "tiny scores tiny-student"
    in_round = [r["student_tokens"] / r["scoring_s"] for r in records if r.get("scoring_s")]
    rows = [scoring_row(ctx, work / "round-0" / "round_0" / "rollouts", teacher, batch=sizes["batch"],
                        max_length=sizes["max_length"], models=models, in_round=in_round)]
    totals = [sum(r[part] for part in ROUND_PARTS) for r in records]
    for part, label in ROUND_PARTS.items():
        values = [float(r[part]) for r in records]
        shares = [v / t for v, t in zip(values, totals, strict=True)]
        rows.append(Result(7, f"OPD round: {label}", "s", values, threads=threads, stopped="repeats",
                           details={"share_of_round": shares, "median_share": statistics.median(shares),
                                    **sizes, "student_tokens": [r["student_tokens"] for r in records]},
                           note=f"one unguided round of run_opd ({models}), repeated {len(records)}×"))
    return rows


def scoring_row(ctx: BenchContext, run_dir: Path, teacher: Path, *, batch: int, max_length: int, models: str,
                in_round: list[float] | None = None) -> Result:
    """Figure 7's teacher-scoring row over the logged episodes in ``run_dir``; ``details["flops_per_token"]``
    is 2·N_teacher times the sequence tokens the teacher reads per student token scored."""
    from distill.models import count_parameters

    scorer = TeacherScorer(run_dir, teacher, batch=batch, max_length=max_length, device=ctx.device)
    measured = measure({"scoring": scorer.tokens_per_s}, [], ctx.budget, ctx.threads)
    flops = 2 * count_parameters(scorer.teacher) * scorer.sequence_tokens / max(1, scorer.student_tokens)
    return Result(7, f"teacher scoring, {models}", "student tokens/s", measured.samples["scoring"],
                  threads=measured.threads, stopped=measured.stopped,
                  details={"sequences": len(scorer.examples), "student_tokens": scorer.student_tokens,
                           "sequence_tokens": scorer.sequence_tokens, "batch": batch,
                           "flops_per_token": flops, "in_round_tokens_per_s": in_round or []},
                  note="teacher forward, no grad, over one round's logged student episodes in the trainer's "
                       "batches; only the student's own completion tokens count")
