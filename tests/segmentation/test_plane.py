"""Known-answer tests of outlining on any view plane: aligned, coronal, registered, ties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage
from skimage.measure import points_in_poly

from tests.display.phantoms import AXIAL_IOP, grid_affine, rigid
from viewer.core.geometry import apply_affine
from viewer.core.volume import Volume
from viewer.display import PlaneGrid, SliceRequest, plane_grid, reslice
from viewer.segmentation import (
    aligned_axis,
    fill_polygon,
    fill_polygon_on_plane,
    native_point,
    paint_ball,
    paint_disc,
    plane_slab_half_mm,
)

# rows towards anterior, columns towards the patient's right: the array is flipped in-plane
FLIPPED_AXIAL_IOP = (-1, 0, 0, 0, -1, 0)


def view(
    affine: np.ndarray,
    shape: tuple[int, int, int],
    plane: str,
    position_mm: float,
    *,
    patient2reference: np.ndarray | None = None,
    pixel_mm: float = 0.5,
) -> tuple[PlaneGrid, np.ndarray]:
    """A view's screen grid and its slice2voxel, built the way the views build it."""
    patient2reference = np.eye(4) if patient2reference is None else patient2reference
    volume = Volume(np.zeros(shape, np.uint8), affine)
    grid = plane_grid(volume, plane, patient2reference=patient2reference, pixel_mm=pixel_mm)
    slice2voxel = (
        volume.patient2voxel @ np.linalg.inv(patient2reference) @ grid.slice2reference(position_mm)
    )
    return grid, slice2voxel


def shown_on_view(mask, affine, grid, position_mm, patient2reference=None) -> np.ndarray:
    """The mask as the view shows it: nearest-neighbour reslice on the same grid and position."""
    result = reslice(
        SliceRequest(
            Volume(mask.astype(np.uint8), affine),
            grid.plane,
            position_mm,
            patient2reference=patient2reference,
            grid=grid,
            interpolation="nearest",
        )
    )
    inside = np.ones(grid.shape, bool) if result.inside is None else result.inside
    return (result.values > 0) & inside


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2 * float((a & b).sum()) / float(a.sum() + b.sum())


@pytest.mark.parametrize("iop", [AXIAL_IOP, FLIPPED_AXIAL_IOP])
def test_aligned_view_equals_the_native_slice_tools(iop):
    shape = (20, 80, 90)
    affine = grid_affine(shape, (3.0, 0.8, 0.8), iop, centre=(2.0, -3.0, 5.0))
    slice_7_z = apply_affine(affine, (7, 0, 0))[2]
    grid, slice2voxel = view(affine, shape, "axial", slice_7_z + 0.9)
    assert aligned_axis(slice2voxel) == 0
    assert plane_slab_half_mm(slice2voxel) == pytest.approx(1.5)
    center = (grid.shape[0] * 0.45 + 0.3, grid.shape[1] * 0.55 + 0.17)
    native = native_point(slice2voxel, *center)
    assert native[0] == pytest.approx(7 + 0.9 / 3.0)

    disc = np.zeros(shape, bool)
    box = paint_disc(disc, slice2voxel, center, radius_mm=7.3, pixel_mm=grid.pixel_mm)
    ball = np.zeros(shape, bool)
    paint_ball(ball, native, radius_mm=7.3, voxel2patient=affine, axis=0)
    np.testing.assert_array_equal(disc, ball)
    assert np.flatnonzero(disc.any(axis=(1, 2))).tolist() == [7]
    assert disc.sum() * 0.64 == pytest.approx(math.pi * 7.3**2, rel=0.04)
    assert box[0] == slice(7, 8) and disc[box].sum() == disc.sum()

    image = np.random.default_rng(2).integers(0, 100, shape).astype(np.int16)
    disc[:], ball[:] = False, False
    options = {"image": image, "intensity_range": (20, 60)}
    paint_disc(disc, slice2voxel, center, radius_mm=7.3, pixel_mm=grid.pixel_mm, **options)
    paint_ball(ball, native, radius_mm=7.3, voxel2patient=affine, axis=0, **options)
    np.testing.assert_array_equal(disc, ball)
    assert 0 < disc.sum() < 0.6 * ball.size and np.all((image[disc] >= 20) & (image[disc] <= 60))

    angles = np.linspace(0, 2 * np.pi, 9)[:-1]
    radii = np.array([30, 18, 26, 12, 33, 20, 28, 15]) * 1.03
    vertices = np.c_[center[0] + radii * np.sin(angles), center[1] + radii * np.cos(angles)]
    native_vertices = apply_affine(slice2voxel, np.c_[vertices, np.zeros(8)])
    on_plane, on_slice = np.zeros(shape, bool), np.zeros(shape, bool)
    fill_polygon_on_plane(on_plane, slice2voxel, vertices)
    fill_polygon(on_slice, native_vertices[:, 1:], axis=0, index=7)
    assert on_slice.sum() > 300
    np.testing.assert_array_equal(on_plane, on_slice)
    before = on_slice.sum()
    cut = center + 0.5 * (vertices - center)
    native_cut = apply_affine(slice2voxel, np.c_[cut, np.zeros(8)])
    fill_polygon_on_plane(on_plane, slice2voxel, cut, value=False)
    fill_polygon(on_slice, native_cut[:, 1:], axis=0, index=7, value=False)
    assert 0.5 * before < on_slice.sum() < 0.9 * before
    np.testing.assert_array_equal(on_plane, on_slice)


def test_coronal_view_of_thick_axial_slices_paints_one_row_of_several_slices():
    shape = (24, 64, 64)
    affine = grid_affine(shape, (5.0, 0.9, 0.9), AXIAL_IOP, centre=(1.0, 2.0, -4.0))
    row_30_y = apply_affine(affine, (0, 30, 0))[1]
    position = row_30_y + 0.2
    grid, slice2voxel = view(affine, shape, "coronal", position, pixel_mm=0.6)
    assert aligned_axis(slice2voxel) == 1
    assert plane_slab_half_mm(slice2voxel) == pytest.approx(0.45)
    center = (grid.shape[0] / 2 + 0.4, grid.shape[1] / 2 - 3.3)
    mask = np.zeros(shape, bool)
    paint_disc(mask, slice2voxel, center, radius_mm=12.0, pixel_mm=grid.pixel_mm)

    # independently: the voxels of row 30 within 12 mm (in x and z) of the clicked point
    centre_mm = apply_affine(grid.slice2reference(position), (*center, 0.0))
    index = np.stack(np.indices(shape), axis=-1)
    points = apply_affine(affine, index)
    in_disc = np.hypot(points[..., 0] - centre_mm[0], points[..., 2] - centre_mm[2]) <= 12.0
    expected = in_disc & (index[..., 1] == 30)
    np.testing.assert_array_equal(mask, expected)
    slices = np.flatnonzero(mask.any(axis=(1, 2)))
    assert len(slices) == 4  # 24 mm across, slices every 5 mm, none centred on the rim
    assert np.flatnonzero(mask.any(axis=(0, 2))).tolist() == [30]

    triangle = np.array([[5.3, 10.7], [60.2, 40.9], [10.1, 70.4]])
    native_vertices = apply_affine(slice2voxel, np.c_[triangle, np.zeros(3)])
    on_plane, on_slice = np.zeros(shape, bool), np.zeros(shape, bool)
    fill_polygon_on_plane(on_plane, slice2voxel, triangle)
    fill_polygon(on_slice, native_vertices[:, [0, 2]], axis=1, index=30)
    assert on_slice.sum() > 100
    np.testing.assert_array_equal(on_plane, on_slice)


REGISTERED = rigid((20.0, 10.0, 0.0), (4.0, -6.0, 3.0))  # 20 deg about LR, 10 deg about AP


def registered_case():
    shape = (40, 90, 90)
    affine = grid_affine(shape, (2.0, 0.9, 0.9), AXIAL_IOP)
    position = 1.7
    grid, slice2voxel = view(
        affine, shape, "axial", position, patient2reference=REGISTERED, pixel_mm=0.5
    )
    center = (grid.shape[0] / 2 + 7.3, grid.shape[1] / 2 - 11.6)
    return shape, affine, position, grid, slice2voxel, center


def test_disc_on_a_registered_view_shows_back_solid_and_lies_on_the_plane():
    shape, affine, position, grid, slice2voxel, center = registered_case()
    assert aligned_axis(slice2voxel) is None
    mask = np.zeros(shape, bool)
    box = paint_disc(mask, slice2voxel, center, radius_mm=10.0, pixel_mm=grid.pixel_mm)
    assert mask.sum() > 0 and mask[box].sum() == mask.sum()

    shown = shown_on_view(mask, affine, grid, position, REGISTERED)
    rows, columns = np.indices(grid.shape)
    distance_mm = np.hypot(rows - center[0], columns - center[1]) * grid.pixel_mm
    ideal = distance_mm <= 10.0
    assert dice(shown, ideal) >= 0.95
    # nearest neighbour moves an edge by at most half a voxel diagonal
    margin_mm = 0.5 * math.hypot(2.0, 0.9, 0.9)
    assert shown[distance_mm <= 10.0 - margin_mm].all()
    assert not shown[distance_mm > 10.0 + margin_mm].any()
    np.testing.assert_array_equal(ndimage.binary_fill_holes(shown), shown)

    # every painted voxel's cell meets the plane: its centre lies within h of it (mm)
    normal_in_patient = np.linalg.inv(REGISTERED)[:3, :3] @ [0.0, 0.0, 1.0]
    half_mm = 0.5 * np.abs(affine[:3, :3].T @ normal_in_patient).sum()
    assert plane_slab_half_mm(slice2voxel) == pytest.approx(half_mm)
    painted_z = apply_affine(REGISTERED @ affine, np.argwhere(mask))[:, 2]
    assert np.all(np.abs(painted_z - position) <= half_mm + 1e-9)
    # and is not a thick slab: about as many voxels as the disc's area over the layer
    assert mask.sum() < 1.0 * math.pi * 100 * 2 * half_mm / (2.0 * 0.9 * 0.9)

    paint_disc(mask, slice2voxel, center, radius_mm=4.0, pixel_mm=grid.pixel_mm, value=False)
    shown = shown_on_view(mask, affine, grid, position, REGISTERED)
    assert not shown[distance_mm <= 4.0 - margin_mm].any()
    assert shown[(distance_mm > 4.0 + margin_mm) & (distance_mm <= 10.0 - margin_mm)].all()


def test_polygon_on_a_registered_view_shows_back():
    shape, affine, position, grid, slice2voxel, center = registered_case()
    angles = np.linspace(0, 2 * np.pi, 201)[:-1]
    radius_px = 24.0 * (1 + 0.25 * np.sin(3 * angles))
    vertices = np.c_[center[0] + radius_px * np.sin(angles), center[1] + radius_px * np.cos(angles)]
    mask = np.zeros(shape, bool)
    fill_polygon_on_plane(mask, slice2voxel, vertices)
    shown = shown_on_view(mask, affine, grid, position, REGISTERED)
    rows, columns = np.indices(grid.shape)
    ideal = points_in_poly(np.c_[rows.ravel(), columns.ravel()], vertices).reshape(grid.shape)
    assert dice(shown, ideal) >= 0.95
    np.testing.assert_array_equal(ndimage.binary_fill_holes(shown), shown)


@pytest.mark.parametrize("iop", [AXIAL_IOP, (1, 0, 0, 0, -1, 0)])  # slices upwards / downwards
def test_plane_exactly_between_two_slices_takes_the_one_the_view_shows(iop):
    shape = (10, 30, 30)
    affine = grid_affine(shape, (2.0, 1.0, 1.0), iop)
    grid, slice2voxel = view(affine, shape, "axial", 0.0, pixel_mm=1.0)
    assert native_point(slice2voxel, 0, 0)[0] == 4.5  # exactly between slices 4 and 5
    assert plane_slab_half_mm(slice2voxel) == 1.0

    labels = np.zeros(shape, np.uint8)
    labels[4], labels[5] = 4, 5
    shown = reslice(
        SliceRequest(Volume(labels, affine), "axial", 0.0, grid=grid, interpolation="nearest")
    )
    shown_slice = int(np.unique(shown.values[shown.values > 0]).item())

    mask = np.zeros(shape, bool)
    paint_disc(mask, slice2voxel, (15.0, 15.0), radius_mm=6.0, pixel_mm=1.0)
    assert np.flatnonzero(mask.any(axis=(1, 2))).tolist() == [shown_slice]
    mask[:] = False
    fill_polygon_on_plane(mask, slice2voxel, np.array([[3.0, 3.0], [3.0, 20.0], [20.0, 9.0]]))
    assert np.flatnonzero(mask.any(axis=(1, 2))).tolist() == [shown_slice]


def test_aligned_axis_of_views_and_of_a_tilted_gantry_grid():
    shape = (12, 40, 40)
    affine = grid_affine(shape, (5.0, 0.9, 0.9), AXIAL_IOP)
    for plane, axis in (("axial", 0), ("coronal", 1), ("sagittal", 2)):
        assert aligned_axis(view(affine, shape, plane, 0.0)[1]) == axis
    assert (
        aligned_axis(view(affine, shape, "axial", 0.0, patient2reference=rigid((3, 0, 0)))[1])
        is None
    )

    # gantry tilt: each slice is axial but shifted along y; an axial view is one native slice
    tilted = affine.copy()
    tilted[:3, 0] = [0.0, 1.3, 5.0]
    slice_5_z = apply_affine(tilted, (5, 0, 0))[2]
    grid, slice2voxel = view(tilted, shape, "axial", slice_5_z + 0.4)
    assert aligned_axis(slice2voxel) == 0
    mask = np.zeros(shape, bool)
    paint_disc(mask, slice2voxel, (grid.shape[0] / 2, grid.shape[1] / 2), radius_mm=8, pixel_mm=0.5)
    assert np.flatnonzero(mask.any(axis=(1, 2))).tolist() == [5]


def test_intensity_range_on_an_oblique_view():
    shape, affine, position, grid, slice2voxel, center = registered_case()
    image = np.zeros(shape, np.int16)
    image[:, :, 45:] = 100
    everything, bright = np.zeros(shape, bool), np.zeros(shape, bool)
    options = {"radius_mm": 20.0, "pixel_mm": grid.pixel_mm}
    paint_disc(everything, slice2voxel, center, **options)
    paint_disc(bright, slice2voxel, center, image=image, intensity_range=(50, 150), **options)
    assert bright.sum() > 100 and everything[:, :, :45].sum() > 100
    np.testing.assert_array_equal(bright, everything & (image == 100))


def test_misses_and_bad_input():
    shape, affine, position, grid, slice2voxel, center = registered_case()
    mask = np.zeros(shape, bool)
    far = (-5000.0, -5000.0)
    assert paint_disc(mask, slice2voxel, far, radius_mm=5, pixel_mm=0.5) is None
    square = np.array([[0, 0], [0, 10], [10, 10], [10, 0]], float)
    assert fill_polygon_on_plane(mask, slice2voxel, square + far) is None
    assert fill_polygon_on_plane(mask, slice2voxel, square[:2] + center) is None
    outside_grid = view(affine, shape, "axial", 500.0, patient2reference=REGISTERED)[1]
    assert paint_disc(mask, outside_grid, center, radius_mm=5, pixel_mm=0.5) is None
    assert not mask.any()
    with pytest.raises(ValueError, match="radius"):
        paint_disc(mask, slice2voxel, center, radius_mm=0, pixel_mm=0.5)
    with pytest.raises(ValueError, match="pixel"):
        paint_disc(mask, slice2voxel, center, radius_mm=3, pixel_mm=0)
    with pytest.raises(ValueError, match="intensity range needs the image"):
        paint_disc(mask, slice2voxel, center, radius_mm=3, pixel_mm=0.5, intensity_range=(0, 1))
    with pytest.raises(ValueError, match="bool"):
        paint_disc(mask.astype(np.uint8), slice2voxel, center, radius_mm=3, pixel_mm=0.5)
    with pytest.raises(ValueError, match="singular"):
        plane_slab_half_mm(np.zeros((4, 4)))
    with pytest.raises(ValueError, match="finite"):
        aligned_axis(np.full((4, 4), np.nan))
    with pytest.raises(ValueError, match="shape"):
        fill_polygon_on_plane(mask, slice2voxel, np.zeros((4, 3)))
