"""The few exception types a user can meet.

Each is raised in the model with a message that names the file (or DICOM tag) and the problem,
and is shown only at the UI boundary as a readable message. They subclass built-ins so callers
that do not know Interval can still catch them sensibly.
"""

from __future__ import annotations

from os import PathLike


class IntervalError(Exception):
    """Base class of every error Interval raises on purpose.

    Parameters
    ----------
    message : str
        What went wrong and, where it helps, what to do about it.
    path : str or PathLike, optional
        The file or folder the problem is in; prefixed to the message.
    """

    def __init__(self, message: str, path: str | PathLike[str] | None = None) -> None:
        self.path = None if path is None else str(path)
        self.reason = message
        super().__init__(f"{self.path}: {message}" if self.path else message)


class UnreadableFileError(IntervalError, ValueError):
    """A file is not an image Interval can read (not DICOM/NIfTI, truncated, corrupt)."""


class UnsupportedCompressionError(UnreadableFileError):
    """Pixel data uses a transfer syntax no installed decoder handles."""


class InvalidGeometryError(IntervalError, ValueError):
    """Geometry tags or header fields are missing or unusable (no position, zero spacing...)."""


class IncompleteSeriesError(IntervalError, ValueError):
    """A series cannot be assembled into a volume (broken slices, nothing left to show)."""


class RegistrationError(IntervalError, ValueError):
    """Automatic registration cannot work on these images (e.g. one shows no head at all)."""


class MemoryBudgetError(IntervalError, MemoryError):
    """Loading would exceed the memory budget; the message says how much was needed."""


class CaseFileError(IntervalError, ValueError):
    """A case file is corrupt, of an unknown version, or does not match the loaded images."""


class SaveError(IntervalError, OSError):
    """Writing a file failed (disk full, read-only folder, folder gone); the old file is intact."""


class OperationCancelled(IntervalError):
    """The user cancelled a long operation; nothing was changed."""
