"""Linked views: one crosshair and one field of view show the same anatomy in every visit."""

from __future__ import annotations

import numpy as np
import pytest

from tests.display.phantoms import CORONAL_IOP, grid_affine, rigid
from viewer.core.geometry import apply_affine
from viewer.core.volume import Volume
from viewer.display import (
    PLANE_AXIS_INDEX,
    PLANES,
    PlaneGrid,
    SliceRequest,
    foreground_box,
    grid_point,
    link_views,
    plane_grid,
    reslice,
    shared_grid,
    viewport_grid,
)

MOVED = rigid((7.0, 3.0, -10.0), (12.0, -6.0, 4.0))


def marker_volume(shape, spacing, iop, centre, voxel) -> Volume:
    array = np.zeros(shape, np.int16)
    array[voxel] = 1000
    return Volume(array, grid_affine(shape, spacing, iop, centre=centre))


def test_shared_grid_covers_every_visit_at_the_reference_resolution():
    reference = Volume(np.zeros((30, 40, 40), np.int16), grid_affine((30, 40, 40), (2, 1, 1)))
    other = Volume(
        np.zeros((20, 30, 50), np.int16),
        grid_affine((20, 30, 50), (3.0, 0.8, 0.8), CORONAL_IOP, centre=(25.0, 10.0, -5.0)),
    )
    for plane in PLANES:
        grid = shared_grid(plane, [(reference, None), (other, MOVED)])
        assert grid.pixel_mm == plane_grid(reference, plane).pixel_mm
        to_grid = np.linalg.inv(grid.slice2reference(0.0))
        for volume, transform in ((reference, None), (other, MOVED)):
            corners = np.array(np.meshgrid(*[[0, n - 1] for n in volume.shape], indexing="ij"))
            points = apply_affine(volume.voxel2patient, corners.reshape(3, -1).T)
            if transform is not None:
                points = apply_affine(transform, points)
            rows, columns, _ = apply_affine(to_grid, points).T
            assert rows.min() >= -1e-6 and rows.max() <= grid.shape[0] - 1 + 1e-6
            assert columns.min() >= -1e-6 and columns.max() <= grid.shape[1] - 1 + 1e-6
        # and no larger than needed: some corner touches each edge
        finer = shared_grid(plane, [(reference, None), (other, MOVED)], pixel_mm=0.5)
        assert finer.pixel_mm == 0.5
        assert abs(finer.shape[0] * 0.5 - grid.shape[0] * grid.pixel_mm) <= 1.0
    with pytest.raises(ValueError):
        shared_grid("axial", [])


def test_viewport_grid_follows_the_slice_view_zoom_and_pan():
    grid = PlaneGrid("axial", np.array([-100.0, -80.0, 0.0]), 0.5, (320, 400))  # 200 x 160 mm
    fitted = viewport_grid(grid, (300, 500))
    # fit: 500 px / 200 mm = 2.5, 300 px / 160 mm = 1.875 -> 1.875 px per mm, centred
    assert fitted.pixel_mm == pytest.approx(1 / 1.875)
    centre_of_grid = apply_affine(grid.slice2reference(0.0), (159.5, 199.5, 0.0))
    centre_of_view = apply_affine(fitted.slice2reference(0.0), (149.5, 249.5, 0.0))
    np.testing.assert_allclose(centre_of_view, centre_of_grid, atol=1e-9)

    zoomed = viewport_grid(grid, (300, 500), zoom=4.0, pan_mm=(10.0, -5.0))
    assert zoomed.pixel_mm == pytest.approx(1 / 7.5)
    # the slice centre moved 10 mm right and 5 mm up on screen, so the view's centre now shows
    # the point 10 mm left of and 5 mm below the slice centre (in image terms)
    expected = centre_of_grid + np.array([-10.0, 5.0, 0.0])
    np.testing.assert_allclose(
        apply_affine(zoomed.slice2reference(0.0), (149.5, 249.5, 0.0)), expected, atol=1e-9
    )
    with pytest.raises(ValueError):
        viewport_grid(grid, (0, 10))


def test_same_screen_pixel_is_the_same_anatomy_in_every_linked_visit():
    # A landmark at reference point P: visit A scanned with the head still, visit B moved by
    # MOVED (a coronal acquisition). Both, drawn through their transforms on one viewport grid,
    # show P on the same screen pixel.
    point = np.array([8.0, -12.0, 6.0])
    a_volume = Volume(np.zeros((40, 64, 64), np.int16), grid_affine((40, 64, 64), (1, 1, 1)))
    a_index = tuple(np.round(apply_affine(a_volume.patient2voxel, point)).astype(int))
    a_volume = marker_volume((40, 64, 64), (1, 1, 1), (1, 0, 0, 0, 1, 0), (0, 0, 0), a_index)
    a_point = apply_affine(a_volume.voxel2patient, a_index)  # the voxel centre nearest to P

    b_affine = grid_affine((50, 40, 60), (1.0, 1.0, 1.0), CORONAL_IOP, centre=(-3.0, 5.0, 2.0))
    b_patient = apply_affine(np.linalg.inv(MOVED), a_point)
    b_index = tuple(np.round(apply_affine(np.linalg.inv(b_affine), b_patient)).astype(int))
    b_volume = marker_volume((50, 40, 60), (1, 1, 1), CORONAL_IOP, (-3.0, 5.0, 2.0), b_index)
    b_point = MOVED[:3, :3] @ apply_affine(b_affine, b_index) + MOVED[:3, 3]

    for plane in PLANES:
        grid = shared_grid(plane, [(a_volume, None), (b_volume, MOVED)])
        view = viewport_grid(grid, (256, 256), zoom=1.3, pan_mm=(-4.0, 2.0))
        (linked,) = link_views(a_point, [view])
        assert all(0 <= p < 256 for p in linked.crosshair_px)
        assert linked.position_mm == a_point[PLANE_AXIS_INDEX[plane]]
        np.testing.assert_allclose(
            grid_point(view, linked.position_mm, *linked.crosshair_px), a_point, atol=1e-9
        )
        shown = []
        for volume, transform in ((a_volume, None), (b_volume, MOVED)):
            result = reslice(
                SliceRequest(
                    volume, plane, linked.position_mm, patient2reference=transform, grid=view
                )
            )
            shown.append(np.unravel_index(np.argmax(result.values), view.shape))
        # the crosshair pixel shows the landmark in visit A; visit B's nearest voxel centre is
        # within half a voxel diagonal (0.87 mm) of it
        assert np.hypot(*(np.array(shown[0]) - linked.crosshair_px)) * view.pixel_mm < 0.5
        distance_mm = np.hypot(*(np.array(shown[1]) - shown[0])) * view.pixel_mm
        assert distance_mm <= np.linalg.norm(b_point - a_point) + view.pixel_mm


def test_one_crosshair_cuts_three_orthogonal_views_through_it():
    grids = [PlaneGrid(p, np.zeros(3), 0.8, (200, 200)) for p in PLANES]
    point = [12.5, -30.0, 44.0]
    views = link_views(point, grids)
    assert [v.plane for v in views] == list(PLANES)
    assert [v.position_mm for v in views] == [44.0, -30.0, 12.5]
    for view, grid in zip(views, grids, strict=True):
        np.testing.assert_allclose(grid_point(grid, view.position_mm, *view.crosshair_px), point)


def test_a_shared_grid_fits_the_heads_not_the_field_of_view():
    shape = (20, 100, 120)
    array = np.zeros(shape, np.int16)
    array[5:15, 30:61, 40:71] = 500  # a 31 x 31 voxel "head" in a large field of view
    array[0, 0, 0] = 900  # one bright noisy voxel in the air
    volume = Volume(array, grid_affine(shape, (2.0, 1.0, 1.0)))
    box = foreground_box(array, 100.0, min_fraction=0.001)
    np.testing.assert_array_equal(box[0], [5, 30, 40])
    np.testing.assert_array_equal(box[1], [14, 60, 70])
    assert foreground_box(array, 100.0)[0].tolist() == [0, 0, 0]  # the noise counts without it
    assert foreground_box(array, 1000.0) is None
    whole = shared_grid("axial", [(volume, None)])
    fitted = shared_grid("axial", [(volume, None)], boxes=[box], margin=0.1)
    assert fitted.pixel_mm == whole.pixel_mm == 1.0
    assert whole.shape == (100, 120)
    # 31 voxels span 30 mm; 10 % more on each side: 36 mm, 37 pixel centres
    assert fitted.shape == (37, 37)
    head_corner = apply_affine(volume.voxel2patient, (5, 30, 40))
    np.testing.assert_allclose(fitted.origin_mm[:2], head_corner[:2] - 3.0)
    # a moved visit's head is covered where its registration puts it
    moved = shared_grid("axial", [(volume, None), (volume, MOVED)], boxes=[box, box])
    assert moved.shape[0] > 31 and moved.shape[1] > 31
    with pytest.raises(ValueError):
        shared_grid("axial", [(volume, None)], boxes=[box, box])
