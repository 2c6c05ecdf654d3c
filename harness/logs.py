"""Episode logs: one Parquet row per agent step (schema in docs/design.md), written atomically per episode.

A run directory holds::

    runs/<run>/episodes.parquet                 every finished episode (:meth:`EpisodeWriter.consolidate`)
    runs/<run>/episodes/journal-<stamp>.arrows  episodes finished since the last consolidation

A journal is an Arrow IPC stream: each record batch holds whole episodes and is appended (and
flushed to the OS) as one message, so a reader sees an episode entirely or not at all, and a crash
mid-write leaves a torn last message that readers drop. :meth:`EpisodeWriter.write` hands an
episode to a background thread that appends what has queued up within ``batch_window_s`` (0.1 s)
as one batch: a fast agent pays for one Arrow conversion per batch, not per episode, and every
episode is on disk within a fraction of a second of its end. A crash loses at most the episodes in
flight (being played, or queued for the writer); Ctrl-C and normal exits flush the queue.
:meth:`EpisodeWriter.finished` tells a rerun which episodes to skip, so none is written twice.
Text is sanitised as it is queued (:func:`agents.text.sanitize_text`: a lone surrogate from a model
becomes U+FFFD), so no string can make the journal writer fail and cost the run its other episodes.
"""
from __future__ import annotations

import atexit
import os
import queue
import tempfile
import threading
import time
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from agents.text import sanitize_text
from harness.run_dir import atomic_file, refuse_link, run_directory

#: the columns every episode log has, in order
COLUMNS: dict[str, pa.DataType] = {
    "run_id": pa.string(),
    "env": pa.string(),
    "split": pa.string(),
    "task_id": pa.string(),
    "task": pa.string(),
    "task_type": pa.string(),
    "episode": pa.int64(),
    "step": pa.int64(),
    "observation": pa.string(),
    "thought": pa.string(),
    "action": pa.string(),
    "completion": pa.string(),
    "reward": pa.float64(),
    "terminated": pa.bool_(),
    "truncated": pa.bool_(),
    "won": pa.bool_(),
    "score": pa.float64(),
    "invalid_action": pa.bool_(),
    "n_reason_tokens": pa.int64(),
    "n_act_tokens": pa.int64(),
    "latency_s": pa.float64(),
    "error": pa.string(),
}
#: optional columns, added by LM agents (null on rows of agents that do not log tokens) and guided rollouts
TOKEN_COLUMNS: dict[str, pa.DataType] = {
    "token_ids": pa.list_(pa.int64()),
    "topk_ids": pa.list_(pa.list_(pa.int64())),
    "topk_logprobs": pa.list_(pa.list_(pa.float32())),
    # the context the step was produced in (agents.context): earlier turns left out, prompt length
    "n_dropped_turns": pa.int64(),
    "prompt_tokens": pa.int64(),
    # a guide (teacher LM or per-step expert) played the step instead of the student (agents.guided);
    # read_episodes gives False where it is null or absent (logs written before the column)
    "guided": pa.bool_(),
}
SCHEMA = pa.schema([pa.field(n, t) for n, t in {**COLUMNS, **TOKEN_COLUMNS}.items()])
#: the text columns, sanitised before they reach Arrow
TEXT_COLUMNS = tuple(name for name, dtype in COLUMNS.items() if pa.types.is_string(dtype))


def _empty_value(dtype: pa.DataType) -> Any:
    if pa.types.is_boolean(dtype):
        return False
    if pa.types.is_integer(dtype):
        return 0
    return 0.0 if pa.types.is_floating(dtype) else ""


#: every :data:`COLUMNS` column at its empty value, built once (a row is built per env step)
_EMPTY_ROW: dict[str, Any] = {name: _empty_value(dtype) for name, dtype in COLUMNS.items()}


def empty_row() -> dict[str, Any]:
    """A row with every :data:`COLUMNS` column at its empty value ("", 0, 0.0, False): adding a
    column to :data:`COLUMNS` is all it takes for every writer to have it."""
    return dict(_EMPTY_ROW)


EPISODES_FILE = "episodes.parquet"
PARTS_DIR = "episodes"  # the journals' folder
JOURNAL_GLOB = "journal-*.arrows"


def _atomic_write(table: pa.Table, path: Path) -> None:
    """Write ``table`` to ``path`` through a temp file in the same directory and a rename, never through
    a symbolic link (:func:`harness.run_dir.atomic_file`)."""
    with atomic_file(path, binary=True) as handle:
        pq.write_table(table, handle)


def _check_columns(rows: Sequence[dict[str, Any]]) -> None:
    missing = sorted({c for row in rows for c in COLUMNS if c not in row})
    if missing:
        raise ValueError(f"episode rows lack columns {missing}; every row needs {list(COLUMNS)}")


def _sanitized(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` with every text column valid Unicode (lone surrogates replaced)."""
    clean = dict(row)
    for name in TEXT_COLUMNS:
        if isinstance(clean[name], str):
            clean[name] = sanitize_text(clean[name])
    return clean


def _rows_to_batch(rows: Sequence[dict[str, Any]]) -> pa.RecordBatch:
    """Rows (dicts with the :data:`COLUMNS` keys, checked by the caller; token columns optional) as a
    batch of :data:`SCHEMA`."""
    return pa.RecordBatch.from_pydict(
        {name: [row.get(name) for row in rows] for name in SCHEMA.names}, schema=SCHEMA
    )


def _validate(table: pa.Table | pa.Schema, source: Path) -> None:
    schema = table if isinstance(table, pa.Schema) else table.schema
    names = set(schema.names)
    missing = [c for c in COLUMNS if c not in names]
    if missing:
        raise ValueError(
            f"{source}: not an agentdistill episode log: missing columns {missing} "
            f"(expected {list(COLUMNS)} and optionally {list(TOKEN_COLUMNS)})"
        )
    for name, expected in {**COLUMNS, **TOKEN_COLUMNS}.items():
        if name not in names:
            continue
        actual = schema.field(name).type
        compatible = actual == expected or (
            pa.types.is_null(actual)
            or (pa.types.is_integer(expected) and pa.types.is_integer(actual))
            or (pa.types.is_floating(expected) and pa.types.is_floating(actual))
            or (pa.types.is_string(expected) and pa.types.is_large_string(actual))
            or (pa.types.is_list(expected) and (pa.types.is_list(actual) or pa.types.is_large_list(actual)))
        )
        if not compatible:
            raise ValueError(f"{source}: column {name!r} has type {actual}, expected {expected}")


def _read_file(path: Path, columns: list[str] | None = None) -> pa.Table:
    try:
        schema = pq.read_schema(path)
        _validate(schema, path)
        table = pq.read_table(path, columns=columns)
    except (pa.ArrowException, OSError) as err:
        raise ValueError(f"{path}: cannot be read as a Parquet episode log ({err})") from None
    return table


def _read_journal(path: Path) -> pa.Table:
    """The complete batches of a journal; a torn last message (a crash mid-write) is dropped."""
    try:
        reader = pa.ipc.open_stream(pa.OSFile(str(path)))
    except (pa.ArrowException, OSError) as err:
        raise ValueError(f"{path}: cannot be read as an Arrow IPC episode journal ({err})") from None
    _validate(reader.schema, path)
    batches = []
    while True:
        try:
            batches.append(reader.read_next_batch())
        except StopIteration:
            break
        except (pa.ArrowInvalid, OSError):
            break  # torn tail: the episodes in it were in flight when the writer died
    return pa.Table.from_batches(batches, schema=reader.schema)


def _journals(run_dir: Path) -> list[Path]:
    folder = run_dir / PARTS_DIR
    return sorted(folder.glob(JOURNAL_GLOB)) if folder.is_dir() else []


def _episodes_of(table: pa.Table) -> set[int]:
    return set(pc.unique(table.column("episode")).to_pylist())


def read_episodes(path: str | Path) -> pd.DataFrame:
    """The episode log at ``path`` (a run directory, a ``.parquet`` file or a journal) as a DataFrame,
    one row per step, sorted by (episode, step). A missing, corrupt or foreign file raises
    ``ValueError`` (``FileNotFoundError`` when there is nothing at ``path``) naming the file and what
    was expected. Episodes queued by an open writer of this process for that run are flushed first."""
    return _read_table(Path(path)).to_pandas()


def _read_table(path: Path) -> pa.Table:
    """:func:`read_episodes` as an Arrow table of :data:`SCHEMA` (optional columns a log lacks are
    null; ``guided`` null or absent reads False)."""
    if path.is_file():
        tables = [_read_journal(path) if path.suffix == ".arrows" else _read_file(path)]
    elif path.is_dir():
        open_writer = _OPEN_WRITERS.get(str(path.resolve()))
        if open_writer is not None:
            open_writer.flush()
        tables = []
        if (path / EPISODES_FILE).exists():
            tables.append(_read_file(path / EPISODES_FILE))
        seen = set().union(*(_episodes_of(t) for t in tables))
        for journal in _journals(path):
            table = _read_journal(journal)
            if seen:  # a crash between consolidate's write and the journals' removal: skip the copies
                table = table.filter(
                    pc.invert(pc.is_in(table.column("episode"), pa.array(sorted(seen), pa.int64())))
                )
            seen |= _episodes_of(table)
            tables.append(table)
        if not tables:
            raise FileNotFoundError(
                f"{path}: no episode log ({EPISODES_FILE} or {PARTS_DIR}/{JOURNAL_GLOB}) "
                "in this run directory"
            )
    else:
        raise FileNotFoundError(f"{path}: no such episode log (expected a run directory or a .parquet file)")
    table = pa.concat_tables([t.select([c for c in SCHEMA.names if c in t.schema.names]) for t in tables],
                             promote_options="permissive")
    for field in SCHEMA:
        if field.name not in table.schema.names:
            table = table.append_column(field.name, pa.nulls(table.num_rows, field.type))
    guided = pc.fill_null(table.column("guided").cast(pa.bool_()), False)
    table = table.set_column(table.schema.get_field_index("guided"), "guided", guided)
    return table.select(SCHEMA.names).cast(SCHEMA).sort_by([("episode", "ascending"), ("step", "ascending")])


#: resolved run dir -> this process's open writer for it (read_episodes flushes it first)
_OPEN_WRITERS: weakref.WeakValueDictionary[str, EpisodeWriter] = weakref.WeakValueDictionary()
_STOP = object()


class EpisodeWriter:
    """Writes one run's episodes: :meth:`write` queues a finished episode for the journal (appended
    by a background thread, whole episodes per batch), :meth:`flush` waits until the queue is on
    disk, :meth:`consolidate` merges everything into ``episodes.parquet``. One writer per run
    directory at a time; a second one in the same process first flushes and closes the first."""

    def __init__(self, run_dir: str | Path, max_queued: int = 1024, batch_window_s: float = 0.1):
        self.run_dir = run_directory(run_dir)
        for own in (self.run_dir / EPISODES_FILE, self.run_dir / PARTS_DIR):
            refuse_link(own)  # neither read nor written through a link
        key = str(self.run_dir.resolve())
        previous = _OPEN_WRITERS.get(key)
        if previous is not None:
            previous.close()
        _OPEN_WRITERS[key] = self
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max_queued)
        self.batch_window_s = batch_window_s
        self._hurry = threading.Event()  # set: write what is queued now (flush, close, a half-full queue)
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._sink: BinaryIO | None = None
        self._stream: pa.ipc.RecordBatchStreamWriter | None = None
        self._done = self._on_disk()

    @property
    def path(self) -> Path:
        return self.run_dir / EPISODES_FILE

    def _on_disk(self) -> set[int]:
        done: set[int] = set()
        if self.path.exists():
            done.update(_read_file(self.path, columns=["episode"]).column("episode").to_pylist())
        for journal in _journals(self.run_dir):
            done |= _episodes_of(_read_journal(journal))
        return done

    def finished(self) -> set[int]:
        """Indices of the episodes already written (on disk, or queued by this writer)."""
        return set(self._done)

    def write(self, rows: Sequence[dict[str, Any]]) -> None:
        """Queue one finished episode's rows (all with the same ``episode``); it reaches the journal
        as part of one atomic batch. Raises if the episode was written before or the writer failed."""
        self._raise_failure()
        episodes = {row["episode"] for row in rows}
        if len(episodes) != 1:
            raise ValueError(
                f"EpisodeWriter.write takes the rows of one episode, got episodes {sorted(episodes)}"
            )
        episode = episodes.pop()
        if episode in self._done:
            raise ValueError(
                f"{self.run_dir}: episode {episode} is already written; a run never writes one twice"
            )
        _check_columns(rows)
        rows = [_sanitized(row) for row in rows]
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._drain, name=f"episode-writer:{self.run_dir.name}", daemon=True
            )
            self._thread.start()
        self._done.add(episode)
        self._queue.put(list(rows))
        if self._queue.qsize() >= self._queue.maxsize // 2:
            self._hurry.set()

    def flush(self) -> None:
        """Block until every queued episode is in the journal (flushed to the OS)."""
        if self._thread is not None:
            self._hurry.set()
            self._queue.join()
        self._raise_failure()

    def close(self) -> None:
        """Flush, stop the writer thread and close the journal (a later :meth:`write` opens a new one)."""
        if self._thread is not None:
            self._hurry.set()
            self._queue.put(_STOP)
            self._thread.join()
            self._thread = None
        if self._stream is not None:
            self._stream.close()
            self._sink.close()
            self._stream = self._sink = None
        self._raise_failure()

    def consolidate(self) -> Path | None:
        """Merge ``episodes.parquet`` and the journals into ``episodes.parquet`` (atomically), then
        remove the journals."""
        self.close()
        journals = _journals(self.run_dir)
        if not journals:
            return self.path if self.path.exists() else None
        _atomic_write(_read_table(self.run_dir), self.path)
        for journal in journals:
            journal.unlink(missing_ok=True)
        if not any((self.run_dir / PARTS_DIR).iterdir()):
            (self.run_dir / PARTS_DIR).rmdir()
        return self.path

    # --- the writer thread ---------------------------------------------------------------------
    def _raise_failure(self) -> None:
        if self._error is not None:
            raise RuntimeError(
                f"{self.run_dir}: writing the episode journal failed: {self._error}"
            ) from self._error

    def _drain(self) -> None:
        """Wait for an episode, let more gather for up to ``batch_window_s`` (Arrow conversion costs
        ~80 µs a batch plus ~6 µs a row), append them all as one batch; until told to stop."""
        while True:
            items = [self._queue.get()]
            self._hurry.wait(self.batch_window_s)
            self._hurry.clear()
            while True:
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stop = any(item is _STOP for item in items)
            episodes = [item for item in items if item is not _STOP]
            try:
                if episodes and self._error is None:
                    self._append([row for rows in episodes for row in rows])
            except BaseException as err:
                self._error = err
            finally:
                for _ in items:
                    self._queue.task_done()
            if stop:
                return

    def _append(self, rows: list[dict[str, Any]]) -> None:
        batch = _rows_to_batch(rows)
        if self._stream is None:
            # the journal gets its final name only once its header and first batch are on disk
            folder = run_directory(self.run_dir / PARTS_DIR)
            final = folder / f"journal-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{id(self):x}.arrows"
            fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=folder)  # O_NOFOLLOW
            self._sink = os.fdopen(fd, "wb")
            try:
                os.fchmod(fd, 0o644)
                self._stream = pa.ipc.new_stream(self._sink, SCHEMA)
                self._stream.write_batch(batch)
                self._sink.flush()
                os.replace(tmp, final)
            except BaseException:  # a full disk, say: no half-written journal is left behind
                self._sink.close()
                self._sink = self._stream = None
                Path(tmp).unlink(missing_ok=True)
                raise
            return
        self._stream.write_batch(batch)
        self._sink.flush()


@atexit.register
def _close_open_writers() -> None:
    """Normal interpreter exit: put every queued episode on disk."""
    for writer in list(_OPEN_WRITERS.values()):
        writer.close()
