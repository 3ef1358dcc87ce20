"""The bidirectional caliper on the comparison views (OHIF's bidirectional tool).

A caliper is drawn on an axial view whose plane passes within half a slice of it: two lines in
the lesion's colour with small end handles and a label ("L1 46.6 × 34.3 mm"), dashed with
"(manual)" once the reader has changed it. Pressing within :data:`HANDLE_GRAB_PX` of a handle
drags it (:func:`viewer.state.calipers.drag_end`); with the caliper tool armed, a drag on empty
image draws a new caliper for the active lesion. The edit is stored on release, as one override.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from viewer.core.geometry import apply_affine
from viewer.display.overlay import CaliperDrawing
from viewer.state.annotations import PREVIEW_COLOUR, Annotations
from viewer.state.calipers import (
    HANDLES,
    MIN_LENGTH_MM,
    Caliper,
    CaliperStore,
    drag_end,
    half_slice_mm,
    new_caliper,
    on_screen,
)
from viewer.state.compare_controller import ComparisonController
from viewer.state.tracking import Tracking

HANDLE_GRAB_PX = 6.0
"""A press this close to an end handle (screen pixels) grabs it."""


def caliper_label(caliper: Caliper) -> str:
    """The text beside a caliper, e.g. ``"L1 46.6 × 34.3 mm (manual)"``."""
    name = f"L{caliper.lesion}" if caliper.lesion else "New"
    text = f"{name} {caliper.longest_mm:.1f} × {caliper.perpendicular_mm:.1f} mm"
    return f"{text} (manual)" if caliper.manual else text


@dataclass(frozen=True, eq=False)
class ShownCaliper:
    """A caliper as one view draws it.

    Attributes
    ----------
    caliper : Caliper
    screen_px : ndarray of shape (4, 2)
        (row, column) of its ends on the view, in ``HANDLES`` order.
    colour : tuple of 3 int
        8-bit RGB: the lesion's colour.
    """

    caliper: Caliper
    screen_px: np.ndarray
    colour: tuple[int, int, int]


@dataclass(frozen=True, eq=False)
class _View:
    key: str
    slice2patient: np.ndarray
    """(screen row, screen column, offset mm, 1) -> the series' patient LPS mm."""
    tolerance_mm: float


@dataclass
class _Edit:
    index: int
    view: _View
    grab_px: np.ndarray
    """Handle minus press point (row, column): the handle keeps its place under the mouse."""
    start: Caliper | None
    """The caliper grabbed; None while a new one is drawn."""
    which: str | None
    origin_mm: np.ndarray
    """Patient point pressed (a new caliper's first end)."""
    caliper: Caliper | None = None
    """The caliper as the drag has made it so far."""


class CaliperInput:
    """Draws calipers on the comparison views and turns mouse drags into caliper overrides.

    Parameters
    ----------
    comparison : ComparisonController
        Each view's series, plane and geometry.
    tracking : Tracking
        The automatic measurements (``tracking.measurements(key)``).
    store : CaliperStore
        The reader's overrides; an edit is stored here on release.
    annotations : Annotations
        Lesions, their colours and which are hidden; the active lesion gets a new caliper.

    Attributes
    ----------
    armed : bool
        The caliper tool is on: a drag on empty image draws a new caliper.
    """

    def __init__(
        self,
        comparison: ComparisonController,
        tracking: Tracking,
        store: CaliperStore,
        annotations: Annotations,
    ) -> None:
        self.comparison = comparison
        self.tracking = tracking
        self.store = store
        self.annotations = annotations
        self.armed = False
        self._edit: _Edit | None = None

    def _view(self, index: int, viewport_px: tuple[int, int]) -> _View | None:
        """The series a view shows and how its screen maps onto it; None unless axial and loaded."""
        if self.comparison.view_plane(index) != "axial":
            return None
        geometry = self.comparison.view_geometry(index, viewport_px)
        positions = self.comparison.positions("axial")
        if geometry is None or positions is None:
            return None
        voxel2patient = geometry.volume.voxel2patient
        # half a native slice, as a reader scrolls its slices; but never less than half the
        # views' own step, or a thin-slice caliper between two thick reference slices would
        # show on neither
        tolerance = max(half_slice_mm(voxel2patient), 0.5 * abs(positions.step_mm))
        return _View(geometry.key, voxel2patient @ geometry.slice2voxel, tolerance)

    def shown(self, index: int, viewport_px: tuple[int, int]) -> list[ShownCaliper]:
        """The calipers view ``index`` draws: its series' lesions measured on this slice.

        The override where there is one, else the automatic measurement; hidden or deleted
        lesions are left out, and a caliper being dragged is shown as dragged.
        """
        view = self._view(index, viewport_px)
        if view is None:
            return []
        measured = self.tracking.measurements(view.key)
        manual = self.store.manuals(view.key)
        colours = self.annotations.colours()
        hidden = self.annotations.style.hidden
        edit = self._edit
        if edit is not None and (edit.index != index or edit.view.key != view.key):
            edit = None
        calipers = []
        for number in sorted(set(measured) | set(manual)):
            if number not in colours or number in hidden:
                continue
            m = measured.get(number)
            caliper = self.store.current(view.key, number, m.diameters if m else None)
            if edit is not None and edit.start is not None and edit.start.lesion == number:
                caliper = edit.caliper or caliper
            if caliper is not None:
                calipers.append(caliper)
        if edit is not None and edit.start is None and edit.caliper is not None:
            calipers.append(edit.caliper)
        result = []
        for caliper in calipers:
            screen_px, offset_mm = on_screen(caliper, view.slice2patient)
            if abs(offset_mm) <= view.tolerance_mm:
                colour = colours.get(caliper.lesion, PREVIEW_COLOUR)
                result.append(ShownCaliper(caliper, screen_px, colour))
        return result

    def _patient(self, view: _View, row: float, column: float) -> np.ndarray:
        return apply_affine(view.slice2patient, (row, column, 0.0))

    # --- mouse -----------------------------------------------------------------------------

    def press(self, index: int, viewport_px: tuple[int, int], row: float, column: float) -> bool:
        """Left press on a view; True when it grabbed a handle or (armed) started a caliper."""
        if self.annotations.read_only:
            return False
        view = self._view(index, viewport_px)
        if view is None:
            return False
        pressed = np.array([row, column], dtype=np.float64)
        best: tuple[float, Caliper, str, np.ndarray] | None = None
        for shown in self.shown(index, viewport_px):
            for which, handle in zip(HANDLES, shown.screen_px, strict=True):
                distance = float(np.linalg.norm(handle - pressed))
                if distance <= HANDLE_GRAB_PX and (best is None or distance < best[0]):
                    best = (distance, shown.caliper, which, handle)
        origin = self._patient(view, row, column)
        if best is not None:
            _, caliper, which, handle = best
            self._edit = _Edit(index, view, handle - pressed, caliper, which, origin)
            return True
        if self.armed:
            self._edit = _Edit(index, view, np.zeros(2), None, None, origin)
            return True
        return False

    def move(self, index: int, viewport_px: tuple[int, int], row: float, column: float) -> bool:
        """Mouse move; True while a caliper is being dragged on this view (it repaints)."""
        edit = self._edit
        if edit is None or edit.index != index:
            return False
        r, c = np.array([row, column]) + edit.grab_px
        point = self._patient(edit.view, r, c)
        if edit.start is not None and edit.which is not None:
            edit.caliper = drag_end(edit.start, edit.which, point)
        elif np.linalg.norm(point - edit.origin_mm) >= MIN_LENGTH_MM:
            lesion = self.annotations.active or 0  # assigned on release
            normal = edit.view.slice2patient[:3, 2]
            edit.caliper = new_caliper(edit.view.key, lesion, edit.origin_mm, point, normal)
        else:
            edit.caliper = None
        return True

    def release(self, index: int, viewport_px: tuple[int, int], row: float, column: float) -> bool:
        """Left release; True when this input had the press. The edit becomes an override."""
        edit = self._edit
        if edit is None or edit.index != index:
            return False
        self.move(index, viewport_px, row, column)
        self._edit = None
        caliper = edit.caliper
        if caliper is None:
            return True
        if edit.start is None:
            caliper = replace(caliper, lesion=self.annotations.lesion_for_editing())
        elif np.array_equal(caliper.ends(), edit.start.ends()):
            return True  # a click on a handle: nothing changed
        self.store.override(caliper)
        return True

    def cancel(self) -> None:
        """Drop a drag in progress (Escape); nothing is stored."""
        self._edit = None

    # --- drawing ---------------------------------------------------------------------------

    def drawings(self, index: int, viewport_px: tuple[int, int]) -> list[CaliperDrawing]:
        """View ``index``'s calipers as the view draws them, on a grid of ``viewport_px`` pixels.

        The view's picture (:func:`viewer.state.pane_overlay.pane_marks`) draws them, so an
        exported view shows the same calipers as the screen.
        """
        return [
            CaliperDrawing(
                tuple((float(r), float(c)) for r, c in item.screen_px),
                item.colour,
                caliper_label(item.caliper),
                item.caliper.manual,
                item.caliper.lesion or 0,
            )
            for item in self.shown(index, viewport_px)
        ]
