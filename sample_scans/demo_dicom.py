"""Write a demo series as classic DICOM: one file per slice, named as scanners do (IM00001)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pydicom
from demo_acquisition import Geometry, SeriesSpec, format_ds
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    CTImageStorage,
    ExplicitVRLittleEndian,
    MRImageStorage,
    RLELossless,
    generate_uid,
)

PATIENT = {
    "PatientName": "DEMO^GLIOMA",
    "PatientID": "INTERVAL-DEMO-001",
    "PatientBirthDate": "19250312",
    "PatientSex": "F",
}
"""A fictitious patient."""

BIRTH_DATE = dt.date(1925, 3, 12)
SYNTHETIC_NOTE = "Synthetic image from Interval sample_scans/generate_demo.py; not a real patient."


def stable_uid(*parts: object) -> str:
    """A UID under pydicom's root derived from ``parts`` (same parts, same UID)."""
    return generate_uid(entropy_srcs=["INTERVAL-DEMO-001", *(str(p) for p in parts)])


IMPLEMENTATION_UID = stable_uid("implementation")


def study_uid(visit: str) -> str:
    """StudyInstanceUID of a visit (one study per visit)."""
    return stable_uid("study", visit)


def series_uid(spec: SeriesSpec) -> str:
    """SeriesInstanceUID."""
    return stable_uid("series", spec.key)


def frame_of_reference_uid(spec: SeriesSpec) -> str:
    """Every acquisition has its own head position, hence its own frame of reference."""
    return stable_uid("frame of reference", spec.key)


def _age(visit: str) -> str:
    day = dt.date.fromisoformat(visit)
    years = day.year - BIRTH_DATE.year - ((day.month, day.day) < (BIRTH_DATE.month, BIRTH_DATE.day))
    return f"{years:03d}Y"


def _window(spec: SeriesSpec, stored: np.ndarray) -> tuple[str, str]:
    """A starting window (centre, width) in rescaled units, as the scanner would suggest."""
    if spec.modality == "CT":
        return "40", "80"
    real = stored.astype(np.float64) * spec.rescale_slope
    tissue = real[real > 0.3 * spec.signal]
    low, high = np.percentile(tissue, [1.0, 99.5])
    return format_ds((low + high) / 2, 0), format_ds(high - low, 0)


def _series_header(spec: SeriesSpec, stored: np.ndarray) -> Dataset:
    """The tags every file of a series shares."""
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = CTImageStorage if spec.modality == "CT" else MRImageStorage
    date = spec.visit.replace("-", "")
    ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = date
    ds.StudyTime = "081000"
    ds.SeriesTime = ds.AcquisitionTime = ds.ContentTime = spec.time
    ds.AccessionNumber = f"DEMO{date}"
    ds.Modality = spec.modality
    ds.Manufacturer = "INTERVAL SYNTHETIC"
    ds.InstitutionName = "Demo Hospital (fictitious)"
    ds.ReferringPhysicianName = "DEMO^REFERRER"
    ds.StationName = "DEMOCT01" if spec.modality == "CT" else "DEMOMR01"
    ds.StudyDescription = "BRAIN TUMOUR FOLLOW-UP"
    ds.SeriesDescription = spec.description
    ds.ManufacturerModelName = "Demo CT 4" if spec.modality == "CT" else "Demo MR 1.5T"
    for keyword, value in PATIENT.items():
        setattr(ds, keyword, value)
    ds.PatientAge = _age(spec.visit)
    ds.BodyPartExamined = "HEAD"
    ds.SliceThickness = format_ds(spec.slice_mm, 4)
    if spec.contrast:
        if spec.modality == "CT":
            ds.ContrastBolusAgent = "IOHEXOL 300 MG I/ML"
            ds.ContrastBolusRoute = "IV"
            ds.ContrastBolusVolume = "80"
        else:
            ds.ContrastBolusAgent = "GADOPENTETATE DIMEGLUMINE"
            ds.ContrastBolusRoute = "IV"
            ds.ContrastBolusVolume = "15"
    if spec.modality == "CT":
        ds.KVP = "120"
        ds.DataCollectionDiameter = "250"
        ds.ReconstructionDiameter = format_ds(spec.pixel_mm * spec.matrix[1], 2)
        ds.GantryDetectorTilt = "0"
        ds.XRayTubeCurrent = 240
        ds.ExposureTime = 1000
        ds.ConvolutionKernel = "STANDARD"
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    else:
        ds.ScanningSequence = "SE"
        ds.SequenceVariant = "NONE"
        ds.MRAcquisitionType = "2D"
        ds.RepetitionTime = "500"
        ds.EchoTime = "15"
        ds.FlipAngle = "90"
        ds.MagneticFieldStrength = "1.5"
        ds.ImagingFrequency = "63.86"
        ds.SpacingBetweenSlices = format_ds(spec.slice_mm, 4)
        ds.ReceiveCoilName = "HEAD"
        ds.ImageType = ["ORIGINAL", "PRIMARY", "OTHER"]
    ds.PatientPosition = "HFS"
    ds.StudyInstanceUID = study_uid(spec.visit)
    ds.SeriesInstanceUID = series_uid(spec)
    ds.StudyID = date[2:]
    ds.SeriesNumber = spec.number
    ds.AcquisitionNumber = 1
    ds.FrameOfReferenceUID = frame_of_reference_uid(spec)
    ds.PositionReferenceIndicator = ""
    ds.ImageComments = SYNTHETIC_NOTE
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = spec.matrix
    ds.BitsAllocated = 16
    ds.BitsStored = 12 if spec.modality == "CT" else 16
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 0
    ds.BurnedInAnnotation = "NO"
    ds.WindowCenter, ds.WindowWidth = _window(spec, stored)
    if spec.modality == "CT":
        ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = "-1024", "1", "HU"
    else:
        ds.RescaleIntercept, ds.RescaleSlope = "0", format_ds(spec.rescale_slope, 6)
    return ds


def write_series(
    folder: Path, spec: SeriesSpec, geometry: Geometry, stored: np.ndarray
) -> list[Path]:
    """Write one DICOM file per slice into ``folder``.

    Parameters
    ----------
    folder : Path
        Created if needed.
    spec : SeriesSpec
    geometry : Geometry
        Slice positions in ascending order along the slice normal.
    stored : ndarray of uint16, shape (Z, Y, X)
        Stored pixel values, slices in the same order as ``geometry.positions``.

    Returns
    -------
    list of Path
        The files, in slice order (ascending along the normal).
    """
    folder.mkdir(parents=True, exist_ok=True)
    header = _series_header(spec, stored)
    normal = geometry.voxel2patient[:3, 0] / np.linalg.norm(geometry.voxel2patient[:3, 0])
    n = len(geometry.positions)
    paths = []
    for k, position in enumerate(geometry.positions):
        instance = n - k if spec.superior_first else k + 1
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.MediaStorageSOPClassUID = header.SOPClassUID
        ds.file_meta.MediaStorageSOPInstanceUID = stable_uid("instance", spec.key, k)
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta.ImplementationClassUID = IMPLEMENTATION_UID
        ds.file_meta.ImplementationVersionName = "INTERVAL_DEMO_1"
        ds.update(header)
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
        ds.InstanceNumber = instance
        ds.ImagePositionPatient = list(position)
        ds.ImageOrientationPatient = list(geometry.orientation)
        ds.SliceLocation = format_ds(float(np.dot([float(v) for v in position], normal)), 4)
        ds.PixelSpacing = list(geometry.pixel_spacing)
        if spec.rle:
            ds.compress(RLELossless, np.ascontiguousarray(stored[k]), generate_instance_uid=False)
        else:
            ds.PixelData = np.ascontiguousarray(stored[k]).tobytes()
        path = folder / f"IM{instance:05d}"
        pydicom.dcmwrite(path, ds, enforce_file_format=True)
        paths.append(path)
    return paths
