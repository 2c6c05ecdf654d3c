"""WebShopEnv: the Gymnasium contract, the page flow, bad input, splits, speed."""

from __future__ import annotations

import random
import statistics
import time

import gymnasium
import pytest
from gymnasium.utils.env_checker import check_env

import envs
from envs.webshop.env import WebShopEnv


@pytest.fixture(scope="module")
def env():
    return WebShopEnv(split="test")


def test_check_env_and_gym_id():
    check_env(WebShopEnv(split="test").unwrapped, skip_render_check=True)
    made = gymnasium.make("agentdistill/WebShop-v0", split="test")
    obs, info = made.reset(seed=0)
    assert "Instruction:" in obs and info["task_id"] in made.unwrapped.task_ids


def test_splits_follow_upstream(env):
    assert env.task_ids == [str(i) for i in range(500)]
    assert WebShopEnv(split="eval").task_ids == [str(i) for i in range(500, 1500)]
    train = WebShopEnv(split="train").task_ids
    assert train[0] == "1500" and len(train) >= 500
    with pytest.raises(ValueError, match="split"):
        WebShopEnv(split="dev")


def test_page_flow_and_info(env):
    obs, info = env.reset(options={"task_id": "3"})
    goal = info["goal"]
    assert obs.startswith("WebShop [SEP] Instruction: [SEP] ") and info["task"] in obs
    assert info["admissible_actions"] == ["search[<your query>]"]
    assert info["task_type"] == goal["category"] and info["page"] == "search"
    obs, reward, terminated, truncated, info = env.step(
        f"search[{goal['query']} {' '.join(goal['attributes'])}]"
    )
    assert "Page 1 (Total results: " in obs and info["page"] == "results" and not info["invalid_action"]
    assert (
        "click[next >]" in info["admissible_actions"]
        and "click[back to search]" in info["admissible_actions"]
    )
    products = [a for a in info["admissible_actions"] if a not in ("click[next >]", "click[back to search]")]
    assert len(products) == 10
    obs, *_, info = env.step("click[Next >]")  # labels are case-insensitive
    assert "Page 2" in obs and "click[< prev]" in info["admissible_actions"]
    env.step("click[< prev]")
    obs, *_, info = env.step(products[0].upper().replace("CLICK", "click"))
    assert info["page"] == "item" and "click[buy now]" in info["admissible_actions"]
    obs, *_, info = env.step("click[features]")
    assert info["page"] == "sub"
    obs, *_, info = env.step("click[< prev]")
    assert info["page"] == "item"
    option = next(
        a
        for a in info["admissible_actions"]
        if a
        not in (
            "click[back to search]",
            "click[< prev]",
            "click[description]",
            "click[features]",
            "click[reviews]",
            "click[buy now]",
        )
    )
    env.step(option)
    obs, reward, terminated, truncated, info = env.step("click[buy now]")
    assert terminated and not truncated and 0.0 <= reward <= 1.0 and info["score"] == reward
    details = info["reward_details"]
    for key in (
        "r_type",
        "r_att",
        "r_option",
        "r_price",
        "title_score",
        "query_match",
        "category_match",
        "purchased_asin",
        "goal_attributes",
        "goal_options",
        "price_upper",
    ):
        assert key in details
    assert "Thank you for shopping with us!" in obs


_BAD_ACTIONS = [
    "click[nonexistent button]",
    "search[]",
    "search[" + "x" * 5000 + "]",
    "jump[now]",
    "",
    "click[buy now]",
    "\x00\ufffd\u202e💥",
    "click[search]",
    "click[attributes]",
]


@pytest.mark.parametrize("action", _BAD_ACTIONS)
def test_bad_input_upstream_protocol_leaves_the_page(env, action):
    """The default (upstream's protocol): an invalid action shows the same page again, flagged invalid."""
    page, _info = env.reset(options={"task_id": "0"})
    obs, reward, terminated, _truncated, info = env.step(action)
    assert info["invalid_action"] and reward == 0.0 and not terminated
    assert obs == page and info["page"] == "search" and env.steps == 1


@pytest.mark.parametrize("action", _BAD_ACTIONS)
def test_bad_input_explained(action):
    explaining = WebShopEnv(split="test", invalid_actions="explain")
    explaining.reset(options={"task_id": "0"})
    obs, reward, terminated, _truncated, info = explaining.step(action)
    assert info["invalid_action"] and reward == 0.0 and not terminated
    assert obs.lower().startswith("invalid action") and info["page"] == "search"
    with pytest.raises(ValueError, match="invalid_actions"):
        WebShopEnv(split="test", invalid_actions="ignore")


def test_search_on_wrong_page_and_junk_search():
    explaining = WebShopEnv(split="test", invalid_actions="explain")
    explaining.reset(options={"task_id": "0"})
    obs, *_, info = explaining.step("search[\u2603\u2603 ☃ ###]")
    assert not info["invalid_action"] and "Total results: 0" in obs
    obs, *_, info = explaining.step("search[shoes]")
    assert info["invalid_action"] and "no search box" in obs


def test_think_is_ok_and_uses_a_step(env):
    page, _ = env.reset(options={"task_id": "4"})
    obs, reward, terminated, truncated, info = env.step("think[I should search for the product first.]")
    assert obs == "OK." and reward == 0.0 and not (terminated or truncated)
    assert not info["invalid_action"] and info["page"] == "search" and env.steps == 1
    assert info["admissible_actions"] == ["search[<your query>]"]
    obs, *_, info = env.step("search[shampoo]")
    assert info["page"] == "results" and not info["invalid_action"]


def test_protocol_and_data_source_in_info(env):
    _obs, info = env.reset(options={"task_id": "0"})
    assert info["data_source"] == "generated"
    assert info["protocol"] == {
        "invalid_actions": "upstream",
        "max_steps": 15,
        "num_products": None,
        "show_attrs": False,
        "show_reviews": False,
        "observation_mode": "text",
        "search": "bm25s-lucene-k1=0.9-b=0.4-stem=porter-stop=en",
        "think": "OK.",
    }
    *_, info = env.step("search[shoes]")
    assert info["protocol"]["invalid_actions"] == "upstream" and info["data_source"] == "generated"


def _open_first_product(shop, task_id):
    _obs, info = shop.reset(options={"task_id": task_id})
    *_, info = shop.step(f"search[{info['task']}]")
    product = next(a for a in info["admissible_actions"] if a.startswith("click[B0"))
    return shop.step(product)


def test_rating_reviews_and_attributes_as_upstream(env):
    obs, *_, info = _open_first_product(env, "9")
    assert "Rating: N.A." in obs and "click[attributes]" not in info["admissible_actions"]
    obs, *_ = env.step("click[reviews]")
    assert obs.endswith("< Prev")  # upstream's default download has no reviews file: an empty tab
    shown = WebShopEnv(split="test", show_attrs=True, show_reviews=True)
    obs, *_, info = _open_first_product(shown, "9")
    product = shown.engine.catalog.by_asin[shown.session.asin]
    assert f"Rating: {product['Rating']}" in obs and "click[attributes]" in info["admissible_actions"]
    obs, *_, info = shown.step("click[attributes]")
    assert info["page"] == "sub" and all(a in obs for a in product["Attributes"])
    assert product["product_category"] in obs and info["protocol"]["show_attrs"] is True
    shown.step("click[< prev]")
    obs, *_ = shown.step("click[reviews]")
    assert all(str(r["body"]) in obs for r in product["Reviews"])


def test_truncation_at_max_steps():
    short = WebShopEnv(split="test", max_steps=2)
    short.reset(options={"task_id": "1"})
    assert short.step("click[nothing]")[3] is False
    assert short.step("click[nothing]")[3] is True


def test_text_rich_and_html_modes():
    rich = WebShopEnv(split="test", observation_mode="text_rich")
    obs, info = rich.reset(options={"task_id": "2"})
    assert "[button] Search [button_]" in obs
    obs, *_, info = rich.step(f"search[{info['goal']['query']}]")
    assert "[button] Next > [button_]" in obs
    product = next(a for a in info["admissible_actions"] if a.startswith("click[B0"))
    obs, *_, info = rich.step(product)
    option = info["admissible_actions"][2][
        len("click[") : -1
    ]  # after back to search and < prev: the first option
    obs, *_ = rich.step(f"click[{option}]")
    assert f"[clicked button] {option} [clicked button_]" in obs and obs.startswith(
        f"You have clicked {option}."
    )
    obs, *_ = rich.step("click[< prev]")
    assert (
        f"[clicked button] {product[len('click[') : -1].upper()} [clicked button_]" in obs
    )  # visited product
    page = WebShopEnv(split="test", observation_mode="html")
    obs, _ = page.reset(options={"task_id": "2"})
    assert obs.startswith("<!DOCTYPE html>") and 'id="search_input"' in obs
    with pytest.raises(ValueError, match="observation_mode"):
        WebShopEnv(observation_mode="pixels")


def test_first_result_blindly_never_scores_one(env):
    for task_id in env.task_ids[:60]:
        _obs, info = env.reset(options={"task_id": task_id})
        assert info["goal"]["goal_options"], "every goal needs an option choice"
        *_, info = env.step(f"search[{info['task']}]")
        first = next(
            a for a in info["admissible_actions"] if a not in ("click[next >]", "click[back to search]")
        )
        env.step(first)
        *_, reward, _, _, info = env.step("click[buy now]")
        assert reward < 1.0


def test_random_agent_scores_low(env):
    rng = random.Random(0)
    scores = []
    for task_id in env.task_ids[:40]:
        _, info = env.reset(options={"task_id": task_id})
        done = False
        while not done:
            action = rng.choice(info["admissible_actions"])
            if action.startswith("search["):
                action = "search[" + " ".join(rng.sample(info["task"].split(), 3)) + "]"
            _obs, _reward, terminated, truncated, info = env.step(action)
            done = terminated or truncated
        scores.append(info["score"])
    assert sum(scores) / len(scores) < 0.4
    assert sum(s >= 1.0 for s in scores) <= 2


def test_step_is_fast(env):
    _obs, info = env.reset(options={"task_id": "5"})
    actions = [f"search[{info['goal']['query']}]", "click[next >]", "click[< prev]"]
    timings = []
    for _ in range(30):
        env.reset(options={"task_id": "5"})
        for action in actions:
            start = time.perf_counter()
            env.step(action)
            timings.append(time.perf_counter() - start)
    assert statistics.median(timings) < 0.010


def test_registry_make():
    made = envs.make("webshop", split="test")
    assert isinstance(made.unwrapped, WebShopEnv)
