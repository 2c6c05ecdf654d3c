"""Span segmentation: ``segment``, ``token_masks`` and the completion masks training uses.

The code is :mod:`agents.spans` (the LM agents count each turn's reason and act tokens at play time, and
agents may not import distill); this module re-exports it under the name the design and training use.
A completion's training tokens end with the newline that ends its action line, and that token is act.
"""
from agents.spans import (
    Span,
    SpanKind,
    char_masks,
    completion_masks_from_ids,
    completion_spans,
    completion_token_masks,
    decoded_offsets,
    offsets_to_masks,
    partition_completion,
    segment,
    token_masks,
)

__all__ = [
    "Span", "SpanKind", "char_masks", "completion_masks_from_ids", "completion_spans",
    "completion_token_masks", "decoded_offsets", "offsets_to_masks", "partition_completion", "segment",
    "token_masks",
]
