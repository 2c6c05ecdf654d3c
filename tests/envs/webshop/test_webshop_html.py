"""Page rendering (Jinja2 templates, autoescaped) and the text an agent reads from the HTML."""

from __future__ import annotations

import pytest

from envs.webshop import html as pages

PRODUCT = {
    "asin": "B0TEST0001",
    "Title": 'Acme <b>"Bold"</b> Shampoo & Co',
    "Price": "$12.5",
    "Rating": 4.5,
    "Description": "Gentle <script>alert(1)</script> wash.",
    "BulletPoints": ["Sulfate free", "Argan oil"],
    "Reviews": [{"title": "Great", "score": 5, "body": "Works."}],
    "Attributes": ["sulfate free", "argan oil"],
    "options": {"size": ["8 fl oz", "16 fl oz"], "scent": ["mint"]},
    "category": "beauty",
    "query": "shampoo",
    "product_category": "Beauty › Hair Care › Shampoos",
}
INSTRUCTION = "i need <i>sulfate free</i> shampoo & more"


def test_text_observations_are_unchanged():
    """The text mode of every page, byte for byte as before the move to templates."""
    assert pages.parse_page(pages.search_page("s1", INSTRUCTION)).text == (
        "WebShop [SEP] Instruction: [SEP] i need <i>sulfate free</i> shampoo & more [SEP] Search"
    )
    results = pages.results_page("s1", INSTRUCTION, [PRODUCT], 2, 31, {"B0TEST0001"})
    assert pages.parse_page(results).text == (
        "Instruction: [SEP] i need <i>sulfate free</i> shampoo & more [SEP] Back to Search [SEP] "
        "Page 2 (Total results: 31) [SEP] < Prev [SEP] Next > [SEP] B0TEST0001 [SEP] "
        'Acme <b>"Bold"</b> Shampoo & Co [SEP] $12.5'
    )
    item = pages.item_page("s1", INSTRUCTION, PRODUCT, {"size": "16 fl oz"})
    assert pages.parse_page(item).text == (
        "Instruction: [SEP] i need <i>sulfate free</i> shampoo & more [SEP] Back to Search [SEP] < Prev "
        "[SEP] size [SEP] 8 fl oz [SEP] 16 fl oz [SEP] scent [SEP] mint [SEP] "
        'Acme <b>"Bold"</b> Shampoo & Co [SEP] Price: $12.5 [SEP] Rating: N.A. [SEP] Description [SEP] '
        "Features [SEP] Reviews [SEP] Buy Now"
    )
    rich = pages.parse_page(item, rich=True).text
    assert (
        rich.startswith("You have clicked 16 fl oz.\n")
        and "  [clicked button] 16 fl oz [clicked button_]" in rich
    )
    features = pages.sub_page("s1", INSTRUCTION, PRODUCT, "Features")
    assert pages.parse_page(features).text.endswith("< Prev [SEP] Sulfate free [SEP] Argan oil")
    done = pages.done_page("s1", 0.5, "B0TEST0001", {"size": "16 fl oz"})
    assert pages.parse_page(done).text == (
        "Thank you for shopping with us! [SEP] Purchased B0TEST0001 (options: size: 16 fl oz) [SEP] "
        "Your score "
        "(min 0.0, max 1.0) [SEP] 0.5 [SEP] Shop another instruction"
    )


def test_everything_is_escaped():
    html = pages.item_page("s 1/x", INSTRUCTION, PRODUCT, {})
    assert (
        "<i>" not in html and "<b>" not in html and "&lt;b&gt;" in html and 'action="/s%201/x/click"' in html
    )
    assert "<script>" not in pages.sub_page("s1", INSTRUCTION, PRODUCT, "Description")


def test_clickables_and_tabs():
    view = pages.parse_page(pages.item_page("s1", INSTRUCTION, PRODUCT, {}))
    assert view.clickables == [
        "back to search",
        "< prev",
        "8 fl oz",
        "16 fl oz",
        "mint",
        "description",
        "features",
        "reviews",
        "buy now",
    ]
    shown = pages.parse_page(
        pages.item_page("s1", INSTRUCTION, PRODUCT, {}, show_attrs=True, show_reviews=True)
    )
    assert "attributes" in shown.clickables and "Rating: 4.5" in shown.text
    attributes = pages.parse_page(pages.sub_page("s1", INSTRUCTION, PRODUCT, "Attributes")).text
    assert attributes.endswith(
        "sulfate free [SEP] argan oil [SEP] beauty [SEP] shampoo [SEP] Beauty › Hair Care › Shampoos"
    )
    assert "Works." not in pages.parse_page(pages.sub_page("s1", INSTRUCTION, PRODUCT, "Reviews")).text
    reviews = pages.sub_page("s1", INSTRUCTION, PRODUCT, "Reviews", show_reviews=True)
    assert pages.parse_page(reviews).text.endswith('"Great" [SEP] 5 [SEP] Works.')
    with pytest.raises(ValueError, match="unknown item tab 'Photos'"):
        pages.sub_page("s1", INSTRUCTION, PRODUCT, "Photos")
