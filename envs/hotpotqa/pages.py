"""The local encyclopaedia: pages made of sentences, exact-title access and ReAct's page views.

ReAct's ``WikiEnv`` splits a page into sentences and (a) shows the first 5 sentences after a
successful search, (b) pages through the sentences that contain a lookup keyword
(case-insensitive substring). HotPotQA contexts and the generated world already come as sentence
lists, so pages are stored that way and no text splitting is needed (which also avoids ReAct's
``'. '``-splitting artefacts such as doubled full stops).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

#: sentences shown by a successful search (ReAct: ``sentences[:5]``)
SUMMARY_SENTENCES = 5


@dataclass(frozen=True)
class Page:
    """One encyclopaedia page: its unique title and its sentences in order (empty ones hidden from views)."""

    title: str
    sentences: tuple[str, ...]

    @property
    def visible(self) -> list[str]:
        """The non-empty sentences, in order."""
        return [s for s in self.sentences if s]

    def summary(self, n: int = SUMMARY_SENTENCES) -> str:
        """The first ``n`` non-empty sentences joined by spaces (what ``search[title]`` shows)."""
        return " ".join(self.visible[:n])

    def sentences_with(self, keyword: str) -> list[str]:
        """The sentences containing ``keyword``, ignoring case, in page order (what ``lookup`` shows)."""
        needle = keyword.lower()
        return [s for s in self.visible if needle in s.lower()]


def title_key(title: str) -> str:
    """The form under which titles are matched exactly: case-folded, whitespace collapsed."""
    return " ".join(title.split()).casefold()


class PageStore:
    """All pages by title. Titles are unique up to :func:`title_key`; a clash is an error."""

    def __init__(self, pages: Iterable[Page]):
        self.pages: list[Page] = []
        self._by_key: dict[str, Page] = {}
        for page in pages:
            key = title_key(page.title)
            if not key:
                raise ValueError(f"page with an empty title (sentences: {page.sentences[:1]!r})")
            if key in self._by_key:
                raise ValueError(f"two pages share the title {page.title!r}")
            self._by_key[key] = page
            self.pages.append(page)

    def __len__(self) -> int:
        return len(self.pages)

    def __contains__(self, title: object) -> bool:
        return isinstance(title, str) and title_key(title) in self._by_key

    def get(self, title: str) -> Page | None:
        """The page whose title matches ``title`` exactly (ignoring case and extra whitespace), else None."""
        return self._by_key.get(title_key(title))

    def __getitem__(self, title: str) -> Page:
        page = self.get(title)
        if page is None:
            raise KeyError(f"no page titled {title!r}")
        return page
