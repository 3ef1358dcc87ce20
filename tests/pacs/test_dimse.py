"""DIMSE against a real Orthanc: echo, find, retrieve by C-GET and C-MOVE, cancel."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.pacs.demo import (
    assert_identical_to_sources,
    assert_same_visits_as_sources,
    demo_instances,
    demo_study_dates,
)
from viewer.errors import OperationCancelled
from viewer.pacs.dimse import DimseClient
from viewer.pacs.query import SearchQuery, group_by_patient
from viewer.pacs.store import LocalStore, SeriesState

DEMO_ID = "INTERVAL-DEMO-001"


@pytest.fixture
def client(orthanc):
    return DimseClient(orthanc.server(), orthanc.local())


def test_echo(client):
    client.echo()


def test_find_studies_by_id_name_date_and_modality(client):
    dates = demo_study_dates()
    by_id = client.find_studies(SearchQuery(patient_id=DEMO_ID))
    assert [s.study_date for s in by_id] == dates
    assert {s.patient_name for s in by_id} == {"DEMO^GLIOMA"}
    assert sum(s.instance_count for s in by_id) == len(demo_instances())
    assert [s.study_uid for s in client.find_studies(SearchQuery(patient_name="DEMO*"))] == [
        s.study_uid for s in by_id
    ]
    assert client.find_studies(SearchQuery(patient_name="NOBODY*")) == []
    in_2002 = SearchQuery(DEMO_ID, date_from=dt.date(2002, 1, 1), date_to=dt.date(2002, 12, 31))
    assert [s.study_date for s in client.find_studies(in_2002)] == [
        d for d in dates if d.year == 2002
    ]
    ct = client.find_studies(SearchQuery(DEMO_ID, modality="CT"))
    assert [s.study_date.isoformat() for s in ct] == ["1995-06-12", "2002-12-09", "2003-03-27"]
    assert all("CT" in s.modalities for s in ct)
    [patient] = group_by_patient(by_id)
    assert (patient.patient_id, [s.study_date for s in patient.studies]) == (DEMO_ID, dates)


def test_find_series_of_studies(client):
    studies = client.find_studies(SearchQuery(patient_id=DEMO_ID))
    series = client.find_series([s.study_uid for s in studies])
    assert len(series) == 8
    assert sum(s.instance_count for s in series) == len(demo_instances())
    last = [s for s in series if s.study_uid == studies[-1].study_uid]
    assert [s.label() for s in last] == ["S2 CT CT HEAD C+", "S9 MR AX T1 POST GAD"]


def test_cget_brings_the_whole_demo_identical_and_scannable(client, tmp_path):
    studies = client.find_studies(SearchQuery(patient_id=DEMO_ID))
    series = client.find_series([s.study_uid for s in studies])
    store = LocalStore(tmp_path)
    steps, finals = [], {}

    def on_series(update):
        if update.state is not None:
            finals[update.series.series_uid] = (update.state, update.received, update.expected)

    results = client.retrieve(
        series, store, progress=lambda d, t, m: steps.append((d, t)), on_series=on_series
    )
    assert [r.state for r in results] == [SeriesState.COMPLETE] * 8
    assert sum(assert_identical_to_sources(r) for r in results) == len(demo_instances())
    assert steps[-1] == (300, 300)
    assert [d for d, _ in steps] == sorted(d for d, _ in steps)
    assert all(
        state is SeriesState.COMPLETE and got == want for state, got, want in finals.values()
    )
    assert_same_visits_as_sources([r.folder for r in results])
    # asked again: already complete, nothing fetched
    markers = {
        r.series_uid: store.marker_path(r.study_uid, r.series_uid).stat().st_mtime_ns
        for r in results
    }
    again = client.retrieve(series, store)
    assert [r.state for r in again] == [SeriesState.COMPLETE] * 8
    assert markers == {
        r.series_uid: store.marker_path(r.study_uid, r.series_uid).stat().st_mtime_ns for r in again
    }


def test_cmove_to_our_storage_scp(orthanc, tmp_path):
    client = DimseClient(orthanc.server(retrieve_method="C-MOVE"), orthanc.local())
    [study] = client.find_studies(SearchQuery(patient_id=DEMO_ID, date_from=dt.date(2003, 3, 27)))
    series = client.find_series([study.study_uid])
    results = client.retrieve(series, LocalStore(tmp_path))
    assert [r.state for r in results] == [SeriesState.COMPLETE, SeriesState.COMPLETE]
    assert sum(assert_identical_to_sources(r) for r in results) == 78
    # a second C-MOVE right away works too (the server may reuse its connection to us)
    again = client.retrieve(series[:1], LocalStore(tmp_path / "again"))
    assert again[0].state is SeriesState.COMPLETE


@pytest.mark.parametrize("method", ["C-GET", "C-MOVE"])
def test_cancel_mid_series_leaves_it_partial_then_resumes(orthanc, tmp_path, method):
    client = DimseClient(orthanc.server(retrieve_method=method), orthanc.local())
    [study] = client.find_studies(SearchQuery(patient_id=DEMO_ID, date_from=dt.date(2003, 3, 27)))
    mr = [s for s in client.find_series([study.study_uid]) if s.modality == "MR"]
    store = LocalStore(tmp_path)
    seen = []

    def on_series(update):
        seen.append(update.received)

    with pytest.raises(OperationCancelled):
        client.retrieve(mr, store, cancelled=lambda: len(seen) > 10, on_series=on_series)
    status = store.status(mr[0].study_uid, mr[0].series_uid)
    assert status.state is SeriesState.PARTIAL
    assert status.reason == "cancelled by the user"
    assert 0 < len(status.received) < 48 and len(status.missing) == 48 - len(status.received)
    assert sorted(p.stem for p in status.folder.glob("*.dcm")) == list(status.received)
    # the next retrieval completes it
    [done] = client.retrieve(mr, store)
    assert done.state is SeriesState.COMPLETE and len(done.received) == 48
