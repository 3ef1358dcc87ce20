"""Round brush and eraser on a label mask: a 3-D ball or a 2-D disc, radius in mm.

The brush changes the given boolean mask in place and returns the box it touched, so an undo
step only has to keep that region. Voxel sizes come from the grid's ``voxel2patient`` (anisotropic
and sheared grids give a true sphere in mm, not in voxels).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from viewer.segmentation._grid import (
    Box,
    check_mask,
    distance_mm_in_box,
    ellipsoid_box,
    linear_part,
)


def paint_ball(
    mask: np.ndarray,
    center: Sequence[float],
    *,
    radius_mm: float,
    voxel2patient: np.ndarray,
    value: bool = True,
    axis: int | None = None,
    image: np.ndarray | None = None,
    intensity_range: tuple[float, float] | None = None,
) -> Box | None:
    """Paint (or erase) every voxel whose centre lies within ``radius_mm`` of ``center``.

    Parameters
    ----------
    mask : ndarray of bool, shape (Z, Y, X)
        Label mask on the visit's native grid; changed in place.
    center : sequence of 3 float
        Brush centre in (fractional) voxel indices (slice, row, column).
    radius_mm : float
        Brush radius in mm.
    voxel2patient : ndarray of shape (4, 4)
        The grid's voxel -> LPS mm affine (only its linear part matters).
    value : bool, optional
        True paints, False erases.
    axis : {None, 0, 1, 2}, optional
        None paints a 3-D ball. An array axis paints a 2-D disc on the single native slice
        ``round(center[axis])`` perpendicular to that axis (0: the acquired slices).
    image : ndarray of shape (Z, Y, X), optional
        Intensities on the same grid; required with ``intensity_range``.
    intensity_range : (float, float), optional
        Only voxels with ``low <= image <= high`` (image units) are changed.

    Returns
    -------
    Box or None
        The region of ``mask`` that may have changed; None when the brush lies outside the grid.
    """
    check_mask(mask, None if image is None else image.shape)
    if radius_mm <= 0:
        raise ValueError(f"brush radius must be positive, got {radius_mm} mm")
    if intensity_range is not None and image is None:
        raise ValueError("an intensity range needs the image")
    linear = linear_part(voxel2patient)
    center = np.asarray(center, dtype=np.float64)
    box = ellipsoid_box(center, radius_mm, linear, mask.shape)
    if box is None:
        return None
    if axis is not None:
        index = int(np.floor(center[axis] + 0.5))
        if not 0 <= index < mask.shape[axis]:
            return None
        box = tuple(slice(index, index + 1) if a == axis else s for a, s in enumerate(box))
        # the disc lies in the slice: distances are measured within it, not to the off-slice centre
        center = center.copy()
        center[axis] = index
    inside = distance_mm_in_box(center, box, linear) <= radius_mm
    if intensity_range is not None:
        low, high = intensity_range
        region = image[box]
        inside &= (region >= low) & (region <= high)
    mask[box][inside] = value
    return box
