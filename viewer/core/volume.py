"""Volume: a voxel array that never travels without its voxel->patient affine and metadata."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from viewer.core.geometry import apply_affine, axis_codes, voxel_spacing


@dataclass(frozen=True)
class VolumeMetadata:
    """What is known about where a volume came from.

    Identifying fields (``patient_*``) are kept for sorting visits and are removed by every export
    unless the user asks otherwise.
    """

    modality: str = ""
    """DICOM Modality, e.g. ``"CT"`` or ``"MR"``; ``""`` when unknown (NIfTI)."""
    description: str = ""
    """SeriesDescription (or the NIfTI file name)."""
    units: str = ""
    """Unit of the voxel values after rescaling: ``"HU"`` for CT, ``""`` for arbitrary MR units."""
    series_instance_uid: str = ""
    series_number: int | None = None
    study_instance_uid: str = ""
    study_date: dt.date | None = None
    study_description: str = ""
    acquisition_datetime: dt.datetime | None = None
    frame_of_reference_uid: str = ""
    patient_id: str = ""
    patient_name: str = ""
    patient_birth_date: dt.date | None = None
    slice_thickness_mm: float | None = None
    """Nominal SliceThickness; the distance between slices comes from the affine, not from here."""
    contrast_agent: str = ""
    """ContrastBolusAgent (``"yes"`` when only its presence is known); ``""`` if none."""
    acquisition: Mapping[str, Any] = field(default_factory=dict)
    """Other acquisition parameters by DICOM keyword (RepetitionTime, EchoTime, KVP...)."""
    source_paths: tuple[str, ...] = ()
    """Files the voxels were read from, in slice order."""
    warnings: tuple[str, ...] = ()
    """Problems a reader must see (gaps, tilt resampling, rescale oddities...)."""
    incomplete_slices: tuple[int, ...] = ()
    """Indices along axis 0 whose pixel data could not be read; those slices hold no data and are
    flagged, never shown as if black were real."""


@dataclass(frozen=True, eq=False)
class Volume:
    """A 3-D image in patient space.

    Parameters
    ----------
    array : ndarray of shape (Z, Y, X)
        Voxel values indexed ``(slice, row, column)``, already rescaled to real units (HU for CT).
        Integer dtypes (int16) are kept where the rescale is exact; float32 otherwise; never
        float64.
    voxel2patient : ndarray of shape (4, 4)
        Maps ``(slice, row, column, 1)`` to the voxel centre in DICOM patient coordinates (LPS, mm).
    metadata : VolumeMetadata

    Notes
    -----
    Operations return new volumes; the array is made read-only so a shared volume cannot be changed
    behind the views that show it.
    """

    array: np.ndarray
    voxel2patient: np.ndarray
    metadata: VolumeMetadata = field(default_factory=VolumeMetadata)

    def __post_init__(self) -> None:
        if self.array.ndim != 3:
            raise ValueError(f"a Volume needs a 3-D array, got shape {self.array.shape}")
        affine = np.array(self.voxel2patient, dtype=np.float64)
        if affine.shape != (4, 4) or not np.all(np.isfinite(affine)):
            raise ValueError("voxel2patient must be a finite (4, 4) matrix")
        if abs(np.linalg.det(affine[:3, :3])) < 1e-9:
            raise ValueError("voxel2patient is singular (zero spacing or parallel axes)")
        affine.setflags(write=False)
        object.__setattr__(self, "voxel2patient", affine)
        if self.array.flags.writeable and self.array.flags.owndata:
            self.array.setflags(write=False)

    @property
    def shape(self) -> tuple[int, int, int]:
        """Array shape (Z, Y, X)."""
        return tuple(self.array.shape)  # type: ignore[return-value]

    @property
    def spacing(self) -> np.ndarray:
        """Voxel size along (slice, row, column) in mm, shape (3,)."""
        return voxel_spacing(self.voxel2patient)

    @property
    def patient2voxel(self) -> np.ndarray:
        """Inverse of ``voxel2patient``, shape (4, 4)."""
        return np.linalg.inv(self.voxel2patient)

    @property
    def axis_codes(self) -> str:
        """Patient direction of each array axis, e.g. ``"SPL"``."""
        return axis_codes(self.voxel2patient)

    @property
    def voxel_volume_ml(self) -> float:
        """Volume of one voxel in millilitres."""
        return float(abs(np.linalg.det(self.voxel2patient[:3, :3]))) / 1000.0

    def center_patient(self) -> np.ndarray:
        """Patient coordinates (LPS, mm) of the volume's geometric centre, shape (3,)."""
        return apply_affine(self.voxel2patient, (np.asarray(self.shape) - 1) / 2.0)

    def with_array(self, array: np.ndarray, **metadata_changes: Any) -> Volume:
        """A new volume on the same grid with another array and optional metadata changes."""
        if array.shape != self.array.shape:
            raise ValueError(f"shape {array.shape} does not match the grid {self.array.shape}")
        return Volume(array, self.voxel2patient, replace(self.metadata, **metadata_changes))
