"""Upstream's purchase reward (web_agent_site/engine/goal.py), rule for rule:

    reward = r_type * (attribute matches + option matches + [price <= price_upper])
                    / (|goal attributes| + |goal options| + 1)

- an attribute matches when some product attribute has fuzzy token-set ratio > 85 with it, or it is a
  substring of the lowercased title, bullet points or description;
- an option matches when some purchased option value has token-set ratio > 85 with it, both first
  mapped to the first colour name they contain (upstream's ``normalize_color``);
- ``r_type`` is 1 when the query matches, or >= 2 category-path levels match, or the title score
  (share of the goal title's nouns found among the purchased title's nouns) is > 0.2; else 0.5; then
  0.1 when the title score is < 0.1 and 0 when it is 0.

Fuzzy scores are ``thefuzz``'s: rapidfuzz's token_set_ratio on default-processed strings (lowercase,
non-alphanumerics stripped), rounded to an integer. Title nouns come from spaCy ``en_core_web_sm``
(NOUN / PROPN) when that model is installed; without it (the default here: no model downloads) every
alphabetic word of two or more letters that is not a stopword counts. The fallback keeps adjectives and
verbs, so title scores between different products are somewhat lower than upstream's; a purchase of
the goal's own product still scores 1.
"""
from __future__ import annotations

import importlib.util
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from rapidfuzz import fuzz
from rapidfuzz.utils import default_process

FUZZY_THRESHOLD = 85
COLOR_SET = (
    "alabaster", "apricot", "aqua", "ash", "asphalt", "azure", "banana", "beige", "black", "blue", "blush",
    "bordeaux", "bronze", "brown", "burgundy", "camel", "camo", "caramel", "champagne", "charcoal", "cheetah",
    "chestnut", "chocolate", "christmas", "coffee", "cognac", "copper", "coral", "cranberry", "cream",
    "crystal", "dark", "denim", "eggplant", "elephant", "espresso", "fuchsia", "gold", "granite", "grape",
    "graphite", "grass", "gray", "green", "grey", "heather", "indigo", "ivory", "ivy", "khaki", "lavender",
    "lemon", "leopard", "light", "lilac", "lime", "magenta", "maroon", "mauve", "merlot", "midnight", "mint",
    "mocha", "multicolor", "mushroom", "mustard", "natural", "navy", "nude", "olive", "orange", "peach",
    "pewter", "pink", "plum", "purple", "rainbow", "red", "rose", "royal", "rust", "sand", "sapphire",
    "seashell", "silver", "skull", "slate", "steel", "stone", "stonewash", "sunflower", "tan", "taupe",
    "teal", "tiger", "turquoise", "violet", "walnut", "wheat", "white", "wine", "yellow",
)  # upstream's list, in upstream's order (the first hit wins)
_STOPWORDS = frozenset((
    "a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "in", "into", "is", "it", "of", "on",
    "or", "the", "this", "that", "to", "with", "without", "your", "you",
))


def fuzzy_score(a: str, b: str) -> int:
    """thefuzz's ``token_set_ratio``: processed strings, rounded to an int in [0, 100]."""
    return round(fuzz.token_set_ratio(a, b, processor=default_process))


def normalize_color(value: str) -> str:
    """The first colour of upstream's list contained in ``value``, else ``value`` unchanged."""
    for color in COLOR_SET:
        if color in value:
            return color
    return value


@lru_cache(maxsize=1)
def _spacy_model() -> Any | None:
    if importlib.util.find_spec("en_core_web_sm") is None:
        return None  # no model installed: skip importing spaCy at all
    try:
        import spacy

        return spacy.load("en_core_web_sm")
    except (ImportError, OSError):  # spaCy or its model unusable: the documented fallback
        return None


@lru_cache(maxsize=4096)
def title_nouns(title: str) -> tuple[str, ...]:
    """Lowercased nouns of a title (spaCy when available, else content words; see the module doc)."""
    nlp = _spacy_model()
    if nlp is not None:
        return tuple(t.text.lower() for t in nlp(title) if t.pos_ in ("PNOUN", "NOUN", "PROPN"))
    words = (w.strip(".,;:!?()[]\"'") for w in title.lower().split())
    return tuple(w for w in words if len(w) >= 2 and w.isalpha() and w not in _STOPWORDS)


def type_reward(purchased: dict[str, Any], goal: dict[str, Any]) -> dict[str, Any]:
    """``r_type`` and what it came from: ``query_match``, ``category_match``, ``title_score``."""
    query_match = purchased["query"] == goal["query"]
    purchased_path = {x.strip() for x in purchased["product_category"].split("›")}
    goal_path = {x.strip() for x in goal["product_category"].split("›")}
    category_match = len(purchased_path & goal_path) >= 2
    desired = title_nouns(goal["name"])
    bought = title_nouns(purchased["name"])
    title_score = len(set(bought) & set(desired)) / len(desired) if desired else 0.2
    r_type = 1.0 if (query_match or category_match or title_score > 0.2) else 0.5
    if title_score < 0.1:
        r_type = 0.1
    if title_score == 0.0:
        r_type = 0.0
    return {
        "r_type": r_type,
        "query_match": query_match,
        "category_match": category_match,
        "title_score": title_score,
    }


def attribute_reward(purchased: dict[str, Any], goal_attributes: list[str]) -> tuple[float, int]:
    """(share of goal attributes matched, number matched)."""
    text_fields = None
    matches = 0
    for goal_attr in goal_attributes:
        if any(fuzzy_score(p, goal_attr) > FUZZY_THRESHOLD for p in purchased["Attributes"]):
            matches += 1
            continue
        if text_fields is None:
            text_fields = (purchased["Title"].lower(), " ".join(purchased["BulletPoints"]).lower(),
                           purchased["Description"].lower())
        if any(goal_attr in field for field in text_fields):
            matches += 1
    return (matches / len(goal_attributes) if goal_attributes else 0.0), matches


def option_reward(purchased_options: Iterable[str], goal_options: Iterable[str]) -> tuple[float | None, int]:
    """(share of goal options matched or None when the goal has none, number matched)."""
    bought = [normalize_color(o) for o in purchased_options]
    wanted = [normalize_color(o) for o in goal_options]
    matches = sum(any(fuzzy_score(p, g) > FUZZY_THRESHOLD for p in bought) for g in wanted)
    return (matches / len(wanted) if wanted else None), matches


def get_reward(purchased: dict[str, Any], goal: dict[str, Any], price: float, options: dict[str, str]
               ) -> tuple[float, dict[str, Any]]:
    """The purchase's reward and every input and sub-score behind it (upstream's verbose info, and more)."""
    type_info = type_reward(purchased, goal)
    goal_options = (
        list(goal["goal_options"].values())
        if isinstance(goal["goal_options"], dict)
        else list(goal["goal_options"])
    )
    r_price = (price <= goal["price_upper"]) if goal["price_upper"] > 0 else None
    r_att, n_att = attribute_reward(purchased, goal["attributes"])
    r_option, n_opt = option_reward(list(options.values()), goal_options)
    denominator = len(goal["attributes"]) + len(goal_options) + 1
    reward = (n_att + n_opt + int(bool(r_price))) / denominator * type_info["r_type"]
    details: dict[str, Any] = {
        "reward": reward,
        **type_info,
        "r_att": r_att,
        "w_att": len(goal["attributes"]) / denominator,
        "num_attr_matches": n_att,
        "num_option_matches": n_opt,
        "purchased_asin": purchased["asin"],
        "purchased_title": purchased["name"],
        "purchased_options": dict(options),
        "purchased_price": price,
        "purchased_attributes": list(purchased["Attributes"]),
        "goal_asin": goal.get("asin"),
        "goal_attributes": list(goal["attributes"]),
        "goal_options": goal_options,
        "price_upper": goal["price_upper"],
    }
    if r_option is not None:
        details.update(r_option=r_option, w_option=len(goal_options) / denominator)
    if r_price is not None:
        details.update(r_price=bool(r_price), w_price=1 / denominator)
    return reward, details
