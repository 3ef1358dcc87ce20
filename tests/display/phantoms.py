"""Volumes with known content for display tests: functions of position sampled on voxel grids."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from viewer.core.geometry import affine_from_dicom, apply_affine
from viewer.core.volume import Volume, VolumeMetadata

AXIAL_IOP = (1, 0, 0, 0, 1, 0)
CORONAL_IOP = (1, 0, 0, 0, 0, -1)


def rigid(degrees=(0.0, 0.0, 0.0), shift_mm=(0.0, 0.0, 0.0)) -> np.ndarray:
    """(4, 4): rotate about x, then y, then z (degrees), then shift (mm)."""
    matrix = np.eye(4)
    for axis, angle in enumerate(np.radians(degrees)):
        c, s = np.cos(angle), np.sin(angle)
        i, j = [k for k in range(3) if k != axis]
        turn = np.eye(4)
        turn[i, i], turn[i, j], turn[j, i], turn[j, j] = c, -s, s, c
        matrix = turn @ matrix
    matrix[:3, 3] = shift_mm
    return matrix


def grid_affine(shape, spacing, iop=AXIAL_IOP, centre=(0.0, 0.0, 0.0)) -> np.ndarray:
    """voxel2patient of a stack centred on ``centre`` (LPS mm); spacing = (slice, row, column)."""
    iop = np.asarray(iop, float)
    normal = np.cross(iop[:3], iop[3:])
    affine = affine_from_dicom((0, 0, 0), iop, spacing[1:], normal * spacing[0])
    middle = apply_affine(affine, (np.asarray(shape) - 1) / 2.0)
    affine[:3, 3] += np.asarray(centre, float) - middle
    return affine


def sampled(
    function: Callable[[np.ndarray], np.ndarray],
    voxel2patient: np.ndarray,
    shape,
    *,
    patient2world: np.ndarray | None = None,
    dtype=np.float32,
    metadata: VolumeMetadata | None = None,
) -> Volume:
    """A volume whose voxel holds ``function(world point of its centre)``.

    ``patient2world`` places the acquisition's patient frame in the world (object) frame: a
    visit scanned with the head moved has ``patient2world`` = its true moving->reference map.
    """
    indices = np.indices(shape).reshape(3, -1).T
    points = apply_affine(voxel2patient, indices)
    if patient2world is not None:
        points = apply_affine(patient2world, points)
    values = function(points).reshape(shape)
    if np.issubdtype(dtype, np.integer):
        values = np.rint(values)
    return Volume(values.astype(dtype), voxel2patient, metadata or VolumeMetadata())


def linear(points: np.ndarray) -> np.ndarray:
    """A linear function of position: trilinear interpolation reproduces it exactly."""
    return points @ np.array([0.7, -1.3, 2.1]) + 50.0


def blobs(points: np.ndarray) -> np.ndarray:
    """A smooth 'head': wide Gaussian blobs (little trilinear error at 1-2 mm sampling)."""
    centres = np.array([[0.0, 0.0, 0.0], [15.0, -10.0, 5.0], [-12.0, 8.0, -6.0]])
    widths = np.array([30.0, 8.0, 10.0])
    heights = np.array([600.0, 300.0, -200.0])
    distance2 = ((points[:, None, :] - centres[None]) ** 2).sum(axis=-1)
    return (heights * np.exp(-distance2 / (2 * widths**2))).sum(axis=-1) + 100.0


def sphere_labels(points: np.ndarray) -> np.ndarray:
    """Label 7 inside a sphere (radius 9 mm at (10, -5, 4)), label 3 in a slab, 0 elsewhere."""
    labels = np.zeros(len(points))
    labels[(points[:, 2] > -20) & (points[:, 2] < -12) & (np.abs(points[:, 0]) < 15)] = 3
    labels[np.linalg.norm(points - np.array([10.0, -5.0, 4.0]), axis=1) < 9.0] = 7
    return labels
