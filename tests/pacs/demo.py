"""What the demo case holds, read from its files: the known answers of the PACS tests."""

from __future__ import annotations

import datetime as dt
from functools import cache
from pathlib import Path

import numpy as np
import pydicom

from tests.pacs.orthanc import demo_files
from viewer.io import load_series, scan_paths
from viewer.pacs.store import StoredSeries


@cache
def demo_instances() -> dict[str, Path]:
    """SOP Instance UID -> the demo's file."""
    return {
        str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID): path
        for path in demo_files()
    }


@cache
def demo_study_dates() -> list[dt.date]:
    """The demo's visit dates (one study per visit), oldest first."""
    return sorted({dt.date.fromisoformat(p.parent.parent.name) for p in demo_files()})


def assert_identical_to_sources(stored: StoredSeries) -> int:
    """Every received file is a demo instance with the same SOP Instance UID and pixel data,
    and the same dataset; returns how many were checked."""
    sources = demo_instances()
    files = sorted(stored.folder.glob("*.dcm"))
    assert len(files) == len(stored.received)
    for file in files:
        got = pydicom.dcmread(file)
        source = pydicom.dcmread(sources[file.stem])
        assert str(got.SOPInstanceUID) == file.stem
        assert got.PixelData == source.PixelData
        assert got == source  # every attribute, not only the pixels
    return len(files)


def assert_same_visits_as_sources(folders: list[Path]) -> None:
    """Scanning the retrieved folders gives the demo's visits, dates and voxel grids."""
    retrieved = scan_paths(folders)
    original = scan_paths([p.parent for p in demo_files()])
    assert retrieved.skipped == []
    [patient] = retrieved.patients
    assert [v.date for v in patient.visits] == demo_study_dates()
    by_uid = {s.series_instance_uid: s for s in original.all_series()}
    assert len(list(retrieved.all_series())) == len(by_uid)
    for entry in retrieved.all_series():
        source = by_uid[entry.series_instance_uid]
        assert (entry.study_date, entry.modality, entry.shape) == (
            source.study_date,
            source.modality,
            source.shape,
        )
        got, expected = load_series(entry), load_series(source)
        np.testing.assert_array_equal(got.voxel2patient, expected.voxel2patient)
        np.testing.assert_array_equal(got.array, expected.array)
