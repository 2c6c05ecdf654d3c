"""Upstream's reward on hand-built goal/product pairs."""

from __future__ import annotations

import pytest

from envs.webshop.reward import (
    attribute_reward,
    fuzzy_score,
    get_reward,
    normalize_color,
    option_reward,
    type_reward,
)


def _product(**overrides):
    product = {
        "asin": "B000000001",
        "name": "Acme Sulfate Free Tea Tree Shampoo",
        "Title": "Acme Sulfate Free Tea Tree Shampoo",
        "query": "shampoo",
        "product_category": "Beauty & Personal Care › Hair Care › Shampoos",
        "Attributes": ["sulfate free", "tea tree", "natural ingredients"],
        "BulletPoints": ["Gentle on color treated hair."],
        "Description": "A daily shampoo.",
    }
    product.update(overrides)
    return product


def _goal(**overrides):
    goal = {
        "asin": "B000000001",
        "name": "Acme Sulfate Free Tea Tree Shampoo",
        "query": "shampoo",
        "product_category": "Beauty & Personal Care › Hair Care › Shampoos",
        "attributes": ["sulfate free", "tea tree"],
        "goal_options": ["16 fl oz", "lavender"],
        "price_upper": 30.0,
    }
    goal.update(overrides)
    return goal


def test_full_match_scores_one_with_every_subscore():
    reward, details = get_reward(
        _product(), _goal(), price=12.0, options={"size": "16 fl oz", "scent": "lavender"}
    )
    assert reward == 1.0
    assert (
        details["r_type"] == 1.0
        and details["r_att"] == 1.0
        and details["r_option"] == 1.0
        and details["r_price"] is True
    )
    assert details["w_att"] == pytest.approx(2 / 5) and details["w_option"] == pytest.approx(2 / 5)
    assert details["w_price"] == pytest.approx(1 / 5)
    assert details["purchased_options"] == {"size": "16 fl oz", "scent": "lavender"}


def test_price_over_cap_loses_the_price_point():
    reward, details = get_reward(
        _product(), _goal(), price=31.0, options={"size": "16 fl oz", "scent": "lavender"}
    )
    assert reward == pytest.approx(4 / 5)
    assert details["r_price"] is False


def test_missing_options_and_partial_attributes():
    product = _product(
        Attributes=["sulfate free"], Title="Acme Shampoo", name="Acme Shampoo", BulletPoints=[""]
    )
    reward, details = get_reward(product, _goal(), price=10.0, options={"size": "16 fl oz"})
    # 1 of 2 attributes, 1 of 2 options, price ok -> 3 / 5; title nouns shared -> r_type 1
    assert details["num_attr_matches"] == 1 and details["num_option_matches"] == 1
    assert reward == pytest.approx(3 / 5)


def test_attribute_found_in_text_fields_counts():
    product = _product(Attributes=[], Description="Made with tea tree oil", Title="Acme Sulfate Free Shampoo")
    assert attribute_reward(product, ["tea tree", "sulfate free", "argan oil"]) == (pytest.approx(2 / 3), 2)


def test_wrong_type_scores_zero():
    product = _product(
        name="Zenith Wireless Mouse",
        Title="Zenith Wireless Mouse",
        query="wireless mouse",
        product_category="Electronics › Computers › Mice",
    )
    reward, details = get_reward(
        product, _goal(), price=10.0, options={"size": "16 fl oz", "scent": "lavender"}
    )
    assert details["title_score"] == 0.0 and details["r_type"] == 0.0
    assert reward == 0.0


def test_type_reward_rules():
    goal = {"query": "q1", "product_category": "a › b › c", "name": "Acme Shampoo"}
    assert (
        type_reward({"query": "q1", "product_category": "a › b › c", "name": "Acme Shampoo"}, goal)["r_type"]
        == 1.0
    )
    # no query match, one category level, title half shared -> still 1 (title score 0.5 > 0.2)
    half = type_reward({"query": "q2", "product_category": "a › x › y", "name": "Other Shampoo"}, goal)
    assert half["category_match"] is False and half["title_score"] == 0.5 and half["r_type"] == 1.0
    assert (
        type_reward({"query": "q1", "product_category": "b › c › a", "name": "x"}, goal)["category_match"]
        is True
    )


def test_option_fuzzy_and_colour_normalisation():
    assert option_reward(["pack of 12", "powder snow", "xl"], ["cool powder snow", "XL", "pack of 12"]) == (
        1.0,
        3,
    )
    assert option_reward(["pack of 12", "blue", "xl"], ["grey", "xl", "pack of 12"])[1] == 2
    assert normalize_color("navy blue") == "blue"  # upstream's first-colour-wins rule
    assert option_reward(["light blue"], ["navy blue"]) == (1.0, 1)
    assert option_reward(["a"], []) == (None, 0)
    assert fuzzy_score("Essential Oil", "essential oil!") == 100
