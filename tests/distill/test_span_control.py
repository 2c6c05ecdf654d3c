"""SAD's random-token control (distill/span_control.py): per sequence, as many random completion tokens as
the act span holds take the act weight; fixed per seed; ids, completions and teacher signal untouched."""
from __future__ import annotations

import json

import numpy as np
import pytest
from transformers import AutoTokenizer

from distill.config import SADConfig
from distill.data import encode_episodes, load_episodes
from distill.span_control import random_act_spans
from distill.train import train


@pytest.fixture(scope="module")
def examples(tiny_teacher, teacher_run):
    tokenizer = AutoTokenizer.from_pretrained(tiny_teacher)
    return encode_episodes(load_episodes([teacher_run])[:4], tokenizer, 384, logged_context=True)


def test_the_control_gives_the_act_spans_share_to_random_completion_tokens(examples):
    control = random_act_spans(examples, seed=0)
    moved = 0
    for before, after in zip(examples, control, strict=True):
        completion = np.asarray(before.completion_mask)
        act, reason = np.asarray(after.act_mask), np.asarray(after.reason_mask)
        assert act.sum() == (np.asarray(before.act_mask) & completion).sum()  # the same share, per sequence
        assert not (act & reason).any() and ((act | reason) == completion).all()  # a partition, as SAD's
        assert after.input_ids == before.input_ids and after.topk_ids == before.topk_ids
        moved += int((act != np.asarray(before.act_mask)).sum())
    assert moved > 0  # not the act span itself
    # fixed by (seed, sequence): the same again, in any order; another seed draws others
    again = {e.key: e.act_mask for e in random_act_spans(list(reversed(examples)), seed=0)}
    assert all(again[e.key] == e.act_mask for e in control)
    other = random_act_spans(examples, seed=1)
    assert any(a.act_mask != b.act_mask for a, b in zip(control, other, strict=True))


def test_sad_trains_with_the_control_and_records_it(distill_root, tiny_teacher, teacher_run):
    config = SADConfig(
        data=[str(teacher_run)], out=str(distill_root / "sad-random"), model="tiny-student",
        teacher=str(tiny_teacher), teacher_signal="topk", lambda_act=2.0, span_control="random",
        max_steps=2, save_every=2, warmup_steps=0, batch_size=2, micro_batch_size=2, max_length=384,
        eval_fraction=0.0,
        progress=False, tensorboard=False,
    )
    out = train(config)
    assert (out / "train_summary.json").is_file()
    with pytest.raises(ValueError, match="span_control"):
        SADConfig(data=["x"], out="y", span_control="shuffled")
    assert json.loads((out / "agentdistill.json").read_text())["method"] == "sad"
