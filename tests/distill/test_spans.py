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
from distill.spans import Span, char_masks, segment, token_masks

REASON_START = re.compile(r"(thought|reasoning|think)(\s*\d+)?\s*:", re.IGNORECASE)
ACT_KEYWORD = re.compile(r"(action|answer)(\s*\d+)?\s*:", re.IGNORECASE)


def react_texts() -> dict[str, str]:
    texts = json.loads((PROMPTS / "alfworld_3prompts.json").read_text())
    texts |= {f"hotpotqa/{k}": v for k, v in json.loads((PROMPTS / "prompts_naive.json").read_text()).items()}
    return texts


TEXTS = react_texts()


def own_format_text() -> str:
    turns = [
        Turn("I need red shoes.\nStart with a search.", "search[red shoes]", "Thought: I need red shoes.\nStart with a search.\nAction: search[red shoes]", "[SEP] Results [SEP] B01"),
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
    for match in re.finditer(r"^(Observation[ \d]*:.*|OK\.|On the .*|You (open|pick|put|arrive).*)$", text, re.MULTILINE):
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
    assert bodies[0][0] == "reason" and bodies[0][1].startswith("Thought 1: I need to search Colorado orogeny")


def test_own_format_multiline_thought():
    text = own_format_text()
    spans = segment(text)
    assert [s.kind for s in spans] == ["reason", "act", "reason", "act"]
    assert text[spans[0].start:spans[0].end] == "Thought: I need red shoes.\nStart with a search."
    assert text[spans[1].start:spans[1].end] == "Action: search[red shoes]"


def test_answer_is_an_act_span_and_observation_ends_a_thought():
    text = "Thought: multi\nline\nObservation: env text\nmore env\nAnswer: 42\n"
    spans = segment(text)
    assert [(s.kind, text[s.start:s.end]) for s in spans] == [("reason", "Thought: multi\nline"), ("act", "Answer: 42")]


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
    for (start, end), r, a in zip(offsets, reason, act):
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


def test_span_is_a_value():
    assert Span("act", 1, 3) == Span("act", 1, 3)
