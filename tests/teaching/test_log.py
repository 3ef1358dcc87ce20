"""The trainee's history: appended line by line, damaged lines skipped, the rest kept."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from tests.teaching import synthetic
from viewer.errors import SaveError
from viewer.teaching.agreement import compare_readings
from viewer.teaching.log import LogEntry, append_entry, log_path, read_history

WHEN = dt.datetime(2024, 5, 2, 10, 30, tzinfo=dt.UTC)


def entry(case: str, dice: float | None = 0.8) -> LogEntry:
    return LogEntry(case, WHEN, "A. Trainee", dice, 1.5, 4, 5, 1, 0)


def test_entries_come_back_in_order(tmp_path: Path) -> None:
    assert read_history(tmp_path).entries == []
    path = append_entry(tmp_path, entry("case 1"))
    append_entry(tmp_path, entry("case 2", dice=None))
    assert path == log_path(tmp_path) == tmp_path / "teaching" / "history.jsonl"
    history = read_history(tmp_path)
    assert history.entries == [entry("case 1"), entry("case 2", dice=None)]
    assert history.warnings == []
    assert len(path.read_bytes().splitlines()) == 2


def test_an_entry_from_a_comparison(tmp_path: Path) -> None:
    agreement = compare_readings(synthetic.trainee_missing_l2(), synthetic.reference())
    made = LogEntry.of(agreement, "Spheres", reader="A. Trainee", submitted=WHEN)
    assert (made.categories_agreed, made.categories_total) == (1, 2)
    assert (made.lesions_missed, made.lesions_extra) == (1, 0)
    assert made.mean_dice == pytest.approx(2 / 3)
    assert made.mean_hd95_mm == 0.0
    append_entry(tmp_path, made)
    assert read_history(tmp_path).entries == [made]


def test_a_damaged_line_is_skipped_and_the_rest_kept(tmp_path: Path) -> None:
    for case in ("a", "b", "c"):
        append_entry(tmp_path, entry(case))
    path = log_path(tmp_path)
    lines = path.read_bytes().splitlines()
    broken = json.loads(lines[1])
    broken["categories_agreed"] = 9  # more than the 5 compared
    lines[1] = json.dumps(broken).encode()
    lines.insert(2, b"\xff\xfe not utf-8")
    lines.insert(3, b'{"format": "something-else"}')
    path.write_bytes(b"\n".join(lines) + b"\n")
    history = read_history(tmp_path)
    assert [e.case_label for e in history.entries] == ["a", "c"]
    assert len(history.warnings) == 3
    assert all(str(path) in w for w in history.warnings)
    assert "line 2 skipped" in history.warnings[0] and "9 of 5" in history.warnings[0]


def test_a_line_cut_off_by_a_crash_costs_only_itself(tmp_path: Path) -> None:
    append_entry(tmp_path, entry("a"))
    path = log_path(tmp_path)
    whole = json.dumps(entry("b").to_json()).encode()
    path.write_bytes(path.read_bytes() + whole[: len(whole) // 2])  # killed mid-line
    append_entry(tmp_path, entry("c"))
    history = read_history(tmp_path)
    assert [e.case_label for e in history.entries] == ["a", "c"]
    assert len(history.warnings) == 1 and "line 2" in history.warnings[0]


def test_unwritable_log_raises_save_error(tmp_path: Path) -> None:
    (tmp_path / "teaching").write_text("a file where the folder should be")
    with pytest.raises(SaveError, match="teaching"):
        append_entry(tmp_path, entry("a"))
    history = read_history(tmp_path)
    assert history.entries == [] and "cannot be read" in history.warnings[0]
