"""Logits at loss positions only (distill/loss_positions.py): the same losses and gradients as the full
(B, T, V) logits masked to those positions, for every method's loss, and a lower peak memory."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from distill import losses
from distill.data import collate, encode_episodes, load_episodes
from distill.loss_positions import LossPositionLM, at_positions, head_matches, loss_positions
from distill.models import build_tiny


@pytest.fixture(scope="module")
def pair(distill_root, tiny_teacher, teacher_run):
    tokenizer = AutoTokenizer.from_pretrained(tiny_teacher)
    student_dir = build_tiny([], distill_root / "positions-student", "tiny-student",
                             tokenizer_from=tiny_teacher, seed=5)
    student = AutoModelForCausalLM.from_pretrained(student_dir, dtype=torch.float32)
    teacher = AutoModelForCausalLM.from_pretrained(tiny_teacher, dtype=torch.float32).eval()
    examples = encode_episodes(load_episodes([teacher_run])[:3], tokenizer, 384, logged_context=True)
    batch = collate(examples, int(tokenizer.pad_token_id or 0), topk=True)
    return student, teacher, batch


def _grads(model: torch.nn.Module) -> list[torch.Tensor]:
    return [p.grad.detach().clone() for p in model.parameters() if p.grad is not None]


LOSSES = {
    "sft": lambda logits, b, teacher: losses.sft_loss(logits, b["labels"], b["completion_mask"]),
    "token_kd_topk": lambda logits, b, teacher: losses.token_kd_loss(
        logits, (b["topk_ids"], b["topk_logprobs"]), b["completion_mask"], 2.0),
    "sad_topk": lambda logits, b, teacher: losses.sad_loss(
        logits, (b["topk_ids"], b["topk_logprobs"]), b["reason_mask"], b["act_mask"], 1.0, 2.0),
    "sad_logits": lambda logits, b, teacher: losses.sad_loss(
        logits, teacher, b["reason_mask"], b["act_mask"], 1.0, 2.0),
    "opd_reverse_kl": lambda logits, b, teacher: losses.opd_loss(
        logits, teacher, b["labels"], b["completion_mask"], b["guided_mask"]),
}


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_losses_and_gradients_equal_the_full_logit_path(pair, name):
    student, teacher, batch = pair
    assert batch["completion_mask"].float().mean() < 0.6  # positions are actually left out
    loss_fn = LOSSES[name]

    student.zero_grad()
    full_logits = student(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    with torch.no_grad():
        full_teacher = teacher(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    full = loss_fn(full_logits, batch, full_teacher)
    full.backward()
    full_grads = _grads(student)

    student.zero_grad()
    lm, teacher_lm = LossPositionLM(student), LossPositionLM(teacher)
    assert lm.split and teacher_lm.split  # Llama: logits are lm_head(decoder(ids)), the saving applies
    rows, cols = loss_positions(batch["completion_mask"])
    picked = at_positions(batch, rows, cols)
    logits = lm(batch["input_ids"], batch["attention_mask"], rows, cols)
    assert logits.shape == (1, len(rows), full_logits.shape[-1])
    with torch.no_grad():
        picked_teacher = teacher_lm(batch["input_ids"], batch["attention_mask"], rows, cols)
    selected = loss_fn(logits, picked, picked_teacher)
    selected.backward()
    grads = _grads(student)

    assert float(selected.detach()) == pytest.approx(float(full.detach()), rel=1e-5, abs=1e-6)
    assert len(grads) == len(full_grads)
    for got, want in zip(grads, full_grads, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


def test_a_model_whose_logits_are_not_head_of_decoder_runs_in_full(pair):
    student = pair[0]

    class Scaled(torch.nn.Module):  # a final logit scale, as some architectures have
        def __init__(self, model):
            super().__init__()
            self.inner, self.config = model, model.config

        def forward(self, **kw):
            out = self.inner(**kw)
            out.logits = out.logits * 0.5
            return out

        def get_decoder(self):
            return self.inner.get_decoder()

        def get_output_embeddings(self):
            return self.inner.get_output_embeddings()

    scaled = Scaled(student)
    assert head_matches(student) and not head_matches(scaled)
    lm = LossPositionLM(scaled)
    assert not lm.split
    ids = torch.arange(1, 20)[None]
    rows, cols = torch.zeros(3, dtype=torch.long), torch.tensor([2, 5, 9])
    want = scaled(input_ids=ids, attention_mask=torch.ones_like(ids)).logits[0, [2, 5, 9]]
    torch.testing.assert_close(lm(ids, torch.ones_like(ids), rows, cols)[0], want)


PEAK = textwrap.dedent("""
    import json, sys
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM
    from distill import losses
    from distill.loss_positions import LossPositionLM, loss_positions
    torch.manual_seed(0)
    torch.set_num_threads(1)
    config = LlamaConfig(vocab_size=49152, hidden_size=64, intermediate_size=128, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=2048)
    model = LlamaForCausalLM(config)
    ids = torch.randint(0, 49152, (1, 1536))
    attention = torch.ones_like(ids)
    mask = torch.zeros(1, 1536, dtype=torch.bool)
    mask[0, 1400:1523] = True   # ~8% of the window, as in WebShop demos
    def resident_kb(field):
        line = next(l for l in open("/proc/self/status") if l.startswith(field + ":"))
        return int(line.split()[1])
    open("/proc/self/clear_refs", "w").write("5")   # resets the peak (VmHWM) to the current resident size
    before = resident_kb("VmRSS")
    if sys.argv[1] == "full":
        logits = model(input_ids=ids, attention_mask=attention).logits
        loss = losses.sft_loss(logits, ids.roll(-1, 1), mask)
    else:
        rows, cols = loss_positions(mask)
        logits = LossPositionLM(model, split=True)(ids, attention, rows, cols)
        labels = ids.roll(-1, 1)[rows, cols][None]
        loss = losses.sft_loss(logits, labels, torch.ones(1, len(rows), dtype=torch.bool))
    loss.backward()
    print(json.dumps({"peak_kb": resident_kb("VmHWM") - before, "loss": float(loss.detach())}))
""")


def _peak(mode: str) -> dict:
    out = subprocess.run([sys.executable, "-c", PEAK, mode], capture_output=True, text=True, check=True,
                         timeout=120)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_peak_memory_of_a_1536_token_micro_batch_drops():
    full, selected = _peak("full"), _peak("selected")
    assert selected["loss"] == pytest.approx(full["loss"], rel=1e-5)
    # full fp32 logits of 1,536 x 49,152 alone are 302 MB (and their gradient as much again)
    assert full["peak_kb"] > 250_000
    assert selected["peak_kb"] < full["peak_kb"] / 3, (full, selected)


def test_right_padded_batches_need_no_padding_mask(pair):
    """Under the causal mask alone no real position of a right-padded batch sees a pad: the same logits at
    every loss position as with the padding mask (the trainer then passes none, for the fused kernels)."""
    student, _, batch = pair
    assert (batch["attention_mask"] == 0).any()  # some rows are padded
    lm = LossPositionLM(student)
    rows, cols = loss_positions(batch["completion_mask"])
    with torch.no_grad():
        masked = lm(batch["input_ids"], batch["attention_mask"], rows, cols)
        unmasked = lm(batch["input_ids"], None, rows, cols)
    torch.testing.assert_close(unmasked, masked, rtol=1e-5, atol=1e-5)
    labels, mask = batch["labels"][rows, cols][None], batch["completion_mask"][rows, cols][None]
    loss, want = losses.sft_loss(unmasked, labels, mask), losses.sft_loss(masked, labels, mask)
    assert float(loss) == pytest.approx(float(want), rel=1e-5)
