"""Landmark registration and manual nudging, by known answers."""

from __future__ import annotations

import numpy as np
import pytest

from tests.registration.phantom import rigid
from viewer.core.geometry import apply_affine
from viewer.core.transform import Transform
from viewer.registration import fit_rigid_to_landmarks, nudge
from viewer.registration.landmarks import rotation_angle_deg, rotation_angles_deg

LANDMARKS_MM = np.array(
    [
        [-11.0, 4.0, 17.0],  # right lateral ventricle
        [11.0, 4.0, 17.0],  # left lateral ventricle
        [25.0, 0.0, 40.0],  # left centrum semiovale
        [-31.0, 2.0, 30.0],  # tumour
        [0.0, -60.0, -10.0],  # frontal pole
    ]
)


def test_exact_recovery_of_a_known_rigid_transform():
    true = rigid((7.0, -5.0, 12.0), (14.0, -9.0, 3.5))
    moving = apply_affine(np.linalg.inv(true), LANDMARKS_MM)
    transform, residuals = fit_rigid_to_landmarks(LANDMARKS_MM, moving)
    assert transform.kind == "rigid"
    np.testing.assert_allclose(transform.moving2reference, true, atol=1e-10)
    assert residuals.shape == (5,)
    np.testing.assert_allclose(residuals, 0.0, atol=1e-10)


def test_three_pairs_are_enough():
    true = rigid((0.0, 0.0, 90.0), (1.0, 2.0, 3.0))
    reference = LANDMARKS_MM[:3]
    transform, residuals = fit_rigid_to_landmarks(
        reference, apply_affine(np.linalg.inv(true), reference)
    )
    np.testing.assert_allclose(transform.moving2reference, true, atol=1e-10)


def test_noisy_landmarks_give_the_least_squares_fit_and_per_landmark_residuals():
    rng = np.random.default_rng(3)
    true = rigid((-4.0, 6.0, 2.0), (-7.0, 5.0, 11.0))
    clicked = apply_affine(np.linalg.inv(true), LANDMARKS_MM) + rng.normal(0, 1.0, (5, 3))
    transform, residuals = fit_rigid_to_landmarks(LANDMARKS_MM, clicked)
    mapped = transform.apply(clicked)
    np.testing.assert_allclose(residuals, np.linalg.norm(mapped - LANDMARKS_MM, axis=1))
    assert 0.3 < residuals.mean() < 3.0
    # Least squares: any small change of the fit makes the sum of squares worse.
    best = np.sum(residuals**2)
    for _ in range(20):
        jitter = rigid(tuple(rng.normal(0, 0.3, 3)), tuple(rng.normal(0, 0.3, 3)))
        moved = apply_affine(jitter @ transform.moving2reference, clicked)
        assert np.sum(np.linalg.norm(moved - LANDMARKS_MM, axis=1) ** 2) > best
    # And it is close to the truth where it matters: within 2 mm at the landmarks.
    assert np.max(np.linalg.norm(mapped - apply_affine(true, clicked), axis=1)) < 2.0


def test_mirror_image_landmarks_still_give_a_rotation():
    mirrored = LANDMARKS_MM * [-1.0, 1.0, 1.0]  # left-right swapped by mistake
    transform, residuals = fit_rigid_to_landmarks(LANDMARKS_MM, mirrored)
    assert np.linalg.det(transform.moving2reference[:3, :3]) == pytest.approx(1.0)
    assert residuals.max() > 5.0  # the residuals show the user the pairs do not match


@pytest.mark.parametrize(
    ("reference", "moving", "message"),
    [
        (LANDMARKS_MM[:2], LANDMARKS_MM[:2], "at least 3 landmark pairs"),
        (LANDMARKS_MM, LANDMARKS_MM[:4], "must pair up"),
        (
            np.array([[0.0, 0, 0], [10, 10, 10], [20, 20, 20.3]]),
            np.array([[0.0, 0, 0], [10, 10, 10], [20, 20, 20.3]]),
            "lie on one line",
        ),
        (np.full((3, 3), np.nan), LANDMARKS_MM[:3], "NaN"),
        (LANDMARKS_MM[:, :2], LANDMARKS_MM[:, :2], r"\(N, 3\)"),
    ],
)
def test_unusable_landmarks_are_refused_with_a_reason(reference, moving, message):
    with pytest.raises(ValueError, match=message):
        fit_rigid_to_landmarks(reference, moving)


def test_nudge_rotates_about_the_crosshair_in_the_reference_frame():
    start = Transform(rigid((3.0, 0.0, 0.0), (5.0, 0.0, 0.0)), "rigid")
    centre = np.array([20.0, -10.0, 15.0])
    nudged = nudge(start, rotate_deg=(0.0, 0.0, 2.0), center_mm=centre)
    # The point under the crosshair stays; a point 10 mm to its left swings by 2 degrees.
    moving_at_centre = apply_affine(start.reference2moving, centre)
    np.testing.assert_allclose(nudged.apply(moving_at_centre), centre, atol=1e-12)
    moving_left = apply_affine(start.reference2moving, centre + [10.0, 0.0, 0.0])
    expected = centre + 10.0 * np.array([np.cos(np.deg2rad(2)), np.sin(np.deg2rad(2)), 0.0])
    np.testing.assert_allclose(nudged.apply(moving_left), expected, atol=1e-12)
    assert nudged.kind == "rigid"


def test_nudge_translates_after_the_current_transform():
    start = Transform(rigid((0.0, 10.0, 0.0), (0.0, 0.0, 0.0)), "rigid")
    nudged = nudge(start, translate_mm=(0.0, 0.0, 1.5))
    point = np.array([3.0, 4.0, 5.0])
    np.testing.assert_allclose(nudged.apply(point), start.apply(point) + [0.0, 0.0, 1.5])


def test_nudges_add_up_and_keep_an_affine_affine():
    start = Transform(np.diag([1.02, 1.0, 0.98, 1.0]), "affine")
    once = nudge(start, rotate_deg=(1.0, 0.0, 0.0))
    twice = nudge(once, rotate_deg=(1.0, 0.0, 0.0))
    assert twice.kind == "affine"
    np.testing.assert_allclose(
        twice.moving2reference, nudge(start, rotate_deg=(2.0, 0.0, 0.0)).moving2reference
    )


def test_rotation_angles_round_trip():
    transform = Transform(rigid((4.0, -7.5, 9.0), (1.0, 1.0, 1.0)), "rigid")
    np.testing.assert_allclose(rotation_angles_deg(transform), [4.0, -7.5, 9.0], atol=1e-9)
    single = Transform(rigid((0.0, 0.0, 8.0), (0.0, 0.0, 0.0)), "rigid")
    assert rotation_angle_deg(single) == pytest.approx(8.0)
