"""DICOMweb against the real Orthanc (its DICOMweb plugin): QIDO-RS, WADO-RS, STOW-RS."""

from __future__ import annotations

import datetime as dt

import pydicom
import pytest

from tests.pacs.demo import (
    assert_identical_to_sources,
    assert_same_visits_as_sources,
    demo_instances,
    demo_study_dates,
)
from viewer.errors import OperationCancelled
from viewer.pacs.client import connect
from viewer.pacs.dicomweb import DicomWebClient
from viewer.pacs.query import SearchQuery
from viewer.pacs.store import LocalStore, SeriesState

DEMO_ID = "INTERVAL-DEMO-001"


@pytest.fixture
def web(orthanc):
    if not orthanc.dicomweb:
        pytest.skip(
            "Orthanc's DICOMweb plugin is not installed (Debian package 'orthanc-dicomweb')"
        )
    with connect(orthanc.server(protocol="dicomweb"), orthanc.local()) as client:
        assert isinstance(client, DicomWebClient)
        yield client


def test_qido_search_by_id_name_date_and_modality(web):
    dates = demo_study_dates()
    assert [
        s.study_date for s in web.find_studies(SearchQuery(patient_id="INTERVAL-DEMO-001"))
    ] == dates
    assert [s.study_date for s in web.find_studies(SearchQuery(patient_name="DEMO*"))] == dates
    assert [s.study_date for s in web.find_studies(SearchQuery(patient_name="DEM?*"))] == dates
    assert web.find_studies(SearchQuery(patient_name="NOBODY*")) == []
    in_1995 = SearchQuery(DEMO_ID, date_from=dt.date(1995, 1, 1), date_to=dt.date(1995, 12, 31))
    assert [s.study_date for s in web.find_studies(in_1995)] == dates[:2]
    ct = web.find_studies(SearchQuery(DEMO_ID, modality="CT"))
    assert [s.study_date.isoformat() for s in ct] == ["1995-06-12", "2002-12-09", "2003-03-27"]


def test_wado_retrieve_into_the_store(web, tmp_path):
    studies = web.find_studies(SearchQuery(patient_id=DEMO_ID))
    series = web.find_series([s.study_uid for s in studies])
    assert len(series) == 8 and sum(s.instance_count for s in series) == len(demo_instances())
    steps = []
    results = web.retrieve(series, LocalStore(tmp_path), progress=lambda d, t, m: steps.append(d))
    assert [r.state for r in results] == [SeriesState.COMPLETE] * 8
    assert sum(assert_identical_to_sources(r) for r in results) == len(demo_instances())
    assert steps[-1] == len(demo_instances())
    assert_same_visits_as_sources([r.folder for r in results])


def test_wado_cancel_leaves_partial(web, tmp_path):
    [study] = web.find_studies(SearchQuery(DEMO_ID, date_from=dt.date(2003, 3, 27)))
    mr = [s for s in web.find_series([study.study_uid]) if s.modality == "MR"]
    store = LocalStore(tmp_path)
    seen = []

    with pytest.raises(OperationCancelled):
        web.retrieve(
            mr, store, cancelled=lambda: len(seen) >= 5, on_series=lambda u: seen.append(u)
        )
    status = store.status(mr[0].study_uid, mr[0].series_uid)
    assert status.state is SeriesState.PARTIAL and 0 < len(status.received) < 48


def test_stow_store_then_seen_by_another_client(web, orthanc, tmp_path):
    source = next(iter(demo_instances().values()))
    ds = pydicom.dcmread(source)
    # another patient's study: the demo on the shared server stays as it is
    ds.PatientID, ds.PatientName = "STOW-TEST", "STOW^TEST"
    ds.StudyInstanceUID = pydicom.uid.generate_uid()
    ds.SeriesInstanceUID = pydicom.uid.generate_uid()
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.SeriesDescription = "STOW TEST"
    path = tmp_path / "copy.dcm"
    ds.save_as(path)
    assert web.send([path]) == [str(ds.SOPInstanceUID)]
    # DIMSE, a separate protocol and association, sees it
    dimse = connect(orthanc.server(), orthanc.local())
    series = dimse.find_series([str(ds.StudyInstanceUID)])
    assert "STOW TEST" in [s.description for s in series]
