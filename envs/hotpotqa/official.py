"""Loader of the official HotPotQA files (``hotpot_dev_distractor_v1.json`` and the same format).

The file is a JSON list of records with ``_id, question, answer, type, supporting_facts, context``;
``context`` is a list of ``[title, [sentence, ...]]`` paragraphs and ``supporting_facts`` a list of
``[title, sentence index]``. The page store is the union of every record's paragraphs (a title
seen twice keeps its first paragraph), so a search can reach any page of the file, and every
question of the file is played, whatever the split. Sentences are stripped; an empty one stays in
its place (pages hide it), so supporting-fact indices keep pointing at the sentences they name.

ReAct's evaluation subset (``react500``): the ReAct authors' notebook shuffles the dev file's indices
with ``random.Random(233).shuffle(list(range(7405)))`` and plays the first 500, in that order;
:func:`react500` does the same over the file's records (``range(len(records))``).
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from envs.hotpotqa.pages import Page, PageStore, title_key
from envs.hotpotqa.tasks import QUESTION_TYPES, HotPotQAData, Question

REQUIRED_FIELDS = ("_id", "question", "answer", "type", "supporting_facts", "context")
SPLITS = ("train", "dev", "test")
REACT500_SEED = 233
REACT500_SIZE = 500


class HotPotQAFormatError(ValueError):
    """An official-format file does not hold what HotPotQA's format promises."""


def _fail(path: Path, where: str, message: str) -> HotPotQAFormatError:
    return HotPotQAFormatError(
        f"{path}: {where}: {message} (expected HotPotQA's hotpot_dev_distractor_v1.json format)"
    )


def _paragraph(path: Path, where: str, item: Any) -> Page:
    if not (
        isinstance(item, list) and len(item) == 2 and isinstance(item[0], str) and isinstance(item[1], list)
    ):
        raise _fail(path, where, f"a context entry must be [title, [sentences]], got {str(item)[:80]!r}")
    title, sentences = item
    if not all(isinstance(s, str) for s in sentences):
        raise _fail(path, where, f"paragraph {title!r} has a sentence that is not a string")
    return Page(title.strip(), tuple(s.strip() for s in sentences))


def _supporting_facts(path: Path, where: str, value: Any) -> tuple[tuple[str, int], ...]:
    if not isinstance(value, list):
        raise _fail(path, where, f"supporting_facts must be a list, got {type(value).__name__}")
    facts = []
    for fact in value:
        if not (
            isinstance(fact, list)
            and len(fact) == 2
            and isinstance(fact[0], str)
            and isinstance(fact[1], int)
        ):
            raise _fail(
                path, where, f"a supporting fact must be [title, sentence index], got {str(fact)[:80]!r}"
            )
        facts.append((fact[0].strip(), fact[1]))
    return tuple(facts)


def load_official(path: str | Path) -> HotPotQAData:
    """Pages and questions of one official-format file; every split plays all of its questions."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: no such file (expected a HotPotQA file such as hotpot_dev_distractor_v1.json)"
        )
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise _fail(path, "file", f"not valid UTF-8 JSON ({err})") from err
    if not isinstance(records, list) or not records:
        raise _fail(path, "file", "the top level must be a non-empty list of question records")
    pages: dict[str, Page] = {}
    questions = []
    for n, record in enumerate(records):
        where = f"record {n}"
        if not isinstance(record, dict):
            raise _fail(path, where, f"a record must be an object, got {type(record).__name__}")
        missing = [k for k in REQUIRED_FIELDS if k not in record]
        if missing:
            raise _fail(path, where, f"missing field(s) {missing}")
        for key in ("_id", "question", "answer"):
            if not isinstance(record[key], str):
                raise _fail(path, where, f"field {key!r} must be a string, got {type(record[key]).__name__}")
        if record["type"] not in QUESTION_TYPES:
            raise _fail(path, where, f"field 'type' is {record['type']!r}, expected one of {QUESTION_TYPES}")
        if not isinstance(record["context"], list):
            raise _fail(path, where, "field 'context' must be a list of [title, [sentences]]")
        for item in record["context"]:
            page = _paragraph(path, where, item)
            pages.setdefault(title_key(page.title), page)
        questions.append(
            Question(
                id=record["_id"],
                question=record["question"].strip(),
                answer=record["answer"].strip(),
                type=record["type"],
                supporting_facts=_supporting_facts(path, where, record["supporting_facts"]),
            )
        )
    store = PageStore(pages.values())
    return HotPotQAData(
        store=store, splits={split: questions for split in SPLITS}, source=str(path), data_source=str(path)
    )


def react500_indices(n: int) -> list[int]:
    """Positions of ReAct's evaluation questions in a file of ``n`` records, in the order ReAct plays them."""
    indices = list(range(n))
    random.Random(REACT500_SEED).shuffle(indices)
    return indices[:REACT500_SIZE]


def react500(questions: list[Question]) -> list[Question]:
    """ReAct's 500-question subset of an official file's questions (all of them, shuffled, when fewer)."""
    return [questions[i] for i in react500_indices(len(questions))]
