"""What the mouse does with an outlining tool on a view, in the visit's native grid (no Qt).

A view hands over its :class:`ViewGeometry`: the series it shows and ``slice2voxel``, the map of
its screen pixels (and the offset along its normal) onto that series' native voxel indices. So a
stroke on a visit resliced through its registration lands in the visit's own grid, where the
label map lives and where the measurements are made.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from psygnal import Signal, evented

from viewer.core.transform import Transform
from viewer.core.volume import Volume
from viewer.segmentation import (
    carry_forward,
    fill_between_slices,
    fill_holes,
    grow_from_seed,
    paint_ball,
    refit,
    remove_islands,
    smooth,
)
from viewer.segmentation.plane import aligned_axis, fill_polygon_on_plane, native_point, paint_disc
from viewer.state.annotations import Annotations, Box, Proposal

BRUSH_RADIUS_LIMITS_MM = (0.5, 30.0)
SENSITIVITY_LIMITS = (0.2, 3.0)
SMOOTH_RADIUS_MM = 1.5
ISLAND_MIN_ML = 0.02


class Tool(enum.Enum):
    """What a left click on a view does."""

    NAVIGATE = "navigate"
    BRUSH = "brush"
    ERASER = "eraser"
    CONTOUR = "contour"
    POLYGON = "polygon"
    GROW = "grow"


@evented
@dataclass
class ToolSettings:
    """The outlining tool and its options. Every field change emits ``settings.events.<field>``.

    Attributes
    ----------
    tool : Tool
    brush_radius_mm : float
    brush_3d : bool
        The brush paints a ball through the slices instead of a disc on the view plane.
    limit_to_range : bool
        The brush paints only voxels with ``range_low <= value <= range_high`` (image units),
        e.g. only the enhancing voxels.
    range_low, range_high : float
    cut : bool
        Contours and polygons cut out of the lesion instead of adding to it.
    grow_sensitivity : float
        Click-to-grow's slider: the accepted intensity range in robust SDs / 2.5.
    refine : bool
        Click-to-grow refines its region with an active contour (morphological Chan-Vese).
    """

    tool: Tool = Tool.NAVIGATE
    brush_radius_mm: float = 3.0
    brush_3d: bool = False
    limit_to_range: bool = False
    range_low: float = 0.0
    range_high: float = 1000.0
    cut: bool = False
    grow_sensitivity: float = 1.0
    refine: bool = False


@dataclass(frozen=True, eq=False)
class ViewGeometry:
    """Where a view's pixels lie in the native grid of the series it shows.

    Attributes
    ----------
    key : str
        The series shown.
    volume : Volume
        Its image, on its native grid.
    slice2voxel : ndarray of shape (4, 4)
        (screen row, screen column, offset mm along the view normal, 1) -> native (slice, row,
        column, 1).
    pixel_mm : float
        Edge of a screen pixel in mm.
    """

    key: str
    volume: Volume
    slice2voxel: np.ndarray
    pixel_mm: float


@dataclass
class _Seed:
    view: ViewGeometry
    voxel: tuple[int, int, int]
    lesion: int


class OutliningController:
    """Turns presses, drags and releases on views into edits of :class:`Annotations`.

    Parameters
    ----------
    annotations : Annotations
    transform_of : callable
        ``transform_of(series_key) -> Transform``: the series' registration to the reference.

    Signals
    -------
    message(str)
        A short status line (what the tool did, or why it did nothing).
    """

    message = Signal(str)

    def __init__(self, annotations: Annotations, transform_of: Callable[[str], Transform]) -> None:
        self.annotations = annotations
        self.settings = ToolSettings()
        self._transform_of = transform_of
        self._last_px: tuple[float, float] | None = None
        self._path: list[tuple[float, float]] = []
        self._path_view: ViewGeometry | None = None
        self._seed: _Seed | None = None
        self.settings.events.grow_sensitivity.connect(self._regrow)
        self.settings.events.refine.connect(self._regrow)
        self.settings.events.tool.connect(self._tool_changed)

    # --- mouse -----------------------------------------------------------------------------

    @property
    def active(self) -> bool:
        """A left click edits (a tool other than navigation is chosen and the case is writable)."""
        return self.settings.tool is not Tool.NAVIGATE and not self.annotations.read_only

    @property
    def path(self) -> list[tuple[float, float]]:
        """Screen points (row, column) of the contour or polygon being drawn."""
        return list(self._path)

    def press(self, view: ViewGeometry, row: float, column: float) -> None:
        """Left button down on a view at a screen pixel."""
        tool = self.settings.tool
        if not self.active:
            return
        if tool in (Tool.BRUSH, Tool.ERASER):
            eraser = tool is Tool.ERASER
            name = "Erase" if eraser else "Brush"
            self.annotations.begin_stroke(
                view.key,
                view.volume.shape,
                erase=eraser,
                description=f"{name} on {self._lesion_label()}",
            )
            self._last_px = (row, column)
            self._dab(view, row, column)
        elif tool is Tool.CONTOUR:
            self._path, self._path_view = [(row, column)], view
        elif tool is Tool.POLYGON:
            if self._path_view is not None and self._path_view.key != view.key:
                self._path = []
            self._path_view = view
            self._path.append((row, column))
        elif tool is Tool.GROW:
            self.grow(view, row, column)

    def move(self, view: ViewGeometry, row: float, column: float) -> None:
        """Mouse moved with the left button down."""
        tool = self.settings.tool
        if tool in (Tool.BRUSH, Tool.ERASER) and self.annotations.stroking:
            last = self._last_px or (row, column)
            # dabs at most half a radius apart, so a fast drag leaves no gaps
            step_px = max(self.settings.brush_radius_mm / view.pixel_mm / 2.0, 0.5)
            distance = float(np.hypot(row - last[0], column - last[1]))
            count = max(int(np.ceil(distance / step_px)), 1)
            for t in np.linspace(0.0, 1.0, count + 1)[1:]:
                self._dab(view, last[0] + t * (row - last[0]), last[1] + t * (column - last[1]))
            self._last_px = (row, column)
        elif tool is Tool.CONTOUR and self._path:
            self._path.append((row, column))

    def release(self, view: ViewGeometry, row: float, column: float) -> None:
        """Left button up."""
        tool = self.settings.tool
        if tool in (Tool.BRUSH, Tool.ERASER):
            self.annotations.end_stroke()
            self._last_px = None
        elif tool is Tool.CONTOUR and self._path:
            self._path.append((row, column))
            self._fill_path(self._path_view or view)

    def close_polygon(self) -> None:
        """Fill the polygon drawn so far (double click or Enter)."""
        if self.settings.tool is Tool.POLYGON and self._path_view is not None:
            self._fill_path(self._path_view)

    def cancel(self) -> None:
        """Escape: drop the path being drawn and any preview."""
        self._path, self._path_view, self._seed = [], None, None
        self.annotations.end_stroke()
        self.annotations.discard_proposal()

    def _dab(self, view: ViewGeometry, row: float, column: float) -> None:
        s = self.settings
        limit = (s.range_low, s.range_high) if s.limit_to_range else None
        image = view.volume.array if limit is not None else None
        if s.brush_3d:
            centre = native_point(view.slice2voxel, row, column)

            def paint(mask: np.ndarray):
                return paint_ball(
                    mask,
                    centre,
                    radius_mm=s.brush_radius_mm,
                    voxel2patient=view.volume.voxel2patient,
                    image=image,
                    intensity_range=limit,
                )
        else:

            def paint(mask: np.ndarray):
                return paint_disc(
                    mask,
                    view.slice2voxel,
                    (row, column),
                    radius_mm=s.brush_radius_mm,
                    pixel_mm=view.pixel_mm,
                    image=image,
                    intensity_range=limit,
                )

        self.annotations.dab(paint)

    def _fill_path(self, view: ViewGeometry) -> None:
        points, self._path, self._path_view = np.array(self._path, float), [], None
        if len(points) < 3:
            self.message.emit("An outline needs at least three points")
            return
        s = self.settings
        action = "Cut from" if s.cut else "Outline"
        limit = (s.range_low, s.range_high) if s.limit_to_range else None

        def paint(mask: np.ndarray) -> Box | None:
            box = fill_polygon_on_plane(mask, view.slice2voxel, points)
            if box is not None and limit is not None:
                # threshold within the outlined region: only voxels in the range are taken
                region = view.volume.array[box]
                mask[box] &= (region >= limit[0]) & (region <= limit[1])
            return box

        box = self.annotations.paint(
            view.key,
            view.volume.shape,
            paint,
            erase=s.cut,
            description=f"{action} {self._lesion_label()}",
        )
        if box is None:
            self.message.emit("The outline enclosed no voxel of this visit")

    def _lesion_label(self) -> str:
        number = self.annotations.lesion_for_editing()
        return self.annotations.lesions[number].name

    # --- click-to-grow ---------------------------------------------------------------------

    def grow(self, view: ViewGeometry, row: float, column: float) -> None:
        """Grow a 3-D region from the clicked voxel and show it as a preview."""
        voxel = np.floor(native_point(view.slice2voxel, row, column) + 0.5).astype(int)
        if np.any(voxel < 0) or np.any(voxel >= np.asarray(view.volume.shape)):
            self.message.emit("Click inside the image to grow a region")
            return
        lesion = self.annotations.lesion_for_editing()
        self._seed = _Seed(view, (int(voxel[0]), int(voxel[1]), int(voxel[2])), lesion)
        self._regrow()

    def _regrow(self, *_: object) -> None:
        seed = self._seed
        if seed is None or self.settings.tool is not Tool.GROW:
            return
        volume = seed.view.volume
        result = grow_from_seed(
            volume.array,
            seed.voxel,
            voxel2patient=volume.voxel2patient,
            sensitivity=self.settings.grow_sensitivity,
            refine=self.settings.refine,
        )
        units = volume.metadata.units or ""
        voxels = int(result.mask.sum())
        ml = voxels * volume.voxel_volume_ml
        detail = (
            f"{ml:.2f} mL, intensity {result.low:.4g} to {result.high:.4g} {units}".rstrip()
            + " (Enter accepts, Esc discards)"
        )
        name = self.annotations.lesions[seed.lesion].name
        self.annotations.propose(
            Proposal(seed.view.key, seed.lesion, result.mask, "add", f"Grow {name}", detail)
        )

    def _tool_changed(self, *_: object) -> None:
        self._path, self._path_view = [], None
        if self.settings.tool is not Tool.GROW:
            self._seed = None

    def accept(self) -> bool:
        """Apply the preview (Enter); False when there was none."""
        self._seed = None
        if self.annotations.proposal is None:
            return False
        self.annotations.accept_proposal()
        return True

    # --- whole-lesion actions, offered as previews -----------------------------------------

    def carry_forward(self, source_key: str, source_volume: Volume, target: ViewGeometry) -> bool:
        """Offer the active lesion's outline from another visit as an editable start.

        The outline is mapped through both visits' registrations into this visit's grid.
        """
        lesion = self.annotations.lesion_for_editing()
        mask = self.annotations.lesion_mask(source_key, lesion)
        if mask is None or not mask.any():
            self.message.emit("That visit has no outline of this lesion to carry")
            return False
        carried = carry_forward(
            mask,
            source_voxel2patient=source_volume.voxel2patient,
            source_to_reference=self._transform_of(source_key),
            target_shape=target.volume.shape,
            target_voxel2patient=target.volume.voxel2patient,
            target_to_reference=self._transform_of(target.key),
        )
        if not carried.any():
            self.message.emit("The carried outline falls outside this visit's image")
            return False
        name = self.annotations.lesions[lesion].name
        ml = carried.sum() * target.volume.voxel_volume_ml
        self.annotations.propose(
            Proposal(
                target.key,
                lesion,
                carried,
                "replace",
                f"Carry {name} forward",
                f"carried outline, {ml:.2f} mL (Enter accepts, Esc discards)",
            )
        )
        return True

    def refit(self, target: ViewGeometry) -> bool:
        """Re-fit the previewed (or outlined) lesion to this visit's enhancement with grow."""
        lesion = self.annotations.lesion_for_editing()
        proposal = self.annotations.proposal
        if proposal is not None and proposal.series_key == target.key:
            start = proposal.mask
        else:
            start = self.annotations.lesion_mask(target.key, lesion)
        if start is None or not start.any():
            self.message.emit("Nothing to re-fit: carry or outline the lesion on this visit first")
            return False
        result = refit(start, target.volume.array, voxel2patient=target.volume.voxel2patient)
        ml = result.mask.sum() * target.volume.voxel_volume_ml
        name = self.annotations.lesions[lesion].name
        self.annotations.propose(
            Proposal(
                target.key,
                lesion,
                result.mask,
                "replace",
                f"Re-fit {name}",
                f"re-fitted, {ml:.2f} mL (Enter accepts, Esc discards)",
            )
        )
        return True

    def fill_between(self, target: ViewGeometry) -> bool:
        """Interpolate the active lesion between its outlined slices (along the view's normal)."""
        return self._reshape(
            target,
            "Fill between slices on",
            lambda mask: fill_between_slices(
                mask,
                voxel2patient=target.volume.voxel2patient,
                axis=_slice_axis(target.slice2voxel),
            ),
        )

    def remove_islands(self, target: ViewGeometry) -> bool:
        """Keep only the pieces of the lesion larger than a few voxels."""
        return self._reshape(
            target,
            "Remove islands from",
            lambda mask: remove_islands(
                mask, voxel2patient=target.volume.voxel2patient, min_volume_ml=ISLAND_MIN_ML
            ),
        )

    def fill_holes(self, target: ViewGeometry) -> bool:
        """Fill holes enclosed by the lesion, slice by slice along the view's normal."""
        return self._reshape(
            target,
            "Fill holes in",
            lambda mask: fill_holes(mask, axis=_slice_axis(target.slice2voxel)),
        )

    def smooth(self, target: ViewGeometry) -> bool:
        """Smooth the lesion's surface (opening then closing, 1.5 mm)."""
        return self._reshape(
            target,
            "Smooth",
            lambda mask: smooth(
                mask, radius_mm=SMOOTH_RADIUS_MM, voxel2patient=target.volume.voxel2patient
            ),
        )

    def _reshape(
        self, target: ViewGeometry, verb: str, operation: Callable[[np.ndarray], np.ndarray]
    ) -> bool:
        lesion = self.annotations.active
        mask = None if lesion is None else self.annotations.lesion_mask(target.key, lesion)
        if lesion is None or mask is None or not mask.any():
            self.message.emit("Outline the lesion on this visit first")
            return False
        result = operation(mask)
        changed = int(np.count_nonzero(result != mask))
        name = self.annotations.lesions[lesion].name
        self.annotations.propose(
            Proposal(
                target.key,
                lesion,
                result,
                "replace",
                f"{verb} {name}",
                f"{changed} voxels change (Enter accepts, Esc discards)",
            )
        )
        return True


def _slice_axis(slice2voxel: np.ndarray) -> int:
    """The native axis a view looks along, or the acquired slices' axis on an oblique view."""
    axis = aligned_axis(slice2voxel)
    return 0 if axis is None else axis
