"""Label map overlays: cut a visit's label map like its image, colour it lesion by lesion.

A label map lives in its visit's native grid (uint16, 0 background, lesion number elsewhere).
:func:`label_slice` cuts it on a view's screen grid through the visit's registration, with
nearest-neighbour sampling so labels are never blended; :func:`overlay_rgba` turns that slice
into a straight-alpha RGBA overlay (filled or outline only, hidden lesions left out, the active
lesion's edge drawn thicker); :func:`blend` draws it over the windowed image.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

import numpy as np

from viewer.core.volume import Volume
from viewer.display.sampling import TOLERANCE_VOXELS
from viewer.display.slicing import PlaneGrid, SliceRequest, reslice

UNKNOWN_COLOUR = (160, 160, 160)
"""Neutral grey (8-bit RGB) for a label value with no lesion colour: shown, never dropped."""


def label_slice(
    labels: np.ndarray,
    voxel2patient: np.ndarray,
    grid: PlaneGrid,
    position_mm: float,
    patient2reference: np.ndarray | None,
) -> np.ndarray:
    """Cut a label map on a view's screen grid, as the view cuts the image.

    Parameters
    ----------
    labels : ndarray of uint16 (or uint8, bool), shape (Z, Y, X)
        Label map on the visit's native grid. Read as it is at the call: an edit made in place
        shows at the next call.
    voxel2patient : ndarray of shape (4, 4)
        The native grid's voxel -> LPS mm affine.
    grid : PlaneGrid
        The view's screen grid (reference frame).
    position_mm : float
        Position of the view along its plane axis, reference frame, mm.
    patient2reference : ndarray of shape (4, 4) or None
        The visit's registration into the reference frame; None for the identity.

    Returns
    -------
    ndarray of uint16, shape ``grid.shape``
        The label of the voxel nearest to each pixel (halves to the higher index); 0 where the
        pixel lies outside the label map's grid.
    """
    if labels.ndim != 3 or not (labels.dtype == np.bool_ or labels.dtype.kind == "u"):
        raise ValueError(
            f"a label map must be a 3-D unsigned array, got {labels.dtype} {labels.shape}"
        )
    if labels.dtype.itemsize > 2:
        raise ValueError(f"label maps hold uint16 lesion numbers, got {labels.dtype}")
    # a view of the array: Volume freezes arrays that own their data, and this one is being edited
    volume = Volume(labels.view(), voxel2patient)
    reference2patient = np.eye(4) if patient2reference is None else np.linalg.inv(patient2reference)
    slice2voxel = volume.patient2voxel @ (reference2patient @ grid.slice2reference(position_mm))
    cut = _cut_aligned(labels, slice2voxel, grid.shape)
    if cut is not None:
        return cut
    result = reslice(
        SliceRequest(
            volume,
            grid.plane,
            position_mm,
            patient2reference=patient2reference,
            grid=grid,
            interpolation="nearest",
        )
    )
    cut = result.values.astype(np.uint16)  # always a copy: the 0 outside must not reach `labels`
    if result.inside is not None:
        cut[~result.inside] = 0
    return cut


def _nearest_index(coordinates: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Nearest voxel of fractional indices (halves up, as the reslice rounds), and which are on.

    A voxel covers half a step either side of its centre, so the grid spans ``[-0.5, n - 0.5]``.
    """
    slack = TOLERANCE_VOXELS
    on_grid = (coordinates >= -0.5 - slack) & (coordinates <= n - 0.5 + slack)
    return np.clip(np.floor(coordinates + 0.5), 0, n - 1).astype(np.intp), on_grid


def _cut_aligned(
    labels: np.ndarray, slice2voxel: np.ndarray, shape: tuple[int, int]
) -> np.ndarray | None:
    """Nearest-neighbour cut of a view whose screen axes each run along one array axis.

    Then the nearest voxel is found along each screen axis on its own: two 1-D index lookups
    instead of three full-size ones, many times faster than the general reslice for the common
    views of an unregistered (or the reference) visit. None when the view is not such a view.
    """
    screen = np.abs(slice2voxel[:3, :2])
    runs_along = screen > 1e-9 * screen.max(axis=0)
    if not np.all(runs_along.sum(axis=0) == 1):
        return None
    row_axis, column_axis = (int(np.argmax(runs_along[:, s])) for s in (0, 1))
    if row_axis == column_axis:
        return None
    fixed_axis = 3 - row_axis - column_axis
    fixed, fixed_on = _nearest_index(
        np.array([slice2voxel[fixed_axis, 3]]), labels.shape[fixed_axis]
    )
    rows, rows_on = _nearest_index(
        slice2voxel[row_axis, 0] * np.arange(shape[0]) + slice2voxel[row_axis, 3],
        labels.shape[row_axis],
    )
    columns, columns_on = _nearest_index(
        slice2voxel[column_axis, 1] * np.arange(shape[1]) + slice2voxel[column_axis, 3],
        labels.shape[column_axis],
    )
    if not fixed_on[0]:
        return np.zeros(shape, np.uint16)
    plane = np.take(labels, fixed[0], axis=fixed_axis)
    if row_axis > column_axis:
        plane = plane.T
    cut = plane[rows[:, None], columns[None, :]].astype(np.uint16, copy=False)
    cut[~rows_on] = 0
    cut[:, ~columns_on] = 0
    return cut


def _colour_table(size: int, colours: Mapping[int, tuple[int, int, int]], alpha: int) -> np.ndarray:
    """(size,) RGBA packed in uint32 per label value: its colour, grey if unknown, 0 transparent."""
    table = np.empty((size, 4), np.uint8)
    table[:] = (*UNKNOWN_COLOUR, alpha)
    for number, colour in colours.items():
        if number < size:
            table[number] = (*colour, alpha)
    table[0] = 0
    return table.view(np.uint32).reshape(size)


def _edges(labels: np.ndarray) -> np.ndarray:
    """Pixels of a lesion whose label differs from one of their 4 neighbours (bool)."""
    differs = np.zeros(labels.shape, bool)
    vertical = labels[1:] != labels[:-1]
    differs[1:] |= vertical
    differs[:-1] |= vertical
    horizontal = labels[:, 1:] != labels[:, :-1]
    differs[:, 1:] |= horizontal
    differs[:, :-1] |= horizontal
    return differs & (labels != 0)


def _grow_into(seed: np.ndarray, region: np.ndarray) -> np.ndarray:
    """``seed`` plus the pixels of ``region`` 4-adjacent to it."""
    grown = seed.copy()
    grown[1:] |= seed[:-1]
    grown[:-1] |= seed[1:]
    grown[:, 1:] |= seed[:, :-1]
    grown[:, :-1] |= seed[:, 1:]
    return seed | (grown & region)


def _check_colours(colours: Mapping[int, tuple[int, int, int]]) -> None:
    for number, colour in colours.items():
        if not (isinstance(number, int | np.integer) and 1 <= number <= 65535):
            raise ValueError(f"lesion numbers run from 1 to 65535, got {number!r}")
        if len(colour) != 3 or not all(0 <= int(c) <= 255 for c in colour):
            raise ValueError(f"lesion {number}: colour must be three ints 0..255, got {colour!r}")


def overlay_rgba(
    label_slice: np.ndarray,
    colours: Mapping[int, tuple[int, int, int]],
    *,
    opacity: float,
    outline: bool,
    hidden: Collection[int] = (),
    highlight: int | None = None,
    edge_px: int = 1,
) -> np.ndarray:
    """Colour a label slice lesion by lesion, as an overlay to draw over the image.

    Parameters
    ----------
    label_slice : ndarray of uint16 (or uint8, bool), shape (rows, columns)
        Lesion number per screen pixel, 0 for background (see :func:`label_slice`).
    colours : mapping of int to (int, int, int)
        8-bit RGB of each lesion number; numbers without a colour are drawn in
        :data:`UNKNOWN_COLOUR`, never dropped.
    opacity : float
        0 .. 1: alpha of a lesion's inside when filled. Its edge is always opaque, so a low
        opacity still shows where the outline runs.
    outline : bool
        True draws only the edges (pixels whose label differs from a 4-neighbour), opaque.
    hidden : collection of int
        Lesion numbers not to draw; a visible lesion next to a hidden one shows its edge there.
    highlight : int, optional
        The active lesion: its edge is drawn twice as thick (inwards, on its own pixels).
    edge_px : int
        Thickness of the edges in pixels (>= 1), grown inwards: 2 on a picture drawn at twice
        the screen's size keeps the outline as thick, relative to the image, as on screen.

    Returns
    -------
    ndarray of uint8, shape (rows, columns, 4)
        Straight (non-premultiplied) RGBA; transparent where no visible lesion is.

    Notes
    -----
    A lesion running off the screen has no edge drawn along the screen border: it goes on
    beyond it. Where the label map's grid ends inside the view, the slice is 0 there and the edge
    is drawn.
    """
    if label_slice.ndim != 2 or not (
        label_slice.dtype == np.bool_ or label_slice.dtype.kind == "u"
    ):
        raise ValueError(
            "a label slice must be a 2-D unsigned array, "
            f"got {label_slice.dtype} {label_slice.shape}"
        )
    if not 0.0 <= opacity <= 1.0:
        raise ValueError(f"opacity must be between 0 and 1, got {opacity}")
    _check_colours(colours)
    labels = label_slice.astype(np.uint16, copy=False)
    size = int(labels.max(initial=0)) + 1
    if hidden:
        shown = np.ones(size, bool)
        shown[[n for n in hidden if 0 <= n < size]] = False
        labels = np.where(shown[labels], labels, np.uint16(0))
    if edge_px < 1:
        raise ValueError(f"edges are at least 1 pixel thick, got {edge_px}")
    opaque = _colour_table(size, colours, 255)
    edges = _edges(labels)
    inside = labels != 0
    for _ in range(edge_px - 1):
        edges = _grow_into(edges, inside)
    if highlight is not None and 0 < highlight < size:
        active = labels == highlight
        thick = edges & active
        for _ in range(edge_px):
            thick = _grow_into(thick, active)
        edges |= thick
    if outline:
        rgba = np.zeros(labels.shape, np.uint32)
    else:
        rgba = np.take(_colour_table(size, colours, round(opacity * 255)), labels)
    rgba[edges] = opaque[labels[edges]]
    return rgba.view(np.uint8).reshape(*labels.shape, 4)


def blend(rgba_image: np.ndarray, overlay: np.ndarray) -> np.ndarray:
    """Draw a straight-alpha overlay over an image, keeping the image's alpha.

    Parameters
    ----------
    rgba_image : ndarray of uint8, shape (rows, columns, 4)
        The windowed image (transparent where there is no data).
    overlay : ndarray of uint8, shape (rows, columns, 4)
        Straight RGBA, e.g. from :func:`overlay_rgba`.

    Returns
    -------
    ndarray of uint8, shape (rows, columns, 4)
        ``colour = overlay * a + image * (1 - a)`` with ``a`` the overlay's alpha / 255, rounded;
        alpha is the image's, so no overlay shows where the image has no data. Unlike
        :func:`viewer.display.window.composite` (Porter-Duff "over") it is integer arithmetic.

    Examples
    --------
    >>> grey = np.full((1, 1, 4), [100, 100, 100, 255], np.uint8)
    >>> red = np.full((1, 1, 4), [255, 0, 0, 128], np.uint8)
    >>> blend(grey, red)[0, 0]
    array([178,  50,  50, 255], dtype=uint8)
    """
    if rgba_image.shape != overlay.shape or rgba_image.ndim != 3 or rgba_image.shape[-1] != 4:
        raise ValueError(
            f"RGBA shapes differ or are not (rows, columns, 4): {rgba_image.shape}, {overlay.shape}"
        )
    if rgba_image.dtype != np.uint8 or overlay.dtype != np.uint8:
        raise ValueError(f"RGBA arrays must be uint8, got {rgba_image.dtype}, {overlay.dtype}")
    alpha = overlay[..., 3:].astype(np.uint16)
    # whole RGBA pixels at once: contiguous uint16 arrays are several times faster than channel
    # slices; every term is at most 255 * 255, so nothing overflows
    mixed = overlay.astype(np.uint16)
    mixed *= alpha
    under = rgba_image.astype(np.uint16)
    under *= 255 - alpha
    mixed += under
    # x / 255 rounded to the nearest integer, exact for 0 <= x <= 65025
    mixed += 128
    mixed += mixed >> 8
    mixed >>= 8
    result = mixed.astype(np.uint8)
    result[..., 3] = rgba_image[..., 3]
    return result


def lesion_anchors(
    label_slice: np.ndarray, hidden: Collection[int] = ()
) -> dict[int, tuple[int, int]]:
    """Where to label each lesion on a label slice: the top-right corner of its box.

    Parameters
    ----------
    label_slice : ndarray of unsigned int, shape (rows, columns)
    hidden : collection of int
        Lesions not shown (and so not labelled).

    Returns
    -------
    dict of int to (int, int)
        Lesion number -> (top row, rightmost column) of its pixels on the slice.

    Examples
    --------
    >>> cut = np.zeros((5, 6), np.uint16); cut[1:3, 2:4] = 7; cut[4, 0] = 2
    >>> lesion_anchors(cut)
    {2: (4, 0), 7: (1, 3)}
    """
    rows, columns = np.nonzero(label_slice)
    if rows.size == 0:
        return {}
    values = label_slice[rows, columns].astype(np.int64)
    anchors = {}
    for number in np.unique(values).tolist():
        if number in hidden:
            continue
        mine = values == number
        anchors[int(number)] = (int(rows[mine].min()), int(columns[mine].max()))
    return anchors
