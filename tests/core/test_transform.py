import numpy as np
import pytest

from viewer.core.transform import Registration, RegistrationState, Transform


def rotation_z(deg, shift=(0.0, 0.0, 0.0)):
    t = np.deg2rad(deg)
    m = np.eye(4)
    m[:2, :2] = [[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]]
    m[:3, 3] = shift
    return m


def test_transform_maps_points_and_inverts():
    tr = Transform(rotation_z(90, (10, 0, 0)), "rigid")
    np.testing.assert_allclose(tr.apply([1.0, 0.0, 0.0]), [10.0, 1.0, 0.0], atol=1e-12)
    back = np.linalg.inv(tr.moving2reference)
    np.testing.assert_allclose(tr.reference2moving, back)


def test_composition_applies_in_order():
    first = Transform(rotation_z(90), "rigid")
    second = Transform(rotation_z(0, (5, 0, 0)), "rigid")
    np.testing.assert_allclose(first.then(second).apply([1, 0, 0]), [5, 1, 0], atol=1e-12)
    assert Transform().then(Transform(np.diag([2, 1, 1, 1.0]), "affine")).kind == "affine"


@pytest.mark.parametrize(
    "matrix",
    [np.full((4, 4), np.nan), np.zeros((4, 4)), np.ones((3, 3)), np.diag([1, 1, 1, 2.0])],
)
def test_unusable_matrices_are_refused(matrix):
    with pytest.raises(ValueError):
        Transform(matrix, "affine")


def test_a_new_registration_starts_unregistered_with_identity():
    reg = Registration("moving", "reference")
    assert reg.state is RegistrationState.NOT_REGISTERED
    np.testing.assert_array_equal(reg.transform.moving2reference, np.eye(4))
