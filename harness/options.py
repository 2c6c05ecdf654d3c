"""``KEY=VALUE`` options typed on the command line (``--env-opt``, ``--agent-opt``): read, and checked
against the signature of the constructor that takes them, so a bad value is one line naming it before a
run directory, Ray or a model is started.

    options = parse_options(["max_steps=20", "expert_plan=true"], "--env-opt")   # {"max_steps": 20, ...}
    check_options(envs.registry.load("alfworld"), options, "--env-opt")

A value is read as JSON when it parses (numbers, true/false, null, lists), else kept as the string;
``NaN``, ``Infinity`` and numbers too large for a float (``1e400``) are refused. An option whose
parameter is annotated ``int``, ``float`` or ``bool`` (optionally ``| None``) must be one: a whole
number for ``int`` (not ``1.5``, not ``true``), a finite number for ``float``, ``true``/``false`` for
``bool``. Options the constructor does not annotate so (or does not name) are left to it.
"""
from __future__ import annotations

import inspect
import json
import math
import numbers
import types
import typing
from collections.abc import Callable
from typing import Any

import numpy as np

from harness.errors import UserError

#: annotation -> what the message says is expected
EXPECTED = {int: "a whole number", float: "a finite number", bool: "true or false"}


class _NotFinite(ValueError):
    """A JSON number that is NaN, infinite, or too large for a float."""


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotFinite(text)
    return value


def _refuse_constant(text: str) -> float:
    raise _NotFinite(text)


def parse_options(pairs: list[str] | None, flag: str) -> dict[str, Any]:
    """``KEY=VALUE`` pairs as a dict (values read as JSON when they parse, else strings); a pair without
    ``=``, a key that is not an option name or a non-finite number is a :class:`UserError`."""
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UserError(f"{flag} {pair!r}: expected KEY=VALUE")
        if not key.isidentifier():
            raise UserError(f"{flag} {pair!r}: the key {key!r} is not an option name (letters, digits and _)")
        try:
            out[key] = json.loads(value, parse_float=_finite, parse_constant=_refuse_constant)
        except _NotFinite:
            raise UserError(
                f"{flag} {key}={value!r}: not a finite number (NaN, infinities and numbers beyond 1.8e308 "
                "are refused)"
            ) from None
        except ValueError:  # not JSON (or an integer too long to read): the string itself
            out[key] = value
    return out


def _scalar_type(annotation: Any) -> tuple[type, bool] | None:
    """(int | float | bool, None allowed) for an annotation that is one of them, optionally ``| None``."""
    if isinstance(annotation, str):  # postponed (``from __future__ import annotations``): read the text
        text = annotation.replace(" ", "")
        wrapped = text.startswith("Optional[") and text.endswith("]")
        parts = set((text[len("Optional["):-1] if wrapped else text).split("|"))
        names = [name for name in parts - {"None"} if name in {t.__name__ for t in EXPECTED}]
        if len(names) != 1 or len(parts - {"None"}) != 1:
            return None
        return next(t for t in EXPECTED if t.__name__ == names[0]), wrapped or "None" in parts
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = typing.get_args(annotation)
        rest = [a for a in args if a is not type(None)]
        return (rest[0], len(rest) < len(args)) if len(rest) == 1 and rest[0] in EXPECTED else None
    return (annotation, False) if annotation in EXPECTED else None


def _parameters(target: Callable[..., Any]) -> dict[str, inspect.Parameter]:
    """The parameters of ``target`` (a class: of its ``__init__``); {} when it has no readable signature."""
    try:
        return dict(inspect.signature(target).parameters)
    except (TypeError, ValueError):
        return {}


def _fits(value: Any, kind: type) -> bool:
    if kind is bool:
        return isinstance(value, bool | np.bool_)
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        return False
    return isinstance(value, numbers.Integral) if kind is int else math.isfinite(value)


def check_options(target: Callable[..., Any], options: dict[str, Any], flag: str) -> None:
    """Refuse (:class:`UserError`) an option of ``options`` whose parameter of ``target`` is annotated
    ``int``/``float``/``bool`` (optionally ``| None``) and whose value is not one (module docstring)."""
    parameters = _parameters(target)
    for key, value in options.items():
        parameter = parameters.get(key)
        scalar = _scalar_type(parameter.annotation) if parameter is not None else None
        if scalar is None:
            continue
        kind, optional = scalar
        if (value is None and optional) or (value is not None and _fits(value, kind)):
            continue
        shown = json.dumps(value) if isinstance(value, bool | int | float | type(None)) else repr(value)
        raise UserError(
            f"{flag} {key}={shown}: expected {EXPECTED[kind]}{' or null' if optional else ''}"
        )


def finite_float(text: str) -> float:
    """An argparse ``type`` for a float option: a finite number (NaN and infinities refused in one line)."""
    import argparse

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r}: expected a finite number")
    return value
