"""The new-lesion finder: synthetic heads with a known new lesion; the demo case's metastasis."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import SAMPLE_SCANS
from viewer.analysis.new_lesions import Candidate, find_new_lesions
from viewer.core.geometry import apply_affine
from viewer.core.volume import Volume, VolumeMetadata
from viewer.errors import OperationCancelled
from viewer.io import load_series, scan_paths
from viewer.io.nifti import read_nifti
from viewer.registration.automatic import register

NEW_CENTRE = np.array([22.0, 18.0, 12.0])
"""Reference-frame mm of the synthetic new lesion (inside the brain, away from the known one)."""
KNOWN_CENTRE = np.array([-20.0, -10.0, 5.0])


def _rigid(degrees: float, axis: int, shift_mm) -> np.ndarray:
    a = np.radians(degrees)
    i, j = [k for k in range(3) if k != axis]
    matrix = np.eye(4)
    matrix[i, i] = matrix[j, j] = np.cos(a)
    matrix[i, j], matrix[j, i] = -np.sin(a), np.sin(a)
    matrix[:3, 3] = shift_mm
    return matrix


def _grid(spacing_mm, shape, tilt_degrees: float) -> np.ndarray:
    """voxel2patient of an axial-ish grid centred on the origin, tilted about x."""
    affine = _rigid(tilt_degrees, 0, [0, 0, 0])
    affine[:3, :3] = affine[:3, :3] @ np.array(
        [[0, 0, spacing_mm[2]], [0, spacing_mm[1], 0], [spacing_mm[0], 0, 0]]
    )
    affine[:3, 3] = -affine[:3, :3] @ ((np.array(shape) - 1) / 2.0)
    return affine


def _inside(points, centre, radii) -> np.ndarray:
    return (((points - centre) / np.asarray(radii, dtype=np.float64)) ** 2).sum(axis=-1) <= 1.0


def _head(points_ref: np.ndarray, *, ct: bool, new_centre, known_radius_mm: float) -> np.ndarray:
    """Tissue values of a simple head at reference-frame points (N, 3); a new lesion if asked."""
    brain_radii = np.array([52.0, 62.0, 46.0])
    values = np.zeros(len(points_ref))
    tissue = {
        "scalp": (1000.0, 1300.0),  # CT HU / MRI units relative to white matter 1000
        "skull": (1200.0, 60.0),
        "grey": (36.0, 700.0),
        "white": (30.0, 1000.0),
        "ventricle": (8.0, 200.0),
        "enhancing": (78.0, 1650.0),
    }
    column = 0 if ct else 1
    if ct:
        values[:] = -1000.0
        tissue["scalp"] = (40.0, 0.0)
    layers = [
        ("scalp", brain_radii + 10.0),
        ("skull", brain_radii + 6.0),
        ("grey", brain_radii),
        ("white", brain_radii - 5.0),
    ]
    for name, radii in layers:
        values[_inside(points_ref, 0.0, radii)] = tissue[name][column]
    for side in (-1.0, 1.0):
        ventricle = _inside(points_ref, [side * 8.0, 0.0, 10.0], [4.0, 18.0, 8.0])
        values[ventricle] = tissue["ventricle"][column]
    values[_inside(points_ref, KNOWN_CENTRE, [known_radius_mm] * 3)] = tissue["enhancing"][column]
    if new_centre is not None:
        values[_inside(points_ref, new_centre, [5.0, 5.0, 5.0])] = tissue["enhancing"][column]
    return values


def _acquire(
    *, ct: bool, new_centre, known_radius_mm: float, pose: np.ndarray, grid: np.ndarray, shape, seed
) -> Volume:
    """Image the head on a grid, with the head at ``pose`` (patient -> reference) and noise."""
    rng = np.random.default_rng(seed)
    # partial volume: each voxel averages sub-samples at most 1.5 mm apart across it, as a
    # scanner's voxel integrates over its slab
    steps = [int(np.ceil(np.linalg.norm(grid[:3, k]) / 1.5)) for k in range(3)]
    fractions = [(np.arange(n) + 0.5) / n - 0.5 for n in steps]
    offsets = np.stack(np.meshgrid(*fractions, indexing="ij"), axis=-1).reshape(-1, 3)
    centres = np.indices(shape).reshape(3, -1).T
    values = np.zeros(len(centres))
    for offset in offsets:
        points = apply_affine(pose @ grid, centres + offset)
        values += _head(points, ct=ct, new_centre=new_centre, known_radius_mm=known_radius_mm)
    values /= len(offsets)
    if ct:
        array = np.rint(values + rng.normal(0.0, 3.5, values.shape)).astype(np.int16)
        metadata = VolumeMetadata(modality="CT", units="HU")
    else:
        # MRI: an arbitrary scale per acquisition and Rician-like noise
        scale = 1.7 if new_centre is None else 0.6
        noisy = values * scale + rng.normal(0.0, 25.0 * scale, values.shape)
        array = np.abs(noisy).astype(np.float32)
        metadata = VolumeMetadata(modality="MR")
    return Volume(array.reshape(shape), grid, metadata)


PREVIOUS_POSE = _rigid(6.0, 2, [3.0, -4.0, 2.0])
CURRENT_POSE = _rigid(-5.0, 0, [-2.0, 5.0, -3.0])


def _pair(*, ct: bool, new_centre=NEW_CENTRE) -> tuple[Volume, Volume]:
    """(current, previous): the current has the new lesion and a known lesion grown from 5 mm."""
    current = _acquire(
        ct=ct,
        new_centre=new_centre,
        known_radius_mm=8.0,
        pose=CURRENT_POSE,
        grid=_grid((3.0, 2.0, 2.0), (44, 72, 64), 4.0),
        shape=(44, 72, 64),
        seed=1,
    )
    previous = _acquire(
        ct=ct,
        new_centre=None,
        known_radius_mm=5.0,
        pose=PREVIOUS_POSE,
        grid=_grid((5.0, 2.4, 2.4), (28, 60, 54), 0.0),
        shape=(28, 60, 54),
        seed=2,
    )
    return current, previous


def _known_points(volume: Volume, pose: np.ndarray, radius_mm: float) -> np.ndarray:
    points = apply_affine(pose @ volume.voxel2patient, np.indices(volume.shape).reshape(3, -1).T)
    return points[_inside(points, KNOWN_CENTRE, [radius_mm] * 3)]


@pytest.fixture(scope="module")
def mri_pair():
    return _pair(ct=False)


@pytest.fixture(scope="module")
def ct_pair():
    return _pair(ct=True)


@pytest.mark.parametrize("ct", [False, True], ids=["MRI", "CT"])
def test_finds_the_one_new_lesion_and_nothing_else(ct, mri_pair, ct_pair):
    current, previous = ct_pair if ct else mri_pair
    known = _known_points(current, CURRENT_POSE, 8.0)
    candidates = find_new_lesions(
        current,
        previous,
        current2reference=CURRENT_POSE,
        previous2reference=PREVIOUS_POSE,
        known_reference_mm=[known],
    )
    assert len(candidates) == 1
    (found,) = candidates
    assert np.linalg.norm(np.array(found.centre_reference_mm) - NEW_CENTRE) < 1.5
    # the 0.52 mL sphere, blurred by 1.5 mm and cut at the threshold
    assert 0.25 < found.volume_ml < 0.9
    # the centres are 45 mm apart; the nearest voxels of the two spheres, both radii less
    distance = np.linalg.norm(NEW_CENTRE - KNOWN_CENTRE) - 5.0 - 8.0
    assert found.distance_to_known_mm == pytest.approx(distance, abs=3.0)
    assert found.units == ("HU" if ct else "IQR")
    assert found.peak_change > (15.0 if ct else 0.5)
    assert "new enhancement" in found.reason and "known lesion" in found.reason


def test_a_cortical_lesion_just_under_the_skull_is_found():
    # its edge is within a millimetre of the inner table of the skull (dark on T1, so the brain
    # alone would look like the head), 11 mm under the scalp: all of it is searched
    cortical = np.array([43.5, 10.0, 12.0])
    current, previous = _pair(ct=False, new_centre=cortical)
    candidates = find_new_lesions(
        current,
        previous,
        current2reference=CURRENT_POSE,
        previous2reference=PREVIOUS_POSE,
        known_reference_mm=[_known_points(current, CURRENT_POSE, 8.0)],
    )
    assert len(candidates) == 1
    assert np.linalg.norm(np.array(candidates[0].centre_reference_mm) - cortical) < 1.0
    assert candidates[0].volume_ml > 0.5


def test_without_known_lesions_the_grown_one_ranks_first(mri_pair):
    current, previous = mri_pair
    candidates = find_new_lesions(
        current, previous, current2reference=CURRENT_POSE, previous2reference=PREVIOUS_POSE
    )
    assert len(candidates) == 2
    grown, new = candidates
    # the known lesion grew from 5 to 8 mm: a 1.6 mL shell, more evidence than the 0.5 mL lesion
    assert np.linalg.norm(np.array(grown.centre_reference_mm) - KNOWN_CENTRE) < 2.0
    assert np.linalg.norm(np.array(new.centre_reference_mm) - NEW_CENTRE) < 1.5
    assert grown.integrated_change > new.integrated_change
    assert new.distance_to_known_mm == float("inf") and "no known lesion" in new.reason


def test_size_and_distance_limits(mri_pair):
    current, previous = mri_pair
    common = dict(current2reference=CURRENT_POSE, previous2reference=PREVIOUS_POSE)
    assert find_new_lesions(current, previous, min_volume_ml=1.0, **common)[0].volume_ml > 1.0
    assert len(find_new_lesions(current, previous, min_volume_ml=1.0, **common)) == 1
    # a known lesion point 18 mm from the new lesion's centre, 13 mm from its edge
    far_known = [NEW_CENTRE[None, :] + [0.0, 0.0, 18.0]]
    assert len(find_new_lesions(current, previous, known_reference_mm=far_known, **common)) == 2
    assert (
        len(
            find_new_lesions(
                current, previous, known_reference_mm=far_known, min_distance_mm=20.0, **common
            )
        )
        == 1
    )


@pytest.mark.parametrize(("ct", "shift_mm"), [(True, 1.5), (False, 1.0)], ids=["CT", "MRI"])
def test_a_registration_error_adds_no_candidate(ct, shift_mm, mri_pair, ct_pair):
    # the error moves the skull's 1200 HU edges, or the scalp's bright fat, by over half a voxel:
    # neither is searched, and CT is clipped to soft tissue before subtracting
    current, previous = ct_pair if ct else mri_pair
    error = _rigid(1.0, 1, [shift_mm, 0.0, 0.0])
    known = _known_points(current, CURRENT_POSE, 8.0)
    candidates = find_new_lesions(
        current,
        previous,
        current2reference=error @ CURRENT_POSE,
        previous2reference=PREVIOUS_POSE,
        known_reference_mm=[known],
    )
    assert len(candidates) == 1
    assert np.linalg.norm(np.array(candidates[0].centre_reference_mm) - NEW_CENTRE) < 3.0


def test_unreadable_slices_of_the_previous_visit_are_not_compared(mri_pair):
    current, previous = mri_pair
    # the previous visit's slices through the new lesion could not be read
    z = apply_affine(np.linalg.inv(PREVIOUS_POSE @ previous.voxel2patient), NEW_CENTRE)[0]
    lost = tuple(range(int(np.floor(z)) - 1, int(np.ceil(z)) + 2))
    damaged = Volume(
        previous.array,
        previous.voxel2patient,
        VolumeMetadata(modality="MR", incomplete_slices=lost),
    )
    candidates = find_new_lesions(
        current, damaged, current2reference=CURRENT_POSE, previous2reference=PREVIOUS_POSE
    )
    assert all(
        np.linalg.norm(np.array(c.centre_reference_mm) - NEW_CENTRE) > 10.0 for c in candidates
    )


def test_visits_that_do_not_overlap_give_no_candidates(mri_pair):
    current, previous = mri_pair
    away = _rigid(0.0, 0, [0.0, 0.0, 500.0])
    assert (
        find_new_lesions(current, previous, current2reference=away, previous2reference=None) == []
    )


def test_refuses_ct_against_mri_and_bad_matrices(mri_pair, ct_pair):
    current, previous = mri_pair
    ct, _ = ct_pair
    with pytest.raises(ValueError, match="same modality"):
        find_new_lesions(ct, previous, current2reference=None, previous2reference=None)
    with pytest.raises(ValueError, match="current2reference"):
        find_new_lesions(current, previous, current2reference=np.eye(3), previous2reference=None)
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        find_new_lesions(
            current,
            previous,
            current2reference=None,
            previous2reference=None,
            known_reference_mm=[np.zeros(3)],
        )


def test_cancel_stops_the_search(mri_pair):
    current, previous = mri_pair
    with pytest.raises(OperationCancelled):
        find_new_lesions(
            current,
            previous,
            current2reference=CURRENT_POSE,
            previous2reference=PREVIOUS_POSE,
            cancelled=lambda: True,
        )


DEMO = SAMPLE_SCANS / "demo_case"
TRUTH = json.loads((DEMO / "ground_truth" / "case.json").read_text(encoding="utf-8"))
SERIES = {s["key"]: s for visit in TRUTH["visits"] for s in visit["series"]}
MARCH = next(visit for visit in TRUTH["visits"] if visit["date"] == "2003-03-27")
METASTASIS_REFERENCE_MM = np.array(MARCH["lesions_analytic"]["2"]["centroid_reference_mm"])
PAIRS = {
    "MRI": ("2003-03-27/SE09_AX_T1_POST_GAD", "2002-12-09/SE08_AX_T1_POST_GAD"),
    "CT": ("2003-03-27/SE02_CT_HEAD_CPLUS", "2002-12-09/SE03_CT_HEAD_CPLUS"),
}


@pytest.fixture(scope="module")
def demo():
    catalog = scan_paths([DEMO / "dicom"])

    def get(key):
        series = SERIES[key]
        volume = load_series(catalog.find_series(series["series_instance_uid"]))
        tissue = read_nifti(DEMO / series["label_map"]).array
        lesions = read_nifti(DEMO / series["lesion_map"]).array
        # the recurrence as a reader outlines it: enhancing tumour and necrotic core of lesion 1
        recurrence = np.argwhere((lesions == 1) & np.isin(tissue, (1, 2)))
        return volume, recurrence, np.array(series["patient2reference"])

    return get


def _demo_candidates(demo, pair, *, registered: bool) -> tuple[list[Candidate], np.ndarray]:
    """Candidates of a demo pair with the recurrence known; also the metastasis' true centre."""
    current, current_l1, current2reference = demo(PAIRS[pair][0])
    previous, previous_l1, previous2reference = demo(PAIRS[pair][1])
    metastasis = METASTASIS_REFERENCE_MM
    if registered:
        # the frame is the previous visit's patient space; the current is registered onto it
        current2reference = register(previous, current).transform.moving2reference
        metastasis = apply_affine(np.linalg.inv(previous2reference), metastasis)
        previous2reference = np.eye(4)
    known = [
        apply_affine(current2reference @ current.voxel2patient, current_l1),
        apply_affine(previous2reference @ previous.voxel2patient, previous_l1),
    ]
    candidates = find_new_lesions(
        current,
        previous,
        current2reference=current2reference,
        previous2reference=previous2reference,
        known_reference_mm=known,
    )
    return candidates, metastasis


@pytest.mark.parametrize("registered", [False, True], ids=["true transforms", "registered"])
@pytest.mark.parametrize("pair", ["MRI", "CT"])
def test_demo_finds_the_2003_metastasis_with_few_false_candidates(demo, pair, registered):
    candidates, metastasis = _demo_candidates(demo, pair, registered=registered)
    distances = [np.linalg.norm(np.array(c.centre_reference_mm) - metastasis) for c in candidates]
    found = [d for d in distances if d <= 5.0]
    assert len(found) == 1, distances
    assert len(candidates) - 1 <= 3
    # and it is the most convincing one
    assert distances[0] <= 5.0
