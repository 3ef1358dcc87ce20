"""Clean-up of a label mask: remove islands, fill holes, smooth; each returns a new mask.

Sizes are in mm and mL on the visit's native grid, so the same setting means the same thing on
a 1 mm isotropic T1 and on a 5 mm-slice FLAIR.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
from scipy import ndimage

from viewer.segmentation._grid import (
    bounding_box,
    check_mask,
    distance_mm_in_box,
    linear_part,
)

_MM3_PER_ML = 1000.0


def remove_islands(
    mask: np.ndarray,
    *,
    voxel2patient: np.ndarray,
    min_volume_ml: float | None = None,
    seed: Sequence[int] | None = None,
    connectivity: int = 1,
) -> np.ndarray:
    """Keep the large connected components, or only the one holding a seed voxel.

    Parameters
    ----------
    mask : ndarray of bool, shape (Z, Y, X)
        Label mask on the visit's native grid. Not changed.
    voxel2patient : ndarray of shape (4, 4)
        The grid's voxel -> LPS mm affine (gives the voxel volume in mm^3).
    min_volume_ml : float, optional
        Components of at least this volume, mL (1 mL = 1000 mm^3), are kept.
    seed : sequence of 3 int, optional
        A voxel (slice, row, column): only the component holding it is kept (none when the seed
        is not in the mask). Give exactly one of ``min_volume_ml`` and ``seed``.
    connectivity : {1, 2, 3}, optional
        Neighbours that join voxels: 1 faces (6-connected, as click-to-grow), 2 also edges
        (18), 3 also corners (26).

    Returns
    -------
    ndarray of bool, shape (Z, Y, X)
    """
    check_mask(mask)
    if (min_volume_ml is None) == (seed is None):
        raise ValueError("give exactly one of min_volume_ml and seed")
    if connectivity not in (1, 2, 3):
        raise ValueError(f"connectivity must be 1, 2 or 3, got {connectivity}")
    if seed is not None:
        seed = tuple(int(v) for v in seed)
        if not all(0 <= s < n for s, n in zip(seed, mask.shape, strict=True)):
            raise IndexError(f"seed {seed} outside the mask of shape {mask.shape}")
    elif min_volume_ml < 0:
        raise ValueError(f"minimum volume must not be negative, got {min_volume_ml} mL")
    voxel_ml = abs(np.linalg.det(linear_part(voxel2patient))) / _MM3_PER_ML
    result = np.zeros_like(mask)
    box = bounding_box(mask)
    if box is None:
        return result
    # labelling only the mask's box keeps a 256^3 grid with a small lesion fast
    structure = ndimage.generate_binary_structure(3, connectivity)
    labels, count = ndimage.label(mask[box], structure=structure)
    if seed is not None:
        if all(b.start <= s < b.stop for s, b in zip(seed, box, strict=True)):
            local = labels[tuple(s - b.start for s, b in zip(seed, box, strict=True))]
            result[box] = (labels == local) & (local > 0)
        return result
    sizes_ml = np.bincount(labels.ravel(), minlength=count + 1) * voxel_ml
    keep = sizes_ml >= min_volume_ml
    keep[0] = False  # label 0 is the background
    result[box] = keep[labels]
    return result


def fill_holes(mask: np.ndarray, *, axis: int | None = None) -> np.ndarray:
    """Fill the background regions enclosed by the mask, in 3-D or slice by slice.

    Parameters
    ----------
    mask : ndarray of bool, shape (Z, Y, X)
        Label mask. Not changed.
    axis : {None, 0, 1, 2}, optional
        None fills cavities enclosed in 3-D (a necrotic core fully wrapped by enhancing rim).
        An array axis fills, on every slice across that axis, the holes enclosed within the
        slice (a rim open above or below is still filled on each slice).

    Returns
    -------
    ndarray of bool, shape (Z, Y, X)
    """
    check_mask(mask)
    if axis not in (None, 0, 1, 2):
        raise ValueError(f"axis must be None, 0, 1 or 2, got {axis}")
    box = bounding_box(mask)
    result = mask.copy()
    if box is None:
        return result
    # every hole lies in the mask's box; a ring of background around it stands for the outside
    box = tuple(
        slice(max(s.start - 1, 0), min(s.stop + 1, n)) for s, n in zip(box, mask.shape, strict=True)
    )
    result[box] = _fill_holes_in(mask[box], axis)
    return result


def _fill_holes_in(mask: np.ndarray, axis: int | None) -> np.ndarray:
    """:func:`fill_holes` on a box of the mask."""
    if axis is None:
        return ndimage.binary_fill_holes(mask)
    # in-plane neighbours only; a foreground slice before and after stops the first and last
    # slices from counting as array border, so each slice is filled as a 2-D image
    structure = ndimage.generate_binary_structure(3, 1)
    structure[tuple(slice(None) if a != axis else [0, 2] for a in range(3))] = False
    width = [(1, 1) if a == axis else (0, 0) for a in range(3)]
    padded = np.pad(mask, width, constant_values=True)
    filled = ndimage.binary_fill_holes(padded, structure=structure)
    return filled[tuple(slice(1, -1) if a == axis else slice(None) for a in range(3))]


def smooth(
    mask: np.ndarray,
    *,
    radius_mm: float,
    voxel2patient: np.ndarray,
    operation: Literal["open", "close", "open-close"] = "open-close",
) -> np.ndarray:
    """Morphological opening and/or closing with a ball of radius in mm.

    Opening removes spurs, bridges and specks thinner than the ball; closing fills notches and
    gaps narrower than it. The ball is a true ball in mm, so on a grid with thick slices it
    reaches fewer voxels across slices than in-plane (and none when the slice step exceeds the
    radius: then each slice is smoothed on its own).

    Parameters
    ----------
    mask : ndarray of bool, shape (Z, Y, X)
        Label mask on the visit's native grid. Not changed.
    radius_mm : float
        Radius of the structuring ball, mm.
    voxel2patient : ndarray of shape (4, 4)
        The grid's voxel -> LPS mm affine.
    operation : {"open", "close", "open-close"}, optional
        "open-close" opens then closes.

    Returns
    -------
    ndarray of bool, shape (Z, Y, X)
        Outlines cut by the edge of the grid are treated as continuing beyond it.
    """
    check_mask(mask)
    if radius_mm <= 0:
        raise ValueError(f"smoothing radius must be positive, got {radius_mm} mm")
    if operation not in ("open", "close", "open-close"):
        raise ValueError(f"operation must be 'open', 'close' or 'open-close', got {operation!r}")
    ball = _ball(radius_mm, linear_part(voxel2patient))
    half = np.array(ball.shape) // 2
    box = bounding_box(mask)
    if box is None:
        return mask.copy()
    # closing adds nothing further than the ball's reach; twice that leaves a background margin
    crop = tuple(
        slice(max(s.start - 2 * h, 0), min(s.stop + 2 * h, n))
        for s, h, n in zip(box, half, mask.shape, strict=True)
    )
    # edge padding continues outlines cut by the grid's edge instead of eroding them there; the
    # closing's erosion reads its dilation up to one reach out, which reads one reach further
    pad = 2 * half
    work = np.pad(mask[crop], [(p, p) for p in pad], mode="edge")
    if operation in ("open", "open-close"):
        work = ndimage.binary_opening(work, structure=ball)
    if operation in ("close", "open-close"):
        work = ndimage.binary_closing(work, structure=ball)
    result = np.zeros_like(mask)
    result[crop] = work[
        tuple(slice(p, p + s.stop - s.start) for p, s in zip(pad, crop, strict=True))
    ]
    return result


def _ball(radius_mm: float, linear: np.ndarray) -> np.ndarray:
    """Structuring element: the voxel offsets whose length in mm is at most ``radius_mm``.

    Its half-extent along array axis ``i`` is ``r * sqrt(inv(linear.T @ linear)[i, i])`` voxels
    (as in :func:`viewer.segmentation._grid.ellipsoid_box`).
    """
    reach = np.floor(radius_mm * np.sqrt(np.diag(np.linalg.inv(linear.T @ linear))) + 1e-9)
    centred = tuple(slice(0, 2 * int(r) + 1) for r in reach)
    return distance_mm_in_box(reach, centred, linear) <= radius_mm
