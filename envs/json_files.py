"""Reading a user's JSON data file: anything unreadable is one ``ValueError`` line naming the file.

``json.loads`` raises ``RecursionError`` on deeply nested input (``[[[[...`` a few thousand levels)
and ``UnicodeDecodeError`` / ``JSONDecodeError`` messages that do not say which file; :func:`read_json`
and :func:`parse_json` turn all of them into a :class:`DataFileError` that names the file and what was
expected. Data that parses may still nest up to Python's recursion limit, so the loaders check every
field they keep for its JSON type (:func:`json_type` names it without recursing into it) and keep no
nested value they have not checked.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


class DataFileError(ValueError):
    """A data file that is not the JSON its loader expects."""


def parse_json(text: str, where: str | os.PathLike, expected: str) -> Any:
    """``json.loads(text)``; invalid or too deeply nested JSON raises :class:`DataFileError`
    "``<where>``: <problem>; expected <expected>"."""
    try:
        return json.loads(text)
    except RecursionError:
        problem = "too deeply nested (arrays/objects nested beyond Python's recursion limit)"
    except ValueError as err:  # JSONDecodeError, or an integer of more than 4,300 digits
        problem = f"not valid JSON ({err})"
    raise DataFileError(f"{where}: {problem}; expected {expected}")


def read_json(path: str | os.PathLike, expected: str) -> Any:
    """The JSON content of the file ``path`` (UTF-8); a missing file raises ``FileNotFoundError``, an
    unreadable, undecodable, invalid or too deeply nested one :class:`DataFileError`, each naming ``path``
    and ``expected``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as err:
        raise FileNotFoundError(f"{path}: no such file; expected {expected}") from err
    except UnicodeDecodeError as err:
        raise DataFileError(
            f"{path}: not UTF-8 text ({err.reason} at byte {err.start}); expected {expected}"
        ) from err
    except OSError as err:
        raise DataFileError(f"{path}: cannot read ({err.strerror or err}); expected {expected}") from err
    return parse_json(text, path, expected)


def json_type(value: Any) -> str:
    """The JSON type of ``value`` as a short phrase for an error message, with short scalars quoted
    (``"a string 'x'"``, ``"an array of 3 items"``); never recurses into containers."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, (int, float)):
        return f"the number {value!r}"[:60]
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:40] + "..."
        return f"the string {shown!r}"
    if isinstance(value, list):
        return f"an array of {len(value)} item{'s' * (len(value) != 1)}"
    if isinstance(value, dict):
        return f"an object with {len(value)} key{'s' * (len(value) != 1)}"
    return type(value).__name__
