"""Manual registration: a rigid fit to paired landmarks, and small nudges of a transform.

When automatic registration fails, the user clicks the same anatomical points on the reference
and on the moving visit (3 or more pairs) and gets the least-squares rigid transform with the
residual of every landmark in mm, or rotates and shifts the moving visit by hand.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from viewer.core.transform import Transform

MIN_SPREAD_MM = 1.0
"""Landmarks closer than this (RMS) to one straight line leave a rotation undetermined."""


def fit_rigid_to_landmarks(
    reference_points_mm: np.ndarray | Sequence[Sequence[float]],
    moving_points_mm: np.ndarray | Sequence[Sequence[float]],
) -> tuple[Transform, np.ndarray]:
    """Least-squares rigid transform mapping moving landmarks onto their reference partners.

    The Kabsch/Umeyama solution without scaling: the rotation from the SVD of the cross-covariance
    of the centred point sets (a reflection is never returned), the translation from the centroids.

    Parameters
    ----------
    reference_points_mm : array_like of shape (N, 3)
        Landmarks in the reference series' patient coordinates, LPS mm.
    moving_points_mm : array_like of shape (N, 3)
        The same landmarks, in the same order, in the moving series' patient coordinates.

    Returns
    -------
    transform : Transform
        Rigid, moving LPS mm -> reference LPS mm.
    residuals_mm : ndarray of shape (N,)
        Distance from each reference landmark to its mapped moving partner, mm.

    Raises
    ------
    ValueError
        Fewer than 3 pairs, mismatched or non-finite arrays, or landmarks (nearly) on one line.

    Examples
    --------
    >>> ref = np.array([[0.0, 0, 0], [10, 0, 0], [0, 10, 0], [0, 0, 10]])
    >>> transform, residuals = fit_rigid_to_landmarks(ref + [1.0, 2.0, 3.0], ref)
    >>> np.round(transform.apply([0.0, 0.0, 0.0]), 6) + 0.0
    array([1., 2., 3.])
    >>> bool(residuals.max() < 1e-9)
    True
    """
    reference = _points(reference_points_mm, "reference")
    moving = _points(moving_points_mm, "moving")
    if reference.shape != moving.shape:
        raise ValueError(
            f"{len(reference)} reference landmarks but {len(moving)} moving ones: they must pair up"
        )
    if len(reference) < 3:
        raise ValueError(
            f"a rigid fit needs at least 3 landmark pairs, got {len(reference)}; add more points"
        )
    for name, points in (("reference", reference), ("moving", moving)):
        spread = _spread_off_line_mm(points)
        if spread < MIN_SPREAD_MM:
            raise ValueError(
                f"the {name} landmarks lie on one line (within {spread:.2g} mm RMS): the "
                "rotation about that line is undetermined; add a landmark away from the line"
            )
    reference_centre = reference.mean(axis=0)
    moving_centre = moving.mean(axis=0)
    covariance = (moving - moving_centre).T @ (reference - reference_centre)
    u, _, vt = np.linalg.svd(covariance)
    # Flip the least significant axis if the best orthogonal fit is a reflection.
    sign = np.sign(np.linalg.det(vt.T @ u.T)) or 1.0
    rotation = vt.T @ np.diag([1.0, 1.0, sign]) @ u.T
    matrix = np.eye(4)
    matrix[:3, :3] = rotation
    matrix[:3, 3] = reference_centre - rotation @ moving_centre
    transform = Transform(matrix, "rigid")
    residuals = np.linalg.norm(transform.apply(moving) - reference, axis=1)
    return transform, residuals


def nudge(
    transform: Transform,
    *,
    rotate_deg: Sequence[float] = (0.0, 0.0, 0.0),
    translate_mm: Sequence[float] = (0.0, 0.0, 0.0),
    center_mm: Sequence[float] = (0.0, 0.0, 0.0),
) -> Transform:
    """Move the moving series a little further, in the reference frame.

    The extra motion is applied after ``transform``: a rotation about ``center_mm`` (e.g. the
    crosshair), by ``rotate_deg`` about the reference's x (left), y (posterior) and z (superior)
    axes in that order (``Rz @ Ry @ Rx``), then a shift by ``translate_mm``.

    Parameters
    ----------
    transform : Transform
        Current moving -> reference transform.
    rotate_deg : sequence of 3 float
        Rotation about the LPS x, y and z axes, degrees (right-handed).
    translate_mm : sequence of 3 float
        Shift along LPS x, y, z, mm.
    center_mm : sequence of 3 float
        Centre of rotation in reference patient coordinates, LPS mm; it stays in place (before
        the shift).

    Returns
    -------
    Transform
        ``rigid`` unless ``transform`` was affine.

    Examples
    --------
    >>> turned = nudge(Transform(), rotate_deg=(0, 0, 90), center_mm=(10.0, 0.0, 0.0))
    >>> np.round(turned.apply([11.0, 0.0, 0.0]), 9) + 0.0
    array([10.,  1.,  0.])
    """
    rotation = _rotation_xyz(np.deg2rad(np.asarray(rotate_deg, dtype=np.float64)))
    center = np.asarray(center_mm, dtype=np.float64)
    step = np.eye(4)
    step[:3, :3] = rotation
    step[:3, 3] = center - rotation @ center + np.asarray(translate_mm, dtype=np.float64)
    return transform.then(Transform(step, "rigid"))


def rotation_angles_deg(transform: Transform) -> np.ndarray:
    """Angles (x, y, z) in degrees with rotation ``Rz @ Ry @ Rx`` (the :func:`nudge` convention).

    Only meaningful for rigid transforms.

    Examples
    --------
    >>> angles = rotation_angles_deg(nudge(Transform(), rotate_deg=(3.0, -4.0, 5.0)))
    >>> np.round(angles, 9) + 0.0
    array([ 3., -4.,  5.])
    """
    r = transform.moving2reference[:3, :3]
    ay = np.arcsin(np.clip(-r[2, 0], -1.0, 1.0))
    ax = np.arctan2(r[2, 1], r[2, 2])
    az = np.arctan2(r[1, 0], r[0, 0])
    return np.rad2deg([ax, ay, az])


def rotation_angle_deg(transform: Transform) -> float:
    """Total rotation angle of a rigid transform, degrees (0 to 180)."""
    r = transform.moving2reference[:3, :3]
    return float(np.rad2deg(np.arccos(np.clip((np.trace(r) - 1.0) / 2.0, -1.0, 1.0))))


def _rotation_xyz(angles_rad: np.ndarray) -> np.ndarray:
    """``Rz @ Ry @ Rx`` for angles (radians) about x, y, z."""
    cx, cy, cz = np.cos(angles_rad)
    sx, sy, sz = np.sin(angles_rad)
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rz @ ry @ rx


def _points(points: np.ndarray | Sequence[Sequence[float]], name: str) -> np.ndarray:
    """Validate an (N, 3) array of finite landmark coordinates."""
    array = np.asarray(points, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != 3:
        raise ValueError(f"{name} landmarks must be an (N, 3) array of mm, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} landmarks contain NaN or infinite coordinates")
    return array


def _spread_off_line_mm(points: np.ndarray) -> float:
    """RMS distance of the points from their best-fitting straight line, mm."""
    centred = points - points.mean(axis=0)
    singular = np.linalg.svd(centred, compute_uv=False)
    return float(np.sqrt(np.sum(singular[1:] ** 2) / len(points)))
