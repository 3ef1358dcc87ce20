"""The comparison widgets on the small generated case: layouts, visit strip, linked windows,
nudging and "Register all visits" with a stub registration that the test holds and cancels."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint, Qt

from tests.ui.conftest import LOAD_TIMEOUT_MS, VISIT_1, VISIT_2, Gate
from viewer.core.transform import RegistrationState, Transform
from viewer.registration.automatic import RegistrationResult
from viewer.state.compare_controller import STATE_TEXT


def ready(w) -> bool:
    return all(p.current_frame() is not None for p in w.comparison_view.visible_panes())


def open_case(window, qtbot, case_folder, **kwargs):
    w = window(**kwargs)
    w.open_paths([str(case_folder)])
    qtbot.waitUntil(lambda: ready(w), timeout=LOAD_TIMEOUT_MS)
    return w


def test_two_visits_open_side_by_side_and_layouts_switch(window, qtbot, case_folder):
    w = open_case(window, qtbot, case_folder)
    ctl = w.comparison
    assert ctl.state.layout == "1x2" and w.comparing
    dates = [w.session.visit_of(ctl.view_key(i)).date for i in range(2)]
    assert dates == [VISIT_2, VISIT_1]
    w.compare_tools.layout_actions["2x2"].trigger()
    assert len(w.comparison_view.visible_panes()) == 4
    w.compare_tools.layout_actions["ortho"].trigger()
    qtbot.waitUntil(lambda: ready(w), timeout=LOAD_TIMEOUT_MS)
    planes = [p.current_frame().grid.plane for p in w.comparison_view.visible_panes()]
    assert planes == ["axial", "coronal", "sagittal"]
    w.compare_tools.layout_actions["1x1"].trigger()  # one view, still in the reference frame
    qtbot.waitUntil(lambda: ready(w), timeout=LOAD_TIMEOUT_MS)
    assert w.comparing and len(w.comparison_view.visible_panes()) == 1
    assert w.comparison_view.panes[0].current_frame().grid.plane == "axial"
    w.native_action.trigger()  # the series alone, on its own grid
    assert not w.comparing and w.view_state.series_key == ctl.view_key(0)
    w.compare_tools.layout_actions["1x2"].trigger()  # a layout brings the linked views back
    assert w.comparing and not w.native_action.isChecked()


def test_visit_strip_click_then_view_and_day_labels(window, qtbot, case_folder):
    w = open_case(window, qtbot, case_folder)
    strip = w.visit_strip
    assert strip.count() == 2 and strip.item(0).text().startswith(VISIT_1.isoformat())
    # both visits are shown, so both are loaded and have their thumbnail
    assert not strip.item(0).icon().isNull() and not strip.item(1).icon().isNull()
    strip.itemClicked.emit(strip.item(0))  # the baseline visit...
    qtbot.mouseClick(w.comparison_view.panes[0], Qt.MouseButton.LeftButton, pos=QPoint(30, 30))
    assert w.session.visit_of(w.comparison.view_key(0)).date == VISIT_1  # ...into view 1
    w.compare_tools.day_box.setChecked(True)
    qtbot.waitUntil(lambda: ready(w), timeout=LOAD_TIMEOUT_MS)
    assert w.comparison_view.panes[0].current_frame().corners["top_left"][0] == "Day 0 (baseline)"


def test_click_moves_the_crosshair_and_drag_windows_linked_views(window, qtbot, case_folder):
    w = open_case(window, qtbot, case_folder)
    pane = w.comparison_view.panes[1]
    qtbot.mouseClick(pane, Qt.MouseButton.LeftButton, pos=QPoint(40, 50))
    frames = [p.current_frame() for p in w.comparison_view.visible_panes()]
    np.testing.assert_allclose(frames[1].crosshair_px, (49.5, 39.5))
    np.testing.assert_allclose(frames[0].crosshair_px, (49.5, 39.5))
    middle = QPoint(pane.width() // 2, pane.height() // 2)
    qtbot.mouseMove(pane, middle)  # the value under the mouse goes to the status bar
    qtbot.waitUntil(lambda: w.probe_label.text().startswith("View 2 "), timeout=LOAD_TIMEOUT_MS)
    assert "reference " in w.probe_label.text() and "value " in w.probe_label.text()
    before = w.comparison.window_for(0)
    qtbot.mousePress(pane, Qt.MouseButton.LeftButton, pos=QPoint(60, 60))
    qtbot.mouseMove(pane, QPoint(120, 60))
    qtbot.mouseRelease(pane, Qt.MouseButton.LeftButton, pos=QPoint(120, 60))
    assert w.comparison.window_for(0).width > before.width  # both MRI: linked


def test_nudge_keys_move_the_visit_and_make_it_manual(window, qtbot, case_folder):
    w = open_case(window, qtbot, case_folder)
    ctl = w.comparison
    moving = ctl.view_key(0)
    assert not ctl.registrations.is_reference(moving)
    ctl.set_active(0)
    w.registration_panel.nudge_button.click()
    pane = w.comparison_view.panes[0]
    qtbot.keyClick(pane, Qt.Key.Key_Right)
    qtbot.keyClick(pane, Qt.Key.Key_Right, Qt.KeyboardModifier.ShiftModifier)
    record = ctl.registrations.record(moving)
    assert record.state is RegistrationState.MANUAL
    np.testing.assert_allclose(record.transform.moving2reference[:3, 3], [6.0, 0.0, 0.0])
    qtbot.keyClick(pane, Qt.Key.Key_BracketRight)
    assert "nudged" in ctl.registrations.record(moving).method
    w.registration_panel.nudge_button.click()
    slice_before = ctl.slice_index(0)
    qtbot.keyClick(pane, Qt.Key.Key_Up)  # nudging off: the key scrolls again
    assert ctl.slice_index(0)[0] == slice_before[0] + 1


def holding_register(gate: Gate, calls: list[str]):
    """A stub registration: the first visit moves 2 mm right, the second waits for the gate."""

    def register(reference, moving, *, progress, cancelled):
        calls.append(moving.metadata.modality)
        progress(10, 100, "")
        if len(calls) == 1:
            shift = np.eye(4)
            shift[:3, 3] = (2.0, 0.0, 0.0)
            return RegistrationResult(Transform(shift, "rigid"), -0.5, 10, 0.1, "stub")
        gate.wait()
        return RegistrationResult(Transform(), -0.5, 10, 0.1, "stub")

    return register


def test_registration_starts_by_itself_after_the_views_show(window, qtbot, case_folder):
    gate, calls = Gate(), []
    # the first registration is held, so the views must be painted without waiting for it
    held = Gate()

    def register(reference, moving, *, progress, cancelled):
        if not calls:
            held.wait()
        return holding_register(gate, calls)(reference, moving, progress=progress,
                                              cancelled=cancelled)  # fmt: skip

    w = open_case(window, qtbot, case_folder, register=register)
    qtbot.waitUntil(held.entered.is_set, timeout=LOAD_TIMEOUT_MS)
    assert w.registration.busy and w.cancel_button.isVisible()
    assert w.task_label.text() == "Registering visits"
    ctl = w.comparison
    moving = ctl.view_key(0)
    first = w.comparison_view.panes[0].current_frame()
    assert STATE_TEXT[RegistrationState.NOT_REGISTERED] in first.corners["top_left"]
    held.release.set()
    qtbot.waitUntil(gate.entered.is_set, timeout=LOAD_TIMEOUT_MS)
    qtbot.waitUntil(
        lambda: any(r.state is RegistrationState.AUTOMATIC for r in w.registrations.records()),
        timeout=LOAD_TIMEOUT_MS,
    )
    gate.release.set()
    qtbot.waitUntil(lambda: not w.registration.busy, timeout=LOAD_TIMEOUT_MS)
    assert ctl.registrations.state(moving) is RegistrationState.AUTOMATIC
    qtbot.waitUntil(
        lambda: (
            STATE_TEXT[RegistrationState.AUTOMATIC]
            in w.comparison_view.panes[0].current_frame().corners["top_left"]
        ),
        timeout=LOAD_TIMEOUT_MS,
    )


def test_registration_reports_progress_and_cancels(window, qtbot, case_folder):
    gate, calls = Gate(), []
    w = open_case(window, qtbot, case_folder, register=holding_register(gate, calls))
    qtbot.waitUntil(gate.entered.is_set, timeout=LOAD_TIMEOUT_MS)
    qtbot.waitUntil(
        lambda: any(r.state is RegistrationState.AUTOMATIC for r in w.registrations.records()),
        timeout=LOAD_TIMEOUT_MS,
    )
    assert w.cancel_button.isVisible() and w.registration.busy
    w.cancel_button.click()
    gate.release.set()
    qtbot.waitUntil(lambda: not w.registration.busy, timeout=LOAD_TIMEOUT_MS)
    w.pool.waitForDone(LOAD_TIMEOUT_MS)
    w.registration.pool.waitForDone(LOAD_TIMEOUT_MS)
    automatic = [r for r in w.registrations.records() if r.state is RegistrationState.AUTOMATIC]
    assert automatic and all(r.method in ("stub",) or "with" in r.method for r in automatic)
    table = w.registration_panel.table
    states = [table.item(i, 1).text() for i in range(table.rowCount())]
    assert "automatic" in states and "not registered" in states
    # "Register all visits" runs them again on demand
    count = len(calls)
    w.registration_panel.register_button.click()
    qtbot.waitUntil(lambda: not w.registration.busy, timeout=LOAD_TIMEOUT_MS)
    assert len(calls) > count
