"""Readers and writers: DICOM (pydicom) and NIfTI (nibabel) to and from core objects."""

from viewer.io.load import load_series
from viewer.io.scan import scan_paths

__all__ = ["load_series", "scan_paths"]
