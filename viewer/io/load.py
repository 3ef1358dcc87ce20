"""Read the voxels of a catalogued series into a :class:`viewer.core.Volume`."""

from __future__ import annotations

from viewer.core.catalog import SeriesEntry
from viewer.core.progress import CancelCheck, ProgressCallback
from viewer.core.volume import Volume
from viewer.io import dicom_volume, nifti


def load_series(
    entry: SeriesEntry,
    *,
    frame: int = 0,
    progress: ProgressCallback | None = None,
    cancelled: CancelCheck | None = None,
) -> Volume:
    """Load one series as a volume in patient space.

    Parameters
    ----------
    entry : SeriesEntry
        From :func:`viewer.io.scan_paths`.
    frame : int, optional
        Which 3-D frame of a 4-D series (``0 <= frame < entry.frames``).
    progress, cancelled : callable, optional
        See :mod:`viewer.core.progress`.

    Raises
    ------
    viewer.errors.IntervalError
        A subclass naming the file and the problem (unreadable, bad geometry, unsupported
        compression, too large, cancelled).
    """
    if entry.format == "dicom":
        return dicom_volume.build_volume(entry.source, progress=progress, cancelled=cancelled)
    if entry.format == "nifti":
        return nifti.read_nifti(entry.source, frame=frame)
    raise ValueError(f"unknown series format {entry.format!r}")
