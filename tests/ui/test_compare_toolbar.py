"""The toolbar, the case list and the visit strip act on the active comparison view: W/L presets
and window title follow it, a double-clicked series goes into it, and every visit gets a
thumbnail (visits no view shows are read in the background and not kept)."""

from __future__ import annotations

import datetime as dt

import numpy as np
from PySide6.QtCore import Qt

from tests.dicom_factory import write_series
from tests.ui.conftest import LOAD_TIMEOUT_MS, VISIT_1, VISIT_2, head
from tests.ui.test_compare_view import open_case, ready
from tests.ui.test_main_window import series_key
from viewer.state.compare_controller import series_thumbnail
from viewer.state.session import LoadStatus


def test_presets_and_title_follow_the_active_view_and_its_linked_views(window, qtbot, case_folder):
    w = open_case(window, qtbot, case_folder)
    ctl = w.comparison
    ct1, ct2 = (series_key(w, "CT head", d) for d in (VISIT_1, VISIT_2))
    native_window = w.view_state.window
    w.compare_tools.layout_actions["1x3"].trigger()
    ctl.assign(1, ct2)
    ctl.assign(2, ct1)
    qtbot.waitUntil(lambda: ready(w), timeout=LOAD_TIMEOUT_MS)
    # an MRI view is active: HU presets are off, the automatic window is checked
    ctl.set_active(0)
    assert not w.preset_actions["Bone"].isEnabled() and w.preset_actions["Auto"].isChecked()
    assert "MPRAGE" in w.windowTitle() and VISIT_2.isoformat() in w.windowTitle()
    mri_window = ctl.window_for(0)
    ctl.set_active(1)  # a CT view: HU presets on, its opening preset checked, title follows
    assert w.preset_actions["Bone"].isEnabled() and w.preset_actions["CT Brain"].isChecked()
    assert "CT head" in w.windowTitle() and VISIT_2.isoformat() in w.windowTitle()
    w.preset_actions["Bone"].trigger()
    # both linked CT views take the preset; the MRI view and the native view keep theirs
    for index in (1, 2):
        window_ = ctl.window_for(index)
        assert (window_.width, window_.level, window_.name) == (2800, 600, "Bone")
    assert ctl.window_for(0) == mri_window and w.view_state.window == native_window
    assert w.preset_actions["Bone"].isChecked() and not w.preset_actions["CT Brain"].isChecked()
    corner = "W 2800  L 600 HU  (Bone)"
    qtbot.waitUntil(
        lambda: corner in w.comparison_view.panes[2].current_frame().corners["bottom_left"],
        timeout=LOAD_TIMEOUT_MS,
    )
    ctl.set_linked(2, False)  # view 3 keeps its own window: the number key skips it
    pane = w.comparison_view.panes[1]
    w.activateWindow()
    pane.setFocus()
    qtbot.waitUntil(pane.hasFocus)
    qtbot.keyClick(pane, Qt.Key.Key_2)
    assert ctl.window_for(1).name == "Subdural" and ctl.window_for(2).name == "Bone"
    assert w.preset_actions["Subdural"].isChecked()
    ctl.set_active(2)
    assert w.preset_actions["Bone"].isChecked() and "1995" in w.windowTitle()
    ctl.set_active(0)
    qtbot.keyClick(pane, Qt.Key.Key_4)  # disabled on an MRI view: nothing changes
    assert ctl.window_for(0) == mri_window and ctl.window_for(1).name == "Subdural"


def double_click(qtbot, tree, item) -> None:
    # a press first: the item view acts on a double-click only where the press was
    where = tree.visualItemRect(item).center()
    qtbot.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=where)
    qtbot.mouseDClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=where)


def test_double_click_in_the_case_list_shows_the_series_in_the_active_view(
    window, qtbot, case_folder
):
    w = open_case(window, qtbot, case_folder)
    ctl = w.comparison
    ct1 = series_key(w, "CT head", VISIT_1)
    w.native_action.trigger()
    assert not w.comparing
    tree = w.case_panel.tree
    item = w.case_panel._items[ct1]
    tree.scrollToItem(item)
    double_click(qtbot, tree, item)
    assert w.comparing and ctl.view_key(ctl.state.active) == ct1  # in the reference frame
    qtbot.waitUntil(lambda: ready(w), timeout=LOAD_TIMEOUT_MS)
    pane = w.comparison_view.panes[ctl.state.active]
    assert "CT  CT head" in pane.current_frame().corners["top_left"]
    # the same (already current) series double-clicked again goes to the newly active view
    other = 1 - ctl.state.active
    ctl.set_active(other)
    double_click(qtbot, tree, item)
    assert ctl.view_key(other) == ct1
    w.native_action.trigger()  # Native: the series alone, on its own grid
    assert not w.comparing and w.view_state.series_key == ct1
    qtbot.waitUntil(lambda: w.slice_view.current_frame() is not None, timeout=LOAD_TIMEOUT_MS)
    assert "CT head" in w.windowTitle()


def test_every_visit_gets_a_thumbnail_without_keeping_its_volume(window, qtbot, tmp_path):
    dates = [dt.date(2001, 1, 5), dt.date(2001, 4, 2), dt.date(2001, 9, 20), dt.date(2002, 2, 1)]
    for number, date in enumerate(dates):
        write_series(
            tmp_path / f"v{number}",
            head(brain=300 + 200 * number),
            study_date=date,
            series_number=1,
            series_description=f"T1 visit {number}",
            name=f"thumb{number}",
        )
    w = open_case(window, qtbot, tmp_path)
    ctl = w.comparison
    assert ctl.state.layout == "1x3"  # latest, previous, baseline: visit 2 of 4 is not shown
    hidden = series_key(w, "T1 visit 1", dates[1])
    assert hidden not in [ctl.view_key(i) for i in ctl.visible_indices()]
    strip = w.visit_strip
    qtbot.waitUntil(
        lambda: all(not strip.item(row).icon().isNull() for row in range(strip.count())),
        timeout=LOAD_TIMEOUT_MS,
    )
    assert w.session.status(hidden) is LoadStatus.NOT_LOADED  # only the small image is kept
    made = ctl.thumbnail(hidden)
    assert made.shape == (44, 44, 4) and (made[..., 3] > 0).sum() > 500
    ctl.assign(0, hidden)  # once loaded for a view, the same picture is drawn from the volume
    qtbot.waitUntil(lambda: ctl.loaded(hidden) is not None, timeout=LOAD_TIMEOUT_MS)
    np.testing.assert_array_equal(made, series_thumbnail(ctl.loaded(hidden)))
