"""``interval info PATH... [--json]``: what a folder holds, read from headers only.

The JSON output is a stable, versioned interface documented in ``docs/cli-info-json.md``; the
human output is rendered from the same report, so the two never disagree.
"""

from __future__ import annotations

import argparse
import json
import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from viewer.cli.common import EXIT_FAILED, EXIT_OK, print_error
from viewer.core.catalog import Catalog, SeriesEntry
from viewer.core.geometry import slice_normal, voxel_spacing
from viewer.errors import IntervalError
from viewer.io import scan_paths
from viewer.io.dicom_headers import SliceHeader
from viewer.io.nifti import nifti_voxel2patient
from viewer.io.scan import UNKNOWN_PATIENT

SCHEMA_VERSION = 1
_SAME_POSITION_MM = 1e-3


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``info`` subcommand."""
    parser = subparsers.add_parser(
        "info",
        help="list the patients, visits and series under folders or files",
        description=(
            "Scan folders (recursively) and files for DICOM and NIfTI images and list patient, "
            "visits (by date) and series with matrix, spacing, orientation and warnings, then the "
            "files that were skipped and why. Only headers are read. Exit code 0 when an image was "
            "found, 1 when none was (or a path is missing), 2 on a wrong command line."
        ),
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="folder or file to scan")
    parser.add_argument(
        "--json",
        action="store_true",
        help="print machine-readable JSON (schema_version 1, see docs/cli-info-json.md)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run ``interval info``; returns the exit code."""
    missing = [p for p in args.paths if not os.path.exists(p)]
    for path in missing:
        print_error("info", f"{path}: no such file or folder")
    if missing:
        return EXIT_FAILED
    try:
        catalog = scan_paths(args.paths)
    except (IntervalError, OSError) as exc:
        print_error("info", str(exc))
        return EXIT_FAILED
    report = catalog_report(catalog, args.paths)
    print(json.dumps(report, indent=2) if args.json else render_text(report))
    if not report["patients"]:
        print_error("info", f"no DICOM or NIfTI image found in {', '.join(args.paths)}")
        return EXIT_FAILED
    return EXIT_OK


def catalog_report(catalog: Catalog, paths: Sequence[str | os.PathLike[str]]) -> dict[str, Any]:
    """Turn a catalogue into the documented, JSON-ready report (schema version 1).

    Parameters
    ----------
    catalog : Catalog
        From :func:`viewer.io.scan_paths`.
    paths : sequence of path-like
        What was scanned (reported as absolute paths).

    Returns
    -------
    dict
        See ``docs/cli-info-json.md``.
    """
    return {
        "schema_version": SCHEMA_VERSION,
        "paths": [os.path.abspath(p) for p in paths],
        "patients": [
            {
                "patient_id": None if p.patient_id == UNKNOWN_PATIENT else p.patient_id,
                "visits": [
                    {
                        "date": v.date.isoformat() if v.date else None,
                        "series": [_series_report(s) for s in v.series],
                    }
                    for v in p.visits
                ],
            }
            for p in catalog.patients
        ],
        "skipped": [{"path": s.path, "reason": s.reason} for s in catalog.skipped],
        "warnings": list(catalog.warnings),
    }


def _series_report(entry: SeriesEntry) -> dict[str, Any]:
    slices, rows, columns = entry.shape
    return {
        "key": entry.key,
        "format": entry.format,
        "series_number": entry.series_number,
        "series_instance_uid": entry.series_instance_uid,
        "study_instance_uid": entry.study_instance_uid,
        "modality": entry.modality,
        "description": entry.description,
        "series_datetime": entry.series_datetime.isoformat() if entry.series_datetime else None,
        "rows": rows,
        "columns": columns,
        "slices": slices,
        "frames": entry.frames,
        "pixel_spacing_mm": (
            [_number(v) for v in entry.pixel_spacing_mm] if entry.pixel_spacing_mm else None
        ),
        "slice_step_mm": _number(slice_step_mm(entry)),
        "slice_thickness_mm": _number(entry.slice_thickness_mm),
        "orientation": entry.orientation,
        "contrast_agent": entry.contrast_agent,
        "is_localizer": entry.is_localizer,
        "file_count": len(entry.paths),
        "warnings": list(entry.warnings),
    }


def _number(value: float | None) -> float | None:
    """JSON has no NaN or infinity: an unusable number is reported as unknown."""
    return float(value) if value is not None and math.isfinite(value) else None


def slice_step_mm(entry: SeriesEntry) -> float | None:
    """Distance between neighbouring slices in mm, from headers only (no pixels are read).

    DICOM: the median step between the slice positions (ImagePositionPatient) projected on the
    slice normal, ignoring repeats at the same position. NIfTI: the length of the affine's slice
    axis. ``None`` for a single slice or when the geometry is unknown.
    """
    if entry.format == "nifti":
        try:
            return float(voxel_spacing(nifti_voxel2patient(entry.source))[0])
        except IntervalError:
            return None
    headers = [
        h
        for h in entry.source or ()
        if isinstance(h, SliceHeader) and h.image_position and h.image_orientation
    ]
    if len(headers) < 2:
        return None
    normal = slice_normal(headers[0].image_orientation)
    distances = np.sort(np.array([h.image_position for h in headers], dtype=float) @ normal)
    steps = np.diff(distances)
    steps = steps[steps > _SAME_POSITION_MM]
    return float(np.median(steps)) if steps.size else None


def render_text(report: dict[str, Any]) -> str:
    """Render :func:`catalog_report`'s output for people."""
    lines: list[str] = []
    for patient in report["patients"]:
        who = patient["patient_id"] or "unknown (files without patient information, e.g. NIfTI)"
        lines.append(f"Patient {who}")
        for visit in patient["visits"]:
            lines.append(f"  Visit {visit['date'] or 'undated'}")
            for series in visit["series"]:
                lines.extend("    " + line for line in _series_lines(series))
    if report["skipped"]:
        lines.append(f"Skipped files ({len(report['skipped'])}):")
        lines.extend(f"  {s['path']}: {s['reason']}" for s in report["skipped"])
    if report["warnings"]:
        lines.append("Warnings:")
        lines.extend(f"  {w}" for w in report["warnings"])
    if not report["patients"]:
        lines.append("No images found.")
    return "\n".join(lines)


def _series_lines(series: dict[str, Any]) -> list[str]:
    number = series["series_number"] if series["series_number"] is not None else "-"
    description = series["description"] or "(no description)"
    title = f"Series {number}  {series['modality'] or '?'}  {description}"
    if series["is_localizer"]:
        title += "  (localizer)"
    size = f"{series['rows']} x {series['columns']} x {series['slices']}"
    matrix = f"matrix {size} (rows x columns x slices)"
    if series["frames"] > 1:
        matrix += f", {series['frames']} frames"
    spacing = series["pixel_spacing_mm"] or [None, None]
    spacing_text = " x ".join(_mm(v) for v in (*spacing, series["slice_step_mm"]))
    thickness = series["slice_thickness_mm"]
    count = series["slices"]
    details = f"orientation {series['orientation']}, {count} slice{'' if count == 1 else 's'}"
    if thickness is not None:
        details += f", thickness {_mm(thickness)} mm"
    details += f", contrast: {series['contrast_agent'] or 'none recorded'}"
    lines = [
        title,
        f"  {matrix}",
        f"  spacing {spacing_text} mm (row x column x slice step)",
        f"  {details}",
        f"  key {series['key']}",
    ]
    lines.extend(f"  warning: {w}" for w in series["warnings"])
    return lines


def _mm(value: float | None) -> str:
    return "?" if value is None else f"{value:.4g}"
