"""The visit strip: the same anatomical slice at every visit, side by side, as one PNG.

Each visit is cut through its registration on one axial grid of the reference frame, centred on a
point (a lesion), so every panel shows the same anatomy; each is labelled with its visit (Day N in
teaching mode), the lesion's measurements there and the visit's response category. Drawn with the
display pipeline of the views (reslice, window, outlines) and laid out with matplotlib.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from PIL import Image

from viewer.core.volume import Volume
from viewer.display.slicing import PlaneGrid, SliceRequest, plane_axes, reslice
from viewer.display.window import WindowLevel, apply_window, colorize
from viewer.state.annotations import Annotations, draw_outlines

STRIP_FIELD_MM = 80.0
"""Edge of the square field each panel shows, mm."""
STRIP_PIXEL_MM = 0.5


def write_png(rgba: np.ndarray, path: str | Path) -> Path:
    """Write a view's pixels (uint8 RGBA) as a PNG with no text chunk at all (no identity)."""
    path = Path(path)
    Image.fromarray(np.ascontiguousarray(rgba), mode="RGBA").save(path, format="PNG")
    return path


@dataclass(frozen=True)
class StripPanel:
    """One visit of the strip.

    Attributes
    ----------
    series_key : str
    volume : Volume
    patient2reference : ndarray of shape (4, 4) or None
    window : WindowLevel
    title : str
        The visit's label and category, e.g. ``"Day 2737 · PD"``.
    caption : str
        The lesion's measurements there, e.g. ``"L1 39.2 x 30.9 mm, 16.74 mL"``.
    """

    series_key: str
    volume: Volume
    patient2reference: np.ndarray | None
    window: WindowLevel
    title: str
    caption: str = ""


def centred_grid(point_mm: Sequence[float], field_mm: float, pixel_mm: float) -> PlaneGrid:
    """An axial grid of the reference frame centred on a point (LPS mm).

    Returns
    -------
    PlaneGrid
        Square, ``round(field_mm / pixel_mm)`` pixels a side.
    """
    size = max(int(round(field_mm / pixel_mm)), 8)
    right, down, axis = plane_axes("axial")
    centre = np.asarray(point_mm, dtype=np.float64)
    origin = centre - (down + right) * pixel_mm * (size - 1) / 2.0
    origin = origin - axis * float(origin @ axis)
    return PlaneGrid("axial", origin, pixel_mm, (size, size))


def panel_rgba(
    panel: StripPanel, notes: Annotations, point_mm: Sequence[float], grid: PlaneGrid
) -> np.ndarray:
    """One panel's pixels: the visit cut at the point, windowed, with its outlines."""
    _, _, axis = plane_axes("axial")
    position = float(np.asarray(point_mm, dtype=np.float64) @ axis)
    request = SliceRequest(panel.volume, "axial", position, panel.patient2reference, grid)
    result = reslice(request)
    window = panel.window
    rgba = colorize(apply_window(result.values, window.level, window.width), inside=result.inside)
    return draw_outlines(
        rgba, notes, panel.series_key, panel.volume, grid, position, panel.patient2reference
    )


def write_visit_strip(
    panels: Sequence[StripPanel],
    notes: Annotations,
    point_mm: Sequence[float],
    path: str | Path,
    *,
    title: str = "",
    columns: int | None = None,
    field_mm: float = STRIP_FIELD_MM,
    scale: float = 1.0,
    cancelled: Callable[[], bool] | None = None,
) -> Path:
    """Write the strip as a PNG (no metadata but the software's name).

    Parameters
    ----------
    panels : sequence of StripPanel
        One per visit, oldest first.
    notes : Annotations
        The outlines drawn over each panel (a snapshot when called from a worker).
    point_mm : sequence of 3 float
        Reference-frame point the panels are centred on (LPS mm), e.g. a lesion's centroid.
    title : str
        Above the strip (a case label and lesion; never the patient's name).
    columns : int, optional
        Panels per row (all in one row by default).
    field_mm : float
        Field of view of each panel, mm.
    scale : float
        1 for the screen, 2 or 4 for slides: more pixels, text scaled to match.
    """
    path = Path(path)
    count = max(len(panels), 1)
    per_row = columns or count
    rows = math.ceil(count / per_row)
    grid = centred_grid(point_mm, field_mm, STRIP_PIXEL_MM / scale)
    inches = 2.4
    figure = Figure(figsize=(inches * per_row, inches * rows + 0.5), dpi=100 * scale)
    figure.patch.set_facecolor("black")
    if title:
        figure.suptitle(title, color="white", fontsize=10)
    for index, panel in enumerate(panels):
        if cancelled is not None and cancelled():
            raise InterruptedError("visit strip cancelled")
        axes = figure.add_subplot(rows, per_row, index + 1)
        axes.imshow(panel_rgba(panel, notes, point_mm, grid), interpolation="nearest")
        axes.set_title(panel.title, color="white", fontsize=9)
        axes.set_xlabel(panel.caption, color="#d7dce2", fontsize=7)
        axes.set_xticks([])
        axes.set_yticks([])
        for side, letter in (("left", "R"), ("right", "L")):  # radiological convention
            axes.text(
                0.02 if side == "left" else 0.98, 0.5, letter, transform=axes.transAxes,
                color="#f0b45a", fontsize=8, ha=side, va="center",
            )  # fmt: skip
    figure.subplots_adjust(left=0.01, right=0.99, top=0.86 if title else 0.92, bottom=0.08)
    with matplotlib.rc_context({"savefig.facecolor": "black"}):
        figure.savefig(path, format="png", metadata={"Software": "Interval"})
    return path
