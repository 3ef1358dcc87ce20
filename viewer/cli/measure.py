"""``interval measure CASE [--criteria KEY] [--baseline DATE] [--json|--csv]``: the response.

Reads the case saved beside the images (or the ``*.interval`` case folder itself), measures every
lesion at every visit on its own grid, and prints the response per visit by the chosen criteria,
with its reasons. The JSON and CSV forms are documented in ``docs/cli-measure.md``.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from pathlib import Path
from typing import Any

from viewer.analysis.criteria import CRITERIA
from viewer.analysis.measure import LesionMeasurement, is_measurable
from viewer.analysis.response import Assessment
from viewer.cli.common import EXIT_FAILED, EXIT_OK, print_error, print_warning
from viewer.core.catalog import Catalog
from viewer.core.volume import Volume
from viewer.errors import IntervalError
from viewer.io import load_series, scan_paths
from viewer.io.case_file import MANIFEST, Case, load_case
from viewer.state.annotations import Annotations
from viewer.state.case_session import CASE_SUFFIX, case_folder_of
from viewer.state.tracking import Tracking, VisitColumn

SCHEMA = "interval-measure"
SCHEMA_VERSION = 1
CSV_COLUMNS = (
    "visit",
    "series",
    "lesion",
    "lesion_name",
    "volume_ml",
    "longest_mm",
    "perpendicular_mm",
    "product_mm2",
    "axial_slice",
    "slices_spanned",
    "mean_intensity",
    "max_intensity",
    "intensity_units",
    "centroid_patient_x_mm",
    "centroid_patient_y_mm",
    "centroid_patient_z_mm",
    "centroid_reference_x_mm",
    "centroid_reference_y_mm",
    "centroid_reference_z_mm",
    "measurable",
    "target",
)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``measure`` subcommand."""
    parser = subparsers.add_parser(
        "measure",
        help="measure every lesion at every visit and give the response by the criteria",
        description=(
            "Read the case saved for CASE (the images' folder, or its .interval case folder), "
            "measure each outlined lesion on each visit's own grid (volume in mL, axial "
            "diameters in mm, product in mm2) and assess the response per visit by the chosen "
            "criteria, with the reasons. Exit code 0 on success, 1 when there is no saved case "
            "or it cannot be read."
        ),
    )
    parser.add_argument("case", metavar="CASE", help="the images' folder or the case folder")
    parser.add_argument(
        "--criteria",
        choices=sorted(CRITERIA),
        help="criteria to assess by (default: the case's choice, else rano2)",
    )
    parser.add_argument(
        "--baseline", metavar="DATE", help="baseline visit, e.g. 1995-07-01 (default: the rule)"
    )
    form = parser.add_mutually_exclusive_group()
    form.add_argument("--json", action="store_true", help="print JSON (docs/cli-measure.md)")
    form.add_argument("--csv", action="store_true", help="print CSV, one row per lesion and visit")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run ``interval measure``; returns the exit code."""
    path = Path(args.case)
    if not path.exists():
        print_error("measure", f"{path}: no such file or folder")
        return EXIT_FAILED
    if path.name.endswith(CASE_SUFFIX):
        folder, images = path, path.with_name(path.name.removesuffix(CASE_SUFFIX))
    else:
        folder, images = case_folder_of([path]), path
    if not (folder / MANIFEST).is_file():
        print_error(
            "measure",
            f"{path}: no saved case (looked for {folder / MANIFEST}); "
            "outline and save in the viewer first",
        )
        return EXIT_FAILED
    try:
        case = load_case(folder)
        tracking = _tracking(case, images)
        if args.criteria:
            tracking.set_criteria(args.criteria)
        if args.baseline:
            tracking.set_baseline(args.baseline)
        columns, _, assessment = tracking.assess()
    except (IntervalError, OSError, ValueError) as exc:
        print_error("measure", str(exc))
        return EXIT_FAILED
    if args.baseline and args.baseline not in [c.label for c in columns]:
        print_warning(f"no visit {args.baseline} with outlines; the criteria's baseline was used")
    names = {lesion.number: lesion.name for lesion in case.lesions}
    if args.json:
        json.dump(as_json(tracking, columns, assessment, names), sys.stdout, indent=1)
        print()
    elif args.csv:
        write_csv(tracking, columns, assessment, names)
    else:
        print_text(tracking, columns, assessment, names)
    return EXIT_OK


def _tracking(case: Case, images: Path) -> Tracking:
    """A Tracking on the saved case, with the images read for intensities and slice thickness."""
    volumes: dict[str, Volume] = {}
    if images.exists():
        catalog = scan_paths([images])
        for entry in catalog.all_series():
            if entry.key in case.labels:
                try:
                    volumes[entry.key] = load_series(entry)
                except IntervalError as exc:
                    print_warning(f"{exc} (measured without its intensities)")
    else:
        catalog = Catalog()
        print_warning(f"{images}: images not found; visits cannot be dated")
    notes = Annotations()
    notes.restore(case.lesions, case.labels, {})
    transforms = {
        r.series_key: r.transform.moving2reference
        for r in case.registrations
        if r.transform.kind != "identity"
    }
    tracking = Tracking(
        notes,
        lambda: catalog,
        volumes.get,
        lambda: case.series,
        transforms.get,
    )
    tracking.restore(case.assessment, case.events)
    return tracking


def _rows(
    tracking: Tracking,
    columns: list[VisitColumn],
    assessment: Assessment | None,
    names: dict[int, str],
) -> list[dict[str, Any]]:
    targets = set(assessment.targets) if assessment is not None else set()
    rows = []
    for column in columns:
        for number, m in sorted(column.measurements.items()):
            rows.append(_row(tracking, column, number, m, names, number in targets))
    return rows


def _row(
    tracking: Tracking,
    column: VisitColumn,
    number: int,
    m: LesionMeasurement,
    names: dict[int, str],
    target: bool,
) -> dict[str, Any]:
    d = m.diameters
    measurable, why = is_measurable(m, tracking.criteria)
    return {
        "visit": column.label,
        "series": column.series_key,
        "lesion": number,
        "lesion_name": names.get(number, f"L{number}"),
        "volume_ml": round(m.volume_ml, 4),
        "longest_mm": None if d is None else round(d.longest_mm, 2),
        "perpendicular_mm": None if d is None else round(d.perpendicular_mm, 2),
        "product_mm2": None if d is None else round(d.product_mm2, 1),
        "axial_slice": None if d is None else d.slice_index,
        "slices_spanned": m.slices_spanned,
        "mean_intensity": _number(m.mean_intensity),
        "max_intensity": _number(m.max_intensity),
        "intensity_units": m.intensity_units,
        "centroid_patient_mm": [round(v, 2) for v in m.centroid_patient_mm],
        "centroid_reference_mm": [round(v, 2) for v in m.centroid_reference_mm],
        "measurable": measurable,
        "measurable_reason": why,
        "target": target,
    }


def _number(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), 2)


def as_json(
    tracking: Tracking,
    columns: list[VisitColumn],
    assessment: Assessment | None,
    names: dict[int, str],
) -> dict[str, Any]:
    """The measurements and the response as the documented JSON object."""
    criteria = tracking.criteria
    visits = []
    if assessment is not None:
        for response in assessment.visits:
            visits.append(
                {
                    "visit": response.label,
                    "date": response.date.isoformat(),
                    "sum": _number(response.sum_value),
                    "sum_unit": response.unit,
                    "change_from_baseline": _number(response.change_from_baseline),
                    "change_from_nadir": _number(response.change_from_nadir),
                    "nadir": _number(response.nadir_value),
                    "nadir_visit": response.nadir_label,
                    "new_lesions": list(response.new_lesions),
                    "category": response.category,
                    "status": response.status,
                    "reasons": list(response.reasons),
                }
            )
    return {
        "schema": SCHEMA,
        "version": SCHEMA_VERSION,
        "criteria": {"key": criteria.key, "name": criteria.name, "reference": criteria.reference},
        "baseline": (
            None if assessment is None else assessment.visits[assessment.baseline_index].label
        ),
        "targets": [] if assessment is None else list(assessment.targets),
        "measurements": _rows(tracking, columns, assessment, names),
        "visits": visits,
    }


def write_csv(
    tracking: Tracking,
    columns: list[VisitColumn],
    assessment: Assessment | None,
    names: dict[int, str],
) -> None:
    """One row per lesion and visit; units in the column names."""
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in _rows(tracking, columns, assessment, names):
        flat = dict(row)
        for prefix in ("centroid_patient", "centroid_reference"):
            for axis, value in zip("xyz", flat.pop(f"{prefix}_mm"), strict=True):
                flat[f"{prefix}_{axis}_mm"] = value
        writer.writerow(["" if flat[c] is None else flat[c] for c in CSV_COLUMNS])


def print_text(
    tracking: Tracking,
    columns: list[VisitColumn],
    assessment: Assessment | None,
    names: dict[int, str],
) -> None:
    """A readable table per visit, then the response and its reasons."""
    criteria = tracking.criteria
    print(f"Criteria: {criteria.name} ({criteria.reference})")
    if assessment is None:
        print("No visit has outlines.")
        return
    print(f"Baseline: {assessment.visits[assessment.baseline_index].label}; targets: "
          f"{', '.join(names.get(n, f'L{n}') for n in assessment.targets) or 'none'}")  # fmt: skip
    responses = {r.label: r for r in assessment.visits}
    for column in columns:
        print(f"\n{column.label}")
        for number, m in sorted(column.measurements.items()):
            d = m.diameters
            sizes = (
                f"{d.longest_mm:5.1f} x {d.perpendicular_mm:5.1f} mm = {d.product_mm2:7.0f} mm2"
                if d is not None
                else "no diameters"
            )
            flag = "*" if number in assessment.targets else " "
            print(f"  {flag}{names.get(number, f'L{number}'):<24} {m.volume_ml:8.2f} mL  {sizes}")
        response = responses.get(column.label)
        if response is not None:
            status = f" ({response.status})" if response.status else ""
            print(f"  -> {response.category}{status}")
            for reason in response.reasons:
                print(f"     {reason}")
    print("\n* target lesion")
