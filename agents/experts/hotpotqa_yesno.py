"""Yes/no comparisons decided from read text: the HotPotQA expert's judgement on "Are A and B ...?".

:func:`judge` takes the question and, for each of the two entities compared, the sentences the agent
has read about it, and answers yes or no from values it quotes out of those sentences, never from a
gold label:

- *same nationality*: the capitalised adjective after "is a"/"was an" ("a Soviet-American
  mathematician" -> Soviet, American);
- *same profession* (occupation, line / type of work): the nouns of that description
  ("an American film director, screenwriter and actor" -> director, screenwriter, actor);
- *same genre*: the words before film / novel / band / album ... ("a 1955 romance film" -> romance);
- *same city / country / place ...*: the places named after in / from / of ("a town in the north of
  Merrow" -> Merrow; the most specific one for a city, the last for a country);
- *same year*, and *older / earlier / before / younger / later / after*: the first year each names;
- *both X*: whether each entity's sentences contain X's words ("Are A and B both rivers?").

A question of none of these kinds, or sentences that do not hold the value, give ``None``: the
expert cannot decide from what it read (it finishes with an honest guess, saying so).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

YES_NO_OPENERS = ("are ", "is ", "do ", "does ", "did ", "were ", "was ", "can ", "could ", "have ", "has ")
_COPULA = re.compile(r"\b(?:is|was|are|were)\s+(?:an?|the)\s+")
_DESCRIPTION_END = re.compile(
    r"[.;:(\[]|\s(?:who|which|that|whose|known|best|from|born|in|of|for|with|based|by|at|on|during|"
    r"since|where|when|released|directed|published|founded|formed|located|headquartered)\b"
)
_WORKS = (
    r"(?:film|movie|novel|book|album|song|single|band|group|series|show|game|play|opera|musical|magazine|"
    r"documentary)"
)
_GENRE = re.compile(  # the last work noun of a run: "a musical film" is a film whose genre is musical
    rf"\b(?:is|was|are|were)\s+(?:an?\s+)?(?P<words>[^.;,()]*?)\s*\b(?P<noun>{_WORKS})s?\b(?!\s+{_WORKS}\b)"
)
_PLACE = re.compile(
    r"\b(?:in|from|of|at)\s+(?:the\s+)?"
    r"(?:(?:north|south|east|west|northern|southern|eastern|western|central|northeast|northwest|southeast|"
    r"southwest|north-east|north-west|south-east|south-west)(?:\s+part)?\s+(?:of\s+)?)?"
    r"(?P<places>[A-Z][\w'.-]*(?:\s+[A-Z][\w'.-]*)*(?:,\s+[A-Z][\w'.-]*(?:\s+[A-Z][\w'.-]*)*)*)"
)
_YEAR = re.compile(r"\b(1[0-9]{3}|20[0-9]{2})\b")
_WORDS = re.compile(r"[A-Za-z][\w-]*")
_MONTHS = frozenset({
    "january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
    "november", "december",
})
#: place nouns: the broad ones compare the last place a sentence names, the others the first
_BROAD_PLACES = frozenset({"country", "state", "continent", "province", "region", "county", "island"})
_PLACE_NOUNS = _BROAD_PLACES | {
    "city", "town", "village", "place", "location", "neighborhood", "neighbourhood", "area", "district",
    "borough", "suburb",
}
_PROFESSION = re.compile(
    r"\b(?:professions?|occupations?|line of work|type of work|kind of work|field of work|same job|same work|"
    r"same careers?|same type of career)\b"
)
_OLDER = ("older", "earlier", "before", "first")
_YOUNGER = ("younger", "later", "after", "newer")
_FILLER = frozenset({
    "a", "an", "the", "of", "in", "from", "located", "based", "considered", "known", "as", "both", "and",
    "to", "by", "at",
})
_IRREGULAR = {"genera": "genus", "people": "person", "women": "woman", "men": "man", "children": "child"}


@dataclass(frozen=True)
class Verdict:
    """A yes/no answer and the sentence (natural case, no final stop) that states the values compared."""

    answer: str
    relation: str
    values: tuple[str, str]


def is_yes_no(question: str) -> bool:
    """Whether the question asks for yes or no by its wording ("Are A and B ...?", no "or" choice)."""
    q = question.strip().casefold()
    return q.startswith(YES_NO_OPENERS) and not re.search(r"\bor\b", q)


def judge(question: str, facts: Sequence[tuple[str, Sequence[str]]]) -> Verdict | None:
    """Yes or no for ``question`` from ``facts`` (entity name, sentences read about it) of the two
    entities compared, or None when the question is of no known kind or the sentences do not hold the
    values it compares."""
    if len(facts) < 2 or not all(sentences for _, sentences in facts):
        return None
    q = question.casefold()
    (a, text_a), (b, text_b) = sorted(
        ((name, " ".join(sentences)) for name, sentences in facts[:2]),
        key=lambda fact: _position(q, fact[0]),
    )
    if "nationalit" in q:
        return _same(a, b, _nationality(text_a), _nationality(text_b), "nationality")
    if _PROFESSION.search(q):
        return _same(a, b, _profession(text_a), _profession(text_b), "profession")
    if "genre" in q:
        return _same(a, b, _genre(text_a), _genre(text_b), "genre")
    if re.search(r"\bsame (?:year|decade)\b", q):
        return _same(a, b, _first_year(text_a), _first_year(text_b), "year")
    place = re.search(r"\bsame (\w+)", q)
    if place and place.group(1) in _PLACE_NOUNS:
        noun = place.group(1)
        names = (a, b)
        return _same(a, b, _place(text_a, noun, names), _place(text_b, noun, names), noun)
    both = re.search(r"\bboth\b", q) is not None
    order = [w for w in re.findall(r"[a-z]+", q) if w in _OLDER + _YOUNGER]
    if order and not both:
        return _order(a, b, _first_year(text_a), _first_year(text_b), older=order[0] in _OLDER)
    if both:
        return _both(question, (a, text_a), (b, text_b))
    return None


def _position(question: str, name: str) -> int:
    at = question.find(name.casefold())
    return at if at >= 0 else len(question)


def _same(
    a: str, b: str, va: tuple[str, set[str]] | None, vb: tuple[str, set[str]] | None, noun: str
) -> Verdict | None:
    """Yes when the two values (shown text, comparable keys) share a key; None when either is missing."""
    if va is None or vb is None:
        return None
    same = bool(va[1] & vb[1])
    relation = f"the {noun} is {va[0]} for {a} {'and also' if same else 'but'} {vb[0]} for {b}"
    return Verdict("yes" if same else "no", relation, (va[0], vb[0]))


def _description(text: str) -> str | None:
    """What the first "is a ..." / "was an ..." says the entity is, up to the clause that follows."""
    match = _COPULA.search(text)
    if match is None:
        return None
    rest = text[match.end():]
    end = _DESCRIPTION_END.search(rest)
    description = rest[: end.start() if end else len(rest)].strip(" ,")
    return description or None


def _nationality(text: str) -> tuple[str, set[str]] | None:
    description = _description(text)
    if description is None:
        return None
    words = description.split()
    while words and not words[0][:1].isupper() and len(words) > 1:  # "a former American ..."
        words = words[1:]
    capitalised = []
    for word in words:
        if not word[:1].isupper():
            break
        capitalised.append(word)
    parts = {p.casefold() for w in capitalised for p in w.split("-") if p[:1].isupper()}
    return (" ".join(capitalised), parts) if parts else None


def _profession(text: str) -> tuple[str, set[str]] | None:
    description = _description(text)
    if description is None:
        return None
    kept = [w for w in description.split() if not w[:1].isupper() and not any(c.isdigit() for c in w)]
    items = [i.strip() for i in re.split(r",|\band\b", " ".join(kept)) if i.strip()]
    heads = {i.split()[-1].casefold().strip(",") for i in items}
    return (_listing(items), heads) if heads else None


def _genre(text: str) -> tuple[str, set[str]] | None:
    match = _GENRE.search(text)
    if match is None:
        return None
    words = [  # "a 2017 Belmoran musical film" -> musical
        w for w in match.group("words").split()
        if not w[:1].isupper() and not any(c.isdigit() for c in w) and w.casefold() not in ("a", "an", "the")
    ]
    if not words and match.group("noun") == "documentary":
        words = ["documentary"]
    return (" ".join(words), {words[-1].casefold()}) if words else None


def _place(text: str, noun: str, names: tuple[str, str]) -> tuple[str, set[str]] | None:
    mentioned = [p.strip().rstrip(".") for m in _PLACE.finditer(text) for p in m.group("places").split(",")]
    own = " | ".join(names)  # a place in an entity's own name ("University of Kessford") is not where it is
    places = [
        p for p in mentioned
        if p.casefold() not in _MONTHS and not re.search(rf"\b{re.escape(p)}\b", own, re.IGNORECASE)
    ]
    if not places:
        return None
    place = places[-1] if noun in _BROAD_PLACES else places[0]
    return place, {place.casefold()}


def _first_year(text: str) -> tuple[str, set[str]] | None:
    match = _YEAR.search(text)
    return (match.group(1), {match.group(1)}) if match else None


def _order(
    a: str, b: str, va: tuple[str, set[str]] | None, vb: tuple[str, set[str]] | None, older: bool
) -> Verdict | None:
    """Is ``a`` (named first) older / earlier (``older``) or younger / later than ``b``, by the first
    year each names; None without two different years."""
    if va is None or vb is None or va[0] == vb[0]:
        return None
    earlier = int(va[0]) < int(vb[0])
    yes = earlier if older else not earlier
    comparison = "earlier" if earlier else "later"
    relation = f"the year is {va[0]} for {a} and {vb[0]} for {b}, so {a} comes {comparison}"
    return Verdict("yes" if yes else "no", relation, (va[0], vb[0]))


def _both(question: str, *facts: tuple[str, str]) -> Verdict | None:
    """"Are A and B both X?": yes when each entity's sentences hold X's words; no when one does not and
    its sentences say what it is instead; None for a long or numeric X."""
    q = question.strip().rstrip("?").strip()
    folded = q.casefold()
    ends = [folded.find(name.casefold()) + len(name) for name, _ in facts if name.casefold() in folded]
    both = re.search(r"\bboth\b", q, re.IGNORECASE)
    start = max([*ends, both.end() if both else 0])
    predicate = [w for w in _WORDS.findall(q[start:]) if w.casefold() not in _FILLER]
    if not predicate or len(predicate) > 3 or any(c.isdigit() for w in predicate for c in w):
        return None
    wanted = " ".join(predicate)
    shown = []
    for name, text in facts:
        words = {w.casefold() for w in _WORDS.findall(text)}
        if not all(_has_word(p, words) for p in predicate):
            description = _description(text)
            if description is None:
                return None
            relation = f"{name} is described as {_article(description)}, not {wanted}"
            return Verdict("no", relation, (description, wanted))
        shown.append(name)
    relation = f"the pages call both {shown[0]} and {shown[1]} {wanted}"
    return Verdict("yes", relation, (wanted, wanted))


def _has_word(word: str, words: set[str]) -> bool:
    """Whether ``words`` hold ``word`` or a form of it (plural, singular, inflection)."""
    w = _IRREGULAR.get(word.casefold(), word.casefold())
    stem = w[: max(4, len(w) - 2)] if len(w) > 4 else w.rstrip("s")
    return any(other.startswith(stem) for other in words)


def _article(description: str) -> str:
    return f"{'an' if description[:1].lower() in 'aeiou' else 'a'} {description}"


def _listing(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"
