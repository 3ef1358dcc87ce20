"""The controller drives the evented view state; tested with no window at all."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from tests.state.helpers import axial_volume, catalog, entry, loaded
from viewer.core.geometry import apply_affine
from viewer.core.volume import Volume, VolumeMetadata
from viewer.display import WindowLevel
from viewer.state import Session, ViewController, ViewState

DATE = dt.date(2003, 3, 27)


@pytest.fixture
def session():
    s = Session()
    s.set_catalog(
        catalog(
            (
                DATE,
                [
                    entry("ct", modality="CT", description="Head", frame_of_reference_uid="F1"),
                    entry("t1c", description="T1 post", frame_of_reference_uid="F1"),
                    entry("other", description="T2", frame_of_reference_uid="F2"),
                ],
            )
        )
    )
    return s


def load(session, key, volume):
    session.mark_loading(key)
    session.add_loaded(key, loaded(volume))


def record(view: ViewState) -> list[str]:
    names: list[str] = []
    view.events.connect(lambda info: names.append(info.signal.name))
    return names


def test_selecting_then_loading_sets_up_the_view(session):
    ctl = ViewController(session)
    ctl.select_series("ct")
    assert ctl.frame() is None  # nothing to paint until the volume arrives
    volume = axial_volume(modality="CT")
    load(session, "ct", volume)
    assert ctl.view.window.name == "CT Brain"
    assert ctl.slice_index() == (4, 10)  # centre of 10 slices (4.5), snapped
    # the focus sits on voxel centres on every plane
    voxel = apply_affine(volume.patient2voxel, ctl.view.focus_mm)
    np.testing.assert_allclose(voxel, np.round(voxel), atol=1e-9)


def test_scroll_moves_one_slice_and_clamps(session):
    ctl = ViewController(session)
    load(session, "ct", axial_volume(modality="CT"))
    ctl.select_series("ct")
    events = record(ctl.view)
    z0 = ctl.view.focus_mm[2]
    ctl.scroll(+1)
    assert ctl.view.focus_mm[2] == pytest.approx(z0 + 2.0)  # 2 mm slices, towards superior
    assert events == ["focus_mm"]
    ctl.scroll(-100)
    assert ctl.slice_index() == (0, 10)
    ctl.scroll(+1000)
    assert ctl.slice_index() == (9, 10)


def test_plane_switch_keeps_the_focus_point(session):
    ctl = ViewController(session)
    load(session, "ct", axial_volume(modality="CT"))
    ctl.select_series("ct")
    ctl.scroll(2)
    ctl.zoom_by(3.0, (5.0, 5.0))
    focus = ctl.view.focus_mm
    ctl.set_plane("coronal")
    assert ctl.view.focus_mm == focus
    assert (ctl.view.zoom, ctl.view.pan_mm) == (1.0, (0.0, 0.0))  # fitted anew
    assert ctl.slice_index()[1] == 20  # 20 rows, 1 mm apart
    frame = ctl.frame()
    assert frame.rgba.shape[:2] == (19, 24)  # 10 slices 2 mm apart span 18 mm: 19 rows at 1 mm
    assert (frame.letters.top, frame.letters.left) == ("S", "R")
    with pytest.raises(ValueError):
        ctl.set_plane("oblique")


def test_zoom_keeps_the_point_under_the_mouse(session):
    ctl = ViewController(session)
    point = np.array([10.0, -4.0])
    ctl.pan_by(3.0, 1.0)
    screen_before = (point + ctl.view.pan_mm) * ctl.view.zoom
    ctl.zoom_by(2.5, tuple(point))
    assert ctl.view.zoom == 2.5
    np.testing.assert_allclose((point + ctl.view.pan_mm) * ctl.view.zoom, screen_before)
    ctl.zoom_by(1000)
    assert ctl.view.zoom == 40.0
    ctl.reset()
    assert (ctl.view.zoom, ctl.view.pan_mm) == (1.0, (0.0, 0.0))


def test_window_drag_presets_and_reset(session):
    ctl = ViewController(session)
    load(session, "ct", axial_volume(modality="CT"))
    ctl.select_series("ct")
    stats = ctl.current.stats
    span = max(80.0, (stats.range_high - stats.range_low) / 10)
    ctl.drag_window(0, 256)  # a window-width's worth of drag downwards
    assert ctl.view.window.level == pytest.approx(40 + span)
    assert ctl.view.window.width == pytest.approx(80)
    assert ctl.view.window.name == "Custom"
    ctl.drag_window(-10_000, 0)  # the width never reaches zero
    assert ctl.view.window.width > 0
    ctl.apply_preset("Bone")
    assert (ctl.view.window.width, ctl.view.window.level) == (2800, 600)
    ctl.apply_preset("Auto")
    assert ctl.view.window == stats.auto_window
    with pytest.raises(KeyError):
        ctl.apply_preset("Lung")
    ctl.reset()
    assert ctl.view.window.name == "CT Brain"


def test_presets_offered_follow_the_modality(session):
    ctl = ViewController(session)
    ctl.select_series("ct")
    assert [p.name for p in ctl.presets_for_current()][:2] == ["CT Brain", "Subdural"]
    ctl.select_series("t1c")
    assert ctl.presets_for_current() == []


def test_each_series_keeps_its_own_window(session):
    ctl = ViewController(session)
    load(session, "ct", axial_volume(modality="CT"))
    load(session, "other", axial_volume())
    ctl.select_series("ct")
    ctl.apply_preset("Subdural")
    ctl.select_series("other")
    assert ctl.view.window.name == "Auto"
    ctl.select_series("ct")
    assert ctl.view.window.name == "Subdural"


def test_focus_is_kept_within_a_frame_of_reference_and_reset_across(session):
    ctl = ViewController(session)
    load(session, "ct", axial_volume(modality="CT"))
    load(session, "t1c", axial_volume(shape=(20, 20, 24), spacing=(1.0, 1.0, 1.0)))
    load(session, "other", axial_volume())
    ctl.select_series("ct")
    ctl.scroll(-3)
    ctl.zoom_by(2)
    focus, zoom = ctl.view.focus_mm, ctl.view.zoom
    ctl.select_series("t1c")  # same frame of reference: same anatomy stays in view
    assert ctl.view.focus_mm == pytest.approx(focus) and ctl.view.zoom == zoom
    ctl.select_series("other")  # another frame of reference: start from its centre
    assert ctl.slice_index() == (4, 10) and ctl.view.zoom == 1.0


def test_frame_text_and_probe(session):
    ctl = ViewController(session)
    volume = axial_volume(modality="CT")
    load(session, "ct", volume)
    ctl.select_series("ct")
    frame = ctl.frame()
    assert frame.rgba.shape == (20, 24, 4) and frame.rgba.dtype == np.uint8
    assert frame.corners["top_left"][:2] == ["Visit 2003-03-27", "CT  Head"]
    assert frame.corners["top_right"][0] == "Axial  5 / 10"
    assert frame.corners["bottom_left"][0] == "W 80  L 40 HU  (CT Brain)"
    assert (frame.letters.left, frame.letters.top) == ("R", "A")

    probe = ctl.probe(3, 7)
    assert probe.voxel == (4, 3, 7)
    assert probe.value == volume.array[4, 3, 7] and probe.units == "HU"
    assert "HU" in probe.describe() and "slice 5" in probe.describe()
    outside = ctl.probe(-30, 7)
    assert outside.voxel is None and "outside" in outside.describe()


def test_unreadable_slice_is_hatched_not_black(session):
    ctl = ViewController(session)
    base = axial_volume(modality="CT")
    volume = Volume(
        base.array,
        base.voxel2patient,
        VolumeMetadata(modality="CT", units="HU", incomplete_slices=(4,)),
    )
    load(session, "ct", volume)
    ctl.select_series("ct")
    frame = ctl.frame()
    assert "could not be read" in frame.corners["top_right"][-1]
    assert (frame.rgba[..., 3] == 255).all()
    assert (frame.rgba[..., 0] > frame.rgba[..., 1]).any()  # red stripes, not grey data
    assert ctl.probe(3, 7).value is None


def test_view_state_events_carry_values():
    view = ViewState()
    seen = []
    view.events.windows.connect(lambda windows: seen.append(dict(windows)))
    view.set_window("a", WindowLevel(40, 80, "CT Brain"))
    view.set_window("a", WindowLevel(40, 80, "CT Brain"))  # unchanged: no event
    assert seen == [{"a": WindowLevel(40, 80, "CT Brain")}]
    assert view.window is None
    view.series_key = "a"
    assert view.window.name == "CT Brain"
