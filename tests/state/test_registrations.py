"""The registration store and the "register all visits" plan, tested with no window and a stub
registration (the real one is tested end to end in tests/ui/test_compare_story.py)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pytest

from tests.state.helpers import axial_volume, catalog, entry
from viewer.core.transform import Registration, RegistrationState, Transform
from viewer.errors import OperationCancelled
from viewer.state.registrations import (
    SHARED_METHOD,
    RegistrationStore,
    default_reference,
    registration_jobs,
    run_jobs,
)

D1, D2, D3 = dt.date(1995, 6, 12), dt.date(2002, 12, 9), dt.date(2003, 3, 27)


def e(key, modality, description, date, frame, **kw):
    return entry(key, modality=modality, description=description, date=date,
                 frame_of_reference_uid=frame, **kw)  # fmt: skip


def case():
    return catalog(
        (D1, [e("ct1", "CT", "CT head", D1, "A"),
              e("t1c1", "MR", "T1 post", D1, "B", contrast_agent="Gd"),
              e("t2_1", "MR", "T2", D1, "B")]),
        (D2, [e("loc2", "MR", "Localizer", D2, "C", is_localizer=True),
              e("ct2", "CT", "CT head", D2, "D")]),
        (D3, [e("t2_3", "MR", "T2", D3, "E"), e("t1c3", "MR", "T1 +C", D3, "E"),
              e("flair3", "MR", "FLAIR", D3, "")]),
    )  # fmt: skip


def shift(x: float, y: float = 0.0, z: float = 0.0) -> Transform:
    matrix = np.eye(4)
    matrix[:3, 3] = (x, y, z)
    return Transform(matrix, "rigid")


def test_default_reference_is_the_baseline_contrast_mri():
    assert default_reference(case()).key == "t1c1"


def test_reference_and_its_frame_of_reference_map_by_identity():
    store = RegistrationStore()
    store.reset(case())
    assert store.reference_key == "t1c1"
    assert store.is_reference("t1c1") and store.is_reference("t2_1")
    assert not store.is_reference("ct1")
    assert store.patient2reference("t2_1") is None
    assert store.state("ct1") is RegistrationState.NOT_REGISTERED
    with pytest.raises(ValueError, match="cannot be moved"):
        store.put(Registration("t2_1", "t1c1", shift(3.0), RegistrationState.MANUAL))


def test_a_registration_is_shared_by_its_frame_of_reference_and_can_be_accepted():
    store = RegistrationStore()
    store.reset(case())
    seen: list[str] = []
    store.changed.connect(seen.append)
    store.put(Registration("t1c3", "t1c1", shift(5.0, -2.0), RegistrationState.AUTOMATIC, "MI"))
    assert sorted(seen) == ["t1c3", "t2_3"]
    np.testing.assert_allclose(store.patient2reference("t2_3")[:3, 3], [5.0, -2.0, 0.0])
    assert store.record("t2_3").method == f"{SHARED_METHOD} with t1c3"
    assert store.state("flair3") is RegistrationState.NOT_REGISTERED  # no frame of reference
    store.accept("t2_3")
    assert store.state("t1c3") is store.state("t2_3") is RegistrationState.ACCEPTED
    store.accept("flair3")  # nothing to accept
    assert store.state("flair3") is RegistrationState.NOT_REGISTERED
    with pytest.raises(ValueError, match="not to the current reference"):
        store.put(Registration("ct2", "ct1", shift(1.0)))
    store.set_reference("ct1")
    assert store.state("t1c3") is RegistrationState.NOT_REGISTERED


def test_register_all_plans_one_job_per_visit_and_frame_of_reference():
    jobs = registration_jobs(case(), "t1c1")
    assert [j.moving_key for j in jobs] == ["ct1", "ct2", "t1c3", "flair3"]
    assert jobs[2].label == "2003-03-27 T1 +C"


@dataclass
class FakeResult:
    transform: Transform

    def to_registration(self, series_key: str, reference_key: str) -> Registration:
        return Registration(series_key, reference_key, self.transform, RegistrationState.AUTOMATIC)


def test_run_jobs_reports_each_result_and_progress_then_stops_on_cancel():
    jobs = registration_jobs(case(), "t1c1")
    volumes = {
        k: axial_volume(seed=i) for i, k in enumerate(["t1c1", "ct1", "ct2", "t1c3", "flair3"])
    }
    offsets = {"ct1": 1.0, "ct2": 2.0, "t1c3": 3.0, "flair3": 4.0}
    loaded_keys: list[str] = []

    def load(key):
        loaded_keys.append(key)
        return volumes[key]

    def register(reference, moving, *, progress, cancelled):
        assert reference is volumes["t1c1"]
        key = next(k for k, v in volumes.items() if v is moving)
        progress(50, 100, "")
        return FakeResult(shift(offsets[key]))

    results: list[Registration] = []
    steps: list[tuple[int, int]] = []
    count = run_jobs(
        jobs,
        "t1c1",
        load=load,
        register=register,
        on_result=results.append,
        progress=lambda d, t, m: steps.append((d, t)),
    )
    assert count == 4 and loaded_keys == ["t1c1", "ct1", "ct2", "t1c3", "flair3"]
    assert [r.transform.moving2reference[0, 3] for r in results] == [1.0, 2.0, 3.0, 4.0]
    assert steps[-1] == (4000, 4000) and all(d <= t for d, t in steps)
    assert [d for d, _ in steps] == sorted(d for d, _ in steps)

    # cancelled after the second result: the first two stay reported
    results.clear()
    with pytest.raises(OperationCancelled):
        run_jobs(
            jobs, "t1c1", load=load, register=register, on_result=results.append,
            cancelled=lambda: len(results) >= 2,
        )  # fmt: skip
    assert len(results) == 2
