"""Readings: the model's checks, the single-file format (round trip, damage) and the case folder."""

from __future__ import annotations

import dataclasses
import datetime as dt
import errno
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tests.teaching import synthetic
from viewer.analysis.events import SteroidChange, TreatmentEvent, TreatmentKind
from viewer.core.lesions import LesionKind, LesionSet
from viewer.core.volume import Volume
from viewer.errors import CaseFileError, SaveError
from viewer.io.case_file import SeriesRecord
from viewer.teaching.reading import (
    HandMeasurement,
    Reader,
    Reading,
    ReadingLesion,
    Role,
    SeriesOutlines,
    VisitStatement,
    build_reading,
)
from viewer.teaching.reading_file import (
    ReadingStore,
    read_reading,
    read_reading_info,
    reading_bytes,
    write_reading,
)


def full_reading() -> Reading:
    """The synthetic reference with every optional part filled in."""
    base = synthetic.reference()
    visits = [
        dataclasses.replace(
            base.visits[0], teaching_points=("Baseline: L1 is the target.", "Ünïcode ok.")
        ),
        dataclasses.replace(base.visits[1], new_lesions=(2,), teaching_points=("L2 is new.",)),
    ]
    hand = HandMeasurement(
        "S2", 1, ((-16.0, 0.0, 1.0), (6.0, 0.0, 1.0)), ((-5.0, -10.0, 1.0), (-5.0, 10.0, 1.0))
    )
    events = [
        TreatmentEvent(dt.date(2019, 12, 1), TreatmentKind.SURGERY, note="resection"),
        TreatmentEvent(
            dt.date(2020, 2, 1), TreatmentKind.STEROID_CHANGE, SteroidChange.INCREASE, "dex"
        ),
    ]
    return dataclasses.replace(
        base,
        reader=Reader("Dr Müller", Role.REFERENCE),
        visits=tuple(visits),
        baseline_visit="2020-01-06",
        events=tuple(events),
        hand_measurements=(hand,),
        case_label="Synthetic spheres",
        criteria_key="rano2",
    )


def assert_same(a: Reading, b: Reading) -> None:
    for name in (
        "reader",
        "created",
        "lesions",
        "visits",
        "criteria_key",
        "baseline_visit",
        "events",
        "hand_measurements",
        "case_label",
    ):
        assert getattr(a, name) == getattr(b, name), name
    assert list(a.series) == list(b.series)
    for key, outlines in a.series.items():
        other = b.series[key]
        assert other.visit == outlines.visit
        assert other.slice_thickness_mm == outlines.slice_thickness_mm
        np.testing.assert_array_equal(other.voxel2patient, outlines.voxel2patient)
        assert other.labels.dtype == np.uint16
        np.testing.assert_array_equal(other.labels, outlines.labels)


def rewrite(path: Path, change) -> None:
    """Rewrite a reading file with ``change(document)`` applied to its reading.json."""
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    document = json.loads(members["reading.json"])
    change(document)
    members["reading.json"] = json.dumps(document).encode("utf-8")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    path.write_bytes(buffer.getvalue())


# --------------------------------------------------------------------------- the format


def test_round_trip_keeps_every_field_and_voxel(tmp_path: Path) -> None:
    reading = full_reading()
    path = tmp_path / "a.reading"
    write_reading(reading, path)
    again = read_reading(path)
    assert_same(reading, again)
    assert again.source == path
    assert reading_bytes(again) == path.read_bytes()


def test_same_reading_same_bytes_and_no_clock_inside(tmp_path: Path) -> None:
    first, second = reading_bytes(full_reading()), reading_bytes(full_reading())
    assert first == second
    with zipfile.ZipFile(io.BytesIO(first)) as archive:
        infos = archive.infolist()
        assert [i.filename for i in infos] == ["reading.json", "series-1.npz", "series-2.npz"]
        assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
        assert {i.compress_type for i in infos} == {zipfile.ZIP_STORED}
        # each series is a valid .npz: the lesions' boxes, packed 8 voxels a byte
        masks = np.load(io.BytesIO(archive.read("series-2.npz")))
        assert sorted(masks.files) == ["L1", "L2"]
        assert masks["L2"].dtype == np.uint8


def test_info_tells_who_and_when_but_nothing_found(tmp_path: Path) -> None:
    path = tmp_path / "a.reading"
    write_reading(full_reading(), path)
    info = read_reading_info(path)
    assert info.reader == Reader("Dr Müller", Role.REFERENCE)
    assert info.created == synthetic.CREATED
    assert (info.case_label, info.criteria_key, info.path) == ("Synthetic spheres", "rano2", path)
    shown = " ".join(str(value) for value in dataclasses.asdict(info).values())
    for secret in ("L2", "metastasis", "PD", "new", "baseline"):
        assert secret not in shown


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda p: p.write_bytes(b"\x89PNG random bytes" * 50), "not a zip archive"),
        (lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]), "zip archive"),
        (lambda p: p.write_bytes(b""), "not a zip archive"),
        (lambda p: p.unlink(), "does not exist"),
    ],
)
def test_not_a_reading_is_refused_naming_the_file(tmp_path: Path, damage, message) -> None:
    path = tmp_path / "bad.reading"
    write_reading(full_reading(), path)
    damage(path)
    with pytest.raises(CaseFileError, match=message) as caught:
        read_reading(path)
    assert str(path) in str(caught.value)


def test_flipped_byte_in_an_outline_is_caught(tmp_path: Path) -> None:
    path = tmp_path / "bad.reading"
    write_reading(full_reading(), path)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("series-2.npz")
    # the member's data starts after its local header (30 bytes + name + extra)
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    data[start + info.file_size - 3] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CaseFileError, match="damaged") as caught:
        read_reading(path)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(format="interval-case"), "not an Interval reading"),
        (lambda d: d.update(format_version=2), "newer Interval"),
        (lambda d: d.update(format_version="1"), "not a number"),
        (lambda d: d["series"][1]["lesions"][0].update(voxels=7), "voxel count"),
        (lambda d: d["lesions"].pop(1), "no lesion"),
        (lambda d: d["series"][0].update(shape=[40, 64]), "implausible shape"),
        (lambda d: d["series"][0]["lesions"][0].update(offset=[39, 0, 0]), "leaves the grid"),
        (lambda d: d["visits"][0].update(category="worse"), "is not one of"),
        (lambda d: d.update(criteria="who-knows"), "unknown criteria"),
        (lambda d: d["visits"].reverse(), "dated before"),
        (lambda d: d["series"][0].update(file="../../etc/passwd"), "series-<n>.npz"),
        (lambda d: d.pop("lesions"), "KeyError"),
    ],
)
def test_invalid_content_is_refused_with_the_reason(tmp_path: Path, change, message) -> None:
    path = tmp_path / "bad.reading"
    write_reading(full_reading(), path)
    rewrite(path, change)
    with pytest.raises(CaseFileError, match=message) as caught:
        read_reading(path)
    assert str(path) in str(caught.value)


def test_zip_without_reading_json_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.reading"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("hello.txt", "not a reading")
    with pytest.raises(CaseFileError, match="no reading.json"):
        read_reading(path)


def test_write_failure_names_the_file_and_keeps_the_old_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(SaveError, match="no longer exists") as caught:
        write_reading(full_reading(), tmp_path / "missing" / "a.reading")
    assert "a.reading" in str(caught.value)
    path = tmp_path / "a.reading"
    write_reading(full_reading(), path)
    before = path.read_bytes()

    def disk_full(*args: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("viewer.io.atomic.os.replace", disk_full)
    with pytest.raises(SaveError, match="disk full"):
        write_reading(synthetic.reference(), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["a.reading"]  # no temporary left


# --------------------------------------------------------------------------- the model


def test_outlines_are_refused_on_another_grid() -> None:
    reading = synthetic.reference()
    same = Volume(np.zeros(synthetic.SHAPE, np.int16), synthetic.VOXEL2PATIENT)
    assert reading.labels_on("S2", same) is reading.series["S2"].labels
    assert reading.labels_on("not-outlined", same) is None
    shifted = synthetic.VOXEL2PATIENT.copy()
    shifted[2, 3] += 0.5
    moved = Volume(np.zeros(synthetic.SHAPE, np.int16), shifted)
    with pytest.raises(CaseFileError, match="series S2 .* another grid: voxel positions differ"):
        reading.labels_on("S2", moved)
    problems = reading.grid_problems({"S1": same, "S2": moved})
    assert list(problems) == ["S2"] and "0.5 mm" in problems["S2"]
    assert "has no series S1" in reading.grid_problems({"S2": same})["S1"]


def test_outlines_are_read_only_copies() -> None:
    labels = np.zeros(synthetic.SHAPE, np.uint16)
    labels[5, 5, 5] = 1
    outlines = SeriesOutlines("S1", "2020-01-06", synthetic.VOXEL2PATIENT, labels)
    labels[5, 5, 5] = 0
    assert outlines.labels[5, 5, 5] == 1
    with pytest.raises(ValueError, match="read-only"):
        outlines.labels[0, 0, 0] = 1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"lesions": ()}, "are no lesion"),
        ({"baseline_visit": "2021-01-01"}, "not listed"),
        ({"visits": ()}, "visit 2020-01-06 is not listed"),
        (
            {
                "hand_measurements": (
                    HandMeasurement("S9", 1, ((0, 0, 0), (9, 0, 0)), ((4, -3, 0), (4, 3, 0))),
                )
            },
            "unknown series S9",
        ),
    ],
)
def test_parts_that_do_not_fit_are_refused(change: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(synthetic.reference(), **change)


def test_reading_built_from_a_session_s_parts() -> None:
    lesions = LesionSet()
    lesions.add("L1 recurrence")
    lesions.add("L2 cavity", LesionKind.RESECTION_CAVITY)
    lesions.add("L3 drawn and erased")
    maps = {
        "S1": synthetic.label_map((1, synthetic.sphere(synthetic.L1_CENTRE_MM, 10.0))),
        "S2": synthetic.label_map((2, synthetic.sphere(synthetic.L2_CENTRE_MM, 5.0))),
        "S3": np.zeros(synthetic.SHAPE, np.uint16),  # outlined, then erased: no outlines
    }
    grids = {
        key: SeriesRecord(key, visit, synthetic.SHAPE, synthetic.VOXEL2PATIENT)
        for key, visit in (("S1", "2020-01-06"), ("S2", "2020-03-02"), ("S3", "2020-03-02"))
    }
    reading = build_reading(
        Reader("A. Trainee", Role.TRAINEE),
        lesions=lesions,
        targets=[1],
        label_maps=maps,
        grids=grids,
        visits=[(d, dt.date.fromisoformat(d), k) for d, k in synthetic.VISITS],
        categories={"2020-03-02": "SD"},
        slice_thickness_mm={"S1": 2.0},
        created=synthetic.CREATED,
    )
    assert list(reading.series) == ["S1", "S2"]
    assert reading.targets == (1,)
    assert reading.lesion(2).kind is LesionKind.RESECTION_CAVITY
    assert reading.visit("2020-03-02") == VisitStatement(
        "2020-03-02", dt.date(2020, 3, 2), "S2", "SD"
    )
    assert reading.series["S1"].slice_thickness_mm == 2.0
    assert reading.series["S2"].slice_thickness_mm is None
    with pytest.raises(ValueError, match="has no grid"):
        build_reading(
            Reader("x", Role.TRAINEE),
            lesions=lesions,
            targets=[],
            label_maps=maps,
            grids={},
            visits=[],
        )


def test_lesion_checks_follow_the_case_file() -> None:
    with pytest.raises(ValueError, match="outside 1..65535"):
        ReadingLesion(0, "L0")
    with pytest.raises(TypeError, match="target"):
        ReadingLesion(1, "L1", target=1)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- the case folder


def test_store_saves_lists_and_imports_once(tmp_path: Path) -> None:
    case = tmp_path / "images.interval"
    store = ReadingStore(case)
    assert store.infos() == ([], [])
    trainee = dataclasses.replace(
        synthetic.trainee_missing_l2(), reader=Reader("A. Trainee", Role.TRAINEE)
    )
    saved = store.save(trainee)
    assert saved.parent == case / "readings"
    assert saved.name == "trainee-a-trainee-20240501T120000.reading"
    assert ReadingStore(case).save(full_reading()).name.startswith("reference-dr-muller-")
    outside = tmp_path / "from-supervisor.reading"
    write_reading(full_reading(), outside)
    imported = store.import_file(outside)  # the same reading as the one saved above
    assert store.import_file(outside) == imported  # the same file twice: one copy
    assert imported.read_bytes() == outside.read_bytes()
    (case / "readings" / "broken.reading").write_bytes(b"garbage")
    infos, problems = store.infos()
    assert [i.path for i in infos] == [imported, saved]  # by time, then name
    assert len(problems) == 1 and "broken.reading" in problems[0]
    assert [i.path for i in store.references()] == [imported]
    # a different reading under the same name gets its own file
    other = dataclasses.replace(full_reading(), case_label="another")
    assert store.save(other).name.endswith("-2.reading")


def test_store_refuses_to_import_a_damaged_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.reading"
    bad.write_bytes(b"PK\x03\x04 truncated")
    store = ReadingStore(tmp_path / "case.interval")
    with pytest.raises(CaseFileError):
        store.import_file(bad)
    assert not (tmp_path / "case.interval" / "readings").exists()


def test_an_outline_member_larger_than_its_boxes_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "bomb.reading"
    write_reading(full_reading(), path)
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    members["series-1.npz"] = bytes(50_000_000)  # deflates to almost nothing
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    assert path.stat().st_size < 200_000
    with pytest.raises(CaseFileError, match="larger than its outlines can be"):
        read_reading(path)
