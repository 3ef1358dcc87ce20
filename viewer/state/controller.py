"""What user actions mean for the view state, and the frame a slice view paints (no Qt).

The UI turns mouse and key events into calls here and repaints when the state announces a change;
everything a view shows (the RGBA slice, letters, scale, text) is computed here, so it is tested
without a window and an export can draw exactly what the screen shows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from viewer.core.geometry import apply_affine
from viewer.display.annotations import (
    EdgeLetters,
    edge_letters,
    format_plane_position,
    format_position,
)
from viewer.display.slicing import (
    PLANE_AXIS_INDEX,
    PLANES,
    SlicePositions,
    SliceRequest,
    SliceResult,
    plane_grid,
    reslice,
    slice_positions,
)
from viewer.display.window import (
    WindowLevel,
    WindowPreset,
    apply_window,
    colorize,
    composite,
    hatch,
    load_presets,
)
from viewer.state.annotations import Annotations, draw_outlines
from viewer.state.session import LoadedSeries, LoadStatus, Session
from viewer.state.view import ZOOM_LIMITS, ViewState

WINDOW_DRAG_PIXELS = 256
"""Dragging this many screen pixels changes the window by about its own width."""


@dataclass(frozen=True, eq=False)
class Frame:
    """Everything a slice view paints for the current state.

    Attributes
    ----------
    rgba : ndarray of uint8, shape (rows, columns, 4)
        The windowed slice; transparent where there is no data.
    slice : SliceResult
        Values and geometry (``slice2patient``, ``pixel_mm``).
    index, count : int
        0-based slice number and number of slices on this plane.
    letters : EdgeLetters
        Patient direction at each screen edge.
    corners : dict of str to list of str
        Text for the ``"top_left"``, ``"top_right"``, ``"bottom_left"`` corners.
    """

    rgba: np.ndarray
    slice: SliceResult
    index: int
    count: int
    letters: EdgeLetters
    corners: dict[str, list[str]]


@dataclass(frozen=True)
class Probe:
    """The voxel under the mouse.

    Attributes
    ----------
    patient_mm : ndarray of shape (3,)
        The pointed position in the series' patient coordinates (LPS mm).
    voxel : tuple of 3 int or None
        (slice, row, column) of the nearest voxel; None outside the volume.
    value : float or None
        Its value (None outside, or in a slice that could not be read).
    units : str
        ``"HU"`` for CT; ``""`` for MRI (no absolute unit).
    """

    patient_mm: np.ndarray
    voxel: tuple[int, int, int] | None
    value: float | None
    units: str

    def describe(self) -> str:
        """Write the probe for the status bar."""
        where = format_position(self.patient_mm)
        if self.voxel is None:
            return f"{where}  (outside the image)"
        voxel = f"voxel (slice {self.voxel[0] + 1}, row {self.voxel[1]}, col {self.voxel[2]})"
        if self.value is None:
            return f"{where}  {voxel}: not readable"
        value = f"{self.value:.0f}" if float(self.value).is_integer() else f"{self.value:.4g}"
        units = f" {self.units}" if self.units else " (MR signal, no unit)"
        return f"Value {value}{units}   {where}   {voxel}"


class ViewController:
    """Interprets user actions on one slice view.

    Parameters
    ----------
    session : Session
        Where loaded series come from.
    view : ViewState, optional
        The state to drive; a new one by default.
    presets : sequence of WindowPreset, optional
        Window presets; read from ``resources/window_presets.json`` by default.
    annotations : Annotations, optional
        Outlines drawn over the slice (none by default).
    """

    def __init__(
        self,
        session: Session,
        view: ViewState | None = None,
        presets: Sequence[WindowPreset] | None = None,
        annotations: Annotations | None = None,
    ) -> None:
        self.session = session
        self.annotations = annotations
        self.view = view if view is not None else ViewState()
        self.presets = tuple(presets) if presets is not None else load_presets()
        self._slice_cache: tuple[tuple, SliceResult] | None = None
        self._shown_frame_of_reference = ""
        self._shown_key: str | None = None
        self._preview_windows: dict[str, WindowLevel] = {}
        session.status_changed.connect(self._on_status_changed)
        session.preview_changed.connect(self._on_preview_changed)

    # --- selection -------------------------------------------------------------------------

    @property
    def current(self) -> LoadedSeries | None:
        """Return the selected series if it is loaded."""
        return self.session.loaded(self.view.series_key)

    def select_series(self, key: str | None) -> None:
        """Show another series (the UI starts loading it if needed)."""
        self.view.series_key = key
        if self.current is not None:
            self._arrive(key)

    def _on_status_changed(self, key: str) -> None:
        if key == self.view.series_key and self.session.status(key) is LoadStatus.LOADED:
            self._arrive(key)

    def _on_preview_changed(self, key: str) -> None:
        if key == self.view.series_key:
            self._arrive(key)

    def _arrive(self, key: str | None) -> None:
        """Set up the view for a series that has just become available (or its preview)."""
        loaded = self.current
        if loaded is None or key is None:
            return
        preview_window = self._preview_windows.pop(key, None)
        if key not in self.view.windows or self.view.windows[key] is preview_window:
            # A window taken from a preview's few slices gives way to the whole series' one,
            # unless the user has changed it meanwhile.
            self.view.set_window(key, loaded.default_window)
        if loaded.is_preview:
            self._preview_windows[key] = self.view.windows[key]
        frame_of_reference = self.session.entry(key).frame_of_reference_uid
        keep_focus = key == self._shown_key or (
            bool(frame_of_reference) and frame_of_reference == self._shown_frame_of_reference
        )
        self._shown_frame_of_reference = frame_of_reference
        self._shown_key = key
        centre = loaded.volume.center_patient() if not keep_focus else self.view.focus_mm
        self._set_focus(centre)
        if not keep_focus:
            self.view.zoom, self.view.pan_mm = 1.0, (0.0, 0.0)

    # --- navigation ------------------------------------------------------------------------

    def positions(self, plane: str | None = None) -> SlicePositions | None:
        """Return the current series' slice positions on a plane (by default the shown one)."""
        loaded = self.current
        if loaded is None:
            return None
        return slice_positions(loaded.volume, plane or self.view.plane)

    def _set_focus(self, point_mm: Sequence[float]) -> None:
        """Move the focus to a point, snapped to the nearest slice on every plane."""
        snapped = [float(v) for v in point_mm]
        for plane in PLANES:
            positions = self.positions(plane)
            if positions is not None:
                axis = PLANE_AXIS_INDEX[plane]
                snapped[axis] = positions.snap(snapped[axis])
        self.view.focus_mm = (snapped[0], snapped[1], snapped[2])

    def slice_index(self) -> tuple[int, int] | None:
        """Return (0-based index, count) of the shown slice."""
        positions = self.positions()
        if positions is None:
            return None
        return positions.index_of(self.view.focus_mm[PLANE_AXIS_INDEX[self.view.plane]]), (
            positions.count
        )

    def go_to_slice(self, index: int) -> None:
        """Show slice ``index`` (0-based, clamped) on the current plane."""
        positions = self.positions()
        if positions is None:
            return
        focus = list(self.view.focus_mm)
        focus[PLANE_AXIS_INDEX[self.view.plane]] = positions.position(index)
        self.view.focus_mm = (focus[0], focus[1], focus[2])

    def scroll(self, steps: int) -> None:
        """Move ``steps`` slices (positive: towards Superior, Posterior or Left)."""
        current = self.slice_index()
        if current is not None:
            self.go_to_slice(current[0] + steps)

    def set_plane(self, plane: str) -> None:
        """Show another plane through the same focus point, fitted to the view."""
        if plane not in PLANES:
            raise ValueError(f"unknown plane {plane!r}; expected one of {PLANES}")
        if plane != self.view.plane:
            # a zoom and pan chosen on one plane point at unrelated anatomy on another
            self.view.zoom, self.view.pan_mm = 1.0, (0.0, 0.0)
            self.view.plane = plane

    def zoom_by(self, factor: float, fixed_point_mm: tuple[float, float] = (0.0, 0.0)) -> None:
        """Magnify by ``factor``, keeping a point still on screen.

        Parameters
        ----------
        factor : float
            > 1 zooms in.
        fixed_point_mm : tuple of 2 float
            The point that stays under the mouse, in mm along (screen right, screen down) from
            the slice centre; the slice centre by default.
        """
        old = self.view.zoom
        new = float(np.clip(old * factor, *ZOOM_LIMITS))
        if new == old:
            return
        pan = np.asarray(self.view.pan_mm)
        point = np.asarray(fixed_point_mm, dtype=np.float64)
        # screen offset of the point is (point + pan) * zoom; keep it
        new_pan = (point + pan) * old / new - point
        self.view.pan_mm = (float(new_pan[0]), float(new_pan[1]))
        self.view.zoom = new

    def pan_by(self, right_mm: float, down_mm: float) -> None:
        """Move the slice on screen by a distance measured in the slice (mm)."""
        self.view.pan_mm = (self.view.pan_mm[0] + right_mm, self.view.pan_mm[1] + down_mm)

    def reset(self) -> None:
        """Fit the slice, centre it, and restore the series' opening window."""
        self.view.zoom, self.view.pan_mm = 1.0, (0.0, 0.0)
        loaded = self.current
        if loaded is not None and self.view.series_key:
            self.view.set_window(self.view.series_key, loaded.default_window)

    # --- window/level ----------------------------------------------------------------------

    def presets_for_current(self) -> list[WindowPreset]:
        """Return the presets that make sense for the selected series (HU presets only for CT)."""
        key = self.view.series_key
        modality = self.session.entry(key).modality if key else ""
        return [p for p in self.presets if p.applies_to(modality)]

    def apply_preset(self, name: str) -> None:
        """Use a named preset, or ``"Auto"`` for the automatic (percentile) window."""
        key, loaded = self.view.series_key, self.current
        if key is None or loaded is None:
            return
        if name == loaded.stats.auto_window.name:
            self.view.set_window(key, loaded.stats.auto_window)
            return
        preset = next((p for p in self.presets if p.name == name), None)
        if preset is None:
            raise KeyError(f"no window preset named {name!r}")
        self.view.set_window(key, preset.window)

    def drag_window(self, right_px: float, down_px: float) -> None:
        """Change the window as a mouse drag does in every PACS.

        Dragging right widens the window (less contrast), dragging down raises the level (darker
        image). The speed follows the window width, with a floor of a tenth of the intensity range
        so a very narrow window can still be opened up.
        """
        key, loaded, window = self.view.series_key, self.current, self.view.window
        if key is None or loaded is None or window is None:
            return
        span = max(window.width, (loaded.stats.range_high - loaded.stats.range_low) / 10.0, 1e-6)
        per_px = span / WINDOW_DRAG_PIXELS
        width = max(window.width + right_px * per_px, span * 1e-3)
        level = window.level + down_px * per_px
        self.view.set_window(key, WindowLevel(level, width, "Custom"))

    # --- output ----------------------------------------------------------------------------

    def current_slice(self) -> SliceResult | None:
        """Return the shown slice (cached while series, plane and position stay the same)."""
        loaded = self.current
        if loaded is None:
            return None
        position = self.view.focus_mm[PLANE_AXIS_INDEX[self.view.plane]]
        slices_read = None if loaded.filled is None else int(np.count_nonzero(loaded.filled))
        cache_key = (id(loaded.volume), self.view.plane, position, slices_read)
        if self._slice_cache is None or self._slice_cache[0] != cache_key:
            request = SliceRequest(loaded.volume, self.view.plane, position)
            self._slice_cache = (cache_key, reslice(request))
        return self._slice_cache[1]

    def frame(self) -> Frame | None:
        """Return what the view should paint now, or None while nothing is loaded."""
        key, window, index = self.view.series_key, self.view.window, self.slice_index()
        result = self.current_slice()
        if key is None or result is None or window is None or index is None:
            return None
        grey = apply_window(result.values, window.level, window.width)
        rgba = colorize(grey, inside=result.inside)
        if result.unreadable is not None:
            rgba = composite(rgba, hatch(result.unreadable))
        rgba = self._with_outlines(key, rgba)
        return Frame(
            rgba=rgba,
            slice=result,
            index=index[0],
            count=index[1],
            letters=edge_letters(result.slice2patient),
            corners=self._corner_text(key, result, window, index),
        )

    def _with_outlines(self, key: str, rgba: np.ndarray) -> np.ndarray:
        """The slice's pixels with the series' outlines drawn over (as in the linked views)."""
        loaded = self.current
        if self.annotations is None or loaded is None:
            return rgba
        plane = self.view.plane
        position = self.view.focus_mm[PLANE_AXIS_INDEX[plane]]
        grid = plane_grid(loaded.volume, plane)
        return draw_outlines(rgba, self.annotations, key, loaded.volume, grid, position, None)

    def _corner_text(
        self, key: str, result: SliceResult, window: WindowLevel, index: tuple[int, int]
    ) -> dict[str, list[str]]:
        entry, visit = self.session.entry(key), self.session.visit_of(key)
        axis = PLANE_AXIS_INDEX[self.view.plane]
        top_left = [_visit_label(visit.date), f"{entry.modality}  {entry.description}".strip()]
        if entry.contrast_agent:
            top_left.append(f"Contrast: {entry.contrast_agent}")
        top_right = [
            f"{self.view.plane.capitalize()}  {index[0] + 1} / {index[1]}",
            format_plane_position(axis, self.view.focus_mm[axis]),
        ]
        if result.touches_unreadable:
            top_right.append("Hatched: slice data could not be read")
        loaded = self.current
        if loaded is not None and loaded.filled is not None:
            read = int(np.count_nonzero(loaded.filled))
            top_right.append(f"Reading slices: {read} of {loaded.filled.size}")
        warnings = len(entry.warnings) + len(self._volume_warnings())
        if warnings:
            top_right.append(
                f"⚠ {warnings} warning{'s' if warnings > 1 else ''}: see the case panel"
            )
        units = " HU" if self.current and self.current.volume.metadata.units == "HU" else ""
        bottom_left = [
            f"W {window.width:.0f}  L {window.level:.0f}{units}  ({window.name})",
            f"Zoom {self.view.zoom * 100:.0f}%   pixel {result.pixel_mm:.2f} mm",
        ]
        return {"top_left": top_left, "top_right": top_right, "bottom_left": bottom_left}

    def _volume_warnings(self) -> tuple[str, ...]:
        loaded = self.current
        return loaded.volume.metadata.warnings if loaded is not None else ()

    def probe(self, row: float, column: float) -> Probe | None:
        """Describe the voxel at a (fractional) slice pixel, e.g. under the mouse."""
        loaded, result = self.current, self.current_slice()
        if loaded is None or result is None:
            return None
        volume = loaded.volume
        point = apply_affine(result.slice2patient, (row, column, 0.0))
        voxel = np.round(apply_affine(volume.patient2voxel, point)).astype(int)
        units = volume.metadata.units
        if np.any(voxel < 0) or np.any(voxel >= volume.shape):
            return Probe(point, None, None, units)
        index = (int(voxel[0]), int(voxel[1]), int(voxel[2]))
        not_read = loaded.filled is not None and not loaded.filled[index[0]]
        if not_read or index[0] in volume.metadata.incomplete_slices:
            return Probe(point, index, None, units)
        return Probe(point, index, float(volume.array[index]), units)


def _visit_label(date: dt.date | None) -> str:
    return f"Visit {date.isoformat()}" if date else "Visit (undated)"
