"""Threshold within a region: the voxels of a box or mask whose intensity lies in a range."""

from __future__ import annotations

import numpy as np

from viewer.segmentation._grid import Box


def threshold_region(
    image: np.ndarray,
    *,
    low: float,
    high: float,
    region: np.ndarray | Box,
) -> np.ndarray:
    """Voxels of ``region`` with ``low <= image <= high``, as a new mask (a proposal to preview).

    Parameters
    ----------
    image : ndarray of shape (Z, Y, X)
        Intensities (image units: HU for CT, arbitrary for MR).
    low, high : float
        Inclusive intensity range, image units.
    region : ndarray of bool of shape (Z, Y, X), or Box
        Where thresholding applies; nothing outside it is selected.

    Returns
    -------
    ndarray of bool, shape (Z, Y, X)
    """
    if image.ndim != 3:
        raise ValueError(f"image must be 3-D, got shape {image.shape}")
    if not low <= high:
        raise ValueError(f"empty intensity range [{low}, {high}]")
    result = np.zeros(image.shape, dtype=bool)
    if isinstance(region, tuple):
        values = image[region]
        result[region] = (values >= low) & (values <= high)
        return result
    if region.shape != image.shape:
        raise ValueError(f"region shape {region.shape} does not match image shape {image.shape}")
    values = image[region]
    result[region] = (values >= low) & (values <= high)
    return result
