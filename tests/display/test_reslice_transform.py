"""Reslicing visits through their registration: known transforms, label maps, and the fast path."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from tests.display.phantoms import (
    AXIAL_IOP,
    CORONAL_IOP,
    blobs,
    grid_affine,
    linear,
    rigid,
    sampled,
    sphere_labels,
)
from viewer.core.geometry import apply_affine
from viewer.core.transform import Transform
from viewer.core.volume import Volume, VolumeMetadata
from viewer.display import SliceRequest, plane_grid, reslice, sample_plane, sampling
from viewer.display.sampling import trilinear_reference

# The second visit: head turned 8/-5/12 degrees and shifted; this maps its patient coordinates
# onto the reference's (what registration finds).
MOVED = Transform(rigid((8.0, -5.0, 12.0), (6.0, -9.0, 11.0)), "rigid")


def reference_points(result) -> np.ndarray:
    rows, columns = np.indices(result.values.shape)
    return apply_affine(result.slice2reference, np.stack([rows, columns, 0 * rows], axis=-1))


def between_voxel_centres(volume: Volume, patient_points: np.ndarray) -> np.ndarray:
    """Pixels whose sample point needs no clamping (trilinear is exact for linear functions)."""
    voxels = apply_affine(volume.patient2voxel, patient_points)
    return np.all((voxels >= 0) & (voxels <= np.array(volume.shape) - 1), axis=-1)


@pytest.mark.parametrize("plane", ["axial", "coronal", "sagittal"])
def test_moved_visit_resliced_through_its_transform_shows_reference_anatomy(plane):
    # A coronal acquisition with 2 mm slices of a linear intensity field, scanned with the head
    # moved: through its transform each reference-frame pixel must show the field's value there.
    moved = sampled(
        linear,
        grid_affine((30, 40, 44), (2.0, 1.0, 1.0), CORONAL_IOP),
        (30, 40, 44),
        patient2world=MOVED.moving2reference,
    )
    reference = sampled(linear, grid_affine((40, 48, 48), (1.5, 1.0, 1.0)), (40, 48, 48))
    grid = plane_grid(reference, plane)
    result = reslice(
        SliceRequest(moved, plane, 2.5, patient2reference=MOVED.moving2reference, grid=grid)
    )
    points = reference_points(result)
    patient = apply_affine(MOVED.reference2moving, points)
    exact = between_voxel_centres(moved, patient)
    assert exact.sum() > 500
    np.testing.assert_allclose(result.values[exact], linear(points[exact]), atol=2e-3)
    np.testing.assert_allclose(points[..., {"axial": 2, "coronal": 1, "sagittal": 0}[plane]], 2.5)
    # the identity (an unregistered visit) shows other anatomy: the test can fail
    unregistered = reslice(SliceRequest(moved, plane, 2.5, grid=grid))
    both = exact & (unregistered.inside if unregistered.inside is not None else True)
    assert np.abs(unregistered.values[both] - linear(points[both])).mean() > 5


def test_moved_visit_matches_the_unmoved_one_on_the_shared_grid():
    reference = sampled(blobs, grid_affine((48, 64, 64), (1.0, 1.0, 1.0)), (48, 64, 64))
    moved = sampled(
        blobs,
        grid_affine((24, 60, 60), (2.0, 1.1, 1.1), AXIAL_IOP, centre=(3.0, -2.0, 1.0)),
        (24, 60, 60),
        patient2world=MOVED.moving2reference,
        dtype=np.int16,
    )
    for plane in ("axial", "coronal", "sagittal"):
        grid = plane_grid(reference, plane, pixel_mm=0.7)
        for position in (-6.0, 0.0, 7.3):
            still = reslice(SliceRequest(reference, plane, position, grid=grid))
            turned = reslice(
                SliceRequest(
                    moved, plane, position, patient2reference=MOVED.moving2reference, grid=grid
                )
            )
            patient = apply_affine(MOVED.reference2moving, reference_points(still))
            common = between_voxel_centres(moved, patient) & between_voxel_centres(
                reference, reference_points(still)
            )
            assert common.sum() > 1000
            difference = turned.values[common] - still.values[common]
            # trilinear error of 8-30 mm Gaussians sampled at 1-2 mm, plus int16 rounding
            assert np.abs(difference).max() < 12.0, (plane, position)
            assert abs(difference.mean()) < 1.0


def test_label_map_stays_integer_and_lands_on_the_right_pixels():
    labels = sampled(
        sphere_labels,
        grid_affine((40, 50, 50), (1.0, 1.0, 1.0), CORONAL_IOP, centre=(4.0, -3.0, 0.0)),
        (40, 50, 50),
        patient2world=MOVED.moving2reference,
        dtype=np.uint8,
    )
    reference = Volume(np.zeros((40, 64, 64), np.int16), grid_affine((40, 64, 64), (1.5, 1, 1)))
    for plane, position in (("axial", 4.0), ("coronal", -5.0), ("axial", -16.0)):
        grid = plane_grid(reference, plane, pixel_mm=0.5)
        result = reslice(
            SliceRequest(
                labels,
                plane,
                position,
                patient2reference=MOVED.moving2reference,
                grid=grid,
                interpolation="nearest",
            )
        )
        assert result.values.dtype == np.uint8
        inside = result.inside if result.inside is not None else np.ones(grid.shape, bool)
        assert set(np.unique(result.values[inside])) <= {0, 3, 7}
        points = reference_points(result)
        distance = np.linalg.norm(points - np.array([10.0, -5.0, 4.0]), axis=-1)
        # nearest neighbour moves a boundary by at most half a voxel diagonal (0.87 mm)
        if plane != "axial" or position != -16.0:
            assert np.all(result.values[inside & (distance < 9.0 - 0.9)] == 7)
        assert not np.any(result.values[inside & (distance > 9.0 + 0.9)] == 7)
        near_slab = (np.abs(points[..., 2] + 16) < 4.9) & (np.abs(points[..., 0]) < 15.9)
        if position == -16.0:
            core = (np.abs(points[..., 0]) < 14) & (np.abs(points[..., 2] + 16) < 3)
            assert core[inside].any() and np.all(result.values[inside & core] == 3)
        assert not np.any(result.values[inside & ~near_slab & (distance > 9.9)])


def test_one_labelled_voxel_shows_where_its_centre_goes():
    array = np.zeros((20, 24, 24), np.uint8)
    array[9, 11, 14] = 5
    labels = Volume(array, grid_affine((20, 24, 24), (1.0, 1.0, 1.0)))
    centre = MOVED.apply(apply_affine(labels.voxel2patient, (9, 11, 14)))
    grid = plane_grid(labels, "axial", patient2reference=MOVED.moving2reference, pixel_mm=0.5)
    result = reslice(
        SliceRequest(
            labels,
            "axial",
            float(centre[2]),
            patient2reference=MOVED.moving2reference,
            grid=grid,
            interpolation="nearest",
        )
    )
    row, column, _ = apply_affine(np.linalg.inv(result.slice2reference), centre)
    assert result.values[round(row), round(column)] == 5
    shown = np.argwhere(result.values == 5)
    assert 1 <= len(shown) <= 12
    assert np.all(np.linalg.norm((shown - [row, column]) * 0.5, axis=1) < 1.0)


def test_labels_are_never_blended_between_thick_slices():
    array = np.zeros((6, 10, 10), np.uint8)
    array[2], array[3] = 4, 9
    labels = Volume(array, grid_affine((6, 10, 10), (3.0, 1.0, 1.0)))
    z2, z3 = (apply_affine(labels.voxel2patient, (k, 5, 5))[2] for k in (2, 3))
    coronal = reslice(SliceRequest(labels, "coronal", 0.5, interpolation="nearest"))
    image = reslice(SliceRequest(labels, "coronal", 0.5))
    assert set(np.unique(coronal.values)) == {0, 4, 9}
    assert len(np.unique(image.values)) > 3  # the image path does interpolate
    column = coronal.values.shape[1] // 2
    rows = np.arange(coronal.values.shape[0])
    z = apply_affine(coronal.slice2patient, np.c_[rows, 0 * rows + column, 0 * rows])[:, 2]
    assert np.all(coronal.values[np.abs(z - z2) < 1.5, column] == 4)
    assert np.all(coronal.values[np.abs(z - z3) < 1.5, column] == 9)


def test_interpolation_must_be_known():
    volume = Volume(np.zeros((2, 2, 2), np.int16), np.eye(4))
    with pytest.raises(ValueError, match="nearest"):
        SliceRequest(volume, "axial", 0.0, interpolation="cubic")


def random_oblique_case(seed=3):
    rng = np.random.default_rng(seed)
    shape = (23, 31, 29)
    volume = Volume(
        rng.integers(-1000, 3000, shape).astype(np.int16),
        grid_affine(shape, (2.5, 0.9, 0.9), AXIAL_IOP, centre=(5.0, -4.0, 3.0)),
    )
    # a grid wider than the volume, so the footprint is cropped and edges are crossed
    grid = plane_grid(volume, "axial", pixel_mm=0.6)
    grid = type(grid)(grid.plane, grid.origin_mm - [6.0, 4.0, 0.0], 0.6, (70, 66))
    return volume, grid


@pytest.mark.parametrize("compiled", [True, False])
@pytest.mark.parametrize("position", [-22.0, 0.3, 17.9, 40.0])
def test_fast_path_equals_scipy_map_coordinates(monkeypatch, compiled, position):
    if not compiled:
        monkeypatch.setattr(sampling.kernels, "supports", lambda array: False)
    volume, grid = random_oblique_case()
    transform = rigid((11.0, -7.0, 9.0), (2.0, 3.0, -1.0))
    slice2voxel = volume.patient2voxel @ np.linalg.inv(transform) @ grid.slice2reference(position)
    values, inside, unreadable = sample_plane(volume, slice2voxel, grid.shape)

    reference = trilinear_reference(volume.array, slice2voxel, grid.shape)
    rows, columns = np.indices(grid.shape)
    voxels = [
        slice2voxel[k, 0] * rows + slice2voxel[k, 1] * columns + slice2voxel[k, 3] for k in range(3)
    ]
    expected_inside = np.all(
        [
            (v >= -0.5 - 1e-6) & (v <= n - 0.5 + 1e-6)
            for v, n in zip(voxels, volume.shape, strict=True)
        ],
        axis=0,
    )
    assert unreadable is None and values.dtype == np.float32
    if not expected_inside.any():
        assert inside is not None and not inside.any()
        return
    assert inside is not None and 0 < inside.sum() < inside.size
    np.testing.assert_array_equal(inside, expected_inside)
    # within float32 rounding of values up to 3000
    np.testing.assert_allclose(values[inside], reference[inside], atol=2e-3, rtol=0)


def test_grid_fully_inside_reports_inside_everywhere():
    volume, _ = random_oblique_case()
    small = plane_grid(volume, "axial", pixel_mm=0.5)
    centre = volume.center_patient()
    grid = type(small)("axial", centre * [1, 1, 0] - [5.0, 5.0, 0.0], 0.5, (20, 20))
    result = reslice(SliceRequest(volume, "axial", float(centre[2]) + 0.3, grid=grid))
    assert result.inside is None
    slice2voxel = volume.patient2voxel @ result.slice2patient
    np.testing.assert_allclose(
        result.values, trilinear_reference(volume.array, slice2voxel, grid.shape), atol=2e-3
    )


def test_oblique_unreadable_slices_are_flagged():
    volume, grid = random_oblique_case()
    broken = Volume(volume.array, volume.voxel2patient, VolumeMetadata(incomplete_slices=(11,)))
    transform = rigid((0.0, 14.0, 0.0))
    result = reslice(SliceRequest(broken, "axial", 3.0, patient2reference=transform, grid=grid))
    assert result.touches_unreadable
    slice_index = apply_affine(
        broken.patient2voxel @ result.slice2patient,
        np.stack([*np.indices(grid.shape), np.zeros(grid.shape)], axis=-1),
    )[..., 0]
    uses_11 = (np.floor(np.clip(slice_index, 0, 22)) == 11) | (np.ceil(slice_index) == 11)
    np.testing.assert_array_equal(result.unreadable, uses_11 & (result.unreadable | result.inside))
    assert not np.any(result.inside & result.unreadable)


def test_concurrent_frames_of_a_new_volume_agree():
    volume, grid = random_oblique_case(seed=9)
    transform = rigid((5.0, 5.0, -5.0))
    requests = [
        SliceRequest(volume, "axial", p, patient2reference=transform, grid=grid)
        for p in np.linspace(-10, 10, 8)
    ]
    with ThreadPoolExecutor(2) as pool:
        together = list(pool.map(reslice, requests))
    for request, result in zip(requests, together, strict=True):
        np.testing.assert_array_equal(result.values, reslice(request).values)


def test_prepared_and_big_endian_volumes_sample_alike():
    volume, grid = random_oblique_case(seed=5)
    big_endian = Volume(volume.array.astype(">i2"), volume.voxel2patient)
    sampling.prepare(volume)
    transform = rigid((3.0, -9.0, 4.0))
    native, swapped = (
        reslice(SliceRequest(v, "axial", 1.7, patient2reference=transform, grid=grid))
        for v in (volume, big_endian)
    )
    # big-endian arrays go to scipy, native ones to the compiled kernel: equal within float32
    # rounding where the volume is (outside it the values are unspecified)
    np.testing.assert_array_equal(native.inside, swapped.inside)
    np.testing.assert_allclose(
        native.values[native.inside], swapped.values[native.inside], atol=2e-3, rtol=0
    )
