"""The bundled world: a generated, fictional encyclopaedia and HotPotQA-style questions over it.

Deterministic by seed. About 3,300 entities (countries, cities, universities, companies, people,
films, bands, novels; :mod:`envs.hotpotqa.builder`, names from :mod:`envs.hotpotqa.names`) whose
pages (:mod:`envs.hotpotqa.prose`) link to each other by name, and questions
(:mod:`envs.hotpotqa.questions`) mixed as in HotPotQA's dev set: 80% bridge, 20% comparison, of
which about a third are yes/no (6% of all questions; the real dev file has 5,918 bridge and 1,487
comparison questions, 458 with a yes/no answer).
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from envs.hotpotqa.builder import WorldBuilder
from envs.hotpotqa.pages import Page, PageStore
from envs.hotpotqa.prose import PageWriter
from envs.hotpotqa.questions import QuestionMaker
from envs.hotpotqa.search import TitleSearch
from envs.hotpotqa.tasks import Question

SPLIT_SIZES = {"test": 500, "dev": 500, "train": 10_000}
#: question stream -> share of questions (bridge, which-of-two comparison, yes/no comparison)
QUESTION_MIX = {"bridge": 0.80, "comparison": 0.138, "yes/no": 0.062}


def generate_world(
    seed: int = 0, split_sizes: dict[str, int] | None = None
) -> tuple[PageStore, dict[str, list[Question]]]:
    """The encyclopaedia and the questions of each split (test, dev, train by default), by seed."""
    sizes = dict(SPLIT_SIZES if split_sizes is None else split_sizes)
    builder = WorldBuilder(seed)
    builder.build_entities()
    builder.assign_titles()
    PageWriter(builder).render_pages()
    store = PageStore(Page(e.title, tuple(e.sentences)) for e in builder.entities)
    rng = random.Random(seed + 1)
    maker = QuestionMaker(builder, TitleSearch(store), rng)
    streams: dict[str, Iterator[tuple[tuple, Question]]] = {
        "bridge": maker.bridges(),
        "comparison": maker.comparisons(yes_no=False),
        "yes/no": maker.comparisons(yes_no=True),
    }
    kinds, weights = list(QUESTION_MIX), list(QUESTION_MIX.values())
    seen: set[tuple] = set()
    splits: dict[str, list[Question]] = {}
    for split, size in sizes.items():
        questions: list[Question] = []
        while len(questions) < size:
            stream = streams[rng.choices(kinds, weights)[0]]
            for _ in range(10_000):
                key, q = next(stream)
                if key not in seen:
                    break
            else:
                raise RuntimeError(f"world too small for {sum(sizes.values())} distinct questions")
            seen.add(key)
            questions.append(Question(**{**q.__dict__, "id": f"{split}-{len(questions):05d}"}))
        splits[split] = questions
    return store, splits
