"""Known-answer tests of fill-between-slices (shape-based interpolation on distance maps)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from viewer.segmentation import fill_between_slices, paint_ball

GRID = np.diag([2.0, 0.5, 0.5, 1.0])  # 2 mm slices, 0.5 mm pixels
PIXEL_MM2 = 0.25


def _two_discs(shift_px: tuple[float, float] = (12.0, 6.0)) -> np.ndarray:
    mask = np.zeros((12, 120, 120), dtype=bool)
    paint_ball(mask, (2, 50, 50), radius_mm=10.0, voxel2patient=GRID, axis=0)
    paint_ball(
        mask, (8, 50 + shift_px[0], 50 + shift_px[1]), radius_mm=20.0, voxel2patient=GRID, axis=0
    )
    return mask


def test_middle_slice_is_the_average_disc_and_centres_move_linearly():
    mask = _two_discs()
    filled = fill_between_slices(mask, voxel2patient=GRID)
    assert filled is not mask and np.array_equal(mask, _two_discs())  # input untouched
    # slices 2 and 8 outlined: slice 5 is half-way, a disc of radius 15 mm
    assert filled[5].sum() * PIXEL_MM2 == pytest.approx(math.pi * 15.0**2, rel=0.04)
    for index in range(3, 8):
        weight = (index - 2) / 6
        centre_px = np.argwhere(filled[index]).mean(axis=0)
        expected_px = np.array([50.0, 50.0]) + weight * np.array([12.0, 6.0])
        assert np.linalg.norm((centre_px - expected_px) * 0.5) < 0.1  # mm


def test_concentric_discs_grow_linearly_in_radius():
    filled = fill_between_slices(_two_discs((0.0, 0.0)), voxel2patient=GRID)
    for index in range(3, 8):
        radius_mm = 10.0 + 10.0 * (index - 2) / 6
        assert filled[index].sum() * PIXEL_MM2 == pytest.approx(math.pi * radius_mm**2, rel=0.03)


def test_outlined_slices_unchanged_and_no_extrapolation():
    mask = _two_discs()
    filled = fill_between_slices(mask, voxel2patient=GRID)
    assert np.array_equal(filled[2], mask[2]) and np.array_equal(filled[8], mask[8])
    assert not filled[:2].any() and not filled[9:].any()
    assert all(filled[index].any() for index in range(3, 8))
    # the fill stays within the union of the two outlines' footprints
    assert not (filled[3:8] & ~(mask[2] | mask[8])).any()


def test_single_outlined_slice_changes_nothing():
    mask = np.zeros((12, 120, 120), dtype=bool)
    paint_ball(mask, (4, 60, 60), radius_mm=10.0, voxel2patient=GRID, axis=0)
    assert np.array_equal(fill_between_slices(mask, voxel2patient=GRID), mask)
    empty = np.zeros_like(mask)
    assert not fill_between_slices(empty, voxel2patient=GRID).any()


def test_other_axis_and_empty_outlined_slice_stops_the_fill():
    mask = np.zeros((40, 30, 40), dtype=bool)
    # squares on columns 5 and 15, and on column 30; column 22 outlined empty in between
    mask[10:20, 10:20, 5] = True
    mask[10:20, 10:20, 15] = True
    mask[10:20, 10:20, 30] = True
    filled = fill_between_slices(mask, voxel2patient=np.eye(4), axis=2, outlined=[5, 15, 22, 30])
    assert np.array_equal(filled[:, :, 6:15], np.repeat(mask[:, :, 5:6], 9, axis=2))
    assert not filled[:, :, 16:30].any()
    bridged = fill_between_slices(mask, voxel2patient=np.eye(4), axis=2)
    assert bridged[:, :, 16:30].all(axis=2)[10:20, 10:20].all()


def test_bad_arguments():
    mask = _two_discs()
    with pytest.raises(ValueError):
        fill_between_slices(mask, voxel2patient=GRID, axis=3)
    with pytest.raises(IndexError):
        fill_between_slices(mask, voxel2patient=GRID, outlined=[2, 12])
    with pytest.raises(ValueError):
        fill_between_slices(mask.astype(np.uint8), voxel2patient=GRID)
