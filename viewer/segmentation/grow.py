"""Click-to-grow: a 3-D region grown from one click, with a threshold range read off the click.

The range starts from robust statistics of a small ball around the seed (median and scaled median
absolute deviation), and is then re-estimated from the grown region itself (mean and standard
deviation, like ITK's confidence-connected filter), which lets a click near a lesion's edge still
find the whole lesion. A re-estimate that suddenly inflates the region has let in neighbouring
tissue of a similar level (on real T1c: cortex next to an enhancing rim), so it is rejected and the
previous range kept. The region is the 6-connected component of in-range voxels holding the
seed, within a maximum radius in mm.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from skimage.segmentation import morphological_chan_vese

from viewer.segmentation._grid import (
    Box,
    bounding_box,
    distance_mm_in_box,
    ellipsoid_box,
    linear_part,
)

_MAD_TO_SIGMA = 1.4826  # MAD of a normal distribution times this is its standard deviation
_SHELL_MM = 3.0  # the surroundings are sampled 1.5 to 4.5 mm outside the region
_EDGE_PASSES = 4
# after the first edge pass only refines the range, the region changes by a few percent; a pass
# that grows it by more than half has let in neighbouring tissue of a similar level (a leak)
_LEAK_GROWTH = 1.5
_FACE_CONNECTED = ndimage.generate_binary_structure(3, 1)


@dataclass(frozen=True)
class GrowResult:
    """A grown region, offered as a preview.

    Attributes
    ----------
    mask : ndarray of bool, shape (Z, Y, X)
        The region on the image's grid.
    box : Box or None
        Bounding box of ``mask`` (None when it is empty).
    low, high : float
        Final intensity range used, image units (the UI can show it next to the slider).
    """

    mask: np.ndarray
    box: Box | None
    low: float
    high: float


def estimate_range(samples: np.ndarray, *, sensitivity: float = 1.0) -> tuple[float, float]:
    """Intensity range ``median -/+ k * robust sigma`` of samples, ``k = 2.5 * sensitivity``.

    Examples
    --------
    >>> estimate_range(np.array([9.0, 10.0, 11.0]), sensitivity=1.0)
    (6.2935, 13.7065)
    """
    values = np.asarray(samples, dtype=np.float64).ravel()
    if values.size == 0:
        raise ValueError("no samples to estimate an intensity range from")
    median = float(np.median(values))
    sigma = _MAD_TO_SIGMA * float(np.median(np.abs(values - median)))
    spread = 2.5 * sensitivity * sigma
    return median - spread, median + spread


def grow_from_seed(
    image: np.ndarray,
    seed: Sequence[int],
    *,
    voxel2patient: np.ndarray,
    sensitivity: float = 1.0,
    max_radius_mm: float = 40.0,
    neighbourhood_radius_mm: float = 3.0,
    refine: bool = False,
) -> GrowResult:
    """Grow the connected region of voxels similar to the clicked one.

    Parameters
    ----------
    image : ndarray of shape (Z, Y, X)
        Intensities on the visit's native grid (image units).
    seed : sequence of 3 int
        Clicked voxel (slice, row, column).
    voxel2patient : ndarray of shape (4, 4)
        The grid's voxel -> LPS mm affine.
    sensitivity : float, optional
        Width of the accepted range in robust standard deviations / 2.5 (the UI's slider): larger
        grows further. Must be positive.
    max_radius_mm : float, optional
        The region never reaches further than this from the seed, mm.
    neighbourhood_radius_mm : float, optional
        Radius of the ball around the seed whose intensities give the first range, mm.
    refine : bool, optional
        Refine the grown region with a morphological Chan-Vese active contour on its box.

    Returns
    -------
    GrowResult
    """
    if image.ndim != 3:
        raise ValueError(f"image must be 3-D, got shape {image.shape}")
    if sensitivity <= 0 or max_radius_mm <= 0 or neighbourhood_radius_mm <= 0:
        raise ValueError("sensitivity and radii must be positive")
    seed = tuple(int(v) for v in seed)
    if not all(0 <= s < n for s, n in zip(seed, image.shape, strict=True)):
        raise IndexError(f"seed {seed} outside the image of shape {image.shape}")
    linear = linear_part(voxel2patient)
    box = ellipsoid_box(seed, max_radius_mm, linear, image.shape)
    crop = np.asarray(image[box], dtype=np.float32)
    distance = distance_mm_in_box(seed, box, linear)
    within = distance <= max_radius_mm
    local_seed = tuple(s - b.start for s, b in zip(seed, box, strict=True))

    seed_value = float(crop[local_seed])
    near = crop[distance <= neighbourhood_radius_mm].astype(np.float64)
    # a click on a thin rim has other tissue in its ball: keep the half most like the clicked voxel
    near = near[np.argsort(np.abs(near - seed_value))[: max(1, (near.size + 1) // 2)]]
    low, high = estimate_range(near, sensitivity=1.0)
    core = _component(crop, within, local_seed, min(low, seed_value), max(high, seed_value))
    region = core
    # each pass moves the shell further out until it samples the surroundings, not the lesion
    for edge_pass in range(_EDGE_PASSES):
        edge_low, edge_high = _edge_range(crop, region, within, linear, sensitivity)
        # the range only widens: a shell still inside the lesion must not shrink the region
        wider_low, wider_high = min(low, edge_low, seed_value), max(high, edge_high, seed_value)
        grown = _component(crop, within, local_seed, wider_low, wider_high)
        if edge_pass > 0 and grown.sum() > _LEAK_GROWTH * region.sum():
            break  # keep the previous region and its range
        low, high = wider_low, wider_high
        if np.array_equal(grown, region):
            break
        region = grown
    if refine:
        region = _refine(crop, region, within, local_seed)
    mask = np.zeros(image.shape, dtype=bool)
    mask[box] = region
    return GrowResult(mask, bounding_box(mask), low, high)


def _edge_range(
    crop: np.ndarray, core: np.ndarray, within: np.ndarray, linear: np.ndarray, sensitivity: float
) -> tuple[float, float]:
    """Range with its edge between the core's level and its surroundings' (1.5-4.5 mm out).

    With sensitivity 1 the edge is half-way, where a blurred boundary crosses the true edge.
    """
    box = bounding_box(core)
    margin_vox = np.ceil(1.5 * _SHELL_MM / np.linalg.norm(linear, axis=0)).astype(int) + 1
    grown = tuple(
        slice(max(s.start - m, 0), min(s.stop + m, n))
        for s, m, n in zip(box, margin_vox, crop.shape, strict=True)
    )
    sub_core = core[grown]
    spacing = np.linalg.norm(linear, axis=0)
    outside_mm = ndimage.distance_transform_edt(~sub_core, sampling=spacing)
    # skip the first shell mm: its voxels are partly lesion (blur, partial volume)
    shell = (outside_mm > _SHELL_MM / 2) & (outside_mm <= _SHELL_MM * 1.5)
    shell &= within[grown]
    level = float(np.median(crop[core]))
    if not shell.any():
        return float(crop[core].min()), float(crop[core].max())
    surround = float(np.median(crop[grown][shell]))
    fraction = min(0.5 * sensitivity, 0.95)
    edge = level + (surround - level) * fraction
    # the range stops at the edge on the surroundings' side; the far side allows twice as much
    # (enhancement is brightest where it is thickest, and a cavity darkest at its centre)
    if surround < level:
        return edge, level + 2 * (level - edge)
    return level - 2 * (edge - level), edge


def _component(
    crop: np.ndarray, within: np.ndarray, seed: tuple[int, int, int], low: float, high: float
) -> np.ndarray:
    candidates = within & (crop >= low) & (crop <= high)
    labels, _ = ndimage.label(candidates, structure=_FACE_CONNECTED)
    return labels == labels[seed]


def _refine(
    crop: np.ndarray, region: np.ndarray, within: np.ndarray, seed: tuple[int, int, int]
) -> np.ndarray:
    """Morphological Chan-Vese started from the region, on its box grown by a margin of 3 voxels."""
    box = bounding_box(region)
    margin = tuple(
        slice(max(s.start - 3, 0), min(s.stop + 3, n)) for s, n in zip(box, crop.shape, strict=True)
    )
    sub = crop[margin].astype(np.float64)
    span = float(sub.max() - sub.min()) or 1.0
    level = morphological_chan_vese((sub - sub.min()) / span, 5, init_level_set=region[margin])
    refined = np.zeros_like(region)
    refined[margin] = level.astype(bool)
    refined &= within
    labels, _ = ndimage.label(refined, structure=_FACE_CONNECTED)
    if labels[seed] == 0:  # the contour left the seed: keep the unrefined region
        return region
    return labels == labels[seed]
