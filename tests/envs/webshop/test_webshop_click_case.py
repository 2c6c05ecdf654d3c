"""Product ids are listed as the page shows them, and a click in any case opens any listed id (issue 29
item 8: an id with lower-case letters raised KeyError out of env.step when clicked)."""

from __future__ import annotations

import json
import re

import pytest

from envs.webshop.env import WebShopEnv

IDS = ("B0Mixed001", "b0lower002", "B0UPPER003")  # ids as an upstream-format data file may spell them


def _product(asin: str, name: str) -> dict:
    return {
        "asin": asin,
        "name": name,
        "full_description": f"{name}. Ships fast.",
        "small_description": ["Sturdy"],
        "pricing": "$20.00",
        "images": [""],
        "product_category": "Home › Kitchen › Mugs",
        "query": "mug",
        "category": "garden",
        "customization_options": {"Color": [{"value": "Blue", "image": None}]},
    }


@pytest.fixture(scope="module")
def mixed_case_env(tmp_path_factory) -> WebShopEnv:
    folder = tmp_path_factory.mktemp("webshop-mixed-case")
    names = ("Ceramic Coffee Mug Blue", "Ceramic Coffee Mug Large", "Ceramic Coffee Mug Travel")
    products = [_product(a, n) for a, n in zip(IDS, names, strict=True)]
    (folder / "items_shuffle_1000.json").write_text(json.dumps(products))
    (folder / "items_ins_v2_1000.json").write_text(json.dumps({a: {"attributes": ["ceramic"]} for a in IDS}))
    human = {
        a: [{"asin": a, "instruction": f"i need a ceramic coffee mug, {n.split()[-1].lower()}",
             "instruction_attributes": ["ceramic"], "instruction_options": ["blue"]}]
        for a, n in zip(IDS, names, strict=True)
    }
    (folder / "items_human_ins.json").write_text(json.dumps(human))
    return WebShopEnv(split="test", data=folder)


def _results(env: WebShopEnv, task_id: str = "0") -> dict:
    env.reset(options={"task_id": task_id})
    *_, info = env.step("search[ceramic coffee mug]")
    return info


def test_admissible_lists_product_ids_as_the_page_shows_them():
    env = WebShopEnv(split="test")
    env.reset(options={"task_id": "3"})
    obs, *_, info = env.step("search[coffee beans]")
    listed = [a[len("click[") : -1] for a in info["admissible_actions"]]
    ids = [i for i in listed if re.fullmatch(r"b0\w{8}", i, re.IGNORECASE)]
    assert len(ids) == 10 and all(i == i.upper() and f" [SEP] {i} [SEP] " in obs for i in ids), ids
    assert {"click[back to search]", "click[next >]"} <= set(info["admissible_actions"])  # buttons: lower


def test_admissible_ids_keep_their_case(mixed_case_env):
    info = _results(mixed_case_env)
    assert {f"click[{a}]" for a in IDS} <= set(info["admissible_actions"])


@pytest.mark.parametrize(
    "spell", [str, str.lower, str.upper, str.swapcase], ids=["shown", "lower", "upper", "swapped"]
)
def test_click_in_any_case_opens_any_listed_id(mixed_case_env, spell):
    for asin in IDS:
        _results(mixed_case_env)
        obs, _reward, _done, _truncated, info = mixed_case_env.step(f"click[{spell(asin)}]")
        assert not info["invalid_action"] and info["page"] == "item", (asin, obs)
        assert mixed_case_env.session.asin == asin and "Ceramic Coffee Mug" in obs
        mixed_case_env.step("click[BLUE]")  # buttons and options take any case too
        *_, reward, done, _truncated, info = mixed_case_env.step("click[Buy Now]")
        assert done and reward > 0 and info["score"] == reward


def test_an_id_not_listed_is_an_invalid_action(mixed_case_env):
    _results(mixed_case_env)
    obs, reward, done, _truncated, info = mixed_case_env.step("click[b0nothere1]")
    assert info["invalid_action"] and reward == 0 and not done and info["page"] == "results"
