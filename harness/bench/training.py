"""Bench figure 4, distillation throughput: student tokens/s of ``agentdistill distill --method sad``
against a straightforward distillation loop on the same models and batches (see ``harness.bench.cli``).

The baseline is what a user writes by hand (the common teacher-student loop): teacher forward
and student forward/backward under bf16 autocast (CUDA; fp32 on CPU), full-vocabulary forward KL in
fp32 in one shot (``F.kl_div(..., reduction="batchmean")``), AdamW. It sees exactly the batches the
project's trainer sees (the same encoded episodes, ``BatchPlan`` and ``collate``), and counts tokens
the same way (non-padding tokens per step, step time including collation).

Our side runs the way the pipeline runs it: ``--teacher-signal topk``, the teacher's top-20 token
log-probs read from the episode log (logged at rollout time with ``--log-topk``), no teacher forward
pass at all; the full-logits path (``--teacher-signal logits``, a teacher forward per step) is a
second row against the same baseline. The bench's episodes are the expert's, with the teacher's
top-k added by one teacher forward pass per logged completion (the completion's tokens after a
start token), so all three sides train on the same token ids.

CPU: ``tiny`` teacher → ``tiny-student`` on expert WebShop episodes. CUDA: SmolLM2-135M (pretrained)
→ a 37.8M student of the anchor's shape, 16 × 1,024 tokens; model FLOPs utilisation
((6·N_student + 2·N_teacher) · tokens/s over a measured bf16 matmul rate) and peak memory are reported.
"""
from __future__ import annotations

import contextlib
import io
import json
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from harness.bench.core import BenchContext, Result, measure, paired_result

ENV = "webshop"
TOPK = 20  # the pipeline's --log-topk
#: the anchor's student shape (~37.8M parameters with SmolLM2's 49k vocabulary)
ANCHOR_STUDENT = {"num_hidden_layers": 12, "hidden_size": 384, "intermediate_size": 1024,
                  "num_attention_heads": 6, "num_key_value_heads": 2, "head_dim": 64}


def expert_episodes(folder: Path, episodes: int) -> Path:
    """A run dir of expert episodes on the train split (the data both sides train on)."""
    from harness.evaluate import evaluate

    with contextlib.redirect_stdout(io.StringIO()):
        evaluate(ENV, "expert", split="train", episodes=episodes, workers=0, run=str(folder), progress=False)
    return folder


def tiny_pair(folder: Path, run_dir: Path) -> tuple[Path, Path]:
    """(teacher, student) dirs: the ``tiny`` preset (BPE trained on the episodes) and ``tiny-student``."""
    from distill.data import load_episodes
    from distill.models import build_tiny
    from distill.train import episode_texts

    texts = list(episode_texts(load_episodes([run_dir])))
    teacher = build_tiny(texts, folder / "teacher", preset="tiny")
    student = build_tiny([], folder / "student", preset="tiny-student", tokenizer_from=teacher, seed=1)
    return teacher, student


def smol_pair(folder: Path) -> tuple[Path, Path]:
    """(teacher, student) dirs: SmolLM2-135M and a random student of the anchor's shape, same tokenizer."""
    from distill.models import resolve_model_path

    teacher = resolve_model_path("smollm2-135m")
    return teacher, anchor_student(folder, teacher)


def anchor_student(folder: Path, source: Path) -> Path:
    """A saved student of the anchor's shape (:data:`ANCHOR_STUDENT`, random weights, seed 1) built from the
    config and tokenizer in ``source`` (SmolLM2-135M's)."""
    from transformers import AutoConfig, AutoTokenizer, LlamaForCausalLM

    config = AutoConfig.from_pretrained(source, trust_remote_code=False)
    for key, value in ANCHOR_STUDENT.items():
        setattr(config, key, value)
    torch.manual_seed(1)
    student = folder / "student-38m"
    LlamaForCausalLM(config).save_pretrained(student)
    AutoTokenizer.from_pretrained(source, trust_remote_code=False).save_pretrained(student)
    return student


@torch.no_grad()
def with_teacher_topk(run_dir: Path, teacher: Path, out: Path, k: int = TOPK, device: str = "cpu") -> Path:
    """A copy of the episode log at ``run_dir`` in ``out`` with the teacher's ``token_ids``, ``topk_ids`` and
    ``topk_logprobs`` on every step (one k-list per completion token, as ``--log-topk`` logs them)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from harness.logs import EpisodeWriter, read_episodes

    tokenizer = AutoTokenizer.from_pretrained(teacher, trust_remote_code=False)
    model = AutoModelForCausalLM.from_pretrained(
        teacher, dtype=torch.float32, trust_remote_code=False, use_safetensors=True
    ).to(device).eval()
    start = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    frame = read_episodes(run_dir)
    writer = EpisodeWriter(out)
    for _, rows in frame.groupby("episode", sort=True):
        records = []
        # pandas reads a missing integer (e.g. an expert's prompt_tokens) as NaN; the writer wants None
        for row in rows.astype(object).where(rows.notna(), None).to_dict("records"):
            ids = tokenizer.encode(row["completion"], add_special_tokens=False)
            inputs = torch.tensor([[start, *ids[:-1]]], device=device)  # [1, T]: position t predicts ids[t]
            logprobs = torch.log_softmax(model(input_ids=inputs).logits[0].float(), -1)  # [T, V]
            top = logprobs.topk(k, dim=-1)  # values/indices [T, k]
            records.append({**row, "token_ids": ids, "topk_ids": top.indices.tolist(),
                            "topk_logprobs": top.values.tolist()})
        writer.write(records)
    writer.consolidate()
    return out


def project_tokens_per_s(run_dir: Path, teacher: Path, student: Path, out: Path, *, signal: str, steps: int,
                         batch: int, max_length: int, device: str) -> float:
    """Run ``agentdistill distill --method sad --teacher-signal <signal>`` (one micro-batch per step) and
    return the trainer's own tokens/s (non-padding tokens over step time, set-up and saving excluded)."""
    from harness.cli import main as cli_main

    argv = [
        "distill",
        "--method",
        "sad",
        "--data",
        str(run_dir),
        "--out",
        str(out),
        "--student",
        str(student),
        "--teacher",
        str(teacher),
        "--teacher-signal",
        signal,
        "--max-steps",
        str(steps),
        "--batch-size",
        str(batch),
        "--micro-batch-size",
        str(batch),
        "--max-length",
        str(max_length),
        "--warmup-steps",
        "0",
        "--eval-fraction",
        "0",
        "--eval-every",
        "0",
        "--save-every",
        str(10 * steps),
        "--device",
        device,
        "--no-tensorboard",
        "--no-progress",
    ]
    with contextlib.redirect_stdout(io.StringIO()):
        code = cli_main(argv)
    if code != 0:
        raise RuntimeError(f"agentdistill {' '.join(argv)} exited {code}")
    return float(json.loads((out / "train_summary.json").read_text())["tokens_per_s"])


class BaselineLoop:
    """The hand-written loop on the trainer's own batches (same episodes, ``BatchPlan``, ``collate``)."""

    def __init__(
        self,
        run_dir: Path,
        teacher: Path,
        student: Path,
        *,
        steps: int,
        batch: int,
        max_length: int,
        device: str,
    ):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from distill.data import BatchPlan, encode_episodes, load_episodes

        self.device, self.steps, self.student_dir = device, steps, student
        tokenizer = AutoTokenizer.from_pretrained(student, trust_remote_code=False)
        self.pad_id = int(
            tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        )
        self.examples = encode_episodes(load_episodes([run_dir]), tokenizer, max_length)
        self.plan = BatchPlan([len(e) for e in self.examples], batch, seed=0)
        dtype = torch.bfloat16 if device == "cuda" else torch.float32
        self.teacher = AutoModelForCausalLM.from_pretrained(
            teacher, dtype=dtype, trust_remote_code=False, use_safetensors=True
        ).to(device).eval()

    def tokens_per_s(self) -> float:
        """Train a fresh student for ``steps`` steps; non-padding tokens over summed step time."""
        from transformers import AutoModelForCausalLM

        from distill.data import collate

        dev = self.device
        student = AutoModelForCausalLM.from_pretrained(
            self.student_dir, dtype=torch.float32, trust_remote_code=False, use_safetensors=True
        ).to(dev).train()
        optimizer = torch.optim.AdamW(student.parameters(), lr=1e-4, fused=dev == "cuda")
        tokens, busy = 0, 0.0
        for step in range(self.steps):
            t0 = time.perf_counter()
            batch = collate([self.examples[i] for i in self.plan.global_batch(step)], self.pad_id)
            ids = batch["input_ids"].to(dev)  # [B, T]
            mask = batch["attention_mask"].to(dev)  # [B, T]
            with torch.autocast(dev, dtype=torch.bfloat16, enabled=dev == "cuda"):
                with torch.no_grad():
                    teacher_logits = self.teacher(input_ids=ids, attention_mask=mask).logits  # [B, T, V]
                student_logits = student(input_ids=ids, attention_mask=mask).logits  # [B, T, V]
            loss = F.kl_div(
                F.log_softmax(student_logits.float(), -1),
                F.log_softmax(teacher_logits.float(), -1),
                log_target=True,
                reduction="batchmean",
            )
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            float(loss.detach())  # wait for the step, as the trainer's logging does
            busy += time.perf_counter() - t0
            tokens += int(batch["attention_mask"].sum())
        return tokens / busy


def matmul_flops(size: int = 8192, reps: int = 10) -> float:
    """Measured bf16 matmul rate on the GPU (FLOP/s), median of ``reps``."""
    m = torch.randn(size, size, device="cuda", dtype=torch.bfloat16)
    m @ m
    times = []
    for _ in range(reps):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        m @ m
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return 2 * size**3 / sorted(times)[len(times) // 2]


def distill_throughput(ctx: BenchContext) -> list[Result]:
    """Student tokens/s: the project's ``distill --method sad`` over the baseline loop (floor 1.5×)."""
    cuda = ctx.device == "cuda"
    work = ctx.work_dir / "distill"
    expert_run = expert_episodes(work / "episodes", ctx.pick(200 if cuda else 40, 4))
    if cuda:
        teacher, student = smol_pair(work)
        return distill_rows(ctx, expert_run, teacher, student, steps=ctx.pick(10, 2), batch=16,
                            max_length=1024, models="smollm2-135m → 38M")
    teacher, student = tiny_pair(work, expert_run)
    # 4 steps of 2 × ≤512 tokens: each of the three sides is a whole distill call per repeat
    return distill_rows(ctx, expert_run, teacher, student, steps=ctx.pick(4, 2), batch=2, max_length=512,
                        models="tiny → tiny-student")


def distill_rows(ctx: BenchContext, expert_run: Path, teacher: Path, student: Path, *, steps: int, batch: int,
                 max_length: int, models: str) -> list[Result]:
    """The two rows of figure 4 on the episodes in ``expert_run`` (teacher top-k added here), ``teacher`` and
    ``student`` model dirs; ``details["flops_per_token"]`` is 6·N_student (top-k row) or 6·N_student +
    2·N_teacher (logits row and the baseline)."""
    from transformers import AutoConfig, AutoModelForCausalLM

    from distill.models import count_parameters

    cuda = ctx.device == "cuda"
    work = ctx.work_dir / "distill"
    run_dir = with_teacher_topk(expert_run, teacher, work / "episodes-topk", device=ctx.device)
    runs = iter(range(10**6))
    baseline = BaselineLoop(run_dir, teacher, student, steps=steps, batch=batch, max_length=max_length,
                            device=ctx.device)
    if cuda:
        torch.cuda.reset_peak_memory_stats()

    def ours(signal: str):
        return lambda: project_tokens_per_s(
            run_dir,
            teacher,
            student,
            work / f"sad-{next(runs)}",
            signal=signal,
            steps=steps,
            batch=batch,
            max_length=max_length,
            device=ctx.device,
        )

    sides = {"topk": ours("topk"), "baseline": baseline.tokens_per_s, "logits": ours("logits")}
    measured = measure(sides, [("topk", "baseline"), ("logits", "baseline")], ctx.budget, ctx.threads)
    student_config = AutoConfig.from_pretrained(student, trust_remote_code=False)
    n_student = count_parameters(AutoModelForCausalLM.from_config(student_config, trust_remote_code=False))
    n_teacher = count_parameters(baseline.teacher)
    lengths = [len(e) for e in baseline.examples]
    details: dict[str, Any] = {
        "teacher_params_M": round(n_teacher / 1e6, 1), "student_params_M": round(n_student / 1e6, 1),
        "steps": steps, "batch": batch, "max_length": max_length, "sequences": len(lengths),
        "mean_sequence_tokens": round(sum(lengths) / len(lengths), 1), "seconds": round(measured.seconds, 1),
    }
    flops_per_token = 6 * n_student + 2 * n_teacher
    if cuda:
        peak = matmul_flops()
        details.update(
            bf16_matmul_TFLOPs=round(peak / 1e12, 1),
            mfu_sad_topk=[6 * n_student * v / peak for v in measured.samples["topk"]],
            mfu_sad_logits=[flops_per_token * v / peak for v in measured.samples["logits"]],
            mfu_baseline=[flops_per_token * v / peak for v in measured.samples["baseline"]],
            peak_mem_GiB_both=round(torch.cuda.max_memory_allocated() / 2**30, 2),
            gpu=torch.cuda.get_device_name(),
        )
    baseline_label = "teacher fwd + student fwd/bwd, one-shot fp32 KL, AdamW"
    return [
        paired_result(
            4, f"sad top-{TOPK} from the log, {models}", "student tokens/s", measured, "topk", "baseline",
            baseline_label=baseline_label, floor=1.5,
            details={**details, "flops_per_token": 6 * n_student,
                     "baseline_flops_per_token": flops_per_token},
            note="how the pipeline distils (--teacher-signal topk): no teacher forward; "
            "MFU counts 6·N_student",
        ),
        paired_result(
            4, f"sad teacher logits, {models}", "student tokens/s", measured, "logits", "baseline",
            baseline_label=baseline_label, floor=1.5,
            details={"flops_per_token": flops_per_token, "baseline_flops_per_token": flops_per_token},
            note="--teacher-signal logits: a teacher forward per step like the baseline; "
            "TRL GKDTrainer not compared (trl is not installed)",
        ),
    ]
