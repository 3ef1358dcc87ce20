"""What identity leaves the application: one place decides, for every export.

Teaching mode (the default) writes a case label instead of the patient's name, relative visit
labels ("Day 0", "Day 412") instead of dates, and de-identifies DICOM per the PS3.15 Basic
Application Confidentiality Profile (Annex E), with the Retain Longitudinal Temporal Information
with Modified Dates option: every date is shifted by the same number of days so that the first
visit falls on :data:`DAY_ZERO`, keeping the intervals between visits that follow-up reading needs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass

import pydicom
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import UID_dictionary

DAY_ZERO = dt.date(2000, 1, 1)
"""The date the first visit is moved to in de-identified DICOM (dates shifted, intervals kept)."""

IDENTIFYING_KEYWORDS: tuple[str, ...] = (
    # Patient identification (PS3.15 Table E.1-1: PatientName/ID replaced by the case label, the
    # other patient attributes emptied or removed)
    "PatientName",
    "PatientID",
    "IssuerOfPatientID",
    "IssuerOfPatientIDQualifiersSequence",
    "OtherPatientIDs",
    "OtherPatientIDsSequence",
    "OtherPatientNames",
    "PatientBirthName",
    "PatientMotherBirthName",
    "PatientBirthDate",
    "PatientBirthTime",
    "PatientSex",
    "PatientAge",
    "PatientSize",
    "PatientWeight",
    "PatientAddress",
    "PatientTelephoneNumbers",
    "PatientTelecomInformation",
    "MilitaryRank",
    "BranchOfService",
    "MedicalRecordLocator",
    "EthnicGroup",
    "Occupation",
    "AdditionalPatientHistory",
    "PatientComments",
    "PatientReligiousPreference",
    "PregnancyStatus",
    "ResponsiblePerson",
    "ResponsibleOrganization",
    "CountryOfResidence",
    "RegionOfResidence",
    "MedicalAlerts",
    "Allergies",
    "PatientInsurancePlanCodeSequence",
    # Study and visit
    "AccessionNumber",
    "StudyID",
    "StudyDescription",
    "SeriesDescription",
    "ProtocolName",
    "ReasonForStudy",
    "RequestingPhysician",
    "RequestingService",
    "RequestedProcedureDescription",
    "RequestAttributesSequence",
    "ReferringPhysicianName",
    "ReferringPhysicianAddress",
    "ReferringPhysicianTelephoneNumbers",
    "ReferringPhysicianIdentificationSequence",
    "ConsultingPhysicianName",
    "PhysiciansOfRecord",
    "PhysiciansOfRecordIdentificationSequence",
    "PhysiciansReadingStudyIdentificationSequence",
    "NameOfPhysiciansReadingStudy",
    "PerformingPhysicianName",
    "PerformingPhysicianIdentificationSequence",
    "OperatorsName",
    "OperatorIdentificationSequence",
    "AdmissionID",
    "AdmittingDiagnosesDescription",
    "AdmittingDiagnosesCodeSequence",
    "CurrentPatientLocation",
    "PatientState",
    "ServiceEpisodeID",
    "ServiceEpisodeDescription",
    "VisitComments",
    "PerformedProcedureStepID",
    "PerformedProcedureStepDescription",
    "ScheduledProcedureStepID",
    "RequestedProcedureID",
    "ImageComments",
    "FrameComments",
    "DerivationDescription",
    "ContentCreatorName",
    "AcquisitionComments",
    "ReferencedPatientSequence",
    "ReferencedStudySequence",
    "ReferencedPerformedProcedureStepSequence",
    # Equipment and place
    "InstitutionName",
    "InstitutionAddress",
    "InstitutionalDepartmentName",
    "InstitutionCodeSequence",
    "StationName",
    "DeviceSerialNumber",
    "PlateID",
    "DetectorID",
    "CassetteID",
    "GantryID",
    "SourceApplicationEntityTitle",
    "ModifiedAttributesSequence",
    "OriginalAttributesSequence",
)
"""DICOM keywords removed or replaced in teaching mode (PS3.15 Table E.1-1, Basic Profile).

Beyond this list, teaching mode also removes every private element, empties every person name
(VR PN), shifts every date (VR DA, DT) and replaces every instance UID (see :class:`UidMap`).
"""

_REPLACED_BY_LABEL = frozenset({"PatientName", "PatientID"})
_KEPT_EMPTY = frozenset(
    # Type 2 attributes of the modules every image (and a SEG) carries: present but empty.
    {
        "PatientBirthDate",
        "PatientSex",
        "AccessionNumber",
        "StudyID",
        "ReferringPhysicianName",
    }
)
_ANONYMOUS_UID_ROOT = "2.25."
_MAX_UID_DIGITS = 38  # 2**126 < 10**38: the UUID-derived root takes up to 39 digits
_SAFE_LABEL = re.compile(r"[^A-Za-z0-9_-]+")

_CONFIDENTIALITY_CODES = {
    "profile": ("113100", "Basic Application Confidentiality Profile"),
    "modified dates": ("113107", "Retain Longitudinal Temporal Information Modified Dates Option"),
    "full dates": ("113106", "Retain Longitudinal Temporal Information Full Dates Option"),
}


@dataclass(frozen=True)
class Privacy:
    """What an export may reveal.

    Parameters
    ----------
    include_identity : bool
        False (teaching mode, the default): no patient name, ID, birth date, institution or
        physician in any exported file or file name. True: clinical use, identity kept.
    real_dates : bool
        False: visits are "Day 0", "Day 412" relative to the first visit and DICOM dates are
        shifted so the first visit is :data:`DAY_ZERO`. True: calendar dates.
    case_label : str
        Shown (and written as PatientName/PatientID in teaching mode) instead of the patient.
    """

    include_identity: bool = False
    real_dates: bool = False
    case_label: str = "Case"

    def visit_label(self, date: dt.date | None, first: dt.date | None) -> str:
        """How a visit is named in exports.

        Parameters
        ----------
        date : datetime.date or None
            The visit's (study) date.
        first : datetime.date or None
            The case's first visit date (Day 0).

        Examples
        --------
        >>> Privacy().visit_label(dt.date(2002, 8, 14), dt.date(2001, 6, 28))
        'Day 412'
        >>> Privacy(real_dates=True).visit_label(dt.date(2002, 8, 14), dt.date(2001, 6, 28))
        '2002-08-14'
        """
        if date is None:
            return "undated"
        if self.real_dates:
            return date.isoformat()
        if first is None:
            return "undated"
        return f"Day {(date - first).days}"

    def file_stem(
        self, date: dt.date | None, first: dt.date | None, series_number: int | None = None
    ) -> str:
        """A file name stem: case label, visit label and series number; never a name or ID.

        Examples
        --------
        >>> Privacy(case_label="Glioma 3").file_stem(dt.date(2002, 8, 14), dt.date(2001, 6, 28), 7)
        'Glioma_3_Day412_S7'
        """
        label = _SAFE_LABEL.sub("_", self.case_label).strip("_") or "Case"
        parts = [label, _SAFE_LABEL.sub("", self.visit_label(date, first))]
        if series_number is not None:
            parts.append(f"S{series_number}")
        return "_".join(parts)


class UidMap:
    """Replacement UIDs for one export: the same source UID always maps to the same new UID.

    New UIDs are ``2.25.<decimal>`` (PS3.5 B.2) from a SHA-256 of a per-export salt and the old
    UID, so they cannot be traced back without the salt; distinct old UIDs that would collide are
    refused rather than merged.

    Parameters
    ----------
    salt : str, optional
        A random 128-bit salt by default (a new mapping per export).

    Examples
    --------
    >>> uids = UidMap("demo")
    >>> uids("1.2.3") == uids("1.2.3"), uids("1.2.3") == uids("1.2.4")
    (True, False)
    """

    def __init__(self, salt: str | None = None) -> None:
        self._salt = secrets.token_hex(16) if salt is None else salt
        self._forward: dict[str, str] = {}
        self._backward: dict[str, str] = {}

    def __call__(self, uid: str) -> str:
        """The replacement of ``uid`` (created on first use)."""
        uid = str(uid).strip()
        if uid in self._forward:
            return self._forward[uid]
        digest = hashlib.sha256(f"{self._salt}\0{uid}".encode()).digest()
        new = _ANONYMOUS_UID_ROOT + str(int.from_bytes(digest, "big") % 10**_MAX_UID_DIGITS)
        if new in self._backward:
            raise ValueError(f"UID collision between {uid} and {self._backward[new]}")
        self._forward[uid] = new
        self._backward[new] = uid
        return new

    def __contains__(self, uid: object) -> bool:
        return uid in self._forward

    def mapping(self) -> dict[str, str]:
        """A copy of every old -> new UID pair handed out so far."""
        return dict(self._forward)


def deidentify_dataset(
    ds: Dataset, uid_map: UidMap, privacy: Privacy, first_date: dt.date | None
) -> None:
    """De-identify a dataset in place, as ``privacy`` asks.

    Teaching mode applies the PS3.15 Basic Application Confidentiality Profile: private elements
    are removed; the :data:`IDENTIFYING_KEYWORDS` are removed, emptied (type 2) or, for
    PatientName and PatientID, replaced by the case label; every other person name is emptied;
    instance UIDs are replaced through ``uid_map`` (standard UIDs such as SOP classes and
    transfer syntaxes are kept); dates are shifted so ``first_date`` becomes :data:`DAY_ZERO`
    (or emptied when ``first_date`` is None) unless ``privacy.real_dates``. PatientIdentityRemoved
    becomes "YES" and DeidentificationMethod(CodeSequence) records the profile and options.

    With ``privacy.include_identity`` nothing is changed except the dates (shifted unless
    ``privacy.real_dates``).

    Parameters
    ----------
    ds : pydicom.Dataset
        Changed in place, file meta included.
    uid_map : UidMap
        Shared by every dataset of one export, so references between them stay consistent.
    privacy : Privacy
    first_date : datetime.date or None
        The case's first visit date (Day 0).
    """
    shift_days = None if first_date is None else (DAY_ZERO - first_date).days
    if privacy.include_identity:
        if not privacy.real_dates:
            _walk(ds, lambda parent, elem: _shift_date(parent, elem, shift_days))
        return
    ds.remove_private_tags()
    _walk(ds, lambda parent, elem: _scrub(parent, elem, uid_map, privacy, shift_days))
    meta = getattr(ds, "file_meta", None)
    if meta is not None:
        if "MediaStorageSOPInstanceUID" in meta:
            meta.MediaStorageSOPInstanceUID = uid_map(meta.MediaStorageSOPInstanceUID)
        for keyword in ("SourceApplicationEntityTitle", "SendingApplicationEntityTitle"):
            if keyword in meta:
                delattr(meta, keyword)
    # Type 2 attributes stay present (empty) so the dataset keeps its modules valid.
    for keyword in _KEPT_EMPTY:
        if keyword not in ds:
            setattr(ds, keyword, "")
    ds.PatientName = _label_value("PN", privacy)
    ds.PatientID = _label_value("LO", privacy)
    record_deidentification(ds, privacy)


def record_deidentification(ds: Dataset, privacy: Privacy) -> None:
    """Set PatientIdentityRemoved, DeidentificationMethod and its code sequence (teaching mode)."""
    ds.PatientIdentityRemoved = "YES"
    options = ["profile", "full dates" if privacy.real_dates else "modified dates"]
    ds.DeidentificationMethod = "PS3.15 Basic Profile, " + (
        "real dates" if privacy.real_dates else f"Day 0 = {DAY_ZERO.isoformat()}"
    )
    codes = []
    for option in options:
        value, meaning = _CONFIDENTIALITY_CODES[option]
        item = Dataset()
        item.CodeValue = value
        item.CodingSchemeDesignator = "DCM"
        item.CodeMeaning = meaning
        codes.append(item)
    ds.DeidentificationMethodCodeSequence = DicomSequence(codes)
    if not privacy.real_dates:
        ds.LongitudinalTemporalInformationModified = "MODIFIED"


def shift_date(date: dt.date, first_date: dt.date | None) -> dt.date | None:
    """Where teaching mode moves a date: ``first_date`` goes to :data:`DAY_ZERO` (None: unknown)."""
    if first_date is None:
        return None
    return date + (DAY_ZERO - first_date)


def _walk(ds: Dataset, visit: Callable[[Dataset, DataElement], None]) -> None:
    """Call ``visit(dataset, element)`` for every element, depth first, sequences included."""
    for elem in list(ds):
        if elem.VR == "SQ":
            for item in elem.value:
                _walk(item, visit)
        visit(ds, elem)


def _scrub(
    ds: Dataset, elem: DataElement, uid_map: UidMap, privacy: Privacy, shift_days: int | None
) -> None:
    keyword = elem.keyword
    if keyword in _REPLACED_BY_LABEL:
        elem.value = _label_value(elem.VR, privacy)
    elif keyword in _KEPT_EMPTY:
        elem.value = ""
    elif keyword in IDENTIFYING_KEYWORDS:
        del ds[elem.tag]
    elif elem.VR == "PN":
        elem.value = ""
    elif elem.VR == "UI" and elem.value:
        elem.value = _mapped_uids(elem.value, uid_map)
    elif elem.VR in ("DA", "DT") and not privacy.real_dates:
        _shift_date(ds, elem, shift_days)


def _label_value(vr: str, privacy: Privacy) -> str:
    # A trailing caret marks a one-component person name (PS3.5 6.2.1.2): the label is no surname.
    label = privacy.case_label[:63]
    return f"{label}^" if vr == "PN" else label


def _mapped_uids(value: object, uid_map: UidMap) -> object:
    """Instance UIDs replaced; registered UIDs (SOP classes, transfer syntaxes...) kept."""
    if isinstance(value, pydicom.multival.MultiValue | list):
        return [_mapped_uids(v, uid_map) for v in value]
    text = str(value)
    return text if text in UID_dictionary else uid_map(text)


def _shift_date(ds: Dataset, elem: DataElement, shift_days: int | None) -> None:
    if elem.VR not in ("DA", "DT") or elem.value in (None, ""):
        return
    values = (
        list(elem.value) if isinstance(elem.value, pydicom.multival.MultiValue) else [elem.value]
    )
    shifted = [_shifted_text(str(v), elem.VR, shift_days) for v in values]
    elem.value = shifted if len(shifted) > 1 else shifted[0]


def _shifted_text(text: str, vr: str, shift_days: int | None) -> str:
    """Shift the date part of a DA or DT string; keep the time of day (not identifying alone)."""
    text = text.strip()
    if shift_days is None or len(text) < 8 or not text[:8].isdigit():
        return ""
    try:
        date = dt.datetime.strptime(text[:8], "%Y%m%d").date()
    except ValueError:
        return ""  # a malformed date cannot be shifted, so it is not exported
    moved = (date + dt.timedelta(days=shift_days)).strftime("%Y%m%d")
    return moved if vr == "DA" else moved + text[8:]
