"""Group DICOM slice headers into series entries and regular stacks.

``group_into_series`` sorts the headers of a scan by patient, study and series (two studies are
never merged), then into regular stacks (one orientation, matrix and pixel spacing, one instance per
position), with localizers, duplicates and unplaceable slices set apart and reported.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from viewer.core.catalog import SeriesEntry, SkippedFile
from viewer.core.geometry import dominant_plane, orientation_is_valid, slice_normal
from viewer.io.dicom_headers import SliceHeader

ORIENTATION_TOLERANCE = 2e-3
"""Largest difference between direction cosines of slices in one stack (about 0.1 degree)."""
SPACING_TOLERANCE_MM = 1e-3
SAME_POSITION_TOLERANCE_MM = 0.01
"""Slices closer than this along the normal are at the same position."""
OBLIQUE_THRESHOLD_DEG = 10.0
"""A slice normal further than this from the nearest patient axis is called oblique."""
BURNED_IN_WARNING = "possibly carries patient identifiers burned into the pixels"
_LOCALIZER_TYPES = {"LOCALIZER", "SCOUT", "TOPOGRAM"}

# Tags that tell apart instances acquired at the same position, tried in this order.
_REPEAT_KEYS: tuple[tuple[str, str], ...] = (
    ("SeriesNumber", "series"),
    ("EchoNumbers", "echo"),
    ("EchoTime", "TE"),
    ("ImageType", "type"),
    ("TemporalPositionIdentifier", "time point"),
    ("TemporalPositionIndex", "time point"),
    ("DiffusionBValue", "b ="),
    ("TriggerTime", "trigger"),
    ("InversionTime", "TI"),
    ("AcquisitionNumber", "acquisition"),
    ("StackID", "stack"),
)


@dataclass
class _Stack:
    """Headers that will become one SeriesEntry."""

    headers: list[SliceHeader]
    is_localizer: bool = False
    label: str = ""
    warnings: list[str] = field(default_factory=list)


def group_into_series(
    headers: Iterable[SliceHeader],
) -> tuple[list[SeriesEntry], list[SkippedFile], list[str]]:
    """Sort slice headers into series entries, each one regular stack of slices.

    Parameters
    ----------
    headers : iterable of SliceHeader
        From :func:`read_slice_headers`, for any number of files, patients and studies.

    Returns
    -------
    entries : list of SeriesEntry
        One per stack. ``key`` is the SeriesInstanceUID, with ``#2``, ``#3``... for the further
        stacks a series was split into; ``source`` is the tuple of the stack's headers, in order of
        position along the slice normal (no order can be given when geometry is missing).
    skipped : list of SkippedFile
        Duplicate instances and slices whose geometry is unusable, each with its reason.
    warnings : list of str
        Problems that concern several files (instances at the same position that no tag tells
        apart, one SeriesInstanceUID in two studies).

    Notes
    -----
    Series are keyed by (PatientID, StudyInstanceUID, SeriesInstanceUID) and never merged across
    studies, whatever their number and description. A series is split when orientation, matrix or
    pixel spacing differ, and when two instances share a position: by echo, temporal position,
    b-value... where a tag tells the repeats apart, otherwise one stack per repeat with a warning.
    A localizer (ImageType LOCALIZER, or a lone slice whose orientation differs from the rest of
    its series) becomes its own entry with ``is_localizer=True``.
    """
    unique, skipped = _drop_duplicates(headers)
    series: dict[tuple[str, str, str], list[SliceHeader]] = {}
    for header in unique:
        series_uid = header.series_instance_uid or (
            f"(no SeriesInstanceUID: series {header.series_number} {header.series_description!r})"
        )
        key = (header.patient_id, header.study_instance_uid, series_uid)
        series.setdefault(key, []).append(header)

    entries: list[SeriesEntry] = []
    warnings_out: list[str] = []
    used_keys: set[str] = set()
    uid_studies: dict[str, str] = {}
    for (_, study_uid, series_uid), members in series.items():
        name = _series_name(members[0])
        if uid_studies.setdefault(series_uid, study_uid) != study_uid:
            warnings_out.append(
                f"{name}: SeriesInstanceUID {series_uid} also appears in another study; "
                "the studies are kept apart"
            )
        stacks, series_skipped, series_warnings = _split_series(members, name)
        skipped.extend(series_skipped)
        warnings_out.extend(series_warnings)
        for index, stack in enumerate(stacks):
            key = series_uid if index == 0 else f"{series_uid}#{index + 1}"
            suffix = index + 1
            while key in used_keys:
                suffix += 1
                key = f"{series_uid}#{suffix}"
            used_keys.add(key)
            entries.append(_entry(key, stack))
    return entries, skipped, warnings_out


def _drop_duplicates(
    headers: Iterable[SliceHeader],
) -> tuple[list[SliceHeader], list[SkippedFile]]:
    """Keep the first file (in path order) of each SOPInstanceUID; report the others."""
    kept: dict[tuple[str, int | None], SliceHeader] = {}
    unique: list[SliceHeader] = []
    duplicate_of: dict[str, str] = {}
    for header in sorted(headers, key=lambda h: (h.path, h.frame_index or 0)):
        if not header.sop_instance_uid:
            unique.append(header)
            continue
        key = (header.sop_instance_uid, header.frame_index)
        first = kept.setdefault(key, header)
        if first is header:
            unique.append(header)
        elif first.path != header.path:
            duplicate_of.setdefault(header.path, first.path)
    skipped = [
        SkippedFile(path, f"duplicate of {original} (same SOPInstanceUID); one copy is used")
        for path, original in duplicate_of.items()
    ]
    return unique, skipped


def _split_series(
    members: list[SliceHeader], name: str
) -> tuple[list[_Stack], list[SkippedFile], list[str]]:
    """Split one series into stacks: placeable ones first (largest first), then localizers."""
    placeable, problems = [], {}
    for header in members:
        problem = _geometry_problem(header)
        if problem is None:
            placeable.append(header)
        else:
            problems.setdefault((header.path, problem), []).append(header)

    skipped: list[SkippedFile] = []
    stacks: list[_Stack] = []
    if not placeable:
        # Nothing in the series can be placed: list it anyway so the user sees it, with the reason;
        # the volume builder refuses to load it rather than guess the geometry.
        reasons = sorted({problem for _, problem in problems})
        stack = _Stack(
            sorted(members, key=lambda h: (h.path, h.frame_index or 0)),
            warnings=[f"cannot be placed in patient space: {'; '.join(reasons)}"],
        )
        return [stack], skipped, []
    for (path, problem), bad in problems.items():
        frames = _frame_list(bad)
        skipped.append(SkippedFile(path, f"{frames}{problem}; left out of {name}"))

    clusters = _geometry_clusters(placeable)
    clusters.sort(key=len, reverse=True)
    main_orientation = next(
        (c[0].image_orientation for c in clusters if not _typed_localizer(c)), None
    )
    warnings_out: list[str] = []
    for cluster in clusters:
        localizer = _typed_localizer(cluster)
        note = ""
        if not localizer and len(cluster) == 1 and len(placeable) > 1:
            differs = not _same_orientation(cluster[0].image_orientation, main_orientation)
            if differs:
                localizer = True
                note = f"orientation differs from the rest of {name}: set apart as a localizer"
        for sub in _split_repeats(cluster, name, warnings_out):
            sub.is_localizer = localizer
            if note:
                sub.warnings.append(note)
            if localizer:
                sub.label = "localizer" + (f", {sub.label}" if sub.label else "")
            stacks.append(sub)
    stacks.sort(key=lambda s: s.is_localizer)
    return stacks, skipped, warnings_out


def _geometry_problem(header: SliceHeader) -> str | None:
    """Why a slice cannot be placed in patient space, or ``None`` when it can."""
    if header.image_orientation is None:
        return "no ImageOrientationPatient"
    if not orientation_is_valid(header.image_orientation, tolerance=1e-2):
        values = ", ".join(f"{v:g}" for v in header.image_orientation)
        return f"invalid ImageOrientationPatient ({values}): not two unit vectors at right angles"
    if header.image_position is None:
        return "no ImagePositionPatient"
    if not all(math.isfinite(v) for v in header.image_position):
        return "ImagePositionPatient is not a finite number"
    if header.pixel_spacing is None:
        return "no PixelSpacing"
    if not all(math.isfinite(v) and v > 0 for v in header.pixel_spacing):
        values = ", ".join(f"{v:g}" for v in header.pixel_spacing)
        return f"invalid PixelSpacing ({values} mm)"
    return None


def _geometry_clusters(headers: list[SliceHeader]) -> list[list[SliceHeader]]:
    """Group slices that share orientation, matrix, pixel spacing and pixel layout."""
    clusters: list[list[SliceHeader]] = []
    for header in headers:
        for cluster in clusters:
            first = cluster[0]
            if (
                _typed_localizer([header]) == _typed_localizer([first])
                and (header.rows, header.columns) == (first.rows, first.columns)
                and (header.samples_per_pixel, header.bits_allocated)
                == (first.samples_per_pixel, first.bits_allocated)
                and _same_orientation(header.image_orientation, first.image_orientation)
                and _close(header.pixel_spacing, first.pixel_spacing, SPACING_TOLERANCE_MM)
            ):
                cluster.append(header)
                break
        else:
            clusters.append([header])
    return clusters


def _split_repeats(cluster: list[SliceHeader], name: str, warnings_out: list[str]) -> list[_Stack]:
    """Split a geometry cluster so that each stack holds one instance per position."""
    normal = slice_normal(cluster[0].image_orientation)  # type: ignore[arg-type]
    by_position = _position_groups(cluster, normal)
    repeats = max(len(group) for group in by_position)
    if repeats == 1:
        return [_Stack(_sorted_by_position(cluster, normal))]
    for keyword, label in _REPEAT_KEYS:
        parts: dict[Any, list[SliceHeader]] = {}
        for header in cluster:
            parts.setdefault(_repeat_value(header, keyword), []).append(header)
        if len(parts) == repeats and all(
            max(len(g) for g in _position_groups(part, normal)) == 1 for part in parts.values()
        ):
            ordered = sorted(parts.items(), key=lambda kv: _sortable(kv[0]))
            return [
                _Stack(_sorted_by_position(part, normal), label=f"{label} {_show(value)}")
                for value, part in ordered
            ]
    # No tag tells the repeats apart: keep each (never let one overwrite another) and say so.
    stacks = [_Stack([], label=f"repeat {k + 1}") for k in range(repeats)]
    clashes = []
    for group in by_position:
        group.sort(key=lambda h: (h.acquisition_datetime or dt.datetime.max, h.path, h.frame_index))
        for k, header in enumerate(group):
            stacks[k].headers.append(header)
        if len(group) > 1:
            clashes.append(" and ".join(_frame_name(h) for h in group))
    shown = "; ".join(clashes[:5]) + (f"; and {len(clashes) - 5} more" if len(clashes) > 5 else "")
    warnings_out.append(
        f"{name}: {len(clashes)} position(s) hold different instances that no tag tells apart "
        f"({shown}); kept as {repeats} separate stacks"
    )
    for stack in stacks:
        stack.headers = _sorted_by_position(stack.headers, normal)
        stack.warnings.append(
            "instances at the same position as another stack of this series; "
            "no tag tells them apart"
        )
    return stacks


def _position_groups(headers: list[SliceHeader], normal: np.ndarray) -> list[list[SliceHeader]]:
    """Headers grouped by position along ``normal`` (within SAME_POSITION_TOLERANCE_MM)."""
    ordered = sorted(headers, key=lambda h: _distance(h, normal))
    groups: list[list[SliceHeader]] = []
    last = -math.inf
    for header in ordered:
        distance = _distance(header, normal)
        if groups and distance - last <= SAME_POSITION_TOLERANCE_MM:
            groups[-1].append(header)
        else:
            groups.append([header])
        last = distance
    return groups


def _sorted_by_position(headers: list[SliceHeader], normal: np.ndarray) -> list[SliceHeader]:
    return sorted(headers, key=lambda h: (_distance(h, normal), h.path, h.frame_index or 0))


def _distance(header: SliceHeader, normal: np.ndarray) -> float:
    """Position of a slice along the stack normal, in mm."""
    return float(np.dot(header.image_position, normal))  # type: ignore[arg-type]


def _repeat_value(header: SliceHeader, keyword: str) -> Any:
    if keyword == "SeriesNumber":
        return header.series_number
    if keyword == "ImageType":
        # ORIGINAL/DERIVED and PRIMARY/SECONDARY say nothing about what the image shows
        return header.image_type[2:]
    value = header.extra.get(keyword)
    return tuple(value) if isinstance(value, list) else value


def _entry(key: str, stack: _Stack) -> SeriesEntry:
    headers = stack.headers
    first = headers[0]
    warnings_list = list(stack.warnings)
    if any(h.burned_in_annotation for h in headers):
        warnings_list.append(BURNED_IN_WARNING)
    if "MOSAIC" in first.image_type:
        warnings_list.append("Siemens mosaic: shown as stored, tiles not unpacked into slices")
    description = first.series_description
    if stack.label:
        description = f"{description} ({stack.label})" if description else stack.label
    times = [h.acquisition_datetime for h in headers if h.acquisition_datetime is not None]
    placed = _geometry_problem(first) is None
    return SeriesEntry(
        key=key,
        format="dicom",
        patient_id=first.patient_id,
        patient_name=first.patient_name,
        patient_birth_date=first.patient_birth_date,
        modality=first.modality,
        description=description,
        series_number=first.series_number,
        series_instance_uid=first.series_instance_uid,
        study_instance_uid=first.study_instance_uid,
        study_date=first.study_date,
        series_datetime=min(times) if times else None,
        shape=(len(headers), first.rows, first.columns),
        pixel_spacing_mm=first.pixel_spacing if placed else None,
        slice_thickness_mm=first.slice_thickness,
        orientation=orientation_label(first.image_orientation) if placed else "unknown",
        frame_of_reference_uid=first.frame_of_reference_uid,
        contrast_agent=next((h.contrast_agent for h in headers if h.contrast_agent), ""),
        is_localizer=stack.is_localizer,
        warnings=tuple(dict.fromkeys(warnings_list)),
        paths=tuple(sorted({h.path for h in headers})),
        source=tuple(headers),
    )


def orientation_label(orientation: Sequence[float]) -> str:
    """Name the plane of a slice, prefixed ``"oblique "`` when its normal is well off the axis.

    Parameters
    ----------
    orientation : sequence of 6 float
        ImageOrientationPatient (row cosine, column cosine).

    Returns
    -------
    str
        ``"axial"``, ``"coronal"``, ``"sagittal"``, or e.g. ``"oblique axial"`` when the normal is
        more than ``OBLIQUE_THRESHOLD_DEG`` degrees from the nearest patient axis.

    Examples
    --------
    >>> orientation_label([1, 0, 0, 0, 1, 0])
    'axial'
    >>> c, s = math.cos(math.radians(20)), math.sin(math.radians(20))
    >>> orientation_label([1, 0, 0, 0, c, -s])
    'oblique axial'
    """
    plane = dominant_plane(orientation)
    normal = np.abs(slice_normal(orientation))
    off_axis_deg = math.degrees(math.acos(min(1.0, float(normal.max()))))
    return f"oblique {plane}" if off_axis_deg > OBLIQUE_THRESHOLD_DEG else plane


def _typed_localizer(headers: list[SliceHeader]) -> bool:
    return any(_LOCALIZER_TYPES.intersection(h.image_type) for h in headers)


def _same_orientation(a: Sequence[float] | None, b: Sequence[float] | None) -> bool:
    return _close(a, b, ORIENTATION_TOLERANCE)


def _close(a: Sequence[float] | None, b: Sequence[float] | None, tolerance: float) -> bool:
    if a is None or b is None:
        return a is b
    return len(a) == len(b) and all(abs(x - y) <= tolerance for x, y in zip(a, b, strict=True))


def _series_name(header: SliceHeader) -> str:
    number = "" if header.series_number is None else f" {header.series_number}"
    description = f" {header.series_description!r}" if header.series_description else ""
    return f"series{number}{description}"


def _frame_name(header: SliceHeader) -> str:
    return (
        header.path
        if header.frame_index is None
        else f"{header.path} frame {header.frame_index + 1}"
    )


def _frame_list(headers: list[SliceHeader]) -> str:
    """``""`` for a classic file, else ``"frames 1-3, 7: "`` (1-based) for the frames concerned."""
    indices = sorted(h.frame_index for h in headers if h.frame_index is not None)
    if not indices:
        return ""
    runs: list[str] = []
    start = prev = indices[0]
    for i in [*indices[1:], None]:
        if i is not None and i == prev + 1:
            prev = i
            continue
        runs.append(f"{start + 1}" if start == prev else f"{start + 1}-{prev + 1}")
        if i is not None:
            start = prev = i
    return f"frame{'s' if len(indices) > 1 else ''} {', '.join(runs)}: "


def _sortable(value: Any) -> tuple[int, Any]:
    if value is None:
        return (2, "")
    if isinstance(value, int | float):
        return (0, value)
    return (1, str(value))


def _show(value: Any) -> str:
    if isinstance(value, tuple):
        return "\\".join(str(v) for v in value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "none" if value is None else str(value)
