"""BM25 title search over the page store (the offline stand-in for Wikipedia's search box).

When ``search[entity]`` names no page exactly, ReAct shows the titles Wikipedia's search ranks
highest; here a BM25 index (``bm25s``) over each page's title (counted twice, as titles weigh most)
and its first sentence ranks them.
"""

from __future__ import annotations

import bm25s
from bm25s.tokenization import Tokenizer

from envs.hotpotqa.pages import PageStore

#: similar titles shown after a failed search (ReAct: ``result_titles[:5]``)
SIMILAR_TITLES = 5


class TitleSearch:
    """Ranks page titles for a free-text query with BM25 (English stopwords removed)."""

    def __init__(self, store: PageStore):
        if len(store) == 0:
            raise ValueError("cannot build a search index over an empty page store")
        self.titles = [page.title for page in store.pages]
        self._tokenizer = Tokenizer(stopwords="en")
        documents = [f"{p.title} {p.title} {(p.visible or [''])[0]}" for p in store.pages]
        corpus_ids = self._tokenizer.tokenize(
            documents, update_vocab=True, return_as="ids", show_progress=False
        )
        self._index = bm25s.BM25()
        self._index.index(corpus_ids, show_progress=False)

    def similar(self, query: str, k: int = SIMILAR_TITLES) -> list[str]:
        """Up to ``k`` titles that match ``query``, best first; [] when no query word is in any page."""
        query_ids = self._tokenizer.tokenize(
            [query], update_vocab=False, return_as="ids", show_progress=False
        )
        k = min(k, len(self.titles))
        documents, scores = self._index.retrieve(query_ids, k=k, show_progress=False, n_threads=1)
        return [self.titles[int(d)] for d, s in zip(documents[0], scores[0], strict=True) if s > 0]
