"""Series of one visit that share a frame of reference reuse one registration."""

from __future__ import annotations

import datetime as dt

import numpy as np

from tests.dicom_factory import ramp_volume, stable_uid, write_series
from tests.registration.phantom import rigid
from viewer.core.transform import Registration, RegistrationState, Transform
from viewer.io import scan_paths
from viewer.registration import SHARED_METHOD, share_frames_of_reference
from viewer.registration.frames import group_by_frame, representative

SHARED_FRAME = stable_uid("visit-frame")


def same_frame(index, ds):
    ds.FrameOfReferenceUID = SHARED_FRAME


def catalogue(tmp_path):
    """One visit: T1c and FLAIR in one frame of reference, a CT in its own; one later visit
    reusing the frame UID (a scanner that should not), and a NIfTI-like series without one."""
    write_series(tmp_path / "t1c", ramp_volume(), series_number=1, name="t1c", mutate=same_frame)
    write_series(
        tmp_path / "flair",
        ramp_volume(),
        series_number=2,
        name="flair",
        series_description="FLAIR",
        spacing=(3.0, 1.0, 1.0),
        mutate=same_frame,
    )
    write_series(tmp_path / "ct", ramp_volume(), series_number=3, name="ct", modality="CT")
    write_series(
        tmp_path / "later",
        ramp_volume(),
        series_number=4,
        name="later",
        study_date=dt.date(2003, 6, 1),
        mutate=same_frame,
    )
    by_number = {e.series_number: e for e in scan_paths([tmp_path]).all_series()}
    assert by_number[1].frame_of_reference_uid == by_number[2].frame_of_reference_uid
    return by_number


def test_groups_are_per_visit_and_frame(tmp_path):
    series = catalogue(tmp_path)
    groups = group_by_frame(series[n] for n in (1, 2, 3, 4))
    assert [[e.series_number for e in g] for g in groups] == [[1, 2], [3], [4]]


def test_the_representative_matches_the_reference_modality_then_resolution(tmp_path):
    series = catalogue(tmp_path)
    assert representative([series[2], series[1]], "MR") is series[1]  # 2 mm beats 3 mm slices
    assert representative([series[3], series[2]], "MR") is series[2]  # MR before a finer CT


def test_one_registration_is_shared_with_its_frame(tmp_path):
    series = catalogue(tmp_path)
    found = Transform(rigid((3.0, 2.0, -4.0), (5.0, -6.0, 7.0)), "rigid")
    registered = Registration(
        series[1].key, "reference", found, RegistrationState.AUTOMATIC, "Mattes MI rigid"
    )
    result = share_frames_of_reference(series.values(), {series[1].key: registered})
    assert result[series[1].key] is registered
    shared = result[series[2].key]
    assert shared.method == SHARED_METHOD
    assert shared.transform is found
    assert shared.state is RegistrationState.AUTOMATIC
    assert (shared.series_key, shared.reference_key) == (series[2].key, "reference")
    assert series[3].key not in result  # another frame: must be registered itself
    assert series[4].key not in result  # same UID on another day: not trusted


def test_an_existing_registration_is_never_overwritten(tmp_path):
    series = catalogue(tmp_path)
    first = Registration(series[1].key, "ref", Transform(), RegistrationState.ACCEPTED, "manual")
    own = Registration(
        series[2].key,
        "ref",
        Transform(rigid((0.0, 0.0, 1.0), (0.0, 0.0, 0.0)), "rigid"),
        RegistrationState.MANUAL,
        "landmarks (4)",
    )
    pending = Registration(series[2].key, "ref")  # NOT_REGISTERED: replaced by the shared one
    kept = share_frames_of_reference(series.values(), {series[1].key: first, series[2].key: own})
    assert kept[series[2].key] is own
    filled = share_frames_of_reference(
        series.values(), {series[1].key: first, series[2].key: pending}
    )
    assert filled[series[2].key].state is RegistrationState.ACCEPTED
    np.testing.assert_array_equal(filled[series[2].key].transform.moving2reference, np.eye(4))
