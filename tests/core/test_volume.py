import numpy as np
import pytest

from viewer.core.volume import Volume, VolumeMetadata


def make_volume(shape=(4, 5, 6), spacing=(3.0, 0.5, 0.5)):
    return Volume(
        np.zeros(shape, np.int16), np.diag([*spacing, 1.0]), VolumeMetadata(modality="CT")
    )


def test_volume_protects_its_array_and_affine():
    vol = make_volume()
    with pytest.raises(ValueError):
        vol.array[0, 0, 0] = 1
    with pytest.raises(ValueError):
        vol.voxel2patient[0, 0] = 2.0


def test_volume_spacing_voxel_volume_and_centre():
    vol = make_volume()
    np.testing.assert_allclose(vol.spacing, [3.0, 0.5, 0.5])
    assert vol.voxel_volume_ml == pytest.approx(3 * 0.5 * 0.5 / 1000)
    np.testing.assert_allclose(vol.center_patient(), [1.5 * 3, 2 * 0.5, 2.5 * 0.5])
    np.testing.assert_allclose(vol.patient2voxel @ vol.voxel2patient, np.eye(4), atol=1e-12)
    assert vol.axis_codes == "LPS"


@pytest.mark.parametrize(
    "affine",
    [np.full((4, 4), np.nan), np.diag([0.0, 1.0, 1.0, 1.0]), np.eye(3)],
)
def test_volume_refuses_unusable_geometry(affine):
    with pytest.raises(ValueError):
        Volume(np.zeros((2, 2, 2), np.int16), affine)


def test_volume_refuses_non_3d_arrays():
    with pytest.raises(ValueError, match="3-D"):
        Volume(np.zeros((2, 2), np.int16), np.eye(4))


def test_with_array_keeps_grid_and_updates_metadata():
    vol = make_volume()
    other = vol.with_array(np.ones(vol.shape, np.float32), units="HU")
    assert other.metadata.units == "HU" and other.metadata.modality == "CT"
    np.testing.assert_array_equal(other.voxel2patient, vol.voxel2patient)
    with pytest.raises(ValueError):
        vol.with_array(np.ones((1, 1, 1)))
