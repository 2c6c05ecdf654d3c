"""WebShop pages as HTML (the same pages the website serves) and the text an agent reads from them.

Page structure follows upstream's templates (search, results, item, description / features / reviews,
done), with plain HTML forms instead of Flask routes, so a browser can drive them: every button posts
``label=<its text>`` to ``/<session>/click``, the search box posts to ``/<session>/search``, product
links are ``/<session>/click?label=<ASIN>``.

:func:`parse_page` derives from the HTML what upstream's text env derives with BeautifulSoup:

- ``text`` mode: the visible text nodes, stripped, joined by `` [SEP] `` (empty nodes left out);
- ``text_rich`` mode: one node a line, buttons as ``[button] x [button_]``, chosen options and visited
  products as ``[clicked button] x [clicked button_]`` (with "You have clicked x." on top);
- the clickables: button texts and product links (lowercased), option values; and whether there is a
  search box.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from html import escape
from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote

_HEAD = ('<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>WebShop</title>'
         '<link rel="icon" href="data:,"><style>{css}</style></head>\n<body>\n')
_CSS = ("body{font-family:sans-serif;max-width:960px;margin:2em auto}#instruction-text{background:#eef;padding:.5em}"
        ".btn{margin:.2em;padding:.3em .8em;cursor:pointer}.result{border-bottom:1px solid #ddd;padding:.5em 0}"
        ".radio-toolbar form{display:inline}label.selected{font-weight:bold;text-decoration:underline}"
        "a.product-link.visited{color:purple}.purchase{font-size:1.2em;background:#fc6}")
_TAIL = "</body></html>\n"


def _button(session_id: str, label: str, css: str = "btn btn-primary") -> str:
    return (f'<form method="post" action="/{quote(session_id)}/click"><input type="hidden" name="label" '
            f'value="{escape(label)}"><button type="submit" class="{css}">{escape(label)}</button></form>\n')


def _instruction(text: str) -> str:
    return f'<div id="instruction-text"><h4>Instruction:<br>{escape(text)}</h4></div>\n'


def search_page(session_id: str, instruction: str) -> str:
    """The start page: logo, instruction, search box."""
    return (_HEAD.format(css=_CSS) + '<div id="logo"><h2>WebShop</h2></div>\n' + _instruction(instruction)
            + f'<form method="post" action="/{quote(session_id)}/search">'
            + '<input id="search_input" type="text" name="search_query" placeholder="Search..." required>'
            + '<button class="btn btn-success" type="submit">Search</button></form>\n' + _TAIL)


def results_page(session_id: str, instruction: str, products: list[dict[str, Any]], page: int, total: int,
                 visited: set[str]) -> str:
    """One page of search results: back button, page header, prev/next, ASIN links, titles, prices."""
    parts = [_HEAD.format(css=_CSS), _instruction(instruction), _button(session_id, "Back to Search", "btn btn-success"),
             f"<h3>Page {page} (Total results: {total})</h3>\n"]
    if page > 1:
        parts.append(_button(session_id, "< Prev"))
    parts.append(_button(session_id, "Next >"))
    for item in products:
        css = "product-link visited" if item["asin"] in visited else "product-link"
        link = f"/{quote(session_id)}/click?label={quote(item['asin'])}"
        parts.append(f'<div class="result"><h4 class="product-asin"><a class="{css}" href="{link}">{escape(item["asin"])}</a></h4>'
                     f'<h4 class="product-title">{escape(item["Title"])}</h4>'
                     f'<h5 class="product-price">{escape(item["Price"])}</h5></div>\n')
    parts.append(_TAIL)
    return "".join(parts)


def item_page(session_id: str, instruction: str, product: dict[str, Any], chosen: dict[str, str]) -> str:
    """A product page: navigation, option groups as radio buttons, title, price, rating, tabs, Buy Now."""
    sid = quote(session_id)
    parts = [_HEAD.format(css=_CSS), _instruction(instruction), _button(session_id, "Back to Search", "btn btn-success"),
             _button(session_id, "< Prev")]
    for name, values in product["options"].items():
        parts.append(f'<div class="option-group"><h4>{escape(name)}</h4><div class="radio-toolbar">\n')
        for i, value in enumerate(values):
            selected = chosen.get(name) == value
            radio_id = escape(f"radio_{name}{i}")
            label_class = ' class="selected"' if selected else ""
            parts.append(f'<form method="post" action="/{sid}/click"><input type="hidden" name="label" value="{escape(value)}">'
                         f'<input type="radio" id="{radio_id}" name="{escape(name)}" value="{escape(value)}"'
                         f'{" checked" if selected else ""} onclick="this.form.submit()">'
                         f'<label for="{radio_id}"{label_class}>{escape(value)}</label></form>\n')
        parts.append("</div></div>\n")
    parts.append(f'<h2>{escape(product["Title"])}</h2>\n<h4>Price: {escape(product["Price"])}</h4>\n'
                 f'<h4>Rating: {escape(str(product["Rating"]))}</h4>\n')
    parts += [_button(session_id, tab) for tab in ("Description", "Features", "Reviews")]
    parts += [_button(session_id, "Buy Now", "btn btn-lg purchase"), _TAIL]
    return "".join(parts)


def sub_page(session_id: str, instruction: str, product: dict[str, Any], tab: str) -> str:
    """The Description, Features or Reviews tab of a product."""
    parts = [_HEAD.format(css=_CSS), _instruction(instruction), _button(session_id, "Back to Search", "btn btn-success"),
             _button(session_id, "< Prev")]
    if tab == "Description":
        parts.append(f'<p class="product-info">{escape(product["Description"])}</p>\n')
    elif tab == "Features":
        parts.append("<ul>" + "".join(f'<li><p class="product-info">{escape(b)}</p></li>' for b in product["BulletPoints"]) + "</ul>\n")
    else:
        for review in product["Reviews"]:
            parts.append(f'<div class="review"><h4>"{escape(str(review["title"]))}"</h4><p><span>{escape(str(review["score"]))}</span></p>'
                         f'<p class="content">{escape(str(review["body"]))}</p></div>\n')
    parts.append(_TAIL)
    return "".join(parts)


def done_page(session_id: str, reward: float, asin: str, options: dict[str, str]) -> str:
    """The page after Buy Now: thanks, what was bought, the score."""
    chosen = ", ".join(f"{k}: {v}" for k, v in options.items()) or "none"
    return (_HEAD.format(css=_CSS) + '<div id="thankyou"><h1>Thank you for shopping with us!</h1></div>\n'
            + f'<div id="stats"><h4 id="asin">Purchased {escape(asin)} (options: {escape(chosen)})</h4>\n'
            + f'<h3 id="reward">Your score (min 0.0, max 1.0)<pre>{reward}</pre></h3>'
            + '<p><a href="/new">Shop another instruction</a></p></div>\n' + _TAIL)


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
        if (tag == "button" and "btn" in classes) or (tag == "a" and "product-link" in classes):
            self.clickables[data.strip().lower()] = None


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
