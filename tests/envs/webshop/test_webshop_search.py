"""Search as upstream's Lucene index: Porter stemming, BM25 with k1 = 0.9 and b = 0.4."""

from __future__ import annotations

import bm25s
import pytest

from envs.webshop.data import load_catalog, resolve_data
from envs.webshop.search import K1, B, SearchIndex, _tokens


@pytest.fixture(scope="module")
def index():
    return SearchIndex.for_catalog(load_catalog(resolve_data(None)))


@pytest.mark.parametrize(
    "singular, plural",
    [
        ("headphone", "headphones"),
        ("wireless earbud", "wireless earbuds"),
        ("bar stool", "bar stools"),
        ("running shoe", "running shoes"),
        ("throw pillow cover", "throw pillow covers"),
    ],
)
def test_singular_and_plural_find_the_same_products(index, singular, plural):
    found = index.search(singular)
    assert found and found == index.search(plural)


def test_porter_stems_and_lucene_parameters(index):
    assert _tokens(["Cushioned Running Shoes"])[0] == ["cushion", "run", "shoe"]
    assert (K1, B) == (0.9, 0.4)
    retriever = index.retriever
    assert isinstance(retriever, bm25s.BM25) and (retriever.k1, retriever.b) == (0.9, 0.4)
    assert retriever.method == "lucene"


def test_search_ranks_the_words_asked_for(index):
    catalog = load_catalog(resolve_data(None))
    top = [catalog.by_asin[a] for a in index.search("sulfate free shampoo")[:5]]
    assert all(p["query"] in ("shampoo", "dry shampoo") for p in top)
    assert index.search("zzzzqqq") == []
