"""Pair modes between two visits on one grid: fade, checkerboard, flicker and subtraction.

All inputs are slices of two visits drawn on one shared screen grid (see
:func:`viewer.display.slicing.reslice` with a common ``grid``), so pixel ``(row, column)`` is the
same anatomical point in both. The same modes are how a user checks a registration: edges that
jump at the checkerboard's square borders, or shimmer when flickering, mean misalignment.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from viewer.core.volume import Volume
from viewer.display.slicing import SliceResult
from viewer.display.window import IntensityStats, colorize

FLICKER_INTERVAL_S = 0.5
"""How long each visit stays on screen in flicker mode (two frames a second, as PACS do)."""


def fade(first: np.ndarray, second: np.ndarray, alpha: float) -> np.ndarray:
    """Cross-fade two images: ``alpha = 0`` gives ``first``, ``1`` gives ``second`` exactly.

    Parameters
    ----------
    first, second : ndarray of uint8, shape (H, W, 4) or (H, W)
        RGBA (or grey) images of the same shape.
    alpha : float
        Weight of ``second``, in [0, 1]; resolved in steps of 1/256.

    Returns
    -------
    ndarray of uint8, same shape

    Examples
    --------
    >>> a, b = np.array([0, 100, 255], np.uint8), np.array([255, 200, 0], np.uint8)
    >>> fade(a, b, 0.0).tolist(), fade(a, b, 1.0).tolist(), fade(a, b, 0.5).tolist()
    ([0, 100, 255], [255, 200, 0], [128, 150, 128])
    """
    _same_shape(first, second)
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"fade weight must be between 0 and 1, got {alpha}")
    if first.dtype != np.uint8 or second.dtype != np.uint8:
        raise ValueError("fade works on 8-bit images (RGBA or grey)")
    weight = round(alpha * 256)
    # integer blend with rounding: 255 * 256 + 128 still fits in 16 bits
    mixed = first.astype(np.uint16) * (256 - weight)
    mixed += second.astype(np.uint16) * weight
    mixed += 128
    mixed >>= 8
    return mixed.astype(np.uint8)


def checkerboard_mask(shape: tuple[int, int], square_px: int) -> np.ndarray:
    """Which pixels show the first visit in a checkerboard: the squares holding pixel (0, 0).

    The squares are anchored at grid pixel (0, 0), so on a shared grid they stay on the same
    anatomy in every view and while scrolling.

    Parameters
    ----------
    shape : tuple of 2 int
        (rows, columns).
    square_px : int
        Edge of a square in grid pixels; >= 1.

    Returns
    -------
    ndarray of bool, shape ``shape``

    Examples
    --------
    >>> checkerboard_mask((3, 4), 2).astype(int)
    array([[1, 1, 0, 0],
           [1, 1, 0, 0],
           [0, 0, 1, 1]])
    """
    if square_px < 1:
        raise ValueError(f"checkerboard squares need at least one pixel, got {square_px}")
    rows = (np.arange(shape[0]) // square_px) % 2
    columns = (np.arange(shape[1]) // square_px) % 2
    return rows[:, None] == columns[None, :]


def checkerboard(
    first: np.ndarray,
    second: np.ndarray,
    *,
    square_px: int | None = None,
    square_mm: float | None = None,
    pixel_mm: float | None = None,
    anchor_mm: tuple[float, float] | None = None,
) -> np.ndarray:
    """Interleave two images in squares: misregistration shows as edges broken at square borders.

    Give the square size either in pixels (``square_px``) or in mm (``square_mm`` with the grid's
    ``pixel_mm``; rounded to whole pixels, at least one). With ``anchor_mm`` the squares are
    fixed in mm instead: their borders lie at whole multiples of ``square_mm`` from the anchor,
    so they stay on the anatomy when the view is panned or zoomed.

    Parameters
    ----------
    first, second : ndarray of shape (H, W) or (H, W, C)
        Images of the same shape and dtype (RGBA slices, or values).
    square_px : int, optional
    square_mm, pixel_mm : float, optional
    anchor_mm : tuple of 2 float, optional
        Position of pixel (0, 0)'s centre, mm along (columns, rows) from the anchor (e.g. the
        reference frame's origin projected on the plane). Needs ``square_mm`` and ``pixel_mm``.

    Returns
    -------
    ndarray, same shape and dtype
        ``first`` in the squares of :func:`checkerboard_mask`, ``second`` in the others.
    """
    _same_shape(first, second)
    if (square_px is None) == (square_mm is None):
        raise ValueError("give the checkerboard square size in pixels or in mm (one of them)")
    if square_px is None:
        if not (pixel_mm and pixel_mm > 0 and square_mm and square_mm > 0):
            raise ValueError("a square size in mm needs a positive square_mm and pixel_mm")
        square_px = max(1, round(square_mm / pixel_mm))
    elif anchor_mm is not None:
        raise ValueError("anchored squares need their size in mm (square_mm and pixel_mm)")
    if anchor_mm is None:
        mask = checkerboard_mask(first.shape[:2], square_px)
    else:
        assert square_mm is not None and pixel_mm is not None
        rows, columns = (
            np.floor((anchor + np.arange(n) * pixel_mm) / square_mm).astype(np.int64) % 2
            for anchor, n in zip(anchor_mm[::-1], first.shape[:2], strict=True)
        )
        mask = rows[:, None] == columns[None, :]
    if first.ndim == 3:
        mask = mask[:, :, None]
    return np.where(mask, first, second)


def flicker_index(time_s: float, *, interval_s: float = FLICKER_INTERVAL_S) -> int:
    """Which of two visits flicker mode shows at a time: 0 (the first) or 1 (the second).

    The UI calls it from a timer with the seconds since flicker mode started, so the first visit
    always shows first and each stays ``interval_s`` seconds.

    Examples
    --------
    >>> [flicker_index(t) for t in (0.0, 0.49, 0.5, 0.99, 1.0)]
    [0, 0, 1, 1, 0]
    """
    if not interval_s > 0:
        raise ValueError(f"flicker interval must be positive, got {interval_s} s")
    return int(math.floor(time_s / interval_s)) % 2


@dataclass(frozen=True)
class Normalisation:
    """How to bring a volume's values into units comparable across visits.

    ``normalised = (value - offset) / scale``. CT is already in Hounsfield units, so it is left
    as it is; MRI has no absolute unit and is expressed in interquartile ranges (IQR) of its
    foreground (head) voxels above their median, a robust scale computed once per volume
    (:class:`viewer.display.window.IntensityStats`), not per slice.

    Attributes
    ----------
    offset : float
        In the volume's units.
    scale : float
        In the volume's units per normalised unit; > 0.
    units : str
        ``"HU"`` or ``"IQR"`` (normalised MRI units).
    """

    offset: float
    scale: float
    units: str

    def apply(self, values: np.ndarray) -> np.ndarray:
        """Normalise values; float32, same shape."""
        normalised = np.subtract(values, np.float32(self.offset), dtype=np.float32)
        normalised /= np.float32(self.scale)
        return normalised


def normalisation(volume: Volume, stats: IntensityStats) -> Normalisation:
    """Choose how a volume is normalised for subtraction: HU as they are, MRI by median and IQR.

    Parameters
    ----------
    volume : Volume
    stats : IntensityStats
        The volume's intensity summary (``intensity_stats(volume.array)``, computed on loading).
    """
    if volume.metadata.modality == "CT" and volume.metadata.units == "HU":
        return Normalisation(0.0, 1.0, "HU")
    return Normalisation(stats.foreground_median, stats.foreground_iqr, "IQR")


@dataclass(frozen=True, eq=False)
class Difference:
    """A subtraction slice: later minus earlier, in normalised units.

    Attributes
    ----------
    values : ndarray of float32, shape (rows, columns)
        Positive where the later visit is brighter (new enhancement); 0 outside ``inside``.
    inside : ndarray of bool, shape (rows, columns), or None
        Where both visits have data; ``None`` means everywhere.
    units : str
        ``"HU"`` or ``"IQR"``.
    """

    values: np.ndarray
    inside: np.ndarray | None
    units: str


def subtract(
    later: SliceResult,
    earlier: SliceResult,
    *,
    later_normalisation: Normalisation,
    earlier_normalisation: Normalisation,
) -> Difference:
    """Subtract the earlier visit from the later one, after normalising each.

    Parameters
    ----------
    later, earlier : SliceResult
        The two visits resliced on the same grid (same shape; same reference-frame plane).
    later_normalisation, earlier_normalisation : Normalisation
        From :func:`normalisation` of each visit's volume.

    Raises
    ------
    ValueError
        The slices are on different grids, or the units differ (a CT cannot be subtracted from
        an MRI).
    """
    if later.values.shape != earlier.values.shape or not np.allclose(
        later.slice2reference, earlier.slice2reference, atol=1e-6
    ):
        raise ValueError("subtraction needs both visits resliced on the same grid and plane")
    if later_normalisation.units != earlier_normalisation.units:
        raise ValueError(
            f"cannot subtract {earlier_normalisation.units} from {later_normalisation.units} "
            "values: subtract visits of the same modality"
        )
    difference = later_normalisation.apply(later.values)
    difference -= earlier_normalisation.apply(earlier.values)
    inside = _both(later.inside, earlier.inside)
    if inside is not None:
        difference *= inside
    return Difference(difference, inside, later_normalisation.units)


def _both(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | None:
    if a is None:
        return b
    if b is None:
        return a
    return a & b


_BLUE = np.array([33, 102, 172], dtype=np.float64)
_WHITE = np.array([255, 255, 255], dtype=np.float64)
_RED = np.array([178, 24, 43], dtype=np.float64)


def _diverging_lut() -> np.ndarray:
    # entry i stands for t = (i - 127.5) / 127.5 in [-1, 1]: blue at -1, white at 0, red at +1,
    # mirror-symmetric (entry i and entry 255 - i are equally far from white)
    t = (np.arange(256) - 127.5) / 127.5
    colour = np.where(t[:, None] < 0, _BLUE, _RED)
    rgb = _WHITE + (colour - _WHITE) * np.abs(t)[:, None]
    lut = np.empty((256, 4), dtype=np.uint8)
    lut[:, :3] = np.rint(rgb)
    lut[:, 3] = 255
    lut.setflags(write=False)
    return lut


DIVERGING_LUT = _diverging_lut()
"""(256, 4) uint8 RGBA blue-white-red map: entry 0 is -limit (blue), 255 is +limit (red)."""

DEFAULT_LIMITS = {"HU": 60.0, "IQR": 1.5}
"""Default symmetric range of a subtraction display, by units: contrast enhancement on CT is tens
of HU; on MRI enhancing tumour is one to a few IQRs brighter than it was."""


@dataclass(frozen=True)
class DivergingScale:
    """How a difference is coloured: blue (darker later) - white (no change) - red (brighter later).

    The range is symmetric about 0, so white always means no change and equal changes either way
    are equally saturated.

    Attributes
    ----------
    limit : float
        Differences of ``+limit`` or more are full red, ``-limit`` or less full blue; > 0.
    units : str
        Units of ``limit``: ``"HU"`` or ``"IQR"``.
    """

    limit: float
    units: str

    def __post_init__(self) -> None:
        if not (math.isfinite(self.limit) and self.limit > 0):
            raise ValueError(f"the subtraction range must be a positive number, got {self.limit}")

    @classmethod
    def default(cls, units: str) -> DivergingScale:
        """The opening range for a difference in ``units`` (:data:`DEFAULT_LIMITS`)."""
        return cls(DEFAULT_LIMITS.get(units, 1.0), units)

    def indices(self, values: np.ndarray) -> np.ndarray:
        """Look-up table entries (uint8) of differences: 0 at ``-limit``, 255 at ``+limit``.

        Examples
        --------
        >>> DivergingScale(2.0, "IQR").indices(np.array([-5.0, -2.0, 0.0, 1.0, 2.0])).tolist()
        [0, 0, 128, 191, 255]
        """
        scaled = np.multiply(values, np.float32(127.5 / self.limit), dtype=np.float32)
        scaled += np.float32(127.5)
        np.clip(scaled, 0.0, 255.0, out=scaled)
        return np.rint(scaled, out=scaled).astype(np.uint8)

    def to_rgba(self, difference: Difference) -> np.ndarray:
        """Colour a subtraction slice; transparent where either visit has no data.

        Returns
        -------
        ndarray of uint8, shape (rows, columns, 4)
        """
        return colorize(self.indices(difference.values), DIVERGING_LUT, difference.inside)

    def legend(self, steps: int = 256) -> tuple[np.ndarray, np.ndarray]:
        """A colour bar for the UI: values from ``-limit`` to ``+limit`` and their colours.

        Returns
        -------
        values : ndarray of float64, shape (steps,)
            In :attr:`units`, increasing.
        rgba : ndarray of uint8, shape (steps, 4)
        """
        values = np.linspace(-self.limit, self.limit, steps)
        return values, DIVERGING_LUT[self.indices(values)]

    def ticks(self) -> list[tuple[float, str]]:
        """Labelled legend ticks at ``-limit``, ``-limit/2``, 0, ``+limit/2``, ``+limit``.

        Examples
        --------
        >>> DivergingScale(60.0, "HU").ticks()[-2:]
        [(30.0, '+30 HU'), (60.0, '+60 HU')]
        """
        ticks = []
        for fraction in (-1.0, -0.5, 0.0, 0.5, 1.0):
            value = fraction * self.limit
            label = "0" if value == 0 else f"{value:+.3g}"
            ticks.append((value, f"{label} {self.units}"))
        return ticks


def _same_shape(first: np.ndarray, second: np.ndarray) -> None:
    if first.shape != second.shape:
        raise ValueError(
            f"pair modes need two images on the same grid, got {first.shape} and {second.shape}"
        )
