"""Working images for registration: intensity range, grid, head mask."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from tests.registration.phantom import grid, render
from viewer.core.volume import Volume, VolumeMetadata
from viewer.errors import InvalidGeometryError
from viewer.registration.automatic import register
from viewer.registration.preprocess import (
    CT_WINDOW_HU,
    head_mask,
    intensity_range,
    working_image,
)


def test_ct_is_clipped_to_the_soft_tissue_window():
    array = np.array([[[-1024, -100, 0, 40, 200, 1500]]], dtype=np.int16)
    ct = Volume(array, np.eye(4), VolumeMetadata(modality="CT", units="HU"))
    assert intensity_range(ct) == CT_WINDOW_HU
    values = sitk.GetArrayFromImage(working_image(ct, target_spacing_mm=1.0))
    np.testing.assert_array_equal(values.ravel(), [-100, -100, 0, 40, 200, 200])
    assert values.dtype == np.float32


def test_a_ct_without_metadata_is_recognised_by_its_air():
    array = np.full((20, 20, 20), -1000, dtype=np.int16)
    array[5:15, 5:15, 5:15] = 40
    nifti_ct = Volume(array, np.eye(4), VolumeMetadata(description="head.nii.gz"))
    assert intensity_range(nifti_ct) == CT_WINDOW_HU


def test_mri_range_ignores_a_few_extreme_voxels():
    rng = np.random.default_rng(0)
    array = rng.normal(1000, 50, size=(40, 40, 40)).astype(np.float32)
    array[0, 0, :10] = 60000  # a handful of hot voxels (vessel, fat, artefact)
    array[1, 1, 1] = np.nan
    mr = Volume(array, np.eye(4), VolumeMetadata(modality="MR"))
    low, high = intensity_range(mr)
    assert 800 < low < 1000 < high < 1200
    values = sitk.GetArrayFromImage(working_image(mr, target_spacing_mm=1.0))
    assert values.max() == np.float32(high) and values[1, 1, 1] == np.float32(low)


def test_working_grid_is_near_the_target_spacing_and_keeps_geometry():
    affine = grid((30, 100, 120), (5.0, 0.9, 0.9))
    volume = Volume(np.ones((30, 100, 120), np.int16), affine, VolumeMetadata(modality="MR"))
    image = working_image(volume, target_spacing_mm=2.0)
    np.testing.assert_allclose(image.GetSpacing(), (1.8, 1.8, 5.0))
    assert image.GetSize() == (60, 50, 30)
    # Block averages keep the field of view: the first block's centre is half a block in.
    first_block_centre = np.array(affine[:3, 3]) + [0.45, 0.45, 0.0]
    np.testing.assert_allclose(image.GetOrigin(), first_block_centre, atol=1e-9)


def test_head_mask_is_centred_on_the_head_in_ct_and_mri():
    shape = (50, 60, 50)
    for modality in ("MR", "CT"):
        volume = render(shape, grid(shape, (4.0, 4.0, 4.0)), modality=modality)
        image = working_image(volume, target_spacing_mm=4.0)
        mask = sitk.GetArrayFromImage(head_mask(image))
        assert mask[25, 30, 25] == 1  # the brain, inside dark skull and CSF on MRI
        assert mask[0, 0, 0] == 0 and mask[-1, -1, -1] == 0
        scalp = render(shape, grid(shape, (4.0, 4.0, 4.0)), modality="CT").array > -500
        assert mask[scalp].mean() > 0.9  # the scalp too: on MRI the skull splits it off
        centre = np.mean(np.argwhere(mask), axis=0)[::-1]  # (x, y, z) index
        centre_mm = np.array(image.TransformContinuousIndexToPhysicalPoint(centre.tolist()))
        assert np.linalg.norm(centre_mm) < 3.0, (modality, centre_mm)


def test_a_thin_slab_registers_without_collapsing_its_coarse_levels():
    """10 slices of 3 mm used to shrink below 4 voxels at the 8 mm level and crash ITK."""
    z, y, x = np.indices((10, 64, 64))
    head = (((y - 32) / 26.0) ** 2 + ((x - 32) / 22.0) ** 2 + ((z - 4.5) / 8.0) ** 2) < 1.0
    lesion = ((y - 20) ** 2 + (x - 40) ** 2 + ((z - 5) * 1.5) ** 2) < 36  # breaks the symmetry
    ventricle = ((y - 36) / 8.0) ** 2 + ((x - 27) / 3.0) ** 2 < 1.0
    array = np.where(head, 400, 0) + 500 * lesion - 300 * (ventricle & head)
    affine = np.diag([3.0, 2.0, 2.0, 1.0])
    volume = Volume(array.astype(np.int16), affine, VolumeMetadata(modality="MR"))
    shift = np.eye(4)
    shift[:3, 3] = (3.0, -4.0, 0.0)
    moved = Volume(array.astype(np.int16), shift @ affine, VolumeMetadata(modality="MR"))
    result = register(volume, moved)
    np.testing.assert_allclose(result.transform.moving2reference[:3, 3], [-3.0, 4.0, 0.0], atol=1.0)
    np.testing.assert_allclose(result.transform.moving2reference[:3, :3], np.eye(3), atol=0.03)


def test_a_volume_too_thin_to_register_is_refused_with_its_size():
    volume = Volume(np.ones((3, 32, 32), np.int16), np.eye(4), VolumeMetadata(description="scout"))
    with pytest.raises(InvalidGeometryError, match="scout is 3 x 32 x 32 voxels"):
        register(volume, volume)
