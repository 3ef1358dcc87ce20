"""``interval convert PATH OUT.nii.gz [--series UID-or-number]``: one series to NIfTI."""

from __future__ import annotations

import argparse
import os

from viewer.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    print_choices,
    print_error,
    print_warning,
)
from viewer.core.catalog import Catalog, SeriesEntry
from viewer.errors import IntervalError
from viewer.io import load_series, scan_paths
from viewer.io.nifti import write_nifti


class SeriesChoiceError(Exception):
    """Which series to use is not determined; the message lists the candidates."""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``convert`` subcommand."""
    parser = subparsers.add_parser(
        "convert",
        help="write one series as a NIfTI file (.nii or .nii.gz)",
        description=(
            "Scan PATH, pick one series and write it as NIfTI with its world geometry (RAS, mm) "
            "and real voxel values (rescaled, e.g. HU for CT). With several series, choose one "
            "with --series. The volume's warnings are printed. Exit code 0 on success, 1 on "
            "failure (one line naming the problem), 2 on a wrong command line."
        ),
    )
    parser.add_argument("path", metavar="PATH", help="folder or file to scan")
    parser.add_argument("output", metavar="OUT.nii.gz", help="file to write (.nii or .nii.gz)")
    parser.add_argument(
        "--series",
        metavar="UID-or-number",
        help="SeriesNumber, SeriesInstanceUID or series key (see interval info)",
    )
    parser.add_argument(
        "--frame", type=int, default=0, help="frame of a 4-D NIfTI series (default: 0)"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run ``interval convert``; returns the exit code."""
    if not args.output.lower().endswith((".nii", ".nii.gz")):
        print_error("convert", f"{args.output}: the output must end in .nii or .nii.gz")
        return EXIT_USAGE
    if not os.path.exists(args.path):
        print_error("convert", f"{args.path}: no such file or folder")
        return EXIT_FAILED
    try:
        catalog = scan_paths([args.path])
        entry = choose_series(catalog, args.series, args.path)
        volume = load_series(entry, frame=args.frame)
        write_nifti(volume, args.output)
    except SeriesChoiceError as exc:
        print_choices("convert", str(exc))
        return EXIT_FAILED
    except KeyError as exc:
        print_error("convert", f"--series {exc.args[0]}")
        return EXIT_FAILED
    except (IntervalError, OSError, IndexError) as exc:
        print_error("convert", str(exc))
        return EXIT_FAILED
    for warning in dict.fromkeys(volume.metadata.warnings + entry.warnings):
        print_warning(warning, [args.path])
    slices, rows, columns = volume.shape
    spacing = " x ".join(f"{v:.4g}" for v in volume.spacing[[1, 2, 0]])
    print(
        f"wrote {args.output}: {entry.modality or 'image'} {entry.description!r}, "
        f"{rows} x {columns} x {slices} (rows x columns x slices), {spacing} mm, "
        f"{volume.array.dtype}"
    )
    return EXIT_OK


def choose_series(catalog: Catalog, wanted: str | None, path: str) -> SeriesEntry:
    """Pick the series to convert: ``wanted`` if given, else the only (non-localizer) series.

    Raises
    ------
    KeyError
        ``wanted`` matches no series or several (the message lists them).
    SeriesChoiceError
        No series, or several and nothing chosen.
    """
    if wanted is not None:
        return catalog.find_series(wanted)
    series = catalog.all_series()
    candidates = [s for s in series if not s.is_localizer] or series
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        skipped = (
            f" ({len(catalog.skipped)} files skipped: see interval info)" if catalog.skipped else ""
        )
        raise SeriesChoiceError(f"{path}: no image series found{skipped}")
    listing = "\n".join(
        f"  {s.series_number if s.series_number is not None else '-':>5}  {s.modality or '?':<3} "
        f"{s.description!r} ({s.shape[1]} x {s.shape[2]} x {s.shape[0]})  key {s.key}"
        for s in candidates
    )
    raise SeriesChoiceError(
        f"{path} holds {len(candidates)} series; choose one with --series NUMBER, UID or key:\n"
        f"{listing}"
    )
