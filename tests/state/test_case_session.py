"""The case session: save and reopen everything, recover a crash, refuse misfit outlines alone,
and let only one instance write."""

from __future__ import annotations

import datetime as dt
import json
import socket
import subprocess
import sys

import numpy as np
import pytest

from tests.dicom_factory import write_series
from viewer.core.transform import Registration, RegistrationState, Transform
from viewer.core.volume import Volume
from viewer.display.window import load_presets
from viewer.errors import CaseFileError
from viewer.io import scan_paths
from viewer.io.case_file import LOCK
from viewer.segmentation import paint_ball
from viewer.state.annotations import Annotations
from viewer.state.case_session import CaseSession, default_case_folder
from viewer.state.compare_controller import ComparisonController
from viewer.state.registrations import RegistrationStore
from viewer.state.session import Session, prepare_series


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    root = tmp_path_factory.mktemp("images") / "patient"
    z, y, x = np.indices((8, 32, 32))
    head = ((((y - 16) / 13) ** 2 + ((x - 16) / 13) ** 2) < 1).astype(np.int16) * 400
    write_series(root / "v1", head, study_date=dt.date(2002, 8, 14), series_number=1, name="a")
    write_series(
        root / "v2",
        head + 20,
        study_date=dt.date(2002, 12, 9),
        series_number=1,
        name="b",
        origin=(-98.0, -120.0, -40.0),
    )
    return root


def open_window(images):
    """The Qt-free half of a main window on the images, with every series loaded."""
    catalog = scan_paths([images])
    session = Session(max_loaded=4)
    registrations = RegistrationStore()
    notes = Annotations()
    comparison = ComparisonController(session, registrations, annotations=notes)
    session.set_catalog(catalog)
    presets = load_presets()
    keys = [s.key for s in catalog.all_series()]
    for key in keys:
        session.add_loaded(key, prepare_series(session.entry(key), presets))
    return CaseSession(notes, comparison), keys


def paint(case, key, centre, *, erase=False):
    volume = case.comparison.loaded(key).volume
    case.annotations.paint(
        key,
        volume.shape,
        lambda mask: paint_ball(mask, centre, radius_mm=3, voxel2patient=volume.voxel2patient),
        erase=erase,
        description="Brush",
    )


def note_all(case, keys):
    for key in keys:
        found = case.comparison.loaded(key)
        case.note_series(key, case.comparison.session.visit_of(key).label, found.volume)


def test_save_and_reopen_restores_outlines_undo_registration_and_layout(images, tmp_path):
    case, keys = open_window(images)
    folder = tmp_path / "c.interval"
    report = case.open(folder)
    assert not report.existed and not report.read_only
    note_all(case, keys)
    case.annotations.add_lesion("L1 recurrence")
    paint(case, keys[0], (4, 16, 16))
    paint(case, keys[0], (4, 16, 22))
    paint(case, keys[1], (4, 12, 12))
    moved = Transform(np.array([[1, 0, 0, 2.0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]), "rigid")
    store = case.comparison.registrations
    other = next(k for k in keys if not store.is_reference(k))
    store.put(Registration(other, store.reference_key, moved, RegistrationState.ACCEPTED, "test"))
    case.comparison.set_layout("1x2")
    case.comparison.state.crosshair_mm = (1.0, 2.0, 3.0)
    case.annotations.style.opacity = 0.6
    labels = {k: case.annotations.labels(k).copy() for k in keys}
    case.save()
    assert not case.annotations.dirty
    case.close()

    again, _ = open_window(images)
    report = again.open(folder)
    assert report.existed and report.journal is None and not report.read_only
    note_all(again, keys)
    assert [lesion.name for lesion in again.annotations.lesions] == ["L1 recurrence"]
    for key in keys:
        np.testing.assert_array_equal(again.annotations.labels(key), labels[key])
    assert again.comparison.state.layout == "1x2"
    assert again.comparison.state.crosshair_mm == (1.0, 2.0, 3.0)
    assert again.annotations.style.opacity == pytest.approx(0.6)
    record = again.comparison.registrations.record(other)
    assert record.state is RegistrationState.ACCEPTED
    np.testing.assert_allclose(record.transform.moving2reference, moved.moving2reference)
    # the undo history survived: two brush strokes on the first series come off in turn
    assert again.annotations.undo(keys[0]) == "Brush"
    assert again.annotations.undo(keys[0]) == "Brush"
    assert not again.annotations.labels(keys[0]).any()
    assert again.annotations.undo(keys[0]) is None
    again.close()


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_crash_before_any_save_leaves_a_journal_that_the_next_start_restores(images, tmp_path):
    case, keys = open_window(images)
    folder = tmp_path / "crash.interval"
    case.open(folder)
    note_all(case, keys)
    paint(case, keys[1], (4, 16, 16))
    assert case.autosave() is None
    painted = case.annotations.labels(keys[1]).copy()
    # kill -9: nothing is released; the lock names a process that is gone
    lock = json.loads((folder / LOCK).read_text())
    lock.update(pid=dead_pid(), host=socket.gethostname())
    (folder / LOCK).write_text(json.dumps(lock))

    again, _ = open_window(images)
    report = again.open(folder)
    assert not report.read_only and report.journal is not None
    again.restore(report.journal, dirty=True)
    note_all(again, keys)
    np.testing.assert_array_equal(again.annotations.labels(keys[1]), painted)
    assert again.annotations.dirty
    again.save()
    again.close()


def test_a_second_instance_opens_read_only_and_cannot_save(images, tmp_path):
    first, keys = open_window(images)
    folder = tmp_path / "two.interval"
    first.open(folder)
    second, _ = open_window(images)
    report = second.open(folder)
    assert report.read_only and "another Interval" in report.messages[0]
    assert second.annotations.read_only
    with pytest.raises(CaseFileError, match="read-only"):
        second.save()
    second.close()
    first.close()


def test_outlines_on_another_grid_are_refused_for_that_series_only_and_never_lost(images, tmp_path):
    case, keys = open_window(images)
    folder = tmp_path / "grid.interval"
    case.open(folder)
    note_all(case, keys)
    paint(case, keys[0], (4, 16, 16))
    paint(case, keys[1], (4, 16, 16))
    saved = case.annotations.labels(keys[0]).copy()
    case.save()
    case.close()

    again, _ = open_window(images)
    again.open(folder)
    moved = again.comparison.loaded(keys[0]).volume
    shifted = moved.voxel2patient.copy()
    shifted[0, 3] += 5.0  # the series was re-exported 5 mm away
    again.note_series(keys[0], "2002-08-14", Volume(moved.array, shifted))
    again.note_series(keys[1], "2002-12-09", again.comparison.loaded(keys[1]).volume)
    assert "differ by up to 5 mm" in again.refused[keys[0]]
    assert again.annotations.labels(keys[0]) is None
    assert again.annotations.labels(keys[1]).any()
    paint(again, keys[1], (4, 10, 10))
    again.save()  # the refused outlines are written back untouched
    again.close()

    third, _ = open_window(images)
    third.open(folder)
    note_all(third, keys)
    assert not third.refused
    np.testing.assert_array_equal(third.annotations.labels(keys[0]), saved)
    third.close()


def test_the_case_folder_sits_beside_the_images_or_in_the_data_folder(tmp_path):
    images = tmp_path / "patient7"
    images.mkdir()
    assert default_case_folder([images], tmp_path / "home") == tmp_path / "patient7.interval"
    readonly = tmp_path / "cd"
    (readonly / "patient").mkdir(parents=True)
    readonly.chmod(0o555)
    try:
        folder = default_case_folder([readonly / "patient"], tmp_path / "home")
        if folder.parent != readonly:  # root ignores permissions
            assert folder.parent == tmp_path / "home" / "cases"
            assert folder.name.startswith("patient-") and folder.name.endswith(".interval")
    finally:
        readonly.chmod(0o755)


def test_c27_a_corrupt_manifest_is_refused_untouched_and_nothing_autosaves_over_it(
    images, tmp_path
):
    case, keys = open_window(images)
    folder = tmp_path / "bad.interval"
    case.open(folder)
    note_all(case, keys)
    paint(case, keys[0], (4, 16, 16))
    case.save()
    case.close()
    manifest = folder / "manifest.json"
    damaged = manifest.read_bytes()[:-40]
    manifest.write_bytes(damaged)

    again, _ = open_window(images)
    report = again.open(folder)
    assert report.error is not None and "manifest.json" in report.error
    assert again.read_only and again.annotations.read_only
    assert again.autosave() is None
    with pytest.raises(CaseFileError):
        again.save()
    assert manifest.read_bytes() == damaged
    assert not (folder / "journal").exists()
    again.close()


def test_measurements_run_in_the_background_and_stale_results_are_dropped(images, tmp_path):
    from viewer.state.tracking import Tracking

    case, keys = open_window(images)
    case.open(tmp_path / "bg.interval")
    note_all(case, keys)
    paint(case, keys[0], (4, 16, 16))
    comparison = case.comparison
    queued = []
    tracking = Tracking(
        case.annotations,
        lambda: comparison.session.catalog,
        lambda key: comparison.loaded(key).volume,
        lambda: case.records,
        comparison.registrations.patient2reference,
    )
    tracking.background = lambda key, work: queued.append(work)
    assert tracking.measurements(keys[0]) == {} and tracking.pending
    stale = queued.pop()()
    paint(case, keys[0], (4, 10, 10))  # the reader goes on outlining while it runs
    tracking.take_result(stale)
    assert tracking.measurements(keys[0]) == {}  # the old result is not used...
    fresh = queued.pop()()  # ...a new measurement of the new outline was asked for
    tracking.take_result(fresh)
    assert not tracking.pending
    (measured,) = tracking.measurements(keys[0]).values()
    volume = comparison.loaded(keys[0]).volume
    expected = int((case.annotations.labels(keys[0]) > 0).sum()) * volume.voxel_volume_ml
    assert measured.volume_ml == expected
    case.close()


def test_numbering_that_disagrees_with_the_overlap_is_pointed_out(images, tmp_path):
    from viewer.state.tracking import Tracking

    case, keys = open_window(images)
    case.open(tmp_path / "links.interval")
    note_all(case, keys)
    notes = case.annotations
    first = notes.add_lesion("L1 recurrence").number
    paint(case, keys[0], (4, 16, 16))
    notes.add_lesion("L2")
    paint(case, keys[1], (4, 16, 16))  # the same place, outlined as another lesion
    comparison = case.comparison
    tracking = Tracking(
        notes,
        lambda: comparison.session.catalog,
        lambda key: comparison.loaded(key).volume,
        lambda: case.records,
        comparison.registrations.patient2reference,
    )
    (problem,) = tracking.link_problems(tracking.columns())
    assert problem.startswith("L2 on ") and "overlaps L1 recurrence" in problem
    notes.relabel(keys[1], 2, first)
    assert tracking.link_problems(tracking.columns()) == []
    case.close()
