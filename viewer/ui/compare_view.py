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

from viewer.display.overlay import render
from viewer.state.compare_controller import (
    SCREEN_TEXT,
    ComparisonController,
    PaneFrame,
    ViewText,
)
from viewer.state.comparison import LAYOUTS, MAX_VIEWS
from viewer.state.pane_overlay import PANE_STYLE, Landmark, pane_marks
from viewer.ui.caliper_input import CaliperInput
from viewer.ui.outline_input import OutlineInput
from viewer.ui.qt_image import rgba_to_qimage
from viewer.ui.slice_view import WHEEL_STEP, ZOOM_PER_WHEEL_NOTCH
from viewer.ui.theme import overlay_font

SERIES_MIME = "application/x-interval-series-key"
"""Drag-and-drop type of a series key (from the visit strip onto a view)."""
CLICK_SLOP_PX = 4
"""A left press that moves less than this before release is a click, not a window drag."""

ACTIVE_COLOUR = QColor("#3d8bfd")


@dataclass
class _Drag:
    mode: str  # "window" or "pan"
    start: QPointF
    last: QPointF
    moved: bool = False


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
        ``markers(view index) -> list of Landmark`` to draw.
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
        self.markers: Callable[[int], list[Landmark]] = lambda index: []
        self.key_handler: Callable[[int, QKeyEvent], bool] = lambda index, event: False
        self.outline_input: OutlineInput | None = None
        self.caliper_input: CaliperInput | None = None
        self._frame: PaneFrame | None = None
        self._picture: tuple[PaneFrame, list, QImage] | None = None
        """The frame, the marks drawn on it, and the picture they made (reused while equal)."""
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
            self._dirty = False
        return self._frame

    def resizeEvent(self, event: object) -> None:  # noqa: N802 - Qt override
        """The view's grid follows its size."""
        self._dirty = True

    # --- painting --------------------------------------------------------------------------

    def picture(
        self, factor: int = 1, *, crosshair: bool = True, text: ViewText = SCREEN_TEXT
    ) -> np.ndarray | None:
        """The view as RGBA pixels (rows, columns, 4): image, outlines and every mark on it.

        At ``factor`` 1 with the crosshair and the screen's text this is exactly what the screen
        shows. A larger ``factor`` reslices the same field of view on ``factor`` times as many
        pixels in each direction and scales text and lines to match (a figure for slides).
        ``text`` limits what the corner text says (no descriptions in teaching mode). None
        until the view's series is loaded.
        """
        if factor == 1 and text == SCREEN_TEXT:
            frame = self.current_frame()
            if frame is None:
                return None
            return render(frame.rgba, self._marks(frame, crosshair=crosshair))
        return self.picture_job(factor, crosshair=crosshair, text=text)()

    def picture_job(
        self, factor: int, *, crosshair: bool = True, text: ViewText = SCREEN_TEXT
    ) -> Callable[[], np.ndarray | None]:
        """:meth:`picture` as work for a worker thread: a 4x picture takes about a second.

        What only the GUI thread may read (the calipers on the view, the landmarks) is taken
        now; the slice, its outlines and the drawing happen when the job runs.
        """
        rows, columns = self.viewport_px()
        size = (rows * factor, columns * factor)
        calipers = (
            self.caliper_input.drawings(self.index, size) if self.caliper_input is not None else []
        )
        landmarks = self.markers(self.index)
        style = PANE_STYLE if factor == 1 else PANE_STYLE.scaled(factor)
        controller, index = self.controller, self.index

        def job() -> np.ndarray | None:
            frame = controller.frame(index, size, text, scale=factor)
            if frame is None:
                return None
            marks = pane_marks(
                frame, style, calipers=calipers, landmarks=landmarks, crosshair=crosshair
            )
            return render(frame.rgba, marks)

        return job

    def _marks(self, frame: PaneFrame, *, crosshair: bool = True) -> list:
        """The marks of the screen's picture of ``frame``."""
        viewport = frame.rgba.shape[:2]
        calipers = (
            self.caliper_input.drawings(self.index, viewport)
            if self.caliper_input is not None
            else []
        )
        return pane_marks(
            frame,
            PANE_STYLE,
            calipers=calipers,
            landmarks=self.markers(self.index),
            crosshair=crosshair,
        )

    def _screen_image(self, frame: PaneFrame) -> QImage:
        """The picture of ``frame``, drawn again only when the frame or its marks changed."""
        marks = self._marks(frame)
        cached = self._picture
        if cached is not None and cached[0] is frame and cached[1] == marks:
            return cached[2]
        image = rgba_to_qimage(render(frame.rgba, marks))
        self._picture = (frame, marks, image)
        return image

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt override
        """Draw the view's picture, then what only the screen shows (tool cursor, active frame)."""
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("#000000"))
        frame = self.current_frame()
        if frame is None:
            self._draw_placeholder(painter)
        else:
            painter.drawImage(0, 0, self._screen_image(frame))
            if self.outline_input is not None:
                painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
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
        painter.setFont(overlay_font(13))
        flags = Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap
        painter.drawText(self.rect().adjusted(20, 20, -20, -20), flags, self.notice or text)

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
