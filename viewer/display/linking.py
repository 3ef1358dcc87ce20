"""Geometry of linked views: one crosshair, one plane position, one field of view for every visit.

Linked views draw each visit through its registration on a grid shared in the reference frame, so
a screen pixel is the same anatomical point in all of them. The UI keeps one crosshair point
(reference LPS mm), a zoom and a pan; these pure functions turn that state into what each view
reslices: its plane position and its screen grid. Conventions follow the slice view: zoom 1 fits
the whole shared grid in the viewport; ``pan_mm`` moves the image by mm along (screen right,
screen down). Scrolling moves every linked view by the reference series' slice step
(``slice_positions(reference, plane).step_mm``); the other visits are resliced at that exact
reference-frame position (trilinear), never snapped to their own slices, so all views keep showing
the same plane.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from viewer.core.geometry import apply_affine
from viewer.core.volume import Volume
from viewer.display.slicing import (
    PLANE_AXIS_INDEX,
    PlaneGrid,
    _volume2reference,
    plane_axes,
    plane_grid,
)


def foreground_box(
    array: np.ndarray, threshold: float, *, min_fraction: float = 0.0
) -> tuple[np.ndarray, np.ndarray] | None:
    """The voxel index box of the values above a threshold (the head, not the air around it).

    Parameters
    ----------
    array : ndarray of shape (slices, rows, columns)
    threshold : float
        In the array's units (e.g. HU).
    min_fraction : float
        A slab (one index on an axis) belongs to the box only if more than this fraction of its
        voxels is above ``threshold``, so a few noisy voxels in the air do not widen the box.

    Returns
    -------
    (low, high) : tuple of 2 ndarray of int, shape (3,), or None
        First and last (inclusive) index on each axis holding a value above ``threshold``;
        None when no value does.

    Examples
    --------
    >>> a = np.zeros((4, 5, 6)); a[1, 2:4, 3] = 7
    >>> [v.tolist() for v in foreground_box(a, 1.0)]
    [[1, 2, 3], [1, 3, 3]]
    """
    above = np.asarray(array) > threshold
    low, high = [], []
    for axis in range(3):
        others = tuple(a for a in range(3) if a != axis)
        counts = above.sum(axis=others)
        hits = np.flatnonzero(counts > min_fraction * (above.size // above.shape[axis]))
        if hits.size == 0:
            return None
        low.append(hits[0])
        high.append(hits[-1])
    return np.array(low), np.array(high)


def shared_grid(
    plane: str,
    volumes: Sequence[tuple[Volume, np.ndarray | None]],
    *,
    pixel_mm: float | None = None,
    boxes: Sequence[tuple[np.ndarray, np.ndarray] | None] | None = None,
    margin: float = 0.0,
) -> PlaneGrid:
    """One grid on a plane that covers every linked volume in the reference frame.

    Parameters
    ----------
    plane : {'axial', 'coronal', 'sagittal'}
    volumes : sequence of (Volume, patient2reference)
        The visits shown, each with its registration (``Transform.moving2reference``; ``None``
        for the reference series). The first one should be the reference series.
    pixel_mm : float, optional
        Pixel edge in mm; by default the one :func:`plane_grid` chooses for the first volume, so
        the reference series is shown at its own resolution.
    boxes : sequence of ((3,) int, (3,) int) or None, optional
        Per volume, the voxel index box to cover (e.g. :func:`foreground_box`: the head, so a
        view fits the anatomy rather than the scanner's field of view); None: the whole volume.
    margin : float
        Extra room on every side, as a fraction of the covered extent.

    Returns
    -------
    PlaneGrid
        Covering the projections of all the volumes' voxel centres.
    """
    if not volumes:
        raise ValueError("a shared grid needs at least one volume")
    volume, transform = volumes[0]
    pixel = plane_grid(volume, plane, patient2reference=transform, pixel_mm=pixel_mm).pixel_mm
    right, down, _ = plane_axes(plane)
    boxes = [None] * len(volumes) if boxes is None else list(boxes)
    if len(boxes) != len(volumes):
        raise ValueError(f"{len(boxes)} boxes given for {len(volumes)} volumes")
    lows, highs = [], []
    for (volume, transform), box in zip(volumes, boxes, strict=True):
        first, last = (np.zeros(3), np.array(volume.shape) - 1) if box is None else box
        corners = np.array(np.meshgrid(*zip(first, last, strict=True), indexing="ij"))
        points = apply_affine(_volume2reference(volume, transform), corners.reshape(3, -1).T)
        lows.append([(points @ right).min(), (points @ down).min()])
        highs.append([(points @ right).max(), (points @ down).max()])
    low, high = np.min(lows, axis=0), np.max(highs, axis=0)
    room = (high - low) * margin
    low, high = low - room, high + room
    # round up: unlike one volume's own grid, a shared grid must reach every visit's last voxel
    columns, rows = (np.ceil((high - low) / pixel - 1e-6) + 1).astype(int)
    origin = right * low[0] + down * low[1]
    return PlaneGrid(plane, origin, pixel, (int(rows), int(columns)))


def viewport_grid(
    grid: PlaneGrid,
    viewport_px: tuple[int, int],
    *,
    zoom: float = 1.0,
    pan_mm: tuple[float, float] = (0.0, 0.0),
) -> PlaneGrid:
    """The grid of a viewport's own pixels: what a linked view reslices at screen resolution.

    Every view of the same size with the same zoom and pan gets the same grid, so the same
    screen pixel shows the same reference-frame point in all of them, and the slice is sampled
    once per screen pixel (sharp when zoomed in, no wasted work when zoomed out).

    Parameters
    ----------
    grid : PlaneGrid
        The shared grid (:func:`shared_grid`) that zoom 1 fits in the viewport.
    viewport_px : tuple of 2 int
        (rows, columns) of the viewport in screen pixels.
    zoom : float
        Magnification (> 0); 1 fits ``grid`` in the viewport, centred.
    pan_mm : tuple of 2 float
        Image offset from the viewport centre, mm along (screen right, screen down).

    Returns
    -------
    PlaneGrid
        ``viewport_px`` pixels; pixel (0, 0) is the viewport's top-left screen pixel.

    Examples
    --------
    >>> base = PlaneGrid("axial", np.zeros(3), 1.0, (100, 200))
    >>> view = viewport_grid(base, (100, 100), zoom=2.0)
    >>> view.pixel_mm, view.origin_mm.tolist()
    (1.0, [50.0, 0.0, 0.0])
    """
    rows, columns = viewport_px
    if rows < 1 or columns < 1 or not zoom > 0:
        raise ValueError(f"a viewport needs pixels and a positive zoom, got {viewport_px}, {zoom}")
    right, down, _ = plane_axes(grid.plane)
    height_mm, width_mm = grid.shape[0] * grid.pixel_mm, grid.shape[1] * grid.pixel_mm
    scale = min(columns / width_mm, rows / height_mm) * zoom  # screen pixels per mm
    # the image's top-left corner on screen, as the slice view draws it
    left_px = columns / 2 + (-width_mm / 2 + pan_mm[0]) * scale
    top_px = rows / 2 + (-height_mm / 2 + pan_mm[1]) * scale
    edge = grid.origin_mm - (right + down) * grid.pixel_mm / 2  # corner of pixel (0, 0)
    origin = edge + right * (0.5 - left_px) / scale + down * (0.5 - top_px) / scale
    return PlaneGrid(grid.plane, origin, 1.0 / scale, (int(rows), int(columns)))


@dataclass(frozen=True)
class LinkedView:
    """Where one linked view cuts, and where the crosshair falls on it.

    Attributes
    ----------
    plane : str
    position_mm : float
        The crosshair's reference-frame coordinate along the plane axis (LPS mm): the value to
        put in :class:`viewer.display.slicing.SliceRequest` for every visit in this plane.
    crosshair_px : tuple of 2 float
        (row, column) of the crosshair on the view's grid (fractional pixels; may lie outside).
    """

    plane: str
    position_mm: float
    crosshair_px: tuple[float, float]


def link_views(point_mm: Sequence[float], grids: Sequence[PlaneGrid]) -> tuple[LinkedView, ...]:
    """Cut every linked view through one reference-frame point.

    Parameters
    ----------
    point_mm : sequence of 3 float
        The crosshair, reference LPS mm.
    grids : sequence of PlaneGrid
        Each view's grid (several visits on one plane share one; an orthogonal layout has one
        per plane).

    Returns
    -------
    tuple of LinkedView, one per grid

    Examples
    --------
    >>> grid = PlaneGrid("coronal", np.zeros(3), 0.5, (400, 400))
    >>> link_views([10.0, -20.0, 30.0], [grid])
    (LinkedView(plane='coronal', position_mm=-20.0, crosshair_px=(-60.0, 20.0)),)
    """
    point = np.asarray(point_mm, dtype=np.float64)
    views = []
    for grid in grids:
        position = float(point[PLANE_AXIS_INDEX[grid.plane]])
        row, column, _ = apply_affine(np.linalg.inv(grid.slice2reference(position)), point)
        views.append(LinkedView(grid.plane, position, (float(row), float(column))))
    return tuple(views)


def grid_point(grid: PlaneGrid, position_mm: float, row: float, column: float) -> np.ndarray:
    """Reference-frame point (LPS mm, shape (3,)) of a pixel: where a click moves the crosshair.

    Examples
    --------
    >>> grid = PlaneGrid("axial", np.array([-100.0, -120.0, 0.0]), 0.5, (400, 400))
    >>> grid_point(grid, 12.5, 40, 200).tolist()
    [0.0, -100.0, 12.5]
    """
    return apply_affine(grid.slice2reference(position_mm), (row, column, 0.0))
