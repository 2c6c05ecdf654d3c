"""The ``first-result`` WebShop baseline: what a shopper who trusts the search engine does.

Search with the instruction's text (its price clause dropped), open result #1, click every option
whose label appears word for word in the instruction, buy. It reads nothing but ``info["task"]`` and
``info["admissible_actions"]``; the bundled catalog is built so that this fixed policy rarely scores 1
(issue 14: at most 0.40 success on the test split), while the honest expert, which judges titles,
prices and option wording, does.
"""

from __future__ import annotations

import re
from typing import Any

from agents.base import Agent, AgentStep, Episode
from agents.react import format_turn

_PRICE_CLAUSE = re.compile(r",?\s*and price lower than .*$", re.IGNORECASE)
_NAVIGATION = frozenset(
    {"back to search", "next >", "< prev", "description", "features", "reviews", "attributes", "buy now"}
)


def _label(action: str) -> str:
    return action[action.find("[") + 1 : action.rfind("]")]


def _mentions(text: str, label: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(label)}(?![\w-])", text) is not None


class FirstResultAgent(Agent):
    """Search the instruction, open result #1, click the options it names verbatim, buy now."""

    description = "WebShop baseline: search the instruction, buy result #1 with the options it names"

    def __init__(self, env: str = "webshop") -> None:
        super().__init__()
        if env != "webshop":
            raise ValueError(f"first-result is a WebShop baseline; got env={env!r}")

    def step(self, episode: Episode, observation: str, info: dict[str, Any]) -> AgentStep:
        admissible = list(info.get("admissible_actions") or [])
        instruction = str(info.get("task") or episode.task).lower()
        done = {t.action for t in episode.turns}
        if "search[<your query>]" in admissible:
            action, thought = (
                f"search[{_PRICE_CLAUSE.sub('', instruction)}]",
                "I search with the instruction.",
            )
        elif "click[buy now]" not in admissible:
            results = [a for a in admissible if _label(a) not in _NAVIGATION]
            action, thought = (
                (results[0], "I open the first result.")
                if results
                else ("click[back to search]", "No results; back to search.")
            )
        else:
            wanted = [
                a
                for a in admissible
                if _label(a) not in _NAVIGATION and a not in done and _mentions(instruction, _label(a))
            ]
            action, thought = (
                (wanted[0], "The instruction names this option.")
                if wanted
                else ("click[buy now]", "I buy it.")
            )
        return AgentStep(thought=thought, action=action, text=format_turn(thought, action))
