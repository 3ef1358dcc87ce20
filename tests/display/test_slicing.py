"""Known-answer tests: the right voxel lands at the right screen pixel, in every plane."""

from __future__ import annotations

import numpy as np
import pytest

from viewer.core.geometry import affine_from_dicom, apply_affine
from viewer.core.volume import Volume, VolumeMetadata
from viewer.display import (
    PLANE_AXIS_INDEX,
    SliceRequest,
    edge_letters,
    plane_grid,
    reslice,
    slice_positions,
)
from viewer.display.sampling import sample_plane

AXIAL_IOP = (1, 0, 0, 0, 1, 0)
CORONAL_IOP = (1, 0, 0, 0, 0, -1)
SAGITTAL_IOP = (0, 1, 0, 0, 0, -1)


def make_volume(
    shape, spacing, iop, origin=(-20.0, -30.0, -10.0), dtype=np.int16, metadata=None
) -> Volume:
    iop = np.asarray(iop, float)
    normal = np.cross(iop[:3], iop[3:])
    affine = affine_from_dicom(origin, iop, spacing[1:], normal * spacing[0])
    return Volume(np.zeros(shape, dtype), affine, metadata or VolumeMetadata())


def with_markers(volume: Volume, markers: dict[tuple[int, int, int], int]) -> Volume:
    array = np.zeros(volume.shape, volume.array.dtype)
    for index, value in markers.items():
        array[index] = value
    return Volume(array, volume.voxel2patient, volume.metadata)


def screen_pixel(result, point_lps) -> np.ndarray:
    """(row, column, offset_mm) of a patient point on a slice."""
    return apply_affine(np.linalg.inv(result.slice2patient), point_lps)


def show(volume: Volume, plane: str, point_lps, **kw):
    return reslice(SliceRequest(volume, plane, float(point_lps[PLANE_AXIS_INDEX[plane]]), **kw))


ACQUISITIONS = {
    # name: (shape, (slice step, row spacing, column spacing) mm, IOP)
    "axial 3 mm slices": ((12, 20, 24), (3.0, 1.0, 1.0), AXIAL_IOP),
    "coronal 2 mm slices": ((10, 22, 18), (2.0, 1.0, 1.0), CORONAL_IOP),
    "sagittal 0.5x0.5 mm pixels": ((9, 30, 28), (1.5, 0.5, 0.5), SAGITTAL_IOP),
    "axial feet-first": ((8, 16, 18), (2.0, 1.0, 1.0), (-1, 0, 0, 0, 1, 0)),
}


@pytest.mark.parametrize("name", ACQUISITIONS)
@pytest.mark.parametrize("plane", ["axial", "coronal", "sagittal"])
def test_marker_lands_on_its_screen_pixel(name, plane):
    shape, spacing, iop = ACQUISITIONS[name]
    marker = (shape[0] // 2 + 1, shape[1] // 3, shape[2] // 2 - 1)
    volume = with_markers(make_volume(shape, spacing, iop), {marker: 1000})
    point = apply_affine(volume.voxel2patient, marker)

    result = show(volume, plane, point)

    row, column, offset = screen_pixel(result, point)
    assert offset == pytest.approx(0.0, abs=1e-9)
    # the grids start on voxel centres and pixels divide the spacing: the marker is on a pixel
    np.testing.assert_allclose([row, column], np.round([row, column]), atol=1e-6)
    row, column = round(row), round(column)
    assert result.values[row, column] == 1000
    assert np.count_nonzero(result.values == result.values.max()) == 1
    # square pixels of the finest sampling on screen (here always the acquired pixel spacing)
    assert result.pixel_mm == pytest.approx(min(spacing[1:]))
    assert np.linalg.norm(result.slice2patient[:3, 0]) == pytest.approx(result.pixel_mm)
    assert np.linalg.norm(result.slice2patient[:3, 1]) == pytest.approx(result.pixel_mm)


def test_interpolates_between_thick_slices_in_a_coronal_view():
    # 3 mm axial slices shown coronally with 1 mm pixels: a third of the way to the next slice
    # the value is two thirds of the marker.
    volume = with_markers(make_volume((6, 8, 8), (3.0, 1.0, 1.0), AXIAL_IOP), {(2, 4, 4): 900})
    point = apply_affine(volume.voxel2patient, (2, 4, 4))
    result = show(volume, "coronal", point)
    row, column, _ = np.round(screen_pixel(result, point)).astype(int)
    # screen down is inferior, towards slice 1
    assert result.values[row, column] == pytest.approx(900)
    assert result.values[row + 1, column] == pytest.approx(600)
    assert result.values[row - 1, column] == pytest.approx(600)
    assert result.values[row + 3, column] == pytest.approx(0)
    assert result.values.dtype == np.float32


def test_radiological_display_conventions():
    shape, spacing = (10, 40, 40), (2.0, 1.0, 1.0)
    base = make_volume(shape, spacing, AXIAL_IOP, origin=(-20.0, -20.0, -10.0))
    centre = (5, 20, 20)

    def where(plane, offset_lps):
        """Screen (row, column) where a marker offset from the centre in LPS mm shows."""
        point = apply_affine(base.voxel2patient, centre) + np.asarray(offset_lps, float)
        index = tuple(np.round(apply_affine(base.patient2voxel, point)).astype(int))
        volume = with_markers(base, {index: 500})
        result = show(volume, plane, point)
        rows, columns = np.nonzero(result.values == 500)
        return rows[0], columns[0]

    # axial: patient right on screen left, anterior up
    assert where("axial", (-10, 0, 0))[1] < where("axial", (10, 0, 0))[1]
    assert where("axial", (0, -10, 0))[0] < where("axial", (0, 10, 0))[0]
    # coronal: patient right on screen left, superior up
    assert where("coronal", (-10, 0, 0))[1] < where("coronal", (10, 0, 0))[1]
    assert where("coronal", (0, 0, 6))[0] < where("coronal", (0, 0, -6))[0]
    # sagittal: anterior on the left, superior up
    assert where("sagittal", (0, -10, 0))[1] < where("sagittal", (0, 10, 0))[1]
    assert where("sagittal", (0, 0, 6))[0] < where("sagittal", (0, 0, -6))[0]


def test_feet_first_volume_still_shows_right_on_the_left():
    # Feet-first supine: the scanner's row direction points to the patient's right and slices go
    # towards the feet; on screen nothing may change.
    array = np.zeros((6, 10, 10), np.int16)
    ffs = affine_from_dicom((40.0, -20.0, 30.0), (-1, 0, 0, 0, 1, 0), (1.0, 1.0), (0, 0, -2.0))
    array[3, 5, 1] = 700  # column 1 of a row going right-wards: near the patient's LEFT (x = 39)
    volume = Volume(array, ffs)
    point = apply_affine(ffs, (3, 5, 1))
    result = show(volume, "axial", point)
    row, column = np.argwhere(result.values == 700)[0]
    assert column == result.values.shape[1] - 2  # the patient's left is on the screen's right
    letters = edge_letters(result.slice2patient)
    assert (letters.left, letters.right, letters.top, letters.bottom) == ("R", "L", "A", "P")


def linear_volume(volume: Volume, coefficients=(0.7, -1.3, 2.1), constant=50.0) -> Volume:
    """A float32 volume holding a linear function of patient position (trilinear-exact)."""
    indices = np.indices(volume.shape).reshape(3, -1).T
    points = apply_affine(volume.voxel2patient, indices)
    values = (points @ np.asarray(coefficients) + constant).reshape(volume.shape)
    return Volume(values.astype(np.float32), volume.voxel2patient)


def rotation(axis: int, degrees: float) -> np.ndarray:
    c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    i, j = [k for k in range(3) if k != axis]
    r = np.eye(3)
    r[i, i], r[i, j], r[j, i], r[j, j] = c, -s, s, c
    return r


@pytest.mark.parametrize("plane", ["axial", "coronal", "sagittal"])
def test_oblique_acquisition_is_shown_in_true_anatomical_planes(plane):
    # An axial acquisition tilted 20 degrees about x and turned 10 degrees about z.
    r = rotation(2, 10) @ rotation(0, 20)
    iop = np.r_[r[:, 0], r[:, 1]]
    volume = linear_volume(make_volume((14, 24, 26), (2.5, 1.0, 1.2), iop, origin=(-12, -15, -16)))
    centre = volume.center_patient()

    result = show(volume, plane, centre)

    assert result.inside is not None and result.inside.any() and not result.inside.all()
    rows, columns = np.nonzero(result.inside)
    points = apply_affine(result.slice2patient, np.c_[rows, columns, np.zeros_like(rows)])
    # within the outer voxel centres trilinear interpolation reproduces a linear function exactly
    voxels = apply_affine(volume.patient2voxel, points)
    between_centres = np.all((voxels >= 0) & (voxels <= np.array(volume.shape) - 1), axis=1)
    assert between_centres.mean() > 0.5
    rows, columns, points = rows[between_centres], columns[between_centres], points[between_centres]
    expected = points @ np.array([0.7, -1.3, 2.1]) + 50.0
    np.testing.assert_allclose(result.values[rows, columns], expected, atol=2e-3)
    # the slice lies exactly in the requested anatomical plane
    np.testing.assert_allclose(points[:, PLANE_AXIS_INDEX[plane]], centre[PLANE_AXIS_INDEX[plane]])


def test_oblique_marker_lands_within_half_a_pixel():
    r = rotation(0, 15)
    iop = np.r_[r[:, 0], r[:, 1]]
    volume = make_volume((20, 30, 30), (1.0, 1.0, 1.0), iop, dtype=np.float32)
    distance2 = np.sum((np.indices(volume.shape).T - np.array([10, 15, 15])) ** 2, axis=-1).T
    volume = Volume(np.exp(-distance2 / 8.0).astype(np.float32), volume.voxel2patient)
    point = apply_affine(volume.voxel2patient, (10, 15, 15))
    result = show(volume, "axial", point)
    row, column, _ = screen_pixel(result, point)
    peak = np.unravel_index(np.argmax(result.values), result.values.shape)
    assert abs(peak[0] - row) <= 0.5 + 1e-6 and abs(peak[1] - column) <= 0.5 + 1e-6


def test_aligned_slice_is_a_view_and_matches_interpolation():
    volume = Volume(
        np.random.default_rng(1).integers(-1000, 2000, (7, 9, 11)).astype(np.int16),
        make_volume((7, 9, 11), (1.0, 1.0, 1.0), CORONAL_IOP).voxel2patient,
    )
    for plane in ("axial", "coronal", "sagittal"):
        positions = slice_positions(volume, plane)
        result = reslice(SliceRequest(volume, plane, positions.position(3)))
        assert np.shares_memory(result.values, volume.array), plane
        slow, inside, _ = sample_plane(
            volume, volume.patient2voxel @ result.slice2patient, result.values.shape
        )
        assert inside is None
        np.testing.assert_array_equal(slow, result.values.astype(np.float32))


def test_slice_positions_are_the_voxel_centres_along_the_plane_axis():
    volume = make_volume((12, 20, 24), (3.0, 0.8, 0.8), AXIAL_IOP, origin=(-9.6, -8.0, -16.5))
    axial = slice_positions(volume, "axial")
    assert (axial.first_mm, axial.step_mm, axial.count) == (
        pytest.approx(-16.5),
        pytest.approx(3.0),
        12,
    )
    coronal = slice_positions(volume, "coronal")
    assert (coronal.first_mm, coronal.step_mm, coronal.count) == (
        pytest.approx(-8.0),
        pytest.approx(0.8),
        20,
    )
    assert axial.index_of(-16.5 + 3 * 5 + 1.2) == 5
    assert axial.index_of(1000) == 11 and axial.position(-4) == pytest.approx(-16.5)
    # a 30-degree tilt about x: stepping 3/cos(30) mm in z crosses one slice; rows step faster
    r = rotation(0, 30)
    tilted = make_volume((12, 20, 24), (3.0, 0.8, 0.8), np.r_[r[:, 0], r[:, 1]])
    step = slice_positions(tilted, "axial").step_mm
    assert step == pytest.approx(min(3.0 / np.cos(np.radians(30)), 0.8 / np.sin(np.radians(30))))


def test_patient2reference_moves_the_volume_in_the_reference_frame():
    volume = with_markers(make_volume((8, 16, 16), (2.0, 1.0, 1.0), AXIAL_IOP), {(4, 6, 9): 321})
    point = apply_affine(volume.voxel2patient, (4, 6, 9))
    shift = np.eye(4)
    shift[:3, 3] = (10.0, -5.0, 4.0)
    in_reference = point + shift[:3, 3]
    result = reslice(SliceRequest(volume, "axial", float(in_reference[2]), patient2reference=shift))
    row, column, offset = apply_affine(np.linalg.inv(result.slice2reference), in_reference)
    assert result.values[round(row), round(column)] == 321
    np.testing.assert_allclose(apply_affine(result.slice2patient, (row, column, 0)), point)


def test_shared_grid_keeps_pixels_aligned_between_volumes():
    big = make_volume((10, 40, 40), (2.0, 1.0, 1.0), AXIAL_IOP, origin=(-20, -20, -10))
    small = with_markers(
        make_volume((10, 10, 10), (2.0, 1.0, 1.0), AXIAL_IOP, origin=(0, 0, -10)), {(5, 2, 3): 77}
    )
    grid = plane_grid(big, "axial")
    result = reslice(SliceRequest(small, "axial", 0.0, grid=grid))
    assert result.values.shape == grid.shape == (40, 40)
    assert result.values[22, 23] == pytest.approx(77)  # x = 3 -> column 23, y = 2 -> row 22
    assert result.inside is not None and result.inside.sum() == 100


def test_unreadable_slices_are_never_shown_as_data():
    meta = VolumeMetadata(incomplete_slices=(3,))
    volume = make_volume((8, 10, 10), (2.0, 1.0, 1.0), AXIAL_IOP, metadata=meta)
    axial, coronal = slice_positions(volume, "axial"), slice_positions(volume, "coronal")

    bad = reslice(SliceRequest(volume, "axial", axial.position(3)))
    assert bad.touches_unreadable and bad.unreadable.all() and not bad.inside.any()
    good = reslice(SliceRequest(volume, "axial", axial.position(5)))
    assert not good.touches_unreadable and good.inside is None and good.unreadable is None

    side = reslice(SliceRequest(volume, "coronal", coronal.position(4)))
    # rows are 1 mm apart, slices 2 mm: slice 3 and the interpolated rows beside it are out
    bad_rows = np.nonzero(side.unreadable.any(axis=1))[0]
    assert side.unreadable[bad_rows].all() and not side.inside[bad_rows].any()
    zeros = np.zeros_like(bad_rows)
    z_of_rows = apply_affine(side.slice2patient, np.c_[bad_rows, zeros, zeros])[:, 2]
    slice3_z = apply_affine(volume.voxel2patient, (3, 0, 0))[2]
    np.testing.assert_allclose(sorted(z_of_rows), [slice3_z - 1, slice3_z, slice3_z + 1])


def test_unreadable_slice_in_an_aligned_sagittal_view_is_one_column():
    meta = VolumeMetadata(incomplete_slices=(2,))
    volume = make_volume((6, 10, 10), (1.0, 1.0, 1.0), AXIAL_IOP, metadata=meta)
    result = reslice(
        SliceRequest(volume, "sagittal", slice_positions(volume, "sagittal").position(4))
    )
    assert np.shares_memory(result.values, volume.array)
    rows = np.nonzero(result.unreadable.any(axis=1))[0]
    # superior is up: slice 2 of 6 (counting from inferior) is row 3 from the top
    assert rows.tolist() == [3] and result.unreadable[3].all()


@pytest.mark.parametrize("name", ACQUISITIONS)
@pytest.mark.parametrize("plane", ["axial", "coronal", "sagittal"])
def test_grid_aligned_cut_equals_trilinear_interpolation(name, plane):
    shape, spacing, iop = ACQUISITIONS[name]
    rng = np.random.default_rng(7)
    meta = VolumeMetadata(incomplete_slices=(2,))
    base = make_volume(shape, spacing, iop, metadata=meta)
    volume = Volume(rng.integers(-500, 500, shape).astype(np.int16), base.voxel2patient, meta)
    positions = slice_positions(volume, plane)
    for index in (0, positions.count // 2, positions.count - 1):
        result = reslice(SliceRequest(volume, plane, positions.position(index)))
        slow, inside, unreadable = sample_plane(
            volume, volume.patient2voxel @ result.slice2patient, result.values.shape
        )
        np.testing.assert_allclose(result.values, slow, atol=1e-3)
        for fast_mask, slow_mask in ((result.inside, inside), (result.unreadable, unreadable)):
            assert (fast_mask is None) == (slow_mask is None)
            if fast_mask is not None:
                np.testing.assert_array_equal(fast_mask, slow_mask)
