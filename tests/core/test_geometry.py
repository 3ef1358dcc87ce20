import numpy as np
import pytest

from viewer.core.geometry import (
    LPS2RAS,
    affine_from_dicom,
    apply_affine,
    axis_codes,
    dominant_plane,
    orientation_is_valid,
    slice_normal,
    voxel_spacing,
)


def test_affine_from_dicom_places_every_pixel_where_the_tags_say():
    # An oblique slice: rows along (cos, sin, 0), columns along -z (a tilted coronal).
    angle = np.deg2rad(20)
    row_cos = np.array([np.cos(angle), np.sin(angle), 0.0])
    col_cos = np.array([0.0, 0.0, -1.0])
    ipp = np.array([-90.0, 30.0, 60.0])
    normal = np.cross(row_cos, col_cos)
    affine = affine_from_dicom(ipp, [*row_cos, *col_cos], [0.8, 0.6], 3.0 * normal)
    # DICOM PS3.3 C.7.6.2.1.1:
    # P = IPP + column_index * col_spacing * row_cos + row_index * row_spacing * col_cos
    slice_index, row_index, column_index = 4, 7, 11
    expected = ipp + 4 * 3.0 * normal + column_index * 0.6 * row_cos + row_index * 0.8 * col_cos
    np.testing.assert_allclose(
        apply_affine(affine, [slice_index, row_index, column_index]), expected
    )
    np.testing.assert_allclose(voxel_spacing(affine), [3.0, 0.8, 0.6])


def test_lps2ras_negates_x_and_y_and_is_its_own_inverse():
    np.testing.assert_allclose(apply_affine(LPS2RAS, [1, 2, 3]), [-1, -2, 3])
    np.testing.assert_allclose(LPS2RAS @ LPS2RAS, np.eye(4))


@pytest.mark.parametrize(
    "iop, valid",
    [
        ([1, 0, 0, 0, 1, 0], True),
        ([0, 0, 0, 0, 0, 0], False),
        ([1, 0, 0, 1, 0, 0], False),
        ([1, 0, 0, 0, 2, 0], False),
        ([np.nan, 0, 0, 0, 1, 0], False),
        ([1, 0, 0, 0, 1], False),
    ],
)
def test_orientation_validity(iop, valid):
    assert orientation_is_valid(iop) is valid


def test_planes_and_letters_for_standard_acquisitions():
    assert dominant_plane([1, 0, 0, 0, 1, 0]) == "axial"
    assert dominant_plane([1, 0, 0, 0, 0, -1]) == "coronal"
    assert dominant_plane([0, 1, 0, 0, 0, -1]) == "sagittal"
    np.testing.assert_allclose(slice_normal([0, 1, 0, 0, 0, -1]), [-1, 0, 0])
    # Head-first supine axial: slices go up (S), rows go to posterior (P), columns to the left (L).
    assert axis_codes(affine_from_dicom([0, 0, 0], [1, 0, 0, 0, 1, 0], [1, 1], [0, 0, 1])) == "SPL"
    # Feet-first supine: row cosine points to the patient's right.
    assert (
        axis_codes(affine_from_dicom([0, 0, 0], [-1, 0, 0, 0, 1, 0], [1, 1], [0, 0, -1])) == "IPR"
    )
    # Prone head-first: rows go anterior.
    assert (
        axis_codes(affine_from_dicom([0, 0, 0], [-1, 0, 0, 0, -1, 0], [1, 1], [0, 0, 1])) == "SAR"
    )
