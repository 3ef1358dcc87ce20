"""Scan files and folders into a :class:`viewer.core.Catalog`, recognising formats by content."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from viewer.core.catalog import Catalog, Patient, SeriesEntry, SkippedFile, Visit
from viewer.core.progress import CancelCheck, ProgressCallback, Reporter
from viewer.errors import InvalidGeometryError, UnreadableFileError
from viewer.io import dicom_grouping, dicom_scan, nifti
from viewer.io.sniff import FileKind, read_head, sniff

UNKNOWN_PATIENT = "(no patient ID)"
CASE_FOLDER_SUFFIX = ".interval"
"""Interval's case folders end with this; scanning skips them (their label maps are no images)."""


def images_of(path: Path) -> Path:
    """The images' folder of a ``*.interval`` case folder beside them; any other path itself.

    Raises
    ------
    FileNotFoundError
        A case folder whose images are not beside it (they were moved or renamed).
    """
    if not (path.name.endswith(CASE_FOLDER_SUFFIX) and path.is_dir()):
        return path
    images = path.with_name(path.name.removesuffix(CASE_FOLDER_SUFFIX))
    if not images.exists():
        raise FileNotFoundError(
            f"{path}: an Interval case folder, but the images it belongs to are not beside it "
            f"(expected {images}); open the images' folder instead"
        )
    return images


def iter_files(paths: Iterable[str | os.PathLike[str]]) -> Iterator[Path]:
    """Yield every regular file under the given files and folders, recursively, in sorted order.

    Hidden files are included (they are reported as skipped when they are not images) but links
    that loop are not followed twice. Interval's own case folders (``*.interval``) are skipped;
    one given by itself stands for the images beside it that it was saved for (``x.interval``
    for ``x``), which is what a user opening a case folder means.
    """
    seen_dirs: set[tuple[int, int]] = set()
    for root in paths:
        root = images_of(Path(root))
        if root.is_file():
            yield root
            continue
        if not root.is_dir():
            raise FileNotFoundError(f"{root}: no such file or folder")
        for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
            st = os.stat(dirpath)
            if (st.st_dev, st.st_ino) in seen_dirs:
                dirnames[:] = []
                continue
            seen_dirs.add((st.st_dev, st.st_ino))
            dirnames[:] = sorted(d for d in dirnames if not d.endswith(CASE_FOLDER_SUFFIX))
            for name in sorted(filenames):
                yield Path(dirpath) / name


def scan_paths(
    paths: Iterable[str | os.PathLike[str]],
    *,
    progress: ProgressCallback | None = None,
    cancelled: CancelCheck | None = None,
) -> Catalog:
    """Find every DICOM and NIfTI image under ``paths``; sort it into patients, visits and series.

    Parameters
    ----------
    paths : iterable of path-like
        Files and folders (scanned recursively).
    progress, cancelled : callable, optional
        See :mod:`viewer.core.progress`.

    Returns
    -------
    Catalog
        Every file that is not used appears in ``Catalog.skipped`` with its reason.

    Raises
    ------
    FileNotFoundError
        A given path does not exist.
    viewer.errors.OperationCancelled
    """
    reporter = Reporter(progress, cancelled)
    files = list(iter_files(paths))
    skipped: list[SkippedFile] = []
    dicom_headers = []
    entries: list[SeriesEntry] = []
    for done, path in enumerate(files):
        reporter.step(done, len(files), f"Reading headers: {path.name}")
        # One read serves both the sniffing and, for a classic DICOM slice, the whole header.
        head, reason = read_head(path)
        kind = FileKind.OTHER
        if head is not None:
            kind, reason = sniff(path, head=head)
        try:
            if kind is FileKind.DICOM:
                dicom_headers.extend(dicom_scan.read_slice_headers(path, head=head))
            elif kind is FileKind.NIFTI:
                entries.append(nifti.nifti_series_entry(path))
            else:
                skipped.append(SkippedFile(str(path), reason))
        except (UnreadableFileError, InvalidGeometryError) as exc:
            skipped.append(SkippedFile(str(path), exc.reason))
    reporter.step(len(files), len(files), "Grouping series")
    dicom_entries, dicom_skipped, warnings = dicom_grouping.group_into_series(dicom_headers)
    entries.extend(dicom_entries)
    skipped.extend(dicom_skipped)
    return Catalog(patients=group_by_patient(entries), skipped=skipped, warnings=warnings)


def group_by_patient(entries: Iterable[SeriesEntry]) -> list[Patient]:
    """Sort series into patients (by PatientID) and visits (by study date), both in date order."""
    patients: dict[str, Patient] = {}
    for entry in entries:
        pid = entry.patient_id or UNKNOWN_PATIENT
        patient = patients.setdefault(
            pid, Patient(pid, name=entry.patient_name, birth_date=entry.patient_birth_date)
        )
        visit = next((v for v in patient.visits if v.date == entry.study_date), None)
        if visit is None:
            visit = Visit(entry.study_date)
            patient.visits.append(visit)
        visit.series.append(entry)
    for patient in patients.values():
        patient.visits.sort(key=lambda v: (v.date is None, v.date or dt.date.min))
        for visit in patient.visits:
            visit.series.sort(
                key=lambda s: (
                    s.series_datetime or dt.datetime.min,
                    s.series_number if s.series_number is not None else 1 << 30,
                    s.key,
                )
            )
    return sorted(patients.values(), key=lambda p: p.patient_id)
