"""Split ReAct text into ``[REASON]`` and ``[ACT]`` spans, and map spans onto tokens.

Recognised, line by line (keywords case-insensitive, an optional step number before the colon):

- ``Thought:`` / ``Thought 3:`` / ``Reasoning:`` / ``think:`` open a reason span that runs over
  the following lines until the next keyword line;
- ``Action:`` / ``Action 3:`` / ``Answer:`` open a one-line act span;
- ALFWorld's ReAct style: ``> think: ...`` is a one-line reason span, any other ``> command``
  an act span starting at the command;
- ``Observation:``, ``Question:``, ``Task:``, ``OK.`` and any other text are in no span.

A span starts at its keyword (for ``> command``, at the command) and ends at the end of its
content; trailing whitespace and newlines are excluded.

That is the character level (:func:`segment`, :func:`token_masks`). For training, the tokens of one
*completion* are partitioned (:func:`completion_spans`, :func:`completion_token_masks`,
:func:`completion_masks_from_ids`): the newline that ends a Thought is reason, the newline that ends
the action line — a completion's last token, where the LM agent's generation stops
(``agents.react.render_turn``, ``agents.react.completion_end``) — is act, so a model learns to end its
action, and SAD trains every completion token that token-KD trains and the λs are the only difference
between them.

It lives in agents (the ReAct text format) because the LM agents count each turn's reason and act
tokens at play time; :mod:`distill.spans` re-exports it, the name the design and training use.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

SpanKind = Literal["reason", "act"]

_NUM = r"(?:[ \t]*\d+)?[ \t]*:"
_REASON = re.compile(rf"(?:thought|reasoning|think){_NUM}", re.IGNORECASE)
_ACT = re.compile(rf"(?:action|answer){_NUM}", re.IGNORECASE)
_OTHER = re.compile(rf"(?:observation|question|task|obs){_NUM}", re.IGNORECASE)


@dataclass(frozen=True)
class Span:
    """A ``[start, end)`` character range of ``kind`` "reason" or "act"."""

    kind: SpanKind
    start: int
    end: int


def _classify(line: str) -> tuple[str, int, bool] | None:
    """(kind, offset of the span start within the line, multi-line?) for a keyword line, else None.
    kind "none" marks a keyword line that ends an open span without opening one."""
    stripped = line.lstrip(" \t")
    indent = len(line) - len(stripped)
    if stripped.startswith(">"):
        command = stripped[1:].lstrip(" \t")
        offset = indent + len(stripped) - len(command)
        if not command:
            return None
        if _REASON.match(command):
            return "reason", offset, False
        return "act", offset, False
    if _REASON.match(stripped):
        return "reason", indent, True
    if _ACT.match(stripped):
        return "act", indent, False
    if _OTHER.match(stripped):
        return "none", indent, True
    return None


def segment(text: str) -> list[Span]:
    """The reason and act spans of ``text``, in order, never overlapping."""
    spans: list[Span] = []
    open_kind: str | None = None  # "reason" while a multi-line reason span collects lines
    open_start = open_end = 0
    pos = 0
    for line in text.splitlines(keepends=True):
        content = line.rstrip("\r\n")
        found = _classify(content)
        if found is None:
            if open_kind == "reason" and content.strip():
                open_end = pos + len(content.rstrip())
        else:
            if open_kind == "reason":
                spans.append(Span("reason", open_start, open_end))
            open_kind = None
            kind, offset, multiline = found
            start, end = pos + offset, pos + len(content.rstrip())
            if kind == "reason" and multiline:
                open_kind, open_start, open_end = "reason", start, end
            elif kind != "none" and end > start:
                spans.append(Span(kind, start, end))
        pos += len(line)
    if open_kind == "reason":
        spans.append(Span("reason", open_start, open_end))
    return spans


def char_masks(text: str, spans: Sequence[Span] | None = None) -> tuple[list[bool], list[bool]]:
    """Per-character (reason, act) masks."""
    spans = segment(text) if spans is None else spans
    reason, act = [False] * len(text), [False] * len(text)
    for span in spans:
        target = reason if span.kind == "reason" else act
        target[span.start:span.end] = [True] * (span.end - span.start)
    return reason, act


def token_masks(text: str, tokenizer, spans: Sequence[Span] | None = None) -> tuple[list[bool], list[bool]]:
    """Per-token (reason_mask, act_mask) for ``tokenizer(text, add_special_tokens=False)``.

    A token is in a span if any of its characters is; a token touching both a reason and an act
    span goes to the one it overlaps most (act on a tie), so no token is ever in both.
    Needs a fast tokenizer (character offsets).
    """
    if not getattr(tokenizer, "is_fast", False):
        raise TypeError(
            f"token_masks needs a fast tokenizer with offset mapping, got {type(tokenizer).__name__}"
        )
    offsets = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    return offsets_to_masks(offsets, len(text), segment(text) if spans is None else spans)


def offsets_to_masks(
    offsets: Sequence[tuple[int, int]], text_len: int, spans: Sequence[Span]
) -> tuple[list[bool], list[bool]]:
    """Token (reason, act) masks from token character offsets and spans."""
    # prefix counts make each token's overlap an O(1) lookup
    reason_chars, act_chars = [0] * (text_len + 1), [0] * (text_len + 1)
    for span in spans:
        target = reason_chars if span.kind == "reason" else act_chars
        target[span.start] += 1
        target[span.end] -= 1
    for counts in (reason_chars, act_chars):
        running = 0
        for i in range(text_len + 1):
            running += counts[i]
            counts[i] = running
    reason_pre, act_pre = [0], [0]
    for i in range(text_len):
        reason_pre.append(reason_pre[-1] + (reason_chars[i] > 0))
        act_pre.append(act_pre[-1] + (act_chars[i] > 0))
    reason_mask, act_mask = [], []
    for start, end in offsets:
        start, end = max(0, min(start, text_len)), max(0, min(end, text_len))
        r = reason_pre[end] - reason_pre[start]
        a = act_pre[end] - act_pre[start]
        reason_mask.append(r > a)
        act_mask.append(a > 0 and a >= r)
    return reason_mask, act_mask


def completion_spans(text: str) -> list[Span]:
    """Spans of one completion that cover every character of it (see :func:`segment` for the
    character-exact ones): the rest of a span's line (its newline too) joins that span; a line's
    prefix before its span (indentation, ALFWorld's ``> ``) and any line between two spans join the
    next span; unlabelled text before the first span is reasoning (as ``agents.react.parse`` reads
    it) unless it is only whitespace; text after the last span joins it; a completion without any
    span is passed to the env as its action, so it is one act span."""
    spans = segment(text)
    if not text:
        return []
    if not spans:
        return [Span("act", 0, len(text))]
    line_start = text.rfind("\n", 0, spans[0].start) + 1
    covered: list[Span] = []
    if text[:line_start].strip() and spans[0].kind == "act":
        covered.append(Span("reason", 0, line_start))
        start = line_start
    else:
        start = 0
    for span, following in zip(spans, [*spans[1:], None], strict=True):
        if following is None:
            end = len(text)
        else:
            newline = text.find("\n", span.end, following.start)
            end = following.start if newline < 0 else newline + 1
        covered.append(Span(span.kind, start, end))
        start = end
    return covered


def partition_completion(reason: Sequence[bool], act: Sequence[bool]) -> tuple[list[bool], list[bool]]:
    """Token masks of one completion with every token in exactly one span: a token in neither (one
    that decodes to no characters) joins the span before it, or reason at the start."""
    if len(reason) != len(act):
        raise ValueError(f"reason mask has {len(reason)} tokens, act mask {len(act)}; expected one length")
    out_reason, out_act = [], []
    current = "reason"
    for r, a in zip(reason, act, strict=True):
        if r and a:
            raise ValueError("a token is in both the reason and the act span")
        current = "reason" if r else "act" if a else current
        out_reason.append(current == "reason")
        out_act.append(current == "act")
    return out_reason, out_act


def completion_token_masks(text: str, tokenizer) -> tuple[list[bool], list[bool]]:
    """Per-token (reason, act) masks of one completion, every token in exactly one
    (:func:`completion_spans`, then :func:`partition_completion`)."""
    return partition_completion(*token_masks(text, tokenizer, completion_spans(text)))


def decoded_offsets(tokenizer, ids: Sequence[int]) -> tuple[str, list[tuple[int, int]]]:
    """The decoded text of ``ids`` (special tokens kept) and each token's (start, end) range in it."""
    text = tokenizer.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)
    offsets, previous = [], 0
    for i in range(1, len(ids) + 1):
        prefix = tokenizer.decode(ids[:i], skip_special_tokens=False, clean_up_tokenization_spaces=False)
        end = min(max(previous, len(prefix)), len(text))  # a split UTF-8 character decodes late
        offsets.append((previous, end))
        previous = end
    return text, offsets


def completion_masks_from_ids(tokenizer, ids: Sequence[int]) -> tuple[list[bool], list[bool]]:
    """:func:`completion_token_masks` of a completion given as generated token ids (not re-tokenised):
    spans come from the decoded characters of each token."""
    text, offsets = decoded_offsets(tokenizer, ids)
    return partition_completion(*offsets_to_masks(offsets, len(text), completion_spans(text)))
