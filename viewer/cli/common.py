"""Helpers shared by the headless commands: one-line errors and the exit codes."""

from __future__ import annotations

import sys

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


def print_warning(message: str) -> None:
    """Print ``warning: <message>`` on standard error."""
    print(f"warning: {' '.join(str(message).split())}", file=sys.stderr)


def print_choices(command: str, message: str) -> None:
    """Print a multi-line message: its first line as the error, the rest (the choices) below."""
    first, *choices = message.split("\n")
    print_error(command, first)
    for line in choices:
        print(line, file=sys.stderr)
