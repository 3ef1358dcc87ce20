"""Qt-free outlining tools on label masks in a visit's native grid.

Editing tools (:func:`paint_ball`, :func:`fill_polygon`, and on any view plane
:func:`paint_disc`, :func:`fill_polygon_on_plane`) change a boolean mask in place and return
the box they touched (for undo); proposing tools (:func:`threshold_region`,
:func:`grow_from_seed`, :func:`carry_forward`, :func:`refit`, :func:`fill_between_slices` and the
clean-up tools :func:`remove_islands`, :func:`fill_holes`, :func:`smooth`) return a new mask to
preview.
"""

from viewer.segmentation.brush import paint_ball
from viewer.segmentation.carry import carry_forward, refit
from viewer.segmentation.cleanup import fill_holes, remove_islands, smooth
from viewer.segmentation.contour import fill_polygon
from viewer.segmentation.grow import GrowResult, estimate_range, grow_from_seed
from viewer.segmentation.interpolate import fill_between_slices
from viewer.segmentation.plane import (
    aligned_axis,
    fill_polygon_on_plane,
    native_point,
    paint_disc,
    plane_slab_half_mm,
)
from viewer.segmentation.threshold import threshold_region

__all__ = [
    "GrowResult",
    "aligned_axis",
    "carry_forward",
    "estimate_range",
    "fill_between_slices",
    "fill_holes",
    "fill_polygon",
    "fill_polygon_on_plane",
    "grow_from_seed",
    "native_point",
    "paint_ball",
    "paint_disc",
    "plane_slab_half_mm",
    "refit",
    "remove_islands",
    "smooth",
    "threshold_region",
]
