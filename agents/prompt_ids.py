"""The prompt of an episode's next turn as token ids: what the LM agent feeds its model, built for any player
that holds the model's tokenizer (the HTTP agent sending ids to a served teacher).

[bos] + ids of :func:`agents.react.header` + per earlier turn its *generated* ids (the tokenizer's ids of its
text and ending newline where none were recorded), the ids of a newline where they do not end with one
(:func:`line_end_ids`: a turn stopped by EOS or its token budget) + the ids of its ``Observation:`` block,
fitted to the budget by :func:`agents.context.fit_ids` with the :func:`agents.context.omitted_note` line:
the ids ``distill.data.encode_episode`` rebuilds from a logged step's ``n_dropped_turns`` and
``prompt_tokens``.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agents.base import Episode
from agents.context import bos_ids, fit_ids, omitted_note
from agents.react import header, render_turn


def text_ids(tokenizer: Any, text: str) -> list[int]:
    """The ids of ``text`` with no special tokens added."""
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def line_end_ids(tokenizer: Any, completion_ids: Sequence[int]) -> list[int]:
    """The ids of a newline when ``completion_ids`` do not end with one, else ``[]``: what separates a turn
    from the ``Observation:`` block after it (context only: the turn's model did not write it)."""
    last = tokenizer.decode(list(completion_ids[-1:]), skip_special_tokens=False)
    return [] if last.endswith("\n") else text_ids(tokenizer, "\n")


def episode_prompt_ids(
    tokenizer: Any,
    episode: Episode,
    instructions: str,
    few_shot: Sequence[str],
    generated: Sequence[list[int]],
    budget: int,
) -> tuple[list[int], int]:
    """(prompt ids for the next turn of ``episode``, earlier turns left out of it); ``generated`` holds the
    generated ids of the episode's first turns (a turn beyond them is taken as the ids of its text)."""
    head = bos_ids(tokenizer) + text_ids(
        tokenizer, header(episode.task, episode.first_observation or "", instructions, few_shot)
    )
    blocks = []
    for i, turn in enumerate(episode.turns):
        completion, observation = render_turn(turn)
        ids = list(generated[i]) if i < len(generated) else text_ids(tokenizer, completion)
        blocks.append(ids + line_end_ids(tokenizer, ids) + text_ids(tokenizer, observation))
    return fit_ids(head, blocks, budget, lambda n: text_ids(tokenizer, omitted_note(n)))
