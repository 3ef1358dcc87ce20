"""The compiled trilinear kernel against scipy map_coordinates(order=1, mode="nearest")."""

import numpy as np
import pytest
from scipy import ndimage

from viewer.core.volume import Volume
from viewer.display import kernels, sampling
from viewer.display.sampling import footprint, sample_plane


def random_plane(rng, volume_shape, spacing_mm):
    """A random oblique slice2voxel whose grid crosses the volume's edges and leaves it.

    Screen pixels are 0.7 mm; the plane's directions are random unit vectors in mm, turned into
    voxel steps by the (anisotropic) spacing.
    """
    rotation, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    slice2voxel = np.eye(4)
    slice2voxel[:3, :3] = rotation * 0.7 / np.asarray(spacing_mm)[:, None]
    # the grid centre lands near the volume's centre, the 60x50 grid reaches well outside
    centre = (np.asarray(volume_shape) - 1) / 2 + rng.uniform(-3, 3, 3)
    slice2voxel[:3, 3] = centre - slice2voxel[:3, 0] * 30 - slice2voxel[:3, 1] * 25
    return slice2voxel


def reference(array, slice2voxel, shape):
    rows, columns = np.indices(shape)
    coords = [
        slice2voxel[k, 0] * rows + slice2voxel[k, 1] * columns + slice2voxel[k, 3] for k in range(3)
    ]
    return ndimage.map_coordinates(
        array, coords, output=np.float64, order=1, mode="nearest", prefilter=False
    )


@pytest.mark.parametrize("dtype", [np.int16, np.float32, np.uint8, np.bool_])
@pytest.mark.parametrize("seed", range(6))
def test_kernel_equals_map_coordinates(dtype, seed):
    rng = np.random.default_rng(seed)
    shape = tuple(int(n) for n in rng.integers(2, 24, 3))
    spacing_mm = rng.uniform(0.4, 3.0, 3)
    if dtype == np.bool_:
        array = rng.random(shape) > 0.5
    elif dtype == np.float32:
        array = rng.standard_normal(shape).astype(np.float32) * 500
    else:
        info = np.iinfo(dtype)
        array = rng.integers(max(info.min, -3000), min(info.max, 3000), shape).astype(dtype)
    slice2voxel = random_plane(rng, shape, spacing_mm)
    grid = (60, 50)
    # sample every pixel (edges clamped), inside or not
    first, last = np.zeros(grid[0], np.intp), np.full(grid[0], grid[1] - 1, np.intp)
    values = kernels.trilinear(array, slice2voxel, grid, first, last)
    expected = reference(array, slice2voxel, grid)
    assert values.dtype == np.float32
    scale = max(1.0, float(np.abs(expected).max()))
    np.testing.assert_allclose(values, expected, atol=scale * 2**-22, rtol=0)


def test_kernel_is_exact_at_voxel_centres_and_edges():
    array = np.arange(2 * 3 * 4, dtype=np.int16).reshape(2, 3, 4)
    # screen row r = voxel row r - 1, screen column c = voxel column c - 1, slice 1: the first and
    # last row and column lie one voxel outside and are clamped to the edge voxels
    slice2voxel = np.array([[0, 0, 1, 1.0], [1, 0, 0, -1], [0, 1, 0, -1], [0, 0, 0, 1]])
    grid = (5, 6)
    full = np.zeros(5, np.intp), np.full(5, 5, np.intp)
    values = kernels.trilinear(array, slice2voxel, grid, *full)
    rows = np.clip(np.arange(5) - 1, 0, 2)
    columns = np.clip(np.arange(6) - 1, 0, 3)
    np.testing.assert_array_equal(values, array[1][np.ix_(rows, columns)])


def test_kernel_leaves_zero_outside_the_runs_it_is_given():
    array = np.full((3, 3, 3), 7, np.int16)
    slice2voxel = np.array([[0, 0, 1, 1.0], [1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1]])
    first, last = np.array([1, 3, 0]), np.array([2, 2, 0])
    values = kernels.trilinear(array, slice2voxel, (3, 4), first, last)
    np.testing.assert_array_equal(values, [[0, 7, 7, 0], [0, 0, 0, 0], [7, 0, 0, 0]])


@pytest.mark.parametrize("seed", range(4))
def test_sample_plane_uses_kernel_on_footprint(seed):
    rng = np.random.default_rng(100 + seed)
    shape = (9, 17, 13)
    spacing_mm = (2.5, 0.6, 0.9)
    volume = Volume(rng.integers(-1000, 2000, shape).astype(np.int16), np.diag([*spacing_mm, 1]))
    slice2voxel = random_plane(rng, shape, spacing_mm)
    grid = (60, 50)
    values, inside, _ = sample_plane(volume, slice2voxel, grid)
    first, last = footprint(slice2voxel, shape, grid)
    columns = np.arange(grid[1])
    expected_inside = (columns >= first[:, None]) & (columns <= last[:, None])
    assert inside is not None and inside.any() and not inside.all()
    np.testing.assert_array_equal(inside, expected_inside)
    np.testing.assert_allclose(
        values[inside], reference(volume.array, slice2voxel, grid)[inside], atol=2e-3, rtol=0
    )
    assert not values[~inside].any()


def test_unsupported_arrays_fall_back_to_scipy():
    assert kernels.supports(np.zeros((2, 2, 2), np.int16))
    assert not kernels.supports(np.zeros((2, 2, 2), ">i2"))
    assert not kernels.supports(np.zeros((2, 2, 2), np.complex64))
    assert not kernels.supports(np.zeros((2, 2), np.int16))


def test_prepare_warms_up_without_touching_the_volume():
    array = np.arange(4 * 5 * 6, dtype=np.float32).reshape(4, 5, 6)
    volume = Volume(array, np.eye(4))
    before = array.copy()
    sampling.prepare(volume)
    np.testing.assert_array_equal(volume.array, before)
