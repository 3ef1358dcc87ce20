"""Cut a volume along an anatomical plane: a pure function over frozen request/response objects.

Frames and names
----------------
* ``patient``: the DICOM patient coordinates of the volume (LPS, mm).
* ``reference``: the frame every view of a case is drawn in. ``patient2reference`` (4x4) maps a
  visit's patient coordinates into it: the registration result
  (``viewer.core.transform.Transform.moving2reference``), the identity for the reference series.
  Planes, slice positions and screen grids are all defined in this frame.
* ``slice``: a 2-D screen grid indexed ``(row, column)`` with square pixels. ``slice2reference`` and
  ``slice2patient`` map ``(row, column, offset_mm, 1)`` to mm, where ``offset_mm`` runs along the
  plane's axis (so each mapping is an invertible 4x4).

Display conventions (radiological)
----------------------------------
========  ==================  ===================  ====================================
plane     screen right        screen down          ``position_mm`` is the LPS coordinate
========  ==================  ===================  ====================================
axial     patient Left        Posterior            z (towards Superior)
coronal   patient Left        Inferior             y (towards Posterior)
sagittal  Posterior           Inferior             x (towards Left)
========  ==================  ===================  ====================================

So the patient's right is on the screen's left in axial and coronal views, anterior is up in axial
views, superior is up in coronal and sagittal views, and anterior is on the left in sagittal views.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from viewer.core.geometry import apply_affine
from viewer.core.volume import Volume
from viewer.display.sampling import sample_plane

Plane = Literal["axial", "coronal", "sagittal"]
PLANES: tuple[Plane, ...] = ("axial", "coronal", "sagittal")

# (screen right, screen down, plane axis) as LPS unit vectors.
_PLANE_AXES: dict[str, tuple[tuple[float, ...], ...]] = {
    "axial": ((1, 0, 0), (0, 1, 0), (0, 0, 1)),
    "coronal": ((1, 0, 0), (0, 0, -1), (0, 1, 0)),
    "sagittal": ((0, 1, 0), (0, 0, -1), (1, 0, 0)),
}
PLANE_AXIS_INDEX: dict[str, int] = {"axial": 2, "coronal": 1, "sagittal": 0}
"""Which LPS coordinate (0 = x, 1 = y, 2 = z) ``position_mm`` measures for each plane."""

_TOLERANCE = 1e-6


def plane_axes(plane: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the unit vectors (reference frame) of screen right, screen down and plane axis.

    Examples
    --------
    >>> right, down, axis = plane_axes("coronal")
    >>> down
    array([ 0.,  0., -1.])
    """
    if plane not in _PLANE_AXES:
        raise ValueError(f"unknown plane {plane!r}; expected one of {PLANES}")
    return tuple(np.asarray(v, dtype=np.float64) for v in _PLANE_AXES[plane])  # type: ignore[return-value]


def _volume2reference(volume: Volume, patient2reference: np.ndarray | None) -> np.ndarray:
    if patient2reference is None:
        return np.array(volume.voxel2patient)
    return np.asarray(patient2reference, dtype=np.float64) @ volume.voxel2patient


def _corners_reference(voxel2reference: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """Reference-frame positions of the 8 corner voxel centres, shape (8, 3)."""
    corners = np.array(np.meshgrid(*[[0, n - 1] for n in shape], indexing="ij")).reshape(3, -1).T
    return apply_affine(voxel2reference, corners)


def _step_along(voxel2reference: np.ndarray, direction: np.ndarray) -> float:
    """Largest step (mm) along ``direction`` that moves no voxel index by more than one."""
    index_per_mm = np.linalg.solve(voxel2reference[:3, :3], direction)
    return float(1.0 / np.max(np.abs(index_per_mm)))


@dataclass(frozen=True)
class SlicePositions:
    """The slice positions a volume offers along a plane's axis: ``first_mm + i * step_mm``.

    For a volume whose axes line up with the plane these are exactly its voxel centres.

    Attributes
    ----------
    first_mm : float
        Position of slice 0 along the plane axis (reference frame, mm).
    step_mm : float
        Distance between slices, mm.
    count : int
        Number of slices.
    """

    first_mm: float
    step_mm: float
    count: int

    def position(self, index: int) -> float:
        """Position (mm) of slice ``index``, clamped to the available range."""
        return self.first_mm + min(max(index, 0), self.count - 1) * self.step_mm

    def index_of(self, position_mm: float) -> int:
        """Index of the slice nearest to ``position_mm``, clamped to ``[0, count - 1]``."""
        index = round((position_mm - self.first_mm) / self.step_mm)
        return int(min(max(index, 0), self.count - 1))

    def snap(self, position_mm: float) -> float:
        """Return the available slice position nearest to ``position_mm`` (mm)."""
        return self.position(self.index_of(position_mm))


def slice_positions(
    volume: Volume, plane: str, *, patient2reference: np.ndarray | None = None
) -> SlicePositions:
    """Where a volume can be cut along a plane's axis.

    Parameters
    ----------
    volume : Volume
    plane : {'axial', 'coronal', 'sagittal'}
    patient2reference : ndarray of shape (4, 4), optional
        Maps the volume's patient coordinates into the reference frame; identity when omitted.

    Returns
    -------
    SlicePositions
        Spanning the volume's voxel centres along the plane axis.

    Examples
    --------
    >>> axial_5mm = np.array([[0, 0, 1, 0], [0, 1, 0, 0], [5, 0, 0, 0], [0, 0, 0, 1.0]])
    >>> slice_positions(Volume(np.zeros((4, 2, 2), np.int16), axial_5mm), "axial")
    SlicePositions(first_mm=0.0, step_mm=5.0, count=4)
    """
    axis = plane_axes(plane)[2]
    voxel2reference = _volume2reference(volume, patient2reference)
    along = _corners_reference(voxel2reference, volume.shape) @ axis
    step = _step_along(voxel2reference, axis)
    count = int(math.floor((along.max() - along.min()) / step + 1e-6)) + 1
    return SlicePositions(float(along.min()), step, count)


@dataclass(frozen=True)
class PlaneGrid:
    """A screen grid on one plane, independent of the position along the plane axis.

    Attributes
    ----------
    plane : str
    origin_mm : ndarray of shape (3,)
        Reference-frame position of pixel (0, 0) projected onto the plane through the origin.
    pixel_mm : float
        Edge of a (square) screen pixel, mm.
    shape : tuple of 2 int
        (rows, columns).
    """

    plane: str
    origin_mm: np.ndarray
    pixel_mm: float
    shape: tuple[int, int]

    def slice2reference(self, position_mm: float) -> np.ndarray:
        """Return the (4, 4) map ``(row, column, offset_mm, 1)`` -> reference mm at a position."""
        right, down, axis = plane_axes(self.plane)
        matrix = np.eye(4)
        matrix[:3, 0] = down * self.pixel_mm
        matrix[:3, 1] = right * self.pixel_mm
        matrix[:3, 2] = axis
        matrix[:3, 3] = self.origin_mm + axis * position_mm
        return matrix


def plane_grid(
    volume: Volume,
    plane: str,
    *,
    patient2reference: np.ndarray | None = None,
    pixel_mm: float | None = None,
) -> PlaneGrid:
    """Choose the screen grid that shows the whole volume on a plane with square pixels.

    Parameters
    ----------
    volume : Volume
    plane : {'axial', 'coronal', 'sagittal'}
    patient2reference : ndarray of shape (4, 4), optional
    pixel_mm : float, optional
        Screen pixel size in mm. By default the finer of the volume's sampling along screen right
        and screen down, so no acquired detail is lost (a 5 mm slice stack shown coronally gets the
        in-plane resolution, and the slices are interpolated between).

    Returns
    -------
    PlaneGrid
        Covering the projection of every voxel centre; pixel (0, 0) is the top-left one.
    """
    right, down, _ = plane_axes(plane)
    voxel2reference = _volume2reference(volume, patient2reference)
    if pixel_mm is None:
        pixel_mm = min(_step_along(voxel2reference, right), _step_along(voxel2reference, down))
    if not (pixel_mm > 0 and math.isfinite(pixel_mm)):
        raise ValueError(f"pixel size must be a positive number of mm, got {pixel_mm}")
    corners = _corners_reference(voxel2reference, volume.shape)
    u, v = corners @ right, corners @ down
    columns = int(math.floor((u.max() - u.min()) / pixel_mm + 1e-6)) + 1
    rows = int(math.floor((v.max() - v.min()) / pixel_mm + 1e-6)) + 1
    origin = right * u.min() + down * v.min()
    return PlaneGrid(plane, origin, float(pixel_mm), (rows, columns))


@dataclass(frozen=True, eq=False)
class SliceRequest:
    """What to show: one volume cut on one plane at one position.

    Attributes
    ----------
    volume : Volume
    plane : {'axial', 'coronal', 'sagittal'}
    position_mm : float
        Reference-frame coordinate along the plane axis (z for axial, y for coronal, x for
        sagittal; LPS mm).
    patient2reference : ndarray of shape (4, 4), optional
        Registration of this volume into the reference frame; identity when ``None``.
    grid : PlaneGrid, optional
        Screen grid to sample on (linked views share one); by default :func:`plane_grid`.
    interpolation : {'linear', 'nearest'}
        Trilinear for images; nearest neighbour for label maps, whose integer labels must never
        be blended (the slice keeps the array's dtype).
    """

    volume: Volume
    plane: str
    position_mm: float
    patient2reference: np.ndarray | None = None
    grid: PlaneGrid | None = None
    interpolation: str = "linear"

    def __post_init__(self) -> None:
        if self.interpolation not in ("linear", "nearest"):
            raise ValueError(
                f"interpolation must be 'linear' or 'nearest', got {self.interpolation!r}"
            )


@dataclass(frozen=True, eq=False)
class SliceResult:
    """A slice ready for windowing.

    Attributes
    ----------
    values : ndarray of shape (rows, columns)
        Voxel values in the volume's units (HU for CT). A view into the volume (its dtype) when the
        plane lines up with the voxel grid, float32 (trilinear) otherwise; the volume's dtype for
        nearest-neighbour (label map) requests. Meaningless where ``inside`` is ``False``.
    inside : ndarray of bool, shape (rows, columns), or None
        Where ``values`` hold real data; ``False`` outside the volume and where a slice of the
        series could not be read. ``None`` means everywhere.
    slice2reference, slice2patient : ndarray of shape (4, 4)
        Map ``(row, column, offset_mm, 1)`` to mm in the reference frame / the volume's own
        patient coordinates.
    pixel_mm : float
        Square pixel edge in mm.
    unreadable : ndarray of bool, shape (rows, columns), or None
        Pixels that would use a source slice whose pixel data could not be read (also ``False``
        in ``inside``), so a view can mark them instead of showing black; ``None`` when none.
    """

    values: np.ndarray
    inside: np.ndarray | None
    slice2reference: np.ndarray
    slice2patient: np.ndarray
    pixel_mm: float
    unreadable: np.ndarray | None

    @property
    def touches_unreadable(self) -> bool:
        """Return whether any pixel comes from a slice that could not be read."""
        return self.unreadable is not None


def reslice(request: SliceRequest) -> SliceResult:
    """Cut ``request.volume`` on the requested plane, in true anatomical orientation.

    Screen pixels are square in mm whatever the voxel shape, and oblique acquisitions are shown in
    the true axial/coronal/sagittal planes of the reference frame (trilinear interpolation, or
    nearest neighbour for label maps). A registered visit is cut through its transform on the
    reference frame's grid, so the same screen pixel shows the same anatomical point in every
    visit. When the voxel grid lines up with the screen grid, an image slice is an array view with
    no copy.

    Examples
    --------
    >>> axial = np.array([[0, 0, 1, 0], [0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1.0]])
    >>> vol = Volume(np.arange(8, dtype=np.int16).reshape(2, 2, 2), axial)
    >>> reslice(SliceRequest(vol, "axial", 1.0)).values
    array([[4, 5],
           [6, 7]], dtype=int16)
    """
    volume = request.volume
    grid = request.grid or plane_grid(
        volume, request.plane, patient2reference=request.patient2reference
    )
    slice2reference = grid.slice2reference(request.position_mm)
    reference2patient = (
        np.eye(4)
        if request.patient2reference is None
        else np.linalg.inv(np.asarray(request.patient2reference, dtype=np.float64))
    )
    slice2patient = reference2patient @ slice2reference
    slice2voxel = volume.patient2voxel @ slice2patient
    axes = _aligned_axes(volume.shape, slice2voxel)
    if request.interpolation == "nearest":
        values, inside, unreadable = sample_plane(volume, slice2voxel, grid.shape, nearest=True)
    elif axes is not None:
        values, inside, unreadable = _cut_aligned(volume, slice2voxel, grid.shape, *axes)
    else:
        values, inside, unreadable = sample_plane(volume, slice2voxel, grid.shape)
    return SliceResult(
        values=values,
        inside=inside,
        slice2reference=slice2reference,
        slice2patient=slice2patient,
        pixel_mm=grid.pixel_mm,
        unreadable=unreadable,
    )


def _aligned_axes(
    volume_shape: tuple[int, int, int], slice2voxel: np.ndarray
) -> tuple[int, int, int] | None:
    """Return (row axis, column axis, fixed axis) if the slice is a plane of the voxel grid.

    That is when each screen axis runs along one array axis and the slice passes through voxel
    centres of the third; the common case (any plane of an axial, coronal or sagittal stack).
    """
    runs_along = np.abs(slice2voxel[:3, :2]) > _TOLERANCE
    if not np.all(runs_along.sum(axis=0) == 1):
        return None
    row_axis, column_axis = int(np.argmax(runs_along[:, 0])), int(np.argmax(runs_along[:, 1]))
    if row_axis == column_axis:
        return None
    fixed_axis = 3 - row_axis - column_axis
    fixed = slice2voxel[fixed_axis, 3]
    if abs(fixed - round(fixed)) > _TOLERANCE or not 0 <= round(fixed) < volume_shape[fixed_axis]:
        return None
    return row_axis, column_axis, fixed_axis


def _cut_aligned(
    volume: Volume,
    slice2voxel: np.ndarray,
    shape: tuple[int, int],
    row_axis: int,
    column_axis: int,
    fixed_axis: int,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Cut a grid plane out of the array: a view, or 1-D linear interpolation along each axis.

    Separable linear interpolation in the plane equals trilinear interpolation here, since the
    slice passes through voxel centres of the fixed axis, and it is many times faster.
    """
    index: list[int | slice] = [slice(None)] * 3
    index[fixed_axis] = int(round(slice2voxel[fixed_axis, 3]))
    plane = volume.array[tuple(index)]
    if row_axis > column_axis:
        plane = plane.T
    rows = slice2voxel[row_axis, 3] + slice2voxel[row_axis, 0] * np.arange(shape[0])
    columns = slice2voxel[column_axis, 3] + slice2voxel[column_axis, 1] * np.arange(shape[1])
    values = _sample_axis(_sample_axis(plane, rows, 0), columns, 1)
    rows_inside = _within(rows, volume.shape[row_axis])
    columns_inside = _within(columns, volume.shape[column_axis])
    inside = np.outer(rows_inside, columns_inside)
    incomplete = volume.metadata.incomplete_slices
    unreadable = None
    if incomplete:
        if fixed_axis == 0:
            bad = np.full(shape, index[0] in incomplete)
        elif row_axis == 0:
            bad = np.outer(_touches(rows, incomplete, volume.shape[0]), np.ones(shape[1], bool))
        else:
            bad = np.outer(np.ones(shape[0], bool), _touches(columns, incomplete, volume.shape[0]))
        bad &= inside
        if bad.any():
            unreadable = bad
            inside &= ~bad
    return values, (None if inside.all() else inside), unreadable


def _within(coords: np.ndarray, n: int) -> np.ndarray:
    """Which fractional indices fall on the array, a voxel covering half a step either side."""
    return (coords >= -0.5 - _TOLERANCE) & (coords <= n - 0.5 + _TOLERANCE)


def _touches(coords: np.ndarray, incomplete: tuple[int, ...], n: int) -> np.ndarray:
    """Which fractional slice indices interpolate from a slice in ``incomplete``."""
    clipped = np.clip(coords, 0, n - 1)
    return np.isin(np.floor(clipped), incomplete) | np.isin(np.ceil(clipped), incomplete)


def _sample_axis(data: np.ndarray, coords: np.ndarray, axis: int) -> np.ndarray:
    """Sample a 2-D array along one axis at fractional indices (linear, edges clamped).

    Whole, evenly stepped indices inside the array give a view (same dtype, no copy).
    """
    n = data.shape[axis]
    whole = np.round(coords)
    if np.all(np.abs(coords - whole) <= _TOLERANCE) and whole.min() >= 0 and whole.max() < n:
        start = int(whole[0])
        step = int(whole[1] - whole[0]) if whole.size > 1 else 1
        if step != 0 and np.array_equal(whole, start + step * np.arange(whole.size)):
            stop = start + step * whole.size
            taken = slice(start, stop if stop >= 0 else None, step)
            return data[taken] if axis == 0 else data[:, taken]
        return np.take(data, whole.astype(np.intp), axis=axis)
    clipped = np.clip(coords, 0, n - 1)
    lower = np.floor(clipped).astype(np.intp)
    upper = np.minimum(lower + 1, n - 1)
    weight = (clipped - lower).astype(np.float32)
    weight = weight[:, None] if axis == 0 else weight[None, :]
    low = np.take(data, lower, axis=axis).astype(np.float32, copy=False)
    high = np.take(data, upper, axis=axis).astype(np.float32, copy=False)
    return low + (high - low) * weight
