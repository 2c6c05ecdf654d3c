"""On-policy logs -> training sequences: the ``guided`` column (absent or null: False), the episode step of
every completion token (for the depth curriculum), steps without logged token ids; OPD's config checks."""
from __future__ import annotations

import pandas as pd
import pytest
import torch
from conftest import episode_rows, write_run

from agents.prompts import instructions
from agents.react import render
from distill.config import OPDConfig, SADOPDConfig
from distill.data import collate, encode_episode, load_episodes
from distill.train import count_tokens, first_turns
from harness.cli import main as cli_main

GUIDED_STEPS = {1, 3}


@pytest.fixture(scope="module")
def guided_run(distill_root, react_episodes):
    """Two ReAct episodes; in the first a guide played steps 1 and 3, step 2's flag is null."""
    rows = episode_rows("guided", react_episodes[:2])
    for row in rows:
        row["guided"] = row["step"] in GUIDED_STEPS if row["episode"] == 0 else False
        if row["episode"] == 0 and row["step"] == 2:
            row["guided"] = None
    return write_run(distill_root / "runs", "guided", rows)


def selected_text(tokenizer, example, keep) -> str:
    return tokenizer.decode([i for t, i in enumerate(example.input_ids) if keep(t)])


def test_guided_turns_and_step_indices_mark_exactly_their_completion_tokens(guided_run, bpe_tokenizer):
    first, second = load_episodes([guided_run])
    steps = len(first.completions)
    assert first.guided == [s in GUIDED_STEPS for s in range(steps)]  # null read as False
    assert second.guided == [False] * len(second.completions)
    (example,) = encode_episode(first, bpe_tokenizer, max_length=100_000)
    text, ranges = render(first.task, first.observations[0], first.turns(),
                          instructions=instructions(first.env))
    for step, (start, end) in enumerate(ranges):
        in_step = selected_text(bpe_tokenizer, example, lambda t, s=step: example.step_index[t] == s)
        assert in_step == text[start:end], step
    guided = selected_text(bpe_tokenizer, example, lambda t: example.guided_mask[t])
    assert guided == "".join(text[start:end] for s, (start, end) in enumerate(ranges) if s in GUIDED_STEPS)
    for c, g, s in zip(example.completion_mask, example.guided_mask, example.step_index, strict=True):
        assert (s >= 0) == c and (not g or c)

    batch = collate([example, *encode_episode(second, bpe_tokenizer, 100_000)], pad_id=0)
    n = len(example)
    assert batch["guided_mask"][0, : n - 1].tolist() == example.guided_mask[1:]  # logit positions
    assert batch["step_index"][0, : n - 1].tolist() == example.step_index[1:]
    assert not batch["guided_mask"][1].any()
    assert set(batch["step_index"][0, n - 1:].tolist()) <= {-1}  # the last position and padding


def test_logs_written_before_the_guided_column_still_load_unguided(expert_run, bpe_tokenizer):
    episodes = load_episodes([expert_run])
    assert all(ep.guided is None for ep in episodes)
    examples = [e for ep in episodes[:3] for e in encode_episode(ep, bpe_tokenizer, 384)]
    batch = collate(examples, pad_id=0)
    assert not batch["guided_mask"].any()
    assert torch.equal(batch["step_index"] >= 0, batch["completion_mask"])


def test_a_guided_value_that_is_not_a_flag_is_a_clear_error(distill_root, react_episodes):
    rows = episode_rows("bad-guided", react_episodes[:1])
    for row in rows:
        row["guided"] = "yes"
    run = write_run(distill_root / "runs", "bad-guided", rows)
    with pytest.raises(ValueError, match=r"episode bad-guided/0 step 0: column 'guided' is 'yes'; expected "
                                         "true, false or null"):
        load_episodes([run])


def test_steps_without_logged_token_ids_are_tokenised_and_the_others_spliced(distill_root, react_episodes,
                                                                          bpe_tokenizer):
    rows = episode_rows("partial-ids", react_episodes[:1])

    def one_token_per_character(text: str) -> list[int]:  # another tokenisation of the same text
        return [i for ch in text for i in bpe_tokenizer(ch, add_special_tokens=False)["input_ids"]]

    for row in rows:  # an expert played step 1 (no token ids); the LM's own steps logged theirs
        row["token_ids"] = None if row["step"] == 1 else one_token_per_character(row["completion"])
        row["guided"] = row["step"] == 1
    run = write_run(distill_root / "runs", "partial-ids", rows)
    (episode,) = load_episodes([run])
    assert episode.token_ids is not None and episode.token_ids[1] is None
    (example,) = encode_episode(episode, bpe_tokenizer, 100_000)
    step_ids = {s: [i for i, t in zip(example.input_ids, example.step_index, strict=True) if t == s]
                for s in (0, 1)}
    assert step_ids[0] == one_token_per_character(rows[0]["completion"])  # spliced as logged
    assert bpe_tokenizer.decode(step_ids[1]) == rows[1]["completion"] + "\n"  # with the newline ending it
    assert len(step_ids[1]) < len(rows[1]["completion"]) / 2  # tokenised by the BPE, not per character


def test_first_turns_keeps_the_completions_of_the_first_k_turns(guided_run, bpe_tokenizer):
    examples = [e for ep in load_episodes([guided_run]) for e in encode_episode(ep, bpe_tokenizer, 100_000)]
    batch = collate(examples, pad_id=0)
    assert first_turns(batch, 0) is batch
    cut = first_turns(batch, 2)
    shallow = (batch["step_index"] >= 0) & (batch["step_index"] < 2)
    for name in ("completion_mask", "reason_mask", "act_mask", "guided_mask"):
        assert torch.equal(cut[name], batch[name] & shallow), name
    assert cut["guided_mask"].sum() == (batch["guided_mask"] & (batch["step_index"] == 1)).sum() > 0
    # sad_opd's normalisers: the reason / act counts leave out the tokens of guided turns
    completion, reason, act = count_tokens([batch], own_spans=True)
    assert completion == float(batch["completion_mask"].sum())
    assert reason == float((batch["reason_mask"] & ~batch["guided_mask"]).sum())
    assert act == float((batch["act_mask"] & ~batch["guided_mask"]).sum())
    names = ("completion_mask", "reason_mask", "act_mask")
    assert count_tokens([batch]) == [float(batch[name].sum()) for name in names]


def test_opd_configs_check_their_options():
    base = {"data": ["runs/x"], "out": "out", "teacher": "runs/teacher"}
    config = OPDConfig(**base)
    assert (config.method, config.divergence, config.teacher_signal) == ("opd", "reverse_kl", "logits")
    assert SADOPDConfig(**base, lambda_act=2.0).method == "sad_opd"
    with pytest.raises(ValueError, match="teacher: opd scores the student's own tokens with a live teacher"):
        OPDConfig(data=["runs/x"], out="out")
    with pytest.raises(ValueError, match="teacher_signal='topk': sad_opd needs the live teacher's logits"):
        SADOPDConfig(**base, teacher_signal="topk")
    bad = {
        "divergence": ("kl", "expected reverse_kl or forward_kl or jsd or skew_kl"),
        "beta": (1.5, r"expected in \[0, 1\]"),
        "skew_alpha": (1.0, r"expected in \[0, 1\)"),
        "guided_loss": ("ce", "expected sft or forward_kl"),
        "max_turns": (-1, "expected >= 0"),
    }
    for name, (value, expected) in bad.items():
        with pytest.raises(ValueError, match=f"{name}={value!r} is out of range: {expected}"):
            OPDConfig(**base, **{name: value})
    with pytest.raises(ValueError, match="lambda_reason and lambda_act: at least one must be > 0"):
        SADOPDConfig(**base, lambda_reason=0.0, lambda_act=0.0)


def test_cli_takes_opd_options_and_rejects_those_of_another_method(capsys):
    args = ["distill", "--method", "opd", "--teacher", "t", "--data", "d", "--out", "o"]
    assert cli_main([*args, "--lambda-act", "2"]) == 2
    assert "--lambda-act: not an option of --method opd" in capsys.readouterr().err
    assert cli_main([*args, "--divergence", "jsd", "--beta", "2"]) == 2
    assert "beta=2.0 is out of range: expected in [0, 1]" in capsys.readouterr().err
    assert cli_main(["distill", "--method", "sad", "--data", "d", "--out", "o", "--max-turns", "2"]) == 2
    assert "--max-turns: not an option of --method sad" in capsys.readouterr().err


def test_pandas_nullable_booleans_read_as_flags(distill_root, react_episodes):
    rows = episode_rows("nullable", react_episodes[:1])
    frame = pd.DataFrame(rows)
    frame["guided"] = pd.array([True, pd.NA] + [False] * (len(frame) - 2), dtype="boolean")
    run = distill_root / "runs" / "nullable"
    run.mkdir(parents=True)
    frame.to_parquet(run / "episodes.parquet", index=False)
    (episode,) = load_episodes([run])
    assert episode.guided == [True] + [False] * (len(frame) - 1)
