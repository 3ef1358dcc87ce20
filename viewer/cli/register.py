"""``interval register FIXED MOVING -o OUT.tfm``: register two series and write an ITK transform.

The transform file follows ITK's convention, which SimpleITK and 3D Slicer share: it maps points
of the FIXED image's patient space (LPS mm) to the MOVING image's, Interval's
``reference2moving``. That is the direction resampling the moving image onto the fixed grid
needs (``sitk.Resample(moving, fixed, sitk.ReadTransform(OUT.tfm))``). Interval's own
``moving2reference`` is its inverse.
"""

from __future__ import annotations

import argparse
import os
import sys

import SimpleITK as sitk

from viewer.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    print_choices,
    print_error,
    print_warning,
)
from viewer.cli.convert import SeriesChoiceError, choose_series
from viewer.core.catalog import SeriesEntry
from viewer.core.progress import ProgressCallback
from viewer.errors import IntervalError, SaveError
from viewer.io import load_series, scan_paths
from viewer.io.nifti import write_nifti
from viewer.registration import RegistrationResult, register
from viewer.registration.landmarks import rotation_angle_deg, rotation_angles_deg
from viewer.registration.sitk_bridge import reference2moving_to_sitk, resample_onto


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``register`` subcommand."""
    parser = subparsers.add_parser(
        "register",
        help="register one series to another and write an ITK transform file (.tfm)",
        description=(
            "Scan FIXED and MOVING, pick one series in each (as 'interval convert' does; choose "
            "with --fixed-series/--moving-series when a path holds several), register MOVING to "
            "FIXED (Mattes mutual information, multi-resolution; CT and MRI in any combination) "
            "and write the transform as an ITK transform file, read by SimpleITK "
            "(sitk.ReadTransform) and 3D Slicer. ITK's convention: the file maps FIXED patient "
            "coordinates (LPS mm) to MOVING ones, which is what resampling MOVING onto FIXED's "
            "grid needs. Prints the rotation (degrees) and translation (mm) of MOVING -> FIXED, "
            "the metric, iterations and time. Exit code 0 on success, 1 on failure, 2 on a "
            "wrong command line."
        ),
    )
    parser.add_argument("fixed", metavar="FIXED", help="folder or file of the reference series")
    parser.add_argument("moving", metavar="MOVING", help="folder or file of the series to align")
    parser.add_argument(
        "-o", "--output", metavar="OUT.tfm", required=True, help="transform file to write"
    )
    parser.add_argument(
        "--type",
        choices=("rigid", "affine"),
        default="rigid",
        help="rigid (6 degrees of freedom, default) or affine (12, after a rigid stage)",
    )
    parser.add_argument(
        "--resampled",
        metavar="OUT.nii.gz",
        help="also write MOVING resampled onto FIXED's grid (trilinear) as NIfTI",
    )
    parser.add_argument("--fixed-series", metavar="UID-or-number", help="series within FIXED")
    parser.add_argument("--moving-series", metavar="UID-or-number", help="series within MOVING")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run ``interval register``; returns the exit code."""
    if not args.output.lower().endswith((".tfm", ".txt", ".mat", ".h5", ".hdf5")):
        print_error("register", f"{args.output}: the transform file must end in .tfm (or .h5)")
        return EXIT_USAGE
    if args.resampled and not args.resampled.lower().endswith((".nii", ".nii.gz")):
        print_error("register", f"{args.resampled}: --resampled must end in .nii or .nii.gz")
        return EXIT_USAGE
    for path in (args.fixed, args.moving):
        if not os.path.exists(path):
            print_error("register", f"{path}: no such file or folder")
            return EXIT_FAILED
    for path in filter(None, (args.output, args.resampled)):
        # Checked now rather than after a registration that would then be lost.
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            print_error("register", f"{path}: the folder {folder} does not exist")
            return EXIT_FAILED
    progress = _progress_printer()
    try:
        fixed_entry = _choose(args.fixed, args.fixed_series, "--fixed-series")
        moving_entry = _choose(args.moving, args.moving_series, "--moving-series")
        fixed = load_series(fixed_entry)
        moving = load_series(moving_entry)
        result = register(fixed, moving, kind=args.type, progress=progress)
        _write_transform(result, args.output)
        if args.resampled:
            write_nifti(resample_onto(moving, fixed, result.transform), args.resampled)
    except SeriesChoiceError as exc:
        print_choices("register", str(exc))
        return EXIT_FAILED
    except KeyError as exc:
        print_error("register", f"series: {exc.args[0]}")
        return EXIT_FAILED
    except (IntervalError, OSError, RuntimeError) as exc:
        print_error("register", str(exc))
        return EXIT_FAILED
    finally:
        if progress is not None:
            print(file=sys.stderr)  # end the progress line
    for volume, entry in ((fixed, fixed_entry), (moving, moving_entry)):
        for warning in dict.fromkeys(volume.metadata.warnings + entry.warnings):
            print_warning(warning, [args.fixed, args.moving])
    _print_result(result, fixed_entry.description, moving_entry.description, args)
    return EXIT_OK


def _choose(path: str, wanted: str | None, option: str) -> SeriesEntry:
    """Scan ``path`` and pick its series as ``interval convert`` does, naming our option."""
    try:
        return choose_series(scan_paths([path]), wanted, path)
    except SeriesChoiceError as exc:
        raise SeriesChoiceError(str(exc).replace("--series", option)) from None


def _progress_printer() -> ProgressCallback | None:
    """A progress callback that redraws one status line on a terminal, and is silent otherwise."""
    if not sys.stderr.isatty():
        return None

    def show(done: int, total: int, message: str) -> None:
        percent = 100 * done // total if total else 0
        print(f"\r{percent:3d}% {message:<60.60}", end="", file=sys.stderr, flush=True)

    return show


def _write_transform(result: RegistrationResult, path: str) -> None:
    """Write the fixed -> moving ITK transform to ``path`` (a SaveError names the file)."""
    try:
        sitk.WriteTransform(reference2moving_to_sitk(result.transform), path)
    except RuntimeError as exc:
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else "write failed"
        raise SaveError(f"cannot write the transform ({reason})", path) from exc


def _print_result(
    result: RegistrationResult, fixed_name: str, moving_name: str, args: argparse.Namespace
) -> None:
    """Print what was found, in the units a reader expects."""
    transform = result.transform
    matrix = transform.moving2reference
    print(f"registered MOVING {moving_name!r} to FIXED {fixed_name!r}: {result.method}")
    if transform.kind == "rigid":
        ax, ay, az = rotation_angles_deg(transform)
        print(
            f"  rotation MOVING -> FIXED: {rotation_angle_deg(transform):.2f} degrees in all; "
            f"about x {ax:+.2f}, y {ay:+.2f}, z {az:+.2f} degrees (LPS axes, Rz @ Ry @ Rx)"
        )
    else:
        rows = "; ".join(" ".join(f"{v:+.5f}" for v in row) for row in matrix[:3, :3])
        print(f"  linear part MOVING -> FIXED: [{rows}]")
    tx, ty, tz = matrix[:3, 3]
    print(f"  translation MOVING -> FIXED: x {tx:+.2f}, y {ty:+.2f}, z {tz:+.2f} mm (LPS)")
    print(
        f"  metric {result.metric_value:.4f} (Mattes mutual information, lower is better), "
        f"{result.iterations} iterations, {result.elapsed_s:.1f} s"
    )
    print(
        f"wrote {args.output}: ITK {reference2moving_to_sitk(transform).GetName()}, maps FIXED "
        "patient coordinates (LPS mm) to MOVING ones (resample MOVING onto FIXED with it)"
    )
    if args.resampled:
        print(f"wrote {args.resampled}: MOVING resampled onto FIXED's grid (trilinear)")
