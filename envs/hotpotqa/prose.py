"""The pages of the generated world: encyclopaedia prose drawn from varied sentence templates.

A page is a lead sentence, body sentences that state the entity's facts (in random order, so some
facts are in the first five sentences that ``search`` shows and some only reachable by ``lookup``)
and 2-5 filler sentences, several of which name other entities of the same kind (a look-alike, a
rival, a collaborator), so a page mentions more than the one entity a question needs. Each
sentence records the attributes it states and its *cues*: lookup keywords that name the relation
("directed", "born"), never the value.
"""

from __future__ import annotations

from dataclasses import dataclass

from envs.hotpotqa.builder import Entity, WorldBuilder, text_of
from envs.hotpotqa.names import NUMBER_WORDS

FILLERS_PER_PAGE = (2, 6)  # randrange bounds


@dataclass
class Sentence:
    """A rendered sentence, the attributes it states and the lookup cues (substrings) that find it."""

    text: str
    attrs: tuple[str, ...] = ()
    cues: tuple[str, ...] = ()


Parts = tuple[Sentence, list[Sentence], list[Sentence]]  # lead, body, fillers


def _a(phrase: str) -> str:
    """``phrase`` with its indefinite article ("an electronic", "a Valdorian")."""
    return f"{'an' if phrase[:1].lower() in 'aeiou' else 'a'} {phrase}"


class PageWriter:
    """Writes every entity's page into ``entity.sentences`` / ``facts`` / ``cues``."""

    def __init__(self, builder: WorldBuilder):
        self.builder = builder
        self.rng = builder.rng

    def render_pages(self) -> None:
        """Render all pages, in entity order (deterministic given the builder's RNG)."""
        render = {
            "country": self._country,
            "city": self._city,
            "university": self._university,
            "company": self._company,
            "person": self._person,
            "film": self._film,
            "band": self._band,
            "novel": self._novel,
        }
        for e in self.builder.entities:
            lead, body, fillers = render[e.kind](e)
            body += self.rng.sample(fillers, min(len(fillers), self.rng.randrange(*FILLERS_PER_PAGE)))
            self.rng.shuffle(body)
            for i, s in enumerate([lead, *body]):
                e.sentences.append(s.text)
                e.cues[i] = list(s.cues)
                for attr in s.attrs:
                    e.facts.setdefault(attr, i)

    # --- helpers ---------------------------------------------------------------------------------
    def _choose(self, *options: Sentence) -> Sentence:
        return self.rng.choice(options)

    def _other(self, e: Entity, **match: object) -> Entity:
        """Another entity of ``e``'s kind (matching ``match``): a distractor the page mentions."""
        return self.builder.pick(e.kind, lambda o: o is not e, **match)

    def _lookalike_note(self, e: Entity) -> list[Sentence]:
        others = [o for o in e.lookalikes if o.name != e.name]
        if not others:
            return []
        other = self.rng.choice(others)
        return [
            self._choose(
                Sentence(f"{e.name} is not to be confused with {other.name}."),
                Sentence(f"{e.name} is often mistaken for {other.name}."),
            )
        ]

    # --- one renderer per kind -------------------------------------------------------------------
    def _country(self, e: Entity) -> Parts:
        a, cap = e.attrs, e.attrs["capital"].name
        lead = self._choose(
            Sentence(
                f"{e.name} is a country whose capital and largest city is {cap}.", ("capital",), ("capital",)
            ),
            Sentence(f"{e.name} is a sovereign state with its capital at {cap}.", ("capital",), ("capital",)),
        )
        body = [
            Sentence(f"Its currency is the {a['currency']}.", ("currency",), ("currency",)),
            Sentence(f"People from {e.name} are called {a['demonym']}s.", ("demonym",), ("called",)),
        ]
        fillers = [
            Sentence(f"{e.name} has a temperate climate with cold winters."),
            Sentence("The country is a parliamentary republic."),
            Sentence(f"Agriculture and shipping dominate the economy of {e.name}."),
            Sentence(f"{e.name} shares a long border with {self._other(e).name}."),
            Sentence("Its coastline is dotted with small fishing villages."),
        ]
        return lead, body, fillers

    def _city(self, e: Entity) -> Parts:
        a, country, population = e.attrs, e.attrs["country"].name, text_of(e.attrs["population"])
        lead = (
            Sentence(f"{e.name} is the capital of {country}.", ("country",), ("capital",))
            if "capital_of" in a
            else self._choose(
                Sentence(f"{e.name} is a city in {country}.", ("country",), ("city in",)),
                Sentence(f"{e.name} is a town in the north of {country}.", ("country",), ("town in",)),
                Sentence(f"{e.name} is a port city in southern {country}.", ("country",), ("port city",)),
            )
        )
        body = [
            self._choose(
                Sentence(f"It has a population of {population}.", ("population",), ("population",)),
                Sentence(
                    f"At the last census, {e.name} had {population} inhabitants.",
                    ("population",),
                    ("inhabitants", "census"),
                ),
            ),
            self._choose(
                Sentence(f"The city lies on the {a['river']}.", ("river",), ("lies on", "river")),
                Sentence(
                    f"The {a['river']} flows through the city centre.", ("river",), ("flows through", "river")
                ),
            ),
            Sentence(
                f"{e.name} sits at an elevation of {a['elevation']} metres above sea level.",
                ("elevation",),
                ("elevation", "sea level"),
            ),
            Sentence(
                f"The settlement was first mentioned in records in {a['first_mentioned']}.",
                ("first_mentioned",),
                ("first mentioned",),
            ),
        ]
        fillers = [
            Sentence(f"{e.name} is known for its old market square."),
            Sentence("The local economy relies on trade and light industry."),
            Sentence(f"{e.name} is twinned with {self._other(e).name}."),
            Sentence("A railway line connects the city with the coast."),
            Sentence("The city hosts an annual music festival."),
            Sentence(f"The nearest larger town is {self._other(e, country=a['country']).name}."),
        ]
        return lead, body, fillers

    def _university(self, e: Entity) -> Parts:
        a, city = e.attrs, e.attrs["city"]
        lead = self._choose(
            Sentence(
                f"{e.name} is a public university in {city.name}, {city.attrs['country'].name}.",
                ("city",),
                ("university in",),
            ),
            Sentence(
                f"{e.name} is a research university founded in {a['founded']}.", ("founded",), ("founded",)
            ),
        )
        body = [
            Sentence(f"Its main campus is located in {city.name}.", ("city",), ("campus", "located")),
            Sentence(f"The university was established in {a['founded']}.", ("founded",), ("established",)),
            Sentence(
                f"It enrols about {text_of(a['students'])} students.", ("students",), ("students", "enrols")
            ),
        ]
        fillers = [
            Sentence("The university is organised into six faculties."),
            Sentence("Its library holds a large collection of medieval manuscripts."),
            Sentence("The institution is known for its engineering programmes."),
            Sentence(f"It runs an exchange programme with {self._other(e).name}."),
            Sentence("Its botanical garden is open to the public."),
        ]
        return lead, body, fillers

    def _company(self, e: Entity) -> Parts:
        a, hq, founder = e.attrs, e.attrs["hq"].name, e.attrs["founder"].name
        demonym, industry, founded = a["hq"].attrs["country"].attrs["demonym"], a["industry"], a["founded"]
        lead = self._choose(
            Sentence(
                f"{e.name} is {_a(demonym)} {industry} company headquartered in {hq}.",
                ("industry", "hq"),
                ("headquarter", "industry"),
            ),
            Sentence(
                f"{e.name} is {_a(industry)} company founded in {founded}.",
                ("industry", "founded"),
                ("founded",),
            ),
            Sentence(
                f"{e.name} is {_a(demonym)} company active in {industry}.",
                ("industry",),
                ("company active", "industry"),
            ),
        )
        body = [
            self._choose(
                Sentence(
                    f"The company was founded by {founder} in {founded}.",
                    ("founder", "founded"),
                    ("founded by", "founded", "founder"),
                ),
                Sentence(
                    f"{founder} established the company in {founded}.",
                    ("founder", "founded"),
                    ("established",),
                ),
            ),
            self._choose(
                Sentence(f"Its headquarters are in {hq}.", ("hq",), ("headquarter",)),
                Sentence(f"The company is based in {hq}.", ("hq",), ("based in",)),
            ),
            Sentence(
                f"As of 2020, it employed about {text_of(a['employees'])} people.",
                ("employees",),
                ("employed", "employ"),
            ),
        ]
        fillers = [
            Sentence("The company went public in the 1990s."),
            Sentence("It operates subsidiaries in several neighbouring countries."),
            Sentence("Its logo has been redesigned several times."),
            Sentence("The firm has been family-owned for most of its history."),
            Sentence(f"Its main competitor is {self._other(e, industry=industry).name}."),
            *self._lookalike_note(e),
        ]
        return lead, body, fillers

    def _person(self, e: Entity) -> Parts:
        a, s = e.attrs, e.short
        he, his = ("she", "her") if a["gender"] == "f" else ("he", "his")
        is_, city, college = "was" if a["died"] else "is", a["birthplace"], a["alma_mater"].name
        dates = f"{a['born']} – {a['died']}" if a["died"] else f"born {a['born']}"
        described = f"{_a(a['nationality'])} {a['occupation']}"
        lead = self._choose(
            Sentence(f"{e.name} ({dates}) {is_} {described}.", ("born", "nationality", "occupation")),
            Sentence(f"{e.name} {is_} {described}.", ("nationality", "occupation")),
        )
        body = [
            self._choose(
                Sentence(
                    f"{s} was born in {city.name} in {a['born']}.",
                    ("birthplace", "born"),
                    ("born in", "born"),
                ),
                Sentence(
                    f"{s} was born in {city.name}, {city.attrs['country'].name}, in {a['born']}.",
                    ("birthplace", "born"),
                    ("born in", "born"),
                ),
                Sentence(
                    f"A native of {city.name}, {s} was born there in {a['born']}.",
                    ("birthplace", "born"),
                    ("native of", "born"),
                ),
            ),
            self._choose(
                Sentence(f"{s} studied at {college}.", ("alma_mater",), ("studied", "stud")),
                Sentence(
                    f"{he.capitalize()} graduated from {college}.", ("alma_mater",), ("graduated", "graduate")
                ),
            ),
        ]
        if a["died"]:
            body.append(
                Sentence(
                    f"{s} died in {self.builder.pick('city').name} in {a['died']}.", ("died",), ("died",)
                )
            )
        for work in e.works[:3]:
            year = work.attrs.get("year") or work.attrs.get("formed") or work.attrs.get("founded")
            if work.kind == "film":
                role = "directed" if work.attrs["director"] is e else "starred in"
                body.append(Sentence(f"{s} {role} the film {work.name} ({year})."))
            else:
                body.append(
                    {
                        "novel": Sentence(f"{his.capitalize()} novel {work.name} was published in {year}."),
                        "band": Sentence(f"{s} became the lead singer of {work.name} in {year}."),
                        "company": Sentence(f"In {year}, {s} founded {work.name}."),
                    }[work.kind]
                )
        colleague = self._other(e, occupation=a["occupation"]).name
        fillers = [
            Sentence(f"{s} has received several national awards."),
            Sentence(f"{he.capitalize()} lives with {his} family near the coast."),
            Sentence(f"Critics have praised {his} work for its restraint."),
            Sentence(f"{s} is also active as a teacher."),
            Sentence(f"{his.capitalize()} early career was marked by financial difficulties."),
            Sentence(f"{s} often worked alongside {colleague}."),
            Sentence(f"{s} was married to {self._other(e).name} for many years."),
            *self._lookalike_note(e),
        ]
        return lead, body, fillers

    def _film(self, e: Entity) -> Parts:
        a, d, st, star = e.attrs, e.attrs["director"].name, e.attrs["studio"].name, e.attrs["star"].name
        country, year, genre = (
            a["studio"].attrs["hq"].attrs["country"].attrs["demonym"],
            a["year"],
            a["genre"],
        )
        location = a["location"].name
        lead = self._choose(
            Sentence(
                f"{e.name} is a {year} {genre} film directed by {d}.",
                ("year", "genre", "director"),
                ("directed", "direct"),
            ),
            Sentence(f"{e.name} is a {year} {country} {genre} film.", ("year", "genre"), ()),
            Sentence(f"{e.name} is {_a(genre)} film released in {year}.", ("year", "genre"), ("released",)),
        )
        body = [
            self._choose(
                Sentence(f"The film was directed by {d}.", ("director",), ("directed", "direct")),
                Sentence(
                    f"It was directed by {d} from an original screenplay.",
                    ("director",),
                    ("directed", "direct", "screenplay"),
                ),
                Sentence(f"{d} directed the film on a modest budget.", ("director",), ("directed", "direct")),
            ),
            self._choose(
                Sentence(f"It stars {star} in the lead role.", ("star",), ("stars", "star", "lead")),
                Sentence(f"{star} plays the main character.", ("star",), ("main character", "plays")),
            ),
            self._choose(
                Sentence(f"The film was produced by {st}.", ("studio",), ("produced",)),
                Sentence(
                    f"{st} produced and distributed the film.", ("studio",), ("distributed", "produced")
                ),
            ),
            self._choose(
                Sentence(f"The film runs {a['runtime']} minutes.", ("runtime",), ("minutes", "runs")),
                Sentence(
                    f"It has a running time of {a['runtime']} minutes.",
                    ("runtime",),
                    ("running time", "minutes"),
                ),
            ),
            self._choose(
                Sentence(f"Principal photography took place in {location}.", ("location",), ("photography",)),
                Sentence(f"The film was shot in {location}.", ("location",), ("shot",)),
                Sentence(f"It was filmed on location in {location}.", ("location",), ("filmed", "location")),
            ),
        ]
        if "based_on" in a:
            body.append(
                self._choose(
                    Sentence(
                        f"It is an adaptation of the novel {a['based_on'].name}.",
                        ("based_on",),
                        ("adaptation", "adapt", "novel"),
                    ),
                    Sentence(
                        f"It is based on the novel {a['based_on'].name}.",
                        ("based_on",),
                        ("based on", "novel"),
                    ),
                )
            )
        fillers = [
            Sentence("The film received mixed reviews from critics."),
            Sentence("It was a modest commercial success."),
            Sentence("The score was recorded with a small string ensemble."),
            Sentence("It premiered at a regional film festival."),
            Sentence("The film was restored and re-released decades later."),
            Sentence(f"It was shown alongside {self._other(e).name} at its premiere."),
            *self._lookalike_note(e),
        ]
        return lead, body, fillers

    def _band(self, e: Entity) -> Parts:
        a, origin, v, label = e.attrs, e.attrs["origin"].name, e.attrs["vocalist"].name, e.attrs["label"].name
        lead = self._choose(
            Sentence(
                f"{e.name} are {_a(a['genre'])} band from {origin}.", ("genre", "origin"), ("band from",)
            ),
            Sentence(
                f"{e.name} is {_a(a['genre'])} band formed in {a['formed']}.",
                ("genre", "formed"),
                ("formed",),
            ),
        )
        body = [
            self._choose(
                Sentence(
                    f"The band was formed in {origin} in {a['formed']}.",
                    ("origin", "formed"),
                    ("was formed", "formed"),
                ),
                Sentence(
                    f"{e.name} was formed in {origin} in {a['formed']}.",
                    ("origin", "formed"),
                    ("was formed", "formed"),
                ),
            ),
            self._choose(
                Sentence(
                    f"The band is fronted by singer {v}.", ("vocalist",), ("fronted", "singer", "front")
                ),
                Sentence(
                    f"{v} has been the band's lead vocalist since its formation.",
                    ("vocalist",),
                    ("lead vocalist", "vocalist", "lead"),
                ),
            ),
            self._choose(
                Sentence(f"They are signed to {label}.", ("label",), ("signed",)),
                Sentence(
                    f"The band released its debut album on the {label} label.",
                    ("label",),
                    ("debut album", "label"),
                ),
            ),
            Sentence(
                f"The line-up consists of {NUMBER_WORDS[a['members']]} members.",
                ("members",),
                ("members", "line-up"),
            ),
        ]
        fillers = [
            Sentence("The band toured extensively in the following years."),
            Sentence("Their second album reached the national charts."),
            Sentence("The group went on hiatus for several years."),
            Sentence("Critics compared their sound to earlier acts of the genre."),
            Sentence(f"They toured with {self._other(e).name} early in their career."),
            *self._lookalike_note(e),
        ]
        return lead, body, fillers

    def _novel(self, e: Entity) -> Parts:
        a, author, pub = e.attrs, e.attrs["author"].name, e.attrs["publisher"].name
        lead = self._choose(
            Sentence(f"{e.name} is a {a['year']} novel by {author}.", ("year", "author"), ("novel by",)),
            Sentence(
                f"{e.name} is {_a(a['genre'])} novel first published in {a['year']}.",
                ("genre", "year"),
                ("first published", "published"),
            ),
        )
        body = [
            self._choose(
                Sentence(f"It was written by {author}.", ("author",), ("written", "writ")),
                Sentence(f"{author} wrote the book over several years.", ("author",), ("wrote",)),
            ),
            self._choose(
                Sentence(f"It was published by {pub}.", ("publisher",), ("published by", "publish")),
                Sentence(
                    f"{pub} published the book in hardcover.",
                    ("publisher",),
                    ("published the book", "hardcover", "publish"),
                ),
            ),
            Sentence(
                f"The first edition runs to {a['pages']} pages.", ("pages",), ("pages", "first edition")
            ),
            Sentence(f"The story is set in {a['setting'].name}.", ("setting",), ("set in", "story")),
        ]
        other = self._other(e)
        fillers = [
            Sentence("The novel was translated into several languages."),
            Sentence("It won a national literary prize."),
            Sentence("Reviewers praised its structure and dialogue."),
            Sentence("A sequel was announced but never published."),
            Sentence(f"It is often compared with {other.name} by {other.attrs['author'].name}."),
            *self._lookalike_note(e),
        ]
        return lead, body, fillers
