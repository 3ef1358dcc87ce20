"""Volume <-> SimpleITK geometry and transform conversions, by known answers."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from tests.registration.phantom import rigid
from viewer.core.geometry import apply_affine
from viewer.core.transform import Transform
from viewer.core.volume import Volume, VolumeMetadata
from viewer.registration.sitk_bridge import (
    image_from_array,
    image_to_volume,
    image_voxel2patient,
    reference2moving_to_sitk,
    resample_onto,
    sitk_to_reference2moving,
    transform_from_sitk,
    volume_to_image,
)


def oblique_affine() -> np.ndarray:
    """A coronal-ish, rotated, anisotropic, left-handed voxel2patient (as real series have)."""
    rotation = rigid((12.0, -7.0, 25.0), (0, 0, 0))[:3, :3]
    affine = np.eye(4)
    affine[:3, 0] = rotation[:, 1] * 4.0  # slice step 4 mm
    affine[:3, 1] = -rotation[:, 2] * 0.8  # rows 0.8 mm
    affine[:3, 2] = rotation[:, 0] * 0.6  # columns 0.6 mm
    affine[:3, 3] = [-93.2, 41.7, 12.5]
    return affine


SHEARED = np.array([[0, 0, 0.9, -50.0], [0.8, 0.9, 0, -60.0], [2.5, 0, 0, 10.0], [0, 0, 0, 1]])
"""A gantry-tilted CT kept unresampled: the slice step is not perpendicular to the slices."""


@pytest.mark.parametrize("affine", [oblique_affine(), SHEARED], ids=["oblique", "sheared"])
def test_voxel_positions_agree_with_apply_affine(affine):
    array = np.arange(5 * 6 * 7, dtype=np.int16).reshape(5, 6, 7)
    image = image_from_array(array, affine)
    assert image.GetSize() == (7, 6, 5)  # (x = column, y = row, z = slice)
    rng = np.random.default_rng(0)
    for s, r, c in rng.uniform(-1, 7, size=(20, 3)):
        sitk_point = image.TransformContinuousIndexToPhysicalPoint((c, r, s))
        np.testing.assert_allclose(sitk_point, apply_affine(affine, (s, r, c)), atol=1e-9)
    # The same voxel holds the same value.
    assert image[6, 2, 4] == array[4, 2, 6]
    np.testing.assert_array_equal(sitk.GetArrayFromImage(image), array)


def test_affine_round_trips_through_an_image():
    affine = oblique_affine()
    image = image_from_array(np.zeros((3, 4, 5), np.float32), affine)
    np.testing.assert_allclose(image_voxel2patient(image), affine, atol=1e-12)
    volume = Volume(np.ones((3, 4, 5), np.int16), affine, VolumeMetadata(modality="CT"))
    back = image_to_volume(volume_to_image(volume), volume, description="copy")
    np.testing.assert_allclose(back.voxel2patient, affine, atol=1e-12)
    assert back.metadata.modality == "CT" and back.metadata.description == "copy"
    assert back.array.dtype == np.int16


def test_cast_on_the_way_in():
    image = volume_to_image(Volume(np.ones((2, 2, 2), np.int16), np.eye(4)), dtype=np.float32)
    assert image.GetPixelID() == sitk.sitkFloat32


def test_itk_transforms_map_fixed_to_moving():
    moving2reference = rigid((4.0, -9.0, 6.0), (12.0, -3.0, 7.5))
    transform = Transform(moving2reference, "rigid")
    itk = reference2moving_to_sitk(transform)
    assert itk.GetName() == "Euler3DTransform"
    reference_point = np.array([10.0, -20.0, 30.0])
    np.testing.assert_allclose(
        itk.TransformPoint(tuple(reference_point)),
        apply_affine(transform.reference2moving, reference_point),
        atol=1e-9,
    )
    back = transform_from_sitk(itk, "rigid")
    np.testing.assert_allclose(back.moving2reference, moving2reference, atol=1e-12)


def test_affine_transforms_become_itk_affine():
    matrix = np.array(
        [[1.05, 0.02, 0.0, 3.0], [0.0, 0.97, 0.1, -2.0], [0.01, 0.0, 1.0, 5.0], [0, 0, 0, 1]]
    )
    itk = reference2moving_to_sitk(Transform(matrix, "affine"))
    assert itk.GetName() == "AffineTransform"
    np.testing.assert_allclose(sitk_to_reference2moving(itk), np.linalg.inv(matrix), atol=1e-12)


def test_centred_transforms_and_composites_are_read_exactly():
    versor = sitk.VersorRigid3DTransform()
    versor.SetCenter((10.0, 20.0, -5.0))
    versor.SetRotation((0.0, 0.0, 1.0), np.deg2rad(30))
    versor.SetTranslation((1.0, 2.0, 3.0))
    affine = sitk.AffineTransform(3)
    affine.SetCenter((-4.0, 0.0, 8.0))
    affine.SetMatrix((1.1, 0.0, 0.0, 0.0, 0.9, 0.0, 0.0, 0.0, 1.0))
    affine.SetTranslation((-2.0, 0.0, 1.0))
    composite = sitk.CompositeTransform([versor, affine])  # ITK applies the last one first
    point = (3.0, -7.0, 11.0)
    for itk in (versor, affine, composite):
        matrix = sitk_to_reference2moving(itk)
        np.testing.assert_allclose(apply_affine(matrix, point), itk.TransformPoint(point))


def test_non_linear_transforms_are_refused():
    bspline = sitk.BSplineTransform(3)
    with pytest.raises(ValueError, match="not a linear transform"):
        sitk_to_reference2moving(bspline)


def test_resampling_through_a_shift_moves_the_voxels():
    rng = np.random.default_rng(1)
    array = rng.integers(-1000, 2000, size=(6, 8, 10)).astype(np.int16)
    affine = np.diag([2.0, 1.0, 1.0, 1.0])
    moving = Volume(array, affine, VolumeMetadata(modality="CT", units="HU"))
    # moving -> grid shifts by +2 mm along x (columns) and +2 mm along z (one slice).
    shift = np.eye(4)
    shift[:3, 3] = [2.0, 0.0, 2.0]
    out = resample_onto(moving, moving, Transform(shift, "rigid"))
    assert out.array.dtype == np.int16 and out.shape == moving.shape
    np.testing.assert_array_equal(out.array[1:, :, 2:], array[:-1, :, :-2])
    assert np.all(out.array[0] == array.min())  # outside the moving image: its minimum
    labels = resample_onto(
        moving, moving, Transform(shift, "rigid"), interpolation="nearest", default_value=0
    )
    np.testing.assert_array_equal(labels.array[1:, :, 2:], array[:-1, :, :-2])
    assert np.all(labels.array[0] == 0)


def test_resampling_rejects_unknown_interpolation():
    volume = Volume(np.zeros((2, 2, 2), np.float32), np.eye(4))
    with pytest.raises(ValueError, match="interpolation"):
        resample_onto(volume, volume, Transform(), interpolation="cubic")


def test_a_rigid_label_on_a_non_rotation_is_written_exactly():
    almost = rigid((3.0, 0.0, 0.0), (1.0, 2.0, 3.0)) @ np.diag([1.0002, 1.0, 1.0, 1.0])
    itk = reference2moving_to_sitk(Transform(almost, "rigid"))
    assert itk.GetName() == "AffineTransform"
    np.testing.assert_allclose(sitk_to_reference2moving(itk), np.linalg.inv(almost), atol=1e-12)
