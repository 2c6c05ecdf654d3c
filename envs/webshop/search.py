"""BM25 product search (bm25s), over the same document text upstream indexes with Lucene:
``title + description + first bullet point + "option: values, and ..."``, lowercased.

Scoring follows upstream's pyserini/Lucene defaults: Lucene's BM25 variant with k1 = 0.9, b = 0.4,
English stopwords and Porter stemming (PyStemmer's ``porter``, the algorithm of Lucene's
PorterStemFilter), so "headphone" and "headphones" find the same products.

The index is built once per catalog and saved in the cache, keyed by a hash of the indexed text and
the scoring settings.
"""

from __future__ import annotations

import hashlib
import json
import weakref
from typing import Any, ClassVar

import bm25s
import numpy as np
import Stemmer

from envs.cache import cache_dir

SEARCH_RETURN_N = 50  # upstream: the engine keeps the top 50 hits
STOPWORDS = "en"
K1, B, METHOD = 0.9, 0.4, "lucene"  # pyserini's LuceneSearcher defaults
STEMMER = "porter"
#: what the index depends on besides the documents; a change rebuilds cached indexes
SETTINGS = f"bm25s-{METHOD}-k1={K1}-b={B}-stem={STEMMER}-stop={STOPWORDS}"


def document_text(product: dict[str, Any]) -> str:
    """The text upstream indexes for one product."""
    option_text = ", and ".join(f"{name}: {', '.join(values)}" for name, values in product["options"].items())
    bullets = product["BulletPoints"]
    return " ".join(
        [product["Title"], product["Description"], bullets[0] if bullets else "", option_text]
    ).lower()


_stemmer = Stemmer.Stemmer(STEMMER)


def _tokens(texts: list[str]) -> list[list[str]]:
    return bm25s.tokenize(texts, stopwords=STOPWORDS, stemmer=_stemmer, return_ids=False, show_progress=False)


class SearchIndex:
    """A BM25 index over a catalog's products; ``search(keywords)`` returns up to 50 ASINs, best first."""

    _live: ClassVar[dict[str, SearchIndex]] = {}
    #: id(catalog) -> (that catalog, its index): a second env on the same catalog skips hashing it
    _by_catalog: ClassVar[dict[int, tuple[weakref.ref, SearchIndex]]] = {}

    def __init__(self, retriever: bm25s.BM25, asins: list[str]):
        self.retriever = retriever
        self.asins = asins

    @classmethod
    def for_catalog(cls, catalog: Any) -> SearchIndex:
        """The catalog's index: from memory, else from the cache, else built (and saved)."""
        seen = cls._by_catalog.get(id(catalog))
        if seen is not None and seen[0]() is catalog:
            return seen[1]
        docs = [document_text(p) for p in catalog.products]
        asins = [p["asin"] for p in catalog.products]
        key = hashlib.sha256(
            "\n".join([SETTINGS] + [a + "\t" + d for a, d in zip(asins, docs, strict=True)]).encode()
        ).hexdigest()[:16]
        if key in cls._live:
            cls._by_catalog[id(catalog)] = (weakref.ref(catalog), cls._live[key])
            return cls._live[key]
        folder = cache_dir("webshop", "index", key)
        if (folder / "asins.json").exists():
            retriever = bm25s.BM25.load(str(folder), show_progress=False)
        else:
            retriever = bm25s.BM25(k1=K1, b=B, method=METHOD)
            retriever.index(_tokens(docs), show_progress=False)
            retriever.save(str(folder), show_progress=False)
            tmp = folder / ".asins.json.tmp"
            tmp.write_text(json.dumps(asins))
            tmp.replace(folder / "asins.json")  # written last: marks the index complete
        index = cls(retriever, asins)
        cls._live[key] = index
        cls._by_catalog[id(catalog)] = (weakref.ref(catalog), index)
        return index

    def search(self, keywords: str, k: int = SEARCH_RETURN_N) -> list[str]:
        """ASINs of the (at most ``k``) products with a positive BM25 score for ``keywords``, best first."""
        tokens = _tokens([keywords.lower()])[0]
        ids = self.retriever.get_tokens_ids(tokens)
        if not ids:
            return []
        scores = self.retriever.get_scores(ids)  # (num_docs,)
        top = np.argsort(-scores, kind="stable")[:k]  # (<=k,)
        return [self.asins[i] for i in top if scores[i] > 0]
