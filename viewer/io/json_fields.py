"""Reading Interval's own JSON files strictly: typed fields, no NaN, a format name and version.

The case manifest, a reading, the blind-read state and the teaching log all refuse what they did
not write; these are the checks they share. Each raises TypeError or ValueError, which the
caller turns into its own error naming the file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NoReturn

from viewer.errors import CaseFileError


def refuse_constant(name: str) -> NoReturn:
    """``json.loads(..., parse_constant=refuse_constant)``: NaN and Infinity are not data."""
    raise ValueError(f"{name} is not allowed")


def loads_strict(text: str) -> Any:
    """``json.loads`` that refuses NaN and Infinity."""
    return json.loads(text, parse_constant=refuse_constant)


def json_text(value: Any) -> str:
    """A JSON string, or TypeError."""
    if not isinstance(value, str):
        raise TypeError(f"expected text, got {type(value).__name__}")
    return value


def json_list(value: Any) -> list[Any]:
    """A JSON array, or TypeError."""
    if not isinstance(value, list):
        raise TypeError(f"expected a list, got {type(value).__name__}")
    return value


def json_integer(value: Any) -> int:
    """A JSON integer (not a boolean), or TypeError."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, got {value!r}")
    return value


def json_boolean(value: Any) -> bool:
    """A JSON true or false, or TypeError."""
    if not isinstance(value, bool):
        raise TypeError(f"expected true or false, got {value!r}")
    return value


def checked_format(
    document: Any, path: str | Path, *, name: str, version: int, what: str
) -> dict[str, Any]:
    """A document whose ``format`` is ``name`` and ``format_version`` is ``version``.

    Parameters
    ----------
    document : any
        What ``json.loads`` gave.
    path : path-like
        The file, for the messages.
    name, version : str, int
        The format this Interval writes and reads.
    what : str
        What the file is, for the messages ("case manifest", "reading").

    Raises
    ------
    viewer.errors.CaseFileError
        Another file, or another version (a newer one says so).
    """
    if not isinstance(document, dict) or document.get("format") != name:
        raise CaseFileError(f"not an Interval {what} (no format {name!r})", path)
    found = document.get("format_version")
    if not isinstance(found, int) or isinstance(found, bool):
        raise CaseFileError(f"format_version {found!r} is not a number", path)
    if found != version:
        newer = " (written by a newer Interval: update it)" if found > version else ""
        raise CaseFileError(
            f"unknown format version {found} of this {what}; this Interval reads version "
            f"{version}{newer}",
            path,
        )
    return document
