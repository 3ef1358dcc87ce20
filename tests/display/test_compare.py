"""Pair modes with known answers: fade, checkerboard, flicker, subtraction and its colour scale."""

from __future__ import annotations

import numpy as np
import pytest

from tests.display.phantoms import blobs, grid_affine, rigid, sampled
from viewer.core.geometry import apply_affine
from viewer.core.volume import Volume, VolumeMetadata
from viewer.display import (
    DIVERGING_LUT,
    DivergingScale,
    SliceRequest,
    apply_window,
    checkerboard,
    checkerboard_mask,
    colorize,
    fade,
    flicker_index,
    intensity_stats,
    normalisation,
    plane_grid,
    reslice,
    subtract,
)


def rgba_images(shape=(6, 8), seed=0):
    rng = np.random.default_rng(seed)
    return (
        rng.integers(0, 256, (*shape, 4), dtype=np.uint8),
        rng.integers(0, 256, (*shape, 4), dtype=np.uint8),
    )


def test_fade_ends_are_the_inputs_and_the_middle_is_the_mean():
    a, b = rgba_images()
    np.testing.assert_array_equal(fade(a, b, 0.0), a)
    np.testing.assert_array_equal(fade(a, b, 1.0), b)
    middle = fade(a, b, 0.5).astype(int)
    assert np.abs(middle - (a.astype(int) + b.astype(int)) / 2).max() <= 0.5
    quarter = fade(a, b, 0.25).astype(int)
    assert np.abs(quarter - (0.75 * a + 0.25 * b)).max() <= 0.5 + 1e-9


@pytest.mark.parametrize("alpha", [-0.1, 1.5, float("nan")])
def test_fade_weight_outside_0_1_is_refused(alpha):
    a, b = rgba_images()
    with pytest.raises(ValueError):
        fade(a, b, alpha)


def test_pair_modes_refuse_images_on_different_grids():
    a, _ = rgba_images((6, 8))
    _, b = rgba_images((6, 9))
    with pytest.raises(ValueError, match="same grid"):
        fade(a, b, 0.5)
    with pytest.raises(ValueError, match="same grid"):
        checkerboard(a, b, square_px=2)


def test_checkerboard_squares_alternate_between_the_two_visits():
    a = np.zeros((12, 15, 4), np.uint8)
    b = np.full((12, 15, 4), 255, np.uint8)
    board = checkerboard(a, b, square_px=4)
    source = board[..., 0] == 0  # True where the first visit shows
    for row in range(12):
        for column in range(15):
            assert source[row, column] == ((row // 4 + column // 4) % 2 == 0)
    # every square is one source; squares sharing an edge differ
    squares = source[::4, ::4]
    assert np.all(squares[1:] != squares[:-1]) and np.all(squares[:, 1:] != squares[:, :-1])
    np.testing.assert_array_equal(source, checkerboard_mask((12, 15), 4))


def test_checkerboard_square_in_mm_follows_the_pixel_size():
    a, b = rgba_images((20, 20))
    in_mm = checkerboard(a, b, square_mm=5.0, pixel_mm=1.25)
    np.testing.assert_array_equal(in_mm, checkerboard(a, b, square_px=4))
    tiny = checkerboard(a, b, square_mm=0.1, pixel_mm=1.0)  # never less than one pixel
    np.testing.assert_array_equal(tiny, checkerboard(a, b, square_px=1))
    values = checkerboard(a[..., 0], b[..., 0], square_px=3)  # also on plain 2-D slices
    assert values.shape == (20, 20) and values[0, 0] == a[0, 0, 0] and values[0, 3] == b[0, 3, 0]
    with pytest.raises(ValueError):
        checkerboard(a, b)
    with pytest.raises(ValueError):
        checkerboard(a, b, square_px=2, square_mm=4.0, pixel_mm=1.0)
    with pytest.raises(ValueError):
        checkerboard(a, b, square_mm=4.0)


def test_anchored_checkerboard_squares_are_fixed_in_mm():
    a, b = rgba_images((6, 8))
    # pixel (0, 0) lies 3 mm right of and 1 mm below the anchor; 1 mm pixels, 2 mm squares
    board = checkerboard(a, b, square_mm=2.0, pixel_mm=1.0, anchor_mm=(3.0, 1.0))
    column_square = np.floor((3.0 + np.arange(8)) / 2.0) % 2  # 1 0 0 1 1 0 0 1
    row_square = np.floor((1.0 + np.arange(6)) / 2.0) % 2  # 0 1 1 0 0 1
    expected = row_square[:, None] == column_square[None, :]
    np.testing.assert_array_equal(board[expected], a[expected])
    np.testing.assert_array_equal(board[~expected], b[~expected])
    # panning by one pixel moves the squares with the image: the anchor moves with it
    panned = checkerboard(a, b, square_mm=2.0, pixel_mm=1.0, anchor_mm=(4.0, 1.0))
    np.testing.assert_array_equal(panned[:, :-1] == a[:, :-1], board[:, 1:] == a[:, 1:])
    with pytest.raises(ValueError):
        checkerboard(a, b, square_px=2, anchor_mm=(0.0, 0.0))
    with pytest.raises(ValueError):
        checkerboard_mask((4, 4), 0)


def test_flicker_alternates_starting_with_the_first_visit():
    times = np.arange(0.0, 3.0, 0.1)
    shown = [flicker_index(t, interval_s=0.5) for t in times]
    assert shown[:5] == [0] * 5 and shown[5:10] == [1] * 5 and shown[10:15] == [0] * 5
    assert [flicker_index(t, interval_s=0.25) for t in (0.0, 0.3, 0.6)] == [0, 1, 0]
    with pytest.raises(ValueError):
        flicker_index(1.0, interval_s=0.0)


# --- subtraction ---------------------------------------------------------------------------


def head(points: np.ndarray) -> np.ndarray:
    """Blobs inside a 45 mm head, air (0) outside: a foreground for the robust statistics."""
    return np.where(np.linalg.norm(points, axis=1) < 45.0, blobs(points), 0.0)


def with_new_lesion(points: np.ndarray) -> np.ndarray:
    """The same head with a new bright 5 mm lesion at (-15, 10, 8)."""
    lesion = np.linalg.norm(points - np.array([-15.0, 10.0, 8.0]), axis=1) < 5.0
    return head(points) + np.where(lesion, 400.0, 0.0)


MR = VolumeMetadata(modality="MR")
MOVED = rigid((6.0, -4.0, 9.0), (4.0, -7.0, 5.0))


def visit(function, *, scale=1.0, offset=0.0, moved=False, shape=(48, 50, 50), spacing=(2, 2, 2)):
    volume = sampled(
        function,
        grid_affine(shape, spacing),
        shape,
        patient2world=MOVED if moved else None,
        dtype=np.float32,
        metadata=MR,
    )
    array = (volume.array * scale + offset).astype(np.int16)
    return Volume(array, volume.voxel2patient, MR)


def difference_on(later, earlier, *, later_transform=None, position=8.0, plane="axial"):
    grid = plane_grid(earlier, plane, pixel_mm=1.0)
    slices = [
        reslice(SliceRequest(v, plane, position, patient2reference=t, grid=grid))
        for v, t in ((later, later_transform), (earlier, None))
    ]
    norms = [normalisation(v, intensity_stats(v.array)) for v in (later, earlier)]
    result = subtract(
        slices[0], slices[1], later_normalisation=norms[0], earlier_normalisation=norms[1]
    )
    return result, slices[0]


def test_identical_anatomy_at_another_intensity_scale_subtracts_to_zero():
    earlier = visit(head)
    later = visit(head, scale=2.7, offset=150.0)
    difference, _ = difference_on(later, earlier)
    assert difference.units == "IQR" and difference.values.dtype == np.float32
    inside = difference.inside if difference.inside is not None else slice(None)
    assert np.abs(difference.values[inside]).max() < 0.02
    # without normalisation the raw difference is huge: the test can fail
    assert np.abs(later.array.astype(float) - earlier.array).max() > 500


def test_a_new_bright_lesion_appears_positive_and_red_through_the_registration():
    earlier = visit(head)
    later = visit(with_new_lesion, scale=1.8, offset=40.0, moved=True, spacing=(2.0, 1.9, 1.9))
    difference, later_slice = difference_on(later, earlier, later_transform=MOVED)
    points = apply_affine(
        later_slice.slice2reference,
        np.stack([*np.indices(difference.values.shape), np.zeros(difference.values.shape)], -1),
    )
    distance = np.linalg.norm(points - np.array([-15.0, 10.0, 8.0]), axis=-1)
    lesion = distance < 3.0
    both = difference.inside if difference.inside is not None else np.ones(distance.shape, bool)
    elsewhere = both & (distance > 8.0) & (np.linalg.norm(points, axis=-1) < 40.0)
    assert lesion.sum() > 10 and elsewhere.sum() > 1000
    stats = intensity_stats(visit(head).array)
    expected = 400.0 / stats.foreground_iqr  # the lesion's height in the earlier visit's IQRs
    assert np.all(difference.values[lesion] > 0.8 * expected)
    # elsewhere only interpolation error of the moved, resampled visit remains
    assert np.median(np.abs(difference.values[elsewhere])) < 0.05 * expected
    rgba = DivergingScale.default("IQR").to_rgba(difference)
    red, blue = rgba[lesion][:, 0].astype(int), rgba[lesion][:, 2].astype(int)
    assert np.all(red > blue + 100)
    calm = rgba[elsewhere][:, :3].astype(int)
    assert np.median(calm.min(axis=1)) > 200  # near white where nothing changed
    assert np.all(rgba[~both][:, 3] == 0)


def test_ct_is_subtracted_in_hu_and_never_against_mri():
    ct_meta = VolumeMetadata(modality="CT", units="HU")
    ct = Volume(np.full((4, 6, 6), 40, np.int16), np.eye(4), ct_meta)
    ct_later = Volume(np.full((4, 6, 6), 65, np.int16), np.eye(4), ct_meta)
    mr = Volume(np.full((4, 6, 6), 400, np.int16), np.eye(4), MR)
    norm_ct = normalisation(ct, intensity_stats(ct.array))
    assert (norm_ct.offset, norm_ct.scale, norm_ct.units) == (0.0, 1.0, "HU")
    grid = plane_grid(ct, "axial")
    slices = [reslice(SliceRequest(v, "axial", 1.0, grid=grid)) for v in (ct_later, ct, mr)]
    hu = subtract(slices[0], slices[1], later_normalisation=norm_ct, earlier_normalisation=norm_ct)
    assert hu.units == "HU" and np.all(hu.values == 25.0) and hu.inside is None
    with pytest.raises(ValueError, match="same modality"):
        subtract(
            slices[2],
            slices[1],
            later_normalisation=normalisation(mr, intensity_stats(mr.array)),
            earlier_normalisation=norm_ct,
        )
    other_plane = reslice(SliceRequest(ct, "axial", 2.0, grid=grid))
    with pytest.raises(ValueError, match="same grid"):
        subtract(slices[0], other_plane, later_normalisation=norm_ct, earlier_normalisation=norm_ct)


def test_diverging_scale_is_white_at_zero_and_symmetric():
    scale = DivergingScale(2.0, "IQR")
    values = np.linspace(-3, 3, 61, dtype=np.float32)
    indices = scale.indices(values).astype(int)
    # symmetric about 0 (ties at exactly half an entry may round either way)
    assert np.abs(indices + indices[::-1] - 255).max() <= 1
    assert indices[0] == 0 and indices[-1] == 255 and np.all(np.diff(indices) >= 0)
    colours = DIVERGING_LUT[:, :3].astype(int)
    whiteness = colours.min(axis=1)
    assert whiteness[127] > 250 and whiteness[128] > 250
    # entry i and entry 255 - i are equally far along the way from white to blue / to red
    blue, red = colours[0], colours[255]
    to_blue = (255 - colours[:128, 0]) / (255 - blue[0])
    to_red = (255 - colours[128:, 1]) / (255 - red[1])
    np.testing.assert_allclose(to_blue, to_red[::-1], atol=0.01)
    assert colours[255, 0] > colours[255, 2] + 100  # +limit: red
    assert colours[0, 2] > colours[0, 0] + 100  # -limit: blue
    legend_values, legend_rgba = scale.legend(11)
    np.testing.assert_allclose(legend_values, np.linspace(-2, 2, 11))
    assert legend_rgba.shape == (11, 4) and np.all(legend_rgba[:, 3] == 255)
    np.testing.assert_array_equal(legend_rgba[0], DIVERGING_LUT[0])
    np.testing.assert_array_equal(legend_rgba[-1], DIVERGING_LUT[255])
    assert [label for _, label in scale.ticks()] == [
        "-2 IQR",
        "-1 IQR",
        "0 IQR",
        "+1 IQR",
        "+2 IQR",
    ]
    assert DivergingScale.default("HU").limit == 60.0
    with pytest.raises(ValueError):
        DivergingScale(0.0, "HU")


def test_fade_of_windowed_frames_is_a_blend_of_the_grey_levels():
    a = colorize(apply_window(np.array([[0.0, 100.0]]), 50, 100))
    b = colorize(apply_window(np.array([[100.0, 0.0]]), 50, 100))
    half = fade(a, b, 0.5)
    assert half[0, 0, :3].tolist() == [128, 128, 128] and half[0, 0, 3] == 255
