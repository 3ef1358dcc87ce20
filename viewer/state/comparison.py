"""The comparison view's state: which visit each view shows, the layout, and the linked navigation.

Every view is drawn in the reference frame (the reference series' patient LPS mm): each visit is
resliced through its registration (:class:`viewer.state.registrations.RegistrationStore`), so one
crosshair point, one zoom and one pan show the same anatomy in every view.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from psygnal import evented

from viewer.display.window import AUTO_NAME, NormalisedWindow, WindowLevel

LAYOUTS: dict[str, tuple[int, int]] = {
    "1x1": (1, 1),
    "1x2": (1, 2),
    "1x3": (1, 3),
    "2x2": (2, 2),
    "2x3": (2, 3),
    "ortho": (1, 3),
}
"""Layout name -> (rows, columns) of views. ``"ortho"``: one visit in three orthogonal planes."""

MAX_VIEWS = 6
PAIR_MODES = ("off", "fade", "checkerboard", "flicker", "subtraction")
DATE_FORMATS = ("date", "day")


def view_count(layout: str) -> int:
    """Number of views a layout shows."""
    rows, columns = LAYOUTS[layout]
    return rows * columns


@evented
@dataclass
class ComparisonState:
    """What the comparison view shows. Every field change emits ``state.events.<field>``.

    Attributes
    ----------
    layout : str
        A key of :data:`LAYOUTS`.
    panes : tuple of (str or None)
        Series key shown in each view (up to :data:`MAX_VIEWS`); views beyond the layout's count
        keep their series for when the layout grows again.
    active : int
        The view keys and presets act on (and, in the ``"ortho"`` layout, the one whose series is
        shown in three planes).
    plane : {'axial', 'coronal', 'sagittal'}
        Plane of every view (except in the ``"ortho"`` layout).
    crosshair_mm : tuple of 3 float
        The linked point, reference-frame LPS mm; every view cuts through it.
    zoom : float
        Linked magnification (1 fits the case in a view).
    pan_mm : dict of str to tuple of 2 float
        Image offset of each plane's views, mm along (screen right, screen down); a plane not
        in it is centred. Per plane, so panning the axial view of the ``"ortho"`` layout leaves
        the coronal one where it is; views of one plane share it. Replace, do not mutate.
    ct_window : WindowLevel or None
        Window of linked CT views, in HU (None: the CT opening preset).
    mr_window : NormalisedWindow or None
        Window of linked MRI views, relative to each volume's robust scale (None: the reference
        or first MRI's automatic window).
    mr_window_name : str
        Name of the linked MRI window as the toolbar shows it (``"Auto"``, ``"Custom"``).
    unlinked : dict of int to WindowLevel
        Views whose window is their own, by view index. Replace, do not mutate.
    date_format : {'date', 'day'}
        Visits labelled by date or as "Day N" after the baseline visit.
    pair_mode : str
        One of :data:`PAIR_MODES`; the pair's blend is drawn in the view ``pair[0]``.
    pair : tuple of 2 int
        The two views compared (view indices).
    fade : float
        Fade weight of the second view, 0 to 1.
    checker_mm : float
        Checkerboard square edge, mm.
    flicker_phase : int
        0 or 1: which of the pair flicker mode shows now.
    subtraction_limit : float or None
        Subtraction colour range (normalised units); None: the default for the units.
    """

    layout: str = "1x3"
    panes: tuple[str | None, ...] = (None,) * MAX_VIEWS
    active: int = 0
    plane: str = "axial"
    crosshair_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)
    zoom: float = 1.0
    pan_mm: dict[str, tuple[float, float]] = field(default_factory=dict)
    ct_window: WindowLevel | None = None
    mr_window: NormalisedWindow | None = None
    mr_window_name: str = AUTO_NAME
    unlinked: dict[int, WindowLevel] = field(default_factory=dict)
    date_format: str = "date"
    pair_mode: str = "off"
    pair: tuple[int, int] = (0, 1)
    fade: float = 0.5
    checker_mm: float = 20.0
    flicker_phase: int = 0
    subtraction_limit: float | None = None
