"""Spatial transforms between visits, and the registration state of each series.

A transform is named for what it maps: ``moving2reference`` takes DICOM patient coordinates
(LPS, mm) of a moving series to patient coordinates of the reference series. Transforms never
change a Volume; the display reslices through them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np

from viewer.core.geometry import apply_affine


class RegistrationState(enum.Enum):
    """How far a series' alignment to the reference has got (persisted with the case)."""

    NOT_REGISTERED = "not registered"
    AUTOMATIC = "automatic"
    MANUAL = "manual"
    ACCEPTED = "accepted"


@dataclass(frozen=True, eq=False)
class Transform:
    """An affine map between patient spaces.

    Parameters
    ----------
    moving2reference : ndarray of shape (4, 4)
        Homogeneous matrix: LPS mm of the moving series -> LPS mm of the reference series.
    kind : {"identity", "rigid", "affine"}
    """

    moving2reference: np.ndarray = field(default_factory=lambda: np.eye(4))
    kind: str = "identity"

    def __post_init__(self) -> None:
        matrix = np.array(self.moving2reference, dtype=np.float64)
        if matrix.shape != (4, 4) or not np.all(np.isfinite(matrix)):
            raise ValueError("moving2reference must be a finite (4, 4) matrix")
        if not np.allclose(matrix[3], [0, 0, 0, 1]):
            raise ValueError("moving2reference must be affine (last row 0 0 0 1)")
        if abs(np.linalg.det(matrix[:3, :3])) < 1e-9:
            raise ValueError("moving2reference is singular")
        if self.kind not in ("identity", "rigid", "affine"):
            raise ValueError(f"unknown transform kind {self.kind!r}")
        matrix.setflags(write=False)
        object.__setattr__(self, "moving2reference", matrix)

    @property
    def reference2moving(self) -> np.ndarray:
        """Inverse matrix, shape (4, 4): reference LPS mm -> moving LPS mm."""
        return np.linalg.inv(self.moving2reference)

    def apply(self, points_mm: np.ndarray) -> np.ndarray:
        """Map moving-space points (..., 3) in mm to reference space.

        Examples
        --------
        >>> shift = np.eye(4); shift[:3, 3] = [1.0, 2.0, 3.0]
        >>> Transform(shift, "rigid").apply([0.0, 0.0, 0.0])
        array([1., 2., 3.])
        """
        return apply_affine(self.moving2reference, points_mm)

    def then(self, other: Transform) -> Transform:
        """Compose: first this transform, then ``other`` (the kind is the more general one)."""
        order = ("identity", "rigid", "affine")
        kind = max(self.kind, other.kind, key=order.index)
        return Transform(other.moving2reference @ self.moving2reference, kind)


@dataclass(frozen=True)
class Registration:
    """One series' alignment to the reference series, as the case stores it.

    Attributes
    ----------
    series_key, reference_key : str
        ``SeriesEntry.key`` of the moving and the reference series.
    transform : Transform
    state : RegistrationState
    method : str
        How the transform was found, e.g. ``"Mattes MI rigid, 3 levels"``, ``"landmarks (4)"``,
        ``"shared frame of reference"``, ``"manual"``.
    metric_value : float or None
        Final value of the similarity metric (lower is better for Mattes MI), if any.
    iterations : int or None
    elapsed_s : float or None
        Wall time of the registration in seconds.
    landmark_residuals_mm : tuple of float
        Per-landmark distance after the fit, in mm (landmark registration only).
    """

    series_key: str
    reference_key: str
    transform: Transform = field(default_factory=Transform)
    state: RegistrationState = RegistrationState.NOT_REGISTERED
    method: str = ""
    metric_value: float | None = None
    iterations: int | None = None
    elapsed_s: float | None = None
    landmark_residuals_mm: tuple[float, ...] = ()
