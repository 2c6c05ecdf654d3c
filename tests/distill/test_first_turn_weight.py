"""SFT's ``first_turn_weight``: the first turn's completion tokens weigh w, the rest 1, in a weighted mean
whose normaliser (the global count the trainer sums) is the weights' sum."""
from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from distill.config import SFTConfig
from distill.data import collate, encode_episodes, load_episodes
from distill.train import count_tokens, first_turn_weights, method_loss


@pytest.fixture(scope="module")
def batch_and_logits(tiny_teacher, expert_run):
    tokenizer = AutoTokenizer.from_pretrained(tiny_teacher)
    examples = encode_episodes(load_episodes([expert_run])[:2], tokenizer, 384)
    batch = collate(examples, int(tokenizer.pad_token_id or 0))
    model = AutoModelForCausalLM.from_pretrained(tiny_teacher).eval()
    with torch.no_grad():
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    return batch, logits


def test_first_turn_tokens_weigh_w_in_a_weighted_mean(batch_and_logits):
    batch, logits = batch_and_logits
    mask = batch["completion_mask"]
    first = mask & (batch["step_index"] == 0)
    assert first.any() and (mask & ~first).any()  # both kinds of token are there
    nll = -torch.log_softmax(logits, -1).gather(-1, batch["labels"].clamp(min=0)[..., None])[..., 0]

    config = SFTConfig(data=["x"], out="y", first_turn_weight=3.0)
    weighted = first_turn_weights(batch, 3.0)
    counts = count_tokens([weighted])
    assert counts[0] == pytest.approx(float(3 * first.sum() + (mask & ~first).sum()))
    got = float(method_loss(config, logits, weighted, None, counts))
    later = mask & ~first
    want = float((3 * nll[first].sum() + nll[later].sum()) / (3 * first.sum() + later.sum()))
    assert got == pytest.approx(want, rel=1e-5)

    plain = SFTConfig(data=["x"], out="y")
    unweighted = first_turn_weights(batch, 1.0)
    assert "token_weight" not in unweighted
    assert float(method_loss(plain, logits, unweighted, None, count_tokens([unweighted]))) == pytest.approx(
        float(nll[mask].mean()), rel=1e-5
    )


def test_a_weight_out_of_range_is_refused():
    with pytest.raises(ValueError, match="first_turn_weight"):
        SFTConfig(data=["x"], out="y", first_turn_weight=0.0)
