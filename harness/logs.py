"""Episode logs: one Parquet row per agent step (schema in DESIGN.md), written atomically per episode.

A run directory holds::

    runs/<run>/episodes.parquet        every finished episode (rebuilt by :meth:`EpisodeWriter.consolidate`)
    runs/<run>/episodes/ep-000042.parquet   episodes finished since the last consolidation

Each episode is written to a temp file and renamed, so a crash loses at most the episodes in
flight; :meth:`EpisodeWriter.finished` tells a rerun which episodes to skip, so none is written twice.
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

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
#: columns an LM agent adds (null on rows of agents that do not log tokens)
TOKEN_COLUMNS: dict[str, pa.DataType] = {
    "token_ids": pa.list_(pa.int64()),
    "topk_ids": pa.list_(pa.list_(pa.int64())),
    "topk_logprobs": pa.list_(pa.list_(pa.float32())),
}
SCHEMA = pa.schema([pa.field(n, t) for n, t in {**COLUMNS, **TOKEN_COLUMNS}.items()])

EPISODES_FILE = "episodes.parquet"
PARTS_DIR = "episodes"


def _atomic_write(table: pa.Table, path: Path) -> None:
    """Write ``table`` to ``path`` through a temp file in the same directory and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def rows_to_table(rows: Sequence[dict[str, Any]]) -> pa.Table:
    """Rows (dicts with the :data:`COLUMNS` keys, token columns optional) as a table of :data:`SCHEMA`."""
    missing = sorted({c for row in rows for c in COLUMNS if c not in row})
    if missing:
        raise ValueError(f"episode rows lack columns {missing}; every row needs {list(COLUMNS)}")
    data = {name: [row.get(name) for row in rows] for name in SCHEMA.names}
    return pa.Table.from_pydict(data, schema=SCHEMA)


def _validate(table: pa.Table, source: Path) -> None:
    names = set(table.schema.names)
    missing = [c for c in COLUMNS if c not in names]
    if missing:
        raise ValueError(
            f"{source}: not an agentdistill episode log: missing columns {missing} "
            f"(expected {list(COLUMNS)} and optionally {list(TOKEN_COLUMNS)})"
        )
    for name, expected in {**COLUMNS, **TOKEN_COLUMNS}.items():
        if name not in names:
            continue
        actual = table.schema.field(name).type
        compatible = actual == expected or (
            pa.types.is_null(actual)
            or (pa.types.is_integer(expected) and pa.types.is_integer(actual))
            or (pa.types.is_floating(expected) and pa.types.is_floating(actual))
            or (pa.types.is_string(expected) and pa.types.is_large_string(actual))
            or (pa.types.is_list(expected) and (pa.types.is_list(actual) or pa.types.is_large_list(actual)))
        )
        if not compatible:
            raise ValueError(f"{source}: column {name!r} has type {actual}, expected {expected}")


def _read_file(path: Path) -> pa.Table:
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as err:
        raise ValueError(f"{path}: cannot be read as a Parquet episode log ({err})") from None
    _validate(table, path)
    return table


def _part_files(run_dir: Path) -> list[Path]:
    parts = run_dir / PARTS_DIR
    return sorted(parts.glob("ep-*.parquet")) if parts.is_dir() else []


def read_episodes(path: str | Path) -> pd.DataFrame:
    """The episode log at ``path`` (a run directory or a ``.parquet`` file) as a DataFrame, one row
    per step, sorted by (episode, step). A missing, corrupt or foreign file raises ``ValueError``
    (``FileNotFoundError`` when there is nothing at ``path``) naming the file and what was expected."""
    path = Path(path)
    if path.is_file():
        tables = [_read_file(path)]
    elif path.is_dir():
        tables = []
        if (path / EPISODES_FILE).exists():
            tables.append(_read_file(path / EPISODES_FILE))
        seen = {e for t in tables for e in t.column("episode").to_pylist()}
        for part in _part_files(path):
            table = _read_file(part)
            if not seen.intersection(table.column("episode").to_pylist()):
                tables.append(table)
        if not tables:
            raise FileNotFoundError(f"{path}: no episode log ({EPISODES_FILE} or {PARTS_DIR}/ep-*.parquet) in this run directory")
    else:
        raise FileNotFoundError(f"{path}: no such episode log (expected a run directory or a .parquet file)")
    tables = [t.select([c for c in SCHEMA.names if c in t.schema.names]) for t in tables]
    frame = pa.concat_tables(tables, promote_options="permissive").to_pandas()
    return frame.sort_values(["episode", "step"], kind="stable").reset_index(drop=True)


class EpisodeWriter:
    """Writes one run's episodes: :meth:`write` one file per finished episode (atomically),
    :meth:`consolidate` merges them into ``episodes.parquet``."""

    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)

    @property
    def path(self) -> Path:
        return self.run_dir / EPISODES_FILE

    def finished(self) -> set[int]:
        """Indices of the episodes already written (in ``episodes.parquet`` or as parts)."""
        done: set[int] = set()
        if self.path.exists():
            done.update(pq.read_table(self.path, columns=["episode"]).column("episode").to_pylist())
        for part in _part_files(self.run_dir):
            done.add(int(part.stem.removeprefix("ep-")))
        return done

    def write(self, rows: Sequence[dict[str, Any]]) -> Path:
        """Write one finished episode's rows (all with the same ``episode``) atomically."""
        episodes = {row["episode"] for row in rows}
        if len(episodes) != 1:
            raise ValueError(f"EpisodeWriter.write takes the rows of one episode, got episodes {sorted(episodes)}")
        episode = episodes.pop()
        if episode in self.finished():
            raise ValueError(f"{self.run_dir}: episode {episode} is already written; a run never writes one twice")
        target = self.run_dir / PARTS_DIR / f"ep-{episode:06d}.parquet"
        _atomic_write(rows_to_table(rows), target)
        return target

    def consolidate(self) -> Path | None:
        """Merge the parts into ``episodes.parquet`` (atomically), then remove the parts."""
        parts = _part_files(self.run_dir)
        if not parts:
            return self.path if self.path.exists() else None
        frame = read_episodes(self.run_dir)
        table = pa.Table.from_pandas(frame, schema=SCHEMA, preserve_index=False)
        _atomic_write(table, self.path)
        for part in parts:
            part.unlink(missing_ok=True)
        if not any((self.run_dir / PARTS_DIR).iterdir()):
            (self.run_dir / PARTS_DIR).rmdir()
        return self.path

