"""Who drew what, in the case file: saved, reopened, journalled; older files load without it, a
damaged record is dropped with a warning, never refusing the case."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import numpy as np
import pytest

from tests.io.test_case_file import make_case, painted_history
from viewer.core.provenance import CaseProvenance, OutlineProvenance, Stamp
from viewer.io.case_file import MANIFEST, load_case, read_journal, save_case, write_journal

DRAWN = Stamp("alice", dt.datetime(2026, 11, 30, 10, 12, tzinfo=dt.UTC))
EDITED = Stamp("bob", dt.datetime(2026, 12, 1, 9, 0, 5, tzinfo=dt.UTC))


def case_with_provenance():
    case = make_case()
    key = "1.2.3.1"
    history = painted_history(case.labels[key])
    case.histories[key] = history
    first = OutlineProvenance(DRAWN, DRAWN)
    last = OutlineProvenance(DRAWN, EDITED)
    case.provenance = CaseProvenance(
        outlines={(key, 1): last, (key, 2): first, ("1.2.3.2", 1): first},
        steps={
            key: [{1: (None, first)}] + [None] * (len(history.steps) - 2) + [{1: (first, last)}]
        },
    )
    return case


def rewrite_manifest(folder, change):
    """Edit a saved manifest's content and seal it again with the documented checksum."""
    path = folder / MANIFEST
    document = json.loads(path.read_bytes())
    change(document["content"])
    canonical = json.dumps(document["content"], sort_keys=True, separators=(",", ":"))
    document["checksum"] = "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()
    path.write_text(json.dumps(document), encoding="utf-8")


def test_provenance_round_trips_through_save_and_the_journal(tmp_path):
    case = case_with_provenance()
    save_case(case, tmp_path / "case", create=True)
    loaded = load_case(tmp_path / "case")
    assert loaded.warnings == []
    assert loaded.provenance == case.provenance
    manifest = json.loads((tmp_path / "case" / MANIFEST).read_bytes())
    entry = next(
        e for e in manifest["content"]["provenance"]["outlines"] if e["series"] == "1.2.3.1"
    )
    assert entry == {
        "series": "1.2.3.1",
        "lesion": 1,
        "drawn_by": "alice",
        "drawn_at": "2026-11-30T10:12:00Z",
        "edited_by": "bob",
        "edited_at": "2026-12-01T09:00:05Z",
    }
    write_journal(case, tmp_path / "case")
    recovered = read_journal(tmp_path / "case")
    assert recovered is not None and recovered.provenance == case.provenance


def test_a_case_saved_before_provenance_loads_with_none_recorded(tmp_path):
    save_case(case_with_provenance(), tmp_path / "case", create=True)
    rewrite_manifest(tmp_path / "case", lambda content: content.pop("provenance"))
    loaded = load_case(tmp_path / "case")
    assert loaded.provenance == CaseProvenance() and loaded.warnings == []
    assert loaded.labels["1.2.3.1"].any()  # the work itself is all there


def test_a_damaged_record_is_dropped_with_a_warning_and_the_outlines_load(tmp_path):
    save_case(case_with_provenance(), tmp_path / "case", create=True)

    def damage(content):
        content["provenance"]["outlines"][0]["drawn_at"] = "the day before yesterday"

    rewrite_manifest(tmp_path / "case", damage)
    loaded = load_case(tmp_path / "case")
    assert loaded.provenance == CaseProvenance()
    assert len(loaded.warnings) == 1 and "who drew" in loaded.warnings[0]
    np.testing.assert_array_equal(loaded.labels["1.2.3.1"], make_case().labels["1.2.3.1"])


def test_step_provenance_that_does_not_fit_its_history_is_refused_or_dropped(tmp_path):
    case = case_with_provenance()
    case.provenance.steps["1.2.3.1"].append(None)
    with pytest.raises(ValueError, match="steps"):
        save_case(case, tmp_path / "case", create=True)
    assert not (tmp_path / "case" / MANIFEST).exists()
    save_case(case_with_provenance(), tmp_path / "case", create=True)
    rewrite_manifest(tmp_path / "case", lambda c: c["provenance"]["undo"][0]["steps"].append(None))
    loaded = load_case(tmp_path / "case")
    assert loaded.provenance.steps == {} and "undo steps" in loaded.warnings[0]
    assert loaded.provenance.outlines == case_with_provenance().provenance.outlines
    assert "1.2.3.1" in loaded.histories  # undo itself still works


def test_provenance_of_series_without_outlines_is_not_written(tmp_path):
    case = case_with_provenance()
    case.provenance.outlines[("1.2.3.9", 1)] = OutlineProvenance(DRAWN, DRAWN)
    case.histories.pop("1.2.3.2", None)
    case.provenance.steps["1.2.3.2"] = [None]  # no history for that series
    save_case(case, tmp_path / "case", create=True)
    loaded = load_case(tmp_path / "case")
    assert ("1.2.3.9", 1) not in loaded.provenance.outlines
    assert set(loaded.provenance.steps) == {"1.2.3.1"}
