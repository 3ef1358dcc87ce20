"""The outlines panel, driven as a reader would (clicks, keys, typing), checked on its models."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QColorDialog,
    QLineEdit,
    QMessageBox,
    QToolButton,
)

from viewer.core.lesions import _PALETTE, Lesion, LesionKind, LesionSet
from viewer.core.transform import Transform
from viewer.state.annotations import Annotations, Proposal
from viewer.state.outlining import OutliningController, Tool
from viewer.ui import lesion_panel
from viewer.ui.lesion_panel import (
    COL_COLOUR,
    COL_KIND,
    COL_NAME,
    COL_SHOW,
    COL_VOLUME,
    LesionPanel,
    lesion_voxel_counts,
)

KEYS = {
    Tool.NAVIGATE: Qt.Key.Key_V,
    Tool.BRUSH: Qt.Key.Key_B,
    Tool.ERASER: Qt.Key.Key_E,
    Tool.CONTOUR: Qt.Key.Key_F,
    Tool.POLYGON: Qt.Key.Key_P,
    Tool.GROW: Qt.Key.Key_G,
}
KEY_TEXT = {tool: key.name.removeprefix("Key_") for tool, key in KEYS.items()}
SHAPE = (4, 10, 10)


@pytest.fixture
def panel(qtbot) -> LesionPanel:
    annotations = Annotations()
    tools = OutliningController(annotations, lambda key: Transform())
    widget = LesionPanel(annotations, tools)
    qtbot.addWidget(widget)
    widget.resize(330, 900)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def tool_button(panel: LesionPanel, tool: Tool) -> QToolButton:
    action = panel.tool_actions[tool]
    (button,) = [b for b in panel.findChildren(QToolButton) if b.defaultAction() is action]
    return button


def press_key(qtbot, panel: LesionPanel, key: Qt.Key) -> None:
    """A key pressed while the panel's window is active, focus on a plain button (no text)."""
    panel.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is panel)
    button = tool_button(panel, Tool.NAVIGATE)
    button.setFocus()
    qtbot.waitUntil(button.hasFocus)
    qtbot.keyClick(button, key)


def type_into(qtbot, editor: QLineEdit, text: str) -> None:
    editor.setFocus()
    editor.selectAll()
    qtbot.keyClicks(editor, text)
    qtbot.keyClick(editor, Qt.Key.Key_Return)


def click_cell(qtbot, panel: LesionPanel, row: int, column: int, *, double=False) -> None:
    table = panel.table
    where = table.visualRect(table.model().index(row, column)).center()
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=where)
    if double:
        qtbot.mouseDClick(table.viewport(), Qt.MouseButton.LeftButton, pos=where)


def cell_text(panel: LesionPanel, row: int, column: int) -> str:
    return panel.table.item(row, column).text()


def outlined_case(panel: LesionPanel, counts: dict[int, int], key: str = "s1") -> np.ndarray:
    """Restore a case with lesions 1..3 where lesion n covers counts[n] voxels of series key."""
    labels = np.zeros(SHAPE, np.uint16)
    flat = labels.reshape(-1)
    start = 0
    for number, count in counts.items():
        flat[start : start + count] = number
        start += count
    lesions = [Lesion(n, f"L{n}", _PALETTE[n - 1]) for n in (1, 2, 3)]
    panel.annotations.restore(LesionSet(lesions, next_number=4), {key: labels}, {})
    return labels


# --- tools ---------------------------------------------------------------------------------


def test_tool_buttons_and_keys_choose_the_tool(panel, qtbot):
    settings = panel.tools.settings
    qtbot.mouseClick(tool_button(panel, Tool.BRUSH), Qt.MouseButton.LeftButton)
    assert settings.tool is Tool.BRUSH
    assert panel.options_stack.currentWidget().isAncestorOf(panel.radius_spin)
    for tool, key in [*KEYS.items()][::-1]:
        press_key(qtbot, panel, key)
        assert settings.tool is tool
        assert panel.tool_actions[tool].isChecked()
    for tool, action in panel.tool_actions.items():
        assert action.shortcut().toString() == KEY_TEXT[tool]
        assert action.shortcutContext() is Qt.ShortcutContext.WindowShortcut
        assert f"({KEY_TEXT[tool]})" in action.toolTip()
    settings.tool = Tool.POLYGON  # chosen elsewhere (a view, the lead's menu): the panel follows
    assert panel.tool_actions[Tool.POLYGON].isChecked()
    assert panel.contour_hint.text() == "Click the corners; double-click or Enter to fill"
    settings.tool = Tool.CONTOUR
    assert panel.contour_hint.text() == "Drag around the lesion; release to fill"
    qtbot.mouseClick(panel.cut_box, Qt.MouseButton.LeftButton)
    assert settings.cut is True


def test_brush_radius_follows_the_spin_box_and_the_minus_equal_keys(panel, qtbot):
    settings = panel.tools.settings
    qtbot.mouseClick(tool_button(panel, Tool.BRUSH), Qt.MouseButton.LeftButton)
    type_into(qtbot, panel.radius_spin.lineEdit(), "7.5")
    assert settings.brush_radius_mm == 7.5
    press_key(qtbot, panel, Qt.Key.Key_Minus)
    assert settings.brush_radius_mm == 7.0 and panel.radius_spin.value() == 7.0
    press_key(qtbot, panel, Qt.Key.Key_Equal)
    press_key(qtbot, panel, Qt.Key.Key_Equal)
    assert settings.brush_radius_mm == 8.0 and panel.radius_spin.text() == "8.0 mm"
    settings.brush_radius_mm = 29.8
    press_key(qtbot, panel, Qt.Key.Key_Equal)  # never past the largest brush
    assert settings.brush_radius_mm == 30.0
    settings.brush_radius_mm = 0.7
    press_key(qtbot, panel, Qt.Key.Key_Minus)
    assert settings.brush_radius_mm == 0.5
    qtbot.mouseClick(panel.sphere_box, Qt.MouseButton.LeftButton)
    assert settings.brush_3d is True


def test_intensity_range_limits_the_brush(panel, qtbot):
    settings = panel.tools.settings
    qtbot.mouseClick(tool_button(panel, Tool.ERASER), Qt.MouseButton.LeftButton)
    assert not panel.low_spin.isEnabled()
    qtbot.mouseClick(panel.range_box, Qt.MouseButton.LeftButton)
    assert settings.limit_to_range is True and panel.low_spin.isEnabled()
    type_into(qtbot, panel.low_spin.lineEdit(), "-250")
    type_into(qtbot, panel.high_spin.lineEdit(), "45000")
    assert (settings.range_low, settings.range_high) == (-250.0, 45000.0)
    type_into(qtbot, panel.low_spin.lineEdit(), "50000")
    assert "empty" in panel.status_label.text()


def test_grow_slider_changes_sensitivity_while_it_is_dragged(panel, qtbot):
    settings = panel.tools.settings
    press_key(qtbot, panel, Qt.Key.Key_G)
    slider = panel.sensitivity_slider
    assert slider.value() == 100 and panel.sensitivity_label.text() == "1.00"
    handle = QPoint(
        round((slider.value() - slider.minimum()) / (slider.maximum() - slider.minimum())
              * slider.width()),
        slider.height() // 2,
    )  # fmt: skip
    qtbot.mousePress(slider, Qt.MouseButton.LeftButton, pos=handle)
    qtbot.mouseMove(slider, QPoint(slider.width() - 2, slider.height() // 2))
    assert slider.isSliderDown()  # still dragging, and the setting already followed
    assert settings.grow_sensitivity == slider.value() / 100 > 2.5
    qtbot.mouseRelease(slider, Qt.MouseButton.LeftButton, pos=QPoint(slider.width() - 2, 5))
    settings.grow_sensitivity = 0.45
    assert slider.value() == 45 and panel.sensitivity_label.text() == "0.45"
    qtbot.mouseClick(panel.refine_box, Qt.MouseButton.LeftButton)
    assert settings.refine is True


def test_tool_messages_show_in_the_status_line(panel):
    panel.tools.message.emit("An outline needs at least three points")
    assert panel.status_label.text() == "An outline needs at least three points"


# --- lesions -------------------------------------------------------------------------------


def test_add_lesion_adds_rows_in_palette_colours(panel, qtbot):
    annotations = panel.annotations
    assert panel.table.rowCount() == 0 and not panel.delete_button.isEnabled()
    for _ in range(3):
        qtbot.mouseClick(panel.add_button, Qt.MouseButton.LeftButton)
    assert panel.table.rowCount() == 3
    assert [cell_text(panel, row, COL_NAME) for row in range(3)] == ["L1", "L2", "L3"]
    for row, lesion in enumerate(annotations.lesions):
        assert lesion.colour == _PALETTE[row]
        icon = panel.table.cellWidget(row, COL_COLOUR).icon().pixmap(14, 14).toImage()
        assert icon.pixelColor(7, 7) == QColor(*_PALETTE[row])
    assert annotations.active == 3 and panel.table.selectedIndexes()[0].row() == 2


def test_renaming_in_the_table_renames_the_lesion(panel, qtbot):
    for _ in range(2):
        qtbot.mouseClick(panel.add_button, Qt.MouseButton.LeftButton)
    click_cell(qtbot, panel, 0, COL_NAME, double=True)
    editor = QApplication.focusWidget()
    assert isinstance(editor, QLineEdit)
    type_into(qtbot, editor, "L1 recurrence")
    # the table commits a typed name from its event queue
    qtbot.waitUntil(lambda: panel.table.state() is not QAbstractItemView.State.EditingState)
    assert panel.annotations.lesions[1].name == "L1 recurrence"
    assert cell_text(panel, 0, COL_NAME) == "L1 recurrence"
    click_cell(qtbot, panel, 1, COL_NAME, double=True)  # an empty name keeps the old one
    type_into(qtbot, QApplication.focusWidget(), "   ")
    qtbot.waitUntil(lambda: panel.table.state() is not QAbstractItemView.State.EditingState)
    assert panel.annotations.lesions[2].name == "L2" and cell_text(panel, 1, COL_NAME) == "L2"
    panel.annotations.update_lesion(2, name="L2 metastasis")  # renamed elsewhere: row follows
    assert cell_text(panel, 1, COL_NAME) == "L2 metastasis"


def test_kind_colour_and_note_edit_the_lesion(panel, qtbot, monkeypatch):
    annotations = panel.annotations
    qtbot.mouseClick(panel.add_button, Qt.MouseButton.LeftButton)
    combo = panel.table.cellWidget(0, COL_KIND)
    combo.setFocus()
    qtbot.keyClick(combo, Qt.Key.Key_Down)  # the next kind, as the arrow key picks it
    assert annotations.lesions[1].kind is LesionKind.NON_ENHANCING
    annotations.update_lesion(1, kind=LesionKind.NECROSIS)
    assert combo.currentData() is LesionKind.NECROSIS

    asked = []

    def pick(initial, parent, title):
        asked.append((initial, title))
        return QColor(10, 20, 30)

    monkeypatch.setattr(QColorDialog, "getColor", pick)
    qtbot.mouseClick(panel.table.cellWidget(0, COL_COLOUR), Qt.MouseButton.LeftButton)
    assert asked == [(QColor(*_PALETTE[0]), "Colour of L1")]
    assert annotations.lesions[1].colour == (10, 20, 30)
    monkeypatch.setattr(QColorDialog, "getColor", lambda *args: QColor())  # Cancel
    qtbot.mouseClick(panel.table.cellWidget(0, COL_COLOUR), Qt.MouseButton.LeftButton)
    assert annotations.lesions[1].colour == (10, 20, 30)

    panel.activateWindow()
    panel.note_edit.setFocus()
    qtbot.waitUntil(panel.note_edit.hasFocus)
    qtbot.keyClicks(panel.note_edit, "rim enhancing")
    annotations.update_lesion(1, name="L1 recurrence")  # a change elsewhere keeps the typing
    qtbot.keyClicks(panel.note_edit, ", grew since 2002-08")
    qtbot.keyClick(panel.note_edit, Qt.Key.Key_Return)
    assert annotations.lesions[1].note == "rim enhancing, grew since 2002-08"
    qtbot.mouseClick(panel.add_button, Qt.MouseButton.LeftButton)  # L2 active: its empty note
    assert panel.note_edit.text() == "" and "L2" in panel.note_edit.placeholderText()


def test_hiding_a_lesion_updates_the_overlay_style(panel, qtbot):
    annotations = panel.annotations
    for _ in range(2):
        qtbot.mouseClick(panel.add_button, Qt.MouseButton.LeftButton)
    table = panel.table
    rect = table.visualRect(table.model().index(1, COL_SHOW))
    # the check box sits at the left of its cell
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton,
                     pos=QPoint(rect.left() + rect.height() // 2, rect.center().y()))  # fmt: skip
    assert annotations.style.hidden == frozenset({2})
    assert table.item(1, COL_SHOW).checkState() is Qt.CheckState.Unchecked
    annotations.set_hidden(1, True)  # hidden elsewhere: the box follows
    assert table.item(0, COL_SHOW).checkState() is Qt.CheckState.Unchecked
    annotations.set_hidden(2, False)
    assert table.item(1, COL_SHOW).checkState() is Qt.CheckState.Checked
    assert annotations.style.hidden == frozenset({1})


def test_selecting_a_row_sets_the_active_lesion_and_back(panel, qtbot):
    annotations = panel.annotations
    for _ in range(3):
        qtbot.mouseClick(panel.add_button, Qt.MouseButton.LeftButton)
    click_cell(qtbot, panel, 0, COL_VOLUME)
    assert annotations.active == 1
    click_cell(qtbot, panel, 1, COL_NAME)
    assert annotations.active == 2
    annotations.set_active(3)  # chosen elsewhere: the row follows
    assert [i.row() for i in panel.table.selectionModel().selectedRows()] == [2]
    annotations.set_active(None)
    assert panel.table.selectionModel().selectedRows() == []
    assert not panel.delete_button.isEnabled()


def test_volumes_column_shows_millilitres_on_the_current_series(panel, qtbot):
    annotations = panel.annotations
    outlined_case(panel, {1: 241, 3: 7})
    assert [cell_text(panel, r, COL_VOLUME) for r in range(3)] == ["—"] * 3  # no series yet
    panel.set_current_series("s1", 0.01)
    assert [cell_text(panel, r, COL_VOLUME) for r in range(3)] == ["2.41 mL", "—", "0.07 mL"]
    panel.set_current_series("s1", 0.0005)  # a tiny lesion is never shown as 0.00 mL
    assert cell_text(panel, 2, COL_VOLUME) == "<0.01 mL"
    panel.set_current_series("s1", None)  # the series is not loaded
    assert cell_text(panel, 0, COL_VOLUME) == "—"
    panel.set_current_series("other", 0.01)  # never outlined there
    assert cell_text(panel, 0, COL_VOLUME) == "—"

    panel.set_current_series("s1", 0.01)
    annotations.set_active(2)

    def ten_voxels(mask):
        mask[3, 9, :] = True
        return (slice(3, 4), slice(9, 10), slice(0, 10))

    annotations.begin_stroke("s1", SHAPE, erase=False, description="Brush on L2")
    annotations.dab(ten_voxels)
    assert cell_text(panel, 1, COL_VOLUME) == "—"  # counted once the stroke is recorded
    annotations.end_stroke()
    assert cell_text(panel, 1, COL_VOLUME) == "0.10 mL"
    annotations.undo("s1")
    assert cell_text(panel, 1, COL_VOLUME) == "—"


def test_voxel_counts_are_exact_across_chunks(monkeypatch):
    rng = np.random.default_rng(4)
    labels = rng.integers(0, 6, size=(7, 13, 11)).astype(np.uint16)
    labels[-1, -1, -1] = 300  # the largest label sits in the last chunk only
    monkeypatch.setattr(lesion_panel, "COUNT_CHUNK_VOXELS", 97)
    counts = lesion_voxel_counts(labels)
    values, expected = np.unique(labels, return_counts=True)
    assert counts.size == 301 and counts.sum() == labels.size
    np.testing.assert_array_equal(counts[values], expected)
    assert np.count_nonzero(counts) == values.size


def test_delete_asks_naming_the_lesion_then_removes_it(panel, qtbot, monkeypatch):
    annotations = panel.annotations
    outlined_case(panel, {1: 20, 2: 30})
    annotations.set_active(2)
    asked = []
    answer = [QMessageBox.StandardButton.Cancel]

    def question(parent, title, text, *args):
        asked.append(text)
        return answer[0]

    monkeypatch.setattr(QMessageBox, "question", question)
    qtbot.mouseClick(panel.delete_button, Qt.MouseButton.LeftButton)
    assert 2 in annotations.lesions and panel.table.rowCount() == 3  # cancelled: nothing goes
    assert "L2" in asked[0] and "every visit" in asked[0] and "Undo" in asked[0]
    answer[0] = QMessageBox.StandardButton.Yes
    qtbot.mouseClick(panel.delete_button, Qt.MouseButton.LeftButton)
    assert 2 not in annotations.lesions
    assert [cell_text(panel, r, COL_NAME) for r in range(panel.table.rowCount())] == ["L1", "L3"]
    assert int((annotations.labels("s1") == 2).sum()) == 0
    assert annotations.undo_text("s1")[0] is not None  # the outline's removal can be undone


# --- preview, whole-lesion actions, undo ---------------------------------------------------


def test_preview_bar_shows_the_proposal_and_its_buttons_ask_for_accept_discard(panel, qtbot):
    annotations = panel.annotations
    assert not panel.preview_bar.isVisible()
    qtbot.mouseClick(panel.add_button, Qt.MouseButton.LeftButton)
    mask = np.zeros(SHAPE, bool)
    mask[1, 2:5, 2:5] = True
    annotations.propose(Proposal("s1", 1, mask, "add", "Grow L1", "0.09 mL, intensity 300 to 900"))
    assert panel.preview_bar.isVisible()
    assert "Grow L1" in panel.preview_title.text()
    assert panel.preview_detail.text() == "0.09 mL, intensity 300 to 900"
    for button, name in ((panel.accept_button, "accept"), (panel.discard_button, "discard")):
        with qtbot.waitSignal(panel.action_requested) as signal:
            qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
        assert signal.args == [name]
    annotations.accept_proposal()
    assert not panel.preview_bar.isVisible()


def test_whole_lesion_buttons_and_undo_redo_ask_for_their_actions(panel, qtbot):
    assert not panel.whole_buttons["smooth"].isEnabled()  # no lesion, no series yet
    qtbot.mouseClick(panel.add_button, Qt.MouseButton.LeftButton)
    panel.set_current_series("s2", 0.001)
    assert not panel.carry_button.isEnabled() and panel.carry_source() is None
    panel.set_carry_sources([("s0", "2002-08 T1c"), ("s1", "2002-12 T1c")])
    panel.carry_combo.setCurrentIndex(1)
    panel.set_carry_sources([("s1", "2002-12 T1c"), ("s3", "2003-04 T1c")])  # keeps the choice
    assert panel.carry_source() == "s1"
    expected = [("carry", panel.carry_button)]
    expected += [(name, button) for name, button in panel.whole_buttons.items()]
    panel.set_undo_text("Brush on L1", "Grow L1")
    assert panel.undo_button.text() == "Undo Brush on L1"
    assert panel.redo_button.text() == "Redo Grow L1"
    expected += [("undo", panel.undo_button), ("redo", panel.redo_button)]
    asked = []
    panel.action_requested.connect(asked.append)
    for _, button in expected:
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert asked == [name for name, _ in expected]
    assert sorted(panel.whole_buttons) == ["fill_between", "holes", "islands", "refit", "smooth"]
    panel.set_undo_text(None, None)
    assert panel.undo_button.text() == "Undo" and not panel.undo_button.isEnabled()


def test_display_options_drive_the_overlay_style(panel, qtbot):
    style = panel.annotations.style
    qtbot.mouseClick(panel.show_box, Qt.MouseButton.LeftButton)
    assert style.visible is False
    press_key(qtbot, panel, Qt.Key.Key_O)
    assert style.visible is True and panel.show_box.isChecked()
    qtbot.mouseClick(panel.outline_only_box, Qt.MouseButton.LeftButton)
    assert style.outline_only is True
    panel.opacity_slider.setFocus()
    qtbot.keyClick(panel.opacity_slider, Qt.Key.Key_End)
    assert style.opacity == 1.0 and panel.opacity_label.text() == "100 %"
    style.opacity = 0.2
    assert panel.opacity_slider.value() == 20


# --- read-only -----------------------------------------------------------------------------


def test_read_only_disables_every_edit_and_says_why(panel, qtbot):
    annotations, settings = panel.annotations, panel.tools.settings
    outlined_case(panel, {1: 5})
    panel.set_current_series("s1", 0.01)
    panel.set_undo_text("Brush on L1", None)
    settings.tool = Tool.BRUSH
    annotations.read_only = True
    panel.set_read_only("another Interval has this case open")
    assert panel.read_only_label.isVisible()
    assert panel.read_only_label.text() == "Read-only: another Interval has this case open"
    assert settings.tool is Tool.NAVIGATE  # no tool that edits stays chosen
    press_key(qtbot, panel, Qt.Key.Key_B)
    assert settings.tool is Tool.NAVIGATE
    for widget in (
        panel.add_button, panel.delete_button, panel.note_edit, panel.undo_button,
        *panel.whole_buttons.values(), panel.table.cellWidget(0, COL_KIND),
        panel.table.cellWidget(0, COL_COLOUR),
    ):  # fmt: skip
        assert not widget.isEnabled()
    click_cell(qtbot, panel, 0, COL_NAME, double=True)
    assert not isinstance(QApplication.focusWidget(), QLineEdit)  # no editor opens
    click_cell(qtbot, panel, 1, COL_NAME)  # choosing and hiding lesions is still fine
    assert annotations.active == 2

    annotations.read_only = False
    panel.set_read_only(None)
    assert not panel.read_only_label.isVisible() and panel.add_button.isEnabled()
    press_key(qtbot, panel, Qt.Key.Key_B)
    assert settings.tool is Tool.BRUSH


def test_relink_makes_the_active_lesion_part_of_another_on_the_current_visit(panel, monkeypatch):
    from PySide6.QtWidgets import QInputDialog

    notes = panel.annotations
    first, second = notes.add_lesion().number, notes.add_lesion().number
    labels = np.zeros((4, 8, 8), np.uint16)
    labels[1, 2:4, 2:4] = first
    labels[2, 5:7, 5:7] = second
    notes.restore(notes.lesions, {"s": labels}, {})
    notes.set_active(second)
    panel.set_current_series("s", 0.001)
    assert panel.relink_button.isEnabled()
    monkeypatch.setattr(QInputDialog, "getItem", lambda *a, **k: (notes.lesions[first].name, True))
    panel.relink_button.click()
    assert not (notes.labels("s") == second).any() and (notes.labels("s") == first).sum() == 8
