"""Questions and the data set they are played on (page store + questions of one split).

A :class:`Question` carries HotPotQA's fields (``_id, question, answer, type, supporting_facts``).
Questions of the generated world also carry :class:`Hop` records: for each page to visit, what it
says and the lookup keywords that reach the supporting sentence first. They are privileged data for
the scripted expert (never shown in observations).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from envs.hotpotqa.pages import PageStore
from envs.hotpotqa.search import TitleSearch

QUESTION_TYPES = ("bridge", "comparison")


@dataclass(frozen=True)
class Hop:
    """One page the reasoning goes through.

    ``need``: what to find there, as a plan clause ("find who directed it");
    ``fact``: what the supporting sentence establishes ("Dark Harbour was directed by Marlow Vance");
    ``value``: the entity or value found, as the sentence writes it; ``sentence``: that sentence's
    index on the page; ``keywords``: lookup keywords (relation words, never the value) whose first
    hit on the page is that sentence, best first (empty when the sentence is among the first five).
    """

    title: str
    sentence: int
    keywords: tuple[str, ...]
    value: str
    fact: str
    need: str

    def to_json(self) -> dict[str, Any]:
        record = {k: getattr(self, k) for k in ("title", "sentence", "value", "fact", "need")}
        return {**record, "keywords": list(self.keywords)}


@dataclass(frozen=True)
class Question:
    """One HotPotQA question; ``supporting_facts`` are ``(title, sentence index)`` pairs, indices into
    the page's sentences as the source file numbers them. ``hops`` (generated world only) are in
    reasoning order.
    """

    id: str
    question: str
    answer: str
    type: str
    supporting_facts: tuple[tuple[str, int], ...]
    hops: tuple[Hop, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The record as stored on disk: HotPotQA's keys, plus ``hops`` when set."""
        record: dict[str, Any] = {
            "_id": self.id,
            "question": self.question,
            "answer": self.answer,
            "type": self.type,
            "supporting_facts": [[t, i] for t, i in self.supporting_facts],
        }
        if self.hops:
            record["hops"] = [h.to_json() for h in self.hops]
        return record


@dataclass
class HotPotQAData:
    """A page store and the questions of each split played over it; ``source`` names where it came
    from and ``data_source`` is what ``info["data_source"]`` reports: ``"generated"`` for a generated
    world, else the official file's path."""

    store: PageStore
    splits: dict[str, list[Question]]
    source: str
    data_source: str
    by_id: dict[str, dict[str, Question]] = field(init=False)

    def __post_init__(self) -> None:
        self.by_id = {}
        for split, questions in self.splits.items():
            index: dict[str, Question] = {}
            for q in questions:
                if q.id in index:
                    raise ValueError(f"{self.source}: question id {q.id!r} appears twice in split {split!r}")
                index[q.id] = q
            self.by_id[split] = index

    def questions(self, split: str) -> list[Question]:
        """The questions of ``split``; an unknown split raises ``ValueError`` naming the known ones."""
        if split not in self.splits:
            raise ValueError(f"{self.source}: no split {split!r}; expected one of {sorted(self.splits)}")
        return self.splits[split]

    @cached_property
    def search(self) -> TitleSearch:
        """The BM25 title index over the store (built on first use)."""
        return TitleSearch(self.store)
