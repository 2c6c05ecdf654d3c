"""``collate`` with top-k packed once per example (``Example.packed_topk``) gives exactly the tensors of the
per-token loop it replaced, ragged k and tokens without a logged top-k included."""
from __future__ import annotations

import dataclasses

import pytest
import torch
from transformers import AutoTokenizer

from distill.data import PAD_LOGPROB, collate, encode_episodes, load_episodes


def reference_collate(examples, pad_id: int) -> dict[str, torch.Tensor]:
    """The per-token loop ``collate`` used before (top-k part), kept here as the reference."""
    length, batch = max(len(e) for e in examples), len(examples)
    out = collate([dataclasses.replace(e, topk_ids=None, topk_logprobs=None) for e in examples], pad_id)
    names = ("reason_mask", "act_mask", "completion_mask", "guided_mask")
    masks = {name: out[name].clone() for name in names}
    k = max((len(t) for e in examples if e.topk_ids for t in e.topk_ids), default=0)
    topk_ids = torch.zeros((batch, length, max(k, 1)), dtype=torch.long)
    topk_lps = torch.full((batch, length, max(k, 1)), PAD_LOGPROB, dtype=torch.float32)
    for b, e in enumerate(examples):
        for t in range(1, len(e)):
            ids, lps = e.topk_ids[t], e.topk_logprobs[t]
            if ids:
                topk_ids[b, t - 1, : len(ids)] = torch.tensor(ids)
                topk_lps[b, t - 1, : len(lps)] = torch.tensor(lps)
            elif masks["completion_mask"][b, t - 1]:
                for mask in masks.values():
                    mask[b, t - 1] = False
    return {**out, **masks, "topk_ids": topk_ids, "topk_logprobs": topk_lps}


@pytest.fixture(scope="module")
def examples(tiny_teacher, teacher_run):
    tokenizer = AutoTokenizer.from_pretrained(tiny_teacher)
    return encode_episodes(load_episodes([teacher_run])[:4], tokenizer, 384, logged_context=True)


def test_packed_collate_equals_the_per_token_loop(examples):
    # make it harder: one example with shorter lists at some tokens and completion tokens without top-k
    first = examples[0]
    completion = [t for t, c in enumerate(first.completion_mask) if c]
    ids = [list(r) for r in first.topk_ids]
    lps = [list(r) for r in first.topk_logprobs]
    for t in completion[:3]:
        ids[t], lps[t] = [], []
    for t in completion[3:6]:
        ids[t], lps[t] = ids[t][:5], lps[t][:5]
    ragged = dataclasses.replace(first, topk_ids=ids, topk_logprobs=lps, _packed=None)
    batch = [ragged, *examples[1:]]
    got, want = collate(batch, 0, topk=True), reference_collate(batch, 0)
    assert set(got) == set(want)
    for name in want:
        assert torch.equal(got[name], want[name]), name
    assert not got["completion_mask"][0, completion[0] - 1]  # the token without a signal left the masks
    assert ragged.packed_topk() is ragged.packed_topk()  # packed once, kept
