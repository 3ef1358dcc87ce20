"""Outline agreement on one grid: Dice and surface distances in millimetres.

Surface voxels are a mask's voxels with at least one face neighbour outside it. The distance from
a surface voxel of one outline to the other outline is the Euclidean distance, in mm with the
grid's own (anisotropic) spacing, to the nearest surface voxel of the other, between voxel
centres. The symmetric 95th-percentile Hausdorff distance (HD95) is the larger of the two
directed 95th percentiles (the convention of the BraTS challenges, MONAI and DeepMind's
surface-distance); the Hausdorff distance is the larger of the two directed maxima.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy import ndimage

from viewer.core.geometry import bounding_box

_FACES = ndimage.generate_binary_structure(3, 1)


class SurfaceDistance(NamedTuple):
    """Symmetric surface distances between two outlines, mm."""

    hd95_mm: float
    hausdorff_mm: float


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice coefficient of two masks on the same grid, 0..1.

    Parameters
    ----------
    a, b : ndarray of bool, shape (Z, Y, X)

    Returns
    -------
    float
        ``2 |a & b| / (|a| + |b|)``.

    Raises
    ------
    ValueError
        Both masks are empty (there is nothing to agree on), or the shapes differ.

    Examples
    --------
    >>> a = np.zeros((1, 1, 4), bool); a[..., :2] = True
    >>> b = np.zeros((1, 1, 4), bool); b[..., 1:] = True
    >>> round(dice(a, b), 4)
    0.4
    """
    a, b = _pair(a, b)
    total = int(np.count_nonzero(a)) + int(np.count_nonzero(b))
    if total == 0:
        raise ValueError("Dice of two empty masks is undefined")
    return 2.0 * int(np.count_nonzero(a & b)) / total


def surface_distance(a: np.ndarray, b: np.ndarray, spacing_mm: np.ndarray) -> SurfaceDistance:
    """HD95 and Hausdorff distance between two outlines on the same grid.

    Parameters
    ----------
    a, b : ndarray of bool, shape (Z, Y, X)
        Both non-empty.
    spacing_mm : array_like of 3 float
        Distance between voxel centres along (slice, row, column), mm.

    Returns
    -------
    SurfaceDistance
        ``(hd95_mm, hausdorff_mm)``; 0 for identical outlines.

    Raises
    ------
    ValueError
        An outline is empty, or the shapes differ.

    Examples
    --------
    Two bars on 2 mm slices, one a slice further than the other:

    >>> a = np.zeros((6, 3, 3), bool); a[1:3] = True
    >>> b = np.zeros((6, 3, 3), bool); b[2:4] = True
    >>> surface_distance(a, b, [2.0, 1.0, 1.0])
    SurfaceDistance(hd95_mm=2.0, hausdorff_mm=2.0)
    """
    a, b = _pair(a, b)
    if not a.any() or not b.any():
        raise ValueError("surface distance needs two non-empty outlines")
    box = bounding_box(a | b)
    assert box is not None
    # one empty voxel around the box, so that voxels at the grid's edge count as surface
    a, b = np.pad(a[box], 1), np.pad(b[box], 1)
    spacing = np.asarray(spacing_mm, dtype=np.float64)
    surface_a, surface_b = _surface(a), _surface(b)
    to_b = ndimage.distance_transform_edt(~surface_b, sampling=spacing)[surface_a]
    to_a = ndimage.distance_transform_edt(~surface_a, sampling=spacing)[surface_b]
    hd95 = max(float(np.percentile(to_b, 95)), float(np.percentile(to_a, 95)))
    return SurfaceDistance(hd95, max(float(to_b.max()), float(to_a.max())))


def _surface(mask: np.ndarray) -> np.ndarray:
    return mask & ~ndimage.binary_erosion(mask, structure=_FACES, border_value=0)


def _pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    if a.shape != b.shape or a.ndim != 3:
        raise ValueError(f"two 3-D masks of one shape are needed, got {a.shape} and {b.shape}")
    return a, b
