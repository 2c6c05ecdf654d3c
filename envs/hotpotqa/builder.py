"""The entities of the generated world and how they link: who directed which film, where a company is
based, which names are shared or look alike, and each entity's unique page title.

Distractors are built in: about 6% of people share the full name of someone with another occupation
(Wikipedia-style titles such as ``Iris Vantell (architect)``); films adapted from novels share the
novel's title; two films may share a title and differ by year; and a fifth of the people, films,
novels, bands and companies are named after an earlier one of their kind ("Silent Harbour" beside
"The Silent Harbour", "Iris Vantova" beside "Iris Vantell"), so a search lists look-alikes.
Pages are written by :mod:`envs.hotpotqa.prose`.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from envs.hotpotqa import names
from envs.hotpotqa.names import COUNTS, SIMILAR_NAME_SHARE


@dataclass(eq=False)
class Entity:
    """A thing with a page. ``attrs`` hold values or other entities; ``facts`` map attr -> sentence
    index; ``cues`` map sentence index -> lookup keywords that name the relation it states."""

    kind: str
    name: str
    attrs: dict[str, Any]
    title: str = ""
    sentences: list[str] = field(default_factory=list)
    facts: dict[str, int] = field(default_factory=dict)
    cues: dict[int, list[str]] = field(default_factory=dict)
    works: list[Entity] = field(default_factory=list)  # films, novels, bands, companies naming this person
    lookalikes: list[Entity] = field(default_factory=list)  # same kind, similar name

    @property
    def short(self) -> str:
        """How prose refers to the entity after the first mention (a person's surname)."""
        return self.name.split()[-1] if self.kind == "person" else self.name

    def label(self) -> str:
        """The word used to disambiguate its title: a person's occupation, else its kind."""
        return self.attrs["occupation"] if self.kind == "person" else self.kind


def text_of(value: Any) -> str:
    """A value as prose writes it: an entity by name, numbers above 9,999 with thousands separators."""
    if isinstance(value, Entity):
        return value.name
    return f"{value:,}" if isinstance(value, int) and value > 9999 else str(value)


def shown(attr: str, value: Any) -> str:
    """``value`` as the page writes it (band sizes are spelled out)."""
    return names.NUMBER_WORDS[value] if attr == "members" else text_of(value)


class WorldBuilder:
    """Builds the entities and their titles from one seed (pages: :class:`envs.hotpotqa.prose.PageWriter`)."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.used_names: set[str] = set()
        self.entities: list[Entity] = []
        self.by_kind: dict[str, list[Entity]] = {}
        self._pools: dict[tuple, list[Entity]] = {}

    # --- helpers ---------------------------------------------------------------------------------
    def _unique(self, make: Callable[[], str]) -> str:
        for _ in range(1000):
            name = make()
            if name.lower() not in self.used_names:
                self.used_names.add(name.lower())
                return name
        raise RuntimeError("name pool exhausted; enlarge the name material in envs/hotpotqa/names.py")

    def _named(
        self, kind: str, fresh: Callable[[], str], lookalike: Callable[[Entity], str] | None = None
    ) -> tuple[str, Entity | None]:
        """A new unique name: with probability SIMILAR_NAME_SHARE one that looks like an earlier
        ``kind`` entity's (returned too), else ``fresh()``."""
        earlier = self.by_kind.get(kind, [])
        if earlier and self.rng.random() < SIMILAR_NAME_SHARE:
            model = self.rng.choice(earlier)
            make = (
                (lambda: lookalike(model))
                if lookalike
                else (lambda: names.similar_name(self.rng, kind, model.name))
            )
            for _ in range(20):
                name = make()
                if name.lower() not in self.used_names:
                    self.used_names.add(name.lower())
                    return name, model
        return self._unique(fresh), None

    def add(self, kind: str, name: str, lookalike_of: Entity | None = None, **attrs: Any) -> Entity:
        """Register a new entity (and its look-alike link, both ways)."""
        entity = Entity(kind, name, attrs)
        if lookalike_of is not None:
            entity.lookalikes.append(lookalike_of)
            lookalike_of.lookalikes.append(entity)
        self.entities.append(entity)
        self.by_kind.setdefault(kind, []).append(entity)
        self._pools = {k: v for k, v in self._pools.items() if k[0] != kind}
        return entity

    def pick(self, kind: str, where: Callable[[Entity], bool] | None = None, **match: Any) -> Entity:
        """A random entity of ``kind`` whose attrs equal ``match`` (indexed) and that passes ``where``."""
        key = (kind, *sorted(match.items()))
        if key not in self._pools:
            self._pools[key] = [
                e for e in self.by_kind[kind] if all(e.attrs.get(k) == v for k, v in match.items())
            ]
        pool = self._pools[key] if where is None else [e for e in self._pools[key] if where(e)]
        return self.rng.choice(pool)

    def _career_year(self, person: Entity, start_age: int) -> int:
        """A year in ``person``'s working life, from age ``start_age`` to death (or 2023, or age 80)."""
        first = person.attrs["born"] + start_age
        last = min(person.attrs["died"] or 2023, person.attrs["born"] + 80, 2023)
        return self.rng.randint(first, max(first, last))

    # --- entities --------------------------------------------------------------------------------
    def build_entities(self) -> None:
        """Countries, cities, universities, people, companies, novels, films and bands, linked."""
        self._places()
        self._people()
        self._companies()
        self._novels()
        self._films()
        self._bands()

    def _places(self) -> None:
        rng = self.rng
        rivers = sorted(
            {f"{rng.choice(names.PLACE_HEADS)}{rng.choice(names.RIVER_TAILS)} River" for _ in range(120)}
        )
        for name, demonym in names.COUNTRIES:
            self.used_names.add(name.lower())
            self.add(
                "country", name, demonym=demonym, currency=f"{demonym.lower()} {rng.choice(names.CURRENCIES)}"
            )
        for _ in range(COUNTS["city"]):
            name = self._unique(lambda: f"{rng.choice(names.PLACE_HEADS)}{rng.choice(names.PLACE_TAILS)}")
            self.add(
                "city",
                name,
                country=rng.choice(self.by_kind["country"]),
                population=rng.randrange(12, 2400) * 1000 + rng.randrange(1000),
                river=rng.choice(rivers),
                elevation=rng.randrange(2, 1900),
                first_mentioned=rng.randrange(900, 1850),
            )
        for country in self.by_kind["country"]:
            capital = self.pick(
                "city",
                lambda c, country=country: c.attrs["country"] is country and "capital_of" not in c.attrs,
            )
            country.attrs["capital"], capital.attrs["capital_of"] = capital, country
        for _ in range(COUNTS["university"]):
            city = self.pick("city")
            name = self._unique(
                lambda city=city: rng.choice(
                    [
                        f"University of {city.name}",
                        f"{city.name} Institute of Technology",
                        f"{rng.choice(names.SURNAME_HEADS)}{rng.choice(names.SURNAME_TAILS)} College",
                        f"{city.name} Polytechnic",
                    ]
                )
            )
            self.add(
                "university",
                name,
                city=city,
                founded=rng.randrange(1450, 1990),
                students=rng.randrange(800, 45000),
            )

    def _people(self) -> None:
        rng = self.rng
        for occupation, count in names.OCCUPATIONS.items():
            for _ in range(count):
                gender = rng.choice("fm")
                name, model = self._named("person", lambda gender=gender: names.person_name(rng, gender))
                if model is not None:  # a look-alike keeps the first name, so the gender too
                    gender = model.attrs["gender"]
                born, city = rng.randrange(1905, 1995), self.pick("city")
                died = born + rng.randrange(50, 95) if born < 1950 and rng.random() < 0.6 else None
                self.add(
                    "person",
                    name,
                    lookalike_of=model,
                    occupation=occupation,
                    gender=gender,
                    born=born,
                    birthplace=city,
                    nationality=city.attrs["country"].attrs["demonym"],
                    alma_mater=self.pick("university"),
                    died=died,
                )
        self._name_twins()

    def _name_twins(self) -> None:
        """Give about 6% of people the full name of someone with another occupation (namesakes)."""
        people = self.by_kind["person"]
        for person in self.rng.sample(people, len(people) * 6 // 100):
            other = self.rng.choice(people)
            taken = {p.attrs["occupation"] for p in people if p.name == other.name}
            if person.attrs["occupation"] not in taken and person.name != other.name:
                person.name, person.attrs["gender"] = other.name, other.attrs["gender"]

    def _companies(self) -> None:
        rng = self.rng
        industries = list(names.INDUSTRIES)
        for i in range(COUNTS["company"]):
            industry = industries[i % len(industries)] if i < 150 else rng.choice(industries)
            founder = self.pick("person", occupation="entrepreneur")
            suffixes = names.INDUSTRIES[industry]
            name, model = self._named(
                "company",
                lambda industry=industry: names.company_name(rng, industry),
                lambda model, suffixes=suffixes: (
                    f"{' '.join(model.name.split()[:-1])} {rng.choice(suffixes)}"
                ),
            )
            company = self.add(
                "company",
                name,
                lookalike_of=model,
                industry=industry,
                founder=founder,
                hq=self.pick("city"),
                founded=self._career_year(founder, 22),
                employees=rng.randrange(40, 90000),
            )
            founder.works.append(company)

    def _novels(self) -> None:
        rng = self.rng
        for _ in range(COUNTS["novel"]):
            author = self.pick("person", occupation="novelist")
            name, model = self._named("novel", lambda: names.work_title(rng))
            novel = self.add(
                "novel",
                name,
                lookalike_of=model,
                author=author,
                genre=rng.choice(names.NOVEL_GENRES),
                year=self._career_year(author, 24),
                pages=rng.randrange(120, 900),
                publisher=self.pick("company", industry="publishing"),
                setting=self.pick("city"),
            )
            author.works.append(novel)

    def _films(self) -> None:
        rng = self.rng
        novels = list(self.by_kind["novel"])
        twinned: set[str] = set()
        for i in range(COUNTS["film"]):
            director = self.pick("person", occupation="film director")
            year = self._career_year(director, 25)
            adaptable = [n for n in novels if n.attrs["year"] < year]
            based_on = adaptable[rng.randrange(len(adaptable))] if rng.random() < 0.15 and adaptable else None
            model = None
            if based_on is not None:
                novels.remove(based_on)
                name = based_on.name
            elif i % 40 == 0 and self.by_kind.get("film"):  # a remake-like title twin
                twin = self.pick(
                    "film", lambda f: "based_on" not in f.attrs and f.name.lower() not in twinned
                )
                twinned.add(twin.name.lower())
                name = twin.name
                if year == twin.attrs["year"]:
                    continue
            else:
                name, model = self._named("film", lambda: names.work_title(rng))
            attrs = {
                "director": director,
                "year": year,
                "genre": rng.choice(names.FILM_GENRES),
                "runtime": rng.randrange(78, 190),
                "studio": self.pick("company", industry="film studio"),
                "star": self.pick("person", occupation="actor"),
                "location": self.pick("city"),
            }
            if based_on is not None:
                attrs["based_on"] = based_on
            film = self.add("film", name, lookalike_of=model, **attrs)
            director.works.append(film)
            attrs["star"].works.append(film)

    def _bands(self) -> None:
        rng = self.rng
        singers = [p for p in self.by_kind["person"] if p.attrs["occupation"] == "singer"]
        rng.shuffle(singers)
        for singer in singers[: COUNTS["band"]]:
            name, model = self._named("band", lambda: names.band_name(rng))
            band = self.add(
                "band",
                name,
                lookalike_of=model,
                vocalist=singer,
                formed=self._career_year(singer, 16),
                origin=self.pick("city"),
                genre=rng.choice(names.MUSIC_GENRES),
                members=rng.randrange(2, 8),
                label=self.pick("company", industry="record label"),
            )
            singer.works.append(band)

    def assign_titles(self) -> None:
        """Unique titles: a name shared by several entities gets ``(label)`` or ``(YEAR film)``."""
        groups: dict[str, list[Entity]] = {}
        for e in self.entities:
            groups.setdefault(e.name.lower(), []).append(e)
        for group in groups.values():
            if len(group) == 1:
                group[0].title = group[0].name
                continue
            films = [e for e in group if e.kind == "film"]
            for e in group:
                several_films = e.kind == "film" and len(films) > 1
                e.title = f"{e.name} ({e.attrs['year']} film)" if several_films else f"{e.name} ({e.label()})"
        titles = [e.title.lower() for e in self.entities]
        if len(set(titles)) != len(titles):
            raise RuntimeError("world generation produced duplicate titles")
