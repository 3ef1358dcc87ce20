"""The slice view: paints the controller's frame and turns mouse and keys into its actions.

Mouse and keys (as in common PACS viewers)
------------------------------------------
* wheel, Up/Down, Page Up/Page Down: next/previous slice; Home/End: first/last slice
* Ctrl+wheel, or right-drag up/down: zoom (about the mouse)
* middle-drag, or Shift+left-drag: pan
* left-drag: window/level (right = wider window, down = higher level)
* double-click: reset zoom, pan and window
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QImage,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import QWidget

from viewer.display.overlay import (
    Mark,
    OverlayStyle,
    corner_text_marks,
    edge_letter_marks,
    render,
    scale_bar_marks,
)
from viewer.state.controller import Frame, ViewController
from viewer.state.session import LoadStatus
from viewer.ui.qt_image import qimage_to_rgba, rgba_to_qimage
from viewer.ui.theme import overlay_font

WHEEL_STEP = 120
"""angleDelta of one wheel notch (Qt convention: eighths of a degree)."""
ZOOM_PER_WHEEL_NOTCH = 1.2
ZOOM_PER_DRAG_PIXEL = 1.01

VIEW_STYLE = OverlayStyle(
    text_px=13,
    margin_px=10,
    letter_px=17,
    letter_margin_px=8,
    bar_max_px=180,
    bar_inset_px=(70, 40),
    bar_tick_px=5,
    bar_text_px=12,
    bar_text_gap_px=7,
)
"""The single view is larger than a comparison view: larger letters and scale bar."""


@dataclass
class _Drag:
    mode: str  # "window", "pan" or "zoom"
    last: QPointF
    anchor_mm: tuple[float, float]


class SliceView(QWidget):
    """One slice of the selected series, with orientation letters, scale bar and text overlays.

    Signals
    -------
    probe_changed(str)
        Description of the voxel under the mouse (value, units, position), for the status bar.
    """

    probe_changed = Signal(str)

    def __init__(self, controller: ViewController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMouseTracking(True)
        self.setMinimumSize(320, 240)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setToolTip(
            "Wheel: slices · Ctrl+wheel or right-drag: zoom · middle-drag or Shift+drag: pan\n"
            "Left-drag: window (left/right) and level (up/down) · double-click: reset"
        )
        self._frame: Frame | None = None
        self._image: QImage | None = None
        self._dirty = True
        self._drag: _Drag | None = None
        self._wheel_remainder = 0
        self._mouse: QPointF | None = None
        self._notice = ""
        controller.view.events.connect(self._on_change)
        controller.session.status_changed.connect(self._on_change)
        controller.session.catalog_changed.connect(self._on_change)
        controller.session.preview_changed.connect(self._on_change)

    # --- state -----------------------------------------------------------------------------

    def set_notice(self, text: str) -> None:
        """Show a message instead of an empty view (scanning, scan errors); ``""`` clears it."""
        self._notice = text
        self.update()

    def current_frame(self) -> Frame | None:
        """Return the frame being shown (recomputed after a state change)."""
        if self._dirty:
            self._frame = self.controller.frame()
            self._image = rgba_to_qimage(self._frame.rgba) if self._frame is not None else None
            self._dirty = False
        return self._frame

    def placeholder_text(self) -> str:
        """Return what the view says when there is no image to show."""
        key = self.controller.view.series_key
        if key is None:
            return self._notice or "No series selected.\nOpen a folder of DICOM or NIfTI files."
        session = self.controller.session
        description = session.entry(key).description or "this series"
        status = session.status(key)
        if status is LoadStatus.FAILED:
            return (
                f"{description} could not be loaded:\n\n{session.error(key)}\n\n"
                "The other series of the case can still be opened from the list."
            )
        if status is LoadStatus.LOADING:
            return f"Loading {description}…"
        return f"Loading of {description} was cancelled.\nSelect it again to load it."

    def refresh(self) -> None:
        """Recompute and repaint the frame (e.g. more slices of a preview have been read)."""
        self._on_change()

    def _on_change(self, *_: object) -> None:
        self._dirty = True
        self.update()
        if self._mouse is not None and self._drag is None:
            self._report_probe(self._mouse)

    # --- geometry --------------------------------------------------------------------------

    def _scale_and_rect(self, frame: Frame) -> tuple[float, QRectF]:
        """Screen pixels per mm, and where the slice image is drawn."""
        rows, columns = frame.rgba.shape[:2]
        width_mm, height_mm = columns * frame.slice.pixel_mm, rows * frame.slice.pixel_mm
        fit = min(self.width() / width_mm, self.height() / height_mm)
        scale = fit * self.controller.view.zoom
        pan_right, pan_down = self.controller.view.pan_mm
        left = self.width() / 2 + (-width_mm / 2 + pan_right) * scale
        top = self.height() / 2 + (-height_mm / 2 + pan_down) * scale
        return scale, QRectF(left, top, width_mm * scale, height_mm * scale)

    def screen_to_pixel(self, pos: QPointF) -> tuple[float, float] | None:
        """Slice (row, column), fractional, under a widget position; None without an image."""
        frame = self.current_frame()
        if frame is None:
            return None
        scale, rect = self._scale_and_rect(frame)
        pixel = frame.slice.pixel_mm * scale
        return (pos.y() - rect.top()) / pixel - 0.5, (pos.x() - rect.left()) / pixel - 0.5

    def _slice_mm(self, pos: QPointF) -> tuple[float, float]:
        """(right, down) mm from the slice centre of a widget position."""
        frame = self.current_frame()
        if frame is None:
            return 0.0, 0.0
        scale, _ = self._scale_and_rect(frame)
        pan_right, pan_down = self.controller.view.pan_mm
        return (
            (pos.x() - self.width() / 2) / scale - pan_right,
            (pos.y() - self.height() / 2) / scale - pan_down,
        )

    def _report_probe(self, pos: QPointF) -> None:
        pixel = self.screen_to_pixel(pos)
        probe = self.controller.probe(*pixel) if pixel is not None else None
        self.probe_changed.emit(probe.describe() if probe is not None else "")

    # --- painting --------------------------------------------------------------------------

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt override
        """Draw the slice scaled to the view, with the same marks as the comparison views."""
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("#000000"))
        frame = self.current_frame()
        if frame is None or self._image is None:
            painter.setPen(QColor("#aab1bd"))
            painter.setFont(overlay_font(14))
            margin = self.rect().adjusted(40, 40, -40, -40)
            flags = Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap
            painter.drawText(margin, flags, self.placeholder_text())
            return
        scale, rect = self._scale_and_rect(frame)
        image = QImage(self.width(), self.height(), QImage.Format.Format_RGBA8888)
        image.fill(QColor("#000000"))
        scaled = QPainter(image)
        scaled.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        scaled.drawImage(rect, self._image, QRectF(self._image.rect()))
        scaled.end()
        picture = render(qimage_to_rgba(image), self._marks(frame, 1.0 / scale))
        painter.drawImage(0, 0, rgba_to_qimage(picture))

    def _marks(self, frame: Frame, pixel_mm: float) -> list[Mark]:
        size = (max(self.height(), 1), max(self.width(), 1))
        marks: list[Mark] = edge_letter_marks(frame.letters, size, VIEW_STYLE)
        half = size[1] / 2 - VIEW_STYLE.margin_px
        for corner in ("top_left", "top_right", "bottom_left"):
            lines = frame.corners.get(corner, [])
            marks += corner_text_marks(lines, corner, size, VIEW_STYLE, max_width_px=half)
        return marks + scale_bar_marks(pixel_mm, size, VIEW_STYLE)

    # --- mouse and keys --------------------------------------------------------------------

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        """Start a window, pan or zoom drag."""
        self.setFocus()
        button, shift = event.button(), event.modifiers() & Qt.KeyboardModifier.ShiftModifier
        if button == Qt.MouseButton.MiddleButton or (button == Qt.MouseButton.LeftButton and shift):
            mode = "pan"
        elif button == Qt.MouseButton.LeftButton:
            mode = "window"
        elif button == Qt.MouseButton.RightButton:
            mode = "zoom"
        else:
            return super().mousePressEvent(event)
        self._drag = _Drag(mode, event.position(), self._slice_mm(event.position()))
        event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        """Drag, or report the voxel under the mouse."""
        pos = event.position()
        self._mouse = pos
        drag = self._drag
        if drag is not None:
            dx, dy = pos.x() - drag.last.x(), pos.y() - drag.last.y()
            drag.last = pos
            frame = self.current_frame()
            if drag.mode == "window":
                self.controller.drag_window(dx, dy)
            elif drag.mode == "pan" and frame is not None:
                scale, _ = self._scale_and_rect(frame)
                self.controller.pan_by(dx / scale, dy / scale)
            elif drag.mode == "zoom":
                self.controller.zoom_by(ZOOM_PER_DRAG_PIXEL ** (-dy), drag.anchor_mm)
        self._report_probe(pos)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        """End a drag."""
        self._drag = None
        event.accept()

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        """Reset zoom, pan and window."""
        self._drag = None
        self.controller.reset()
        event.accept()

    def leaveEvent(self, event: object) -> None:  # noqa: N802 - Qt override
        """Forget the mouse position once it leaves."""
        self._mouse = None
        self.probe_changed.emit("")

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802 - Qt override
        """Scroll slices; with Ctrl held, zoom about the mouse."""
        delta = event.angleDelta().y()
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            factor = ZOOM_PER_WHEEL_NOTCH ** (delta / WHEEL_STEP)
            self.controller.zoom_by(factor, self._slice_mm(event.position()))
        else:
            # touchpads send small deltas: add them up to whole notches
            self._wheel_remainder += delta
            steps = int(self._wheel_remainder / WHEEL_STEP)
            self._wheel_remainder -= steps * WHEEL_STEP
            if steps:
                self.controller.scroll(steps)
        event.accept()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt override
        """Step through slices with the arrow, Page and Home/End keys."""
        key = event.key()
        index = self.controller.slice_index()
        if key in (Qt.Key.Key_Up, Qt.Key.Key_PageUp):
            self.controller.scroll(+1)
        elif key in (Qt.Key.Key_Down, Qt.Key.Key_PageDown):
            self.controller.scroll(-1)
        elif key == Qt.Key.Key_Home:
            self.controller.go_to_slice(0)
        elif key == Qt.Key.Key_End and index is not None:
            self.controller.go_to_slice(index[1] - 1)
        else:
            super().keyPressEvent(event)
            return
        event.accept()
