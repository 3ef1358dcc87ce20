"""Dice of click-to-grow and carry-forward + re-fit against the demo case's ground truth.

"Lesion" here is the ground truth's enhancing tumour (label 1) of one lesion id: click-to-grow
outlines enhancing tissue, and the necrotic core (label 2) is a separate structure.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import ndimage

from tests.conftest import SAMPLE_SCANS
from viewer.core.geometry import voxel_spacing
from viewer.core.transform import Transform
from viewer.io import load_series, scan_paths
from viewer.io.nifti import read_nifti
from viewer.segmentation import carry_forward, grow_from_seed, refit

DEMO = SAMPLE_SCANS / "demo_case"
TRUTH = json.loads((DEMO / "ground_truth" / "case.json").read_text(encoding="utf-8"))
SERIES = {s["key"]: s for visit in TRUTH["visits"] for s in visit["series"]}
ENHANCING = 1
MR_WITH_TUMOUR = [
    "1995-06-12/SE05_AX_T1_POST_GAD",
    "2002-08-14/SE07_AX_T1_POST_GAD",
    "2002-12-09/SE08_AX_T1_POST_GAD",
    "2003-03-27/SE09_AX_T1_POST_GAD",
]


@pytest.fixture(scope="module")
def demo():
    catalog = scan_paths([DEMO / "dicom"])
    cache = {}

    def get(key):
        if key not in cache:
            series = SERIES[key]
            volume = load_series(catalog.find_series(series["series_instance_uid"]))
            labels = read_nifti(DEMO / series["label_map"]).array
            lesions = read_nifti(DEMO / series["lesion_map"]).array
            cache[key] = (volume, labels, lesions)
        return cache[key]

    return get


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2 * float((a & b).sum()) / float(a.sum() + b.sum())


@pytest.mark.parametrize("key", MR_WITH_TUMOUR)
def test_click_to_grow_reaches_dice_085_per_lesion(demo, key):
    volume, labels, lesions = demo(key)
    lesion_ids = np.unique(lesions[labels == ENHANCING])
    assert lesion_ids.size >= 1
    for lesion_id in lesion_ids:
        truth = (labels == ENHANCING) & (lesions == lesion_id)
        # the click: the enhancing voxel deepest inside the lesion (in mm)
        depth = ndimage.distance_transform_edt(truth, sampling=voxel_spacing(volume.voxel2patient))
        seed = np.unravel_index(int(np.argmax(depth)), truth.shape)
        grown = grow_from_seed(volume.array, seed, voxel2patient=volume.voxel2patient)
        assert dice(grown.mask, truth) >= 0.85, f"{key} lesion {lesion_id}"
        assert grown.low < volume.array[seed] < grown.high


def test_carry_forward_then_refit_reaches_dice_080(demo):
    source_key, target_key = "2002-08-14/SE07_AX_T1_POST_GAD", "2002-12-09/SE08_AX_T1_POST_GAD"
    source, source_labels, _ = demo(source_key)
    target, target_labels, _ = demo(target_key)
    carried = carry_forward(
        source_labels == ENHANCING,
        source_voxel2patient=source.voxel2patient,
        source_to_reference=Transform(np.array(SERIES[source_key]["patient2reference"]), "rigid"),
        target_shape=target.array.shape,
        target_voxel2patient=target.voxel2patient,
        target_to_reference=Transform(np.array(SERIES[target_key]["patient2reference"]), "rigid"),
    )
    truth = target_labels == ENHANCING
    # the recurrence grew 16-fold: the carried outline alone overlaps only a little
    assert carried.any() and (carried & truth).any()
    assert dice(carried, truth) < 0.3
    refitted = refit(carried, target.array, voxel2patient=target.voxel2patient)
    assert dice(refitted.mask, truth) >= 0.80
