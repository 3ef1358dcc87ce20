"""Sample a volume on a plane grid: trilinear for images, nearest neighbour for label maps.

The plane is given by ``slice2voxel`` (4x4): screen pixel ``(row, column, 0, 1)`` -> fractional
voxel index ``(slice, row, column)``. It already includes any registration, so a visit drawn
through its transform and the reference series land on the same screen pixels.

Speed (see benchmarks/bench_frame.py): trilinear sampling runs in a compiled kernel
(:mod:`viewer.display.kernels`, numba) that reads the volume's own array (no copy), steps along
each screen row, samples only the pixels on the volume, uses both cores and releases the GIL; it
equals ``scipy.ndimage.map_coordinates(order=1, mode="nearest")`` within float32 rounding, and
scipy samples what the kernel does not take (non-native byte order, unusual dtypes).
Elsewhere only the bounding box of the volume's footprint on the grid is sampled.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from viewer.core.volume import Volume
from viewer.display import kernels

TOLERANCE_VOXELS = 1e-6
"""Slack on the volume's edges, in voxels, so rounding never drops an edge pixel."""


def footprint(
    slice2voxel: np.ndarray, volume_shape: tuple[int, int, int], grid_shape: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Which pixels of each grid row fall on the volume.

    A voxel shows over its full width, so a pixel is inside when every fractional voxel index
    lies within ``[-0.5, n - 0.5]`` (plus :data:`TOLERANCE_VOXELS`). The plane cuts the volume's
    box in a convex polygon, so each row's inside pixels form one run of columns.

    Parameters
    ----------
    slice2voxel : ndarray of shape (4, 4)
    volume_shape : tuple of 3 int
    grid_shape : tuple of 2 int
        (rows, columns) of the grid.

    Returns
    -------
    first, last : ndarray of int, shape (rows,)
        First and last inside column of each row; ``first > last`` for a row with none.

    Examples
    --------
    Screen row r shows voxel row r and screen column c voxel column c - 2 of a (1, 2, 3) volume:

    >>> slice2voxel = np.array([[0, 0, 1, 0], [1, 0, 0, 0], [0, 1, 0, -2], [0, 0, 0, 1.0]])
    >>> first, last = footprint(slice2voxel, (1, 2, 3), (3, 8))
    >>> first.tolist(), last.tolist()
    ([2, 2, 8], [4, 4, -1])
    """
    rows, columns = grid_shape
    r = np.arange(rows, dtype=np.float64)
    low = np.full(rows, -np.inf)
    high = np.full(rows, np.inf)
    for k, n in enumerate(volume_shape):
        base = slice2voxel[k, 0] * r + slice2voxel[k, 3]
        lo, hi = -0.5 - TOLERANCE_VOXELS, n - 0.5 + TOLERANCE_VOXELS
        per_column = slice2voxel[k, 1]
        if abs(per_column) > 1e-12:
            a, b = (lo - base) / per_column, (hi - base) / per_column
            low = np.maximum(low, np.minimum(a, b))
            high = np.minimum(high, np.maximum(a, b))
        else:
            outside = (base < lo) | (base > hi)
            low[outside], high[outside] = np.inf, -np.inf
    first = np.clip(np.ceil(low), 0, columns).astype(np.intp)
    last = np.clip(np.floor(high), -1, columns - 1).astype(np.intp)
    return first, last


def sample_plane(
    volume: Volume, slice2voxel: np.ndarray, shape: tuple[int, int], *, nearest: bool = False
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Sample a volume on a plane grid.

    Parameters
    ----------
    volume : Volume
    slice2voxel : ndarray of shape (4, 4)
        Screen ``(row, column, offset_mm, 1)`` -> fractional voxel index.
    shape : tuple of 2 int
        (rows, columns) of the grid.
    nearest : bool
        Nearest-neighbour sampling that keeps the array's dtype (label maps: labels are never
        blended); trilinear to float32 otherwise.

    Returns
    -------
    values : ndarray of shape (rows, columns)
        float32 (trilinear) or the volume's dtype (nearest); 0 outside the volume's footprint
        bounding box, unspecified elsewhere outside ``inside``.
    inside : ndarray of bool, shape (rows, columns), or None
        Pixels on the volume with readable data; ``None`` means all of them.
    unreadable : ndarray of bool, shape (rows, columns), or None
        Pixels that would use a slice whose pixel data could not be read.
    """
    first, last = footprint(slice2voxel, volume.shape, shape)
    dtype = volume.array.dtype if nearest else np.dtype(np.float32)
    rows_on = np.nonzero(first <= last)[0]
    if rows_on.size == 0:
        return np.zeros(shape, dtype), np.zeros(shape, bool), None
    if not nearest and kernels.supports(volume.array):
        values = kernels.trilinear(volume.array, slice2voxel, shape, first, last)
    else:
        values = _sample_box(volume, slice2voxel, shape, rows_on, first, last, nearest)
    columns = np.arange(shape[1])
    inside = (columns >= first[:, None]) & (columns <= last[:, None])
    unreadable = _unreadable(volume, slice2voxel, inside)
    if unreadable is not None:
        inside &= ~unreadable
    all_inside = bool(np.all(first == 0) and np.all(last == shape[1] - 1))
    return values, (None if all_inside and unreadable is None else inside), unreadable


def _sample_box(
    volume: Volume,
    slice2voxel: np.ndarray,
    shape: tuple[int, int],
    rows_on: np.ndarray,
    first: np.ndarray,
    last: np.ndarray,
    nearest: bool,
) -> np.ndarray:
    """Sample the bounding box of the footprint with numpy/scipy; 0 around it."""
    r0, r1 = int(rows_on[0]), int(rows_on[-1]) + 1
    c0, c1 = int(first[rows_on].min()), int(last[rows_on].max()) + 1
    box2voxel = slice2voxel.copy()
    box2voxel[:3, 3] += slice2voxel[:3, 0] * r0 + slice2voxel[:3, 1] * c0
    box_shape = (r1 - r0, c1 - c0)
    box = (
        _nearest(volume, box2voxel, box_shape)
        if nearest
        else trilinear_reference(volume.array, box2voxel, box_shape)
    )
    if box_shape == tuple(shape):
        return box
    values = np.zeros(shape, box.dtype)
    values[r0:r1, c0:c1] = box
    return values


def _unreadable(volume: Volume, slice2voxel: np.ndarray, inside: np.ndarray) -> np.ndarray | None:
    """Inside pixels whose trilinear neighbours include a slice that could not be read."""
    incomplete = volume.metadata.incomplete_slices
    if not incomplete:
        return None
    rows = np.arange(inside.shape[0], dtype=np.float64)[:, None]
    columns = np.arange(inside.shape[1], dtype=np.float64)[None, :]
    slice_index = slice2voxel[0, 0] * rows + slice2voxel[0, 1] * columns + slice2voxel[0, 3]
    np.clip(slice_index, 0, volume.shape[0] - 1, out=slice_index)
    used = np.isin(np.floor(slice_index), incomplete) | np.isin(np.ceil(slice_index), incomplete)
    used &= inside
    return used if used.any() else None


def _nearest(volume: Volume, box2voxel: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Nearest voxel of each pixel (halves round up, as ITK does), indices clamped to the array."""
    rows = np.arange(shape[0], dtype=np.float64)[:, None]
    columns = np.arange(shape[1], dtype=np.float64)[None, :]
    index = []
    for k, n in enumerate(volume.shape):
        coordinate = box2voxel[k, 0] * rows + box2voxel[k, 1] * columns + box2voxel[k, 3]
        index.append(np.clip(np.floor(coordinate + 0.5), 0, n - 1).astype(np.intp))
    return volume.array[index[0], index[1], index[2]]


def trilinear_reference(
    array: np.ndarray, slice2voxel: np.ndarray, shape: tuple[int, int]
) -> np.ndarray:
    """Trilinear sample of a plane with scipy (edges clamped): the reference the fast path matches.

    Parameters
    ----------
    array : ndarray of shape (Z, Y, X)
    slice2voxel : ndarray of shape (4, 4)
    shape : tuple of 2 int

    Returns
    -------
    ndarray of float32, shape ``shape``
    """
    rows = np.arange(shape[0], dtype=np.float64)[:, None]
    columns = np.arange(shape[1], dtype=np.float64)[None, :]
    coords = np.empty((3, *shape), dtype=np.float64)
    for k in range(3):
        coords[k] = slice2voxel[k, 0] * rows + slice2voxel[k, 1] * columns + slice2voxel[k, 3]
    return ndimage.map_coordinates(
        array, coords, output=np.float32, order=1, mode="nearest", prefilter=False
    )


def prepare(volume: Volume) -> None:
    """Get the compiled sampler for this volume's array ready (call it in a worker thread).

    The first use of the kernel for a dtype compiles it (about 0.5-1 s) or, on later runs, loads
    it from numba's disk cache (milliseconds); this pays that cost off the GUI thread.
    ``viewer.state.session.prepare_series`` (the loading worker) is the place to call it.
    """
    kernels.warm_up(volume.array)
