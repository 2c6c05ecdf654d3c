"""WebShop as a Gymnasium text env (``webshop`` / ``agentdistill/WebShop-v0``).

    env = envs.make("webshop", split="test")          # bundled catalog; data=PATH or $WEBSHOP_DATA: upstream files
    obs, info = env.reset(options={"task_id": "7"})   # task ids are goal indices after the fixed shuffle
    obs, reward, terminated, truncated, info = env.step("search[quick dry nail polish]")

Observations are the page's text as upstream's text env derives it from the HTML (``text``: nodes joined
by `` [SEP] ``; ``text_rich``: buttons marked ``[button] ... [button_]``; ``html``: the page itself).
``info`` adds ``goal`` (the privileged goal: target ASIN, attributes, options, price cap; for scripted
experts), ``task_type`` (the goal's top-level category), ``page``, and after buy now ``reward_details``
(every input and sub-score of the reward).
"""
from __future__ import annotations

import copy
import os
from typing import Any

from envs.core import TextEnv
from envs.webshop.engine import Session, WebShopEngine
from envs.webshop.html import parse_page

OBSERVATION_MODES = ("text", "text_rich", "html")


class WebShopEnv(TextEnv):
    """Shop for the instruction's product: search, open a product, choose its options, buy."""

    def __init__(self, split: str = "test", data: str | os.PathLike | None = None, max_steps: int = 15,
                 observation_mode: str = "text", render_mode: str | None = None):
        super().__init__(max_steps=max_steps, render_mode=render_mode)
        if observation_mode not in OBSERVATION_MODES:
            raise ValueError(f"observation_mode must be one of {OBSERVATION_MODES}, got {observation_mode!r}")
        self.observation_mode = observation_mode
        self.split = split
        self.engine = WebShopEngine.for_data(data)
        self._task_ids = [str(i) for i in self.engine.catalog.split_ids(split)]
        if not self._task_ids:
            raise ValueError(f"WebShop split {split!r} is empty: {self.engine.catalog.source} has only "
                             f"{len(self.engine.catalog.goals)} goals")
        self.session: Session | None = None

    @property
    def task_ids(self) -> list[str]:
        return self._task_ids

    def _reset(self, task_id: str) -> tuple[str, dict[str, Any]]:
        try:
            goal_index = int(task_id)
        except ValueError:
            raise KeyError(f"WebShop task ids are goal indices like '0'; got {task_id!r}") from None
        self.session = self.engine.start(f"env-{id(self)}", goal_index)
        goal = self.session.goal
        info = {"task_id": task_id, "task": goal["instruction_text"], "won": False, "score": 0.0,
                "task_type": goal["category"]}
        return self._observe(info)

    def _step(self, action: str) -> tuple[str, float, bool, dict[str, Any]]:
        if self.session is None:
            raise RuntimeError("call reset() before step()")
        reward = self.engine.act(self.session, action)
        info: dict[str, Any] = {}
        if self.session.done:
            info.update(won=reward >= 1.0 - 1e-9, score=reward)
        obs, info = self._observe(info)
        return obs, reward, self.session.done, info

    def _invalid(self, message: str) -> tuple[str, dict[str, Any]]:
        """The reason as the observation; the page (and its info) stays as it was."""
        return message, self._observe({})[1] if self.session is not None else {}

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
        info.update(admissible_actions=actions, page=session.page, goal=copy.deepcopy(session.goal),
                    reward_details=copy.deepcopy(session.reward_details))
        return obs, info
