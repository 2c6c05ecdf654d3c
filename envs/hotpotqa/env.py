"""HotPotQA in ReAct's setting as a Gymnasium text env, over a local page store.

Actions (ReAct's ``WikiEnv``; the verb's case is free, so ``Search[...]`` works too):

- ``search[entity]``: a page titled ``entity`` (ignoring case) shows its first 5 sentences and
  becomes the current page, which resets the lookup; otherwise
  ``Could not find [entity]. Similar: ['title', ...].`` with up to 5 BM25-ranked titles, and the
  current page stays;
- ``lookup[keyword]``: successive calls with the same keyword return
  ``(Result i / n) <sentence>`` for each sentence of the current page containing it (ignoring case),
  then ``No more results.``; a new keyword starts over;
- ``think[thought]``: ``Nice thought.``;
- ``finish[answer]``: ends the episode; reward = exact match with the gold answer; an empty
  answer is an invalid action.

The reset observation is ``Question: <question>``. ``info`` carries ``task_type`` ("bridge" or
"comparison"), ``max_steps``, ``data_source`` (``"generated"`` or the official file's path),
``prediction`` (the agent's answer, once finished), ``em`` and ``f1`` (0 until finished; ``score`` = F1,
``won`` = EM), and two privileged keys (:attr:`HotPotQAEnv.privileged_info_keys`): ``answer``, the
gold answer, and ``gold``: the gold answer and supporting facts with their sentences and, for the
generated world, the hops. They serve scoring and the scripted expert, which may use ``gold`` to
know which facts matter but acts only on what it has seen.

``subset="react500"`` (official data only) plays ReAct's 500-question evaluation subset
(:func:`envs.hotpotqa.official.react500`) instead of the whole file.
"""

from __future__ import annotations

import re
from typing import Any

from envs.core import InvalidAction, TextEnv
from envs.hotpotqa.data import load
from envs.hotpotqa.official import react500
from envs.hotpotqa.pages import Page
from envs.hotpotqa.scoring import exact_match, f1
from envs.hotpotqa.tasks import Question

_ACTION = re.compile(r"^(?P<verb>[A-Za-z]+)\[(?P<arg>.*)\]$", re.DOTALL)
VERBS = ("search", "lookup", "finish", "think")
#: longest entity / keyword accepted (titles are far shorter; this bounds the retriever's work)
MAX_ARGUMENT_CHARS = 300
USAGE = "use search[entity], lookup[keyword], think[thought] or finish[answer]"
SUBSETS = ("react500",)


def _shown(action: str, limit: int = 120) -> str:
    flat = " ".join(action.split())
    return flat if len(flat) <= limit else flat[:limit] + f"... ({len(action)} characters)"


def parse_action(action: str) -> tuple[str, str]:
    """``(verb, argument)`` of a ReAct action; raises :class:`InvalidAction` saying what is wrong."""
    text = action.strip()
    match = _ACTION.match(text)
    if match is None:
        raise InvalidAction(f"Invalid action: {_shown(action)}. Expected verb[argument]; {USAGE}.")
    verb, argument = match.group("verb").lower(), match.group("arg").strip()
    if verb not in VERBS:
        raise InvalidAction(
            f"Invalid action: {_shown(action)}. Unknown action {match.group('verb')!r}; {USAGE}."
        )
    if argument.count("[") != argument.count("]"):
        raise InvalidAction(f"Invalid action: {_shown(action)}. Unbalanced brackets.")
    if not argument and verb != "think":
        needed = {"search": "an entity", "lookup": "a keyword", "finish": "an answer"}[verb]
        raise InvalidAction(f"Invalid action: {verb}[] needs {needed}.")
    if verb in ("search", "lookup") and len(argument) > MAX_ARGUMENT_CHARS:
        raise InvalidAction(
            f"Invalid action: {verb}[...] with {len(argument)} characters; at most {MAX_ARGUMENT_CHARS}."
        )
    return verb, argument


class HotPotQAEnv(TextEnv):
    """HotPotQA questions answered with ReAct's search/lookup/finish (see the module docstring)."""

    privileged_info_keys = ("answer", "gold")

    def __init__(
        self,
        split: str = "test",
        data: str | None = None,
        max_steps: int = 7,
        render_mode: str | None = None,
        subset: str | None = None,
    ):
        super().__init__(max_steps=max_steps, render_mode=render_mode)
        self.data = load(data)
        self.split = split
        self.subset = subset
        self._questions = self.data.questions(split)
        if subset is not None:
            if subset not in SUBSETS:
                raise ValueError(f"subset={subset!r}: expected None or one of {SUBSETS}")
            if self.data.data_source == "generated":
                raise ValueError(
                    f"subset={subset!r} selects ReAct's questions of the official dev file; "
                    f"{self.data.source} is a generated world (pass data=hotpot_dev_distractor_v1.json)"
                )
            self._questions = react500(self._questions)
        self._by_id = {q.id: q for q in self._questions}
        self.question: Question | None = None
        self.page: Page | None = None
        self.lookup_keyword: str | None = None
        self.lookup_results: list[str] = []
        self.lookup_next = 0
        self.answer: str | None = None

    @property
    def task_ids(self) -> list[str]:
        return [q.id for q in self._questions]

    def _gold(self, q: Question) -> dict[str, Any]:
        evidence = []
        for title, index in q.supporting_facts:
            page = self.data.store.get(title)
            evidence.append(
                page.sentences[index] if page is not None and 0 <= index < len(page.sentences) else ""
            )
        return {
            "answer": q.answer,
            "supporting_facts": [[t, i] for t, i in q.supporting_facts],
            "evidence": evidence,
            "hops": [h.to_json() for h in q.hops],
        }

    def _reset(self, task_id: str) -> tuple[str, dict[str, Any]]:
        if task_id not in self._by_id:
            subset = f" (subset {self.subset})" if self.subset else ""
            raise ValueError(
                f"unknown task_id {task_id!r} in split {self.split!r}{subset} of {self.data.source}"
            )
        q = self.question = self._by_id[task_id]
        self.page, self.lookup_keyword, self.lookup_results, self.lookup_next, self.answer = (
            None,
            None,
            [],
            0,
            None,
        )
        info = {
            "task_id": q.id,
            "task": q.question,
            "admissible_actions": None,
            "won": False,
            "score": 0.0,
            "task_type": q.type,
            "max_steps": self.max_steps,
            "data_source": self.data.data_source,
            "protocol": {"max_steps": self.max_steps, "subset": self.subset, "empty_finish": "invalid"},
            "prediction": None,
            "em": 0.0,
            "f1": 0.0,
            "answer": q.answer,
            "gold": self._gold(q),
        }
        return f"Question: {q.question}", info

    def _step(self, action: str) -> tuple[str, float, bool, dict[str, Any]]:
        if self.question is None:
            raise RuntimeError("call reset() before step()")
        if self.answer is not None:
            raise InvalidAction("Invalid action: the episode has finished; call reset().")
        verb, argument = parse_action(action)
        gold = {"gold": self._gold(self.question)}  # a fresh copy each step: infos must not share objects
        if verb == "search":
            return self._search(argument), 0.0, False, gold
        if verb == "lookup":
            return self._lookup(argument), 0.0, False, gold
        if verb == "think":
            return "Nice thought.", 0.0, False, gold
        self.answer = argument
        em, score = float(exact_match(argument, self.question.answer)), f1(argument, self.question.answer)
        info = {"prediction": argument, "em": em, "f1": score, "won": em == 1.0, "score": score, **gold}
        return f"Episode finished, reward = {int(em)}", em, True, info

    def _invalid(self, message: str) -> tuple[str, dict[str, Any]]:
        return message, {"gold": self._gold(self.question)} if self.question is not None else {}

    def _search(self, entity: str) -> str:
        page = self.data.store.get(entity)
        if page is None:
            return f"Could not find [{entity}]. Similar: {self.data.search.similar(entity)}."
        self.page, self.lookup_keyword, self.lookup_results, self.lookup_next = page, None, [], 0
        return page.summary()

    def _lookup(self, keyword: str) -> str:
        if keyword != self.lookup_keyword:
            self.lookup_keyword = keyword
            self.lookup_results = self.page.sentences_with(keyword) if self.page is not None else []
            self.lookup_next = 0
        if self.lookup_next >= len(self.lookup_results):
            return "No more results."
        self.lookup_next += 1
        sentence = self.lookup_results[self.lookup_next - 1]
        return f"(Result {self.lookup_next} / {len(self.lookup_results)}) {sentence}"
