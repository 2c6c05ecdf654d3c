"""WebShop as a Gymnasium text env (``webshop`` / ``agentdistill/WebShop-v0``).

    env = envs.make("webshop", split="test")  # bundled catalog; data=PATH or $WEBSHOP_DATA: upstream files
    obs, info = env.reset(options={"task_id": "7"})   # task ids are goal indices after the fixed shuffle
    obs, reward, terminated, truncated, info = env.step("search[quick dry nail polish]")

Actions: ``search[keywords]`` (where the page has a search box; the keywords are stripped, so
``search[ red shoes]`` is ``search[red shoes]``), ``click[label]`` (a clickable of the page, in any case;
``admissible_actions`` lists buttons lower-cased as upstream does and product ids as the page shows them,
``click[B09KP78G37]``) and ``think[...]`` (ReAct's reasoning action: answered "OK.", the page unchanged,
one step used; not listed in ``admissible_actions``, as upstream's text env has no such action).

Observations are the page's text as upstream's text env derives it from the HTML (``text``: nodes joined
by `` [SEP] ``; ``text_rich``: buttons marked ``[button] ... [button_]``; ``html``: the page itself).

Upstream's protocol is the default; deviations are options, and ``info["protocol"]`` records every
setting so run metadata can carry it:

- ``invalid_actions="upstream"``: an action the page cannot take leaves the observation unchanged (the
  current page again) with ``invalid_action=True``; ``"explain"`` answers with a message saying why;
- ``num_products``: None reads the full ``items_shuffle.json``, 1000 upstream's ``items_shuffle_1000.json``;
- ``show_attrs`` adds upstream's Attributes tab to item pages; ``show_reviews`` shows the data file's rating
  and reviews where upstream shows "Rating: N.A." and none.

``info`` adds ``goal`` and ``reward_details`` (privileged: the target, its attributes, options and price
cap; hidden by :class:`envs.hide_privileged.HidePrivilegedInfo`), ``task_type`` (the goal's top-level
category), ``page``, ``data_source`` ("generated" or the data folder) and ``protocol``.
"""

from __future__ import annotations

import copy
import os
import re
from typing import Any, ClassVar

from envs.core import TextEnv
from envs.webshop.engine import Session, WebShopEngine
from envs.webshop.html import parse_page
from envs.webshop.search import SETTINGS as SEARCH_SETTINGS

OBSERVATION_MODES = ("text", "text_rich", "html")
INVALID_ACTION_MODES = ("upstream", "explain")
THINK_REPLY = "OK."
_THINK = re.compile(r"^\s*think\s*\[.*\]\s*$", re.IGNORECASE | re.DOTALL)


class WebShopEnv(TextEnv):
    """Shop for the instruction's product: search, open a product, choose its options, buy."""

    privileged_info_keys: ClassVar[tuple[str, ...]] = ("goal", "reward_details")

    def __init__(
        self,
        split: str = "test",
        data: str | os.PathLike | None = None,
        max_steps: int = 15,
        observation_mode: str = "text",
        render_mode: str | None = None,
        invalid_actions: str = "upstream",
        num_products: int | None = None,
        show_attrs: bool = False,
        show_reviews: bool = False,
    ):
        super().__init__(max_steps=max_steps, render_mode=render_mode)
        if observation_mode not in OBSERVATION_MODES:
            raise ValueError(f"observation_mode must be one of {OBSERVATION_MODES}, got {observation_mode!r}")
        if invalid_actions not in INVALID_ACTION_MODES:
            raise ValueError(
                f"invalid_actions must be one of {INVALID_ACTION_MODES}, got {invalid_actions!r}"
            )
        self.observation_mode = observation_mode
        self.invalid_actions = invalid_actions
        self.show_attrs, self.show_reviews = bool(show_attrs), bool(show_reviews)
        self.split = split
        chosen = data if data is not None else os.environ.get("WEBSHOP_DATA") or None
        self.engine = WebShopEngine.for_data(chosen, num_products)
        self.data_source = "generated" if chosen is None else str(self.engine.catalog.source)
        self.protocol = {
            "invalid_actions": invalid_actions,
            "max_steps": max_steps,
            "num_products": num_products,
            "show_attrs": self.show_attrs,
            "show_reviews": self.show_reviews,
            "observation_mode": observation_mode,
            "search": SEARCH_SETTINGS,
            "think": THINK_REPLY,
        }
        self._task_ids = [str(i) for i in self.engine.catalog.split_ids(split)]
        if not self._task_ids:
            raise ValueError(
                f"WebShop split {split!r} is empty: {self.engine.catalog.source} has only "
                f"{len(self.engine.catalog.goals)} goals"
            )
        self.session: Session | None = None

    @property
    def task_ids(self) -> list[str]:
        return self._task_ids

    def _reset(self, task_id: str) -> tuple[str, dict[str, Any]]:
        try:
            goal_index = int(task_id)
        except ValueError:
            raise KeyError(f"WebShop task ids are goal indices like '0'; got {task_id!r}") from None
        self.session = self.engine.start(
            f"env-{id(self)}", goal_index, show_attrs=self.show_attrs, show_reviews=self.show_reviews
        )
        goal = self.session.goal
        info = {
            "task_id": task_id,
            "task": goal["instruction_text"],
            "won": False,
            "score": 0.0,
            "task_type": goal["category"],
            "data_source": self.data_source,
            "protocol": dict(self.protocol),
        }
        return self._observe(info)

    def _step(self, action: str) -> tuple[str, float, bool, dict[str, Any]]:
        if self.session is None:
            raise RuntimeError("call reset() before step()")
        if _THINK.match(action) and not self.session.done:
            return THINK_REPLY, 0.0, False, {}
        reward = self.engine.act(self.session, action)
        info: dict[str, Any] = {}
        if self.session.done:
            info.update(won=reward >= 1.0 - 1e-9, score=reward)
        obs, info = self._observe(info)
        return obs, reward, self.session.done, info

    def _invalid(self, message: str) -> tuple[str, dict[str, Any]]:
        """``explain``: the reason as the observation; ``upstream``: the unchanged page. The page (and its
        info) stays as it was either way."""
        if self.session is None:
            return message, {}
        page, info = self._observe({})
        return (page if self.invalid_actions == "upstream" else message), info

    def _observe(self, info: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        session = self.session
        view = session.view
        if self.observation_mode == "html":
            obs = session.html
        elif self.observation_mode == "text_rich":
            obs = parse_page(session.html, rich=True).text
        else:
            obs = view.text
        actions = ["search[<your query>]"] if view.has_search_bar else []
        actions += [f"click[{c}]" for c in view.clickables if c != "search"]
        # fresh copies every call: callers keep infos, and Gymnasium forbids them sharing objects
        info.update(
            admissible_actions=actions,
            page=session.page,
            goal=copy.deepcopy(session.goal),
            reward_details=copy.deepcopy(session.reward_details),
        )
        return obs, info
