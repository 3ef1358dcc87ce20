"""Sending results back: a DICOM SEG and the report as Encapsulated PDF, seen on the server by
another client afterwards. A separate Orthanc (the demo's last visit) keeps the shared one as is."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pydicom
import pytest
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure

from tests.pacs.orthanc import Orthanc, demo_files, require_orthanc, running_orthanc
from viewer.core.lesions import LesionSet
from viewer.errors import UnreadableFileError
from viewer.export.privacy import Privacy, UidMap
from viewer.export.segmentation import export_dicom_seg, read_dicom_seg
from viewer.io import load_series, scan_paths
from viewer.io.nifti import read_nifti
from viewer.pacs.client import connect
from viewer.pacs.documents import encapsulate_pdf
from viewer.pacs.query import SearchQuery
from viewer.pacs.store import LocalStore, SeriesState

VISIT = "2003-03-27"
TRUTH = Path(__file__).resolve().parents[2] / "sample_scans" / "demo_case" / "ground_truth" / VISIT
CLINICAL = Privacy(include_identity=True, real_dates=True)
CANARIES = ["DEMO", "GLIOMA", "INTERVAL-DEMO-001", "19250312", "20030327", "DEMO20030327"]


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Orthanc]:
    require_orthanc()
    files = [p for p in demo_files() if p.parent.parent.name == VISIT]
    with running_orthanc(tmp_path_factory.mktemp("send-orthanc"), files) as orthanc:
        yield orthanc


@pytest.fixture(scope="module")
def mr_series():
    folder = next(p.parent for p in demo_files() if p.parent.name == "SE09_AX_T1_POST_GAD")
    [entry] = list(scan_paths([folder]).all_series())
    tissue = read_nifti(TRUTH / "SE09_AX_T1_POST_GAD_labels.nii.gz").array
    ids = read_nifti(TRUTH / "SE09_AX_T1_POST_GAD_lesions.nii.gz").array
    labels = np.where(tissue == 1, ids, 0).astype(np.uint16)
    assert labels.shape == load_series(entry).shape and labels.max() == 2
    lesions = LesionSet()
    lesions.add("L1 recurrence")
    lesions.add("L2 metastasis")
    return entry, labels, lesions


def small_pdf(path: Path) -> Path:
    figure = Figure(figsize=(2, 2))
    figure.add_subplot().plot([0, 1], [1, 0])
    with PdfPages(path) as pdf:
        pdf.savefig(figure)
    return path


def dciodvfy_errors(path: Path) -> list[str]:
    binary = shutil.which("dciodvfy")
    if binary is None:
        pytest.skip("dciodvfy not installed (Debian package dicom3tools)")
    result = subprocess.run([binary, str(path)], capture_output=True, text=True, timeout=60)
    return [
        line for line in (result.stdout + result.stderr).splitlines() if line.startswith("Error")
    ]


@pytest.mark.parametrize("protocol", ["dimse", "dicomweb"])
def test_seg_joins_its_study_and_reads_back(server, mr_series, tmp_path, protocol):
    if protocol == "dicomweb" and not server.dicomweb:
        pytest.skip(
            "Orthanc's DICOMweb plugin is not installed (Debian package 'orthanc-dicomweb')"
        )
    entry, labels, lesions = mr_series
    seg = export_dicom_seg(labels, lesions, entry.paths, tmp_path / "seg.dcm", privacy=CLINICAL)
    with connect(server.server(protocol=protocol), server.local()) as client:
        assert client.send([seg]) == [str(pydicom.dcmread(seg).SOPInstanceUID)]
    # another client, over DIMSE and a new association, finds it in the patient's study
    other = connect(server.server(), server.local())
    [study] = other.find_studies(SearchQuery(patient_id="INTERVAL-DEMO-001"))
    segs = [s for s in other.find_series([study.study_uid]) if s.modality == "SEG"]
    [seg_series] = [s for s in segs if s.series_uid == str(pydicom.dcmread(seg).SeriesInstanceUID)]
    [back] = other.retrieve([seg_series], LocalStore(tmp_path / "store"))
    assert back.state is SeriesState.COMPLETE
    masks = read_dicom_seg(back.folder / f"{back.received[0]}.dcm")
    for number in (1, 2):
        np.testing.assert_array_equal(masks[number], labels == number)


def test_report_as_encapsulated_pdf_in_teaching_mode(server, mr_series, tmp_path):
    entry, labels, lesions = mr_series
    pdf = small_pdf(tmp_path / "report.pdf")
    uids = UidMap()
    teaching = Privacy(case_label="Teaching 7")
    seg = export_dicom_seg(
        labels, lesions, entry.paths, tmp_path / "seg.dcm", privacy=teaching, uid_map=uids
    )
    document = encapsulate_pdf(pdf, entry.paths[0], tmp_path, privacy=teaching, uid_map=uids)
    assert document.name == "Teaching_7_Day0_report.dcm"
    assert dciodvfy_errors(document) == []
    raw = document.read_bytes()
    source = pydicom.dcmread(entry.paths[0])
    for canary in [*CANARIES, str(source.StudyInstanceUID), str(source.SeriesInstanceUID)]:
        assert canary.encode() not in raw, canary
    ds = pydicom.dcmread(document)
    assert (ds.Modality, ds.MIMETypeOfEncapsulatedDocument, ds.BurnedInAnnotation) == (
        "DOC",
        "application/pdf",
        "NO",
    )
    assert ds.EncapsulatedDocument[: ds.EncapsulatedDocumentLength] == pdf.read_bytes()
    # the report and the SEG of one export land in the same de-identified study
    assert ds.StudyInstanceUID == pydicom.dcmread(seg).StudyInstanceUID
    client = connect(server.server(), server.local())
    client.send([seg, document])
    [study] = client.find_studies(SearchQuery(patient_id="Teaching 7"))
    assert sorted(s.modality for s in client.find_series([study.study_uid])) == ["DOC", "SEG"]
    [doc] = [s for s in client.find_series([study.study_uid]) if s.modality == "DOC"]
    [back] = client.retrieve([doc], LocalStore(tmp_path / "store"))
    got = pydicom.dcmread(back.folder / f"{back.received[0]}.dcm")
    assert got.EncapsulatedDocument[: got.EncapsulatedDocumentLength] == pdf.read_bytes()


def test_report_with_identity_joins_the_patients_study(server, mr_series, tmp_path):
    entry, _, _ = mr_series
    document = encapsulate_pdf(
        small_pdf(tmp_path / "r.pdf"), entry.paths[0], tmp_path / "r.dcm", privacy=CLINICAL
    )
    assert dciodvfy_errors(document) == []
    ds = pydicom.dcmread(document)
    source = pydicom.dcmread(entry.paths[0])
    assert (ds.StudyInstanceUID, ds.PatientID, ds.BurnedInAnnotation) == (
        source.StudyInstanceUID,
        source.PatientID,
        "YES",
    )
    client = connect(server.server(), server.local())
    client.send([document])
    [study] = client.find_studies(SearchQuery(patient_id="INTERVAL-DEMO-001"))
    assert str(ds.SeriesInstanceUID) in [
        s.series_uid for s in client.find_series([study.study_uid])
    ]


def test_a_file_that_is_not_dicom_is_refused_before_sending(server, tmp_path):
    junk = tmp_path / "notes.txt"
    junk.write_text("not an image")
    client = connect(server.server(), server.local())
    with pytest.raises(UnreadableFileError, match="notes.txt: not a DICOM file to send"):
        client.send([junk])
