"""Outlining in the window as a user does it, and never losing it: the issue's "Done means".

Outline a lesion on two visits (click-to-grow, brush), carry it forward, get killed with
``kill -9`` mid-work, start again and get everything back; quitting with unsaved changes and a
failing save keeps the window open; a second window on the same case is read-only.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QMessageBox

from tests.conftest import PROJECT_ROOT
from tests.dicom_factory import write_series
from tests.ui.conftest import head
from viewer.errors import SaveError
from viewer.state.outlining import Tool
from viewer.ui.export_menu import VIEW_SIZES

TIMEOUT_MS = 20_000


@pytest.fixture
def images(tmp_path):
    """Two visits of a head with a bright 'lesion' that grows, MRI with contrast."""
    root = tmp_path / "patient"
    for number, (date, radius) in enumerate(
        [(dt.date(2002, 8, 14), 5.0), (dt.date(2002, 12, 9), 7.0)], start=1
    ):
        array = head((16, 64, 64), brain=300, skull=700)
        z, y, x = np.indices(array.shape)
        inside = ((z - 8) * 2.0) ** 2 + (y - 30) ** 2 + (x - 36) ** 2 <= radius**2
        array[inside] = 900

        def contrast(index, ds):
            ds.ContrastBolusAgent = "Gadolinium"

        write_series(
            root / f"v{number}", array, study_date=date, series_number=number,
            series_description="AX T1 POST GAD", name=f"v{number}", mutate=contrast,
        )  # fmt: skip
    return root


def views_ready(w) -> bool:
    return all(p.current_frame() is not None for p in w.comparison_view.visible_panes())


def open_case(window, qtbot, images):
    w = window()
    w.open_paths([str(images)])
    qtbot.waitUntil(lambda: views_ready(w) and not w.registration.busy, timeout=TIMEOUT_MS)
    return w


def lesion_point(pane) -> QPoint:
    """Screen point of the lesion centre (slice 8, row 30, column 36) in a view."""
    frame = pane.current_frame()
    view = pane.controller.view_geometry(pane.index, pane.viewport_px())
    voxel2slice = np.linalg.inv(view.slice2voxel)
    row, column, _ = (voxel2slice @ np.array([8.0, 30.0, 36.0, 1.0]))[:3]
    assert 0 <= row < frame.rgba.shape[0] and 0 <= column < frame.rgba.shape[1]
    return QPoint(round(column + 0.5), round(row + 0.5))


def show_lesion_slice(w):
    """Put the crosshair on the lesion centre of the active view's visit."""
    key = w.comparison.view_key(w.comparison.state.active)
    volume = w.comparison.loaded(key).volume
    centre = volume.voxel2patient @ np.array([8.0, 30.0, 36.0, 1.0])
    w.comparison.state.crosshair_mm = tuple(float(v) for v in centre[:3])


def test_outline_two_visits_carry_forward_undo_save_and_reopen(window, qtbot, images, monkeypatch):
    w = open_case(window, qtbot, images)
    w.comparison.set_layout("1x2")
    qtbot.waitUntil(lambda: views_ready(w), timeout=TIMEOUT_MS)
    later, earlier = (w.comparison.view_key(i) for i in (0, 1))
    assert w.session.visit_of(later).date > w.session.visit_of(earlier).date
    show_lesion_slice(w)
    panes = w.comparison_view.panes

    # 1. click-to-grow on the earlier visit (view 2): preview, then Enter accepts it
    w.comparison.set_active(1)
    qtbot.keyClick(w, Qt.Key.Key_G)
    assert w.outlining.settings.tool is Tool.GROW
    qtbot.mouseClick(panes[1], Qt.MouseButton.LeftButton, pos=lesion_point(panes[1]))
    assert w.annotations.proposal is not None
    qtbot.keyClick(panes[1], Qt.Key.Key_Return)
    first = w.annotations.labels(earlier)
    truth_small = 4 * np.pi / 3 * 5.0**2 * 2.5  # ellipsoid 5 x 5 x 2.5 voxels
    assert abs(int((first > 0).sum()) - truth_small) < 0.35 * truth_small
    assert w.windowTitle().endswith("*")

    # 2. carry it forward to the later visit (view 1), then re-fit it to the bigger lesion
    w.comparison.set_active(0)
    w.outlines.follow_active()
    assert w.outlines.panel.carry_source() == earlier
    w.outlines.run("carry")
    assert w.annotations.proposal is not None and w.annotations.proposal.series_key == later
    w.outlines.run("refit")
    qtbot.keyClick(panes[0], Qt.Key.Key_Return)
    second = w.annotations.labels(later)
    truth_large = 4 * np.pi / 3 * 7.0**2 * 3.5
    assert abs(int((second > 0).sum()) - truth_large) < 0.35 * truth_large

    # 3. a brush stroke on the later visit, undone with Ctrl+Z and redone
    before = second.copy()
    qtbot.keyClick(w, Qt.Key.Key_B)
    start = lesion_point(panes[0]) + QPoint(12, 12)
    qtbot.mousePress(panes[0], Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(panes[0], start + QPoint(10, 0))
    qtbot.mouseRelease(panes[0], Qt.MouseButton.LeftButton, pos=start + QPoint(10, 0))
    painted = w.annotations.labels(later).copy()
    assert (painted != before).sum() > 5
    w.outlines.undo_action.trigger()
    np.testing.assert_array_equal(w.annotations.labels(later), before)
    w.outlines.redo_action.trigger()
    np.testing.assert_array_equal(w.annotations.labels(later), painted)

    # 4. save, close without a prompt, reopen: outlines, lesion and undo are back
    w.case_manager.save_action.trigger()
    assert not w.annotations.dirty and not w.windowTitle().endswith("*")
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: pytest.fail("asked to save"))
    w.close()
    monkeypatch.undo()
    again = open_case(window, qtbot, images)
    np.testing.assert_array_equal(again.annotations.labels(later), painted)
    np.testing.assert_array_equal(again.annotations.labels(earlier), first)
    again.comparison.set_active(again.comparison.state.panes.index(later))
    again.outlines.undo_action.trigger()
    np.testing.assert_array_equal(again.annotations.labels(later), before)


def test_kill_9_while_outlining_then_restart_gets_the_work_back(window, qtbot, images, tmp_path):
    script = tmp_path / "outline_then_die.py"
    script.write_text(
        textwrap.dedent(f"""
        import os, signal, sys, time
        import numpy as np
        from PySide6.QtWidgets import QApplication
        from viewer.core.transform import Transform
        from viewer.registration.automatic import RegistrationResult
        from viewer.state.outlining import Tool
        from viewer.ui.main_window import MainWindow

        def identity_register(reference, moving, *, progress, cancelled):
            return RegistrationResult(Transform(), 0.0, 0, 0.0, "identity (test)")

        app = QApplication([])
        w = MainWindow(register=identity_register)
        w.resize(1000, 700)
        w.show()
        w.open_paths([{str(images)!r}])
        deadline = time.time() + 20
        while time.time() < deadline and not (
            all(p.current_frame() is not None for p in w.comparison_view.visible_panes())
            and not w.registration.busy
        ):
            app.processEvents()
            time.sleep(0.01)
        pane = w.comparison_view.panes[0]
        view = w.comparison.view_geometry(0, pane.viewport_px())
        row, column = (np.linalg.inv(view.slice2voxel) @ [8.0, 30.0, 36.0, 1.0])[:2]
        w.outlining.settings.tool = Tool.GROW
        w.outlining.press(view, row, column)
        w.outlining.accept()
        w.case_manager.autosave()
        key = view.key
        print(key, int((w.annotations.labels(key) > 0).sum()), flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    )
    done = subprocess.run(
        [sys.executable, str(script)], cwd=PROJECT_ROOT, capture_output=True, text=True,
        timeout=120, env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
    )  # fmt: skip
    assert done.returncode == -9, done.stderr
    key, count = done.stdout.split()
    assert int(count) > 50

    asked = []

    def restore(*args, **kwargs):
        asked.append(args[2])
        return QMessageBox.StandardButton.Yes

    qtbot_patch = pytest.MonkeyPatch()
    qtbot_patch.setattr(QMessageBox, "question", restore)
    try:
        w = open_case(window, qtbot, images)
    finally:
        qtbot_patch.undo()
    assert asked and "closed without saving" in asked[0]
    assert int((w.annotations.labels(key) > 0).sum()) == int(count)
    assert w.annotations.dirty  # restored work still needs a save


def test_c29_quit_when_the_save_fails_keeps_the_window_and_the_changes(
    window, qtbot, images, monkeypatch
):
    w = open_case(window, qtbot, images)
    # only scrolling: closing asks nothing
    w.comparison.scroll(2)
    assert not w.annotations.dirty
    show_lesion_slice(w)
    qtbot.keyClick(w, Qt.Key.Key_B)
    pane = w.comparison_view.panes[0]
    qtbot.mouseClick(pane, Qt.MouseButton.LeftButton, pos=lesion_point(pane))
    assert w.annotations.dirty
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Save)

    def disk_full(*args, **kwargs):
        raise SaveError("No space left on device", w.case_session.folder / "manifest.json")

    monkeypatch.setattr(w.case_session, "save", disk_full)
    shown = []
    monkeypatch.setattr(QMessageBox, "exec", lambda box: shown.append(box.text()) or 0)
    assert not w.close()
    assert w.isVisible() and w.annotations.dirty
    assert shown and "NOT saved" in shown[0] and "No space left" in shown[0]


def test_a_second_window_on_the_same_case_is_read_only(window, qtbot, images):
    first = open_case(window, qtbot, images)
    second = open_case(window, qtbot, images)
    assert not first.case_session.read_only
    assert second.case_session.read_only and second.annotations.read_only
    assert second.case_manager.read_only_label.isVisibleTo(second)
    assert "another Interval" in second.case_manager.read_only_label.toolTip()
    qtbot.keyClick(second, Qt.Key.Key_B)
    pane = second.comparison_view.panes[0]
    qtbot.mouseClick(pane, Qt.MouseButton.LeftButton, pos=QPoint(100, 100))
    assert not second.annotations.label_maps()
    assert json.loads((first.case_session.folder / "case.lock").read_text())["pid"]


def test_freehand_drag_fills_and_the_recent_menu_reopens_the_case(window, qtbot, images):
    w = open_case(window, qtbot, images)
    show_lesion_slice(w)
    pane = w.comparison_view.panes[0]
    key = w.comparison.view_key(0)
    qtbot.keyClick(w, Qt.Key.Key_F)
    centre = lesion_point(pane)
    ring = [centre + QPoint(round(15 * np.cos(a)), round(15 * np.sin(a)))
            for a in np.linspace(0, 2 * np.pi, 24)]  # fmt: skip
    qtbot.mousePress(pane, Qt.MouseButton.LeftButton, pos=ring[0])
    for point in ring[1:]:
        qtbot.mouseMove(pane, point)
    qtbot.mouseRelease(pane, Qt.MouseButton.LeftButton, pos=ring[-1])
    labels = w.annotations.labels(key)
    # one native slice, a disc of radius 15 screen pixels
    pixel_mm = pane.current_frame().grid.pixel_mm
    spacing = w.comparison.loaded(key).volume.spacing
    expected = np.pi * (15 * pixel_mm) ** 2 / (spacing[1] * spacing[2])
    assert len(np.unique(np.nonzero(labels)[0])) == 1
    assert abs(int((labels > 0).sum()) - expected) < 0.2 * expected
    w.case_manager.save()
    entries = w.case_manager.recent()
    assert entries[0]["paths"] == [str(images.resolve())]
    w.case_manager._fill_recent()
    action = w.case_manager.recent_menu.actions()[0]
    assert images.name in action.text() and action.isEnabled()
    with qtbot.waitSignal(w.scanner.succeeded, timeout=TIMEOUT_MS):
        action.trigger()
    qtbot.waitUntil(lambda: w.annotations.labels(key) is not None, timeout=TIMEOUT_MS)
    assert int((w.annotations.labels(key) > 0).sum()) == int((labels > 0).sum())


def test_outlines_become_a_response_with_a_table_a_jump_and_a_caliper(window, qtbot, images):
    from viewer.ui.response_panel import FIRST_VISIT_COLUMN

    w = open_case(window, qtbot, images)
    w.comparison.set_layout("1x2")
    qtbot.waitUntil(lambda: views_ready(w), timeout=TIMEOUT_MS)
    show_lesion_slice(w)
    panes = w.comparison_view.panes
    qtbot.keyClick(w, Qt.Key.Key_G)
    for index in (1, 0):  # the earlier visit, then the later one: click-to-grow each
        w.comparison.set_active(index)
        qtbot.mouseClick(panes[index], Qt.MouseButton.LeftButton, pos=lesion_point(panes[index]))
        qtbot.keyClick(panes[index], Qt.Key.Key_Return)
    panel = w.response_panel
    w.tracking.set_criteria("rano")
    qtbot.waitUntil(
        lambda: not w.tracking.pending and panel.table.columnCount() == FIRST_VISIT_COLUMN + 2,
        timeout=TIMEOUT_MS,
    )
    panel.refresh()
    # the lesion grew from 5 to 7 mm radius: volume x2.7, product x2: progression
    (later,) = [r for r in panel._assessment.visits if r.label == panel._columns[-1].label]
    assert later.category == "PD" and any("+25%" in reason for reason in later.reasons)
    cell = panel.table.item(0, FIRST_VISIT_COLUMN + 1)
    assert "mL" in cell.text() and "mm" in cell.text()
    # a click on a lesion cell shows that visit there in every view
    w.comparison.set_active(1)
    panel._on_cell_clicked(0, FIRST_VISIT_COLUMN + 1)
    key = panel._columns[-1].series_key
    assert w.comparison.view_key(1) == key
    centroid = panel._columns[-1].measurements[1].centroid_reference_mm
    np.testing.assert_allclose(w.comparison.state.crosshair_mm, centroid)
    # a hand measurement replaces the automatic one, and resets
    automatic = panel._columns[-1].measurements[1].diameters
    caliper = w.calipers.automatic(key, 1, automatic)
    from viewer.state.calipers import drag_end

    w.calipers.override(
        drag_end(
            caliper,
            "long1",
            caliper.long_ends_mm[1] + caliper.long_ends_mm[1] - caliper.long_ends_mm[0],
        )
    )
    measured = w.tracking.measurements(key)[1].diameters
    assert measured.longest_mm == pytest.approx(2 * automatic.longest_mm, rel=1e-6)
    assert w.annotations.dirty
    w.caliper.reset_action.trigger()
    assert w.tracking.measurements(key)[1].diameters.longest_mm == automatic.longest_mm


def test_the_export_menu_writes_the_report_tables_nifti_and_seg_without_identity(
    window, qtbot, images, tmp_path, monkeypatch
):
    from PySide6.QtWidgets import QFileDialog

    from viewer.export.segmentation import read_dicom_seg

    w = open_case(window, qtbot, images)
    show_lesion_slice(w)
    qtbot.keyClick(w, Qt.Key.Key_G)
    pane = w.comparison_view.panes[0]
    qtbot.mouseClick(pane, Qt.MouseButton.LeftButton, pos=lesion_point(pane))
    qtbot.keyClick(pane, Qt.Key.Key_Return)
    key = w.comparison.view_key(0)
    out = tmp_path / "out"
    out.mkdir()
    names = ["report.pdf", "strip.png", "cine.gif", "m.csv"]
    files = iter(str(out / name) for name in names)
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (next(files), ""))
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(out))
    actions = {a.text(): a for a in w.exports.menu.actions()}
    for name in (
        "Report (PDF)…",
        "Visit strip of the active lesion (PNG)…",
        "Cine of the active lesion, every visit (GIF)…",
        "Measurements (CSV)…",
        "Outlines as NIfTI (every visit)…",
        "Outlines of the active visit as DICOM SEG…",
    ):
        actions[name].trigger()
        qtbot.waitUntil(lambda: not w.export_runner.busy, timeout=TIMEOUT_MS)
    assert (out / "report.pdf").read_bytes().startswith(b"%PDF")
    assert "volume_ml" in (out / "m.csv").read_text()
    assert (out / "strip.png").read_bytes().startswith(b"\x89PNG")
    assert (out / "cine.gif").read_bytes().startswith(b"GIF89a")
    (nifti,) = out.glob("*_labels.nii.gz")
    (seg,) = out.glob("*SEG*.dcm")
    masks = read_dicom_seg(seg)
    assert (masks[1] == (w.annotations.labels(key) == 1)).all()
    # teaching mode: the generated patient's name and ID appear in no file or file name
    for path in out.iterdir():
        assert b"Test^Patient" not in path.read_bytes() and b"TEST001" not in path.read_bytes()
        assert "TEST001" not in path.name and "Patient" not in path.name


def test_pixels_of_a_burned_in_series_need_a_confirmation_in_teaching_mode(
    window, qtbot, tmp_path, monkeypatch
):
    from PySide6.QtWidgets import QFileDialog

    def burned(index, ds):
        ds.BurnedInAnnotation = "YES"

    root = tmp_path / "burned"
    write_series(root / "v1", head((8, 48, 40)), name="b", mutate=burned)
    w = open_case(window, qtbot, root)
    target = tmp_path / "view.png"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), ""))
    asked = []

    def answer(*args, **kwargs):
        asked.append(args[2])
        return QMessageBox.StandardButton.No

    monkeypatch.setattr(QMessageBox, "question", answer)
    w.exports.export_view(1)
    assert asked and "BurnedInAnnotation" in asked[0]
    assert not target.exists() and not w.export_runner.busy


def test_d33_image_exports_carry_no_canary_in_bytes_names_or_text(
    window, qtbot, tmp_path, monkeypatch
):
    from PySide6.QtWidgets import QFileDialog

    canary = "CANARYQZ"

    def plant(index, ds):
        ds.PatientName = f"{canary}^NAME"
        ds.PatientID = f"{canary}ID"
        ds.InstitutionName = f"{canary} HOSPITAL"
        ds.ReferringPhysicianName = f"{canary}^DOC"
        ds.ImageComments = canary

    root = tmp_path / f"{canary}_folder"
    for number, date in enumerate((dt.date(2002, 8, 14), dt.date(2002, 12, 9)), start=1):
        write_series(root / f"v{number}", head((12, 48, 40)), study_date=date,
                     series_number=number, name=f"c{number}", mutate=plant,
                     series_description=f"{canary} T1 post-contrast")  # fmt: skip
    w = open_case(window, qtbot, root)
    out = tmp_path / "out"
    out.mkdir()
    names = iter(str(out / n) for n in ("view.png", "strip.png", "cine.gif", "report.pdf"))
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (next(names), ""))
    actions = {a.text(): a for a in w.exports.menu.actions()}
    actions.update({a.text(): a for a in w.exports.view_menu.actions()})
    for name in (
        VIEW_SIZES[1],
        "Visit strip of the active lesion (PNG)…",
        "Cine of the active lesion, every visit (GIF)…",
        "Report (PDF)…",
    ):
        actions[name].trigger()
        qtbot.waitUntil(lambda: not w.export_runner.busy, timeout=TIMEOUT_MS)
    written = sorted(p.name for p in out.iterdir())
    assert written == ["cine.gif", "report.pdf", "strip.png", "view.png"]
    from tests.export.test_report import pdf_text

    for path in out.iterdir():
        data = path.read_bytes()
        searchable = pdf_text(data) if path.suffix == ".pdf" else data  # text is in streams
        assert canary.lower().encode() not in searchable.lower()
    # the text drawn into the view's pixels: the screen names the series, the export does not
    pane = w.comparison_view.panes[w.comparison.state.active]
    on_screen = [line for lines in pane.current_frame().corners.values() for line in lines]
    assert any(canary in line for line in on_screen)
    exported = w.comparison.frame(pane.index, pane.viewport_px(), w.exports.view_text)
    drawn = [line for lines in exported.corners.values() for line in lines]
    assert "MR  contrast-enhanced" not in drawn and any(line.startswith("Day ") for line in drawn)
    assert not any(canary.lower() in line.lower() for line in drawn)
    with Image.open(out / "view.png") as shown:  # and the PNG is the picture of that text
        picture = pane.picture(1, text=w.exports.view_text)
        np.testing.assert_array_equal(np.asarray(shown), picture)


def _near(picture, colour, tolerance=30) -> int:
    """How many pixels of an RGBA picture are within ``tolerance`` of an RGB colour."""
    distance = np.abs(picture[..., :3].astype(int) - np.array(colour[:3])).max(axis=2)
    return int((distance <= tolerance).sum())


def test_the_exported_view_is_the_screen_pixel_for_pixel_and_scales_for_slides(
    window, qtbot, images, tmp_path, monkeypatch
):
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QFileDialog

    from viewer.core.lesions import palette_colour
    from viewer.display.overlay import LETTER_COLOUR
    from viewer.ui.qt_image import qimage_to_rgba

    w = open_case(window, qtbot, images)
    show_lesion_slice(w)
    qtbot.keyClick(w, Qt.Key.Key_G)
    pane = w.comparison_view.panes[w.comparison.state.active]
    qtbot.mouseClick(pane, Qt.MouseButton.LeftButton, pos=lesion_point(pane))
    qtbot.keyClick(pane, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: bool(pane.caliper_input.drawings(pane.index, pane.viewport_px())),
                    timeout=TIMEOUT_MS)  # fmt: skip
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: QMessageBox.StandardButton.Ok)
    w.exports.identity_action.setChecked(True)  # the screen's text: descriptions, real dates
    paths = iter(str(tmp_path / name) for name in ("view.png", "view_2x.png"))
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (next(paths), ""))
    actions = {a.text(): a for a in w.exports.view_menu.actions()}
    for factor in (1, 2):
        actions[VIEW_SIZES[factor]].trigger()
        qtbot.waitUntil(lambda: not w.export_runner.busy, timeout=TIMEOUT_MS)
    pane.repaint()
    screen = qimage_to_rgba(pane.grab().toImage())
    with Image.open(tmp_path / "view.png") as png:
        exported = np.asarray(png)
        assert not png.text
    assert exported.shape == screen.shape
    inner = (slice(3, -3), slice(3, -3))  # the active view's blue frame is the screen's own
    np.testing.assert_array_equal(exported[inner][..., :3], screen[inner][..., :3])
    # what is drawn: letters, the caliper in the lesion's colour, the text
    letters, caliper = _near(exported, LETTER_COLOUR), _near(exported, palette_colour(1), 10)
    assert letters > 20 and caliper > 20
    with Image.open(tmp_path / "view_2x.png") as png:
        double = np.asarray(png)
    assert double.shape[:2] == (2 * exported.shape[0], 2 * exported.shape[1])
    assert 2.5 < _near(double, LETTER_COLOUR) / letters < 5.5  # letters 2x the size: 4x the area
    # copy to the clipboard: the same picture
    w.exports.copy_action.trigger()
    copied = qimage_to_rgba(QGuiApplication.clipboard().image())
    np.testing.assert_array_equal(copied, exported)
