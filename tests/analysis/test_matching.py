"""Lesion matching across visits: synthetic known-answer cases and the demo case's lesion maps."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import SAMPLE_SCANS
from viewer.analysis.matching import (
    Link,
    VisitLesions,
    lesions_in_reference,
    match_lesions,
    track,
)
from viewer.core.geometry import apply_affine
from viewer.io.nifti import read_nifti

# 1 mm axial grid, 64^3, centred on the origin: (slice, row, column) -> (z, y, x)
FINE = np.array(
    [[0, 0, 1, -32.0], [0, 1, 0, -32.0], [1, 0, 0, -32.0], [0, 0, 0, 1]], dtype=np.float64
)
FINE_SHAPE = (64, 64, 64)


def _rotation_x(degrees: float) -> np.ndarray:
    a = np.radians(degrees)
    return np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])


def _oblique_grid() -> tuple[np.ndarray, tuple[int, int, int]]:
    """3.5 mm slices of 1.3 mm pixels, tilted 8 degrees, covering the same +-32 mm cube."""
    shape = (22, 56, 56)
    affine = np.eye(4)
    rotation = _rotation_x(8.0)
    affine[:3, :3] = rotation @ np.array([[0, 0, 1.3], [0, 1.3, 0], [3.5, 0, 0]])
    centre_index = (np.array(shape) - 1) / 2.0
    affine[:3, 3] = -affine[:3, :3] @ centre_index
    return affine, shape


def _label_map(shape, voxel2patient, lesions) -> np.ndarray:
    """Label map of axis-aligned ellipsoids: lesions = [(number, centre_mm, radii_mm), ...]."""
    points = apply_affine(voxel2patient, np.indices(shape).reshape(3, -1).T)
    labels = np.zeros(shape, np.uint16)
    for number, centre, radii in lesions:
        inside = (((points - centre) / radii) ** 2).sum(axis=1) <= 1.0
        labels.reshape(-1)[inside] = number
    return labels


def _visit(name, lesions, voxel2patient=FINE, shape=FINE_SHAPE, patient2reference=None):
    labels = _label_map(shape, voxel2patient, lesions)
    return VisitLesions.from_label_map(name, labels, voxel2patient, patient2reference)


def _sphere(number, centre, radius_mm):
    return (number, np.asarray(centre, dtype=np.float64), np.full(3, float(radius_mm)))


def test_lesions_in_reference_maps_voxel_centres_through_both_matrices():
    labels = np.zeros((3, 4, 5), np.uint16)
    labels[2, 1, 3] = 7
    labels[0, 0, 0] = 2
    labels[1, 0, 0] = 2
    voxel2patient = np.diag([3.0, 2.0, 1.0, 1.0])
    shift = np.eye(4)
    shift[:3, 3] = [10.0, -5.0, 1.0]
    points = lesions_in_reference(labels, voxel2patient, shift)
    assert list(points) == [2, 7]
    np.testing.assert_allclose(points[7], [[2 * 3 + 10, 1 * 2 - 5, 3 * 1 + 1]])
    np.testing.assert_allclose(sorted(points[2][:, 0]), [10.0, 13.0])


def test_same_lesion_on_the_same_grid_links_with_dice_one():
    earlier = _visit("a", [_sphere(1, (3, -4, 5), 7)])
    later = _visit("b", [_sphere(1, (3, -4, 5), 7)])
    matching = match_lesions(earlier, later)
    assert matching.links == (Link(1, 1, 1.0, 0.0, 1.0),)
    assert matching.new == () and matching.gone == ()
    assert matching.earlier_visit == "a" and matching.later_visit == "b"


def test_same_lesion_on_an_oblique_thick_slice_grid_in_another_head_position_links():
    # the later series is acquired with the head moved: its patient space maps to the reference
    # by a known rigid transform, and the lesion sits where that transform says
    patient2reference = np.eye(4)
    patient2reference[:3, :3] = _rotation_x(-6.0)
    patient2reference[:3, 3] = [4.0, -3.0, 2.0]
    centre_reference = np.array([2.0, 1.0, -3.0])
    centre_patient = apply_affine(np.linalg.inv(patient2reference), centre_reference)
    grid, shape = _oblique_grid()
    earlier = _visit("a", [_sphere(1, centre_reference, 9)])
    later = _visit("b", [_sphere(1, centre_patient, 9)], grid, shape, patient2reference)
    (link,) = match_lesions(earlier, later).links
    assert link.overlap > 0.85
    assert link.distance_mm < 1.0


def test_lesions_that_do_not_touch_are_never_paired_even_when_close():
    # spheres of radius 3 mm on a 1 mm grid cover 3.5 mm about their centres: 8 mm apart they
    # leave a 1 mm gap, so no limit on overlap or distance may pair them
    earlier = _visit("a", [_sphere(1, (0, 0, 0), 3)])
    later = _visit("b", [_sphere(1, (8, 0, 0), 3)])
    matching = match_lesions(earlier, later, min_overlap=1e-9, max_distance_mm=1000.0)
    assert matching.links == ()
    assert matching.new == (1,) and matching.gone == (1,)
    # the control: 5 mm apart they share a sliver and, with the same limits, are linked
    touching = _visit("b", [_sphere(1, (5, 0, 0), 3)])
    (link,) = match_lesions(earlier, touching, min_overlap=1e-9, max_distance_mm=1000.0).links
    assert (link.earlier, link.later) == (1, 1)
    assert link.distance_mm == pytest.approx(5.0, abs=0.01)


def test_neighbours_that_only_graze_are_not_linked_by_default():
    # radius 6 spheres 11 mm apart share a lens of about 3 % of each
    earlier = _visit("a", [_sphere(1, (0, 0, -5.5), 6)])
    later = _visit("b", [_sphere(1, (0, 0, 5.5), 6)])
    grazing = match_lesions(earlier, later)
    assert grazing.links == () and grazing.new == (1,) and grazing.gone == (1,)
    (link,) = match_lesions(earlier, later, min_overlap=0.01).links
    assert 0.01 < link.overlap_of_smaller < 0.1


def test_a_lesion_that_splits_is_linked_to_both_parts():
    earlier = _visit("a", [(1, np.zeros(3), np.array([6.0, 6.0, 16.0]))])
    later = _visit("b", [_sphere(1, (0, 0, -9), 5), _sphere(2, (0, 0, 9), 5)])
    matching = match_lesions(earlier, later)
    assert [(link.earlier, link.later) for link in matching.links] == [(1, 1), (1, 2)]
    assert matching.splits == {1: (1, 2)}
    assert matching.merges == {}
    assert matching.new == () and matching.gone == ()


def test_two_lesions_that_merge_are_linked_to_the_one():
    earlier = _visit("a", [_sphere(1, (0, 0, -9), 5), _sphere(2, (0, 0, 9), 5)])
    later = _visit("b", [(2, np.zeros(3), np.array([6.0, 6.0, 16.0]))])
    matching = match_lesions(earlier, later)
    assert [(link.earlier, link.later) for link in matching.links] == [(1, 2), (2, 2)]
    assert matching.merges == {2: (1, 2)}
    assert matching.splits == {}


def test_a_lesion_that_disappears_is_gone():
    earlier = _visit("a", [_sphere(1, (-15, 0, 0), 5), _sphere(2, (15, 0, 0), 4)])
    later = _visit("b", [_sphere(1, (-15, 0, 0), 6)])
    matching = match_lesions(earlier, later)
    assert [(link.earlier, link.later) for link in matching.links] == [(1, 1)]
    assert matching.gone == (2,) and matching.new == ()


def test_a_renumbered_lesion_is_linked_to_its_old_number():
    # the reader outlined the old lesion as 3 this time, and used 1 for a new one elsewhere
    earlier = _visit("a", [_sphere(1, (10, 10, 0), 6)])
    later = _visit("b", [_sphere(3, (11, 10, 0), 7), _sphere(1, (-15, -10, 5), 4)])
    matching = match_lesions(earlier, later)
    assert [(link.earlier, link.later) for link in matching.links] == [(1, 3)]
    assert matching.new == (1,) and matching.gone == ()


def test_a_nodule_that_grows_sixteen_fold_around_itself_stays_linked():
    # Dice cannot exceed 2 * 1 / 17 here, yet all of the nodule lies in the grown lesion
    earlier = _visit("a", [_sphere(1, (0, 0, 9), 4)])
    later = _visit("b", [_sphere(1, (0, 0, 0), 16)])
    (link,) = match_lesions(earlier, later).links
    assert link.overlap < 0.12
    assert link.overlap_of_smaller == 1.0
    assert link.distance_mm == pytest.approx(9.0, abs=0.05)


def test_centroids_further_apart_than_the_limit_are_not_linked():
    earlier = _visit("a", [(1, np.zeros(3), np.array([3.0, 3.0, 30.0]))])
    later = _visit("b", [_sphere(1, (0, 0, 26), 3)])
    assert match_lesions(earlier, later).links[0].distance_mm == pytest.approx(26.0, abs=0.05)
    far = match_lesions(earlier, later, max_distance_mm=20.0)
    assert far.links == () and far.new == (1,) and far.gone == (1,)


def test_without_voxel_axes_a_voxel_is_a_cube_of_its_volume():
    with_axes = _visit("a", [_sphere(1, (0, 0, 0), 5)])
    cubes = VisitLesions("a", with_axes.masks_mm, with_axes.voxel_volume_ml)
    (link,) = match_lesions(cubes, with_axes).links
    assert link.overlap == 1.0


def test_track_matches_consecutive_visits():
    visits = [
        _visit("1", [_sphere(1, (0, 0, 0), 4)]),
        _visit("2", [_sphere(1, (0, 0, 0), 6)]),
        _visit("3", [_sphere(1, (0, 0, 1), 8), _sphere(2, (20, 20, 0), 3)]),
    ]
    first, second = track(visits, max_distance_mm=5.0)
    assert (first.earlier_visit, first.later_visit) == ("1", "2")
    assert [(link.earlier, link.later) for link in first.links] == [(1, 1)]
    assert second.new == (2,) and second.gone == ()
    assert track(visits[:1]) == []


@pytest.mark.parametrize(
    ("masks", "volume_ml", "axes", "message"),
    [
        ({1: np.empty((0, 3))}, 0.001, None, "N >= 1"),
        ({1: np.zeros((4, 2))}, 0.001, None, "N >= 1"),
        ({1: [[0.0, np.nan, 0.0]]}, 0.001, None, "non-finite"),
        ({1: np.zeros((1, 3))}, 0.0, None, "positive"),
        ({1: np.zeros((1, 3))}, 0.001, np.eye(3) * 2.0, "span"),
    ],
)
def test_visit_lesions_refuses_bad_input(masks, volume_ml, axes, message):
    with pytest.raises(ValueError, match=message):
        VisitLesions("2002-12-09", masks, volume_ml, axes)


def test_match_lesions_refuses_bad_limits():
    visit = _visit("a", [_sphere(1, (0, 0, 0), 3)])
    with pytest.raises(ValueError, match="min_overlap"):
        match_lesions(visit, visit, min_overlap=0.0)
    with pytest.raises(ValueError, match="max_distance_mm"):
        match_lesions(visit, visit, max_distance_mm=-1.0)


DEMO = SAMPLE_SCANS / "demo_case"
DEMO_SERIES = [
    "2002-08-14/SE07_AX_T1_POST_GAD",
    "2002-12-09/SE08_AX_T1_POST_GAD",
    "2003-03-27/SE09_AX_T1_POST_GAD",
]


@pytest.mark.parametrize("enhancing_only", [False, True])
def test_demo_lesion_maps_link_the_recurrence_and_flag_the_metastasis_as_new(enhancing_only):
    truth = json.loads((DEMO / "ground_truth" / "case.json").read_text(encoding="utf-8"))
    series = {s["key"]: s for visit in truth["visits"] for s in visit["series"]}
    visits = []
    for key in DEMO_SERIES:
        lesion_map = read_nifti(DEMO / series[key]["lesion_map"])
        labels = np.asarray(lesion_map.array, dtype=np.uint16)
        if enhancing_only:
            # what a reader outlines: the enhancing tumour (tissue label 1) of each lesion
            labels = labels * (read_nifti(DEMO / series[key]["label_map"]).array == 1)
        np.testing.assert_allclose(
            lesion_map.voxel2patient, series[key]["voxel2patient"], atol=1e-4
        )
        visits.append(
            VisitLesions.from_label_map(
                key[:10],
                labels,
                lesion_map.voxel2patient,
                np.array(series[key]["patient2reference"]),
            )
        )
    august_to_december, december_to_march = track(visits)
    assert [(link.earlier, link.later) for link in august_to_december.links] == [(1, 1)]
    assert august_to_december.new == () and august_to_december.gone == ()
    assert [(link.earlier, link.later) for link in december_to_march.links] == [(1, 1)]
    assert december_to_march.new == (2,) and december_to_march.gone == ()
    assert december_to_march.splits == {} and december_to_march.merges == {}
    # the recurrence moved its centroid by a few mm, well inside the default limit
    assert all(link.distance_mm < 10.0 for link in august_to_december.links)


def test_an_empty_label_map_has_no_lesions():
    from viewer.analysis.matching import lesions_in_reference

    assert lesions_in_reference(np.zeros((2, 3, 3), np.uint16), np.eye(4)) == {}
