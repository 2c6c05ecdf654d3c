"""A run directory's own bookkeeping: the lock (one eval or rollout plays a run at a time, one pipeline
runs a pipeline directory), ``run.json`` (what the run is, checked when it resumes) and how every file
in a run directory is written.

    with RunLock(run_dir):
        record_run(run_dir, config)    # writes run.json, or refuses a resume that asks for something else
        write_text(run_dir / "summary.json", text)

No symbolic link in a run directory is followed when writing: a run directory that is itself a link,
a link where a run file (or the lock) is due, or a lock file with other names (hard links) is refused
with one line naming it; a file is written to a new temp file in its folder (``O_EXCL|O_NOFOLLOW``)
and renamed onto its name (:func:`atomic_file`), so even a link planted meanwhile is replaced, never
written through.

``run.json`` holds the command, the commit, env and agent options with their secrets masked
(:func:`agents.redact.redact`), a fingerprint of each option set that leaves secrets out (a new API
key is the same run; any other change is not) and each env's data (:func:`harness.provenance.env_data`).
"""
from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import stat
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from agents.redact import fingerprint, redact
from harness.errors import UserError

LOCK_FILE = "run.lock"
RUN_FILE = "run.json"
#: settings a resumed run must repeat exactly (option sets are compared by fingerprint)
SAME_VALUE = ("env", "split", "agent", "seed", "task_offset")
#: option set -> the key of its fingerprint
OPTION_SETS = {"env_kwargs": "env_fingerprint", "agent_kwargs": "agent_fingerprint"}
#: what of the recorded data a resumed run must play again
DATA_KEYS = ("data_source", "data_fingerprint", "protocol")


class RunLock:
    """An exclusive lock on a run directory while this process plays it: ``run.lock`` with the holder's
    pid, host, start time and ``kind``, locked with ``flock``. A second process on the same directory is
    refused naming the lock and its holder; a lock left by a process that died holds no ``flock`` and is
    taken over. ``kind`` says what holds it in messages: "eval or rollout", or "pipeline". A run
    directory that holds a symbolic link (any entry of its own) is refused when the lock is taken."""

    def __init__(self, run_dir: str | Path, kind: str = "eval or rollout"):
        self.path = Path(run_dir) / LOCK_FILE
        self.kind = kind
        self._fd: int | None = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def acquire(self) -> None:
        """Take the lock, or raise :class:`UserError` when another process holds it (or when the run
        directory or its lock file is a symbolic link)."""
        run_directory(self.path.parent)
        while True:
            fd = _open_lock(self.path)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder, kind = _read_holder(fd), _holder_kind(fd) or self.kind
                os.close(fd)
                raise UserError(
                    f"{self.path.parent} is being {'run' if kind == 'pipeline' else 'played'} by another "
                    f"{kind} ({holder}, holding {self.path}); wait for it to end, or pick another --run"
                ) from None
            if _same_file(fd, self.path):  # not a file an ending holder unlinked meanwhile
                break
            os.close(fd)
        self._fd = fd
        try:
            for entry in sorted(self.path.parent.iterdir()):
                refuse_link(entry)  # at the start, not only where each file is written
        except BaseException:
            self.release()
            raise
        previous = _read_holder(fd)
        if previous != "no pid recorded" and not previous.startswith(f"pid {os.getpid()} "):
            print(f"note: {self.path} was left by {previous}, which has ended; taking it over",
                  file=sys.stderr)
        os.ftruncate(fd, 0)
        started = datetime.now(UTC).isoformat(timespec="seconds")
        os.pwrite(fd, f"{os.getpid()} {socket.gethostname()} {started} {self.kind}\n".encode(), 0)

    def release(self) -> None:
        """Remove the lock file and let go of the lock."""
        if self._fd is None:
            return
        self.path.unlink(missing_ok=True)
        os.close(self._fd)
        self._fd = None


def _open_lock(path: Path) -> int:
    """``path`` opened for the lock without following a link; a link, or anything but a regular file with
    one name, is refused (it could be another file's name: the lock truncates what it opens)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o644)
    except OSError as err:
        if err.errno == errno.ELOOP:
            refuse_link(path)
        raise
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_nlink > 1:
        os.close(fd)
        what = ("is not a regular file" if not stat.S_ISREG(info.st_mode)
                else f"has {info.st_nlink} names (hard links: another file's content)")
        raise UserError(f"{path}: the run lock {what}; it is never written through: remove it, "
                        "or pick another --run")
    return fd


def _read_holder(fd: int) -> str:
    text = os.pread(fd, 200, 0).decode("utf-8", "replace").split()
    if not text or not text[0].isdigit():
        return "no pid recorded"
    host = text[1] if len(text) > 1 else "an unknown host"
    return f"pid {text[0]} on {host}" + (f" since {text[2]}" if len(text) > 2 else "")


def _holder_kind(fd: int) -> str:
    """What the lock's holder recorded itself as ("eval or rollout", "pipeline"), or "" (older locks)."""
    return " ".join(os.pread(fd, 200, 0).decode("utf-8", "replace").split()[3:])


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), os.lstat(path))
    except FileNotFoundError:
        return False


def refuse_link(path: Path) -> None:
    """:class:`UserError` naming ``path`` and its target when it is a symbolic link (a run directory's
    files are never written through one)."""
    if path.is_symlink():
        raise UserError(
            f"{path} is a symbolic link (to {os.readlink(path)}); a run directory's files are never written "
            "through a link: remove it, or pick another --run"
        )


def run_directory(path: str | Path) -> Path:
    """``path`` as a run directory, created with its parents; one that is a symbolic link is refused,
    naming its target (give that as the run instead): the link is not followed."""
    path = Path(path)
    if path.is_symlink():
        raise UserError(
            f"{path}: the run directory is a symbolic link (to {os.readlink(path)}), which is not followed; "
            f"give the directory it points to ({path.resolve()}) as the run, or pick another --run"
        )
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def atomic_file(path: str | Path, *, binary: bool = False) -> Iterator[IO[Any]]:
    """A new file to write ``path``'s content to: a temp file in its folder, made with ``O_EXCL|O_NOFOLLOW``
    and renamed onto ``path`` when the block ends (removed if it raises). A symbolic link at ``path`` is
    refused (:func:`refuse_link`); one planted later is replaced by the rename, never written through."""
    path = Path(path)
    refuse_link(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})) as handle:
            yield handle
            os.fchmod(handle.fileno(), 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically, never through a symbolic link (:func:`atomic_file`)."""
    with atomic_file(path) as handle:
        handle.write(text)


def record_run(run_dir: str | Path, config: dict[str, Any]) -> None:
    """Write ``run.json`` for ``config`` (its options with secrets masked and fingerprinted), or, when
    the run exists, check that ``config`` asks for the same run on the same data; :class:`UserError`
    naming what differs otherwise. A run.json from an older version that holds a secret is rewritten
    without it."""
    path = Path(run_dir) / RUN_FILE
    refuse_link(path)
    record = dict(config)
    for key, print_key in OPTION_SETS.items():
        options = dict(config.get(key) or {})
        record[key], record[print_key] = redact(options), fingerprint(options)
    if not path.exists():
        _write_json(path, record)
        return
    old = read_run_file(path)
    changed = [f"{key}: was {old.get(key)!r}, now {record[key]!r}"
               for key in SAME_VALUE if key in old and old.get(key) != record[key]]
    for key, print_key in OPTION_SETS.items():
        if (old.get(print_key) or fingerprint(old.get(key) or {})) != record[print_key]:
            changed.append(f"{key}: was {redact(old.get(key))!r}, now {record[key]!r}")
    if changed:
        raise UserError(
            f"{run_dir} holds a different run ({'; '.join(changed)}); pick another --run or delete it"
        )
    old_data, new_data = old.get("data"), record.get("data")
    if isinstance(old_data, dict) and isinstance(new_data, dict):
        differs = [key for key in DATA_KEYS if old_data.get(key) != new_data.get(key)]
        if differs:
            def shown(data: dict[str, Any]) -> str:
                return f"{data.get('data_source')} (fingerprint {data.get('data_fingerprint')})" + (
                    f", protocol {data.get('protocol')}" if "protocol" in differs else "")

            raise UserError(
                f"{run_dir} was played on {shown(old_data)}; this run would play {shown(new_data)}: "
                "a resumed run never mixes data; point the env at the run's data again, or pick another --run"
            )
    if redact(old) != old:
        _write_json(path, redact(old))


def read_run_file(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``; :class:`UserError` naming the file when it is not one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise UserError(
            f"{path}: not readable run metadata ({err}); restore it, or pick another --run"
        ) from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a JSON object of run metadata, found {type(data).__name__}; "
                        "restore it, or pick another --run")
    return data


def _write_json(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` to ``path`` atomically (:func:`atomic_file`)."""
    write_text(path, json.dumps(data, indent=2, default=str))
