"""``interval measure`` on the demo case outlined with its ground truth: volumes, diameters and
the story's categories (recurrence -> progression, new metastasis -> progression)."""

from __future__ import annotations

import csv
import io
import json
from contextlib import redirect_stdout

import pytest

from tests.demo_outlined import TRUTH, linked_demo_case
from viewer.cli.main import run_command


@pytest.fixture(scope="module")
def demo_case_saved(tmp_path_factory):
    """The demo's contrast MRIs outlined with the truth's enhancing tumour, saved."""
    return linked_demo_case(tmp_path_factory.mktemp("measure"))


def measure(case, *args: str) -> tuple[int, str]:
    out = io.StringIO()
    with redirect_stdout(out):
        code = run_command(["measure", str(case), "--real-dates", *args])
    return code, out.getvalue()


def truth_of(date: str, lesion: str) -> dict:
    visit = next(v for v in TRUTH["visits"] if v["date"] == date)
    series = next(s for s in visit["series"] if s["modality"] == "MR" and s["contrast"])
    return series["lesions"][lesion]


def test_measure_json_volumes_diameters_and_the_story_categories(demo_case_saved):
    code, text = measure(demo_case_saved, "--criteria", "rano", "--json")
    assert code == 0
    report = json.loads(text)
    assert (report["schema"], report["version"], report["criteria"]["key"]) == (
        "interval-measure", 3, "rano",
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
    code, text = measure(demo_case_saved, "--criteria", "rano2")
    assert code == 0 and "RANO 2.0" in text and "mL" in text and "PD" in text
    code, text = measure(demo_case_saved, "--csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {"volume_ml", "longest_mm", "product_mm2", "centroid_reference_x_mm"} <= set(rows[0])
    assert len(rows) == 5  # L1 at four visits, L2 at the last


def test_measure_without_a_saved_case_says_so(tmp_path, capsys):
    (tmp_path / "images").mkdir()
    assert run_command(["measure", str(tmp_path / "images")]) == 1
    assert "no saved case" in capsys.readouterr().err
