"""The open case's lesions over time: measurements, the response by the chosen criteria (no Qt).

Measurements come from each visit's label map on its own grid (``viewer.analysis.measure``); the
visit a lesion is read on is the one whose outlines the reader made, preferring the contrast MRI.
The reader's choices (criteria, baseline visit, target lesions, treatment events) live in the case
file's ``assessment`` and ``events``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from psygnal import Signal

from viewer.analysis.criteria import CRITERIA, DEFAULT_CRITERIA, Criteria
from viewer.analysis.events import SteroidChange
from viewer.analysis.events import TreatmentEvent as AnalysisEvent
from viewer.analysis.events import TreatmentKind as AnalysisKind
from viewer.analysis.matching import VisitLesions, match_lesions
from viewer.analysis.measure import LesionMeasurement, measure_all
from viewer.analysis.response import Assessment, VisitReading, assess
from viewer.core.catalog import Catalog, SeriesEntry
from viewer.core.lesions import LesionKind
from viewer.core.volume import Volume
from viewer.io.case_file import SeriesRecord, TreatmentEvent, TreatmentKind
from viewer.state.annotations import Annotations
from viewer.state.calipers import CaliperStore, override_measurement
from viewer.state.registrations import preferred_series
from viewer.state.session import is_contrast_mri
from viewer.teaching.assessment import visit_readings

VolumeSource = Callable[[str], "Volume | None"]
"""``volume_of(series_key)``: the loaded image, or None when it is not in memory."""


@dataclass(frozen=True)
class VisitColumn:
    """One visit of the lesion table: the series its lesions are read on.

    Attributes
    ----------
    label : str
        The visit's date as text ("2002-12-09").
    date : datetime.date
    series_key : str
    measurements : dict of int to LesionMeasurement
        By lesion number.
    """

    label: str
    date: dt.date
    series_key: str
    measurements: dict[int, LesionMeasurement]


def case_events(events: Sequence[AnalysisEvent]) -> list[TreatmentEvent]:
    """Treatment events as the case file keeps them (the inverse of :func:`analysis_events`)."""
    converted = []
    for event in events:
        kind = TreatmentKind(event.kind.value)
        if event.steroid_change is SteroidChange.INCREASE:
            kind = TreatmentKind.STEROID_INCREASE
        elif event.steroid_change is SteroidChange.DECREASE:
            kind = TreatmentKind.STEROID_DECREASE
        converted.append(TreatmentEvent(event.date, kind, event.note))
    return converted


def analysis_events(events: Sequence[TreatmentEvent]) -> list[AnalysisEvent]:
    """The case file's treatment events as the response engine reads them.

    A steroid change of unknown direction is left out: only an increase matters to the criteria,
    and the case cannot say whether it was one.
    """
    converted = []
    for event in events:
        if event.kind is TreatmentKind.STEROID_INCREASE:
            converted.append(
                AnalysisEvent(
                    event.date, AnalysisKind.STEROID_CHANGE, SteroidChange.INCREASE, event.note
                )
            )
        elif event.kind is TreatmentKind.STEROID_DECREASE:
            converted.append(
                AnalysisEvent(
                    event.date, AnalysisKind.STEROID_CHANGE, SteroidChange.DECREASE, event.note
                )
            )
        elif event.kind is not TreatmentKind.STEROID_CHANGE:
            converted.append(
                AnalysisEvent(event.date, AnalysisKind(event.kind.value), None, event.note)
            )
    return converted


def reading_series(catalog: Catalog, outlined: Sequence[str]) -> dict[str, SeriesEntry]:
    """Per visit (by label), the series its lesions are read on.

    An outlined contrast MRI first, then any outlined MRI, then any outlined series.
    """
    chosen: dict[str, SeriesEntry] = {}
    for patient in catalog.patients:
        for visit in patient.visits:
            candidates = [s for s in visit.series if s.key in outlined]
            if not candidates:
                continue
            candidates.sort(key=lambda s: (not is_contrast_mri(s), s.modality != "MR"))
            chosen[visit.label] = candidates[0]
    return chosen


class Tracking:
    """Measurements and response of the open case, recomputed when outlines change.

    Parameters
    ----------
    annotations : Annotations
    catalog : callable
        ``catalog() -> Catalog`` of the open case.
    volume_of : callable
        ``volume_of(key) -> Volume | None`` (intensities are unknown for series not in memory).
    records : callable
        ``records() -> dict of str to SeriesRecord``: the grid of every outlined series.
    patient2reference : callable
        ``patient2reference(key) -> ndarray (4, 4) | None``.
    calipers : CaliperStore, optional
        The reader's hand-measured diameters; they replace the automatic ones.

    Signals
    -------
    changed()
        Measurements or the assessment changed.
    """

    changed = Signal()

    def __init__(
        self,
        annotations: Annotations,
        catalog: Callable[[], Catalog],
        volume_of: VolumeSource,
        records: Callable[[], dict[str, SeriesRecord]],
        patient2reference: Callable[[str], np.ndarray | None],
        calipers: CaliperStore | None = None,
    ) -> None:
        self.annotations = annotations
        self.calipers = calipers if calipers is not None else CaliperStore()
        self._catalog = catalog
        self._volume_of = volume_of
        self._records = records
        self._patient2reference = patient2reference
        self.criteria_key = DEFAULT_CRITERIA
        self.baseline_label: str | None = None
        self.target_override: tuple[int, ...] | None = None
        self.events: list[TreatmentEvent] = []
        self.problem: str | None = None
        """Why a saved choice could not be restored (None: everything was)."""
        # by series key; dropped whenever that series' outlines change
        self._cache: dict[str, dict[int, LesionMeasurement]] = {}
        self._placed: dict[str, VisitLesions] = {}  # the lesions in the reference frame
        self._versions: dict[str, int] = {}  # bumped at every change of a series' outlines
        self._epoch = 0  # bumped when every series changes at once
        self._requested: dict[str, tuple[int, int]] = {}  # series being measured: its version
        self.background: Callable[[str, Callable[[], Any]], None] | None = None
        """``background(series_key, work)`` runs ``work()`` in a worker and hands its result to
        :meth:`take_result` (a failure: :meth:`drop_request`); None measures at once."""
        annotations.labels_changed.connect(self._on_labels)
        annotations.lesions_changed.connect(self._on_lesions)
        self.calipers.changed.connect(self._on_calipers)

    @property
    def criteria(self) -> Criteria:
        """The criteria the case is read by."""
        return CRITERIA[self.criteria_key]

    # --- choices (stored in the case's assessment) -----------------------------------------

    def set_criteria(self, key: str) -> None:
        """Read the case by other criteria (targets are chosen again)."""
        if key not in CRITERIA:
            raise ValueError(f"unknown criteria {key!r}; expected one of {sorted(CRITERIA)}")
        self.criteria_key, self.target_override = key, None
        self._chosen()

    def set_baseline(self, label: str | None) -> None:
        """Compare with this visit (None: the criteria's default)."""
        self.baseline_label = label
        self._chosen()

    def set_targets(self, numbers: Sequence[int] | None) -> None:
        """Choose the target lesions by hand (None: the largest measurable, automatically)."""
        self.target_override = None if numbers is None else tuple(sorted(set(numbers)))
        self._chosen()

    def set_events(self, events: Sequence[TreatmentEvent]) -> None:
        """Replace the treatment events."""
        self.events = sorted(events, key=lambda e: e.date)
        self._chosen()

    def _chosen(self) -> None:
        """A choice saved with the case changed: announce it, and the case needs saving."""
        self.annotations.mark_changed()
        self.changed.emit()

    def restore(self, assessment: dict[str, Any], events: Sequence[TreatmentEvent]) -> None:
        """Take the choices saved with a case (unknown values are ignored)."""
        key = assessment.get("criteria")
        self.criteria_key = key if key in CRITERIA else DEFAULT_CRITERIA
        baseline = assessment.get("baseline")
        self.baseline_label = baseline if isinstance(baseline, str) else None
        targets = assessment.get("targets")
        self.target_override = (
            tuple(int(n) for n in targets if isinstance(n, int))
            if isinstance(targets, list)
            else None
        )
        self.events = sorted(events, key=lambda e: e.date)
        self._cache.clear()
        self._placed.clear()
        self._requested.clear()
        self.problem = None
        try:
            self.calipers.restore(assessment.get("calipers", {}))
        except ValueError as exc:
            # the outlines still open; the reader is told which hand measurement was lost
            self.calipers.restore({})
            self.problem = f"Hand-measured diameters not restored: {exc}"
        self.changed.emit()

    def assessment_json(self) -> dict[str, Any]:
        """The choices to save with the case."""
        return {
            "criteria": self.criteria_key,
            "baseline": self.baseline_label,
            "targets": None if self.target_override is None else list(self.target_override),
            "calipers": self.calipers.to_json(),
        }

    # --- measuring -------------------------------------------------------------------------

    def _on_lesions(self) -> None:
        # a deleted lesion takes its hand measurements with it
        self.calipers.forget_lesions({lesion.number for lesion in self.annotations.lesions})
        self.changed.emit()

    def _on_calipers(self, key: str) -> None:
        if key:  # "" is a restore, not an edit
            self.annotations.mark_changed()
        self.changed.emit()

    def _on_labels(self, key: str) -> None:
        if key:
            self._cache.pop(key, None)
            self._placed.pop(key, None)
            self._versions[key] = self._versions.get(key, 0) + 1
        else:  # every series (a case restored): results measured before are all stale
            self._cache.clear()
            self._placed.clear()
            self._epoch += 1
        self.changed.emit()

    def _version(self, key: str) -> tuple[int, int]:
        return self._epoch, self._versions.get(key, 0)

    # --- measuring off the GUI thread ------------------------------------------------------

    @property
    def pending(self) -> bool:
        """Some outlined series are being measured in the background (results are partial)."""
        return bool(self._requested)

    def _request(self, key: str, labels: np.ndarray, record: SeriesRecord) -> None:
        """Measure a series in the background, on a copy of its outlines."""
        assert self.background is not None
        version = self._version(key)
        if self._requested.get(key) == version:
            return
        self._requested[key] = version
        snapshot = labels.copy()  # the reader may go on outlining meanwhile
        volume = self._volume_for(key, record, labels.shape)
        matrix = self._patient2reference(key)

        def work() -> tuple[str, tuple[int, int], Measured]:
            return key, version, _measure_series(key, snapshot, volume, matrix)

        self.background(key, work)

    def take_result(self, result: tuple[str, tuple[int, int], Measured]) -> None:
        """A background measurement is done: keep it unless the outlines changed meanwhile."""
        key, version, measured = result
        if self._requested.get(key) == version:
            del self._requested[key]
        if self._version(key) == version:
            self._cache[key], self._placed[key] = measured
            self.changed.emit()

    def drop_request(self, key: str) -> None:
        """A background measurement failed or was cancelled: it may be asked for again."""
        self._requested.pop(key, None)

    def measurements(self, key: str) -> dict[int, LesionMeasurement]:
        """Every lesion on a series' label map, measured on the series' own grid."""
        labels = self.annotations.labels(key)
        record = self._records().get(key)
        if labels is None or record is None:
            return {}
        measured = self._cache.get(key)
        if measured is None:
            if self.background is not None:
                self._request(key, labels, record)
                return {}
            volume = self._volume_for(key, record, labels.shape)
            measured, self._placed[key] = _measure_series(
                key, labels, volume, self._patient2reference(key)
            )
            self._cache[key] = measured
        manual = self.calipers.manuals(key)
        if not manual:
            return measured
        return {
            number: override_measurement(m, manual[number], record.voxel2patient, record.shape)
            if number in manual
            else m
            for number, m in measured.items()
        }

    def _volume_for(self, key: str, record: SeriesRecord, shape: tuple[int, ...]) -> Volume:
        volume = self._volume_of(key)
        if volume is None or volume.shape != shape:
            # not in memory: geometry from the case file; intensities unknown (NaN, no memory)
            volume = Volume(np.broadcast_to(np.float32(np.nan), record.shape), record.voxel2patient)
        return volume

    def columns(self) -> list[VisitColumn]:
        """Every dated visit, oldest first, with the series its lesions are read on.

        A visit without outlines counts as one where the reader found no lesion (a post-operative
        scan with no enhancing tumour is a baseline of zero), read on its preferred series.
        """
        outlined = [k for k, v in self.annotations.label_maps().items() if v.any()]
        chosen = reading_series(self._catalog(), outlined)
        columns = []
        for patient in self._catalog().patients:
            for visit in patient.visits:
                entry = chosen.get(visit.label) or preferred_series(visit)
                if entry is None or visit.date is None:
                    continue
                columns.append(
                    VisitColumn(visit.label, visit.date, entry.key, self.measurements(entry.key))
                )
        return columns

    def link_problems(self, columns: Sequence[VisitColumn]) -> list[str]:
        """Where the numbering disagrees with where the lesions are, visit to visit.

        Lesions are matched in the reference frame (``viewer.analysis.matching``: they must share
        voxels, and their centroids lie within 30 mm); a pair with different numbers, or one number
        on outlines that do not touch, is pointed out so the reader can relink it by hand.
        """
        names = {lesion.number: lesion.name for lesion in self.annotations.lesions}
        placed = [(c, self._placed.get(c.series_key)) for c in columns]
        placed = [(c, p) for c, p in placed if p is not None and p.masks_mm]
        problems = []
        for (before, earlier), (after, later) in zip(placed, placed[1:], strict=False):
            matching = match_lesions(earlier, later)
            linked = set()
            for link in matching.links:
                linked.add((link.earlier, link.later))
                if link.earlier != link.later:
                    problems.append(
                        f"{names.get(link.later, link.later)} on {after.label} overlaps "
                        f"{names.get(link.earlier, link.earlier)} on {before.label} "
                        f"({link.overlap_of_smaller:.0%} of the smaller): the same lesion? "
                        "Relink it in the Outlines panel."
                    )
            for number in set(earlier.masks_mm) & set(later.masks_mm):
                if (number, number) not in linked:
                    problems.append(
                        f"{names.get(number, number)} on {after.label} does not touch its outline "
                        f"on {before.label}: a different lesion? Relink it in the Outlines panel."
                    )
        return problems

    def readings(self, columns: Sequence[VisitColumn] | None = None) -> list[VisitReading]:
        """The visits as the response engine reads them (as a teaching reading is read)."""
        enhancing = {
            lesion.number
            for lesion in self.annotations.lesions
            if lesion.kind is LesionKind.ENHANCING
        }
        visits = columns if columns is not None else self.columns()
        return visit_readings(visits, enhancing, self.criteria)

    def assess(self) -> tuple[list[VisitColumn], list[VisitReading], Assessment | None]:
        """Columns, readings and the assessment by the chosen criteria (None: no visits)."""
        columns = self.columns()
        readings = self.readings(columns)
        if not readings:
            return columns, readings, None
        labels = [r.label for r in readings]
        baseline = labels.index(self.baseline_label) if self.baseline_label in labels else None
        assessment = assess(
            readings,
            self.criteria,
            events=analysis_events(self.events),
            baseline_index=baseline,
            targets=self.target_override,
        )
        return columns, readings, assessment


Measured = tuple[dict[int, LesionMeasurement], VisitLesions]
"""A series' measurements and its lesions placed in the reference frame."""


def _measure_series(
    key: str, labels: np.ndarray, volume: Volume, patient2reference: np.ndarray | None
) -> Measured:
    """Measure every lesion of a series and place them in the reference frame (worker-safe)."""
    measured = measure_all(labels, volume, series_key=key, patient2reference=patient2reference)
    placed = VisitLesions.from_label_map(key, labels, volume.voxel2patient, patient2reference)
    return measured, placed
