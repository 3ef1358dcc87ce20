"""Cine: a scroll through a lesion's slices at every visit, side by side, as an animated GIF.

The panels are the visit strip's (the same reference-frame grid through each registration); each
frame moves the axial plane by one step, so the reader sees the lesion's whole extent at every
visit in step. GIF through Pillow (matplotlib's own dependency); MP4 would need an ffmpeg build
and is not offered.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from viewer.export.visit_strip import STRIP_PIXEL_MM, StripPanel, centred_grid, panel_rgba
from viewer.state.annotations import Annotations

GAP_PX = 4


def cine_frames(
    panels: Sequence[StripPanel],
    notes: Annotations,
    point_mm: Sequence[float],
    *,
    half_range_mm: float = 12.0,
    step_mm: float = 2.0,
    field_mm: float = 60.0,
    cancelled: Callable[[], bool] | None = None,
) -> list[np.ndarray]:
    """The frames, one per plane from ``z - half_range_mm`` to ``z + half_range_mm`` (mm).

    Each frame holds every visit's panel side by side (uint8 RGB, rows x (visits x columns +
    gaps)).
    """
    grid = centred_grid(point_mm, field_mm, STRIP_PIXEL_MM)
    centre = np.asarray(point_mm, dtype=np.float64)
    offsets = np.arange(-half_range_mm, half_range_mm + 1e-9, step_mm)
    frames = []
    for offset in offsets:
        if cancelled is not None and cancelled():
            raise InterruptedError("cine cancelled")
        plane = centre + np.array([0.0, 0.0, offset])
        tiles = []
        for panel in panels:
            tiles.append(panel_rgba(panel, notes, plane, grid)[..., :3])
            tiles.append(np.zeros((grid.shape[0], GAP_PX, 3), np.uint8))
        frames.append(
            np.concatenate(tiles[:-1], axis=1) if tiles else np.zeros((8, 8, 3), np.uint8)
        )
    return frames


def write_cine_gif(frames: Sequence[np.ndarray], path: str | Path, *, frame_ms: int = 150) -> Path:
    """Write frames (uint8 RGB) as a looping GIF; no comment or text is stored in it."""
    path = Path(path)
    images = [Image.fromarray(np.ascontiguousarray(frame)) for frame in frames]
    first, *rest = images
    first.save(path, format="GIF", save_all=True, append_images=rest, duration=frame_ms, loop=0)
    return path
