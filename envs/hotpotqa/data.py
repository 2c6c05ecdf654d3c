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
from envs.json_files import json_type, parse_json, read_json

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


#: what a bundled world's files hold, for error messages
PAGE_FORMAT = "one JSON object {'title': str, 'sentences': [str]} per line"
QUESTION_FORMAT = "a JSON list of question records (_id, question, answer, type, supporting_facts, hops)"
HOP_FIELDS = {"title": str, "sentence": int, "keywords": list, "value": str, "fact": str, "need": str}
KIND_NAMES = {str: "a string", int: "an integer", list: "a list"}


def _strings(value: Any, where: str, name: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{where}: field {name!r} must be a list of strings, got {json_type(value)}")
    return tuple(value)


def _hop(where: str, hop: Any) -> Hop:
    if not isinstance(hop, dict):
        raise ValueError(f"{where}: expected an object with {sorted(HOP_FIELDS)}, got {json_type(hop)}")
    for key, kind in HOP_FIELDS.items():
        value = hop.get(key)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise ValueError(f"{where}: field {key!r} must be {KIND_NAMES[kind]}, got {json_type(value)}")
    keywords = _strings(hop["keywords"], where, "keywords")
    return Hop(**{**{k: hop[k] for k in HOP_FIELDS}, "keywords": keywords})


def _question(path: Path, n: int, record: Any) -> Question:
    """Record ``n`` of a bundled split file, each field checked for its type."""
    where = f"{path}: record {n}"
    if not isinstance(record, dict):
        raise ValueError(f"{where}: expected a question object, got {json_type(record)}")
    for key in ("_id", "question", "answer", "type"):
        if not isinstance(record.get(key), str):
            raise ValueError(f"{where}: field {key!r} must be a string, got {json_type(record.get(key))}")
    facts = record.get("supporting_facts")
    if not isinstance(facts, list) or not all(
        isinstance(f, list) and len(f) == 2 and isinstance(f[0], str) and type(f[1]) is int for f in facts
    ):
        expected = "a list of [title, sentence index]"
        raise ValueError(f"{where}: field 'supporting_facts' must be {expected}, got {json_type(facts)}")
    hops = record.get("hops", [])
    if not isinstance(hops, list):
        raise ValueError(f"{where}: field 'hops' must be a list of hop objects, got {json_type(hops)}")
    return Question(
        id=record["_id"],
        question=record["question"],
        answer=record["answer"],
        type=record["type"],
        supporting_facts=tuple((t, i) for t, i in facts),
        hops=tuple(_hop(f"{where} hops[{k}]", h) for k, h in enumerate(hops)),
    )


def _page(where: str, line: str) -> Page:
    record = parse_json(line, where, PAGE_FORMAT)
    if not isinstance(record, dict):
        raise ValueError(f"{where}: expected {PAGE_FORMAT}, got {json_type(record)}")
    title = record.get("title")
    if not isinstance(title, str):
        raise ValueError(f"{where}: field 'title' must be a string, got {json_type(title)}")
    return Page(title, _strings(record.get("sentences"), where, "sentences"))


def load_bundle(directory: str | Path) -> HotPotQAData:
    """Read a world written by :func:`write_bundle`; a malformed file is a ``ValueError`` naming it, the
    line or record and the field."""
    directory = Path(directory)
    if not (directory / MANIFEST).exists():
        raise FileNotFoundError(
            f"{directory}: no {MANIFEST}; expected a bundled HotPotQA world "
            "(pages.jsonl, <split>.json, manifest.json) or an official HotPotQA JSON file"
        )
    pages_path = directory / "pages.jsonl"
    try:
        with pages_path.open(encoding="utf-8") as lines:
            pages = [_page(f"{pages_path}: line {n + 1}", line) for n, line in enumerate(lines)]
    except UnicodeDecodeError as err:
        raise ValueError(f"{pages_path}: not UTF-8 text ({err.reason}); expected {PAGE_FORMAT}") from err
    splits = {}
    for split_path in sorted(directory.glob("*.json")):
        if split_path.name == MANIFEST:
            continue
        records = read_json(split_path, QUESTION_FORMAT)
        if not isinstance(records, list):
            raise ValueError(f"{split_path}: expected {QUESTION_FORMAT}, got {json_type(records)}")
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
