"""Automatic registration on the analytic phantom: known answers, direction, progress, cancel."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from tests.registration.phantom import brain_points, grid, render, rigid, tre_mm
from viewer.core.geometry import apply_affine
from viewer.core.transform import RegistrationState, Transform
from viewer.errors import OperationCancelled
from viewer.registration import Settings, automatic, register

REFERENCE_SHAPE, REFERENCE_SPACING = (80, 96, 80), (2.0, 2.0, 2.0)
MOVING_SHAPE, MOVING_SPACING = (48, 80, 80), (3.5, 2.2, 2.2)
TRUE = rigid((5.0, -4.0, 7.0), (6.0, -8.0, 5.0))
"""moving2reference of the moved head: 9.9 degrees, 11.2 mm."""


@pytest.fixture(scope="module")
def reference():
    return render(REFERENCE_SHAPE, grid(REFERENCE_SHAPE, REFERENCE_SPACING), modality="MR", seed=1)


def moved(modality: str, true: np.ndarray = TRUE, seed: int = 2):
    """The head acquired in another position: its patient space maps to the reference by true."""
    return render(
        MOVING_SHAPE,
        grid(MOVING_SHAPE, MOVING_SPACING),
        np.linalg.inv(true),
        modality=modality,
        scale=700.0,
        seed=seed,
    )


@pytest.fixture(scope="module")
def moved_mr():
    return moved("MR")


@pytest.fixture(scope="module")
def mr_result(reference, moved_mr):
    return register(reference, moved_mr)


@pytest.mark.parametrize(("modality", "limit_mm"), [("MR", 0.5), ("CT", 1.0)])
def test_recovers_a_known_rigid_transform(reference, mr_result, modality, limit_mm):
    result = mr_result if modality == "MR" else register(reference, moved("CT"))
    tre = tre_mm(result.transform.moving2reference, TRUE, brain_points())
    assert tre.mean() < limit_mm, (tre.mean(), tre.max())
    assert tre.max() < 2 * limit_mm
    assert result.transform.kind == "rigid"
    rotation = result.transform.moving2reference[:3, :3]
    np.testing.assert_allclose(rotation @ rotation.T, np.eye(3), atol=1e-9)
    assert result.iterations > 10 and result.elapsed_s > 0
    assert result.metric_value < -0.3  # Mattes MI: negative, lower is better
    assert result.method == "Mattes MI rigid, 3 levels to 2 mm"


def test_result_maps_moving_points_onto_the_reference(mr_result):
    # The lesion centre, where the moving scan sees it, must land on the reference's.
    lesion_reference = np.array([-32.0, -18.0, 28.0])
    lesion_moving = apply_affine(np.linalg.inv(TRUE), lesion_reference)
    assert np.linalg.norm(lesion_moving - lesion_reference) > 10  # the heads really differ
    assert np.linalg.norm(mr_result.transform.apply(lesion_moving) - lesion_reference) < 0.7


def test_same_inputs_give_the_same_transform(reference, moved_mr):
    # The metric samples the same (seeded) positions every time; only the order in which
    # ITK's threads add up their sums varies, which moves the result by far less than a micron.
    settings = Settings(max_iterations=15)
    first = register(reference, moved_mr, settings=settings)
    second = register(reference, moved_mr, settings=settings)
    points = brain_points()
    difference = np.linalg.norm(
        first.transform.apply(points) - second.transform.apply(points), axis=1
    )
    assert difference.max() < 1e-3


def test_starting_from_a_guess(reference, moved_mr):
    # E.g. from landmarks: 3 degrees and 4 mm off; the registration refines it.
    guess = Transform(rigid((2.0, 1.0, -1.0), (3.0, 2.0, -2.0)) @ TRUE, "rigid")
    result = register(reference, moved_mr, initial=guess)
    assert tre_mm(result.transform.moving2reference, TRUE, brain_points()).mean() < 0.5


def test_affine_recovers_scaling_that_rigid_cannot(reference):
    scaling = np.diag([1.06, 0.96, 1.03, 1.0])  # e.g. gradient non-linearity between scanners
    true = TRUE @ scaling
    moving = moved("MR", true)
    points = brain_points()
    affine = register(reference, moving, kind="affine")
    rigid_only = register(reference, moving, kind="rigid")
    affine_tre = tre_mm(affine.transform.moving2reference, true, points)
    rigid_tre = tre_mm(rigid_only.transform.moving2reference, true, points)
    assert affine.transform.kind == "affine"
    assert affine_tre.mean() < 1.0, affine_tre.mean()
    assert rigid_tre.mean() > 2 * affine_tre.mean()
    assert affine.iterations > rigid_only.iterations  # a rigid stage, then the affine one


def test_a_diverged_affine_result_is_refused(reference, monkeypatch):
    def stretched(itk, kind):
        return Transform(np.diag([1.0, 1.0, 1.5, 1.0]), kind)

    monkeypatch.setattr(automatic, "transform_from_sitk", stretched)
    with pytest.raises(RuntimeError, match=r"affine registration diverged \(stretch factors"):
        register(reference, reference, kind="affine", settings=Settings(max_iterations=1))


def test_progress_is_reported_in_order(reference, moved_mr):
    seen = []
    register(
        reference,
        moved_mr,
        settings=Settings(max_iterations=20),
        progress=lambda done, total, message: seen.append((done, total, message)),
    )
    assert len(seen) > 10
    dones = [d for d, _, _ in seen]
    assert dones == sorted(dones) and dones[0] >= 1
    assert {t for _, t, _ in seen} == {60}  # 3 levels x 20 iterations
    assert seen[0][2] == "rigid level 1/3, iteration 1"
    assert seen[-1][2].startswith("rigid level 3/3")


def test_cancel_stops_the_optimiser_and_raises(reference, moved_mr):
    calls = []

    def cancelled() -> bool:
        calls.append(1)
        return len(calls) > 5

    progress = []
    with pytest.raises(OperationCancelled, match="cancelled"):
        register(
            reference,
            moved_mr,
            progress=lambda done, total, message: progress.append(done),
            cancelled=cancelled,
        )
    # Polled before starting and at each iteration; nothing is reported after the cancel,
    # and each later level stops at its first iteration.
    assert len(progress) <= 4
    assert len(calls) < 12


def test_cancel_before_starting(reference, moved_mr):
    with pytest.raises(OperationCancelled):
        register(reference, moved_mr, cancelled=lambda: True)


def test_the_result_becomes_an_automatic_registration(mr_result):
    record = mr_result.to_registration("moving-key", "reference-key")
    assert record.state is RegistrationState.AUTOMATIC
    assert record.transform is mr_result.transform
    assert (record.series_key, record.reference_key) == ("moving-key", "reference-key")
    assert record.metric_value == mr_result.metric_value
    assert record.iterations == mr_result.iterations
    assert record.elapsed_s == mr_result.elapsed_s
    assert record.method == mr_result.method


def test_bad_arguments_are_refused(reference):
    with pytest.raises(ValueError, match="kind"):
        register(reference, reference, kind="deformable")
    with pytest.raises(ValueError, match="one entry per level"):
        Settings(shrink_factors=(4, 2, 1), smoothing_sigmas_mm=(2.0, 0.0))
    with pytest.raises(ValueError, match="relaxation"):
        Settings(relaxation=1.5)


def test_event_loop_keeps_running_while_registering(reference, moved_mr):
    """SimpleITK releases the GIL: a 10 ms timer in the main thread is never held up 100 ms."""
    done = threading.Event()
    results = []

    def work() -> None:
        try:
            results.append(register(reference, moved_mr))
        finally:
            done.set()

    worker = threading.Thread(target=work)
    gaps = []
    last = time.perf_counter()
    worker.start()
    while not done.wait(0.01):
        now = time.perf_counter()
        gaps.append(now - last)
        last = now
    worker.join()
    assert results, "the registration failed"
    assert len(gaps) > 20
    assert max(gaps) < 0.1, f"the main thread waited {max(gaps) * 1000:.0f} ms"


def test_an_image_without_a_head_is_refused_with_a_reason(reference):
    """An empty image (e.g. a label map opened as a series) has no centre of mass to start from."""
    from viewer.core.volume import Volume
    from viewer.errors import RegistrationError

    empty = Volume(np.zeros(reference.shape, np.int16), reference.voxel2patient)
    with pytest.raises(RegistrationError, match="moving series shows no head"):
        register(reference, empty)
