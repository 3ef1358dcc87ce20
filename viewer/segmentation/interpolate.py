"""Fill between slices: shape-based interpolation of a mask outlined on a few slices.

Each outlined slice is turned into a signed distance map in mm (negative inside, positive
outside, measured in the slice plane with its own pixel spacing); a slice between two outlined
ones is the zero level of the linear blend of their two maps (Raya & Udupa's shape-based
interpolation). A blend can only be negative where one of the two maps is, so the fill never
leaves the union of the two outlines' in-plane footprints, and nothing is ever added before the
first or after the last outlined slice.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from scipy import ndimage

from viewer.core.geometry import voxel_spacing
from viewer.segmentation._grid import check_mask, linear_part


def fill_between_slices(
    mask: np.ndarray,
    *,
    voxel2patient: np.ndarray,
    axis: int = 0,
    outlined: Iterable[int] | None = None,
) -> np.ndarray:
    """Propose a mask with the slices between outlined ones filled by interpolation.

    Parameters
    ----------
    mask : ndarray of bool, shape (Z, Y, X)
        Label mask on the visit's native grid, outlined on some slices along ``axis``. Not changed.
    voxel2patient : ndarray of shape (4, 4)
        The grid's voxel -> LPS mm affine; the in-plane pixel spacing (mm) is taken from it (the
        lengths of its columns, so a sheared grid is treated as its unsheared equivalent).
    axis : {0, 1, 2}, optional
        Array axis the slices are stacked along (0: the acquired slices).
    outlined : iterable of int, optional
        Indices along ``axis`` of the slices the user outlined. By default every slice holding at
        least one voxel. An outlined but empty slice stops the fill: the gaps on either side of it
        are left alone, so two separate parts are never bridged.

    Returns
    -------
    ndarray of bool, shape (Z, Y, X)
        A new mask: ``mask`` plus the interpolated voxels of the slices strictly between each
        pair of consecutive non-empty outlined slices. Outlined slices are unchanged; with fewer
        than two outlined slices the result equals ``mask``.
    """
    check_mask(mask)
    if axis not in (0, 1, 2):
        raise ValueError(f"axis must be 0, 1 or 2, got {axis}")
    linear_part(voxel2patient)  # validates the affine
    pixel_mm = np.delete(voxel_spacing(voxel2patient), axis)
    stack = np.moveaxis(mask, axis, 0)
    present = stack.any(axis=(1, 2))
    if outlined is None:
        indices = [int(i) for i in np.flatnonzero(present)]
    else:
        indices = sorted({int(i) for i in outlined})
        if indices and not (0 <= indices[0] and indices[-1] < stack.shape[0]):
            raise IndexError(f"outlined slices {indices} outside 0..{stack.shape[0] - 1}")
    result = mask.copy()
    filled = np.moveaxis(result, axis, 0)  # a view: writing it writes result
    for lower, upper in zip(indices[:-1], indices[1:], strict=True):
        if upper - lower < 2 or not (present[lower] and present[upper]):
            continue
        box = _plane_box(stack[lower] | stack[upper])
        below = _signed_distance_mm(stack[lower][box], pixel_mm)
        above = _signed_distance_mm(stack[upper][box], pixel_mm)
        for index in range(lower + 1, upper):
            weight = (index - lower) / (upper - lower)
            filled[index][box] |= (1 - weight) * below + weight * above < 0
    return result


def _plane_box(plane: np.ndarray) -> tuple[slice, slice]:
    """Bounding box of a non-empty 2-D mask grown by one pixel (clipped to the plane).

    The one-pixel ring of background keeps every distance inside the box exact: a path from an
    inside pixel to background outside the box crosses the ring first.
    """
    box = []
    for other in (1, 0):
        present = np.flatnonzero(plane.any(axis=other))
        box.append(slice(max(int(present[0]) - 1, 0), int(present[-1]) + 2))
    return tuple(box)


def _signed_distance_mm(plane: np.ndarray, pixel_mm: np.ndarray) -> np.ndarray:
    """Signed distance in mm between pixel centres and the outline: negative inside.

    Inside pixels get minus the distance to the nearest outside pixel and outside pixels the
    distance to the nearest inside one, so the zero level lies half-way between them.
    """
    if plane.all():  # no background to measure from: the whole box is deep inside
        return -np.full(plane.shape, float(np.hypot(*(pixel_mm * plane.shape))))
    outside_mm = ndimage.distance_transform_edt(~plane, sampling=pixel_mm)
    inside_mm = ndimage.distance_transform_edt(plane, sampling=pixel_mm)
    return outside_mm - inside_mm
