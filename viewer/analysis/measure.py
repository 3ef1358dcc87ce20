"""Lesion measurements in millimetres: volume, bidimensional diameters, intensity, centroid.

What is measured, exactly
-------------------------
Volume
    The lesion's voxel count in its series' native label map times the voxel volume (the
    determinant of the voxel->patient affine), in mL. Nothing is resampled.
Diameters (:func:`bidimensional`)
    On one axial slice the lesion (holes filled) is outlined at sub-pixel precision: its mask is
    anti-aliased with a Gaussian of :data:`ANTIALIAS_SIGMA_PX` pixel and the outline is the 0.5
    level. A straight edge along a grid axis then lies half-way between the last lesion pixel
    centre and the first outside one. A slanted edge follows the mean line of its staircase, not
    its outer corners. A pixel the smoothing would drop (a line one pixel wide, a lone pixel)
    keeps its own half-way outline: the diamond through its four edge midpoints.
    The *longest diameter* is the largest distance between two points of the outline (the
    longest calliper line; it may cross a cavity). The *perpendicular diameter* is the longest
    extent of the lesion along a line at right angles to it, from the first to the last
    crossing of the outline. That is how a reader lays the second calliper: a ring-enhancing
    lesion, or one wrapped round a cavity, is measured across its outer edge, core included.
    Accuracy: on analytic ellipses 4 to 45 pixels across, at random sub-pixel positions and
    angles, both diameters come out on average within 0.3 pixel of the truth (standard
    deviation 0.2 pixel), and at worst within one pixel. A binary mask cannot place either end
    of a diameter better than to about half a pixel. Distances between extreme pixel centres
    read 0.3-1 pixel shorter; the demo case's label-map truth (``sample_scans/demo_truth.py``)
    uses that convention.
Measurement plane
    The patient's true axial plane (LPS z). A series whose slice normal lies within
    :data:`AXIAL_TOLERANCE_DEG` of z is measured on its acquired slices. Any other series is
    measured on a true-axial reslice (:func:`true_axial_grid`). The lesion mask is interpolated
    linearly onto it, and the outline above is traced on the interpolated values, whose 0.5
    level lies half-way between the native lesion voxels and the voxels outside them. The
    staircase of a nearest-neighbour reslice would add up to another half voxel at each end.
    On either grid the slice with the longest diameter is reported (the criteria's wording:
    the longest diameter, then the longest perpendicular to it on the same slice).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import NamedTuple

import numpy as np
from scipy import ndimage
from scipy.spatial import ConvexHull, QhullError
from skimage.measure import find_contours

from viewer.analysis.criteria import Criteria, SumKind
from viewer.core.geometry import apply_affine, bounding_box, voxel_spacing
from viewer.core.lesions import MAX_LESION_NUMBER
from viewer.core.transform import Transform
from viewer.core.volume import Volume

AXIAL_TOLERANCE_DEG = 5.0
"""A series counts as axial when its slice normal is within this angle of the patient's z axis."""

ANTIALIAS_SIGMA_PX = 0.7
"""Standard deviation, in pixels along rows and columns, of the Gaussian that anti-aliases a
lesion's mask before its outline is traced. Of 0.6, 0.7 and 0.8, 0.7 gave the least bias on
analytic ellipses of 3 to 30 pixels."""

_PAD_PX = 3
"""The Gaussian, truncated at 4 sigma, reaches less than this many pixels beyond the mask."""

_DIAMOND = np.array([(0.5, 0.0), (0.0, 0.5), (-0.5, 0.0), (0.0, -0.5), (0.5, 0.0)])

_THRESHOLD_SLACK = 1e-6
"""Dimensionless relative slack when comparing with a criteria threshold. It absorbs
floating-point noise (a hundred 0.1 mm steps must reach 10 mm) and nothing a reader could
see."""

Box = tuple[slice, slice, slice]
Ends2D = tuple[tuple[float, float], tuple[float, float]]
Ends3D = tuple[tuple[float, float, float], tuple[float, float, float]]


@dataclass(frozen=True)
class Diameters:
    """A lesion's bidimensional measurement on its best axial slice.

    Attributes
    ----------
    longest_mm : float
        Longest diameter on the slice, mm.
    perpendicular_mm : float
        Longest diameter at right angles to it on the same slice, mm.
    product_mm2 : float
        ``longest_mm * perpendicular_mm``, mm^2.
    slice_index : int
        The slice with the longest diameter, indexed on the grid measured. That is axis 0
        of the series itself when its slices are axial. Otherwise it indexes the series'
        true-axial reslice (:func:`true_axial_grid`).
    longest_ends_mm, perpendicular_ends_mm : tuple of two (x, y, z) tuples
        End points of each diameter in patient coordinates (LPS, mm).
    resliced : bool
        True when measured on the true-axial reslice because the slices are not axial.
    """

    longest_mm: float
    perpendicular_mm: float
    product_mm2: float
    slice_index: int
    longest_ends_mm: Ends3D
    perpendicular_ends_mm: Ends3D
    resliced: bool


@dataclass(frozen=True)
class LesionMeasurement:
    """Everything measured of one lesion on one series.

    Attributes
    ----------
    lesion : int
        Lesion number (the label value; the same lesion on every visit).
    series_key : str
    volume_ml : float
        Voxel count times voxel volume on the native grid, mL.
    voxel_count : int
    diameters : Diameters or None
        None when no axial cross-section is left to measure: a lesion of a few voxels on an
        oblique series can vanish in the true-axial reslice.
    slices_spanned : int
        Number of acquired slices holding any of the lesion.
    mean_intensity, max_intensity : float
        Over the lesion's voxels, in ``intensity_units``. Slices that could not be read
        (``metadata.incomplete_slices``) are left out; NaN if nothing is left.
    intensity_units : str
        ``volume.metadata.units``: ``"HU"`` for CT, ``""`` for MR's arbitrary units.
    centroid_patient_mm : tuple of 3 float
        Mean of the lesion's voxel centres, patient LPS mm.
    centroid_reference_mm : tuple of 3 float
        The same point in the reference series' patient coordinates, mm.
    slice_thickness_mm : float
        The series' nominal slice thickness, or the distance between slices when the
        header gives none, mm.
    """

    lesion: int
    series_key: str
    volume_ml: float
    voxel_count: int
    diameters: Diameters | None
    slices_spanned: int
    mean_intensity: float
    max_intensity: float
    intensity_units: str
    centroid_patient_mm: tuple[float, float, float]
    centroid_reference_mm: tuple[float, float, float]
    slice_thickness_mm: float


class Bidimensional(NamedTuple):
    """Result of :func:`bidimensional`: diameters in mm, end points in pixel coordinates.

    End points are ``((row, column), (row, column))``, fractional: outline points lie half-way
    between pixel centres.
    """

    longest_mm: float
    perpendicular_mm: float
    longest_ends_px: Ends2D
    perpendicular_ends_px: Ends2D


def bidimensional(mask2d: np.ndarray, row_mm: float, column_mm: float) -> Bidimensional:
    """Longest diameter of a 2-D lesion mask and the longest diameter perpendicular to it.

    See the module docstring for exactly what is measured: the longest distance between two
    points of the lesion's sub-pixel outline, then the longest extent of the lesion (first to
    last crossing of its outline) along a line at right angles to it.

    Parameters
    ----------
    mask2d : ndarray of bool, shape (rows, columns)
        The lesion on one slice (any non-zero value counts).
    row_mm, column_mm : float
        Distance between rows and between columns (PixelSpacing order), mm; may differ.

    Returns
    -------
    Bidimensional
        ``(longest_mm, perpendicular_mm, longest_ends_px, perpendicular_ends_px)``.

    Raises
    ------
    ValueError
        The mask is not 2-D or is empty, or a spacing is not positive.

    Examples
    --------
    A line of 10 pixels along a row, pixels 0.5 mm high and 0.8 mm wide, is 8 mm x 0.5 mm:

    >>> line = np.zeros((5, 14), bool); line[2, 2:12] = True
    >>> result = bidimensional(line, 0.5, 0.8)
    >>> round(result.longest_mm, 6), round(result.perpendicular_mm, 6)
    (8.0, 0.5)
    >>> np.round(result.longest_ends_px, 6).tolist()
    [[2.0, 1.5], [2.0, 11.5]]
    """
    mask = np.asarray(mask2d).astype(bool, copy=False)
    if mask.ndim != 2:
        raise ValueError(f"bidimensional needs a 2-D mask, got shape {mask.shape}")
    if not (row_mm > 0 and column_mm > 0):
        raise ValueError(f"pixel spacing must be positive, got {row_mm} x {column_mm} mm")
    if not mask.any():
        raise ValueError("cannot measure an empty mask")
    return _Outline(mask.astype(np.float32), row_mm, column_mm).measure()


def measure_lesion(
    labels: np.ndarray,
    number: int,
    volume: Volume,
    *,
    series_key: str = "",
    patient2reference: np.ndarray | Transform | None = None,
) -> LesionMeasurement | None:
    """Measure one lesion of a series' label map.

    Parameters
    ----------
    labels : ndarray of int, shape (Z, Y, X)
        The series' label map on its native grid (voxel value = lesion number).
    number : int
        The lesion number, 1 .. 65535.
    volume : Volume
        The series the label map belongs to (same shape): geometry, intensities, metadata.
    series_key : str, optional
        Copied into the result.
    patient2reference : ndarray of shape (4, 4) or Transform, optional
        Maps this series' patient coordinates (LPS mm) to the reference series'. None means
        this series is the reference, so both centroids are the same point.

    Returns
    -------
    LesionMeasurement or None
        None when the lesion has no voxel on this series.

    Raises
    ------
    ValueError
        The label map does not match the series' grid, or the number is out of range.
    """
    _check_grid(labels, volume)
    if not isinstance(number, int | np.integer) or isinstance(number, bool):
        raise ValueError(f"lesion number must be an integer, got {number!r}")
    if not 1 <= number <= MAX_LESION_NUMBER:
        raise ValueError(f"lesion number {number!r} outside 1..{MAX_LESION_NUMBER}")
    box = bounding_box(labels == number)
    if box is None:
        return None
    return _measure_in_box(
        labels[box] == number,
        box,
        int(number),
        volume,
        series_key,
        _matrix(patient2reference),
        _AxialGrid(volume),
    )


def measure_all(
    labels: np.ndarray,
    volume: Volume,
    *,
    series_key: str = "",
    patient2reference: np.ndarray | Transform | None = None,
) -> dict[int, LesionMeasurement]:
    """Measure every lesion present in a series' label map, in one pass over the map.

    Parameters
    ----------
    labels : ndarray of int, shape (Z, Y, X)
        The series' label map on its native grid (voxel value = lesion number, 0 background).
    volume : Volume
        The series (same shape).
    series_key : str, optional
    patient2reference : ndarray of shape (4, 4) or Transform, optional
        As in :func:`measure_lesion`.

    Returns
    -------
    dict of int to LesionMeasurement
        By lesion number, in increasing order; lesions absent from the map are absent here.

    Raises
    ------
    ValueError
        The label map does not match the series' grid or holds negative or non-integer values.
    """
    _check_grid(labels, volume)
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"a label map holds integers, got dtype {labels.dtype}")
    if labels.size and np.issubdtype(labels.dtype, np.signedinteger) and labels.min() < 0:
        raise ValueError("a label map cannot hold negative lesion numbers")
    matrix = _matrix(patient2reference)
    grid = _AxialGrid(volume)
    result = {}
    for index, box in enumerate(ndimage.find_objects(labels)):
        if box is None:
            continue
        number = index + 1
        result[number] = _measure_in_box(
            labels[box] == number, box, number, volume, series_key, matrix, grid
        )
    return result


def is_measurable(m: LesionMeasurement, criteria: Criteria) -> tuple[bool, str]:
    """Whether a lesion is measurable disease by the criteria, and why, in words with numbers.

    Uses the series' real slice thickness (thick slices raise the minimum diameters: RANO,
    RANO-BM, RECIST) and the number of acquired slices the lesion is seen on; volumetric
    criteria also need ``criteria.min_volume_ml``.

    Parameters
    ----------
    m : LesionMeasurement
    criteria : Criteria

    Returns
    -------
    measurable : bool
    reason : str
        E.g. ``"not measurable by RANO 2010: longest 8.2 mm < 10 mm; seen on 1 slice, needs 2"``.

    Examples
    --------
    >>> from viewer.analysis.criteria import CRITERIA
    >>> d = Diameters(12.0, 9.0, 108.0, 4, ((0, 0, 0), (12, 0, 0)), ((6, -4.5, 0), (6, 4.5, 0)),
    ...               False)
    >>> m = LesionMeasurement(1, "", 0.6, 300, d, 3, 0.0, 0.0, "", (0, 0, 0), (0, 0, 0), 3.0)
    >>> is_measurable(m, CRITERIA["rano"])
    (False, 'not measurable by RANO 2010: perpendicular 9.0 mm < 10 mm')
    """
    long_min_mm, short_min_mm = criteria.minimum_diameters_mm(m.slice_thickness_mm)
    thick = criteria.thick_slice_mm is not None and m.slice_thickness_mm > criteria.thick_slice_mm
    problems: list[str] = []
    passed: list[str] = []
    d = m.diameters
    if d is None:
        problems.append("no cross-section left to measure on a true-axial slice")
    else:
        checks = [("longest", d.longest_mm, long_min_mm)]
        if short_min_mm > 0:
            checks.append(("perpendicular", d.perpendicular_mm, short_min_mm))
        for name, value_mm, minimum_mm in checks:
            shown = f"{name} {_shown(value_mm, minimum_mm)} mm"
            if _reaches(value_mm, minimum_mm):
                passed.append(f"{shown} >= {_number(minimum_mm)} mm")
            elif thick:
                problems.append(
                    f"{shown} < {_number(minimum_mm)} mm (slices are"
                    f" {_number(m.slice_thickness_mm)} mm thick: needs {_number(minimum_mm)} mm)"
                )
            else:
                problems.append(f"{shown} < {_number(minimum_mm)} mm")
    slices = f"seen on {m.slices_spanned} slice{'' if m.slices_spanned == 1 else 's'}"
    if m.slices_spanned < criteria.min_slices:
        problems.append(f"{slices}, needs {criteria.min_slices}")
    else:
        passed.append(slices)
    if criteria.sum_kind is SumKind.VOLUMES:
        minimum_ml = criteria.min_volume_ml
        shown = f"volume {_shown(m.volume_ml, minimum_ml, digits=2)} mL"
        if _reaches(m.volume_ml, minimum_ml):
            passed.append(f"{shown} >= {_number(minimum_ml)} mL")
        else:
            problems.append(f"{shown} < {_number(minimum_ml)} mL")
    if problems:
        return False, f"not measurable by {criteria.name}: " + "; ".join(problems)
    return True, f"measurable by {criteria.name}: " + "; ".join(passed)


def is_axial(voxel2patient: np.ndarray) -> bool:
    """Whether a grid's slices lie within :data:`AXIAL_TOLERANCE_DEG` of the true axial plane.

    Parameters
    ----------
    voxel2patient : ndarray of shape (4, 4)

    Examples
    --------
    Slices 3 mm apart up z, rows along y, columns along x; then the same turned sagittal:

    >>> axial = np.array([[0, 0, 1.0, 0], [0, 1.0, 0, 0], [3.0, 0, 0, 0], [0, 0, 0, 1]])
    >>> is_axial(axial), is_axial(np.diag([3.0, 1.0, 1.0, 1.0]))
    (True, False)
    """
    cosine = abs(float(_slice_normal(voxel2patient)[2]))
    return cosine >= math.cos(math.radians(AXIAL_TOLERANCE_DEG))


def true_axial_grid(
    voxel2patient: np.ndarray, shape: tuple[int, int, int]
) -> tuple[np.ndarray, tuple[int, int, int]]:
    """The true-axial grid a non-axial series is measured on.

    Slices are stacked towards the patient's head (+z), rows run to posterior (+y) and columns
    to the patient's left (+x). The spacing between slices is the series' own, measured along
    its slice normal; rows and columns keep its row and column spacing. The grid starts at the
    lowest corner of the box round the series' voxel centres. Slice indices therefore count
    from the series' lowest point and mean the same for every lesion of the series.

    Parameters
    ----------
    voxel2patient : ndarray of shape (4, 4)
        The series' affine: (slice, row, column, 1) -> LPS mm.
    shape : tuple of 3 int
        The series' shape (Z, Y, X).

    Returns
    -------
    axial_voxel2patient : ndarray of shape (4, 4)
    axial_shape : tuple of 3 int

    Examples
    --------
    >>> coronal = np.array([[0, 0, 1.5, -10], [4.0, 0, 0, 0], [0, -1.5, 0, 30], [0, 0, 0, 1]])
    >>> affine, shape = true_axial_grid(coronal, (5, 11, 21))
    >>> affine[:3, :3].tolist()
    [[0.0, 0.0, 1.5], [0.0, 1.5, 0.0], [4.0, 0.0, 0.0]]
    >>> affine[:3, 3].tolist(), shape
    ([-10.0, 0.0, 15.0], (4, 11, 21))
    """
    affine = np.asarray(voxel2patient, dtype=np.float64)
    spacing = voxel_spacing(affine)
    slice_mm = abs(float(affine[:3, 0] @ _slice_normal(affine)))
    corners = np.array(
        [[k, r, c] for k in (0, shape[0] - 1) for r in (0, shape[1] - 1) for c in (0, shape[2] - 1)]
    )
    corners_mm = apply_affine(affine, corners)
    low_mm, high_mm = corners_mm.min(axis=0), corners_mm.max(axis=0)
    steps_mm = np.array([spacing[2], spacing[1], slice_mm])  # along x, y, z
    counts = np.floor((high_mm - low_mm) / steps_mm + 1e-6).astype(int) + 1
    axial = np.eye(4)
    axial[:3, 0] = (0.0, 0.0, slice_mm)
    axial[:3, 1] = (0.0, spacing[1], 0.0)
    axial[:3, 2] = (spacing[2], 0.0, 0.0)
    axial[:3, 3] = low_mm
    return axial, (int(counts[2]), int(counts[1]), int(counts[0]))


class _AxialGrid:
    """Where a series' lesions are measured: its own grid, or its true-axial reslice."""

    def __init__(self, volume: Volume) -> None:
        self.native = volume.voxel2patient
        self.resliced = not is_axial(self.native)
        if self.resliced:
            self.voxel2patient, self.shape = true_axial_grid(self.native, volume.shape)
        else:
            self.voxel2patient, self.shape = self.native, volume.shape
        self.row_mm, self.column_mm = voxel_spacing(self.voxel2patient)[1:]

    def occupancy(self, mask: np.ndarray, box: Box) -> tuple[np.ndarray, np.ndarray]:
        """The lesion on this grid, and the grid index of the result's first voxel.

        The result is float32, 0..1: the mask itself on the native grid; on a reslice, the mask
        interpolated linearly, whose 0.5 level lies half-way between lesion voxels and the
        voxels outside. Its outline is traced from these values directly. Thresholding first
        would add the reslice's own half-pixel quantisation to the native one's.
        """
        offset = np.array([s.start for s in box])
        if not self.resliced:
            return mask.astype(np.float32), offset
        # the interpolated lesion fades to 0 one native voxel beyond its outermost centres: the
        # new grid must reach past that, or the outline would be cut off at the grid's edge
        corners = np.array(
            [[k, r, c] for k in (0, 1) for r in (0, 1) for c in (0, 1)], dtype=np.float64
        )
        corners = offset - 1.0 + corners * (np.array(mask.shape) + 1.0)
        native2axial = np.linalg.inv(self.voxel2patient) @ self.native
        reached = apply_affine(native2axial, corners)
        last = np.array(self.shape) - 1
        low = np.clip(np.floor(reached.min(axis=0)) - 1, 0, last).astype(int)
        high = np.clip(np.ceil(reached.max(axis=0)) + 1, 0, last).astype(int)
        rows, columns = np.meshgrid(
            np.arange(low[1], high[1] + 1), np.arange(low[2], high[2] + 1), indexing="ij"
        )
        axial2native = np.linalg.inv(native2axial)
        # +1: the box is padded by one empty voxel so the interpolation falls to 0 at its edge
        padded = np.pad(mask.astype(np.float32), 1)
        sampled = np.empty((high[0] - low[0] + 1, *rows.shape), np.float32)
        for i, k in enumerate(range(low[0], high[0] + 1)):  # a slice at a time: bounded memory
            plane = np.stack([np.full(rows.shape, k), rows, columns], axis=-1)
            native = apply_affine(axial2native, plane) - offset + 1.0
            sampled[i] = ndimage.map_coordinates(
                padded, np.moveaxis(native, -1, 0), order=1, mode="constant", cval=0.0
            )
        return sampled, low


def _measure_in_box(
    mask: np.ndarray,
    box: Box,
    number: int,
    volume: Volume,
    series_key: str,
    patient2reference: np.ndarray,
    grid: _AxialGrid,
) -> LesionMeasurement:
    """Measure a lesion given as a boolean mask inside a box of the native grid."""
    offset = np.array([s.start for s in box])
    voxel_count = int(np.count_nonzero(mask))
    centroid_index = np.argwhere(mask).mean(axis=0) + offset
    centroid_mm = apply_affine(volume.voxel2patient, centroid_index)
    reference_mm = apply_affine(patient2reference, centroid_mm)

    slices_with = np.flatnonzero(mask.any(axis=(1, 2)))
    values = volume.array[box][_readable(mask, offset, volume)]
    mean_intensity = float(np.mean(values, dtype=np.float64)) if values.size else math.nan
    max_intensity = float(values.max()) if values.size else math.nan

    thickness_mm = volume.metadata.slice_thickness_mm
    if thickness_mm is None or not thickness_mm > 0:
        thickness_mm = abs(float(volume.voxel2patient[:3, 0] @ _slice_normal(volume.voxel2patient)))
    return LesionMeasurement(
        lesion=number,
        series_key=series_key,
        volume_ml=voxel_count * volume.voxel_volume_ml,
        voxel_count=voxel_count,
        diameters=_diameters(mask, box, grid),
        slices_spanned=int(slices_with.size),
        mean_intensity=mean_intensity,
        max_intensity=max_intensity,
        intensity_units=volume.metadata.units,
        centroid_patient_mm=_triple(centroid_mm),
        centroid_reference_mm=_triple(reference_mm),
        slice_thickness_mm=float(thickness_mm),
    )


def _readable(mask: np.ndarray, offset: np.ndarray, volume: Volume) -> np.ndarray:
    """The lesion's voxels minus those on slices that could not be read."""
    bad = np.asarray(volume.metadata.incomplete_slices, dtype=int) - offset[0]
    bad = bad[(bad >= 0) & (bad < mask.shape[0])]
    if bad.size == 0:
        return mask
    kept = mask.copy()
    kept[bad] = False
    return kept


def _diameters(mask: np.ndarray, box: Box, grid: _AxialGrid) -> Diameters | None:
    """The bidimensional measurement on the slice of ``grid`` with the longest diameter.

    As the criteria word it: the longest diameter on an axial slice, then the longest diameter
    perpendicular to it on that same slice (ties of the longest go to the larger product).
    """
    occupancy, offset = grid.occupancy(mask, box)
    outlines = [
        (int(k), _Outline(occupancy[k], grid.row_mm, grid.column_mm))
        for k in np.flatnonzero((occupancy >= 0.5).any(axis=(1, 2)))
    ]
    if not outlines:
        return None
    longest = max(outline.longest_mm for _, outline in outlines)
    best: tuple[tuple[float, float], int, Bidimensional] | None = None
    for k, outline in outlines:
        if outline.longest_mm < longest - 1e-9:
            continue  # tracing the perpendicular is the costly step: only on the longest slices
        found = outline.measure()
        rank = (found.longest_mm * found.perpendicular_mm, -k)
        if best is None or rank > best[0]:
            best = (rank, k, found)
    assert best is not None
    _, k, found = best

    def to_patient(ends_px: Ends2D) -> Ends3D:
        index = np.array([[k, r, c] for r, c in ends_px]) + offset
        start, end = apply_affine(grid.voxel2patient, index)
        return _triple(start), _triple(end)

    return Diameters(
        longest_mm=found.longest_mm,
        perpendicular_mm=found.perpendicular_mm,
        product_mm2=found.longest_mm * found.perpendicular_mm,
        slice_index=int(k + offset[0]),
        longest_ends_mm=to_patient(found.longest_ends_px),
        perpendicular_ends_mm=to_patient(found.perpendicular_ends_px),
        resliced=grid.resliced,
    )


class _Outline:
    """One slice's lesion outline in mm, its longest diameter, and a bound on the product."""

    def __init__(self, occupancy: np.ndarray, row_mm: float, column_mm: float) -> None:
        self.scale = np.array([row_mm, column_mm], dtype=np.float64)
        self.polylines_mm = [line * self.scale for line in _outline_px(occupancy)]
        points = np.concatenate(self.polylines_mm)
        try:
            hull = points[ConvexHull(points).vertices]
        except QhullError:
            # an outline collapsed to a point or a line: fall back on the pixels' own diamonds
            self.polylines_mm += [line * self.scale for line in _diamonds(occupancy >= 0.5)]
            points = np.concatenate(self.polylines_mm)
            hull = points[ConvexHull(points).vertices]
        offsets = hull[:, None, :] - hull[None, :, :]
        squared = np.einsum("ijk,ijk->ij", offsets, offsets)
        first, second = divmod(int(np.argmax(squared)), len(hull))
        self.start, self.end = hull[first], hull[second]
        self.longest_mm = float(math.sqrt(squared[first, second]))
        self.along = (self.end - self.start) / self.longest_mm
        self.across = np.array([-self.along[1], self.along[0]])
        closed_hull = np.vstack([hull, hull[:1]])
        low, high, _ = _widest_crossing([closed_hull], self.along, self.across)
        self.bound_mm2 = self.longest_mm * (high - low)

    def measure(self) -> Bidimensional:
        """Trace the perpendicular diameter and return both."""
        low, high, at = _widest_crossing(self.polylines_mm, self.along, self.across)
        perpendicular = (at * self.along + low * self.across, at * self.along + high * self.across)
        return Bidimensional(
            self.longest_mm,
            float(high - low),
            _to_pixels((self.start, self.end), self.scale),
            _to_pixels(perpendicular, self.scale),
        )


def _outline_px(occupancy: np.ndarray) -> list[np.ndarray]:
    """Closed polylines (row, column) in pixels: the anti-aliased 0.5 level of the lesion.

    ``occupancy`` is a 2-D float image, 1 in the lesion and 0 outside (a mask, or a mask
    interpolated onto another grid); holes in the lesion are filled first.
    """
    inside = occupancy >= 0.5
    filled_inside = ndimage.binary_fill_holes(inside)
    filled = np.where(filled_inside & ~inside, np.float32(1.0), occupancy).astype(np.float32)
    lines = [line - _PAD_PX for line in find_contours(_antialiased(filled), 0.5)]
    # judged on the mask, not on interpolated values that sit at 0.5 on every edge
    dropped = filled_inside & (
        _antialiased(filled_inside)[_PAD_PX:-_PAD_PX, _PAD_PX:-_PAD_PX] < 0.5
    )
    return lines + _diamonds(dropped)


def _antialiased(image: np.ndarray) -> np.ndarray:
    """``image`` padded by :data:`_PAD_PX` zeros and smoothed by the anti-aliasing Gaussian."""
    padded = np.pad(image.astype(np.float32), _PAD_PX)
    return ndimage.gaussian_filter(padded, ANTIALIAS_SIGMA_PX, mode="constant", cval=0.0)


def _diamonds(mask: np.ndarray) -> list[np.ndarray]:
    """For each pixel of a mask, the closed diamond through the midpoints of its four edges."""
    return [centre + _DIAMOND for centre in np.argwhere(mask).astype(np.float64)]


def _widest_crossing(
    polylines: list[np.ndarray], along: np.ndarray, across: np.ndarray
) -> tuple[float, float, float]:
    """Longest extent, in direction ``across``, of closed polylines cut by a line.

    The line runs in direction ``across`` at position ``at`` along ``along``; the extent runs
    from the first to the last crossing. Between two vertex positions the set of crossed
    segments is fixed, so the last crossing is a convex and the first a concave function of
    the position: the extent is largest at a vertex position, and only those are tried.

    Returns
    -------
    (low, high, at) : the extent runs from ``at*along + low*across`` to ``at*along + high*across``.
    """
    starts = np.concatenate([line[:-1] for line in polylines])
    ends = np.concatenate([line[1:] for line in polylines])
    t_start, t_end = starts @ along, ends @ along
    s_start, s_end = starts @ across, ends @ across
    run = t_end - t_start
    # segments parallel to the line are skipped: their end points also end their neighbours
    usable = run != 0
    t_low, t_high = np.minimum(t_start, t_end), np.maximum(t_start, t_end)
    safe_run = np.where(usable, run, 1.0)
    best = (-1.0, 0.0, 0.0, 0.0)
    positions = np.unique(np.concatenate([t_start, t_end]))
    for chunk in np.array_split(positions, max(1, len(positions) // 256)):
        at = chunk[:, None]
        crosses = usable & (t_low <= at) & (at <= t_high)
        s = s_start + (at - t_start) / safe_run * (s_end - s_start)
        high = np.where(crosses, s, -np.inf).max(axis=1)
        low = np.where(crosses, s, np.inf).min(axis=1)
        widest = int(np.argmax(high - low))
        if high[widest] - low[widest] > best[0]:
            best = (high[widest] - low[widest], low[widest], high[widest], chunk[widest])
    return float(best[1]), float(best[2]), float(best[3])


def _to_pixels(points_mm: tuple[np.ndarray, np.ndarray], scale: np.ndarray) -> Ends2D:
    first, second = (tuple(float(v) for v in p / scale) for p in points_mm)
    return first, second  # type: ignore[return-value]


def _slice_normal(voxel2patient: np.ndarray) -> np.ndarray:
    """Unit normal of a grid's slice plane (row direction x column direction, as DICOM's)."""
    normal = np.cross(voxel2patient[:3, 2], voxel2patient[:3, 1])
    return normal / np.linalg.norm(normal)


def _check_grid(labels: np.ndarray, volume: Volume) -> None:
    if labels.shape != volume.shape:
        raise ValueError(
            f"label map of shape {labels.shape} does not match the series' grid {volume.shape}"
        )


def _matrix(patient2reference: np.ndarray | Transform | None) -> np.ndarray:
    if patient2reference is None:
        return np.eye(4)
    if isinstance(patient2reference, Transform):
        return patient2reference.moving2reference
    matrix = np.asarray(patient2reference, dtype=np.float64)
    if matrix.shape != (4, 4) or not np.all(np.isfinite(matrix)):
        raise ValueError("patient2reference must be a finite (4, 4) matrix")
    return matrix


def _triple(point: np.ndarray) -> tuple[float, float, float]:
    return float(point[0]), float(point[1]), float(point[2])


def _reaches(value: float, minimum: float) -> bool:
    return value >= minimum * (1.0 - _THRESHOLD_SLACK)


def _number(value: float) -> str:
    """A threshold as a reader writes it: 10, 12, 0.52."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _shown(value: float, threshold: float, digits: int = 1) -> str:
    """A measured value with enough decimals that it visibly sits on the right side of a threshold.

    9.99 mm against 10 mm is shown as "9.99", not as a "10.0" that reads as if it passed.
    """
    for places in range(digits, 4):
        text = f"{value:.{places}f}"
        if (float(text) >= threshold) == _reaches(value, threshold):
            return text
    return f"{value:.3f}"


def with_hand_diameters(
    measurement: LesionMeasurement,
    long_ends_mm: Sequence[Sequence[float]],
    perp_ends_mm: Sequence[Sequence[float]],
    crossing_mm: np.ndarray,
    voxel2patient: np.ndarray,
    shape: tuple[int, int, int],
) -> LesionMeasurement:
    """A lesion's measurement with the diameters a reader laid by hand (a caliper).

    Volume, slices spanned, intensities and centroids stay as measured from the outline; the
    diameters, their product, their end points and the slice they lie on come from the hand.
    The slice is where the perpendicular crosses the long axis, counted on the grid the series
    is measured on (its own slices, or its true-axial reslice), as :class:`Diameters` counts it.

    Parameters
    ----------
    measurement : LesionMeasurement
    long_ends_mm, perp_ends_mm : pair of (x, y, z)
        The ends of the long axis and of its perpendicular, patient LPS mm.
    crossing_mm : ndarray of shape (3,)
        Where the perpendicular crosses the long axis, patient mm.
    voxel2patient : ndarray of shape (4, 4)
        The series' grid.
    shape : tuple of 3 int
        The series' shape (Z, Y, X).

    Returns
    -------
    LesionMeasurement
    """
    axial = is_axial(voxel2patient)
    grid = voxel2patient if axial else true_axial_grid(voxel2patient, shape)[0]
    slice_index = float(apply_affine(np.linalg.inv(grid), crossing_mm)[0])
    longs = tuple(tuple(float(v) for v in p) for p in long_ends_mm)
    perps = tuple(tuple(float(v) for v in p) for p in perp_ends_mm)
    longest = float(np.linalg.norm(np.subtract(longs[1], longs[0])))
    perpendicular = float(np.linalg.norm(np.subtract(perps[1], perps[0])))
    diameters = Diameters(
        longest_mm=longest,
        perpendicular_mm=perpendicular,
        product_mm2=longest * perpendicular,
        slice_index=int(round(slice_index)),
        longest_ends_mm=longs,
        perpendicular_ends_mm=perps,
        resliced=not axial,
    )
    return replace(measurement, diameters=diameters)
