"""The response panel on a small synthetic case: three visits, spheres of known size, no files.

Visits (axial MRI, 2 mm slices of 1 x 1 mm pixels): L1 grows from 8 to 10 mm radius, L2 shrinks
from 6 to 4 mm and is gone at the last visit, where L3 (6 mm) appears: progression by a new lesion.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from PySide6.QtCore import QDate, QPoint, Qt
from PySide6.QtWidgets import QDialog

from viewer.analysis.criteria import CRITERIA
from viewer.analysis.response import THIN_SPACE
from viewer.core.catalog import Catalog, Patient, SeriesEntry, Visit
from viewer.core.lesions import Lesion, LesionSet, palette_colour
from viewer.core.volume import Volume, VolumeMetadata
from viewer.io.case_file import SeriesRecord, TreatmentEvent, TreatmentKind
from viewer.state.annotations import Annotations
from viewer.state.tracking import Tracking
from viewer.ui import response_panel
from viewer.ui.response_panel import (
    COL_LESION,
    COL_TARGET,
    FIRST_VISIT_COLUMN,
    GONE,
    GROWING,
    NEW,
    NOT_OUTLINED,
    SHRINKING,
    STABLE,
    STATUS_COLOURS,
    STATUS_ROLE,
    EventDialog,
    ResponsePanel,
)

SHAPE = (24, 64, 64)
SLICE_MM, PIXEL_MM = 2.0, 1.0
VOXEL_ML = SLICE_MM * PIXEL_MM * PIXEL_MM / 1000.0
# (slice, row, column, 1) -> LPS mm: columns along x, rows along y, slices along z (axial)
AFFINE = np.array(
    [
        [0.0, 0.0, PIXEL_MM, -40.0],
        [0.0, PIXEL_MM, 0.0, -30.0],
        [SLICE_MM, 0.0, 0.0, -20.0],
        [0.0, 0.0, 0.0, 1.0],
    ]
)
CENTRES = {1: (8, 20, 20), 2: (12, 44, 44), 3: (14, 20, 48)}
"""Sphere centres as (slice, row, column) voxel indices."""
VISITS = {
    "mr1": (dt.date(1995, 7, 10), {1: 8.0, 2: 6.0}),
    "mr2": (dt.date(2002, 8, 14), {1: 10.0, 2: 4.0}),
    "mr3": (dt.date(2003, 3, 27), {1: 10.0, 3: 6.0}),
}
"""Series key -> (visit date, lesion number -> sphere radius in mm)."""
KEYS = list(VISITS)
LESION_INTENSITY = 100.0


def sphere(number: int, radius_mm: float) -> np.ndarray:
    z, y, x = np.indices(SHAPE, dtype=np.float64)
    cz, cy, cx = CENTRES[number]
    squared_mm2 = (
        ((z - cz) * SLICE_MM) ** 2 + ((y - cy) * PIXEL_MM) ** 2 + ((x - cx) * PIXEL_MM) ** 2
    )
    return squared_mm2 <= radius_mm**2


def series_entry(key: str, date: dt.date) -> SeriesEntry:
    return SeriesEntry(
        key=key,
        format="dicom",
        patient_id="P1",
        patient_name="",
        patient_birth_date=None,
        modality="MR",
        description="T1 post-contrast",
        series_number=1,
        series_instance_uid=key,
        study_instance_uid=f"study-{key}",
        study_date=date,
        series_datetime=None,
        shape=SHAPE,
        pixel_spacing_mm=(PIXEL_MM, PIXEL_MM),
        slice_thickness_mm=SLICE_MM,
        orientation="axial",
        contrast_agent="Gadolinium",
    )


class Case:
    """The synthetic case: its label maps, volumes and a Tracking over them."""

    def __init__(self) -> None:
        self.labels: dict[str, np.ndarray] = {}
        volumes: dict[str, Volume] = {}
        visits, records = [], {}
        for key, (date, radii) in VISITS.items():
            labels = np.zeros(SHAPE, np.uint16)
            for number, radius_mm in radii.items():
                labels[sphere(number, radius_mm)] = number
            self.labels[key] = labels
            image = np.where(labels > 0, LESION_INTENSITY, 10.0).astype(np.float32)
            metadata = VolumeMetadata(modality="MR", slice_thickness_mm=SLICE_MM)
            volumes[key] = Volume(image, AFFINE, metadata)
            visits.append(Visit(date, [series_entry(key, date)]))
            records[key] = SeriesRecord(key, date.isoformat(), SHAPE, AFFINE)
        catalog = Catalog([Patient("P1", visits=visits)])
        self.annotations = Annotations()
        lesions = [Lesion(n, f"L{n}", palette_colour(n)) for n in (1, 2, 3)]
        self.annotations.restore(LesionSet(lesions, next_number=4), self.labels, {})
        self.tracking = Tracking(
            self.annotations, lambda: catalog, volumes.get, lambda: records, lambda key: None
        )

    def volume_ml(self, key: str, number: int) -> float:
        return int(np.count_nonzero(self.labels[key] == number)) * VOXEL_ML


@pytest.fixture
def case() -> Case:
    return Case()


@pytest.fixture
def panel(qtbot, case) -> ResponsePanel:
    widget = ResponsePanel(case.tracking)
    qtbot.addWidget(widget)
    widget.resize(1400, 330)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def settle(qtbot, panel: ResponsePanel) -> None:
    """Wait for the debounced refresh that follows a change."""
    qtbot.waitUntil(lambda: not panel.refresh_timer.isActive())


def row_of(panel: ResponsePanel, name: str) -> int:
    table = panel.table
    (row,) = [r for r in range(table.rowCount()) if table.item(r, COL_LESION).text() == name]
    return row


def cell(panel: ResponsePanel, row_name: str, key: str):
    return panel.table.item(row_of(panel, row_name), FIRST_VISIT_COLUMN + KEYS.index(key))


def plain(text: str) -> str:
    return text.replace(THIN_SPACE, " ")


def click_cell(qtbot, panel: ResponsePanel, row: int, column: int) -> None:
    table = panel.table
    index = table.model().index(row, column)
    table.scrollTo(index)
    where = table.visualRect(index).center()
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=where)


# --- the table -----------------------------------------------------------------------------


def test_table_shows_each_lesions_volume_and_diameters_in_its_visit_cell(panel, case):
    table = panel.table
    headers = [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())]
    assert headers == ["Lesion", "Target", "1995-07-10", "2002-08-14", "2003-03-27"]
    for key, (_, radii) in VISITS.items():
        for number, radius_mm in radii.items():
            volume_ml = case.volume_ml(key, number)
            # the voxelised sphere is within 8% of the analytic one (r >= 4 mm on 1-2 mm voxels)
            assert volume_ml == pytest.approx(4 / 3 * np.pi * radius_mm**3 / 1000, rel=0.08)
            first, second = plain(cell(panel, f"L{number}", key).text()).split("\n")
            assert first == f"{volume_ml:.2f} mL"
            longest, rest = second.split(" × ")
            perpendicular, product = rest.split(" mm = ")
            # a sphere's equator is a disc: both diameters are 2r, within one pixel
            assert float(longest) == pytest.approx(2 * radius_mm, abs=PIXEL_MM)
            assert float(perpendicular) == pytest.approx(2 * radius_mm, abs=PIXEL_MM)
            assert product.endswith(" mm²")
    assert cell(panel, "L3", "mr1").text() == NOT_OUTLINED
    assert cell(panel, "L3", "mr2").text() == NOT_OUTLINED
    assert cell(panel, "L2", "mr3").text() == GONE
    tip = cell(panel, "L1", "mr1").toolTip()
    assert f"Volume: {case.volume_ml('mr1', 1):.2f} mL" in tip
    assert f"mean {LESION_INTENSITY:.1f}, max {LESION_INTENSITY:.1f} (arbitrary units)" in tip
    assert "Seen on 9 slices of 2 mm" in tip  # radius 8 mm on 2 mm slices: z = -8..+8 mm
    assert "Centre (reference frame, LPS): -20.0, -10.0, -4.0 mm" in tip
    assert "Measurable by RANO 2.0 (bidimensional)" in tip
    # L2 at the second visit is 8 mm across: below RANO's 10 mm, shown in italics with the reason
    small = cell(panel, "L2", "mr2")
    assert small.font().italic()
    assert "not measurable by RANO 2.0 (bidimensional): longest" in small.toolTip()


def test_lesion_statuses_new_lesion_and_progression(panel, qtbot):
    expected = {
        ("L1", "mr2"): GROWING,  # product (10/8)^2 = +56%, at least +25%
        ("L2", "mr2"): SHRINKING,  # product (4/6)^2 = -56%, at most -50%
        ("L1", "mr3"): STABLE,
        ("L2", "mr3"): GONE,
        ("L3", "mr3"): NEW,
        ("L1", "mr1"): "",  # first measurement: nothing to compare with
        ("L3", "mr1"): "",
    }
    for (name, key), status in expected.items():
        item = cell(panel, name, key)
        assert item.data(STATUS_ROLE) == status, (name, key)
        if status:
            assert item.background().color().name() == STATUS_COLOURS[status]
    response = cell(panel, "Response", "mr3")
    assert response.text() == "PD"
    assert "New lesion L3 means progression." in response.toolTip()
    assert response.foreground().color().name() == response_panel.CATEGORY_COLOURS["PD"]
    assert cell(panel, "Response", "mr1").text() == "baseline"
    assert cell(panel, "Response", "mr2").text() == "SD"
    # the reasons box shows the visit whose header was clicked
    header = panel.table.horizontalHeader()
    x = header.sectionViewportPosition(FIRST_VISIT_COLUMN + 1) + 5
    qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(x, 5))
    assert panel.reasons_box.toPlainText().startswith("2002-08-14: SD")
    click_cell(qtbot, panel, row_of(panel, "Response"), FIRST_VISIT_COLUMN + 2)
    text = panel.reasons_box.toPlainText()
    assert text.startswith("2003-03-27: PD") and "• New lesion L3 means progression." in text


def test_sum_row_unit_follows_the_criteria(panel, qtbot, case):
    total = plain(cell(panel, "SPD (mm²)", "mr1").text())
    assert total.endswith(" mm² · baseline")
    follow_up = plain(cell(panel, "SPD (mm²)", "mr2").text())
    assert "vs nadir" in follow_up and "vs baseline" in follow_up
    assert panel.thresholds_label.text().startswith("PD: +25% from nadir or new measurable lesion")
    combo = panel.criteria_combo
    combo.setCurrentIndex(combo.findData("rano-bm"))
    assert case.tracking.criteria_key == "rano-bm"
    settle(qtbot, panel)
    total = plain(cell(panel, "SLD (mm)", "mr1").text())
    value, unit = total.removesuffix(" · baseline").split(" ")
    assert unit == "mm"
    # RANO-BM sums longest diameters: L1 (16 mm) + L2 (12 mm) at the baseline, within a pixel each
    assert float(value) == pytest.approx(16 + 12, abs=2 * PIXEL_MM)
    assert cell(panel, "L1", "mr1").text().startswith("LD ")
    assert panel.thresholds_label.text() == (
        "PD: +20% from nadir or new lesion · PR: -30% from baseline, confirmed after 4 weeks"
        " · Lin 2015"
    )


def test_target_checkboxes_choose_the_targets_and_change_the_sum(panel, qtbot, case):
    table = panel.table
    assert case.tracking.target_override is None
    checked = {
        table.item(r, COL_LESION).text()
        for r in range(3)
        if table.item(r, COL_TARGET).checkState() == Qt.CheckState.Checked
    }
    assert checked == {"L1", "L2"}  # automatic: both measurable at the baseline, L3 not there
    assert not panel.auto_targets_button.isEnabled()
    both = plain(cell(panel, "SPD (mm²)", "mr1").text())

    table.item(row_of(panel, "L2"), COL_TARGET).setCheckState(Qt.CheckState.Unchecked)
    assert case.tracking.target_override == (1,)
    settle(qtbot, panel)
    _, _, assessment = case.tracking.assess()
    l1 = assessment.visits[0].sum_value
    assert plain(cell(panel, "SPD (mm²)", "mr1").text()) == f"{l1:,.0f} mm² · baseline".replace(
        ",", " "
    )
    assert plain(cell(panel, "SPD (mm²)", "mr1").text()) != both
    assert panel.targets_label.text() == "Targets: chosen by hand"
    assert panel.auto_targets_button.isEnabled()

    qtbot.mouseClick(panel.auto_targets_button, Qt.MouseButton.LeftButton)
    assert case.tracking.target_override is None
    settle(qtbot, panel)
    assert plain(cell(panel, "SPD (mm²)", "mr1").text()) == both


def test_a_target_the_baseline_cannot_support_shows_the_error_and_keeps_the_table(panel, qtbot):
    panel.table.item(row_of(panel, "L3"), COL_TARGET).setCheckState(Qt.CheckState.Checked)
    settle(qtbot, panel)
    assert not panel.error_label.isHidden()
    assert "L3 is not measurable at the baseline (1995-07-10)" in panel.error_label.text()
    response_row = row_of(panel, "Response")
    assert panel.table.isRowHidden(response_row)
    assert not panel.table.isRowHidden(row_of(panel, "L1"))
    assert cell(panel, "L1", "mr1").text().endswith("mm²")
    assert "L3 is not measurable" in panel.reasons_box.toPlainText()
    panel.canvas.draw()
    qtbot.mouseClick(panel.auto_targets_button, Qt.MouseButton.LeftButton)
    settle(qtbot, panel)
    assert panel.error_label.isHidden()
    assert not panel.table.isRowHidden(response_row)


def test_clicking_a_lesion_cell_asks_to_jump_to_its_centre(panel, qtbot):
    row, column = row_of(panel, "L1"), FIRST_VISIT_COLUMN + 1
    with qtbot.waitSignal(panel.jump_requested) as blocker:
        click_cell(qtbot, panel, row, column)
    key, point = blocker.args
    assert key == "mr2"
    # the sphere's centre voxel (8, 20, 20) in LPS mm; the reference frame is the patient's
    expected = (AFFINE @ np.array([*CENTRES[1], 1.0]))[:3]
    np.testing.assert_allclose(point, expected, atol=1e-9)
    assert point.shape == (3,)
    with qtbot.assertNotEmitted(panel.jump_requested):
        click_cell(qtbot, panel, row_of(panel, "L3"), FIRST_VISIT_COLUMN)  # "—": not outlined


def test_baseline_combo_sets_the_baseline(panel, qtbot, case):
    combo = panel.baseline_combo
    assert combo.itemText(0) == "Default (the first scan after the end of radiotherapy: 1995-07-10)"
    assert [combo.itemText(i) for i in range(1, combo.count())] == [
        v[0].isoformat() for v in VISITS.values()
    ]
    combo.setCurrentIndex(2)
    assert case.tracking.baseline_label == "2002-08-14"
    settle(qtbot, panel)
    assert cell(panel, "Response", "mr1").text() == "before baseline"
    assert cell(panel, "Response", "mr2").text() == "baseline"
    assert panel.baseline_combo.currentIndex() == 2
    panel.baseline_combo.setCurrentIndex(0)
    assert case.tracking.baseline_label is None


# --- events --------------------------------------------------------------------------------


def answer_dialog(monkeypatch, date: dt.date, kind: TreatmentKind, note: str, accept=True):
    def exec_(dialog: EventDialog) -> int:
        dialog.date_edit.setDate(QDate(date.year, date.month, date.day))
        dialog.kind_combo.setCurrentIndex(dialog.kind_combo.findData(kind))
        dialog.note_edit.setText(note)
        return (QDialog.DialogCode.Accepted if accept else QDialog.DialogCode.Rejected).value

    monkeypatch.setattr(EventDialog, "exec", exec_)


def test_events_are_added_and_removed_through_the_dialog(panel, qtbot, case, monkeypatch):
    answer_dialog(monkeypatch, dt.date(2002, 9, 1), TreatmentKind.RADIOSURGERY, "Novalis")
    qtbot.mouseClick(panel.add_event_button, Qt.MouseButton.LeftButton)
    answer_dialog(monkeypatch, dt.date(2002, 1, 15), TreatmentKind.SURGERY, "")
    qtbot.mouseClick(panel.add_event_button, Qt.MouseButton.LeftButton)
    answer_dialog(monkeypatch, dt.date(2003, 1, 1), TreatmentKind.CHEMOTHERAPY, "", accept=False)
    qtbot.mouseClick(panel.add_event_button, Qt.MouseButton.LeftButton)
    assert case.tracking.events == [
        TreatmentEvent(dt.date(2002, 1, 15), TreatmentKind.SURGERY, ""),
        TreatmentEvent(dt.date(2002, 9, 1), TreatmentKind.RADIOSURGERY, "Novalis"),
    ]
    settle(qtbot, panel)
    items = [panel.events_list.item(i).text() for i in range(panel.events_list.count())]
    assert items == ["2002-01-15 · surgery", "2002-09-01 · radiosurgery — Novalis"]
    # the events drive the default baseline: the first scan after surgery (no radiotherapy end)
    assert panel.baseline_combo.itemText(0).endswith(": 2002-08-14)")
    assert cell(panel, "Response", "mr1").text() == "before baseline"

    assert not panel.remove_event_button.isEnabled()
    panel.events_list.setCurrentRow(0)
    qtbot.mouseClick(panel.remove_event_button, Qt.MouseButton.LeftButton)
    assert case.tracking.events == [
        TreatmentEvent(dt.date(2002, 9, 1), TreatmentKind.RADIOSURGERY, "Novalis")
    ]
    settle(qtbot, panel)
    assert panel.events_list.count() == 1


def test_event_dialog_offers_the_latest_visit_and_every_kind_but_the_undirected_steroid(qtbot):
    dialog = EventDialog(None, dt.date(2003, 3, 27))
    qtbot.addWidget(dialog)
    assert dialog.date_edit.date().toPython() == dt.date(2003, 3, 27)
    kinds = [dialog.kind_combo.itemData(i) for i in range(dialog.kind_combo.count())]
    assert TreatmentKind.STEROID_CHANGE not in kinds
    assert TreatmentKind.STEROID_INCREASE in kinds and TreatmentKind.RADIOTHERAPY_END in kinds
    dialog.note_edit.setText("  X-knife  ")
    assert dialog.treatment_event() == TreatmentEvent(
        dt.date(2003, 3, 27), TreatmentKind.SURGERY, "X-knife"
    )


# --- plot and refresh ----------------------------------------------------------------------


def test_plot_draws_the_sum_and_each_lesion(panel):
    panel.canvas.draw()
    (axes,) = panel.figure.axes
    labels = [line.get_label() for line in axes.get_lines()]
    assert {"L1", "L2", "L3", "SPD (targets)", "baseline"} <= set(labels)
    (total,) = [line for line in axes.get_lines() if line.get_label() == "SPD (targets)"]
    assert len(total.get_xdata()) == len(VISITS)


def test_changes_are_gathered_into_one_refresh(panel, qtbot, case, monkeypatch):
    calls = []
    assess = case.tracking.assess
    monkeypatch.setattr(case.tracking, "assess", lambda: calls.append(1) or assess())
    for _ in range(30):  # a stroke reports a change per dab
        case.tracking.changed.emit()
    assert calls == []
    settle(qtbot, panel)
    assert calls == [1]


def test_every_criteria_fills_the_table_without_error(panel, qtbot, case):
    for key in CRITERIA:
        panel.criteria_combo.setCurrentIndex(panel.criteria_combo.findData(key))
        settle(qtbot, panel)
        assert panel.error_label.isHidden(), key
        assert cell(panel, "Response", "mr3").text().startswith("PD"), key
        panel.canvas.draw()


def test_nothing_is_measured_during_a_stroke_only_after_it(panel, qtbot, case, monkeypatch):
    calls = []
    assess = case.tracking.assess
    monkeypatch.setattr(case.tracking, "assess", lambda: calls.append(1) or assess())
    annotations = case.annotations
    annotations.set_active(2)
    annotations.begin_stroke("mr3", SHAPE, erase=False, description="Brush")
    region = sphere(2, 6.0)

    def paint(scratch: np.ndarray):
        scratch[region] = True
        return (slice(0, SHAPE[0]), slice(0, SHAPE[1]), slice(0, SHAPE[2]))

    annotations.dab(paint)
    qtbot.wait(3 * response_panel.REFRESH_DELAY_MS)  # the timer fires while the stroke goes on
    assert calls == []
    assert cell(panel, "L2", "mr3").text() == GONE
    annotations.end_stroke()
    settle(qtbot, panel)
    assert calls == [1]
    volume_ml = int(np.count_nonzero(region)) * VOXEL_ML
    assert plain(cell(panel, "L2", "mr3").text()).startswith(f"{volume_ml:.2f} mL")


def test_a_deleted_panel_no_longer_follows_the_tracking(qtbot, case):
    widget = ResponsePanel(case.tracking)
    widget.deleteLater()
    qtbot.waitUntil(lambda: len(case.tracking.changed) == 0)
    case.tracking.changed.emit()  # would reach the deleted timer if still connected


def test_lesion_rows_stay_visible_after_a_refresh_that_hid_the_summary_rows(qtbot, case):
    # the window's panel refreshes before any case is open: no visit, no response, so its two
    # summary rows (0 and 1) are hidden; the lesions that later take rows 0 and 1 must show
    catalog = [Catalog()]
    real = case.tracking._catalog()
    case.tracking._catalog = lambda: catalog[0]
    widget = ResponsePanel(case.tracking)
    qtbot.addWidget(widget)
    widget.refresh()
    assert widget._assessment is None
    catalog[0] = real
    widget.refresh()
    table = widget.table
    assert table.rowCount() == 5  # three lesions, the sum, the response
    assert not any(table.isRowHidden(row) for row in range(table.rowCount()))
