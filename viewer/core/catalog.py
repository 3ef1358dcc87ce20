"""The catalogue of what a folder scan found: patient -> visit (by study date) -> series.

A catalogue holds headers only; voxels are read on demand by ``viewer.io.load_series``. Each series
keeps the reader-specific ``source`` it needs for that (opaque to the core).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class SkippedFile:
    """A file the scan did not use, and why (shown to the user, never silently dropped)."""

    path: str
    reason: str


@dataclass(frozen=True, eq=False)
class SeriesEntry:
    """One loadable image series: a regular stack of a DICOM series, or a NIfTI file.

    Attributes
    ----------
    key : str
        Stable identifier unique within the catalogue (SeriesInstanceUID, plus a suffix when a DICOM
        series was split into several stacks; the file path for NIfTI).
    shape : tuple of 3 int
        Expected (slices, rows, columns) of the loaded volume.
    pixel_spacing_mm : tuple of 2 float or None
        (between rows, between columns) in mm.
    orientation : str
        ``"axial"``, ``"coronal"``, ``"sagittal"`` or ``"oblique <plane>"``.
    source : Any
        Whatever ``viewer.io`` needs to read the voxels (slice headers, a file path).
    """

    key: str
    format: str  # "dicom" or "nifti"
    patient_id: str
    patient_name: str
    patient_birth_date: dt.date | None
    modality: str
    description: str
    series_number: int | None
    series_instance_uid: str
    study_instance_uid: str
    study_date: dt.date | None
    series_datetime: dt.datetime | None
    shape: tuple[int, int, int]
    pixel_spacing_mm: tuple[float, float] | None
    slice_thickness_mm: float | None
    orientation: str
    frame_of_reference_uid: str = ""
    contrast_agent: str = ""
    is_localizer: bool = False
    frames: int = 1
    """Number of 3-D frames (time points) of 4-D data; ``load_series(entry, frame=i)`` picks one."""
    warnings: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()
    source: Any = None


@dataclass(eq=False)
class Visit:
    """All series of one patient acquired on one date (possibly several studies: CT and MRI)."""

    date: dt.date | None
    series: list[SeriesEntry] = field(default_factory=list)

    @property
    def label(self) -> str:
        """ISO date, or ``"undated"``."""
        return self.date.isoformat() if self.date else "undated"

    @property
    def modalities(self) -> list[str]:
        """Distinct modalities in acquisition order."""
        return list(dict.fromkeys(s.modality for s in self.series))


@dataclass(eq=False)
class Patient:
    """One patient's visits, sorted by date (undated last)."""

    patient_id: str
    name: str = ""
    birth_date: dt.date | None = None
    visits: list[Visit] = field(default_factory=list)


@dataclass(eq=False)
class Catalog:
    """Everything a scan of one or more paths found.

    Attributes
    ----------
    patients : list of Patient
    skipped : list of SkippedFile
        Files that were not images or could not be read, each with its reason.
    warnings : list of str
        Problems that concern more than one file (e.g. two instances at the same position).
    """

    patients: list[Patient] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def all_series(self) -> list[SeriesEntry]:
        """Every series of every visit of every patient, in catalogue order."""
        return [s for p in self.patients for v in p.visits for s in v.series]

    def find_series(self, key_or_number: str) -> SeriesEntry:
        """Look a series up by key, SeriesInstanceUID or SeriesNumber.

        Raises
        ------
        KeyError
            With a message listing what is available, when nothing or more than one series matches.
        """
        matches = [
            s
            for s in self.all_series()
            if key_or_number in (s.key, s.series_instance_uid, str(s.series_number))
        ]
        unique = {s.key: s for s in matches}
        if len(unique) == 1:
            return next(iter(unique.values()))
        available = ", ".join(
            f"{s.series_number}: {s.description!r} ({s.key})" for s in self.all_series()
        )
        problem = "matches several series" if unique else "matches no series"
        raise KeyError(f"{key_or_number!r} {problem}; available: {available or 'none'}")
