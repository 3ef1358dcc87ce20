"""Label overlays: cutting a label map like the image, exact edge pixels, hiding, blending."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import SAMPLE_SCANS
from tests.display.phantoms import AXIAL_IOP, CORONAL_IOP, grid_affine, rigid
from viewer.core.volume import Volume
from viewer.display import (
    PLANE_AXIS_INDEX,
    PlaneGrid,
    SliceRequest,
    composite,
    plane_axes,
    plane_grid,
    reslice,
)
from viewer.display.labels import UNKNOWN_COLOUR, blend, label_slice, overlay_rgba
from viewer.io import load_series, scan_paths
from viewer.io.nifti import read_nifti

RED, GREEN = (230, 25, 75), (60, 180, 75)


def random_labels(shape, seed=4) -> np.ndarray:
    labels = np.random.default_rng(seed).integers(0, 4, shape).astype(np.uint16)
    # the outer faces hold a label: a view that clamped instead of leaving 0 outside would show it
    for axis in range(3):
        np.moveaxis(labels, axis, 0)[[0, -1]] = 5
    return labels


def wide_grid(volume: Volume, plane: str, patient2reference=None) -> PlaneGrid:
    """A view grid reaching past the volume on every side."""
    grid = plane_grid(volume, plane, patient2reference=patient2reference, pixel_mm=0.6)
    right, down, _ = plane_axes(plane)
    origin = grid.origin_mm - 6.0 * (right + down)  # 10 pixels up and left
    return PlaneGrid(plane, origin, 0.6, (grid.shape[0] + 25, grid.shape[1] + 25))


def resliced(labels, affine, grid, position, patient2reference=None) -> np.ndarray:
    """The general nearest-neighbour reslice, 0 outside: what label_slice must show."""
    result = reslice(
        SliceRequest(
            Volume(labels.copy(), affine),
            grid.plane,
            position,
            patient2reference=patient2reference,
            grid=grid,
            interpolation="nearest",
        )
    )
    return np.where(result.inside if result.inside is not None else True, result.values, 0)


@pytest.mark.parametrize("plane", ["axial", "coronal", "sagittal"])
@pytest.mark.parametrize("iop", [AXIAL_IOP, CORONAL_IOP])
def test_label_slice_cuts_like_the_nearest_reslice_and_is_0_outside(plane, iop):
    shape = (20, 30, 40)
    affine = grid_affine(shape, (2.5, 0.9, 1.1), iop, centre=(3.0, -2.0, 1.0))
    labels = random_labels(shape)
    volume = Volume(labels.view(), affine)
    turned = rigid((7.0, -4.0, 9.0), (2.0, 1.0, -3.0))
    for patient2reference in (None, turned):
        grid = wide_grid(volume, plane, patient2reference)
        for position in (-7.3, 0.0, 4.1):
            cut = label_slice(labels, affine, grid, position, patient2reference)
            assert cut.dtype == np.uint16 and cut.shape == grid.shape
            expected = resliced(labels, affine, grid, position, patient2reference)
            np.testing.assert_array_equal(cut, expected)
            assert 0 < (cut == 0).sum() < cut.size and set(np.unique(cut)) <= {0, 1, 2, 3, 5}
            edge_rows = cut[[0, -1]]
            assert not edge_rows.any()  # the grid reaches past the volume: nothing there
    assert labels.flags.writeable  # still the caller's editable array


def test_label_slice_shows_an_edit_at_once():
    shape = (12, 40, 40)
    affine = grid_affine(shape, (3.0, 1.0, 1.0))
    labels = np.zeros(shape, np.uint16)
    grid = plane_grid(Volume(labels.view(), affine), "axial")
    position = float((affine @ [6, 0, 0, 1])[2])
    assert not label_slice(labels, affine, grid, position, None).any()
    labels[6, 10:20, 5:9] = 3
    cut = label_slice(labels, affine, grid, position, None)
    assert (cut == 3).sum() == 40
    turned = rigid((0.0, 0.0, 30.0))
    before = label_slice(labels, affine, grid, position, turned)
    labels[6] = 0
    assert (before == 3).sum() > 20 and not label_slice(
        labels, affine, grid, position, turned
    ).any()


def test_label_slice_refuses_signed_or_wide_labels():
    grid = PlaneGrid("axial", np.zeros(3), 1.0, (4, 4))
    for dtype in (np.int16, np.uint32, np.float32):
        with pytest.raises(ValueError, match="label"):
            label_slice(np.zeros((2, 4, 4), dtype), np.eye(4), grid, 0.0, None)


# Two lesions side by side, 4 rows x 3 columns each, on a 6 x 8 view.
PAIR = np.zeros((6, 8), np.uint16)
PAIR[1:5, 1:4] = 1
PAIR[1:5, 4:7] = 2
PAIR_EDGES = np.array(
    [
        [0, 0, 0, 0, 0, 0, 0, 0],
        [0, 1, 1, 1, 1, 1, 1, 0],
        [0, 1, 0, 1, 1, 0, 1, 0],
        [0, 1, 0, 1, 1, 0, 1, 0],
        [0, 1, 1, 1, 1, 1, 1, 0],
        [0, 0, 0, 0, 0, 0, 0, 0],
    ],
    bool,
)


def test_outline_draws_exactly_the_edge_pixels_opaque():
    rgba = overlay_rgba(PAIR, {1: RED, 2: GREEN}, opacity=0.5, outline=True)
    assert rgba.dtype == np.uint8 and rgba.shape == (6, 8, 4)
    np.testing.assert_array_equal(rgba[..., 3] > 0, PAIR_EDGES)
    assert np.all(rgba[PAIR_EDGES, 3] == 255)
    np.testing.assert_array_equal(rgba[PAIR_EDGES & (PAIR == 1), :3], np.tile(RED, (10, 1)))
    np.testing.assert_array_equal(rgba[PAIR_EDGES & (PAIR == 2), :3], np.tile(GREEN, (10, 1)))


@pytest.mark.parametrize("opacity", [0.0, 0.4, 1.0])
def test_filled_inside_at_opacity_and_edge_always_opaque(opacity):
    rgba = overlay_rgba(PAIR, {1: RED, 2: GREEN}, opacity=opacity, outline=False)
    inside = (PAIR > 0) & ~PAIR_EDGES
    assert np.all(rgba[inside, 3] == round(opacity * 255))
    assert np.all(rgba[PAIR_EDGES, 3] == 255)
    assert not rgba[PAIR == 0].any()
    np.testing.assert_array_equal(rgba[inside & (PAIR == 1), :3], np.tile(RED, (2, 1)))


def test_hidden_lesion_vanishes_and_its_neighbour_shows_its_edge():
    rgba = overlay_rgba(PAIR, {1: RED, 2: GREEN}, opacity=0.4, outline=False, hidden={2})
    assert not rgba[PAIR == 2].any()
    alone = np.where(PAIR == 2, 0, PAIR).astype(np.uint16)
    np.testing.assert_array_equal(rgba, overlay_rgba(alone, {1: RED}, opacity=0.4, outline=False))
    assert np.all(rgba[1:5, 3, 3] == 255)  # the column next to the hidden lesion is an edge now


def test_unknown_number_is_grey_not_dropped():
    labels = PAIR.copy()
    labels[labels == 2] = 4321
    rgba = overlay_rgba(labels, {1: RED}, opacity=1.0, outline=False)
    np.testing.assert_array_equal(rgba[labels == 4321], np.tile((*UNKNOWN_COLOUR, 255), (12, 1)))


def test_highlight_draws_the_active_edge_two_pixels_thick():
    labels = np.zeros((10, 10), np.uint16)
    labels[2:8, 2:8] = 1
    labels[0, 0] = 2
    plain = overlay_rgba(labels, {1: RED, 2: GREEN}, opacity=0.3, outline=True)
    active = overlay_rgba(labels, {1: RED, 2: GREEN}, opacity=0.3, outline=True, highlight=1)
    ring = np.zeros((10, 10), bool)
    ring[2:8, 2:8] = True
    ring[3:7, 3:7] = False
    thick = ring.copy()
    thick[3:7, 3:7] = True
    thick[4:6, 4:6] = False
    np.testing.assert_array_equal(plain[..., 3] == 255, ring | (labels == 2))
    np.testing.assert_array_equal(active[..., 3] == 255, thick | (labels == 2))
    np.testing.assert_array_equal(active[thick, :3], np.tile(RED, (32, 1)))


def test_a_thicker_edge_grows_inwards_for_a_picture_drawn_larger():
    labels = np.zeros((10, 10), np.uint16)
    labels[2:8, 2:8] = 1
    double = overlay_rgba(labels, {1: RED}, opacity=0.0, outline=False, edge_px=2)
    thick = np.zeros((10, 10), bool)
    thick[2:8, 2:8] = True
    thick[4:6, 4:6] = False  # two pixels of the lesion's own, none outside it
    np.testing.assert_array_equal(double[..., 3] == 255, thick)
    assert not double[labels == 0].any()
    with pytest.raises(ValueError, match="at least 1 pixel"):
        overlay_rgba(labels, {1: RED}, opacity=0.0, outline=True, edge_px=0)


def test_a_lesion_running_off_screen_has_no_edge_on_the_border():
    labels = np.ones((5, 6), np.uint16)
    assert not overlay_rgba(labels, {1: RED}, opacity=0.5, outline=True).any()


def test_overlay_refuses_bad_options():
    with pytest.raises(ValueError, match="opacity"):
        overlay_rgba(PAIR, {1: RED}, opacity=1.5, outline=False)
    with pytest.raises(ValueError, match="colour"):
        overlay_rgba(PAIR, {1: (300, 0, 0)}, opacity=0.5, outline=False)
    with pytest.raises(ValueError, match="unsigned"):
        overlay_rgba(PAIR.astype(np.int32), {1: RED}, opacity=0.5, outline=False)


def test_blend_mixes_by_overlay_alpha_and_keeps_image_alpha():
    rng = np.random.default_rng(8)
    image = rng.integers(0, 256, (40, 50, 4), dtype=np.uint8)
    image[..., 3] = 255
    image[:5, :, 3] = 0  # no data there
    overlay = rng.integers(0, 256, (40, 50, 4), dtype=np.uint8)
    overlay[20:, :, 3] = 0
    result = blend(image, overlay)
    np.testing.assert_array_equal(result[..., 3], image[..., 3])
    np.testing.assert_array_equal(result[20:], image[20:])
    alpha = overlay[..., 3:] / 255.0
    exact = overlay[..., :3] * alpha + image[..., :3] * (1 - alpha)
    np.testing.assert_array_equal(result[..., :3], np.floor(exact + 0.5))
    # on an opaque image it is Porter-Duff "over"
    opaque = slice(5, None)
    over = composite(image[opaque], overlay[opaque])
    assert np.abs(over.astype(int) - result[opaque]).max() <= 1
    with pytest.raises(ValueError, match="RGBA"):
        blend(image, overlay[:, :10])


# ---- the demo case: label maps in each series' own grid, true transforms in case.json

DEMO = SAMPLE_SCANS / "demo_case"
TRUTH = json.loads((DEMO / "ground_truth" / "case.json").read_text(encoding="utf-8"))
SERIES = {series["key"]: series for visit in TRUTH["visits"] for series in visit["series"]}
VISITS = {visit["date"]: visit for visit in TRUTH["visits"]}
REFERENCE = SERIES[TRUTH["reference_series"]]


def truth_map(key: str, which: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(uint16 labels, voxel2patient, patient2reference) of a series' ground truth."""
    series = SERIES[key]
    volume = read_nifti(DEMO / series[which])
    return (
        volume.array.astype(np.uint16),
        volume.voxel2patient,
        np.array(series["patient2reference"]),
    )


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2 * float((a & b).sum()) / float(a.sum() + b.sum())


@pytest.mark.parametrize(
    ("visit", "reference_key", "other_key"),
    [
        ("1995-06-12", "1995-06-12/SE05_AX_T1_POST_GAD", "1995-06-12/SE02_CT_HEAD"),
        ("2003-03-27", "2003-03-27/SE09_AX_T1_POST_GAD", "2003-03-27/SE02_CT_HEAD_CPLUS"),
    ],
)
def test_registered_label_maps_of_one_visit_overlap_on_the_reference_grid(
    visit, reference_key, other_key
):
    # The MR and the CT of one visit were scanned with the head in different poses; through
    # their true transforms each lesion's label slices must coincide on the reference grid.
    mr, mr_affine, mr_to_reference = truth_map(reference_key, "lesion_map")
    ct, ct_affine, ct_to_reference = truth_map(other_key, "lesion_map")
    for number, lesion in VISITS[visit]["lesions_analytic"].items():
        centre_mm = np.array(lesion["centroid_reference_mm"])
        for plane in ("axial", "coronal", "sagittal"):
            grid = plane_grid(
                Volume(mr.view(), mr_affine),
                plane,
                patient2reference=mr_to_reference,
                pixel_mm=1.0,
            )
            position = float(centre_mm[PLANE_AXIS_INDEX[plane]])
            on_mr = label_slice(mr, mr_affine, grid, position, mr_to_reference) == int(number)
            on_ct = label_slice(ct, ct_affine, grid, position, ct_to_reference) == int(number)
            assert on_mr.sum() > 400
            # (cut without their transforms, the lesions overlap with a Dice of 0.26-0.78)
            assert dice(on_mr, on_ct) > 0.85, (visit, number, plane)


def test_enhancing_label_lands_on_the_bright_rim_of_an_oblique_registered_series():
    # 2002-08-14 is an oblique axial acquisition, moved against the reference: the enhancing
    # tumour label, cut through the transform, must sit on the bright T1c enhancement.
    key = "2002-08-14/SE07_AX_T1_POST_GAD"
    series = SERIES[key]
    catalog = scan_paths([DEMO / "dicom" / "2002-08-14"])
    image = load_series(catalog.find_series(series["series_instance_uid"]))
    labels, affine, to_reference = truth_map(key, "label_map")
    # the reference series' grid (its image is not needed, only where it lies)
    reference_shape = (REFERENCE["slice_count"], *REFERENCE["matrix_rows_columns"])
    reference = Volume(np.zeros(reference_shape, np.uint8), np.array(REFERENCE["voxel2patient"]))
    centre_mm = np.array(VISITS["2002-08-14"]["lesions_analytic"]["1"]["centroid_reference_mm"])
    enhancing, oedema = 1, 3
    for plane in ("axial", "coronal", "sagittal"):
        grid = plane_grid(reference, plane, pixel_mm=0.8)
        position = float(centre_mm[PLANE_AXIS_INDEX[plane]])
        shown = reslice(
            SliceRequest(image, plane, position, patient2reference=to_reference, grid=grid)
        ).values
        cut = label_slice(labels, affine, grid, position, to_reference)
        assert (cut == enhancing).sum() > 100
        rim, swelling = shown[cut == enhancing].mean(), shown[cut == oedema].mean()
        background = shown[cut == 0].mean()
        assert rim > 1.5 * swelling and swelling > background
        misplaced = label_slice(labels, affine, grid, position, None)
        assert shown[misplaced == enhancing].mean() < 0.8 * rim
