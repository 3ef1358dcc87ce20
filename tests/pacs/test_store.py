"""The local store: a series looks complete only when every expected instance is on the disk."""

from __future__ import annotations

import json

import pytest

from tests.pacs.orthanc import demo_files
from viewer.io.scan import scan_paths
from viewer.pacs.store import LocalStore, SeriesState
from viewer.state.case_session import data_home

STUDY, SERIES = "1.2.3", "1.2.3.4"


def sources(count: int):
    """The first ``count`` files of one demo series, with their SOP Instance UIDs."""
    import pydicom

    files = sorted(demo_files())
    series = [f for f in files if f.parent.name == "SE05_AX_T1_POST_GAD"][:count]
    return [(str(pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID), f) for f in series]


def test_default_store_is_in_the_user_data_folder():
    assert LocalStore().root == data_home() / "pacs"


def test_complete_series_and_its_marker(tmp_path):
    store = LocalStore(tmp_path)
    instances = sources(3)
    writer = store.begin(STUDY, SERIES, server="'S'", expected=[uid for uid, _ in instances])
    assert store.status(STUDY, SERIES).state is SeriesState.ABSENT  # nothing written yet
    for uid, path in instances[:2]:
        writer.write(uid, [path.read_bytes()])
    # under way: files but no marker, never complete
    assert store.status(STUDY, SERIES).state is SeriesState.INCOMPLETE
    uid, path = instances[2]
    data = path.read_bytes()
    writer.write(uid, [data[:100], data[100:]])
    stored = writer.finish()
    assert stored.state is SeriesState.COMPLETE and stored.missing == ()
    assert store.status(STUDY, SERIES) == stored
    marker = json.loads(store.marker_path(STUDY, SERIES).read_text())
    assert marker["state"] == "complete"
    assert marker["expected"] == marker["received"] == sorted(uid for uid, _ in instances)
    assert store.marker_path(STUDY, SERIES).parent == stored.folder.parent  # beside, not inside
    assert sorted(p.name for p in stored.folder.iterdir()) == sorted(
        f"{u}.dcm" for u, _ in instances
    )
    assert (stored.folder / f"{uid}.dcm").read_bytes() == data
    # scanning the folder finds the images and nothing else
    catalog = scan_paths([stored.folder])
    assert catalog.skipped == [] and len(list(catalog.all_series())) == 1


def test_missing_instance_or_failure_leaves_it_partial(tmp_path):
    store = LocalStore(tmp_path)
    instances = sources(3)
    writer = store.begin(STUDY, SERIES, server="'S'", expected=[uid for uid, _ in instances])
    for uid, path in instances[:2]:
        writer.write(uid, [path.read_bytes()])
    stored = writer.finish()
    assert stored.state is SeriesState.PARTIAL
    assert stored.missing == (instances[2][0],)
    assert stored.reason == "1 expected instances missing"
    # every instance, but the transfer reported a failure: still partial
    writer = store.begin(STUDY, SERIES, server="'S'", expected=[uid for uid, _ in instances])
    for uid, path in instances:
        writer.write(uid, [path.read_bytes()])
    assert writer.finish("connection lost").state is SeriesState.PARTIAL
    assert store.status(STUDY, SERIES).reason == "connection lost"


def test_count_only_when_the_server_lists_no_instance(tmp_path):
    store = LocalStore(tmp_path)
    instances = sources(2)
    writer = store.begin(STUDY, SERIES, server="'S'", expected_count=3)
    for uid, path in instances:
        writer.write(uid, [path.read_bytes()])
    assert writer.finish().reason == "2 of 3 instances received"
    writer = store.begin(STUDY, SERIES, server="'S'", expected_count=0)
    assert writer.finish().state is SeriesState.PARTIAL  # nothing proves completeness


def test_restart_drops_the_marker_first_and_keeps_what_was_recorded(tmp_path):
    store = LocalStore(tmp_path)
    instances = sources(3)
    expected = [uid for uid, _ in instances]
    writer = store.begin(STUDY, SERIES, server="'S'", expected=expected)
    for uid, path in instances:
        writer.write(uid, [path.read_bytes()])
    writer.finish()
    folder = store.series_folder(STUDY, SERIES)
    (folder / ".tmp-abc-x.dcm").write_bytes(b"half")  # left by a killed process
    (folder / "9.9.9.dcm").write_bytes(b"unrecorded")  # not in the marker: maybe not on disk
    again = store.begin(STUDY, SERIES, server="'S'", expected=expected)
    assert not store.marker_path(STUDY, SERIES).exists()
    assert store.status(STUDY, SERIES).state is SeriesState.INCOMPLETE
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"{u}.dcm" for u in expected)
    assert again.received_count == 3
    assert again.finish().state is SeriesState.COMPLETE


def test_a_removed_file_makes_a_complete_series_partial(tmp_path):
    store = LocalStore(tmp_path)
    instances = sources(2)
    writer = store.begin(STUDY, SERIES, server="'S'", expected=[uid for uid, _ in instances])
    for uid, path in instances:
        writer.write(uid, [path.read_bytes()])
    stored = writer.finish()
    (stored.folder / f"{instances[0][0]}.dcm").unlink()
    status = store.status(STUDY, SERIES)
    assert (status.state, status.reason) == (SeriesState.PARTIAL, "1 files removed since")


def test_unsafe_uids_are_refused(tmp_path):
    store = LocalStore(tmp_path)
    with pytest.raises(ValueError, match="not a DICOM UID"):
        store.series_folder("..", SERIES)
    writer = store.begin(STUDY, SERIES, server="'S'")
    with pytest.raises(ValueError, match="not a DICOM UID"):
        writer.write("../../evil", [b""])


def test_a_write_failure_is_a_save_error(tmp_path):
    from viewer.errors import SaveError

    store = LocalStore(tmp_path)
    writer = store.begin(STUDY, SERIES, server="'S'")
    store.series_folder(STUDY, SERIES).rmdir()
    with pytest.raises(
        SaveError, match="writing a retrieved instance failed: the folder no longer"
    ):
        writer.write("1.2", [b"x"])
