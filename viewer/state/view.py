"""The view state a slice view shows, as an evented model (psygnal) that the UI observes."""

from __future__ import annotations

from dataclasses import dataclass, field

from psygnal import evented

from viewer.display.window import WindowLevel

ZOOM_LIMITS = (0.1, 40.0)
"""Smallest and largest zoom factor (1 = the whole slice fits the view)."""


@evented
@dataclass
class ViewState:
    """What a slice view shows. Every field change emits ``view.events.<field>``.

    Attributes
    ----------
    series_key : str or None
        The selected series (``SeriesEntry.key``).
    plane : {'axial', 'coronal', 'sagittal'}
    focus_mm : tuple of 3 float
        Reference-frame point (LPS mm) the three planes pass through; the shown slice position is
        its coordinate along the plane axis (z for axial, y for coronal, x for sagittal).
    zoom : float
        Magnification; 1 fits the whole slice in the view.
    pan_mm : tuple of 2 float
        Offset of the slice centre from the view centre, in mm along (screen right, screen down).
    windows : dict of str to WindowLevel
        The window/level of each series the user has seen, by series key (kept when switching
        series). Replace the dict, do not mutate it, so the change is announced.
    """

    series_key: str | None = None
    plane: str = "axial"
    focus_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)
    zoom: float = 1.0
    pan_mm: tuple[float, float] = (0.0, 0.0)
    windows: dict[str, WindowLevel] = field(default_factory=dict)

    @property
    def window(self) -> WindowLevel | None:
        """Return the window of the selected series, if it has one yet."""
        return self.windows.get(self.series_key) if self.series_key else None

    def set_window(self, key: str, window: WindowLevel) -> None:
        """Set one series' window (announced as a change of ``windows``)."""
        self.windows = {**self.windows, key: window}
