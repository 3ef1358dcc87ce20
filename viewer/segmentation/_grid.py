"""Grid helpers shared by the outlining tools: bounding boxes and distances in mm.

A ``Box`` is a tuple of three slices ``(slice, row, column)`` indexing a label map; the editing
tools return the box they changed so the caller can save just that region for undo.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from viewer.core.geometry import bounding_box

Box = tuple[slice, slice, slice]

__all__ = ["Box", "bounding_box"]  # bounding_box lives in core: the undo history needs it too


def linear_part(voxel2patient: np.ndarray) -> np.ndarray:
    """(3, 3) matrix mapping a voxel-index offset (slice, row, column) to an LPS offset in mm."""
    matrix = np.asarray(voxel2patient, dtype=np.float64)
    if matrix.shape != (4, 4) or not np.all(np.isfinite(matrix)):
        raise ValueError("voxel2patient must be a finite (4, 4) matrix")
    linear = matrix[:3, :3]
    if abs(np.linalg.det(linear)) < 1e-12:
        raise ValueError("voxel2patient is singular")
    return linear


def ellipsoid_box(
    center: Sequence[float], radius_mm: float, linear: np.ndarray, shape: Sequence[int]
) -> Box | None:
    """Smallest box of voxels that can lie within ``radius_mm`` of ``center``, clipped to ``shape``.

    The set of voxel offsets ``d`` with ``|linear @ d| <= r`` is an ellipsoid whose half-extent
    along array axis ``i`` is ``r * sqrt(inv(linear.T @ linear)[i, i])``, exact for sheared grids.

    Returns
    -------
    Box or None
        None when the ball misses the grid entirely.
    """
    half = radius_mm * np.sqrt(np.diag(np.linalg.inv(linear.T @ linear)))
    c = np.asarray(center, dtype=np.float64)
    low = np.maximum(np.ceil(c - half - 1e-9).astype(int), 0)
    high = np.minimum(np.floor(c + half + 1e-9).astype(int) + 1, np.asarray(shape))
    if np.any(high <= low):
        return None
    return tuple(slice(int(a), int(b)) for a, b in zip(low, high, strict=True))


def distance_mm_in_box(center: Sequence[float], box: Box, linear: np.ndarray) -> np.ndarray:
    """Distance in mm from ``center`` (voxel indices) to every voxel centre of ``box``.

    Returns
    -------
    ndarray of shape of the box, float64
    """
    axes = [
        np.arange(s.start, s.stop, dtype=np.float64) - c for s, c in zip(box, center, strict=True)
    ]
    offsets = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1)
    return np.linalg.norm(offsets @ linear.T, axis=-1)


def union_box(a: Box | None, b: Box | None) -> Box | None:
    """Smallest box holding two boxes (None is the empty box)."""
    if a is None or b is None:
        return b if a is None else a
    return tuple(
        slice(min(x.start, y.start), max(x.stop, y.stop)) for x, y in zip(a, b, strict=True)
    )


def check_mask(mask: np.ndarray, shape: Sequence[int] | None = None) -> None:
    """Raise ValueError unless ``mask`` is a writable 3-D boolean array (of ``shape`` if given)."""
    if mask.dtype != np.bool_ or mask.ndim != 3:
        raise ValueError(f"a label mask must be a 3-D bool array, got {mask.dtype} {mask.shape}")
    if shape is not None and tuple(mask.shape) != tuple(shape):
        raise ValueError(f"mask shape {mask.shape} does not match the image shape {tuple(shape)}")
