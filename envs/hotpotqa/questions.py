"""HotPotQA-style questions over the generated world, in HotPotQA's two types and several wordings each.

- *bridge*: the question names entity A; the answer is a property of entity B, which only A's page
  names ("In which city was the director of the film Dark Harbour born?", "The author of Glass
  Orchard was born in what year?");
- *comparison*: compare one property of two entities of the same kind ("Which film came out
  earlier, A or B?"), or ask whether they share it, answered yes or no ("Are A and B in the same
  country?").

A candidate is kept only if it can be answered by reading: its answer is unambiguous, a bridge answer
is absent from A's page and from the question, a name whose page has a disambiguated title
("Iris Vantell (architect)") is listed among the ``Similar:`` titles its search shows (and, for A,
the question says what kind of thing A is), and a supporting sentence past the first five has a
lookup keyword whose first hit is that sentence and which the agent has seen by then (in the
question, the page's first sentences or the previous hop's sentence).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

from envs.hotpotqa.builder import Entity, WorldBuilder, shown, text_of
from envs.hotpotqa.pages import SUMMARY_SENTENCES, Page
from envs.hotpotqa.scoring import normalize_answer
from envs.hotpotqa.search import TitleSearch
from envs.hotpotqa.tasks import Hop, Question


@dataclass(frozen=True)
class BridgeRelation:
    """A link from an A page to a B entity; ``describes`` name B through A ({a}; {label}: A's label)."""

    kind: str
    rel: str
    target: str
    describes: tuple[str, ...]
    fact: str  # over {a}, {b}
    need: str  # plan clause; {pron}: A's pronoun


@dataclass(frozen=True)
class AttributeQuestion:
    """A question about one attribute of the described entity {d}; ``fact`` over {b}, {v}."""

    attr: str
    wordings: tuple[str, ...]
    fact: str
    need: str


@dataclass(frozen=True)
class Comparison:
    """Compare ``attr`` of two same-kind entities {a}, {b}; ``fact`` over {x}, {v}, {av} (with article)."""

    attr: str
    wordings: tuple[str, ...]
    fact: str
    need: str
    smaller_wins: bool = False  # order comparisons only


def _b(kind: str, rel: str, target: str, describes: tuple[str, ...], fact: str, need: str) -> BridgeRelation:
    return BridgeRelation(kind, rel, target, describes, fact, need)


BRIDGES = [
    _b("film", "director", "person",
       ("the director of the film {a}", "the person who directed {a}",
        "the filmmaker who directed the film {a}"),
       "{a} was directed by {b}", "find who directed it"),
    _b("film", "star", "person",
       ("the lead actor of {a}", "the actor who stars in the film {a}", "the star of {a}"), "{a} stars {b}",
       "find who stars in it"),
    _b("film", "studio", "company",
       ("the studio that produced {a}", "the company that produced the film {a}"),
       "{a} was produced by {b}", "find which studio produced it"),
    _b("film", "based_on", "novel",
       ("the novel that the film {a} is adapted from", "the novel the film {a} is based on"),
       "{a} is based on the novel {b}", "find which novel it adapts"),
    _b("film", "location", "city",
       ("the city where the film {a} was shot", "the city where {a} was filmed"), "{a} was filmed in {b}",
       "find where it was filmed"),
    _b("band", "vocalist", "person", ("the lead singer of {a}", "the singer who fronts the band {a}"),
       "{a} is fronted by {b}", "find who fronts the band"),
    _b("band", "label", "company", ("the record label of {a}", "the label the band {a} is signed to"),
       "{a} is signed to {b}", "find its record label"),
    _b("band", "origin", "city", ("the city where the band {a} was formed", "the hometown of the band {a}"),
       "{a} was formed in {b}", "find where the band was formed"),
    _b("company", "founder", "person", ("the founder of {a}", "the person who founded the company {a}"),
       "{a} was founded by {b}", "find who founded it"),
    _b("company", "hq", "city",
       ("the city where {a} is headquartered", "the city where the company {a} is based"),
       "{a} is headquartered in {b}", "find where it is headquartered"),
    _b("novel", "author", "person",
       ("the author of the novel {a}", "the writer who wrote {a}", "the person who wrote the novel {a}"),
       "{a} was written by {b}", "find who wrote it"),
    _b("novel", "publisher", "company",
       ("the publisher of the novel {a}", "the company that published {a}"), "{a} was published by {b}",
       "find who published it"),
    _b("novel", "setting", "city",
       ("the city in which the novel {a} is set", "the city where the story of {a} is set"),
       "{a} is set in {b}", "find where it is set"),
    _b("person", "birthplace", "city", ("the city where {a} was born", "the birthplace of the {label} {a}"),
       "{a} was born in {b}", "find where {pron} was born"),
    _b("person", "alma_mater", "university",
       ("the university {a} attended", "the university where the {label} {a} studied"),
       "{a} studied at {b}", "find where {pron} studied"),
    _b("university", "city", "city", ("the city that is home to {a}", "the city where {a} is located"),
       "{a} is located in {b}", "find where it is located"),
]
#: how a hop-2 plan clause refers to B
ROLE_NOUNS = {
    "director": "the director", "star": "the actor", "studio": "the studio", "based_on": "the novel",
    "location": "that city", "vocalist": "the singer", "label": "the label", "origin": "that city",
    "founder": "the founder", "hq": "that city", "author": "the author", "publisher": "the publisher",
    "setting": "that city", "birthplace": "that city", "alma_mater": "the university", "city": "that city",
}
ATTRIBUTES: dict[str, list[AttributeQuestion]] = {
    "person": [
        AttributeQuestion("born",
                          ("In what year was {d} born?", "When was {d} born?", "{d} was born in what year?"),
                          "{b} was born in {v}", "find when {r} was born"),
        AttributeQuestion("birthplace",
                          ("In which city was {d} born?", "Where was {d} born?",
                           "{d} was born in which city?"),
                          "{b} was born in {v}", "find where {r} was born"),
        AttributeQuestion("nationality", ("What nationality is {d}?", "What is the nationality of {d}?"),
                          "{b} is {v}", "find the nationality of {r}"),
        AttributeQuestion("alma_mater",
                          ("Which university did {d} attend?", "Where did {d} study?",
                           "{d} graduated from which university?"),
                          "{b} studied at {v}", "find where {r} studied"),
    ],
    "company": [
        AttributeQuestion("founded", ("In what year was {d} founded?", "When was {d} founded?"),
                          "{b} was founded in {v}", "find when {r} was founded"),
        AttributeQuestion("hq", ("In which city is {d} headquartered?", "Where is {d} based?"),
                          "{b} is headquartered in {v}", "find where {r} is headquartered"),
        AttributeQuestion("founder", ("Who founded {d}?", "Who is the founder of {d}?"),
                          "{b} was founded by {v}", "find who founded {r}"),
        AttributeQuestion("industry",
                          ("In which industry is {d} active?", "What industry does {d} work in?"),
                          "{b} works in {v}", "find the industry of {r}"),
    ],
    "city": [
        AttributeQuestion("country",
                          ("In which country is {d}?", "{d} is in which country?",
                           "Which country is {d} located in?"),
                          "{b} is in {v}", "find which country {r} is in"),
        AttributeQuestion("river", ("Which river flows through {d}?", "On which river does {d} lie?"),
                          "{b} lies on the {v}", "find which river flows through {r}"),
        AttributeQuestion("population", ("What is the population of {d}?", "How many people live in {d}?"),
                          "{b} has a population of {v}", "find the population of {r}"),
        AttributeQuestion("elevation",
                          ("At what elevation in metres does {d} lie?",
                           "How many metres above sea level is {d}?"),
                          "{b} lies {v} metres above sea level", "find the elevation of {r}"),
    ],
    "university": [
        AttributeQuestion("city", ("In which city is {d} located?", "Where is {d}?"),
                          "{b} is located in {v}", "find where {r} is located"),
        AttributeQuestion("founded", ("In what year was {d} established?", "When was {d} founded?"),
                          "{b} was established in {v}", "find when {r} was established"),
        AttributeQuestion("students",
                          ("How many students does {d} have?", "How many students are enrolled at {d}?"),
                          "{b} has about {v} students", "find how many students {r} has"),
    ],
    "novel": [
        AttributeQuestion("author", ("Who wrote {d}?", "Who is the author of {d}?"),
                          "{b} was written by {v}", "find who wrote {r}"),
        AttributeQuestion("year", ("In what year was {d} first published?", "When was {d} published?"),
                          "{b} was published in {v}", "find when {r} was published"),
        AttributeQuestion("genre", ("What genre of novel is {d}?", "{d} belongs to which genre?"),
                          "{b} is {av} novel", "find the genre of {r}"),
    ],
}
ORDER_COMPARISONS: dict[str, list[Comparison]] = {
    "film": [
        Comparison("year",
                   ("Which film was released first, {a} or {b}?",
                    "Which came out earlier, the film {a} or the film {b}?",
                    "{a} or {b}: which film was released first?"),
                   "{x} was released in {v}", "find their release years", smaller_wins=True),
        Comparison("runtime",
                   ("Which film is longer, {a} or {b}?",
                    "Which film has the longer running time, {a} or {b}?"),
                   "{x} runs {v} minutes", "find their running times"),
    ],
    "person": [
        Comparison("born",
                   ("Who was born first, {a} or {b}?", "Who is older, {a} or {b}?",
                    "Which person was born earlier, {a} or {b}?"),
                   "{x} was born in {v}", "find their birth years", smaller_wins=True),
    ],
    "city": [
        Comparison("population",
                   ("Which city has a larger population, {a} or {b}?", "Which is more populous, {a} or {b}?"),
                   "{x} has a population of {v}", "find their populations"),
        Comparison("elevation",
                   ("Which city lies at a higher elevation, {a} or {b}?",
                    "Which is higher above sea level, {a} or {b}?"),
                   "{x} sits at {v} metres", "find their elevations"),
    ],
    "company": [
        Comparison("founded",
                   ("Which company was founded first, {a} or {b}?", "Which company is older, {a} or {b}?"),
                   "{x} was founded in {v}", "find when each was founded", smaller_wins=True),
        Comparison("employees",
                   ("Which company has more employees, {a} or {b}?",
                    "Which employs more people, {a} or {b}?"),
                   "{x} employs about {v} people", "find their numbers of employees"),
    ],
    "band": [
        Comparison("formed",
                   ("Which band was formed earlier, {a} or {b}?", "Which band formed first, {a} or {b}?"),
                   "{x} was formed in {v}", "find when each was formed", smaller_wins=True),
        Comparison("members", ("Which band has more members, {a} or {b}?",), "{x} has {v} members",
                   "find their numbers of members"),
    ],
    "university": [
        Comparison("founded",
                   ("Which university is older, {a} or {b}?",
                    "Which university was established first, {a} or {b}?"),
                   "{x} was established in {v}", "find when each was established", smaller_wins=True),
        Comparison("students", ("Which university has more students, {a} or {b}?",),
                   "{x} has about {v} students", "find their student numbers"),
    ],
    "novel": [
        Comparison("year", ("Which novel was published first, {a} or {b}?",), "{x} was published in {v}",
                   "find when each was published", smaller_wins=True),
        Comparison("pages",
                   ("Which novel is longer, {a} or {b}?", "Which novel has more pages, {a} or {b}?"),
                   "{x} runs to {v} pages", "find their page counts"),
    ],
}
SAME_COMPARISONS: dict[str, list[Comparison]] = {
    "person": [
        Comparison("nationality",
                   ("Are {a} and {b} of the same nationality?", "Do {a} and {b} share a nationality?"),
                   "{x} is {v}", "find their nationalities"),
        Comparison("occupation",
                   ("Do {a} and {b} have the same profession?", "Are {a} and {b} in the same line of work?"),
                   "{x} is {av}", "find their professions"),
    ],
    "city": [
        Comparison("country",
                   ("Are {a} and {b} in the same country?", "Are {a} and {b} located in the same country?"),
                   "{x} is in {v}", "find their countries"),
    ],
    "company": [
        Comparison("hq",
                   ("Are {a} and {b} headquartered in the same city?",
                    "Are {a} and {b} based in the same city?"),
                   "{x} is headquartered in {v}", "find their headquarters"),
    ],
    "band": [
        Comparison("origin",
                   ("Are the bands {a} and {b} from the same city?",
                    "Were {a} and {b} formed in the same city?"),
                   "{x} was formed in {v}", "find where each was formed"),
    ],
    "film": [
        Comparison("genre",
                   ("Are {a} and {b} films of the same genre?",
                    "Do the films {a} and {b} belong to the same genre?"),
                   "{x} is {av} film", "find their genres"),
    ],
    "novel": [
        Comparison("genre", ("Are the novels {a} and {b} of the same genre?",), "{x} is {av} novel",
                   "find their genres"),
    ],
}


def _a(phrase: str) -> str:
    return f"{'an' if phrase[:1].lower() in 'aeiou' else 'a'} {phrase}"


def _capitalised(text: str) -> str:
    return text[0].upper() + text[1:]


class QuestionMaker:
    """Candidate questions over a built world, each checked to be answerable by reading."""

    def __init__(self, builder: WorldBuilder, search: TitleSearch, rng: random.Random):
        self.builder, self.search, self.rng = builder, search, rng
        self._listed: dict[str, set[str]] = {}  # name -> titles its failed search lists
        self._page_text: dict[str, str] = {}  # title -> normalised page text
        self._same_groups: dict[tuple[str, str], dict[str, list[Entity]]] = {}
        self._name_counts: dict[tuple[str, str], int] = {}
        for e in builder.entities:
            key = (e.kind, e.name.lower())
            self._name_counts[key] = self._name_counts.get(key, 0) + 1

    def reachable(self, e: Entity) -> bool:
        """Whether searching ``e``'s name opens its page or lists its title among the similar ones."""
        if e.title == e.name:
            return True
        if e.name not in self._listed:
            self._listed[e.name] = set(self.search.similar(e.name))
        return e.title in self._listed[e.name]

    def hop(self, e: Entity, attr: str, fact: str, need: str, seen: str) -> Hop | None:
        """The hop that reads ``attr`` off ``e``'s page, or None when its sentence is past the first five
        and no cue that ``seen`` (text shown before; the page's first sentences are added) contains
        reaches it first."""
        index = e.facts.get(attr)
        if index is None:
            return None
        page = Page(e.title, tuple(e.sentences))
        target = e.sentences[index]
        visible = f"{seen} {page.summary()}".lower()
        keywords = tuple(
            c for c in e.cues[index] if c.lower() in target.lower() and page.sentences_with(c)[0] == target
        )
        if index >= SUMMARY_SENTENCES:
            keywords = tuple(c for c in keywords if c.lower() in visible)
            if not keywords:
                return None
        else:
            keywords = ()
        return Hop(e.title, index, keywords, shown(attr, e.attrs[attr]), fact, need)

    def bridges(self) -> Iterator[tuple[tuple, Question]]:
        """Endless stream of candidate bridge questions (dedup key, question)."""
        rng = self.rng
        while True:
            relation = rng.choice(BRIDGES)
            a = rng.choice(self.builder.by_kind[relation.kind])
            b = a.attrs.get(relation.rel)
            if not isinstance(b, Entity) or b.kind != relation.target or not self.reachable(b):
                continue
            describes = relation.describes
            if a.title != a.name:  # the question must say which of the namesakes it means
                describes = tuple(d for d in describes if "{label}" in d or a.kind in d.replace("{a}", ""))
                if not describes or self._name_counts[(a.kind, a.name.lower())] > 1 or not self.reachable(a):
                    continue
            question = rng.choice(ATTRIBUTES[b.kind])
            described = rng.choice(describes).format(a=a.name, label=a.label())
            text = _capitalised(rng.choice(question.wordings).format(d=described))
            pron = "she" if a.attrs.get("gender") == "f" else "he"
            hop1 = self.hop(
                a,
                relation.rel,
                relation.fact.format(a=a.name, b=b.name),
                relation.need.format(pron=pron),
                text,
            )
            if hop1 is None:
                continue
            value = shown(question.attr, b.attrs[question.attr])
            fact2 = question.fact.format(b=b.name, v=value, av=_a(value))
            hop2 = self.hop(
                b,
                question.attr,
                fact2,
                question.need.format(r=ROLE_NOUNS[relation.rel]),
                f"{text} {a.sentences[hop1.sentence]}",
            )
            if hop2 is None:
                continue
            answer = hop2.value
            if a.title not in self._page_text:
                self._page_text[a.title] = normalize_answer(" ".join(a.sentences))
            if normalize_answer(answer) in self._page_text[a.title] or normalize_answer(
                answer
            ) in normalize_answer(text):
                continue
            yield (
                ("bridge", a.title, relation.rel, question.attr),
                Question(
                    id="",
                    question=text,
                    answer=answer,
                    type="bridge",
                    supporting_facts=((a.title, hop1.sentence), (b.title, hop2.sentence)),
                    hops=(hop1, hop2),
                ),
            )

    def comparisons(self, yes_no: bool) -> Iterator[tuple[tuple, Question]]:
        """Endless stream of candidate comparison questions: which-of-two, or (``yes_no``) same-or-not."""
        rng = self.rng
        table = SAME_COMPARISONS if yes_no else ORDER_COMPARISONS
        while True:
            kind = rng.choice(sorted(table))
            comparison = rng.choice(table[kind])
            attr = comparison.attr
            pair = self._same_pair(kind, attr) if yes_no else rng.sample(self.builder.by_kind[kind], 2)
            if pair is None:
                continue
            a, b = pair
            if a.title != a.name or b.title != b.name or (a.attrs[attr] == b.attrs[attr] and not yes_no):
                continue
            if yes_no:
                answer = "yes" if text_of(a.attrs[attr]) == text_of(b.attrs[attr]) else "no"
            else:
                first = (a.attrs[attr] < b.attrs[attr]) == comparison.smaller_wins
                answer = (a if first else b).name
            text = rng.choice(comparison.wordings).format(a=a.name, b=b.name)
            hops = []
            for x in (a, b):
                value = shown(attr, x.attrs[attr])
                hops.append(
                    self.hop(
                        x,
                        attr,
                        comparison.fact.format(x=x.name, v=value, av=_a(value)),
                        comparison.need,
                        text,
                    )
                )
            if None in hops:
                continue
            yield (
                ("comparison", attr, *sorted((a.title, b.title))),
                Question(
                    id="",
                    question=text,
                    answer=answer,
                    type="comparison",
                    supporting_facts=tuple((h.title, h.sentence) for h in hops),
                    hops=tuple(hops),
                ),
            )

    def _same_pair(self, kind: str, attr: str) -> tuple[Entity, Entity] | None:
        """Two entities of ``kind`` whose ``attr`` is the same (half the time) or different."""
        if (kind, attr) not in self._same_groups:
            groups: dict[str, list[Entity]] = {}
            for e in self.builder.by_kind[kind]:
                if e.title == e.name:
                    groups.setdefault(text_of(e.attrs[attr]), []).append(e)
            self._same_groups[(kind, attr)] = groups
        by_value = self._same_groups[(kind, attr)]
        a = self.rng.choice(self.builder.by_kind[kind])
        if a.title != a.name:
            return None
        value = text_of(a.attrs[attr])
        if self.rng.random() < 0.5:
            pool = [e for e in by_value[value] if e is not a]
        else:
            pool = [e for v in sorted(by_value) if v != value for e in by_value[v]]
        return (a, self.rng.choice(pool)) if pool else None
