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

import random
from pathlib import Path
from typing import Any

from envs.hotpotqa.pages import Page, PageStore, title_key
from envs.hotpotqa.tasks import QUESTION_TYPES, HotPotQAData, Question
from envs.json_files import DataFileError, json_type, read_json

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
        raise _fail(path, where, f"expected [title, [sentences]], got {json_type(item)}")
    title, sentences = item
    for n, sentence in enumerate(sentences):
        if not isinstance(sentence, str):
            got = json_type(sentence)
            raise _fail(path, where, f"sentence {n} of paragraph {title[:60]!r} must be a string, got {got}")
    return Page(title.strip(), tuple(s.strip() for s in sentences))


def _supporting_facts(path: Path, where: str, value: Any) -> tuple[tuple[str, int], ...]:
    if not isinstance(value, list):
        raise _fail(path, where, f"supporting_facts must be a list, got {json_type(value)}")
    facts = []
    for n, fact in enumerate(value):
        if not (
            isinstance(fact, list)
            and len(fact) == 2
            and isinstance(fact[0], str)
            and isinstance(fact[1], int)
            and not isinstance(fact[1], bool)
        ):
            got = json_type(fact)
            raise _fail(path, where, f"supporting_facts[{n}] must be [title, sentence index], got {got}")
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
        records = read_json(path, "HotPotQA's hotpot_dev_distractor_v1.json format")
    except DataFileError as err:
        raise HotPotQAFormatError(str(err)) from err
    if not isinstance(records, list) or not records:
        got = json_type(records)
        raise _fail(path, "file", f"the top level must be a non-empty list of question records, got {got}")
    pages: dict[str, Page] = {}
    questions = []
    for n, record in enumerate(records):
        where = f"record {n}"
        if not isinstance(record, dict):
            raise _fail(path, where, f"a record must be an object, got {json_type(record)}")
        missing = [k for k in REQUIRED_FIELDS if k not in record]
        if missing:
            raise _fail(path, where, f"missing field(s) {missing}")
        for key in ("_id", "question", "answer"):
            if not isinstance(record[key], str):
                raise _fail(path, where, f"field {key!r} must be a string, got {json_type(record[key])}")
        if not isinstance(record["type"], str) or record["type"] not in QUESTION_TYPES:
            got = repr(record["type"]) if isinstance(record["type"], str) else json_type(record["type"])
            raise _fail(path, where, f"field 'type' is {got}, expected one of {QUESTION_TYPES}")
        if not isinstance(record["context"], list):
            got = json_type(record["context"])
            raise _fail(path, where, f"field 'context' must be a list of [title, [sentences]], got {got}")
        for k, item in enumerate(record["context"]):
            page = _paragraph(path, f"{where} context[{k}]", item)
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
