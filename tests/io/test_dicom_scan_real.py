"""Header scanning and grouping on real scanner files (../shared/data; skipped where absent).

Known answers come from conversions nobody on this project wrote: dicom2nifti's ground truth and
dcm2niix's reference NIfTI files. Each slice's ImagePositionPatient (the centre of its first pixel)
must land exactly on a voxel of the reference grid, in a corner of its slice, and the stack's slices
must cover the reference's slice axis once each.
"""

import numpy as np
import pytest

nib = pytest.importorskip("nibabel")

from viewer.core.geometry import LPS2RAS  # noqa: E402
from viewer.io import scan_paths  # noqa: E402
from viewer.io.dicom_scan import read_slice_headers  # noqa: E402

# dicom2nifti resampled these (tilt, uneven spacing), so its grid is not the slices' own grid
RESAMPLED_BY_DICOM2NIFTI = {"failing/sliceincrement/002"}


def assert_slices_on_reference_grid(headers, reference, *, slice_axis=2, tolerance_voxels=0.01):
    """Every first-pixel position is a corner voxel of one reference slice; all slices covered."""
    ras2voxel = np.linalg.inv(reference.affine)
    lps = np.array([h.image_position for h in headers], dtype=float)
    ras = lps @ LPS2RAS[:3, :3].T
    ijk = ras @ ras2voxel[:3, :3].T + ras2voxel[:3, 3]
    assert np.abs(ijk - np.round(ijk)).max() < tolerance_voxels
    ijk = np.round(ijk).astype(int)
    shape = reference.shape[:3]
    for axis in range(3):
        if axis != slice_axis:
            assert set(ijk[:, axis]) <= {0, shape[axis] - 1}
    assert sorted(ijk[:, slice_axis]) == list(range(shape[slice_axis]))


def _dicom2nifti_cases(root):
    for truth in sorted(root.rglob("*_ground_truth.nii.gz")):
        case = truth.parent / truth.name.replace("_ground_truth.nii.gz", "")
        if case.is_dir():
            yield case, truth


def test_dicom2nifti_cases_match_ground_truth_grids(shared_data):
    root = shared_data / "dicom2nifti" / "data"
    checked = 0
    for case, truth in _dicom2nifti_cases(root):
        name = str(case.relative_to(root))
        catalog = scan_paths([case])
        reference = nib.load(truth)
        (entry,) = [e for e in catalog.all_series() if not e.is_localizer]
        assert catalog.skipped == [], name
        if name not in RESAMPLED_BY_DICOM2NIFTI:
            assert np.prod(entry.shape) == np.prod(reference.shape), name
            assert_slices_on_reference_grid(entry.source, reference)
        checked += 1
    assert checked >= 20


def test_whole_dicom2nifti_tree_scans_without_escaping_errors(shared_data):
    root = shared_data / "dicom2nifti" / "data"
    catalog = scan_paths([root])
    series = catalog.all_series()
    dicom = [s for s in series if s.format == "dicom"]
    # the same instances are stored in several folders (one per transfer syntax): one kept each
    duplicates = [s for s in catalog.skipped if "duplicate of" in s.reason]
    assert len(duplicates) >= 15
    assert all(s.reason for s in catalog.skipped)
    descriptions = {(s.series_number, s.shape) for s in dicom}
    assert (301, (8, 256, 256)) in descriptions  # Philips enhanced multi-frame
    assert (5, (8, 256, 256)) in descriptions  # Siemens multi-frame
    assert (10, (8, 138, 112)) in descriptions  # Hyperfine
    # failing/notavolume: four CT slices at one position, told apart by AcquisitionNumber
    not_a_volume = [s for s in dicom if "notavolume" in s.paths[0]]
    assert sorted(s.description for s in not_a_volume) == [
        f"acquisition {n}" for n in (12, 13, 14, 15)
    ]
    # philips/anatomical/002: magnitude and phase at the same positions, told apart by ImageType
    swi = sorted(s.description for s in dicom if "philips/anatomical/002" in s.paths[0])
    assert swi == ["type SW_M_FFE\\SW_M\\FFE", "type SW_P_FFE\\SW_P\\FFE"]
    # failing/sliceorientation: two series of different orientation in one folder, kept apart
    orientations = sorted(s.orientation for s in dicom if "sliceorientation" in s.paths[0])
    assert orientations == ["oblique axial", "sagittal"]
    # gantry tilt shows only in the orientation (14 degrees) here, not in GantryDetectorTilt
    tilted = [s for s in dicom if "gantrytilting" in s.paths[0]]
    assert [(s.shape, s.orientation) for s in tilted] == [((4, 512, 512), "oblique axial")]


def test_dcm_qa_ts_nine_transfer_syntaxes_give_nine_entries(shared_data):
    root = shared_data / "dcm_qa_ts"
    catalog = scan_paths([root / "In"])
    series = catalog.all_series()
    assert catalog.skipped == []
    # same SeriesInstanceUID, same position, but a SeriesNumber per transfer syntax
    assert sorted(s.series_number for s in series) == list(range(1, 10))
    assert {s.shape for s in series} == {(1, 384, 384)}
    assert len({s.key for s in series}) == 9
    assert all(any("mosaic" in w for w in s.warnings) for s in series)
    syntaxes = {s.source[0].transfer_syntax_uid for s in series}
    assert len(syntaxes) == 7  # two JPEG lossless and two JPEG-LS files share their UIDs
    native = [h for s in series for h in s.source if h.pixel_data_offset is not None]
    assert len(native) == 3  # implicit and explicit little endian, explicit big endian
    assert all(h.pixel_data_length == 384 * 384 * 2 for h in native)


def test_dcm_qa_ts_whole_folder_scans_with_references(shared_data):
    catalog = scan_paths([shared_data / "dcm_qa_ts"])
    dicom = [s for s in catalog.all_series() if s.format == "dicom"]
    assert len(dicom) == 9
    assert all(s.reason for s in catalog.skipped)


def test_philips_enhanced_fieldmap_against_dcm2niix(shared_data):
    """Enhanced MR, 64 frames: magnitude and field map at 32 positions, per-frame rescale."""
    path = shared_data / "dcm_qa_enh" / "In" / "Philips" / "IM_0027_fMAP.dcm"
    ref = shared_data / "dcm_qa_enh" / "Ref"
    catalog = scan_paths([path])
    stacks = {s.description: s for s in catalog.all_series()}
    assert set(stacks) == {"B0 NS (TE 0)", "B0 NS (TE 1.52)"}
    magnitude, fieldmap = stacks["B0 NS (TE 1.52)"], stacks["B0 NS (TE 0)"]
    for entry, reference, slope, intercept in (
        (magnitude, "Philips_WIP_B0_NS_801_e1.nii", 1.27985, 0.0),
        (fieldmap, "Philips_WIP_B0_NS_801_e2_fieldmaphz.nii", 0.2442, -500.0),
    ):
        assert entry.shape == (32, 64, 64)
        assert entry.pixel_spacing_mm == (4.0, 4.0) and entry.slice_thickness_mm == 4.0
        assert_slices_on_reference_grid(entry.source, nib.load(ref / reference))
        for h in entry.source:  # the values dcm2niix reports in its JSON sidecar
            assert h.rescale_slope == pytest.approx(slope, rel=1e-5)
            assert h.rescale_intercept == pytest.approx(intercept)
    assert "FIELD_MAP" in fieldmap.source[0].image_type  # the per-frame FrameType


def test_siemens_xa10_enhanced_time_series_against_dcm2niix(shared_data):
    folder = shared_data / "dcm_qa_enh" / "In" / "Siemens" / "XA10"
    reference = nib.load(shared_data / "dcm_qa_enh" / "Ref" / "Siemens_REST1_w_SMS_PF7-8_6.nii")
    catalog = scan_paths([folder])
    stacks = sorted(catalog.all_series(), key=lambda s: s.description)
    assert [s.description for s in stacks] == [
        f"REST1 w SMS PF7-8 (time point {k})" for k in (1, 2, 3, 4)
    ]
    assert reference.shape == (64, 64, 6, 4)
    for entry in stacks:
        assert entry.shape == (6, 64, 64)
        assert_slices_on_reference_grid(entry.source, reference)
        assert entry.source[0].extra["RepetitionTime"] == pytest.approx(1000.0, rel=0.5)


def test_enhanced_ct_supplemental_per_frame_positions(shared_data):
    path = shared_data / "pydicom" / "pydicom-data_1.0.0" / "eCT_Supplemental.dcm"
    headers = read_slice_headers(path)
    assert [h.frame_index for h in headers] == [0, 1]
    # per-frame PlanePositionSequence; spacing, thickness and rescale only in the shared groups
    assert headers[0].image_position == (99.5, -301.5, -159.0)
    assert headers[1].image_position == (99.5, -301.5, -149.0)
    assert headers[0].pixel_spacing == (0.388672, 0.388672)
    assert headers[0].slice_thickness == 10.0
    assert headers[0].modality == "CT"
    assert (headers[0].rescale_slope, headers[0].rescale_intercept) == (1.0, -1024.0)
