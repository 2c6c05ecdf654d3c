"""Episode logs -> span-masked sequences: the text the agent saw, masks only on completions,
spliced logged token ids, windows, batching."""
from __future__ import annotations

import pandas as pd
import pytest
import torch
from conftest import completion_text, episode_rows, write_run

from agents.prompts import instructions
from agents.react import render
from distill.data import (
    BatchPlan,
    collate,
    encode_episode,
    encode_episodes,
    load_episodes,
    micro_batches,
    omitted_note,
    split_heldout,
)
from distill.spans import token_masks


@pytest.fixture(scope="module")
def logs(expert_run):
    return load_episodes([expert_run])


def test_sequence_is_the_rendered_episode_with_masks_only_on_completions(logs, bpe_tokenizer):
    tok = bpe_tokenizer
    ep = logs[2]
    (example,) = encode_episode(ep, tok, max_length=100_000)
    text, ranges = render(ep.task, ep.observations[0], ep.turns(), instructions=instructions(ep.env))
    assert tok.decode(example.input_ids) == text
    assert text.startswith(instructions("alfworld"))
    # the completion tokens decode to exactly the completions, in order
    completion_tokens = [i for i, m in zip(example.input_ids, example.completion_mask) if m]
    assert tok.decode(completion_tokens) == "".join(text[s:e] for s, e in ranges)
    # every span token is a completion token; prompt and observation tokens are in no span
    for r, a, c in zip(example.reason_mask, example.act_mask, example.completion_mask):
        assert not (r and a)
        assert c or not (r or a)
    # the masks of each completion are token_masks of that completion
    expected_reason, expected_act = [], []
    for s, e in ranges:
        r, a = token_masks(text[s:e], tok)
        expected_reason += r
        expected_act += a
    assert [r for r, c in zip(example.reason_mask, example.completion_mask) if c] == expected_reason
    assert [a for a, c in zip(example.act_mask, example.completion_mask) if c] == expected_act
    reason_text = tok.decode([i for i, m in zip(example.input_ids, example.reason_mask) if m])
    act_text = tok.decode([i for i, m in zip(example.input_ids, example.act_mask) if m])
    assert "Thought:" in reason_text and "Action:" not in reason_text and "Observation" not in reason_text
    assert act_text.startswith("Action: ") and "Thought" not in act_text and "Observation" not in act_text


def test_logged_token_ids_are_spliced_with_their_top_k(tmp_path, react_episodes, bpe_tokenizer):
    tok = bpe_tokenizer
    rows = episode_rows("spliced", react_episodes[:1])
    for row in rows:
        # one token per character: a segmentation re-tokenising would never produce
        row["token_ids"] = [t for ch in row["completion"] for t in tok(ch, add_special_tokens=False)["input_ids"]]
        row["topk_ids"] = [[t, 1] for t in row["token_ids"]]
        row["topk_logprobs"] = [[-0.1, -3.0] for _ in row["token_ids"]]
    (ep,) = load_episodes([write_run(tmp_path, "spliced", rows)])
    (example,) = encode_episode(ep, tok, max_length=100_000)
    completion_ids = [i for i, m in zip(example.input_ids, example.completion_mask) if m]
    assert completion_ids == [t for row in rows for t in row["token_ids"]]
    assert completion_ids != [t for row in rows for t in tok(row["completion"], add_special_tokens=False)["input_ids"]]
    # masks from the decoded characters: the "Action: ..." characters are act, "Thought: ..." reason
    first = rows[0]["completion"]
    n = len(rows[0]["token_ids"])
    start = example.completion_mask.index(True)
    act_chars = "".join(ch for ch, a in zip(first, example.act_mask[start:start + n]) if a)
    reason_chars = "".join(ch for ch, r in zip(first, example.reason_mask[start:start + n]) if r)
    assert act_chars == first[first.index("Action:"):]
    assert reason_chars == first[: first.index("\n")]
    # collate puts each token's teacher top-k at the logit position that predicts it
    batch = collate([example], pad_id=0, topk=True)
    positions = [t for t, m in enumerate(example.completion_mask) if m]
    for t in positions[:5]:
        assert batch["labels"][0, t - 1] == example.input_ids[t]
        assert batch["topk_ids"][0, t - 1, 0] == example.input_ids[t]
        assert batch["completion_mask"][0, t - 1]
    assert not batch["completion_mask"][0, positions[0] - 2]


def test_token_ids_from_another_tokenizer_are_a_clear_error(tmp_path, react_episodes, bpe_tokenizer):
    rows = episode_rows("other", react_episodes[:1])
    for row in rows:
        row["token_ids"] = [5, 6, 7]
    (ep,) = load_episodes([write_run(tmp_path, "other", rows)])
    with pytest.raises(ValueError, match="tokenizer differs"):
        encode_episode(ep, bpe_tokenizer, max_length=100_000)


def test_long_episodes_split_into_windows_that_keep_the_prompt(logs, bpe_tokenizer):
    tok = bpe_tokenizer
    ep = max(logs, key=lambda e: len(e.completions))
    (whole,) = encode_episode(ep, tok, max_length=100_000)
    windows = encode_episode(ep, tok, max_length=len(whole) // 3)
    assert len(windows) >= 3
    head = tok(f"{instructions('alfworld')}\n\n", add_special_tokens=False)["input_ids"]
    trained_before = 0
    for i, w in enumerate(windows):
        assert len(w) <= len(whole) // 3
        assert w.input_ids[: len(head)] == head
        text = tok.decode(w.input_ids)
        assert ("earlier turns omitted" in text) == (i > 0)
        shown = text.count("\nAction: ")
        if i:
            # the turn before the window's first trained turn is shown as context (as build_prompt
            # keeps it) unless it does not fit; the note counts the turns left out
            with_context = omitted_note(trained_before - 1) in text
            assert with_context or omitted_note(trained_before) in text
            shown -= with_context
        trained_before += shown
    # every completion token is trained on in exactly one window
    assert sum(sum(w.completion_mask) for w in windows) == sum(whole.completion_mask)
    assert sum(sum(w.act_mask) for w in windows) == sum(whole.act_mask)


def test_missing_column_and_bad_steps_are_clear_errors(tmp_path, react_episodes):
    rows = episode_rows("bad", react_episodes[:1])
    frame = pd.DataFrame(rows).drop(columns=["completion"])
    (tmp_path / "bad").mkdir()
    frame.to_parquet(tmp_path / "bad" / "episodes.parquet")
    with pytest.raises(ValueError, match=r"episodes.parquet: missing column\(s\) \['completion'\]"):
        load_episodes([tmp_path / "bad"])
    rows[1]["step"] = 5
    with pytest.raises(ValueError, match="has steps"):
        load_episodes([write_run(tmp_path, "gap", rows)])
    with pytest.raises(FileNotFoundError, match="no episode log"):
        load_episodes([tmp_path / "nothing"])


def test_batch_plan_is_deterministic_length_bucketed_and_covers_an_epoch(logs, bpe_tokenizer):
    examples = encode_episodes(logs, bpe_tokenizer, 384)
    lengths = [len(e) for e in examples]
    plan = BatchPlan(lengths, batch_size=4, seed=3)
    again = BatchPlan(lengths, batch_size=4, seed=3)
    steps = range(plan.batches_per_epoch)
    batches = [plan.global_batch(s) for s in steps]
    assert batches == [again.global_batch(s) for s in reversed(steps)][::-1]
    assert {i for b in batches for i in b} == set(range(len(examples)))
    assert all([lengths[i] for i in b] == sorted(lengths[i] for i in b) for b in batches)
    # micro-batches of a global batch: dealt to ranks without overlap, covering it
    batch = batches[0]
    parts = [micro_batches(batch, 1, rank, 2) for rank in (0, 1)]
    assert sorted(i for p in parts for m in p for i in m) == sorted(batch)
    assert micro_batches(batch, 2, 0, 1) == [batch[:2], batch[2:]]


def test_heldout_split_is_by_episode(logs):
    train, held = split_heldout(logs, 0.2, seed=0)
    assert len(held) == round(0.2 * len(logs)) and len(train) + len(held) == len(logs)
    assert not {e.key for e in train} & {e.key for e in held}
    assert split_heldout(logs, 0.2, seed=0)[1] == held


def test_collate_pads_and_shifts(logs, bpe_tokenizer):
    examples = encode_episodes(logs[:3], bpe_tokenizer, 384)[:2]
    batch = collate(examples, pad_id=1)
    n0 = len(examples[0])
    assert batch["input_ids"].shape == batch["labels"].shape == batch["reason_mask"].shape
    assert torch.equal(batch["labels"][0, : n0 - 1], torch.tensor(examples[0].input_ids[1:]))
    assert not batch["completion_mask"][:, -1].any()
    assert "topk_ids" not in batch
    with pytest.raises(ValueError, match="no logged topk"):
        collate(examples, pad_id=1, topk=True)


def test_completion_text_matches_the_react_format():
    assert completion_text("go", "look") == "Thought: go\nAction: look"
