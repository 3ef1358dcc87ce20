"""``interval report CASE [-o report.pdf] [--criteria KEY] [--case-label TEXT]``: the PDF report.

Opens the case as ``interval measure`` does and writes the report of
:func:`viewer.export.report.write_report`, in teaching mode unless ``--real-dates`` is given: the
case label instead of the patient, visits as "Day N".
"""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

from viewer.cli.case_input import NoSavedCase, open_case
from viewer.cli.common import EXIT_FAILED, EXIT_OK, print_error
from viewer.cli.measure import add_case_options
from viewer.errors import IntervalError
from viewer.export.privacy import Privacy
from viewer.export.report import write_report

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``report`` subcommand."""
    parser = subparsers.add_parser(
        "report",
        help="write the case's PDF report: lesions, response, timeline, key images",
        description=(
            "Read the case saved for CASE (the images' folder, or its .interval case folder) and "
            "write a PDF report: criteria, baseline and nadir, every lesion by visit, the "
            "response per visit with its reasons, the timeline, each lesion's key image at each "
            "visit with its caliper lines, registrations and provenance. No patient identity is "
            "written: the case is named by --case-label. Exit code 0 on success, 1 when there is "
            "no saved case or it cannot be read or written."
        ),
    )
    parser.add_argument("case", metavar="CASE", help="the images' folder or the case folder")
    parser.add_argument(
        "-o",
        "--output",
        metavar="PDF",
        help="the PDF to write (default: <case label>_report.pdf in the current folder)",
    )
    parser.add_argument(
        "--case-label", default="Case", metavar="TEXT", help="the case's name in the report"
    )
    add_case_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run ``interval report``; returns the exit code."""
    privacy = Privacy(real_dates=args.real_dates, case_label=args.case_label)
    stem = _UNSAFE.sub("_", args.case_label).strip("_") or "Case"
    output = Path(args.output) if args.output else Path(f"{stem}_report.pdf")
    started = time.perf_counter()
    try:
        opened = open_case(Path(args.case))
        tracking = opened.tracking
        if args.criteria:
            tracking.set_criteria(args.criteria)
        if args.baseline:
            tracking.set_baseline(args.baseline)
        write_report(
            tracking,
            args.case_label,
            output,
            privacy=privacy,
            volumes=opened.volumes,
            series_numbers={e.key: e.series_number for e in opened.catalog.all_series()},
            registrations=opened.case.registrations,
        )
    except (NoSavedCase, IntervalError, OSError, ValueError) as exc:
        print_error("report", str(exc))
        return EXIT_FAILED
    print(f"{output} written in {time.perf_counter() - started:.1f} s")
    return EXIT_OK
