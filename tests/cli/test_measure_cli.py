"""``interval measure`` on the demo case outlined with its ground truth: volumes, diameters and
the story's categories (recurrence -> progression, new metastasis -> progression)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import shutil
from contextlib import redirect_stdout

import numpy as np
import pytest

from tests.conftest import SAMPLE_SCANS
from viewer.cli.main import run_command
from viewer.core.lesions import LesionSet
from viewer.core.transform import Registration, RegistrationState, Transform
from viewer.io import load_series, scan_paths
from viewer.io.case_file import Case, SeriesRecord, TreatmentEvent, TreatmentKind, save_case
from viewer.io.nifti import read_nifti
from viewer.state.case_session import case_folder_of

DEMO = SAMPLE_SCANS / "demo_case"
IMAGES = DEMO / "dicom"
TRUTH = json.loads((DEMO / "ground_truth" / "case.json").read_text(encoding="utf-8"))
EVENT_KINDS = {
    "surgery": TreatmentKind.SURGERY,
    "radiotherapy start": TreatmentKind.RADIOTHERAPY_START,
    "radiotherapy end": TreatmentKind.RADIOTHERAPY_END,
    "radiosurgery": TreatmentKind.RADIOSURGERY,
}


@pytest.fixture(scope="module")
def demo_case_saved():
    """The demo's T1 post-contrast series outlined with the truth's enhancing tumour, saved."""
    catalog = scan_paths([IMAGES])
    lesions = LesionSet()
    lesions.add("L1 right frontoparietal glioma")
    lesions.add("L2 left occipital metastasis")
    case = Case(lesions=lesions)
    reference = TRUTH["reference_series"]
    keys = {}
    for visit in TRUTH["visits"]:
        for series in visit["series"]:
            if series["modality"] != "MR" or not series["contrast"]:
                continue
            entry = catalog.find_series(series["series_instance_uid"])
            keys[series["key"]] = entry.key
            volume = load_series(entry)
            tissue = read_nifti(DEMO / series["label_map"]).array
            ids = read_nifti(DEMO / series["lesion_map"]).array
            labels = np.where(tissue == 1, ids, 0).astype(np.uint16)
            case.series[entry.key] = SeriesRecord.of_volume(entry.key, visit["date"], volume)
            case.labels[entry.key] = labels
    for visit in TRUTH["visits"]:
        for series in visit["series"]:
            key = keys.get(series["key"])
            if key is None or series["key"] == reference:
                continue
            transform = Transform(np.array(series["patient2reference"]), "rigid")
            case.registrations.append(
                Registration(key, keys[reference], transform, RegistrationState.ACCEPTED)
            )
    case.events = [
        TreatmentEvent(dt.date.fromisoformat(e["date"]), EVENT_KINDS[e["event"]], e["note"])
        for e in TRUTH["history"]
        if e["event"] in EVENT_KINDS
    ]
    folder = case_folder_of([IMAGES])
    folder.parent.mkdir(parents=True, exist_ok=True)
    save_case(case, folder, create=True)
    yield folder
    # the demo's case is shared by every test that opens the demo: leave none behind
    shutil.rmtree(folder)


def measure(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    with redirect_stdout(out):
        code = run_command(["measure", str(IMAGES), "--real-dates", *args])
    return code, out.getvalue()


def truth_of(date: str, lesion: str) -> dict:
    visit = next(v for v in TRUTH["visits"] if v["date"] == date)
    series = next(s for s in visit["series"] if s["modality"] == "MR" and s["contrast"])
    return series["lesions"][lesion]


def test_measure_json_volumes_diameters_and_the_story_categories(demo_case_saved):
    code, text = measure("--criteria", "rano", "--json")
    assert code == 0
    report = json.loads(text)
    assert (report["schema"], report["version"], report["criteria"]["key"]) == (
        "interval-measure", 2, "rano",
    )  # fmt: skip
    assert report["baseline"] == "1995-07-01"  # RANO 2010: the first scan after surgery
    for row in report["measurements"]:
        truth = truth_of(row["visit"], str(row["lesion"]))
        assert row["volume_ml"] == pytest.approx(truth["enhancing_ml"], rel=0.03)
        diameters = truth["axial_diameters_label_map"]
        assert abs(row["longest_mm"] - diameters["longest_mm"]) <= 1.5
        assert abs(row["perpendicular_mm"] - diameters["perpendicular_mm"]) <= 1.5
    categories = {v["visit"]: v["category"] for v in report["visits"]}
    assert categories["1995-07-01"] == "baseline"
    assert categories["2002-08-14"] == "PD"  # recurrence at the margin
    assert categories["2002-12-09"] == "PD"
    assert categories["2003-03-27"] == "PD"
    last = next(v for v in report["visits"] if v["visit"] == "2003-03-27")
    assert 2 in last["new_lesions"] and any("L2" in r for r in last["reasons"])


def test_measure_text_and_csv_carry_units(demo_case_saved):
    code, text = measure("--criteria", "rano2")
    assert code == 0 and "RANO 2.0" in text and "mL" in text and "PD" in text
    code, text = measure("--csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {"volume_ml", "longest_mm", "product_mm2", "centroid_reference_x_mm"} <= set(rows[0])
    assert len(rows) == 5  # L1 at four visits, L2 at the last


def test_measure_without_a_saved_case_says_so(tmp_path, capsys):
    (tmp_path / "images").mkdir()
    assert run_command(["measure", str(tmp_path / "images")]) == 1
    assert "no saved case" in capsys.readouterr().err
