"""The measurements as JSON and CSV: every value round-trips, units name the columns, and teaching
mode writes no real date, UID or name (on the demo case outlined from its ground truth)."""

from __future__ import annotations

import csv
import io
import json
import re

import numpy as np
import pytest

from tests.demo_outlined import linked_demo_case
from viewer.cli.case_input import open_case
from viewer.export.privacy import Privacy
from viewer.export.tables import CSV_COLUMNS, as_json, case_table, write_csv

ISO_DATE = re.compile(r"(19|20)\d\d-?[01]\d-?[0-3]\d")


@pytest.fixture(scope="module")
def demo_case(tmp_path_factory):
    """The demo case saved in a temporary folder next to a link to the demo's images."""
    return linked_demo_case(tmp_path_factory.mktemp("tables"))


@pytest.fixture(scope="module")
def opened(demo_case):
    opened = open_case(demo_case)
    opened.tracking.set_criteria("rano")
    return opened


def table_of(opened, privacy):
    numbers = {e.key: e.series_number for e in opened.catalog.all_series()}
    return case_table(opened.tracking, privacy, numbers)


def test_json_round_trips_every_measurement_and_response(opened):
    table = table_of(opened, Privacy(real_dates=True))
    parsed = json.loads(json.dumps(as_json(table)))
    assert (parsed["schema"], parsed["version"]) == ("interval-measure", 3)
    assert parsed["criteria"]["key"] == "rano" and parsed["baseline"] == "1995-07-01"
    rows = iter(parsed["measurements"])
    count = 0
    for column in table.columns:
        for number, m in sorted(column.measurements.items()):
            row = next(rows)
            count += 1
            assert (row["visit"], row["date"], row["lesion"]) == (
                column.label, column.date.isoformat(), number,
            )  # fmt: skip
            assert row["volume_ml"] == round(m.volume_ml, 4)
            assert row["longest_mm"] == round(m.diameters.longest_mm, 2)
            assert row["perpendicular_mm"] == round(m.diameters.perpendicular_mm, 2)
            assert row["product_mm2"] == round(m.diameters.product_mm2, 1)
            assert row["axial_slice"] == m.diameters.slice_index
            assert row["slices_spanned"] == m.slices_spanned
            assert row["mean_intensity"] == round(m.mean_intensity, 2)
            assert row["centroid_reference_mm"] == [round(v, 2) for v in m.centroid_reference_mm]
            assert row["day"] == (column.date - table.columns[0].date).days
    assert count == 5  # L1 at four visits, L2 at the last
    for visit, response in zip(parsed["visits"], table.assessment.visits, strict=True):
        assert visit["category"] == response.category and visit["status"] == response.status
        if np.isfinite(response.sum_value):
            assert visit["sum"] == round(response.sum_value, 2)
        assert visit["sum_unit"] == "mm2"
    categories = {v["visit"]: v["category"] for v in parsed["visits"]}
    assert categories["2002-12-09"] == "PD" and categories["1995-07-01"] == "baseline"


def test_csv_round_trips_with_units_in_the_column_names(opened):
    table = table_of(opened, Privacy())
    out = io.StringIO()
    write_csv(table, out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert tuple(rows[0]) == CSV_COLUMNS
    for name in ("volume_ml", "longest_mm", "perpendicular_mm", "product_mm2"):
        assert name in CSV_COLUMNS
    assert all(c.endswith("_mm") for c in CSV_COLUMNS if c.startswith("centroid"))
    expected = as_json(table)["measurements"]
    assert len(rows) == len(expected) == 5
    for row, want in zip(rows, expected, strict=True):
        for name in ("volume_ml", "longest_mm", "perpendicular_mm", "product_mm2"):
            assert float(row[name]) == want[name]
        for axis, value in zip("xyz", want["centroid_patient_mm"], strict=True):
            assert float(row[f"centroid_patient_{axis}_mm"]) == value
        assert int(row["lesion"]) == want["lesion"] and int(row["day"]) == want["day"]
        assert row["visit"] == want["visit"] and row["date"] == ""
        assert row["target"] == str(want["target"])


def test_teaching_mode_has_no_real_date_uid_or_patient(opened):
    table = table_of(opened, Privacy(case_label="Teaching 7"))
    text = json.dumps(as_json(table))
    out = io.StringIO()
    write_csv(table, out)
    entries = opened.catalog.all_series()
    for written in (text, out.getvalue()):
        assert not ISO_DATE.search(written), ISO_DATE.search(written)
        for entry in entries:
            assert entry.series_instance_uid not in written
            assert entry.study_instance_uid not in written
            if entry.patient_name:
                assert entry.patient_name not in written
            if entry.patient_id:
                assert entry.patient_id not in written
    parsed = json.loads(text)
    assert parsed["case"] == "Teaching 7"
    assert [v["visit"] for v in parsed["visits"]] == [
        "Day 0", "Day 19", "Day 2620", "Day 2737", "Day 2845",
    ]  # fmt: skip
    assert parsed["baseline"] == "Day 19"
    assert {r["series"] for r in parsed["measurements"]} >= {"Day 2845 S9", "Day 0 S5"}
    # the reasons name the nadir visit by its day, not its date
    last = parsed["visits"][-1]
    assert any("Day " in reason for reason in last["reasons"])


def test_every_column_and_field_is_documented(opened):
    from tests.conftest import PROJECT_ROOT

    doc = (PROJECT_ROOT / "docs" / "cli-measure.md").read_text(encoding="utf-8")
    assert '"version": 3' in doc and "version 3" in doc
    for name in CSV_COLUMNS:
        assert re.search(rf"(?<![\w\"]){name}\b", doc), name
    row = as_json(table_of(opened, Privacy()))["measurements"][0]
    for name in row:
        assert f'"{name}"' in doc, name
    # a case saved without provenance: every who/when cell is empty, the source still known
    assert row["outline_drawn_by"] is None and row["diameters_source"] == "automatic"
