"""The WebShop engine: upstream's page flow over a catalog, one :class:`Session` per shopper.

    search page --search[kw]--> results (10 a page, next > / < prev) --click[ASIN]--> item page
    item page: click an option value to choose it; description / features / reviews tabs (< prev returns),
    and the attributes tab when the session has ``show_attrs`` (upstream's SHOW_ATTRS_TAB);
    < prev goes back to the results; back to search from anywhere; buy now ends with the reward.

The text env and the website both drive this class; every page is HTML (:mod:`envs.webshop.html`),
and a click is accepted only when its label is a clickable of the current page (as upstream's text env
checks ``text_to_clickable``). Bad actions raise :class:`~envs.core.InvalidAction` and leave the
session unchanged.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from envs.core import InvalidAction
from envs.webshop import html as pages
from envs.webshop.data import Catalog, load_catalog, resolve_data
from envs.webshop.reward import get_reward
from envs.webshop.search import SearchIndex

PRODUCT_WINDOW = 10  # results per page, as upstream
MAX_KEYWORDS_CHARS = 500
BUY_NOW, NEXT_PAGE, PREV_PAGE, BACK_TO_SEARCH = "buy now", "next >", "< prev", "back to search"
TABS = {
    "description": "Description",
    "features": "Features",
    "reviews": "Reviews",
    "attributes": "Attributes",
}
_ACTION = re.compile(r"^\s*(search|click)\s*\[(.*)\]\s*$", re.IGNORECASE | re.DOTALL)


@dataclass
class Session:
    """One shopper's state: the goal and where they are."""

    id: str
    goal: dict[str, Any]
    page: str = "search"  # search | results | item | sub | done
    keywords: str = ""
    results: list[str] = field(default_factory=list)  # ASINs of the last search, best first
    page_number: int = 1
    asin: str | None = None
    options: dict[str, str] = field(default_factory=dict)
    tab: str | None = None
    visited: set[str] = field(default_factory=set)
    reward: float = 0.0
    reward_details: dict[str, Any] | None = None
    html: str = ""
    view: pages.ParsedPage | None = None
    show_attrs: bool = False  # item pages offer the Attributes tab (upstream's option, off by default)
    show_reviews: bool = False  # show the data file's rating and reviews (upstream: "N.A." and none)

    @property
    def done(self) -> bool:
        return self.page == "done"


class WebShopEngine:
    """Search, pages and reward over one catalog; shared by the text env and the web server."""

    _by_folder: ClassVar[dict[tuple[str, int | None], WebShopEngine]] = {}

    def __init__(self, catalog: Catalog, index: SearchIndex):
        self.catalog = catalog
        self.index = index

    @classmethod
    def for_data(
        cls, data: str | os.PathLike | None = None, num_products: int | None = None
    ) -> WebShopEngine:
        """The engine for ``data`` (upstream-format folder; None: ``$WEBSHOP_DATA`` or the bundled catalog),
        ``num_products`` (see :func:`~envs.webshop.data.load_catalog`), built once per process."""
        key = (str(Path(resolve_data(data)).resolve()), num_products)
        if key not in cls._by_folder:
            catalog = load_catalog(key[0], num_products)
            cls._by_folder[key] = cls(catalog, SearchIndex.for_catalog(catalog))
        return cls._by_folder[key]

    # --- sessions ------------------------------------------------------------------------------------
    def start(
        self, session_id: str, goal_index: int, *, show_attrs: bool = False, show_reviews: bool = False
    ) -> Session:
        """A new session on goal ``goal_index`` (an index into ``catalog.goals``), on the search page."""
        if not 0 <= goal_index < len(self.catalog.goals):
            raise KeyError(
                f"goal {goal_index} does not exist; this catalog has goals 0-{len(self.catalog.goals) - 1}"
            )
        session = Session(
            id=session_id,
            goal=self.catalog.goals[goal_index],
            show_attrs=show_attrs,
            show_reviews=show_reviews,
        )
        self._render(session)
        return session

    def act(self, session: Session, action: str) -> float:
        """Apply ``search[...]`` or ``click[...]``; returns the reward (non-zero only on buy now)."""
        match = _ACTION.match(action)
        if match is None:
            raise InvalidAction(f"Invalid action {_short(action)!r}: use search[keywords] or click[button].")
        name, argument = match.group(1).lower(), match.group(2).strip()
        if name == "search":
            self.search(session, argument)
            return 0.0
        return self.click(session, argument)

    def search(self, session: Session, keywords: str) -> None:
        """Run a search from the search page and show the first results page."""
        if session.done:
            raise InvalidAction("Invalid action: the purchase is done; the episode is over.")
        if session.view is None or not session.view.has_search_bar:
            raise InvalidAction(
                "Invalid action: there is no search box on this page; click[back to search] first."
            )
        keywords = " ".join(keywords.split()).lower()
        if not keywords:
            raise InvalidAction("Invalid action: search[] needs keywords, e.g. search[red running shoes].")
        if len(keywords) > MAX_KEYWORDS_CHARS:
            raise InvalidAction(
                f"Invalid action: search keywords are {len(keywords)} characters; "
                f"at most {MAX_KEYWORDS_CHARS}."
            )
        session.keywords, session.results = keywords, self.index.search(keywords)
        self._show_results(session, 1)

    def click(self, session: Session, label: str) -> float:
        """Click a clickable of the current page (any case: ``click[b09kp78g37]`` opens ``B09KP78G37``);
        returns the reward of buy now, else 0."""
        if session.done:
            raise InvalidAction("Invalid action: the purchase is done; the episode is over.")
        clickables = session.view.clickables if session.view else []
        typed, label = label, _as_shown(label, clickables)
        if label is None or label == "search":
            shown = ", ".join(c for c in clickables if c != "search") or "none; use search[...]"
            raise InvalidAction(
                f"Invalid action: {_short(typed)!r} is not clickable on this page (clickables: {shown})."
            )
        if label == BUY_NOW:
            return self._buy(session)
        if label == BACK_TO_SEARCH:
            session.page, session.asin, session.options, session.tab = "search", None, {}, None
        elif label == NEXT_PAGE and session.page == "results":
            self._show_results(session, session.page_number + 1)
            return 0.0
        elif label == PREV_PAGE and session.page == "results":
            self._show_results(session, session.page_number - 1)
            return 0.0
        elif label == PREV_PAGE and session.page == "sub":
            session.page, session.tab = "item", None
        elif label == PREV_PAGE and session.page == "item":
            self._show_results(session, session.page_number)
            return 0.0
        elif label in TABS and session.page == "item":
            session.page, session.tab = "sub", TABS[label]
        elif session.page == "results":
            session.page, session.asin, session.options = "item", label, {}  # the catalog's id, as shown
            session.visited.add(session.asin)
        elif session.page == "item":
            product = self.catalog.by_asin[session.asin]
            group = next(name for name, values in product["options"].items() if label in values)
            session.options[group] = label
        self._render(session)
        return 0.0

    # --- internals -----------------------------------------------------------------------------------
    def _show_results(self, session: Session, page_number: int) -> None:
        session.page, session.page_number, session.asin, session.options = "results", page_number, None, {}
        self._render(session)

    def _buy(self, session: Session) -> float:
        product = self.catalog.by_asin[session.asin]
        reward, details = get_reward(
            product, session.goal, price=self.catalog.prices[session.asin], options=session.options
        )
        session.page, session.reward, session.reward_details = "done", reward, details
        self._render(session)
        return reward

    def _render(self, session: Session) -> None:
        instruction = session.goal["instruction_text"]
        if session.page == "search":
            html = pages.search_page(session.id, instruction)
        elif session.page == "results":
            start = (session.page_number - 1) * PRODUCT_WINDOW
            shown = [self.catalog.by_asin[a] for a in session.results[start : start + PRODUCT_WINDOW]]
            html = pages.results_page(
                session.id, instruction, shown, session.page_number, len(session.results), session.visited
            )
        elif session.page == "item":
            html = pages.item_page(
                session.id,
                instruction,
                self.catalog.by_asin[session.asin],
                session.options,
                show_attrs=session.show_attrs,
                show_reviews=session.show_reviews,
            )
        elif session.page == "sub":
            html = pages.sub_page(
                session.id,
                instruction,
                self.catalog.by_asin[session.asin],
                session.tab or "Description",
                show_reviews=session.show_reviews,
            )
        else:
            html = pages.done_page(session.id, session.reward, session.asin or "", session.options)
        session.html, session.view = html, pages.parse_page(html)


def _as_shown(label: str, clickables: list[str]) -> str | None:
    """The clickable ``label`` names, spelled as the page shows it: an exact match, else the one equal to it
    ignoring case (as upstream's text env, which compares lower-cased labels); None when none is."""
    if label in clickables:
        return label
    folded = label.casefold()
    return next((c for c in clickables if c.casefold() == folded), None)


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[:limit] + "..."
