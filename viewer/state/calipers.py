"""Bidimensional calipers: each lesion's long axis and its perpendicular, measured or set by hand.

A caliper is what a reader lays on a slice (OHIF's bidirectional tool): a long axis and a line
at right angles to it, both in one plane, in the series' own patient coordinates (LPS mm). The
automatic one is the measurement of :mod:`viewer.analysis.measure`; dragging one of its four end
handles makes a manual override for that lesion on that series, kept until reset.

Editing rules (:func:`drag_end`)
--------------------------------
The caliper's plane is the plane of its two lines; a dragged point is first projected onto it.

* Dragging a long-axis end moves that end; the other stays. The perpendicular follows: it
  crosses the new axis at the same fraction of its length and keeps its two half-lengths (the
  distances from the crossing to each of its ends), at right angles again.
* Dragging a perpendicular end slides it along the perpendicular's own direction: only that
  half-length changes. It cannot pass the other end.
* A drag that would shorten the long axis below :data:`MIN_LENGTH_MM` is ignored.

No Qt here: the comparison views draw calipers and turn mouse drags into these calls.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from psygnal import Signal

from viewer.analysis.measure import Diameters, LesionMeasurement, with_hand_diameters
from viewer.core.geometry import apply_affine
from viewer.core.lesions import MAX_LESION_NUMBER
from viewer.core.provenance import Reader, Stamp

HANDLES = ("long0", "long1", "perp0", "perp1")
"""The four end handles, in the order :func:`on_screen` returns them."""

MIN_LENGTH_MM = 0.1
"""Shortest long axis, and shortest perpendicular, a caliper may have: below it the plane and
the axis directions are no longer defined."""

PointPair = tuple[np.ndarray, np.ndarray]


def _point(value: Any, what: str) -> np.ndarray:
    point = np.array(value, dtype=np.float64)
    if point.shape != (3,) or not np.all(np.isfinite(point)):
        raise ValueError(f"{what} must be three finite coordinates (mm), got {value!r}")
    point.setflags(write=False)
    return point


@dataclass(frozen=True, eq=False)
class Caliper:
    """A long axis and a perpendicular on one plane, in a series' patient coordinates.

    Attributes
    ----------
    series_key : str
    lesion : int
        The lesion measured (0 only for a caliper being drawn, not yet assigned).
    long_ends_mm : tuple of 2 ndarray of shape (3,)
        End points of the long axis, patient LPS mm (read-only arrays).
    perp_ends_mm : tuple of 2 ndarray of shape (3,)
        End points of the perpendicular, patient LPS mm.
    manual : bool
        True for a reader's override, False for the automatic measurement.

    Raises
    ------
    ValueError
        A point is not three finite numbers, the long axis is shorter than
        :data:`MIN_LENGTH_MM`, or the perpendicular reaches less than that across it (the
        caliper's plane would be undefined).
    """

    series_key: str
    lesion: int
    long_ends_mm: PointPair
    perp_ends_mm: PointPair
    manual: bool = False

    def __post_init__(self) -> None:
        long_ends = tuple(_point(p, "a long-axis end") for p in self.long_ends_mm)
        perp_ends = tuple(_point(p, "a perpendicular end") for p in self.perp_ends_mm)
        if len(long_ends) != 2 or len(perp_ends) != 2:
            raise ValueError("a caliper has two long-axis ends and two perpendicular ends")
        object.__setattr__(self, "long_ends_mm", long_ends)
        object.__setattr__(self, "perp_ends_mm", perp_ends)
        # the perpendicular's component across the axis, not its full length, defines the plane
        along = long_ends[1] - long_ends[0]
        span = perp_ends[1] - perp_ends[0]
        across = np.linalg.norm(np.cross(along, span)) / max(np.linalg.norm(along), 1e-300)
        # slack: a perpendicular clamped to exactly the minimum may come out a rounding error short
        shortest_mm = MIN_LENGTH_MM * (1.0 - 1e-9)
        if np.linalg.norm(along) < shortest_mm or across < shortest_mm:
            raise ValueError(
                f"series {self.series_key} lesion {self.lesion}: a caliper's lines must be at "
                f"least {MIN_LENGTH_MM} mm long and not parallel"
            )

    @property
    def longest_mm(self) -> float:
        """Length of the long axis, mm."""
        return float(np.linalg.norm(self.long_ends_mm[1] - self.long_ends_mm[0]))

    @property
    def perpendicular_mm(self) -> float:
        """Length of the perpendicular, mm."""
        return float(np.linalg.norm(self.perp_ends_mm[1] - self.perp_ends_mm[0]))

    @property
    def product_mm2(self) -> float:
        """``longest_mm * perpendicular_mm``, mm^2."""
        return self.longest_mm * self.perpendicular_mm

    @property
    def crossing_mm(self) -> np.ndarray:
        """Where the perpendicular's line crosses the long axis' line, patient mm, shape (3,)."""
        return _Frame.of(self).crossing

    @property
    def normal(self) -> np.ndarray:
        """Unit normal of the caliper's plane (long axis x perpendicular), shape (3,)."""
        return _Frame.of(self).normal

    def ends(self) -> np.ndarray:
        """The four end points in :data:`HANDLES` order, patient mm, shape (4, 3)."""
        return np.stack([*self.long_ends_mm, *self.perp_ends_mm])


@dataclass(frozen=True)
class _Frame:
    """A caliper in its own terms: the long axis, the plane, and where the perpendicular sits.

    ``along`` and ``across`` are unit vectors in the plane, ``across = normal x along``;
    ``fraction`` is the crossing's position along the long axis (0 at the first end, 1 at the
    second); ``low_mm``/``high_mm`` are the signed distances from the crossing to the
    perpendicular's first and second ends along ``across`` (``low_mm < high_mm``).
    """

    start: np.ndarray
    end: np.ndarray
    along: np.ndarray
    across: np.ndarray
    normal: np.ndarray
    crossing: np.ndarray
    fraction: float
    low_mm: float
    high_mm: float

    @classmethod
    def of(cls, caliper: Caliper) -> _Frame:
        start, end = caliper.long_ends_mm
        first, second = caliper.perp_ends_mm
        length = np.linalg.norm(end - start)
        along = (end - start) / length
        span = second - first
        across = span - (span @ along) * along
        across /= np.linalg.norm(across)
        normal = np.cross(along, across)
        # the mean of both ends' feet, so a perpendicular a rounding error off square still has
        # one crossing
        foot = 0.5 * ((first - start) @ along + (second - start) @ along)
        crossing = start + foot * along
        return cls(
            start,
            end,
            along,
            across,
            normal,
            crossing,
            float(foot / length),
            float((first - crossing) @ across),
            float((second - crossing) @ across),
        )

    def project(self, point_mm: np.ndarray) -> np.ndarray:
        """The point moved along the normal onto the caliper's plane."""
        point = np.asarray(point_mm, dtype=np.float64)
        return point - ((point - self.start) @ self.normal) * self.normal

    def caliper(
        self, old: Caliper, start: np.ndarray, end: np.ndarray, low_mm: float, high_mm: float
    ) -> Caliper:
        """A manual caliper with this plane, a long axis and the perpendicular laid on it."""
        along = (end - start) / np.linalg.norm(end - start)
        across = np.cross(self.normal, along)
        crossing = start + self.fraction * (end - start)
        return replace(
            old,
            long_ends_mm=(start, end),
            perp_ends_mm=(crossing + low_mm * across, crossing + high_mm * across),
            manual=True,
        )


def drag_end(caliper: Caliper, which: str, new_point_mm: np.ndarray) -> Caliper:
    """Move one end handle of a caliper, by the editing rules of the module docstring.

    Parameters
    ----------
    caliper : Caliper
    which : {'long0', 'long1', 'perp0', 'perp1'}
        The handle dragged.
    new_point_mm : ndarray of shape (3,)
        Where it was dragged to, patient LPS mm; projected onto the caliper's plane first.

    Returns
    -------
    Caliper
        A manual caliper (``manual=True``) with its perpendicular exactly at right angles; the
        caliper itself when the drag would make the long axis shorter than
        :data:`MIN_LENGTH_MM`.

    Examples
    --------
    A 40 x 15 mm caliper on the axial plane; its second long end dragged up 10 mm and above
    the plane: the axis turns, the perpendicular turns with it, and keeps its 6 and 9 mm halves.

    >>> c = Caliper("s", 1, ((0, 0, 0), (40, 0, 0)), ((10, -6, 0), (10, 9, 0)))
    >>> moved = drag_end(c, "long1", np.array([40.0, 10.0, 7.0]))
    >>> np.round(moved.long_ends_mm[1], 6).tolist(), round(moved.perpendicular_mm, 9)
    ([40.0, 10.0, 0.0], 15.0)
    """
    if which not in HANDLES:
        raise ValueError(f"unknown caliper handle {which!r}; expected one of {HANDLES}")
    frame = _Frame.of(caliper)
    point = frame.project(new_point_mm)
    if which.startswith("long"):
        start, end = (point, frame.end) if which == "long0" else (frame.start, point)
        if np.linalg.norm(end - start) < MIN_LENGTH_MM:
            return caliper
        return frame.caliper(caliper, start, end, frame.low_mm, frame.high_mm)
    reach_mm = float((point - frame.crossing) @ frame.across)
    low_mm, high_mm = frame.low_mm, frame.high_mm
    if which == "perp0":
        low_mm = min(reach_mm, high_mm - MIN_LENGTH_MM)
    else:
        high_mm = max(reach_mm, low_mm + MIN_LENGTH_MM)
    return frame.caliper(caliper, frame.start, frame.end, low_mm, high_mm)


def new_caliper(
    series_key: str,
    lesion: int,
    start_mm: np.ndarray,
    end_mm: np.ndarray,
    normal: np.ndarray,
) -> Caliper:
    """A caliper drawn by hand: a long axis, and a perpendicular across its midpoint.

    The perpendicular reaches a third of the axis' length to each side (OHIF's default), so
    it is ready to be dragged to the lesion's edges.

    Parameters
    ----------
    series_key : str
    lesion : int
    start_mm, end_mm : ndarray of shape (3,)
        The long axis as drawn, patient LPS mm.
    normal : ndarray of shape (3,)
        Normal of the plane drawn on (the view's); only its part at right angles to the axis
        counts.

    Returns
    -------
    Caliper
        ``manual=True``.

    Raises
    ------
    ValueError
        The axis is shorter than :data:`MIN_LENGTH_MM`, or lies along ``normal``.

    Examples
    --------
    >>> c = new_caliper("s", 1, np.zeros(3), np.array([30.0, 0, 0]), np.array([0, 0, 1.0]))
    >>> np.round(c.perp_ends_mm, 6).tolist()
    [[15.0, -10.0, 0.0], [15.0, 10.0, 0.0]]
    """
    start = np.asarray(start_mm, dtype=np.float64)
    end = np.asarray(end_mm, dtype=np.float64)
    length = float(np.linalg.norm(end - start))
    if length < MIN_LENGTH_MM:
        raise ValueError(f"a caliper's long axis must be at least {MIN_LENGTH_MM} mm long")
    along = (end - start) / length
    plane_normal = np.asarray(normal, dtype=np.float64)
    plane_normal = plane_normal - (plane_normal @ along) * along
    if np.linalg.norm(plane_normal) < 1e-9:
        raise ValueError("a caliper's long axis cannot lie along the normal of its plane")
    across = np.cross(plane_normal / np.linalg.norm(plane_normal), along)
    middle, half_mm = 0.5 * (start + end), length / 3.0
    perp = (middle - half_mm * across, middle + half_mm * across)
    return Caliper(series_key, lesion, (start, end), perp, manual=True)


def on_screen(caliper: Caliper, slice2patient: np.ndarray) -> tuple[np.ndarray, float]:
    """Where a caliper's ends fall on a view, and how far its plane lies from the view's.

    Parameters
    ----------
    caliper : Caliper
    slice2patient : ndarray of shape (4, 4)
        The view: ``(screen row, screen column, offset mm along the view normal, 1)`` ->
        the caliper's series' patient LPS mm (through the series' registration).

    Returns
    -------
    screen_px : ndarray of shape (4, 2)
        (row, column) of each end in the view's screen pixels, in :data:`HANDLES` order.
    offset_mm : float
        Signed distance of the caliper's crossing point from the view plane, mm along the view
        normal.

    Examples
    --------
    A view of 0.5 mm pixels, its plane at z = 10 mm:

    >>> view = np.array([[0, 0.5, 0, 0], [0.5, 0, 0, 0], [0, 0, 1, 10.0], [0, 0, 0, 1]])
    >>> c = Caliper("s", 1, ((0, 0, 12), (20, 0, 12)), ((10, -5, 12), (10, 5, 12)))
    >>> screen, offset = on_screen(c, view)
    >>> screen.tolist(), offset
    ([[0.0, 0.0], [0.0, 40.0], [-10.0, 20.0], [10.0, 20.0]], 2.0)
    """
    patient2slice = np.linalg.inv(np.asarray(slice2patient, dtype=np.float64))
    screen = apply_affine(patient2slice, caliper.ends())[:, :2]
    offset_mm = float(apply_affine(patient2slice, caliper.crossing_mm)[2])
    return screen, offset_mm


def half_slice_mm(voxel2patient: np.ndarray) -> float:
    """Half the distance between a series' slices, measured along its slice normal, mm.

    A caliper is shown on views whose plane passes within this distance of it. The true-axial
    reslice a non-axial series is measured on keeps the same slice spacing
    (:func:`viewer.analysis.measure.true_axial_grid`).

    Examples
    --------
    >>> half_slice_mm(np.diag([5.0, 0.5, 0.5, 1.0]))
    2.5
    """
    affine = np.asarray(voxel2patient, dtype=np.float64)
    normal = np.cross(affine[:3, 2], affine[:3, 1])
    return 0.5 * abs(float(affine[:3, 0] @ normal)) / float(np.linalg.norm(normal))


def override_measurement(
    measurement: LesionMeasurement,
    caliper: Caliper,
    voxel2patient: np.ndarray,
    shape: tuple[int, int, int],
) -> LesionMeasurement:
    """A lesion's measurement with its diameters taken from a (manual) caliper.

    Volume, slices spanned, intensities and centroids stay as measured; the diameters, their
    product, their end points and the slice they lie on come from the caliper. The slice is
    counted on the grid the series is measured on (its own, or its true-axial reslice), as
    :class:`~viewer.analysis.measure.Diameters` counts it.

    Parameters
    ----------
    measurement : LesionMeasurement
    caliper : Caliper
        On the same series.
    voxel2patient : ndarray of shape (4, 4)
        The series' affine.
    shape : tuple of 3 int
        The series' shape (Z, Y, X).

    Returns
    -------
    LesionMeasurement
    """
    return with_hand_diameters(
        measurement, caliper.long_ends_mm, caliper.perp_ends_mm, caliper.crossing_mm,
        voxel2patient, shape,
    )  # fmt: skip


class CaliperStore:
    """The reader's caliper overrides of the open case, by series and lesion, with who and when.

    Saved in the case's ``assessment["calipers"]`` (:meth:`to_json`, :meth:`restore`).

    Parameters
    ----------
    reader : Reader, optional
        Who measures, and the clock overrides are stamped with (by default the login name and
        the system clock); :class:`~viewer.state.case_session.CaseSession` shares the outlines'.

    Signals
    -------
    changed(str)
        A series' overrides changed (``""``: all of them, after :meth:`restore`).
    """

    changed = Signal(str)

    def __init__(self, reader: Reader | None = None) -> None:
        self.reader = reader if reader is not None else Reader()
        self._manual: dict[tuple[str, int], Caliper] = {}
        self._stamps: dict[tuple[str, int], Stamp] = {}

    @staticmethod
    def automatic(key: str, lesion: int, diameters: Diameters) -> Caliper:
        """The automatic caliper of a lesion: its measured diameters' end points."""
        return Caliper(key, lesion, diameters.longest_ends_mm, diameters.perpendicular_ends_mm)

    def current(self, key: str, lesion: int, diameters: Diameters | None) -> Caliper | None:
        """The caliper to show and use: the override if any, else the automatic one.

        None when there is neither, or when the automatic diameters are too short to lay a
        caliper on (under :data:`MIN_LENGTH_MM`).
        """
        manual = self._manual.get((key, lesion))
        if manual is not None or diameters is None:
            return manual
        try:
            return self.automatic(key, lesion, diameters)
        except ValueError:
            return None

    def override(self, caliper: Caliper) -> None:
        """Keep a caliper as the reader's measurement of its lesion on its series, stamped."""
        if not 1 <= caliper.lesion <= MAX_LESION_NUMBER:
            raise ValueError(f"lesion number {caliper.lesion} outside 1..{MAX_LESION_NUMBER}")
        where = (caliper.series_key, caliper.lesion)
        self._manual[where] = replace(caliper, manual=True)
        self._stamps[where] = self.reader.stamp()
        self.changed.emit(caliper.series_key)

    def reset(self, key: str, lesion: int) -> None:
        """Back to the automatic measurement ("Reset to automatic")."""
        self._stamps.pop((key, lesion), None)
        if self._manual.pop((key, lesion), None) is not None:
            self.changed.emit(key)

    def stamp(self, key: str, lesion: int) -> Stamp | None:
        """Who hand-measured a lesion on a series, and when (None: automatic, or not recorded)."""
        return self._stamps.get((key, lesion))

    def manual(self, key: str, lesion: int) -> Caliper | None:
        """The reader's override of a lesion on a series, or None."""
        return self._manual.get((key, lesion))

    def forget_lesions(self, keep: Collection[int]) -> None:
        """Drop the overrides of lesions not in ``keep`` (deleted lesions take theirs along)."""
        gone = [k for k in self._manual if k[1] not in keep]
        for key, lesion in gone:
            self.reset(key, lesion)

    def manuals(self, key: str) -> dict[int, Caliper]:
        """Every override on a series, by lesion number."""
        return {n: c for (k, n), c in self._manual.items() if k == key}

    def to_json(self) -> dict[str, Any]:
        """The overrides as JSON values: ``{"manual": [{series, lesion, long_ends_mm, ...}]}``.

        Each entry also has ``measured_by`` and ``measured_at`` (ISO 8601 UTC) when known.
        """
        entries = []
        for where, c in self._manual.items():
            entry: dict[str, Any] = {
                "series": c.series_key,
                "lesion": c.lesion,
                "long_ends_mm": [p.tolist() for p in c.long_ends_mm],
                "perp_ends_mm": [p.tolist() for p in c.perp_ends_mm],
            }
            stamp = self._stamps.get(where)
            if stamp is not None:
                entry["measured_by"], entry["measured_at"] = stamp.reader, stamp.iso
            entries.append(entry)
        return {"manual": entries}

    def restore(self, data: dict[str, Any]) -> None:
        """Replace every override with those saved (``{}``: none).

        Entries without ``measured_by`` and ``measured_at`` (saved before they were recorded)
        restore with no stamp.

        Raises
        ------
        ValueError
            An entry is malformed; the message names it, and nothing is changed.
        """
        if not isinstance(data, dict) or not isinstance(data.get("manual", []), list):
            raise ValueError("calipers must be an object with a list of manual calipers")
        restored: dict[tuple[str, int], Caliper] = {}
        stamps: dict[tuple[str, int], Stamp] = {}
        for i, item in enumerate(data.get("manual", [])):
            try:
                key, lesion = item["series"], item["lesion"]
                if not isinstance(key, str) or isinstance(lesion, bool):
                    raise TypeError("series must be text and lesion a number")
                if not isinstance(lesion, int) or not 1 <= lesion <= MAX_LESION_NUMBER:
                    raise ValueError(f"lesion {lesion!r} outside 1..{MAX_LESION_NUMBER}")
                if (key, lesion) in restored:
                    raise ValueError("listed twice")
                restored[(key, lesion)] = Caliper(
                    key,
                    lesion,
                    _pair(item["long_ends_mm"]),
                    _pair(item["perp_ends_mm"]),
                    manual=True,
                )
                if "measured_by" in item or "measured_at" in item:
                    stamps[(key, lesion)] = Stamp.parse(item["measured_by"], item["measured_at"])
            except (KeyError, TypeError, ValueError) as exc:
                raise ValueError(f"manual caliper {i + 1}: {exc}") from exc
        self._manual, self._stamps = restored, stamps
        self.changed.emit("")


def _pair(value: Any) -> tuple[Any, Any]:
    if not isinstance(value, list) or len(value) != 2:
        raise ValueError(f"expected two points, got {value!r}")
    return value[0], value[1]
