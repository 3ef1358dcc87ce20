"""Read the voxels of a catalogued series into a :class:`viewer.core.Volume`."""

from __future__ import annotations

from viewer.core.catalog import SeriesEntry
from viewer.core.progress import CancelCheck, ProgressCallback
from viewer.core.volume import Volume
from viewer.io import dicom_volume, nifti
from viewer.io.dicom_volume import FirstSlicesCallback


def load_series(
    entry: SeriesEntry,
    *,
    frame: int = 0,
    progress: ProgressCallback | None = None,
    cancelled: CancelCheck | None = None,
    on_first_slices: FirstSlicesCallback | None = None,
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
    on_first_slices : callable, optional
        For a DICOM series, called in the loading thread with a
        :class:`viewer.io.dicom_volume.PartialVolume` as soon as the middle slice is decoded (see
        :func:`viewer.io.dicom_volume.build_volume`), so that it can be shown before the rest
        arrives. A NIfTI file is read in one piece: it is not called.

    Raises
    ------
    viewer.errors.IntervalError
        A subclass naming the file and the problem (unreadable, bad geometry, unsupported
        compression, too large, cancelled).
    """
    if entry.format == "dicom":
        return dicom_volume.build_volume(
            entry.source, progress=progress, cancelled=cancelled, on_first_slices=on_first_slices
        )
    if entry.format == "nifti":
        return nifti.read_nifti(entry.source, frame=frame)
    raise ValueError(f"unknown series format {entry.format!r}")
