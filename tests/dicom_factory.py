"""Write small, valid classic DICOM series for tests (one file per slice), with hooks to break them.

Every test that needs DICOM builds it here from numpy arrays, so fixtures are generated, never
downloaded. Geometry follows the Interval conventions: ``array`` is (slice, row, column).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, MRImageStorage, generate_uid

UID_ROOT = "1.2.826.0.1.3680043.10.1447."  # test-only UIDs, derived deterministically from names


def stable_uid(*parts: object) -> str:
    """A valid UID derived from ``parts`` (same parts, same UID)."""
    return generate_uid(prefix=UID_ROOT, entropy_srcs=[str(p) for p in parts])


def write_series(
    folder: str | Path,
    array: np.ndarray,
    *,
    spacing: Sequence[float] = (2.0, 1.0, 1.0),
    origin: Sequence[float] = (-100.0, -120.0, -40.0),
    orientation: Sequence[float] = (1, 0, 0, 0, 1, 0),
    modality: str = "MR",
    rescale: tuple[float, float] | None = None,
    patient_id: str = "TEST001",
    patient_name: str = "Test^Patient",
    study_date: dt.date = dt.date(2003, 3, 27),
    series_number: int = 1,
    series_description: str = "T1 post-contrast",
    name: str = "series",
    file_names: Callable[[int], str] | None = None,
    mutate: Callable[[int, Dataset], None] | None = None,
) -> list[Path]:
    """Write ``array`` as one classic DICOM file per slice and return the paths in slice order.

    Parameters
    ----------
    folder : path
        Created if needed.
    array : ndarray of shape (Z, Y, X)
        Stored values (before rescale). int16 -> signed, uint16 -> unsigned pixel data.
    spacing : (slice step, row spacing, column spacing) in mm
    origin : IPP of slice 0, LPS mm
    orientation : ImageOrientationPatient (row cosine, column cosine)
    rescale : (slope, intercept), optional
        Written as RescaleSlope/RescaleIntercept; CT defaults to (1, -1024).
    name : str
        Seeds the UIDs, so two calls with different names give different series/studies.
    file_names : callable, optional
        ``index -> file name``; default ``IM{index+1:04d}`` (no extension, as scanners write them).
    mutate : callable, optional
        ``mutate(index, dataset)`` is called before each file is written, to break or vary it.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    array = np.asarray(array)
    if array.dtype not in (np.int16, np.uint16):
        raise TypeError("write int16 or uint16 arrays")
    iop = np.asarray(orientation, dtype=float)
    normal = np.cross(iop[:3], iop[3:])
    if rescale is None and modality == "CT":
        rescale = (1.0, -1024.0)
    sop_class = CTImageStorage if modality == "CT" else MRImageStorage
    study_uid = stable_uid(name, "study", patient_id, study_date)
    series_uid = stable_uid(name, "series", series_number)
    frame_uid = stable_uid(name, "frame")
    paths = []
    for k in range(array.shape[0]):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = sop_class
        meta.MediaStorageSOPInstanceUID = stable_uid(name, series_uid, k)
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID = sop_class
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.PatientID = patient_id
        ds.PatientName = patient_name
        ds.PatientBirthDate = "19300101"
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.FrameOfReferenceUID = frame_uid
        ds.StudyDate = study_date.strftime("%Y%m%d")
        ds.SeriesDate = ds.StudyDate
        ds.StudyTime = "101500"
        ds.Modality = modality
        ds.SeriesNumber = series_number
        ds.SeriesDescription = series_description
        ds.InstanceNumber = k + 1
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.ImagePositionPatient = [
            float(v) for v in np.asarray(origin, float) + k * spacing[0] * normal
        ]
        ds.ImageOrientationPatient = [float(v) for v in iop]
        ds.PixelSpacing = [float(spacing[1]), float(spacing[2])]
        ds.SliceThickness = float(spacing[0])
        ds.Rows, ds.Columns = array.shape[1], array.shape[2]
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = 16
        ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 1 if array.dtype == np.int16 else 0
        if rescale is not None:
            ds.RescaleSlope, ds.RescaleIntercept = rescale
        ds.PixelData = np.ascontiguousarray(array[k]).tobytes()
        if mutate is not None:
            mutate(k, ds)
        path = folder / (file_names(k) if file_names else f"IM{k + 1:04d}")
        pydicom.dcmwrite(path, ds, enforce_file_format=True)
        paths.append(path)
    return paths


def ramp_volume(shape: tuple[int, int, int] = (8, 16, 20), *, dtype: type = np.int16) -> np.ndarray:
    """A volume whose voxels encode their index: value = 1000*z + 20*y + x (wrapped to dtype)."""
    z, y, x = np.indices(shape)
    return (1000 * z + 20 * y + x).astype(dtype)
