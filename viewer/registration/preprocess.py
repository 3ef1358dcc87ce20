"""Images prepared for mutual-information registration: intensity range, working grid, head mask.

Mattes mutual information spreads its histogram bins over the image's whole intensity range, so
a few extreme voxels (CT bone and air, MRI fat or vessels) squeeze the tissues that carry the
alignment into one or two bins. CT is therefore clipped to a soft-tissue window and MRI to its
robust range before registration. The registration runs on a working grid near 2 mm (block
averages of whole voxels): a 6-parameter fit over a whole head reaches 0.1-0.7 mm there in the
tests and the benchmark, at an eighth of the cost of a 1 mm grid.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import SimpleITK as sitk

from viewer.core.volume import Volume
from viewer.errors import InvalidGeometryError
from viewer.registration.sitk_bridge import image_from_array

CT_WINDOW_HU = (-100.0, 200.0)
"""Clip range for CT: air, fat, brain, CSF and blood stay distinct; bone saturates as one class."""

MR_PERCENTILES = (0.5, 99.8)
"""Robust range of MRI intensities, in percent of the voxels."""

_PERCENTILE_SAMPLE = 2_000_000
"""Voxels (at most) used to estimate percentiles: a regular subsample is accurate enough."""


def intensity_range(volume: Volume) -> tuple[float, float]:
    """The intensity range used for registration: the CT window or the MRI robust range.

    A volume is taken as CT when its metadata say so, or when its darkest voxels are below
    -500 (air in Hounsfield units: a CT read from NIfTI has no modality), as MRI never is.

    Returns
    -------
    (low, high) : tuple of float
        In the volume's units (HU for CT).
    """
    if volume.metadata.modality == "CT" or volume.metadata.units == "HU":
        return CT_WINDOW_HU
    step = max(1, round((volume.array.size / _PERCENTILE_SAMPLE) ** (1 / 3)))
    sample = volume.array[::step, ::step, ::step]
    sample = sample[np.isfinite(sample)]
    if sample.size == 0:
        return 0.0, 1.0
    low, high = np.percentile(sample, MR_PERCENTILES)
    if low < -500.0:
        return CT_WINDOW_HU
    return float(low), float(max(high, low + 1e-6))


MIN_VOXELS_PER_AXIS = 4
"""Fewest voxels along any axis of a level: ITK's recursive Gaussian smoothing needs four."""


def shrink_factors(
    spacing_xyz_mm: np.ndarray, target_mm: float, size_xyz: Sequence[int] | None = None
) -> list[int]:
    """Whole-voxel block size per axis (x, y, z) that brings the spacing nearest to ``target_mm``.

    With ``size_xyz``, no axis is shrunk below :data:`MIN_VOXELS_PER_AXIS` voxels (a thin slab
    keeps its few slices at the coarse levels instead of collapsing to one).

    Examples
    --------
    >>> shrink_factors(np.array([1.0, 1.25, 5.0]), 2.0)
    [2, 2, 1]
    >>> shrink_factors(np.array([1.0, 1.0, 1.0]), 8.0, size_xyz=(256, 256, 12))
    [8, 8, 3]
    """
    factors = [max(1, round(target_mm / s)) for s in spacing_xyz_mm]
    if size_xyz is not None:
        factors = [
            min(f, max(1, n // MIN_VOXELS_PER_AXIS)) for f, n in zip(factors, size_xyz, strict=True)
        ]
    return factors


def check_registrable(volume: Volume) -> None:
    """Refuse a volume too thin to register (fewer than four voxels along an axis).

    Raises
    ------
    viewer.errors.InvalidGeometryError
        Naming the series and its size.
    """
    if min(volume.shape) < MIN_VOXELS_PER_AXIS:
        raise InvalidGeometryError(
            f"{volume.metadata.description or 'this series'} is {volume.shape[0]} x "
            f"{volume.shape[1]} x {volume.shape[2]} voxels; registration needs at least "
            f"{MIN_VOXELS_PER_AXIS} along every axis"
        )


def working_image(volume: Volume, *, target_spacing_mm: float) -> sitk.Image:
    """The volume clipped to its registration range and block-averaged to about the target spacing.

    Parameters
    ----------
    volume : Volume
    target_spacing_mm : float
        Wanted voxel size; each axis is shrunk by the whole factor nearest to it (never enlarged).

    Returns
    -------
    SimpleITK.Image
        float32, voxel values within :func:`intensity_range`, same patient geometry.
    """
    low, high = intensity_range(volume)
    if np.issubdtype(volume.array.dtype, np.floating):
        # fmax/fmin (unlike clip) turn NaN voxels into ``low`` instead of propagating them.
        clipped = np.fmin(np.fmax(volume.array, low, dtype=np.float32), high, dtype=np.float32)
    else:
        clipped = np.clip(volume.array, low, high, dtype=np.float32)
    image = image_from_array(clipped, volume.voxel2patient)
    factors = shrink_factors(np.asarray(image.GetSpacing()), target_spacing_mm, image.GetSize())
    if any(f > 1 for f in factors):
        image = sitk.BinShrink(image, factors)
    return image


def pyramid_level(image: sitk.Image, *, spacing_mm: float, sigma_mm: float) -> sitk.Image:
    """A coarser level of a working image: block averages near ``spacing_mm``, then smoothed.

    Block averaging is the cheapest anti-aliasing there is; each axis gets its own whole factor
    (5 mm slices stay 5 mm until the level is coarser than that). The Gaussian smoothing widens
    the capture range of the coarse levels.

    Parameters
    ----------
    image : SimpleITK.Image
        A working image (float32).
    spacing_mm : float
        Wanted voxel size of the level, mm.
    sigma_mm : float
        Gaussian smoothing after block averaging, mm (0: none).

    Returns
    -------
    SimpleITK.Image
        Same patient geometry, coarser grid.
    """
    factors = shrink_factors(np.asarray(image.GetSpacing()), spacing_mm, image.GetSize())
    level = sitk.BinShrink(image, factors) if any(f > 1 for f in factors) else image
    return sitk.SmoothingRecursiveGaussian(level, sigma_mm) if sigma_mm > 0 else level


def head_mask(image: sitk.Image) -> sitk.Image:
    """Head tissue mask of a working image, whose centre of mass is the head's centre.

    Otsu's threshold separates tissue from air; on MRI the dark skull splits the scalp from the
    brain, so every part at least a tenth the size of the largest is kept (dropping specks of
    noise), and holes are filled. Used to superimpose two heads before registration: a binary
    mask weighs CT and MRI alike, where their intensities would not (bright bone against bright
    fat and brain).

    Parameters
    ----------
    image : SimpleITK.Image
        A working image (see :func:`working_image`).

    Returns
    -------
    SimpleITK.Image
        uint8, 1 in the head, same grid as ``image``.
    """
    relabel = sitk.RelabelComponentImageFilter()
    relabel.SortByObjectSizeOn()
    parts = relabel.Execute(sitk.ConnectedComponent(sitk.OtsuThreshold(image, 0, 1)))
    sizes = relabel.GetSizeOfObjectsInPixels()
    kept = sum(1 for size in sizes if size >= 0.1 * sizes[0]) if sizes else 0
    tissue = sitk.BinaryThreshold(parts, 1, max(kept, 1), 1, 0)
    return sitk.Cast(sitk.BinaryFillhole(tissue), sitk.sitkUInt8)
