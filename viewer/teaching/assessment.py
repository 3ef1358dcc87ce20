"""A reading measured and read by the response criteria, as the app's Response panel does.

Each visit's lesions are measured on the series the reader read them on, on that series' own grid
(:func:`viewer.analysis.measure.measure_all`); a lesion the reader measured by hand takes the
hand-laid diameters instead. Only enhancing lesions enter the response: cavities, FLAIR and
necrosis outlines are never targets nor new lesions. A lesion outlined at an earlier visit and not
at a later one is gone there. The categories then come from :func:`viewer.analysis.response.assess`
with the reading's baseline, targets and treatment events, so a trainee's reading and the
reference are judged by the same rules, with the reasons in words.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from viewer.analysis.criteria import CRITERIA, Criteria
from viewer.analysis.measure import (
    LesionMeasurement,
    is_measurable,
    measure_all,
    with_hand_diameters,
)
from viewer.analysis.response import Assessment, LesionReading, VisitReading, VisitResponse, assess
from viewer.core.lesions import LesionKind
from viewer.core.volume import Volume, VolumeMetadata
from viewer.teaching.reading import HandMeasurement, Reading, SeriesOutlines


@dataclass(frozen=True)
class MeasuredVisit:
    """One visit of a reading, measured.

    Attributes
    ----------
    label : str
    date : datetime.date
    series_key : str or None
        The series its lesions are read on.
    measurements : mapping of int to LesionMeasurement
        Every lesion outlined on that series (any kind), by number; hand-laid diameters applied.
    """

    label: str
    date: dt.date
    series_key: str | None
    measurements: Mapping[int, LesionMeasurement]


@dataclass(frozen=True)
class ReadingAssessment:
    """A reading's measurements and its response by one set of criteria.

    Attributes
    ----------
    reading : Reading
    criteria : Criteria
    visits : tuple of MeasuredVisit
        In date order, one per visit of the reading.
    readings : tuple of VisitReading
        What the response engine was given.
    assessment : Assessment
    notes : tuple of str
        Choices of the reading that could not be followed, and why (e.g. targets that are not
        measurable at the baseline by these criteria).
    """

    reading: Reading
    criteria: Criteria
    visits: tuple[MeasuredVisit, ...]
    readings: tuple[VisitReading, ...]
    assessment: Assessment
    notes: tuple[str, ...] = ()

    def response(self, label: str) -> VisitResponse | None:
        """The response at the visit labelled ``label`` (None: no such visit)."""
        for response in self.assessment.visits:
            if response.label == label:
                return response
        return None

    def measured(self, label: str) -> MeasuredVisit | None:
        """The measured visit labelled ``label`` (None: no such visit)."""
        for visit in self.visits:
            if visit.label == label:
                return visit
        return None

    @property
    def baseline_label(self) -> str:
        """Label of the baseline visit the assessment used."""
        return self.assessment.visits[self.assessment.baseline_index].label


def geometry_volume(outlines: SeriesOutlines) -> Volume:
    """A volume on the outlines' grid with unknown intensities (NaN, taking no memory).

    Measurements need the grid and the slice thickness, not the pixels.
    """
    return Volume(
        np.broadcast_to(np.float32(np.nan), outlines.shape),
        outlines.voxel2patient,
        VolumeMetadata(slice_thickness_mm=outlines.slice_thickness_mm),
    )


def hand_measured(
    measurement: LesionMeasurement,
    hand: HandMeasurement,
    voxel2patient: np.ndarray,
    shape: tuple[int, int, int],
) -> LesionMeasurement:
    """A lesion's measurement with the diameters a reader laid by hand.

    Volume, slices spanned and centroids stay as measured from the outline. The slice is where
    the perpendicular crosses the long axis, counted on the grid the series is measured on (its
    own slices, or its true-axial reslice), as :class:`~viewer.analysis.measure.Diameters`
    counts it.

    Parameters
    ----------
    measurement : LesionMeasurement
    hand : HandMeasurement
    voxel2patient : ndarray of shape (4, 4)
        The series' grid.
    shape : tuple of 3 int
        The series' shape (Z, Y, X).

    Returns
    -------
    LesionMeasurement
    """
    start, end = np.array(hand.long_ends_mm)
    first, second = np.array(hand.perp_ends_mm)
    along = (end - start) / np.linalg.norm(end - start)
    # the mean of both ends' feet on the long axis, as the app's caliper places its crossing
    crossing = start + 0.5 * ((first - start) @ along + (second - start) @ along) * along
    return with_hand_diameters(
        measurement, hand.long_ends_mm, hand.perp_ends_mm, crossing, voxel2patient, shape
    )


def measure_reading(reading: Reading) -> tuple[MeasuredVisit, ...]:
    """Measure every lesion of every visit on the series the visit is read on.

    Returns
    -------
    tuple of MeasuredVisit
        In the reading's visit order.
    """
    measured = []
    for visit in reading.visits:
        outlines = reading.series.get(visit.series_key) if visit.series_key else None
        found: dict[int, LesionMeasurement] = {}
        if outlines is not None:
            found = measure_all(outlines.labels, geometry_volume(outlines), series_key=outlines.key)
            for number, measurement in found.items():
                hand = reading.hand_measurement(outlines.key, number)
                if hand is not None:
                    found[number] = hand_measured(
                        measurement, hand, outlines.voxel2patient, outlines.shape
                    )
        measured.append(MeasuredVisit(visit.label, visit.date, visit.series_key, found))
    return tuple(measured)


class Measured(Protocol):
    """A visit with its lesions measured: a :class:`MeasuredVisit`, or the app's visit column."""

    label: str
    date: dt.date
    measurements: Mapping[int, LesionMeasurement]


def visit_readings(
    visits: Sequence[Measured], enhancing: set[int], criteria: Criteria
) -> list[VisitReading]:
    """The visits as the response engine reads them (a reading's, and the app's alike).

    Parameters
    ----------
    visits : sequence of MeasuredVisit or VisitColumn
        In date order.
    enhancing : set of int
        Numbers of the enhancing lesions: the only ones the criteria read.
    criteria : Criteria
        Decides measurability (diameters against the slice thickness, slices spanned).

    Returns
    -------
    list of VisitReading
        A lesion outlined at an earlier visit and absent now is given as gone.
    """
    result = []
    seen: set[int] = set()
    # the criteria read enhancing disease: cavities, FLAIR and necrosis outlines are not
    # targets and never "new lesions"
    for visit in visits:
        lesions: dict[int, LesionReading] = {}
        for number, m in visit.measurements.items():
            if number not in enhancing:
                continue
            diameters = m.diameters
            lesions[number] = LesionReading(
                lesion=number,
                longest_mm=diameters.longest_mm if diameters else 0.0,
                perpendicular_mm=diameters.perpendicular_mm if diameters else 0.0,
                volume_ml=m.volume_ml,
                measurable=is_measurable(m, criteria)[0],
            )
            seen.add(number)
        for number in seen - set(lesions):  # outlined before, nothing now: gone
            lesions[number] = LesionReading(number, 0.0, 0.0, 0.0, False, present=False)
        result.append(VisitReading(visit.date, visit.label, lesions))
    return result


def assess_reading(
    reading: Reading,
    criteria: Criteria | None = None,
    *,
    measured: Sequence[MeasuredVisit] | None = None,
) -> ReadingAssessment:
    """Measure a reading and read it by the criteria.

    Parameters
    ----------
    reading : Reading
    criteria : Criteria, optional
        Defaults to the reading's own (``reading.criteria_key``).
    measured : sequence of MeasuredVisit, optional
        :func:`measure_reading`'s result, when already at hand.

    Returns
    -------
    ReadingAssessment

    Raises
    ------
    ValueError
        The reading has no visits.
    """
    criteria = criteria or CRITERIA[reading.criteria_key]
    visits = tuple(measured) if measured is not None else measure_reading(reading)
    enhancing = {lesion.number for lesion in reading.lesions if lesion.kind is LesionKind.ENHANCING}
    readings = visit_readings(visits, enhancing, criteria)
    labels = [visit.label for visit in visits]
    baseline = labels.index(reading.baseline_visit) if reading.baseline_visit in labels else None
    targets = tuple(n for n in reading.targets if n in enhancing) or None
    notes = []
    events = reading.events
    try:
        assessment = assess(
            readings, criteria, events=events, baseline_index=baseline, targets=targets
        )
    except ValueError as exc:
        if targets is None:
            raise
        # the reader's targets do not fit these criteria at this baseline: say so, and let the
        # criteria choose, so the rest of the reading can still be compared
        notes.append(f"Targets {_names(targets)} not used ({exc}): the criteria chose them.")
        assessment = assess(readings, criteria, events=events, baseline_index=baseline)
    return ReadingAssessment(reading, criteria, visits, tuple(readings), assessment, tuple(notes))


def _names(numbers: Sequence[int]) -> str:
    return ", ".join(f"L{n}" for n in numbers)
