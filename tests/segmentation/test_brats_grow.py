"""Click-to-grow on a real glioma (BraTS 2023, T1 post-contrast): the region must not leak.

A click on the enhancing rim used to widen the range until cortex joined (72 mL over the frontal
lobe). The lesion itself runs about 40 mm inferiorly from the clicked slice, so the extent is judged
in the clicked slice's plane and by the bulk of the region, not by its farthest voxel.
"""

from __future__ import annotations

import numpy as np
import pytest

from viewer.core.geometry import voxel_spacing
from viewer.io.nifti import read_nifti
from viewer.segmentation import grow_from_seed

RIM_CLICK = (80, 100, 168)  # (slice, row, column) on the brightest part of the enhancing rim


@pytest.fixture(scope="module")
def t1c(shared_data):
    path = shared_data / "brats" / "BraTS-GLI-00001-000" / "BraTS-GLI-00001-000-t1c.nii.gz"
    return read_nifti(path)


def test_rim_click_grows_the_enhancing_ring_without_leaking(t1c):
    image = np.asarray(t1c.array, dtype=np.float32)
    grown = grow_from_seed(image, RIM_CLICK, voxel2patient=t1c.voxel2patient)
    volume_ml = float(grown.mask.sum()) * t1c.voxel_volume_ml
    assert 3.0 <= volume_ml <= 20.0, f"grown {volume_ml:.1f} mL"

    spacing_mm = voxel_spacing(t1c.voxel2patient)
    offsets_mm = (np.argwhere(grown.mask) - np.array(RIM_CLICK)) * spacing_mm
    distance_mm = np.linalg.norm(offsets_mm, axis=1)
    in_plane_mm = distance_mm[offsets_mm[:, 0] == 0]
    assert in_plane_mm.max() <= 25.0  # the ring on the clicked slice is about 20 mm across
    assert np.median(distance_mm) <= 25.0

    # enhancement, not grey matter: nearly all of the region is brighter than 90 % of the brain
    brain = image[image > 0]
    assert np.percentile(image[grown.mask], 10) > np.percentile(brain, 90)
    assert grown.low < image[RIM_CLICK] < grown.high
