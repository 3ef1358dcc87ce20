"""Who made each outline and hand measurement, and when (no Qt, no files).

A :class:`Stamp` is a reader's name and a UTC time, taken from a :class:`Reader` (the name the
session carries, by default the operating-system login name, and a clock the tests replace).
An outline's :class:`OutlineProvenance` says who first drew a lesion on a series and who last
changed it. Undo puts back the provenance of the state it returns to, and redo the provenance
the redone step made: each step of an undo history carries its lesions' provenance before and
after (:data:`StepProvenance`), the way it carries their voxels.

Times are UTC, to the second; their text form is ISO 8601 with a ``Z``
(``2026-11-30T10:12:00Z``). They are the times the reader worked, not the times of the scans.
"""

from __future__ import annotations

import datetime as dt
import getpass
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

UNKNOWN_READER = "unknown reader"
"""The reader's name when the session has none and the operating system gives none."""


def login_name() -> str:
    """The operating-system login name, or :data:`UNKNOWN_READER` when there is none.

    Examples
    --------
    >>> isinstance(login_name(), str) and login_name() != ""
    True
    """
    try:
        name = getpass.getuser()
    except (OSError, KeyError, ImportError):  # no LOGNAME/USER and no password-file entry
        return UNKNOWN_READER
    return name.strip() or UNKNOWN_READER


def utc_now() -> dt.datetime:
    """The current time, timezone-aware in UTC."""
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class Stamp:
    """Who did something, and when.

    Parameters
    ----------
    reader : str
        The reader's name as the session carried it (not patient identity).
    at_utc : datetime.datetime
        Timezone-aware; stored converted to UTC and truncated to whole seconds.

    Raises
    ------
    ValueError
        An empty name, or a time without a timezone (its UTC instant would be a guess).

    Examples
    --------
    >>> when = dt.datetime(2026, 11, 30, 11, 12, 5, 900, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    >>> stamp = Stamp("alice", when)
    >>> stamp.iso, stamp.text
    ('2026-11-30T10:12:05Z', 'alice 2026-11-30 10:12 UTC')
    """

    reader: str
    at_utc: dt.datetime

    def __post_init__(self) -> None:
        if not isinstance(self.reader, str) or not self.reader.strip():
            raise ValueError(f"a reader's name must be non-empty text, got {self.reader!r}")
        when = self.at_utc
        if not isinstance(when, dt.datetime) or when.utcoffset() is None:
            raise ValueError(f"a stamp's time must be timezone-aware, got {when!r}")
        object.__setattr__(self, "reader", self.reader.strip())
        object.__setattr__(self, "at_utc", when.astimezone(dt.UTC).replace(microsecond=0))

    @property
    def iso(self) -> str:
        """The time as ISO 8601 UTC text, ``2026-11-30T10:12:05Z``."""
        return self.at_utc.strftime("%Y-%m-%dT%H:%M:%SZ")

    @property
    def text(self) -> str:
        """Who and when for people: ``alice 2026-11-30 10:12 UTC``."""
        return f"{self.reader} {self.at_utc:%Y-%m-%d %H:%M} UTC"

    @classmethod
    def parse(cls, reader: Any, at: Any) -> Stamp:
        """A stamp from its stored form (a name and ISO 8601 text with a timezone).

        Raises
        ------
        ValueError
            Either part is missing or malformed.
        """
        if not isinstance(at, str):
            raise ValueError(f"a stamp's time must be ISO 8601 text, got {at!r}")
        try:
            when = dt.datetime.fromisoformat(at)
        except ValueError as exc:
            raise ValueError(f"a stamp's time {at!r} is not ISO 8601") from exc
        return cls(reader, when)


@dataclass(frozen=True)
class OutlineProvenance:
    """Who first drew a lesion's outline on a series, and who last changed it.

    Attributes
    ----------
    drawn : Stamp
        The first edit that outlined the lesion on the series.
    edited : Stamp
        The latest edit of its voxels there (equal to ``drawn`` after a single stroke).
    """

    drawn: Stamp
    edited: Stamp

    def to_json(self) -> dict[str, str]:
        """``{"drawn_by", "drawn_at", "edited_by", "edited_at"}`` (times ISO 8601 UTC)."""
        return {
            "drawn_by": self.drawn.reader,
            "drawn_at": self.drawn.iso,
            "edited_by": self.edited.reader,
            "edited_at": self.edited.iso,
        }

    @classmethod
    def from_json(cls, data: Any) -> OutlineProvenance:
        """Read :meth:`to_json`'s form; ValueError when it is malformed."""
        if not isinstance(data, Mapping):
            raise ValueError(f"outline provenance must be an object, got {data!r}")
        try:
            drawn = Stamp.parse(data["drawn_by"], data["drawn_at"])
            edited = Stamp.parse(data["edited_by"], data["edited_at"])
        except KeyError as exc:
            raise ValueError(f"outline provenance lacks {exc.args[0]!r}") from exc
        return cls(drawn, edited)


LesionChange = tuple[OutlineProvenance | None, OutlineProvenance | None]
"""A lesion's provenance on a series before and after one undoable step (None: not outlined
there, or not recorded)."""
StepProvenance = dict[int, LesionChange]
"""Lesion number -> its :data:`LesionChange`, for every lesion whose voxels a step changed."""


@dataclass
class CaseProvenance:
    """Every outline's provenance in a case, and that of every step of its undo histories.

    Attributes
    ----------
    outlines : dict of (str, int) to OutlineProvenance
        By (series key, lesion number). Outlines made before provenance was recorded have none.
    steps : dict of str to list of (StepProvenance or None)
        By series key, one entry per step of that series' undo history, oldest first (None: the
        step was recorded without provenance).
    """

    outlines: dict[tuple[str, int], OutlineProvenance] = field(default_factory=dict)
    steps: dict[str, list[StepProvenance | None]] = field(default_factory=dict)

    def to_json(self, series: Callable[[str], bool] = lambda key: True) -> dict[str, Any]:
        """The JSON form stored in the case file (docs/case-file.md).

        Parameters
        ----------
        series : callable, optional
            ``series(key)``: whether to keep the entries of this series.
        """
        return {
            "outlines": [
                {"series": key, "lesion": number, **record.to_json()}
                for (key, number), record in sorted(self.outlines.items())
                if series(key)
            ],
            "undo": [
                {"series": key, "steps": [_step_json(step) for step in steps]}
                for key, steps in sorted(self.steps.items())
                if series(key)
            ],
        }

    @classmethod
    def from_json(cls, data: Any) -> CaseProvenance:
        """Read :meth:`to_json`'s form.

        Raises
        ------
        ValueError
            Anything malformed; the message says what.
        """
        if not isinstance(data, Mapping):
            raise ValueError("provenance must be an object")
        outlines: dict[tuple[str, int], OutlineProvenance] = {}
        for item in _list(data.get("outlines", []), "outlines"):
            key = (_series(item), _lesion(item))
            if key in outlines:
                raise ValueError(f"outline provenance of {key} listed twice")
            outlines[key] = OutlineProvenance.from_json(item)
        steps: dict[str, list[StepProvenance | None]] = {}
        for item in _list(data.get("undo", []), "undo"):
            key = _series(item)
            if key in steps:
                raise ValueError(f"undo provenance of series {key!r} listed twice")
            steps[key] = [_step_from_json(step) for step in _list(item.get("steps"), "steps")]
        return cls(outlines, steps)


class Reader:
    """The reader working in this session, and the clock their work is stamped with.

    Parameters
    ----------
    name : str, optional
        By default the operating-system login name (:func:`login_name`).
    clock : callable, optional
        ``clock() -> datetime`` (timezone-aware); by default the system clock in UTC. Tests
        pass a fake one.

    Examples
    --------
    >>> reader = Reader("alice", lambda: dt.datetime(2026, 11, 30, 10, 12, tzinfo=dt.UTC))
    >>> reader.stamp().text
    'alice 2026-11-30 10:12 UTC'
    >>> reader.name = "  bob "; reader.stamp().reader
    'bob'
    """

    def __init__(
        self, name: str | None = None, clock: Callable[[], dt.datetime] | None = None
    ) -> None:
        self._name = UNKNOWN_READER
        self.name = login_name() if name is None else name
        self.clock = clock if clock is not None else utc_now

    @property
    def name(self) -> str:
        """Who is working; later edits and hand measurements are stamped with it."""
        return self._name

    @name.setter
    def name(self, value: str) -> None:
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"a reader's name must be non-empty text, got {value!r}")
        self._name = value.strip()

    def stamp(self) -> Stamp:
        """A stamp of this reader at the clock's time now."""
        return Stamp(self._name, self.clock())


def _step_json(step: StepProvenance | None) -> list[dict[str, Any]] | None:
    if step is None:
        return None
    return [
        {
            "lesion": number,
            "before": None if before is None else before.to_json(),
            "after": None if after is None else after.to_json(),
        }
        for number, (before, after) in sorted(step.items())
    ]


def _step_from_json(data: Any) -> StepProvenance | None:
    if data is None:
        return None
    step: StepProvenance = {}
    for item in _list(data, "an undo step's provenance"):
        number = _lesion(item)
        before, after = item.get("before"), item.get("after")
        step[number] = (
            None if before is None else OutlineProvenance.from_json(before),
            None if after is None else OutlineProvenance.from_json(after),
        )
    return step


def _list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise ValueError(f"{what} must be a list")
    return value


def _series(item: Any) -> str:
    key = item.get("series") if isinstance(item, Mapping) else None
    if not isinstance(key, str):
        raise ValueError(f"provenance entry without a series key: {item!r}")
    return key


def _lesion(item: Any) -> int:
    number = item.get("lesion") if isinstance(item, Mapping) else None
    if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= 65535:
        raise ValueError(f"provenance entry without a lesion number 1..65535: {item!r}")
    return number
