"""Ctrl-C that always stops a run, with exit status 130.

Python raises ``KeyboardInterrupt`` wherever the main thread happens to be when SIGINT arrives. Raised
inside a finaliser (a ``__del__`` method run by the garbage collector, e.g. ``regex``'s
``SetBase.__del__`` while a tokenizer compiles its patterns, or a weakref callback) it is printed as
"Exception ignored in ..." and dropped, and the run goes on and ends 0. Within :func:`sigint_recorded`
(the ``eval``/``rollout`` and ``pipeline`` commands) the SIGINT handler first records the signal, then
raises as usual; :func:`check`, called by every rollout round, after every pipeline unit (before its
completion marker) and when the command ends, raises ``KeyboardInterrupt`` again for a signal whose
first one was lost, so the command stops and ``agentdistill`` exits 130.
"""
from __future__ import annotations

import functools
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import ParamSpec, TypeVar

_P = ParamSpec("_P")
_R = TypeVar("_R")

_received = False


def _on_sigint(signum: int, frame: FrameType | None) -> None:
    """Record the signal, then raise as Python's own handler does."""
    global _received
    _received = True
    raise KeyboardInterrupt


def check() -> None:
    """Raise ``KeyboardInterrupt`` when a SIGINT arrived within :func:`sigint_recorded` (its own
    ``KeyboardInterrupt`` may have been swallowed by a finaliser); nothing otherwise."""
    if _received:
        raise KeyboardInterrupt


@contextmanager
def sigint_recorded() -> Iterator[None]:
    """Within this block SIGINT is recorded as well as raised, and the block ends with
    ``KeyboardInterrupt`` (also in place of another exception) when one arrived. Only in the main thread
    and where SIGINT has Python's default handler (not where it is ignored, or handled by the caller);
    nested blocks share the outermost one's record."""
    global _received
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        yield
        return
    _received = False
    signal.signal(signal.SIGINT, _on_sigint)
    try:
        yield
        check()
    except Exception as err:  # an error that follows a lost interrupt (an actor it killed, say)
        if _received:
            raise KeyboardInterrupt from err
        raise
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        _received = False


def stops_on_sigint(func: Callable[_P, _R]) -> Callable[_P, _R]:
    """``func`` run within :func:`sigint_recorded` (for a command's ``run``)."""

    @functools.wraps(func)
    def wrapped(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with sigint_recorded():
            return func(*args, **kwargs)

    return wrapped
