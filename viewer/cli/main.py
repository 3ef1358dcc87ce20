"""The ``interval`` command line: headless subcommands, and a help text covering the viewer too."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from viewer import __version__
from viewer.cli import convert, info, measure, pacs, register, report
from viewer.cli.common import EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE

COMMANDS = {
    "info": info,
    "convert": convert,
    "register": register,
    "measure": measure,
    "report": report,
    "pacs": pacs,
}
"""Subcommand name -> module with ``add_parser(subparsers)``; later commands register here."""

USAGE = """\
interval [PATH ...]
       interval COMMAND [options]"""

DESCRIPTION = """\
Interval: a follow-up viewer for serial brain-tumour CT and MRI.

Two ways to run it:
  interval [PATH ...]       open the viewer on DICOM/NIfTI folders or files
                            (with no PATH: the demo case in sample_scans/demo_case)
  interval COMMAND ...      run a headless command (no window), listed below;
                            'interval COMMAND --help' explains each"""


def build_parser() -> argparse.ArgumentParser:
    """Build the parser of every subcommand, with a help text that lists both modes."""
    parser = argparse.ArgumentParser(
        prog="interval",
        usage=USAGE,
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"interval {__version__}")
    subparsers = parser.add_subparsers(
        title="commands", metavar="COMMAND", dest="command", prog="interval"
    )
    for module in COMMANDS.values():
        module.add_parser(subparsers)
    return parser


def run_command(argv: Sequence[str]) -> int:
    """Parse ``argv`` (without the program name) as a subcommand line and run it.

    Returns
    -------
    int
        The exit code: 0 success, 1 failure or nothing found, 2 wrong command line.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(list(argv))
    except SystemExit as exc:  # --help, --version, or a usage error already printed
        return exc.code if isinstance(exc.code, int) else EXIT_OK
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print(f"interval {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
