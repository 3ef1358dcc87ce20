"""The comparison controller: default views, linked navigation in the reference frame, linked
windows per modality and the pair modes, on synthetic volumes with known geometry (no window)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from tests.state.helpers import axial_volume, catalog, entry, loaded
from viewer.core.geometry import apply_affine
from viewer.core.transform import Registration, RegistrationState, Transform
from viewer.core.volume import Volume
from viewer.display.annotations import format_position
from viewer.display.linking import grid_point
from viewer.display.overlay import (
    CROSSHAIR_COLOUR,
    LANDMARK_COLOUR,
    TEXT_COLOUR,
    CaliperDrawing,
    ColourBar,
    Polyline,
    Text,
)
from viewer.state import Session
from viewer.state.compare_controller import (
    REFERENCE_LEGEND,
    REFERENCE_RGB,
    ComparisonController,
    ViewText,
)
from viewer.state.pane_overlay import PANE_STYLE, STATE_COLOURS, Landmark, pane_marks
from viewer.state.registrations import RegistrationStore
from viewer.teaching.reading import (
    Reader,
    Reading,
    ReadingLesion,
    Role,
    SeriesOutlines,
    VisitStatement,
)

D1, D2, D3, D4 = (dt.date(1995, 6, 12), dt.date(1995, 7, 1), dt.date(2002, 8, 14),
                  dt.date(2003, 3, 27))  # fmt: skip
VIEW = (60, 80)  # rows, columns of a view's viewport in screen pixels
SHIFT_MM = np.array([6.0, -4.0, 2.0])  # how far visit 4's scanner moved the head (LPS mm)


def shifted(volume: Volume, shift_mm) -> Volume:
    matrix = np.eye(4)
    matrix[:3, 3] = shift_mm
    return Volume(volume.array, matrix @ volume.voxel2patient, volume.metadata)


@pytest.fixture
def setup():
    session = Session(max_loaded=8)
    session.set_catalog(
        catalog(
            (D1, [entry("t1c1", description="T1 post", contrast_agent="Gd", date=D1),
                  entry("ct1", modality="CT", description="CT", date=D1)]),
            (D2, [entry("ct2", modality="CT", description="CT", date=D2)]),
            (D3, [entry("t1c3", description="T1 +C", date=D3)]),
            (D4, [entry("t1c4", description="T1 +C", date=D4)]),
        )
    )  # fmt: skip
    reference = axial_volume(seed=1)
    # visit 4: twice the intensity scale, the head moved by SHIFT_MM
    volumes = {
        "t1c1": reference,
        "ct1": axial_volume(modality="CT", seed=2),
        "ct2": axial_volume(modality="CT", seed=3),
        "t1c3": axial_volume(seed=4),
        "t1c4": shifted(reference.with_array(reference.array * 2.0), SHIFT_MM),
    }
    registrations = RegistrationStore()
    ctl = ComparisonController(session, registrations)
    ctl.open_case()
    for key, volume in volumes.items():
        session.mark_loading(key)
        session.add_loaded(key, loaded(volume))
    return ctl, volumes


def register_visit_4(ctl) -> None:
    matrix = np.eye(4)
    matrix[:3, 3] = -SHIFT_MM
    ctl.registrations.put(
        Registration("t1c4", "t1c1", Transform(matrix, "rigid"), RegistrationState.AUTOMATIC)
    )


def test_opens_on_latest_previous_and_baseline_centred_on_the_reference(setup):
    ctl, volumes = setup
    assert ctl.state.layout == "1x3"
    assert ctl.state.panes[:4] == ("t1c4", "t1c3", "t1c1", "ct2")
    assert ctl.registrations.reference_key == "t1c1"
    np.testing.assert_allclose(ctl.state.crosshair_mm, volumes["t1c1"].center_patient())
    frame = ctl.frame(0, VIEW)
    assert frame.rgba.shape == (*VIEW, 4)
    assert frame.corners["top_left"][:2] == ["2003-03-27", "MR  T1 +C"]
    assert frame.corners["top_left"][2].startswith("⚠ Not registered")
    assert ctl.frame(2, VIEW).corners["top_left"][3] == "Reference series"
    assert (frame.letters.left, frame.letters.right, frame.letters.top) == ("R", "L", "A")
    ctl.state.date_format = "day"
    assert ctl.frame(0, VIEW).corners["top_left"][0] == f"Day {(D4 - D1).days}"
    assert ctl.frame(2, VIEW).corners["top_left"][0] == "Day 0 (baseline)"


def test_registered_visit_shows_the_same_anatomy_at_the_same_pixels(setup):
    ctl, _ = setup
    ctl.state.layout = "1x3"
    before = ctl.frame(0, VIEW)
    reference = ctl.frame(2, VIEW)
    assert not np.array_equal(before.rgba, reference.rgba)
    register_visit_4(ctl)
    after, reference = ctl.frame(0, VIEW), ctl.frame(2, VIEW)
    assert after.corners["top_left"][2].startswith("Auto-registered")
    # both are MRI: the linked normalised window makes twice the intensity look the same
    inside = (after.rgba[..., 3] > 0) & (reference.rgba[..., 3] > 0)
    assert inside.sum() > 1000
    diff = np.abs(after.rgba[..., :3].astype(int) - reference.rgba[..., :3].astype(int))
    assert diff[inside].max() <= 1


def test_scroll_click_zoom_and_pan_move_every_view_together(setup):
    ctl, volumes = setup
    start = ctl.slice_index(0)
    assert start == (4, 10)
    ctl.scroll(+2)
    assert ctl.slice_index(0) == (6, 10)
    frames = [ctl.frame(i, VIEW) for i in range(3)]
    assert len({f.position_mm for f in frames}) == 1
    assert frames[0].position_mm == pytest.approx(volumes["t1c1"].center_patient()[2] + 3.0)
    # a click moves the crosshair in the plane, keeping the slice
    ctl.click(1, VIEW, 10.0, 20.0)
    frames = [ctl.frame(i, VIEW) for i in range(3)]
    for f in frames:
        assert f.crosshair_px == pytest.approx((10.0, 20.0))
    assert ctl.slice_index(0) == (6, 10)
    ctl.zoom_by(2.0)
    ctl.pan_by(5.0, 0.0)
    grids = [ctl.view_grid(i, VIEW) for i in range(3)]
    assert all(np.allclose(g.origin_mm, grids[0].origin_mm) for g in grids)
    assert grids[0].pixel_mm == pytest.approx(ctl.view_grid(0, VIEW).pixel_mm)
    ctl.reset()
    assert ctl.state.zoom == 1.0 and ctl.state.pan_mm == {}


def test_orthogonal_layout_shows_one_visit_in_three_planes(setup):
    ctl, _ = setup
    ctl.set_active(1)
    ctl.set_layout("ortho")
    planes = [ctl.frame(i, VIEW).grid.plane for i in range(3)]
    assert planes == ["axial", "coronal", "sagittal"]
    assert {ctl.view_key(i) for i in range(3)} == {"t1c3"}
    ctl.scroll(1, index=1)  # coronal scroll moves y only
    crosshair = np.array(ctl.state.crosshair_mm)
    assert ctl.frame(0, VIEW).position_mm == pytest.approx(crosshair[2])
    assert ctl.frame(1, VIEW).position_mm == pytest.approx(crosshair[1])
    # panning the axial view leaves the coronal and sagittal ones where they were
    before = [ctl.view_grid(i, VIEW).origin_mm for i in range(3)]
    ctl.pan_by(8.0, -3.0, index=0)
    after = [ctl.view_grid(i, VIEW).origin_mm for i in range(3)]
    np.testing.assert_allclose(after[0], before[0] - [8.0, -3.0, 0.0])
    np.testing.assert_allclose(after[1:], before[1:])
    # zoom stays shared; zooming about a point of the axial view keeps the others centred
    middle = [29.5, 39.5, 0.0, 1.0]  # the viewport's centre, in pixels
    centres = [ctl.view_grid(i, VIEW).slice2reference(0.0) @ middle for i in (1, 2)]
    pixels = [ctl.view_grid(i, VIEW).pixel_mm for i in range(3)]
    ctl.zoom_by(2.0, (5.0, 5.0), index=0)
    for i in range(3):
        assert ctl.view_grid(i, VIEW).pixel_mm == pytest.approx(pixels[i] / 2)
    for i, centre in zip((1, 2), centres, strict=True):
        np.testing.assert_allclose(ctl.view_grid(i, VIEW).slice2reference(0.0) @ middle, centre)


def test_windows_are_linked_per_modality_and_unlinkable(setup):
    ctl, _ = setup
    ctl.assign(1, "ct1")
    ctl.assign(2, "ct2")
    ctl.apply_preset("Bone", index=1)
    assert ctl.window_for(1).name == ctl.window_for(2).name == "Bone"
    assert ctl.window_for(0).name != "Bone"  # MRI is not touched by an HU preset
    ctl.drag_window(0, 30, 0)  # widen the MRI window of view 1
    ctl.assign(3, "t1c1")
    mr = ctl.state.mr_window
    stats4 = ctl.loaded("t1c4").stats
    stats1 = ctl.loaded("t1c1").stats
    # the dragged window is named as the toolbar shows it, in every linked MRI view
    assert ctl.window_for(0) == mr.to_window(stats4, "Custom")
    assert ctl.window_for(3) == mr.to_window(stats1, "Custom")
    ctl.set_linked(2, False)
    ctl.apply_preset("CT Brain", index=1)
    assert ctl.window_for(1).name == "CT Brain"
    assert ctl.window_for(2).name == "Bone"  # unlinked: kept its own
    assert "own window" in ctl.frame(2, VIEW).corners["bottom_left"][1]
    ctl.set_linked(2, True)
    assert ctl.window_for(2).name == "CT Brain"


def squares_of_the_first(frame) -> np.ndarray:
    """Pixels whose reference-frame point lies in a 4 mm square of the first visit."""
    rows, columns = np.indices(frame.grid.shape)
    pixels = np.stack([rows, columns, np.zeros_like(rows)], axis=-1).reshape(-1, 3)
    points = apply_affine(frame.grid.slice2reference(frame.position_mm), pixels)
    right, down = (points[:, 0], points[:, 1])  # axial: screen right is +x (L), down is +y (P)
    parity = (np.floor(right / 4.0) + np.floor(down / 4.0)) % 2 == 0
    return parity.reshape(frame.grid.shape)


def test_pair_modes_blend_two_visits_in_the_first_view(setup):
    ctl, _ = setup
    register_visit_4(ctl)
    ctl.set_pair_mode("checkerboard", (0, 2))
    ctl.state.checker_mm = 4.0
    first = ctl._rgba(0, ctl._slice("t1c4", ctl.view_grid(0, VIEW), ctl.frame(2, VIEW).position_mm))
    second = ctl.frame(2, VIEW).rgba
    frame = ctl.frame(0, VIEW)
    mask = squares_of_the_first(frame)
    np.testing.assert_array_equal(frame.rgba[mask], first[mask])
    np.testing.assert_array_equal(frame.rgba[~mask], second[~mask])
    assert "Checkerboard 4 mm squares" in frame.corners["top_left"]
    # the squares stay on the anatomy when the views are panned (by a non-multiple of 4 mm)
    ctl.pan_by(3.0, 1.5)
    panned = ctl.frame(0, VIEW)
    moved = squares_of_the_first(panned)  # same anatomy in the same squares, new pixels
    assert not np.array_equal(moved, mask)
    first_panned = ctl._rgba(0, ctl._slice("t1c4", panned.grid, panned.position_mm))
    np.testing.assert_array_equal(panned.rgba[moved], first_panned[moved])
    np.testing.assert_array_equal(panned.rgba[~moved], ctl.frame(2, VIEW).rgba[~moved])
    ctl.pan_by(-3.0, -1.5)

    ctl.set_pair_mode("flicker")
    np.testing.assert_array_equal(ctl.frame(0, VIEW).rgba, first)
    ctl.state.flicker_phase = 1
    np.testing.assert_array_equal(ctl.frame(0, VIEW).rgba, second)

    ctl.set_pair_mode("fade")
    ctl.state.fade = 1.0
    np.testing.assert_array_equal(ctl.frame(0, VIEW).rgba, second)

    # subtraction of a registered visit that only differs by its scale: no change anywhere
    ctl.set_pair_mode("subtraction")
    frame = ctl.frame(0, VIEW)
    assert frame.legend is not None and frame.legend.units == "IQR"
    inside = frame.rgba[..., 3] > 0
    assert inside.sum() > 1000
    assert np.all(frame.rgba[inside][:, :3] >= 250)  # white: no change
    assert frame.corners["top_left"][3].startswith("Subtraction: 2003-03-27")

    ctl.set_pair_mode("subtraction", (0, 3))  # MRI minus CT: refused with a reason
    ctl.assign(3, "ct2")
    ctl.state.layout = "2x2"
    assert any("not possible" in t for t in ctl.frame(0, VIEW).corners["top_left"])
    with pytest.raises(ValueError):
        ctl.set_pair_mode("overlay")


def probe_value(text: str) -> float:
    return float(text.split("value ")[1].split()[0])


def test_probe_reports_value_with_unit_and_both_positions(setup):
    ctl, volumes = setup
    register_visit_4(ctl)
    row, column = 30.0, 40.0
    grid = ctl.view_grid(0, VIEW)
    point = grid_point(grid, ctl.state.crosshair_mm[2], row, column)
    reference_text = ctl.probe(2, VIEW, row, column)
    moving_text = ctl.probe(0, VIEW, row, column)
    assert reference_text.startswith("View 3 1995-06-12  MR T1 post:  value ")
    assert "no unit" in reference_text and "own scanner" not in reference_text
    assert f"reference {format_position(point)}" in reference_text
    # visit 4 is the reference's intensities doubled, its head moved by SHIFT_MM
    assert probe_value(moving_text) == pytest.approx(2 * probe_value(reference_text), abs=2.0)
    assert f"reference {format_position(point)}" in moving_text
    assert f"own scanner {format_position(point + SHIFT_MM)}" in moving_text
    # CT values in HU; outside the image there is no value
    ctl.assign(1, "ct2")
    assert " HU " in ctl.probe(1, VIEW, row, column)
    ctl.zoom_by(0.2)
    assert "outside the image" in ctl.probe(0, VIEW, 0.0, 0.0)


def test_a_thumbnail_is_the_middle_axial_slice_once_loaded(setup):
    ctl, volumes = setup
    thumb = ctl.thumbnail("t1c3", 32)
    assert thumb.shape == (32, 32, 4) and thumb.dtype == np.uint8
    assert (thumb[..., 3] > 0).sum() > 500  # the slice fills most of it
    # it is the middle slice, windowed as the series opens: compare with that slice's grey values
    found = ctl.loaded("t1c3")
    middle = volumes["t1c3"].array[volumes["t1c3"].shape[0] // 2]
    low = found.default_window.level - found.default_window.width / 2
    expected = np.clip((middle - low) / found.default_window.width, 0, 1) * 255
    assert abs(float(thumb[..., 0][thumb[..., 3] > 0].mean()) - float(expected.mean())) < 12
    ctl.session.set_catalog(ctl.session.catalog)  # nothing loaded any more
    assert ctl.thumbnail("t1c3") is None


def test_an_exported_view_names_no_description_and_counts_days(setup):
    ctl, _ = setup
    ctl.set_layout("2x2")
    screen = ctl.frame(0, VIEW).corners["top_left"]
    assert screen[:2] == ["2003-03-27", "MR  T1 +C"]  # the screen follows the state: dates
    text = ViewText(descriptions=False, date_format="day")
    for index in range(3):
        key = ctl.view_key(index)
        lines = ctl.frame(index, VIEW, text).corners["top_left"]
        days = (ctl.session.visit_of(key).date - D1).days
        assert lines[0] == ("Day 0 (baseline)" if days == 0 else f"Day {days}")
        assert not any("T1" in line or "Gd" in line for line in lines)
    ctl.assign(0, "t1c1")
    assert ctl.frame(0, VIEW, text).corners["top_left"][1] == "MR  contrast-enhanced"
    assert ctl.frame(0, VIEW).corners["top_left"][1:3] == ["MR  T1 post", "Contrast: Gd"]
    ctl.set_pair_mode("checkerboard", (0, 1))
    names = ctl.frame(0, VIEW, text).corners["top_left"][-1]
    assert "⇄" in names and "T1" not in names and "Day 0 (baseline)" in names


def test_the_marks_of_a_view_follow_its_frame(setup):
    ctl, volumes = setup
    register_visit_4(ctl)
    frame = ctl.frame(0, (300, 400))
    marks = pane_marks(frame)
    texts = {m.text: m for m in marks if isinstance(m, Text)}
    # the registration line in its state's colour, the others in the text colour
    state_line = frame.corners["top_left"][-1]
    assert texts[state_line].colour == STATE_COLOURS[frame.registration]
    assert texts[frame.corners["bottom_left"][0]].colour == TEXT_COLOUR
    assert {"A", "P", "R", "L"} <= set(texts)
    crosshair = [m for m in marks if isinstance(m, Polyline) and m.colour == CROSSHAIR_COLOUR]
    assert len(crosshair) == 4
    assert not any(
        isinstance(m, Polyline) and m.colour == CROSSHAIR_COLOUR
        for m in pane_marks(frame, crosshair=False)
    )
    # a landmark on this slice is drawn, one 10 mm off it is not
    on = np.asarray(ctl.state.crosshair_mm, float)
    off = on + np.array([0.0, 0.0, 10.0])
    labelled = pane_marks(frame, landmarks=[Landmark(on, "1"), Landmark(off, "2")])
    labels = [m.text for m in labelled if isinstance(m, Text) and m.colour == LANDMARK_COLOUR]
    assert labels == ["1"]
    # a subtraction draws its colour scale: 200 rows, largest value on top
    ctl.set_pair_mode("subtraction", (0, 2))
    frame = ctl.frame(0, (400, 400))
    (bar,) = [m for m in pane_marks(frame) if isinstance(m, ColourBar)]
    assert len(bar.colours) == 200 and bar.colours[0][0] > bar.colours[0][2]  # red on top
    small = ctl.frame(0, (150, 400))  # too short for a scale: none
    assert not any(isinstance(m, ColourBar) for m in pane_marks(small))
    # a 2x style scales the crosshair and text but not what they say
    double = pane_marks(frame, PANE_STYLE.scaled(2))
    assert [m.text for m in double if isinstance(m, Text)] == [
        m.text for m in pane_marks(frame) if isinstance(m, Text)
    ]


def test_each_outlined_lesion_is_named_on_the_view_unless_a_caliper_names_it(setup):
    ctl, volumes = setup
    volume = volumes["t1c1"]
    ctl.assign(0, "t1c1")
    notes = ctl.annotations
    for name in ("L1", "L2"):
        notes.lesions.add(name)
    labels = np.zeros(volume.shape, np.uint16)
    centre = np.array(volume.shape) // 2
    labels[:, centre[1] - 4 : centre[1], centre[2] - 6 : centre[2] - 2] = 1
    labels[:, centre[1] + 2 : centre[1] + 5, centre[2] + 2 : centre[2] + 6] = 2
    notes.restore(notes.lesions, {"t1c1": labels}, {})
    frame = ctl.frame(0, (300, 400))
    named = {label.number: label for label in frame.lesion_labels}
    assert set(named) == {1, 2}
    # each sits at the top-right corner of its lesion's pixels on the view
    for number, label in named.items():
        rows, columns = np.nonzero(frame.rgba[..., :3].any(axis=2) & _lesion_pixels(ctl, number))
        assert label.row == rows.min() and label.column == columns.max()
        assert label.colour == notes.colours()[number]
    texts = [m.text for m in pane_marks(frame) if isinstance(m, Text)]
    assert "L1" in texts and "L2" in texts
    caliper = CaliperDrawing(((10.0, 10.0), (20.0, 20.0), (12.0, 18.0), (18.0, 12.0)),
                             (255, 0, 0), "L1 10.0 × 8.0 mm", False, lesion=1)  # fmt: skip
    texts = [m.text for m in pane_marks(frame, calipers=[caliper]) if isinstance(m, Text)]
    assert "L1" not in texts and "L2" in texts and "L1 10.0 × 8.0 mm" in texts
    notes.style.hidden = {2}
    assert {label.number for label in ctl.frame(0, (300, 400)).lesion_labels} == {1}
    # a picture drawn at twice the size draws the outlines twice as thick
    notes.style.hidden = set()
    notes.style.outline_only = True
    one, two = ctl.frame(0, (300, 400)), ctl.frame(0, (600, 800), scale=2)
    edge_one = (one.rgba[..., :3] == notes.colours()[1]).all(axis=2).sum()
    edge_two = (two.rgba[..., :3] == notes.colours()[1]).all(axis=2).sum()
    assert 3.0 < edge_two / edge_one < 5.0  # twice as long and twice as thick


def _lesion_pixels(ctl, number: int) -> np.ndarray:
    """Pixels of a lesion on view 0 (300 x 400), from the label map cut as the view cuts it."""
    from viewer.state.annotations import outline_slice

    grid = ctl.view_grid(0, (300, 400))
    frame = ctl.frame(0, (300, 400))
    found = ctl.loaded("t1c1")
    cut = outline_slice(ctl.annotations, "t1c1", found.volume, grid, frame.position_mm, None)
    return cut == number


def test_a_reference_reading_is_drawn_in_cyan_outline_only_on_its_own_grid(setup):
    """The teaching feedback's second overlay: the reference's outlines beside the reader's."""
    ctl, volumes = setup
    ctl.assign(0, "t1c1")
    volume = volumes["t1c1"]
    labels = np.zeros(volume.shape, np.uint16)
    labels[:, 6:14, 8:16] = 1  # a box 8 x 8 pixels on every slice
    reading = Reading(
        Reader("expert", Role.REFERENCE),
        dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
        [ReadingLesion(1, "L1")],
        [SeriesOutlines("t1c1", D1.isoformat(), volume.voxel2patient, labels)],
        [VisitStatement(D1.isoformat(), D1, "t1c1")],
    )
    before = ctl.frame(0, VIEW)
    assert not np.all(before.rgba[..., :3] == REFERENCE_RGB, axis=-1).any()
    assert REFERENCE_LEGEND not in before.corners["top_left"]
    ctl.reference_outlines = reading
    after = ctl.frame(0, VIEW)
    cyan = np.all(after.rgba[..., :3] == REFERENCE_RGB, axis=-1)
    assert np.array_equal(ctl.reference_labels("t1c1", volume), labels)
    # outline only: the edge of the box on the view, its inside keeps the image's pixels
    rows, columns = np.nonzero(cyan)
    assert cyan.sum() > 8 and not cyan[rows.min() + 2 : rows.max() - 1,
                                       columns.min() + 2 : columns.max() - 1].any()  # fmt: skip
    inside = (slice(rows.min() + 2, rows.max() - 1), slice(columns.min() + 2, columns.max() - 1))
    assert np.array_equal(after.rgba[inside], before.rgba[inside])
    assert REFERENCE_LEGEND in after.corners["top_left"]
    # a series whose grid differs is refused, never drawn in the wrong place
    ctl.assign(0, "t1c4")
    assert ctl.reference_labels("t1c4", volumes["t1c4"]) is None
    moved = Volume(volume.array, volumes["t1c4"].voxel2patient, volume.metadata)
    assert ctl.reference_labels("t1c1", moved) is None
    # a new case draws no reading of the old one
    ctl.open_case()
    assert ctl.reference_outlines is None
