"""The first window, driven as a user would: open, select, scroll, zoom, window, cancel."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication

from tests.ui.conftest import LOAD_TIMEOUT_MS, VISIT_1, VISIT_2, Gate, wait_loaded
from viewer.io import scan_paths
from viewer.state import LoadStatus, prepare_series
from viewer.ui.case_panel import KEY_ROLE


def series_key(w, description: str, date) -> str:
    (entry,) = [
        s
        for s in w.session.catalog.all_series()
        if s.description == description and s.study_date == date
    ]
    return entry.key


def tree_texts(w) -> list[tuple[str, list[str]]]:
    tree = w.case_panel.tree
    out = []
    for i in range(tree.topLevelItemCount()):
        top = tree.topLevelItem(i)
        out.append((top.text(0), [top.child(j).text(0) for j in range(top.childCount())]))
    return out


def wheel(widget, delta: int, modifiers=Qt.KeyboardModifier.NoModifier) -> None:
    pos = QPointF(widget.width() / 2, widget.height() / 2)
    event = QWheelEvent(
        pos,
        widget.mapToGlobal(pos),
        QPoint(0, 0),
        QPoint(0, delta),
        Qt.MouseButton.NoButton,
        modifiers,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(widget, event)


@pytest.fixture
def opened(window, qtbot, case_folder):
    w = window()
    w.open_paths([str(case_folder)])
    wait_loaded(qtbot, w)
    w.native_action.trigger()  # the single-series view
    return w


def test_visits_are_listed_by_date_with_their_series_and_skipped_files(opened):
    texts = tree_texts(opened)
    assert texts[0][0].startswith(VISIT_1.isoformat()) and "CT" in texts[0][0]
    assert texts[1][0].startswith(VISIT_2.isoformat())
    assert any("T1 post-contrast" in t for t in texts[0][1])
    assert any("AX T1 MPRAGE" in t and "+C" in t for t in texts[1][1])
    skipped = [children for top, children in texts if top.startswith("Skipped files")]
    assert skipped and any("notes.pdf" in c and "PDF" in c for c in skipped[0])
    # matrix, slice count and thickness columns
    item = opened.case_panel._items[series_key(opened, "T1 post-contrast", VISIT_1)]
    assert (item.text(1), item.text(2), item.text(3)) == ("MR", "40×48×12", "3 mm")


def test_opens_on_the_latest_visits_contrast_mri(opened):
    key = series_key(opened, "AX T1 MPRAGE", VISIT_2)
    assert opened.view_state.series_key == key
    assert opened.case_panel.tree.currentItem().data(0, KEY_ROLE) == key
    assert opened.view_state.window.name == "Auto"
    assert opened.preset_actions["Auto"].isChecked()
    assert not opened.preset_actions["CT Brain"].isEnabled()  # HU presets make no sense on MRI
    assert "MPRAGE" in opened.windowTitle()


def test_selecting_a_series_in_the_tree_loads_and_shows_it(opened, qtbot):
    key = series_key(opened, "CT head", VISIT_1)
    opened.case_panel.tree.setCurrentItem(opened.case_panel._items[key])
    wait_loaded(qtbot, opened, key)
    frame = opened.slice_view.current_frame()
    assert frame.corners["top_left"][0] == "Visit 1995-06-12"
    assert opened.view_state.window.name == "CT Brain"
    assert (
        opened.preset_actions["CT Brain"].isChecked() and opened.preset_actions["Bone"].isEnabled()
    )


def test_scroll_with_wheel_and_keys(opened, qtbot):
    view = opened.slice_view
    start, count = opened.controller.slice_index()
    wheel(view, 120)
    assert opened.controller.slice_index() == (start + 1, count)
    wheel(view, -360)
    assert opened.controller.slice_index()[0] == start - 2
    wheel(view, 60)
    wheel(view, 60)  # two half notches (touchpad) make one slice
    assert opened.controller.slice_index()[0] == start - 1
    qtbot.keyClick(view, Qt.Key.Key_Up)
    qtbot.keyClick(view, Qt.Key.Key_PageUp)
    assert opened.controller.slice_index()[0] == start + 1
    qtbot.keyClick(view, Qt.Key.Key_End)
    assert opened.controller.slice_index()[0] == count - 1
    frame = view.current_frame()
    assert frame.corners["top_right"][0] == f"Axial  {count} / {count}"


def test_ctrl_wheel_zooms_and_double_click_resets(opened, qtbot):
    view = opened.slice_view
    wheel(view, 120, Qt.KeyboardModifier.ControlModifier)
    assert opened.view_state.zoom == pytest.approx(1.2)
    qtbot.mouseDClick(view, Qt.MouseButton.LeftButton, pos=QPoint(50, 50))
    assert opened.view_state.zoom == 1.0


def test_right_drag_zooms_and_middle_drag_pans(opened, qtbot):
    view = opened.slice_view
    centre = QPoint(view.width() // 2, view.height() // 2)
    qtbot.mousePress(view, Qt.MouseButton.RightButton, pos=centre)
    qtbot.mouseMove(view, centre - QPoint(0, 70))
    qtbot.mouseRelease(view, Qt.MouseButton.RightButton, pos=centre - QPoint(0, 70))
    assert opened.view_state.zoom == pytest.approx(1.01**70)
    # zooming about a pixel centre that is not exactly the slice centre pans a little
    before_right, before_down = opened.view_state.pan_mm
    qtbot.mousePress(view, Qt.MouseButton.MiddleButton, pos=centre)
    qtbot.mouseMove(view, centre + QPoint(40, 0))
    qtbot.mouseRelease(view, Qt.MouseButton.MiddleButton, pos=centre + QPoint(40, 0))
    right_mm, down_mm = opened.view_state.pan_mm
    assert right_mm > before_right and down_mm == pytest.approx(before_down, abs=1e-9)
    # Shift+left-drag pans too (for mice without a middle button); the window is untouched
    window = opened.view_state.window
    shift = Qt.KeyboardModifier.ShiftModifier
    qtbot.mousePress(view, Qt.MouseButton.LeftButton, shift, pos=centre)
    qtbot.mouseMove(view, centre + QPoint(0, 30))
    qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, shift, pos=centre + QPoint(0, 30))
    assert opened.view_state.pan_mm[0] == pytest.approx(right_mm)
    assert opened.view_state.pan_mm[1] > before_down
    assert opened.view_state.window == window


def test_left_drag_changes_window_and_level(opened, qtbot):
    view = opened.slice_view
    before = opened.view_state.window
    stats = opened.controller.current.stats
    per_px = max(before.width, (stats.range_high - stats.range_low) / 10) / 256
    start = QPoint(view.width() // 2, view.height() // 2)
    qtbot.mousePress(view, Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(view, start + QPoint(0, 40))
    qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, pos=start + QPoint(0, 40))
    after = opened.view_state.window
    assert after.level == pytest.approx(before.level + 40 * per_px)
    assert after.width == pytest.approx(before.width)
    assert after.name == "Custom" and not opened.preset_actions["Auto"].isChecked()
    assert "Custom" in view.current_frame().corners["bottom_left"][0]


def test_preset_buttons_on_ct(opened, qtbot):
    key = series_key(opened, "CT head", VISIT_2)
    opened.select_series(key)
    wait_loaded(qtbot, opened, key)
    opened.preset_actions["Bone"].trigger()
    assert (opened.view_state.window.width, opened.view_state.window.level) == (2800, 600)
    assert opened.preset_actions["Bone"].isChecked()
    assert not opened.preset_actions["CT Brain"].isChecked()
    frame = opened.slice_view.current_frame()
    assert frame.corners["bottom_left"][0] == "W 2800  L 600 HU  (Bone)"
    # brain (40 HU) is dark grey in the bone window, white in a subdural window
    centre = frame.rgba[frame.rgba.shape[0] // 2, frame.rgba.shape[1] // 2, 0]
    opened.preset_actions["Subdural"].trigger()
    brighter = opened.slice_view.current_frame().rgba
    assert brighter[brighter.shape[0] // 2, brighter.shape[1] // 2, 0] > centre


def test_plane_buttons_and_letters(opened):
    opened.plane_actions["coronal"].trigger()
    assert opened.view_state.plane == "coronal"
    letters = opened.slice_view.current_frame().letters
    assert (letters.top, letters.bottom, letters.left, letters.right) == ("S", "I", "R", "L")
    opened.controller.set_plane("sagittal")  # the model drives the buttons too
    checked = [plane for plane, action in opened.plane_actions.items() if action.isChecked()]
    assert checked == ["sagittal"]
    letters = opened.slice_view.current_frame().letters
    assert (letters.left, letters.right) == ("A", "P")


def test_status_bar_shows_the_value_under_the_mouse(opened, qtbot):
    key = series_key(opened, "CT head", VISIT_2)
    opened.select_series(key)
    wait_loaded(qtbot, opened, key)
    view = opened.slice_view
    qtbot.mouseMove(view, QPoint(view.width() // 2, view.height() // 2))
    text = opened.probe_label.text()
    assert "HU" in text and "mm" in text and "voxel" in text
    qtbot.mouseMove(view, QPoint(2, 2))
    assert "outside" in opened.probe_label.text()


def test_broken_series_shows_a_readable_error_and_the_rest_works(opened, qtbot):
    key = series_key(opened, "FLAIR broken", VISIT_2)
    opened.select_series(key)
    qtbot.waitUntil(
        lambda: opened.session.status(key) is LoadStatus.FAILED, timeout=LOAD_TIMEOUT_MS
    )
    message = opened.slice_view.placeholder_text()
    assert "could not be loaded" in message and "IM0001" in message and "Traceback" not in message
    assert "could not be loaded" in opened.case_panel.details.toPlainText().lower()
    assert opened.case_panel._items[key].text(0).startswith("✖")
    other = series_key(opened, "AX T2", VISIT_2)
    opened.select_series(other)
    wait_loaded(qtbot, opened, other)


def test_a_nifti_file_opens(window, qtbot, tmp_path):
    nib = pytest.importorskip("nibabel")
    data = np.zeros((30, 34, 20), np.float32)
    data[5:25, 5:29, 4:16] = 300.0
    image = nib.Nifti1Image(data, np.diag([-1.0, -1.0, 2.0, 1.0]))
    image.set_qform(image.affine, code=1)
    image.set_sform(image.affine, code=1)
    nib.save(image, tmp_path / "brain.nii.gz")
    w = window()
    w.open_paths([str(tmp_path / "brain.nii.gz")])
    wait_loaded(qtbot, w)
    assert w.controller.slice_index()[1] == 20  # 20 slices along z
    assert w.view_state.window.name == "Auto"


def test_cancel_a_scan(window, qtbot, case_folder):
    gate = Gate()

    def slow_scan(paths, *, progress, cancelled):
        gate.wait()
        return scan_paths(paths, progress=progress, cancelled=cancelled)

    w = window(scan=slow_scan)
    try:
        w.open_paths([str(case_folder)])
        assert gate.entered.wait(10)
        assert w.cancel_button.isVisible()
        qtbot.mouseClick(w.cancel_button, Qt.MouseButton.LeftButton)
        assert not w.cancel_button.isVisible()
        assert "cancelled" in w.slice_view.placeholder_text()
    finally:
        gate.release.set()
    w.pool.waitForDone(10_000)
    qtbot.wait(50)  # let the worker's (stale) report arrive and be dropped
    assert w.session.catalog.all_series() == []


def test_cancel_a_load_then_load_again(window, qtbot, case_folder):
    gate = Gate()

    def slow_prepare(entry, presets, *, progress, cancelled, **_):
        if "T2" in entry.description:
            gate.wait()
        return prepare_series(entry, presets, progress=progress, cancelled=cancelled)

    w = window(prepare=slow_prepare)
    w.open_paths([str(case_folder)])
    wait_loaded(qtbot, w)
    key = series_key(w, "AX T2", VISIT_2)
    try:
        w.select_series(key)
        assert gate.entered.wait(10)
        assert w.session.status(key) is LoadStatus.LOADING
        qtbot.mouseClick(w.cancel_button, Qt.MouseButton.LeftButton)
        assert w.session.status(key) is LoadStatus.NOT_LOADED
        assert "cancelled" in w.slice_view.placeholder_text()
    finally:
        gate.release.set()
    w.pool.waitForDone(10_000)
    qtbot.wait(50)
    assert w.session.status(key) is LoadStatus.NOT_LOADED  # the late result was dropped
    w.select_series(key)
    wait_loaded(qtbot, w, key)


def test_a_stale_load_never_replaces_the_newer_selection(window, qtbot, case_folder):
    gate = Gate()

    def slow_prepare(entry, presets, *, progress, cancelled, **_):
        if "T2" in entry.description:
            gate.wait()
        return prepare_series(entry, presets, progress=progress)  # ignores cancel on purpose

    w = window(prepare=slow_prepare)
    w.open_paths([str(case_folder)])
    wait_loaded(qtbot, w)
    t2 = series_key(w, "AX T2", VISIT_2)
    ct = series_key(w, "CT head", VISIT_2)
    try:
        w.select_series(t2)
        assert gate.entered.wait(10)
        w.select_series(ct)
        wait_loaded(qtbot, w, ct)
    finally:
        gate.release.set()
    w.pool.waitForDone(10_000)
    qtbot.wait(50)
    assert w.view_state.series_key == ct
    assert w.session.status(t2) is LoadStatus.NOT_LOADED
    assert w.slice_view.current_frame().corners["top_left"][1].startswith("CT")


def test_a_missing_folder_is_reported_in_words(window, qtbot, tmp_path):
    w = window()
    w.open_paths([str(tmp_path / "does-not-exist")])
    qtbot.waitUntil(lambda: not w.scanner.busy, timeout=LOAD_TIMEOUT_MS)
    text = w.slice_view.placeholder_text()
    assert "could not be read" in text and "does-not-exist" in text


def test_keyboard_shortcuts_for_planes_presets_and_reset(opened, qtbot):
    key = series_key(opened, "CT head", VISIT_2)
    opened.select_series(key)
    wait_loaded(qtbot, opened, key)
    opened.activateWindow()
    opened.slice_view.setFocus()
    qtbot.waitUntil(opened.slice_view.hasFocus)
    qtbot.keyClick(opened.slice_view, Qt.Key.Key_C)
    assert opened.view_state.plane == "coronal"
    qtbot.keyClick(opened.slice_view, Qt.Key.Key_4)
    assert opened.view_state.window.name == "Bone"
    opened.controller.zoom_by(3)
    qtbot.keyClick(opened.slice_view, Qt.Key.Key_R)
    assert opened.view_state.zoom == 1.0 and opened.view_state.window.name == "CT Brain"
    qtbot.keyClick(opened.slice_view, Qt.Key.Key_A)
    assert opened.view_state.plane == "axial"


def test_opening_another_folder_replaces_the_case(opened, qtbot, tmp_path):
    nib = pytest.importorskip("nibabel")
    image = nib.Nifti1Image(np.ones((8, 8, 6), np.float32), np.diag([1.0, 1.0, 3.0, 1.0]))
    nib.save(image, tmp_path / "other.nii")
    opened.open_paths([str(tmp_path)])
    qtbot.waitUntil(lambda: len(opened.session.catalog.all_series()) == 1, timeout=LOAD_TIMEOUT_MS)
    wait_loaded(qtbot, opened)
    assert opened.session.entry(opened.view_state.series_key).format == "nifti"
    assert len(tree_texts(opened)) == 1  # one (undated) visit; the old visits are gone


def test_a_large_series_shows_its_middle_slice_before_the_rest_is_read(window, qtbot, case_folder):
    """RELIABILITY E37: the first slice appears before the whole series is decoded."""
    gate = Gate()

    def gated_prepare(entry, presets, *, progress, cancelled, on_preview):
        def preview_then_hold(preview):
            on_preview(preview)
            if "T2" in entry.description:
                gate.wait()  # hold the reader after the middle slice until the test has looked

        return prepare_series(
            entry, presets, progress=progress, cancelled=cancelled, on_preview=preview_then_hold
        )

    w = window(prepare=gated_prepare)
    w.open_paths([str(case_folder)])
    wait_loaded(qtbot, w)
    key = series_key(w, "AX T2", VISIT_2)
    try:
        w.select_series(key)
        assert gate.entered.wait(10)
        qtbot.waitUntil(lambda: w.slice_view.current_frame() is not None, timeout=LOAD_TIMEOUT_MS)
        assert w.session.status(key) is LoadStatus.LOADING
        frame = w.slice_view.current_frame()
        total = w.session.entry(key).shape[0]
        assert f"Reading slices: 1 of {total}" in frame.corners["top_right"]
        assert frame.index == total // 2  # the view opens on the middle slice, which is in
        middle = w.controller.current.volume.array[total // 2]
        assert middle.min() > -32768  # real data, not the placeholder of unread slices
    finally:
        gate.release.set()
    wait_loaded(qtbot, w, key)
    assert w.session.status(key) is LoadStatus.LOADED
    frame = w.slice_view.current_frame()
    assert not any("Reading slices" in line for line in frame.corners["top_right"])
    assert not w.controller.current.is_preview
