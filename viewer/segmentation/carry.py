"""Carry forward: map a lesion's mask from one visit's grid to another's through the registrations.

Both registrations map their visit's patient space (LPS mm) to the reference series' patient
space, so visit B's voxel ``v`` samples visit A's mask at
``inv(A voxel2patient) @ inv(A moving2reference) @ B moving2reference @ B voxel2patient @ v``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from viewer.core.transform import Transform
from viewer.segmentation._grid import bounding_box
from viewer.segmentation.grow import GrowResult, grow_from_seed


def carry_forward(
    mask: np.ndarray,
    *,
    source_voxel2patient: np.ndarray,
    source_to_reference: Transform,
    target_shape: Sequence[int],
    target_voxel2patient: np.ndarray,
    target_to_reference: Transform,
) -> np.ndarray:
    """Resample a mask from the source visit's grid onto the target visit's grid (nearest voxel).

    Parameters
    ----------
    mask : ndarray of bool, shape (Z, Y, X)
        The lesion on the source visit's native grid.
    source_voxel2patient, target_voxel2patient : ndarray of shape (4, 4)
        Voxel -> LPS mm affines of the two grids.
    source_to_reference, target_to_reference : Transform
        Each visit's registration to the reference series (patient mm -> reference patient mm).
    target_shape : sequence of 3 int
        Shape (Z, Y, X) of the target grid.

    Returns
    -------
    ndarray of bool, shape ``target_shape``
        A new mask, offered as an editable start.
    """
    target_shape = tuple(int(n) for n in target_shape)
    result = np.zeros(target_shape, dtype=bool)
    box = bounding_box(mask)
    if box is None:
        return result
    target2source = (
        np.linalg.inv(source_voxel2patient)
        @ source_to_reference.reference2moving
        @ target_to_reference.moving2reference
        @ np.asarray(target_voxel2patient, dtype=np.float64)
    )
    # only the target box covering the mapped source box is resampled
    corners = np.array(
        [
            [b.start - 0.5 if k else b.stop - 0.5 for k, b in zip(bits, box, strict=True)]
            for bits in np.ndindex(2, 2, 2)
        ],
        dtype=np.float64,
    )
    source2target = np.linalg.inv(target2source)
    mapped = corners @ source2target[:3, :3].T + source2target[:3, 3]
    low = np.maximum(np.floor(mapped.min(axis=0)).astype(int), 0)
    high = np.minimum(np.ceil(mapped.max(axis=0)).astype(int) + 1, target_shape)
    if np.any(high <= low):
        return result
    offset = target2source[:3, :3] @ low + target2source[:3, 3]
    result[tuple(slice(a, b) for a, b in zip(low, high, strict=True))] = ndimage.affine_transform(
        mask.astype(np.uint8),
        target2source[:3, :3],
        offset=offset,
        output_shape=tuple(high - low),
        order=0,
        mode="constant",
        cval=0,
    ).astype(bool)
    return result


def refit(
    carried: np.ndarray,
    image: np.ndarray,
    *,
    voxel2patient: np.ndarray,
    sensitivity: float = 1.0,
    max_radius_mm: float = 60.0,
) -> GrowResult:
    """Re-fit a carried mask to this visit's image with the grow tool.

    The seed is the carried voxel where the lightly smoothed image (Gaussian, 1 voxel) is
    brightest: the most enhancing point of the old outline, since a lesion that changed usually
    still enhances where it did.

    Parameters
    ----------
    carried : ndarray of bool, shape (Z, Y, X)
        Output of :func:`carry_forward` on this image's grid.
    image : ndarray of shape (Z, Y, X)
    voxel2patient : ndarray of shape (4, 4)
    sensitivity, max_radius_mm : float, optional
        As in :func:`viewer.segmentation.grow.grow_from_seed`.

    Returns
    -------
    GrowResult

    Raises
    ------
    ValueError
        When the carried mask is empty (it fell outside this visit's grid).
    """
    box = bounding_box(carried)
    if box is None:
        raise ValueError("the carried outline is empty on this visit's grid")
    smoothed = ndimage.gaussian_filter(np.asarray(image[box], dtype=np.float32), 1.0)
    smoothed[~carried[box]] = -np.inf
    local = np.unravel_index(int(np.argmax(smoothed)), smoothed.shape)
    seed = tuple(int(i + b.start) for i, b in zip(local, box, strict=True))
    return grow_from_seed(
        image,
        seed,
        voxel2patient=voxel2patient,
        sensitivity=sensitivity,
        max_radius_mm=max_radius_mm,
    )
