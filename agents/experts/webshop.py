"""Scripted WebShop expert that shops like a careful person: it acts only on what an agent sees.

It reads the instruction (``info["task"]``), the observations so far (text mode) and
``info["admissible_actions"]``; it never reads the privileged ``info["goal"]``. The policy:

1. search with a contiguous run of the instruction's words, from the first word that names the product to
   the last one asked for (opener, closer and price clause left out), written ``search[ words]``: the space
   after ``[`` gives the first word the token it has in the instruction (`` coffee``, not ``coffee``);
2. on a results page, judge every listing by its title (how many of the instruction's words it shows,
   Porter-stemmed) and its price against the instruction's cap; open the best unseen one that fits, by its
   id as the page shows it (``click[B09KP78G37]``);
3. on an item page, match the instruction's wording to the option labels ("xl" -> "x-large", "a 12-pack"
   -> "pack of 12", "gray" -> "grey", "navy" -> "navy blue"; rapidfuzz for the rest); when the title and
   options do not show everything asked for, read Features, then Description;
4. buy when the product shows everything asked for (that any product has shown), else go back and try
   the next candidate while the step budget allows; at the end buy the best product seen;
5. page or search again (with fewer, more essential words) only when nothing visible fits.

Every thought names only ids, titles, prices and labels that an observation has shown, or words of the
instruction, and says why the action follows; each decision kind has at least 20 phrasings.

The policy is a function of the history alone (instruction, actions, observations), so
:meth:`WebShopExpert.relabel` plays the same rules from any history, e.g. a student's trajectory that
went off course (it needs no privileged info).
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass, field
from itertools import product
from typing import Any

import Stemmer
from rapidfuzz import fuzz

from agents.base import AgentStep, Episode
from agents.experts import Expert
from agents.react import format_turn

DEFAULT_MAX_STEPS = 15  # upstream's WebShop episode length
MAX_SEARCHES = 2
MAX_PAGES_PER_SEARCH = 2
MAX_CANDIDATES = 6
FUZZY_OPTION_MATCH = 88  # rapidfuzz ratio for an option label written with a slip
EXPLORE_STEPS = 6  # steps left (after going back) to judge another product and still buy one
DESCRIPTION_SPARE = 5  # read the Description only with this many steps to spare (Features come first)
NOUN_WEIGHT = 2.0  # the product noun counts double when judging titles and products
OPTION_TITLE_WEIGHT = 0.4  # option values rarely appear in titles: they count little when judging titles
OPTION_WEIGHT = 10.0  # a colour/size/count asked for and not offered rules a product out
_SEP = " [SEP] "


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_ASIN = re.compile(r"^(?:b0[a-z0-9]{8}|\d{9}[\dx])$", re.IGNORECASE)  # product ids, in any case
_NAVIGATION = frozenset(
    {
        "back to search",
        "next >",
        "< prev",
        "description",
        "features",
        "reviews",
        "attributes",
        "buy now",
        "search",
    }
)
_PRICE_CAP = re.compile(
    r",?\s*(?:and\s+)?(?:the\s+)?(?:price\s+)?(?:lower|less|cheaper)\s+than\s+\$?\s*(\d+(?:\.\d+)?)\s*(?:dollars?)?"
    r"|,?\s*(?:and\s+)?(?:price\s+)?(?:under|below|at most|up to)\s+\$\s*(\d+(?:\.\d+)?)\s*(?:dollars?)?"
    r"|,?\s*(?:and\s+)?(?:price\s+)?(?:under|below)\s+(\d+(?:\.\d+)?)\s*dollars?",
    re.IGNORECASE,
)
_PRICE = re.compile(r"\$\s*(\d+(?:\.\d+)?)")
#: a word of an instruction as the constrained decoder reads it (agents.constrained.instruction_words:
#: "2-pack", "men's", "3.4"); the first query is a run of these
_WORD = re.compile(r"\w(?:[\w'.-]*\w)?")
#: most words of a query (agents.constrained.MAX_QUERY_WORDS, the longest the constrained decoder writes)
MAX_QUERY_WORDS = 16
#: how instructions open ("i'm looking for", "searching for"); dropped before reading the request
_OPENER = re.compile(r"^(?:i'?m |i am |i was )?(?:looking|searching|shopping) for\b", re.IGNORECASE)
#: what separates the phrases of an instruction: punctuation (not a decimal point), " - "
_CLAUSE = re.compile(r"[,;!?()&/]|(?<!\d)\.|\.(?!\d)|\s-\s")
#: words after which an instruction stops naming the product ("... hair extension which is ...")
_NOUN_END = re.compile(r"(?<![\w-])(?:that|which|with|for me|it should|it needs|in|size|colou?r)\b", re.I)
#: words that carry no product facts: openers, politeness, grammar
_FILLER = _words("""
a an the and or & of in on at to for with without from by as is are be it its it's that that's which
who this these those some any one ones i i'm im i'd id me my we you your can could would will should
shall must may might please need needs needed want wants wanted look find get buy purchase order
shop shopping searching search show help like love also just really very thanks thank so something
thing item product products them they their there comes come coming has have having should features
feature what whats what's am is do does not no but if then than color colour colored coloured size
sized flavor flavour name scent style option options kind type pick choose
""")
#: words an opener is made of ("i'd love a", "can you find me some", "i'm searching for the"); the first
#: query starts after them, or right after the opener's article ("show me a love seat": "love seat")
_OPENER_WORDS = _words("""
i i'm im i'd id i'll we me you can could would will please need needs want wants like love looking
searching shopping search find get buy purchase order show help to for am is are was be it hi hello
""")
_ARTICLES = _words("a an the some any")
_NUMBER_WORDS = {
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "ten": "10",
    "eleven": "11",
    "twelve": "12",
    "dozen": "12",
    "twenty": "20",
    "twenty-four": "24",
}
#: spellings and abbreviations a shopper writes, mapped to the forms product pages use
_CANONICAL_WORDS = {
    "gray": "grey",
    "xs": "x small",
    "xl": "x large",
    "xxl": "xx large",
    "2xl": "xx large",
    "xxxl": "3x large",
    "3xl": "3x large",
    "oz": "ounce",
    "ounces": "ounce",
    "lbs": "pound",
    "lb": "pound",
    "pounds": "pound",
    "feet": "ft",
    "foot": "ft",
    "inches": "inch",
    "ct": "count",
    "pk": "pack",
    "packs": "pack",
    "fluid": "fl",
    "colour": "color",
    "pcs": "piece",
    "pieces": "piece",
}
_COLOR_WORDS = _words("""
black white grey blue navy red burgundy green olive pink beige brown purple khaki teal ivory
charcoal gold silver rose tan cream mustard yellow orange clear nude coral berry mauve plum lilac
walnut oak espresso camel tortoise bronze champagne mint multicolor blonde auburn sage emerald blush
heather royal
""")
_SIZE_WORDS = _words("""
x xx 3x small medium large twin full queen king california standard
""")
#: words that turn a following option word into another value ("x small", "navy blue", "california king")
_MODIFIERS = _words("""
x xx 3x california light dark navy royal heather sky baby rose ash sage emerald blush
""")
#: words that name an option group in instructions ("flavor name: x", "the x scent")
_OPTION_GROUPS = _words("color colour colored coloured size sized flavor flavour name scent style pattern")
_UNIT_WORDS = _words("""
ounce pound ft inch count pack fl piece set tier
""")
_stemmer = Stemmer.Stemmer("porter")


# --- reading the instruction and the pages -----------------------------------------------------------
def canonical_tokens(text: str) -> list[str]:
    """Tokens, shoppers' spellings mapped to page forms ("12-pack" -> pack of 12, "xl" -> x large)."""
    text = text.lower().replace("fl. oz", "fl oz").replace("’", "'")
    text = re.sub(r"\b(?:2xl|xxl)\b", "xx large", re.sub(r"\b(?:3xl|xxxl)\b", "3x large", text))
    text = re.sub(
        r"(?<=\d)(?=[a-z])(?!mm\b|w\b|mah\b|x\b)", " ", text
    )  # "16oz" -> "16 oz"; keeps 40mm, 20w, 3x
    text = re.sub(r"[^\w.'\s]|(?<!\d)\.|\.(?!\d)|_", " ", text)
    text = re.sub(r"\b(extra)\s+(small|large)\b", r"x \2", text)
    text = re.sub(r"(\d)\s*(?:in|inches|inch)\b", r"\1 inch", text)  # "15.6 in", "14in"
    text = re.sub(r"\blight\s+weight\b", "lightweight", text)
    words: list[str] = []
    for word in text.split():
        word = word.strip("'")
        word = _NUMBER_WORDS.get(word, word)
        words.extend(_CANONICAL_WORDS.get(word, word).split())
    out: list[str] = []
    i = 0
    while i < len(words):  # "12 pack" / "a pack of 12" -> "pack of 12"
        if i + 1 < len(words) and words[i].isdigit() and words[i + 1] == "pack":
            out += ["pack", "of", words[i]]
            i += 2
            continue
        out.append(words[i])
        i += 1
    return [w for w in out if w]


def _stem(word: str) -> str:
    return _stemmer.stemWord(word)


def _stems(text: str) -> set[str]:
    return {_stem(w) for w in canonical_tokens(text)}


@dataclass
class Request:
    """What the instruction asks for, as the expert reads it."""

    text: str  # the instruction without its price clause
    price_cap: float | None
    words: list[str]  # content words (canonical), in order, no repeats
    phrase_length: dict[str, int]  # word -> length of the run of content words it stands in ("tea tree": 2)
    phrase_of: dict[str, int]  # word -> index of its run of non-filler words, to name words as phrases
    noun_words: frozenset[str]  # the product noun: last word before the first clause ends ("extension")
    option_words: frozenset[str]  # words naming an option value ("navy", "12", "flavor name: <x>")
    query: str  # first search: a run of the instruction's words as written (:func:`query_span`)
    short_query: str  # second search: its content words that are not option-like (colours, sizes, counts)


def read_request(instruction: str) -> Request:
    """Parse an instruction (bundled or upstream's human phrasing): content words, queries, price cap."""
    match = _PRICE_CAP.search(instruction)
    cap = float(next(g for g in match.groups() if g)) if match else None
    text = (instruction[: match.start()] + instruction[match.end() :]) if match else instruction
    text = _OPENER.sub("", text.strip())
    tokens = canonical_tokens(text)
    words = list(dict.fromkeys(t for t in tokens if t not in _FILLER))
    phrase_length: dict[str, int] = {}
    phrase_of: dict[str, int] = {}
    run_index = 0
    for token in [t for chunk in _CLAUSE.split(text) for t in [""] + canonical_tokens(chunk)]:
        if not token or token in _FILLER:
            run_index += 1  # a filler word or a comma ends a phrase
        else:
            phrase_of.setdefault(token, run_index)
    option_words = {w for w in words if _option_like(w)}
    first_clause = _NOUN_END.split(re.split(r"[,;!?()]|(?<!\d)\.|\.(?!\d)|\s-\s", text)[0])[0]
    runs, run = [], []
    for token in canonical_tokens(first_clause) + [""]:
        if token and token not in _FILLER and not _option_like(token):
            run.append(token)
        elif run:
            runs, run = runs + [run], []
    noun_words = frozenset(runs[-1][-1:]) if runs else frozenset()
    for chunk in _CLAUSE.split(text):
        chunk_tokens = canonical_tokens(chunk)
        colon = (
            re.search(r"\b(?:flavou?r(?: name)?|scent|colou?r|size|style|pattern)\s*:", chunk.lower())
            is not None
        )
        start = None
        for i, token in enumerate(chunk_tokens + [""]):  # runs of content words are the instruction's phrases
            if token and token not in _FILLER and not _option_like(token):
                start = i if start is None else start
                continue
            if start is not None:
                run = chunk_tokens[start:i]
                for word in run:
                    phrase_length.setdefault(word, len(run))
                labelled = chunk_tokens[start - 1] in _OPTION_GROUPS if start > 0 else False
                if labelled if colon else token in _OPTION_GROUPS:
                    option_words.update(run)  # "flavor name: hibiscus", "the mint scent"
            start = None
    query = query_span(instruction)
    content = [w for w in query.split() if w.lower() not in _FILLER]
    essential = list(dict.fromkeys(w for w in content if not _option_like(w)))
    return Request(
        text=text.strip(" ,."),
        price_cap=cap,
        words=words,
        phrase_length=phrase_length,
        phrase_of=phrase_of,
        noun_words=noun_words,
        option_words=frozenset(option_words),
        query=query,
        short_query=" ".join(essential) or query,
    )


def query_span(instruction: str) -> str:
    """The first search: a contiguous run of the instruction's words (:data:`_WORD`, as written), so a model
    learns it as a copy. Of the runs the price clause leaves (before and after it), the one with the most
    words that are not an opener's; from the first word after the opener ("i need a", "find me some") to the
    last that is not filler (a closer such as "that's what i need" left out), at most :data:`MAX_QUERY_WORDS`
    words ("i need a long clip-in hair extension which is natural looking, and price lower than 40.00
    dollars" -> "long clip-in hair extension which is natural looking")."""
    price = _PRICE_CAP.search(instruction)
    pieces = [(0, price.start()), (price.end(), len(instruction))] if price else [(0, len(instruction))]
    runs = [list(_WORD.finditer(instruction, start, end)) for start, end in pieces]
    run = max(runs, key=lambda r: sum(m[0].lower() not in _OPENER_WORDS for m in r))  # the first on ties
    start = 0
    while start < len(run) and run[start][0].lower() in _OPENER_WORDS | _ARTICLES:
        start += 1
        if run[start - 1][0].lower() in _ARTICLES:
            break  # "a" ends the opener: "show me a love seat"
    run = run[start:] or run
    run = run[:MAX_QUERY_WORDS]
    while len(run) > 1 and run[-1][0].lower() in _FILLER:
        run = run[:-1]
    return " ".join(m[0] for m in run)


def _option_like(word: str) -> bool:
    """A word that names an option value: a number (sizes, counts), a colour or a size word."""
    canon = canonical_tokens(word)
    return any(
        w.replace(".", "").isdigit() or w in _COLOR_WORDS or w in _SIZE_WORDS or re.fullmatch(r"\d+\w+", w)
        for w in canon
    )


def _weight(word: str, titles: list[str] | None = None) -> float:
    """Judging weight of an instruction word: option-like words rarely appear in titles; other words
    weigh more the more result titles show them (the product noun is in most of them)."""
    if _option_like(word):
        return OPTION_TITLE_WEIGHT
    if not titles:
        return 1.0
    stem = _stem(word)
    return 1.0 + 2.0 * sum(stem in _stems(t) for t in titles) / len(titles)


def _price_of(text: str) -> float | None:
    """The lowest dollar amount in ``text`` ("$12.5", "$5.99 to $9.99")."""
    amounts = [float(a) for a in _PRICE.findall(text)]
    return min(amounts) if amounts else None


@dataclass
class Listing:
    """One search result as shown: id, title, price text."""

    asin: str
    title: str
    price_text: str
    rank: int

    @property
    def price(self) -> float | None:
        return _price_of(self.price_text)


@dataclass
class ProductSeen:
    """What the expert has seen of one product: its item page, and the tabs it read."""

    asin: str
    title: str = ""
    price_text: str = ""
    option_nodes: list[str] = field(default_factory=list)
    tabs: dict[str, str] = field(default_factory=dict)

    @property
    def price(self) -> float | None:
        return _price_of(self.price_text)

    def text(self) -> str:
        return " ".join([self.title, *self.option_nodes, *self.tabs.values()])


def page_kind(observation: str) -> str:
    """search | results | item | tab | done | other (a think reply or an error message), from text mode."""
    if "Thank you for shopping with us!" in observation:
        return "done"
    if re.search(r"\[SEP\] Page \d+ \(Total results: \d+\)", observation):
        return "results"
    if observation.endswith(" [SEP] Buy Now"):
        return "item"
    if observation.startswith("WebShop [SEP] Instruction:") and observation.endswith(" [SEP] Search"):
        return "search"
    if _SEP + "< Prev" + _SEP in observation or observation.endswith(_SEP + "< Prev"):
        return "tab"
    return "other"


def _after_instruction(observation: str) -> list[str]:
    nodes = observation.split(_SEP)
    start = nodes.index("Back to Search") + 1 if "Back to Search" in nodes else 0
    return nodes[start:]


def parse_results(observation: str) -> list[Listing]:
    """The listings of a results page: (ASIN as shown, title, price), in page order."""
    nodes = _after_instruction(observation)
    listings = []
    for i, node in enumerate(nodes):
        if _ASIN.match(node):
            title = nodes[i + 1] if i + 1 < len(nodes) else ""
            price = nodes[i + 2] if i + 2 < len(nodes) else ""
            if price.startswith("$"):
                listings.append(Listing(node, title, price, len(listings)))
    return listings


def parse_item(observation: str, asin: str) -> ProductSeen:
    """Title, price and option nodes (group names and values) of an item page."""
    nodes = _after_instruction(observation)
    if nodes and nodes[0] == "< Prev":
        nodes = nodes[1:]
    price_at = next((i for i, n in enumerate(nodes) if n.startswith("Price: ")), None)
    if price_at is None or price_at == 0:
        return ProductSeen(asin)
    return ProductSeen(
        asin,
        title=nodes[price_at - 1],
        price_text=nodes[price_at][len("Price: ") :],
        option_nodes=nodes[: price_at - 1],
    )


def _tab_text(observation: str) -> str:
    nodes = _after_instruction(observation)
    return " ".join(nodes[1:] if nodes and nodes[0] == "< Prev" else nodes)


@dataclass
class State:
    """Everything the expert knows, rebuilt from the history at every step."""

    request: Request
    steps_used: int
    max_steps: int
    searches: int = 0
    pages_this_search: int = 0
    results: list[Listing] = field(default_factory=list)  # of the page shown last
    titles_seen: list[str] = field(default_factory=list)
    products: dict[str, ProductSeen] = field(default_factory=dict)  # by ASIN, in the order opened
    current: str | None = None  # ASIN of the item (or its tab) on screen
    chosen: dict[str, list[str]] = field(default_factory=dict)  # ASIN -> option values clicked on its page

    @property
    def remaining(self) -> int:
        return self.max_steps - self.steps_used

    def weights(self) -> dict[str, float]:
        """Judging weight of each instruction word, from the result titles seen so far."""
        option_words = self.request.option_words
        return {
            w: (OPTION_TITLE_WEIGHT if w in option_words else _weight(w, self.titles_seen))
            * (NOUN_WEIGHT if w in self.request.noun_words else 1.0)
            / self.request.phrase_length.get(w, 1)
            for w in self.request.words
        }


def _label(action: str) -> str:
    return action[action.find("[") + 1 : action.rfind("]")] if "[" in action else ""


def rebuild(task: str, observations: list[str], actions: list[str], max_steps: int) -> State:
    """The expert's state after ``actions`` (``observations[i]`` is the page before ``actions[i]``, and the
    last one the page now)."""
    state = State(read_request(task), steps_used=len(actions), max_steps=max_steps)
    for i, observation in enumerate(observations):
        action = actions[i - 1].strip() if i > 0 else ""
        label = _label(action).lower()
        kind = page_kind(observation)
        if kind == "results":
            if action.lower().startswith("search["):
                state.searches += 1
                state.pages_this_search = 1
            elif label == "next >":
                state.pages_this_search += 1
            state.results = parse_results(observation)
            state.titles_seen += [listing.title for listing in state.results]
            state.current = None
        elif kind == "item":
            if _ASIN.match(label) and label not in _NAVIGATION:
                state.current = _id_as_shown(state, label)
                seen = parse_item(observation, state.current)
                known = state.products.setdefault(state.current, seen)
                known.title, known.price_text, known.option_nodes = (
                    seen.title,
                    seen.price_text,
                    seen.option_nodes,
                )
                state.chosen[state.current] = []
            elif state.current is not None and label in (
                n.lower() for n in state.products[state.current].option_nodes
            ):
                state.chosen.setdefault(state.current, []).append(label)
        elif (
            kind == "tab" and state.current is not None and label in ("description", "features", "attributes")
        ):
            state.products[state.current].tabs[label] = _tab_text(observation)
        elif kind == "search":
            state.current = None
    return state


def _id_as_shown(state: State, label: str) -> str:
    """The product id ``label`` opened (a click may write it in any case), as the last results page showed
    it; upper-cased when that page did not list it (the form the page shows ids in)."""
    shown = {listing.asin.lower(): listing.asin for listing in state.results}
    return shown.get(label.lower(), label.upper())


# --- judging ----------------------------------------------------------------------------------------
def covered_words(request: Request, text: str) -> list[str]:
    """The instruction's content words that ``text`` shows (Porter stems compared)."""
    stems = _stems(text)
    return [w for w in request.words if _stem(w) in stems]


def title_score(request: Request, title: str, weights: dict[str, float]) -> float:
    """Weighted share of the instruction's content words a title shows."""
    total = sum(weights[w] for w in request.words) or 1.0
    return sum(weights[w] for w in covered_words(request, title)) / total


def option_groups(option_nodes: list[str], values: set[str]) -> dict[str, list[str]]:
    """Option groups of an item page: nodes that are clickable values follow their group's name."""
    groups: dict[str, list[str]] = {}
    name = ""
    for node in option_nodes:
        if node.lower() in values:
            groups.setdefault(name, []).append(node.lower())
        else:
            name = node
    return groups


def match_option(request: Request, values: list[str], group: str = "") -> str | None:
    """The value of one option group the instruction asks for, or None.

    A value matches when its canonical words appear in a row in the instruction's ("x-large" in "size xl");
    the longest match wins, then the one said later. Failing that, a two-word value whose first word the
    instruction says and no other value starts with ("navy" -> "navy blue"), then a close fuzzy match."""
    said = canonical_tokens(request.text)
    best: tuple[int, int, str] | None = None
    for value in values:
        words = canonical_tokens(value)
        if not words:
            continue
        for start in range(len(said) - len(words) + 1):
            before = said[start - 1] if start > 0 else ""
            after = said[start + len(words)] if start + len(words) < len(said) else ""
            if (before in _MODIFIERS and not words[0][:1].isdigit() and words[0] not in _MODIFIERS) or (
                after in ("x", "xx") and words[-1] in _SIZE_WORDS
            ):
                continue  # "small" inside "x small", "blue" inside "navy blue", "twin" inside "twin x large"
            if said[start : start + len(words)] == words:
                key = (len(words), start, value)
                best = key if best is None or key[:2] > best[:2] else best
    if best is not None:
        return best[2]
    for value in values:
        words = canonical_tokens(value)
        colour_word = words[0] in _COLOR_WORDS or (
            group.lower() in ("color", "colour") and words[0] not in _FILLER
        )
        if (
            len(words) == 2
            and colour_word
            and words[0] not in _SIZE_WORDS
            and not words[0][:1].isdigit()
            and words[0] in said
            and sum(canonical_tokens(v)[:1] == words[:1] for v in values) == 1
        ):
            return value
    for value in values:  # spelling slips ("flavour", "burgandy"): a close fuzzy match on as many words
        words = canonical_tokens(value)
        if (
            any(w.replace(".", "").isdigit() or w in _SIZE_WORDS or w in _UNIT_WORDS for w in words)
            or len(value) < 5
        ):
            continue
        for start in range(len(said) - len(words) + 1):
            if fuzz.ratio(" ".join(words), " ".join(said[start : start + len(words)])) >= FUZZY_OPTION_MATCH:
                return value
    return None


def wanted_options(request: Request, product: ProductSeen, values: set[str]) -> dict[str, str]:
    """Group -> the value to click on this product's page."""
    wanted = {}
    for group, group_values in option_groups(product.option_nodes, values).items():
        value = match_option(request, group_values, group)
        if value is not None:
            wanted[group] = value
    return wanted


def evidence(request: Request, product: ProductSeen) -> str:
    """What a product shows for the request: title, tabs read, and the option values the request names
    (matched one by one, so "x-large" is no evidence for "large")."""
    offered = [node for node in product.option_nodes if match_option(request, [node.lower()]) is not None]
    return " ".join([product.title, *offered, *product.tabs.values()])


def return_cost(state: State, product: ProductSeen | None) -> int:
    """Steps to reopen ``product`` from its results page and buy it: open, its options, buy now."""
    if product is None:
        return 0
    offered = [n for n in product.option_nodes if match_option(state.request, [n.lower()]) is not None]
    return 2 + len(offered)


def askable_words(state: State) -> set[str]:
    """Instruction words a product must show: option-like words (a colour, size or count asked for), and
    other words that some page has shown (words no page shows are synonyms or filler to this shop)."""
    seen_text = " ".join(state.titles_seen + [p.text() for p in state.products.values()])
    return set(covered_words(state.request, seen_text)) | set(state.request.option_words)


def product_score(state: State, product: ProductSeen) -> float:
    """How well a product fits, from what was seen of it (0 over the price cap): the share of the option-like
    words asked for that it offers comes first (a missing colour or size rules a product out), then the
    weighted share of the other askable words it shows."""
    cap, price = state.request.price_cap, product.price
    if cap is not None and price is not None and price > cap:
        return 0.0
    askable = askable_words(state)
    shown = set(covered_words(state.request, evidence(state.request, product))) & askable
    options = [w for w in askable if w in state.request.option_words]
    others = [w for w in askable if w not in state.request.option_words]
    weights = state.weights()
    option_share = sum(w in shown for w in options) / len(options) if options else 1.0
    other_share = (
        sum(weights[w] for w in others if w in shown) / sum(weights[w] for w in others) if others else 1.0
    )
    return (OPTION_WEIGHT * option_share + other_share) / (OPTION_WEIGHT + 1)


def missing_words(state: State, product: ProductSeen) -> list[str]:
    askable = askable_words(state)
    shown = set(covered_words(state.request, evidence(state.request, product)))
    return [w for w in state.request.words if w in askable and w not in shown]


# --- thoughts -----------------------------------------------------------------------------------------
def _combos(openers: tuple[str, ...], cores: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(f"{o} {c}".strip() for o, c in product(openers, cores))


#: decision kind -> thought templates (facts substituted); every kind has >= 20 distinct phrasings
THOUGHTS: dict[str, tuple[str, ...]] = {
    "search": _combos(
        (
            "The instruction says: {request}.",
            "Task: {request}.",
            "The request reads: {request}.",
            "Here is what's wanted: {request}.",
            "I'm asked: {request}.",
        ),
        (
            "I'll search with its key words{budget}.",
            "Let me start with a search for those words{budget}.",
            "A search on the instruction's words should surface it{budget}.",
            "First, a search using those terms{budget}.",
        ),
    ),
    "search_again": _combos(
        (
            "Those results did not show a good fit.",
            "Nothing there matched well enough.",
            "The last search came up short.",
            "I haven't found the right product yet.",
            "No listing there fit.",
        ),
        (
            "I'll search again with just the essential words: {query}.",
            "Let me try a shorter search: {query}.",
            "A narrower search might work better: {query}.",
            "Searching again for {query}.",
        ),
    ),
    "open": _combos(
        (
            "{asin} is {title} at {price}.",
            "Result {asin}, {title}, costs {price}.",
            "{title} ({asin}) is listed at {price}.",
            "Looking at {asin}: {title}, {price}.",
            "Of these results, {asin} ({title}, {price}) looks closest.",
        ),
        (
            "Its title mentions {matched}{within}, so I'll open it.",
            "It shows {matched}{within}; let me check it out.",
            "That title covers {matched}{within}. Opening it.",
            "It matches {matched}{within}, so it's worth a look.",
        ),
    ),
    # opening a new candidate after others were checked: the ids checked so far come first, so a model
    # that copies this thought carries them from turn to turn (older turns may be cut from its context)
    "open_next": _combos(
        (
            "Already checked: {checked}.",
            "Checked so far: {checked}.",
            "I've looked at {checked} already.",
            "Opened before: {checked}.",
            "Seen already: {checked}.",
        ),
        (
            "Next, {asin} is {title} at {price}.",
            "Next is {asin}, {title}, at {price}.",
            "Next candidate: {title} ({asin}), {price}.",
            "Now {asin}: {title}, {price}.",
        ),
    ),
    "open_best": _combos(
        (
            "Of the products I checked, {asin} ({title}) fit best.",
            "{asin}, {title}, was the best match I saw.",
            "I'm running short on steps, and {asin} ({title}) came closest.",
            "Comparing what I read, {title} ({asin}) is the strongest candidate.",
            "Nothing beat {asin} ({title}).",
        ),
        ("I'll go back to it.", "Let me reopen it and buy.", "Reopening it.", "Back to that one."),
    ),
    "next": _combos(
        (
            "None of these listings fits: {reason}.",
            "Nothing on this page works: {reason}.",
            "These results don't match: {reason}.",
            "I don't see a fit here: {reason}.",
            "This page has no good candidate: {reason}.",
        ),
        (
            "Let me see the next page.",
            "I'll check the next page.",
            "On to the next page.",
            "Maybe the next page has it.",
        ),
    ),
    "back_to_search": _combos(
        (
            "These results don't have what I need: {reason}.",
            "No listing here fits: {reason}.",
            "I've looked through these results without luck: {reason}.",
            "This search isn't working: {reason}.",
            "Nothing suitable so far: {reason}.",
        ),
        (
            "Back to the search page.",
            "I'll go back and search differently.",
            "Let me return to search.",
            "Time for a new search.",
        ),
    ),
    "read_features": _combos(
        (
            "The title {title} shows {matched} but not {missing}.",
            "{title} doesn't say anything about {missing}.",
            "I can't tell from the title whether it is {missing}.",
            "So far I see {matched}; {missing} is still open.",
            "Before buying I want to confirm {missing}.",
        ),
        (
            "Let me read the features.",
            "The feature list should tell me.",
            "I'll check the Features tab.",
            "Checking the features.",
        ),
    ),
    "read_description": _combos(
        (
            "The features still don't mention {missing}.",
            "No sign of {missing} in the features.",
            "I still can't confirm {missing}.",
            "The bullet points leave {missing} open.",
            "{missing} isn't confirmed yet.",
        ),
        (
            "Let me read the description.",
            "The description might say.",
            "I'll look at the Description tab.",
            "Checking the description next.",
        ),
    ),
    "return": _combos(
        (
            "This tab mentions {found}.",
            "Here I can see {found}.",
            "That confirms {found}.",
            "Noted: {found}.",
            "The text covers {found}.",
        ),
        (
            "Back to the product page.",
            "Returning to the item.",
            "Let me go back to the product.",
            "I'll go back to the listing.",
        ),
    ),
    "return_nothing": _combos(
        (
            "This tab adds nothing about {missing}.",
            "No mention of {missing} here.",
            "Nothing here on {missing}.",
            "This text doesn't cover {missing}.",
            "Still nothing about {missing}.",
        ),
        (
            "Back to the product page.",
            "Returning to the item.",
            "Let me go back to the product.",
            "I'll go back to the listing.",
        ),
    ),
    # leaving a product: the ids checked so far (this one included) close the thought, in one fixed
    # wording, so the next candidate's thought ("Already checked: ...") copies them from the latest turn
    "reject": _combos(
        (
            "{asin} doesn't show {missing}.",
            "{title} lacks {missing} as far as I can see.",
            "This one falls short on {missing}.",
            "I can't find {missing} for {asin}.",
            "{asin} is missing {missing}.",
        ),
        (
            "Let me go back to the results and try another. Checked so far: {checked}.",
            "Back to the results for the next candidate. Checked so far: {checked}.",
            "I'll look at another result. Checked so far: {checked}.",
            "Returning to the results. Checked so far: {checked}.",
        ),
    ),
    "over_budget": _combos(
        (
            "{asin} costs {price}, more than the ${cap} limit.",
            "At {price}, {asin} is over the ${cap} budget.",
            "The price {price} exceeds ${cap}.",
            "{price} is above what I can spend (${cap}).",
            "This is too expensive: {price} against a ${cap} cap.",
        ),
        (
            "Back to the results. Checked so far: {checked}.",
            "Let me look at the other results. Checked so far: {checked}.",
            "I'll try another listing. Checked so far: {checked}.",
            "Returning to the results. Checked so far: {checked}.",
        ),
    ),
    "option": _combos(
        (
            "The instruction asks for {said}, and this page offers {value}.",
            "{value} is the option that matches {said}.",
            "I need {said}, which here is {value}.",
            "This product comes in {value}, matching {said}.",
            "For {said} the right choice is {value}.",
        ),
        # what is left to pick after this one, in one fixed wording: the page does not change when an
        # option is clicked, so the latest thought says what the next turn picks (or that Buy Now is next)
        ("Selecting it. {left}", "I'll click it. {left}", "Let me choose it. {left}",
         "Picking that option. {left}"),
    ),
    "buy": _combos(
        (
            "{title} shows {matched}{within}.",
            "Everything checks out for {asin}: {matched}{within}.",
            "This product has {matched}{within}.",
            "{asin} matches what I need ({matched}){within}.",
            "It fits: {matched}{within}.",
        ),
        (
            "{options_done} Buying it.",
            "{options_done} Time to buy.",
            "{options_done} I'll click Buy Now.",
            "{options_done} Let me purchase it.",
        ),
    ),
    "buy_best": _combos(
        (
            "No product showed everything; {asin} covers {matched}, the most of what I saw.",
            "{title} is missing {missing}, but it's the closest I found.",
            "I'm out of steps to keep looking, and {asin} ({title}) is the best so far.",
            "Nothing better turned up than {asin}, which covers {matched}.",
            "{asin} doesn't confirm {missing}, yet it beats the rest.",
        ),
        (
            "{options_done} I'll buy it.",
            "{options_done} Buying it.",
            "{options_done} Let me purchase it.",
            "{options_done} Clicking Buy Now.",
        ),
    ),
}


def _phrases(request: Request, words: list[str], limit: int = 4) -> str:
    """Instruction words named as the phrases they stand in ("box spring and storage space")."""
    runs: dict[int, list[str]] = {}
    for word in words:
        runs.setdefault(request.phrase_of.get(word, -1), []).append(word)
    phrases = [" ".join(run) for _, run in sorted(runs.items()) if not set(run) <= _UNIT_WORDS][:limit]
    if not phrases:
        return "nothing specific"
    return phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " and " + phrases[-1]


# --- the policy --------------------------------------------------------------------------------------
@dataclass
class Decision:
    kind: str
    action: str
    facts: dict[str, Any]


class WebShopExpert(Expert):
    """Honest WebShop expert: search, judge listings, check the product, choose options, buy."""

    env_name = "webshop"
    description = "honest WebShop teacher (reads titles, prices, options and tabs; never the hidden goal)"

    def __init__(self, max_steps: int = DEFAULT_MAX_STEPS, **kwargs: Any) -> None:
        super().__init__()
        unknown = sorted(kwargs)
        if unknown:
            raise TypeError(f"WebShopExpert takes only max_steps; got {unknown}")
        if max_steps < 3:
            raise ValueError(f"max_steps must be >= 3 (search, open, buy); got {max_steps}")
        self.max_steps = int(max_steps)

    def step(self, episode: Episode, observation: str, info: dict[str, Any]) -> AgentStep:
        return self._turn(episode, observation, info)

    def relabel(self, episode: Episode, info: dict[str, Any]) -> AgentStep:
        """The turn this expert would play after ``episode`` (any history, e.g. a student's); honest rules,
        no privileged info needed."""
        if not info:
            raise ValueError("WebShopExpert.relabel needs the latest info (task and admissible_actions)")
        observation = episode.turns[-1].observation if episode.turns else episode.first_observation
        if observation is None:
            raise ValueError("WebShopExpert.relabel needs an episode with its observations")
        return self._turn(episode, observation, info)

    def _turn(self, episode: Episode, observation: str, info: dict[str, Any]) -> AgentStep:
        task = str(info.get("task") or episode.task)
        if not task:
            raise ValueError("WebShopExpert needs info['task'] (the instruction)")
        admissible = info.get("admissible_actions")
        if admissible is None:
            raise ValueError("WebShopExpert needs info['admissible_actions'] (the clickables of the page)")
        protocol = info.get("protocol") or {}
        if protocol.get("observation_mode", "text") != "text":
            raise ValueError(
                f"WebShopExpert reads text-mode pages; the env uses observation_mode="
                f"{protocol['observation_mode']!r} (make the env with observation_mode='text')"
            )
        max_steps = int(protocol.get("max_steps", self.max_steps))
        observations = [episode.first_observation or observation] + [
            t.observation or "" for t in episode.turns
        ]
        observations[-1] = observation
        actions = [t.action for t in episode.turns]
        state = rebuild(task, observations, actions, max_steps)
        decision = decide(state, observation, list(admissible))
        thought = _thought(decision, str(info.get("task_id", task)), len(actions))
        return AgentStep(thought=thought, action=decision.action, text=format_turn(thought, decision.action))


_QUOTED_FACTS = ("title", "value")  # shown verbatim in thoughts, in double quotes


def _thought(decision: Decision, task_id: str, step: int) -> str:
    templates = THOUGHTS[decision.kind]
    pick = zlib.crc32(f"{task_id}:{step}:{decision.kind}".encode()) % len(templates)
    facts = {k: f'"{v}"' if k in _QUOTED_FACTS else v for k, v in decision.facts.items()}
    return " ".join(templates[pick].format(**facts).split())


def _within(state: State, price: float | None) -> str:
    cap = state.request.price_cap
    if cap is None or price is None:
        return ""
    return f", and at ${price:g} it is under ${cap:g}"


def search_action(query: str) -> str:
    """``search[ <query>]``: the space after ``[`` makes the first word the token it is in the instruction
    (`` coffee``; right after ``[`` it would be ``coffee``, another token); the env strips it."""
    return f"search[ {query}]"


def decide(state: State, observation: str, admissible: list[str]) -> Decision:
    """The next action for ``state`` on the page ``observation`` shows."""
    kind = page_kind(observation)
    request = state.request
    cap_text = f"{request.price_cap:g}" if request.price_cap is not None else "no"
    if "search[<your query>]" in admissible:
        if state.searches == 0 or state.searches >= MAX_SEARCHES:
            budget = f", then check prices against ${cap_text}" if request.price_cap is not None else ""
            facts = {"request": request.text, "budget": budget}
            return Decision("search", search_action(request.query), facts)
        return Decision("search_again", search_action(request.short_query), {"query": request.short_query})
    if "click[buy now]" in admissible and state.current is not None:
        return _on_item(state, observation, admissible, cap_text)
    if kind == "tab" or (
        "click[< prev]" in admissible
        and "click[buy now]" not in admissible
        and "click[next >]" not in admissible
        and state.current is not None
    ):
        return _on_tab(state, observation)
    if kind == "results" or "click[next >]" in admissible:
        return _on_results(state, admissible)
    if "click[back to search]" in admissible:
        return Decision(
            "back_to_search", "click[back to search]", {"reason": "this page is not one I can use"}
        )
    return Decision(
        "back_to_search",
        admissible[0] if admissible else "click[back to search]",
        {"reason": "nothing here helps"},
    )


def _best_seen(state: State) -> ProductSeen | None:
    scored = [(product_score(state, p), -i, p) for i, p in enumerate(state.products.values())]
    scored = [s for s in scored if s[0] > 0]
    return max(scored, key=lambda s: s[:2])[2] if scored else None


def _on_results(state: State, admissible: list[str]) -> Decision:
    request = state.request
    shown = {_label(a) for a in admissible if _ASIN.match(_label(a))}  # ids as the page shows them
    listings = [li for li in state.results if li.asin in shown]
    cap = request.price_cap
    fitting = [li for li in listings if cap is None or li.price is None or li.price <= cap]
    fresh = [li for li in fitting if li.asin not in state.products]
    best = _best_seen(state)
    opened = len(state.products)
    # below this many steps left, reopen the best product seen rather than a new one
    reserve = max(EXPLORE_STEPS - 1, 1 + return_cost(state, best))
    weights = state.weights()
    ranked = sorted(fresh, key=lambda li: (-title_score(request, li.title, weights), li.rank))
    promising = [li for li in ranked if title_score(request, li.title, weights) > 0]
    settle = best is not None and (opened >= MAX_CANDIDATES or not promising or state.remaining <= reserve)
    if settle and best.asin in shown:
        return Decision("open_best", f"click[{best.asin}]", {"asin": best.asin, "title": best.title})
    if promising and state.remaining >= 3:
        top = promising[0]
        if state.products:
            checked = ", ".join(state.products)
            facts = {"asin": top.asin, "title": top.title, "price": top.price_text, "checked": checked}
            return Decision("open_next", f"click[{top.asin}]", facts)
        matched = covered_words(request, top.title)
        return Decision(
            "open",
            f"click[{top.asin}]",
            {
                "asin": top.asin,
                "title": top.title,
                "price": top.price_text,
                "matched": _phrases(request, matched),
                "within": _within(state, top.price),
            },
        )
    over = len(listings) - len(fitting)
    reason = (
        f"{over} of {len(listings)} are over ${cap:g} and the rest don't match the key words"
        if cap is not None and over
        else "no title matches the key words"
        if listings
        else "there are no results"
    )
    if (
        "click[next >]" in admissible
        and listings
        and state.pages_this_search < MAX_PAGES_PER_SEARCH
        and state.remaining > 4
    ):
        return Decision("next", "click[next >]", {"reason": reason})
    if state.searches < MAX_SEARCHES and state.remaining > 4:
        return Decision("back_to_search", "click[back to search]", {"reason": reason})
    fallback = (fitting or listings)[:1]
    if fallback:
        top = fallback[0]
        return Decision(
            "open",
            f"click[{top.asin}]",
            {
                "asin": top.asin,
                "title": top.title,
                "price": top.price_text,
                "matched": _phrases(request, covered_words(request, top.title)),
                "within": _within(state, top.price),
            },
        )
    return Decision("back_to_search", "click[back to search]", {"reason": reason})


def _on_tab(state: State, observation: str) -> Decision:
    product = state.products[state.current]
    text = _tab_text(observation)
    found = covered_words(state.request, text)
    on_page = set(covered_words(state.request, product.title + " " + " ".join(product.option_nodes)))
    new = [w for w in found if w not in on_page]  # what this tab adds to the item page
    if found:
        return Decision("return", "click[< prev]", {"found": _phrases(state.request, new or found)})
    return Decision(
        "return_nothing",
        "click[< prev]",
        {"missing": _phrases(state.request, missing_words(state, product) or state.request.words)},
    )


def _on_item(state: State, observation: str, admissible: list[str], cap_text: str) -> Decision:
    request = state.request
    product = state.products[state.current]
    values = {_label(a) for a in admissible if _label(a) not in _NAVIGATION}
    wanted = wanted_options(request, product, values)
    chosen = state.chosen.get(product.asin, [])
    to_click = [v for v in wanted.values() if v not in chosen]
    missing = missing_words(state, product)
    best = _best_seen(state)
    finish_cost = len(to_click) + 1
    over_cap = (
        request.price_cap is not None and product.price is not None and product.price > request.price_cap
    )
    complete = not missing and not over_cap
    can_go_back = "click[< prev]" in admissible
    if over_cap and can_go_back and state.remaining > 3:
        return Decision(
            "over_budget",
            "click[< prev]",
            {"asin": product.asin, "price": product.price_text, "cap": cap_text,
             "checked": ", ".join(state.products)},
        )
    lacks_option = [w for w in missing if w in request.option_words]
    if not complete and not over_cap:
        for tab, kind, spare in (
            ()
            if lacks_option
            else (("features", "read_features", 0), ("description", "read_description", DESCRIPTION_SPARE))
        ):
            if (
                tab not in product.tabs
                and f"click[{tab}]" in admissible
                and state.remaining - 2 > finish_cost + spare
            ):
                return Decision(
                    kind,
                    f"click[{tab}]",
                    {
                        "title": product.title,
                        "matched": _phrases(request, covered_words(request, evidence(request, product))),
                        "missing": _phrases(request, missing),
                    },
                )
        explore = len(state.products) < MAX_CANDIDATES and state.remaining - 1 >= EXPLORE_STEPS
        better_elsewhere = (
            best is not None
            and best.asin != product.asin
            and state.remaining >= 5
            and any(li.asin == best.asin for li in state.results)
        )
        if can_go_back and (explore or better_elsewhere):
            return Decision(
                "reject",
                "click[< prev]",
                {"asin": product.asin, "title": product.title, "missing": _phrases(request, missing),
                 "checked": ", ".join(state.products)},
            )
    if to_click and state.remaining > 1:
        value = to_click[0]
        said = _said_for(request, value)
        rest = to_click[1:]
        left = f"Left to pick after it: {', '.join(rest)}." if rest else "After it, only Buy Now is left."
        return Decision("option", f"click[{value}]", {"value": value, "said": said, "left": left})
    options_done = (
        f"The options ({', '.join(wanted.values())}) are selected." if wanted else "No option needs choosing."
    )
    matched = _phrases(request, covered_words(request, evidence(request, product)))
    if complete:
        return Decision(
            "buy",
            "click[buy now]",
            {
                "asin": product.asin,
                "title": product.title,
                "matched": matched,
                "within": _within(state, product.price),
                "options_done": options_done,
            },
        )
    return Decision(
        "buy_best",
        "click[buy now]",
        {
            "asin": product.asin,
            "title": product.title,
            "matched": matched,
            "missing": _phrases(request, missing),
            "options_done": options_done,
        },
    )


def _said_for(request: Request, value: str) -> str:
    """The instruction's own words for an option value (quoted), for the thought."""
    raw = request.text.lower()
    for candidate in (value, value.replace("grey", "gray")):
        if candidate in raw:
            return f'"{candidate}"'
    value_words = set(canonical_tokens(value))
    words = re.findall(r"[\w.'-]+", raw)
    spans = [w for w in words if set(canonical_tokens(w)) & value_words and w not in _FILLER]
    return f'"{" ".join(spans[:3])}"' if spans else f"{value}"
