"""Errors that end one episode, not the run.

An agent raises :class:`EpisodeError` when what it got back cannot be a turn (e.g. a model server's
reply whose content is not text). The harness records that episode as a failed row carrying the
message and goes on with the others. A batched agent raises :class:`TurnErrors` from ``act_batch``
when only some of the call's episodes failed: it carries the turns of the others.
"""
from __future__ import annotations

from typing import Any


class EpisodeError(RuntimeError):
    """This episode cannot go on; record it as failed (with this message) and continue the run."""


class TurnErrors(EpisodeError):
    """Some episodes of one ``act_batch`` call failed.

    ``errors``: slot -> the EpisodeError of that episode; ``steps``: slot -> the AgentStep of every
    other episode of the call (those turns were taken and belong in the log as usual)."""

    def __init__(self, errors: dict[int, EpisodeError], steps: dict[int, Any]):
        self.errors, self.steps = dict(errors), dict(steps)
        super().__init__("; ".join(f"episode in slot {slot}: {err}" for slot, err in self.errors.items()))

    def __reduce__(self) -> tuple[Any, ...]:  # picklable with its fields (Ray ships errors between processes)
        return type(self), (self.errors, self.steps)
