"""Episode logs -> span-masked sequences: the text the agent saw, masks partitioning the completions,
spliced logged token ids, the context each step was logged in, batching."""
from __future__ import annotations

import pandas as pd
import pytest
import torch
from conftest import PLAY_NEW_TOKENS, PLAY_PROMPT_TOKENS, completion_text, episode_rows, write_run

from agents.context import fit_ids, omitted_note
from agents.prompts import instructions
from agents.react import header, render
from distill.data import (
    BatchPlan,
    collate,
    encode_episode,
    encode_episodes,
    load_episodes,
    micro_batches,
    split_heldout,
)
from distill.losses import kl_per_token
from distill.spans import completion_token_masks


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
    completion_tokens = [i for i, m in zip(example.input_ids, example.completion_mask, strict=True) if m]
    assert tok.decode(completion_tokens) == "".join(text[s:e] for s, e in ranges)
    # the spans partition the completion tokens; prompt and observation tokens are in no span
    for r, a, c in zip(example.reason_mask, example.act_mask, example.completion_mask, strict=True):
        assert (r or a) == c and not (r and a)
    # the masks of each completion are completion_token_masks of that completion
    expected_reason, expected_act = [], []
    for s, e in ranges:
        r, a = completion_token_masks(text[s:e], tok)
        expected_reason += r
        expected_act += a
    in_completion = example.completion_mask
    assert [r for r, c in zip(example.reason_mask, in_completion, strict=True) if c] == expected_reason
    assert [a for a, c in zip(example.act_mask, example.completion_mask, strict=True) if c] == expected_act
    reason_text = tok.decode([i for i, m in zip(example.input_ids, example.reason_mask, strict=True) if m])
    act_text = tok.decode([i for i, m in zip(example.input_ids, example.act_mask, strict=True) if m])
    assert "Thought:" in reason_text and "Action:" not in reason_text and "Observation" not in reason_text
    assert reason_text.count("\n") >= reason_text.count("Thought:"), "each Thought's newline is reason"
    assert act_text.startswith("Action: ") and "Thought" not in act_text and "Observation" not in act_text


def test_logged_token_ids_are_spliced_with_their_top_k(tmp_path, react_episodes, bpe_tokenizer):
    tok = bpe_tokenizer
    rows = episode_rows("spliced", react_episodes[:1])
    for row in rows:
        # one token per character: a segmentation re-tokenising would never produce
        row["token_ids"] = [
            t for ch in row["completion"] for t in tok(ch, add_special_tokens=False)["input_ids"]
        ]
        row["topk_ids"] = [[t, 1] for t in row["token_ids"]]
        row["topk_logprobs"] = [[-0.1, -3.0] for _ in row["token_ids"]]
    (ep,) = load_episodes([write_run(tmp_path, "spliced", rows)])
    (example,) = encode_episode(ep, tok, max_length=100_000)
    completion_ids = [i for i, m in zip(example.input_ids, example.completion_mask, strict=True) if m]
    assert completion_ids == [t for row in rows for t in row["token_ids"]]
    retokenised = [t for row in rows for t in tok(row["completion"], add_special_tokens=False)["input_ids"]]
    assert completion_ids != retokenised
    # masks from the decoded characters: the "Action: ..." characters are act, "Thought: ..." reason
    first = rows[0]["completion"]
    n = len(rows[0]["token_ids"])
    start = example.completion_mask.index(True)
    act_chars = "".join(ch for ch, a in zip(first, example.act_mask[start:start + n], strict=True) if a)
    reason_chars = "".join(ch for ch, r in zip(first, example.reason_mask[start:start + n], strict=True) if r)
    assert act_chars == first[first.index("Action:"):]
    assert reason_chars == first[: first.index("\n") + 1]
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


def test_demo_windows_give_each_step_the_context_the_agent_rule_gives_it(logs, bpe_tokenizer):
    tok = bpe_tokenizer
    ep = max(logs, key=lambda e: len(e.completions))
    (whole,) = encode_episode(ep, tok, max_length=100_000)
    max_length = len(whole) // 3
    windows = encode_episode(ep, tok, max_length=max_length)
    assert len(windows) >= 3

    def ids_of(text: str) -> list[int]:
        return tok(text, add_special_tokens=False)["input_ids"]

    head = ids_of(header(ep.task, ep.observations[0], instructions(ep.env)))
    blocks, step, dropped_any = [], 0, False
    for w in windows:
        assert len(w) <= max_length
        runs = completion_runs(w.completion_mask)
        for start, end in runs:
            completion = w.input_ids[start:end]
            # the context of every trained completion is the one the LM agent's rule builds with the
            # room max_length leaves for that completion
            expected, dropped = fit_ids(
                head, blocks, max_length - len(completion), lambda n: ids_of(omitted_note(n))
            )
            assert w.input_ids[:start] == expected, f"step {step}"
            dropped_any |= dropped > 0
            following = ep.observations[step + 1] if step + 1 < len(ep.observations) else None
            # a demo's completion ends with its newline; the observation block follows on the next line
            blocks.append(completion + ids_of("" if following is None else f"Observation: {following}\n"))
            step += 1
    assert step == len(ep.completions) and dropped_any
    # every completion token is trained on in exactly one window
    assert sum(sum(w.completion_mask) for w in windows) == sum(whole.completion_mask)
    assert sum(sum(w.act_mask) for w in windows) == sum(whole.act_mask)


def completion_runs(mask: list[bool]) -> list[tuple[int, int]]:
    """(start, end) of each run of True in ``mask``."""
    runs, start = [], None
    for t, m in enumerate([*mask, False]):
        if m and start is None:
            start = t
        elif not m and start is not None:
            runs.append((start, t))
            start = None
    return runs


@pytest.fixture(scope="module")
def played_log(played):
    run, fed = played
    (ep,) = load_episodes([run])
    return ep, fed


def test_played_episode_goes_through_every_branch_of_the_context_rule(played_log):
    ep, fed = played_log
    assert ep.has_context and len(ep.completions) >= 12
    assert max(ep.n_dropped_turns) > 0, "old turns were dropped"
    contexts = enumerate(zip(ep.n_dropped_turns, ep.prompt_tokens, strict=True))
    cut = [s for s, (d, p) in contexts if d == s - 1 and p == PLAY_PROMPT_TOKENS]
    assert cut, "one prompt was over the budget with only the latest turn kept"
    assert [len(ids) for ids in fed] == ep.prompt_tokens


def test_lm_agent_prompts_equal_the_encoded_logged_episode_id_for_id(played_log, tiny_teacher):
    from transformers import AutoTokenizer

    ep, fed = played_log
    tok = AutoTokenizer.from_pretrained(tiny_teacher)
    windows = encode_episode(ep, tok, max_length=PLAY_PROMPT_TOKENS + PLAY_NEW_TOKENS)
    steps = [(w, start, end) for w in windows for start, end in completion_runs(w.completion_mask)]
    assert len(steps) == len(ep.completions) and len(windows) < len(steps)
    for step, (w, start, end) in enumerate(steps):
        assert w.input_ids[:start] == fed[step], f"step {step}: the trained context is the fed prompt"
        assert w.input_ids[start:end] == ep.token_ids[step]
        assert w.topk_ids[start:end] == ep.topk_ids[step]


@torch.no_grad()
def test_logged_topk_agree_with_the_live_teacher_on_every_window(played_log, tiny_teacher):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    ep, _ = played_log
    tok = AutoTokenizer.from_pretrained(tiny_teacher)
    teacher = AutoModelForCausalLM.from_pretrained(tiny_teacher, dtype=torch.float32).eval()
    windows = encode_episode(ep, tok, max_length=PLAY_PROMPT_TOKENS + PLAY_NEW_TOKENS)
    tokens = 0
    for w in windows:
        batch = collate([w], pad_id=0, topk=True)
        logits = teacher(input_ids=batch["input_ids"]).logits.float()  # (1, T, V)
        mask = batch["completion_mask"][0]  # (T,)
        assert torch.equal(logits[0, mask].argmax(-1), batch["topk_ids"][0, mask, 0]), w.key
        # the log holds the full vocabulary (k = V), so this bucket KL is the full KL
        kl = kl_per_token(logits, (batch["topk_ids"], batch["topk_logprobs"]))[0, mask]
        assert float(kl.max()) < 1e-3, w.key
        tokens += int(mask.sum())
    assert tokens == sum(len(ids) for ids in ep.token_ids)


def test_every_completion_token_is_in_exactly_one_span_in_logged_encodings(played_log, logs, tiny_teacher):
    from transformers import AutoTokenizer

    ep, _ = played_log
    tok = AutoTokenizer.from_pretrained(tiny_teacher)
    examples = encode_episode(ep, tok, max_length=PLAY_PROMPT_TOKENS + PLAY_NEW_TOKENS)
    examples += encode_episodes(logs, tok, 384)
    for example in examples:
        for r, a, c in zip(example.reason_mask, example.act_mask, example.completion_mask, strict=True):
            assert (r or a) == c and not (r and a)
    batch = collate(examples[:4], pad_id=0)
    assert torch.equal(batch["reason_mask"] | batch["act_mask"], batch["completion_mask"])
    assert not (batch["reason_mask"] & batch["act_mask"]).any()


def test_a_logged_context_that_cannot_be_rebuilt_is_a_clear_error(played, tmp_path, tiny_teacher):
    from transformers import AutoTokenizer

    run, _ = played
    frame = pd.read_parquet(run / "episodes.parquet")
    frame.loc[frame["step"] == 3, "prompt_tokens"] += 5  # as if the agent had shown few-shot examples
    (ep,) = load_episodes([write_run(tmp_path, "other-prompt", frame.to_dict("records"))])
    tok = AutoTokenizer.from_pretrained(tiny_teacher)
    with pytest.raises(ValueError, match="step 3: the agent's prompt had .* another prompt"):
        encode_episode(ep, tok, max_length=PLAY_PROMPT_TOKENS + PLAY_NEW_TOKENS)
    with pytest.raises(ValueError, match=r"exceed max_length=200; raise max_length"):
        encode_episode(ep, tok, max_length=200)
    # without the logged context (SFT, live-teacher logits) the agent's rule builds it
    assert encode_episode(ep, tok, max_length=4096, logged_context=False)
    frame.loc[frame["step"] == 3, "n_dropped_turns"] = 7
    with pytest.raises(ValueError, match="step 3: n_dropped_turns=7"):
        load_episodes([write_run(tmp_path, "bad-dropped", frame.to_dict("records"))])


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
