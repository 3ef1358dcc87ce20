"""The blind read's state: hidden reference, stated categories kept with the case, one log line
per submission; on the synthetic case of tests/teaching (spheres; the trainee misses L2)."""

from __future__ import annotations

import gc
import json
from pathlib import Path

import pytest

from tests.conftest import SAMPLE_SCANS
from tests.teaching import synthetic
from viewer.errors import CaseFileError, SaveError
from viewer.state import blind_read
from viewer.state.blind_read import (
    STATE_FILE,
    BlindRead,
    BlindReadState,
    geometry_volume,
    shipped_reference,
)
from viewer.teaching.agreement import MISSED
from viewer.teaching.log import read_history
from viewer.teaching.reading import Reading, Role
from viewer.teaching.reading_file import READINGS_FOLDER, ReadingStore, read_reading

GRIDS = {key: geometry_volume(synthetic.SHAPE, synthetic.VOXEL2PATIENT) for _, key in
         synthetic.VISITS}  # fmt: skip


def no_registration(key: str) -> None:
    return None


@pytest.fixture
def case(tmp_path):
    """A case folder holding the synthetic reference (the test keeps no Reading of it)."""
    folder = tmp_path / "x.interval"
    ReadingStore(folder).save(synthetic.reference())
    return folder


def references_in_memory(folder: Path) -> list[Reading]:
    """Reference readings read from a case folder that are alive now (other tests' aside)."""
    gc.collect()
    return [
        o
        for o in gc.get_objects()
        if isinstance(o, Reading)
        and o.reader.role is Role.REFERENCE
        and o.source is not None
        and o.source.is_relative_to(folder)
    ]


def started(folder) -> BlindRead:
    blind = BlindRead()
    blind.open_case(folder)
    (info,) = blind.references()[0]
    blind.start(info)
    return blind


def test_the_reference_stays_unread_while_the_read_is_open(case, monkeypatch):
    def forbidden(path):
        raise AssertionError(f"{path} was read during the blind read")

    monkeypatch.setattr(blind_read, "read_reading", forbidden)
    blind = started(case)
    assert blind.state.open and blind.feedback is None
    blind.state_category("2020-03-02", "SD")
    info = blind.reference_info()
    assert (info.reader.role, info.criteria_key) == (Role.REFERENCE, "rano")
    work = blind.submission_work(synthetic.trainee_missing_l2(), GRIDS, {}, no_registration)
    assert references_in_memory(case) == []
    with pytest.raises(AssertionError, match="was read during the blind read"):
        work()  # submitting is the first moment it is read


def test_the_state_survives_closing_and_reopening_the_case(case):
    blind = started(case)
    blind.state_category("2020-01-06", "baseline")
    blind.state_category("2020-03-02", "PD")
    blind.state_category("2020-03-02", "SD")  # changed her mind
    reopened = BlindRead()
    assert reopened.open_case(case) == []
    assert reopened.state == blind.state
    assert reopened.state.open
    assert dict(reopened.state.stated) == {"2020-01-06": "baseline", "2020-03-02": "SD"}
    reopened.state_category("2020-01-06", None)  # back to "not stated"
    again = BlindRead()
    again.open_case(case)
    assert dict(again.state.stated) == {"2020-03-02": "SD"}
    with pytest.raises(ValueError, match="not one of"):
        reopened.state_category("2020-03-02", "progressive")


def test_submit_compares_saves_and_logs_once(case, tmp_path):
    blind = started(case)
    blind.state_category("2020-03-02", "SD")
    trainee = synthetic.trainee_missing_l2()
    feedback = blind.submission_work(trainee, GRIDS, {}, no_registration)()
    assert feedback.trainee_path.parent == case / READINGS_FOLDER
    assert read_reading(feedback.trainee_path).reader.role is Role.TRAINEE
    assert [(r.visit, r.reference_lesion, r.status) for r in feedback.agreement.missed] == [
        ("2020-03-02", 2, MISSED)
    ]
    log = tmp_path / "home"
    assert blind.take_feedback(feedback, log_folder=log, reader="ana") is None
    assert not blind.state.open and blind.state.submitted == feedback.trainee_path.name
    assert blind.state.logged and blind.feedback is feedback
    # the same feedback again (a second submit, or reopening the case) adds no line
    blind.take_feedback(feedback, log_folder=log, reader="ana")
    (entry,) = read_history(log).entries
    assert (entry.reader, entry.lesions_missed, entry.categories_agreed) == ("ana", 1, 1)
    with pytest.raises(ValueError, match="no blind read is open"):
        blind.submission_work(trainee, GRIDS, {}, no_registration)
    # reopened: submitted, compared again from the two files, still one line in the log
    reopened = BlindRead()
    reopened.open_case(case)
    assert reopened.state.submitted == feedback.trainee_path.name and reopened.feedback is None
    again = reopened.feedback_work(no_registration)()
    reopened.take_feedback(again, log_folder=log, reader="ana")
    assert [r.status for r in again.agreement.missed] == [MISSED]
    assert len(read_history(log).entries) == 1
    # a new read starts over, and hides the feedback again
    (info,) = reopened.references()[0]
    reopened.start(info)
    assert reopened.state.open and reopened.feedback is None and not reopened.state.stated


def test_a_reference_drawn_on_other_grids_is_refused_and_the_read_stays_open(case):
    blind = started(case)
    moved = synthetic.VOXEL2PATIENT.copy()
    moved[:3, 3] += 5.0
    other = {key: geometry_volume(synthetic.SHAPE, moved) for _, key in synthetic.VISITS}
    work = blind.submission_work(synthetic.trainee_missing_l2(), other, {}, no_registration)
    with pytest.raises(CaseFileError, match="does not fit this case's images"):
        work()
    assert blind.state.open
    assert [p.name for p in (case / READINGS_FOLDER).glob("trainee-*")] == []


def test_only_a_reference_of_this_case_can_be_read_against(case, tmp_path):
    store = ReadingStore(case)
    store.save(synthetic.as_trainee(synthetic.reference()))
    blind = BlindRead()
    blind.open_case(case)
    infos, _ = store.infos()
    trainee_info = next(i for i in infos if i.reader.role is Role.TRAINEE)
    with pytest.raises(ValueError, match="not a reference"):
        blind.start(trainee_info)
    elsewhere = tmp_path / "y.interval"
    ReadingStore(elsewhere).save(synthetic.reference())
    (foreign,) = ReadingStore(elsewhere).infos()[0]
    with pytest.raises(ValueError, match="not a reading of the open case"):
        blind.start(foreign)
    assert not blind.state.open


def test_a_damaged_state_is_reported_and_a_read_only_case_keeps_none(case):
    path = case / READINGS_FOLDER / STATE_FILE
    path.write_text('{"format": "interval-blind-read", "format_version": 1, "stated": 3}')
    blind = BlindRead()
    (warning,) = blind.open_case(case)
    assert str(path) in warning and not blind.state.open
    read_only = BlindRead()
    read_only.open_case(case, read_only=True)
    (info,) = read_only.references()[0]
    with pytest.raises(SaveError, match="read-only"):
        read_only.start(info)
    assert not read_only.state.open


def test_state_json_round_trip_refuses_paths():
    state = BlindReadState("reference-a.reading", None, {"2020-01-06": "baseline"})
    assert BlindReadState.from_json(json.loads(json.dumps(state.to_json()))) == state
    bad = dict(state.to_json(), reference="../../etc/passwd")
    with pytest.raises(ValueError, match="not a file name"):
        BlindReadState.from_json(bad)


def test_the_demo_ships_its_reference_beside_its_images(tmp_path):
    demo = SAMPLE_SCANS / "demo_case"
    assert shipped_reference([demo / "dicom"]) == (demo / "reference.reading").resolve()
    assert shipped_reference([demo / "dicom", demo / "dicom"]) is None
    (tmp_path / "images").mkdir()
    assert shipped_reference([tmp_path / "images"]) is None
    # importing it every time the demo opens keeps one copy
    blind = BlindRead()
    blind.open_case(tmp_path / "demo.interval")
    first = blind.import_reading(demo / "reference.reading")
    assert blind.import_reading(demo / "reference.reading") == first
    assert len(list(first.parent.glob("*.reading"))) == 1
    assert first.read_bytes() == (demo / "reference.reading").read_bytes()


def test_the_shipped_reference_is_not_read_again_nor_during_an_open_read(case, monkeypatch):
    demo = SAMPLE_SCANS / "demo_case" / "reference.reading"
    blind = BlindRead()
    blind.open_case(case)
    copied = blind.import_shipped(demo)
    monkeypatch.setattr(
        "viewer.teaching.reading_file.read_reading",
        lambda path: pytest.fail(f"{path} was read again"),
    )
    assert blind.import_shipped(demo) == copied
    copied.unlink()
    (info,) = [i for i in blind.references()[0] if i.path != copied]
    blind.start(info)
    assert blind.import_shipped(demo) is None  # during the read: left for later
    assert not copied.exists()
