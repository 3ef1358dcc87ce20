"""Qt-free outlining tools on label masks in a visit's native grid.

Editing tools (:func:`paint_ball`, :func:`fill_polygon`) change a boolean mask in place and return
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
from viewer.segmentation.threshold import threshold_region

__all__ = [
    "GrowResult",
    "carry_forward",
    "estimate_range",
    "fill_between_slices",
    "fill_holes",
    "fill_polygon",
    "grow_from_seed",
    "paint_ball",
    "refit",
    "remove_islands",
    "smooth",
    "threshold_region",
]
