"""``interval measure CASE [--criteria KEY] [--baseline DATE] [--json|--csv]``: the response.

Reads the case saved beside the images (or the ``*.interval`` case folder itself), measures every
lesion at every visit on its own grid, and prints the response per visit by the chosen criteria,
with its reasons. The JSON and CSV forms (``viewer.export.tables``) are documented in
``docs/cli-measure.md``; like every export they are in teaching mode unless asked otherwise:
"Day N" visit labels, no real dates, no UIDs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from viewer.analysis.criteria import CRITERIA
from viewer.cli.case_input import NoSavedCase, open_case
from viewer.cli.common import EXIT_FAILED, EXIT_OK, print_error, print_warning
from viewer.errors import IntervalError
from viewer.export.privacy import Privacy
from viewer.export.tables import CaseTable, as_json, case_table, write_csv


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``measure`` subcommand."""
    parser = subparsers.add_parser(
        "measure",
        help="measure every lesion at every visit and give the response by the criteria",
        description=(
            "Read the case saved for CASE (the images' folder, or its .interval case folder), "
            "measure each outlined lesion on each visit's own grid (volume in mL, axial "
            "diameters in mm, product in mm2) and assess the response per visit by the chosen "
            "criteria, with the reasons. Visits are labelled 'Day N' from the first visit "
            "unless --real-dates is given. Exit code 0 on success, 1 when there is no saved "
            "case or it cannot be read."
        ),
    )
    parser.add_argument("case", metavar="CASE", help="the images' folder or the case folder")
    add_case_options(parser)
    form = parser.add_mutually_exclusive_group()
    form.add_argument("--json", action="store_true", help="print JSON (docs/cli-measure.md)")
    form.add_argument("--csv", action="store_true", help="print CSV, one row per lesion and visit")
    parser.set_defaults(run=run)


def add_case_options(parser: argparse.ArgumentParser) -> None:
    """The options ``measure`` and ``report`` share: criteria, baseline and privacy."""
    parser.add_argument(
        "--criteria",
        choices=sorted(CRITERIA),
        help="criteria to assess by (default: the case's choice, else rano2)",
    )
    parser.add_argument(
        "--baseline", metavar="DATE", help="baseline visit, e.g. 1995-07-01 (default: the rule)"
    )
    parser.add_argument(
        "--real-dates",
        action="store_true",
        help="label visits by their real dates (default: 'Day N' from the first visit)",
    )


def run(args: argparse.Namespace) -> int:
    """Run ``interval measure``; returns the exit code."""
    table = assessed_table(args, "measure", Privacy(real_dates=args.real_dates))
    if table is None:
        return EXIT_FAILED
    if args.json:
        json.dump(as_json(table), sys.stdout, indent=1)
        print()
    elif args.csv:
        write_csv(table, sys.stdout)
    else:
        print_text(table)
    return EXIT_OK


def assessed_table(args: argparse.Namespace, command: str, privacy: Privacy) -> CaseTable | None:
    """Open CASE, apply ``--criteria`` and ``--baseline``, and measure; None after an error."""
    try:
        opened = open_case(Path(args.case))
        tracking = opened.tracking
        if args.criteria:
            tracking.set_criteria(args.criteria)
        if args.baseline:
            tracking.set_baseline(args.baseline)
        numbers = {e.key: e.series_number for e in opened.catalog.all_series()}
        table = case_table(tracking, privacy, numbers)
    except (NoSavedCase, IntervalError, OSError, ValueError) as exc:
        print_error(command, str(exc))
        return None
    if args.baseline and args.baseline not in [c.label for c in table.columns]:
        print_warning(f"no visit {args.baseline} with outlines; the criteria's baseline was used")
    return table


def print_text(table: CaseTable) -> None:
    """A readable table per visit, then the response and its reasons."""
    criteria, assessment = table.criteria, table.assessment
    print(f"Criteria: {criteria.name} ({criteria.reference})")
    if assessment is None:
        print("No visit has outlines.")
        return
    baseline = assessment.visits[assessment.baseline_index]
    targets = ", ".join(table.lesion_name(n) for n in assessment.targets) or "none"
    print(f"Baseline: {table.visit_label(baseline.date)}; targets: {targets}")
    responses = {r.label: r for r in assessment.visits}
    for column in table.columns:
        print(f"\n{table.visit_label(column.date)}")
        for number, m in sorted(column.measurements.items()):
            d = m.diameters
            sizes = (
                f"{d.longest_mm:5.1f} x {d.perpendicular_mm:5.1f} mm = {d.product_mm2:7.0f} mm2"
                if d is not None
                else "no diameters"
            )
            flag = "*" if number in assessment.targets else " "
            print(f"  {flag}{table.lesion_name(number):<24} {m.volume_ml:8.2f} mL  {sizes}")
        response = responses.get(column.label)
        if response is not None:
            status = f" ({response.status})" if response.status else ""
            print(f"  -> {response.category}{status}")
            for reason in response.reasons:
                print(f"     {table.text(reason)}")
    print("\n* target lesion")
