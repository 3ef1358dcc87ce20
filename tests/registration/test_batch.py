"""Register all visits: one registration per frame of reference, progress, cancel, errors."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import numpy as np
import pytest

from tests.registration.phantom import brain_points, grid, render, rigid, tre_mm
from viewer.core.catalog import SeriesEntry
from viewer.core.transform import RegistrationState
from viewer.errors import OperationCancelled, UnreadableFileError
from viewer.registration import SHARED_METHOD, Settings, choose_reference, register_all
from viewer.registration.batch import REFERENCE_METHOD

FAST = Settings(finest_spacing_mm=4.0, shrink_factors=(2, 1), smoothing_sigmas_mm=(4.0, 0.0))
"""Coarse settings: these tests are about the batch, the accuracy is tested elsewhere."""

BASELINE, FOLLOW_UP = dt.date(1995, 6, 12), dt.date(2002, 8, 14)
SHAPE = (40, 48, 40)


def entry(key, date, modality, frame, *, contrast="", thickness=4.0, localizer=False):
    return SeriesEntry(
        key=key,
        format="dicom",
        patient_id="P1",
        patient_name="",
        patient_birth_date=None,
        modality=modality,
        description=f"{modality} {key}",
        series_number=None,
        series_instance_uid=key,
        study_instance_uid=f"study {date}",
        study_date=date,
        series_datetime=None,
        shape=SHAPE,
        pixel_spacing_mm=(4.0, 4.0),
        slice_thickness_mm=thickness,
        orientation="axial",
        frame_of_reference_uid=frame,
        contrast_agent=contrast,
        is_localizer=localizer,
    )


POSES = {
    "ct-1": rigid((4.0, 0.0, -3.0), (5.0, -4.0, 2.0)),
    "t1c-2": rigid((-3.0, 5.0, 2.0), (-6.0, 3.0, 7.0)),
    "flair-2": rigid((-3.0, 5.0, 2.0), (-6.0, 3.0, 7.0)),  # same frame as t1c-2: same pose
}
"""moving2reference of each series (the reference, t1c-1, is the identity)."""


@pytest.fixture(scope="module")
def case():
    entries = [
        entry("ct-1", BASELINE, "CT", "frame-ct-1"),
        entry("t1c-1", BASELINE, "MR", "frame-mr-1", contrast="gadolinium"),
        entry("scout-2", FOLLOW_UP, "MR", "frame-mr-2", localizer=True),
        entry("flair-2", FOLLOW_UP, "MR", "frame-mr-2", thickness=5.0),
        entry("t1c-2", FOLLOW_UP, "MR", "frame-mr-2", contrast="gadolinium", thickness=2.0),
    ]
    affine = grid(SHAPE, (4.0, 4.0, 4.0))
    volumes = {
        key: render(
            SHAPE,
            affine,
            np.linalg.inv(POSES.get(key, np.eye(4))),
            modality="CT" if key.startswith("ct") else "MR",
            seed=index,
        )
        for index, key in enumerate(["ct-1", "t1c-1", "flair-2", "t1c-2"])
    }
    return {e.key: e for e in entries}, volumes


class Loader:
    """Counts loads, and fails for the keys it is told to."""

    def __init__(self, volumes, failing=()):
        self.volumes, self.failing, self.loaded = volumes, set(failing), []

    def __call__(self, series: SeriesEntry):
        self.loaded.append(series.key)
        if series.key in self.failing:
            raise UnreadableFileError("truncated inside its pixel data", f"/data/{series.key}/IM3")
        return self.volumes[series.key]


def test_the_default_reference_is_the_baseline_contrast_mri(case):
    entries, _ = case
    assert choose_reference(entries.values()).key == "t1c-1"
    no_contrast = [replace(e, contrast_agent="") for e in entries.values()]
    assert choose_reference(no_contrast).key == "t1c-1"  # the baseline MRI
    assert choose_reference([entries["ct-1"], entries["t1c-2"]]).key == "ct-1"  # baseline first
    with pytest.raises(ValueError, match="no image series"):
        choose_reference([entries["scout-2"]])


def test_one_registration_per_frame_of_reference(case):
    entries, volumes = case
    load = Loader(volumes)
    delivered = []
    result = register_all(
        entries["t1c-1"], entries.values(), load, settings=FAST, on_result=delivered.append
    )
    assert sorted(load.loaded) == ["ct-1", "t1c-1", "t1c-2"]  # FLAIR shares t1c-2's frame
    assert set(result.registrations) == {"t1c-1", "ct-1", "t1c-2", "flair-2"}
    assert result.errors == {}
    assert "scout-2" not in result.registrations  # localizers are not registered
    reference = result.registrations["t1c-1"]
    assert reference.method == REFERENCE_METHOD and reference.state is RegistrationState.ACCEPTED
    np.testing.assert_array_equal(reference.transform.moving2reference, np.eye(4))
    for key in ("ct-1", "t1c-2"):
        registration = result.registrations[key]
        assert registration.state is RegistrationState.AUTOMATIC
        assert registration.reference_key == "t1c-1"
        assert registration.method.startswith("Mattes MI rigid")
        tre = tre_mm(registration.transform.moving2reference, POSES[key], brain_points())
        assert tre.mean() < 2.0, (key, tre.mean())  # 4 mm voxels, coarse settings
    flair = result.registrations["flair-2"]
    assert flair.method == SHARED_METHOD
    assert flair.transform is result.registrations["t1c-2"].transform
    assert {r.series_key for r in delivered} == set(result.registrations)


def test_a_failing_series_does_not_stop_the_others(case):
    entries, volumes = case
    result = register_all(
        entries["t1c-1"], entries.values(), Loader(volumes, failing={"t1c-2"}), settings=FAST
    )
    assert set(result.errors) == {"t1c-2", "flair-2"}  # the whole frame of reference failed
    assert "/data/t1c-2/IM3" in result.errors["flair-2"]
    assert "truncated" in result.errors["t1c-2"]
    assert result.registrations["ct-1"].state is RegistrationState.AUTOMATIC


def test_progress_covers_the_whole_batch(case):
    entries, volumes = case
    seen = []
    register_all(
        entries["t1c-1"],
        entries.values(),
        Loader(volumes),
        settings=FAST,
        progress=lambda done, total, message: seen.append((done, total, message)),
    )
    dones = [d for d, _, _ in seen]
    assert dones == sorted(dones)
    assert {t for _, t, _ in seen} == {2000}  # two registrations
    assert seen[-1] == (2000, 2000, "done")
    assert any(m.startswith("1/2: 1995-06-12 CT ct-1: rigid level") for _, _, m in seen)
    assert any(m.startswith("2/2: 2002-08-14 MR t1c-2: loading") for _, _, m in seen)


def test_cancel_keeps_what_finished(case):
    entries, volumes = case
    delivered = []
    with pytest.raises(OperationCancelled):
        register_all(
            entries["t1c-1"],
            entries.values(),
            Loader(volumes),
            settings=FAST,
            on_result=delivered.append,
            cancelled=lambda: any(r.series_key == "ct-1" for r in delivered),
        )
    assert [r.series_key for r in delivered] == ["t1c-1", "ct-1"]


def test_series_in_the_reference_frame_need_no_registration(case):
    entries, volumes = case
    flair = entry("flair-1", BASELINE, "MR", "frame-mr-1", thickness=5.0)
    load = Loader(volumes)
    result = register_all(entries["t1c-1"], [entries["t1c-1"], flair], load, settings=FAST)
    assert load.loaded == ["t1c-1"]
    shared = result.registrations["flair-1"]
    assert shared.method == SHARED_METHOD and shared.state is RegistrationState.ACCEPTED
    np.testing.assert_array_equal(shared.transform.moving2reference, np.eye(4))


def test_the_reference_must_load(case):
    entries, volumes = case
    with pytest.raises(UnreadableFileError):
        register_all(
            entries["t1c-1"], entries.values(), Loader(volumes, failing={"t1c-1"}), settings=FAST
        )
