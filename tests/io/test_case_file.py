"""Case file: round trip, corrupt manifests, geometry checks, journal, lock (RELIABILITY C)."""

import datetime as dt
import hashlib
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from viewer.core.history import EditHistory
from viewer.core.lesions import LesionKind, LesionSet
from viewer.core.transform import Registration, RegistrationState, Transform
from viewer.core.volume import Volume
from viewer.errors import CaseFileError, SaveError
from viewer.io.case_file import (
    BACKUP,
    LOCK,
    MANIFEST,
    Case,
    CaseLock,
    RecoveryJournal,
    SeriesRecord,
    TreatmentEvent,
    TreatmentKind,
    _checksum,
    _load_manifest,
    geometry_fingerprint,
    load_backup,
    load_case,
    open_case,
    read_journal,
    save_case,
    write_journal,
)

OBLIQUE = np.array(
    [
        [0.0, 0.9, 0.1, -90.5],
        [0.3, 0.0, 0.95, -120.25],
        [4.8, -0.05, 0.0, 33.125],
        [0.0, 0.0, 0.0, 1.0],
    ]
)


def painted_history(labels: np.ndarray, *, undone_extra: bool = False) -> EditHistory:
    """The undo history of painting ``labels`` slice by slice from an empty map.

    With ``undone_extra`` one more edit is recorded and undone, so the history has a redo step.
    """
    history = EditHistory()
    canvas = np.zeros_like(labels)
    for z in range(labels.shape[0]):
        box = (slice(z, z + 1), slice(None), slice(None))
        before = canvas[box].copy()
        canvas[box] = labels[box]
        history.record(canvas, box, before, f"Brush on slice {z}")
    if undone_extra:
        box = (slice(0, 1), slice(0, 2), slice(0, 2))
        before = canvas[box].copy()
        canvas[box] = 1 - np.minimum(before, 1)  # paints where empty, erases where painted
        history.record(canvas, box, before, "Eraser")
        history.undo(canvas)
    np.testing.assert_array_equal(canvas, labels)
    return history


def make_case(version: int = 0) -> Case:
    """A two-visit case; ``version`` changes lesions and labels so versions are told apart."""
    lesions = LesionSet()
    lesions.add("L1 recurrence")
    lesions.add("L2 metastasis", kind=LesionKind.NON_ENHANCING, note="frontal")
    for _ in range(version):
        lesions.add(f"extra {version}")
    series = {
        "1.2.3.1": SeriesRecord("1.2.3.1", "2002-08-14", (6, 20, 24), OBLIQUE),
        "1.2.3.2": SeriesRecord("1.2.3.2", "2002-12-02", (5, 16, 16), np.diag([5.0, 0.5, 0.5, 1])),
    }
    first = np.zeros((6, 20, 24), np.uint16)
    first[:, :, -1] = 1  # faces and corners: lesions at the image edge
    first[0, 0, 0] = 1
    first[-1, -1, -1] = 2
    first[2:4, 5:9, 6:10] = 2
    second = np.zeros((5, 16, 16), np.uint16)
    second[-1, :, 0] = 1
    second[1 + version % 3, 3, 3] = lesions.next_number - 1
    reference2 = np.eye(4)
    reference2[:3, 3] = [1.5, -2.25, 3.0]
    return Case(
        series=series,
        labels={"1.2.3.1": first, "1.2.3.2": second},
        lesions=lesions,
        registrations=[
            Registration(
                "1.2.3.2",
                "1.2.3.1",
                Transform(reference2, "rigid"),
                RegistrationState.ACCEPTED,
                method="Mattes MI rigid, 3 levels",
                metric_value=-0.61,
                iterations=87,
                elapsed_s=2.5,
            ),
            Registration("1.2.3.1", "1.2.3.1", landmark_residuals_mm=(0.5, 1.25)),
        ],
        events=[
            TreatmentEvent(dt.date(2002, 9, 1), TreatmentKind.SURGERY, "gross total"),
            TreatmentEvent(dt.date(2002, 10, 1), TreatmentKind.RADIOTHERAPY_START),
        ],
        notes={"": "teaching case", "2002-12-02": f"version {version}"},
        layout={"view": "compare", "slice": [3, 2], "version": version},
        histories={
            "1.2.3.1": painted_history(first),
            "1.2.3.2": painted_history(second, undone_extra=True),
        },
    )


def assert_same_case(loaded: Case, expected: Case) -> None:
    assert loaded.lesions == expected.lesions
    assert loaded.series.keys() == expected.series.keys()
    for key, record in expected.series.items():
        assert loaded.series[key].visit == record.visit
        assert loaded.series[key].shape == record.shape
        np.testing.assert_array_equal(loaded.series[key].voxel2patient, record.voxel2patient)
    assert loaded.labels.keys() == expected.labels.keys()
    for key, labels in expected.labels.items():
        assert loaded.labels[key].dtype == np.uint16
        np.testing.assert_array_equal(loaded.labels[key], labels)
    assert len(loaded.registrations) == len(expected.registrations)
    for got, want in zip(loaded.registrations, expected.registrations, strict=True):
        np.testing.assert_array_equal(
            got.transform.moving2reference, want.transform.moving2reference
        )
        assert (got.series_key, got.reference_key, got.state, got.method) == (
            want.series_key,
            want.reference_key,
            want.state,
            want.method,
        )
        assert (got.metric_value, got.iterations, got.elapsed_s) == (
            want.metric_value,
            want.iterations,
            want.elapsed_s,
        )
        assert got.landmark_residuals_mm == want.landmark_residuals_mm
        assert got.transform.kind == want.transform.kind
    assert loaded.events == expected.events
    assert loaded.notes == expected.notes
    assert loaded.layout == expected.layout
    assert loaded.histories.keys() == expected.histories.keys()
    for key, history in expected.histories.items():
        assert loaded.histories[key].to_bytes() == history.to_bytes()
    assert loaded.refused == expected.refused
    assert loaded.refused_outlines.keys() == expected.refused_outlines.keys()
    assert loaded.warnings == expected.warnings


def volumes_of(case: Case) -> dict[str, Volume]:
    return {
        key: Volume(np.zeros(r.shape, np.int16), r.voxel2patient) for key, r in case.series.items()
    }


def snapshot(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


# ---------------------------------------------------------------- C30 round trip


def test_c30_round_trip_is_voxel_identical_with_lesions_at_the_edge(tmp_path):
    case = make_case()
    save_case(case, tmp_path)
    loaded = load_case(tmp_path, volumes_of(case))
    assert_same_case(loaded, case)
    labels = sorted(p.name for p in tmp_path.glob("labels-*.nii.gz"))
    assert len(labels) == 2
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    assert (manifest["format"], manifest["format_version"]) == ("interval-case", 1)
    assert manifest["content"]["series"][0]["fingerprint"] == geometry_fingerprint(
        (6, 20, 24), OBLIQUE
    )


def test_the_label_file_is_in_the_series_native_grid(tmp_path):
    from viewer.io.nifti import read_nifti

    case = make_case()
    save_case(case, tmp_path)
    name = json.loads((tmp_path / MANIFEST).read_text())["content"]["label_maps"][0]["file"]
    volume = read_nifti(tmp_path / name)
    assert volume.shape == (6, 20, 24)
    np.testing.assert_allclose(volume.voxel2patient, OBLIQUE, atol=1e-4)
    assert volume.array[0, 0, 0] == 1 and volume.array[-1, -1, -1] == 2


def test_saving_again_keeps_a_backup_and_removes_unused_label_maps(tmp_path):
    old, new, newer = make_case(0), make_case(1), make_case(2)
    save_case(old, tmp_path)
    save_case(new, tmp_path)
    assert_same_case(load_backup(tmp_path), old)
    assert_same_case(load_case(tmp_path), new)
    save_case(newer, tmp_path)
    assert_same_case(load_backup(tmp_path), new)
    # label maps only the version before the backup used are gone; the backup's are kept
    referenced = set()
    for name in (MANIFEST, BACKUP):
        content = json.loads((tmp_path / name).read_text())["content"]
        referenced |= {item["file"] for item in content["label_maps"]}
    assert {p.name for p in tmp_path.glob("labels-*")} == referenced


def test_unchanged_label_maps_are_not_rewritten(tmp_path):
    case = make_case()
    save_case(case, tmp_path)
    before = {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("labels-*")}
    case.notes[""] = "changed only the notes"
    save_case(case, tmp_path)
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("labels-*")} == before


def test_a_removed_folder_is_not_recreated_but_save_as_creates_one(tmp_path):
    target = tmp_path / "gone"
    with pytest.raises(SaveError, match="no longer exists") as error:
        save_case(make_case(), target)
    assert str(target) in str(error.value) and not target.exists()
    save_case(make_case(), target, create=True)
    assert_same_case(load_case(target), make_case())


def test_a_label_map_of_the_wrong_shape_is_refused_before_writing(tmp_path):
    case = make_case()
    case.labels["1.2.3.1"] = np.zeros((6, 20, 23), np.uint16)
    with pytest.raises(ValueError, match="shape"):
        save_case(case, tmp_path)
    assert not (tmp_path / MANIFEST).exists()


# ---------------------------------------------------------------- undo history


def manifest_items(folder, name=MANIFEST) -> dict[str, dict]:
    items = json.loads((folder / name).read_text())["content"]["label_maps"]
    return {item["series"]: item for item in items}


def test_the_undo_history_survives_save_and_reopen(tmp_path):
    case = make_case()
    save_case(case, tmp_path)
    items = manifest_items(tmp_path)
    for key, history in case.histories.items():
        name = items[key]["history"]
        data = (tmp_path / name).read_bytes()
        assert name == f"history-{hashlib.sha256(data).hexdigest()}.npz"
        assert data == history.to_bytes()
    loaded = load_case(tmp_path, volumes_of(case))
    labels = loaded.labels["1.2.3.2"]
    history = loaded.histories["1.2.3.2"]
    assert (history.position, len(history.steps)) == (2, 3)  # slices 1 and 4 were painted
    assert history.redo_description == "Eraser"
    assert history.undo_description == "Brush on slice 4"
    while history.undo(labels):
        pass
    assert not labels.any()  # back to the empty map the painting started from
    for _ in range(2):
        history.redo(labels)
    np.testing.assert_array_equal(labels, case.labels["1.2.3.2"])


def test_unchanged_histories_are_not_rewritten_and_old_ones_are_removed(tmp_path):
    case = make_case()
    save_case(case, tmp_path)
    assert case.labels["1.2.3.2"].flags.writeable  # saving leaves the working map editable
    first = {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("history-*.npz")}
    assert len(first) == 2
    case.notes[""] = "changed only the notes"
    save_case(case, tmp_path)
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("history-*.npz")} == first
    case.histories["1.2.3.2"].undo(case.labels["1.2.3.2"])
    save_case(case, tmp_path)
    save_case(case, tmp_path)  # the backup now names the same files as the manifest
    names = {p.name for p in tmp_path.glob("history-*.npz")}
    assert names == {item["history"] for item in manifest_items(tmp_path).values()}
    assert len(names - set(first)) == 1  # the undo changed one history, and only that one


def test_files_written_before_undo_was_stored_still_load(tmp_path):
    case = make_case()
    case.histories.clear()
    save_case(case, tmp_path)
    assert all("history" not in item for item in manifest_items(tmp_path).values())
    assert not list(tmp_path.glob("history-*"))
    loaded = load_case(tmp_path, volumes_of(case))
    assert_same_case(loaded, case)
    assert loaded.histories == {}


def _swap_history(folder, name):
    other = next(p for p in folder.glob("history-*.npz") if p.name != name)
    (folder / name).write_bytes(other.read_bytes())


def _reference(folder, data: bytes) -> None:
    """Make the manifest name, for series 1.2.3.2, a history file holding ``data``."""
    name = f"history-{hashlib.sha256(data).hexdigest()}.npz"
    (folder / name).write_bytes(data)
    document = json.loads((folder / MANIFEST).read_text())
    for item in document["content"]["label_maps"]:
        if item["series"] == "1.2.3.2":
            item["history"] = name
    document["checksum"] = _checksum(document["content"])
    (folder / MANIFEST).write_text(json.dumps(document))


HISTORY_DAMAGE = {
    "missing": (lambda folder, name: (folder / name).unlink(), "No such file"),
    "truncated": (
        lambda folder, name: (folder / name).write_bytes((folder / name).read_bytes()[:-9]),
        "does not match its hash",
    ),
    "swapped": (_swap_history, "does not match its hash"),
    "not an archive": (lambda folder, name: _reference(folder, b"junk"), "not a valid undo"),
    "another label map's": (
        lambda folder, name: _reference(
            folder, painted_history(np.ones((5, 16, 16), np.uint16)).to_bytes()
        ),
        "does not belong to the saved outlines of series 1.2.3.2",
    ),
}


@pytest.mark.parametrize("damage", sorted(HISTORY_DAMAGE))
def test_a_damaged_history_is_dropped_with_a_warning_and_the_case_opens(tmp_path, damage):
    case = make_case()
    save_case(case, tmp_path)
    damage_folder, reason = HISTORY_DAMAGE[damage]
    damage_folder(tmp_path, manifest_items(tmp_path)["1.2.3.2"]["history"])
    name = manifest_items(tmp_path)["1.2.3.2"]["history"]
    loaded = load_case(tmp_path, volumes_of(case))
    assert loaded.histories.keys() == {"1.2.3.1"}  # only the damaged one is dropped
    assert loaded.labels.keys() == case.labels.keys()
    np.testing.assert_array_equal(loaded.labels["1.2.3.2"], case.labels["1.2.3.2"])
    assert len(loaded.warnings) == 1
    assert loaded.warnings[0].startswith(str(tmp_path / name))
    assert "undo history was dropped" in loaded.warnings[0] and reason in loaded.warnings[0]
    save_case(loaded, tmp_path)  # saving again simply leaves the history out
    assert "history" not in manifest_items(tmp_path)["1.2.3.2"]
    assert load_case(tmp_path).warnings == []


def test_a_history_name_that_is_no_hash_is_a_corrupt_manifest(tmp_path):
    save_case(make_case(), tmp_path)
    document = json.loads((tmp_path / MANIFEST).read_text())
    document["content"]["label_maps"][0]["history"] = "../manifest.json"
    document["checksum"] = _checksum(document["content"])
    (tmp_path / MANIFEST).write_text(json.dumps(document))
    with pytest.raises(CaseFileError, match="history-<sha256>.npz"):
        load_case(tmp_path)


def test_a_history_without_its_label_map_is_refused_before_writing(tmp_path):
    case = make_case()
    del case.labels["1.2.3.2"]
    with pytest.raises(ValueError, match="undo history for series '1.2.3.2'"):
        save_case(case, tmp_path)
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- C27 corrupt manifests


def _checksum_mismatch(data: bytes) -> bytes:
    document = json.loads(data)
    document["content"]["notes"][""] = "edited by hand"
    return json.dumps(document).encode()


def _unknown_version(data: bytes) -> bytes:
    document = json.loads(data)
    document["format_version"] = 7
    return json.dumps(document).encode()


CORRUPTIONS = {
    "truncated": (lambda data: data[: len(data) // 2], "truncated or corrupt"),
    "empty": (lambda data: b"", "empty"),
    "random": (lambda data: os.urandom(len(data)), "not a valid manifest|not an Interval"),
    "unknown version": (_unknown_version, "unknown format version 7.*newer"),
    "checksum": (_checksum_mismatch, "checksum mismatch"),
    "other json": (lambda data: b'{"hello": 1}', "not an Interval case manifest"),
}


@pytest.mark.parametrize("kind", sorted(CORRUPTIONS))
def test_c27_corrupt_manifests_are_refused_untouched_and_the_backup_offered(tmp_path, kind):
    corrupt, reason = CORRUPTIONS[kind]
    save_case(make_case(0), tmp_path)
    save_case(make_case(1), tmp_path)
    bad = corrupt((tmp_path / MANIFEST).read_bytes())
    (tmp_path / MANIFEST).write_bytes(bad)
    before = snapshot(tmp_path)
    with pytest.raises(CaseFileError, match=reason) as error:
        load_case(tmp_path)
    assert str(tmp_path / MANIFEST) in str(error.value)
    with pytest.raises(CaseFileError):
        open_case(tmp_path)  # opening refuses as well, and gives the lock back
    assert not (tmp_path / LOCK).exists()
    assert snapshot(tmp_path) == before
    assert_same_case(load_backup(tmp_path), make_case(0))


def test_c27_a_save_after_a_corrupt_manifest_keeps_the_good_backup(tmp_path):
    save_case(make_case(0), tmp_path)
    save_case(make_case(1), tmp_path)
    (tmp_path / MANIFEST).write_bytes(b"\0" * 100)
    save_case(make_case(2), tmp_path)  # e.g. the reader restored from the journal and saved
    assert_same_case(load_backup(tmp_path), make_case(0))
    assert_same_case(load_case(tmp_path), make_case(2))


@pytest.mark.parametrize("damage", ["truncated", "swapped", "missing"])
def test_c27_damaged_label_maps_are_refused(tmp_path, damage):
    save_case(make_case(0), tmp_path)
    names = [
        i["file"] for i in json.loads((tmp_path / MANIFEST).read_text())["content"]["label_maps"]
    ]
    target = tmp_path / names[0]
    if damage == "truncated":
        target.write_bytes(target.read_bytes()[:-40])
    elif damage == "swapped":
        target.write_bytes((tmp_path / names[1]).read_bytes())
    else:
        target.unlink()
    with pytest.raises(CaseFileError, match=names[0]):
        load_case(tmp_path)


def test_label_values_that_are_no_lesion_are_refused(tmp_path):
    case = make_case()
    case.lesions.remove(2)  # the label maps still hold 2
    save_case(case, tmp_path)
    with pytest.raises(CaseFileError, match=r"label\(s\) \[2\] that are no lesion"):
        load_case(tmp_path)


# ---------------------------------------------------------------- C28 geometry mismatch


def shifted_volumes(case: Case, key: str = "1.2.3.1", shift_mm: float = 2.5) -> dict[str, Volume]:
    """The case's series, with ``key`` moved by ``shift_mm`` along the third LPS axis."""
    volumes = volumes_of(case)
    moved = case.series[key].voxel2patient.copy()
    moved[:3, 3] += [0.0, 0.0, shift_mm]
    volumes[key] = Volume(np.zeros(case.series[key].shape, np.int16), moved)
    return volumes


def label_file_of(folder, key: str) -> str:
    items = json.loads((folder / MANIFEST).read_text())["content"]["label_maps"]
    return next(item["file"] for item in items if item["series"] == key)


def test_c28_outlines_on_another_grid_are_refused_for_that_series_alone(tmp_path):
    case = make_case()
    save_case(case, tmp_path)
    loaded = load_case(tmp_path, shifted_volumes(case))
    assert set(loaded.refused) == {"1.2.3.1"}
    reason = loaded.refused["1.2.3.1"]
    assert reason.startswith(str(tmp_path / label_file_of(tmp_path, "1.2.3.1")))
    assert re.search("1.2.3.1.*another grid.*differ by up to 2.5 mm", reason)
    assert "1.2.3.1" not in loaded.labels and "1.2.3.1" not in loaded.histories
    np.testing.assert_array_equal(loaded.labels["1.2.3.2"], case.labels["1.2.3.2"])
    assert loaded.histories["1.2.3.2"].to_bytes() == case.histories["1.2.3.2"].to_bytes()
    np.testing.assert_array_equal(loaded.series["1.2.3.1"].voxel2patient, OBLIQUE)  # kept
    assert loaded.lesions == case.lesions and loaded.warnings == []

    volumes = volumes_of(case)
    volumes["1.2.3.1"] = Volume(np.zeros((7, 20, 24), np.int16), OBLIQUE)
    loaded = load_case(tmp_path, volumes)
    assert re.search(r"shape \(7, 20, 24\), the outlines \(6, 20, 24\)", loaded.refused["1.2.3.1"])


def test_c28_refused_outlines_come_back_after_saving_with_the_wrong_series(tmp_path):
    case = make_case()
    save_case(case, tmp_path)
    refused = load_case(tmp_path, shifted_volumes(case))
    refused.notes[""] = "worked on with the wrong series loaded"
    box = (slice(0, 1), slice(0, 1), slice(0, 1))
    before = refused.labels["1.2.3.2"][box].copy()
    refused.labels["1.2.3.2"][box] = 2  # the other outlines go on changing
    refused.histories["1.2.3.2"].record(refused.labels["1.2.3.2"], box, before, "Brush on L2")
    save_case(refused, tmp_path)
    save_case(refused, tmp_path)  # twice: the backup no longer names the first save's files
    write_journal(refused, tmp_path)
    moved = tmp_path / "saved-as"
    save_case(refused, moved, create=True)  # Save As carries the files into the new folder
    for folder in (tmp_path, moved):
        back = load_case(folder, volumes_of(case))
        assert back.refused == {} and back.notes[""] == "worked on with the wrong series loaded"
        np.testing.assert_array_equal(back.labels["1.2.3.1"], case.labels["1.2.3.1"])
        assert back.histories["1.2.3.1"].to_bytes() == case.histories["1.2.3.1"].to_bytes()
        assert back.labels["1.2.3.2"][0, 0, 0] == 2 and back.warnings == []
        assert back.histories["1.2.3.2"].undo_description == "Brush on L2"
    journal = read_journal(tmp_path, volumes_of(case))
    np.testing.assert_array_equal(journal.labels["1.2.3.1"], case.labels["1.2.3.1"])
    assert journal.histories["1.2.3.1"].to_bytes() == case.histories["1.2.3.1"].to_bytes()


def test_c28_saving_refused_outlines_wrongly_is_refused_before_writing(tmp_path):
    case = make_case()
    save_case(case, tmp_path)
    before = snapshot(tmp_path)

    drawn_anew = load_case(tmp_path, shifted_volumes(case))
    drawn_anew.labels["1.2.3.1"] = np.zeros((6, 20, 24), np.uint16)
    regridded = load_case(tmp_path, shifted_volumes(case))
    regridded.series["1.2.3.1"] = SeriesRecord.of_volume(
        "1.2.3.1", "2002-08-14", shifted_volumes(case)["1.2.3.1"]
    )
    lesion_deleted = load_case(tmp_path, shifted_volumes(case))
    lesion_deleted.labels["1.2.3.2"][lesion_deleted.labels["1.2.3.2"] == 2] = 0
    lesion_deleted.histories.clear()
    lesion_deleted.lesions.remove(2)  # gone from the shown outlines, still in the refused ones
    for bad, reason in [
        (drawn_anew, "both new outlines and refused ones"),
        (regridded, "series record of the grid they were drawn on"),
        (lesion_deleted, r"lesion\(s\) \[2\] were deleted"),
    ]:
        with pytest.raises(ValueError, match=reason):
            save_case(bad, tmp_path)
        assert snapshot(tmp_path) == before
    del drawn_anew.refused_outlines["1.2.3.1"], drawn_anew.refused["1.2.3.1"]
    drawn_anew.histories.pop("1.2.3.1", None)
    save_case(drawn_anew, tmp_path)  # the reader chose to start again on the new grid
    assert not load_case(tmp_path).labels["1.2.3.1"].any()


def test_c28_a_moved_series_without_outlines_is_only_a_warning(tmp_path):
    case = make_case()
    case.series["1.2.3.3"] = SeriesRecord("1.2.3.3", "2003-01-01", (4, 8, 8), np.eye(4))
    save_case(case, tmp_path)
    loaded = load_case(tmp_path, shifted_volumes(case, "1.2.3.3", 1.0))
    assert loaded.refused == {} and loaded.labels.keys() == case.labels.keys()
    assert len(loaded.warnings) == 1
    assert "1.2.3.3 is not on the grid" in loaded.warnings[0] and "1 mm" in loaded.warnings[0]


def test_float_noise_in_the_geometry_is_not_a_mismatch(tmp_path):
    case = make_case()
    save_case(case, tmp_path)
    volumes = volumes_of(case)
    volumes["1.2.3.1"] = Volume(np.zeros((6, 20, 24), np.int16), OBLIQUE + 1e-9)
    assert_same_case(load_case(tmp_path, volumes), case)


# ---------------------------------------------------------------- journal (C24 in-process, C32)


def test_the_journal_is_offered_when_newer_and_cleared_by_a_save(tmp_path):
    save_case(make_case(0), tmp_path)
    assert read_journal(tmp_path) is None
    write_journal(make_case(1), tmp_path)
    assert_same_case(read_journal(tmp_path), make_case(1))
    opened = open_case(tmp_path)
    assert_same_case(opened.case, make_case(0))
    assert_same_case(opened.journal, make_case(1))
    save_case(opened.journal, tmp_path)
    opened.lock.release()
    assert read_journal(tmp_path) is None and not (tmp_path / "journal").exists()
    assert_same_case(load_case(tmp_path), make_case(1))


def test_a_journal_without_any_manifest_is_offered(tmp_path):
    write_journal(make_case(2), tmp_path)
    assert_same_case(read_journal(tmp_path), make_case(2))


def test_c32_repeated_autosave_failures_give_one_warning(tmp_path, monkeypatch):
    journal = RecoveryJournal(tmp_path)
    assert journal.write(make_case(0)) and journal.take_warning() is None

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full)
    warnings = []
    for version in range(1, 8):
        assert journal.write(make_case(version)) is False  # no exception escapes
        warnings.append(journal.take_warning())
    assert warnings[0] is not None and "disk full" in warnings[0]
    assert warnings[1:] == [None] * 6
    assert journal.consecutive_failures == 7
    monkeypatch.undo()
    assert journal.write(make_case(3)) and journal.consecutive_failures == 0
    assert journal.last_error is None
    assert_same_case(read_journal(tmp_path), make_case(3))


# ---------------------------------------------------------------- C31 lock


def test_c31_a_second_opener_is_read_only_until_the_first_closes(tmp_path):
    save_case(make_case(), tmp_path)
    first = open_case(tmp_path)
    second = open_case(tmp_path)
    assert not first.lock.read_only and first.lock.warning is None
    assert second.lock.read_only
    assert f"process {os.getpid()}" in second.lock.warning and "read-only" in second.lock.warning
    second.lock.release()
    assert (tmp_path / LOCK).exists()  # a read-only opener never removes someone else's lock
    first.lock.release()
    assert not (tmp_path / LOCK).exists()
    third = open_case(tmp_path)
    assert not third.lock.read_only
    third.lock.release()


def test_c31_a_lock_held_by_another_live_process_makes_us_read_only(tmp_path):
    code = (
        "import sys; from viewer.io.case_file import CaseLock;"
        "lock = CaseLock.acquire(sys.argv[1]); print(lock.read_only, flush=True); sys.stdin.read()"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "False"
        ours = CaseLock.acquire(tmp_path)
        assert ours.read_only and f"process {holder.pid}" in ours.warning
    finally:
        holder.communicate("")
    taken = CaseLock.acquire(tmp_path)  # the holder died without releasing: the lock is stale
    assert not taken.read_only
    taken.release()


def test_a_stale_or_garbled_lock_is_taken_over(tmp_path):
    (tmp_path / LOCK).write_bytes(b"\x00garbage")
    lock = CaseLock.acquire(tmp_path)
    assert not lock.read_only
    lock.release()


def test_a_read_only_folder_opens_read_only(tmp_path, monkeypatch):
    save_case(make_case(), tmp_path)

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "open", denied)
    lock = CaseLock.acquire(tmp_path)
    assert lock.read_only and "no permission" in lock.warning and str(tmp_path) in lock.warning


# ---------------------------------------------------------------- F39 fuzz of the parser

_VALID: dict[str, bytes] = {}


def _valid_manifest(tmp_path_factory) -> bytes:
    if "data" not in _VALID:
        folder = tmp_path_factory.mktemp("fuzz-source")
        save_case(make_case(), folder)
        _VALID["data"] = (folder / MANIFEST).read_bytes()
        _VALID["folder"] = folder
    return _VALID["data"]


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    position=st.floats(0, 1),
    cut=st.booleans(),
    noise=st.binary(min_size=1, max_size=12),
)
def test_fuzz_corrupted_manifests_only_raise_case_file_errors(
    tmp_path_factory, position, cut, noise
):
    data = _valid_manifest(tmp_path_factory)
    folder = _VALID["folder"]
    at = int(position * (len(data) - 1))
    damaged = data[:at] if cut else data[:at] + noise + data[at + len(noise) :]
    if damaged == data:
        return
    path = folder / "fuzzed.json"
    path.write_bytes(damaged)
    try:
        case = _load_manifest(folder, "fuzzed.json", None)
    except CaseFileError:
        return
    # a change the checksum cannot see (whitespace, key order outside content): same case
    assert_same_case(case, make_case())


@settings(max_examples=150, deadline=None)
@given(
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(max_size=8),
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(st.text(max_size=8), children, max_size=4)
        ),
        max_leaves=20,
    ),
    st.sampled_from(["series", "label_maps", "lesions", "registrations", "events", "notes"]),
)
def test_fuzz_wrong_content_with_a_valid_checksum_is_refused(tmp_path_factory, value, field):
    document = json.loads(_valid_manifest(tmp_path_factory))
    document["content"][field] = value
    document["checksum"] = _checksum(document["content"])
    folder = _VALID["folder"]
    (folder / "fuzzed.json").write_text(json.dumps(document))
    try:
        case = _load_manifest(folder, "fuzzed.json", None)
    except CaseFileError:
        return
    # accepted only if the value is a legitimate one: never an empty case from a broken one
    assert field in ("series", "label_maps", "registrations", "events", "notes")
    if field == "notes":
        assert case.notes == value
    else:
        assert value == []


def test_treatment_events_and_the_assessment_round_trip_and_old_files_still_load(tmp_path):
    from viewer.io.case_file import TreatmentEvent, TreatmentKind

    case = make_case()
    case.events = [
        TreatmentEvent(dt.date(2002, 8, 22), TreatmentKind.RADIOSURGERY, "Novalis"),
        TreatmentEvent(dt.date(2002, 9, 1), TreatmentKind.STEROID_INCREASE, "dexamethasone 8 mg"),
    ]
    case.assessment = {"criteria": "rano2", "baseline": "1995-07-01", "targets": [1]}
    save_case(case, tmp_path)
    loaded = load_case(tmp_path, volumes_of(case))
    assert loaded.events == case.events
    assert loaded.assessment == case.assessment
    # a manifest written before the assessment existed has no such key: it loads with none
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    del manifest["content"]["assessment"]
    canonical = json.dumps(manifest["content"], sort_keys=True, separators=(",", ":"))
    manifest["checksum"] = "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    (tmp_path / MANIFEST).write_text(json.dumps(manifest))
    assert load_case(tmp_path, volumes_of(case)).assessment == {}
