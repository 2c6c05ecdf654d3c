"""SAD's random-token control: the act span's weight given to random completion tokens instead.

With ``lambda_act`` > ``lambda_reason`` SAD changes *which* tokens weigh more (a global scale changes
nothing under AdamW). If SAD beats token-KD, is it the act span, or any re-weighting of that many tokens?
The control answers that: in each training sequence, as many completion tokens as its act span holds,
drawn at random (fixed by the training seed and the sequence), take the act weight; every other
completion token takes the reason weight. The share of up-weighted tokens is then exactly SAD's.

    examples = random_act_spans(examples, seed=0)   # SADConfig(span_control="random") does this in train()
"""
from __future__ import annotations

import dataclasses
import hashlib

import numpy as np

from distill.data import Example

#: the values of ``SADConfig.span_control``
SPAN_CONTROLS = ("spans", "random")


def _generator(seed: int, key: str) -> np.random.Generator:
    """A generator fixed by (seed, sequence key), independent of the order the sequences come in."""
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def random_act_spans(examples: list[Example], seed: int) -> list[Example]:
    """Each example with its act mask moved to as many randomly drawn completion tokens (the rest of its
    completion tokens in the reason mask); completion mask, ids and teacher signal unchanged."""
    out = []
    for example in examples:
        completion = np.flatnonzero(np.asarray(example.completion_mask, dtype=bool))
        n_act = int(np.sum(np.asarray(example.act_mask, dtype=bool) & np.asarray(example.completion_mask)))
        chosen = _generator(seed, example.key).choice(completion, size=n_act, replace=False)
        act = np.zeros(len(example), dtype=bool)
        act[chosen] = True
        reason = np.asarray(example.completion_mask, dtype=bool) & ~act
        out.append(dataclasses.replace(example, act_mask=act.tolist(), reason_mask=reason.tolist()))
    return out
