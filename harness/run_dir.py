"""A run directory's own bookkeeping: the lock (one eval or rollout plays a run at a time) and
``run.json`` (what the run is, checked when it resumes).

    with RunLock(run_dir):
        record_run(run_dir, config)    # writes run.json, or refuses a resume that asks for something else

``run.json`` holds the command, the commit, env and agent options with their secrets masked
(:func:`agents.redact.redact`), a fingerprint of each option set that leaves secrets out (a new API
key is the same run; any other change is not) and each env's data (:func:`harness.provenance.env_data`).
"""
from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import tempfile
from pathlib import Path
from typing import Any

from agents.redact import fingerprint, redact
from harness.errors import UserError

LOCK_FILE = "run.lock"
RUN_FILE = "run.json"
#: settings a resumed run must repeat exactly (option sets are compared by fingerprint)
SAME_VALUE = ("env", "split", "agent", "seed")
#: option set -> the key of its fingerprint
OPTION_SETS = {"env_kwargs": "env_fingerprint", "agent_kwargs": "agent_fingerprint"}
#: what of the recorded data a resumed run must play again
DATA_KEYS = ("data_source", "data_fingerprint", "protocol")


class RunLock:
    """An exclusive lock on a run directory while this process plays it: ``run.lock`` with the holder's
    pid, locked with ``flock``. A second eval or rollout of the same run is refused naming the lock and
    the pid; a lock left by a process that died holds no ``flock`` and is taken over."""

    def __init__(self, run_dir: str | Path):
        self.path = Path(run_dir) / LOCK_FILE
        self._fd: int | None = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def acquire(self) -> None:
        """Take the lock, or raise :class:`UserError` when another process holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_holder(fd)
                os.close(fd)
                raise UserError(
                    f"{self.path.parent} is being played by another eval or rollout ({holder}, holding "
                    f"{self.path}); wait for it to end, or pick another --run"
                ) from None
            if _same_file(fd, self.path):  # not a file an ending holder unlinked meanwhile
                break
            os.close(fd)
        previous = _read_holder(fd)
        if previous != "no pid recorded" and not previous.startswith(f"pid {os.getpid()} "):
            print(f"note: {self.path} was left by {previous}, which has ended; taking it over",
                  file=sys.stderr)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        """Remove the lock file and let go of the lock."""
        if self._fd is None:
            return
        self.path.unlink(missing_ok=True)
        os.close(self._fd)
        self._fd = None


def _read_holder(fd: int) -> str:
    text = os.pread(fd, 200, 0).decode("utf-8", "replace").split()
    if not text or not text[0].isdigit():
        return "no pid recorded"
    return f"pid {text[0]} on {text[1] if len(text) > 1 else 'an unknown host'}"


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except FileNotFoundError:
        return False


def record_run(run_dir: str | Path, config: dict[str, Any]) -> None:
    """Write ``run.json`` for ``config`` (its options with secrets masked and fingerprinted), or, when
    the run exists, check that ``config`` asks for the same run on the same data; :class:`UserError`
    naming what differs otherwise. A run.json from an older version that holds a secret is rewritten
    without it."""
    path = Path(run_dir) / RUN_FILE
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
    """Write ``data`` to ``path`` atomically (temp file in the same folder + rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2, default=str)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
