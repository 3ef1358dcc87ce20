"""Freehand contour and polygon: a closed outline on one native slice, filled, added or cut."""

from __future__ import annotations

import numpy as np
from skimage.draw import polygon

from viewer.segmentation._grid import Box, check_mask


def fill_polygon(
    mask: np.ndarray,
    vertices: np.ndarray,
    *,
    axis: int,
    index: int,
    value: bool = True,
) -> Box | None:
    """Fill a closed outline on one slice of the mask: add it (``value=True``) or cut it out.

    Parameters
    ----------
    mask : ndarray of bool, shape (Z, Y, X)
        Label mask; changed in place.
    vertices : ndarray of shape (N, 2)
        Outline points in voxel indices of the two array axes other than ``axis``, in increasing
        axis order (for ``axis=0``: (row, column)). The outline is closed implicitly; a freehand
        stroke is just a polygon with many vertices.
    axis : {0, 1, 2}
        Array axis perpendicular to the slice.
    index : int
        Slice index along ``axis``.
    value : bool, optional
        True adds the enclosed voxels, False removes them.

    Returns
    -------
    Box or None
        The changed region; None when fewer than 3 vertices or no voxel centre is enclosed.
    """
    check_mask(mask)
    if axis not in (0, 1, 2):
        raise ValueError(f"axis must be 0, 1 or 2, got {axis}")
    if not 0 <= index < mask.shape[axis]:
        raise IndexError(f"slice {index} outside 0..{mask.shape[axis] - 1} along axis {axis}")
    points = np.asarray(vertices, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"vertices must have shape (N, 2), got {points.shape}")
    if len(points) < 3:
        return None
    plane = np.moveaxis(mask, axis, 0)[index]  # a view: writing it writes the mask
    rows, columns = polygon(points[:, 0], points[:, 1], shape=plane.shape)
    if rows.size == 0:
        return None
    plane[rows, columns] = value
    in_plane = (
        slice(int(rows.min()), int(rows.max()) + 1),
        slice(int(columns.min()), int(columns.max()) + 1),
    )
    box = list(in_plane)
    box.insert(axis, slice(index, index + 1))
    return tuple(box)
