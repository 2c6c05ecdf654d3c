"""Scripted WebShop teacher: searches from the goal, opens the goal's product, picks the options, buys.

It reads the privileged goal the env puts in ``info["goal"]`` (target ASIN, attributes, options, price
cap) and the page's ``admissible_actions``; everything else (which page, which options are already
chosen) it derives from the episode's own turns, so one instance serves any number of slots. Each
action comes with a one-line ``Thought:`` whose wording depends on the situation and varies between
episodes (picked deterministically from the task id and step).
"""
from __future__ import annotations

import hashlib
from typing import Any

from agents.base import Agent, AgentStep, Episode
from agents.react import format_turn

MAX_RESULT_PAGES = 3  # pages to scan per search before searching again
MAX_SEARCHES = 2
_NAVIGATION = {"back to search", "next >", "< prev", "description", "features", "reviews", "buy now"}

_THOUGHTS: dict[str, tuple[str, ...]] = {
    "search": (
        "The instruction asks for {a_noun} that is {attrs}; I'll search for those words.",
        "I need {a_noun} with {attrs}, under ${cap}. Let me start with a search.",
        "First I should find {noun} listings that are {attrs}, so I'll search the shop.",
        "Let me look for {a_noun} that is {attrs}; the options ({options}) I can pick on the product page.",
    ),
    "search_again": (
        "That search did not surface a good match; I'll try the wording of the instruction itself.",
        "None of those results fit well. Let me search again with more of the instruction's words.",
    ),
    "open": (
        "{asin} looks right: '{title}' at {price}, which is under ${cap}. Let me open it.",
        "'{title}' ({asin}) matches {attrs} and fits the budget; I'll check it out.",
        "The result {asin}, '{title}', seems to have what I need. Opening it.",
        "{asin} is {a_noun} that mentions {attrs}, and {price} is within budget. Clicking it.",
    ),
    "next": (
        "Nothing on this page is quite the {noun} I want; let me see the next page.",
        "These results don't match all of {attrs}. I'll check the next page.",
    ),
    "back": (
        "The results so far don't show the right {noun}; I'll go back and search differently.",
        "I haven't found a good match here, so back to the search page.",
    ),
    "fallback": (
        "No result matches everything; {asin} is the closest {noun}, so I'll take a look at it.",
    ),
    "option": (
        "The instruction wants {option}, so I'll select that option.",
        "Next I need to choose '{option}'.",
        "This product comes in {option}, which is what was asked for. Selecting it.",
        "I still have to pick {option} before buying.",
    ),
    "buy": (
        "Everything matches now: {attrs}, with {chosen}, and it's under ${cap}. Buying it.",
        "All requested options ({chosen}) are selected and the price fits the budget; time to buy.",
        "This is the right {noun} with {chosen}. I'll click buy now.",
    ),
    "return": (
        "I've seen the details I need; going back to the product page.",
    ),
}


def _label(action: str) -> str:
    """The argument of ``click[...]`` / ``search[...]``."""
    return action[action.find("[") + 1: action.rfind("]")] if "[" in action else ""


def _product_details(observation: str, asin: str) -> tuple[str, str]:
    """(title, price) shown next to ``asin`` in a text-mode results page ("", "") if not found."""
    parts = [p.strip() for p in observation.split("[SEP]")]
    for i, part in enumerate(parts):
        if part.lower() == asin and i + 2 < len(parts):
            return parts[i + 1], parts[i + 2]
    return "", ""


class WebShopExpert(Agent):
    """Plans from the goal in ``info["goal"]``: search, open the target, choose options, buy now."""

    description = "scripted WebShop teacher (search, open the goal's product, choose options, buy)"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__()
        unknown = sorted(kwargs)
        if unknown:
            raise TypeError(f"WebShopExpert takes no options; got {unknown}")

    def step(self, episode: Episode, observation: str, info: dict[str, Any]) -> AgentStep:
        info = info or episode.info
        goal = info.get("goal") or episode.info.get("goal")
        if not goal:
            raise ValueError("WebShopExpert needs info['goal'] (the privileged goal WebShopEnv puts in info)")
        admissible = list(info.get("admissible_actions") or [])
        page = info.get("page", "")
        actions = [t.action for t in episode.turns]
        context = self._context(goal, info)
        if page == "search":
            kind, action = self._search(goal, actions)
        elif page == "results":
            kind, action = self._pick_result(goal, actions, admissible, context)
            if kind in ("open", "fallback"):
                title, price = _product_details(observation, _label(action))
                context.update(asin=_label(action).upper(), title=title or "this product", price=price or "its price")
        elif page == "item":
            kind, action = self._on_item(goal, actions, admissible, context)
        else:
            kind, action = "return", "click[< prev]"
        thought = self._thought(kind, context, str(info.get("task_id", episode.task)), len(actions))
        return AgentStep(thought=thought, action=action, text=format_turn(thought, action))

    # --- decisions -----------------------------------------------------------------------------------
    @staticmethod
    def _search(goal: dict[str, Any], actions: list[str]) -> tuple[str, str]:
        searches = sum(a.startswith("search[") for a in actions)
        if searches == 0:
            return "search", f"search[{goal['query']} {' '.join(goal['attributes'])}]"
        instruction = goal["instruction_text"].split(", and price lower than")[0]
        return "search_again", f"search[{instruction}]"

    @staticmethod
    def _pick_result(goal: dict[str, Any], actions: list[str], admissible: list[str], context: dict[str, Any]
                     ) -> tuple[str, str]:
        target = f"click[{str(goal['asin']).lower()}]"
        if target in admissible:
            return "open", target
        last_search = max((i for i, a in enumerate(actions) if a.startswith("search[")), default=-1)
        pages_seen = 1 + sum(a == "click[next >]" for a in actions[last_search + 1:])
        searches = sum(a.startswith("search[") for a in actions)
        if "click[next >]" in admissible and pages_seen < MAX_RESULT_PAGES:
            return "next", "click[next >]"
        if searches < MAX_SEARCHES:
            return "back", "click[back to search]"
        products = [a for a in admissible if a not in ("click[back to search]", "click[next >]", "click[< prev]")]
        return ("fallback", products[0]) if products else ("back", "click[back to search]")

    @staticmethod
    def _on_item(goal: dict[str, Any], actions: list[str], admissible: list[str], context: dict[str, Any]
                 ) -> tuple[str, str]:
        wanted = [str(o).lower() for o in goal["goal_options"]]
        # the expert clicks only navigation, products and goal options: the last other click opened this product
        opened = max((i for i, a in enumerate(actions) if a.startswith("click[")
                      and _label(a) not in _NAVIGATION and _label(a) not in wanted), default=-1)
        chosen = {_label(a) for a in actions[opened + 1:]}
        offered = {_label(a): a for a in admissible}
        for option in wanted:
            if option not in chosen and option in offered:
                context["option"] = option
                return "option", offered[option]
        return "buy", "click[buy now]"

    # --- wording -------------------------------------------------------------------------------------
    @staticmethod
    def _context(goal: dict[str, Any], info: dict[str, Any]) -> dict[str, Any]:
        attrs = list(goal["attributes"])
        attr_text = attrs[0] if len(attrs) == 1 else ", ".join(attrs[:-1]) + " and " + attrs[-1]
        options = [str(o) for o in goal["goal_options"]]
        noun = goal["query"]
        return {
            "noun": noun,
            "a_noun": ("an " if noun[:1] in "aeiou" else "a ") + noun,
            "attrs": attr_text,
            "options": ", ".join(options) or "none",
            "chosen": ", ".join(options) or "no options",
            "cap": f"{goal['price_upper']:.2f}",
        }

    @staticmethod
    def _thought(kind: str, context: dict[str, Any], task_id: str, step: int) -> str:
        templates = _THOUGHTS[kind]
        pick = int(hashlib.md5(f"{task_id}:{step}:{kind}".encode()).hexdigest(), 16) % len(templates)
        return templates[pick].format(**context)
