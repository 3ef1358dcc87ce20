"""Helpers shared by the headless commands: one-line errors and the exit codes.

Standard error is where batch jobs keep their logs, so a warning never names the folders above
the one the reader gave on the command line (a folder named after the patient is common, and so
is a tree under the hospital's or the study's name): files inside it are named relative to it
(RELIABILITY D36).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable

EXIT_OK = 0
EXIT_FAILED = 1
"""Nothing usable was found, or the command failed (the reason is printed on one line)."""
EXIT_USAGE = 2
"""The command line itself is wrong (argparse's convention)."""
EXIT_INTERRUPTED = 130
"""Stopped with Ctrl+C (the shell's convention: 128 + SIGINT)."""


def print_error(command: str, message: str) -> None:
    """Print ``interval <command>: error: <message>`` on one line of standard error."""
    one_line = " ".join(str(message).split())
    print(f"interval {command}: error: {one_line}", file=sys.stderr)


def print_warning(message: str, roots: Iterable[str | os.PathLike[str]] = ()) -> None:
    """Print ``warning: <message>`` on standard error, paths inside ``roots`` relative to them."""
    text = relative_to(str(message), roots)
    print(f"warning: {' '.join(text.split())}", file=sys.stderr)


def relative_to(message: str, roots: Iterable[str | os.PathLike[str]]) -> str:
    """The message with each path inside one of ``roots`` written relative to that root.

    A root named on its own becomes ``.``. Absolute and resolved forms of each root are matched,
    and the form given (relative to the working folder) when a path inside it follows.

    Examples
    --------
    >>> relative_to("/data/SMITH_J/ct/IM1: truncated; /data/SMITH_J: 3 files", ["/data/SMITH_J"])
    'ct/IM1: truncated; .: 3 files'
    >>> relative_to("/data/SMITH_JO/IM1", ["/data/SMITH_J"])
    '/data/SMITH_JO/IM1'
    """
    for root in roots:
        given = os.fspath(root).rstrip(os.sep)
        absolute = {os.path.abspath(given), os.path.realpath(given)} - {os.sep}
        for form in sorted(absolute, key=len, reverse=True):
            inside = re.escape(form) + "(" + re.escape(os.sep) + r"|(?![^\s:;,'\")\]]))"
            message = re.sub(inside, lambda m: "" if m.group(1) else ".", message)
        if given and not os.path.isabs(given):
            message = re.sub(r"(?<![\w./-])" + re.escape(given + os.sep), "", message)
    return message


def print_choices(command: str, message: str) -> None:
    """Print a multi-line message: its first line as the error, the rest (the choices) below."""
    first, *choices = message.split("\n")
    print_error(command, first)
    for line in choices:
        print(line, file=sys.stderr)
