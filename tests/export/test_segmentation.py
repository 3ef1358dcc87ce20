"""Label maps as NIfTI and DICOM SEG, privacy canaries in the SEG, transforms as ITK .tfm."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from pathlib import Path

import highdicom as hd
import nibabel as nib
import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from tests.conftest import SAMPLE_SCANS
from tests.dicom_factory import ramp_volume, write_series
from viewer.core.geometry import LPS2RAS, apply_affine
from viewer.core.lesions import LesionKind, LesionSet
from viewer.core.transform import Registration, RegistrationState, Transform
from viewer.core.volume import Volume
from viewer.errors import IntervalError
from viewer.export.privacy import Privacy, UidMap
from viewer.export.segmentation import export_dicom_seg, export_nifti_labels, read_dicom_seg
from viewer.export.transforms import SeriesName, export_transforms
from viewer.io.load import load_series
from viewer.io.nifti import read_nifti
from viewer.io.scan import scan_paths

CANARIES = {
    "PatientName": "Zyxcanaryname^Qq",
    "PatientID": "ZYXCANARYID",
    "InstitutionName": "Zyxcanary Institution",
    "ReferringPhysicianName": "Zyxcanaryreferrer^Dr",
    "StudyDescription": "Zyxcanary study description",
    "SeriesDescription": "Zyxcanary series description",
    "ImageComments": "Zyxcanary image comment",
}
BIRTH_DATE = "19330303"
PRIVATE = "Zyxcanaryprivate"
FOLDER = "Zyxcanaryfolder"


def _oblique_affine() -> np.ndarray:
    """(slice, row, column) -> LPS mm with a 20 degree tilt about x and unequal spacing."""
    angle = np.radians(20)
    row = np.array([1.0, 0, 0])
    column = np.array([0, np.cos(angle), np.sin(angle)])
    normal = np.cross(row, column)
    affine = np.eye(4)
    affine[:3, 0], affine[:3, 1], affine[:3, 2] = 3.0 * normal, 0.8 * column, 0.9 * row
    affine[:3, 3] = [-40.0, 25.0, 12.0]
    return affine


def _edge_labels(shape: tuple[int, int, int]) -> np.ndarray:
    labels = np.zeros(shape, np.uint16)
    labels[0, 0, 0:3] = 1  # first corner
    labels[-1, -2:, -1] = 2  # last corner
    labels[2:4, 3:6, 4:8] = 700  # a large lesion number
    return labels


def test_nifti_labels_round_trip_with_geometry_for_nibabel_and_simpleitk(tmp_path):
    affine = _oblique_affine()
    labels = _edge_labels((6, 9, 11))
    path = export_nifti_labels(
        labels, Volume(np.zeros(labels.shape), affine), tmp_path / "l.nii.gz"
    )
    image = nib.load(path)
    assert image.get_data_dtype() == np.uint16 and image.header["descrip"].item() == b"Interval"
    data = np.asarray(image.dataobj)
    np.testing.assert_array_equal(data.transpose(2, 1, 0), labels)
    corners = np.array([[0, 0, 0], [5, 8, 10], [2, 3, 4]], float)  # (slice, row, column)
    expected_lps = apply_affine(affine, corners)
    ras = apply_affine(image.affine, corners[:, ::-1])  # NIfTI indexes (i, j, k) = (c, r, s)
    np.testing.assert_allclose(apply_affine(LPS2RAS, ras), expected_lps, atol=1e-4)
    itk = sitk.ReadImage(str(path))
    np.testing.assert_array_equal(sitk.GetArrayFromImage(itk), labels)
    for (s, r, c), lps in zip(corners.astype(int), expected_lps, strict=True):
        point = itk.TransformIndexToPhysicalPoint((int(c), int(r), int(s)))
        np.testing.assert_allclose(point, lps, atol=1e-4)  # ITK speaks LPS like DICOM
    np.testing.assert_array_equal(read_nifti(path).array, labels)


def test_nifti_labels_resampled_to_the_reference_land_where_the_registration_says(tmp_path):
    moving_affine = np.diag([2.0, 1.0, 1.0, 1.0])
    labels = np.zeros((10, 20, 20), np.uint16)
    labels[4, 6, 5] = 3
    rotation = np.eye(4)  # 90 degrees about z, then a shift: moving LPS -> reference LPS
    rotation[:3, :3] = [[0, -1, 0], [1, 0, 0], [0, 0, 1]]
    rotation[:3, 3] = [30.0, -2.0, 5.0]
    reference_affine = np.eye(4)
    reference_affine[:3, :3] = np.diag([1.0, 1.0, 2.0])[:, ::-1]  # (slice, row, column) = (z, y, x)
    record = Volume(np.zeros(labels.shape), moving_affine)
    path = export_nifti_labels(
        labels,
        record,
        tmp_path / "ref.nii",
        reference=((12, 40, 40), reference_affine, rotation),
    )
    resampled = read_nifti(path)
    lps_moving = apply_affine(moving_affine, [4, 6, 5])
    lps_reference = apply_affine(rotation, lps_moving)
    voxel = np.rint(apply_affine(np.linalg.inv(reference_affine), lps_reference)).astype(int)
    assert resampled.shape == (12, 40, 40)
    assert resampled.array[tuple(voxel)] == 3
    # every labelled reference voxel lies within the moving voxel's footprint (2 x 1 x 1 mm)
    found = apply_affine(reference_affine, np.argwhere(resampled.array == 3).astype(float))
    assert np.abs(found - lps_reference).max() <= 1.0 + 1e-6
    np.testing.assert_allclose(resampled.voxel2patient, reference_affine, atol=1e-5)


def _plant_canaries(index: int, ds: pydicom.Dataset) -> None:
    for keyword, value in CANARIES.items():
        setattr(ds, keyword, value)
    ds.PatientBirthDate = BIRTH_DATE
    ds.private_block(0x0029, "ZYX CANARY", create=True).add_new(0x10, "LO", PRIVATE)


@pytest.fixture
def canary_series(tmp_path):
    folder = tmp_path / FOLDER
    array = ramp_volume((5, 12, 14))
    write_series(folder, array, mutate=_plant_canaries, name="canary")
    entry = scan_paths([folder]).all_series()[0]
    volume = load_series(entry)
    labels = np.zeros(volume.shape, np.uint16)
    labels[0, 0:2, 0:3] = 1  # at the image edge, first slice
    labels[4, 10:12, 11:14] = 4  # last slice, opposite corner
    labels[2, 5:8, 5:9] = 4
    lesions = LesionSet()
    for name in ("L1 frontal", "L2", "L3", "L4 occipital"):
        lesions.add(name)
    return entry, labels, lesions


def test_seg_round_trips_voxel_identical_per_lesion(canary_series, tmp_path):
    entry, labels, lesions = canary_series
    path = export_dicom_seg(labels, lesions, entry.paths, tmp_path / "out.dcm", privacy=Privacy())
    masks = read_dicom_seg(path)
    assert sorted(masks) == [1, 4]
    for number, mask in masks.items():
        np.testing.assert_array_equal(mask, labels == number)
    seg = hd.seg.segread(path)
    assert [s.SegmentLabel for s in seg.SegmentSequence] == ["L1 frontal", "L4 occipital"]
    item = seg.SegmentSequence[0]
    kind = item.SegmentedPropertyTypeCodeSequence[0]
    assert (kind.CodeValue, kind.CodingSchemeDesignator) == ("C113842", "NCIt")  # enhancing
    assert item.SegmentedPropertyCategoryCodeSequence[0].CodeValue == "49755003"
    assert item.SegmentAlgorithmType == "MANUAL"


KIND_CODES = {
    # lesion kind: (category code, type code, type scheme), from DICOM PS3.16 CID 7150/7168/7192
    LesionKind.ENHANCING: ("49755003", "C113842", "NCIt"),
    LesionKind.NON_ENHANCING: ("49755003", "C81175", "NCIt"),
    LesionKind.NECROSIS: ("49755003", "6574001", "SCT"),
    LesionKind.RESECTION_CAVITY: ("91723000", "91806002", "SCT"),
}


def test_seg_codes_each_lesion_by_its_kind_and_passes_dciodvfy(canary_series, tmp_path):
    entry, _, _ = canary_series
    lesions = LesionSet()
    labels = np.zeros((5, 12, 14), np.uint16)
    for index, kind in enumerate(KIND_CODES):
        number = lesions.add(f"{kind.value} region", kind).number
        labels[index, 2:6, 3 + 2 * index : 5 + 2 * index] = number
    path = export_dicom_seg(labels, lesions, entry.paths, tmp_path / "k.dcm", privacy=Privacy())
    seg = hd.seg.segread(path)
    got = {}
    for item in seg.SegmentSequence:
        category = item.SegmentedPropertyCategoryCodeSequence[0]
        kind = item.SegmentedPropertyTypeCodeSequence[0]
        assert category.CodingSchemeDesignator == "SCT"
        got[item.SegmentLabel] = (category.CodeValue, kind.CodeValue, kind.CodingSchemeDesignator)
    assert got == {f"{kind.value} region": codes for kind, codes in KIND_CODES.items()}
    # highdicom's own reading of the segment descriptions agrees
    described = {
        seg.get_segment_description(n).segment_label: seg.get_segment_description(n)
        for n in range(1, 5)
    }
    necrosis = described["necrosis region"]
    assert necrosis.segmented_property_type.value == "6574001"
    assert necrosis.segmented_property_type.meaning == "Necrosis"
    masks = read_dicom_seg(path)
    for number in range(1, 5):
        np.testing.assert_array_equal(masks[number], labels == number)
    errors, warnings = _dciodvfy(path)
    assert errors == []
    print("dciodvfy warnings:", warnings)


def test_seg_in_teaching_mode_holds_no_canary(canary_series, tmp_path):
    entry, labels, lesions = canary_series
    sources = [pydicom.dcmread(p) for p in entry.paths]
    uids = UidMap()
    out = tmp_path / "export"
    out.mkdir()
    path = export_dicom_seg(
        labels,
        lesions,
        entry.paths,
        out,
        privacy=Privacy(case_label="Case 12"),
        uid_map=uids,
        first_date=dt.date(2002, 1, 1),
    )
    raw = path.read_bytes().lower()
    forbidden = [*CANARIES.values(), BIRTH_DATE, PRIVATE, FOLDER, "Zyxcanary"]
    forbidden += [str(sources[0].StudyInstanceUID), str(sources[0].SeriesInstanceUID)]
    forbidden += [str(ds.SOPInstanceUID) for ds in sources] + ["20030327"]  # the real study date
    for canary in forbidden:
        assert canary.lower().encode() not in raw, canary
    for part in (*CANARIES.values(), FOLDER):
        assert part.split("^")[0].lower() not in path.name.lower()
    assert path.name == "Case_12_Day450_S1_SEG.dcm"
    seg = pydicom.dcmread(path)
    assert seg.PatientIdentityRemoved == "YES"
    assert "113100" in {c.CodeValue for c in seg.DeidentificationMethodCodeSequence}
    assert str(seg.PatientName) == "Case 12^" and seg.StudyDate == "20010326"  # 2000 is a leap year
    assert not any(elem.tag.is_private for elem in seg.iterall())
    referenced = seg.ReferencedSeriesSequence[0]
    assert referenced.SeriesInstanceUID == uids(sources[0].SeriesInstanceUID)
    assert seg.StudyInstanceUID == uids(sources[0].StudyInstanceUID)
    got = {item.ReferencedSOPInstanceUID for item in referenced.ReferencedInstanceSequence}
    assert got == {uids(ds.SOPInstanceUID) for ds in sources}
    # the same map gives the same replacement on a second export
    again = export_dicom_seg(
        labels, lesions, entry.paths, tmp_path / "again.dcm", privacy=Privacy(), uid_map=uids
    )
    assert pydicom.dcmread(again).ReferencedSeriesSequence[0].SeriesInstanceUID == (
        referenced.SeriesInstanceUID
    )


def test_seg_with_identity_keeps_the_patient(canary_series, tmp_path):
    entry, labels, lesions = canary_series
    path = export_dicom_seg(
        labels, lesions, entry.paths, tmp_path / "id.dcm", privacy=Privacy(include_identity=True)
    )
    seg = pydicom.dcmread(path)
    assert str(seg.PatientName) == CANARIES["PatientName"]
    assert seg.get("PatientIdentityRemoved") != "YES"
    source = pydicom.dcmread(entry.paths[0])
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == source.SeriesInstanceUID


def test_seg_refuses_a_label_map_of_another_grid(canary_series, tmp_path):
    entry, labels, lesions = canary_series
    with pytest.raises(IntervalError, match="grid"):
        export_dicom_seg(labels[:-1], lesions, entry.paths, tmp_path / "x.dcm", privacy=Privacy())
    assert not (tmp_path / "x.dcm").exists()


def _dciodvfy(path: Path) -> tuple[list[str], list[str]]:
    binary = shutil.which("dciodvfy")
    if binary is None:
        pytest.skip("dciodvfy not installed (Debian package dicom3tools)")
    result = subprocess.run([binary, str(path)], capture_output=True, text=True, timeout=60)
    lines = (result.stdout + result.stderr).splitlines()
    return (
        [line for line in lines if line.startswith("Error")],
        [line for line in lines if line.startswith("Warning")],
    )


def test_seg_of_generated_series_passes_dciodvfy(canary_series, tmp_path):
    entry, labels, lesions = canary_series
    path = export_dicom_seg(labels, lesions, entry.paths, tmp_path / "v.dcm", privacy=Privacy())
    errors, warnings = _dciodvfy(path)
    assert errors == []
    print("dciodvfy warnings:", warnings)


DEMO_SERIES = SAMPLE_SCANS / "demo_case" / "dicom" / "2002-12-09" / "SE08_AX_T1_POST_GAD"
DEMO_TRUTH = SAMPLE_SCANS / "demo_case" / "ground_truth" / "2002-12-09"


def test_seg_of_demo_t1c_series_round_trips_and_passes_dciodvfy(tmp_path):
    if not DEMO_SERIES.is_dir():
        pytest.skip(f"demo case not found at {DEMO_SERIES}")
    entry = scan_paths([DEMO_SERIES]).all_series()[0]
    volume = load_series(entry)
    truth = read_nifti(DEMO_TRUTH / "SE08_AX_T1_POST_GAD_lesions.nii.gz")
    np.testing.assert_allclose(truth.voxel2patient, volume.voxel2patient, atol=1e-3)
    labels = np.asarray(truth.array).astype(np.uint16)
    assert labels.any()
    lesions = LesionSet()
    lesions.add("glioma recurrence")
    lesions.add("occipital metastasis")
    path = export_dicom_seg(labels, lesions, entry.paths, tmp_path, privacy=Privacy())
    masks = read_dicom_seg(path)
    assert sorted(masks) == sorted(int(v) for v in np.unique(labels) if v)
    for number, mask in masks.items():
        np.testing.assert_array_equal(mask, labels == number)
    errors, warnings = _dciodvfy(path)
    assert errors == []
    print("dciodvfy warnings:", warnings)


def test_transforms_read_back_map_points_as_the_registration_does(tmp_path):
    angle = np.radians(7)
    matrix = np.eye(4)
    matrix[:3, :3] = [
        [np.cos(angle), -np.sin(angle), 0],
        [np.sin(angle), np.cos(angle), 0],
        [0, 0, 1],
    ]
    matrix[:3, 3] = [4.0, -3.0, 12.5]
    sheared = np.eye(4)
    sheared[0, 1], sheared[:3, 3] = 0.05, [1.0, 2.0, 3.0]
    registrations = [
        Registration("uid.ref", "uid.ref", state=RegistrationState.ACCEPTED),
        Registration("uid.m1", "uid.ref", Transform(matrix, "rigid"), RegistrationState.ACCEPTED),
        Registration("uid.m2", "uid.ref", Transform(sheared, "affine"), RegistrationState.MANUAL),
        Registration("uid.m3", "uid.ref"),  # not registered: nothing to write
    ]
    names = {
        "uid.ref": SeriesName(dt.date(2001, 6, 28), 5),
        "uid.m1": SeriesName(dt.date(2002, 8, 14), 8),
        "uid.m2": SeriesName(dt.date(2002, 8, 14), 9),
        "uid.m3": SeriesName(None, None),
    }
    paths = export_transforms(registrations, tmp_path / "tfm", series=names)
    assert [p.name for p in paths] == [
        "Case_Day412_S8_to_Day0_S5.tfm",
        "Case_Day412_S9_to_Day0_S5.tfm",
    ]
    points_reference = np.array([[0.0, 0.0, 0.0], [10.0, -20.0, 30.0], [-55.0, 12.0, 80.0]])
    for path, registration in zip(paths, registrations[1:3], strict=True):
        itk = sitk.ReadTransform(str(path))
        expected = apply_affine(registration.transform.reference2moving, points_reference)
        got = np.array([itk.TransformPoint(tuple(p)) for p in points_reference])
        np.testing.assert_allclose(got, expected, atol=1e-6)
        # and back: the moving point lands on the reference point through moving2reference
        np.testing.assert_allclose(registration.transform.apply(got), points_reference, atol=1e-6)
