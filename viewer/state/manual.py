"""Fixing a registration by hand: paired landmarks with a rigid fit, and nudging (no Qt).

Landmarks are kept in each series' own patient coordinates (LPS mm): a point clicked on the
reference series is where it is; a point clicked on the moving visit, which the views draw through
its current transform, is taken back into the moving series' patient space, so the fit does not
depend on the transform it replaces.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from psygnal import Signal

from viewer.core.geometry import apply_affine
from viewer.core.transform import Registration, RegistrationState, Transform
from viewer.registration.landmarks import fit_rigid_to_landmarks, nudge
from viewer.state.registrations import RegistrationStore

MIN_PAIRS = 3


@dataclass(frozen=True)
class LandmarkFit:
    """The rigid fit to the current landmark pairs.

    Attributes
    ----------
    transform : Transform
        Moving LPS mm -> reference LPS mm.
    residuals_mm : tuple of float
        Distance between each reference landmark and its mapped moving partner, mm.
    """

    transform: Transform
    residuals_mm: tuple[float, ...]


class LandmarkEditor:
    """Collects landmark pairs between the reference series and one moving series.

    Signals
    -------
    changed()
        A landmark was added or removed, or the moving series changed.
    """

    changed = Signal()

    def __init__(self, registrations: RegistrationStore) -> None:
        self.registrations = registrations
        self.moving_key: str | None = None
        self.reference_points: list[np.ndarray] = []
        self.moving_points: list[np.ndarray] = []

    def start(self, moving_key: str) -> None:
        """Collect landmarks for a moving series (forgets those of another series).

        Raises
        ------
        ValueError
            The series is the reference (or shares its frame of reference).
        """
        if self.registrations.is_reference(moving_key):
            raise ValueError("choose a view showing a visit other than the reference series")
        if moving_key != self.moving_key:
            self.moving_key = moving_key
            self.clear()

    def clear(self) -> None:
        """Remove every landmark."""
        self.reference_points, self.moving_points = [], []
        self.changed.emit()

    def add(self, series_key: str, point_reference_mm: Sequence[float]) -> str:
        """Add a landmark clicked on a view showing ``series_key`` at a reference-frame point.

        Returns
        -------
        str
            ``"reference"`` or ``"moving"``: which list it joined.

        Raises
        ------
        ValueError
            The view shows neither the reference nor the moving series.
        """
        point = np.asarray(point_reference_mm, dtype=np.float64)
        if self.registrations.is_reference(series_key):
            self.reference_points.append(point)
            side = "reference"
        elif series_key == self.moving_key:
            matrix = self.registrations.patient2reference(series_key)
            moving = point if matrix is None else apply_affine(np.linalg.inv(matrix), point)
            self.moving_points.append(np.asarray(moving, dtype=np.float64))
            side = "moving"
        else:
            raise ValueError("click on the reference view or on the view of the visit being fixed")
        self.changed.emit()
        return side

    def remove_last(self) -> None:
        """Remove the last landmark placed on the side that has more (or the moving one)."""
        if len(self.reference_points) > len(self.moving_points):
            self.reference_points.pop()
        elif self.moving_points:
            self.moving_points.pop()
        self.changed.emit()

    def pairs(self) -> int:
        """Number of complete pairs."""
        return min(len(self.reference_points), len(self.moving_points))

    def fit(self) -> LandmarkFit | None:
        """The least-squares rigid fit once there are 3 pairs (None before).

        Raises
        ------
        ValueError
            The landmarks cannot determine a rotation (e.g. all on one line).
        """
        count = self.pairs()
        if count < MIN_PAIRS:
            return None
        transform, residuals = fit_rigid_to_landmarks(
            np.array(self.reference_points[:count]), np.array(self.moving_points[:count])
        )
        return LandmarkFit(transform, tuple(float(r) for r in residuals))

    def apply(self) -> Registration:
        """Store the fit as the moving series' registration, in state MANUAL.

        Raises
        ------
        ValueError
            Fewer than 3 pairs, or a degenerate configuration.
        """
        fit = self.fit()
        if fit is None or self.moving_key is None:
            raise ValueError(f"place at least {MIN_PAIRS} landmark pairs first")
        registration = Registration(
            series_key=self.moving_key,
            reference_key=self.registrations.reference_key or "",
            transform=fit.transform,
            state=RegistrationState.MANUAL,
            method=f"landmarks ({self.pairs()})",
            landmark_residuals_mm=fit.residuals_mm,
        )
        self.registrations.put(registration)
        # the moving points stay valid (they are in the moving series' own space)
        self.changed.emit()
        return registration

    def markers(self, series_key: str | None) -> list[tuple[np.ndarray, str]]:
        """Landmarks to draw on a view of ``series_key``: (reference-frame point, label)."""
        if series_key is None:
            return []
        if self.registrations.is_reference(series_key):
            return [(p, f"R{i + 1}") for i, p in enumerate(self.reference_points)]
        if series_key != self.moving_key:
            return []
        matrix = self.registrations.patient2reference(series_key)
        return [
            (p if matrix is None else apply_affine(matrix, p), f"M{i + 1}")
            for i, p in enumerate(self.moving_points)
        ]


def nudge_series(
    registrations: RegistrationStore,
    key: str,
    *,
    rotate_deg: Sequence[float] = (0.0, 0.0, 0.0),
    translate_mm: Sequence[float] = (0.0, 0.0, 0.0),
    center_mm: Sequence[float] = (0.0, 0.0, 0.0),
) -> Registration:
    """Move a visit a little further in the reference frame; its registration becomes MANUAL.

    Parameters
    ----------
    rotate_deg : sequence of 3 float
        Rotation about the reference LPS x, y, z axes, degrees, about ``center_mm``.
    translate_mm : sequence of 3 float
        Shift along LPS x, y, z, mm.

    Raises
    ------
    ValueError
        ``key`` is the reference series.
    """
    current = registrations.record(key)
    moved = nudge(
        current.transform, rotate_deg=rotate_deg, translate_mm=translate_mm, center_mm=center_mm
    )
    method = (
        current.method
        if current.method.startswith("nudged")
        else f"nudged ({current.method or 'scanner position'})"
    )
    registration = Registration(
        series_key=key,
        reference_key=registrations.reference_key or "",
        transform=moved,
        state=RegistrationState.MANUAL,
        method=method,
    )
    registrations.put(registration)
    return registration
