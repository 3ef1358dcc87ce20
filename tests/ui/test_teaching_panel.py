"""Issue 7's "Done means" on the demo: open it, read it blind, submit, learn why it is PD.

The trainee's outlines are the demo's ground truth without the metastasis (the glioma and the
resection cavity at each visit), put in the case before it opens, as tests/demo_outlined.py does:
quick, and the same as outlining them by hand for what the teaching mode sees.
"""

from __future__ import annotations

import datetime as dt
import gc
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtWidgets import QFileDialog

from tests.demo_outlined import EVENT_KINDS, TRUTH
from tests.export.test_report import pdf_text
from viewer.__main__ import demo_case_path
from viewer.core.geometry import apply_affine
from viewer.core.lesions import LesionKind, LesionSet
from viewer.core.transform import Registration, RegistrationState, Transform
from viewer.export.privacy import Privacy
from viewer.export.tables import case_table
from viewer.io import load_series, scan_paths
from viewer.io.case_file import Case, SeriesRecord, TreatmentEvent, save_case
from viewer.io.nifti import read_nifti
from viewer.state.blind_read import STATE_FILE
from viewer.state.case_session import case_folder_of, data_home
from viewer.state.compare_controller import REFERENCE_LEGEND, REFERENCE_RGB
from viewer.teaching.log import read_history
from viewer.teaching.reading import Reading, Role

DEMO = demo_case_path().parent
OPEN_TIMEOUT_MS = 60_000
ENHANCING, CAVITY = 1, 4  # ground-truth tissue labels
GLIOMA, RESECTION = 1, 2  # the trainee's lesion numbers
STATED = {
    "1995-06-12": "not evaluable",
    "1995-07-01": "baseline",
    "2002-08-14": "PD",
    "2002-12-09": "PD",
    "2003-03-27": "SD",  # the trainee missed the metastasis, so sees no progression
}
LAST_MRI = next(
    s
    for v in TRUTH["visits"]
    for s in v["series"]
    if s["key"].startswith("2003-03-27/") and s["modality"] == "MR" and s["contrast"]
)


def save_trainee_case(folder: Path) -> None:
    """The demo's contrast MRIs outlined from the truth without the metastasis, registered by
    the truth's transforms, saved as the case ``folder`` of the demo's images."""
    catalog = scan_paths([demo_case_path()])
    lesions = LesionSet()
    lesions.add("L1 right frontal glioma")
    lesions.add("L2 cavity", LesionKind.RESECTION_CAVITY)
    case = Case(lesions=lesions)
    keys = {}
    for visit in TRUTH["visits"]:
        for series in visit["series"]:
            if series["modality"] != "MR" or not series["contrast"]:
                continue
            entry = catalog.find_series(series["series_instance_uid"])
            keys[series["key"]] = entry.key
            tissue = read_nifti(DEMO / series["label_map"]).array
            ids = read_nifti(DEMO / series["lesion_map"]).array
            labels = np.zeros(tissue.shape, np.uint16)
            labels[tissue == CAVITY] = RESECTION
            labels[(tissue == ENHANCING) & (ids != 2)] = GLIOMA  # lesion 2 of the truth: missed
            case.series[entry.key] = SeriesRecord.of_volume(
                entry.key, visit["date"], load_series(entry)
            )
            case.labels[entry.key] = labels
    reference = TRUTH["reference_series"]
    for visit in TRUTH["visits"]:
        for series in visit["series"]:
            key = keys.get(series["key"])
            if key is None or series["key"] == reference:
                continue
            transform = Transform(np.array(series["patient2reference"]), "rigid")
            case.registrations.append(
                Registration(key, keys[reference], transform, RegistrationState.ACCEPTED)
            )
    case.events = [
        TreatmentEvent(dt.date.fromisoformat(e["date"]), EVENT_KINDS[e["event"]], e["note"])
        for e in TRUTH["history"]
        if e["event"] in EVENT_KINDS
    ]
    save_case(case, folder, create=True)


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


def cyan_pixels(picture: np.ndarray) -> int:
    return int(np.all(picture[..., :3] == REFERENCE_RGB, axis=-1).sum())


def visible_pictures(w) -> list[np.ndarray]:
    return [p.picture() for p in w.comparison_view.visible_panes()]


@pytest.fixture
def opened(window, qtbot, tmp_path, monkeypatch):
    """The demo opened with the trainee's outlines; a fresh data folder for cases and the log."""
    monkeypatch.setenv("INTERVAL_CASE_HOME", str(tmp_path / "home"))
    folder = case_folder_of([demo_case_path()])
    folder.parent.mkdir(parents=True)
    save_trainee_case(folder)
    w = window()
    w.resize(1500, 900)
    w.open_paths([str(demo_case_path())])

    def ready() -> bool:
        panes = w.comparison_view.visible_panes()
        return (
            w.blind_read.folder is not None
            and bool(panes)
            and all(p.current_frame() is not None for p in panes)
            and not w.tracking.pending
        )

    qtbot.waitUntil(ready, timeout=OPEN_TIMEOUT_MS)
    return w


@pytest.mark.skipif(not DEMO.is_dir(), reason="the demo case is not in sample_scans/")
def test_blind_read_submit_and_feedback_on_the_demo(opened, qtbot, tmp_path, monkeypatch):
    w, panel = opened, opened.teaching
    # the demo's reference was imported into the case on opening (headers only in memory)
    references, _ = w.blind_read.references()
    assert [i.reader.role for i in references] == [Role.REFERENCE]
    assert references[0].path.parent == w.case_session.folder / "readings"
    panel.start_button.click()
    assert w.blind_read.state.open and "Blind read open" in panel.status.text()
    # read by the reference's criteria (RANO 2010 for the demo), as the request form would say
    assert w.tracking.criteria_key == references[0].criteria_key == "rano"
    assert references[0].events and w.tracking.events

    # --- nothing of the reference while the read is open -----------------------------------
    assert references_in_memory(w.case_session.folder) == []
    assert w.comparison.reference_outlines is None
    for picture in visible_pictures(w):
        assert cyan_pixels(picture) == 0
    for pane in w.comparison_view.visible_panes():
        assert REFERENCE_LEGEND not in pane.current_frame().corners["top_left"]
    assert not panel.reference_check.isEnabled() and not panel.export_button.isEnabled()
    assert panel.explanation.toPlainText() == "" and panel.lesions.rowCount() == 0
    table = case_table(w.tracking, Privacy())
    assert set(table.names) == {GLIOMA, RESECTION}
    last = table.columns[-1]
    assert last.label == "2003-03-27" and set(last.measurements) == {GLIOMA, RESECTION}
    report = tmp_path / "during.pdf"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(report), ""))
    w.exports.export_report()
    qtbot.waitUntil(lambda: not w.export_runner.busy and report.exists(), timeout=30_000)
    text = pdf_text(report.read_bytes())
    assert b"glioma" in text and b"metastasis" not in text and b"Teaching" not in text
    assert b"pseudo-progression" not in text
    assert references_in_memory(w.case_session.folder) == []

    # --- a category at each visit, kept with the case ---------------------------------------
    for visit, category in STATED.items():
        combo = panel.combo(visit)
        combo.setCurrentIndex(combo.findData(category))
        combo.activated.emit(combo.currentIndex())
    assert dict(w.blind_read.state.stated) == STATED
    assert '"2003-03-27": "SD"' in (w.case_session.folder / "readings" / STATE_FILE).read_text()

    # --- submit: compared in a worker, feedback in the panel --------------------------------
    panel.submit_button.click()
    assert w.teaching_runner.busy and not panel.submit_button.isEnabled()
    qtbot.waitUntil(lambda: w.blind_read.feedback is not None, timeout=OPEN_TIMEOUT_MS)
    assert not w.blind_read.state.open
    rows = [
        [panel.lesions.item(r, c).text() for c in range(3)] for r in range(panel.lesions.rowCount())
    ]
    missed = [r for r in rows if r[2] == "missed"]
    assert missed == [["2003-03-27", "L2 left occipital metastasis", "missed"]]
    explained = panel.explanation.toPlainText()
    assert "2003-03-27: you stable disease (SD), the reference progression (PD)" in explained
    assert (
        "The reference counts L2 (left occipital metastasis) as a new lesion, which makes this "
        "visit progression whatever the sums do; you did not outline it here." in explained
    )
    assert "any new lesion is progression" in explained  # the reference's teaching point
    last_row = panel.visits.rowCount() - 1
    assert panel.visits.item(last_row, 2).text() == "progression (PD)"
    assert panel.visits.item(last_row, 3).text() == "no"
    history = read_history(data_home()).entries
    assert len(history) == 1 and history[0].lesions_missed == 1
    assert history[0].case_label == references[0].case_label

    # submitting again logs nothing more: the read is closed, its feedback is kept once
    assert not panel.submit_button.isEnabled()
    panel.submit()
    w.blind_read.take_feedback(w.blind_read.feedback, log_folder=data_home(), reader="x")
    assert len(read_history(data_home()).entries) == 1
    panel.show_history()
    assert panel.history_table.rowCount() == 1
    assert panel.history_table.item(0, 4).text() == "1"

    # --- both outlines in the views, and the largest disagreement ---------------------------
    assert panel.reference_check.isEnabled()
    panel.reference_check.setChecked(True)
    assert w.comparison.reference_outlines is w.blind_read.feedback.reference
    panel.jump_button.click()
    active = w.comparison_view.panes[w.comparison.state.active]
    assert w.comparison.view_key(w.comparison.state.active) == LAST_MRI["series_instance_uid"]
    centre = apply_affine(
        np.array(LAST_MRI["patient2reference"]),
        np.array(LAST_MRI["lesions"]["2"]["centroid_patient_mm"]),
    )
    assert np.linalg.norm(np.subtract(w.comparison.state.crosshair_mm, centre)) < 7.5
    assert cyan_pixels(active.picture()) > 20  # the metastasis' ring, in the reference colour
    assert REFERENCE_LEGEND in active.current_frame().corners["top_left"]
    panel.reference_check.setChecked(False)
    assert w.comparison.reference_outlines is None
    assert cyan_pixels(active.picture()) == 0

    # --- the feedback as a PDF: teaching points, no identity --------------------------------
    pdf = tmp_path / "feedback.pdf"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(pdf), ""))
    panel.export_button.click()
    qtbot.waitUntil(lambda: not w.teaching_runner.busy and pdf.exists(), timeout=30_000)
    text = pdf_text(pdf.read_bytes())
    assert b"Teaching points" in text and b"Under RANO 2010 any new lesion is" in text
    assert b"Day 2845" in text and b"2003-03-27" not in text
    for identity in (b"DEMO^GLIOMA", b"GLIOMA^DEMO", b"INTERVAL-DEMO-001"):
        assert identity not in text, identity
