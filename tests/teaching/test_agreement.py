"""A trainee's reading against a reference: outlines, numbers, lesions missed, categories."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tests.teaching import synthetic
from tests.teaching.synthetic import GROWN_MM, L1_CENTRE_MM, L2_CENTRE_MM, sphere
from viewer.core.lesions import LesionKind
from viewer.teaching.agreement import EXTRA, MATCHED, NOT_COMPARED, compare_readings
from viewer.teaching.reading import (
    HandMeasurement,
    ReadingLesion,
    Role,
    SeriesOutlines,
)
from viewer.teaching.surface import dice, surface_distance


def test_a_reading_agrees_with_itself() -> None:
    reference = synthetic.reference()
    agreement = compare_readings(synthetic.as_trainee(reference), reference)
    rows = [(r.visit, r.status, r.reference_lesion, r.trainee_lesion) for r in agreement.lesions]
    assert rows == [
        ("2020-01-06", MATCHED, 1, 1),
        ("2020-03-02", MATCHED, 1, 1),
        ("2020-03-02", MATCHED, 2, 2),
    ]
    for row in agreement.lesions:
        assert (row.dice, row.hd95_mm, row.hausdorff_mm) == (1.0, 0.0, 0.0)
        assert row.volume_difference_ml == 0.0 and row.product_difference_mm2 == 0.0
        assert row.same_slice is True and row.kind_agrees is True
    assert agreement.mean_dice == 1.0 and agreement.mean_hd95_mm == 0.0
    assert agreement.categories_agreed == (2, 2)
    assert all(c.agree for c in agreement.categories)
    assert agreement.categories[1].explanation[0] == "Both readings: progression (PD)."
    assert agreement.missed == () and agreement.extra == ()
    assert agreement.largest_disagreement is None
    assert agreement.correspondence.unpaired_reference == ()


def test_a_missed_new_lesion_is_reported_and_explains_the_category() -> None:
    agreement = compare_readings(synthetic.trainee_missing_l2(), synthetic.reference())
    assert [(p.reference, p.trainee) for p in agreement.correspondence.pairs] == [(1, 4)]
    (missed,) = agreement.missed
    assert (missed.visit, missed.reference_lesion, missed.name) == (
        "2020-03-02",
        2,
        "L2 metastasis",
    )
    assert missed.dice == 0.0 and missed.trainee_volume_ml is None
    assert missed.reference_volume_ml == pytest.approx(
        np.count_nonzero(sphere(L2_CENTRE_MM, 6.0)) * 2e-3
    )
    baseline, follow_up = agreement.categories
    assert baseline.agree
    assert not follow_up.agree
    assert (follow_up.trainee_category, follow_up.reference_category) == ("SD", "PD")
    assert follow_up.trainee_response.category == "SD"  # the trainee's own numbers: stable
    assert follow_up.reference_response.category == "PD"
    text = "\n".join(follow_up.explanation)
    assert "You: stable disease (SD); the reference: progression (PD)." in text
    assert "below +25%" in text  # why the trainee's numbers are stable
    assert (
        "The reference counts L2 (metastasis) as a new lesion, which makes this visit "
        "progression whatever the sums do; you did not outline it here." in text
    )
    assert agreement.categories_agreed == (1, 2)
    # the trainee outlined L1 exactly: the only disagreement is the missed metastasis
    largest = agreement.largest_disagreement
    assert (largest.visit, largest.series_key, largest.reference_lesion) == ("2020-03-02", "S2", 2)
    assert largest.trainee_lesion is None
    assert np.linalg.norm(np.subtract(largest.point_patient_mm, L2_CENTRE_MM)) < 2.0
    assert largest.volume_ml == pytest.approx(missed.reference_volume_ml)
    assert agreement.mean_dice == pytest.approx(2 / 3)


def test_outline_shifted_by_two_slices() -> None:
    """The trainee's L1 at visit 2 lies 4 mm (two 2 mm slices) higher: HD 4 mm, not the same
    slice for the diameters, same volume."""
    reference = synthetic.reference()
    moved = np.array(L1_CENTRE_MM) + (0.0, 0.0, 4.0)
    maps = [
        synthetic.label_map((1, sphere(L1_CENTRE_MM, 10.0))),
        synthetic.label_map((1, sphere(moved, GROWN_MM)), (2, sphere(L2_CENTRE_MM, 6.0))),
    ]
    trainee = synthetic.reading(Role.TRAINEE, maps, reference.lesions, ("baseline", "PD"))
    agreement = compare_readings(trainee, reference)
    row = next(r for r in agreement.lesions if r.visit == "2020-03-02" and r.reference_lesion == 1)
    ours, theirs = reference.series["S2"].labels == 1, maps[1] == 1
    assert row.dice == pytest.approx(dice(ours, theirs))
    assert row.hausdorff_mm == pytest.approx(4.0)
    assert (row.hd95_mm, row.hausdorff_mm) == surface_distance(ours, theirs, (2.0, 1.0, 1.0))
    assert row.volume_difference_ml == pytest.approx(0.0)
    assert row.product_difference_mm2 == pytest.approx(0.0, abs=1e-6)
    assert row.same_slice is False
    assert row.trainee_diameters.slice_index == row.reference_diameters.slice_index + 2
    assert agreement.categories_agreed == (2, 2)


def test_an_extra_lesion_and_a_stated_category_the_numbers_do_not_support() -> None:
    reference = synthetic.reference()
    extra_centre = (-18.0, -14.0, -12.0)
    maps = [
        synthetic.label_map((1, sphere(L1_CENTRE_MM, 10.0))),
        synthetic.label_map(
            (1, sphere(L1_CENTRE_MM, GROWN_MM)),
            (2, sphere(L2_CENTRE_MM, 6.0)),
            (3, sphere(extra_centre, 6.0)),
        ),
    ]
    lesions = [*reference.lesions, ReadingLesion(3, "L3 vessel?", LesionKind.ENHANCING)]
    trainee = synthetic.reading(Role.TRAINEE, maps, lesions, ("baseline", "SD"))
    agreement = compare_readings(trainee, reference)
    (extra,) = agreement.extra
    assert (extra.status, extra.trainee_lesion, extra.name) == (EXTRA, 3, "your L3 (L3 vessel?)")
    assert extra.dice == 0.0 and extra.reference_volume_ml is None
    text = "\n".join(agreement.categories[1].explanation)
    assert (
        "You stated stable disease (SD), but your own outlines and measurements give "
        "progression (PD) by RANO 2010." in text
    )
    assert (
        "You count your L3 as a new lesion, which makes this visit progression; the "
        "reference has no lesion there." in text
    )


def test_a_lesion_outlined_with_another_kind_is_pointed_out() -> None:
    reference = synthetic.reference()
    lesions = [
        dataclasses.replace(reference.lesions[0], kind=LesionKind.NECROSIS),
        reference.lesions[1],
    ]
    trainee = dataclasses.replace(synthetic.as_trainee(reference), lesions=tuple(lesions))
    agreement = compare_readings(trainee, reference)
    assert any(
        "you called it necrosis, the reference enhancing tumour" in n
        for n in agreement.correspondence.notes
    )
    assert all(r.kind_agrees is False for r in agreement.lesions if r.reference_lesion == 1)


def test_hand_measured_diameters_replace_the_outline_s() -> None:
    reference = synthetic.reference()
    # a caliper on L1 at visit 2, on the slice through its centre (z = 0 mm is slice 19.5:
    # the crossing at z = 1 mm rounds to slice 20), 24 x 20 mm
    hand = HandMeasurement(
        "S2", 1, ((-17.0, 0.0, 1.0), (7.0, 0.0, 1.0)), ((-5.0, -10.0, 1.0), (-5.0, 10.0, 1.0))
    )
    trainee = dataclasses.replace(synthetic.as_trainee(reference), hand_measurements=(hand,))
    agreement = compare_readings(trainee, reference)
    row = next(r for r in agreement.lesions if r.visit == "2020-03-02" and r.reference_lesion == 1)
    assert row.trainee_diameters.longest_mm == pytest.approx(24.0)
    assert row.trainee_diameters.perpendicular_mm == pytest.approx(20.0)
    assert row.trainee_diameters.slice_index == 20
    expected = 480.0 - row.reference_diameters.product_mm2
    assert row.product_difference_mm2 == pytest.approx(expected)
    assert row.longest_difference_mm == pytest.approx(24.0 - row.reference_diameters.longest_mm)
    assert row.dice == 1.0  # the outline itself is the reference's


def test_visits_read_on_another_series_compare_through_registrations() -> None:
    """The trainee read visit 2 on a finer series of the same visit (1.5 mm slices, shifted
    grid); both series share the patient frame, so the registrations are the identity."""
    reference = synthetic.reference()
    grid = synthetic.VOXEL2PATIENT.copy()
    grid[:3, 0] = (0, 0, 1.5)
    grid[:3, 3] += (0.3, -0.4, 0.0)
    shape = (52, 64, 64)
    labels = np.zeros(shape, np.uint16)
    labels[sphere(L1_CENTRE_MM, GROWN_MM, shape=shape, voxel2patient=grid)] = 1
    labels[sphere(L2_CENTRE_MM, 6.0, shape=shape, voxel2patient=grid)] = 2
    trainee = synthetic.as_trainee(reference)
    series = [trainee.series["S1"], SeriesOutlines("S2b", "2020-03-02", grid, labels, 1.5)]
    visits = (trainee.visits[0], dataclasses.replace(trainee.visits[1], series_key="S2b"))
    trainee = dataclasses.replace(trainee, series=series, visits=visits)

    agreement = compare_readings(trainee, reference, patient2reference=lambda key: np.eye(4))
    rows = [r for r in agreement.lesions if r.visit == "2020-03-02"]
    assert [(r.status, r.reference_lesion, r.trainee_lesion) for r in rows] == [
        (MATCHED, 1, 1),
        (MATCHED, 2, 2),
    ]
    assert all(r.series_key == "S2" and r.dice > 0.85 for r in rows)
    assert all(r.hausdorff_mm <= 2.0 for r in rows)  # within a slice of the reference
    assert all(r.same_slice is not None for r in rows)
    assert agreement.notes == ()

    unregistered = compare_readings(trainee, reference)
    rows = [r for r in unregistered.lesions if r.visit == "2020-03-02"]
    # L1 still corresponds (visit 1 paired it) and its numbers are compared; L2, outlined on
    # this visit only, cannot be told missed or not
    assert [(r.status, r.reference_lesion, r.trainee_lesion, r.dice) for r in rows] == [
        (MATCHED, 1, 1, None),
        (NOT_COMPARED, 2, None, None),
        (NOT_COMPARED, None, 2, None),
    ]
    assert rows[0].volume_difference_percent == pytest.approx(0.0, abs=3.0)
    assert unregistered.missed == () and unregistered.extra == ()
    assert "without their registrations" in unregistered.notes[0]
    text = "\n".join(unregistered.categories[1].explanation)
    assert "could not be related to it" in text and "did not outline" not in text
    assert "has no lesion there" not in text


def test_a_trainee_reading_by_other_criteria_is_judged_by_the_reference_s() -> None:
    reference = synthetic.reference()
    trainee = dataclasses.replace(synthetic.as_trainee(reference), criteria_key="recist")
    agreement = compare_readings(trainee, reference)
    assert agreement.criteria.key == "rano"
    assert "compared by the reference's RANO 2010" in agreement.notes[0]
    assert agreement.categories_agreed == (2, 2)


def test_another_baseline_is_pointed_out() -> None:
    reference = synthetic.reference()
    trainee = dataclasses.replace(synthetic.as_trainee(reference), baseline_visit="2020-03-02")
    agreement = compare_readings(trainee, reference)
    first, second = agreement.categories
    assert first.trainee_response.category == "not evaluable"  # before the trainee's baseline
    assert first.agree  # the trainee stated "baseline", as the reference did
    assert (second.trainee_response.category, second.trainee_category) == ("baseline", "PD")
    stated = dataclasses.replace(
        trainee,
        visits=tuple(dataclasses.replace(v, category=None) for v in trainee.visits),
    )
    agreement = compare_readings(stated, reference)
    text = "\n".join(agreement.categories[1].explanation)
    assert "You compared with the baseline of 2020-03-02, the reference with 2020-01-06." in text


def test_targets_the_criteria_cannot_use_are_replaced_with_a_note() -> None:
    reference = synthetic.reference()
    trainee = synthetic.as_trainee(reference)
    lesions = (reference.lesions[0], dataclasses.replace(reference.lesions[1], target=True))
    agreement = compare_readings(dataclasses.replace(trainee, lesions=lesions), reference)
    assert agreement.trainee.assessment.targets == (1,)  # chosen by the criteria instead
    assert any(n.startswith("Targets L2 not used") for n in agreement.notes)
    assert agreement.categories_agreed == (2, 2)
