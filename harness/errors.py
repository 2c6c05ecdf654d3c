"""Errors the ``agentdistill`` command shows as one line (exit 2) instead of a traceback.

:class:`UserError` is a mistake in what the user asked for. The other packages (envs, agents,
distill) cannot import it, so they raise ``KeyError``/``ValueError``/``TypeError``/
``FileNotFoundError`` naming the bad name, value or file; the harness turns those into a
:class:`UserError` only where it hands them a value the user typed (:func:`user_input`). Anywhere
else such an exception is a bug and ends with a traceback (exit 1).
"""
from __future__ import annotations

import errno
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class UserError(Exception):
    """A mistake in what the user asked for; printed without a traceback."""


def one_line_errors() -> tuple[type[Exception], ...]:
    """The errors the ``agentdistill`` command prints as one line (exit 2): a :class:`UserError`, a
    ``FileNotFoundError`` (its message names the path) and ``agents.http.HTTPError`` (a refusing or
    unreachable model server). The rollout re-raises them as themselves when they come from a Ray actor."""
    from agents.http import HTTPError

    return (UserError, FileNotFoundError, HTTPError)


#: what the other packages raise for a bad name, value, option or file the user gave them
INPUT_ERRORS: tuple[type[Exception], ...] = (KeyError, ValueError, TypeError, FileNotFoundError)


@contextmanager
def user_input(what: str) -> Iterator[None]:
    """Inside this block the code only checks what the user gave (``what``: e.g. "--agent lm"), so
    :data:`INPUT_ERRORS` are the user's to fix: re-raised as :class:`UserError` naming ``what``."""
    try:
        yield
    except INPUT_ERRORS as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        raise UserError(f"{what}: {message}") from err


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def one_line(text: str) -> str:
    """``text`` with every control character (newline, tab, escape, ...) written as its escape, so a
    message that quotes what the user typed stays one line and cannot drive the terminal."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


#: errno values that mean the disk (or the user's quota on it) is full
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def disk_full(err: BaseException) -> OSError | None:
    """The "no space left on device" ``OSError`` behind ``err`` (itself, its cause or context), else None."""
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in DISK_FULL:
            return current
        current = current.__cause__ or current.__context__
    return None


def disk_full_message(err: OSError, where: str | Path | None) -> str:
    """One line for a full disk: which file (``err.filename``, else ``where``, the command's output) could
    not be written, how much the file system holding it has free, and what to do."""
    target = Path(err.filename) if isinstance(err.filename, (str, Path)) else Path(where) if where else None
    free = ""
    if target is not None:
        existing = next((p for p in (target, *target.parents) if p.exists()), None)
        if existing is not None:
            free = f" ({shutil.disk_usage(existing).free:,} bytes free on the file system of {existing})"
    place = f"writing {target}" if target is not None else "writing the output"
    return (f"no space left on device {place}{free}; free some space or write elsewhere, then rerun the "
            "same command (finished work is kept)")
