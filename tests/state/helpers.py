"""Synthetic catalogues and loaded series for state tests (no file reading)."""

from __future__ import annotations

import datetime as dt

import numpy as np

from viewer.core.catalog import Catalog, Patient, SeriesEntry, Visit
from viewer.core.geometry import affine_from_dicom
from viewer.core.volume import Volume, VolumeMetadata
from viewer.display import default_window, intensity_stats, load_presets
from viewer.state import LoadedSeries


def entry(key, *, modality="MR", description="T1", date=dt.date(2003, 3, 27), **kw) -> SeriesEntry:
    fields = dict(
        key=key,
        format="dicom",
        patient_id="P1",
        patient_name="Test^Patient",
        patient_birth_date=None,
        modality=modality,
        description=description,
        series_number=None,
        series_instance_uid=key,
        study_instance_uid=f"study-{date}",
        study_date=date,
        series_datetime=None,
        shape=(10, 20, 24),
        pixel_spacing_mm=(1.0, 1.0),
        slice_thickness_mm=2.0,
        orientation="axial",
    )
    fields.update(kw)
    return SeriesEntry(**fields)


def catalog(*visits: tuple[dt.date, list[SeriesEntry]]) -> Catalog:
    return Catalog(patients=[Patient("P1", visits=[Visit(d, list(s)) for d, s in visits])])


def axial_volume(shape=(10, 20, 24), spacing=(2.0, 1.0, 1.0), *, modality="MR", seed=0, **meta):
    affine = affine_from_dicom(
        (-12.0, -10.0, -9.0), (1, 0, 0, 0, 1, 0), spacing[1:], (0, 0, spacing[0])
    )
    rng = np.random.default_rng(seed)
    if modality == "CT":
        array = rng.integers(-1000, 1500, shape).astype(np.int16)
        meta.setdefault("units", "HU")
    else:
        array = rng.uniform(0, 1000, shape).astype(np.float32)
    return Volume(array, affine, VolumeMetadata(modality=modality, **meta))


def loaded(volume: Volume) -> LoadedSeries:
    stats = intensity_stats(volume.array)
    return LoadedSeries(volume, stats, default_window(volume, load_presets(), stats))
