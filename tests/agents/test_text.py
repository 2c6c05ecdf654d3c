"""Untrusted text is made writable (valid Unicode) without losing anything else."""
from __future__ import annotations

import pyarrow as pa

from agents.text import sanitize, sanitize_text


def test_lone_surrogates_become_replacement_characters_and_pairs_join():
    # a lone high surrogate, a real emoji, a lone low one, a pair stored as two code points
    text = "a\ud800b\U0001f600c\udfff" + "\ud83d\ude00"
    clean = sanitize_text(text)
    assert clean == "a\ufffdb\U0001f600c\ufffd\U0001f600"
    assert pa.array([clean]).to_pylist() == [clean]  # what failed the episode journal before


def test_clean_text_is_returned_unchanged():
    text = "Thought: fine — ünïcode ✓\nAction: search[x]"
    assert sanitize_text(text) is text


def test_sanitize_walks_rows():
    row = {"thought": "x\ud800", "topk": [["\udfff"]], "step": 3, ("k\ud800"): ("t\ud800",)}
    assert sanitize(row) == {"thought": "x\ufffd", "topk": [["\ufffd"]], "step": 3, "k\ufffd": ("t\ufffd",)}
