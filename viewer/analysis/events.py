"""Treatment events on a case's time line, as the response engine reads them.

The case file keeps its own event type (``viewer.io.case_file.TreatmentEvent``); analysis may not
import io, so this module defines the engine's. The kinds carry the same values plus radiosurgery,
and a steroid change carries its direction, because only an increase matters to the criteria
(and even then, by itself, it is never progression: RANO 2010 and RANO 2.0).
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


class TreatmentKind(enum.Enum):
    """Kinds of treatment event (values as in the case file, plus radiosurgery)."""

    SURGERY = "surgery"
    RADIOTHERAPY_START = "radiotherapy start"
    RADIOTHERAPY_END = "radiotherapy end"
    RADIOSURGERY = "radiosurgery"
    CHEMOTHERAPY = "chemotherapy"
    STEROID_CHANGE = "steroid change"


class SteroidChange(enum.Enum):
    """Direction of a change of corticosteroid dose."""

    INCREASE = "increase"
    DECREASE = "decrease"


@dataclass(frozen=True)
class TreatmentEvent:
    """A dated treatment event.

    Parameters
    ----------
    date : datetime.date
    kind : TreatmentKind
    steroid_change : SteroidChange or None
        Required for :attr:`TreatmentKind.STEROID_CHANGE`, not allowed for any other kind.
    note : str
        Free text ("Stereotactic radiotherapy (X-knife)").
    """

    date: dt.date
    kind: TreatmentKind
    steroid_change: SteroidChange | None = None
    note: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.kind, TreatmentKind):
            raise TypeError(f"treatment event kind must be a TreatmentKind, got {self.kind!r}")
        is_steroid = self.kind is TreatmentKind.STEROID_CHANGE
        if is_steroid and not isinstance(self.steroid_change, SteroidChange):
            raise ValueError(f"steroid change on {self.date} needs a direction (increase/decrease)")
        if not is_steroid and self.steroid_change is not None:
            raise ValueError(f"{self.kind.value} on {self.date} cannot carry a steroid change")


RADIATION_ENDS = frozenset({TreatmentKind.RADIOTHERAPY_END, TreatmentKind.RADIOSURGERY})
"""Events after which enhancement may be treatment effect (pseudoprogression).

Radiosurgery is given in a day, so its date is also the end of that radiation; counting it is the
cautious reading (radiation effect after radiosurgery mimics growth just as after radiotherapy).
"""


def first_visit_after(
    dates: Sequence[dt.date], events: Iterable[TreatmentEvent], kinds: Iterable[TreatmentKind]
) -> int | None:
    """Index of the first visit dated strictly after the earliest event of these kinds.

    A scan on the day of the event does not count: from the date alone it may have been taken
    before the operation or the last fraction.

    Parameters
    ----------
    dates : sequence of datetime.date
        Visit dates in ascending order.
    events : iterable of TreatmentEvent
    kinds : iterable of TreatmentKind

    Returns
    -------
    int or None
        None when there is no such event, or no visit after it.
    """
    wanted = frozenset(kinds)
    event_dates = [event.date for event in events if event.kind in wanted]
    if not event_dates:
        return None
    first = min(event_dates)
    return next((index for index, date in enumerate(dates) if date > first), None)


def latest_radiation_end(events: Iterable[TreatmentEvent], on_or_before: dt.date) -> dt.date | None:
    """Date of the last end of radiation (radiotherapy end or radiosurgery) up to a date.

    Parameters
    ----------
    events : iterable of TreatmentEvent
    on_or_before : datetime.date

    Returns
    -------
    datetime.date or None
    """
    ends = [e.date for e in events if e.kind in RADIATION_ENDS and e.date <= on_or_before]
    return max(ends, default=None)


def steroid_increase_between(
    events: Iterable[TreatmentEvent], after: dt.date | None, until: dt.date
) -> bool:
    """Whether a steroid dose increase is recorded in the interval (after, until].

    Parameters
    ----------
    events : iterable of TreatmentEvent
    after : datetime.date or None
        Exclusive start (the previous visit); None for no start.
    until : datetime.date
        Inclusive end (this visit).

    Returns
    -------
    bool
    """
    return any(
        e.kind is TreatmentKind.STEROID_CHANGE
        and e.steroid_change is SteroidChange.INCREASE
        and (after is None or e.date > after)
        and e.date <= until
        for e in events
    )
