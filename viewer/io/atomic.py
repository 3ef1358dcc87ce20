"""Crash-safe file replacement: a file is either its old or its new content, never a mix.

The recipe (as in SQLite's and git's writers): write a temporary file in the same folder, fsync it,
``os.replace`` it over the target, then fsync the folder so the rename itself reaches the disk.
Temporary names start with :data:`TEMP_PREFIX` so a later open can remove what a killed
process left.
"""

from __future__ import annotations

import errno
import os
import uuid
from pathlib import Path

from viewer.errors import SaveError

TEMP_PREFIX = ".tmp-"
"""Every temporary file Interval writes into a case folder starts with this."""


def temporary_path(target: Path) -> Path:
    """A unique temporary name next to ``target`` (same folder, so the rename is atomic)."""
    return target.with_name(f"{TEMP_PREFIX}{uuid.uuid4().hex[:12]}-{target.name}")


def fsync_file(path: Path) -> None:
    """Flush a written file's data to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_folder(folder: Path) -> None:
    """Flush a folder's entries (creations, renames) to the disk."""
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_bytes_atomic(target: Path, data: bytes) -> None:
    """Replace ``target`` with ``data`` atomically and durably.

    Raises
    ------
    OSError
        Left to the caller (see :func:`save_error`); the temporary file is removed and ``target``
        keeps its old content.
    """
    temporary = temporary_path(target)
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, target)
    except BaseException:
        _remove_quietly(temporary)
        raise
    fsync_folder(target.parent)


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Delete temporary files a killed save left in ``folder``; returns what was removed.

    Only call this while holding the case lock: another process's save in progress uses them.
    """
    removed = []
    try:
        entries = list(folder.iterdir())
    except OSError:
        return removed
    for entry in entries:
        if entry.name.startswith(TEMP_PREFIX) or (
            entry.name.startswith(".") and ".tmp" in entry.name
        ):
            _remove_quietly(entry)
            removed.append(entry)
    return removed


def save_error(exc: OSError, path: Path, doing: str, *, replaced: bool = False) -> SaveError:
    """Translate an OSError into the SaveError a user reads ("disk full", the path, why).

    Parameters
    ----------
    exc : OSError
    path : Path
        The file or folder being written; named in the message.
    doing : str
        What was being done, e.g. ``"writing the manifest"``.
    replaced : bool
        The new file was already renamed into place (only flushing the folder failed).
    """
    code = exc.errno
    if code in (errno.ENOSPC, errno.EDQUOT):
        reason = "disk full (no space left on the device)"
    elif code in (errno.EACCES, errno.EPERM, errno.EROFS) or isinstance(exc, PermissionError):
        reason = "no permission to write here (read-only folder or disk?)"
    elif code == errno.ENOENT or isinstance(exc, FileNotFoundError):
        reason = "the folder no longer exists (removed or unmounted?)"
    else:
        reason = exc.strerror or str(exc)
    outcome = (
        "the new version is in place but the disk did not confirm it is stored: save again"
        if replaced
        else "the previous version is unchanged"
    )
    return SaveError(f"{doing} failed: {reason}; {outcome}", path)


def _remove_quietly(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass  # best effort: a leftover temporary is removed on the next open
