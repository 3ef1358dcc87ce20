"""A reading of a case: one reader's lesions, outlines, diameters and categories (no Qt).

A reference reading (a supervisor's) and a trainee's reading have the same form, so they can be
compared (:mod:`viewer.teaching.agreement`) and passed around a teaching group as one file.

What a reading holds
--------------------
* Who made it (name, role "reference" or "trainee") and when; a case label; the criteria it was
  read by, its baseline visit and the treatment events it knew of.
* Lesions: number, name, kind, colour, whether it is a target, a note.
* Per series: a label map on the series' native grid (uint16, voxel value = lesion number) and
  that grid (shape and voxel2patient), so the outlines are refused on any other grid rather than
  shown in the wrong place (as the case file does).
* Hand-measured diameters per lesion and series (a caliper's end points, patient LPS mm); lesions
  without one are measured from their outline.
* Per visit: the series its lesions are read on, the category the reader states, the lesions the
  reader calls new, and free-text teaching points.

Readings are stored one per file (:mod:`viewer.teaching.reading_file`, docs/reading-format.md).
"""

from __future__ import annotations

import datetime as dt
import enum
import math
import types
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from viewer.analysis.criteria import CRITERIA
from viewer.analysis.events import TreatmentEvent
from viewer.analysis.response import (
    BASELINE,
    COMPLETE_RESPONSE,
    NOT_EVALUABLE,
    PARTIAL_RESPONSE,
    PROGRESSION,
    STABLE_DISEASE,
)
from viewer.core.lesions import MAX_LESION_NUMBER, Lesion, LesionKind, palette_colour
from viewer.core.volume import Volume
from viewer.errors import CaseFileError
from viewer.io.case_file import SeriesRecord, geometry_mismatch

CATEGORIES = (
    COMPLETE_RESPONSE,
    PARTIAL_RESPONSE,
    STABLE_DISEASE,
    PROGRESSION,
    BASELINE,
    NOT_EVALUABLE,
)
"""Categories a reader may state at a visit (the response engine's)."""


class Role(enum.Enum):
    """Who a reading is by."""

    REFERENCE = "reference"
    TRAINEE = "trainee"


@dataclass(frozen=True)
class Reader:
    """The reader: a name as they want it shown, and their role."""

    name: str
    role: Role

    def __post_init__(self) -> None:
        if not isinstance(self.name, str):
            raise TypeError(f"reader name must be text, got {self.name!r}")
        if not isinstance(self.role, Role):
            raise TypeError(f"reader role must be a Role, got {self.role!r}")


@dataclass(frozen=True)
class ReadingLesion:
    """A lesion of a reading.

    Parameters
    ----------
    number : int
        Its voxel value in the reading's label maps, 1 .. 65535.
    name : str
    kind : LesionKind
        Only enhancing lesions enter the response (as in the app's Response panel).
    target : bool
        The reader chose it as a target lesion.
    colour : tuple of 3 int, optional
        8-bit RGB; defaults to the palette colour of the number, as in the app.
    note : str
    """

    number: int
    name: str
    kind: LesionKind = LesionKind.ENHANCING
    target: bool = False
    colour: tuple[int, int, int] | None = None
    note: str = ""

    def __post_init__(self) -> None:
        colour = palette_colour(self.number) if self.colour is None else tuple(self.colour)
        # a core Lesion checks number, colour, kind and texts the same way the case file does
        Lesion(self.number, self.name, colour, self.kind, self.note)  # type: ignore[arg-type]
        object.__setattr__(self, "colour", colour)
        if not isinstance(self.target, bool):
            raise TypeError(f"lesion {self.number}: target must be True or False")

    @classmethod
    def of(cls, lesion: Lesion, *, target: bool = False) -> ReadingLesion:
        """The reading's form of a case lesion."""
        return cls(lesion.number, lesion.name, lesion.kind, target, lesion.colour, lesion.note)


@dataclass(frozen=True, eq=False)
class SeriesOutlines:
    """A reader's outlines on one series, with the grid they were drawn on.

    Parameters
    ----------
    key : str
        The series' key in the case (``SeriesEntry.key``: its SeriesInstanceUID for DICOM).
    visit : str
        Label of the visit it belongs to (the visit's ISO date).
    voxel2patient : ndarray of shape (4, 4)
        (slice, row, column, 1) -> LPS mm of the series.
    labels : ndarray of uint16, shape (Z, Y, X)
        Lesion number per voxel, 0 for none. Kept as a read-only copy.
    slice_thickness_mm : float or None
        The series' nominal slice thickness (measurability depends on it); None: the distance
        between slices is used, as for a series whose header gives none.
    """

    key: str
    visit: str
    voxel2patient: np.ndarray
    labels: np.ndarray
    slice_thickness_mm: float | None = None

    def __post_init__(self) -> None:
        labels = np.asarray(self.labels)
        if labels.ndim != 3 or labels.dtype.kind not in "iu" or min(labels.shape) < 1:
            raise ValueError(
                f"series {self.key}: a label map is a 3-D integer array, got "
                f"{labels.dtype} {labels.shape}"
            )
        if labels.size and (labels.min() < 0 or labels.max() > MAX_LESION_NUMBER):
            raise ValueError(f"series {self.key}: label values outside 0..{MAX_LESION_NUMBER}")
        labels = np.array(labels, dtype=np.uint16, order="C")
        labels.setflags(write=False)
        object.__setattr__(self, "labels", labels)
        # SeriesRecord checks the grid (finite 4x4, positive shape) as the case file does
        record = SeriesRecord(self.key, self.visit, labels.shape, self.voxel2patient)
        object.__setattr__(self, "voxel2patient", record.voxel2patient)
        thickness = self.slice_thickness_mm
        if thickness is not None:
            if isinstance(thickness, bool) or not (
                isinstance(thickness, int | float) and math.isfinite(thickness) and thickness > 0
            ):
                raise ValueError(f"series {self.key}: slice thickness must be > 0 mm or None")
            object.__setattr__(self, "slice_thickness_mm", float(thickness))

    @property
    def shape(self) -> tuple[int, int, int]:
        """(slices, rows, columns) of the series."""
        return tuple(self.labels.shape)  # type: ignore[return-value]

    @property
    def record(self) -> SeriesRecord:
        """The grid as the case file records it."""
        return SeriesRecord(self.key, self.visit, self.shape, self.voxel2patient)

    def numbers(self) -> tuple[int, ...]:
        """Lesion numbers outlined on this series, ascending."""
        return tuple(int(n) for n in np.unique(self.labels) if n)

    def grid_problem(self, volume: Volume) -> str | None:
        """How a loaded series' grid differs from the one these outlines were drawn on.

        Returns
        -------
        str or None
            None when the grids are the same (to 1e-3 mm), else the difference in words.
        """
        return geometry_mismatch(self.record, volume)


@dataclass(frozen=True)
class HandMeasurement:
    """Diameters a reader laid by hand: the long axis and its perpendicular, patient LPS mm.

    Parameters
    ----------
    series_key : str
    lesion : int
    long_ends_mm, perp_ends_mm : tuple of two (x, y, z) tuples
        End points in the series' patient coordinates (LPS, mm), as a caliper holds them.
    """

    series_key: str
    lesion: int
    long_ends_mm: tuple[tuple[float, float, float], tuple[float, float, float]]
    perp_ends_mm: tuple[tuple[float, float, float], tuple[float, float, float]]

    def __post_init__(self) -> None:
        for name in ("long_ends_mm", "perp_ends_mm"):
            ends = np.array(getattr(self, name), dtype=np.float64)
            if ends.shape != (2, 3) or not np.all(np.isfinite(ends)):
                raise ValueError(
                    f"series {self.series_key} lesion {self.lesion}: {name} must be two "
                    "finite (x, y, z) points in mm"
                )
            object.__setattr__(self, name, tuple(tuple(float(v) for v in p) for p in ends))
        if not self.longest_mm > 0 or not self.perpendicular_mm > 0:
            raise ValueError(
                f"series {self.series_key} lesion {self.lesion}: a diameter has zero length"
            )

    @property
    def longest_mm(self) -> float:
        """Length of the long axis, mm."""
        a, b = np.array(self.long_ends_mm)
        return float(np.linalg.norm(b - a))

    @property
    def perpendicular_mm(self) -> float:
        """Length of the perpendicular, mm."""
        a, b = np.array(self.perp_ends_mm)
        return float(np.linalg.norm(b - a))


@dataclass(frozen=True)
class VisitStatement:
    """What a reader states at one visit.

    Parameters
    ----------
    label : str
        The visit's label in the case (its ISO date, ``"2002-08-14"``).
    date : datetime.date
    series_key : str or None
        The series the visit's lesions are read on (None: no series chosen; the visit has no
        lesions).
    category : str or None
        One of :data:`CATEGORIES`, or None when the reader stated none.
    new_lesions : tuple of int
        Lesions the reader calls new at this visit.
    teaching_points : tuple of str
        Free text, one point per item.
    """

    label: str
    date: dt.date
    series_key: str | None = None
    category: str | None = None
    new_lesions: tuple[int, ...] = ()
    teaching_points: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.date, dt.date) or isinstance(self.date, dt.datetime):
            raise TypeError(f"visit {self.label}: date must be a datetime.date")
        if self.category is not None and self.category not in CATEGORIES:
            raise ValueError(
                f"visit {self.label}: category {self.category!r} is not one of {CATEGORIES}"
            )
        object.__setattr__(self, "new_lesions", tuple(sorted({int(n) for n in self.new_lesions})))
        points = tuple(self.teaching_points)
        if not all(isinstance(p, str) for p in points):
            raise TypeError(f"visit {self.label}: teaching points must be text")
        object.__setattr__(self, "teaching_points", points)


@dataclass(frozen=True, eq=False)
class Reading:
    """One reader's reading of a case.

    Parameters
    ----------
    reader : Reader
    created : datetime.datetime
        When the reading was made (timezone-aware, or naive meaning UTC).
    lesions : sequence of ReadingLesion
    series : sequence of SeriesOutlines
        One per outlined series; kept as a mapping by series key.
    visits : sequence of VisitStatement
        Every visit of the case, in date order.
    criteria_key : str
        Key in :data:`viewer.analysis.criteria.CRITERIA` (``"rano"``).
    baseline_visit : str or None
        Label of the baseline visit; None: the criteria's default.
    events : sequence of TreatmentEvent
        The treatment history the reader knew of (drives the baseline and the 12-week window).
    hand_measurements : sequence of HandMeasurement
        At most one per (series, lesion).
    case_label : str
        A de-identified name of the case ("Recurrent glioma, demo").
    source : Path or None
        The file it was read from (not part of the reading; named in error messages).

    Raises
    ------
    ValueError, TypeError
        The parts do not fit together; the message says which part and why.
    """

    reader: Reader
    created: dt.datetime
    lesions: tuple[ReadingLesion, ...]
    series: Mapping[str, SeriesOutlines]
    visits: tuple[VisitStatement, ...]
    criteria_key: str = field(default="rano", kw_only=True)
    baseline_visit: str | None = field(default=None, kw_only=True)
    events: tuple[TreatmentEvent, ...] = field(default=(), kw_only=True)
    hand_measurements: tuple[HandMeasurement, ...] = field(default=(), kw_only=True)
    case_label: str = field(default="", kw_only=True)
    source: Path | None = field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        normalised = {
            "lesions": tuple(sorted(self.lesions, key=lambda lesion: lesion.number)),
            "series": _by_key(
                self.series.values() if isinstance(self.series, Mapping) else self.series
            ),
            "visits": tuple(self.visits),
            "events": tuple(sorted(self.events, key=lambda e: e.date)),
            "hand_measurements": tuple(
                sorted(self.hand_measurements, key=lambda h: (h.series_key, h.lesion))
            ),
            "source": None if self.source is None else Path(self.source),
        }
        for name, value in normalised.items():
            object.__setattr__(self, name, value)
        self._check()

    def _check(self) -> None:
        if not isinstance(self.reader, Reader):
            raise TypeError("reader must be a Reader")
        if not isinstance(self.created, dt.datetime):
            raise TypeError("created must be a datetime.datetime")
        if self.criteria_key not in CRITERIA:
            raise ValueError(f"unknown criteria {self.criteria_key!r}; known: {sorted(CRITERIA)}")
        if not isinstance(self.case_label, str):
            raise TypeError("case_label must be text")
        numbers = [lesion.number for lesion in self.lesions]
        if len(set(numbers)) != len(numbers):
            raise ValueError(f"lesion numbers repeat: {numbers}")
        known = set(numbers)
        labels = [visit.label for visit in self.visits]
        if len(set(labels)) != len(labels):
            raise ValueError(f"visit labels repeat: {labels}")
        for earlier, later in zip(self.visits, self.visits[1:], strict=False):
            if later.date < earlier.date:
                raise ValueError(f"visit {later.label} is dated before visit {earlier.label}")
        for visit in self.visits:
            unknown = sorted(set(visit.new_lesions) - known)
            if unknown:
                raise ValueError(f"visit {visit.label}: new lesion(s) {unknown} are no lesion")
            outlines = self.series.get(visit.series_key) if visit.series_key else None
            if outlines is not None and outlines.visit != visit.label:
                raise ValueError(
                    f"visit {visit.label} is read on series {visit.series_key}, which belongs "
                    f"to visit {outlines.visit}"
                )
        for outlines in self.series.values():
            if outlines.visit not in labels:
                raise ValueError(f"series {outlines.key}: visit {outlines.visit} is not listed")
            stray = sorted(set(outlines.numbers()) - known)
            if stray:
                raise ValueError(f"series {outlines.key}: label(s) {stray[:5]} are no lesion")
        if self.baseline_visit is not None and self.baseline_visit not in labels:
            raise ValueError(f"baseline visit {self.baseline_visit!r} is not listed")
        pairs = [(h.series_key, h.lesion) for h in self.hand_measurements]
        if len(set(pairs)) != len(pairs):
            raise ValueError("a lesion has two hand measurements on one series")
        for key, number in pairs:
            if key not in self.series or number not in known:
                raise ValueError(f"hand measurement of lesion {number} on unknown series {key}")
        for event in self.events:
            if not isinstance(event, TreatmentEvent):
                raise TypeError(f"events must be TreatmentEvent, got {event!r}")

    # --- looking things up -----------------------------------------------------------------

    def lesion(self, number: int) -> ReadingLesion:
        """The lesion numbered ``number``."""
        for lesion in self.lesions:
            if lesion.number == number:
                return lesion
        raise KeyError(f"the reading has no lesion {number}")

    def visit(self, label: str) -> VisitStatement:
        """The statement at the visit labelled ``label``."""
        for visit in self.visits:
            if visit.label == label:
                return visit
        raise KeyError(f"the reading has no visit {label!r}")

    @property
    def targets(self) -> tuple[int, ...]:
        """Numbers of the lesions the reader chose as targets, ascending."""
        return tuple(lesion.number for lesion in self.lesions if lesion.target)

    def labels(self, key: str) -> np.ndarray | None:
        """The label map of a series (read-only uint16), or None when it has no outlines."""
        outlines = self.series.get(key)
        return None if outlines is None else outlines.labels

    def labels_on(self, key: str, volume: Volume) -> np.ndarray | None:
        """The label map of a series, after checking it was drawn on ``volume``'s grid.

        Returns
        -------
        ndarray of uint16 or None
            None when the reading has no outlines on this series.

        Raises
        ------
        viewer.errors.CaseFileError
            The outlines were drawn on another grid: they are refused, never shown elsewhere.
        """
        outlines = self.series.get(key)
        if outlines is None:
            return None
        problem = outlines.grid_problem(volume)
        if problem is not None:
            raise CaseFileError(
                f"the outlines of series {key} in this reading were drawn on another grid: "
                f"{problem}; they are refused rather than shown in the wrong place",
                self.source,
            )
        return outlines.labels

    def colours(
        self, colour: tuple[int, int, int] | None = None
    ) -> dict[int, tuple[int, int, int]]:
        """Lesion number -> 8-bit RGB for drawing the outlines.

        Parameters
        ----------
        colour : tuple of 3 int, optional
            One colour for every lesion (to tell this reading's outlines from another's);
            default: each lesion's own colour.
        """
        return {n.number: n.colour if colour is None else colour for n in self.lesions}

    def hand_measurement(self, key: str, lesion: int) -> HandMeasurement | None:
        """The reader's hand-laid diameters of a lesion on a series, or None."""
        for measurement in self.hand_measurements:
            if measurement.series_key == key and measurement.lesion == lesion:
                return measurement
        return None

    def grid_problems(self, volumes: Mapping[str, Volume]) -> dict[str, str]:
        """Series whose outlines do not fit the case's images, with the reason.

        Parameters
        ----------
        volumes : mapping of str to Volume
            The case's series by key (a geometry-only Volume is enough).

        Returns
        -------
        dict of str to str
            Series key -> why its outlines cannot be used; empty when all fit.
        """
        problems = {}
        for key, outlines in self.series.items():
            volume = volumes.get(key)
            if volume is None:
                problems[key] = f"the case has no series {key} (visit {outlines.visit})"
                continue
            problem = outlines.grid_problem(volume)
            if problem is not None:
                problems[key] = f"series {key} (visit {outlines.visit}): {problem}"
        return problems


def build_reading(
    reader: Reader,
    *,
    lesions: Iterable[Lesion],
    targets: Iterable[int],
    label_maps: Mapping[str, np.ndarray],
    grids: Mapping[str, SeriesRecord],
    visits: Iterable[tuple[str, dt.date, str | None]],
    categories: Mapping[str, str | None] | None = None,
    new_lesions: Mapping[str, Iterable[int]] | None = None,
    teaching_points: Mapping[str, Sequence[str]] | None = None,
    hand_measurements: Iterable[HandMeasurement] = (),
    criteria_key: str = "rano",
    baseline_visit: str | None = None,
    events: Iterable[TreatmentEvent] = (),
    case_label: str = "",
    created: dt.datetime | None = None,
    slice_thickness_mm: Mapping[str, float | None] | None = None,
) -> Reading:
    """A reading from the parts a session holds (the live outlines, grids and choices).

    Parameters
    ----------
    reader : Reader
    lesions : iterable of Lesion
        The case's lesions (``Annotations.lesions``).
    targets : iterable of int
        The target lesions (chosen by hand, or those the assessment chose).
    label_maps : mapping of str to ndarray
        Series key -> label map (``Annotations.label_maps()``); empty maps are left out.
    grids : mapping of str to SeriesRecord
        The grid of every series in ``label_maps`` (``CaseSession.records``).
    visits : iterable of (label, date, series_key)
        Every visit in date order with the series its lesions are read on
        (``Tracking.columns()``).
    categories, new_lesions, teaching_points : mapping by visit label, optional
        What the reader states at each visit.
    hand_measurements : iterable of HandMeasurement
        The reader's caliper overrides.
    criteria_key, baseline_visit, events, case_label
        As in :class:`Reading`.
    created : datetime.datetime, optional
        Defaults to now (UTC).
    slice_thickness_mm : mapping of str to float, optional
        Nominal slice thickness by series key (``volume.metadata.slice_thickness_mm``).

    Returns
    -------
    Reading

    Raises
    ------
    ValueError
        A label map without a grid or of another shape than its grid, or parts that do not fit.
    """
    chosen = set(targets)
    categories = categories or {}
    new_lesions = new_lesions or {}
    teaching_points = teaching_points or {}
    thickness = slice_thickness_mm or {}
    outlines = []
    for key, labels in sorted(label_maps.items()):
        if not np.any(labels):
            continue
        record = grids.get(key)
        if record is None:
            raise ValueError(f"label map of series {key} has no grid")
        if tuple(np.shape(labels)) != record.shape:
            raise ValueError(f"label map of {key} is {np.shape(labels)}, its grid {record.shape}")
        outlines.append(
            SeriesOutlines(key, record.visit, record.voxel2patient, labels, thickness.get(key))
        )
    statements = [
        VisitStatement(
            label,
            date,
            series_key,
            categories.get(label),
            tuple(new_lesions.get(label, ())),
            tuple(teaching_points.get(label, ())),
        )
        for label, date, series_key in visits
    ]
    return Reading(
        reader,
        created or dt.datetime.now(dt.UTC).replace(microsecond=0),
        [ReadingLesion.of(lesion, target=lesion.number in chosen) for lesion in lesions],
        outlines,
        statements,
        criteria_key=criteria_key,
        baseline_visit=baseline_visit,
        events=events,
        hand_measurements=hand_measurements,
        case_label=case_label,
    )


def _by_key(series: Iterable[SeriesOutlines]) -> Mapping[str, SeriesOutlines]:
    result: dict[str, SeriesOutlines] = {}
    for outlines in series:
        if not isinstance(outlines, SeriesOutlines):
            raise TypeError(f"series must be SeriesOutlines, got {outlines!r}")
        if outlines.key in result:
            raise ValueError(f"series {outlines.key} listed twice")
        result[outlines.key] = outlines
    return types.MappingProxyType(dict(sorted(result.items())))
