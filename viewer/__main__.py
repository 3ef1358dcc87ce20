"""``python -m viewer`` / ``interval``: run a headless command, or open the viewer.

``interval info ...`` and the other subcommands run without importing Qt. Anything else is a list
of folders or files to open in the viewer; with none, the demo case opens.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import viewer
from viewer.cli.common import EXIT_FAILED, EXIT_USAGE
from viewer.cli.main import COMMANDS, run_command

QT_DEBIAN_PACKAGES = "libglib2.0-0 libgl1 libegl1 libxkbcommon0 libfontconfig1 libdbus-1-3"


def demo_case_path() -> Path:
    """Folder of the demo case's DICOM files: ``<repository>/sample_scans/demo_case/dicom``."""
    return Path(viewer.__file__).resolve().parents[1] / "sample_scans" / "demo_case" / "dicom"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``interval`` console script.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name; ``sys.argv[1:]`` by default.

    Returns
    -------
    int
        Exit code: 0 success, 1 failure, 2 wrong command line.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if args and (args[0] in COMMANDS or args[0].startswith("-")):
        return run_command(args)
    options = [a for a in args if a.startswith("-")]
    if options:
        print(
            f"interval: error: unknown option {options[0]} (see interval --help)", file=sys.stderr
        )
        return EXIT_USAGE
    missing = [a for a in args if not Path(a).exists()]
    if missing:
        commands = ", ".join(COMMANDS)
        for path in missing:
            print(
                f"interval: error: {path}: no such file or folder "
                f"(commands are: {commands}; see interval --help)",
                file=sys.stderr,
            )
        return EXIT_FAILED
    paths = args or [str(demo_case_path())]
    if not args and not demo_case_path().is_dir():
        print(
            f"interval: error: the demo case is missing ({demo_case_path()}); generate it with "
            "'python sample_scans/generate_demo.py', or open your own folder: interval PATH",
            file=sys.stderr,
        )
        return EXIT_FAILED
    try:
        from viewer.ui.app import run_app  # Qt is imported only when a window is wanted
    except ImportError as exc:  # typically Qt's system libraries missing on a bare machine
        print(
            f"interval: error: the viewer window cannot start ({exc}); on Debian/Ubuntu Qt needs "
            f"{QT_DEBIAN_PACKAGES} (see README.md); headless commands still work: interval --help",
            file=sys.stderr,
        )
        return EXIT_FAILED
    return run_app(paths)


if __name__ == "__main__":
    sys.exit(main())
