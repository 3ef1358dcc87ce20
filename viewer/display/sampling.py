"""Sample a volume on a plane grid: trilinear for images, nearest neighbour for label maps.

The plane is given by ``slice2voxel`` (4x4): screen pixel ``(row, column, 0, 1)`` -> fractional
voxel index ``(slice, row, column)``. It already includes any registration, so a visit drawn
through its transform and the reference series land on the same screen pixels.

Speed (see benchmarks/bench_frame.py): trilinear sampling runs in ITK's resampler (SimpleITK),
which steps along each screen row incrementally in C, uses both cores and releases the GIL; it
equals ``scipy.ndimage.map_coordinates(order=1, mode="nearest")`` inside the volume. ITK needs its
own copy of the voxels, made once per volume (:func:`prepare`) and kept while the volume lives;
volumes larger than :data:`ITK_COPY_LIMIT_BYTES` are sampled with scipy instead (no copy, about
four times slower).
Only the bounding box of the volume's footprint on the grid is sampled.
"""

from __future__ import annotations

import threading
import weakref

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from viewer.core.volume import Volume

ITK_COPY_LIMIT_BYTES = 768 * 2**20
"""Largest volume (array bytes) given a SimpleITK copy for fast sampling (768 MiB)."""

TOLERANCE_VOXELS = 1e-6
"""Slack on the volume's edges, in voxels, so rounding never drops an edge pixel."""

_images: weakref.WeakKeyDictionary[Volume, sitk.Image] = weakref.WeakKeyDictionary()
_images_lock = threading.Lock()


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
    r0, r1 = int(rows_on[0]), int(rows_on[-1]) + 1
    c0, c1 = int(first[rows_on].min()), int(last[rows_on].max()) + 1
    box2voxel = slice2voxel.copy()
    box2voxel[:3, 3] += slice2voxel[:3, 0] * r0 + slice2voxel[:3, 1] * c0
    box_shape = (r1 - r0, c1 - c0)
    box = (
        _nearest(volume, box2voxel, box_shape)
        if nearest
        else _trilinear(volume, box2voxel, box_shape)
    )
    if box_shape == tuple(shape):
        values = box
    else:
        values = np.zeros(shape, dtype)
        values[r0:r1, c0:c1] = box
    columns = np.arange(shape[1])
    inside = (columns >= first[:, None]) & (columns <= last[:, None])
    unreadable = _unreadable(volume, slice2voxel, inside)
    if unreadable is not None:
        inside &= ~unreadable
    all_inside = (
        r0 == 0 and r1 == shape[0] and bool(np.all(first == 0) and np.all(last == shape[1] - 1))
    )
    return values, (None if all_inside and unreadable is None else inside), unreadable


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


def _trilinear(volume: Volume, box2voxel: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Trilinear sample (edges clamped), float32, shape ``shape``."""
    image = _itk_image(volume)
    if image is None:
        return trilinear_reference(volume.array, box2voxel, shape)
    # ITK works in (x, y, z) = (column, row, slice) order; the output image's physical point
    # (column, row, 0) is mapped to the input's, whose voxel indices are shifted by the padding.
    to_xyz = box2voxel[:3][::-1]
    matrix = np.column_stack([to_xyz[:, 1], to_xyz[:, 0], to_xyz[:, 2]])
    transform = sitk.AffineTransform(3)
    transform.SetMatrix(matrix.ravel().tolist())
    transform.SetTranslation((to_xyz[:, 3] + 1.0).tolist())
    resampler = sitk.ResampleImageFilter()
    resampler.SetSize((int(shape[1]), int(shape[0]), 1))
    resampler.SetTransform(transform)
    resampler.SetInterpolator(sitk.sitkLinear)
    resampler.SetOutputPixelType(sitk.sitkFloat32)
    resampler.SetDefaultPixelValue(0.0)
    return sitk.GetArrayFromImage(resampler.Execute(image))[0]


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
    """Make the fast sampler's copy of a volume now (e.g. in the loading worker).

    Otherwise the first oblique frame of the volume makes it: about 0.5 s for a 512x512x300 CT.
    It holds as much memory as the volume's array, until the volume is released.
    """
    _itk_image(volume)


def _itk_image(volume: Volume) -> sitk.Image | None:
    """The volume as a SimpleITK image padded by one edge voxel on every side (cached).

    The padding makes ITK interpolate the outer half voxel like the clamped reference instead
    of treating it as outside. ``None`` for volumes over :data:`ITK_COPY_LIMIT_BYTES`.
    """
    array = volume.array
    if array.dtype == np.bool_:
        array = array.view(np.uint8)
    if array.nbytes > ITK_COPY_LIMIT_BYTES or array.dtype.newbyteorder("=") not in _ITK_DTYPES:
        return None
    with _images_lock:
        image = _images.get(volume)
        if image is None:
            padded = np.pad(array, 1, mode="edge").astype(array.dtype.newbyteorder("="), copy=False)
            image = sitk.GetImageFromArray(padded)
            _images[volume] = image
        return image


_ITK_DTYPES = {
    np.dtype(t)
    for t in (np.uint8, np.int8, np.uint16, np.int16, np.uint32, np.int32, np.float32, np.float64)
}
