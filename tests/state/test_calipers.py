"""The caliper model: editing rules (OHIF's bidirectional tool), exact lengths, saving, and where
a caliper lands on a registered, rotated view. Known answers throughout; no Qt."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from viewer.analysis.measure import Diameters, measure_all, true_axial_grid
from viewer.core.geometry import apply_affine
from viewer.core.volume import Volume
from viewer.display.linking import viewport_grid
from viewer.display.slicing import PlaneGrid, plane_axes
from viewer.state.calipers import (
    HANDLES,
    MIN_LENGTH_MM,
    Caliper,
    CaliperStore,
    drag_end,
    half_slice_mm,
    new_caliper,
    on_screen,
    override_measurement,
)

SQRT2 = np.sqrt(2.0)


def flat() -> Caliper:
    """40 mm along x; the perpendicular crosses a quarter of the way, 6 mm below and 9 above."""
    return Caliper("s1", 1, ((0, 0, 0), (40, 0, 0)), ((10, -6, 0), (10, 9, 0)))


def halves(c: Caliper) -> tuple[float, float, float]:
    """(fraction along the axis, low half-length, high half-length) measured from the ends."""
    start, end = c.long_ends_mm
    along = (end - start) / np.linalg.norm(end - start)
    foot = (c.perp_ends_mm[0] - start) @ along
    crossing = start + foot * along
    return (
        float(foot / np.linalg.norm(end - start)),
        float(np.linalg.norm(c.perp_ends_mm[0] - crossing)),
        float(np.linalg.norm(c.perp_ends_mm[1] - crossing)),
    )


def perpendicularity(c: Caliper) -> float:
    long = c.long_ends_mm[1] - c.long_ends_mm[0]
    perp = c.perp_ends_mm[1] - c.perp_ends_mm[0]
    return abs(float(long @ perp)) / (np.linalg.norm(long) * np.linalg.norm(perp))


def moved(c: Caliper, rotation: np.ndarray, shift: np.ndarray) -> Caliper:
    return Caliper(
        c.series_key,
        c.lesion,
        tuple(rotation @ p + shift for p in c.long_ends_mm),
        tuple(rotation @ p + shift for p in c.perp_ends_mm),
        manual=c.manual,
    )


def test_lengths_and_product_are_exact_for_a_3_4_5_caliper():
    # 30-40-50 long axis; perpendicular along (-4, 3)/5, 10 mm one side and 15 the other
    crossing, across = np.array([15.0, 20.0, 7.0]), np.array([-0.8, 0.6, 0.0])
    c = Caliper("s1", 2, ((0, 0, 7), (30, 40, 7)), (crossing - 10 * across, crossing + 15 * across))
    assert c.longest_mm == 50.0
    assert c.perpendicular_mm == pytest.approx(25.0, abs=1e-12)
    assert c.product_mm2 == pytest.approx(1250.0, abs=1e-9)
    np.testing.assert_allclose(c.crossing_mm, crossing, atol=1e-12)
    np.testing.assert_allclose(c.normal, [0, 0, 1], atol=1e-12)
    assert not c.manual


def test_dragging_a_long_end_turns_the_perpendicular_with_the_axis():
    c = flat()
    # dragged 5 mm above the plane: projected back onto z = 0 first
    result = drag_end(c, "long1", np.array([30.0, 30.0, 5.0]))
    np.testing.assert_allclose(result.long_ends_mm[0], [0, 0, 0])
    np.testing.assert_allclose(result.long_ends_mm[1], [30, 30, 0], atol=1e-12)
    # crossing a quarter along the new axis, 6 mm and 9 mm along (-1, 1)/sqrt2
    crossing = np.array([7.5, 7.5, 0.0])
    across = np.array([-1.0, 1.0, 0.0]) / SQRT2
    np.testing.assert_allclose(result.perp_ends_mm[0], crossing - 6 * across, atol=1e-12)
    np.testing.assert_allclose(result.perp_ends_mm[1], crossing + 9 * across, atol=1e-12)
    assert perpendicularity(result) < 1e-9
    assert result.longest_mm == pytest.approx(30 * SQRT2, abs=1e-12)
    assert result.perpendicular_mm == pytest.approx(15.0, abs=1e-12)
    assert result.manual and not c.manual
    # the first end: the second stays, the crossing keeps its fraction (now from (20, 0))
    result = drag_end(c, "long0", np.array([20.0, -20.0, 0.0]))
    np.testing.assert_allclose(result.long_ends_mm[1], [40, 0, 0])
    fraction, low, high = halves(result)
    assert (fraction, low, high) == pytest.approx((0.25, 6.0, 9.0), abs=1e-12)
    assert perpendicularity(result) < 1e-9


def test_dragging_a_perpendicular_end_changes_that_half_only():
    c = flat()
    result = drag_end(c, "perp0", np.array([12.0, -10.0, 3.0]))
    # slides along its own line: the 2 mm along the axis and 3 mm off the plane are dropped
    np.testing.assert_allclose(result.perp_ends_mm[0], [10, -10, 0], atol=1e-12)
    np.testing.assert_allclose(result.perp_ends_mm[1], [10, 9, 0], atol=1e-12)
    np.testing.assert_allclose(np.stack(result.long_ends_mm), np.stack(c.long_ends_mm))
    assert result.perpendicular_mm == pytest.approx(19.0, abs=1e-12)
    assert result.product_mm2 == pytest.approx(40.0 * 19.0, abs=1e-9)
    result = drag_end(c, "perp1", np.array([10.0, 2.5, 0.0]))
    assert halves(result)[1:] == pytest.approx((6.0, 2.5), abs=1e-12)
    # past the other end: stops MIN_LENGTH_MM short of it
    result = drag_end(c, "perp0", np.array([10.0, 30.0, 0.0]))
    assert result.perpendicular_mm == pytest.approx(MIN_LENGTH_MM, abs=1e-12)
    assert result.perp_ends_mm[1][1] == pytest.approx(9.0, abs=1e-12)


def test_a_long_axis_dragged_onto_its_other_end_is_left_alone():
    c = flat()
    assert drag_end(c, "long0", np.array([40.0, 0.05, 0.0])) is c
    with pytest.raises(ValueError, match="unknown caliper handle"):
        drag_end(c, "middle", np.zeros(3))


def test_drags_on_an_oblique_plane_follow_the_same_rules():
    rng = np.random.default_rng(7)
    base = flat()
    for _ in range(5):
        rotation = Rotation.random(random_state=rng).as_matrix()
        shift = rng.uniform(-100, 100, 3)
        tilted = moved(base, rotation, shift)
        normal = rotation @ np.array([0.0, 0.0, 1.0])
        np.testing.assert_allclose(tilted.normal, normal, atol=1e-12)
        for which in HANDLES:
            target = rng.uniform(-30, 50, 3) * (1, 1, 0)
            if which.startswith("perp"):  # a target on the right side of the other end
                target[1] = 20.0 if which == "perp1" else -20.0
            off_plane = rng.uniform(-5, 5)
            result = drag_end(tilted, which, rotation @ target + shift + off_plane * normal)
            expected = moved(drag_end(base, which, target), rotation, shift)
            np.testing.assert_allclose(result.ends(), expected.ends(), atol=1e-9)
            assert perpendicularity(result) < 1e-9
            # every end stays on the caliper's plane
            assert np.abs((result.ends() - shift) @ normal).max() < 1e-9


def test_a_drawn_caliper_has_its_perpendicular_across_the_middle_a_third_each_side():
    normal = np.array([0.0, 0.6, 0.8])  # an oblique view plane
    start, end = np.array([1.0, 8.0, -6.0]), np.array([31.0, 8.0, -6.0])  # in that plane
    c = new_caliper("s2", 3, start, end, normal)
    assert c.manual and c.lesion == 3
    assert c.longest_mm == pytest.approx(30.0)
    assert c.perpendicular_mm == pytest.approx(20.0)
    np.testing.assert_allclose(c.crossing_mm, [16.0, 8.0, -6.0], atol=1e-12)
    assert halves(c) == pytest.approx((0.5, 10.0, 10.0), abs=1e-12)
    assert abs(c.normal @ normal) == pytest.approx(1.0, abs=1e-12)
    with pytest.raises(ValueError, match="at least"):
        new_caliper("s2", 3, start, start + 0.01, normal)
    with pytest.raises(ValueError, match="along the normal"):
        new_caliper("s2", 3, start, start + 5 * normal, normal)


def test_a_degenerate_caliper_is_refused():
    with pytest.raises(ValueError, match="not parallel"):
        Caliper("s", 1, ((0, 0, 0), (10, 0, 0)), ((2, 0, 0), (8, 0, 0)))
    with pytest.raises(ValueError, match="three finite"):
        Caliper("s", 1, ((0, 0, np.nan), (10, 0, 0)), ((2, -1, 0), (2, 1, 0)))


def oblique_view() -> tuple[np.ndarray, np.ndarray, PlaneGrid, float]:
    """A series registered by a 25-degree turn about an oblique axis, seen on an axial view."""
    matrix = np.eye(4)
    matrix[:3, :3] = Rotation.from_rotvec(np.radians(25) * np.array([1, 2, 2]) / 3).as_matrix()
    matrix[:3, 3] = (4.0, -7.0, 12.0)
    base = PlaneGrid("axial", np.array([-120.0, -100.0, 0.0]), 0.8, (250, 300))
    grid = viewport_grid(base, (200, 240), zoom=1.7, pan_mm=(3.0, -2.0))
    position_mm = 17.5
    slice2patient = np.linalg.inv(matrix) @ grid.slice2reference(position_mm)
    return matrix, slice2patient, grid, position_mm


def test_on_screen_lands_where_the_ends_project_on_a_registered_oblique_view():
    patient2reference, slice2patient, grid, position_mm = oblique_view()
    # a caliper laid on the screen at 1.2 mm off the view plane, built in the series' own frame
    screen = np.array([[40.0, 30.0], [140.0, 180.0], [110.0, 50.0], [70.0, 160.0]])
    points = apply_affine(slice2patient, np.column_stack([screen, np.full(4, 1.2)]))
    c = Caliper("s", 1, (points[0], points[1]), (points[2], points[3]))
    found, offset_mm = on_screen(c, slice2patient)
    # independently: the ends in the reference frame, along screen right, down and the axis
    right, down, axis = plane_axes("axial")
    reference = apply_affine(patient2reference, c.ends())
    rows = (reference - grid.origin_mm) @ down / grid.pixel_mm
    columns = (reference - grid.origin_mm) @ right / grid.pixel_mm
    np.testing.assert_allclose(found, np.column_stack([rows, columns]), atol=1e-9)
    np.testing.assert_allclose(found, screen, atol=1e-9)
    crossing = apply_affine(patient2reference, c.crossing_mm)
    assert offset_mm == pytest.approx(crossing @ axis - position_mm, abs=1e-9)
    assert offset_mm == pytest.approx(1.2, abs=1e-9)


def test_half_slice_is_measured_along_the_slice_normal():
    rotation = Rotation.from_rotvec(np.radians(30) * np.array([1.0, 0, 0])).as_matrix()
    affine = np.eye(4)
    affine[:3, :3] = rotation @ np.diag([3.0, 0.7, 0.7])
    affine[:3, 0] += 0.9 * affine[:3, 1] / 0.7  # sheared stack: slices 3 mm apart all the same
    assert half_slice_mm(affine) == pytest.approx(1.5, abs=1e-12)


def ellipse_labels(shape=(8, 40, 50)) -> np.ndarray:
    z, y, x = np.indices(shape)
    labels = np.zeros(shape, np.uint16)
    labels[(((y - 20) / 12.0) ** 2 + ((x - 25) / 8.0) ** 2 <= 1) & (z >= 2) & (z <= 5)] = 1
    return labels


def test_the_automatic_caliper_is_the_measurement_and_an_override_replaces_it():
    affine = np.eye(4)  # slices 4 mm apart up z, rows along y, columns along x, 0.5 mm pixels
    affine[:3, 0], affine[:3, 1], affine[:3, 2] = (0, 0, 4.0), (0, 0.5, 0), (0.5, 0, 0)
    affine[:3, 3] = (-10.0, -10.0, 30.0)
    labels = ellipse_labels()
    volume = Volume(labels.astype(np.float32), affine)
    measured = measure_all(labels, volume, series_key="s")[1]
    d = measured.diameters
    store = CaliperStore()
    automatic = store.automatic("s", 1, d)
    assert not automatic.manual
    assert automatic.longest_mm == pytest.approx(d.longest_mm, abs=1e-9)
    assert automatic.perpendicular_mm == pytest.approx(d.perpendicular_mm, abs=1e-9)
    assert store.current("s", 1, d).longest_mm == pytest.approx(d.longest_mm, abs=1e-9)
    assert store.current("s", 1, None) is None
    speck = Diameters(
        0.05, 0.05, 0.0025, 0, ((0, 0, 0), (0.05, 0, 0)), ((0, 0, 0), (0, 0.05, 0)), False
    )
    assert store.current("s", 1, speck) is None  # too small to lay a caliper on
    # the reader lays a 20 x 10 mm caliper on slice 4 (z = 30 + 4 * 4 mm)
    c = Caliper("s", 1, ((-8, -5, 46), (12, -5, 46)), ((0, -10, 46), (0, 0, 46)), manual=True)
    overridden = override_measurement(measured, c, affine, labels.shape)
    assert overridden.diameters.longest_mm == 20.0 and overridden.diameters.perpendicular_mm == 10
    assert overridden.diameters.product_mm2 == 200.0
    assert overridden.diameters.slice_index == 4 and not overridden.diameters.resliced
    assert overridden.diameters.longest_ends_mm == ((-8, -5, 46), (12, -5, 46))
    assert overridden.volume_ml == measured.volume_ml
    assert overridden.slices_spanned == measured.slices_spanned


def test_an_override_on_a_sagittal_series_counts_its_slice_on_the_true_axial_reslice():
    # slices along x, rows down z (feet-wards), columns along y: a sagittal stack
    affine = np.eye(4)
    affine[:3, 0], affine[:3, 1], affine[:3, 2] = (3.0, 0, 0), (0, 0, -1.0), (0, 1.0, 0)
    affine[:3, 3] = (-12.0, -25.0, 20.0)
    labels = np.zeros((8, 40, 50), np.uint16)
    labels[3:6, 15:25, 20:30] = 1
    measured = measure_all(labels, Volume(labels.astype(np.float32), affine))[1]
    axial, axial_shape = true_axial_grid(affine, labels.shape)
    z_mm = float(apply_affine(axial, (7, 0, 0))[2])  # slice 7 of the reslice
    c = Caliper("s", 1, ((-5, 0, z_mm), (5, 0, z_mm)), ((0, -2, z_mm), (0, 2, z_mm)))
    overridden = override_measurement(measured, c, affine, labels.shape)
    assert overridden.diameters.resliced and overridden.diameters.slice_index == 7
    assert overridden.diameters.product_mm2 == pytest.approx(40.0)


def test_the_store_keeps_overrides_signals_and_resets():
    store = CaliperStore()
    seen: list[str] = []
    store.changed.connect(seen.append)
    c = drag_end(flat(), "perp1", np.array([10.0, 12.0, 0.0]))
    store.override(c)
    assert seen == ["s1"]
    assert store.manual("s1", 1) is not None and store.manual("s1", 1).manual
    assert store.manual("s1", 2) is None and store.manual("s2", 1) is None
    assert set(store.manuals("s1")) == {1} and store.manuals("s2") == {}
    assert store.current("s1", 1, None).perpendicular_mm == pytest.approx(18.0)
    store.reset("s1", 1)
    store.reset("s1", 1)  # nothing left to reset: no signal
    assert seen == ["s1", "s1"] and store.manual("s1", 1) is None
    with pytest.raises(ValueError, match="outside"):
        store.override(new_caliper("s1", 0, np.zeros(3), np.ones(3), np.array([0, 0, 1.0])))


def test_overrides_survive_saving_as_json_exactly():
    rng = np.random.default_rng(3)
    store = CaliperStore()
    for key, lesion in (("1.2.3", 1), ("1.2.3", 4), ("9.8", 1)):
        rotation = Rotation.random(random_state=rng).as_matrix()
        store.override(replace_key(moved(flat(), rotation, rng.uniform(-90, 90, 3)), key, lesion))
    text = json.dumps({"calipers": store.to_json()})
    other = CaliperStore()
    seen: list[str] = []
    other.changed.connect(seen.append)
    other.restore(json.loads(text)["calipers"])
    assert seen == [""]
    for key in ("1.2.3", "9.8"):
        mine, theirs = store.manuals(key), other.manuals(key)
        assert set(mine) == set(theirs)
        for lesion, c in mine.items():
            np.testing.assert_array_equal(theirs[lesion].ends(), c.ends())  # bit for bit
            assert theirs[lesion].manual
    other.restore({})
    assert other.manuals("1.2.3") == {}


def replace_key(c: Caliper, key: str, lesion: int) -> Caliper:
    return Caliper(key, lesion, c.long_ends_mm, c.perp_ends_mm, manual=True)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"series": "s", "lesion": 1, "long_ends_mm": [[0, 0, 0]], "perp_ends_mm": []}, "two"),
        ({"series": "s", "lesion": 0, "long_ends_mm": [], "perp_ends_mm": []}, "outside"),
        ({"series": "s", "lesion": True, "long_ends_mm": [], "perp_ends_mm": []}, "number"),
        ({"lesion": 1, "long_ends_mm": [], "perp_ends_mm": []}, "series"),
        (
            {
                "series": "s",
                "lesion": 1,
                "long_ends_mm": [[0, 0, 0], [0, 0, 0]],
                "perp_ends_mm": [[0, -1, 0], [0, 1, 0]],
            },
            "at least",
        ),
    ],
)
def test_a_malformed_saved_caliper_is_refused_and_nothing_changes(entry, message):
    store = CaliperStore()
    store.override(flat())
    with pytest.raises(ValueError, match=message) as caught:
        store.restore({"manual": [entry]})
    assert "manual caliper 1" in str(caught.value)
    assert store.manual("s1", 1) is not None
    with pytest.raises(ValueError, match="list"):
        store.restore({"manual": "none"})
