"""`interval register FIXED MOVING -o OUT.tfm`: the transform file and the resampled image."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk

from tests.conftest import SAMPLE_SCANS
from viewer.__main__ import main
from viewer.cli.main import build_parser
from viewer.core.geometry import apply_affine
from viewer.io import load_series, scan_paths
from viewer.io.nifti import read_nifti
from viewer.registration.sitk_bridge import volume_to_image

DEMO = SAMPLE_SCANS / "demo_case"
TRUTH = json.loads((DEMO / "ground_truth" / "case.json").read_text(encoding="utf-8"))
SERIES = {s["key"]: s for v in TRUTH["visits"] for s in v["series"]}
FIXED = DEMO / "dicom" / "1995-06-12"  # CT (series 2) and the reference MRI (series 5)
MOVING = DEMO / "dicom" / "2002-12-09"  # CT (series 3) and MRI (series 8)


def run(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def central_points(volume):
    """Points on a 15 mm grid within 45 mm of the series' centre (inside the brain), LPS mm."""
    axis = np.arange(-45.0, 45.1, 15.0)
    cube = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), -1).reshape(-1, 3)
    return cube + volume.center_patient()


@pytest.fixture(scope="module")
def volumes():
    fixed = scan_paths([FIXED]).find_series("5")
    moving = scan_paths([MOVING]).find_series("8")
    return load_series(fixed), load_series(moving)


def test_register_writes_a_transform_that_simpleitk_reads(capsys, tmp_path, volumes):
    out_tfm, out_nii = tmp_path / "t.tfm", tmp_path / "moved.nii.gz"
    code, out, err = run(
        capsys,
        "register", FIXED, MOVING, "-o", out_tfm,
        "--fixed-series", "5", "--moving-series", "8", "--resampled", out_nii,
    )  # fmt: skip
    assert code == 0, err
    fixed, moving = volumes
    itk = sitk.ReadTransform(str(out_tfm))
    assert itk.GetName() == "Euler3DTransform"
    # The file maps FIXED points to MOVING points: the inverse of the true moving -> reference.
    true_reference2moving = np.linalg.inv(
        SERIES["2002-12-09/SE08_AX_T1_POST_GAD"]["patient2reference"]
    )
    points = central_points(fixed)
    found = np.array([itk.TransformPoint(tuple(p)) for p in points])
    error = np.linalg.norm(found - apply_affine(true_reference2moving, points), axis=1)
    assert error.mean() < 1.0 and error.max() < 2.0
    # The printed parameters.
    assert "registered MOVING 'AX T1 POST GAD' to FIXED 'AX T1 POST GAD'" in out
    assert "rotation MOVING -> FIXED:" in out and "degrees" in out
    assert "translation MOVING -> FIXED: x" in out and "mm (LPS)" in out
    assert "iterations" in out and "Mattes mutual information" in out
    assert f"wrote {out_tfm}: ITK Euler3DTransform, maps FIXED patient coordinates" in out
    # The resampled image lies on FIXED's grid and is what SimpleITK makes with the file.
    resampled = read_nifti(out_nii)
    assert resampled.shape == fixed.shape
    np.testing.assert_allclose(resampled.voxel2patient, fixed.voxel2patient, atol=1e-4)
    by_sitk = sitk.Resample(
        volume_to_image(moving, dtype=np.float32),
        volume_to_image(fixed),
        itk,
        sitk.sitkLinear,
        float(moving.array.min()),
        sitk.sitkFloat32,
    )
    np.testing.assert_allclose(resampled.array, sitk.GetArrayFromImage(by_sitk), atol=0.51)
    head = fixed.array > np.percentile(fixed.array, 60)
    assert np.corrcoef(fixed.array[head], resampled.array[head])[0, 1] > 0.8


def test_affine_writes_an_itk_affine_transform(capsys, tmp_path):
    out_tfm = tmp_path / "affine.tfm"
    code, out, err = run(
        capsys, "register", FIXED, MOVING, "-o", out_tfm,
        "--fixed-series", "5", "--moving-series", "8", "--type", "affine",
    )  # fmt: skip
    assert code == 0, err
    assert sitk.ReadTransform(str(out_tfm)).GetName() == "AffineTransform"
    assert "linear part MOVING -> FIXED" in out and "Mattes MI affine" in out


def test_a_folder_with_several_series_asks_which(capsys, tmp_path):
    code, _, err = run(capsys, "register", FIXED, MOVING, "-o", tmp_path / "t.tfm")
    assert code == 1
    assert "holds 2 series; choose one with --fixed-series" in err
    assert "AX T1 POST GAD" in err and not (tmp_path / "t.tfm").exists()


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["missing-folder", MOVING, "-o", "t.tfm"], 1, "missing-folder: no such file or folder"),
        ([FIXED, MOVING, "-o", "t.png"], 2, "the transform file must end in .tfm"),
        ([FIXED, MOVING, "-o", "t.tfm", "--resampled", "x.png"], 2, "--resampled must end"),
        ([FIXED, MOVING, "-o", "t.tfm", "--fixed-series", "77"], 1, "'77' matches no series"),
        ([FIXED, MOVING, "-o", "gone/t.tfm"], 1, "gone/t.tfm: the folder"),
        ([FIXED, MOVING, "-o", "t.tfm", "--resampled", "gone/r.nii"], 1, "does not exist"),
    ],
)
def test_bad_command_lines_fail_with_a_reason(capsys, tmp_path, monkeypatch, args, code, message):
    monkeypatch.chdir(tmp_path)
    got, _, err = run(capsys, "register", *args)
    assert got == code
    assert message in err and err.startswith("interval register: error:")


def test_register_is_listed_in_the_help():
    assert "register" in build_parser().format_help()
