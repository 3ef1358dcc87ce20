"""Known-answer tests of the clean-up tools: islands, holes and smoothing, sizes in mm and mL."""

from __future__ import annotations

import math

import numpy as np
import pytest

from viewer.segmentation import fill_holes, paint_ball, remove_islands, smooth

ANISO = np.diag([3.0, 0.8, 0.8, 1.0])  # 3 mm slices, 0.8 mm pixels: 1.92 mm^3 voxels


def _ball_and_speck() -> np.ndarray:
    mask = np.zeros((30, 80, 80), dtype=bool)
    paint_ball(mask, (15, 40, 40), radius_mm=12.0, voxel2patient=ANISO)  # ~7.2 mL
    mask[3, 5:7, 5:7] = True  # 4 voxels, 0.0077 mL
    return mask


def test_remove_islands_by_volume_keeps_the_big_component():
    mask = _ball_and_speck()
    kept = remove_islands(mask, voxel2patient=ANISO, min_volume_ml=0.01)
    assert not kept[3].any()
    assert np.array_equal(kept[5:], mask[5:])
    # the threshold is a volume in mL: 4 voxels of 1.92 mm^3 are 0.00768 mL
    speck_kept = remove_islands(mask, voxel2patient=ANISO, min_volume_ml=0.0076)
    assert np.array_equal(speck_kept, mask)
    assert not remove_islands(mask, voxel2patient=ANISO, min_volume_ml=10.0).any()


def test_remove_islands_by_seed_and_connectivity():
    mask = _ball_and_speck()
    assert np.array_equal(
        remove_islands(mask, voxel2patient=ANISO, seed=(3, 5, 6)),
        mask & (np.arange(30) == 3)[:, None, None],
    )
    assert not remove_islands(mask, voxel2patient=ANISO, seed=(0, 0, 0)).any()
    diagonal = np.zeros((3, 3, 3), dtype=bool)
    diagonal[0, 0, 0] = diagonal[1, 1, 1] = True
    assert remove_islands(diagonal, voxel2patient=np.eye(4), seed=(0, 0, 0)).sum() == 1
    corners = remove_islands(diagonal, voxel2patient=np.eye(4), seed=(0, 0, 0), connectivity=3)
    assert corners.sum() == 2
    with pytest.raises(ValueError):
        remove_islands(mask, voxel2patient=ANISO)
    with pytest.raises(IndexError):
        remove_islands(mask, voxel2patient=ANISO, seed=(30, 0, 0))


def test_fill_holes_in_3d_fills_a_hollow_ball():
    grid = np.eye(4)
    mask = np.zeros((30, 30, 30), dtype=bool)
    paint_ball(mask, (15, 15, 15), radius_mm=10.0, voxel2patient=grid)
    solid = mask.copy()
    paint_ball(mask, (15, 15, 15), radius_mm=6.0, voxel2patient=grid, value=False)
    assert mask.sum() < solid.sum()
    assert np.array_equal(fill_holes(mask), solid)


def test_fill_holes_per_slice_fills_an_open_tube_that_3d_does_not():
    z, y, x = np.ogrid[:10, :40, :40]
    radius2 = (y - 20) ** 2 + (x - 20) ** 2
    tube = np.broadcast_to((radius2 <= 12**2) & (radius2 > 8**2), (10, 40, 40)).copy()
    disc = np.broadcast_to(radius2 <= 12**2, (10, 40, 40))
    assert np.array_equal(fill_holes(tube), tube)  # open at both ends: no 3-D cavity
    assert np.array_equal(fill_holes(tube, axis=0), disc)  # first and last slices too
    assert np.array_equal(fill_holes(tube, axis=1), tube)  # across rows the rings are not closed


def test_smooth_removes_a_spur_and_keeps_a_ball_volume():
    mask = np.zeros((30, 80, 80), dtype=bool)
    paint_ball(mask, (15, 40, 40), radius_mm=15.0, voxel2patient=ANISO)
    ball = mask.copy()
    mask[15, 40, 40:75] = True  # a one-voxel-wide spur 10 voxels beyond the ball's edge
    smoothed = smooth(mask, radius_mm=2.0, voxel2patient=ANISO)
    assert not smoothed[15, 40, 62:].any()
    expected_ml = 4 / 3 * math.pi * 15.0**3 / 1000
    assert smoothed.sum() * 1.92 / 1000 == pytest.approx(expected_ml, rel=0.03)
    assert (smoothed ^ ball).sum() < 0.03 * ball.sum()


def test_smooth_closing_fills_a_groove_and_keeps_outlines_at_the_grid_edge():
    grid = np.eye(4)
    mask = np.zeros((20, 20, 20), dtype=bool)
    mask[:, :, :10] = True  # cut by the grid's edges on five faces
    mask[5:15, 9, 9] = False  # a groove one voxel wide and deep
    closed = smooth(mask, radius_mm=1.5, voxel2patient=grid, operation="close")
    assert np.array_equal(closed, np.zeros_like(mask) | (np.arange(20) < 10)[None, None, :])
    opened = smooth(mask, radius_mm=1.5, voxel2patient=grid, operation="open")
    assert opened[:, :, :8].all()  # no erosion from the grid's edge
    assert not smooth(np.zeros_like(mask), radius_mm=2.0, voxel2patient=grid).any()
    with pytest.raises(ValueError):
        smooth(mask, radius_mm=0.0, voxel2patient=grid)
    with pytest.raises(ValueError):
        smooth(mask, radius_mm=1.0, voxel2patient=grid, operation="dilate")
