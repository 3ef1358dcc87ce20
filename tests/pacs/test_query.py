"""Search queries and results: validation, C-FIND identifiers, the patient timeline order."""

from __future__ import annotations

import datetime as dt

import pytest
from pydicom.dataset import Dataset

from viewer.pacs.errors import ServerConfigError
from viewer.pacs.query import (
    SearchQuery,
    StudyResult,
    group_by_patient,
    series_from_dataset,
    study_from_dataset,
    study_identifier,
)


def test_query_is_trimmed_and_modality_capitalised():
    query = SearchQuery(" 123 ", " SMITH* ", modality=" mr ").validated()
    assert (query.patient_id, query.patient_name, query.modality) == ("123", "SMITH*", "MR")


@pytest.mark.parametrize(
    ("query", "words"),
    [
        (SearchQuery(patient_id="x" * 65), "patient ID is longer than 64"),
        (SearchQuery(patient_name="A\\B"), "name may not contain a backslash"),
        (SearchQuery(modality="M R"), "'M R' is not a DICOM modality"),
        (
            SearchQuery(date_from=dt.date(2003, 1, 1), date_to=dt.date(2002, 1, 1)),
            r"ends \(2002-01-01\) before it starts \(2003-01-01\)",
        ),
    ],
)
def test_invalid_queries_say_why(query, words):
    with pytest.raises(ServerConfigError, match=words):
        query.validated()


def test_study_identifier_carries_every_matching_key():
    query = SearchQuery("ID1", "DOE*", dt.date(1995, 1, 1), dt.date(1995, 12, 31), "CT")
    ds = study_identifier(query)
    assert ds.QueryRetrieveLevel == "STUDY"
    assert (ds.PatientID, str(ds.PatientName), ds.StudyDate) == ("ID1", "DOE*", "19950101-19951231")
    assert ds.ModalitiesInStudy == "CT"
    assert ds.StudyInstanceUID == "" and ds.NumberOfStudyRelatedInstances == ""
    assert "SpecificCharacterSet" not in ds
    assert (
        study_identifier(SearchQuery(patient_name="MÜLLER*")).SpecificCharacterSet == "ISO_IR 192"
    )
    assert SearchQuery(date_to=dt.date(2001, 2, 3)).date_range() == "-20010203"
    assert SearchQuery(date_from=dt.date(2001, 2, 3), date_to=dt.date(2001, 2, 3)).date_range() == (
        "20010203"
    )


def test_answers_become_results():
    ds = Dataset()
    ds.StudyInstanceUID = "1.2.3"
    ds.PatientName = "DOE^JANE"
    ds.PatientID = "P1"
    ds.StudyDate = "20020814"
    ds.ModalitiesInStudy = ["CT", "MR"]
    ds.NumberOfStudyRelatedInstances = "78"
    study = study_from_dataset(ds)
    assert study == StudyResult(
        "1.2.3", "P1", "DOE^JANE", None, dt.date(2002, 8, 14), "", "", "", ("CT", "MR"), None, 78
    )
    series = Dataset()
    series.SeriesInstanceUID = "1.2.3.4"
    series.SeriesNumber = "7"
    series.Modality = "MR"
    series.SeriesDescription = "AX T1 POST GAD"
    result = series_from_dataset(series, "1.2.3")
    assert (result.study_uid, result.series_number, result.label()) == (
        "1.2.3",
        7,
        "S7 MR AX T1 POST GAD",
    )


def test_patients_and_their_studies_in_timeline_order():
    def study(uid, pid, date, name="DOE^J", time=""):
        return StudyResult(uid, pid, name, study_date=date, study_time=time)

    studies = [
        study("1.4", "B", dt.date(2003, 3, 27), name="ADAMS^B"),
        study("1.1", "A", dt.date(2002, 8, 14)),
        study("1.2", "A", None),
        study("1.3", "A", dt.date(1995, 6, 12), time="120000"),
        study("1.5", "A", dt.date(1995, 6, 12), time="080000"),
    ]
    patients = group_by_patient(studies)
    assert [p.patient_id for p in patients] == ["B", "A"]  # by name: ADAMS before DOE
    assert [s.study_uid for s in patients[1].studies] == ["1.5", "1.3", "1.1", "1.2"]
