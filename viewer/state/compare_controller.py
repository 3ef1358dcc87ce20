"""What user actions mean for the comparison view, and the frame each of its views paints (no Qt).

Each view reslices its visit through the visit's registration on a grid of the view's own screen
pixels in the reference frame (:func:`viewer.display.linking.viewport_grid`), so views of the
same size show the same anatomical point at the same pixel and one crosshair, zoom and pan link
them all.
"""

from __future__ import annotations

import datetime as dt
import weakref
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from viewer.core.catalog import SeriesEntry
from viewer.core.geometry import apply_affine
from viewer.core.transform import RegistrationState
from viewer.core.volume import Volume
from viewer.display.annotations import (
    EdgeLetters,
    edge_letters,
    format_plane_position,
    format_position,
)
from viewer.display.compare import (
    DivergingScale,
    checkerboard,
    fade,
    normalisation,
    subtract,
)
from viewer.display.labels import blend, label_slice, lesion_anchors, overlay_rgba
from viewer.display.linking import (
    foreground_box,
    grid_point,
    link_views,
    shared_grid,
    viewport_grid,
)
from viewer.display.slicing import (
    PLANE_AXIS_INDEX,
    PLANES,
    PlaneGrid,
    SlicePositions,
    SliceRequest,
    SliceResult,
    plane_axes,
    reslice,
    slice_positions,
)
from viewer.display.window import (
    AUTO_NAME,
    NormalisedWindow,
    WindowLevel,
    WindowPreset,
    apply_window,
    colorize,
    load_presets,
)
from viewer.state.annotations import Annotations, draw_outlines, outline_slice
from viewer.state.comparison import (
    LAYOUTS,
    MAX_VIEWS,
    PAIR_MODES,
    ComparisonState,
    view_count,
)
from viewer.state.controller import WINDOW_DRAG_PIXELS
from viewer.state.outlining import ViewGeometry
from viewer.state.registrations import RegistrationStore, preferred_series
from viewer.state.session import LoadedSeries, Session
from viewer.state.view import ZOOM_LIMITS
from viewer.teaching.reading import Reading

STATE_TEXT = {
    RegistrationState.NOT_REGISTERED: "⚠ Not registered (scanner position)",
    RegistrationState.AUTOMATIC: "Auto-registered: check, then Accept",
    RegistrationState.MANUAL: "Registered: manual",
    RegistrationState.ACCEPTED: "Registered: accepted ✓",
}
REFERENCE_TEXT = "Reference series"
THUMBNAIL_PX = 44
"""Edge of a visit's thumbnail in the visit strip, screen pixels."""
FIT_MARGIN = 0.04
"""Room around the heads at zoom 1, as a fraction of their extent on each side."""
HEAD_THRESHOLD = 0.1
"""Head voxels: above this fraction of a volume's robust intensity span (air lies below)."""
HEAD_MIN_FRACTION = 0.002
"""Slabs with fewer head voxels than this fraction are noise in the air, not head."""
REFERENCE_RGB = (0, 229, 255)
"""Colour of a reference reading's outlines (outline only), beside the trainee's own colours."""
REFERENCE_LEGEND = "Cyan: the reference's outlines"
"""The corner line that says which outline is whose while the reference is drawn."""
PAIR_NAMES = {
    "fade": "Fade",
    "checkerboard": "Checkerboard",
    "flicker": "Flicker",
    "subtraction": "Subtraction",
}


def head_box(found: LoadedSeries) -> tuple[np.ndarray, np.ndarray] | None:
    """Voxel index box (lowest, highest; (slice, row, column)) of a volume's head, or None."""
    stats = found.stats
    # air is near range_low on CT and MRI alike; tissue lies well above a tenth of the span
    threshold = stats.range_low + HEAD_THRESHOLD * (stats.range_high - stats.range_low)
    return foreground_box(found.volume.array, threshold, min_fraction=HEAD_MIN_FRACTION)


def series_thumbnail(
    found: LoadedSeries,
    size_px: int = THUMBNAIL_PX,
    *,
    box: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """A small middle axial slice of a series, fitted to its head, with its opening window.

    Drawn in the series' own patient coordinates, not the reference frame: it only has to tell
    the visits apart. Safe in a worker thread (it touches nothing shared).

    Parameters
    ----------
    found : LoadedSeries
    size_px : int
        Edge of the square thumbnail, pixels.
    box : tuple of 2 ndarray, optional
        The head's voxel box if known (:func:`head_box` otherwise).

    Returns
    -------
    ndarray of uint8, shape (size_px, size_px, 4)
    """
    volume = found.volume
    if box is None:
        box = head_box(found)
    base = shared_grid("axial", [(volume, None)], boxes=[box])
    grid = viewport_grid(base, (size_px, size_px))
    position_mm = float(volume.center_patient()[PLANE_AXIS_INDEX["axial"]])
    result = reslice(SliceRequest(volume, "axial", position_mm, None, grid))
    window = found.default_window
    return colorize(apply_window(result.values, window.level, window.width), inside=result.inside)


@dataclass(frozen=True)
class ViewText:
    """What the text drawn on a view may say.

    Attributes
    ----------
    descriptions : bool
        Series descriptions and contrast agent names: free text from the scanner, which may
        identify (PS3.15 removes it in the basic profile). False writes the modality and
        "contrast-enhanced" instead.
    date_format : {"date", "day"} or None
        Calendar dates or "Day N" from the first visit; None follows the comparison's state.
    """

    descriptions: bool = True
    date_format: str | None = None


SCREEN_TEXT = ViewText()
"""What the screen shows: everything, dates as the user chose."""


@dataclass(frozen=True)
class LesionLabel:
    """A lesion outlined on a view's slice, named at the top-right corner of its pixels there.

    ``colour`` is 8-bit RGB; ``row`` and ``column`` are that corner's pixel on the view.
    """

    number: int
    colour: tuple[int, int, int]
    row: int
    column: int


@dataclass(frozen=True, eq=False)
class PaneFrame:
    """Everything one comparison view paints.

    Attributes
    ----------
    rgba : ndarray of uint8, shape (rows, columns, 4)
        The view's pixels, one per screen pixel; transparent where there is no data.
    grid : PlaneGrid
        The view's screen grid in the reference frame.
    position_mm : float
        Reference-frame position of the plane along its axis (LPS mm).
    crosshair_px : tuple of 2 float
        (row, column) of the crosshair on ``grid``.
    letters : EdgeLetters
        Patient directions (reference frame) at the screen edges.
    corners : dict of str to list of str
        Text for ``"top_left"``, ``"top_right"``, ``"bottom_left"``, ``"bottom_right"``.
    registration : RegistrationState or None
        The shown series' registration state; None for the reference series.
    legend : DivergingScale or None
        The colour scale of a subtraction view.
    lesion_labels : tuple of LesionLabel
        Where each outlined lesion on this slice is named.
    """

    rgba: np.ndarray
    grid: PlaneGrid
    position_mm: float
    crosshair_px: tuple[float, float]
    letters: EdgeLetters
    corners: dict[str, list[str]]
    registration: RegistrationState | None
    legend: DivergingScale | None = None
    lesion_labels: tuple[LesionLabel, ...] = ()


class ComparisonController:
    """Interprets user actions on the comparison view.

    Parameters
    ----------
    session : Session
    registrations : RegistrationStore
    state : ComparisonState, optional
    presets : sequence of WindowPreset, optional
    annotations : Annotations, optional
        The outlines drawn over each view (an empty set by default).
    """

    def __init__(
        self,
        session: Session,
        registrations: RegistrationStore,
        state: ComparisonState | None = None,
        presets: Sequence[WindowPreset] | None = None,
        annotations: Annotations | None = None,
    ) -> None:
        self.session = session
        self.registrations = registrations
        self.annotations = annotations if annotations is not None else Annotations()
        self.state = state if state is not None else ComparisonState()
        self.presets = tuple(presets) if presets is not None else load_presets()
        self._centred = False
        self.reference_outlines: Reading | None = None
        """A reference reading drawn over the views in :data:`REFERENCE_RGB` (teaching
        feedback); None draws none. Set it only after a blind read was submitted."""
        self._slices: dict[tuple, SliceResult] = {}
        # small images only: a visit's volume is not kept alive for its thumbnail
        self._thumbnails: dict[str, np.ndarray] = {}
        # weak: a volume dropped from the session takes its box with it
        self._boxes: weakref.WeakKeyDictionary[Volume, tuple[np.ndarray, np.ndarray] | None] = (
            weakref.WeakKeyDictionary()
        )
        # connected before any view, so views never see the old case's series on a new catalogue
        session.catalog_changed.connect(self._on_catalog)
        session.status_changed.connect(self._maybe_centre)
        registrations.changed.connect(self._maybe_centre)

    # --- the case --------------------------------------------------------------------------

    def open_case(self, reference_key: str | None = None) -> None:
        """Show a newly opened case: the latest visit beside the previous one and the baseline.

        The reference series defaults to the baseline visit's contrast MRI.
        """
        visits = [v for p in self.session.catalog.patients for v in p.visits]
        chosen = [preferred_series(v) for v in visits]
        keys = [s.key for s in chosen if s is not None]
        # latest, previous, baseline, then the others from the latest back
        order = keys[::-1][:2] + keys[:1] + keys[::-1][2:-1] if len(keys) > 2 else keys[::-1]
        self._centred = False
        self._slices.clear()
        self._thumbnails.clear()
        self.reference_outlines = None  # another case's reading is never drawn over this one
        s = self.state
        # the new series first: observers of the other fields look them up in the new case
        s.panes = tuple((order + [None] * MAX_VIEWS)[:MAX_VIEWS])
        s.unlinked, s.ct_window, s.mr_window, s.mr_window_name = {}, None, None, AUTO_NAME
        s.zoom, s.pan_mm, s.active, s.pair_mode = 1.0, {}, 0, "off"
        s.pair = (0, 1)
        s.layout = {0: "1x1", 1: "1x1", 2: "1x2"}.get(len(keys), "1x3")
        self.registrations.reset(self.session.catalog, reference_key)
        self._maybe_centre()

    def keep_position(self) -> None:
        """Keep the crosshair where it is (a restored case), instead of centring on the head."""
        self._centred = True

    def _on_catalog(self) -> None:
        self.open_case()

    def set_reference(self, key: str) -> None:
        """Choose another reference series (every registration starts over)."""
        self.registrations.set_reference(key)
        self._centred = False
        self._maybe_centre()

    def visible_indices(self) -> range:
        """Indices of the views the layout shows."""
        return range(view_count(self.state.layout))

    def view_key(self, index: int) -> str | None:
        """The series a view shows (in the ``"ortho"`` layout: the active view's, in all three)."""
        if self.state.layout == "ortho":
            return self.state.panes[self.state.active]
        return self.state.panes[index] if 0 <= index < MAX_VIEWS else None

    def view_plane(self, index: int) -> str:
        """The plane a view shows."""
        return PLANES[index % 3] if self.state.layout == "ortho" else self.state.plane

    def keys_needed(self) -> list[str]:
        """Series to have loaded: the reference, then every shown view's, without repeats."""
        keys = [self.registrations.reference_key] + [
            self.view_key(i) for i in self.visible_indices()
        ]
        known = {s.key for s in self.session.catalog.all_series()}
        return [k for k in dict.fromkeys(keys) if k in known]

    def assign(self, index: int, key: str | None) -> None:
        """Show a series in a view (in the ``"ortho"`` layout: in all three)."""
        if not 0 <= index < MAX_VIEWS:
            raise ValueError(f"there is no view {index + 1}")
        target = self.state.active if self.state.layout == "ortho" else index
        panes = list(self.state.panes)
        panes[target] = key
        unlinked = dict(self.state.unlinked)
        unlinked.pop(target, None)  # the new series' window is the linked one
        self.state.unlinked = unlinked
        self.state.panes = tuple(panes)
        self._maybe_centre()

    def set_active(self, index: int) -> None:
        """Make a view the one keys and presets act on."""
        if index in self.visible_indices() and self.state.layout != "ortho":
            self.state.active = index

    def set_layout(self, layout: str) -> None:
        """Switch layout, keeping each view's series."""
        if layout not in LAYOUTS:
            raise ValueError(f"unknown layout {layout!r}; expected one of {tuple(LAYOUTS)}")
        if self.state.active >= view_count(layout) and layout != "ortho":
            self.state.active = 0
        self.state.layout = layout

    def set_plane(self, plane: str) -> None:
        """Show another plane in every view, fitted."""
        if plane not in PLANES:
            raise ValueError(f"unknown plane {plane!r}; expected one of {PLANES}")
        if plane != self.state.plane:
            self.state.zoom, self.state.pan_mm = 1.0, {}
            self.state.plane = plane

    # --- volumes and the reference frame ---------------------------------------------------

    def loaded(self, key: str | None) -> LoadedSeries | None:
        """The loaded series (no preview: a view needs the whole volume), or None."""
        found = self.session.loaded(key)
        return None if found is None or found.is_preview else found

    def _base(self) -> tuple[str, LoadedSeries] | None:
        """The series that defines slice positions: the reference, else the first shown one."""
        for key in self.keys_needed():
            found = self.loaded(key)
            if found is not None:
                return key, found
        return None

    def _maybe_centre(self, *_: object) -> None:
        if self._centred:
            return
        base = self._base()
        if base is not None:
            key, found = base
            self._centred = True
            self.state.crosshair_mm = tuple(  # type: ignore[assignment]
                float(v) for v in self._to_reference(key, found.volume.center_patient())
            )

    def _to_reference(self, key: str, point_mm: np.ndarray) -> np.ndarray:
        matrix = self.registrations.patient2reference(key)
        return np.asarray(point_mm, float) if matrix is None else apply_affine(matrix, point_mm)

    def positions(self, plane: str) -> SlicePositions | None:
        """Slice positions on a plane: those of the base series in the reference frame."""
        base = self._base()
        if base is None:
            return None
        key, found = base
        return slice_positions(
            found.volume, plane, patient2reference=self.registrations.patient2reference(key)
        )

    def base_grid(self, plane: str) -> PlaneGrid | None:
        """Grid that zoom 1 fits in a view: every shown visit's head, at the base pixel size.

        The head (:meth:`head_box`), not the scanner's field of view, fills the view, with a
        small margin, so heads are not small in the 1x3 layout.
        """
        volumes: list[tuple[Volume, np.ndarray | None]] = []
        boxes = []
        for key in self.keys_needed():
            found = self.loaded(key)
            if found is not None:
                volumes.append((found.volume, self.registrations.patient2reference(key)))
                boxes.append(self.head_box(found))
        if not volumes:
            return None
        return shared_grid(plane, volumes, boxes=boxes, margin=FIT_MARGIN)

    def head_box(self, found: LoadedSeries) -> tuple[np.ndarray, np.ndarray] | None:
        """Voxel index box of a volume's head (computed once per volume), or None if empty."""
        volume = found.volume
        if volume not in self._boxes:
            self._boxes[volume] = head_box(found)
        return self._boxes[volume]

    # --- navigation ------------------------------------------------------------------------

    def slice_index(self, index: int = 0) -> tuple[int, int] | None:
        """(0-based slice, count) of a view's plane among the base series' positions."""
        plane = self.view_plane(index)
        positions = self.positions(plane)
        if positions is None:
            return None
        axis = PLANE_AXIS_INDEX[plane]
        return positions.index_of(self.state.crosshair_mm[axis]), positions.count

    def scroll(self, steps: int, index: int | None = None) -> None:
        """Move every view ``steps`` slices along a view's plane (the active view's by default)."""
        plane = self.view_plane(self.state.active if index is None else index)
        positions = self.positions(plane)
        if positions is None:
            return
        axis = PLANE_AXIS_INDEX[plane]
        current = positions.index_of(self.state.crosshair_mm[axis])
        point = list(self.state.crosshair_mm)
        point[axis] = positions.position(current + steps)
        self.state.crosshair_mm = (point[0], point[1], point[2])

    def go_to_slice(self, slice_index: int, index: int | None = None) -> None:
        """Show slice ``slice_index`` (0-based, clamped) of a view's plane in every view."""
        current = self.slice_index(self.state.active if index is None else index)
        if current is not None:
            self.scroll(slice_index - current[0], index)

    def view_grid(self, index: int, viewport_px: tuple[int, int]) -> PlaneGrid | None:
        """The grid of a view's screen pixels (rows, columns) in the reference frame."""
        base = self.base_grid(self.view_plane(index))
        if base is None or viewport_px[0] < 1 or viewport_px[1] < 1:
            return None
        pan = self.pan_of(self.view_plane(index))
        return viewport_grid(base, viewport_px, zoom=self.state.zoom, pan_mm=pan)

    def pan_of(self, plane: str) -> tuple[float, float]:
        """The image offset of a plane's views, mm along (screen right, screen down)."""
        return self.state.pan_mm.get(plane, (0.0, 0.0))

    def point_at(self, index: int, viewport_px: tuple[int, int], row: float, column: float):
        """Reference-frame point (LPS mm, shape (3,)) under a view's screen pixel, or None."""
        grid = self.view_grid(index, viewport_px)
        if grid is None:
            return None
        axis = PLANE_AXIS_INDEX[grid.plane]
        return grid_point(grid, self.state.crosshair_mm[axis], row, column)

    def view_geometry(self, index: int, viewport_px: tuple[int, int]) -> ViewGeometry | None:
        """Where a view's screen pixels lie in the native grid of the series it shows.

        None until the series is loaded. Outlining tools use it to land strokes drawn on the
        resliced view in the visit's own grid.
        """
        key = self.view_key(index)
        grid = self.view_grid(index, viewport_px)
        found = self.loaded(key)
        if key is None or grid is None or found is None:
            return None
        position = link_views(self.state.crosshair_mm, [grid])[0].position_mm
        matrix = self.registrations.patient2reference(key)
        reference2patient = np.eye(4) if matrix is None else np.linalg.inv(matrix)
        slice2voxel = (
            found.volume.patient2voxel @ reference2patient @ grid.slice2reference(position)
        )
        return ViewGeometry(key, found.volume, slice2voxel, grid.pixel_mm)

    def probe(self, index: int, viewport_px: tuple[int, int], row: float, column: float) -> str:
        """The status line for the mouse over a view's screen pixel ("" outside any image).

        The visit, the value drawn there (trilinear in the reference frame, as on screen; HU for
        CT), and the point in the reference frame and in that visit's own patient coordinates.
        """
        key = self.view_key(index)
        grid = self.view_grid(index, viewport_px)
        if key is None or grid is None:
            return ""
        position = link_views(self.state.crosshair_mm, [grid])[0].position_mm
        result = self._slice(key, grid, position)
        found = self.loaded(key)
        if result is None or found is None:
            return ""
        point = grid_point(grid, position, row, column)
        matrix = self.registrations.patient2reference(key)
        own = point if matrix is None else apply_affine(np.linalg.inv(matrix), point)
        r, c = int(round(row)), int(round(column))
        inside = 0 <= r < grid.shape[0] and 0 <= c < grid.shape[1]
        inside = inside and (result.inside is None or bool(result.inside[r, c]))
        units = found.volume.metadata.units
        if not inside:
            value = "outside the image"
        else:
            number = float(result.values[r, c])
            text = f"{number:.0f}" if abs(number) >= 100 else f"{number:.3g}"
            value = f"value {text} {units}" if units else f"value {text} (MR signal, no unit)"
        where = f"reference {format_position(point)}"
        if not self.registrations.is_reference(key):
            where += f"   ·   own scanner {format_position(own)}"
        return f"View {index + 1} {self.series_label(key)}:  {value}   ·   {where}"

    def click(self, index: int, viewport_px: tuple[int, int], row: float, column: float) -> None:
        """Move the crosshair to the clicked point (in every view)."""
        point = self.point_at(index, viewport_px, row, column)
        if point is not None:
            self.state.crosshair_mm = (float(point[0]), float(point[1]), float(point[2]))

    def zoom_by(
        self,
        factor: float,
        fixed_point_mm: tuple[float, float] = (0.0, 0.0),
        index: int | None = None,
    ) -> None:
        """Magnify every view by ``factor``, keeping a point still in view ``index``.

        ``fixed_point_mm``: the point, mm from the view's centre (the active view by default);
        the other planes of the ``"ortho"`` layout keep their centres still.
        """
        old = self.state.zoom
        new = float(np.clip(old * factor, *ZOOM_LIMITS))
        if new == old:
            return
        plane = self.view_plane(self.state.active if index is None else index)
        pans = {}
        for other, pan in {plane: self.pan_of(plane), **self.state.pan_mm}.items():
            point = np.asarray(fixed_point_mm if other == plane else (0.0, 0.0), np.float64)
            new_pan = (point + np.asarray(pan)) * old / new - point
            pans[other] = (float(new_pan[0]), float(new_pan[1]))
        self.state.pan_mm = pans
        self.state.zoom = new

    def pan_by(self, right_mm: float, down_mm: float, index: int | None = None) -> None:
        """Move the image by mm along (screen right, screen down) in every view of a view's plane.

        ``index``: the view dragged (the active one by default).
        """
        plane = self.view_plane(self.state.active if index is None else index)
        right, down = self.pan_of(plane)
        self.state.pan_mm = {**self.state.pan_mm, plane: (right + right_mm, down + down_mm)}

    def reset(self) -> None:
        """Fit and centre every view, and restore the opening windows."""
        self.state.zoom, self.state.pan_mm = 1.0, {}
        self.state.ct_window, self.state.mr_window, self.state.unlinked = None, None, {}
        self.state.mr_window_name = AUTO_NAME
        self._centred = False
        self._maybe_centre()

    # --- window/level ----------------------------------------------------------------------

    def _is_ct(self, found: LoadedSeries) -> bool:
        return found.volume.metadata.modality == "CT" and found.volume.metadata.units == "HU"

    def _linked_mr_window(self) -> NormalisedWindow | None:
        if self.state.mr_window is not None:
            return self.state.mr_window
        for key in self.keys_needed():
            found = self.loaded(key)
            if found is not None and not self._is_ct(found):
                return NormalisedWindow.from_window(found.stats.auto_window, found.stats)
        return None

    def window_for(self, index: int) -> WindowLevel | None:
        """The window a view uses: its own if unlinked, else its modality's linked one."""
        if index in self.state.unlinked:
            return self.state.unlinked[index]
        found = self.loaded(self.view_key(index))
        return None if found is None else self._linked_window(found)

    def _linked_window(self, found: LoadedSeries) -> WindowLevel:
        if self._is_ct(found):
            return self.state.ct_window or found.default_window
        shared = self._linked_mr_window()
        if shared is None:
            return found.default_window
        return shared.to_window(found.stats, self.state.mr_window_name)

    def is_linked(self, index: int) -> bool:
        """Whether a view's window follows the other views of its modality."""
        return index not in self.state.unlinked

    def set_linked(self, index: int, linked: bool) -> None:
        """Link a view's window to its modality's, or give it its own (starting from the same)."""
        unlinked = dict(self.state.unlinked)
        if linked:
            unlinked.pop(index, None)
        else:
            window = self.window_for(index)
            if window is None:
                return
            unlinked[index] = window
        self.state.unlinked = unlinked

    def _set_window(self, index: int, window: WindowLevel) -> None:
        found = self.loaded(self.view_key(index))
        if found is None:
            return
        if index in self.state.unlinked:
            self.state.unlinked = {**self.state.unlinked, index: window}
        elif self._is_ct(found):
            self.state.ct_window = window
        else:
            # the name first: observers of mr_window read it
            self.state.mr_window_name = window.name
            self.state.mr_window = NormalisedWindow.from_window(window, found.stats)

    def drag_window(self, index: int, right_px: float, down_px: float) -> None:
        """Change a view's window as a mouse drag does (right: wider, down: higher level)."""
        found, window = self.loaded(self.view_key(index)), self.window_for(index)
        if found is None or window is None:
            return
        span = max(window.width, (found.stats.range_high - found.stats.range_low) / 10.0, 1e-6)
        per_px = span / WINDOW_DRAG_PIXELS
        width = max(window.width + right_px * per_px, span * 1e-3)
        self._set_window(index, WindowLevel(window.level + down_px * per_px, width, "Custom"))

    def apply_preset(self, name: str, index: int | None = None) -> None:
        """Apply a window preset to a view (the active one by default) and the views linked to it.

        CT presets apply to CT views only; ``"Auto"`` gives the automatic window.
        """
        index = self.state.active if index is None else index
        found = self.loaded(self.view_key(index))
        if found is None:
            return
        if name == AUTO_NAME:
            self._set_window(index, found.stats.auto_window)
            return
        for preset in self.presets:
            if preset.name == name and preset.applies_to(found.volume.metadata.modality):
                self._set_window(index, preset.window)
                return

    # --- labels ----------------------------------------------------------------------------

    def thumbnail(self, key: str, size_px: int = THUMBNAIL_PX) -> np.ndarray | None:
        """A visit's thumbnail: made in the background (:meth:`store_thumbnail`) or when loaded.

        Returns
        -------
        ndarray of uint8, shape (size_px, size_px, 4), or None
            None while the series is neither loaded nor thumbnailed in the background.
        """
        stored = self._thumbnails.get(key)
        if stored is not None and stored.shape[:2] == (size_px, size_px):
            return stored
        found = self.loaded(key)
        if found is None:
            return None
        rgba = series_thumbnail(found, size_px, box=self.head_box(found))
        if size_px == THUMBNAIL_PX:
            self._thumbnails[key] = rgba
        return rgba

    def store_thumbnail(self, key: str, rgba: np.ndarray) -> None:
        """Keep a thumbnail made in the background (:func:`series_thumbnail`) for this case."""
        if key in {s.key for s in self.session.catalog.all_series()}:
            self._thumbnails[key] = rgba

    def thumbnails_missing(self) -> list[str]:
        """Visits' strip series (:func:`preferred_series`) with no thumbnail and not loaded."""
        missing = []
        for patient in self.session.catalog.patients:
            for visit in patient.visits:
                chosen = preferred_series(visit)
                if chosen is None or chosen.key in self._thumbnails:
                    continue
                if self.loaded(chosen.key) is None:
                    missing.append(chosen.key)
        return missing

    def baseline_date(self) -> dt.date | None:
        """Date of the first dated visit."""
        dates = [v.date for p in self.session.catalog.patients for v in p.visits if v.date]
        return min(dates) if dates else None

    def date_label(self, date: dt.date | None, text: ViewText = SCREEN_TEXT) -> str:
        """A visit's date, or "Day N" after the baseline visit, as ``text`` or the state asks."""
        if date is None:
            return "Undated visit"
        baseline = self.baseline_date()
        date_format = text.date_format or self.state.date_format
        if date_format == "day" and baseline is not None:
            days = (date - baseline).days
            return "Day 0 (baseline)" if days == 0 else f"Day {days}"
        return date.isoformat()

    def series_label(self, key: str, text: ViewText = SCREEN_TEXT) -> str:
        """One line naming a series: visit label, modality and description (if ``text`` allows)."""
        entry: SeriesEntry = self.session.entry(key)
        date = self.date_label(self.session.visit_of(key).date, text)
        return f"{date}  {entry.modality} {self._description(entry, text)}".strip()

    @staticmethod
    def _description(entry: SeriesEntry, text: ViewText) -> str:
        if text.descriptions:
            return entry.description
        return "contrast-enhanced" if entry.contrast_agent else ""

    def registration_text(self, key: str) -> str:
        """The registration state as a view shows it."""
        if self.registrations.is_reference(key):
            return REFERENCE_TEXT
        return STATE_TEXT[self.registrations.state(key)]

    # --- frames ----------------------------------------------------------------------------

    def _slice(self, key: str, grid: PlaneGrid, position_mm: float) -> SliceResult | None:
        found = self.loaded(key)
        if found is None:
            return None
        matrix = self.registrations.patient2reference(key)
        cache_key = (
            id(found.volume),
            grid.plane,
            position_mm,
            tuple(grid.origin_mm),
            grid.pixel_mm,
            grid.shape,
            None if matrix is None else matrix.tobytes(),
        )
        # a local result: an export drawing a view in a worker may share this cache with the
        # screen, and a clear by the other thread must not lose the slice just cut
        result = self._slices.get(cache_key)
        if result is None:
            if len(self._slices) > 4 * MAX_VIEWS:
                self._slices.clear()
            request = SliceRequest(found.volume, grid.plane, position_mm, matrix, grid)
            result = reslice(request)
            self._slices[cache_key] = result
        return result

    def _rgba(self, index: int, result: SliceResult) -> np.ndarray | None:
        window = self.window_for(index)
        if window is None:
            return None
        return colorize(
            apply_window(result.values, window.level, window.width), inside=result.inside
        )

    def set_pair_mode(self, mode: str, pair: tuple[int, int] | None = None) -> None:
        """Blend two views (``pair``: view indices; the current pair by default) in the first."""
        if mode not in PAIR_MODES:
            raise ValueError(f"unknown pair mode {mode!r}; expected one of {PAIR_MODES}")
        if pair is not None:
            if pair[0] == pair[1] or not all(0 <= i < MAX_VIEWS for i in pair):
                raise ValueError(f"a pair needs two different views, got {pair}")
            self.state.pair = (int(pair[0]), int(pair[1]))
        self.state.flicker_phase = 0
        self.state.pair_mode = mode

    def pair_keys(self) -> tuple[str, str] | None:
        """The two series a pair mode compares, if it is on and both views show a series."""
        if self.state.pair_mode == "off" or self.state.layout == "ortho":
            return None
        first, second = (self.view_key(i) for i in self.state.pair)
        if first is None or second is None or first == second:
            return None
        return first, second

    def frame(
        self,
        index: int,
        viewport_px: tuple[int, int],
        text: ViewText = SCREEN_TEXT,
        *,
        scale: int = 1,
    ) -> PaneFrame | None:
        """What view ``index`` paints at ``viewport_px`` (rows, columns); None until loaded.

        ``text`` limits what its corner text says (an export without identity); ``scale`` is how
        many pixels stand for one screen pixel (2 for a picture at twice the screen's size), so
        outlines are drawn as thick relative to the image as on screen.
        """
        key = self.view_key(index)
        grid = self.view_grid(index, viewport_px)
        if key is None or grid is None:
            return None
        linked = link_views(self.state.crosshair_mm, [grid])[0]
        result = self._slice(key, grid, linked.position_mm)
        if result is None:
            return None
        rgba = self._rgba(index, result)
        if rgba is None:
            return None
        pair = self.pair_keys()
        legend, labels = None, ()
        if pair is not None and index == self.state.pair[0]:
            rgba, legend, pair_lines = self._pair_frame(
                grid, linked.position_mm, rgba, result, text
            )
        else:
            pair_lines = []
            rgba, labels = self._with_outlines(key, grid, linked.position_mm, rgba, scale)
        corners = self._corners(index, key, grid, linked.position_mm, pair_lines, text)
        registration = (
            None if self.registrations.is_reference(key) else self.registrations.state(key)
        )
        return PaneFrame(
            rgba=rgba,
            grid=grid,
            position_mm=linked.position_mm,
            crosshair_px=linked.crosshair_px,
            letters=edge_letters(grid.slice2reference(linked.position_mm)),
            corners=corners,
            registration=registration,
            legend=legend,
            lesion_labels=labels,
        )

    def _with_outlines(
        self, key: str, grid: PlaneGrid, position_mm: float, rgba: np.ndarray, scale: int
    ) -> tuple[np.ndarray, tuple[LesionLabel, ...]]:
        """The view's pixels with the series' outlines (and tool preview) drawn over them.

        Also where each outlined lesion is named.
        """
        found = self.loaded(key)
        if found is None:
            return rgba, ()
        notes = self.annotations
        matrix = self.registrations.patient2reference(key)
        cut = outline_slice(notes, key, found.volume, grid, position_mm, matrix)
        rgba = draw_outlines(rgba, notes, key, found.volume, grid, position_mm, matrix,
                             edge_px=scale, cut=cut)  # fmt: skip
        rgba = self._with_reference(key, found.volume, grid, position_mm, matrix, rgba, scale)
        if cut is None or not notes.style.visible:
            return rgba, ()
        colours = notes.colours()
        labels = tuple(
            LesionLabel(number, colours[number], row, column)
            for number, (row, column) in lesion_anchors(cut, notes.style.hidden).items()
            if number in colours
        )
        return rgba, labels

    def reference_labels(self, key: str, volume: Volume) -> np.ndarray | None:
        """The reference reading's label map of a series, if it was drawn on this grid.

        None when no reference is shown, it has no outlines there, or they were drawn on
        another grid (refused rather than drawn in the wrong place).
        """
        reading = self.reference_outlines
        if reading is None:
            return None
        outlines = reading.series.get(key)
        if outlines is None or outlines.grid_problem(volume) is not None:
            return None
        return outlines.labels

    def _with_reference(
        self,
        key: str,
        volume: Volume,
        grid: PlaneGrid,
        position_mm: float,
        matrix: np.ndarray | None,
        rgba: np.ndarray,
        scale: int,
    ) -> np.ndarray:
        """The reference's outlines over the view, outline only, all in :data:`REFERENCE_RGB`."""
        labels = self.reference_labels(key, volume)
        if labels is None:
            return rgba
        cut = label_slice(labels, volume.voxel2patient, grid, position_mm, matrix)
        if not cut.any():
            return rgba
        colours = self.reference_outlines.colours(REFERENCE_RGB)  # type: ignore[union-attr]
        overlay = overlay_rgba(cut, colours, opacity=0.0, outline=True, edge_px=scale)
        return blend(rgba, overlay)

    def _pair_frame(
        self,
        grid: PlaneGrid,
        position_mm: float,
        first_rgba: np.ndarray,
        first: SliceResult,
        text: ViewText,
    ) -> tuple[np.ndarray, DivergingScale | None, list[str]]:
        """Blend the pair's two views in the first one's pixels."""
        mode = self.state.pair_mode
        first_key, second_key = self.pair_keys()  # type: ignore[misc]
        second = self._slice(second_key, grid, position_mm)
        second_rgba = None if second is None else self._rgba(self.state.pair[1], second)
        if second is None or second_rgba is None:
            return first_rgba, None, [f"{PAIR_NAMES[mode]}: waiting for the second visit"]
        names = f"{self.series_label(first_key, text)}  ⇄  {self.series_label(second_key, text)}"
        if mode == "fade":
            line = f"Fade {self.state.fade * 100:.0f}% towards view {self.state.pair[1] + 1}"
            return fade(first_rgba, second_rgba, self.state.fade), None, [line, names]
        if mode == "checkerboard":
            right, down, _ = plane_axes(grid.plane)
            # squares fixed in the reference frame: they stay on the anatomy when panning
            rgba = checkerboard(
                first_rgba,
                second_rgba,
                square_mm=self.state.checker_mm,
                pixel_mm=grid.pixel_mm,
                anchor_mm=(float(grid.origin_mm @ right), float(grid.origin_mm @ down)),
            )
            return rgba, None, [f"Checkerboard {self.state.checker_mm:g} mm squares", names]
        if mode == "flicker":
            shown = (first_key, second_key)[self.state.flicker_phase % 2]
            rgba = (first_rgba, second_rgba)[self.state.flicker_phase % 2]
            return rgba, None, [f"Flicker: now {self.series_label(shown, text)}", names]
        return self._subtraction(first_key, second_key, first, second, first_rgba, text)

    def _subtraction(
        self,
        first_key: str,
        second_key: str,
        first: SliceResult,
        second: SliceResult,
        first_rgba: np.ndarray,
        text: ViewText,
    ) -> tuple[np.ndarray, DivergingScale | None, list[str]]:
        dates = [self.session.visit_of(k).date or dt.date.min for k in (first_key, second_key)]
        later_is_first = dates[0] >= dates[1]
        later_key, earlier_key = (
            (first_key, second_key) if later_is_first else (second_key, first_key)
        )
        later, earlier = (first, second) if later_is_first else (second, first)
        later_found, earlier_found = self.loaded(later_key), self.loaded(earlier_key)
        assert later_found is not None and earlier_found is not None
        try:
            difference = subtract(
                later,
                earlier,
                later_normalisation=normalisation(later_found.volume, later_found.stats),
                earlier_normalisation=normalisation(earlier_found.volume, earlier_found.stats),
            )
        except ValueError as exc:
            return first_rgba, None, [f"Subtraction not possible: {exc}"]
        scale = (
            DivergingScale.default(difference.units)
            if self.state.subtraction_limit is None
            else DivergingScale(self.state.subtraction_limit, difference.units)
        )
        line = (
            f"Subtraction: {self.series_label(later_key, text)} minus "
            f"{self.date_label(self.session.visit_of(earlier_key).date, text)}"
        )
        return scale.to_rgba(difference), scale, [line, "red: brighter later · blue: darker"]

    def _corners(
        self,
        index: int,
        key: str,
        grid: PlaneGrid,
        position_mm: float,
        pair_lines: list[str],
        text: ViewText,
    ) -> dict[str, list[str]]:
        entry, visit = self.session.entry(key), self.session.visit_of(key)
        top_left = [
            self.date_label(visit.date, text),
            f"{entry.modality}  {self._description(entry, text)}".strip(),
        ]
        if entry.contrast_agent and text.descriptions:
            top_left.append(f"Contrast: {entry.contrast_agent}")
        top_left.append(self.registration_text(key))
        if self.reference_outlines is not None:
            top_left.append(REFERENCE_LEGEND)
        top_left += pair_lines
        axis = PLANE_AXIS_INDEX[grid.plane]
        top_right = [grid.plane.capitalize(), format_plane_position(axis, position_mm)]
        slice_index = self.slice_index(index)
        if slice_index is not None:
            top_right[0] += f"  {slice_index[0] + 1} / {slice_index[1]}"
        window = self.window_for(index)
        linked = "" if self.is_linked(index) else ", own window"
        found = self.loaded(key)
        units = " HU" if found is not None and self._is_ct(found) else ""
        bottom_left = [f"View {index + 1}"]
        if window is not None:
            bottom_left.append(
                f"W {window.width:.0f}  L {window.level:.0f}{units}  ({window.name}{linked})"
            )
        bottom_left.append(f"Zoom {self.state.zoom * 100:.0f}%")
        return {"top_left": top_left, "top_right": top_right, "bottom_left": bottom_left}
