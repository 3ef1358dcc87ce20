"""Who made each measurement and when, end to end: a fake reader and clock outline and measure in
a case session; the case is saved, reopened (undo included) and recovered from its journal; the
tables and the PDF report say who drew, edited and hand-measured each lesion, in UTC."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re

import numpy as np
import pytest

from tests.dicom_factory import write_series
from tests.export.test_report import pdf_text
from tests.state.test_case_session import note_all, open_window, paint
from viewer.core.geometry import apply_affine
from viewer.export.privacy import Privacy
from viewer.export.report import write_report
from viewer.export.tables import as_json, case_table, write_csv
from viewer.io.case_file import read_journal
from viewer.state.calipers import Caliper
from viewer.state.case_session import CaseSession
from viewer.state.tracking import Tracking

T0 = dt.datetime(2026, 11, 30, 10, 12, tzinfo=dt.UTC)


class Clock:
    """Each reading one minute after the last, from 2026-11-30 10:12 UTC."""

    def __init__(self) -> None:
        self.readings = 0

    def __call__(self) -> dt.datetime:
        self.readings += 1
        return T0 + dt.timedelta(minutes=self.readings - 1)


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    root = tmp_path_factory.mktemp("provenance") / "patient"
    z, y, x = np.indices((8, 32, 32))
    head = ((((y - 16) / 13) ** 2 + ((x - 16) / 13) ** 2) < 1).astype(np.int16) * 400
    write_series(root / "v1", head, study_date=dt.date(2002, 8, 14), series_number=3, name="a")
    write_series(root / "v2", head + 20, study_date=dt.date(2002, 12, 9), series_number=4, name="b")
    return root


def session_with_tracking(images, clock) -> tuple[CaseSession, list[str], Tracking]:
    """The Qt-free half of a main window, with measurements and one reader for the session."""
    bare, keys = open_window(images)
    comparison = bare.comparison
    tracking = Tracking(
        bare.annotations,
        lambda: comparison.session.catalog,
        lambda key: comparison.loaded(key).volume,
        lambda: case.records,
        comparison.registrations.patient2reference,
    )
    case = CaseSession(bare.annotations, comparison, tracking)
    case.reader.clock = clock
    return case, keys, tracking


def hand_caliper(case, key) -> Caliper:
    """A 12 x 6 mm caliper across the lesion painted at voxel (4, 16, 16), on its slice."""
    affine = case.comparison.loaded(key).volume.voxel2patient
    centre = apply_affine(affine, [4.0, 16.0, 16.0])
    across, down = np.array([1.0, 0, 0]), np.array([0, 1.0, 0])
    return Caliper(
        key, 1, (centre - 6 * across, centre + 6 * across), (centre - 3 * down, centre + 3 * down)
    )


def pdf_lines(pdf: bytes) -> list[str]:
    """The text lines the report draws (each a PDF string shown with Tj), unescaped."""
    found = re.findall(rb"\(((?:[^()\\]|\\.)*)\)\s*Tj", pdf)
    return [re.sub(rb"\\(.)", rb"\1", text).decode("cp1252") for text in found]


def rows_by_visit(table) -> dict[str, dict]:
    out = io.StringIO()
    write_csv(table, out)
    return {row["visit"]: row for row in csv.DictReader(io.StringIO(out.getvalue()))}


def test_who_and_when_survive_save_reopen_undo_journal_and_reach_every_export(images, tmp_path):
    clock = Clock()
    case, keys, tracking = session_with_tracking(images, clock)
    folder = tmp_path / "case.interval"
    case.open(folder)
    note_all(case, keys)
    first, second = keys  # 2002-08-14 (Day 0) and 2002-12-09 (Day 117)
    case.set_reader("alice")
    paint(case, first, (4, 16, 16))  # 10:12 alice draws L1 on Day 0
    paint(case, second, (4, 16, 16))  # 10:13 alice draws L1 on Day 117
    case.set_reader("bob")
    paint(case, second, (4, 16, 19))  # 10:14 bob edits it
    tracking.calipers.override(hand_caliper(case, second))  # 10:15 bob measures by hand
    assert tracking.calipers.stamp(second, 1).text == "bob 2026-11-30 10:15 UTC"
    case.save()
    case.close()

    again, _, tracking = session_with_tracking(images, clock)
    again.open(folder)
    note_all(again, keys)
    notes = again.annotations
    assert notes.outline_provenance(first, 1).drawn.text == "alice 2026-11-30 10:12 UTC"
    edited = notes.outline_provenance(second, 1)
    assert (edited.drawn.text, edited.edited.text) == (
        "alice 2026-11-30 10:13 UTC",
        "bob 2026-11-30 10:14 UTC",
    )
    assert tracking.calipers.stamp(second, 1).text == "bob 2026-11-30 10:15 UTC"

    table = case_table(tracking, Privacy(), {first: 3, second: 4})
    rows = rows_by_visit(table)
    assert set(rows) == {"Day 0", "Day 117"}
    assert (rows["Day 0"]["outline_drawn_by"], rows["Day 0"]["outline_drawn_at_utc"]) == (
        "alice",
        "2026-11-30T10:12:00Z",
    )
    assert rows["Day 0"]["diameters_source"] == "automatic"
    assert rows["Day 0"]["diameters_measured_by"] == ""
    later = rows["Day 117"]
    assert (later["outline_edited_by"], later["outline_edited_at_utc"]) == (
        "bob",
        "2026-11-30T10:14:00Z",
    )
    assert (later["diameters_source"], later["diameters_measured_by"]) == ("manual", "bob")
    assert later["diameters_measured_at_utc"] == "2026-11-30T10:15:00Z"
    assert float(later["longest_mm"]) == pytest.approx(12.0)  # the hand caliper's length
    text = json.dumps(as_json(table))
    # teaching mode: the working times stay, no scan date does
    assert "2002" not in text and "2026-11-30T10:14:00Z" in text

    # the undone edit does not leave its later time on the outline it returns to
    notes.undo(second)
    assert notes.outline_provenance(second, 1).edited.text == "alice 2026-11-30 10:13 UTC"
    report = write_report(
        tracking,
        "Case",
        tmp_path / "report.pdf",
        privacy=Privacy(),
        volumes={k: again.comparison.loaded(k).volume for k in keys},
        series_numbers={first: 3, second: 4},
    )
    pdf = pdf_text(report.read_bytes())
    lines = pdf_lines(pdf)
    at = lines.index("Day 0 L1: outline drawn by alice 2026-11-30 10:12 UTC")
    assert lines[at + 1] == "    volume from the outline; diameters automatic from the outline"
    at = lines.index("Day 117 L1: outline drawn by alice 2026-11-30 10:13 UTC")
    assert lines[at + 1] == (
        "    volume from the outline; diameters hand-measured by bob 2026-11-30 10:15 UTC"
    )
    assert b"2002" not in pdf

    # a crash after an unsaved edit: the journal brings the edit back with its stamp
    again.set_reader("carol")
    paint(again, first, (4, 20, 20))  # 10:16 carol
    assert again.autosave() is None
    recovered = read_journal(folder)
    assert recovered.provenance.outlines[(first, 1)].edited.text == "carol 2026-11-30 10:16 UTC"
    third, _, _ = session_with_tracking(images, clock)
    third.restore(recovered, dirty=True)
    assert third.annotations.outline_provenance(first, 1).drawn.reader == "alice"
    third.annotations.undo(first)
    assert third.annotations.outline_provenance(first, 1).edited.reader == "alice"
    again.close()


def test_a_case_from_before_provenance_reports_it_as_not_recorded(images, tmp_path):
    case, keys, tracking = session_with_tracking(images, Clock())
    case.open(tmp_path / "old.interval")
    note_all(case, keys)
    paint(case, keys[0], (4, 16, 16))
    case.annotations.restore(
        case.annotations.lesions, case.annotations.label_maps(), case.annotations.histories()
    )  # what loading a case saved before provenance gives
    tracking.calipers.restore(
        {
            "manual": [
                {
                    "series": keys[0],
                    "lesion": 1,
                    "long_ends_mm": [list(p) for p in hand_caliper(case, keys[0]).long_ends_mm],
                    "perp_ends_mm": [list(p) for p in hand_caliper(case, keys[0]).perp_ends_mm],
                }
            ]
        }
    )
    table = case_table(tracking, Privacy(), {})
    (row,) = as_json(table)["measurements"]
    assert row["outline_drawn_by"] is None and row["outline_edited_at_utc"] is None
    assert row["diameters_source"] == "manual" and row["diameters_measured_by"] is None
    report = write_report(
        tracking, "Case", tmp_path / "r.pdf", privacy=Privacy(),
        volumes={keys[0]: case.comparison.loaded(keys[0]).volume},
    )  # fmt: skip
    pdf = pdf_text(report.read_bytes())
    lines = pdf_lines(pdf)
    at = lines.index("Day 0 L1: outline: who drew it and when not recorded")
    assert lines[at + 1] == (
        "    volume from the outline; diameters hand-measured (who and when not recorded)"
    )
    case.close()
