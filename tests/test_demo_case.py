"""The demo case in sample_scans/: it regenerates identically, and its ground truth is right.

Known-answer checks read the DICOM files with pydicom + numpy and the label maps with nibabel, on
purpose not with Interval's own readers: this ground truth is what those readers are tested against.
"""

from __future__ import annotations

import functools
import gzip
import json
import math
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest

from tests.conftest import SAMPLE_SCANS

DEMO = SAMPLE_SCANS / "demo_case"
TRUTH = json.loads((DEMO / "ground_truth" / "case.json").read_text(encoding="utf-8"))
SERIES = [series for visit in TRUTH["visits"] for series in visit["series"]]
VISITS = {visit["date"]: visit for visit in TRUTH["visits"]}
LPS2RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
IJK2SRC = np.array([[0, 0, 1, 0], [0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1]], dtype=float)
ENHANCING, NECROSIS, OEDEMA, CAVITY = 1, 2, 3, 4


def series_id(series: dict) -> str:
    return series["key"]


@pytest.fixture(scope="module", autouse=True)
def _release_cached_series():
    """The decoded series are shared by this module's tests, then freed for the rest of the run."""
    yield
    read_dicom.cache_clear()
    read_labels.cache_clear()


def _files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


@functools.cache
def read_dicom(folder: str) -> tuple[np.ndarray, np.ndarray, list[pydicom.Dataset]]:
    """(rescaled array (Z, Y, X), voxel2patient, datasets), slices sorted along the normal."""
    datasets = [pydicom.dcmread(p) for p in sorted((DEMO / folder).iterdir())]
    iop = np.array(datasets[0].ImageOrientationPatient, dtype=float)
    normal = np.cross(iop[:3], iop[3:])
    datasets.sort(key=lambda ds: float(np.dot(np.array(ds.ImagePositionPatient, float), normal)))
    ipp = np.array([ds.ImagePositionPatient for ds in datasets], dtype=float)
    steps = np.diff(ipp, axis=0)
    assert np.allclose(steps, steps[0], atol=1e-3), f"{folder}: uneven slices"
    row_mm, column_mm = (float(v) for v in datasets[0].PixelSpacing)
    affine = np.eye(4)
    affine[:3, 0] = steps[0]
    affine[:3, 1] = iop[3:] * row_mm
    affine[:3, 2] = iop[:3] * column_mm
    affine[:3, 3] = ipp[0]
    array = np.stack(
        [ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept) for ds in datasets]
    )
    return array, affine, datasets


@functools.cache
def read_labels(path: str) -> tuple[np.ndarray, np.ndarray]:
    """(array (Z, Y, X), voxel2patient) of a ground-truth NIfTI."""
    image = nib.load(DEMO / path)
    assert np.allclose(image.get_qform(), image.get_sform(), atol=1e-6)
    array = np.asarray(image.dataobj).transpose(2, 1, 0)
    return array, LPS2RAS @ image.affine @ IJK2SRC


def patient_points(affine: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Patient coordinates of every voxel centre, shape (Z, Y, X, 3)."""
    index = np.stack(np.indices(shape), axis=-1).astype(float)
    return index @ affine[:3, :3].T + affine[:3, 3]


def to_anatomy(series: dict) -> np.ndarray:
    """Patient coordinates of a series -> the phantom's anatomical frame, through the reference."""
    return np.linalg.inv(np.array(TRUTH["anatomy2reference"])) @ np.array(
        series["patient2reference"]
    )


def apply(affine: np.ndarray, points: np.ndarray) -> np.ndarray:
    return np.asarray(points, float) @ np.asarray(affine)[:3, :3].T + np.asarray(affine)[:3, 3]


# --------------------------------------------------------------------------------------------
# (a) the committed case is exactly what the generator writes


def _same_dicom(a: Path, b: Path) -> None:
    da, db = pydicom.dcmread(a), pydicom.dcmread(b)
    assert da.file_meta.TransferSyntaxUID == db.file_meta.TransferSyntaxUID, a
    tags = {e.tag for e in da} | {e.tag for e in db}
    for tag in sorted(tags - {pydicom.tag.Tag("PixelData")}):
        assert tag in da and tag in db and da[tag].value == db[tag].value, f"{a}: {tag} differs"
    pa, pb = da.pixel_array, db.pixel_array
    assert pa.dtype == pb.dtype and pa.tobytes() == pb.tobytes(), f"{a}: pixels differ"


def test_regenerated_case_matches_committed(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(SAMPLE_SCANS / "generate_demo.py"), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    # the reference reading is written by demo_reading.py and checked in tests/teaching
    committed = [name for name in _files(DEMO) if name != "reference.reading"]
    assert committed == _files(tmp_path)
    for name in committed:
        a, b = DEMO / name, tmp_path / name
        if name.startswith("dicom/"):
            _same_dicom(a, b)
        elif name.endswith(".gz"):
            # compare content, not the compressor's bytes (zlib builds may differ)
            assert gzip.decompress(a.read_bytes()) == gzip.decompress(b.read_bytes()), name
        else:
            assert a.read_bytes() == b.read_bytes(), name


def test_committed_case_is_small() -> None:
    assert sum((DEMO / name).stat().st_size for name in _files(DEMO)) <= 25_000_000


# --------------------------------------------------------------------------------------------
# (b) known answers: the DICOM series


def test_visits_tell_the_story() -> None:
    dates = list(VISITS)
    assert [d[:7] for d in dates] == ["1995-06", "1995-07", "2002-08", "2002-12", "2003-03"]
    assert dates[-1] == "2003-03-27"
    modalities = {d: sorted(s["modality"] for s in VISITS[d]["series"]) for d in dates}
    assert modalities == {
        dates[0]: ["CT", "MR"],
        dates[1]: ["MR"],
        dates[2]: ["MR"],
        dates[3]: ["CT", "MR"],
        dates[4]: ["CT", "MR"],
    }
    assert TRUTH["reference_series"] == f"{dates[0]}/SE05_AX_T1_POST_GAD"


def test_dicom_tags_are_consistent() -> None:
    frames, studies = set(), {}
    for series in SERIES:
        _, _, datasets = read_dicom(series["folder"])
        assert len(datasets) == series["slice_count"]
        first = datasets[0]
        date = series["key"].split("/")[0]
        for ds in datasets:
            assert ds.SeriesInstanceUID == series["series_instance_uid"]
            assert ds.FrameOfReferenceUID == series["frame_of_reference_uid"]
            assert ds.StudyInstanceUID == VISITS[date]["study_instance_uid"]
            assert ds.StudyDate == ds.SeriesDate == ds.AcquisitionDate == date.replace("-", "")
            assert ds.Modality == series["modality"]
            assert ds.SeriesDescription == series["description"]
        assert len({ds.SOPInstanceUID for ds in datasets}) == len(datasets)
        assert sorted(int(ds.InstanceNumber) for ds in datasets) == list(
            range(1, len(datasets) + 1)
        )
        assert (first.PatientName, first.PatientID, first.PatientSex) == (
            "DEMO^GLIOMA",
            "INTERVAL-DEMO-001",
            "F",
        )
        assert first.PatientBirthDate.startswith("1925")
        frames.add(first.FrameOfReferenceUID)
        studies.setdefault(first.StudyInstanceUID, set()).add(date)
        names = sorted(p.name for p in (DEMO / series["folder"]).iterdir())
        assert names == [f"IM{n:05d}" for n in range(1, len(datasets) + 1)]
    assert len(frames) == len(SERIES), "every acquisition has its own frame of reference"
    assert all(len(dates) == 1 for dates in studies.values()) and len(studies) == len(VISITS)


def test_acquisitions_differ_as_real_ones_do() -> None:
    planes, slice_steps, matrices, syntaxes, top_down = [], [], set(), set(), 0
    for series in SERIES:
        array, affine, datasets = read_dicom(series["folder"])
        iop = np.array(datasets[0].ImageOrientationPatient, float)
        planes.append("xyz"[int(np.argmax(np.abs(np.cross(iop[:3], iop[3:]))))])
        slice_steps.append((series["modality"], float(np.linalg.norm(affine[:3, 0]))))
        matrices.add(array.shape[1:])
        syntaxes.add(datasets[0].file_meta.TransferSyntaxUID)
        instance = [int(ds.InstanceNumber) for ds in datasets]
        top_down += instance[0] == len(instance)
        if series["modality"] == "CT":
            ds = datasets[0]
            assert (float(ds.RescaleIntercept), float(ds.RescaleSlope)) == (-1024.0, 1.0)
            assert ds.PixelRepresentation == 0
            assert math.isclose(slice_steps[-1][1], 5.0)
    assert planes.count("y") == 1, "one coronal series"
    assert ("MR", 5.0) in [(m, round(s, 3)) for m, s in slice_steps], "an MRI with 5 mm slices"
    assert len(matrices) >= 4
    assert pydicom.uid.RLELossless in syntaxes and pydicom.uid.ExplicitVRLittleEndian in syntaxes
    assert top_down >= 1, "some series are numbered from the top slice down"
    slopes = {float(read_dicom(s["folder"])[2][0].RescaleSlope) for s in SERIES}
    assert any(s not in (0.0, 1.0) for s in slopes), "one MRI has a non-trivial RescaleSlope"


def test_contrast_tags() -> None:
    for series in SERIES:
        ds = read_dicom(series["folder"])[2][0]
        has_agent = bool(getattr(ds, "ContrastBolusAgent", ""))
        assert has_agent == series["contrast"], series["key"]
        assert has_agent == ("POST GAD" in ds.SeriesDescription or "C+" in ds.SeriesDescription)
    assert all(s["contrast"] for s in SERIES if s["modality"] == "MR")


def test_label_maps_overlay_their_series() -> None:
    for series in SERIES:
        array, affine, _ = read_dicom(series["folder"])
        for key in ("label_map", "lesion_map"):
            labels, label_affine = read_labels(series[key])
            assert labels.shape == array.shape and labels.dtype == np.uint8
            assert np.allclose(label_affine, affine, atol=1e-4), series[key]
        assert np.allclose(np.array(series["voxel2patient"]), affine, atol=1e-4)


# --------------------------------------------------------------------------------------------
# (b) known answers: transforms


def test_transforms_are_small_rigid_motions() -> None:
    for series in SERIES:
        matrix = np.array(series["patient2reference"])
        rotation = matrix[:3, :3]
        assert np.allclose(rotation @ rotation.T, np.eye(3), atol=1e-7)
        assert math.isclose(np.linalg.det(rotation), 1.0, abs_tol=1e-7)
        assert np.allclose(matrix[3], [0, 0, 0, 1])
        angle = math.degrees(math.acos(min(1.0, (np.trace(rotation) - 1) / 2)))
        # how far the head (its anatomical origin) sat from where it sat in the reference scan
        origin = series["landmarks_patient_mm"]["anatomical_origin"]
        reference_origin = next(s for s in SERIES if s["key"] == TRUTH["reference_series"])[
            "landmarks_patient_mm"
        ]["anatomical_origin"]
        assert np.allclose(apply(matrix, origin), reference_origin, atol=1e-3)
        assert angle <= 10.5 and math.dist(origin, reference_origin) <= 15.5
        if series["key"] == TRUTH["reference_series"]:
            assert np.allclose(matrix, np.eye(4), atol=1e-9)
        else:
            assert angle > 2.0, "every visit has its own head position"


def _darkness_moments(series: dict) -> tuple[np.ndarray, np.ndarray]:
    """Centroid and long axis (anatomical frame) of the left lateral ventricle's CSF, found in the
    DICOM pixels: each voxel weighted by how much darker than the surrounding white matter it is."""
    array, affine, _ = read_dicom(series["folder"])
    anatomy = apply(to_anatomy(series), patient_points(affine, array.shape))
    centre = np.array(TRUTH["landmarks_anatomy_mm"]["left_lateral_ventricle_centre"])
    yaw = math.radians(-8.0)
    axes = np.array(
        [[math.cos(yaw), math.sin(yaw), 0], [-math.sin(yaw), math.cos(yaw), 0], [0, 0, 1]]
    )
    local = (anatomy - centre) @ axes.T
    roi = np.sum((local / (1.35 * np.array([6.0, 24.0, 8.0]))) ** 2, axis=-1) < 1
    values = array[roi]
    white = np.median(values)
    csf = 8.0 if series["modality"] == "CT" else 0.2 * white
    weight = np.clip((white - values) / (white - csf), 0.0, 1.0)
    points = anatomy[roi]
    centroid = weight @ points / weight.sum()
    spread = (points - centroid).T @ ((points - centroid) * weight[:, None])
    return centroid, np.linalg.eigh(spread)[1][:, -1]


@pytest.mark.parametrize("series", SERIES, ids=series_id)
def test_transform_maps_a_landmark_seen_in_the_pixels(series: dict) -> None:
    # The ventricle sits where the ground-truth transform says, in every visit's own pixels.
    centroid, axis = _darkness_moments(series)
    expected = TRUTH["landmarks_anatomy_mm"]["left_lateral_ventricle_centre"]
    assert np.linalg.norm(centroid - expected) < 0.6, centroid
    long_axis = np.array([math.sin(math.radians(8.0)), math.cos(math.radians(8.0)), 0.0])
    assert math.degrees(math.acos(abs(axis @ long_axis))) < 1.5


@pytest.mark.parametrize("series", SERIES, ids=series_id)
def test_lesions_land_where_the_transform_says(series: dict) -> None:
    visit = VISITS[series["key"].split("/")[0]]
    labels, affine = read_labels(series["label_map"])
    lesions, _ = read_labels(series["lesion_map"])
    points = patient_points(affine, labels.shape)
    for lesion, analytic in visit["lesions_analytic"].items():
        mine = lesions == int(lesion)
        tumour = mine & np.isin(labels, [ENHANCING, NECROSIS])
        region = tumour if analytic["centroid_of"] == "enhancing+necrotic" else labels == CAVITY
        centroid = apply(np.array(series["patient2reference"]), points[region].mean(axis=0))
        assert np.linalg.norm(centroid - analytic["centroid_reference_mm"]) < 0.6, lesion
        # laterality: the glioma is in the right hemisphere (x < 0), the metastasis in the left
        x = apply(to_anatomy(series), points[mine])[:, 0]
        assert (x.max() < 0) if lesion == "1" else (x.min() > 0)


@pytest.mark.parametrize("series", SERIES, ids=series_id)
def test_enhancement_in_the_pixels_matches_the_labels(series: dict) -> None:
    array, _, _ = read_dicom(series["folder"])
    labels, _ = read_labels(series["label_map"])
    enhancing = labels == ENHANCING
    if not enhancing.any():
        return
    white = _white_matter(series)
    if series["modality"] == "CT" and not series["contrast"]:
        assert array[enhancing].mean() > array[labels == OEDEMA].mean() + 15.0
        return
    # Within the lesion complex (tumour, oedema, cavity), bright voxels are the enhancing label.
    bright = 1.3 * white if series["modality"] == "MR" else white + 25.0
    seen = (labels > 0) & (array > bright)
    dice = 2 * np.count_nonzero(seen & enhancing) / (np.count_nonzero(seen) + enhancing.sum())
    assert dice > 0.85, dice


# --------------------------------------------------------------------------------------------
# (b) known answers: lesions, volumes, diameters, intensities


def test_lesion_count_per_visit() -> None:
    for date, visit in VISITS.items():
        expected = {1, 2} if date == "2003-03-27" else {1}
        assert set(map(int, visit["lesions_analytic"])) == expected
        for series in visit["series"]:
            lesions, _ = read_labels(series["lesion_map"])
            labels, _ = read_labels(series["label_map"])
            assert set(np.unique(lesions)) - {0} == expected, series["key"]
            assert (labels == ENHANCING).any() == (date != "1995-07-01")
            assert (labels == CAVITY).any() == (date != "1995-06-12")


@pytest.mark.parametrize("series", SERIES, ids=series_id)
def test_label_map_volumes_match_the_analytic_shapes(series: dict) -> None:
    visit = VISITS[series["key"].split("/")[0]]
    labels, affine = read_labels(series["label_map"])
    lesions, _ = read_labels(series["lesion_map"])
    voxel_ml = abs(np.linalg.det(affine[:3, :3])) / 1000
    for lesion, analytic in visit["lesions_analytic"].items():
        mine = lesions == int(lesion)
        tumour_ml = np.count_nonzero(mine & np.isin(labels, [ENHANCING, NECROSIS])) * voxel_ml
        recorded = series["lesions"][lesion]
        assert math.isclose(
            tumour_ml, recorded["enhancing_ml"] + recorded["necrotic_ml"], abs_tol=2e-4
        )
        true_ml = analytic["tumour_ml"]
        # a thick-slice grid samples a 1 mL nodule with ~4% error; large lesions much better
        tolerance = 0.02 if true_ml > 10 else 0.05
        if true_ml:
            assert abs(tumour_ml - true_ml) <= tolerance * true_ml, (lesion, tumour_ml, true_ml)
        oedema_ml = np.count_nonzero(mine & (labels == OEDEMA)) * voxel_ml
        assert abs(oedema_ml - analytic["oedema_ml"]) <= 0.03 * analytic["oedema_ml"]
        if analytic["cavity_ml"]:
            cavity_ml = np.count_nonzero(labels == CAVITY) * voxel_ml
            assert abs(cavity_ml - analytic["cavity_ml"]) <= 0.05 * analytic["cavity_ml"]


def test_tumour_course_follows_the_story() -> None:
    volume = {d: v["lesions_analytic"]["1"]["tumour_ml"] for d, v in VISITS.items()}
    dates = list(VISITS)
    assert 8 < volume[dates[0]] < 25  # diagnosis: a 3 cm class glioma
    assert volume[dates[1]] == 0 and VISITS[dates[1]]["lesions_analytic"]["1"]["cavity_ml"] > 3
    assert 0.5 < volume[dates[2]] < 2  # a small nodule at the margin
    assert volume[dates[3]] > 5 * volume[dates[2]]  # marked growth
    assert volume[dates[4]] > volume[dates[3]]  # further growth
    metastasis = VISITS["2003-03-27"]["lesions_analytic"]["2"]
    assert 0.5 < metastasis["tumour_ml"] < 2.5 and metastasis["necrotic_ml"] > 0  # ring, 1-1.5 cm
    for series in SERIES:
        for lesion, stats in series["lesions"].items():
            measured = stats.get("axial_diameters_label_map")
            if measured is None:
                continue
            diameter = measured["longest_mm"]
            if lesion == "2" or series["key"].startswith("2002-08"):
                assert 10 <= measured["perpendicular_mm"] <= diameter <= 16  # measurable, small
            else:
                assert 30 <= diameter <= 50


@pytest.mark.parametrize(
    "series", [s for s in SERIES if s["plane"].endswith("axial")], ids=series_id
)
def test_axial_diameters(series: dict) -> None:
    labels, affine = read_labels(series["label_map"])
    lesions, _ = read_labels(series["lesion_map"])
    pixel = float(np.linalg.norm(affine[:3, 2]))
    for lesion, stats in series["lesions"].items():
        measured, analytic = stats["axial_diameters_label_map"], stats["axial_diameters_analytic"]
        if measured is None:
            continue
        k = measured["slice_index"]
        region = (lesions[k] == int(lesion)) & np.isin(labels[k], [ENHANCING, NECROSIS])
        points = np.argwhere(region) * pixel
        farthest = max(np.linalg.norm(points - p, axis=1).max() for p in points)
        assert math.isclose(farthest, measured["longest_mm"], abs_tol=1e-3)
        assert abs(measured["longest_mm"] - analytic["longest_mm"]) <= 1.5 * pixel
        assert abs(measured["perpendicular_mm"] - analytic["perpendicular_mm"]) <= 2.5 * pixel
        assert abs(measured["slice_index"] - analytic["slice_index"]) <= 1


def _median_near(series: dict, landmark: str, radius_mm: float) -> float:
    """Median intensity within ``radius_mm`` of an anatomical landmark, in a series' own pixels."""
    array, affine, _ = read_dicom(series["folder"])
    centre = apply(np.linalg.inv(to_anatomy(series)), TRUTH["landmarks_anatomy_mm"][landmark])
    distance = np.linalg.norm(patient_points(affine, array.shape) - centre, axis=-1)
    return float(np.median(array[distance < radius_mm]))


def _white_matter(series: dict) -> float:
    return _median_near(series, "left_centrum_semiovale_white_matter", 6.0)


def _ventricle_csf(series: dict) -> float:
    return _median_near(series, "left_lateral_ventricle_centre", 3.0)


@pytest.mark.parametrize("series", [s for s in SERIES if s["modality"] == "CT"], ids=series_id)
def test_ct_values_are_hounsfield_units(series: dict) -> None:
    array, _, _ = read_dicom(series["folder"])
    labels, _ = read_labels(series["label_map"])
    assert np.percentile(array, 10) < -950  # air around the head
    assert np.count_nonzero(array > 700) > 20_000  # the skull
    assert 24 <= _white_matter(series) <= 36
    assert 0 <= _ventricle_csf(series) <= 15
    oedema = array[labels == OEDEMA].mean()
    assert oedema < _white_matter(series) - 5  # hypodense oedema
    if (labels == CAVITY).any():
        assert 0 <= np.median(array[labels == CAVITY]) <= 15  # CSF-like cavity
    if series["contrast"]:
        assert array[labels == ENHANCING].mean() > 60


@pytest.mark.parametrize("series", [s for s in SERIES if s["modality"] == "MR"], ids=series_id)
def test_mr_contrast_between_tissues(series: dict) -> None:
    array, _, datasets = read_dicom(series["folder"])
    labels, _ = read_labels(series["label_map"])
    white = _white_matter(series)
    centre, width = float(datasets[0].WindowCenter), float(datasets[0].WindowWidth)
    assert centre - width / 2 < 0.5 * white and 1.2 * white < centre + width / 2
    assert _ventricle_csf(series) < 0.35 * white
    assert 0.6 * white < np.median(array[labels == OEDEMA]) < 0.95 * white  # slightly dark
    if (labels == ENHANCING).any():
        assert np.median(array[labels == ENHANCING]) > 1.4 * white  # enhancing rim bright
    if (labels == NECROSIS).any():
        assert np.median(array[labels == NECROSIS]) < 0.6 * white  # necrosis dark
    if (labels == CAVITY).any():
        assert np.median(array[labels == CAVITY]) < 0.4 * white  # CSF-like cavity
    stored = datasets[0].pixel_array
    assert stored.dtype == np.uint16


def test_each_mri_has_its_own_intensity_scale() -> None:
    whites = [_white_matter(s) for s in SERIES if s["modality"] == "MR"]
    assert max(whites) / min(whites) > 2.0
    assert len({round(w, -1) for w in whites}) == len(whites)


def test_the_metastasis_is_new_in_2003() -> None:
    # The 2003 metastasis centre, mapped through the transforms into the December 2002 MRI,
    # shows no enhancement there; in March 2003 it does.
    centre_ref = VISITS["2003-03-27"]["lesions_analytic"]["2"]["centroid_reference_mm"]
    peaks = {}
    for date in ("2002-12-09", "2003-03-27"):
        series = next(s for s in VISITS[date]["series"] if s["modality"] == "MR")
        array, affine, _ = read_dicom(series["folder"])
        centre = apply(np.linalg.inv(np.array(series["patient2reference"])), centre_ref)
        distance = np.linalg.norm(patient_points(affine, array.shape) - centre, axis=-1)
        peaks[date] = np.percentile(array[distance < 10.0], 99) / _white_matter(series)
    assert peaks["2002-12-09"] < 1.2 < 1.4 < peaks["2003-03-27"]
