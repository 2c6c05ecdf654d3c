"""WebShop pages as HTML (the same pages the website serves) and the text an agent reads from them.

Page structure follows upstream's templates (search, results, item, description / features / reviews /
attributes, done), rendered from Jinja2 templates (``templates/``, autoescaped) with plain HTML forms
instead of Flask routes, so a browser can drive them: every button posts
``label=<its text>`` to ``/<session>/click``, the search box posts to ``/<session>/search``, product
links are ``/<session>/click?label=<ASIN>``.

:func:`parse_page` derives from the HTML what upstream's text env derives with BeautifulSoup:

- ``text`` mode: the visible text nodes, stripped, joined by `` [SEP] `` (empty nodes left out);
- ``text_rich`` mode: one node a line, buttons as ``[button] x [button_]``, chosen options and visited
  products as ``[clicked button] x [clicked button_]`` (with "You have clicked x." on top);
- the clickables: button texts (lowercased, as upstream lists them), product ids as the page shows them
  (``B09KP78G37``), option values; and whether there is a search box.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote

import jinja2

#: the tabs of an item page; "Attributes" only with ``show_attrs`` (upstream's SHOW_ATTRS_TAB, off by default)
TABS = ("Description", "Features", "Reviews")
ATTRIBUTES_TAB = "Attributes"
#: what upstream's pages show for a product's rating when its reviews file is absent (its default download)
NO_RATING = "N.A."

_templates = jinja2.Environment(
    loader=jinja2.PackageLoader("envs.webshop", "templates"),
    autoescape=True,  # every value (instruction, titles, model-chosen search words) is escaped
    trim_blocks=True,
    lstrip_blocks=True,
    undefined=jinja2.StrictUndefined,
)
_templates.filters["urlquote"] = lambda value: quote(str(value))


def _render(template: str, **values: Any) -> str:
    return _templates.get_template(template).render(**values)


def search_page(session_id: str, instruction: str) -> str:
    """The start page: logo, instruction, search box."""
    return _render("search.html", session_id=session_id, instruction=instruction)


def results_page(
    session_id: str,
    instruction: str,
    products: list[dict[str, Any]],
    page: int,
    total: int,
    visited: set[str],
) -> str:
    """One page of search results: back button, page header, prev/next, ASIN links, titles, prices."""
    return _render(
        "results.html",
        session_id=session_id,
        instruction=instruction,
        products=products,
        page=page,
        total=total,
        visited=visited,
    )


def item_page(
    session_id: str,
    instruction: str,
    product: dict[str, Any],
    chosen: dict[str, str],
    *,
    show_attrs: bool = False,
    show_reviews: bool = False,
) -> str:
    """A product page: navigation, option groups as radio buttons, title, price, rating, tabs, Buy Now.

    The rating is upstream's "N.A." unless ``show_reviews``; ``show_attrs`` adds the Attributes tab."""
    tabs = TABS + ((ATTRIBUTES_TAB,) if show_attrs else ())
    rating = product["Rating"] if show_reviews else NO_RATING
    return _render(
        "item.html",
        session_id=session_id,
        instruction=instruction,
        product=product,
        chosen=chosen,
        rating=rating,
        tabs=tabs,
    )


def sub_page(
    session_id: str, instruction: str, product: dict[str, Any], tab: str, *, show_reviews: bool = False
) -> str:
    """The Description, Features, Reviews or Attributes tab of a product (reviews only with ``show_reviews``,
    as upstream's default download has none)."""
    if tab not in TABS + (ATTRIBUTES_TAB,):
        raise ValueError(f"unknown item tab {tab!r}; expected one of {TABS + (ATTRIBUTES_TAB,)}")
    reviews = product["Reviews"] if show_reviews else []
    return _render(
        "sub.html", session_id=session_id, instruction=instruction, product=product, tab=tab, reviews=reviews
    )


def done_page(session_id: str, reward: float, asin: str, options: dict[str, str]) -> str:
    """The page after Buy Now: thanks, what was bought, the score."""
    chosen = ", ".join(f"{k}: {v}" for k, v in options.items()) or "none"
    return _render("done.html", session_id=session_id, reward=reward, asin=asin, chosen=chosen)


# --- HTML -> what the agent sees ------------------------------------------------------------------------
_INVISIBLE = {"style", "script", "head", "title", "meta"}


@dataclass
class ParsedPage:
    """What :func:`parse_page` reads from one page."""

    text: str
    clickables: list[str] = field(default_factory=list)
    has_search_bar: bool = False


class _PageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, dict[str, str]]] = []
        self.nodes: list[tuple[str, str, dict[str, str]]] = []  # (text, parent tag, parent attrs)
        self.clickables: dict[str, None] = {}
        self.has_search_bar = False
        self._capture: str | None = None  # "button" / "link" while inside one

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {k: v or "" for k, v in attrs}
        if tag == "input":
            if attributes.get("id") == "search_input":
                self.has_search_bar = True
            if attributes.get("type") == "radio":
                self.clickables[attributes.get("value", "")] = None
            return  # void element: never on the stack
        if tag in ("br", "meta", "link", "img", "hr"):
            return
        self.stack.append((tag, attributes))

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                break

    def handle_data(self, data: str) -> None:
        tag, attributes = self.stack[-1] if self.stack else ("[document]", {})
        if tag in _INVISIBLE or not data.strip():
            return
        self.nodes.append((data, tag, attributes))
        classes = attributes.get("class", "").split()
        if tag == "button" and "btn" in classes:
            self.clickables[data.strip().lower()] = None
        elif tag == "a" and "product-link" in classes:
            self.clickables[data.strip()] = None  # the id as shown: clicked as the page shows it


def parse_page(html: str, rich: bool = False) -> ParsedPage:
    """The agent's view of ``html``: text (``text`` or ``text_rich`` mode), clickables, search box."""
    parser = _PageParser()
    parser.feed(html)
    parser.close()
    if not rich:
        text = " [SEP] ".join(t.strip() for t, _, _ in parser.nodes)
    else:
        lines, clicked = [], []
        for t, tag, attributes in parser.nodes:
            classes = attributes.get("class", "").split()
            if tag == "button":
                lines.append(f"[button] {t} [button_]")
            elif tag == "label":
                if "selected" in classes:
                    lines.append(f"  [clicked button] {t} [clicked button_]")
                    clicked.append(f"You have clicked {t}.")
                else:
                    lines.append(f"  [button] {t} [button_]")
            elif "product-link" in classes:
                marker = "clicked button" if "visited" in classes else "button"
                lines.append(f"\n[{marker}] {t} [{marker}_]")
            else:
                lines.append(t)
        text = "".join(c + "\n" for c in clicked) + "".join(line + "\n" for line in lines)
    return ParsedPage(text=text, clickables=list(parser.clickables), has_search_bar=parser.has_search_bar)
