"""The new-lesion search as the app plans and runs it, on the demo case."""

from __future__ import annotations

import json

import numpy as np

from tests.conftest import SAMPLE_SCANS
from viewer.io import load_series, scan_paths
from viewer.io.nifti import read_nifti
from viewer.state.new_lesion_search import SearchPlan, plan_search, run_search

DEMO = SAMPLE_SCANS / "demo_case"
TRUTH = json.loads((DEMO / "ground_truth" / "case.json").read_text(encoding="utf-8"))
SERIES = {s["key"]: s for visit in TRUTH["visits"] for s in visit["series"]}
LAST, BEFORE = "2003-03-27/SE09_AX_T1_POST_GAD", "2002-12-09/SE08_AX_T1_POST_GAD"


def test_the_search_pairs_the_previous_contrast_mri_and_finds_the_metastasis():
    catalog = scan_paths([DEMO / "dicom"])
    key = catalog.find_series(SERIES[LAST]["series_instance_uid"]).key
    plan = plan_search(catalog, key)
    assert isinstance(plan, SearchPlan)
    assert plan.previous.key == catalog.find_series(SERIES[BEFORE]["series_instance_uid"]).key
    names = {catalog.find_series(s["series_instance_uid"]).key: name for name, s in SERIES.items()}
    transforms = {k: np.array(SERIES[name]["patient2reference"]) for k, name in names.items()}
    # the reader has outlined the recurrence (L1) on the last visit
    tissue = read_nifti(DEMO / SERIES[LAST]["label_map"]).array
    ids = read_nifti(DEMO / SERIES[LAST]["lesion_map"]).array
    labels = {key: np.where((tissue == 1) & (ids == 1), 1, 0).astype(np.uint16)}
    found = run_search(
        plan,
        lambda k: load_series(catalog.find_series(k)),
        labels,
        transforms.get,
    )
    truth = np.array(TRUTH["visits"][4]["lesions_analytic"]["2"]["centroid_reference_mm"])
    assert 1 <= len(found) <= 4
    assert np.linalg.norm(np.array(found[0].centre_reference_mm) - truth) < 5.0


def test_the_first_visit_has_nothing_to_compare_with():
    catalog = scan_paths([DEMO / "dicom"])
    first = catalog.find_series(SERIES["1995-06-12/SE05_AX_T1_POST_GAD"]["series_instance_uid"])
    assert "No earlier visit" in plan_search(catalog, first.key)
