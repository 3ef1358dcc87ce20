"""Compiled (numba) trilinear sampler of a plane: reads the volume's own array, no copy.

Screen pixel ``(row, column)`` maps to the fractional voxel index
``row * row_step + column * column_step + start`` (slice, row, column), the same arithmetic as the
coordinate arrays of :func:`viewer.display.sampling.trilinear_reference`; the index is clamped to
the array, as ``scipy.ndimage.map_coordinates(order=1, mode="nearest")`` does, so both agree
within float32 rounding.

One thread per frame: it releases the GIL, so linked views drawn from a thread pool use both
cores. A ``parallel=True`` kernel (rows split over 2 OpenMP threads) measured the same when the
machine was quiet and 8 ms instead of 3 whenever another process held a core (the half frame
given to the waiting thread waits for a time slice), and it needs a thread-safe threading layer.

The kernel is compiled once per array dtype and layout on first use (about 0.5-1 s) and cached on
disk by numba (``cache=True``), so later runs load it in milliseconds; :func:`warm_up` pays that
cost in a worker thread before the first frame needs it.
"""

from __future__ import annotations

import numba
import numpy as np

SUPPORTED_DTYPES = frozenset(
    np.dtype(t)
    for t in (np.uint8, np.int8, np.uint16, np.int16, np.uint32, np.int32, np.float32, np.float64)
)
"""Native-byte-order dtypes the kernel samples; others go to scipy."""


@numba.njit(nogil=True, cache=True, boundscheck=False, fastmath=True)
def _trilinear_rows(array, start, row_step, column_step, first, last, out):
    nz, ny, nx = array.shape
    rows, columns = out.shape
    z_max, y_max, x_max = nz - 1.0, ny - 1.0, nx - 1.0
    for r in range(rows):
        # Only each row's run on the volume is sampled; the rest of the row is 0.
        for c in range(min(first[r], columns)):
            out[r, c] = 0.0
        for c in range(max(last[r] + 1, 0), columns):
            out[r, c] = 0.0
        z_row = r * row_step[0] + start[0]
        y_row = r * row_step[1] + start[1]
        x_row = r * row_step[2] + start[2]
        for c in range(max(first[r], 0), min(last[r] + 1, columns)):
            # clamped, so int() is floor; the upper corner index stays in the array
            z = min(max(z_row + c * column_step[0], 0.0), z_max)
            y = min(max(y_row + c * column_step[1], 0.0), y_max)
            x = min(max(x_row + c * column_step[2], 0.0), x_max)
            iz, iy, ix = (
                max(min(int(z), nz - 2), 0),
                max(min(int(y), ny - 2), 0),
                max(min(int(x), nx - 2), 0),
            )
            jz, jy, jx = min(iz + 1, nz - 1), min(iy + 1, ny - 1), min(ix + 1, nx - 1)
            fz, fy, fx = z - iz, y - iy, x - ix
            a = array[iz, iy, ix] * (1.0 - fx) + array[iz, iy, jx] * fx
            b = array[iz, jy, ix] * (1.0 - fx) + array[iz, jy, jx] * fx
            d = array[jz, iy, ix] * (1.0 - fx) + array[jz, iy, jx] * fx
            e = array[jz, jy, ix] * (1.0 - fx) + array[jz, jy, jx] * fx
            near = a * (1.0 - fy) + b * fy
            far = d * (1.0 - fy) + e * fy
            out[r, c] = near * (1.0 - fz) + far * fz


def supports(array: np.ndarray) -> bool:
    """Whether :func:`trilinear` can sample ``array`` (3-D, a supported native dtype, or bool)."""
    dtype = np.dtype(np.uint8) if array.dtype == np.bool_ else array.dtype
    return array.ndim == 3 and min(array.shape) > 0 and dtype in SUPPORTED_DTYPES


def trilinear(
    array: np.ndarray,
    slice2voxel: np.ndarray,
    shape: tuple[int, int],
    first: np.ndarray,
    last: np.ndarray,
) -> np.ndarray:
    """Trilinear sample of a plane (edges clamped), only on each row's run of inside columns.

    Parameters
    ----------
    array : ndarray of shape (Z, Y, X)
        A dtype for which :func:`supports` holds.
    slice2voxel : ndarray of shape (4, 4)
        Grid ``(row, column, 0, 1)`` -> fractional voxel index ``(slice, row, column)``.
    shape : tuple of 2 int
        (rows, columns) of the grid.
    first, last : ndarray of int, shape (rows,)
        First and last column sampled in each row (``first > last``: none).

    Returns
    -------
    ndarray of float32, shape ``shape``
        0 outside each row's ``first..last``.
    """
    if array.dtype == np.bool_:
        array = array.view(np.uint8)
    out = np.empty(shape, np.float32)
    _trilinear_rows(
        array,
        np.ascontiguousarray(slice2voxel[:3, 3], dtype=np.float64),
        np.ascontiguousarray(slice2voxel[:3, 0], dtype=np.float64),
        np.ascontiguousarray(slice2voxel[:3, 1], dtype=np.float64),
        np.ascontiguousarray(first, dtype=np.intp),
        np.ascontiguousarray(last, dtype=np.intp),
        out,
    )
    return out


def warm_up(array: np.ndarray) -> None:
    """Compile (or load from numba's disk cache) the kernel for ``array``'s dtype and layout.

    Call it off the GUI thread, e.g. in the loading worker
    (:func:`viewer.display.sampling.prepare`); the first frame otherwise pays for it.
    """
    if supports(array):
        corner = array[:2, :2, :2]
        if array.flags.c_contiguous:
            corner = np.ascontiguousarray(corner)
        trilinear(corner, np.eye(4), (1, 1), np.zeros(1, np.intp), np.zeros(1, np.intp))
