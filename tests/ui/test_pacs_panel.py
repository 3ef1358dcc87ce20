"""The PACS panel against a real Orthanc: servers, test connection, search, timeline, retrieve
with progress per series and cancel, send back; errors as messages in the panel."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from PySide6.QtCore import Qt, QThreadPool

from tests.pacs.orthanc import Orthanc, free_port, orthanc_session_fixture
from viewer.io import scan_paths
from viewer.pacs.client import connect
from viewer.pacs.config import load_settings
from viewer.pacs.query import SearchQuery
from viewer.pacs.store import LocalStore, SeriesState
from viewer.ui.pacs_panel import PacsPanel

WAIT_MS = 30_000
DEMO_ID = "INTERVAL-DEMO-001"


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory):
    yield from orthanc_session_fixture(tmp_path_factory)


@pytest.fixture
def pool():
    return QThreadPool()


@pytest.fixture
def panel(qtbot, tmp_path, orthanc, pool):
    widget = PacsPanel(
        pool, settings_file=tmp_path / "pacs.json", store=LocalStore(tmp_path / "store")
    )
    qtbot.addWidget(widget)
    widget.resize(700, 900)
    widget.show()
    yield widget
    widget.shutdown()
    pool.waitForDone(WAIT_MS)


def add_server(
    panel: PacsPanel, orthanc: Orthanc, name="Local Orthanc", port=None, **fields
) -> None:
    panel.add_button.click()
    assert panel.editor.isVisible()
    panel.name_edit.setText(name)
    panel.ae_edit.setText(fields.get("ae", "ORTHANC"))
    panel.host_edit.setText("127.0.0.1")
    panel.port_spin.setValue(port or orthanc.dicom_port)
    panel.method_combo.setCurrentText(fields.get("method", "C-GET"))
    panel.timeout_spin.setValue(fields.get("timeout", 10))
    panel.local_ae_edit.setText("INTERVAL")
    panel.local_port_spin.setValue(orthanc.scp_port)
    panel.save_button.click()


def wait_status(qtbot, panel: PacsPanel, words: str) -> None:
    qtbot.waitUntil(lambda: words in panel.status.text(), timeout=WAIT_MS)


def search_demo(qtbot, panel: PacsPanel) -> None:
    panel.patient_id_edit.setText(DEMO_ID)
    panel.search_button.click()
    wait_status(qtbot, panel, "Found 5 studies of 1 patient.")


def tick(panel: PacsPanel, dates: list[str]) -> None:
    patient = panel.results.topLevelItem(0)
    for j in range(patient.childCount()):
        item = patient.child(j)
        if item.text(0) in dates:
            item.setCheckState(0, Qt.CheckState.Checked)


def test_configure_test_and_search(qtbot, panel, orthanc, tmp_path):
    assert not panel.search_button.isEnabled()  # no server yet
    add_server(panel, orthanc)
    assert not panel.editor.isVisible()
    [saved] = load_settings(tmp_path / "pacs.json").servers
    assert (saved.name, saved.port, saved.ae_title) == (
        "Local Orthanc",
        orthanc.dicom_port,
        "ORTHANC",
    )
    panel.test_button.click()
    wait_status(qtbot, panel, "answers")
    search_demo(qtbot, panel)
    patient = panel.results.topLevelItem(0)
    assert DEMO_ID in patient.text(0) and "DEMO^GLIOMA" in patient.text(0)
    dates = [patient.child(j).text(0) for j in range(patient.childCount())]
    assert dates == ["1995-06-12", "1995-07-01", "2002-08-14", "2002-12-09", "2003-03-27"]
    # the timeline: one dot per study, in date order, spaced by time
    x = panel.timeline.positions()
    assert len(x) == 5 and x == sorted(x)
    assert (x[1] - x[0]) < (x[2] - x[1])  # 19 days, then 7 years
    assert not panel.retrieve_button.isEnabled()
    tick(panel, ["2003-03-27"])
    assert panel.retrieve_button.isEnabled()
    assert [s.study_date.isoformat() for s in panel.checked_studies()] == ["2003-03-27"]


def test_invalid_settings_and_queries_are_messages(qtbot, panel, orthanc, tmp_path):
    add_server(panel, orthanc, ae="NOT\\VALID")
    assert panel.editor.isVisible()  # not saved
    assert "may not contain a backslash" in panel.status.text()
    assert not (tmp_path / "pacs.json").exists()
    panel.ae_edit.setText("ORTHANC")
    panel.save_button.click()
    panel.date_from_edit.setText("12/03/2002")
    panel.search_button.click()
    assert "the date from '12/03/2002' is not YYYY-MM-DD" in panel.status.text()


def test_retrieve_with_progress_per_series(qtbot, panel, orthanc):
    add_server(panel, orthanc)
    search_demo(qtbot, panel)
    tick(panel, ["2002-12-09", "2003-03-27"])
    with qtbot.waitSignal(panel.series_retrieved, timeout=WAIT_MS) as signal:
        panel.retrieve_button.click()
        assert panel.cancel_button.isEnabled()
    folders = signal.args[0]
    assert len(folders) == 4
    rows = [
        panel.transfer_list.topLevelItem(i) for i in range(panel.transfer_list.topLevelItemCount())
    ]
    assert [r.text(2) for r in rows] == ["complete"] * 4
    assert sorted(r.text(1) for r in rows) == ["30 / 30", "30 / 30", "30 / 30", "48 / 48"]
    assert "Retrieved 4 series (138 images)" in panel.status.text()
    catalog = scan_paths([Path(f) for f in folders])
    [patient] = catalog.patients
    assert [v.date.isoformat() for v in patient.visits] == ["2002-12-09", "2003-03-27"]


def test_cancel_keeps_the_interrupted_series_partial(qtbot, panel, orthanc, pool):
    add_server(panel, orthanc)
    search_demo(qtbot, panel)
    tick(panel, ["2003-03-27"])
    retrieved = []
    panel.series_retrieved.connect(retrieved.append)
    panel.retrieve_button.click()
    qtbot.waitUntil(lambda: any(r.text(2) == "transferring" for r in _rows(panel)), timeout=WAIT_MS)
    orthanc.pause()  # hold the transfer mid-series while the reader clicks Cancel
    try:
        panel.cancel_button.click()
    finally:
        orthanc.resume()
    wait_status(qtbot, panel, "Retrieval cancelled")
    pool.waitForDone(WAIT_MS)  # the worker winds down (C-CANCEL, partial marker)
    qtbot.waitUntil(lambda: all(r.text(2) != "transferring" for r in _rows(panel)), timeout=WAIT_MS)
    [study] = panel.checked_studies()
    with connect(*_nodes(panel)) as client:
        series = client.find_series([study.study_uid])
    states = [panel.store.status(s.study_uid, s.series_uid) for s in series]
    partial = [s for s in states if s.state is SeriesState.PARTIAL]
    assert partial and all(s.reason == "cancelled by the user" for s in partial)
    assert all(len(s.received) < s.expected_count for s in partial)
    assert "partial" in [r.text(2) for r in _rows(panel)]
    assert retrieved == []  # nothing announced: the reader stopped it


def test_server_down_is_a_message_not_a_traceback(qtbot, panel, orthanc):
    add_server(panel, orthanc, name="Gone", port=free_port())
    panel.test_button.click()
    wait_status(qtbot, panel, "cannot connect")
    assert "'Gone'" in panel.status.text() and "Traceback" not in panel.status.text()
    panel.search_button.click()
    wait_status(qtbot, panel, "nothing answers")


def test_send_to_pacs(qtbot, panel, orthanc, tmp_path):
    add_server(panel, orthanc)
    assert not panel.send_button.isEnabled()  # nothing connected to send
    source = next(
        Path(p)
        for p in sorted(
            (Path(__file__).parents[2] / "sample_scans" / "demo_case" / "dicom").rglob("IM*")
        )
    )
    ds = pydicom.dcmread(source)
    # another patient's copy, so the demo on the server stays as it is
    ds.PatientID, ds.PatientName = "PANEL-SEND", "PANEL^SEND"
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"):
        setattr(ds, keyword, pydicom.uid.generate_uid())
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    produced = []

    def produce():
        path = tmp_path / "result.dcm"
        ds.save_as(path)
        produced.append(path)
        return [path]

    panel.set_send_source(lambda: produce)
    assert panel.send_button.isEnabled()
    panel.send_button.click()
    wait_status(qtbot, panel, "Sent 1 file to 'Local Orthanc'")
    with connect(*_nodes(panel)) as other:  # another client sees it
        assert [s.patient_id for s in other.find_studies(SearchQuery(patient_id="PANEL-SEND"))] == [
            "PANEL-SEND"
        ]


def _rows(panel):
    return [
        panel.transfer_list.topLevelItem(i) for i in range(panel.transfer_list.topLevelItemCount())
    ]


def _nodes(panel):
    return panel.current_server(), panel.settings.local


def test_done_means_pull_the_demo_outline_and_send_the_segmentation_back(window, qtbot, orthanc):
    """Issue 8's story in the main window: find the demo patient, pull all five visits (they
    open as the case), outline, send the SEG and report back; another client sees them."""
    from tests.demo_outlined import DEMO, TRUTH
    from viewer.io.nifti import read_nifti

    w = window()
    panel = w.pacs
    add_server(panel, orthanc)
    search_demo(qtbot, panel)
    tick(panel, ["1995-06-12", "1995-07-01", "2002-08-14", "2002-12-09", "2003-03-27"])
    with qtbot.waitSignal(panel.series_retrieved, timeout=WAIT_MS) as signal:
        panel.retrieve_button.click()
    assert len(signal.args[0]) == 8  # every series of the five visits
    qtbot.waitUntil(lambda: len(w.session.catalog.all_series()) == 8, timeout=WAIT_MS)
    (patient,) = w.session.catalog.patients
    assert [v.date.isoformat() for v in patient.visits] == [
        "1995-06-12", "1995-07-01", "2002-08-14", "2002-12-09", "2003-03-27",
    ]  # fmt: skip
    assert all(str(w.pacs.store.root) in str(p) for s in w.session.catalog.all_series()
               for p in s.paths[:1])  # fmt: skip
    # outline the 2003-03 recurrence (the ground truth's, as a reader's brush would leave it)
    visit = TRUTH["visits"][-1]
    series = next(s for s in visit["series"] if s["modality"] == "MR")
    key = w.session.catalog.find_series(series["series_instance_uid"]).key
    tissue = read_nifti(DEMO / series["label_map"]).array
    ids = read_nifti(DEMO / series["lesion_map"]).array
    notes = w.annotations
    notes.lesions.add("L1 recurrence")
    notes.restore(notes.lesions, {key: np.where((tissue == 1) & (ids == 1), 1, 0)}, {})
    w.comparison.assign(0, key)
    w.comparison.set_active(0)
    qtbot.waitUntil(lambda: w.comparison.loaded(key) is not None, timeout=WAIT_MS)
    assert panel.send_button.isEnabled()
    panel.send_button.click()
    wait_status(qtbot, panel, "Sent 2 files to 'Local Orthanc'")
    # another client finds the de-identified study (teaching mode) with the SEG and the PDF
    with connect(*_nodes(panel)) as other:
        studies = other.find_studies(SearchQuery(patient_id="Case"))
        assert len(studies) == 1 and studies[0].patient_name != "DEMO^GLIOMA"
        modalities = {s.modality for s in other.find_series([studies[0].study_uid])}
    assert {"SEG", "DOC"} <= modalities
    outbox = list((w.case_session.folder / "outbox").rglob("*.dcm"))
    assert len(outbox) == 2  # kept with the case, not in a shared temporary folder
