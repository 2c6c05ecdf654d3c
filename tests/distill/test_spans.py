"""Span segmentation on the ReAct authors' real trajectories and on our own format, and token masks
from a real byte-level BPE tokenizer trained in the test."""
import json
import re
from itertools import pairwise

import pytest
from tokenizers import ByteLevelBPETokenizer
from transformers import PreTrainedTokenizerFast

from agents.prompts import HERE as PROMPTS
from agents.react import Turn, render
from distill.spans import (
    Span,
    char_masks,
    completion_masks_from_ids,
    completion_spans,
    completion_token_masks,
    partition_completion,
    segment,
    token_masks,
)

REASON_START = re.compile(r"(thought|reasoning|think)(\s*\d+)?\s*:", re.IGNORECASE)
ACT_KEYWORD = re.compile(r"(action|answer)(\s*\d+)?\s*:", re.IGNORECASE)


def react_texts() -> dict[str, str]:
    texts = json.loads((PROMPTS / "alfworld_3prompts.json").read_text())
    texts |= {f"hotpotqa/{k}": v for k, v in json.loads((PROMPTS / "prompts_naive.json").read_text()).items()}
    return texts


TEXTS = react_texts()


def own_format_text() -> str:
    turns = [
        Turn(
            "I need red shoes.\nStart with a search.", "search[red shoes]",
            "Thought: I need red shoes.\nStart with a search.\nAction: search[red shoes]",
            "[SEP] Results [SEP] B01",
        ),
        Turn("B01 fits.", "click[B01]", "Thought: B01 fits.\nAction: click[B01]", "Item page"),
    ]
    return render("buy red shoes", "WebShop [SEP] Instruction: buy red shoes", turns)[0]


@pytest.mark.parametrize("key", sorted(TEXTS))
def test_spans_on_real_react_trajectories(key):
    text = TEXTS[key]
    spans = segment(text)
    assert spans, "every ReAct prompt has reasoning or actions"
    for a, b in pairwise(spans):
        assert a.end <= b.start, "spans are ordered and never overlap"
    for span in spans:
        body = text[span.start:span.end]
        assert body == body.strip() and "\n" not in body[-1:], "no trailing whitespace or newline"
        line_start = text.rfind("\n", 0, span.start) + 1
        prefix = text[line_start:span.start]
        if prefix.strip() == ">":          # ALFWorld style: the span is the command after '> '
            assert (span.kind == "reason") == body.lower().startswith("think:")
        elif span.kind == "reason":
            assert REASON_START.match(body) and prefix.strip() == ""
        else:
            assert ACT_KEYWORD.match(body) and prefix.strip() == ""
    # observations are in no span
    reason, act = char_masks(text, spans)
    env_lines = r"^(Observation[ \d]*:.*|OK\.|On the .*|You (open|pick|put|arrive).*)$"
    for match in re.finditer(env_lines, text, re.MULTILINE):
        assert not any(reason[match.start():match.end()]) and not any(act[match.start():match.end()])


def test_alfworld_style_kinds():
    text = TEXTS["react_put_0"]
    spans = segment(text)
    kinds = {text[s.start:s.end]: s.kind for s in spans}
    assert kinds["go to cabinet 1"] == "act"
    assert kinds["take spraybottle 2 from cabinet 2"] == "act"
    assert any(body.startswith("think: To solve the task") and k == "reason" for body, k in kinds.items())


def test_hotpotqa_style_kinds():
    text = TEXTS["hotpotqa/webthink_simple6"]
    bodies = [(s.kind, text[s.start:s.end]) for s in segment(text)]
    assert ("act", "Action 1: Search[Colorado orogeny]") in bodies
    assert bodies[0][0] == "reason"
    assert bodies[0][1].startswith("Thought 1: I need to search Colorado orogeny")


def test_own_format_multiline_thought():
    text = own_format_text()
    spans = segment(text)
    assert [s.kind for s in spans] == ["reason", "act", "reason", "act"]
    assert text[spans[0].start:spans[0].end] == "Thought: I need red shoes.\nStart with a search."
    assert text[spans[1].start:spans[1].end] == "Action: search[red shoes]"


def test_answer_is_an_act_span_and_observation_ends_a_thought():
    text = "Thought: multi\nline\nObservation: env text\nmore env\nAnswer: 42\n"
    spans = segment(text)
    bodies = [(s.kind, text[s.start:s.end]) for s in spans]
    assert bodies == [("reason", "Thought: multi\nline"), ("act", "Answer: 42")]


@pytest.fixture(scope="module")
def tokenizer():
    """A real byte-level BPE trained here on the ReAct texts (well under a second)."""
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(list(TEXTS.values()) + [own_format_text()], vocab_size=600, min_frequency=2)
    return PreTrainedTokenizerFast(tokenizer_object=bpe)


@pytest.mark.parametrize("key", sorted(TEXTS)[::3] + ["own"])
def test_token_masks_agree_with_char_spans(tokenizer, key):
    text = own_format_text() if key == "own" else TEXTS[key]
    reason_chars, act_chars = char_masks(text)
    reason, act = token_masks(text, tokenizer)
    offsets = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    assert len(reason) == len(act) == len(offsets)
    for (start, end), r, a in zip(offsets, reason, act, strict=True):
        assert not (r and a), "a token is never in both masks"
        in_reason, in_act = any(reason_chars[start:end]), any(act_chars[start:end])
        if in_reason and not in_act:
            assert r
        if in_act and not in_reason:
            assert a
        if not in_reason and not in_act:
            assert not r and not a
    assert any(act) and any(reason) == any(reason_chars)


def test_token_masks_need_a_fast_tokenizer():
    class Slow:
        is_fast = False

    with pytest.raises(TypeError, match="fast tokenizer"):
        token_masks("Thought: x", Slow())


def react_completions() -> list[str]:
    """Every agent turn of the ReAct authors' trajectories, as the completion an agent writes: HotPotQA's
    ``Thought N: ...`` + ``Action N: ...`` lines, ALFWorld's ``> think: ...`` + ``> command`` lines."""
    completions = []
    for key, text in TEXTS.items():
        lines = text.splitlines()
        if key.startswith("hotpotqa/"):
            for i, line in enumerate(lines):
                following = lines[i + 1] if i + 1 < len(lines) else ""
                if re.match(r"Thought \d+:", line) and re.match(r"Action \d+:", following):
                    completions.append(f"{line}\n{lines[i + 1]}")
        else:
            for i, line in enumerate(lines):
                if line.startswith("> think:") and i + 2 < len(lines) and lines[i + 2].startswith("> "):
                    completions.append(f"{line}\n{lines[i + 2]}")  # the "OK." between them is the env's
    return completions


def test_completion_tokens_are_partitioned_on_real_react_turns(tokenizer):
    completions = react_completions()
    assert len(completions) > 100
    gap_tokens = 0
    for completion in completions:
        reason, act = completion_token_masks(completion, tokenizer)
        assert all(r != a for r, a in zip(reason, act, strict=True)), "every token in exactly one span"
        raw_reason, raw_act = token_masks(completion, tokenizer)
        ids = tokenizer(completion, add_special_tokens=False)["input_ids"]
        for token, r, a, raw_r, raw_a in zip(ids, reason, act, raw_reason, raw_act, strict=True):
            if raw_r or raw_a:
                assert (r, a) == (raw_r, raw_a), "a token in a character span keeps its span"
            else:
                gap_tokens += 1
                assert tokenizer.decode([token]).strip() in ("", ">"), "only line ends and '> ' are filled in"
                if tokenizer.decode([token]) == "\n":
                    assert r, "the newline that ends the Thought line is reasoning"
    assert gap_tokens >= len(completions) // 2


@pytest.mark.parametrize(
    "completion, reason, act",
    [
        # the newline ending a Thought is reasoning; the one ending the action line is the action's
        ("Thought: go.\nAction: look\n", "Thought: go.\n", "Action: look\n"),
        # ALFWorld's '> ' prefix belongs to the span on its line
        ("> think: a mug.\n> go to desk 1\n", "> think: a mug.\n", "> go to desk 1\n"),
        # unlabelled text before the action line is reasoning (as agents.react.parse reads it)
        ("I think so.\nAction: take apple 1", "I think so.\n", "Action: take apple 1"),
        # leading whitespace joins the first span; a line between two spans joins the next one
        ("  Action: a\nnote\nThought: b", "note\nThought: b", "  Action: a\n"),
        # no span at all: the env receives the whole completion as its action
        ("just words", "", "just words"),
    ],
)
def test_completion_spans_cover_every_character(completion, reason, act):
    spans = completion_spans(completion)
    starts = [0, *(s.end for s in spans[:-1])]
    assert [(s.start, s.end) for s in spans] == list(zip(starts, [s.end for s in spans], strict=True))
    assert spans[-1].end == len(completion)
    assert "".join(completion[s.start:s.end] for s in spans if s.kind == "reason") == reason
    assert "".join(completion[s.start:s.end] for s in spans if s.kind == "act") == act


def test_partition_fills_tokens_without_characters():
    # a token that decodes to no characters (half of a UTF-8 character) joins the span before it
    assert partition_completion([True, False, False], [False, False, True]) == (
        [True, True, False], [False, False, True])
    with pytest.raises(ValueError, match="both the reason and the act span"):
        partition_completion([True], [True])
    with pytest.raises(ValueError, match="reason mask has 2 tokens, act mask 1"):
        partition_completion([True, False], [True])


def test_generated_ids_are_partitioned_from_their_decoded_characters(tokenizer):
    text = "Thought: go to the desk.\nAction: go to desk 1\n"
    # one id per character, then EOS: ids no tokenizer would produce from this text
    ids = [tokenizer.convert_tokens_to_ids(tokenizer.convert_ids_to_tokens(tokenizer(ch)["input_ids"])[0])
           for ch in text]
    reason, act = completion_masks_from_ids(tokenizer, ids)
    assert "".join(ch for ch, m in zip(text, reason, strict=True) if m) == "Thought: go to the desk.\n"
    assert "".join(ch for ch, m in zip(text, act, strict=True) if m) == "Action: go to desk 1\n"


def test_span_is_a_value():
    assert Span("act", 1, 3) == Span("act", 1, 3)
