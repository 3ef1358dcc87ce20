"""Window/level numbers, presets, the automatic MRI window and RGBA composition."""

from __future__ import annotations

import json

import numpy as np
import pytest

from viewer.core.volume import Volume, VolumeMetadata
from viewer.display import (
    GREY_LUT,
    NormalisedWindow,
    WindowLevel,
    apply_window,
    colorize,
    composite,
    default_window,
    intensity_stats,
    load_presets,
)


def test_ct_brain_window_maps_hu_to_grey():
    hu = np.array([-1000, 0, 1, 20, 40, 60, 79, 80, 81, 3000], dtype=np.int16)
    grey = apply_window(hu, level=40, width=80)
    # 255 / 80 HU = 3.1875 grey levels per HU above 0 HU
    assert grey.tolist() == [0, 0, 3, 64, 128, 191, 252, 255, 255, 255]
    assert grey.dtype == np.uint8 and grey.shape == hu.shape


def test_bone_window_and_float_input():
    hu = np.array([[-800.0, 600.0], [2000.0, np.nan]], dtype=np.float32)
    grey = apply_window(hu, level=600, width=2800)
    assert grey.tolist() == [[0, 128], [255, 0]]


@pytest.mark.parametrize("width", [0.0, -5.0, float("nan")])
def test_window_width_must_be_positive(width):
    with pytest.raises(ValueError):
        apply_window(np.zeros(3), level=0, width=width)
    with pytest.raises(ValueError):
        WindowLevel(0.0, width)


def test_presets_from_resources_are_the_clinical_ones():
    presets = {p.name: (p.window.width, p.window.level, p.modality) for p in load_presets()}
    assert presets == {
        "CT Brain": (80, 40, "CT"),
        "Subdural": (200, 75, "CT"),
        "Stroke": (40, 40, "CT"),
        "Bone": (2800, 600, "CT"),
        "Soft tissue": (400, 40, "CT"),
    }
    assert [p.key for p in load_presets()] == ["1", "2", "3", "4", "5"]


def test_broken_preset_file_names_the_file(tmp_path):
    path = tmp_path / "presets.json"
    path.write_text(json.dumps({"presets": [{"name": "x", "width": 0, "level": 1}]}))
    with pytest.raises(ValueError, match="presets.json"):
        load_presets(path)
    path.write_text("{not json")
    with pytest.raises(ValueError, match="presets.json"):
        load_presets(path)


def fake_mri(seed=0) -> np.ndarray:
    """Air (noise around 5) around a 'head' whose tissue is uniform in 200..800."""
    rng = np.random.default_rng(seed)
    volume = np.abs(rng.normal(5, 3, (40, 64, 64))).astype(np.float32)
    zz, yy, xx = np.indices(volume.shape)
    head = (zz - 20) ** 2 / 18**2 + (yy - 32) ** 2 / 28**2 + (xx - 32) ** 2 / 28**2 < 1
    volume[head] = rng.uniform(200, 800, head.sum())
    return volume


def test_auto_window_spans_percentiles_of_the_foreground():
    stats = intensity_stats(fake_mri())
    low = stats.auto_window.level - stats.auto_window.width / 2
    high = stats.auto_window.level + stats.auto_window.width / 2
    # 1st and 99.5th percentiles of uniform(200, 800): 206 and 797, air ignored
    assert low == pytest.approx(206, abs=3)
    assert high == pytest.approx(797, abs=3)
    assert stats.auto_window.name == "Auto"
    # the drag range counts every voxel: 99.5th percentile overall = 98.6th of the 36% that is head
    assert stats.range_low < 20 and stats.range_high == pytest.approx(791.7, abs=3)


def test_auto_window_of_an_int16_mri_in_other_units_scales_with_it():
    a = intensity_stats(fake_mri()).auto_window
    b = intensity_stats((fake_mri() * 3).astype(np.int16)).auto_window
    assert b.level == pytest.approx(3 * a.level, rel=0.01)
    assert b.width == pytest.approx(3 * a.width, rel=0.01)


def test_auto_window_survives_constant_and_empty_data():
    assert intensity_stats(np.full((3, 3, 3), 7.0)).auto_window.width > 0
    assert intensity_stats(np.full((2, 2, 2), np.nan)).auto_window.width > 0


def test_default_window_is_ct_brain_for_ct_and_auto_for_mri():
    presets = load_presets()
    ct = Volume(np.zeros((2, 2, 2), np.int16), np.eye(4), VolumeMetadata(modality="CT", units="HU"))
    mr = Volume(fake_mri(), np.eye(4), VolumeMetadata(modality="MR"))
    assert default_window(ct, presets, intensity_stats(ct.array)).name == "CT Brain"
    mr_stats = intensity_stats(mr.array)
    assert default_window(mr, presets, mr_stats) == mr_stats.auto_window


def test_colorize_makes_outside_transparent():
    indices = np.array([[0, 128], [255, 7]], np.uint8)
    inside = np.array([[True, True], [False, True]])
    rgba = colorize(indices, GREY_LUT, inside)
    assert rgba.shape == (2, 2, 4) and rgba.flags.c_contiguous
    assert rgba[0, 1].tolist() == [128, 128, 128, 255]
    assert rgba[1, 0].tolist() == [0, 0, 0, 0]


def test_composite_known_answers():
    base = np.array([[[100, 100, 100, 255], [0, 0, 0, 0]]], np.uint8)
    red = np.array([[[255, 0, 0, 128], [255, 0, 0, 255]]], np.uint8)
    out = composite(base, red)
    # 128/255 = 0.502 of red over opaque grey
    assert out[0, 0].tolist() == [178, 50, 50, 255]
    # over a transparent pixel the overlay shows as it is
    assert out[0, 1].tolist() == [255, 0, 0, 255]
    assert composite(base, red, opacity=0.0).tolist() == base.tolist()


def test_foreground_median_and_iqr_ignore_the_air():
    stats = intensity_stats(fake_mri())
    # uniform(200, 800) head: median 500, quartiles 350 and 650
    assert stats.foreground_median == pytest.approx(500, abs=5)
    assert stats.foreground_iqr == pytest.approx(300, abs=6)
    constant = intensity_stats(np.full((3, 3, 3), 7.0))
    assert constant.foreground_iqr > 0


def test_normalised_window_shows_differently_scaled_mri_alike():
    earlier = fake_mri(seed=1)
    later = (earlier * 2.5 + 120).astype(np.float32)  # another scanner's scale and offset
    stats_a, stats_b = intensity_stats(earlier), intensity_stats(later)
    dragged = WindowLevel(520.0, 240.0)  # the user's window on the earlier visit
    shared = NormalisedWindow.from_window(dragged, stats_a)
    np.testing.assert_allclose(
        [shared.to_window(stats_a).level, shared.to_window(stats_a).width], [520.0, 240.0]
    )
    on_b = shared.to_window(stats_b)
    assert on_b.name == "Linked"
    grey_a = apply_window(earlier, dragged.level, dragged.width).astype(int)
    grey_b = apply_window(later, on_b.level, on_b.width).astype(int)
    # percentile estimates on samples differ a little: nearly every voxel within 3 grey levels
    assert np.mean(np.abs(grey_a - grey_b) <= 3) > 0.99
    # the same window in raw units would not: the test can fail
    raw_b = apply_window(later, dragged.level, dragged.width).astype(int)
    head = earlier > 100
    assert np.mean(np.abs(grey_a - raw_b)[head] <= 3) < 0.5
    with pytest.raises(ValueError):
        NormalisedWindow(0.0, 0.0)


def test_colorize_matches_a_plain_lookup_for_any_table():
    rng = np.random.default_rng(4)
    lut = rng.integers(0, 256, (256, 4), dtype=np.uint8)
    indices = rng.integers(0, 256, (37, 51), dtype=np.uint8)
    inside = rng.random((37, 51)) > 0.3
    expected = lut[indices]
    expected[~inside] = 0
    rgba = colorize(indices, lut, inside)
    np.testing.assert_array_equal(rgba, expected)
    assert rgba.flags.c_contiguous and rgba.shape == (37, 51, 4)
    np.testing.assert_array_equal(colorize(indices, GREY_LUT)[..., 0], indices)
