"""Known answers on real MRI: BraTS T1c moved by a known rigid transform, recovered from T1c, T1
and FLAIR (BraTS-GLI-00001-000, in ../shared/data; skipped where absent).

The BraTS sequences are co-registered and skull-stripped; T1c is resampled through a rotation of
8 degrees about an oblique axis and a shift of 10 mm, and each sequence is registered to it. TRE is
measured on every third brain voxel of the T1c.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.registration.phantom import tre_mm
from viewer.core.geometry import apply_affine
from viewer.core.transform import Transform
from viewer.io.nifti import read_nifti
from viewer.registration import register
from viewer.registration.sitk_bridge import resample_onto

CASE = "brats/BraTS-GLI-00001-000/BraTS-GLI-00001-000"


def known_motion(centre_mm: np.ndarray) -> np.ndarray:
    """8 degrees about the (1, 2, 2)/3 axis through the centre, then 10 mm along (2, -1, 2)/3."""
    axis = np.array([1.0, 2.0, 2.0]) / 3.0
    angle = np.deg2rad(8.0)
    cross = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    rotation = np.eye(3) + np.sin(angle) * cross + (1 - np.cos(angle)) * cross @ cross
    matrix = np.eye(4)
    matrix[:3, :3] = rotation
    matrix[:3, 3] = centre_mm - rotation @ centre_mm + 10.0 * np.array([2.0, -1.0, 2.0]) / 3.0
    return matrix


@pytest.fixture(scope="module")
def t1c(shared_data):
    return read_nifti(shared_data / f"{CASE}-t1c.nii.gz")


@pytest.mark.parametrize(("sequence", "limit_mm"), [("t1c", 0.1), ("t1n", 1.0), ("t2f", 1.0)])
def test_registration_recovers_a_known_motion(shared_data, t1c, sequence, limit_mm):
    true = known_motion(t1c.center_patient())  # moving patient -> reference (T1c) patient
    source = t1c if sequence == "t1c" else read_nifti(shared_data / f"{CASE}-{sequence}.nii.gz")
    # Resampled so that the moving voxel at y holds the sequence at true(y).
    moving = resample_onto(source, t1c, Transform(np.linalg.inv(true), "rigid"), default_value=0)
    result = register(t1c, moving)
    brain = np.argwhere(t1c.array[::3, ::3, ::3] > 0) * 3
    points = apply_affine(t1c.voxel2patient, brain)
    tre = tre_mm(result.transform.moving2reference, true, points)
    assert tre.mean() < limit_mm, f"{sequence}: mean TRE {tre.mean():.3f} mm"
    assert tre_mm(np.eye(4), true, points).mean() > 8.0
