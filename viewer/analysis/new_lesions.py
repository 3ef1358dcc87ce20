"""Find candidate new lesions: where the current visit enhances and the previous one did not.

The previous visit is resampled onto the current visit's grid through the two registrations,
both are normalised, the previous is subtracted from the current, and the positive change is
thresholded inside the head. Blobs of change large enough and far enough from every known
lesion are listed, most convincing first, for the reader to confirm or dismiss: they are
candidates, never findings.

Normalisation is the subtraction view's (:func:`viewer.display.compare.normalisation`), so a
candidate's change reads the same as on screen: CT stays in Hounsfield units; MRI, which has no
absolute unit, is expressed in interquartile ranges (IQR) of its foreground above their median,
once per volume. (The numbers are computed here the way
:func:`viewer.display.window.intensity_stats` computes them: the layers contract keeps
``viewer.analysis`` from importing ``viewer.display``.) Before subtracting, each image is
smoothed up to the other's voxel size along each of its axes, so that a 5 mm slice's partial
volume at a tissue edge, compared with a 3 mm slice's, is not read as change.

The region searched:

* CT in HU: the intracranial space, i.e. what the skull (>= :data:`BONE_HU` in either visit)
  encloses on each slice, at least 3 mm from bone, so that the skull's edges, which change by
  hundreds of HU under a sub-millimetre misregistration or a different slice thickness, are
  never searched.
* MRI: the head (what the current visit's foreground outlines on each slice) at least 8 mm deep,
  which leaves out the scalp, whose fat is bright on T1 and shifts with the skin, and the skull.

In both, voxels closer than that margin to the edge of either visit's field of view are left
out too: there only one visit has data, or its edge slice is blurred by partial volume.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from viewer.core.geometry import apply_affine, voxel_spacing
from viewer.core.progress import CancelCheck, Reporter
from viewer.core.volume import Volume
from viewer.display.window import intensity_stats

BONE_HU = 300.0
"""CT values at or above this are bone (dense bone is above 700 HU; 300 HU also catches the
partial-volume rim of the skull, while contrast-enhancing tumour stays below 150 HU)."""

SOFT_TISSUE_HU = (-50.0, 150.0)
"""CT values are clipped to this range before subtracting: it holds every enhancing tissue, while
the skull's edge, 1000 HU or more above the brain, would otherwise leave a rim of change
millimetres wide under the slightest misregistration."""

MIN_CHANGE = {"HU": 15.0, "IQR": 0.5}
"""Smallest positive change that counts, by units. CT: contrast-enhancing tumour is about 40 HU
above brain, oedema below it, image noise a few HU. MRI: enhancing tissue is one to two IQRs
brighter than the brain it replaces, while a smooth coil-bias difference of 10 % is about a fifth
of an IQR."""

NOISE_FACTOR = 4.0
"""The threshold is raised to this many robust standard deviations of the smoothed difference
inside the head, so a noisy pair of scans does not return a scatter of noise blobs."""

SMOOTHING_MM = 1.5
"""Gaussian sigma applied to the difference (mm): cuts independent voxel noise about twelvefold
on a 1 mm grid, and joins a ring-enhancing lesion's rim into one blob."""

MARGIN_MM = {"HU": 3.0, "IQR": 8.0}
"""Depth inside the searched region (and inside both fields of view) a change must reach (mm)."""

MIN_VOLUME_ML = 0.05
"""Default smallest blob of change reported (mL): a sphere of about 4.6 mm, the smallest
metastasis 3-5 mm slices show reliably."""

MIN_DISTANCE_MM = 10.0
"""Default distance from every known lesion voxel a candidate must keep (mm): change closer than
this is most often the known lesion's own growth, judged when that lesion is re-measured."""


@dataclass(frozen=True)
class Candidate:
    """A blob of new enhancement for the reader to confirm or dismiss.

    Attributes
    ----------
    centre_reference_mm : tuple of 3 float
        Centroid of the blob in the reference frame (LPS mm): where to jump to.
    volume_ml : float
        Volume of the blob of change above the threshold (mL); for a ring-enhancing lesion,
        the rim's volume.
    peak_change : float
        Largest smoothed change in the blob, in ``units``.
    distance_to_known_mm : float
        Distance from the blob to the nearest known lesion voxel (mm); ``inf`` when none is
        known.
    reason : str
        Why it is listed, in words.
    integrated_change : float
        Sum of the change over the blob times the voxel volume (``units`` x mL): the evidence
        candidates are ranked by (large and strong first).
    units : str
        ``"HU"`` (CT) or ``"IQR"`` (normalised MRI units) of the change.
    """

    centre_reference_mm: tuple[float, float, float]
    volume_ml: float
    peak_change: float
    distance_to_known_mm: float
    reason: str
    integrated_change: float
    units: str


def find_new_lesions(
    current: Volume,
    previous: Volume,
    *,
    current2reference: np.ndarray | None,
    previous2reference: np.ndarray | None,
    known_reference_mm: Sequence[np.ndarray] = (),
    min_volume_ml: float = MIN_VOLUME_ML,
    min_distance_mm: float = MIN_DISTANCE_MM,
    min_change: float | None = None,
    cancelled: CancelCheck | None = None,
) -> list[Candidate]:
    """List blobs that enhance on the current visit and did not on the previous one.

    Parameters
    ----------
    current, previous : Volume
        Two visits of the same modality (e.g. contrast T1, or contrast CT in HU).
    current2reference, previous2reference : ndarray of shape (4, 4) or None
        Each visit's registration: its LPS mm -> reference LPS mm. ``None`` when the visit's
        patient space is the reference frame itself.
    known_reference_mm : sequence of ndarray of shape (N, 3)
        Voxel centres of the known lesions (one array each), reference-frame LPS mm.
    min_volume_ml : float
        Smallest blob reported (mL); see :data:`MIN_VOLUME_ML`.
    min_distance_mm : float
        Blobs with any voxel nearer than this to a known lesion voxel are left out (mm); see
        :data:`MIN_DISTANCE_MM`.
    min_change : float, optional
        Smallest change that counts, in the pair's units; by default :data:`MIN_CHANGE`. The
        threshold used is the larger of this and :data:`NOISE_FACTOR` robust standard deviations
        of the difference.
    cancelled : callable, optional
        Polled between steps; :class:`viewer.errors.OperationCancelled` once it returns True.

    Returns
    -------
    list of Candidate
        Most convincing (largest integrated change) first; empty when nothing qualifies or the
        two visits do not overlap.

    Raises
    ------
    ValueError
        The visits' units differ (CT in HU against MRI), or a matrix or point array has the
        wrong shape.
    viewer.errors.OperationCancelled
    """
    reporter = Reporter(cancelled=cancelled)
    units = _units(current)
    if _units(previous) != units:
        raise ValueError(
            f"cannot subtract {previous.metadata.description or 'the previous visit'} "
            f"({_units(previous)}) from {current.metadata.description or 'the current visit'} "
            f"({units}): compare visits of the same modality"
        )
    current2ref = _matrix(current2reference, "current2reference")
    previous2ref = _matrix(previous2reference, "previous2reference")
    current_voxel2reference = current2ref @ current.voxel2patient
    previous_voxel2reference = previous2ref @ previous.voxel2patient
    current_voxel2previous_voxel = np.linalg.inv(previous_voxel2reference) @ current_voxel2reference
    known = _known_points(known_reference_mm)
    spacing_mm = voxel_spacing(current.voxel2patient)
    reporter.check()

    # bring both to the coarser of the two resolutions along each axis, so that a thick slice's
    # partial volume at a tissue edge is not read as change
    now = _blur_to(
        _with_missing_slices(current),
        current_voxel2reference,
        _voxel_covariance(previous_voxel2reference),
    )
    before_native = _blur_to(
        _with_missing_slices(previous),
        previous_voxel2reference,
        _voxel_covariance(current_voxel2reference),
    )
    before = ndimage.affine_transform(
        before_native,
        current_voxel2previous_voxel[:3, :3],
        offset=current_voxel2previous_voxel[:3, 3],
        output_shape=current.shape,
        order=1,
        mode="constant",
        cval=np.nan,
    )
    covered = np.isfinite(now) & np.isfinite(before)
    reporter.check()

    region = _intracranial(now, before) if units == "HU" else _head(current.array)
    searched = _depth_mm(region & covered, spacing_mm) >= MARGIN_MM[units]
    if not searched.any():
        return []
    reporter.check()

    difference = _difference(now, before, current, previous, units)
    difference[~covered] = 0.0
    change = ndimage.gaussian_filter(difference, SMOOTHING_MM / spacing_mm)
    inside = change[searched]
    spread = 1.4826 * float(np.median(np.abs(inside - np.median(inside))))
    threshold = max(MIN_CHANGE[units] if min_change is None else min_change, NOISE_FACTOR * spread)
    reporter.check()

    blobs, count = ndimage.label(searched & (change > threshold), np.ones((3, 3, 3), bool))
    voxel_ml = current.voxel_volume_ml
    sizes = np.bincount(blobs.ravel(), minlength=count + 1)
    tree = cKDTree(known) if len(known) else None
    candidates = []
    for number, box in enumerate(ndimage.find_objects(blobs), start=1):
        if box is None or sizes[number] * voxel_ml < min_volume_ml:
            continue
        inside_blob = blobs[box] == number
        voxels = np.argwhere(inside_blob) + [s.start for s in box]
        points = apply_affine(current_voxel2reference, voxels)
        distance_mm = float(tree.query(points)[0].min()) if tree is not None else float("inf")
        if distance_mm < min_distance_mm:
            continue
        values = change[box][inside_blob]
        candidates.append(_candidate(points, values, voxel_ml, distance_mm, threshold, units))
    candidates.sort(key=lambda c: c.integrated_change, reverse=True)
    return candidates


def _units(volume: Volume) -> str:
    if volume.metadata.modality == "CT" and volume.metadata.units == "HU":
        return "HU"
    return "IQR"


def _matrix(matrix: np.ndarray | None, name: str) -> np.ndarray:
    if matrix is None:
        return np.eye(4)
    array = np.asarray(matrix, dtype=np.float64)
    if array.shape != (4, 4) or not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be a finite (4, 4) matrix, got shape {array.shape}")
    return array


def _known_points(known_reference_mm: Sequence[np.ndarray]) -> np.ndarray:
    arrays = [np.asarray(points, dtype=np.float64) for points in known_reference_mm]
    for points in arrays:
        if points.ndim != 2 or points.shape[1] != 3:
            raise ValueError(f"known lesions need (N, 3) arrays of points, got {points.shape}")
    return np.concatenate(arrays) if arrays else np.empty((0, 3))


def _with_missing_slices(volume: Volume) -> np.ndarray:
    """The volume as float32 with unreadable slices set to NaN (they hold no data)."""
    values = volume.array.astype(np.float32)
    if volume.metadata.incomplete_slices:
        values[list(volume.metadata.incomplete_slices)] = np.nan
    return values


def _voxel_covariance(voxel2reference: np.ndarray) -> np.ndarray:
    """Covariance (3, 3), mm^2, of a point spread uniformly over one voxel (a box of its axes)."""
    axes = voxel2reference[:3, :3]
    return axes @ axes.T / 12.0


def _blur_to(values: np.ndarray, voxel2reference: np.ndarray, other: np.ndarray) -> np.ndarray:
    """Smooth an image along its own axes up to the spread ``other`` (3, 3) has along them.

    Unreadable (NaN) voxels neither contribute nor receive values (normalised convolution).
    """
    axes = voxel2reference[:3, :3]
    spacing_mm = np.linalg.norm(axes, axis=0)
    directions = axes / spacing_mm
    other_variance = np.einsum("ik,ij,jk->k", directions, other, directions)
    sigma_mm = np.sqrt(np.maximum(other_variance - spacing_mm**2 / 12.0, 0.0))
    sigma = sigma_mm / spacing_mm
    if np.all(sigma < 0.25):
        return values
    valid = np.isfinite(values)
    if valid.all():
        return ndimage.gaussian_filter(values, sigma)
    weights = ndimage.gaussian_filter(valid.astype(np.float32), sigma)
    blurred = ndimage.gaussian_filter(np.where(valid, values, 0.0).astype(np.float32), sigma)
    with np.errstate(invalid="ignore", divide="ignore"):
        blurred /= weights
    blurred[~valid] = np.nan
    return blurred


def _head(array: np.ndarray) -> np.ndarray:
    """The head on an MRI: what its outline (the foreground) encloses on each slice."""
    _, threshold = _foreground(array)
    return _largest_part(_fill_each_slice(array > threshold))


def _intracranial(now: np.ndarray, before: np.ndarray) -> np.ndarray:
    """Inside the skull on a CT pair: what bone (in either visit) encloses on each slice."""
    with np.errstate(invalid="ignore"):
        bone = (now >= BONE_HU) | (before >= BONE_HU)
    return _largest_part(_fill_each_slice(bone) & ~bone)


def _fill_each_slice(mask: np.ndarray) -> np.ndarray:
    """Fill the holes of each slice (along axis 0).

    Slice by slice because the scalp and the skull are closed rings on each slice but open in
    3-D (the neck, the foramen magnum, the field of view's ends), where a 3-D fill finds no hole;
    and on a T1 MRI the dark skull would leave a gap between scalp and brain.
    """
    return np.stack([ndimage.binary_fill_holes(plane) for plane in mask])


def _largest_part(mask: np.ndarray) -> np.ndarray:
    parts, count = ndimage.label(mask)
    if count <= 1:
        return mask
    sizes = np.bincount(parts.ravel())
    sizes[0] = 0
    return parts == int(np.argmax(sizes))


def _depth_mm(mask: np.ndarray, spacing_mm: np.ndarray) -> np.ndarray:
    """Distance (mm) from each voxel of ``mask`` to the nearest voxel outside it or the array."""
    padded = np.pad(mask, 1)
    return ndimage.distance_transform_edt(padded, sampling=spacing_mm)[1:-1, 1:-1, 1:-1]


def _difference(
    now: np.ndarray, before: np.ndarray, current: Volume, previous: Volume, units: str
) -> np.ndarray:
    """Current minus previous, in HU, or each in IQRs above its median (0 where NaN)."""
    if units == "HU":
        low, high = SOFT_TISSUE_HU
        return np.nan_to_num(np.clip(now, low, high) - np.clip(before, low, high), nan=0.0)
    result = np.zeros(now.shape, np.float32)
    for values, volume, sign in ((now, current, 1.0), (before, previous, -1.0)):
        stats = intensity_stats(volume.array)  # as the subtraction view normalises
        median, iqr = stats.foreground_median, stats.foreground_iqr
        result += np.float32(sign / iqr) * (np.nan_to_num(values, nan=median) - median)
    return result


def _foreground(array: np.ndarray) -> tuple[np.ndarray, float]:
    """A regular sample of at most ~1e6 finite values and the background threshold.

    As :func:`viewer.display.window.intensity_stats` (which the subtraction view normalises
    with), so that changes here are in the units the reader sees: the threshold is 5 % of the way
    from the minimum to the 99.9th percentile.
    """
    flat = np.asarray(array).reshape(-1)
    sample = flat[:: max(1, flat.size // 1_000_000)].astype(np.float64)
    sample = sample[np.isfinite(sample)]
    if sample.size == 0:
        return sample, 0.0
    low = float(sample.min())
    return sample, low + 0.05 * (float(np.percentile(sample, 99.9)) - low)


def _candidate(
    points: np.ndarray,
    values: np.ndarray,
    voxel_ml: float,
    distance_mm: float,
    threshold: float,
    units: str,
) -> Candidate:
    volume_ml = len(points) * voxel_ml
    peak = float(values.max())
    where = (
        "no known lesion"
        if not np.isfinite(distance_mm)
        else f"{distance_mm:.0f} mm from the nearest known lesion"
    )
    reason = (
        f"new enhancement of {volume_ml:.2f} mL, up to {peak:+.3g} {units} brighter than on "
        f"the previous visit (threshold {threshold:.3g} {units}), {where}"
    )
    return Candidate(
        centre_reference_mm=tuple(float(v) for v in points.mean(axis=0)),  # type: ignore[arg-type]
        volume_ml=volume_ml,
        peak_change=peak,
        distance_to_known_mm=distance_mm,
        reason=reason,
        integrated_change=float(values.sum()) * voxel_ml,
        units=units,
    )
