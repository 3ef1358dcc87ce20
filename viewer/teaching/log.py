"""A trainee's history across cases: one JSON line per submitted blind read (no Qt).

The log lives in the user's data folder (the UI passes ``data_home()``), as
``teaching/history.jsonl``. Each line is a self-contained JSON object, appended and flushed to
the disk, so a crash can damage at most the line being written: reading skips a damaged line
with a warning and keeps every other one.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from viewer.io.atomic import save_error
from viewer.io.json_fields import json_text, loads_strict
from viewer.teaching.agreement import Agreement

LOG_FOLDER = "teaching"
LOG_NAME = "history.jsonl"
FORMAT_NAME = "interval-teaching-log"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class LogEntry:
    """One submitted blind read.

    Attributes
    ----------
    case_label : str
        The case as the teaching group names it (never the patient's name).
    submitted : datetime.datetime
        When the read was submitted (timezone-aware).
    reader : str
        The trainee's name as entered.
    mean_dice : float or None
        Mean Dice over the lesion-visits compared (missed and extra ones count as 0), 0..1.
    mean_hd95_mm : float or None
        Mean HD95 over the lesion-visits both outlined, mm.
    categories_agreed, categories_total : int
        Visits whose category agreed with the reference, of the visits compared.
    lesions_missed, lesions_extra : int
        Lesion-visits the trainee missed, and those the reference does not have.
    """

    case_label: str
    submitted: dt.datetime
    reader: str
    mean_dice: float | None
    mean_hd95_mm: float | None
    categories_agreed: int
    categories_total: int
    lesions_missed: int
    lesions_extra: int

    @classmethod
    def of(
        cls,
        agreement: Agreement,
        case_label: str,
        *,
        reader: str = "",
        submitted: dt.datetime | None = None,
    ) -> LogEntry:
        """The entry for a compared reading (``submitted`` defaults to now)."""
        agreed, total = agreement.categories_agreed
        return cls(
            case_label,
            submitted or dt.datetime.now(dt.UTC).replace(microsecond=0),
            reader,
            agreement.mean_dice,
            agreement.mean_hd95_mm,
            agreed,
            total,
            len(agreement.missed),
            len(agreement.extra),
        )

    def to_json(self) -> dict[str, Any]:
        """The entry as one log line's JSON object."""
        return {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "case_label": self.case_label,
            "submitted": self.submitted.isoformat(),
            "reader": self.reader,
            "mean_dice": self.mean_dice,
            "mean_hd95_mm": self.mean_hd95_mm,
            "categories_agreed": self.categories_agreed,
            "categories_total": self.categories_total,
            "lesions_missed": self.lesions_missed,
            "lesions_extra": self.lesions_extra,
        }

    @classmethod
    def from_json(cls, item: Mapping[str, Any]) -> LogEntry:
        """Parse one line's object.

        Raises
        ------
        ValueError, TypeError, KeyError
            Not a log entry of this version, or a field of the wrong type.
        """
        if item.get("format") != FORMAT_NAME:
            raise ValueError(f"not an entry of {FORMAT_NAME}")
        if item.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"unknown version {item.get('format_version')!r}")
        agreed, total = _count(item["categories_agreed"]), _count(item["categories_total"])
        if agreed > total:
            raise ValueError(f"{agreed} of {total} categories agreed")
        return cls(
            json_text(item["case_label"]),
            dt.datetime.fromisoformat(json_text(item["submitted"])),
            json_text(item["reader"]),
            _fraction(item["mean_dice"]),
            _distance(item["mean_hd95_mm"]),
            agreed,
            total,
            _count(item["lesions_missed"]),
            _count(item["lesions_extra"]),
        )


@dataclass(frozen=True)
class History:
    """What reading the log found.

    Attributes
    ----------
    entries : list of LogEntry
        In the order they were written.
    warnings : list of str
        One per line that was skipped, naming the file, the line number and why.
    """

    entries: list[LogEntry]
    warnings: list[str]


def log_path(folder: str | os.PathLike[str]) -> Path:
    """The log file under a user's data folder."""
    return Path(folder) / LOG_FOLDER / LOG_NAME


def append_entry(folder: str | os.PathLike[str], entry: LogEntry) -> Path:
    """Add an entry at the end of the log (created when absent); returns the log's path.

    The line is flushed to the disk before returning. A log whose last line was cut off by a
    crash gets a line break first, so only that line stays damaged.

    Raises
    ------
    viewer.errors.SaveError
        Disk full, no permission, folder gone: the message names the file; the lines already
        in the log are untouched.
    """
    path = log_path(folder)
    line = json.dumps(entry.to_json(), ensure_ascii=False, allow_nan=False).encode("utf-8")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "ab+") as handle:
            handle.seek(0, os.SEEK_END)
            if handle.tell() > 0:
                handle.seek(-1, os.SEEK_END)
                if handle.read(1) != b"\n":
                    line = b"\n" + line
            handle.write(line + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        raise save_error(exc, path, "adding to the teaching log") from exc
    return path


def read_history(folder: str | os.PathLike[str]) -> History:
    """Every readable entry of the log; damaged lines are skipped with a warning.

    Returns
    -------
    History
        Empty (and no warning) when there is no log yet; a log that cannot be read at all gives
        no entries and one warning.
    """
    path = log_path(folder)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return History([], [])
    except OSError as exc:
        return History([], [f"{path}: the teaching log cannot be read ({exc.strerror or exc})"])
    entries, warnings = [], []
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            item = loads_strict(raw.decode("utf-8"))
            if not isinstance(item, dict):
                raise TypeError("not a JSON object")
            entries.append(LogEntry.from_json(item))
        except (UnicodeDecodeError, ValueError, TypeError, KeyError, RecursionError) as exc:
            warnings.append(f"{path}: line {number} skipped (damaged: {exc})")
    return History(entries, warnings)


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise TypeError(f"expected a count, got {value!r}")
    return value


def _fraction(value: Any) -> float | None:
    number = _number(value)
    if number is not None and not 0.0 <= number <= 1.0:
        raise ValueError(f"Dice {number} outside 0..1")
    return number


def _distance(value: Any) -> float | None:
    number = _number(value)
    if number is not None and number < 0:
        raise ValueError(f"distance {number} is negative")
    return number


def _number(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise TypeError(f"expected a number, got {value!r}")
    return float(value)
