"""The comparison view: a grid of linked views, each painting its visit in the reference frame.

Mouse and keys in a view
------------------------
* click: move the crosshair there (every view follows); in landmark mode: place a landmark
* wheel, Up/Down, Page Up/Page Down: next/previous slice in every view; Home/End: first/last
* Ctrl+wheel: zoom (every view, about the mouse)
* right-drag or middle-drag (or Shift+left-drag): pan every view of the plane
* left-drag: window/level (every view of the same modality, unless the view is unlinked)
* double-click: reset zoom, pan and windows
* in nudge mode: arrows move the visit 1 mm in the screen plane, Page Up/Down along the plane
  axis, [ and ] rotate it 1 degree about the crosshair; hold Shift for 5x
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QDragEnterEvent,
    QDropEvent,
    QImage,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QWheelEvent,
)
from PySide6.QtWidgets import QGridLayout, QWidget

from viewer.core.transform import RegistrationState
from viewer.state.compare_controller import (
    REFERENCE_TEXT,
    STATE_TEXT,
    ComparisonController,
    PaneFrame,
)
from viewer.state.comparison import LAYOUTS, MAX_VIEWS
from viewer.ui.caliper_input import CaliperInput
from viewer.ui.outline_input import OutlineInput
from viewer.ui.overlay_painting import (
    TEXT_COLOUR,
    OverlayStyle,
    draw_edge_letters,
    draw_scale_bar,
    font,
    shadowed_text,
)
from viewer.ui.qt_image import rgba_to_qimage
from viewer.ui.slice_view import WHEEL_STEP, ZOOM_PER_WHEEL_NOTCH

PANE_STYLE = OverlayStyle(
    letter_font_px=15,
    letter_margin_px=6,
    letter_band_px=20,
    letter_side_px=40,
    bar_max_px=140,
    bar_inset_px=(20, 20),
    bar_tick_px=4,
    bar_font_px=11,
    bar_label_box=(30, 20, 16),
)
"""Comparison panes are smaller than the single view: smaller letters and scale bar."""

SERIES_MIME = "application/x-interval-series-key"
"""Drag-and-drop type of a series key (from the visit strip onto a view)."""
CLICK_SLOP_PX = 4
"""A left press that moves less than this before release is a click, not a window drag."""

CROSSHAIR_COLOUR = QColor(80, 220, 120, 200)
ACTIVE_COLOUR = QColor("#3d8bfd")
STATE_COLOURS = {
    None: QColor("#9ecbff"),
    RegistrationState.NOT_REGISTERED: QColor("#ff9f43"),
    RegistrationState.AUTOMATIC: QColor("#ffd479"),
    RegistrationState.MANUAL: QColor("#ffd479"),
    RegistrationState.ACCEPTED: QColor("#7ddc8a"),
}
LANDMARK_COLOUR = QColor("#ff5fd2")
STATE_LINES = {*STATE_TEXT.values(), REFERENCE_TEXT}
"""The corner lines drawn in their registration state's colour."""


@dataclass
class _Drag:
    mode: str  # "window" or "pan"
    start: QPointF
    last: QPointF
    moved: bool = False


@dataclass(frozen=True)
class Marker:
    """A landmark drawn on a view: reference-frame point (LPS mm) and its label."""

    point_mm: np.ndarray
    label: str


class PaneView(QWidget):
    """One linked view of the comparison.

    Signals
    -------
    clicked(int, object)
        View index and the clicked reference-frame point (ndarray (3,), LPS mm), in landmark mode.
    pressed(int)
        The view was pressed (to show a visit chosen in the strip here).
    probe_changed(str)
        The value and position under the mouse, for the status bar ("" when it leaves).

    Attributes
    ----------
    key_handler : callable
        ``key_handler(view index, QKeyEvent) -> bool`` sees every key first (nudging); True
        means it used the key.
    markers : callable
        ``markers(view index) -> list of Marker`` to draw (landmarks).
    """

    clicked = Signal(int, object)
    pressed = Signal(int)
    probe_changed = Signal(str)

    def __init__(self, controller: ComparisonController, index: int, parent=None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.index = index
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMouseTracking(True)
        self.setMinimumSize(160, 140)
        self.setAcceptDrops(True)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.landmark_mode = False
        self.markers: Callable[[int], list[Marker]] = lambda index: []
        self.key_handler: Callable[[int, QKeyEvent], bool] = lambda index, event: False
        self.outline_input: OutlineInput | None = None
        self.caliper_input: CaliperInput | None = None
        self._frame: PaneFrame | None = None
        self._image: QImage | None = None
        self._dirty = True
        self._drag: _Drag | None = None
        self._wheel_remainder = 0
        self.notice = ""

    def viewport_px(self) -> tuple[int, int]:
        """(rows, columns) of the view in screen pixels."""
        return max(self.height(), 1), max(self.width(), 1)

    def invalidate(self) -> None:
        """Recompute the frame before the next paint."""
        self._dirty = True
        self.update()

    def current_frame(self) -> PaneFrame | None:
        """The frame shown now (recomputed after a change)."""
        if self._dirty:
            self._frame = self.controller.frame(self.index, self.viewport_px())
            self._image = rgba_to_qimage(self._frame.rgba) if self._frame is not None else None
            self._dirty = False
        return self._frame

    def resizeEvent(self, event: object) -> None:  # noqa: N802 - Qt override
        """The view's grid follows its size."""
        self._dirty = True

    # --- painting --------------------------------------------------------------------------

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt override
        """Draw the view, its crosshair, landmarks and text."""
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("#000000"))
        frame = self.current_frame()
        if frame is None or self._image is None:
            self._draw_placeholder(painter)
        else:
            painter.drawImage(0, 0, self._image)
            painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
            self._draw_crosshair(painter, frame)
            self._draw_markers(painter, frame)
            draw_edge_letters(painter, frame.letters, self.width(), self.height(), PANE_STYLE)
            self._draw_text(painter, frame)
            draw_scale_bar(painter, frame.grid.pixel_mm, self.width(), self.height(), PANE_STYLE)
            if frame.legend is not None:
                self._draw_legend(painter, frame)
            if self.caliper_input is not None:
                self.caliper_input.draw(painter, self.index, self.viewport_px())
            if self.outline_input is not None:
                self.outline_input.draw(painter, self.index, frame.grid.pixel_mm)
        active = self.index == self.controller.state.active
        if active and len(self.controller.visible_indices()) > 1:
            painter.setPen(QPen(ACTIVE_COLOUR, 2))
            painter.drawRect(QRectF(self.rect()).adjusted(1, 1, -1, -1))

    def _draw_placeholder(self, painter: QPainter) -> None:
        key = self.controller.view_key(self.index)
        session = self.controller.session
        if key is None:
            text = f"View {self.index + 1} is empty.\nClick a visit above, then this view."
        elif session.error(key):
            text = f"{session.entry(key).description} could not be loaded:\n\n{session.error(key)}"
        else:
            text = f"Loading {self.controller.series_label(key)}…"
        painter.setPen(QColor("#aab1bd"))
        painter.setFont(font(13))
        flags = Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap
        painter.drawText(self.rect().adjusted(20, 20, -20, -20), flags, self.notice or text)

    def _draw_crosshair(self, painter: QPainter, frame: PaneFrame) -> None:
        row, column = frame.crosshair_px
        x, y, gap = column + 0.5, row + 0.5, 12.0
        painter.setPen(QPen(CROSSHAIR_COLOUR, 1))
        w, h = float(self.width()), float(self.height())
        for a, b in (
            (QPointF(0, y), QPointF(x - gap, y)),
            (QPointF(x + gap, y), QPointF(w, y)),
            (QPointF(x, 0), QPointF(x, y - gap)),
            (QPointF(x, y + gap), QPointF(x, h)),
        ):
            painter.drawLine(a, b)

    def _draw_markers(self, painter: QPainter, frame: PaneFrame) -> None:
        inverse = np.linalg.inv(frame.grid.slice2reference(frame.position_mm))
        half_slab = max(frame.grid.pixel_mm * 3, 2.0)
        painter.setFont(font(12, bold=True))
        for marker in self.markers(self.index):
            row, column, offset = (inverse @ np.append(marker.point_mm, 1.0))[:3]
            if abs(offset) > half_slab:
                continue  # not on this slice
            centre = QPointF(column + 0.5, row + 0.5)
            painter.setPen(QPen(LANDMARK_COLOUR, 2))
            painter.drawEllipse(centre, 5, 5)
            box = QRectF(centre.x() + 6, centre.y() - 18, 40, 16)
            shadowed_text(painter, box, Qt.AlignmentFlag.AlignLeft, marker.label, LANDMARK_COLOUR)

    def _draw_text(self, painter: QPainter, frame: PaneFrame) -> None:
        painter.setFont(font(12))
        m, w, h = 8, self.width(), self.height()
        line = painter.fontMetrics().height()
        left = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
        right = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        metrics = painter.fontMetrics()
        for i, text in enumerate(frame.corners.get("top_left", [])):
            colour = TEXT_COLOUR
            if text in STATE_LINES:
                colour = STATE_COLOURS[frame.registration]
            box = QRectF(m, m + i * line, w - 2 * m, line)
            # a narrow view ends a long line with "…" rather than cutting a word in half
            shown = metrics.elidedText(text, Qt.TextElideMode.ElideRight, int(box.width()))
            shadowed_text(painter, box, left, shown, colour)
        # plane and position sit above the scale bar, out of the way of the long visit lines
        position = frame.corners.get("top_right", [])
        for i, text in enumerate(position):
            box = QRectF(w * 0.3, h - 44 - (len(position) - i) * line, w * 0.7 - m, line)
            shadowed_text(painter, box, right, text, TEXT_COLOUR)
        bottom = frame.corners.get("bottom_left", [])
        for i, text in enumerate(bottom):
            box = QRectF(m, h - m - (len(bottom) - i) * line, w * 0.75, line)
            shadowed_text(painter, box, left, text, TEXT_COLOUR)

    def _draw_legend(self, painter: QPainter, frame: PaneFrame) -> None:
        """The subtraction colour bar, red (brighter later) at the top."""
        legend = frame.legend
        assert legend is not None
        height = min(200, self.height() - 120)
        if height < 40:
            return
        left, top, width = self.width() - 34.0, (self.height() - height) / 2.0, 12.0
        _, colours = legend.legend(steps=int(height))
        for i, rgba in enumerate(colours[::-1]):
            painter.fillRect(QRectF(left, top + i, width, 1), QColor(*(int(c) for c in rgba)))
        painter.setPen(QPen(TEXT_COLOUR, 1))
        painter.drawRect(QRectF(left, top, width, height))
        painter.setFont(font(11))
        for value, label in legend.ticks():
            y = top + (1 - (value + legend.limit) / (2 * legend.limit)) * height
            box = QRectF(left - 90, y - 8, 84, 16)
            align = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
            shadowed_text(painter, box, align, label, TEXT_COLOUR)

    # --- mouse and keys --------------------------------------------------------------------

    def _activate(self) -> None:
        self.setFocus()
        self.controller.set_active(self.index)

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        """Start a click, window drag or pan drag."""
        self._activate()
        self.pressed.emit(self.index)
        button = event.button()
        shift = event.modifiers() & Qt.KeyboardModifier.ShiftModifier
        calipers = self.outline_input, self.caliper_input
        if button == Qt.MouseButton.LeftButton and not shift and calipers[1] is not None:
            # a caliper handle is grabbed unless an outlining tool is on (then armed only)
            outlining = calipers[0] is not None and calipers[0].active
            pos = event.position()
            if (calipers[1].armed or not outlining) and calipers[1].press(
                self.index, self.viewport_px(), pos.y() - 0.5, pos.x() - 0.5
            ):
                self._drag = _Drag("caliper", pos, pos)
                event.accept()
                return
        tools = self.outline_input
        if button == Qt.MouseButton.LeftButton and not shift and tools is not None:
            pos = event.position()
            if tools.press(self.index, self.viewport_px(), pos.y() - 0.5, pos.x() - 0.5):
                self._drag = _Drag("tool", pos, pos)
                event.accept()
                return
        if button in (Qt.MouseButton.MiddleButton, Qt.MouseButton.RightButton) or (
            button == Qt.MouseButton.LeftButton and shift
        ):
            mode = "pan"
        elif button == Qt.MouseButton.LeftButton:
            mode = "window"
        else:
            return super().mousePressEvent(event)
        self._drag = _Drag(mode, event.position(), event.position())
        event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        """Window or pan while dragging."""
        drag = self._drag
        pos = event.position()
        self.probe_changed.emit(
            self.controller.probe(self.index, self.viewport_px(), pos.y() - 0.5, pos.x() - 0.5)
        )
        if drag is not None and drag.mode == "caliper" and self.caliper_input is not None:
            if self.caliper_input.move(
                self.index, self.viewport_px(), pos.y() - 0.5, pos.x() - 0.5
            ):
                self.update()
            return
        tools = self.outline_input
        if tools is not None and (drag is None or drag.mode == "tool"):
            if tools.move(self.index, self.viewport_px(), pos.y() - 0.5, pos.x() - 0.5):
                self.update()
        if drag is None or drag.mode == "tool":
            return
        if not drag.moved:
            distance = abs(pos.x() - drag.start.x()) + abs(pos.y() - drag.start.y())
            if distance < CLICK_SLOP_PX:
                return
            drag.moved = True
        dx, dy = pos.x() - drag.last.x(), pos.y() - drag.last.y()
        drag.last = pos
        frame = self.current_frame()
        if drag.mode == "window" and not self.landmark_mode:
            self.controller.drag_window(self.index, dx, dy)
        elif drag.mode == "pan" and frame is not None:
            self.controller.pan_by(dx * frame.grid.pixel_mm, dy * frame.grid.pixel_mm, self.index)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        """A left press without a drag is a click: crosshair, or a landmark."""
        drag, self._drag = self._drag, None
        if drag is not None and drag.mode == "caliper" and self.caliper_input is not None:
            pos = event.position()
            self.caliper_input.release(self.index, self.viewport_px(), pos.y() - 0.5, pos.x() - 0.5)
            self.update()
            event.accept()
            return
        if drag is not None and drag.mode == "tool" and self.outline_input is not None:
            pos = event.position()
            self.outline_input.release(self.index, self.viewport_px(), pos.y() - 0.5, pos.x() - 0.5)
            self.update()
            event.accept()
            return
        if drag is not None and drag.mode == "window" and not drag.moved:
            pos = event.position()
            row, column = pos.y() - 0.5, pos.x() - 0.5
            if self.landmark_mode:
                point = self.controller.point_at(self.index, self.viewport_px(), row, column)
                if point is not None:
                    self.clicked.emit(self.index, point)
            else:
                self.controller.click(self.index, self.viewport_px(), row, column)
        event.accept()

    def leaveEvent(self, event: object) -> None:  # noqa: N802 - Qt override
        """The mouse left: nothing to probe."""
        self.probe_changed.emit("")
        if self.outline_input is not None:
            self.outline_input.leave(self.index)
            self.update()

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        """Reset zoom, pan and windows (with an outlining tool: close the polygon)."""
        self._drag = None
        if self.outline_input is not None and self.outline_input.double_click(self.index):
            event.accept()
            return
        self.controller.reset()
        event.accept()

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802 - Qt override
        """Scroll every view; with Ctrl, zoom about the mouse."""
        self._activate()
        delta = event.angleDelta().y()
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            frame = self.current_frame()
            pixel = frame.grid.pixel_mm if frame is not None else 1.0
            pos = event.position()
            fixed = ((pos.x() - self.width() / 2) * pixel, (pos.y() - self.height() / 2) * pixel)
            pan = self.controller.pan_of(self.controller.view_plane(self.index))
            fixed = (fixed[0] - pan[0], fixed[1] - pan[1])
            self.controller.zoom_by(ZOOM_PER_WHEEL_NOTCH ** (delta / WHEEL_STEP), fixed, self.index)
        else:
            self._wheel_remainder += delta
            steps = int(self._wheel_remainder / WHEEL_STEP)
            self._wheel_remainder -= steps * WHEEL_STEP
            if steps:
                self.controller.scroll(steps, self.index)
        event.accept()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt override
        """Slice keys, or hand the key to the window (nudging)."""
        if self.key_handler(self.index, event):
            event.accept()
            return
        if event.key() == Qt.Key.Key_Escape and self.caliper_input is not None:
            self.caliper_input.cancel()
        if self.outline_input is not None and self.outline_input.key(event.key()):
            event.accept()
            return
        key = event.key()
        index = self.controller.slice_index(self.index)
        if key in (Qt.Key.Key_Up, Qt.Key.Key_PageUp):
            self.controller.scroll(+1, self.index)
        elif key in (Qt.Key.Key_Down, Qt.Key.Key_PageDown):
            self.controller.scroll(-1, self.index)
        elif key == Qt.Key.Key_Home:
            self.controller.go_to_slice(0, self.index)
        elif key == Qt.Key.Key_End and index is not None:
            self.controller.go_to_slice(index[1] - 1, self.index)
        else:
            super().keyPressEvent(event)
            return
        event.accept()

    # --- drag and drop of a series ---------------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt override
        """Accept a series dragged from the visit strip."""
        if event.mimeData().hasFormat(SERIES_MIME):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt override
        """Show the dropped series here."""
        key = bytes(event.mimeData().data(SERIES_MIME).data()).decode("utf-8")
        if key:
            self.controller.assign(self.index, key)
            self.controller.set_active(self.index)
            event.acceptProposedAction()


class ComparisonView(QWidget):
    """The grid of linked views; repaints them when the state, session or registrations change."""

    def __init__(self, controller: ComparisonController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.panes = [PaneView(controller, i, self) for i in range(MAX_VIEWS)]
        self._grid = QGridLayout(self)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._grid.setSpacing(2)
        self.setStyleSheet("background: #000000;")
        self.arrange()
        controller.state.events.connect(self._on_state)
        controller.session.status_changed.connect(self.invalidate)
        controller.session.catalog_changed.connect(self.invalidate)
        controller.registrations.changed.connect(self.invalidate)

    def arrange(self) -> None:
        """Lay the views out as the state's layout says."""
        rows, columns = LAYOUTS[self.controller.state.layout]
        for pane in self.panes:
            self._grid.removeWidget(pane)
            pane.hide()
        for i in range(rows * columns):
            self._grid.addWidget(self.panes[i], i // columns, i % columns)
            self.panes[i].show()
        for r in range(2):
            self._grid.setRowStretch(r, 1 if r < rows else 0)
        for c in range(3):
            self._grid.setColumnStretch(c, 1 if c < columns else 0)
        self.invalidate()

    def visible_panes(self) -> list[PaneView]:
        """The views the layout shows."""
        return [self.panes[i] for i in self.controller.visible_indices()]

    def invalidate(self, *_: object) -> None:
        """Recompute every visible view."""
        for pane in self.visible_panes():
            pane.invalidate()

    def _on_state(self, info: object) -> None:
        name = getattr(getattr(info, "signal", None), "name", "")
        if name == "layout":
            self.arrange()
        else:
            self.invalidate()
