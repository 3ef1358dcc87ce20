"""The Qt-free data model: volumes, geometry and the patient/visit/series catalogue."""

from viewer.core.catalog import Catalog, Patient, SeriesEntry, SkippedFile, Visit
from viewer.core.volume import Volume, VolumeMetadata

__all__ = ["Catalog", "Patient", "SeriesEntry", "SkippedFile", "Visit", "Volume", "VolumeMetadata"]
