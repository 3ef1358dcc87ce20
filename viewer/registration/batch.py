"""Register all visits in one action: one automatic registration per frame of reference.

Meant to run in a worker thread (SimpleITK releases the GIL while it optimises, so the UI's event
loop keeps running; see tests/registration/test_responsiveness.py). Progress covers the whole
batch; cancelling stops at once; a series that fails is recorded with its reason and the others
carry on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from viewer.core.catalog import SeriesEntry
from viewer.core.progress import CancelCheck, ProgressCallback
from viewer.core.transform import Registration, RegistrationState, Transform
from viewer.core.volume import Volume
from viewer.errors import IntervalError, OperationCancelled
from viewer.registration.automatic import RegistrationResult, Settings, register
from viewer.registration.frames import group_by_frame, representative, share_frames_of_reference

REFERENCE_METHOD = "reference series"
"""``Registration.method`` of the reference series itself (identity, state ``ACCEPTED``)."""

_STEPS = 1000
"""Progress units per registration in the batch."""


@dataclass
class BatchResult:
    """Outcome of :func:`register_all`.

    Attributes
    ----------
    registrations : dict of series key -> Registration
        The reference (identity), every registered series, and the series that share a frame of
        reference with one of them.
    errors : dict of series key -> str
        Series that could not be registered, with the reason (loading or registration failed).
    """

    registrations: dict[str, Registration] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def choose_reference(entries: Iterable[SeriesEntry]) -> SeriesEntry:
    """The default reference: the earliest visit's contrast MRI (else MRI, else its first series).

    Parameters
    ----------
    entries : iterable of SeriesEntry

    Raises
    ------
    ValueError
        No series (localizers do not count).
    """
    candidates = [e for e in entries if not e.is_localizer]
    if not candidates:
        raise ValueError("no image series to register to")
    dates = [e.study_date for e in candidates if e.study_date is not None]
    first = [e for e in candidates if e.study_date == min(dates)] if dates else candidates
    return min(
        first,
        key=lambda e: (e.modality != "MR", not e.contrast_agent, first.index(e)),
    )


def register_all(
    reference_entry: SeriesEntry,
    entries: Iterable[SeriesEntry],
    load: Callable[[SeriesEntry], Volume],
    *,
    kind: str = "rigid",
    settings: Settings | None = None,
    progress: ProgressCallback | None = None,
    cancelled: CancelCheck | None = None,
    on_result: Callable[[Registration], None] | None = None,
) -> BatchResult:
    """Register every series to the reference, once per frame of reference.

    Parameters
    ----------
    reference_entry : SeriesEntry
        The fixed series (see :func:`choose_reference`).
    entries : iterable of SeriesEntry
        The series to register (the reference and localizers among them are skipped).
    load : callable
        ``load(entry) -> Volume`` (e.g. ``viewer.io.load_series``, or a cache in front of it).
    kind : {"rigid", "affine"}
    settings : Settings, optional
    progress : callable, optional
        ``progress(done, total, message)`` over the whole batch.
    cancelled : callable, optional
        Checked between and during registrations.
    on_result : callable, optional
        Called with each registration as soon as it is known (including shared ones), so that a
        caller keeps what finished before a cancel.

    Returns
    -------
    BatchResult

    Raises
    ------
    viewer.errors.OperationCancelled
        The user cancelled; results delivered through ``on_result`` so far stand.
    viewer.errors.IntervalError
        The reference series cannot be loaded (nothing can be registered without it).
    """
    result = BatchResult()
    entries = [e for e in entries if not e.is_localizer]
    if reference_entry.key not in {e.key for e in entries}:
        entries.insert(0, reference_entry)
    reference_registration = Registration(
        series_key=reference_entry.key,
        reference_key=reference_entry.key,
        transform=Transform(),
        state=RegistrationState.ACCEPTED,
        method=REFERENCE_METHOD,
    )
    _record(result, entries, reference_registration, on_result)
    groups = [g for g in group_by_frame(entries) if reference_entry.key not in {e.key for e in g}]
    total = _STEPS * len(groups)
    if cancelled is not None and cancelled():
        raise OperationCancelled("registration cancelled by the user")
    reference = load(reference_entry)
    for index, group in enumerate(groups):
        entry = representative(group, reference_entry.modality)
        label = f"{index + 1}/{len(groups)}: {entry.study_date or 'undated'} {entry.description}"

        def report(done: int, steps: int, message: str, index: int = index, label: str = label):
            if progress is not None:
                fraction = done / steps if steps else 0.0
                progress(index * _STEPS + round(fraction * _STEPS), total, f"{label}: {message}")

        report(0, 1, "loading")
        try:
            found = _register_one(reference, entry, load, kind, settings, report, cancelled)
        except OperationCancelled:
            raise
        except (IntervalError, RuntimeError, ValueError, OSError, MemoryError) as exc:
            for member in group:
                result.errors[member.key] = f"{entry.description or entry.key}: {exc}"
            continue
        registration = found.to_registration(entry.key, reference_entry.key)
        _record(result, entries, registration, on_result)
    if progress is not None:
        progress(total, total, "done")
    return result


def _register_one(
    reference: Volume,
    entry: SeriesEntry,
    load: Callable[[SeriesEntry], Volume],
    kind: str,
    settings: Settings | None,
    progress: ProgressCallback,
    cancelled: CancelCheck | None,
) -> RegistrationResult:
    """Load one series and register it (its volume is freed on return, before the next load)."""
    moving = load(entry)
    return register(
        reference, moving, kind=kind, settings=settings, progress=progress, cancelled=cancelled
    )


def _record(
    result: BatchResult,
    entries: list[SeriesEntry],
    registration: Registration,
    on_result: Callable[[Registration], None] | None,
) -> None:
    """Store a registration and every registration it lends to its frame of reference."""
    before = set(result.registrations)
    result.registrations[registration.series_key] = registration
    result.registrations = share_frames_of_reference(entries, result.registrations)
    if on_result is not None:
        for key, value in result.registrations.items():
            if key not in before:
                on_result(value)
