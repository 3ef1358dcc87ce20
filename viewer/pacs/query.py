"""What a search asks and what it finds, the same for DIMSE (C-FIND) and DICOMweb (QIDO-RS).

A :class:`SearchQuery` becomes the identifier of a study-level C-FIND or the parameters of a
QIDO-RS search; answers of either protocol (pydicom datasets) become :class:`StudyResult` and
:class:`SeriesResult`, and :func:`group_by_patient` lays a patient's studies out by date, the
order of the timeline.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.valuerep import PersonName

from viewer.pacs.errors import ServerConfigError

_MODALITY = re.compile(r"^[A-Z0-9_]{1,16}$")
_LO_MAX = 64
_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")
UID_MAX = 64

STUDY_RETURN_KEYS: tuple[str, ...] = (
    "PatientID",
    "PatientName",
    "PatientBirthDate",
    "PatientSex",
    "StudyInstanceUID",
    "StudyDate",
    "StudyTime",
    "StudyDescription",
    "AccessionNumber",
    "ModalitiesInStudy",
    "NumberOfStudyRelatedSeries",
    "NumberOfStudyRelatedInstances",
)
"""Attributes a study-level search asks the server to return."""

SERIES_RETURN_KEYS: tuple[str, ...] = (
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "Modality",
    "SeriesNumber",
    "SeriesDescription",
    "SeriesDate",
    "NumberOfSeriesRelatedInstances",
)
"""Attributes a series-level search asks the server to return."""


@dataclass(frozen=True)
class SearchQuery:
    """A study search; empty fields match everything.

    Parameters
    ----------
    patient_id : str
        Exact, or with the DICOM wildcards ``*`` and ``?``.
    patient_name : str
        DICOM person name (``FAMILY^GIVEN``), usually with wildcards: ``SMITH*``.
    date_from, date_to : datetime.date, optional
        Study date range, both ends included; either may be open.
    modality : str
        Studies holding at least one series of this modality (``CT``, ``MR``...).
    """

    patient_id: str = ""
    patient_name: str = ""
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    modality: str = ""

    def validated(self) -> SearchQuery:
        """Return the query trimmed (modality in capitals), or raise on an invalid field.

        Raises
        ------
        ServerConfigError
            Too long a value, a backslash (the DICOM value separator), an unknown modality
            spelling, or a date range that ends before it starts.
        """
        query = SearchQuery(
            self.patient_id.strip(),
            self.patient_name.strip(),
            self.date_from,
            self.date_to,
            self.modality.strip().upper(),
        )
        for what, value in (("patient ID", query.patient_id), ("name", query.patient_name)):
            if len(value) > _LO_MAX:
                raise ServerConfigError(f"the {what} is longer than {_LO_MAX} characters")
            if "\\" in value:
                raise ServerConfigError(f"the {what} may not contain a backslash")
        if query.modality and not _MODALITY.match(query.modality):
            raise ServerConfigError(
                f"'{query.modality}' is not a DICOM modality (letters such as CT, MR, PT, SEG)"
            )
        if query.date_from and query.date_to and query.date_from > query.date_to:
            raise ServerConfigError(
                f"the date range ends ({query.date_to}) before it starts ({query.date_from})"
            )
        return query

    def date_range(self) -> str:
        """The DICOM date range matching value (``""`` when open at both ends).

        Examples
        --------
        >>> SearchQuery(date_from=dt.date(1995, 1, 1)).date_range()
        '19950101-'
        >>> SearchQuery(date_from=dt.date(2002, 1, 1), date_to=dt.date(2002, 12, 31)).date_range()
        '20020101-20021231'
        """
        if self.date_from is None and self.date_to is None:
            return ""
        start = self.date_from.strftime("%Y%m%d") if self.date_from else ""
        end = self.date_to.strftime("%Y%m%d") if self.date_to else ""
        return start if start == end else f"{start}-{end}"


@dataclass(frozen=True)
class StudyResult:
    """One study a server holds.

    Parameters
    ----------
    study_uid : str
    patient_id, patient_name : str
        ``patient_name`` in DICOM form (``FAMILY^GIVEN``).
    birth_date, study_date : datetime.date or None
    study_time : str
        HHMMSS as the server gave it ("" if none).
    description, accession_number : str
    modalities : tuple of str
    series_count, instance_count : int or None
        None when the server did not say.
    """

    study_uid: str
    patient_id: str = ""
    patient_name: str = ""
    birth_date: dt.date | None = None
    study_date: dt.date | None = None
    study_time: str = ""
    description: str = ""
    accession_number: str = ""
    modalities: tuple[str, ...] = ()
    series_count: int | None = None
    instance_count: int | None = None


@dataclass(frozen=True)
class SeriesResult:
    """One series of a study on a server.

    Parameters
    ----------
    study_uid, series_uid : str
    modality : str
    series_number : int or None
    description : str
    series_date : datetime.date or None
    instance_count : int or None
        None when the server did not say.
    """

    study_uid: str
    series_uid: str
    modality: str = ""
    series_number: int | None = None
    description: str = ""
    series_date: dt.date | None = None
    instance_count: int | None = None

    def label(self) -> str:
        """How progress and messages name the series: ``S7 MR AX T1 POST GAD``."""
        number = f"S{self.series_number} " if self.series_number is not None else ""
        return f"{number}{self.modality} {self.description}".strip() or self.series_uid


@dataclass(frozen=True)
class PatientStudies:
    """A patient and all their studies found, oldest first (undated last): the timeline."""

    patient_id: str
    patient_name: str
    birth_date: dt.date | None
    studies: tuple[StudyResult, ...]


def study_identifier(query: SearchQuery) -> Dataset:
    """The identifier of a study-root, study-level C-FIND for ``query``."""
    ds = Dataset()
    ds.QueryRetrieveLevel = "STUDY"
    for keyword in STUDY_RETURN_KEYS:
        setattr(ds, keyword, "")
    ds.PatientID = query.patient_id
    ds.PatientName = query.patient_name
    ds.StudyDate = query.date_range()
    ds.ModalitiesInStudy = query.modality
    if not (query.patient_id + query.patient_name).isascii():
        ds.SpecificCharacterSet = "ISO_IR 192"
    return ds


def series_identifier(study_uid: str) -> Dataset:
    """The identifier of a series-level C-FIND for every series of a study."""
    ds = Dataset()
    ds.QueryRetrieveLevel = "SERIES"
    for keyword in SERIES_RETURN_KEYS:
        setattr(ds, keyword, "")
    ds.StudyInstanceUID = study_uid
    return ds


def study_from_dataset(ds: Dataset) -> StudyResult:
    """A study-level answer (C-FIND identifier or QIDO-RS JSON read into a Dataset)."""
    return StudyResult(
        study_uid=_text(ds, "StudyInstanceUID"),
        patient_id=_text(ds, "PatientID"),
        patient_name=_name(ds),
        birth_date=parse_date(_text(ds, "PatientBirthDate")),
        study_date=parse_date(_text(ds, "StudyDate")),
        study_time=_text(ds, "StudyTime"),
        description=_text(ds, "StudyDescription"),
        accession_number=_text(ds, "AccessionNumber"),
        modalities=_values(ds, "ModalitiesInStudy"),
        series_count=_count(ds, "NumberOfStudyRelatedSeries"),
        instance_count=_count(ds, "NumberOfStudyRelatedInstances"),
    )


def series_from_dataset(ds: Dataset, study_uid: str) -> SeriesResult:
    """A series-level answer; ``study_uid`` is used when the server leaves it out."""
    return SeriesResult(
        study_uid=_text(ds, "StudyInstanceUID") or study_uid,
        series_uid=_text(ds, "SeriesInstanceUID"),
        modality=_text(ds, "Modality"),
        series_number=_count(ds, "SeriesNumber"),
        description=_text(ds, "SeriesDescription"),
        series_date=parse_date(_text(ds, "SeriesDate")),
        instance_count=_count(ds, "NumberOfSeriesRelatedInstances"),
    )


def matches(study: StudyResult, query: SearchQuery) -> bool:
    """Whether a returned study satisfies the query's modality (some servers ignore that key)."""
    return not query.modality or not study.modalities or query.modality in study.modalities


def group_by_patient(studies: Iterable[StudyResult]) -> list[PatientStudies]:
    """Group studies by patient ID, each patient's studies by date (the timeline order).

    Returns
    -------
    list of PatientStudies
        Sorted by patient name, then ID; within a patient, by study date and time, undated
        studies last.
    """
    by_patient: dict[str, list[StudyResult]] = {}
    for study in studies:
        by_patient.setdefault(study.patient_id, []).append(study)
    patients = []
    for patient_id, found in by_patient.items():
        found.sort(key=lambda s: (s.study_date is None, s.study_date or dt.date.min, s.study_time))
        named = next((s for s in found if s.patient_name), found[0])
        born = next((s.birth_date for s in found if s.birth_date), None)
        patients.append(PatientStudies(patient_id, named.patient_name, born, tuple(found)))
    patients.sort(key=lambda p: (p.patient_name.casefold(), p.patient_id))
    return patients


def parse_date(text: str) -> dt.date | None:
    """A DICOM DA value as a date; None when empty or malformed.

    Examples
    --------
    >>> parse_date("20030327")
    datetime.date(2003, 3, 27)
    >>> parse_date("2003") is None
    True
    """
    try:
        return dt.datetime.strptime(text.strip()[:8], "%Y%m%d").date()
    except ValueError:
        return None


def is_uid(text: str) -> bool:
    """Whether ``text`` is a well-formed DICOM UID (safe to use as a file or folder name).

    Examples
    --------
    >>> is_uid("1.2.840.10008.5.1.4.1.1.2"), is_uid("../../etc"), is_uid("")
    (True, False, False)
    """
    return 0 < len(text) <= UID_MAX and bool(_UID.match(text))


def _text(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword, "")
    if value is None:
        return ""
    if isinstance(value, str | PersonName):
        return str(value).strip()
    return "\\".join(str(v) for v in value) if _is_multi(value) else str(value).strip()


def _name(ds: Dataset) -> str:
    value = ds.get("PatientName", "")
    return "" if value is None else str(value).strip()


def _values(ds: Dataset, keyword: str) -> tuple[str, ...]:
    value = ds.get(keyword)
    if value is None or value == "":
        return ()
    if _is_multi(value):
        return tuple(str(v).strip() for v in value if str(v).strip())
    return tuple(v for v in str(value).strip().split("\\") if v)


def _count(ds: Dataset, keyword: str) -> int | None:
    value = ds.get(keyword)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _is_multi(value: object) -> bool:
    return isinstance(value, list | tuple | MultiValue)


def listed_series(series: Iterable[SeriesResult]) -> list[SeriesResult]:
    """A study's series as a listing shows them: valid UIDs only, by series number (none last)."""
    return sorted(
        (s for s in series if is_uid(s.series_uid)),
        key=lambda s: (s.series_number is None, s.series_number or 0),
    )
