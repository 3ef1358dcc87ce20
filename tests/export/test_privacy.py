"""Teaching-mode privacy: labels, file names, replacement UIDs, DICOM de-identification."""

from __future__ import annotations

import datetime as dt

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import UID, MRImageStorage

from viewer.export.privacy import DAY_ZERO, Privacy, UidMap, deidentify_dataset, shift_date

FIRST = dt.date(2001, 6, 28)


def test_visit_labels_are_relative_days_unless_real_dates_are_asked_for():
    assert Privacy().visit_label(FIRST, FIRST) == "Day 0"
    assert Privacy().visit_label(dt.date(2002, 8, 14), FIRST) == "Day 412"
    assert Privacy().visit_label(None, FIRST) == "undated"
    assert Privacy(real_dates=True).visit_label(dt.date(2002, 8, 14), FIRST) == "2002-08-14"


def test_file_stem_is_case_label_visit_and_series_number_only():
    privacy = Privacy(case_label="Teaching case / 7")
    assert privacy.file_stem(dt.date(2002, 8, 14), FIRST, 8) == "Teaching_case_7_Day412_S8"
    assert Privacy().file_stem(FIRST, FIRST) == "Case_Day0"
    assert Privacy(real_dates=True).file_stem(FIRST, FIRST, 3) == "Case_2001-06-28_S3"


def test_uid_map_is_stable_distinct_valid_and_salted():
    uids = UidMap("salt-a")
    first = uids("1.2.840.113619.2.55.3.1")
    assert uids("1.2.840.113619.2.55.3.1") == first
    assert uids("1.2.840.113619.2.55.3.2") != first
    assert UID(first).is_valid and len(first) <= 64 and first.startswith("2.25.")
    assert UidMap("salt-b")("1.2.840.113619.2.55.3.1") != first
    assert UidMap("salt-a")("1.2.840.113619.2.55.3.1") == first
    assert len({uids(f"1.2.3.{i}") for i in range(2000)}) == 2000


def _identified_dataset() -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = MRImageStorage
    ds.SOPInstanceUID = "1.2.3.4.5.6"
    ds.StudyInstanceUID = "1.2.3.4.5"
    ds.PatientName = "Canary^Name"
    ds.PatientID = "CANARY-ID"
    ds.PatientBirthDate = "19330303"
    ds.PatientSex = "F"
    ds.PatientAge = "069Y"
    ds.InstitutionName = "Canary Hospital"
    ds.ReferringPhysicianName = "Canary^Doctor"
    ds.OperatorsName = "Canary^Operator"
    ds.ReviewerName = "Canary^Reviewer"  # a person name outside the keyword list
    ds.ImageComments = "canary comment"
    ds.StudyDate = "20020814"
    ds.AcquisitionDateTime = "20020814101500.000"
    ds.StudyTime = "101500"
    item = Dataset()
    item.ReferencedSOPClassUID = MRImageStorage
    item.ReferencedSOPInstanceUID = "1.2.3.4.5.6"
    ds.SourceImageSequence = Sequence([item])
    ds.private_block(0x0011, "CANARY CREATOR", create=True).add_new(0x01, "LO", "canary private")
    return ds


def test_deidentify_removes_replaces_shifts_and_records():
    ds, uids = _identified_dataset(), UidMap("x")
    deidentify_dataset(ds, uids, Privacy(case_label="Case 1"), FIRST)
    assert str(ds.PatientName) == "Case 1^" and ds.PatientID == "Case 1"
    assert ds.PatientBirthDate == "" and ds.PatientSex == "" and ds.ReferringPhysicianName == ""
    for keyword in ("PatientAge", "InstitutionName", "ImageComments", "OperatorsName"):
        assert keyword not in ds
    assert ds.ReviewerName == ""
    assert not any(elem.tag.is_private for elem in ds)
    # intervals kept: 2002-08-14 is Day 412, and Day 0 is DAY_ZERO
    assert ds.StudyDate == (DAY_ZERO + dt.timedelta(days=412)).strftime("%Y%m%d") == "20010216"
    assert ds.AcquisitionDateTime == "20010216101500.000"
    assert shift_date(dt.date(2002, 8, 14), FIRST) == dt.date(2001, 2, 16)
    assert ds.SOPClassUID == MRImageStorage  # a standard UID, not an identifier
    assert ds.SOPInstanceUID == uids("1.2.3.4.5.6") != "1.2.3.4.5.6"
    assert ds.SourceImageSequence[0].ReferencedSOPInstanceUID == ds.SOPInstanceUID
    assert ds.StudyInstanceUID == uids("1.2.3.4.5")
    assert ds.PatientIdentityRemoved == "YES"
    assert ds.LongitudinalTemporalInformationModified == "MODIFIED"
    codes = {item.CodeValue for item in ds.DeidentificationMethodCodeSequence}
    assert codes == {"113100", "113107"}


def test_real_dates_keep_dates_and_are_recorded():
    ds = _identified_dataset()
    deidentify_dataset(ds, UidMap(), Privacy(real_dates=True), FIRST)
    assert ds.StudyDate == "20020814" and ds.PatientBirthDate == ""
    assert {item.CodeValue for item in ds.DeidentificationMethodCodeSequence} == {
        "113100",
        "113106",
    }


def test_include_identity_keeps_the_patient():
    ds = _identified_dataset()
    deidentify_dataset(ds, UidMap(), Privacy(include_identity=True, real_dates=True), FIRST)
    assert str(ds.PatientName) == "Canary^Name" and ds.InstitutionName == "Canary Hospital"
    assert ds.SOPInstanceUID == "1.2.3.4.5.6" and "PatientIdentityRemoved" not in ds


def test_unknown_first_visit_blanks_dates():
    ds = _identified_dataset()
    deidentify_dataset(ds, UidMap(), Privacy(), None)
    assert ds.StudyDate == "" and ds.AcquisitionDateTime == ""
