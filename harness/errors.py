"""Errors the ``agentdistill`` command shows as one line (exit 2) instead of a traceback.

:class:`UserError` is a mistake in what the user asked for. The other packages (envs, agents,
distill) cannot import it, so they raise ``KeyError``/``ValueError``/``TypeError``/
``FileNotFoundError`` naming the bad name, value or file; the harness turns those into a
:class:`UserError` only where it hands them a value the user typed (:func:`user_input`). Anywhere
else such an exception is a bug and ends with a traceback (exit 1).
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


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
