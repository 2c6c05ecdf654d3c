"""The one rule that fits an episode's prompt into a token budget, at play time and in training.

A prompt is a fixed *head* (instructions, few-shot examples, task, first observation) followed by
the earlier turns, each one *block* (the completion and the ``Observation:`` that answered it).
When it exceeds the budget, the oldest turns are left out *in a block*: down to the fewest that
leave the kept turns at most :data:`DROP_TO` of the room the head leaves, not merely the fewest that
fit, and no turn comes back later. The line ``(... N earlier turns omitted ...)`` stands in their
place; the head and the latest turn always stay. So after a drop the prompt keeps its prefix for
several turns: an agent reuses the last turn's KV cache and reads only the new turn, and training
packs those turns into one window (measured on 128 WebShop expert demos with SmolLM2's tokenizer:
34% fewer training tokens and 44% fewer prompt tokens to prefill at play than dropping as few turns
as possible, 2.15 against 2.78 earlier turns shown per step; ALFWorld: 47% and 62% fewer).
When the head, the note and the latest turn alone still exceed the budget, an id prompt keeps its
last ``budget`` ids (:func:`fit_ids`); text has no ids to cut, so a text prompt stays whole.

Callers (one rule, so a student trains on exactly the contexts it plays with, and logged teacher
top-k are rebuilt under exactly the context they were produced in):

- ``agents.react.build_prompt``: text, lengths from a token-count function (HTTP agents, chat templates);
- ``agents.lm.LMAgent``: token ids at play time; every ``AgentStep`` records ``n_dropped_turns`` and
  ``prompt_tokens`` (and so does the episode log);
- ``distill.data.encode_episode``: rebuilds each logged step's context from those two numbers with
  :func:`context_ids`, and applies :func:`turns_to_drop` itself to episodes that lack them (expert demos).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any


def bos_ids(tokenizer: Any) -> list[int]:
    """``[bos]`` when ``tokenizer`` puts one before a text by default, else ``[]``: the first ids of
    every head, at play time and in training."""
    bos = tokenizer.bos_token_id
    return [bos] if bos is not None and tokenizer("a")["input_ids"][:1] == [bos] else []


def omitted_note(dropped: int) -> str:
    """The line that stands in for ``dropped`` left-out turns."""
    return f"(... {dropped} earlier turns omitted ...)\n"


DROP_TO = 0.5
"""After a drop, the kept turns fill at most this fraction of the room the head leaves in the budget."""

CONTEXT_RULE = f"oldest-turns-in-blocks/{DROP_TO}"
"""The rule's name, recorded by the pipeline beside every model trained or played under it: a model
trained under another rule saw other contexts than it would be played with."""


def turns_to_drop(head: int, blocks: Sequence[int], budget: int, note: Callable[[int], int]) -> int:
    """How many of the oldest turns to leave out of the prompt that follows ``blocks`` (lengths in
    tokens; ``note(n)`` is the length of :func:`omitted_note`). The rule is replayed turn by turn: the
    count stays while ``head + note + the kept blocks`` fit ``budget``; when a turn pushes the prompt
    over, it grows to the fewest that leave the kept blocks within ``DROP_TO`` of the room
    (``budget - head``). Never the latest turn, so at most ``len(blocks) - 1``; it never decreases as
    turns are added, so every caller that sees the same turns drops the same ones."""
    low_water = budget - int(DROP_TO * max(0, budget - head))
    dropped = 0
    for seen in range(1, len(blocks) + 1):  # the prompt that follows the first `seen` turns
        if _prompt_length(head, blocks[dropped:seen], note, dropped) <= budget:
            continue
        dropped += 1
        while dropped < seen - 1 and _prompt_length(head, blocks[dropped:seen], note, dropped) > low_water:
            dropped += 1
        dropped = min(dropped, seen - 1)
    return dropped


def _prompt_length(head: int, kept: Sequence[int], note: Callable[[int], int], dropped: int) -> int:
    return head + (note(dropped) if dropped else 0) + sum(kept)


def context_ids(head: list[int], blocks: Sequence[list[int]], dropped: int, note: list[int]) -> list[int]:
    """``head + note + blocks[dropped:]`` (no note when nothing is dropped)."""
    if not 0 <= dropped <= max(0, len(blocks) - 1):
        raise ValueError(
            f"dropped={dropped} earlier turns: expected 0..{max(0, len(blocks) - 1)} of {len(blocks)}"
        )
    return head + (note if dropped else []) + [t for block in blocks[dropped:] for t in block]


def fit_ids(
    head: list[int], blocks: Sequence[list[int]], budget: int, note: Callable[[int], list[int]]
) -> tuple[list[int], int]:
    """(prompt ids, turns dropped): the rule applied to ids; a prompt still over ``budget`` keeps its
    last ``budget`` ids."""
    if budget < 1:
        raise ValueError(f"prompt budget {budget}: expected >= 1 token")
    dropped = turns_to_drop(len(head), [len(b) for b in blocks], budget, lambda n: len(note(n)))
    ids = context_ids(head, blocks, dropped, note(dropped) if dropped else [])
    return ids[-budget:], dropped
