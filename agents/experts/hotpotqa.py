"""Scripted HotPotQA expert: reads the pages a question needs and answers from what it has read.

It may use the privileged ``info["gold"]`` (supporting facts, their sentences and, for the generated
world, the hops with their lookup keywords) to know *which* facts matter, and nothing else; it acts
like a ReAct agent that reads (``webthink_simple6``):

    Thought: The question is about Dark Harbour. I'll search Dark Harbour and find who directed it, ...
    Action: Search[Dark Harbour]
    Thought: The opening of Dark Harbour does not say who directed it. Let me look up "directed".
    Action: Lookup[directed]
    Thought: Dark Harbour was directed by Iris Vantell. So I need to search Iris Vantell next ...
    ...
    Action: Finish[Corvale]

Grounding rules it keeps (tests check them): every ``Search[...]`` / ``Lookup[...]`` argument and every
page title or entity a thought names has appeared in the question or an earlier observation (a
bridge entity is named only once a page has shown it; a disambiguated title only once a ``Similar:``
list has shown it); the ``Finish[...]`` answer is text it has read, or yes/no said after stating the
two facts compared. It never reads gold's answer (only scoring does). For the generated world it
derives the answer from the facts it read (a comparison's direction from the question's wording); for
official data (no hops) it reads the answer off the supporting sentences it has seen: the two numbers
a comparison states, or a bridge question's span (a number when the question asks for one, else a name
the question does not hold, preferably after a preposition) -- 0.95 EM on the bundled test questions
written as official records, against 0.9+ when it was told the answer's span (a heuristic reader: on
real HotPotQA expect less). A yes/no question (by its wording) is decided, on either data, from
the values it quotes out of the two pages' read sentences (:mod:`agents.experts.hotpotqa_yesno`:
nationalities, professions, genres, places, years, "both X"), never from a label; when they do not
settle it, it says so and guesses :data:`UNSURE_YES_NO`.

The policy is a function of the history alone (question, actions, observations), so
:meth:`HotPotQAExpert.relabel` plays the same rules from any history, e.g. a student's trajectory.
"""

from __future__ import annotations

import random
import re
import time
import zlib
from collections import Counter
from dataclasses import dataclass
from itertools import product
from typing import Any

from agents.base import AgentStep, Episode
from agents.experts import Expert
from agents.experts.hotpotqa_yesno import YES_NO_OPENERS, is_yes_no, judge
from agents.react import format_turn

_ACTION = re.compile(r"^\s*(?P<verb>[A-Za-z]+)\[(?P<arg>.*)\]\s*$", re.DOTALL)
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]{3,}")
_CAPITALISED = re.compile(r"[A-Z][\w'.&-]*(?:\s+(?:of|the|de|and|[A-Z0-9][\w'.&-]*))*")
_STOPWORDS = frozenset({
    "what", "which", "where", "when", "who", "whom", "whose", "that", "this", "there", "their", "they",
    "were", "was", "with", "from", "into", "have", "has", "had", "been", "also", "both", "same", "than",
    "then", "does", "did", "many", "much", "more", "most", "other", "about",
})
_SMALLER_WINS = ("first", "earlier", "older", "oldest", "earliest")
_NUMBER_WORDS = {"two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9}
DEFAULT_MAX_STEPS = 7
#: lookups with one keyword before another usable keyword is tried
MAX_TRIES_PER_KEYWORD = 2
#: the answer to a yes/no question whose read sentences do not settle it (a guess, and said to be one)
UNSURE_YES_NO = "no"


def _combos(openers: tuple[str, ...], cores: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(f"{o} {c}" for o, c in product(openers, cores))


#: decision kind -> thought templates (facts substituted); each kind has >= 20 distinct phrasings
THOUGHTS: dict[str, tuple[str, ...]] = {
    "plan": _combos(
        (
            "The question is about {a}.",
            "The question names {a}.",
            "To answer this I should start from {a}.",
            "Everything here hinges on {a}.",
            "The starting point is {a}.",
        ),
        (
            "I'll search {a} and {need}, then {rest}.",
            "Let me search {a}, {need}, and then {rest}.",
            "First I search {a} to {need_verb}; after that I will {rest_verb}.",
            "I need to search {a}, {need}, then {rest}.",
        ),
    ),
    "plan_compare": _combos(
        (
            "The question compares {a} and {b}.",
            "Two things are being compared here: {a} and {b}.",
            "This asks me to weigh {a} against {b}.",
            "I have to compare {a} with {b}.",
            "The question puts {a} next to {b}.",
        ),
        (
            "I'll search each of them and {need}, starting with {a}.",
            "Let me search {a} first, then {b}, and {need}.",
            "I need to search both and {need}; {a} comes first.",
            "Searching {a} and then {b} should let me {need_verb}.",
        ),
    ),
    "lookup": _combos(
        (
            "The opening of {page} does not say {wanted}.",
            "These first sentences of {page} leave out {wanted}.",
            "Nothing shown so far says {wanted}.",
            "I don't see {wanted} in the summary of {page}.",
            "The page for {page} hasn't told me {wanted} yet.",
        ),
        (
            'Let me look up "{keyword}".',
            "I'll look up {keyword} on this page.",
            "A lookup for {keyword} should reach the right sentence.",
            "Looking up {keyword} may find it.",
        ),
    ),
    "lookup_again": _combos(
        (
            "That sentence is not the one I need.",
            "This match doesn't answer it.",
            "Not what I'm after.",
            "That hit is about something else.",
            "Close, but that is not the fact I need.",
        ),
        (
            "I'll look up {keyword} again.",
            'Let me try the next "{keyword}" result.',
            "The next result for {keyword} may be it.",
            "Another lookup for {keyword}.",
        ),
    ),
    "next_search": _combos(
        ("{fact}.", "Here: {fact}.", "The page says {fact}.", "Good: {fact}.", "Found it: {fact}."),
        (
            "Next I need to search {b} and {need}.",
            "Now I'll search {b} to {need_verb}.",
            "So I need to search {b} next and {need}.",
            "Let me search {b} and {need}.",
        ),
    ),
    "pick_similar": _combos(
        (
            "There is no page called exactly {name}, but {title} is listed.",
            "The search for {name} lists similar pages, among them {title}.",
            "{name} has no page of its own; the list shows {title}.",
            "Several pages match {name}; {title} is the one that fits.",
            "The exact title {name} does not exist, but {title} appears in the list.",
        ),
        (
            "I'll search {title}.",
            "Let me open {title}.",
            "{title} should be the right page, so I'll search it.",
            "Searching {title} next.",
        ),
    ),
    "search_phrase": _combos(
        (
            "I have not seen a page for {title_hint} yet.",
            "The next page I need is not linked by its exact name.",
            "I still need the page behind {phrase}.",
            "{phrase} should lead to the page I need.",
            "The facts I need are probably on the page for {phrase}.",
        ),
        (
            "Let me search {phrase}.",
            "I'll search {phrase} and see what comes up.",
            "Searching {phrase}.",
            "A search for {phrase} should find it or list similar pages.",
        ),
    ),
    "give_up": _combos(
        (
            "I could not find {wanted} on {page}.",
            "The lookups on {page} ran out without {wanted}.",
            "{page} does not seem to state {wanted}.",
            "No sentence I can reach on {page} gives {wanted}.",
            "I have not managed to read {wanted} on {page}.",
        ),
        (
            "I'll go on with what I have.",
            "Let me move on.",
            "I will continue without it.",
            "I'll work with the facts I found.",
        ),
    ),
    "finish_bridge": _combos(
        ("{fact}.", "The page says {fact}.", "Right: {fact}.", "I found that {fact}.", "Now I know {fact}."),
        (
            "So the answer is {answer}.",
            "The answer is therefore {answer}.",
            "That makes the answer {answer}.",
            "So {answer} answers the question.",
        ),
    ),
    "finish_order": _combos(
        (
            "{fact_a}, and {fact_b}.",
            "{fact_a}, while {fact_b}.",
            "I read that {fact_a} and {fact_b}.",
            "So {fact_a}; {fact_b}.",
            "Comparing: {fact_a}, whereas {fact_b}.",
        ),
        (
            "{value_a} against {value_b}, so the answer is {answer}.",
            "That puts {answer} ahead, so the answer is {answer}.",
            "So {answer} is the answer.",
            "Comparing {value_a} with {value_b}, {answer} wins.",
        ),
    ),
    "finish_yes_no": _combos(
        (
            "{fact_a}, and {fact_b}.",
            "{fact_a}, while {fact_b}.",
            "I read that {fact_a} and {fact_b}.",
            "So {fact_a}; {fact_b}.",
            "Both pages are read: {fact_a}, and {fact_b}.",
        ),
        (
            "{relation}, so {answer}.",
            "{relation}; the answer is {answer}.",
            "{relation}. So the answer is {answer}.",
            "Since {relation_lower}, the answer is {answer}.",
        ),
    ),
    "finish_read": _combos(
        (
            "{evidence}",
            "I read: {evidence}",
            "The page says: {evidence}",
            "From what I read: {evidence}",
            "The key sentence is: {evidence}",
        ),
        (
            "So the answer is {answer}.",
            "The answer is therefore {answer}.",
            "That makes the answer {answer}.",
            "So {answer} answers the question.",
        ),
    ),
    "finish_unsure": _combos(
        (
            "I could not read everything I needed.",
            "I am out of steps to look further.",
            "The pages I read do not settle it fully.",
            "I have not found the exact fact.",
            "Not everything I needed was on the pages I reached.",
        ),
        (
            "My best answer from what I read is {answer}.",
            "I'll answer {answer}, the best match I have seen.",
            "Going with {answer}.",
            "I'll finish with {answer}.",
        ),
    ),
}


def phrasings(kind: str) -> tuple[str, ...]:
    """The thought templates of one decision kind (for inspection and tests)."""
    return THOUGHTS[kind]


@dataclass
class Target:
    """A page the answer needs: its title, supporting sentences, lookup keywords and, for the
    generated world, the value and fact the first supporting sentence states."""

    title: str
    evidence: tuple[str, ...]
    keywords: tuple[str, ...]
    value: str = ""
    fact: str = ""
    need: str = "find the facts the question needs"


@dataclass
class History:
    """What the episode has shown: the text seen, the searches made, the page now open and its lookups."""

    question: str
    seen: str
    searched: set[str]
    page: str | None  # search argument that opened the current page
    page_summary: str  # what that search showed
    lookups: list[tuple[str, str]]  # (keyword, observation) since that page opened
    last_action: str

    @classmethod
    def read(cls, episode: Episode) -> History:
        question = episode.task or (episode.first_observation or "").removeprefix("Question: ")
        seen, searched, page, summary, lookups = [question], set(), None, "", []
        for turn in episode.turns:
            observation = turn.observation or ""
            seen.append(observation)
            verb, arg = _parse(turn.action)
            if verb == "search":
                searched.add(arg.casefold())
                if observation and not observation.startswith(("Could not find", "Invalid action")):
                    page, summary, lookups = arg, observation, []
            elif verb == "lookup":
                lookups.append((arg.casefold(), observation))
        last = _parse(episode.turns[-1].action) if episode.turns else ("", "")
        return cls(question, "\n".join(seen), searched, page, summary, lookups, f"{last[0]}[{last[1]}]")

    def has_seen(self, text: str) -> bool:
        """Whether ``text`` appeared (ignoring case and spacing) in the question or an observation."""
        return bool(text) and " ".join(text.split()).casefold() in " ".join(self.seen.split()).casefold()


def _parse(action: str) -> tuple[str, str]:
    match = _ACTION.match(action or "")
    return (match.group("verb").lower(), match.group("arg").strip()) if match else ("", "")


def _key(title: str) -> str:
    """A title as the env matches it: case-folded, whitespace collapsed."""
    return " ".join(title.split()).casefold()


def _base_name(title: str) -> str:
    """``Iris Vantell (architect)`` -> ``Iris Vantell``."""
    return re.sub(r"\s*\([^)]*\)\s*$", "", title).strip()


def _number(value: str) -> float | None:
    text = value.replace(",", "").strip().lower()
    if text in _NUMBER_WORDS:
        return float(_NUMBER_WORDS[text])
    try:
        return float(text)
    except ValueError:
        return None


def _targets(question: str, gold: dict[str, Any]) -> list[Target]:
    """The pages to read, in reading order: the gold hops, or for official data one target per
    supporting title (titles the question names first)."""
    if gold.get("hops"):
        return [
            Target(
                h["title"],
                (gold["evidence"][i] if i < len(gold["evidence"]) else "",),
                tuple(h.get("keywords", ())),
                h["value"],
                h["fact"],
                h["need"],
            )
            for i, h in enumerate(gold["hops"])
        ]
    evidence: dict[str, list[str]] = {}
    for (title, _), sentence in zip(gold["supporting_facts"], gold["evidence"], strict=True):
        evidence.setdefault(title, []).append(sentence)
    titles = sorted(evidence, key=lambda t: _base_name(t).casefold() not in question.casefold())
    question_words = {w.lower() for w in _WORD.findall(question)} - _STOPWORDS
    targets = []
    for n, title in enumerate(titles):
        sentences = tuple(s for s in evidence[title] if s)
        words = [w for s in sentences for w in _WORD.findall(s) if w.lower() not in title.lower()]
        shared = [w for w in words if w.lower() in question_words]
        stems = [_stem(w, question_words) for w in words]  # "headquarters" ~ "headquartered" -> "headquarter"
        content = [w for w in words if w.lower() not in _STOPWORDS]
        keywords = shared + [stem for stem in stems if stem] + content
        fact = f'the page for {_base_name(title)} says "{sentences[0]}"' if sentences else ""
        need = "find what the question asks about it" if n == 0 else "read what it says"
        targets.append(Target(title, sentences, tuple(dict.fromkeys(keywords)), fact=fact, need=need))
    return targets


def _stem(word: str, question_words: set[str]) -> str:
    """The longest prefix (5+ letters) that ``word`` shares with a question word, or ""."""
    best = ""
    for other in question_words:
        n = 0
        while n < min(len(word), len(other)) and word[n].lower() == other[n]:
            n += 1
        if n >= 5 and n > len(best):
            best = word[:n].lower()
    return best


class HotPotQAExpert(Expert):
    """Scripted teacher for ``hotpotqa``: reads the supporting pages it is told matter (search, then
    lookup what the first sentences do not show) and answers from what it read."""

    env_name = "hotpotqa"
    description = (
        "scripted HotPotQA expert: reads the supporting pages (gold says which) and answers from them"
    )

    def __init__(self, **kwargs: Any):
        super().__init__()
        if kwargs:
            raise TypeError(f"HotPotQAExpert takes no options, got {sorted(kwargs)}")

    def step(self, episode: Episode, observation: str, info: dict[str, Any]) -> AgentStep:
        return self._turn(episode, info)

    def relabel(self, episode: Episode, info: dict[str, Any]) -> AgentStep:
        """The turn this expert plays next after ``episode`` (any history, e.g. a student's)."""
        return self._turn(episode, info)

    def _turn(self, episode: Episode, info: dict[str, Any]) -> AgentStep:
        start = time.perf_counter()
        gold = info.get("gold") or episode.info.get("gold")
        if not gold:
            raise ValueError(
                "HotPotQAExpert needs info['gold'] (the supporting facts) from the hotpotqa env; "
                "it uses them to know which pages matter"
            )
        thought, action = _Decision(episode, info, gold).decide()
        return AgentStep(
            thought=thought,
            action=action,
            text=format_turn(thought, action),
            latency_s=time.perf_counter() - start,
        )


class _Decision:
    """One decision of the expert, from the episode's history and the gold facts."""

    def __init__(self, episode: Episode, info: dict[str, Any], gold: dict[str, Any]):
        self.history = History.read(episode)
        self.question = self.history.question
        self.targets = _targets(self.question, gold)
        self.generated = bool(gold.get("hops"))
        max_steps = int(info.get("max_steps") or episode.info.get("max_steps") or DEFAULT_MAX_STEPS)
        self.steps_left = max_steps - len(episode.turns)
        seed = f"{info.get('task_id') or episode.info.get('task_id') or self.question}:{len(episode.turns)}"
        self.rng = random.Random(zlib.crc32(seed.encode()))
        self.first_turn = not episode.turns

    def say(self, kind: str, **facts: str) -> str:
        return self.rng.choice(THOUGHTS[kind]).format(**facts)

    # --- the policy ------------------------------------------------------------------------------
    def decide(self) -> tuple[str, str]:
        if self.steps_left <= 1 or not self.targets:
            return self.finish()
        previous_done: Target | None = None
        for target in self.targets:
            if self._read(target):
                previous_done = target
                continue
            move = self._work_on(target, previous_done)
            if move is not None:
                return move
        return self.finish()

    def _read(self, target: Target) -> bool:
        return all(self.history.has_seen(s) for s in target.evidence if s)

    def _work_on(self, target: Target, previous: Target | None) -> tuple[str, str] | None:
        """The next action towards reading ``target``, or None when it cannot be reached."""
        h = self.history
        if h.page is not None and _key(h.page) == _key(target.title):
            return self._lookup(target)
        search = self._search_argument(target)
        if search is None:
            return None
        argument, how = search
        if self.first_turn:
            return self._plan(argument), f"Search[{argument}]"
        if how == "similar":
            return self.say("pick_similar", name=_base_name(argument), title=argument), f"Search[{argument}]"
        if previous is not None and previous.fact and h.has_seen(previous.evidence[0]):
            need, verb = self._need(target)
            return self.say(
                "next_search", fact=previous.fact, b=argument, need=need, need_verb=verb
            ), f"Search[{argument}]"
        if how == "phrase":
            return self.say("search_phrase", phrase=argument, title_hint=argument), f"Search[{argument}]"
        need, verb = self._need(target)
        return self.say(
            "next_search", fact=self._last_fact(), b=argument, need=need, need_verb=verb
        ), f"Search[{argument}]"

    def _last_fact(self) -> str:
        for target in reversed(self.targets):
            if target.fact and self._read(target):
                return target.fact
        return f"I have read about {self.history.page}" if self.history.page else "Nothing is open yet"

    def _search_argument(self, target: Target) -> tuple[str, str] | None:
        """(argument, how): the exact title if seen ("title"), listed ("similar"), else its base name or a
        seen phrase sharing its words ("phrase"); None when every seen route was tried."""
        h = self.history
        title, base = target.title, _base_name(target.title)
        if h.has_seen(title) and title.casefold() not in h.searched:
            listed = f"'{title}'" in h.seen or f'"{title}"' in h.seen
            return title, "similar" if listed and base != title else "title"
        if base != title and h.has_seen(base) and base.casefold() not in h.searched:
            return base, "title"
        if title.casefold() in h.searched and base.casefold() in h.searched:
            return None
        title_words = {w.lower() for w in _WORD.findall(title)}
        phrases = {p.rstrip(".'&-") for p in _CAPITALISED.findall(h.seen)}
        phrases = sorted(p for p in phrases if p and p.casefold() not in h.searched)
        scored = [(len(title_words & {w.lower() for w in _WORD.findall(p)}), len(p), p) for p in phrases]
        scored = [s for s in scored if s[0] > 0]
        return (max(scored)[2], "phrase") if scored else None

    def _plan(self, argument: str) -> str:
        first = self.targets[0]
        if len(self.targets) > 1 and self._is_comparison():
            need, verb = self._need(first)
            return self.say(
                "plan_compare",
                a=argument,
                b=_base_name(self.targets[1].title)
                if self.history.has_seen(_base_name(self.targets[1].title))
                else "the other one",
                need=need,
                need_verb=verb,
            )
        need, verb = self._need(first)
        rest, rest_verb = self._need(self.targets[-1]) if len(self.targets) > 1 else ("answer", "answer")
        return self.say("plan", a=argument, need=need, need_verb=verb, rest=rest, rest_verb=rest_verb)

    @staticmethod
    def _need(target: Target) -> tuple[str, str]:
        """The plan clause ("find who directed it") and its long form ("find out who directed it")."""
        need = target.need
        return need, need.replace("find ", "find out ", 1) if need.startswith("find ") else need

    def _lookup(self, target: Target) -> tuple[str, str] | None:
        h = self.history
        tries = Counter(k for k, _ in h.lookups)
        exhausted = {k for k, obs in h.lookups if obs.startswith("No more results")}
        usable = [k for k in target.keywords if h.has_seen(k) and k.casefold() not in exhausted]
        if len(usable) > 1:  # a word the page's first sentences contain hits them first: try others first,
            usable.sort(key=lambda k: k.casefold() in h.page_summary.casefold())  # and page on past 2 hits
            usable = [k for k in usable if tries[k.casefold()] < MAX_TRIES_PER_KEYWORD] or usable
        page = h.page or target.title
        wanted = target.need.removeprefix("find ") if target.need else "what I need"
        if not usable:
            return self._give_up(target, page, wanted)
        keyword = usable[0]
        if h.last_action.casefold() == f"lookup[{keyword}]".casefold():
            return self.say("lookup_again", keyword=keyword), f"Lookup[{keyword}]"
        return self.say("lookup", page=page, wanted=wanted, keyword=keyword), f"Lookup[{keyword}]"

    def _give_up(self, target: Target, page: str, wanted: str) -> tuple[str, str] | None:
        later = self.targets[self.targets.index(target) + 1 :]
        for nxt in later:
            search = self._search_argument(nxt)
            if search is not None:
                thought = self.say("give_up", page=page, wanted=wanted)
                return f"{thought} Next I'll search {search[0]}.", f"Search[{search[0]}]"
        return self.finish()

    # --- answering -------------------------------------------------------------------------------
    def _is_comparison(self) -> bool:
        q = self.question.casefold()
        return q.startswith(YES_NO_OPENERS) or (
            " or " in q and all(_base_name(t.title).casefold() in q for t in self.targets[:2])
        )

    def finish(self) -> tuple[str, str]:
        move = self._finish_generated() if self.generated else self._finish_official()
        return move if move is not None else self._finish_unsure()

    def _finish_generated(self) -> tuple[str, str] | None:
        read = [t for t in self.targets if self._read(t)]
        if len(read) < len(self.targets):
            return None
        if not self._is_comparison():
            last = self.targets[-1]
            return self.say("finish_bridge", fact=last.fact, answer=last.value), f"Finish[{last.value}]"
        a, b = self.targets[0], self.targets[1]
        if is_yes_no(self.question):
            return self._finish_yes_no(a.fact, b.fact)
        return self._finish_order(a, b, a.value, b.value)

    def _finish_order(self, a: Target, b: Target, value_a: str, value_b: str) -> tuple[str, str] | None:
        """Which of two compared pages the question picks, from the two numbers read (a year, a count) and
        the question's wording ("older", "first": the smaller wins); None when they do not settle it."""
        va, vb = _number(value_a), _number(value_b)
        if va is None or vb is None or va == vb:
            return None
        wording = self.question
        for target in (a, b):
            wording = wording.replace(_base_name(target.title), " ")
        smaller_wins = bool(set(re.findall(r"[a-z]+", wording.casefold())) & set(_SMALLER_WINS))
        answer = _base_name((a if (va < vb) == smaller_wins else b).title)
        facts = {"fact_a": a.fact, "fact_b": b.fact, "value_a": value_a, "value_b": value_b}
        return self.say("finish_order", **facts, answer=answer), f"Finish[{answer}]"

    def _finish_official(self) -> tuple[str, str] | None:
        """Official data has no hops: the answer is read off the supporting sentences seen, never taken
        from gold's answer (which only scoring may read)."""
        read = [(t, [s for s in t.evidence if s and self.history.has_seen(s)]) for t in self.targets]
        if is_yes_no(self.question):
            facts = [t.fact for t, sentences in read[:2] if t.fact and t.evidence[0] in sentences]
            return self._finish_yes_no(*facts) if len(facts) == 2 else None
        if len(read) > 1 and self._is_comparison():
            (a, read_a), (b, read_b) = read[:2]
            value_a, value_b = _compared_number(" ".join(read_a)), _compared_number(" ".join(read_b))
            return self._finish_order(a, b, value_a, value_b) if value_a and value_b else None
        for target, sentences in reversed(read):  # the last page read holds a bridge question's answer
            for sentence in sentences:
                answer = _answer_span(self.question, target.title, sentence)
                if answer:
                    thought = self.say("finish_read", evidence=sentence.strip(), answer=answer)
                    return thought, f"Finish[{answer}]"
        return None

    def _finish_yes_no(self, fact_a: str, fact_b: str) -> tuple[str, str] | None:
        """Yes or no from the values the two compared pages' read sentences state (never from a label);
        None when they do not settle it."""
        facts = [
            (_base_name(t.title), [s for s in t.evidence if s and self.history.has_seen(s)])
            for t in self.targets[:2]
        ]
        verdict = judge(self.question, facts)
        if verdict is None:
            return None
        relation = verdict.relation
        return self.say(
            "finish_yes_no",
            fact_a=fact_a,
            fact_b=fact_b,
            relation=relation[0].upper() + relation[1:],  # starts a sentence
            relation_lower=relation,  # inside one
            answer=verdict.answer,
        ), f"Finish[{verdict.answer}]"

    def _finish_unsure(self) -> tuple[str, str]:
        h = self.history
        if is_yes_no(self.question):  # what it read does not settle it: a plain guess, said to be one
            return self.say("finish_unsure", answer=UNSURE_YES_NO), f"Finish[{UNSURE_YES_NO}]"
        read_values = [t.value for t in self.targets if t.value and h.has_seen(t.value)]
        guess = read_values[-1] if read_values else (h.page or _first_phrase(self.question))
        return self.say("finish_unsure", answer=guess), f"Finish[{guess}]"


_NUMBER = re.compile(r"\b\d[\d,]*(?:\.\d+)?\b")
_ASKS_NUMBER = re.compile(
    r"^(when|how (many|much|long|tall|high|old|far))\b|\b(what|which) year\b|\b(population|elevation)\b", re.I
)
_AFTER_PREPOSITION = re.compile(r"\b(?:in|of|on|at|from|by|near|for)\s+(?:the\s+)?$", re.I)
_NOT_NAMES = frozenset(
    {"he", "she", "it", "they", "the", "a", "an", "his", "her", "its", "their", "this", "in", "as"}
)


def _compared_number(text: str) -> str:
    """The number a compared page's read sentences state, past a dating opener ("As of 2020, it employed
    about 47,519 people" -> 47,519; "(1938 – 1992)" -> 1938; "two members" -> two), or ""."""
    text = re.sub(r"\b(?:as of|in|by|since) \d{4},", " ", text, flags=re.I)
    number = re.search(rf"{_NUMBER.pattern}|\b(?:{'|'.join(_NUMBER_WORDS)})\b", text, re.I)
    return number.group() if number else ""


def _answer_span(question: str, title: str, sentence: str) -> str:
    """The span of a read sentence that answers a bridge question: a number when the question asks
    for one ("when", "how many", "what year"), else a name the question and the page's title do not
    hold, preferring one after a preposition ("headquartered in Selton"); "" when there is none."""
    asked = " ".join(question.split()).casefold()
    title_words = {w.casefold() for w in re.findall(r"\w+", _base_name(title))}
    if _ASKS_NUMBER.search(question):
        numbers = [n for n in _NUMBER.findall(sentence) if n not in question]
        return numbers[0] if numbers else ""
    names = []
    for match in _CAPITALISED.finditer(sentence):
        name = match.group().rstrip(".,;:'&-")
        words = {w.casefold() for w in re.findall(r"\w+", name)}
        if not name or words <= _NOT_NAMES | title_words or name.casefold() in asked:
            continue
        names.append((not _AFTER_PREPOSITION.search(sentence[: match.start()]), match.start(), name))
    return min(names)[2] if names else ""


def _first_phrase(question: str) -> str:
    phrases = _CAPITALISED.findall(question)
    candidates = [p for p in phrases[1:] if p] or phrases or question.split()[:1]
    return candidates[0] if candidates else "unknown"
