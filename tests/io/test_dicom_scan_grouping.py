"""group_into_series through the public scan_paths: RELIABILITY A1, A6, A7, A9 (grouping), A16."""

import datetime as dt
import itertools
import shutil
from dataclasses import replace

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import EncapsulatedPDFStorage, ExplicitVRLittleEndian

from tests.dicom_factory import ramp_volume, stable_uid, write_series
from tests.io.test_dicom_scan import write_enhanced_mr
from viewer.io import scan_paths
from viewer.io.dicom_grouping import BURNED_IN_WARNING, group_into_series
from viewer.io.dicom_scan import read_slice_headers

SHAPE = (8, 16, 20)


def _series(catalog):
    return catalog.all_series()


def _paths(paths):
    return tuple(sorted(str(p) for p in paths))


def _by_paths(catalog):
    return {s.paths: s for s in _series(catalog)}


_extra_files = itertools.count()


def _new_uid(k, ds):
    """Give an extra file its own SOPInstanceUID (write_series derives them from name and index)."""
    uid = stable_uid("extra", next(_extra_files))
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = uid


# --- A1: junk beside a valid series ---


def test_a1_series_found_and_every_junk_file_skipped_with_its_reason(tmp_path):
    series = write_series(tmp_path / "study", ramp_volume(SHAPE))
    junk = tmp_path / "junk"
    junk.mkdir()
    shutil.copy(get_testdata_file("DICOMDIR"), tmp_path / "DICOMDIR")
    (tmp_path / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1" + bytes(2048))
    Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8)).save(tmp_path / "photo.jpg")
    (tmp_path / "report.pdf").write_bytes(b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n")
    (tmp_path / "empty").write_bytes(b"")
    (junk / "IM0001").write_bytes(np.random.default_rng(7).bytes(4096))
    pdf_dicom = _encapsulated_pdf(tmp_path / "IM9999")

    catalog = scan_paths([tmp_path])

    (entry,) = _series(catalog)
    assert entry.shape == SHAPE
    assert entry.paths == _paths(series)
    assert entry.orientation == "axial"
    assert entry.warnings == ()
    reasons = {s.path: s.reason for s in catalog.skipped}
    assert "DICOMDIR" in reasons[str(tmp_path / "DICOMDIR")]
    assert ".DS_Store" in reasons[str(tmp_path / ".DS_Store")]
    assert "JPEG" in reasons[str(tmp_path / "photo.jpg")]
    assert "PDF" in reasons[str(tmp_path / "report.pdf")]
    assert "empty" in reasons[str(tmp_path / "empty")]
    assert "not a DICOM" in reasons[str(junk / "IM0001")]
    assert "Encapsulated PDF Storage" in reasons[str(pdf_dicom)]
    assert len(reasons) == 7


def _encapsulated_pdf(path):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = EncapsulatedPDFStorage
    meta.MediaStorageSOPInstanceUID = stable_uid(path)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = EncapsulatedPDFStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.PatientID = "TEST001"
    ds.EncapsulatedDocument = b"%PDF-1.4 report"
    pydicom.dcmwrite(path, ds, enforce_file_format=True)
    return path


# --- A6: two series; two visits with the same series number and description ---


def test_a6_two_series_and_two_visits_in_one_folder_are_never_merged(tmp_path):
    folder = tmp_path / "mixed"  # every file in one folder, names interleaved
    t1 = write_series(folder, ramp_volume(SHAPE), name="v1", file_names=lambda k: f"A{k:03d}")
    flair = write_series(
        folder,
        ramp_volume(SHAPE),
        name="v1",
        series_number=2,
        series_description="FLAIR",
        file_names=lambda k: f"B{k:03d}",
    )
    later = write_series(
        folder,
        ramp_volume(SHAPE),
        name="v2",
        study_date=dt.date(2003, 6, 1),
        origin=(-100.0, -120.0, -39.0),  # positions interleave with the first visit's
        file_names=lambda k: f"A{k:03d}x",
    )
    catalog = scan_paths([folder])

    entries = _by_paths(catalog)
    assert set(entries) == {_paths(t1), _paths(flair), _paths(later)}
    assert all(e.shape == SHAPE for e in entries.values())
    assert entries[_paths(t1)].study_instance_uid != entries[_paths(later)].study_instance_uid
    (patient,) = catalog.patients
    assert [v.date for v in patient.visits] == [dt.date(2003, 3, 27), dt.date(2003, 6, 1)]
    assert len({e.key for e in entries.values()}) == 3
    assert catalog.skipped == [] and catalog.warnings == []


def test_one_series_uid_in_two_studies_is_kept_apart_with_unique_keys(tmp_path):
    """A broken anonymiser can give two studies the same SeriesInstanceUID."""
    shared_uid = stable_uid("reused series")

    def same_series(k, ds):
        ds.SeriesInstanceUID = shared_uid

    a = write_series(tmp_path / "a", ramp_volume(SHAPE), name="a", mutate=same_series)
    b = write_series(
        tmp_path / "b",
        ramp_volume(SHAPE),
        name="b",
        study_date=dt.date(2003, 6, 1),
        mutate=same_series,
    )
    catalog = scan_paths([tmp_path])
    entries = _by_paths(catalog)
    assert set(entries) == {_paths(a), _paths(b)}
    assert {e.key for e in entries.values()} == {shared_uid, f"{shared_uid}#2"}
    (warning,) = catalog.warnings
    assert shared_uid in warning and "another study" in warning


# --- A7: localizer, duplicates, two instances at one position ---


def test_a7_localizer_typed_in_image_type_is_set_apart(tmp_path):
    axial = write_series(tmp_path, ramp_volume(SHAPE))

    def localizer(k, ds):
        _new_uid(k, ds)
        ds.ImageType = ["ORIGINAL", "PRIMARY", "LOCALIZER"]

    scout = write_series(
        tmp_path,
        ramp_volume((1, 16, 20)),
        orientation=(0, 1, 0, 0, 0, -1),
        mutate=localizer,
        file_names=lambda k: "SCOUT",
    )
    catalog = scan_paths([tmp_path])
    entries = _by_paths(catalog)
    assert set(entries) == {_paths(axial), _paths(scout)}
    main, loc = entries[_paths(axial)], entries[_paths(scout)]
    assert (main.is_localizer, loc.is_localizer) == (False, True)
    assert main.key == main.series_instance_uid
    assert loc.key == f"{main.series_instance_uid}#2"
    assert loc.orientation == "sagittal"
    assert "localizer" in loc.description


def test_a9_lone_slice_of_another_orientation_is_split_off_as_a_localizer(tmp_path):
    axial = write_series(tmp_path, ramp_volume(SHAPE))
    odd = write_series(
        tmp_path,
        ramp_volume((1, 16, 20)),
        orientation=(1, 0, 0, 0, 0, -1),
        mutate=_new_uid,
        file_names=lambda k: "ODD",
    )
    entries = _by_paths(scan_paths([tmp_path]))
    assert entries[_paths(axial)].shape == SHAPE and not entries[_paths(axial)].is_localizer
    split = entries[_paths(odd)]
    assert split.is_localizer and split.orientation == "coronal"
    assert any("orientation differs" in w for w in split.warnings)


def test_a9_mixed_orientations_become_separate_stacks(tmp_path):
    axial = write_series(tmp_path, ramp_volume(SHAPE))
    coronal = write_series(
        tmp_path,
        ramp_volume((3, 16, 20)),
        orientation=(1, 0, 0, 0, 0, -1),
        mutate=_new_uid,
        file_names=lambda k: f"COR{k}",
    )
    entries = _by_paths(scan_paths([tmp_path]))
    assert entries[_paths(axial)].orientation == "axial"
    assert entries[_paths(coronal)].orientation == "coronal"
    assert entries[_paths(coronal)].shape == (3, 16, 20)
    assert not any(e.is_localizer for e in entries.values())
    assert entries[_paths(coronal)].key.endswith("#2")


def test_a9_different_matrix_or_pixel_spacing_split_the_series(tmp_path):
    main = write_series(tmp_path, ramp_volume(SHAPE))
    other_matrix = write_series(
        tmp_path,
        ramp_volume((2, 12, 20)),
        origin=(-100.0, -120.0, 0.0),
        mutate=_new_uid,
        file_names=lambda k: f"M{k}",
    )
    other_spacing = write_series(
        tmp_path,
        ramp_volume((2, 16, 20)),
        spacing=(2.0, 0.5, 0.5),
        origin=(-100.0, -120.0, 20.0),
        mutate=_new_uid,
        file_names=lambda k: f"S{k}",
    )
    entries = _by_paths(scan_paths([tmp_path]))
    assert set(entries) == {_paths(main), _paths(other_matrix), _paths(other_spacing)}
    assert entries[_paths(other_matrix)].shape == (2, 12, 20)
    assert entries[_paths(other_spacing)].pixel_spacing_mm == (0.5, 0.5)


def test_a7_duplicate_sop_instance_uid_keeps_one(tmp_path):
    paths = write_series(tmp_path / "series", ramp_volume(SHAPE))
    copy = tmp_path / "copy_of_IM0003"
    shutil.copy(paths[2], copy)
    catalog = scan_paths([tmp_path])
    (entry,) = _series(catalog)
    assert entry.shape == SHAPE
    (skipped,) = catalog.skipped
    # the first in path order is kept; the other is reported naming the one kept
    assert skipped.path == str(paths[2])
    assert str(copy) in skipped.reason and "duplicate" in skipped.reason
    assert str(copy) in entry.paths


def test_a7_two_instances_at_one_position_are_reported_not_overwritten(tmp_path):
    paths = write_series(tmp_path, ramp_volume(SHAPE))
    extra = write_series(
        tmp_path,
        ramp_volume((1, 16, 20)) + 7,
        origin=(-100.0, -120.0, -40.0 + 2 * 2.0),  # the position of slice 2
        mutate=_new_uid,
        file_names=lambda k: "EXTRA",
    )
    catalog = scan_paths([tmp_path])
    entries = _series(catalog)
    assert sum(e.shape[0] for e in entries) == SHAPE[0] + 1  # nothing lost
    assert {p for e in entries for p in e.paths} == {str(p) for p in [*paths, *extra]}
    (warning,) = catalog.warnings
    assert str(paths[2]) in warning and str(extra[0]) in warning
    assert "no tag tells apart" in warning
    for entry in entries:  # each stack holds one instance per position
        positions = [h.image_position[2] for h in entry.source]
        assert len(set(positions)) == len(positions)
        assert any("same position" in w for w in entry.warnings)


def test_a7_repeats_told_apart_by_echo_number_split_cleanly(tmp_path):
    def echo(number):
        def mutate(k, ds):
            ds.EchoNumbers = number
            ds.EchoTime = 10.0 * number
            if number == 2:
                _new_uid(k, ds)

        return mutate

    first = write_series(tmp_path, ramp_volume(SHAPE), mutate=echo(1))
    second = write_series(
        tmp_path, ramp_volume(SHAPE), mutate=echo(2), file_names=lambda k: f"E2_{k}"
    )
    catalog = scan_paths([tmp_path])
    entries = _by_paths(catalog)
    assert set(entries) == {_paths(first), _paths(second)}
    assert entries[_paths(first)].description == "T1 post-contrast (echo 1)"
    assert entries[_paths(second)].description == "T1 post-contrast (echo 2)"
    assert catalog.warnings == []
    assert all(e.warnings == () for e in entries.values())


def test_per_slice_acquisition_numbers_do_not_shatter_a_repeat(tmp_path):
    """Scanners that number every slice's acquisition must not yield one stack per slice."""

    def numbered(offset):
        def mutate(k, ds):
            ds.AcquisitionNumber = offset + k
            if offset:
                _new_uid(k, ds)

        return mutate

    write_series(tmp_path, ramp_volume((3, 16, 20)), mutate=numbered(0))
    write_series(tmp_path, ramp_volume((3, 16, 20)), mutate=numbered(5), file_names=str)
    catalog = scan_paths([tmp_path])
    assert sorted(e.shape[0] for e in _series(catalog)) == [3, 3]
    assert len(catalog.warnings) == 1


# --- A9: invalid or missing geometry ---


@pytest.mark.parametrize(
    "bad, expected",
    [
        ({"ImageOrientationPatient": [0, 0, 0, 0, 0, 0]}, "invalid ImageOrientationPatient"),
        ({"ImageOrientationPatient": [1, 0, 0, 0.5, 1, 0]}, "not two unit vectors"),
        ({"ImageOrientationPatient": [1, 0, 0, 1, 0, 0]}, "invalid ImageOrientationPatient"),
        ({"ImageOrientationPatient": None}, "no ImageOrientationPatient"),
        ({"ImagePositionPatient": None}, "no ImagePositionPatient"),
        ({"PixelSpacing": None}, "no PixelSpacing"),
        ({"PixelSpacing": [0.0, 1.0]}, "invalid PixelSpacing"),
    ],
)
def test_a9_slice_with_unusable_geometry_is_split_off_with_a_reason(tmp_path, bad, expected):
    def mutate(k, ds):
        if k == 3:
            for keyword, value in bad.items():
                if value is None:
                    delattr(ds, keyword)
                else:
                    setattr(ds, keyword, value)

    paths = write_series(tmp_path, ramp_volume(SHAPE), mutate=mutate)
    catalog = scan_paths([tmp_path])
    (entry,) = _series(catalog)
    assert entry.shape == (SHAPE[0] - 1, *SHAPE[1:])
    assert str(paths[3]) not in entry.paths
    (skipped,) = catalog.skipped
    assert skipped.path == str(paths[3])
    assert expected in skipped.reason and "series 1" in skipped.reason


def test_nan_orientation_is_refused_and_never_reaches_an_entry(tmp_path):
    paths = write_series(tmp_path, ramp_volume((3, 16, 20)))
    headers = [h for p in paths for h in read_slice_headers(p)]
    nan = replace(headers[1], image_orientation=(float("nan"), 0.0, 0.0, 0.0, 1.0, 0.0))
    entries, skipped, _ = group_into_series([headers[0], nan, headers[2]])
    (entry,) = entries
    assert entry.shape == (2, 16, 20)
    assert "invalid ImageOrientationPatient (nan" in skipped[0].reason
    for h in entry.source:
        assert np.all(np.isfinite(h.image_orientation))


def test_series_without_any_geometry_is_listed_with_a_warning(tmp_path):
    def mutate(k, ds):
        del ds.ImageOrientationPatient

    paths = write_series(tmp_path, ramp_volume((3, 16, 20)), mutate=mutate)
    catalog = scan_paths([tmp_path])
    (entry,) = _series(catalog)
    assert entry.paths == _paths(paths)
    assert entry.orientation == "unknown"
    assert entry.pixel_spacing_mm is None
    assert any("cannot be placed in patient space" in w for w in entry.warnings)
    assert catalog.skipped == []


def test_enhanced_frames_without_a_position_are_named_by_frame(tmp_path):
    write_enhanced_mr(tmp_path / "enhanced.dcm", 4, drop_position_of=(1, 2))
    catalog = scan_paths([tmp_path])
    (entry,) = _series(catalog)
    assert entry.shape == (2, 6, 8)
    (skipped,) = catalog.skipped
    assert skipped.reason.startswith("frames 2-3: no ImagePositionPatient")


# --- stacks: order, shape, orientation labels, A16 ---


def test_entry_fields_and_source_sorted_along_the_normal(tmp_path):
    names = [f"IM{k:04d}" for k in (5, 2, 7, 0, 3, 6, 1, 4)]  # shuffled names
    paths = write_series(
        tmp_path,
        ramp_volume(SHAPE),
        spacing=(3.0, 0.7, 0.8),
        orientation=(1, 0, 0, 0, 0, -1),  # coronal: the normal (row x column) points posterior
        mutate=lambda k, ds: setattr(ds, "InstanceNumber", 100 - 7 * k),
        file_names=lambda k: names[k],
    )
    (entry,) = _series(scan_paths([tmp_path]))
    assert entry.format == "dicom"
    assert entry.shape == SHAPE
    assert entry.pixel_spacing_mm == (0.7, 0.8)
    assert entry.slice_thickness_mm == 3.0
    assert entry.orientation == "coronal"
    assert entry.study_date == dt.date(2003, 3, 27)
    assert entry.patient_id == "TEST001"
    assert entry.series_number == 1
    # source in order of position along the normal (slice k is k steps along it), not by name
    # or InstanceNumber
    assert [h.path for h in entry.source] == [str(p) for p in paths]
    assert [h.path for h in entry.source] != sorted(entry.paths)


def test_oblique_series_is_labelled_oblique(tmp_path):
    c, s = np.cos(np.radians(25)), np.sin(np.radians(25))
    write_series(tmp_path, ramp_volume((3, 16, 20)), orientation=(1, 0, 0, 0, c, -s))
    (entry,) = _series(scan_paths([tmp_path]))
    assert entry.orientation == "oblique axial"


def test_a16_burned_in_and_secondary_capture_load_with_a_warning(tmp_path):
    def burned(k, ds):
        ds.BurnedInAnnotation = "YES"

    def secondary(k, ds):
        ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"

    write_series(tmp_path / "a", ramp_volume((3, 16, 20)), name="a", mutate=burned)
    write_series(tmp_path / "b", ramp_volume((3, 16, 20)), name="b", mutate=secondary)
    write_series(tmp_path / "c", ramp_volume((3, 16, 20)), name="c")
    entries = sorted(_series(scan_paths([tmp_path])), key=lambda e: e.paths)
    assert [BURNED_IN_WARNING in e.warnings for e in entries] == [True, True, False]
    assert all(e.shape == (3, 16, 20) for e in entries)


def test_enhanced_file_becomes_one_stack_sorted_by_position(tmp_path):
    write_enhanced_mr(tmp_path / "enhanced.dcm", 4)
    (entry,) = _series(scan_paths([tmp_path]))
    assert entry.shape == (4, 6, 8)
    assert entry.series_number == 7 and entry.description == "enhanced T1c"
    assert [h.image_position[2] for h in entry.source] == [10.0, 13.0, 16.0, 19.0]
    assert [h.frame_index for h in entry.source] == [1, 3, 0, 2]
    assert entry.paths == (str(tmp_path / "enhanced.dcm"),)
    assert entry.pixel_spacing_mm == (0.8, 0.9)
    assert entry.series_datetime == dt.datetime(2002, 12, 1, 9, 30, 0)
