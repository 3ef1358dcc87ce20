"""What a comparison view draws over its image, and the finished picture (no Qt).

The screen and the annotated-slice export both draw :func:`pane_marks` with
:func:`viewer.display.overlay.render`: the exported PNG is the
screen's picture, and a 2x or 4x export is the same picture drawn on a grid of 2x or 4x as many
pixels over the same field of view, with every text and line size scaled by the same factor.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from viewer.core.transform import RegistrationState
from viewer.display.overlay import (
    RGBA,
    CaliperDrawing,
    Mark,
    OverlayStyle,
    caliper_marks,
    colour_bar_marks,
    corner_text_marks,
    crosshair_marks,
    edge_letter_marks,
    landmark_marks,
    lesion_name_marks,
    scale_bar_marks,
)
from viewer.state.compare_controller import REFERENCE_TEXT, STATE_TEXT, PaneFrame

PANE_STYLE = OverlayStyle(
    text_px=12,
    margin_px=8,
    letter_px=15,
    letter_margin_px=6,
    bar_max_px=140,
    bar_inset_px=(20, 20),
    bar_tick_px=4,
    bar_text_px=11,
    bar_text_gap_px=6,
)
"""Sizes of the comparison views' marks at 1x."""

STATE_COLOURS: dict[RegistrationState | None, RGBA] = {
    None: (158, 203, 255, 255),
    RegistrationState.NOT_REGISTERED: (255, 159, 67, 255),
    RegistrationState.AUTOMATIC: (255, 212, 121, 255),
    RegistrationState.MANUAL: (255, 212, 121, 255),
    RegistrationState.ACCEPTED: (125, 220, 138, 255),
}
"""Colour of the registration line of a view's corner text, by the series' state (None: the
reference series)."""
STATE_LINES = {*STATE_TEXT.values(), REFERENCE_TEXT}

SCALE_BAR_CLEARANCE_PX = 44.0
"""Room (at 1x) kept below the plane and position lines for the scale bar."""
LEGEND_MAX_PX = 200.0
LEGEND_MARGIN_PX = 60.0


@dataclass(frozen=True)
class Landmark:
    """A landmark drawn on a view: reference-frame point (LPS mm, shape (3,)) and its label."""

    point_mm: np.ndarray
    label: str


def pane_marks(
    frame: PaneFrame,
    style: OverlayStyle = PANE_STYLE,
    *,
    calipers: Sequence[CaliperDrawing] = (),
    landmarks: Sequence[Landmark] = (),
    crosshair: bool = True,
) -> list[Mark]:
    """Everything drawn over a comparison view's image, in drawing order.

    Parameters
    ----------
    frame : PaneFrame
        The view's image and its text, on the grid the marks are drawn on.
    style : OverlayStyle
        :data:`PANE_STYLE`, or it scaled for an export larger than the screen.
    calipers : sequence of CaliperDrawing
        The calipers on this slice, in ``frame.grid``'s pixels.
    landmarks : sequence of Landmark
        Drawn when the view's plane passes within max(3 pixels, 2 mm) of them.
    crosshair : bool
        False leaves the crosshair out (a figure for slides).

    Returns
    -------
    list of Mark
    """
    size = frame.rgba.shape[:2]
    rows, columns = size
    marks: list[Mark] = []
    if crosshair:
        marks += crosshair_marks(*frame.crosshair_px, size, style)
    marks += _landmark_marks(frame, landmarks, style)
    for caliper in calipers:
        marks += caliper_marks(caliper, style)
    captioned = {caliper.lesion for caliper in calipers}
    for lesion in frame.lesion_labels:  # a lesion without a caliper here is named by its outline
        if lesion.number not in captioned:
            marks += lesion_name_marks(lesion.number, lesion.colour, lesion.row, lesion.column,
                                       style)  # fmt: skip
    marks += edge_letter_marks(frame.letters, size, style)
    state_colour = STATE_COLOURS[frame.registration]
    marks += corner_text_marks(
        frame.corners.get("top_left", []),
        "top_left",
        size,
        style,
        colours={line: state_colour for line in STATE_LINES},
        max_width_px=columns - 2 * style.margin_px,
    )
    # plane and position sit above the scale bar, out of the way of the long visit lines
    gap = SCALE_BAR_CLEARANCE_PX * style.scale - style.margin_px
    marks += corner_text_marks(
        frame.corners.get("top_right", []), "bottom_right", size, style, bottom_gap_px=gap
    )
    marks += corner_text_marks(frame.corners.get("bottom_left", []), "bottom_left", size, style)
    marks += scale_bar_marks(frame.grid.pixel_mm, size, style)
    legend = frame.legend
    if legend is not None:
        height = int(min(LEGEND_MAX_PX * style.scale, rows - 2 * LEGEND_MARGIN_PX * style.scale))
        if height >= 40 * style.scale:
            _, colours = legend.legend(steps=height)
            marks += colour_bar_marks(colours, legend.ticks(), legend.limit, size, style)
    return marks


def _landmark_marks(
    frame: PaneFrame, landmarks: Sequence[Landmark], style: OverlayStyle
) -> list[Mark]:
    if not landmarks:
        return []
    inverse = np.linalg.inv(frame.grid.slice2reference(frame.position_mm))
    half_slab = max(frame.grid.pixel_mm * 3, 2.0)
    marks: list[Mark] = []
    for landmark in landmarks:
        row, column, offset = (inverse @ np.append(landmark.point_mm, 1.0))[:3]
        if abs(offset) <= half_slab:  # on this slice
            marks += landmark_marks(float(row), float(column), landmark.label, style)
    return marks
