"""Geometry helpers in DICOM patient coordinates (LPS, millimetres).

Conventions used everywhere in Interval
---------------------------------------
* Arrays are indexed ``(slice, row, column)``: axis 0 steps between slices, axis 1 down the rows
  of a slice (DICOM's column direction), axis 2 along a row (DICOM's row direction).
* A ``voxel2patient`` affine is a (4, 4) matrix whose first three columns follow the array axes in
  that order: ``voxel2patient @ [slice, row, column, 1]`` is the voxel centre in LPS millimetres.
* NIfTI/RAS world coordinates differ from LPS by negating x and y (see :data:`LPS2RAS`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

LPS2RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
"""(4, 4) affine mapping LPS patient to RAS world coordinates (and back: it is its own inverse)."""

_LPS_LETTERS = (("R", "L"), ("A", "P"), ("I", "S"))


def apply_affine(affine: np.ndarray, points: np.ndarray | Sequence[float]) -> np.ndarray:
    """Apply a (4, 4) homogeneous affine to points.

    Parameters
    ----------
    affine : ndarray of shape (4, 4)
    points : array_like of shape (..., 3)

    Returns
    -------
    ndarray of shape (..., 3), float64

    Examples
    --------
    >>> apply_affine(np.diag([2.0, 3.0, 4.0, 1.0]), [1.0, 1.0, 1.0])
    array([2., 3., 4.])
    """
    pts = np.asarray(points, dtype=np.float64)
    return pts @ affine[:3, :3].T + affine[:3, 3]


def voxel_spacing(voxel2patient: np.ndarray) -> np.ndarray:
    """Voxel size along each array axis, in mm.

    Parameters
    ----------
    voxel2patient : ndarray of shape (4, 4)

    Returns
    -------
    ndarray of shape (3,)
        Lengths of the first three columns: (slice step, row spacing, column spacing) in mm.

    Examples
    --------
    >>> voxel_spacing(np.diag([5.0, 0.5, 0.5, 1.0]))
    array([5. , 0.5, 0.5])
    """
    return np.linalg.norm(np.asarray(voxel2patient, dtype=np.float64)[:3, :3], axis=0)


def affine_from_dicom(
    first_position: Sequence[float],
    orientation: Sequence[float],
    pixel_spacing: Sequence[float],
    slice_step: Sequence[float],
) -> np.ndarray:
    """Build a ``voxel2patient`` affine from DICOM geometry.

    Parameters
    ----------
    first_position : sequence of 3 float
        ImagePositionPatient of the first slice in the sorted stack (centre of its first pixel), mm.
    orientation : sequence of 6 float
        ImageOrientationPatient: row direction cosine (along a row) then column direction cosine.
    pixel_spacing : sequence of 2 float
        PixelSpacing as stored: (spacing between rows, spacing between columns), mm.
    slice_step : sequence of 3 float
        Vector from one slice's first pixel to the next slice's, mm (may be oblique to the normal
        for gantry-tilted acquisitions).

    Returns
    -------
    ndarray of shape (4, 4)
        Maps ``(slice, row, column, 1)`` to LPS mm.

    Examples
    --------
    >>> a = affine_from_dicom([0, 0, 0], [1, 0, 0, 0, 1, 0], [0.5, 0.25], [0, 0, 2])
    >>> apply_affine(a, [1, 1, 1])
    array([0.25, 0.5 , 2.  ])
    """
    iop = np.asarray(orientation, dtype=np.float64)
    row_cosine, column_cosine = iop[:3], iop[3:]
    row_spacing, column_spacing = (float(v) for v in pixel_spacing)
    affine = np.eye(4)
    affine[:3, 0] = np.asarray(slice_step, dtype=np.float64)
    affine[:3, 1] = column_cosine * row_spacing
    affine[:3, 2] = row_cosine * column_spacing
    affine[:3, 3] = np.asarray(first_position, dtype=np.float64)
    return affine


def orientation_is_valid(orientation: Sequence[float], *, tolerance: float = 1e-3) -> bool:
    """Whether six direction cosines are two unit vectors at right angles.

    Examples
    --------
    >>> orientation_is_valid([1, 0, 0, 0, 1, 0])
    True
    >>> orientation_is_valid([0, 0, 0, 0, 0, 0])
    False
    """
    iop = np.asarray(orientation, dtype=np.float64)
    if iop.shape != (6,) or not np.all(np.isfinite(iop)):
        return False
    row, col = iop[:3], iop[3:]
    return bool(
        abs(np.linalg.norm(row) - 1) < tolerance
        and abs(np.linalg.norm(col) - 1) < tolerance
        and abs(np.dot(row, col)) < tolerance
    )


def slice_normal(orientation: Sequence[float]) -> np.ndarray:
    """Unit normal of a DICOM slice: row cosine x column cosine.

    Examples
    --------
    >>> slice_normal([1, 0, 0, 0, 1, 0])
    array([0., 0., 1.])
    """
    iop = np.asarray(orientation, dtype=np.float64)
    normal = np.cross(iop[:3], iop[3:])
    return normal / np.linalg.norm(normal)


def direction_letter(vector: Sequence[float]) -> str:
    """The patient direction (L, R, A, P, S or I) a vector points to most.

    Examples
    --------
    >>> direction_letter([0.1, -0.9, 0.2])
    'A'
    """
    v = np.asarray(vector, dtype=np.float64)
    axis = int(np.argmax(np.abs(v)))
    return _LPS_LETTERS[axis][1 if v[axis] > 0 else 0]


def axis_codes(voxel2patient: np.ndarray) -> str:
    """Direction each array axis points to, as three letters (e.g. ``"SPL"`` for a standard axial).

    Examples
    --------
    >>> axis_codes(np.diag([2.0, 1.0, 1.0, 1.0]))
    'LPS'
    """
    return "".join(direction_letter(voxel2patient[:3, i]) for i in range(3))


def dominant_plane(orientation: Sequence[float]) -> str:
    """Name the acquisition plane of a slice: ``"axial"``, ``"coronal"`` or ``"sagittal"``.

    Examples
    --------
    >>> dominant_plane([1, 0, 0, 0, 0, -1])
    'coronal'
    """
    axis = int(np.argmax(np.abs(slice_normal(orientation))))
    return ("sagittal", "coronal", "axial")[axis]


def bounding_box(mask: np.ndarray) -> tuple[slice, slice, slice] | None:
    """Bounding box of the true voxels of a 3-D mask, or None when it is empty."""
    if mask.ndim != 3:
        raise ValueError(f"a label mask must be 3-D, got shape {mask.shape}")
    box = []
    for axis in range(3):
        other = tuple(a for a in range(3) if a != axis)
        present = np.flatnonzero(mask.any(axis=other))
        if present.size == 0:
            return None
        box.append(slice(int(present[0]), int(present[-1]) + 1))
    return tuple(box)
