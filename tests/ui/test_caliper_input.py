"""The caliper on a comparison view: a follow-up visit registered by a turn and a shift, its
lesion's automatic caliper drawn where its ends project, handles dragged by screen coordinates
into overrides that follow the editing rules, new calipers drawn with the tool armed."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from tests.state.helpers import axial_volume, catalog, entry, loaded
from viewer.core.geometry import apply_affine
from viewer.core.lesions import Lesion, LesionSet, palette_colour
from viewer.core.transform import Registration, RegistrationState, Transform
from viewer.core.volume import Volume
from viewer.display.linking import grid_point, link_views
from viewer.display.overlay import caliper_marks, render
from viewer.io.case_file import SeriesRecord
from viewer.state import Session
from viewer.state.annotations import Annotations
from viewer.state.calipers import CaliperStore, drag_end, on_screen
from viewer.state.compare_controller import ComparisonController
from viewer.state.pane_overlay import PANE_STYLE
from viewer.state.registrations import RegistrationStore
from viewer.state.tracking import Tracking
from viewer.ui.caliper_input import HANDLE_GRAB_PX, CaliperInput, caliper_label

D1, D2 = dt.date(2002, 8, 14), dt.date(2003, 3, 27)
SHAPE = (10, 40, 48)
VIEW = (180, 220)  # rows, columns of the view in screen pixels


def follow_up_motion() -> np.ndarray:
    """Where the follow-up scanner put the head: turned 12 degrees about z and shifted (mm)."""
    motion = np.eye(4)
    motion[:3, :3] = Rotation.from_rotvec(np.radians(12) * np.array([0, 0, 1.0])).as_matrix()
    motion[:3, 3] = (5.0, -3.0, 4.0)
    return motion


class Setup:
    """A reference visit and a registered follow-up with one outlined lesion (L1)."""

    def __init__(self) -> None:
        reference = axial_volume(SHAPE, seed=1)
        motion = follow_up_motion()
        follow_up = Volume(reference.array, motion @ reference.voxel2patient, reference.metadata)
        self.volumes = {"ref": reference, "fu": follow_up}
        self.session = Session(max_loaded=4)
        self.catalog = catalog(
            (D1, [entry("ref", description="T1 post", contrast_agent="Gd", date=D1, shape=SHAPE)]),
            (D2, [entry("fu", description="T1 post", contrast_agent="Gd", date=D2, shape=SHAPE)]),
        )
        self.session.set_catalog(self.catalog)
        self.registrations = RegistrationStore()
        self.notes = Annotations()
        self.comparison = ComparisonController(
            self.session, self.registrations, annotations=self.notes
        )
        for key, volume in self.volumes.items():
            self.session.mark_loading(key)
            self.session.add_loaded(key, loaded(volume))
        self.comparison.set_reference("ref")
        self.registrations.put(
            Registration(
                "fu", "ref", Transform(np.linalg.inv(motion), "rigid"), RegistrationState.ACCEPTED
            )
        )
        z, y, x = np.indices(SHAPE)
        labels = np.zeros(SHAPE, np.uint16)
        inside = ((y - 21) / 9.0) ** 2 + ((x - 22) / 6.0) ** 2 <= 1
        labels[inside & (z >= 4) & (z <= 6)] = 1
        self.notes.restore(LesionSet([Lesion(1, "L1", palette_colour(1))], 2), {"fu": labels}, {})
        records = {
            k: SeriesRecord(k, "visit", SHAPE, v.voxel2patient) for k, v in self.volumes.items()
        }
        self.tracking = Tracking(
            self.notes,
            lambda: self.catalog,
            self.volumes.get,
            lambda: records,
            self.registrations.patient2reference,
        )
        self.store = CaliperStore()
        self.input = CaliperInput(self.comparison, self.tracking, self.store, self.notes)
        self.comparison.set_layout("1x1")
        self.comparison.assign(0, "fu")
        self.automatic = self.store.automatic(
            "fu", 1, self.tracking.measurements("fu")[1].diameters
        )
        self.look_at(self.automatic.crossing_mm)

    def look_at(self, patient_mm: np.ndarray) -> None:
        """Move the crosshair to a follow-up point."""
        point = apply_affine(self.registrations.patient2reference("fu"), patient_mm)
        self.comparison.state.crosshair_mm = tuple(float(v) for v in point)

    def slice2patient(self) -> np.ndarray:
        view = self.comparison.view_geometry(0, VIEW)
        return view.volume.voxel2patient @ view.slice2voxel

    def drag(self, start_px, end_px) -> bool:
        grabbed = self.input.press(0, VIEW, *start_px)
        if grabbed:
            middle = 0.5 * (np.asarray(start_px) + np.asarray(end_px))
            assert self.input.move(0, VIEW, *middle)
            assert self.input.release(0, VIEW, *end_px)
        return grabbed


@pytest.fixture
def setup(qtbot) -> Setup:  # qtbot: a QApplication for the painting tests
    return Setup()


def test_the_automatic_caliper_is_shown_where_its_ends_lie_in_the_reference_frame(setup):
    shown = setup.input.shown(0, VIEW)
    assert len(shown) == 1
    item = shown[0]
    assert item.caliper.lesion == 1 and not item.caliper.manual
    assert item.colour == palette_colour(1)
    # each handle's screen pixel is, in the reference frame, the end mapped by the registration
    grid = setup.comparison.view_grid(0, VIEW)
    position = link_views(setup.comparison.state.crosshair_mm, [grid])[0].position_mm
    matrix = setup.registrations.patient2reference("fu")
    for (row, column), end in zip(item.screen_px, item.caliper.ends(), strict=True):
        np.testing.assert_allclose(
            grid_point(grid, position, row, column), apply_affine(matrix, end), atol=1e-6
        )
    assert caliper_label(item.caliper) == (
        f"L1 {item.caliper.longest_mm:.1f} × {item.caliper.perpendicular_mm:.1f} mm"
    )


def test_dragging_a_long_end_stores_an_override_with_the_perpendicular_kept(setup):
    before = setup.input.shown(0, VIEW)[0]
    handle = before.screen_px[1]
    grab = handle + (2.0, -1.5)  # within the 6 px of the handle
    delta = np.array([14.0, -9.0])
    assert setup.drag(grab, grab + delta)
    manual = setup.store.manual("fu", 1)
    assert manual is not None and manual.manual
    # the handle moved with the mouse, not onto it
    expected = drag_end(
        before.caliper, "long1", apply_affine(setup.slice2patient(), (*(handle + delta), 0.0))
    )
    np.testing.assert_allclose(manual.ends(), expected.ends(), atol=1e-9)
    screen, _ = on_screen(manual, setup.slice2patient())
    np.testing.assert_allclose(screen[1], handle + delta, atol=1e-6)
    np.testing.assert_allclose(screen[0], before.screen_px[0], atol=1e-6)
    long = manual.long_ends_mm[1] - manual.long_ends_mm[0]
    perp = manual.perp_ends_mm[1] - manual.perp_ends_mm[0]
    assert abs(long @ perp) < 1e-9 * np.linalg.norm(long) * np.linalg.norm(perp)
    assert manual.perpendicular_mm == pytest.approx(before.caliper.perpendicular_mm, abs=1e-9)
    # the view now shows the override
    shown = setup.input.shown(0, VIEW)
    assert len(shown) == 1 and shown[0].caliper.manual
    assert caliper_label(shown[0].caliper).endswith("mm (manual)")
    # "Reset to automatic"
    setup.store.reset("fu", 1)
    np.testing.assert_allclose(setup.input.shown(0, VIEW)[0].screen_px, before.screen_px)


def test_dragging_a_perpendicular_end_changes_only_its_half(setup):
    before = setup.input.shown(0, VIEW)[0]
    caliper = before.caliper
    ends = before.screen_px
    outward = (ends[3] - ends[2]) / np.linalg.norm(ends[3] - ends[2])
    # 8 px further out, and 5 px sideways, which the perpendicular does not follow
    sideways = np.array([-outward[1], outward[0]])
    assert setup.drag(ends[3], ends[3] + 8 * outward + 5 * sideways)
    manual = setup.store.manual("fu", 1)
    np.testing.assert_allclose(
        np.stack(manual.long_ends_mm), np.stack(caliper.long_ends_mm), atol=1e-9
    )
    np.testing.assert_allclose(manual.perp_ends_mm[0], caliper.perp_ends_mm[0], atol=1e-9)
    pixel_mm = setup.comparison.view_grid(0, VIEW).pixel_mm
    assert manual.perpendicular_mm == pytest.approx(
        caliper.perpendicular_mm + 8 * pixel_mm, abs=1e-6
    )


def test_a_press_away_from_handles_is_not_taken_unless_the_tool_is_armed(setup):
    handles = setup.input.shown(0, VIEW)[0].screen_px
    far = handles.min(axis=0) - 3 * HANDLE_GRAB_PX
    assert not setup.input.press(0, VIEW, *(handles[0] + (HANDLE_GRAB_PX + 1, 0)))
    assert not setup.drag(far, far + (0, 40))
    assert setup.store.manual("fu", 1) is None
    # armed: a new caliper for the active lesion, its perpendicular a third each side
    second = setup.notes.add_lesion()
    setup.input.armed = True
    assert setup.drag(far, far + (0, 40))
    drawn = setup.store.manual("fu", second.number)
    assert drawn is not None and drawn.manual
    slice2patient = setup.slice2patient()
    np.testing.assert_allclose(
        np.stack(drawn.long_ends_mm),
        apply_affine(slice2patient, [(*far, 0.0), (*(far + (0, 40)), 0.0)]),
        atol=1e-9,
    )
    pixel_mm = setup.comparison.view_grid(0, VIEW).pixel_mm
    assert drawn.longest_mm == pytest.approx(40 * pixel_mm, abs=1e-9)
    assert drawn.perpendicular_mm == pytest.approx(2 / 3 * 40 * pixel_mm, abs=1e-9)
    assert {s.caliper.lesion for s in setup.input.shown(0, VIEW)} == {1, second.number}
    # a click without a drag draws nothing
    assert setup.drag(far + (50, 50), far + (50, 50))
    assert set(setup.store.manuals("fu")) == {second.number}


def test_no_caliper_off_its_slice_on_other_planes_or_when_read_only(setup):
    handle = setup.input.shown(0, VIEW)[0].screen_px[0]
    setup.look_at(setup.automatic.crossing_mm + (0, 0, 6.0))  # three 2 mm slices up
    assert setup.input.shown(0, VIEW) == []
    assert not setup.input.press(0, VIEW, *handle)
    setup.look_at(setup.automatic.crossing_mm + (0, 0, 0.9))  # within half a slice
    assert len(setup.input.shown(0, VIEW)) == 1
    setup.comparison.set_plane("coronal")
    assert setup.input.shown(0, VIEW) == []
    setup.comparison.set_plane("axial")
    setup.notes.set_hidden(1, True)
    assert setup.input.shown(0, VIEW) == []
    setup.notes.set_hidden(1, False)
    setup.notes.read_only = True
    assert not setup.input.press(0, VIEW, *setup.input.shown(0, VIEW)[0].screen_px[0])


def _draw(setup, index):
    """View ``index``'s calipers drawn on black, as the view's picture draws them."""
    marks = [m for d in setup.input.drawings(index, VIEW) for m in caliper_marks(d, PANE_STYLE)]
    return render(np.zeros((*VIEW, 4), np.uint8), marks)


def test_calipers_are_drawn_in_the_lesion_colour(setup):
    item = setup.input.shown(0, VIEW)[0]
    drawing = setup.input.drawings(0, VIEW)[0]
    assert drawing.label == caliper_label(item.caliper) and not drawing.dashed
    image = _draw(setup, 0)
    colour = np.array(palette_colour(1))
    for a, b in ((0, 1), (2, 3)):  # the middle of each line
        row, column = np.round(0.5 * (item.screen_px[a] + item.screen_px[b]) + 0.5).astype(int)
        near = image[row - 1 : row + 2, column - 1 : column + 2, :3].reshape(-1, 3).astype(int)
        assert np.abs(near - colour).max(axis=1).min() <= 40
    # nothing drawn far from the caliper and its label
    assert tuple(image[VIEW[0] - 3, 2, :3]) == (0, 0, 0)
    # a manual one is dashed; a view with no caliper draws nothing
    setup.store.override(drag_end(item.caliper, "perp1", item.caliper.perp_ends_mm[1] * 1.0))
    assert setup.input.drawings(0, VIEW)[0].dashed
    assert "(manual)" in setup.input.drawings(0, VIEW)[0].label
    assert _draw(setup, 0)[..., :3].any()
    assert setup.input.drawings(1, VIEW) == []
