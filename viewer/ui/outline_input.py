"""Mouse input of the outlining tools on the comparison views, and what the views draw for them."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor, QPainter, QPen, QPolygonF

from viewer.state.compare_controller import ComparisonController
from viewer.state.outlining import OutliningController, Tool, ViewGeometry

BRUSH_CURSOR = QColor(255, 255, 255, 200)
ERASER_CURSOR = QColor(255, 120, 120, 220)
PATH_COLOUR = QColor("#ffeb3b")


class OutlineInput:
    """Routes a view's mouse events to the outlining tools, in that view's native grid.

    Parameters
    ----------
    comparison : ComparisonController
        Knows each view's grid and series.
    tools : OutliningController
    """

    def __init__(self, comparison: ComparisonController, tools: OutliningController) -> None:
        self.comparison = comparison
        self.tools = tools
        self._pressed_view: int | None = None
        self._path_view: int | None = None
        self._hover: tuple[int, float, float] | None = None
        self.on_accept: Callable[[], None] = lambda: None
        """Enter on a view: accept the preview or close the polygon."""
        self.on_cancel: Callable[[], None] = lambda: None
        """Escape on a view: drop the path or the preview."""

    @property
    def active(self) -> bool:
        """A left click outlines instead of moving the crosshair."""
        return self.tools.active

    def geometry(self, index: int, viewport_px: tuple[int, int]) -> ViewGeometry | None:
        """Where view ``index``'s pixels lie in its series' native grid (None until loaded)."""
        return self.comparison.view_geometry(index, viewport_px)

    def press(self, index: int, viewport_px: tuple[int, int], row: float, column: float) -> bool:
        """Left press on a view; True when a tool took it."""
        view = self.geometry(index, viewport_px) if self.active else None
        if view is None:
            return False
        self._pressed_view = self._path_view = index
        self.tools.press(view, row, column)
        return True

    def move(self, index: int, viewport_px: tuple[int, int], row: float, column: float) -> bool:
        """Mouse move; True when a stroke or path is in progress (the view repaints)."""
        self._hover = (index, row, column)
        if self._pressed_view != index:
            return self.active
        view = self.geometry(index, viewport_px)
        if view is not None:
            self.tools.move(view, row, column)
        return True

    def release(self, index: int, viewport_px: tuple[int, int], row: float, column: float) -> bool:
        """Left release; True when a tool had the press."""
        if self._pressed_view != index:
            return False
        self._pressed_view = None
        view = self.geometry(index, viewport_px)
        if view is not None:
            self.tools.release(view, row, column)
        else:
            self.tools.cancel()
        return True

    def double_click(self, index: int) -> bool:
        """Double click: closes a polygon; True when the tool used it."""
        if self.active and self.tools.settings.tool is Tool.POLYGON:
            self.tools.close_polygon()
            return True
        return self.active

    def key(self, key: int) -> bool:
        """A key pressed on a view; True when it was Enter or Escape for the tools."""
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.on_accept()
            return True
        if key == Qt.Key.Key_Escape:
            self.on_cancel()
            return True
        return False

    def leave(self, index: int) -> None:
        """The mouse left a view: no brush cursor there."""
        if self._hover is not None and self._hover[0] == index:
            self._hover = None

    def draw(self, painter: QPainter, index: int, pixel_mm: float) -> None:
        """Brush cursor and the contour or polygon being drawn, over view ``index``."""
        if not self.active:
            return
        tool = self.tools.settings.tool
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        if tool in (Tool.BRUSH, Tool.ERASER) and self._hover and self._hover[0] == index:
            _, row, column = self._hover
            radius = self.tools.settings.brush_radius_mm / pixel_mm
            colour = ERASER_CURSOR if tool is Tool.ERASER else BRUSH_CURSOR
            painter.setPen(
                QPen(
                    colour,
                    1.2,
                    Qt.PenStyle.DashLine if self.tools.settings.brush_3d else Qt.PenStyle.SolidLine,
                )
            )
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawEllipse(QPointF(column + 0.5, row + 0.5), radius, radius)
        path = self.tools.path
        if path and self._path_view == index:
            polygon = QPolygonF([QPointF(c + 0.5, r + 0.5) for r, c in path])
            painter.setPen(QPen(PATH_COLOUR, 1.5))
            painter.drawPolyline(polygon)
            if tool is Tool.POLYGON:
                painter.setBrush(PATH_COLOUR)
                for point in polygon:
                    painter.drawEllipse(point, 2.5, 2.5)
        painter.restore()
