"""The bundled world: a generated, fictional encyclopaedia and HotPotQA-style questions over it.

Deterministic by seed. About 3,300 entities (countries, cities, universities, companies, people,
films, bands, novels) whose pages are encyclopaedia prose drawn from varied sentence templates and
link to each other by name: a film names its director, studio and star; a director's page names
her films; a city names its river and country. Facts are placed at random positions, so some are
in the first five sentences (``search`` shows them) and some only reachable with ``lookup``.

Distractors are built in: names recur (people who share a full name get Wikipedia-style titles
such as ``Iris Vantell (architect)``; films adapted from novels share the novel's title; two films
may share a title and differ by year), surnames and properties (birth years, cities, genres) are
shared by many pages, so a question cannot be answered without reading the right pages.

Questions follow HotPotQA's two types:

- *bridge*: the question names entity A; the answer is a property of entity B, which only A's page
  names ("In which city was the director of Dark Harbour born?");
- *comparison*: compare one property of two entities of the same kind, including yes/no
  questions ("Are Corvale and Ostrand in the same country?").

Each question records its supporting facts (title, sentence index) and, for the expert, the hops
(see :class:`envs.hotpotqa.tasks.Hop`). A question is kept only if its answer is unambiguous, a
bridge answer is absent from the first page, and every hop has a lookup keyword whose first hit
is the supporting sentence.
"""
from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from envs.hotpotqa.pages import SUMMARY_SENTENCES, Page, PageStore
from envs.hotpotqa.scoring import normalize_answer
from envs.hotpotqa.tasks import Hop, Question

# --- name material -------------------------------------------------------------------------------
FIRST_NAMES = {
    "f": [
        "Ada", "Alma", "Anika", "Beatrix", "Celia", "Dagny", "Edda", "Elin", "Esme", "Freya", "Greta",
        "Hanna", "Ilse", "Ines", "Iris", "Isolde", "Jana", "Juno", "Kaia", "Lena", "Liv", "Mara", "Maren",
        "Mila", "Nadia", "Nora", "Odile", "Petra", "Rhea", "Runa", "Saga", "Selma", "Sigrid", "Talia", "Tove",
        "Una", "Vera", "Wilma", "Ylva", "Zora", "Agnes", "Brita", "Clara", "Dora", "Elsa", "Fenna", "Gerda",
        "Helga", "Ida", "Linnea"
    ],
    "m": [
        "Aldo", "Anders", "Arvid", "Basil", "Bruno", "Cassian", "Conrad", "Dario", "Edvin", "Elias", "Emil",
        "Felix", "Gunnar", "Hugo", "Ivo", "Jasper", "Joris", "Kasimir", "Lars", "Leif", "Linus", "Magnus",
        "Marius", "Milo", "Nils", "Oskar", "Otto", "Pavel", "Quentin", "Rafael", "Sander", "Silas", "Soren",
        "Teodor", "Tobias", "Ulrik", "Viktor", "Werner", "Yannick", "Zeno", "Aurel", "Bertil", "Casimir",
        "Dag", "Egon", "Frode", "Gustav"
    ],
}
SURNAME_HEADS = [
    "Vant", "Oken", "Mar", "Hal", "Bren", "Cors", "Del", "Esk", "Fal", "Gar", "Hask", "Ivor", "Jost", "Kell",
    "Lind", "Morr", "Nyl", "Orm", "Pell", "Quin", "Rad", "Sorr", "Tarn", "Ulm", "Vess", "Wend", "Yar", "Zell",
    "Brand", "Holt"
]
SURNAME_TAILS = [
    "ane", "ett", "ow", "ley", "ford", "wick", "strom", "ani", "ez", "ova", "berg", "mann", "ton", "ard",
    "ic", "ell", "by", "ish"
]
PLACE_HEADS = [
    "Ash", "Bel", "Cor", "Dun", "El", "Fen", "Grav", "Hol", "Ir", "Kes", "Lor", "Mar", "Nor", "Ost", "Pen",
    "Rav", "Sel", "Tor", "Ul", "Val", "Wes", "Yor", "Zan", "Bram", "Cal", "Dor", "Kal", "Mir", "Tam", "Ver"
]
PLACE_TAILS = [
    "ford", "haven", "bury", "mouth", "stad", "grad", "ton", "vale", "mere", "holm", "port", "wick", "field",
    "burg"
]
COUNTRIES = [
    ("Valdoria", "Valdorian"), ("Ostmark", "Ostmarkian"), ("Carredon", "Carredonian"), ("Lysandria", "Lysandrian"),
    ("Norvale", "Norvalese"), ("Tamsk", "Tamskan"), ("Belmora", "Belmoran"), ("Quessia", "Quessian"),
    ("Idrania", "Idranian"), ("Sorvenia", "Sorvenian"), ("Kalimar", "Kalimari"), ("Astoria Minor", "Astorian"),
    ("Fenwald", "Fenwaldish"), ("Rhovania", "Rhovanian"), ("Merrow", "Merrowan"), ("Zelund", "Zelundic"),
]
TITLE_ADJECTIVES = [
    "Silent", "Glass", "Burning", "Hollow", "Last", "Crimson", "Distant", "Broken", "Quiet", "Winter",
    "Golden", "Paper", "Iron", "Secret", "Fading", "Wild", "Lonely", "Endless", "Northern", "Midnight"
]
TITLE_NOUNS = [
    "Harbour", "Orchard", "Mirror", "Road", "Garden", "Season", "Letter", "Kingdom", "Lantern", "River",
    "Tower", "Shore", "Crown", "Promise", "Station", "Frontier", "Horizon", "Echo", "Summer", "Compass"
]
BAND_ADJECTIVES = [
    "Velvet", "Electric", "Hollow", "Neon", "Paper", "Static", "Silver", "Copper", "Gentle", "Savage",
    "Lunar", "Rusty", "Violet", "Frozen", "Golden", "Wandering"
]
BAND_NOUNS = [
    "Foxes", "Lanterns", "Saints", "Ghosts", "Tigers", "Pilots", "Ravens", "Engines", "Sparrows", "Wolves",
    "Comets", "Machines", "Sailors", "Orchids", "Giants", "Echoes"
]
BRAND_HEADS = [
    "Blue", "Iron", "North", "Silver", "Red", "Golden", "Crescent", "Harbor", "Summit", "Granite", "Oak",
    "Falcon", "Amber", "Cedar", "Star", "Pine", "Stone", "Eagle", "Lantern", "Willow"
]
BRAND_TAILS = [
    "crest", "leaf", "gate", "field", "brook", "peak", "ridge", "light", "wood", "line", "point", "ford",
    "stone", "wing"
]
INDUSTRIES = {  # industry -> name suffixes
    "film studio": ["Pictures", "Films", "Studios"],
    "record label": ["Records", "Music", "Sound"],
    "publishing": ["Press", "Books", "Publishing"],
    "airline": ["Airways", "Air"],
    "brewing": ["Brewing", "Breweries"],
    "software": ["Software", "Systems", "Labs"],
    "shipbuilding": ["Shipyards", "Marine"],
    "banking": ["Bank", "Financial"],
    "chemicals": ["Chemicals", "Industries"],
    "automotive": ["Motors", "Automotive"],
}
OCCUPATIONS = {  # occupation -> how many people have it
    "film director": 200, "actor": 240, "singer": 200, "novelist": 190, "entrepreneur": 220,
    "physicist": 60, "architect": 60, "painter": 60, "footballer": 60, "journalist": 60, "composer": 60,
    "politician": 50,
}
FILM_GENRES = [
    "drama", "comedy", "thriller", "horror", "western", "musical", "documentary", "war", "romance",
    "science-fiction"
]
MUSIC_GENRES = ["rock", "folk", "jazz", "punk", "pop", "metal", "blues", "electronic", "soul", "indie"]
NOVEL_GENRES = ["historical", "crime", "fantasy", "literary", "adventure", "mystery"]
NUMBER_WORDS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven"}

COUNTS = {"city": 320, "university": 90, "company": 300, "film": 560, "band": 300, "novel": 300}
SPLIT_SIZES = {"test": 500, "dev": 500, "train": 10_000}
BRIDGE_SHARE = 0.6


@dataclass(eq=False)
class Entity:
    """A thing with a page. ``attrs`` hold values or other entities; ``facts`` map attr -> sentence index."""

    kind: str
    name: str
    attrs: dict[str, Any]
    title: str = ""
    sentences: list[str] = field(default_factory=list)
    facts: dict[str, int] = field(default_factory=dict)
    cues: dict[int, list[str]] = field(default_factory=dict)
    works: list[Entity] = field(default_factory=list)  # films, novels, bands, companies naming this person

    @property
    def short(self) -> str:
        """How prose refers to the entity after the first mention (a person's surname)."""
        return self.name.split()[-1] if self.kind == "person" else self.name

    def label(self) -> str:
        """The word used to disambiguate its title: a person's occupation, else its kind."""
        return self.attrs["occupation"] if self.kind == "person" else self.kind


def _a(phrase: str) -> str:
    """``phrase`` with its indefinite article ("an electronic", "a Valdorian")."""
    return f"{'an' if phrase[:1].lower() in 'aeiou' else 'a'} {phrase}"


def _text(value: Any) -> str:
    return value.name if isinstance(value, Entity) else f"{value:,}" if isinstance(value, int) and value > 9999 else str(value)


def _shown(attr: str, value: Any) -> str:
    """``value`` as the page writes it (band sizes are spelled out)."""
    return NUMBER_WORDS[value] if attr == "members" else _text(value)


@dataclass
class Sentence:
    """A rendered sentence, the attributes it states and the lookup cues (substrings) that find it."""

    text: str
    attrs: tuple[str, ...] = ()
    cues: tuple[str, ...] = ()


class WorldBuilder:
    """Builds the entities, their pages and the questions from one seed."""

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
        raise RuntimeError("name pool exhausted; enlarge the name material")

    def _add(self, kind: str, name: str, **attrs: Any) -> Entity:
        entity = Entity(kind, name, attrs)
        self.entities.append(entity)
        self.by_kind.setdefault(kind, []).append(entity)
        self._pools = {k: v for k, v in self._pools.items() if k[0] != kind}
        return entity

    def _pick(self, kind: str, where: Callable[[Entity], bool] | None = None, **match: Any) -> Entity:
        """A random entity of ``kind`` whose attrs equal ``match`` (indexed) and that passes ``where``."""
        key = (kind, *sorted(match.items()))
        if key not in self._pools:
            self._pools[key] = [e for e in self.by_kind[kind] if all(e.attrs.get(k) == v for k, v in match.items())]
        pool = self._pools[key] if where is None else [e for e in self._pools[key] if where(e)]
        return self.rng.choice(pool)

    def _career_year(self, person: Entity, start_age: int) -> int:
        """A year in ``person``'s working life, from age ``start_age`` to death (or 2023, or age 80)."""
        first = person.attrs["born"] + start_age
        last = min(person.attrs["died"] or 2023, person.attrs["born"] + 80, 2023)
        return self.rng.randint(first, max(first, last))

    def _person_name(self) -> str:
        rng = self.rng
        gender = rng.choice("fm")
        return f"{rng.choice(FIRST_NAMES[gender])} {rng.choice(SURNAME_HEADS)}{rng.choice(SURNAME_TAILS)}|{gender}"

    def _work_title(self) -> str:
        rng, adj, noun = self.rng, self.rng.choice(TITLE_ADJECTIVES), self.rng.choice(TITLE_NOUNS)
        forms = [f"The {adj} {noun}", f"{adj} {noun}", f"{noun} of the {rng.choice(TITLE_NOUNS)}",
                 f"A {adj} {noun}", f"The {noun} at {rng.choice(PLACE_HEADS)}{rng.choice(PLACE_TAILS)}"]
        return rng.choice(forms)

    # --- entities --------------------------------------------------------------------------------
    def build_entities(self) -> None:
        rng = self.rng
        rivers = sorted({f"{rng.choice(PLACE_HEADS)}{rng.choice(['a', 'e', 'ine', 'well', 'bourne'])} River" for _ in range(120)})
        for name, demonym in COUNTRIES:
            self.used_names.add(name.lower())
            self._add("country", name, demonym=demonym, currency=f"{demonym.lower()} {rng.choice(['mark', 'crown', 'florin', 'dinar'])}")
        for _ in range(COUNTS["city"]):
            name = self._unique(lambda: f"{rng.choice(PLACE_HEADS)}{rng.choice(PLACE_TAILS)}")
            self._add("city", name, country=rng.choice(self.by_kind["country"]), population=rng.randrange(12, 2400) * 1000 + rng.randrange(1000),
                      river=rng.choice(rivers), elevation=rng.randrange(2, 1900), first_mentioned=rng.randrange(900, 1850))
        for country in self.by_kind["country"]:
            country.attrs["capital"] = self._pick("city", lambda c, country=country: c.attrs["country"] is country and "capital_of" not in c.attrs)
            country.attrs["capital"].attrs["capital_of"] = country
        for _ in range(COUNTS["university"]):
            city = self._pick("city")
            name = self._unique(lambda city=city: rng.choice([
                f"University of {city.name}", f"{city.name} Institute of Technology",
                f"{rng.choice(SURNAME_HEADS)}{rng.choice(SURNAME_TAILS)} College", f"{city.name} Polytechnic"]))
            self._add("university", name, city=city, founded=rng.randrange(1450, 1990), students=rng.randrange(800, 45000))
        for occupation, count in OCCUPATIONS.items():
            for _ in range(count):
                name, gender = self._unique(self._person_name).split("|")
                self.used_names.add(name.lower())
                born = rng.randrange(1905, 1995)
                city = self._pick("city")
                self._add("person", name, occupation=occupation, gender=gender, born=born, birthplace=city,
                          nationality=city.attrs["country"].attrs["demonym"], alma_mater=self._pick("university"),
                          died=born + rng.randrange(50, 95) if born < 1950 and rng.random() < 0.6 else None)
        self._name_twins()
        industries = list(INDUSTRIES)
        for i in range(COUNTS["company"]):
            industry = industries[i % len(industries)] if i < 150 else rng.choice(industries)
            founder = self._pick("person", occupation="entrepreneur")
            suffixes = INDUSTRIES[industry]
            name = self._unique(lambda suffixes=suffixes: f"{rng.choice(BRAND_HEADS)}{rng.choice(BRAND_TAILS)} {rng.choice(suffixes)}")
            company = self._add("company", name, industry=industry, founder=founder, hq=self._pick("city"),
                                founded=self._career_year(founder, 22), employees=rng.randrange(40, 90000))
            founder.works.append(company)
        for _ in range(COUNTS["novel"]):
            author = self._pick("person", occupation="novelist")
            novel = self._add("novel", self._unique(self._work_title), author=author, genre=rng.choice(NOVEL_GENRES),
                              year=self._career_year(author, 24), pages=rng.randrange(120, 900),
                              publisher=self._pick("company", industry="publishing"), setting=self._pick("city"))
            author.works.append(novel)
        novels = list(self.by_kind["novel"])
        twinned: set[str] = set()
        for i in range(COUNTS["film"]):
            director = self._pick("person", occupation="film director")
            year = self._career_year(director, 25)
            adaptable = [n for n in novels if n.attrs["year"] < year]
            based_on = adaptable[rng.randrange(len(adaptable))] if rng.random() < 0.15 and adaptable else None
            if based_on is not None:
                novels.remove(based_on)
                name = based_on.name
            elif i % 40 == 0 and self.by_kind.get("film"):  # a remake-like title twin
                twin = self._pick("film", lambda f: "based_on" not in f.attrs and f.name.lower() not in twinned)
                twinned.add(twin.name.lower())
                name = twin.name
                if year == twin.attrs["year"]:
                    continue
            else:
                name = self._unique(self._work_title)
            attrs = {"director": director, "year": year, "genre": rng.choice(FILM_GENRES), "runtime": rng.randrange(78, 190),
                     "studio": self._pick("company", industry="film studio"),
                     "star": self._pick("person", occupation="actor"), "location": self._pick("city")}
            if based_on is not None:
                attrs["based_on"] = based_on
            film = self._add("film", name, **attrs)
            director.works.append(film)
            attrs["star"].works.append(film)
        singers = [p for p in self.by_kind["person"] if p.attrs["occupation"] == "singer"]
        rng.shuffle(singers)
        for singer in singers[: COUNTS["band"]]:
            band = self._add("band", self._unique(lambda: rng.choice([
                f"The {rng.choice(BAND_ADJECTIVES)} {rng.choice(BAND_NOUNS)}", f"{rng.choice(BAND_ADJECTIVES)} {rng.choice(BAND_NOUNS)}",
                f"{rng.choice(PLACE_HEADS)}{rng.choice(PLACE_TAILS)} {rng.choice(BAND_NOUNS)}"])),
                vocalist=singer, formed=self._career_year(singer, 16), origin=self._pick("city"),
                genre=rng.choice(MUSIC_GENRES), members=rng.randrange(2, 8),
                label=self._pick("company", industry="record label"))
            singer.works.append(band)

    def _name_twins(self) -> None:
        """Give about 6% of people the full name of someone with another occupation (namesakes)."""
        people = self.by_kind["person"]
        for person in self.rng.sample(people, len(people) * 6 // 100):
            other = self.rng.choice(people)
            taken = {p.attrs["occupation"] for p in people if p.name == other.name}
            if person.attrs["occupation"] not in taken and person.name != other.name:
                person.name, person.attrs["gender"] = other.name, other.attrs["gender"]

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
                e.title = f"{e.name} ({e.attrs['year']} film)" if e.kind == "film" and len(films) > 1 else f"{e.name} ({e.label()})"
        titles = [e.title.lower() for e in self.entities]
        if len(set(titles)) != len(titles):
            raise RuntimeError("world generation produced duplicate titles")

    # --- pages -----------------------------------------------------------------------------------
    def render_pages(self) -> None:
        render = {"country": self._country, "city": self._city, "university": self._university, "company": self._company,
                  "person": self._person, "film": self._film, "band": self._band, "novel": self._novel}
        for e in self.entities:
            lead, body, fillers = render[e.kind](e)
            body += self.rng.sample(fillers, min(len(fillers), self.rng.randrange(1, 4)))
            self.rng.shuffle(body)
            for i, s in enumerate([lead, *body]):
                e.sentences.append(s.text)
                e.cues[i] = list(s.cues)
                for attr in s.attrs:
                    e.facts.setdefault(attr, i)

    def _choose(self, *options: Sentence) -> Sentence:
        return self.rng.choice(options)

    def _country(self, e: Entity) -> tuple[Sentence, list[Sentence], list[Sentence]]:
        a, cap = e.attrs, e.attrs["capital"].name
        lead = self._choose(Sentence(f"{e.name} is a country whose capital and largest city is {cap}.", ("capital",), ("capital",)),
                            Sentence(f"{e.name} is a sovereign state with its capital at {cap}.", ("capital",), ("capital",)))
        body = [Sentence(f"Its currency is the {a['currency']}.", ("currency",), ("currency",)),
                Sentence(f"People from {e.name} are called {a['demonym']}s.", ("demonym",), ("called",))]
        fillers = [Sentence(f"{e.name} has a temperate climate with cold winters."), Sentence("The country is a parliamentary republic."),
                   Sentence(f"Agriculture and shipping dominate the economy of {e.name}.")]
        return lead, body, fillers

    def _city(self, e: Entity) -> tuple[Sentence, list[Sentence], list[Sentence]]:
        a, country = e.attrs, e.attrs["country"].name
        lead = (Sentence(f"{e.name} is the capital of {country}.", ("country",), ("capital",)) if "capital_of" in a else
                self._choose(Sentence(f"{e.name} is a city in {country}.", ("country",), ("city in",)),
                             Sentence(f"{e.name} is a town in the north of {country}.", ("country",), ("town in",)),
                             Sentence(f"{e.name} is a port city in southern {country}.", ("country",), ("port city",))))
        body = [self._choose(Sentence(f"It has a population of {_text(a['population'])}.", ("population",), ("population",)),
                             Sentence(f"At the last census, {e.name} had {_text(a['population'])} inhabitants.", ("population",), ("inhabitants", "census"))),
                self._choose(Sentence(f"The city lies on the {a['river']}.", ("river",), ("lies on",)),
                             Sentence(f"The {a['river']} flows through the city centre.", ("river",), ("flows through",))),
                Sentence(f"{e.name} sits at an elevation of {a['elevation']} metres above sea level.", ("elevation",), ("elevation",)),
                Sentence(f"The settlement was first mentioned in records in {a['first_mentioned']}.", ("first_mentioned",), ("first mentioned",))]
        fillers = [Sentence(f"{e.name} is known for its old market square."), Sentence("The local economy relies on trade and light industry."),
                   Sentence(f"{e.name} is twinned with {self._pick('city', lambda c: c is not e).name}."),
                   Sentence("A railway line connects the city with the coast."), Sentence("The city hosts an annual music festival.")]
        return lead, body, fillers

    def _university(self, e: Entity) -> tuple[Sentence, list[Sentence], list[Sentence]]:
        a, city = e.attrs, e.attrs["city"]
        lead = self._choose(Sentence(f"{e.name} is a public university in {city.name}, {city.attrs['country'].name}.", ("city",), ("university in",)),
                            Sentence(f"{e.name} is a research university founded in {a['founded']}.", ("founded",), ("founded",)))
        body = [Sentence(f"Its main campus is located in {city.name}.", ("city",), ("campus",)),
                Sentence(f"The university was established in {a['founded']}.", ("founded",), ("established",)),
                Sentence(f"It enrols about {_text(a['students'])} students.", ("students",), ("students", "enrols"))]
        fillers = [Sentence("The university is organised into six faculties."), Sentence("Its library holds a large collection of medieval manuscripts."),
                   Sentence("The institution is known for its engineering programmes.")]
        return lead, body, fillers

    def _company(self, e: Entity) -> tuple[Sentence, list[Sentence], list[Sentence]]:
        a, hq, founder = e.attrs, e.attrs["hq"].name, e.attrs["founder"].name
        demonym = a["hq"].attrs["country"].attrs["demonym"]
        lead = self._choose(Sentence(f"{e.name} is {_a(demonym)} {a['industry']} company headquartered in {hq}.", ("industry", "hq"), ("headquartered",)),
                            Sentence(f"{e.name} is {_a(a['industry'])} company founded in {a['founded']}.", ("industry", "founded"), ("founded",)),
                            Sentence(f"{e.name} is {_a(demonym)} company active in {a['industry']}.", ("industry",), ("company active",)))
        body = [self._choose(Sentence(f"The company was founded by {founder} in {a['founded']}.", ("founder", "founded"), ("founded by", "founded")),
                             Sentence(f"{founder} established the company in {a['founded']}.", ("founder", "founded"), ("established",))),
                self._choose(Sentence(f"Its headquarters are in {hq}.", ("hq",), ("headquarters",)),
                             Sentence(f"The company is based in {hq}.", ("hq",), ("based in",))),
                Sentence(f"As of 2020, it employed about {_text(a['employees'])} people.", ("employees",), ("employed",))]
        fillers = [Sentence("The company went public in the 1990s."), Sentence("It operates subsidiaries in several neighbouring countries."),
                   Sentence("Its logo has been redesigned several times."), Sentence("The firm has been family-owned for most of its history.")]
        return lead, body, fillers

    def _person(self, e: Entity) -> tuple[Sentence, list[Sentence], list[Sentence]]:
        a, s = e.attrs, e.short
        he, his = ("she", "her") if a["gender"] == "f" else ("he", "his")
        is_ = "was" if a["died"] else "is"
        city = a["birthplace"]
        dates = f"{a['born']} – {a['died']}" if a["died"] else f"born {a['born']}"
        lead = self._choose(Sentence(f"{e.name} ({dates}) {is_} {_a(a['nationality'])} {a['occupation']}.", ("born", "nationality", "occupation"), ()),
                            Sentence(f"{e.name} {is_} {_a(a['nationality'])} {a['occupation']}.", ("nationality", "occupation"), ()))
        body = [self._choose(Sentence(f"{s} was born in {city.name} in {a['born']}.", ("birthplace", "born"), ("born in",)),
                             Sentence(f"{s} was born in {city.name}, {city.attrs['country'].name}, in {a['born']}.", ("birthplace", "born"), ("born in",)),
                             Sentence(f"A native of {city.name}, {s} was born there in {a['born']}.", ("birthplace", "born"), ("native of", "born there"))),
                self._choose(Sentence(f"{s} studied at {a['alma_mater'].name}.", ("alma_mater",), ("studied",)),
                             Sentence(f"{he.capitalize()} graduated from {a['alma_mater'].name}.", ("alma_mater",), ("graduated",)))]
        if a["died"]:
            body.append(Sentence(f"{s} died in {self._pick('city').name} in {a['died']}.", ("died",), ("died",)))
        for work in e.works[:3]:
            year = work.attrs.get("year") or work.attrs.get("formed") or work.attrs.get("founded")
            if work.kind == "film":
                role = "directed" if work.attrs["director"] is e else "starred in"
                body.append(Sentence(f"{s} {role} the film {work.name} ({year})."))
            else:
                body.append({"novel": Sentence(f"{his.capitalize()} novel {work.name} was published in {year}."),
                             "band": Sentence(f"{s} became the lead singer of {work.name} in {year}."),
                             "company": Sentence(f"In {year}, {s} founded {work.name}.")}[work.kind])
        fillers = [Sentence(f"{s} has received several national awards."), Sentence(f"{he.capitalize()} lives with {his} family near the coast."),
                   Sentence(f"Critics have praised {his} work for its restraint."), Sentence(f"{s} is also active as a teacher."),
                   Sentence(f"{his.capitalize()} early career was marked by financial difficulties.")]
        return lead, body, fillers

    def _film(self, e: Entity) -> tuple[Sentence, list[Sentence], list[Sentence]]:
        a, d, st, star = e.attrs, e.attrs["director"].name, e.attrs["studio"].name, e.attrs["star"].name
        country = a["studio"].attrs["hq"].attrs["country"].attrs["demonym"]
        lead = self._choose(Sentence(f"{e.name} is a {a['year']} {a['genre']} film directed by {d}.", ("year", "genre", "director"), ("directed",)),
                            Sentence(f"{e.name} is a {a['year']} {country} {a['genre']} film.", ("year", "genre"), ()),
                            Sentence(f"{e.name} is {_a(a['genre'])} film released in {a['year']}.", ("year", "genre"), ("released",)))
        body = [self._choose(Sentence(f"The film was directed by {d}.", ("director",), ("directed",)),
                             Sentence(f"It was directed by {d} from an original screenplay.", ("director",), ("directed", "screenplay")),
                             Sentence(f"{d} directed the film on a modest budget.", ("director",), ("directed", "budget"))),
                self._choose(Sentence(f"It stars {star} in the lead role.", ("star",), ("stars", "lead role")),
                             Sentence(f"{star} plays the main character.", ("star",), ("main character",))),
                self._choose(Sentence(f"The film was produced by {st}.", ("studio",), ("produced",)),
                             Sentence(f"{st} produced and distributed the film.", ("studio",), ("distributed", "produced"))),
                self._choose(Sentence(f"The film runs {a['runtime']} minutes.", ("runtime",), ("minutes", "runs")),
                             Sentence(f"It has a running time of {a['runtime']} minutes.", ("runtime",), ("running time", "minutes"))),
                Sentence(f"Principal photography took place in {a['location'].name}.", ("location",), ("photography",))]
        if "based_on" in a:
            body.append(Sentence(f"It is an adaptation of the novel {a['based_on'].name}.", ("based_on",), ("adaptation", "novel")))
        fillers = [Sentence("The film received mixed reviews from critics."), Sentence("It was a modest commercial success."),
                   Sentence("The score was recorded with a small string ensemble."), Sentence("It premiered at a regional film festival."),
                   Sentence("The film was restored and re-released decades later.")]
        return lead, body, fillers

    def _band(self, e: Entity) -> tuple[Sentence, list[Sentence], list[Sentence]]:
        a, origin, v, label = e.attrs, e.attrs["origin"].name, e.attrs["vocalist"].name, e.attrs["label"].name
        lead = self._choose(Sentence(f"{e.name} are {_a(a['genre'])} band from {origin}.", ("genre", "origin"), ("band from",)),
                            Sentence(f"{e.name} is {_a(a['genre'])} band formed in {a['formed']}.", ("genre", "formed"), ("formed",)))
        body = [self._choose(Sentence(f"The band was formed in {origin} in {a['formed']}.", ("origin", "formed"), ("was formed", "formed")),
                             Sentence(f"{e.name} was formed in {origin} in {a['formed']}.", ("origin", "formed"), ("was formed", "formed"))),
                self._choose(Sentence(f"The band is fronted by singer {v}.", ("vocalist",), ("fronted", "singer")),
                             Sentence(f"{v} has been the band's lead vocalist since its formation.", ("vocalist",), ("lead vocalist", "vocalist"))),
                self._choose(Sentence(f"They are signed to {label}.", ("label",), ("signed",)),
                             Sentence(f"The band released its debut album on the {label} label.", ("label",), ("debut album", "label"))),
                Sentence(f"The line-up consists of {NUMBER_WORDS[a['members']]} members.", ("members",), ("members", "line-up"))]
        fillers = [Sentence("The band toured extensively in the following years."), Sentence("Their second album reached the national charts."),
                   Sentence("The group went on hiatus for several years."), Sentence("Critics compared their sound to earlier acts of the genre.")]
        return lead, body, fillers

    def _novel(self, e: Entity) -> tuple[Sentence, list[Sentence], list[Sentence]]:
        a, author, pub = e.attrs, e.attrs["author"].name, e.attrs["publisher"].name
        lead = self._choose(Sentence(f"{e.name} is a {a['year']} novel by {author}.", ("year", "author"), ("novel by",)),
                            Sentence(f"{e.name} is {_a(a['genre'])} novel first published in {a['year']}.", ("genre", "year"), ("first published",)))
        body = [Sentence(f"It was written by {author}.", ("author",), ("written",)),
                self._choose(Sentence(f"It was published by {pub}.", ("publisher",), ("published by",)),
                             Sentence(f"{pub} published the book in hardcover.", ("publisher",), ("published the book", "hardcover"))),
                Sentence(f"The first edition runs to {a['pages']} pages.", ("pages",), ("pages", "first edition")),
                Sentence(f"The story is set in {a['setting'].name}.", ("setting",), ("set in", "story"))]
        fillers = [Sentence("The novel was translated into several languages."), Sentence("It won a national literary prize."),
                   Sentence("Reviewers praised its structure and dialogue."), Sentence("A sequel was announced but never published.")]
        return lead, body, fillers

    # --- questions -------------------------------------------------------------------------------
    def hop(self, e: Entity, attr: str, fact: str, need: str) -> Hop | None:
        """The hop that reads ``attr`` off ``e``'s page, or None when its sentence is past the first
        five and none of its cue words (which name the relation, never the value) reaches it first."""
        index = e.facts.get(attr)
        if index is None:
            return None
        page = Page(e.title, tuple(e.sentences))
        target = e.sentences[index]
        keywords = [
            c for c in e.cues[index] if c.lower() in target.lower() and page.sentences_with(c)[0] == target
        ]
        if not keywords and index >= SUMMARY_SENTENCES:
            return None
        return Hop(e.title, index, keywords[0] if keywords else "", _shown(attr, e.attrs[attr]), fact, need)


# (kind, relation, target kind, how the question names B, what the first hop establishes, plan clause)
BRIDGES: list[tuple[str, str, str, str, str, str]] = [
    ("film", "director", "person", "the director of the film {a}", "{a} was directed by {b}", "find who directed it"),
    ("film", "star", "person", "the lead actor of {a}", "{a} stars {b}", "find who stars in it"),
    ("film", "studio", "company", "the studio that produced {a}", "{a} was produced by {b}", "find which studio produced it"),
    ("film", "based_on", "novel", "the novel that the film {a} is adapted from", "{a} is an adaptation of the novel {b}", "find which novel it adapts"),
    ("band", "vocalist", "person", "the lead singer of {a}", "{a} is fronted by {b}", "find who fronts the band"),
    ("band", "label", "company", "the record label of {a}", "{a} is signed to {b}", "find its record label"),
    ("band", "origin", "city", "the city where the band {a} was formed", "{a} was formed in {b}", "find where the band was formed"),
    ("company", "founder", "person", "the founder of {a}", "{a} was founded by {b}", "find who founded it"),
    ("company", "hq", "city", "the city where {a} is headquartered", "{a} is headquartered in {b}", "find where it is headquartered"),
    ("novel", "author", "person", "the author of the novel {a}", "{a} was written by {b}", "find who wrote it"),
    ("novel", "publisher", "company", "the publisher of the novel {a}", "{a} was published by {b}", "find who published it"),
    ("novel", "setting", "city", "the city in which the novel {a} is set", "{a} is set in {b}", "find where it is set"),
    ("person", "birthplace", "city", "the city where {a} was born", "{a} was born in {b}", "find where {pron} was born"),
    ("person", "alma_mater", "university", "the university {a} attended", "{a} studied at {b}", "find where {pron} studied"),
    ("university", "city", "city", "the city that is home to {a}", "{a} is located in {b}", "find where it is located"),
]
# target kind -> (attr, question template over D, fact template, plan clause over R)
ATTRIBUTE_QUESTIONS: dict[str, list[tuple[str, str, str, str]]] = {
    "person": [("born", "In what year was {d} born?", "{b} was born in {v}", "find when {r} was born"),
               ("birthplace", "In which city was {d} born?", "{b} was born in {v}", "find where {r} was born"),
               ("nationality", "What nationality is {d}?", "{b} is {v}", "find the nationality of {r}"),
               ("alma_mater", "Which university did {d} attend?", "{b} studied at {v}", "find where {r} studied")],
    "company": [("founded", "In what year was {d} founded?", "{b} was founded in {v}", "find when {r} was founded"),
                ("hq", "In which city is {d} headquartered?", "{b} is headquartered in {v}", "find where {r} is headquartered"),
                ("founder", "Who founded {d}?", "{b} was founded by {v}", "find who founded {r}")],
    "city": [("country", "In which country is {d}?", "{b} is in {v}", "find which country {r} is in"),
             ("river", "Which river flows through {d}?", "{b} lies on the {v}", "find which river flows through {r}"),
             ("population", "What is the population of {d}?", "{b} has a population of {v}", "find the population of {r}")],
    "university": [("city", "In which city is {d} located?", "{b} is located in {v}", "find where {r} is located"),
                   ("founded", "In what year was {d} established?", "{b} was established in {v}", "find when {r} was established")],
    "novel": [("author", "Who wrote {d}?", "{b} was written by {v}", "find who wrote {r}"),
              ("year", "In what year was {d} first published?", "{b} was published in {v}", "find when {r} was published")],
}
ROLE_NOUNS = {"director": "the director", "star": "the actor", "studio": "the studio", "based_on": "the novel",
              "vocalist": "the singer", "label": "the label", "origin": "that city", "founder": "the founder",
              "hq": "that city", "author": "the author", "publisher": "the publisher", "setting": "that city",
              "birthplace": "that city", "alma_mater": "the university", "city": "that city"}
# kind -> (attr, question, fact, plan clause, what the winner did); the smaller value wins for SMALLER_WINS attrs
ORDER_COMPARISONS: dict[str, list[tuple[str, str, str, str, str]]] = {
    "film": [("year", "Which film was released first, {a} or {b}?", "{x} was released in {v}", "find their release years", "was released first"),
             ("runtime", "Which film is longer, {a} or {b}?", "{x} runs {v} minutes", "find their running times", "is longer")],
    "person": [("born", "Who was born first, {a} or {b}?", "{x} was born in {v}", "find their birth years", "was born first")],
    "city": [("population", "Which city has a larger population, {a} or {b}?", "{x} has a population of {v}", "find their populations", "has a larger population"),
             ("elevation", "Which city lies at a higher elevation, {a} or {b}?", "{x} sits at {v} metres", "find their elevations", "lies higher")],
    "company": [("founded", "Which company was founded first, {a} or {b}?", "{x} was founded in {v}", "find when each was founded", "was founded first"),
                ("employees", "Which company has more employees, {a} or {b}?", "{x} employs about {v} people", "find their numbers of employees", "has more employees")],
    "band": [("formed", "Which band was formed earlier, {a} or {b}?", "{x} was formed in {v}", "find when each was formed", "was formed earlier"),
             ("members", "Which band has more members, {a} or {b}?", "{x} has {v} members", "find their numbers of members", "has more members")],
    "university": [("founded", "Which university is older, {a} or {b}?", "{x} was established in {v}", "find when each was established", "is older"),
                   ("students", "Which university has more students, {a} or {b}?", "{x} has about {v} students", "find their student numbers", "has more students")],
    "novel": [("year", "Which novel was published first, {a} or {b}?", "{x} was published in {v}", "find when each was published", "was published first"),
              ("pages", "Which novel is longer, {a} or {b}?", "{x} runs to {v} pages", "find their page counts", "is longer")],
}
SMALLER_WINS = {"year", "born", "founded", "formed"}
# kind -> (attr, yes/no question, fact, plan clause)
SAME_COMPARISONS: dict[str, list[tuple[str, str, str, str]]] = {
    "person": [("nationality", "Are {a} and {b} of the same nationality?", "{x} is {v}", "find their nationalities"),
               ("occupation", "Do {a} and {b} have the same profession?", "{x} is {av}", "find their professions")],
    "city": [("country", "Are {a} and {b} in the same country?", "{x} is in {v}", "find their countries")],
    "company": [("hq", "Are {a} and {b} headquartered in the same city?", "{x} is headquartered in {v}", "find their headquarters")],
    "band": [("origin", "Are the bands {a} and {b} from the same city?", "{x} was formed in {v}", "find where each was formed")],
    "film": [("genre", "Are {a} and {b} films of the same genre?", "{x} is {av} film", "find their genres")],
}


def _bridge_questions(builder: WorldBuilder, rng: random.Random) -> Iterator[tuple[tuple, Question]]:
    """Endless stream of candidate bridge questions (key, question); the caller stops and dedupes."""
    page_text: dict[str, str] = {}  # title -> normalised page text, to keep answers off the first page
    while True:
        kind, rel, target_kind, describe, fact1, need1 = rng.choice(BRIDGES)
        a = rng.choice(builder.by_kind[kind])
        b = a.attrs.get(rel)
        if a.title != a.name:  # the question must name its first page unambiguously
            continue
        if not isinstance(b, Entity) or b.kind != target_kind:
            continue
        attr, question, fact2, need2 = rng.choice(ATTRIBUTE_QUESTIONS[target_kind])
        pron = "she" if a.attrs.get("gender") == "f" else "he"
        described = describe.format(a=a.name)
        hop1 = builder.hop(a, rel, fact1.format(a=a.name, b=b.name), need1.format(pron=pron))
        hop2 = builder.hop(b, attr, fact2.format(b=b.name, v=_text(b.attrs[attr])), need2.format(r=ROLE_NOUNS[rel]))
        if hop1 is None or hop2 is None:
            continue
        answer = hop2.value
        if a.title not in page_text:
            page_text[a.title] = normalize_answer(" ".join(a.sentences))
        if normalize_answer(answer) in page_text[a.title]:
            continue
        text = question.format(d=described)
        text = text[0].upper() + text[1:]
        yield ("bridge", a.title, rel, attr), Question(
            id="", question=text, answer=answer, type="bridge",
            supporting_facts=((a.title, hop1.sentence), (b.title, hop2.sentence)), hops=(hop1, hop2),
            plan=f"I need to search {a.name}, {hop1.need}, then {hop2.need}.", conclusion=f"So the answer is {answer}.")


def _comparison_questions(builder: WorldBuilder, rng: random.Random) -> Iterator[tuple[tuple, Question]]:
    """Endless stream of candidate comparison questions (ordering ones and yes/no ones, half each)."""
    groups: dict[tuple[str, str], dict[str, list[Entity]]] = {}  # (kind, attr) -> value -> entities
    while True:
        if rng.random() < 0.5:
            kind = rng.choice(sorted(ORDER_COMPARISONS))
            attr, question, fact, need, wins = rng.choice(ORDER_COMPARISONS[kind])
            a, b = rng.sample(builder.by_kind[kind], 2)
            va, vb = a.attrs[attr], b.attrs[attr]
            if va == vb or a.title != a.name or b.title != b.name:
                continue
            first = (va < vb) == (attr in SMALLER_WINS)
            winner = a if first else b
            sign = "<" if va < vb else ">"
            answer = winner.name
            conclusion = f"{_text(va)} ({a.name}) {sign} {_text(vb)} ({b.name}), so {winner.name} {wins}. So the answer is {answer}."
        else:
            kind = rng.choice(sorted(SAME_COMPARISONS))
            attr, question, fact, need = rng.choice(SAME_COMPARISONS[kind])
            a = rng.choice(builder.by_kind[kind])
            if a.title != a.name:
                continue
            same = rng.random() < 0.5
            if (kind, attr) not in groups:
                groups[(kind, attr)] = {}
                for e in builder.by_kind[kind]:
                    if e.title == e.name:
                        groups[(kind, attr)].setdefault(_text(e.attrs[attr]), []).append(e)
            by_value = groups[(kind, attr)]
            value = _text(a.attrs[attr])
            if same:
                pool = [e for e in by_value[value] if e is not a]
            else:
                pool = [e for v in sorted(by_value) if v != value for e in by_value[v]]
            if not pool:
                continue
            b = rng.choice(pool)
            answer = "yes" if same else "no"
            va, vb = _text(a.attrs[attr]), _text(b.attrs[attr])
            conclusion = (f"Both are {va}, so the answer is yes." if same else f"{va} is not {vb}, so the answer is no.")
        shown_a, shown_b = _shown(attr, a.attrs[attr]), _shown(attr, b.attrs[attr])
        hop_a = builder.hop(a, attr, fact.format(x=a.name, v=shown_a, av=_a(shown_a)), need)
        hop_b = builder.hop(b, attr, fact.format(x=b.name, v=shown_b, av=_a(shown_b)), need)
        if hop_a is None or hop_b is None:
            continue
        yield ("comparison", attr, *sorted((a.title, b.title))), Question(
            id="", question=question.format(a=a.name, b=b.name), answer=answer, type="comparison",
            supporting_facts=((a.title, hop_a.sentence), (b.title, hop_b.sentence)), hops=(hop_a, hop_b),
            plan=f"I need to search {a.name} and {b.name}, {need}, then compare them.", conclusion=conclusion)


def generate_world(seed: int = 0, split_sizes: dict[str, int] | None = None) -> tuple[PageStore, dict[str, list[Question]]]:
    """The encyclopaedia and the questions of each split (test, dev, train by default), deterministic by ``seed``."""
    sizes = dict(SPLIT_SIZES if split_sizes is None else split_sizes)
    builder = WorldBuilder(seed)
    builder.build_entities()
    builder.assign_titles()
    builder.render_pages()
    store = PageStore(Page(e.title, tuple(e.sentences)) for e in builder.entities)
    rng = random.Random(seed + 1)
    bridges, comparisons = _bridge_questions(builder, rng), _comparison_questions(builder, rng)
    seen: set[tuple] = set()
    splits: dict[str, list[Question]] = {}
    for split, size in sizes.items():
        questions: list[Question] = []
        while len(questions) < size:
            stream = bridges if rng.random() < BRIDGE_SHARE else comparisons
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
