"""The case's PDF report as a DICOM Encapsulated PDF, to store beside the images on a PACS.

The report joins the study of one of the case's images: its patient and study attributes are
copied from that image, in a new series (modality DOC). In teaching mode the result goes
through the same de-identification as the DICOM SEG export
(:func:`viewer.export.privacy.deidentify_dataset`: case label instead of the patient, dates
shifted, UIDs replaced through the shared
:class:`~viewer.export.privacy.UidMap`, so the report and a SEG of one export land in the same
de-identified study); with identity it keeps the study's own identity, UIDs and dates.
"""

from __future__ import annotations

import datetime as dt
import os
from io import BytesIO
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from pynetdicom.sop_class import EncapsulatedPDFStorage

import viewer
from viewer.errors import UnreadableFileError
from viewer.export.privacy import Privacy, UidMap, deidentify_dataset
from viewer.io.atomic import save_error, write_bytes_atomic
from viewer.pacs.query import parse_date

REPORT_SERIES_NUMBER = 9100
"""SeriesNumber of the encapsulated report (out of the scanner's usual range)."""
_FROM_SOURCE = (
    "SpecificCharacterSet",
    "PatientName",
    "PatientID",
    "IssuerOfPatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyInstanceUID",
    "StudyDate",
    "StudyTime",
    "ReferringPhysicianName",
    "StudyID",
    "AccessionNumber",
    "StudyDescription",
)
_TYPE2_EMPTY = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyDate",
    "StudyTime",
    "ReferringPhysicianName",
    "StudyID",
    "AccessionNumber",
)


def encapsulate_pdf(
    pdf: str | os.PathLike[str],
    source: str | os.PathLike[str],
    target: str | os.PathLike[str],
    *,
    privacy: Privacy,
    uid_map: UidMap | None = None,
    first_date: dt.date | None = None,
    title: str = "Interval report",
) -> Path:
    """Write a PDF as a DICOM Encapsulated PDF instance in the study of ``source``.

    Parameters
    ----------
    pdf : path-like
        The report (e.g. from :func:`viewer.export.report.write_report`, already de-identified
        as the user chose).
    source : path-like
        A DICOM image of the study the report belongs to (patient and study attributes).
    target : path-like
        The file to write, or an existing folder (then ``<privacy.file_stem>_report.dcm``).
    privacy : Privacy
        Teaching mode de-identifies the instance (see the module docstring).
    uid_map : UidMap, optional
        Shared with the other files of the same export; a new one by default.
    first_date : datetime.date, optional
        The case's first visit (Day 0 for shifted dates); by default the study's date.
    title : str
        DocumentTitle and SeriesDescription (teaching mode removes the description).

    Returns
    -------
    Path
        The file written (atomically).

    Raises
    ------
    viewer.errors.UnreadableFileError
        ``source`` is not DICOM, or ``pdf`` is not a PDF.
    viewer.errors.SaveError
    """
    pdf_bytes = _read_pdf(Path(pdf))
    try:
        image = pydicom.dcmread(source, stop_before_pixels=True)
    except (InvalidDicomError, OSError) as exc:
        raise UnreadableFileError(f"cannot read the study's image ({exc})", source) from exc
    study_date = parse_date(str(image.get("StudyDate", "")))
    now = dt.datetime.now()
    ds = Dataset()
    for keyword in _FROM_SOURCE:
        if keyword in image:
            ds[keyword] = image[keyword]
    for keyword in _TYPE2_EMPTY:
        if keyword not in ds:
            setattr(ds, keyword, "")
    ds.SOPClassUID = EncapsulatedPDFStorage
    ds.SOPInstanceUID = generate_uid()
    ds.Modality = "DOC"
    ds.SeriesInstanceUID = generate_uid()
    ds.SeriesNumber = REPORT_SERIES_NUMBER
    ds.SeriesDescription = title[:64]
    ds.Manufacturer = "Interval"
    ds.SoftwareVersions = viewer.__version__
    ds.ConversionType = "WSD"  # workstation
    ds.InstanceNumber = 1
    ds.ContentDate = now.strftime("%Y%m%d")
    ds.ContentTime = now.strftime("%H%M%S")
    ds.AcquisitionDateTime = now.strftime("%Y%m%d%H%M%S")
    # whether the document shows enough to identify the patient
    ds.BurnedInAnnotation = "YES" if privacy.include_identity else "NO"
    ds.DocumentTitle = title[:64]
    ds.ConceptNameCodeSequence = []
    ds.MIMETypeOfEncapsulatedDocument = "application/pdf"
    ds.EncapsulatedDocumentLength = len(pdf_bytes)
    ds.EncapsulatedDocument = pdf_bytes + (b"\x00" if len(pdf_bytes) % 2 else b"")
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    deidentify_dataset(ds, uid_map or UidMap(), privacy, first_date or study_date)
    path = Path(target)
    if path.is_dir():
        path = path / f"{privacy.file_stem(study_date, first_date or study_date)}_report.dcm"
    buffer = BytesIO()
    pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
    try:
        write_bytes_atomic(path, buffer.getvalue())
    except OSError as exc:
        raise save_error(exc, path, "writing the encapsulated report") from exc
    return path


def _read_pdf(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UnreadableFileError(f"cannot read the report ({exc.strerror})", path) from exc
    if not data.startswith(b"%PDF-"):
        raise UnreadableFileError("not a PDF file", path)
    return data
