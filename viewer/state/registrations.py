"""The registration of every series to the case's reference series, as an evented store (no Qt).

Each series has a :class:`~viewer.core.transform.Registration` record: its ``moving2reference``
transform and its state (not registered / automatic / manual / accepted). Series of one visit that
share a DICOM frame of reference share one patient coordinate system, so they share one
transform: storing a registration for one stores it for its siblings too. The reference series
(and its siblings) map by the identity. The case-file issue persists these records.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
from psygnal import Signal

from viewer.core.catalog import Catalog, SeriesEntry, Visit
from viewer.core.progress import CancelCheck, ProgressCallback
from viewer.core.transform import Registration, RegistrationState, Transform
from viewer.core.volume import Volume
from viewer.errors import OperationCancelled
from viewer.state.session import is_contrast_mri

SHARED_METHOD = "shared frame of reference"
REFERENCE_METHOD = "reference series"


def preferred_series(visit: Visit) -> SeriesEntry | None:
    """The series that stands for a visit: its contrast MRI, else an MRI, else its first series.

    Localizers are never chosen when anything else exists.
    """
    candidates = [s for s in visit.series if not s.is_localizer] or list(visit.series)
    for wanted in (is_contrast_mri, lambda s: s.modality == "MR"):
        chosen = [s for s in candidates if wanted(s)]
        if chosen:
            return chosen[0]
    return candidates[0] if candidates else None


def default_reference(catalog: Catalog) -> SeriesEntry | None:
    """The default reference series: the baseline (earliest) visit's contrast MRI.

    Falls back to the baseline visit's preferred series, then to any later visit's.
    """
    for patient in catalog.patients:
        for visit in patient.visits:
            chosen = preferred_series(visit)
            if chosen is not None:
                return chosen
    return None


def siblings(catalog: Catalog, key: str) -> list[str]:
    """Keys of the series of the same visit that share ``key``'s frame of reference (with it).

    A series without a FrameOfReferenceUID shares it with no other.
    """
    for patient in catalog.patients:
        for visit in patient.visits:
            keys = {s.key: s for s in visit.series}
            if key in keys:
                uid = keys[key].frame_of_reference_uid
                if not uid:
                    return [key]
                return [s.key for s in visit.series if s.frame_of_reference_uid == uid]
    return [key]


class RegistrationStore:
    """Every series' alignment to the reference series.

    Signals
    -------
    changed(str)
        The registration of the series with this key changed (``""``: all of them, e.g. after
        the reference series changed).
    """

    changed = Signal(str)

    def __init__(self) -> None:
        self.catalog = Catalog()
        self.reference_key: str | None = None
        self._records: dict[str, Registration] = {}

    def reset(self, catalog: Catalog, reference_key: str | None = None) -> None:
        """Start over on a case, with a chosen reference series (the default one when None)."""
        self.catalog = catalog
        if reference_key is None:
            default = default_reference(catalog)
            reference_key = default.key if default is not None else None
        self.set_reference(reference_key)

    def set_reference(self, key: str | None) -> None:
        """Choose the reference series; other registrations are forgotten (they map elsewhere)."""
        self.reference_key = key
        self._records.clear()
        if key is not None:
            for sibling in siblings(self.catalog, key):
                method = REFERENCE_METHOD if sibling == key else SHARED_METHOD
                self._records[sibling] = Registration(
                    sibling, key, Transform(), RegistrationState.ACCEPTED, method
                )
        self.changed.emit("")

    def record(self, key: str) -> Registration:
        """Return a series' registration (``NOT_REGISTERED`` with the identity if none yet)."""
        found = self._records.get(key)
        if found is not None:
            return found
        return Registration(key, self.reference_key or "")

    def state(self, key: str) -> RegistrationState:
        """Return how far a series' registration has got."""
        return self.record(key).state

    def is_reference(self, key: str) -> bool:
        """Return whether the series is the reference or shares its frame of reference."""
        return self.reference_key is not None and key in siblings(self.catalog, self.reference_key)

    def patient2reference(self, key: str) -> np.ndarray | None:
        """The (4, 4) map of the series' patient LPS mm into the reference frame.

        ``None`` (the identity) for the reference series and for series not registered yet: an
        unregistered visit is drawn where its scanner put it.
        """
        transform = self.record(key).transform
        return None if transform.kind == "identity" else transform.moving2reference

    def put(self, registration: Registration) -> None:
        """Store a registration for its series and every sibling sharing its frame of reference.

        Raises
        ------
        ValueError
            The registration was made against another reference series, or for the reference.
        """
        key = registration.series_key
        if registration.reference_key != self.reference_key:
            raise ValueError(
                f"registration of {key} is to {registration.reference_key}, "
                f"not to the current reference {self.reference_key}"
            )
        if self.is_reference(key):
            raise ValueError("the reference series (and its frame of reference) cannot be moved")
        for sibling in siblings(self.catalog, key):
            method = registration.method if sibling == key else f"{SHARED_METHOD} with {key}"
            self._records[sibling] = dataclasses.replace(
                registration, series_key=sibling, method=method
            )
            self.changed.emit(sibling)

    def set_state(self, key: str, state: RegistrationState) -> None:
        """Change the state of a series' registration (and its siblings'), e.g. to ACCEPTED."""
        if key not in self._records or self.is_reference(key):
            return
        for sibling in siblings(self.catalog, key):
            if sibling in self._records:
                self._records[sibling] = dataclasses.replace(self._records[sibling], state=state)
                self.changed.emit(sibling)

    def accept(self, key: str) -> None:
        """Mark a registration as checked by the user."""
        if self.state(key) is not RegistrationState.NOT_REGISTERED:
            self.set_state(key, RegistrationState.ACCEPTED)

    def records(self) -> list[Registration]:
        """Return every stored registration."""
        return list(self._records.values())


@dataclass(frozen=True)
class RegistrationJob:
    """One automatic registration: a series standing for all that share its frame of reference.

    Attributes
    ----------
    moving_key : str
        The series registered to the reference.
    label : str
        What the progress message calls it, e.g. ``"2002-12-09 CT head"``.
    """

    moving_key: str
    label: str


def registration_jobs(catalog: Catalog, reference_key: str) -> list[RegistrationJob]:
    """Plan "register all visits": one job per visit and frame of reference, oldest first.

    The reference series' own frame of reference needs none; in every other group the preferred
    series (contrast MRI, then MRI) is registered and its siblings reuse the transform.
    """
    done = set(siblings(catalog, reference_key))
    jobs: list[RegistrationJob] = []
    for patient in catalog.patients:
        for visit in patient.visits:
            pending = [s for s in visit.series if s.key not in done and not s.is_localizer]
            while pending:
                group_visit = Visit(visit.date, pending)
                chosen = preferred_series(group_visit)
                assert chosen is not None
                group = set(siblings(catalog, chosen.key))
                done |= group
                pending = [s for s in pending if s.key not in group]
                jobs.append(RegistrationJob(chosen.key, f"{visit.label} {chosen.description}"))
    return jobs


RegisterFunction = Callable[..., object]
"""``register(reference_image, moving_image, *, progress, cancelled)`` returning an object with
``to_registration(series_key, reference_key) -> Registration``
(:func:`viewer.registration.automatic.register`)."""


def run_jobs(
    jobs: Iterable[RegistrationJob],
    reference_key: str,
    *,
    load: Callable[[str], Volume],
    register: RegisterFunction,
    on_result: Callable[[Registration], None],
    progress: ProgressCallback | None = None,
    cancelled: CancelCheck | None = None,
) -> int:
    """Run registration jobs one after another (in a worker), reporting each result as it comes.

    Parameters
    ----------
    load : callable
        ``load(series_key) -> Volume`` (reads the series if it is not in memory).
    on_result : callable
        Receives each :class:`Registration` (state AUTOMATIC) as soon as it is found.
    progress : callable, optional
        ``progress(done, total, message)`` with one step per job, in thousandths.

    Returns
    -------
    int
        Number of registrations done.

    Raises
    ------
    viewer.errors.OperationCancelled
        ``cancelled()`` became true; results already reported stay.
    """
    jobs = list(jobs)
    steps = 1000
    total = steps * len(jobs)
    reference = load(reference_key)
    for number, job in enumerate(jobs):
        if cancelled is not None and cancelled():
            raise OperationCancelled("registration cancelled by the user")
        message = f"Registering {job.label} ({number + 1} of {len(jobs)})"

        def step(
            done: int, job_total: int, _: str = "", base: int = number * steps, text: str = message
        ) -> None:
            if progress is not None:
                fraction = done / job_total if job_total else 0.0
                progress(base + int(min(fraction, 1.0) * (steps - 1)), total, text)

        step(0, 1)
        moving = load(job.moving_key)
        result = register(reference, moving, progress=step, cancelled=cancelled)
        on_result(result.to_registration(job.moving_key, reference_key))  # type: ignore[attr-defined]
    if progress is not None:
        progress(total, total, "Registration done")
    return len(jobs)
