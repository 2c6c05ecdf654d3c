"""Bench figure 8, fine-tuning throughput: tokens/s of ``agentdistill train`` fine-tuning SmolLM2-135M on
WebShop expert demos (how the pipeline trains its teacher) against a plain Hugging Face loop on the
same windows (see ``harness.bench.cli``).

The baseline is what a user writes first: ``model(input_ids, attention_mask, labels=labels).loss`` in
fp32 (labels -100 outside the completions, so both sides minimise the same loss), ``backward``, AdamW.
It sees exactly the windows the trainer sees (the same encoded episodes, ``BatchPlan`` and
``collate``) and counts tokens the same way (non-padding tokens per step, step time only).

Our side runs the way the pipeline runs it: bf16 autocast where the CPU has AMX / AVX512-BF16
(``--precision auto``: :mod:`agents.precision`) and the LM head only at the positions in the
completion-only loss (:mod:`distill.loss_positions`). Floor: 2.5x.
"""
from __future__ import annotations

import contextlib
import io
import json
import time
from pathlib import Path
from typing import Any

import torch

from harness.bench.core import BenchContext, Result, measure, paired_result
from harness.bench.training import expert_episodes

MODEL = "smollm2-135m"


def project_tokens_per_s(run_dir: Path, out: Path, *, steps: int, batch: int, max_length: int,
                         device: str) -> float:
    """``agentdistill train`` (sft, completion-only loss) for ``steps`` steps; the trainer's own tokens/s."""
    from harness.cli import main as cli_main

    argv = ["train", "--data", str(run_dir), "--out", str(out), "--model", MODEL,
            "--max-steps", str(steps), "--batch-size", str(batch), "--micro-batch-size", str(batch),
            "--max-length", str(max_length), "--warmup-steps", "0", "--eval-fraction", "0",
            "--eval-every", "0", "--save-every", str(10 * steps), "--device", device,
            "--no-tensorboard", "--no-progress"]
    with contextlib.redirect_stdout(io.StringIO()):
        code = cli_main(argv)
    if code != 0:
        raise RuntimeError(f"agentdistill {' '.join(argv)} exited {code}")
    return float(json.loads((out / "train_summary.json").read_text())["tokens_per_s"])


class PlainLoop:
    """Fine-tuning as a plain HF loop: full logits and HF's loss, fp32, on the trainer's own windows."""

    def __init__(self, run_dir: Path, *, steps: int, batch: int, max_length: int, device: str) -> None:
        from transformers import AutoTokenizer

        from distill.data import BatchPlan, encode_episodes, load_episodes
        from distill.models import resolve_model_path

        self.model_dir, self.device, self.steps = resolve_model_path(MODEL), device, steps
        tokenizer = AutoTokenizer.from_pretrained(self.model_dir, trust_remote_code=False)
        self.pad_id = int(
            tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        )
        self.examples = encode_episodes(load_episodes([run_dir]), tokenizer, max_length)
        self.plan = BatchPlan([len(e) for e in self.examples], batch, seed=0)

    def tokens_per_s(self) -> float:
        """Fine-tune a fresh copy for ``steps`` steps; non-padding tokens over summed step time."""
        from transformers import AutoModelForCausalLM

        from distill.data import collate

        model = AutoModelForCausalLM.from_pretrained(
            self.model_dir, dtype=torch.float32, trust_remote_code=False
        ).to(self.device).train()
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
        tokens, busy = 0, 0.0
        for step in range(self.steps):
            t0 = time.perf_counter()
            batch = collate([self.examples[i] for i in self.plan.global_batch(step)], self.pad_id)
            ids, mask = batch["input_ids"].to(self.device), batch["attention_mask"].to(self.device)  # [B, T]
            # HF shifts labels itself: label t is token t (the trainer's labels are already shifted)
            labels = torch.where(batch["completion_mask"].roll(1, dims=1), batch["input_ids"], -100)
            loss = model(input_ids=ids, attention_mask=mask, labels=labels.to(self.device)).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            float(loss.detach())
            busy += time.perf_counter() - t0
            tokens += int(batch["attention_mask"].sum())
        return tokens / busy


def finetune_throughput(ctx: BenchContext) -> list[Result]:
    """Tokens/s of the project's teacher fine-tuning over a plain fp32 HF loop (floor 2.5x)."""
    from agents.precision import cpu_bf16_flags, resolve_precision

    work = ctx.work_dir / "finetune"
    run_dir = expert_episodes(work / "episodes", ctx.pick(16, 4))
    steps, batch, max_length = ctx.pick(2, 1), 2, ctx.pick(1024, 256)
    baseline = PlainLoop(run_dir, steps=steps, batch=batch, max_length=max_length, device=ctx.device)
    runs = iter(range(10**6))

    def ours() -> float:
        return project_tokens_per_s(run_dir, work / f"train-{next(runs)}", steps=steps, batch=batch,
                                    max_length=max_length, device=ctx.device)

    measured = measure({"ours": ours, "baseline": baseline.tokens_per_s}, [("ours", "baseline")],
                       ctx.budget, ctx.threads)
    lengths = [len(e) for e in baseline.examples]
    completion = sum(sum(e.completion_mask) for e in baseline.examples) / max(1, sum(lengths))
    details: dict[str, Any] = {
        "precision": resolve_precision("auto", ctx.device), "cpu_bf16_flags": list(cpu_bf16_flags()),
        "steps": steps, "batch": batch, "max_length": max_length, "windows": len(lengths),
        "mean_window_tokens": round(sum(lengths) / len(lengths), 1),
        "completion_share": round(completion, 3), "seconds": round(measured.seconds, 1),
    }
    return [paired_result(
        8, f"SFT of {MODEL} on WebShop demos", "tokens/s", measured, "ours", "baseline",
        baseline_label="HF forward+backward, labels= loss, fp32, AdamW", floor=2.5, details=details,
        note="ours: agentdistill train, --precision auto, LM head at loss positions only",
    )]
