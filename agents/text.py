"""Hygiene for untrusted text (model output, web pages, server replies) before it is stored.

Arrow, Parquet and JSON writers need valid Unicode; a JSON reply may carry ``"\\ud800"`` escapes that
decode to lone UTF-16 surrogates, which no UTF-8 writer accepts. One such string must not cost a run
its other episodes, so text is sanitised where it enters (agents) and again where it is written.
"""
from __future__ import annotations

import re
from typing import Any

_SURROGATE = re.compile("[\ud800-\udfff]")


def sanitize_text(text: str) -> str:
    """``text`` with every lone surrogate (U+D800-U+DFFF) replaced by U+FFFD; a high + low surrogate
    stored as two code points becomes the one character they encode. Other text is returned as is."""
    if text.isascii() or _SURROGATE.search(text) is None:
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def sanitize(value: Any) -> Any:
    """:func:`sanitize_text` applied to every string in ``value`` (str, or dicts / lists / tuples of
    them, nested; dict keys too); other values are returned unchanged."""
    if isinstance(value, str):
        return sanitize_text(value)
    if isinstance(value, dict):
        return {sanitize(k): sanitize(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(sanitize(v) for v in value)
    return value
