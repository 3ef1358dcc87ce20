import datetime as dt

import pytest

from viewer.core.catalog import Catalog, SeriesEntry
from viewer.core.progress import Reporter
from viewer.errors import OperationCancelled
from viewer.io.scan import group_by_patient


def entry(key, date, number, patient="P1", modality="MR"):
    return SeriesEntry(
        key=key,
        format="dicom",
        patient_id=patient,
        patient_name="",
        patient_birth_date=None,
        modality=modality,
        description=key,
        series_number=number,
        series_instance_uid=key,
        study_instance_uid=f"study-{date}",
        study_date=date,
        series_datetime=None,
        shape=(1, 2, 2),
        pixel_spacing_mm=(1.0, 1.0),
        slice_thickness_mm=1.0,
        orientation="axial",
    )


def test_visits_are_sorted_by_date_and_undated_last():
    entries = [
        entry("c", dt.date(2003, 3, 27), 2),
        entry("a", dt.date(1995, 6, 1), 1),
        entry("u", None, 1),
        entry("b", dt.date(2003, 3, 27), 1, modality="CT"),
        entry("x", dt.date(2000, 1, 1), 1, patient="P2"),
    ]
    patients = group_by_patient(entries)
    assert [p.patient_id for p in patients] == ["P1", "P2"]
    visits = patients[0].visits
    assert [v.label for v in visits] == ["1995-06-01", "2003-03-27", "undated"]
    assert [s.key for s in visits[1].series] == ["b", "c"]
    assert visits[1].modalities == ["CT", "MR"]


def test_find_series_by_key_uid_or_number_and_clear_error():
    catalog = Catalog(patients=group_by_patient([entry("uid-1", None, 3), entry("uid-2", None, 4)]))
    assert catalog.find_series("3").key == "uid-1"
    assert catalog.find_series("uid-2").series_number == 4
    with pytest.raises(KeyError, match="matches no series.*uid-1"):
        catalog.find_series("9")


def test_reporter_raises_when_cancelled():
    calls = []
    reporter = Reporter(lambda d, t, m: calls.append(d), lambda: len(calls) >= 2)
    reporter.step(0, 3)
    with pytest.raises(OperationCancelled):
        reporter.step(1, 3)
