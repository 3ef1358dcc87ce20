"""What is drawn on top of a slice: orientation letters, the scale bar, positions in words."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# LPS axis -> (letter for the negative direction, letter for the positive direction)
_LETTERS = (("R", "L"), ("A", "P"), ("I", "S"))


def direction_label(vector: Sequence[float], *, min_component: float = 0.25) -> str:
    """Name the patient direction of a vector with up to three letters, strongest first.

    A component is named when its share of the unit vector is at least ``min_component``
    (0.25: about 15 degrees), so an oblique direction reads e.g. ``"PI"``.

    Parameters
    ----------
    vector : sequence of 3 float
        Direction in LPS patient coordinates.
    min_component : float
        Smallest direction cosine worth a letter.

    Examples
    --------
    >>> direction_label([0, 0.94, -0.34])
    'PI'
    >>> direction_label([-1, 0.05, 0])
    'R'
    """
    v = np.asarray(vector, dtype=np.float64)
    v = v / np.linalg.norm(v)
    order = np.argsort(-np.abs(v), kind="stable")
    letters = [_LETTERS[i][int(v[i] > 0)] for i in order if abs(v[i]) >= min_component]
    return "".join(letters) or _LETTERS[order[0]][int(v[order[0]] > 0)]


@dataclass(frozen=True)
class EdgeLetters:
    """Patient direction at each screen edge (e.g. R on the left of an axial view)."""

    top: str
    right: str
    bottom: str
    left: str


def edge_letters(slice2patient: np.ndarray) -> EdgeLetters:
    """Orientation letters for the four edges of a slice.

    Parameters
    ----------
    slice2patient : ndarray of shape (4, 4)
        Maps ``(row, column, offset, 1)`` to LPS mm; column 0 points down the screen and column 1
        to the right.

    Examples
    --------
    >>> down_p_right_l = np.array([[0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1.0]])
    >>> edge_letters(down_p_right_l)
    EdgeLetters(top='A', right='L', bottom='P', left='R')
    """
    down = np.asarray(slice2patient, dtype=np.float64)[:3, 0]
    right = np.asarray(slice2patient, dtype=np.float64)[:3, 1]
    return EdgeLetters(
        top=direction_label(-down),
        right=direction_label(right),
        bottom=direction_label(down),
        left=direction_label(-right),
    )


def scale_bar(mm_per_screen_pixel: float, max_length_px: float) -> tuple[float, float]:
    """Choose a round scale-bar length (1, 2 or 5 x 10^k mm) that fits on screen.

    Parameters
    ----------
    mm_per_screen_pixel : float
        How many mm one screen pixel spans at the current zoom.
    max_length_px : float
        Longest bar that fits, in screen pixels.

    Returns
    -------
    length_mm : float
        The longest round length whose bar is at most ``max_length_px`` long.
    length_px : float
        Its length on screen.

    Examples
    --------
    >>> scale_bar(0.5, 150)
    (50.0, 100.0)
    >>> scale_bar(0.1, 150)
    (10.0, 100.0)
    """
    if not (mm_per_screen_pixel > 0 and max_length_px > 0):
        raise ValueError("the scale and the space for the bar must be positive")
    max_mm = mm_per_screen_pixel * max_length_px
    exponent = math.floor(math.log10(max_mm))
    length = 10.0**exponent
    for factor in (5.0, 2.0, 1.0):
        if factor * 10.0**exponent <= max_mm * (1 + 1e-9):
            length = factor * 10.0**exponent
            break
    return length, length / mm_per_screen_pixel


def format_position(point_lps: Sequence[float], *, decimals: int = 1) -> str:
    """Write a patient position the way radiologists read it: distance and side on each axis.

    Examples
    --------
    >>> format_position([-12.34, 5.0, -7.25])
    'R 12.3  P 5.0  I 7.2 mm'
    """
    parts = []
    for value, (negative, positive) in zip(point_lps, _LETTERS, strict=True):
        parts.append(f"{positive if value >= 0 else negative} {abs(value):.{decimals}f}")
    return "  ".join(parts) + " mm"


def format_plane_position(plane_axis_index: int, position_mm: float) -> str:
    """Write a slice position along an LPS axis with its side (e.g. ``'S 12.5 mm'``).

    Examples
    --------
    >>> format_plane_position(2, -12.5)
    'I 12.5 mm'
    """
    negative, positive = _LETTERS[plane_axis_index]
    return f"{positive if position_mm >= 0 else negative} {abs(position_mm):.1f} mm"
