"""Frames of reference: series that share one need only one registration.

DICOM series with the same FrameOfReferenceUID share patient coordinates (the patient did not
move between them, or the scanner says so), so the transform found for one of them holds for all.
Interval groups only series of the same patient on the same date by their frame of reference, so
that a scanner reusing a UID across visits cannot silently skip a registration. Series without a
FrameOfReferenceUID (NIfTI) are each their own group.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from viewer.core.catalog import SeriesEntry
from viewer.core.transform import Registration, RegistrationState

SHARED_METHOD = "shared frame of reference"
"""``Registration.method`` of a registration copied from another series of the same frame."""


def frame_key(entry: SeriesEntry) -> tuple[str, str, str] | None:
    """(patient, date, FrameOfReferenceUID) of a series, or None if it has no frame of reference."""
    if not entry.frame_of_reference_uid:
        return None
    date = entry.study_date.isoformat() if entry.study_date else ""
    return entry.patient_id, date, entry.frame_of_reference_uid


def group_by_frame(entries: Iterable[SeriesEntry]) -> list[list[SeriesEntry]]:
    """Group series that share a frame of reference on one visit, in order of first appearance.

    Parameters
    ----------
    entries : iterable of SeriesEntry

    Returns
    -------
    list of list of SeriesEntry
        Every entry exactly once; an entry without a FrameOfReferenceUID is alone in its group.
    """
    groups: dict[object, list[SeriesEntry]] = {}
    for entry in entries:
        key = frame_key(entry)
        groups.setdefault(key if key is not None else ("alone", entry.key), []).append(entry)
    return list(groups.values())


def representative(group: list[SeriesEntry], reference_modality: str) -> SeriesEntry:
    """The series of a group to register: the reference's modality first, then the finest voxels.

    A same-modality image registers most reliably, and finer voxels give a more precise fit.
    """

    def voxel_mm3(entry: SeriesEntry) -> float:
        rows_mm, columns_mm = entry.pixel_spacing_mm or (1.0, 1.0)
        return rows_mm * columns_mm * (entry.slice_thickness_mm or 1.0)

    return min(group, key=lambda e: (e.modality != reference_modality, voxel_mm3(e)))


def share_frames_of_reference(
    entries: Iterable[SeriesEntry], registrations: Mapping[str, Registration]
) -> dict[str, Registration]:
    """Give every unregistered series the registration of a series in its frame of reference.

    Parameters
    ----------
    entries : iterable of SeriesEntry
        The series to consider (e.g. all of a catalogue).
    registrations : mapping of series key -> Registration
        What is known so far (automatic, landmark or manual registrations, the reference's own).

    Returns
    -------
    dict of series key -> Registration
        ``registrations`` plus, for each series without one (or only ``NOT_REGISTERED``), a copy
        of its group's registration with method :data:`SHARED_METHOD`, the same transform and
        state. A group whose series disagree (several registered) lends the first one found that
        was not itself shared.
    """
    result = dict(registrations)
    for group in group_by_frame(entries):
        known = [
            result[e.key]
            for e in group
            if e.key in result and result[e.key].state is not RegistrationState.NOT_REGISTERED
        ]
        if not known:
            continue
        source = next((r for r in known if r.method != SHARED_METHOD), known[0])
        for entry in group:
            current = result.get(entry.key)
            if current is None or current.state is RegistrationState.NOT_REGISTERED:
                result[entry.key] = Registration(
                    series_key=entry.key,
                    reference_key=source.reference_key,
                    transform=source.transform,
                    state=source.state,
                    method=SHARED_METHOD,
                )
    return result
