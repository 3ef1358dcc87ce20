"""Known-answer tests of the brush, polygon, threshold and carry-forward on synthetic grids."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from viewer.core.transform import Transform
from viewer.segmentation import carry_forward, fill_polygon, paint_ball, threshold_region

ANISO = np.diag([3.0, 0.8, 0.8, 1.0])  # 3 mm slices, 0.8 mm pixels


def test_ball_volume_matches_sphere_on_anisotropic_grid():
    mask = np.zeros((40, 100, 100), dtype=bool)
    box = paint_ball(mask, (20.0, 50.0, 50.0), radius_mm=15.0, voxel2patient=ANISO)
    volume_ml = mask.sum() * 3.0 * 0.8 * 0.8 / 1000
    expected_ml = 4 / 3 * math.pi * 15.0**3 / 1000
    assert volume_ml == pytest.approx(expected_ml, rel=0.03)
    # extent along the slices is 15 mm / 3 mm = 5 slices each side
    assert box[0] == slice(15, 26)
    assert not mask[: box[0].start].any() and not mask[box[0].stop :].any()
    zs = np.flatnonzero(mask.any(axis=(1, 2)))
    assert (zs.min(), zs.max()) == (15, 25)


def test_disc_on_one_slice_and_eraser():
    mask = np.zeros((10, 60, 60), dtype=bool)
    box = paint_ball(mask, (4.2, 30, 30), radius_mm=8.0, voxel2patient=ANISO, axis=0)
    assert box[0] == slice(4, 5)
    assert mask[4].sum() * 0.64 == pytest.approx(math.pi * 64, rel=0.05)
    assert mask.sum() == mask[4].sum()
    paint_ball(mask, (4, 30, 30), radius_mm=4.0, voxel2patient=ANISO, axis=0, value=False)
    assert not mask[4, 30, 30] and mask[4, 30, 40]


def test_brush_intensity_range_and_outside_grid():
    image = np.zeros((20, 20, 20), dtype=np.int16)
    image[:, :, 10:] = 100
    mask = np.zeros(image.shape, dtype=bool)
    paint_ball(
        mask,
        (10, 10, 10),
        radius_mm=5,
        voxel2patient=np.eye(4),
        image=image,
        intensity_range=(50, 150),
    )
    assert mask.any() and not mask[:, :, :10].any()
    assert paint_ball(mask, (100, 100, 100), radius_mm=5, voxel2patient=np.eye(4)) is None
    with pytest.raises(ValueError):
        paint_ball(mask.astype(np.uint8), (1, 1, 1), radius_mm=1, voxel2patient=np.eye(4))


def test_polygon_fill_area_add_and_cut():
    mask = np.zeros((5, 50, 60), dtype=bool)
    square = np.array([[10, 10], [10, 40], [30, 40], [30, 10]], dtype=float)
    box = fill_polygon(mask, square, axis=0, index=2)
    # voxel centres on the closed square 10..30 x 10..40: 21 x 31
    assert mask[2].sum() == 21 * 31 and mask.sum() == 21 * 31
    assert box == (slice(2, 3), slice(10, 31), slice(10, 41))
    triangle = np.array([[0, 0], [0, 40], [40, 0]], dtype=float)
    fill_polygon(mask, triangle, axis=1, index=25)
    assert mask[:, 25, :].sum() >= 5 * 5  # (slice, column) plane clipped to 5 slices
    fill_polygon(mask, square + [5, 5], axis=0, index=2, value=False)
    assert not mask[2, 20, 20] and mask[2, 12, 12]


def test_threshold_within_box_and_mask():
    image = np.arange(1000, dtype=np.float32).reshape(10, 10, 10)
    box = (slice(0, 5), slice(0, 10), slice(0, 10))
    result = threshold_region(image, low=300, high=700, region=box)
    assert result.sum() == 200  # 300..499 inside the box
    region = image % 2 == 0
    assert threshold_region(image, low=0, high=99, region=region).sum() == 50


def test_carry_forward_lands_where_the_transform_says():
    source_grid = np.diag([2.0, 1.0, 1.0, 1.0])
    source_grid[:3, 3] = [-40.0, -50.0, -50.0]
    target_grid = np.array([[0, 0, 1.2, -60], [0, 1.1, 0, -55], [1.5, 0, 0, -30], [0, 0, 0, 1]])
    mask = np.zeros((40, 100, 100), dtype=bool)
    paint_ball(mask, (20, 50, 50), radius_mm=8, voxel2patient=source_grid)
    rotation = np.eye(4)
    rotation[:3, :3] = Rotation.from_euler("xyz", [10, -5, 20], degrees=True).as_matrix()
    rotation[:3, 3] = [4.0, -3.0, 6.0]
    source_to_ref = Transform(rotation, "rigid")
    target_to_ref = Transform(np.eye(4), "identity")
    carried = carry_forward(
        mask,
        source_voxel2patient=source_grid,
        source_to_reference=source_to_ref,
        target_shape=(50, 110, 110),
        target_voxel2patient=target_grid,
        target_to_reference=target_to_ref,
    )
    centre_source_mm = source_grid[:3, :3] @ [20, 50, 50] + source_grid[:3, 3]
    expected_mm = source_to_ref.apply(centre_source_mm)
    voxels = np.argwhere(carried)
    centroid_mm = (target_grid[:3, :3] @ voxels.mean(axis=0)) + target_grid[:3, 3]
    assert np.linalg.norm(centroid_mm - expected_mm) < 0.5
    volume = carried.sum() * abs(np.linalg.det(target_grid[:3, :3]))
    assert volume == pytest.approx(4 / 3 * math.pi * 8**3, rel=0.08)


def test_grow_with_refinement_finds_a_blurred_sphere():
    from scipy import ndimage

    from viewer.segmentation import grow_from_seed

    z, y, x = np.ogrid[:40, :40, :40]
    truth = (z - 20) ** 2 + (y - 20) ** 2 + (x - 20) ** 2 <= 8**2
    image = ndimage.gaussian_filter(np.where(truth, 1000.0, 400.0), 1.0)
    image += np.random.default_rng(1).normal(0, 20, image.shape)
    for refine in (False, True):
        mask = grow_from_seed(image, (20, 20, 20), voxel2patient=np.eye(4), refine=refine).mask
        assert 2 * (mask & truth).sum() / (mask.sum() + truth.sum()) >= 0.9
