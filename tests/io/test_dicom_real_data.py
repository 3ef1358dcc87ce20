"""Real scanner DICOM against reference conversions, compared in world space.

For every case of ../shared/data (see its README): load with Interval, then map every voxel centre
of the reference NIfTI (RAS) and of our volume (LPS) into the same world space; the same positions
must hold the same values. Positions must agree within 0.01 mm. Cases whose files are missing from
the public snapshot skip with the reason from MISSING_FROM_SNAPSHOT.txt.
"""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from pydicom.pixels import apply_modality_lut
from scipy.ndimage import map_coordinates

from tests.conftest import SHARED_DATA
from viewer.core.geometry import LPS2RAS, apply_affine
from viewer.core.volume import Volume
from viewer.errors import UnreadableFileError
from viewer.io import load_series, scan_paths

POSITION_TOLERANCE_MM = 0.01
DICOM2NIFTI = SHARED_DATA / "dicom2nifti" / "data"
DCM_QA_ENH = SHARED_DATA / "dcm_qa_enh"


def _missing_from_snapshot() -> set[str]:
    names: set[str] = set()
    for listing in SHARED_DATA.glob("*/MISSING_FROM_SNAPSHOT.txt"):
        for line in listing.read_text().splitlines():
            if line.strip():
                names.add(line.split()[-1])
    return names


def _dicom2nifti_cases() -> list[str]:
    """Every folder of dicom2nifti's test data that holds DICOM files or has a ground truth."""
    if not DICOM2NIFTI.is_dir():
        return ["(shared data absent)"]
    cases = {
        str(p.parent.relative_to(DICOM2NIFTI))
        for p in DICOM2NIFTI.rglob("*")
        if p.is_file() and not p.name.endswith(".nii.gz")
    }
    cases |= {
        str(p.relative_to(DICOM2NIFTI)).removesuffix("_ground_truth.nii.gz")
        for p in DICOM2NIFTI.rglob("*_ground_truth.nii.gz")
    }
    # failing/* cases have no trustworthy reference: each has its own test below.
    return sorted(c for c in cases if not c.startswith("failing/"))


def _only_series(folder: Path):
    entries = [e for e in scan_paths([folder]).all_series() if not e.is_localizer]
    assert len(entries) == 1, [e.description for e in entries]
    return entries[0]


def _reference(path: Path, frame: int = 0) -> tuple[np.ndarray, np.ndarray, float]:
    """Reference voxels (scaled, float64), its RAS affine and its quantisation step (0 if exact)."""
    image = nib.load(path)
    data = np.asarray(image.dataobj, dtype=np.float64)
    if data.ndim == 4:
        data = data[..., frame]
    slope = image.dataobj.slope if np.issubdtype(image.get_data_dtype(), np.integer) else 0.0
    quantum = 0.0 if slope in (0.0, 1.0) else abs(float(slope))
    return data, image.affine, quantum


def assert_matches_reference(
    volume: Volume, reference: Path, *, frame: int = 0, value_factor: float = 1.0
) -> None:
    """Same world positions within 0.01 mm, and the same value at each (times ``value_factor``)."""
    data, ras_affine, quantum = _reference(reference, frame)
    assert volume.array.size == data.size, (volume.shape, data.shape)
    # reference index -> RAS -> LPS -> our index; it must be a signed permutation plus a shift.
    ref2ours = np.linalg.inv(volume.voxel2patient) @ LPS2RAS @ ras_affine
    corners = np.array(np.meshgrid(*[[0, n - 1] for n in data.shape], indexing="ij")).reshape(3, -1)
    ours = apply_affine(ref2ours, corners.T)
    error_mm = np.linalg.norm((ours - np.rint(ours)) @ volume.voxel2patient[:3, :3].T, axis=1)
    assert error_mm.max() < POSITION_TOLERANCE_MM, error_mm.max()
    index = np.rint(apply_affine(ref2ours, np.moveaxis(np.indices(data.shape), 0, -1))).astype(int)
    assert index.min() >= 0 and np.all(index.max(axis=(0, 1, 2)) < volume.shape)
    ours_values = volume.array[index[..., 0], index[..., 1], index[..., 2]].astype(np.float64)
    expected = data * value_factor
    tolerance = quantum * abs(value_factor) / 2 + 1e-5 * np.abs(expected).max()
    np.testing.assert_allclose(ours_values, expected, rtol=0, atol=tolerance)


# ---------------------------------------------------------------- dicom2nifti


@pytest.mark.parametrize("case", _dicom2nifti_cases())
def test_dicom2nifti_case_matches_its_ground_truth(shared_data, case):
    folder = DICOM2NIFTI / case
    truth = DICOM2NIFTI / f"{case}_ground_truth.nii.gz"
    for missing in sorted(_missing_from_snapshot()):
        name = missing.removeprefix("tests/data/")
        if (
            name == truth.name
            or name == f"{case}_ground_truth.nii.gz"
            or name.startswith(case + "/")
        ):
            pytest.skip(
                f"{missing} is missing from the public snapshot (MISSING_FROM_SNAPSHOT.txt)"
            )
    if not folder.is_dir() or not truth.exists():
        pytest.skip(f"{case}: DICOM files or ground truth absent from the snapshot")
    entry = _only_series(folder)
    if case == "generic/rgb/001":
        with pytest.raises(UnreadableFileError, match="colour pixel data"):
            load_series(entry)
        return
    volume = load_series(entry)
    assert volume.metadata.incomplete_slices == ()
    # dicom2nifti, like Interval, applies RescaleSlope/Intercept; so philips_enhanced matches as is.
    assert_matches_reference(volume, truth)


def _source_slices(folder: Path) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, tuple]]:
    """(real values, IPP, IOP, PixelSpacing) of each classic file, read directly with pydicom."""
    slices = []
    for path in sorted(folder.iterdir()):
        ds = pydicom.dcmread(path)
        values = apply_modality_lut(ds.pixel_array, ds).astype(np.float64)
        slices.append(
            (
                values,
                np.array(ds.ImagePositionPatient, float),
                np.array(ds.ImageOrientationPatient, float),
                tuple(float(v) for v in ds.PixelSpacing),
            )
        )
    return slices


def assert_tags_place_every_voxel(volume: Volume, folder: Path) -> None:
    """Each source slice lies on an output slice, and sampling the source slice (bilinear) at our
    voxel centres gives our values: every voxel is where the DICOM tags of its slice put it."""
    for values, ipp, iop, spacing in _source_slices(folder):
        k = apply_affine(np.linalg.inv(volume.voxel2patient), ipp)[0]
        assert abs(k - round(k)) < 1e-3
        plane = volume.array[int(round(k))].astype(np.float64)
        rows, columns = np.indices(plane.shape)
        lps = apply_affine(
            volume.voxel2patient, np.stack([np.full_like(rows, round(k)), rows, columns], -1)
        )
        # Position -> (row, column) of the source slice, from its own tags.
        relative = lps - ipp
        source_rows = relative @ iop[3:] / spacing[0]
        source_columns = relative @ iop[:3] / spacing[1]
        inside = (
            (source_rows >= 0)
            & (source_rows <= values.shape[0] - 1)
            & (source_columns >= 0)
            & (source_columns <= values.shape[1] - 1)
        )
        sampled = map_coordinates(values, [source_rows[inside], source_columns[inside]], order=1)
        assert inside.mean() > 0.9
        np.testing.assert_allclose(plane[inside], sampled, atol=0.51)  # int16 rounding


def test_failing_gantry_tilt_is_resampled_with_a_warning(shared_data):
    folder = DICOM2NIFTI / "failing" / "gantrytilting" / "001"
    volume = load_series(_only_series(folder))
    assert any("gantry tilt of 14.00 degrees" in w for w in volume.metadata.warnings)
    axes = volume.voxel2patient[:3, :3] / volume.spacing
    np.testing.assert_allclose(axes.T @ axes, np.eye(3), atol=1e-6)
    assert_tags_place_every_voxel(volume, folder)


def test_failing_slice_increment_is_a_flagged_gap(shared_data):
    volume = load_series(_only_series(DICOM2NIFTI / "failing" / "sliceincrement" / "001"))
    assert volume.metadata.incomplete_slices == (3,)
    assert any("10 mm gap where 5 mm was expected" in w for w in volume.metadata.warnings)


def test_failing_tilt_with_a_missing_slice_is_both_flagged_and_placed(shared_data):
    folder = DICOM2NIFTI / "failing" / "sliceincrement" / "002"
    volume = load_series(_only_series(folder))
    text = " ".join(volume.metadata.warnings)
    assert "missing slice" in text and "gantry tilt" in text
    assert volume.metadata.incomplete_slices == (3,)
    assert_tags_place_every_voxel(volume, folder)


def test_failing_slice_count_two_slices_still_load_correctly(shared_data):
    case = DICOM2NIFTI / "failing" / "slicecount"
    volume = load_series(_only_series(case / "001"))
    assert_matches_reference(volume, case / "001_ground_truth.nii.gz")


def test_failing_not_a_volume_is_never_stacked(shared_data):
    """Four images at one position: never one volume; each is shown on its own."""
    entries = scan_paths([DICOM2NIFTI / "failing" / "notavolume" / "001"]).all_series()
    assert len(entries) == 4
    for entry in entries:
        assert load_series(entry).shape[0] == 1


def test_failing_slice_orientation_is_split_by_orientation(shared_data):
    entries = scan_paths([DICOM2NIFTI / "failing" / "sliceorientation" / "001"]).all_series()
    assert len(entries) == 2
    for entry in entries:
        orientations = {h.image_orientation for h in entry.source}
        assert len(orientations) == 1
        assert load_series(entry).shape[0] == len(entry.source)


# ---------------------------------------------------------------- dcm_qa_enh


def test_siemens_xa10_enhanced_time_points_match_dcm2niix(shared_data):
    entries = scan_paths([DCM_QA_ENH / "In" / "Siemens"]).all_series()
    assert len(entries) == 4
    reference = DCM_QA_ENH / "Ref" / "Siemens_REST1_w_SMS_PF7-8_6.nii"
    for frame, entry in enumerate(sorted(entries, key=lambda e: e.paths)):
        assert_matches_reference(load_series(entry), reference, frame=frame)


def _philips_fmap() -> tuple[dict[str, object], float]:
    entries = scan_paths([DCM_QA_ENH / "In" / "Philips"]).all_series()
    by_type = {e.source[0].image_type[3]: e for e in entries}
    # dcm2niix writes Philips magnitude images in "precise float" units, stored / MRScaleSlope
    # (private 2005,100E), where Interval and dicom2nifti show RescaleSlope/Intercept values.
    ds = pydicom.dcmread(by_type["M"].source[0].path, stop_before_pixels=True)
    item = ds.PerFrameFunctionalGroupsSequence[by_type["M"].source[0].frame_index]
    private = item[0x2005, 0x140F][0]
    factor = float(private[0x0028, 0x1053].value) * float(private[0x2005, 0x100E].value)
    return by_type, factor


def test_philips_enhanced_fieldmap_and_magnitude_match_dcm2niix(shared_data):
    by_type, philips_factor = _philips_fmap()
    assert set(by_type) == {"M", "FIELD_MAP"}
    ref = DCM_QA_ENH / "Ref"
    fieldmap = load_series(by_type["FIELD_MAP"])
    assert_matches_reference(fieldmap, ref / "Philips_WIP_B0_NS_801_e2_fieldmaphz.nii")
    magnitude = load_series(by_type["M"])
    assert_matches_reference(
        magnitude, ref / "Philips_WIP_B0_NS_801_e1.nii", value_factor=philips_factor
    )


@pytest.mark.parametrize(
    "reference",
    sorted(n for n in _missing_from_snapshot() if n.startswith("Ref/")) or ["(none)"],
)
def test_dcm_qa_enh_references_missing_from_the_snapshot(shared_data, reference):
    pytest.skip(f"dcm_qa_enh {reference} and its input are missing from the public snapshot")


# ---------------------------------------------------------------- dcm_qa_ts


@pytest.mark.parametrize("number", range(1, 10))
def test_dcm_qa_ts_mosaic_tiles_match_dcm2niix_slices(shared_data, number):
    """All 9 transfer syntaxes give dcm2niix's values. Siemens mosaics are not unpacked into a
    volume (the catalogue says so), so the 6x6 tiles of 64x64 are compared with the 35 slices of
    dcm2niix's unpacked output (which stores rows bottom-up)."""
    folder = SHARED_DATA / "dcm_qa_ts"
    [entry] = scan_paths([folder / "In" / f"{number}.dcm"]).all_series()
    assert any("mosaic" in w for w in entry.warnings)
    mosaic = load_series(entry).array[0]
    reference = np.asarray(nib.load(folder / "Ref" / f"{number}.nii").dataobj)
    assert reference.shape == (64, 64, 35)
    for k in range(35):
        tile = mosaic[(k // 6) * 64 : (k // 6 + 1) * 64, (k % 6) * 64 : (k % 6 + 1) * 64]
        np.testing.assert_array_equal(tile, reference[:, ::-1, k].T, err_msg=f"slice {k}")
