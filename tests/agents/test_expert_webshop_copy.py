"""WebShop demos a model can copy from (issue 26 item 5): the expert's first query is a contiguous run of
the instruction's words, written ``search[ words]`` so each word is the SmolLM2 token it is in the
instruction, the constrained decoder accepts and writes that form, and products are clicked by their id
as the results page shows it."""

from __future__ import annotations

import re

import pytest

from agents.base import Episode
from agents.constrained import (
    MAX_QUERY_WORDS,
    ActionConstraint,
    TokenVocabulary,
    action_space,
    instruction_words,
)
from agents.experts import webshop as expert
from agents.experts.webshop import WebShopExpert, read_request, search_action
from agents.react import Turn
from envs.hide_privileged import HidePrivilegedInfo
from envs.webshop.env import WebShopEnv

HAIR = "i need a long clip-in hair extension which is natural looking, and price lower than 40.00 dollars"
_OPENERS = re.compile(r"^(?:i |i'm |i'd |find |show |get |help |can |please |buy |looking |a |an |some )")


@pytest.fixture(scope="module")
def smollm2():
    from distill.models import load_tokenizer

    return load_tokenizer("smollm2-135m")


def _first_turns(split: str, count: int) -> list[tuple[str, str]]:
    """(instruction, the expert's first action) of ``count`` goals spread over ``split``."""
    env = HidePrivilegedInfo(WebShopEnv(split=split))
    task_ids = env.unwrapped.task_ids
    turns = []
    for task_id in task_ids[:: max(1, len(task_ids) // count)][:count]:
        obs, info = env.reset(options={"task_id": task_id})
        first = WebShopExpert().relabel(Episode(task=info["task"], first_observation=obs), info)
        turns.append((info["task"], first.action))
    return turns


def _is_run(words: list[str], of: tuple[str, ...]) -> bool:
    return any(list(of[i : i + len(words)]) == words for i in range(len(of) - len(words) + 1))


def test_first_query_is_a_contiguous_run_of_the_instruction():
    assert read_request(HAIR).query == "long clip-in hair extension which is natural looking"
    assert read_request("show me a love seat, and price lower than 90.00 dollars").query == "love seat"
    assert read_request("under $30 dollars, gray wool socks please").query == "gray wool socks"
    assert expert.MAX_QUERY_WORDS == MAX_QUERY_WORDS  # what the constrained decoder can write
    lengths = []
    for task, action in _first_turns("train", 400):
        assert action.startswith("search[ ") and action.endswith("]") and "  " not in action, action
        words = action[len("search[ ") : -1].split(" ")
        assert 1 <= len(words) <= MAX_QUERY_WORDS and _is_run(words, instruction_words(task)), (task, action)
        cap = read_request(task).price_cap
        assert cap is None or not {"price", "dollars", f"{cap:.2f}"} & set(words), (task, action)
        assert not _OPENERS.match(" ".join(words) + " "), (task, action)  # the opener is left out
        lengths.append(len(words))
    assert sorted(lengths)[len(lengths) // 2] >= 8  # the product and what is asked of it, not one noun


def test_query_words_are_the_tokens_they_are_in_the_instruction(smollm2):
    def ids(text: str) -> list[int]:
        return smollm2(text, add_special_tokens=False)["input_ids"]

    query = read_request(HAIR).query
    action = ids(f"Action: {search_action(query)}")
    assert smollm2.convert_ids_to_tokens(action[3:5]) == ["[", "Ġlong"]  # not "long" (no space)
    assert ids(f"Action: search[{query}]")[4] != action[4]  # the old form: another token for "long"
    same = total = 0
    for task, first in _first_turns("train", 200):
        words = first[len("search[ ") : -1].split(" ")
        spaced = [ids(" " + word) for word in words]
        assert ids(f"Action: {first}")[4:-1] == [i for word in spaced for i in word], first  # no merges
        in_task = ids(task)
        for word, word_ids in zip(words, spaced, strict=True):
            if re.search(rf"(?:^| ){re.escape(word)}\b", task) is None:
                continue  # after "(" or "-" in the instruction: no space before it there
            total += 1
            same += any(in_task[i : i + len(word_ids)] == word_ids for i in range(len(in_task)))
    assert total > 1000 and same == total, (same, total)


def test_constrained_decoder_writes_the_expert_form(smollm2):
    """Token by token, the constraint allows exactly the expert's ``search[ words]`` (and not the first word
    glued to ``[``), and closes the query at its ``]``, after which only a line end may follow."""
    vocabulary = TokenVocabulary(smollm2, len(smollm2))
    space = action_space("webshop", {"admissible_actions": ["search[<your query>]", "click[B0ABCDEFGH]"]},
                         [], HAIR)
    assert space.argument_words == instruction_words(HAIR)
    target = f"Action: {search_action(read_request(HAIR).query)}"
    target_ids = smollm2(target, add_special_tokens=False)["input_ids"]
    constraint = ActionConstraint(vocabulary, space)
    allowed = constraint.allowed(constraint.reserve)  # no room for a thought: "Action:" is forced
    for step, token_id in enumerate(target_ids):
        if step > 0:
            allowed = constraint.allowed(200)
        assert token_id in allowed, (step, smollm2.decode(target_ids[: step + 1]))
        if step == 4:  # after "[": the spaced first word, never the word glued to "["
            glued = smollm2("long", add_special_tokens=False)["input_ids"][0]
            assert glued not in allowed
        constraint.advance(token_id, smollm2.decode(target_ids[: step + 1]))
    assert constraint.phase == "closed"  # the query's "]": then only the line end that ends the turn
    assert sorted(constraint.allowed(200)) == sorted(vocabulary.line_end_ids)


def test_expert_clicks_ids_as_the_results_page_shows_them():
    env = HidePrivilegedInfo(WebShopEnv(split="test"))
    obs, info = env.reset(options={"task_id": "4"})
    agent = WebShopExpert()
    agent.reset(info)
    clicked = []
    done = False
    while not done:
        step = agent.act(obs, info)
        label = step.action[len("click[") : -1]
        if step.action.startswith("click[") and expert._ASIN.match(label):
            assert step.action in info["admissible_actions"] and f" [SEP] {label} [SEP] " in obs, step.action
            clicked.append(label)
        obs, _reward, terminated, truncated, info = env.step(step.action)
        done = terminated or truncated
    assert clicked and all(label == label.upper() for label in clicked)


def test_relabel_follows_a_product_clicked_in_lower_case():
    """A student may click an id in any case (the env accepts it): the expert still knows which product
    is on screen and names it as the page showed it."""
    env = HidePrivilegedInfo(WebShopEnv(split="test"))
    obs, info = env.reset(options={"task_id": "4"})
    episode = Episode(task=info["task"], first_observation=obs)
    for action in (search_action(read_request(info["task"]).query), None):
        if action is None:
            shown = next(a for a in info["admissible_actions"] if expert._ASIN.match(a[len("click[") : -1]))
            action = shown.lower()
        obs, _r, _t, _tr, info = env.step(action)
        episode.turns.append(Turn(thought="", action=action, text=f"Action: {action}", observation=obs))
    assert not info["invalid_action"] and info["page"] == "item"
    state = expert.rebuild(info["task"], [episode.first_observation, *(t.observation for t in episode.turns)],
                           [t.action for t in episode.turns], 15)
    assert state.current == shown[len("click[") : -1] and state.current in state.products

