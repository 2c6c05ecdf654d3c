"""Name material of the generated world: the word lists that names, titles and values are drawn from,
and the rules that make a *similar* name (a distractor of the same kind that a search lists beside the
real one, as Wikipedia's search does: "Silent Harbour" beside "The Silent Harbour").
"""

from __future__ import annotations

import random

FIRST_NAMES = {
    "f": [
        "Ada", "Alma", "Anika", "Beatrix", "Celia", "Dagny", "Edda", "Elin", "Esme", "Freya", "Greta",
        "Hanna", "Ilse", "Ines", "Iris", "Isolde", "Jana", "Juno", "Kaia", "Lena", "Liv", "Mara", "Maren",
        "Mila", "Nadia", "Nora", "Odile", "Petra", "Rhea", "Runa", "Saga", "Selma", "Sigrid", "Talia", "Tove",
        "Una", "Vera", "Wilma", "Ylva", "Zora", "Agnes", "Brita", "Clara", "Dora", "Elsa", "Fenna", "Gerda",
        "Helga", "Ida", "Linnea",
    ],
    "m": [
        "Aldo", "Anders", "Arvid", "Basil", "Bruno", "Cassian", "Conrad", "Dario", "Edvin", "Elias", "Emil",
        "Felix", "Gunnar", "Hugo", "Ivo", "Jasper", "Joris", "Kasimir", "Lars", "Leif", "Linus", "Magnus",
        "Marius", "Milo", "Nils", "Oskar", "Otto", "Pavel", "Quentin", "Rafael", "Sander", "Silas", "Soren",
        "Teodor", "Tobias", "Ulrik", "Viktor", "Werner", "Yannick", "Zeno", "Aurel", "Bertil", "Casimir",
        "Dag", "Egon", "Frode", "Gustav",
    ],
}
SURNAME_HEADS = [
    "Vant", "Oken", "Mar", "Hal", "Bren", "Cors", "Del", "Esk", "Fal", "Gar", "Hask", "Ivor", "Jost", "Kell",
    "Lind", "Morr", "Nyl", "Orm", "Pell", "Quin", "Rad", "Sorr", "Tarn", "Ulm", "Vess", "Wend", "Yar", "Zell",
    "Brand", "Holt",
]
SURNAME_TAILS = [
    "ane", "ett", "ow", "ley", "ford", "wick", "strom", "ani", "ez", "ova", "berg", "mann", "ton", "ard",
    "ic", "ell", "by", "ish",
]
PLACE_HEADS = [
    "Ash", "Bel", "Cor", "Dun", "El", "Fen", "Grav", "Hol", "Ir", "Kes", "Lor", "Mar", "Nor", "Ost", "Pen",
    "Rav", "Sel", "Tor", "Ul", "Val", "Wes", "Yor", "Zan", "Bram", "Cal", "Dor", "Kal", "Mir", "Tam", "Ver",
]
PLACE_TAILS = [
    "ford", "haven", "bury", "mouth", "stad", "grad", "ton", "vale", "mere", "holm", "port", "wick", "field",
    "burg",
]
RIVER_TAILS = ["a", "e", "ine", "well", "bourne"]
COUNTRIES = [
    ("Valdoria", "Valdorian"), ("Ostmark", "Ostmarkian"), ("Carredon", "Carredonian"),
    ("Lysandria", "Lysandrian"), ("Norvale", "Norvalese"), ("Tamsk", "Tamskan"), ("Belmora", "Belmoran"),
    ("Quessia", "Quessian"), ("Idrania", "Idranian"), ("Sorvenia", "Sorvenian"), ("Kalimar", "Kalimari"),
    ("Astoria Minor", "Astorian"), ("Fenwald", "Fenwaldish"), ("Rhovania", "Rhovanian"),
    ("Merrow", "Merrowan"), ("Zelund", "Zelundic"),
]
CURRENCIES = ["mark", "crown", "florin", "dinar"]
TITLE_ADJECTIVES = [
    "Silent", "Glass", "Burning", "Hollow", "Last", "Crimson", "Distant", "Broken", "Quiet", "Winter",
    "Golden", "Paper", "Iron", "Secret", "Fading", "Wild", "Lonely", "Endless", "Northern", "Midnight",
]
TITLE_NOUNS = [
    "Harbour", "Orchard", "Mirror", "Road", "Garden", "Season", "Letter", "Kingdom", "Lantern", "River",
    "Tower", "Shore", "Crown", "Promise", "Station", "Frontier", "Horizon", "Echo", "Summer", "Compass",
]
BAND_ADJECTIVES = [
    "Velvet", "Electric", "Hollow", "Neon", "Paper", "Static", "Silver", "Copper", "Gentle", "Savage",
    "Lunar", "Rusty", "Violet", "Frozen", "Golden", "Wandering",
]
BAND_NOUNS = [
    "Foxes", "Lanterns", "Saints", "Ghosts", "Tigers", "Pilots", "Ravens", "Engines", "Sparrows", "Wolves",
    "Comets", "Machines", "Sailors", "Orchids", "Giants", "Echoes",
]
BRAND_HEADS = [
    "Blue", "Iron", "North", "Silver", "Red", "Golden", "Crescent", "Harbor", "Summit", "Granite", "Oak",
    "Falcon", "Amber", "Cedar", "Star", "Pine", "Stone", "Eagle", "Lantern", "Willow",
]
BRAND_TAILS = [
    "crest", "leaf", "gate", "field", "brook", "peak", "ridge", "light", "wood", "line", "point", "ford",
    "stone", "wing",
]
INDUSTRIES = {  # industry -> company name suffixes
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
    "film director": 200,
    "actor": 240,
    "singer": 200,
    "novelist": 190,
    "entrepreneur": 220,
    "physicist": 60,
    "architect": 60,
    "painter": 60,
    "footballer": 60,
    "journalist": 60,
    "composer": 60,
    "politician": 50,
}
FILM_GENRES = [
    "drama", "comedy", "thriller", "horror", "western", "musical", "documentary", "war", "romance",
    "science-fiction",
]
MUSIC_GENRES = ["rock", "folk", "jazz", "punk", "pop", "metal", "blues", "electronic", "soul", "indie"]
NOVEL_GENRES = ["historical", "crime", "fantasy", "literary", "adventure", "mystery"]
NUMBER_WORDS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven"}

#: entities per kind (people come from OCCUPATIONS, countries from COUNTRIES)
COUNTS = {"city": 320, "university": 90, "company": 300, "film": 560, "band": 300, "novel": 300}
#: share of people, films, novels, bands and companies named after an earlier one of their kind
SIMILAR_NAME_SHARE = 0.2


def person_name(rng: random.Random, gender: str) -> str:
    """A fresh full name: first name + surname head + surname tail."""
    return f"{rng.choice(FIRST_NAMES[gender])} {rng.choice(SURNAME_HEADS)}{rng.choice(SURNAME_TAILS)}"


def work_title(rng: random.Random) -> str:
    """A film or novel title."""
    adj, noun = rng.choice(TITLE_ADJECTIVES), rng.choice(TITLE_NOUNS)
    return rng.choice(
        [
            f"The {adj} {noun}",
            f"{adj} {noun}",
            f"{noun} of the {rng.choice(TITLE_NOUNS)}",
            f"A {adj} {noun}",
            f"The {noun} at {rng.choice(PLACE_HEADS)}{rng.choice(PLACE_TAILS)}",
        ]
    )


def band_name(rng: random.Random) -> str:
    """A band name."""
    return rng.choice(
        [
            f"The {rng.choice(BAND_ADJECTIVES)} {rng.choice(BAND_NOUNS)}",
            f"{rng.choice(BAND_ADJECTIVES)} {rng.choice(BAND_NOUNS)}",
            f"{rng.choice(PLACE_HEADS)}{rng.choice(PLACE_TAILS)} {rng.choice(BAND_NOUNS)}",
        ]
    )


def company_name(rng: random.Random, industry: str) -> str:
    """A company name whose suffix says its industry ("Bluecrest Pictures")."""
    return f"{rng.choice(BRAND_HEADS)}{rng.choice(BRAND_TAILS)} {rng.choice(INDUSTRIES[industry])}"


def similar_name(rng: random.Random, kind: str, name: str) -> str:
    """A different name of the same ``kind`` that looks like ``name`` (a search for one lists the other).

    People keep first name and surname head and change the tail ("Iris Vantell" -> "Iris Vantova");
    titles gain or lose their article or pluralise a singular last word. (A company's look-alike keeps the
    brand and takes its own industry's suffix: see the builder.)
    """
    words = name.split()
    if kind == "person":
        first, surname = words[0], words[-1]
        head = next((h for h in SURNAME_HEADS if surname.startswith(h)), surname[:3])
        return f"{first} {head}{rng.choice(SURNAME_TAILS)}"
    last = words[-1]
    if last.endswith("s") or rng.random() < 0.6:  # toggle the article
        return " ".join(words[1:]) if words[0] in ("The", "A") else f"The {name}"
    return " ".join([*words[:-1], f"{last}s"])
