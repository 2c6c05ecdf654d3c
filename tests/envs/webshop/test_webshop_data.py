"""The bundled catalog and the upstream-format loader."""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest

from envs.webshop.catalog import generate
from envs.webshop.data import ensure_bundled, load_catalog
from envs.webshop.env import WebShopEnv


def _raw_product(asin, name, query, category, path, options):
    return {
        "asin": asin,
        "name": name,
        "full_description": f"{name}, made well.",
        "small_description": [f"{name} bullet"],
        "pricing": "$12.50",
        "images": ["img.jpg"],
        "product_category": path,
        "query": query,
        "category": category,
        "customization_options": {k: [{"value": v, "image": None} for v in vs] for k, vs in options.items()},
    }


def _write_tiny(folder, products=None, attributes=None, human=None):
    products = (
        products
        if products is not None
        else [
            _raw_product(
                "B00TINY001",
                "Acme Red Running Shoes",
                "running shoes",
                "fashion",
                "Clothing › Shoes › Running",
                {"Color": ["Red", "Black/White"], "Size": ["9", "10"]},
            ),
            _raw_product(
                "B00TINY002",
                "Bolt Wireless Mouse",
                "wireless mouse",
                "electronics",
                "Electronics › Computers › Mice",
                {"Color": ["Grey"]},
            ),
            _raw_product(
                "B00TINY003",
                "Calm Lavender Body Wash",
                "body wash",
                "beauty",
                "Beauty › Bath › Body Wash",
                {},
            ),
        ]
    )
    attributes = (
        attributes
        if attributes is not None
        else {
            "B00TINY001": {"attributes": ["lightweight", "rubber sole"]},
            "B00TINY002": {"attributes": ["silent click"]},
        }
    )
    human = (
        human
        if human is not None
        else {
            "B00TINY001": [
                {
                    "asin": "B00TINY001",
                    "instruction": "i want lightweight running shoes in red, size 10.",
                    "instruction_attributes": ["lightweight"],
                    "instruction_options": ["red", "10"],
                }
            ],
            "B00TINY002": [
                {
                    "asin": "B00TINY002",
                    "instruction": "i need a silent click wireless mouse",
                    "instruction_attributes": ["silent click"],
                    "instruction_options": ["grey"],
                },
                {
                    "asin": "B00TINY002",
                    "instruction": "no attributes here",
                    "instruction_attributes": [],
                    "instruction_options": [],
                },
            ],
        }
    )
    (folder / "items_shuffle_1000.json").write_text(json.dumps(products))
    (folder / "items_ins_v2_1000.json").write_text(json.dumps(attributes))
    (folder / "items_human_ins.json").write_text(json.dumps(human))
    return folder


def test_bundled_catalog_sizes_and_formats():
    folder = ensure_bundled()
    assert ensure_bundled() == folder  # idempotent
    products = json.loads((folder / "items_shuffle.json").read_text())
    human = json.loads((folder / "items_human_ins.json").read_text())
    assert len(products) >= 1000 and len({p["category"] for p in products}) >= 5
    assert sum(len(v) for v in human.values()) >= 2000
    catalog = load_catalog(folder)
    assert len(catalog.goals) >= 2000 and len(catalog.split_ids("test")) == 500
    categories = Counter(g["category"] for g in catalog.goals[:500])
    assert len(categories) == 5
    for goal in catalog.goals:
        assert (
            goal["attributes"]
            and goal["goal_options"]
            and goal["price_upper"] >= catalog.prices[goal["asin"]]
        )


def test_generation_is_deterministic_by_seed():
    a = generate(seed=3, products_per_type=2, instructions_per_product=1)
    b = generate(seed=3, products_per_type=2, instructions_per_product=1)
    c = generate(seed=4, products_per_type=2, instructions_per_product=1)
    assert a == b and a != c


def test_tiny_upstream_catalog_loads_and_plays(tmp_path):
    catalog = load_catalog(_write_tiny(tmp_path))
    assert len(catalog.products) == 3 and len(catalog.goals) == 2  # the goal without attributes is skipped
    shoes = catalog.by_asin["B00TINY001"]
    assert shoes["options"] == {"color": ["red", "black | white"], "size": ["9", "10"]}
    assert shoes["Price"] == "$12.5" and catalog.by_asin["B00TINY003"]["Attributes"] == ["DUMMY_ATTR"]
    env = WebShopEnv(split="test", data=tmp_path)
    assert sorted(env.task_ids) == ["0", "1"]
    shoe_task = next(t for t in env.task_ids if catalog.goals[int(t)]["asin"] == "B00TINY001")
    _obs, info = env.reset(options={"task_id": shoe_task})
    assert "price lower than" in info["task"] and not info["task"].startswith(
        "i want lightweight running shoes in red, size 10."
    )
    env.step("search[red running shoes]")
    env.step("click[b00tiny001]")
    env.step("click[red]")
    env.step("click[10]")
    *_, reward, terminated, _, info = env.step("click[buy now]")
    assert terminated and reward == 1.0 and info["won"]


def test_env_var_selects_data(tmp_path, monkeypatch):
    monkeypatch.setenv("WEBSHOP_DATA", str(_write_tiny(tmp_path)))
    assert len(WebShopEnv(split="test").task_ids) == 2


def test_missing_and_malformed_files_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        load_catalog(tmp_path / "nowhere")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match=r"items_shuffle\*\.json"):
        load_catalog(empty)
    broken = tmp_path / "broken"
    broken.mkdir()
    _write_tiny(broken)
    products = json.loads((broken / "items_shuffle_1000.json").read_text())
    del products[1]["product_category"]
    (broken / "items_shuffle_1000.json").write_text(json.dumps(products))
    with pytest.raises(ValueError, match=r"items_shuffle_1000\.json \(item 1\).*product_category"):
        load_catalog(broken)
    bad_json = tmp_path / "bad_json"
    bad_json.mkdir()
    _write_tiny(bad_json)
    (bad_json / "items_human_ins.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"items_human_ins\.json: not valid JSON"):
        load_catalog(bad_json)
    bad_ins = tmp_path / "bad_ins"
    bad_ins.mkdir()
    _write_tiny(bad_ins, human={"B00TINY001": [{"instruction": "x", "instruction_attributes": ["y"]}]})
    with pytest.raises(ValueError, match=r"items_human_ins\.json.*instruction_options"):
        load_catalog(bad_ins)


def test_catalog_is_varied_not_templated():
    """>= 150 product types over 5 categories; titles, descriptions and instructions in many styles; options
    with near misses; instructions that say options in shoppers' words rather than the labels."""
    from collections import defaultdict

    from envs.webshop.catalog import TYPES
    from envs.webshop.data import BUNDLE_VERSION, bundled_dir

    assert (
        len(TYPES) >= 150 and len({t.category for t in TYPES}) == 5 and BUNDLE_VERSION in bundled_dir().name
    )
    products, attributes, human = generate(seed=0, products_per_type=3)
    shapes = {re.sub(r"[\w&'.-]+(?: [\w&'.-]+)*", "w", p["name"]) for p in products}  # "w - w, w | w"
    assert len(shapes) >= 8
    description_all = sum(
        all(a in p["full_description"].lower() for a in attributes[p["asin"]]["attributes"]) for p in products
    )
    assert description_all / len(products) < 0.1  # descriptions name only some attributes
    values = {v["value"] for p in products for vs in p["customization_options"].values() for v in vs}
    assert {"pack of 1", "pack of 12", "x-large", "xx-large", "6 ft", "6.6 ft"} <= values
    instructions = [i for items in human.values() for i in items]
    starts = {" ".join(i["instruction"].split()[:2]) for i in instructions}
    assert len(starts) >= 30
    spoken = sum(not all(o in i["instruction"] for o in i["instruction_options"]) for i in instructions)
    assert 0.25 < spoken / len(instructions) < 0.75  # options often said as "xl", "a 12-pack", "gray"
    per_type = defaultdict(set)
    for p in products:
        per_type[p["query"]].add(p["pricing"])
    assert all(len(prices) > 1 for prices in per_type.values())


def test_num_products_picks_the_file(tmp_path):
    _write_tiny(tmp_path)
    full = [
        _raw_product(f"B00FULL{i:03d}", f"Full Product {i}", "thing", "beauty", "A › B › C", {})
        for i in range(5)
    ]
    (tmp_path / "items_shuffle.json").write_text(
        json.dumps(full + json.loads((tmp_path / "items_shuffle_1000.json").read_text()))
    )
    assert len(load_catalog(tmp_path).products) == 8  # the full file wins by default, as upstream's
    sample = load_catalog(tmp_path, num_products=1000)
    assert sample.files["products"].name == "items_shuffle_1000.json" and len(sample.products) == 3
    assert len(load_catalog(tmp_path, num_products=6).products) == 6  # upstream's products[:num_products]
    env = WebShopEnv(split="test", data=tmp_path, num_products=1000)
    assert env.engine.catalog.files["products"].name == "items_shuffle_1000.json"
    assert env.reset(options={"task_id": "0"})[1]["protocol"]["num_products"] == 1000
    with pytest.raises(ValueError, match="num_products must be a positive int"):
        load_catalog(tmp_path, num_products=0)
