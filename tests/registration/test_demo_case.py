"""The demo case: automatic rigid registration of every series recovers the true transforms.

Issue 3 asks for a mean target registration error over the brain below 1 mm and a maximum below
2 mm, for MRI <-> MRI and CT <-> MRI. The brain is the phantom's own (sample_scans/demo_phantom.py,
``BRAIN``), mapped into the reference series' patient space by the ground truth's
``anatomy2reference`` and cut to the reference's field of view; the TRE is measured on a 3 mm grid
of points inside it.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from tests.conftest import SAMPLE_SCANS
from tests.registration.phantom import tre_mm
from viewer.core.geometry import apply_affine
from viewer.io import load_series, scan_paths
from viewer.registration import register

DEMO = SAMPLE_SCANS / "demo_case"
TRUTH = json.loads((DEMO / "ground_truth" / "case.json").read_text(encoding="utf-8"))
SERIES = {s["series_instance_uid"]: s for v in TRUTH["visits"] for s in v["series"]}
MOVING_KEYS = [s["key"] for s in SERIES.values() if s["key"] != TRUTH["reference_series"]]


@pytest.fixture(scope="module")
def entries():
    catalog = scan_paths([DEMO / "dicom"])
    return {SERIES[e.series_instance_uid]["key"]: e for e in catalog.all_series()}


@pytest.fixture(scope="module")
def reference(entries):
    return load_series(entries[TRUTH["reference_series"]])


@pytest.fixture(scope="module")
def brain_points(reference):
    sys.path.insert(0, str(SAMPLE_SCANS))
    try:
        from demo_phantom import BRAIN
    finally:
        sys.path.remove(str(SAMPLE_SCANS))
    axis = np.arange(-90.0, 90.1, 3.0)
    cube = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), -1).reshape(-1, 3)
    radii = np.asarray(BRAIN.semi_axes_mm)
    anatomy = cube[np.sum(((cube - BRAIN.centre_mm) / radii) ** 2, axis=1) < 1.0]
    points = apply_affine(np.array(TRUTH["anatomy2reference"]), anatomy)
    index = apply_affine(reference.patient2voxel, points)
    inside = np.all((index > -0.5) & (index < np.asarray(reference.shape) - 0.5), axis=1)
    assert inside.sum() > 15000  # most of the brain is in the reference's field of view
    return points[inside]


def test_every_series_is_in_the_test():
    assert len(MOVING_KEYS) == 7
    modalities = sorted(SERIES[uid]["modality"] for uid in SERIES)
    assert modalities.count("CT") == 3


@pytest.mark.parametrize("key", MOVING_KEYS)
def test_rigid_registration_recovers_the_true_transform(key, entries, reference, brain_points):
    truth = next(s for s in SERIES.values() if s["key"] == key)
    true = np.array(truth["patient2reference"])
    result = register(reference, load_series(entries[key]))
    tre = tre_mm(result.transform.moving2reference, true, brain_points)
    assert tre.mean() < 1.0, f"{key}: mean TRE {tre.mean():.2f} mm"
    assert tre.max() < 2.0, f"{key}: max TRE {tre.max():.2f} mm"
    # The head really moved, so this is not passing for free.
    assert tre_mm(np.eye(4), true, brain_points).mean() > 5.0
