"""Where HotPotQA data comes from: the bundled generated world (in the cache) or an official file.

Bundled layout, ``<cache>/hotpotqa/world-<version>-seed<seed>/``:

- ``pages.jsonl``: one ``{"title", "sentences"}`` object per page;
- ``train.json``, ``dev.json``, ``test.json``: HotPotQA question records (``_id, question, answer,
  type, supporting_facts``) without ``context`` (the pages are shared), plus ``hops`` for the expert;
- ``manifest.json``: written last; its presence means the directory is complete.

``load(data)`` picks the source: ``data`` (a path), else ``$HOTPOTQA_DATA``, else the bundle. A file
path is read as an official HotPotQA file (:mod:`envs.hotpotqa.official`); a directory as a bundle.
"""

from __future__ import annotations

import json
import os
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

from envs.cache import cache_dir
from envs.hotpotqa.official import load_official
from envs.hotpotqa.pages import Page, PageStore
from envs.hotpotqa.tasks import Hop, HotPotQAData, Question
from envs.hotpotqa.world import SPLIT_SIZES, generate_world

#: bump whenever the generated world changes (world, names, builder, prose, questions), so caches
#: built by an older generator are not reused
BUNDLE_VERSION = "v3"
BUNDLE_SEED = 0
DATA_ENV_VAR = "HOTPOTQA_DATA"
MANIFEST = "manifest.json"


def bundle_dir() -> Path:
    """The directory the bundled world is generated into."""
    return cache_dir("hotpotqa") / f"world-{BUNDLE_VERSION}-seed{BUNDLE_SEED}"


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_bundle(
    directory: Path, store: PageStore, splits: dict[str, list[Question]], **manifest: Any
) -> Path:
    """Write a world in the bundled layout (manifest last) and return ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    pages = "".join(
        json.dumps({"title": p.title, "sentences": list(p.sentences)}) + "\n" for p in store.pages
    )
    _write_atomic(directory / "pages.jsonl", pages)
    for split, questions in splits.items():
        _write_atomic(directory / f"{split}.json", json.dumps([q.to_json() for q in questions]))
    counts = {"pages": len(store), **{split: len(qs) for split, qs in splits.items()}}
    _write_atomic(directory / MANIFEST, json.dumps({**manifest, "counts": counts}, indent=1))
    return directory


def ensure_bundled() -> Path:
    """Generate the bundled world into the cache unless it is already complete; returns its directory."""
    directory = bundle_dir()
    if (directory / MANIFEST).exists():
        return directory
    start = time.perf_counter()
    store, splits = generate_world(BUNDLE_SEED, SPLIT_SIZES)
    return write_bundle(
        directory,
        store,
        splits,
        version=BUNDLE_VERSION,
        seed=BUNDLE_SEED,
        generation_s=round(time.perf_counter() - start, 2),
    )


def _question(path: Path, n: int, record: dict[str, Any]) -> Question:
    try:
        return Question(
            id=record["_id"],
            question=record["question"],
            answer=record["answer"],
            type=record["type"],
            supporting_facts=tuple((t, int(i)) for t, i in record["supporting_facts"]),
            hops=tuple(Hop(**{**h, "keywords": tuple(h["keywords"])}) for h in record.get("hops", ())),
        )
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(
            f"{path}: record {n} is malformed ({err!r}); expected the bundled question format"
        ) from err


def load_bundle(directory: str | Path) -> HotPotQAData:
    """Read a world written by :func:`write_bundle`."""
    directory = Path(directory)
    if not (directory / MANIFEST).exists():
        raise FileNotFoundError(
            f"{directory}: no {MANIFEST}; expected a bundled HotPotQA world "
            "(pages.jsonl, <split>.json, manifest.json) or an official HotPotQA JSON file"
        )
    pages_path = directory / "pages.jsonl"
    pages = []
    with pages_path.open(encoding="utf-8") as lines:
        for n, line in enumerate(lines):
            record = json.loads(line)
            if not isinstance(record.get("title"), str) or not isinstance(record.get("sentences"), list):
                raise TypeError(f"{pages_path}: line {n + 1} must be {{'title': str, 'sentences': [str]}}")
            pages.append(Page(record["title"], tuple(record["sentences"])))
    splits = {}
    for split_path in sorted(directory.glob("*.json")):
        if split_path.name == MANIFEST:
            continue
        records = json.loads(split_path.read_text(encoding="utf-8"))
        splits[split_path.stem] = [_question(split_path, n, r) for n, r in enumerate(records)]
    return HotPotQAData(store=PageStore(pages), splits=splits, source=str(directory), data_source="generated")


@lru_cache(maxsize=4)
def _load_cached(path: str) -> HotPotQAData:
    resolved = Path(path)
    return load_official(resolved) if resolved.is_file() else load_bundle(resolved)


def load(data: str | Path | None = None) -> HotPotQAData:
    """The data an env plays: ``data`` if given, else ``$HOTPOTQA_DATA``, else the bundled world
    (generated on first use). Loaded data is cached per path within the process."""
    chosen = data if data is not None else os.environ.get(DATA_ENV_VAR) or None
    if chosen is None:
        return _load_cached(str(ensure_bundled()))
    path = Path(chosen).expanduser().resolve()
    if not path.exists():
        source = "data=" if data is not None else f"${DATA_ENV_VAR}="
        raise FileNotFoundError(
            f"{source}{chosen}: no such file or directory "
            "(expected an official HotPotQA JSON file or a bundled world directory)"
        )
    return _load_cached(str(path))
