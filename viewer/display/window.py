"""Window/level, presets, the automatic MRI window, and colour look-up and composition to RGBA.

Window/level maps real voxel values (HU for CT) to grey levels: values at or below
``level - width / 2`` are black, at or above ``level + width / 2`` white, linear in between.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from viewer.core.volume import Volume

PRESETS_PATH = Path(__file__).resolve().parents[2] / "resources" / "window_presets.json"
AUTO_NAME = "Auto"


@dataclass(frozen=True)
class WindowLevel:
    """A display window, in the volume's units (HU for CT).

    Attributes
    ----------
    level : float
        Value shown mid-grey (window centre).
    width : float
        Range of values spread from black to white; > 0.
    name : str
        The preset it came from, ``"Auto"``, or ``"Custom"`` once the user has dragged it.
    """

    level: float
    width: float
    name: str = "Custom"

    def __post_init__(self) -> None:
        if not (np.isfinite(self.level) and np.isfinite(self.width) and self.width > 0):
            raise ValueError(
                f"window width must be > 0 and both numbers finite, got {self.width}/{self.level}"
            )


@dataclass(frozen=True)
class WindowPreset:
    """A named window for one modality (``modality == ""`` means any).

    Attributes
    ----------
    name : str
    window : WindowLevel
    modality : str
        DICOM modality the preset is meant for (``"CT"`` presets are in HU).
    key : str
        Keyboard shortcut.
    """

    name: str
    window: WindowLevel
    modality: str = ""
    key: str = ""

    def applies_to(self, modality: str) -> bool:
        """Return whether the preset makes sense for a series of this modality."""
        return not self.modality or self.modality == modality


def load_presets(path: str | Path = PRESETS_PATH) -> tuple[WindowPreset, ...]:
    """Read window presets from a JSON file (``{"presets": [{name, width, level, ...}]}``).

    Raises
    ------
    ValueError
        The file is not valid JSON or a preset lacks a positive width; the message names the file.
    """
    path = Path(path)
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))["presets"]
        return tuple(
            WindowPreset(
                name=str(e["name"]),
                window=WindowLevel(float(e["level"]), float(e["width"]), str(e["name"])),
                modality=str(e.get("modality", "")),
                key=str(e.get("key", "")),
            )
            for e in entries
        )
    except (OSError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}: cannot read window presets ({exc})") from exc


@dataclass(frozen=True)
class IntensityStats:
    """Robust intensity summary of a volume, computed once when it is loaded.

    Attributes
    ----------
    auto_window : WindowLevel
        Spans the ``low_percentile``-``high_percentile`` range of the non-background voxels.
    range_low, range_high : float
        0.5th and 99.5th percentiles of all voxels (the span a window drag should cover).
    """

    auto_window: WindowLevel
    range_low: float
    range_high: float


def intensity_stats(
    array: np.ndarray,
    *,
    low_percentile: float = 1.0,
    high_percentile: float = 99.5,
    background_fraction: float = 0.05,
    max_samples: int = 1_000_000,
) -> IntensityStats:
    """Summarise intensities for the automatic (MRI) window and the window-drag speed.

    MRI values have no absolute unit, so the automatic window comes from percentiles of the
    voxels brighter than the background (air): those above ``min + background_fraction *
    (99.9th percentile - min)``.

    Parameters
    ----------
    array : ndarray
        Voxel values, any shape; non-finite values are ignored.
    low_percentile, high_percentile : float
        Percentiles (0-100) of the foreground that become black and white.
    background_fraction : float
        Where the background threshold sits between the minimum and the 99.9th percentile.
    max_samples : int
        At most this many regularly strided voxels are used, so large volumes stay fast.

    Returns
    -------
    IntensityStats

    Examples
    --------
    >>> stats = intensity_stats(np.r_[np.zeros(500), np.arange(1, 1001)])
    >>> round(stats.auto_window.level, 1), round(stats.auto_window.width, 1)
    (527.4, 935.8)
    """
    flat = np.asarray(array).reshape(-1)
    sample = flat[:: max(1, flat.size // max_samples)]
    if sample.dtype.kind == "f":
        sample = sample[np.isfinite(sample)]
    if sample.size == 0:
        return IntensityStats(WindowLevel(0.5, 1.0, AUTO_NAME), 0.0, 1.0)
    sample = sample.astype(np.float64, copy=False)
    minimum = float(sample.min())
    range_low, range_high, top = np.percentile(sample, [0.5, 99.5, 99.9])
    foreground = sample[sample > minimum + background_fraction * (top - minimum)]
    if foreground.size == 0:
        foreground = sample
    low, high = np.percentile(foreground, [low_percentile, high_percentile])
    width = float(high - low) if high > low else max(1.0, abs(float(high)) * 0.1)
    auto = WindowLevel(float(low + high) / 2.0, width, AUTO_NAME)
    return IntensityStats(auto, float(range_low), float(max(range_high, range_low + width)))


def default_window(
    volume: Volume, presets: Sequence[WindowPreset], stats: IntensityStats
) -> WindowLevel:
    """Choose the window a series opens with: its modality's first preset, else the automatic one.

    CT in HU opens with the first CT preset (CT Brain); MRI, which has no absolute units, with the
    automatic window.
    """
    modality = volume.metadata.modality
    if modality == "CT" and volume.metadata.units != "HU":
        return stats.auto_window
    for preset in presets:
        if preset.modality and preset.modality == modality:
            return preset.window
    return stats.auto_window


def apply_window(values: np.ndarray, level: float, width: float) -> np.ndarray:
    """Map values to 8-bit grey levels through a linear window.

    Parameters
    ----------
    values : ndarray
        Real voxel values (any dtype, any shape), e.g. HU.
    level, width : float
        Window centre and width in the same units; ``width > 0``.

    Returns
    -------
    ndarray of uint8, same shape
        0 at or below ``level - width / 2``, 255 at or above ``level + width / 2``, rounded
        linear in between; non-finite values give 0.

    Examples
    --------
    >>> apply_window(np.array([-1000, 0, 20, 40, 80, 1000]), level=40, width=80)
    array([  0,   0,  64, 128, 255, 255], dtype=uint8)
    """
    if not (width > 0 and np.isfinite(width) and np.isfinite(level)):
        raise ValueError(f"window width must be > 0 and finite, got width {width}, level {level}")
    scaled = np.asarray(values).astype(np.float32)
    scaled -= np.float32(level - width / 2.0)
    scaled *= np.float32(255.0 / width)
    np.clip(scaled, 0.0, 255.0, out=scaled)
    if np.asarray(values).dtype.kind == "f":
        np.nan_to_num(scaled, copy=False, nan=0.0)
    return np.rint(scaled, out=scaled).astype(np.uint8)


GREY_LUT = np.repeat(np.arange(256, dtype=np.uint8)[:, None], 4, axis=1)
GREY_LUT[:, 3] = 255
GREY_LUT.setflags(write=False)
"""(256, 4) uint8 RGBA look-up table: grey level i -> (i, i, i, opaque)."""


def colorize(
    indices: np.ndarray, lut: np.ndarray = GREY_LUT, inside: np.ndarray | None = None
) -> np.ndarray:
    """Turn 8-bit indices into RGBA through a look-up table.

    Parameters
    ----------
    indices : ndarray of uint8, shape (H, W)
    lut : ndarray of uint8, shape (256, 4)
    inside : ndarray of bool, shape (H, W), optional
        Pixels outside (False) become fully transparent, so no data is never drawn as black data.

    Returns
    -------
    ndarray of uint8, shape (H, W, 4), C-contiguous
    """
    rgba = lut[indices]
    if inside is not None:
        rgba[~inside] = 0
    return rgba


def composite(base: np.ndarray, overlay: np.ndarray, opacity: float = 1.0) -> np.ndarray:
    """Draw ``overlay`` over ``base`` (Porter-Duff "over", straight alpha).

    Parameters
    ----------
    base, overlay : ndarray of uint8, shape (H, W, 4)
        RGBA images of the same shape.
    opacity : float
        Multiplies the overlay's alpha (0 = invisible, 1 = as is).

    Returns
    -------
    ndarray of uint8, shape (H, W, 4)

    Examples
    --------
    >>> grey = np.full((1, 1, 4), [100, 100, 100, 255], np.uint8)
    >>> red = np.full((1, 1, 4), [255, 0, 0, 255], np.uint8)
    >>> composite(grey, red, opacity=0.5)[0, 0]
    array([178,  50,  50, 255], dtype=uint8)
    """
    if base.shape != overlay.shape or base.shape[-1] != 4:
        raise ValueError(f"RGBA shapes differ or are not (H, W, 4): {base.shape}, {overlay.shape}")
    top_alpha = overlay[..., 3:].astype(np.float32) / 255.0 * np.float32(opacity)
    bottom_alpha = base[..., 3:].astype(np.float32) / 255.0
    out_alpha = top_alpha + bottom_alpha * (1.0 - top_alpha)
    with np.errstate(invalid="ignore", divide="ignore"):
        rgb = (overlay[..., :3] * top_alpha + base[..., :3] * bottom_alpha * (1.0 - top_alpha)) / (
            out_alpha
        )
    rgb = np.where(out_alpha > 0, rgb, 0.0)
    result = np.empty(base.shape, dtype=np.uint8)
    result[..., :3] = np.rint(rgb)
    result[..., 3:] = np.rint(out_alpha * 255.0)
    return result


def hatch(
    mask: np.ndarray, *, colour: Sequence[int] = (220, 60, 40), period: int = 8
) -> np.ndarray:
    """Draw diagonal stripes over ``mask`` as an RGBA overlay: marks pixels with no real data.

    Parameters
    ----------
    mask : ndarray of bool, shape (H, W)
    colour : sequence of 3 int
        Stripe colour; between stripes the overlay is a dark shade of it.
    period : int
        Stripe repeat in pixels (a third of it is stripe).

    Returns
    -------
    ndarray of uint8, shape (H, W, 4)
        Opaque on ``mask``, transparent elsewhere.
    """
    rows, columns = np.indices(mask.shape)
    stripe = (rows + columns) % period < max(1, period // 3)
    overlay = np.zeros((*mask.shape, 4), dtype=np.uint8)
    overlay[mask & stripe] = (*colour, 255)
    overlay[mask & ~stripe] = (*(c // 5 for c in colour), 255)
    return overlay
