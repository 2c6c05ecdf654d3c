"""WebShop data: upstream's three files, their loader, the goals and the splits.

Upstream's formats (princeton-nlp/WebShop ``data/``), read the same way for the bundled catalog and
a real download:

- ``items_shuffle*.json``: a list of products (``items_shuffle.json``: the full catalog;
  ``items_shuffle_1000.json``: upstream's 1000-product sample, picked with ``num_products=1000``),
  each with ``asin, name, full_description,
  small_description (str | list), pricing ("$12.99" or "$5.99 - $9.99"), images, product_category
  ("A › B › C"), query, category, customization_options ({name: [{"value", "image"}]} | null)``;
  the bundled file adds ``reviews`` and ``average_rating`` (upstream keeps those in a reviews file its
  download does not include, so its pages show "Rating: N.A." and no reviews; the env does the same
  unless asked to show the raw file's).
- ``items_ins_v2*.json``: ``{asin: {"attributes": [...], "instruction", "instruction_attributes"}}``.
- ``items_human_ins.json``: ``{asin: [{"instruction", "instruction_attributes", "instruction_options"}]}``.

Goals are upstream's *human* goals (one per instruction with attributes), the price cap drawn the
upstream way (two of the first four $10 steps above the price, the larger one), then shuffled with
upstream's seed 233. Splits like upstream: test = goals 0-499, eval = 500-1499, train = the rest.
Our RNG is a seeded ``random.Random``, so goal order and caps are reproducible (upstream's use the
global RNG and differ between runs).
"""

from __future__ import annotations

import json
import os
import random
import re
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from envs.cache import cache_dir
from envs.json_files import json_type, read_json

BUNDLE_VERSION = "v3"  # v3: 180 product types, varied listings and instructions (v2: 40 templated types)
BUNDLE_SEED = 0
GOAL_SHUFFLE_SEED = 233  # upstream's random.seed(233) before shuffling the goals
PRICE_STEPS = [10.0 * i for i in range(1, 100)]  # upstream's PRICE_RANGE
NO_PRICE_CAP = 1_000_000.0
SPLITS: dict[str, tuple[int, int | None]] = {"test": (0, 500), "eval": (500, 1500), "train": (1500, None)}
PRODUCT_FIELDS = (
    "asin",
    "name",
    "full_description",
    "small_description",
    "product_category",
    "query",
    "category",
)
INSTRUCTION_FIELDS = ("instruction", "instruction_attributes", "instruction_options")


@dataclass
class Catalog:
    """Products (upstream's processed form: ``Title, Description, BulletPoints, Price, options, Attributes``
    ...), their sampled prices, and the shuffled goals."""

    products: list[dict[str, Any]]
    by_asin: dict[str, dict[str, Any]]
    prices: dict[str, float]
    goals: list[dict[str, Any]]
    source: Path
    files: dict[str, Path] = field(default_factory=dict)

    def split_ids(self, split: str) -> list[int]:
        """Goal indices of ``split`` ("test", "eval" or "train")."""
        if split not in SPLITS:
            raise ValueError(f"unknown WebShop split {split!r}; expected one of {sorted(SPLITS)}")
        start, end = SPLITS[split]
        return list(range(len(self.goals)))[start:end]


# --- the bundled catalog ----------------------------------------------------------------------------
def bundled_dir() -> Path:
    """Where the bundled catalog lives in the cache."""
    return cache_dir("webshop", f"bundled-{BUNDLE_VERSION}")


def ensure_bundled() -> Path:
    """Write the generated catalog in upstream's formats into the cache (skipped when present) and
    build its search index; returns the folder."""
    from envs.webshop.catalog import generate
    from envs.webshop.search import SearchIndex

    folder = bundled_dir()
    stamp = folder / "COMPLETE"
    if not stamp.exists():
        products, attributes, human = generate(seed=BUNDLE_SEED)
        for name, payload in (
            ("items_shuffle.json", products),
            ("items_ins_v2.json", attributes),
            ("items_human_ins.json", human),
        ):
            tmp = folder / f".{name}.tmp"
            tmp.write_text(json.dumps(payload, ensure_ascii=False))
            tmp.replace(folder / name)
        stamp.write_text(time.strftime("%Y-%m-%d %H:%M:%S"))
    SearchIndex.for_catalog(load_catalog(folder))
    return folder


def resolve_data(data: str | os.PathLike | None) -> Path:
    """The data folder: ``data``, else ``$WEBSHOP_DATA``, else the bundled catalog (built if missing)."""
    chosen = data if data is not None else os.environ.get("WEBSHOP_DATA") or None
    return ensure_bundled() if chosen is None else Path(chosen)


# --- loading upstream files --------------------------------------------------------------------------
def _pick(folder: Path, pattern: str, prefer_suffix: str = "") -> Path:
    matches = sorted(folder.glob(pattern))  # "items_shuffle.json" sorts before "items_shuffle_1000.json"
    if not matches:
        raise FileNotFoundError(
            f"{folder}: no file matching {pattern!r} (WebShop data needs items_shuffle*.json, "
            "items_ins_v2*.json and items_human_ins.json)"
        )
    preferred = [m for m in matches if m.stem.endswith(prefer_suffix)] if prefer_suffix else []
    return (preferred or matches)[0]


def _read_json(path: Path, kind: type) -> Any:
    top = "list" if kind is list else "object"
    payload = read_json(path, f"a JSON {top} at the top level (WebShop's {path.name} format)")
    if not isinstance(payload, kind):
        raise ValueError(f"{path}: expected a JSON {top} at the top level, got {json_type(payload)}")
    return payload


def _bad(where: str, field_name: str, expected: str, value: Any) -> ValueError:
    return ValueError(f"{where}: field {field_name!r} must be {expected}, got {json_type(value)}")


def _text(raw: dict[str, Any], key: str, where: str, optional: bool = False) -> str:
    """Field ``key`` of ``raw``: a string (``optional``: or null/missing, read as "")."""
    value = raw.get(key)
    if isinstance(value, str):
        return value
    if optional and value is None:
        return ""
    raise _bad(where, key, "a string" + (" or null" if optional else ""), value)


def _texts(value: Any, where: str, field_name: str) -> list[str]:
    """A JSON array of strings (null: empty)."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _bad(where, field_name, "an array of strings", value)
    return list(value)


def _scalar(value: Any, where: str, field_name: str) -> str | int | float:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise _bad(where, field_name, "a string or a number", value)
    return value


def _parse_pricing(pricing: Any, where: str) -> list[float]:
    """Upstream's rule: every "$x" amount in the string, the first two kept; none -> [100.0]."""
    if not pricing:
        return [100.0]
    if not isinstance(pricing, str):
        raise _bad(where, "pricing", "a string like '$12.99'", pricing)
    amounts = [re.sub(r"[^\d.]", "", part) for part in pricing.split("$")[1:]]
    try:
        values = [float(a) for a in amounts if a]
    except ValueError as err:
        raise ValueError(f"{where}: field 'pricing' has an unreadable amount in {pricing!r}") from err
    return values[:2] or [100.0]


def _options(raw: Any, where: str) -> dict[str, list[str]]:
    """``customization_options``: ``{name: [{"value", "image"}, ...] | null}`` or null."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        expected = "an object {name: [{'value': ..., 'image': ...}]} or null"
        raise _bad(where, "customization_options", expected, raw)
    options: dict[str, list[str]] = {}
    for name, contents in raw.items():
        if contents is None:
            continue
        if not isinstance(contents, list) or not all(
            isinstance(c, dict) and isinstance(c.get("value"), (str, int, float)) for c in contents
        ):
            raise ValueError(
                f"{where}: customization_options[{name!r}] must be an array of "
                f"{{'value': <string or number>, 'image': ...}} objects, got {json_type(contents)}"
            )
        options[name.lower()] = [str(c["value"]).strip().replace("/", " | ").lower() for c in contents]
    return options


def _reviews(raw: Any, where: str) -> list[dict[str, Any]]:
    """The bundled file's ``reviews``: ``[{"title", "score" | "stars", "body" | "review"}]`` or null."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise _bad(where, "reviews", "an array of review objects or null", raw)
    reviews = []
    for n, review in enumerate(raw):
        at = f"{where} review {n}"
        if not isinstance(review, dict):
            raise ValueError(
                f"{at}: expected an object {{'title', 'score', 'body'}}, got {json_type(review)}"
            )
        score = review.get("score", review.get("stars", 0))
        reviews.append({
            "title": _text(review, "title", at, optional=True),
            "score": _scalar(score, at, "score"),
            "body": _text(review, "body" if "body" in review else "review", at, optional=True),
        })
    return reviews


def _product_attributes(attributes: dict[str, Any], asin: str, path: Path) -> list[str]:
    """``items_ins_v2``'s attributes of ``asin`` (none: upstream's ``["DUMMY_ATTR"]``)."""
    entry = attributes.get(asin, {})
    if not isinstance(entry, dict):
        raise ValueError(
            f"{path}: entry {asin!r} must be an object {{'attributes': [...], ...}}, got {json_type(entry)}"
        )
    return _texts(entry.get("attributes"), f"{path} (entry {asin!r})", "attributes") or ["DUMMY_ATTR"]


def _process_product(
    raw: dict[str, Any], where: str, attributes: dict[str, Any], ins_path: Path
) -> dict[str, Any]:
    """Upstream's load_products() processing of one raw record, each field checked for its JSON type."""
    missing = [f for f in PRODUCT_FIELDS if f not in raw]
    if missing:
        raise ValueError(f"{where}: product is missing field(s) {missing} (asin {raw.get('asin')!r})")
    asin = raw["asin"]
    name = _text(raw, "name", where)
    pricing = _parse_pricing(raw.get("pricing"), where)
    price_tag = f"${pricing[0]}" if len(pricing) == 1 else f"${pricing[0]} to ${pricing[1]}"
    bullets = raw["small_description"]
    if isinstance(bullets, str) or bullets is None:
        bullets = [bullets or ""]
    elif not isinstance(bullets, list) or not all(isinstance(b, str) for b in bullets):
        raise _bad(where, "small_description", "a string or an array of strings", bullets)
    images = _texts(raw.get("images"), where, "images") or [""]
    rating = raw.get("average_rating", "N.A.")
    return {
        "asin": asin,
        "name": name,
        "Title": name,
        "Description": _text(raw, "full_description", where, optional=True),
        "BulletPoints": list(bullets),
        "pricing": pricing,
        "Price": price_tag,
        "options": _options(raw.get("customization_options"), where),
        "Attributes": _product_attributes(attributes, asin, ins_path),
        "category": _text(raw, "category", where),
        "query": _text(raw, "query", where).lower().strip(),
        "product_category": _text(raw, "product_category", where),
        "Reviews": _reviews(raw.get("reviews"), where),
        "Rating": "N.A." if rating is None else _scalar(rating, where, "average_rating"),
        "MainImage": images[0],
    }


def _instruction(ins: Any, where: str) -> dict[str, Any]:
    """One ``items_human_ins`` instruction, checked: ``instruction`` a string, ``instruction_attributes`` an
    array of strings, ``instruction_options`` an array of strings or an object of strings."""
    if not isinstance(ins, dict):
        raise ValueError(f"{where}: expected an object with {list(INSTRUCTION_FIELDS)}, got {json_type(ins)}")
    missing = [f for f in INSTRUCTION_FIELDS if f not in ins]
    if missing:
        raise ValueError(f"{where}: missing field(s) {missing}")
    options = ins["instruction_options"]
    if isinstance(options, dict):
        if not all(isinstance(v, str) for v in options.values()):
            raise _bad(where, "instruction_options", "an array of strings or an object of strings", options)
        options = dict(options)
    else:
        options = _texts(options, where, "instruction_options")
    return {
        "instruction": _text(ins, "instruction", where),
        "instruction_attributes": _texts(ins["instruction_attributes"], where, "instruction_attributes"),
        "instruction_options": options,
    }


def _human_goals(
    products: list[dict[str, Any]],
    prices: dict[str, float],
    human: dict[str, Any],
    path: Path,
    rng: random.Random,
) -> list[dict[str, Any]]:
    goals = []
    for product in products:
        instructions = human.get(product["asin"], [])
        if not isinstance(instructions, list):
            raise ValueError(
                f"{path}: entry {product['asin']!r} must be an array of instruction objects, "
                f"got {json_type(instructions)}"
            )
        for i, raw in enumerate(instructions):
            ins = _instruction(raw, f"{path} (instruction {i} of {product['asin']!r})")
            if not ins["instruction_attributes"]:
                continue  # upstream skips goals without attributes
            steps = [p for p in PRICE_STEPS if p > prices[product["asin"]]][:4]
            if len(steps) >= 2:
                price_upper = sorted(rng.sample(steps, 2))[1]
                price_text = f", and price lower than {price_upper:.2f} dollars"
            else:
                price_upper, price_text = NO_PRICE_CAP, ""
            goals.append(
                {
                    "asin": product["asin"],
                    "category": product["category"],
                    "query": product["query"],
                    "name": product["name"],
                    "product_category": product["product_category"],
                    "instruction_text": ins["instruction"].strip(".") + price_text,
                    "attributes": ins["instruction_attributes"],
                    "price_upper": price_upper,
                    "goal_options": ins["instruction_options"],
                    "weight": 1,
                }
            )
    return goals


def load_catalog(folder: str | os.PathLike, num_products: int | None = None) -> Catalog:
    """Load upstream-format WebShop files from ``folder`` (bundled or real); errors name the file and field.

    ``num_products`` as upstream's: None reads the full ``items_shuffle.json`` (else the only
    ``items_shuffle*.json`` there); 1000 prefers ``items_shuffle_1000.json`` (+ ``items_ins_v2_1000.json``);
    any number keeps the first ``num_products`` products of the file read (upstream's ``products[:n]``).
    """
    if num_products is not None and (not isinstance(num_products, int) or num_products < 1):
        raise ValueError(f"num_products must be a positive int or None, got {num_products!r}")
    return _load_catalog_cached(str(Path(folder).resolve()), num_products)


@lru_cache(maxsize=4)
def _load_catalog_cached(folder_name: str, num_products: int | None) -> Catalog:
    folder = Path(folder_name)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"{folder}: WebShop data folder not found (expected a folder holding "
            "items_shuffle*.json, items_ins_v2*.json, items_human_ins.json)"
        )
    sample = folder / f"items_shuffle_{num_products}.json"
    shuffle_path = sample if sample.exists() else _pick(folder, "items_shuffle*.json")
    suffix = shuffle_path.stem[len("items_shuffle") :]
    ins_path = _pick(folder, "items_ins_v2*.json", prefer_suffix=suffix)
    human_path = _pick(folder, "items_human_ins*.json")
    raw_products = _read_json(shuffle_path, list)
    if num_products is not None:
        raw_products = raw_products[:num_products]
    attributes = _read_json(ins_path, dict)
    human = _read_json(human_path, dict)

    rng = random.Random(GOAL_SHUFFLE_SEED)
    products, seen = [], set()
    for i, raw in enumerate(raw_products):
        where = f"{shuffle_path} (item {i})"
        if not isinstance(raw, dict):
            raise ValueError(f"{where}: expected a product object, got {json_type(raw)}")
        asin = raw.get("asin")
        if asin is not None and not isinstance(asin, str):
            raise _bad(where, "asin", "a string", asin)
        if asin == "nan" or (asin is not None and len(asin) > 10) or asin in seen:
            continue  # upstream drops these
        seen.add(asin)
        products.append(_process_product(raw, where, attributes, ins_path))
    if not products:
        raise ValueError(
            f"{shuffle_path}: no usable products (each needs an 'asin' of at most 10 characters)"
        )
    prices = {
        p["asin"]: p["pricing"][0] if len(p["pricing"]) == 1 else rng.uniform(*p["pricing"][:2])
        for p in products
    }
    goals = _human_goals(products, prices, human, human_path, rng)
    if not goals:
        raise ValueError(f"{human_path}: no instruction with attributes for any product of {shuffle_path}")
    random.Random(GOAL_SHUFFLE_SEED).shuffle(goals)
    return Catalog(
        products=products,
        by_asin={p["asin"]: p for p in products},
        prices=prices,
        goals=goals,
        source=folder,
        files={"products": shuffle_path, "attributes": ins_path, "instructions": human_path},
    )
