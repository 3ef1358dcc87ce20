"""Dice and surface distances: known answers on cubes and spheres, and SimpleITK's Hausdorff."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from tests.teaching.synthetic import sphere
from viewer.teaching.surface import dice, surface_distance


def _grid(spacing: tuple[float, float, float]) -> np.ndarray:
    """Axial grid: (slice, row, column) steps along z, y, x in mm."""
    return np.array(
        [[0, 0, spacing[2], 0], [0, spacing[1], 0, 0], [spacing[0], 0, 0, 0], [0, 0, 0, 1.0]]
    )


def _sitk_hausdorff(a: np.ndarray, b: np.ndarray, spacing: tuple[float, float, float]) -> float:
    images = []
    for mask in (a, b):
        image = sitk.GetImageFromArray(mask.astype(np.uint8))
        image.SetSpacing(tuple(float(s) for s in reversed(spacing)))  # SimpleITK: x, y, z
        images.append(image)
    measure = sitk.HausdorffDistanceImageFilter()
    measure.Execute(*images)
    return measure.GetHausdorffDistance()


def test_dice_of_cubes_half_overlapping() -> None:
    a = np.zeros((12, 12, 24), bool)
    b = np.zeros_like(a)
    a[1:11, 1:11, 2:12] = True
    b[1:11, 1:11, 7:17] = True
    assert dice(a, b) == pytest.approx(0.5)
    assert dice(a, a) == 1.0
    assert dice(a, np.zeros_like(a)) == 0.0


def test_identical_outlines_are_zero_apart() -> None:
    spacing = (3.0, 0.9, 0.9)
    a = sphere((30.0, 30.0, 30.0), 12.0, shape=(20, 70, 70), voxel2patient=_grid(spacing))
    assert surface_distance(a, a, spacing) == (0.0, 0.0)


@pytest.mark.parametrize("axis", [0, 1, 2])
@pytest.mark.parametrize("offset_mm", [2.0, 4.0, 7.0])
def test_spheres_offset_by_d_are_d_apart(axis: int, offset_mm: float) -> None:
    """Two spheres of radius R, d apart: every surface point moves by d |cos t|, so the
    Hausdorff distance is d and the 95th percentile (uniform in cos t) is 0.95 d."""
    spacing = (1.0, 1.0, 1.0)
    centre = np.array([35.0, 35.0, 35.0])
    moved = centre.copy()
    moved[axis] += offset_mm
    kwargs = {"shape": (70, 70, 70), "voxel2patient": _grid(spacing)}
    a, b = sphere(centre, 14.0, **kwargs), sphere(moved, 14.0, **kwargs)
    hd95, hausdorff = surface_distance(a, b, spacing)
    assert hausdorff == pytest.approx(offset_mm, abs=1e-9)
    assert hd95 == pytest.approx(0.95 * offset_mm, abs=0.5)
    assert hausdorff == pytest.approx(_sitk_hausdorff(a, b, spacing), abs=1e-6)


@pytest.mark.parametrize(("axis", "steps"), [(0, 2), (1, 8), (2, 5)])
def test_anisotropic_spacing_is_in_mm(axis: int, steps: int) -> None:
    """3 mm slices of 0.9 mm pixels: an offset of whole voxels along any axis reads in mm."""
    spacing = (3.0, 0.9, 0.9)
    offset_mm = steps * spacing[axis]
    centre = np.array([36.0, 36.0, 36.0])
    moved = centre.copy()
    moved[(2, 1, 0)[axis]] += offset_mm  # array axis (slice, row, column) -> LPS (z, y, x)
    kwargs = {"shape": (24, 80, 80), "voxel2patient": _grid(spacing)}
    a, b = sphere(centre, 14.0, **kwargs), sphere(moved, 14.0, **kwargs)
    hd95, hausdorff = surface_distance(a, b, spacing)
    assert hausdorff == pytest.approx(offset_mm, abs=1e-9)
    assert 0.85 * offset_mm <= hd95 <= offset_mm + 1e-9
    assert hausdorff == pytest.approx(_sitk_hausdorff(a, b, spacing), abs=1e-6)


def test_hausdorff_matches_simpleitk_on_ellipsoids() -> None:
    spacing = (2.5, 0.7, 1.1)
    shape = (30, 100, 70)
    points = np.stack(np.indices(shape), axis=-1) * np.array(spacing)
    first = np.sum(((points - [36, 35, 38]) / [14, 20, 11]) ** 2, axis=-1) <= 1
    rotated = points - [38, 39, 35]
    turn = np.deg2rad(25)
    u = rotated[..., 1] * np.cos(turn) - rotated[..., 2] * np.sin(turn)
    v = rotated[..., 1] * np.sin(turn) + rotated[..., 2] * np.cos(turn)
    second = (rotated[..., 0] / 12) ** 2 + (u / 17) ** 2 + (v / 13) ** 2 <= 1
    hd95, hausdorff = surface_distance(first, second, spacing)
    assert hausdorff == pytest.approx(_sitk_hausdorff(first, second, spacing), abs=1e-6)
    assert 0 < hd95 <= hausdorff


def test_empty_or_mismatched_outlines_are_refused() -> None:
    a = np.zeros((3, 3, 3), bool)
    a[1, 1, 1] = True
    with pytest.raises(ValueError, match="non-empty"):
        surface_distance(a, np.zeros_like(a), (1.0, 1.0, 1.0))
    with pytest.raises(ValueError, match="undefined"):
        dice(np.zeros_like(a), np.zeros_like(a))
    with pytest.raises(ValueError, match="one shape"):
        dice(a, np.zeros((3, 3, 4), bool))
