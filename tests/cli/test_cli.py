"""The headless CLI: `interval info`, `interval convert`, and the `python -m viewer` dispatch."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import types
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

import viewer.__main__ as entry_point
from tests.dicom_factory import ramp_volume, write_series
from viewer.__main__ import main
from viewer.core.geometry import LPS2RAS, apply_affine

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SCHEMA_DOC = PROJECT_ROOT / "docs" / "cli-info-json.md"

SERIES_KEYS = {
    "key",
    "format",
    "series_number",
    "series_instance_uid",
    "study_instance_uid",
    "modality",
    "description",
    "series_datetime",
    "rows",
    "columns",
    "slices",
    "frames",
    "pixel_spacing_mm",
    "slice_step_mm",
    "slice_thickness_mm",
    "orientation",
    "contrast_agent",
    "is_localizer",
    "file_count",
    "warnings",
}

OBLIQUE_IOP = (0.9659258, 0.2588190, 0.0, 0.0, 0.0, -1.0)  # rows tilted 15 degrees, columns down


@pytest.fixture
def two_series(tmp_path) -> Path:
    """A folder with an MR and a CT series of one patient on one date, plus two junk files."""
    folder = tmp_path / "case"
    write_series(folder / "mr", ramp_volume((8, 16, 20)), series_number=1, name="mr")
    write_series(
        folder / "ct",
        ramp_volume((5, 12, 10), dtype=np.uint16),
        spacing=(5.0, 0.5, 0.75),
        modality="CT",
        series_number=2,
        series_description="CT head",
        name="ct",
    )
    (folder / "notes.txt").write_text("not an image\n")
    (folder / "empty").write_bytes(b"")
    return folder


def run_main(capsys, *args: str) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


# ---------------------------------------------------------------------------------------------
# info


def test_info_json_schema_and_values(capsys, two_series):
    code, out, err = run_main(capsys, "info", two_series, "--json")
    assert code == 0, err
    report = json.loads(out)
    assert set(report) == {"schema_version", "paths", "patients", "skipped", "warnings"}
    assert report["schema_version"] == 1
    assert report["paths"] == [str(two_series.resolve())]
    (patient,) = report["patients"]
    assert set(patient) == {"patient_id", "visits"}
    assert patient["patient_id"] == "TEST001"
    (visit,) = patient["visits"]
    assert visit["date"] == "2003-03-27"
    by_number = {s["series_number"]: s for s in visit["series"]}
    assert sorted(by_number) == [1, 2]
    for series in visit["series"]:
        assert set(series) == SERIES_KEYS
        assert series["format"] == "dicom"
        assert series["orientation"] == "axial"
        assert series["frames"] == 1 and series["is_localizer"] is False
    mr, ct = by_number[1], by_number[2]
    assert (mr["rows"], mr["columns"], mr["slices"]) == (16, 20, 8)
    assert mr["pixel_spacing_mm"] == [1.0, 1.0]
    assert mr["slice_step_mm"] == pytest.approx(2.0)
    assert mr["modality"] == "MR" and mr["description"] == "T1 post-contrast"
    assert mr["file_count"] == 8
    assert (ct["rows"], ct["columns"], ct["slices"]) == (12, 10, 5)
    assert ct["pixel_spacing_mm"] == [0.5, 0.75]
    assert ct["slice_step_mm"] == pytest.approx(5.0)
    assert ct["key"] == ct["series_instance_uid"]
    skipped = {Path(s["path"]).name: s["reason"] for s in report["skipped"]}
    assert skipped["empty"] == "empty file"
    assert "not a DICOM or NIfTI file" in skipped["notes.txt"]


def test_every_json_key_is_documented():
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", SCHEMA_DOC.read_text(), flags=re.M))
    top = {"schema_version", "paths", "patients", "skipped", "warnings"}
    assert (
        SERIES_KEYS | top | {"patient_id", "visits", "date", "series", "path", "reason"}
        == documented
    )


def test_info_human_output(capsys, two_series):
    code, out, _ = run_main(capsys, "info", two_series)
    assert code == 0
    assert "Patient TEST001" in out
    assert "Visit 2003-03-27" in out
    assert "Series 1  MR  T1 post-contrast" in out
    assert "matrix 16 x 20 x 8 (rows x columns x slices)" in out
    assert "spacing 1 x 1 x 2 mm (row x column x slice step)" in out
    assert "spacing 0.5 x 0.75 x 5 mm (row x column x slice step)" in out
    assert "orientation axial, 8 slices" in out
    assert "contrast: none recorded" in out
    assert re.search(r"Skipped files \(2\):\n.*empty: empty file", out)


def test_info_slice_step_comes_from_positions_not_thickness(capsys, tmp_path):
    def thick(index, ds):
        ds.SliceThickness = 7.0  # nominal; the real step is 2.5 mm

    write_series(tmp_path, ramp_volume((6, 8, 8)), spacing=(2.5, 1, 1), mutate=thick)
    code, out, _ = run_main(capsys, "info", tmp_path, "--json")
    (series,) = json.loads(out)["patients"][0]["visits"][0]["series"]
    assert series["slice_step_mm"] == pytest.approx(2.5)
    assert series["slice_thickness_mm"] == pytest.approx(7.0)


def test_info_on_nifti(capsys, tmp_path):
    affine = np.diag([0.8, 0.9, 3.0, 1.0])
    nib.save(nib.Nifti1Image(np.zeros((10, 12, 7, 3), np.int16), affine), tmp_path / "perf.nii.gz")
    code, out, _ = run_main(capsys, "info", tmp_path / "perf.nii.gz", "--json")
    assert code == 0
    (patient,) = json.loads(out)["patients"]
    assert patient["patient_id"] is None
    (series,) = patient["visits"][0]["series"]
    assert patient["visits"][0]["date"] is None
    assert series["format"] == "nifti"
    assert (series["rows"], series["columns"], series["slices"], series["frames"]) == (12, 10, 7, 3)
    assert series["pixel_spacing_mm"] == pytest.approx([0.9, 0.8])
    assert series["slice_step_mm"] == pytest.approx(3.0)
    assert series["key"] == str((tmp_path / "perf.nii.gz").resolve())


def test_info_exit_codes_and_one_line_errors(capsys, tmp_path):
    (tmp_path / "junk.bin").write_bytes(b"\x00\x01random")
    code, out, err = run_main(capsys, "info", tmp_path)
    assert code == 1
    assert "junk.bin" in out and err.count("\n") == 1 and "no DICOM or NIfTI image found" in err
    code, out, err = run_main(capsys, "info", tmp_path / "nowhere")
    assert code == 1 and out == ""
    assert err == f"interval info: error: {tmp_path / 'nowhere'}: no such file or folder\n"
    code, _, err = run_main(capsys, "info")
    assert code == 2 and "required: PATH" in err
    code, _, err = run_main(capsys, "info", tmp_path, "--bogus")
    assert code == 2 and "unrecognized arguments: --bogus" in err
    assert "Traceback" not in err


def test_info_json_still_printed_when_nothing_found(capsys, tmp_path):
    (tmp_path / "a.pdf").write_bytes(b"%PDF-1.4 nothing")
    code, out, _ = run_main(capsys, "info", tmp_path, "--json")
    assert code == 1
    report = json.loads(out)
    assert (
        report["patients"] == [] and report["skipped"][0]["reason"] == "a PDF document, not DICOM"
    )


# ---------------------------------------------------------------------------------------------
# convert


def lps_of_pixel(ipp, iop, pixel_spacing, row, column) -> np.ndarray:
    """DICOM: centre of pixel (row, column) of a slice, LPS mm."""
    iop = np.asarray(iop, float)
    return (
        np.asarray(ipp, float)
        + column * pixel_spacing[1] * iop[:3]
        + row * pixel_spacing[0] * iop[3:]
    )


def assert_nifti_matches_dicom(
    out: Path, stored: np.ndarray, *, spacing, origin, iop, slope, inter
):
    """Every voxel of the DICOM input sits in the NIfTI at the same LPS position (0.01 mm) with
    its rescaled value, whatever axis order or flips the converter chose."""
    image = nib.load(out)
    data = np.asarray(image.dataobj)
    ras2ijk = np.linalg.inv(image.affine)
    iop = np.asarray(iop, float)
    normal = np.cross(iop[:3], iop[3:])
    rows, columns = np.meshgrid(range(stored.shape[1]), range(stored.shape[2]), indexing="ij")
    for k in range(stored.shape[0]):
        ipp = np.asarray(origin, float) + k * spacing[0] * normal
        lps = lps_of_pixel(ipp, iop, spacing[1:], rows.ravel()[:, None], columns.ravel()[:, None])
        ijk = apply_affine(ras2ijk, apply_affine(LPS2RAS, lps))
        nearest = np.rint(ijk)
        error_mm = np.linalg.norm(
            apply_affine(image.affine, nearest) - apply_affine(LPS2RAS, lps), axis=1
        )
        assert error_mm.max() < 0.01, f"slice {k}: voxel centres off by {error_mm.max():.4f} mm"
        assert np.all(nearest >= 0) and np.all(nearest < data.shape)
        i, j, kk = nearest.astype(int).T
        expected = stored[k][rows.ravel(), columns.ravel()].astype(np.float64) * slope + inter
        np.testing.assert_allclose(data[i, j, kk], expected, rtol=1e-6)


@pytest.mark.parametrize(
    ("modality", "dtype", "rescale", "expected_dtype"),
    [
        ("CT", np.uint16, (1.0, -1024.0), np.int16),
        ("MR", np.int16, (2.5, 10.0), np.float32),
    ],
)
def test_convert_oblique_series_keeps_geometry_and_values(
    capsys, tmp_path, modality, dtype, rescale, expected_dtype
):
    stored = ramp_volume((6, 10, 12), dtype=dtype)
    geometry = {"spacing": (3.0, 0.8, 0.7), "origin": (-40.5, 12.25, 80.0), "iop": OBLIQUE_IOP}
    write_series(
        tmp_path / "in",
        stored,
        spacing=geometry["spacing"],
        origin=geometry["origin"],
        orientation=geometry["iop"],
        modality=modality,
        rescale=rescale,
        patient_name="CANARY^PATIENT",
    )
    out = tmp_path / "out.nii.gz"
    code, stdout, err = run_main(capsys, "convert", tmp_path / "in", out)
    assert code == 0, err
    assert stdout.startswith(f"wrote {out}: {modality} 'T1 post-contrast', 10 x 12 x 6")
    assert np.asarray(nib.load(out).dataobj).dtype == expected_dtype
    assert_nifti_matches_dicom(out, stored, **geometry, slope=rescale[0], inter=rescale[1])
    assert b"CANARY" not in nib.load(out).header.binaryblock


def test_convert_needs_a_choice_among_several_series(capsys, two_series, tmp_path):
    out = tmp_path / "out.nii"
    code, stdout, err = run_main(capsys, "convert", two_series, out)
    assert code == 1 and stdout == "" and not out.exists()
    first, *listing = err.splitlines()
    assert first == (
        f"interval convert: error: {two_series} holds 2 series; "
        "choose one with --series NUMBER, UID or key:"
    )
    assert len(listing) == 2
    assert (
        "'T1 post-contrast' (16 x 20 x 8)" in listing[0] and "'CT head' (12 x 10 x 5)" in listing[1]
    )


def test_convert_series_by_number_and_by_uid(capsys, two_series, tmp_path):
    code, _, err = run_main(capsys, "convert", two_series, tmp_path / "ct.nii.gz", "--series", "2")
    assert code == 0, err
    ct = np.asarray(nib.load(tmp_path / "ct.nii.gz").dataobj)
    assert ct.shape == (10, 12, 5)  # (columns, rows, slices)
    expected = ramp_volume((5, 12, 10), dtype=np.uint16).astype(np.int32) - 1024
    assert sorted(ct.ravel().tolist()) == sorted(expected.ravel().tolist())
    _, json_out, _ = run_main(capsys, "info", two_series, "--json")
    series = json.loads(json_out)["patients"][0]["visits"][0]["series"]
    mr_uid = next(s["series_instance_uid"] for s in series if s["series_number"] == 1)
    code, _, err = run_main(capsys, "convert", two_series, tmp_path / "mr.nii", "--series", mr_uid)
    assert code == 0, err
    assert nib.load(tmp_path / "mr.nii").shape == (20, 16, 8)


def test_convert_errors_are_one_line(capsys, two_series, tmp_path):
    code, _, err = run_main(capsys, "convert", two_series, tmp_path / "o.nii", "--series", "99")
    assert code == 1 and err.count("\n") == 1
    assert err.startswith("interval convert: error: --series '99' matches no series; available: 1:")
    code, _, err = run_main(capsys, "convert", tmp_path / "nowhere", tmp_path / "o.nii")
    assert (code, err) == (
        1,
        f"interval convert: error: {tmp_path / 'nowhere'}: no such file or folder\n",
    )
    code, _, err = run_main(capsys, "convert", two_series, tmp_path / "o.png")
    assert code == 2 and "must end in .nii or .nii.gz" in err
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run_main(capsys, "convert", empty, tmp_path / "o.nii")
    assert (code, err) == (1, f"interval convert: error: {empty}: no image series found\n")
    broken = tmp_path / "broken.nii"
    broken.write_bytes(b"this is text\n" * 40)
    code, _, err = run_main(capsys, "convert", broken, tmp_path / "o.nii")
    assert code == 1 and "1 files skipped: see interval info" in err
    code, _, err = run_main(capsys, "convert")
    assert code == 2
    assert "Traceback" not in err


def test_convert_prints_the_volume_warnings(capsys, tmp_path):
    def gap(index, ds):
        if index >= 4:  # slice 4 is missing: a 4 mm gap in a 2 mm series
            ds.ImagePositionPatient = [
                ds.ImagePositionPatient[0],
                ds.ImagePositionPatient[1],
                float(ds.ImagePositionPatient[2]) + 2.0,
            ]

    write_series(tmp_path / "in", ramp_volume((8, 8, 8)), mutate=gap)
    code, _, err = run_main(capsys, "convert", tmp_path / "in", tmp_path / "o.nii.gz")
    assert code == 0
    assert re.search(r"^warning: missing slice.*gap", err, flags=re.M)


def test_convert_nifti_frame(capsys, tmp_path):
    data = np.arange(4 * 5 * 6 * 3, dtype=np.int16).reshape(4, 5, 6, 3)
    affine = np.diag([-1.5, 1.25, 2.0, 1.0])
    nib.save(nib.Nifti1Image(data, affine), tmp_path / "in.nii.gz")
    code, _, err = run_main(
        capsys, "convert", tmp_path / "in.nii.gz", tmp_path / "f2.nii", "--frame", "2"
    )
    assert code == 0, err
    out = nib.load(tmp_path / "f2.nii")
    np.testing.assert_array_equal(np.asarray(out.dataobj), data[..., 2])
    np.testing.assert_allclose(out.affine, affine, atol=1e-5)
    code, _, err = run_main(
        capsys, "convert", tmp_path / "in.nii.gz", tmp_path / "x.nii", "--frame", "3"
    )
    assert code == 1 and "frame 3 requested, the file has 3" in err


REAL_CASES = [
    "generic/anatomical/001",
    "generic/anatomical/002_non_isotropic",
    "siemens/anatomical/001",
    "ge/anatomical/001",
    "hitachi/anatomical/001",
    "philips/anatomical/001",
    "hyperfine/anatomical/001",
    "siemens_multiframe/anatomical/001",  # enhanced multi-frame
]


@pytest.mark.parametrize("case", REAL_CASES)
def test_convert_real_series_agrees_with_dicom2nifti(capsys, shared_data, tmp_path, case):
    source = shared_data / "dicom2nifti" / "data" / case
    reference_path = source.parent / f"{source.name}_ground_truth.nii.gz"
    if not source.is_dir() or not reference_path.is_file():
        pytest.skip(f"{case} or its ground truth is not in the shared data")
    out = tmp_path / "out.nii.gz"
    code, _, err = run_main(capsys, "convert", source, out)
    assert code == 0, err
    ours, reference = nib.load(out), nib.load(reference_path)
    ours_data = np.asarray(ours.dataobj, dtype=np.float64)
    ref_data = np.asarray(reference.dataobj, dtype=np.float64)
    assert ours_data.size == ref_data.size
    ijk = np.indices(ours_data.shape).reshape(3, -1).T
    world = apply_affine(ours.affine, ijk)
    ref_ijk = np.rint(apply_affine(np.linalg.inv(reference.affine), world))
    error_mm = np.linalg.norm(apply_affine(reference.affine, ref_ijk) - world, axis=1)
    assert error_mm.max() < 0.01
    assert np.all(ref_ijk >= 0) and np.all(ref_ijk < ref_data.shape)  # no wrap-around indexing
    assert len(np.unique(ref_ijk, axis=0)) == len(ref_ijk)  # one reference voxel per voxel
    i, j, k = ref_ijk.astype(int).T
    np.testing.assert_allclose(ours_data.ravel(), ref_data[i, j, k], rtol=1e-5, atol=1e-3)


# ---------------------------------------------------------------------------------------------
# python -m viewer: dispatch, help, no Qt in the CLI


def test_help_lists_both_modes(capsys):
    code, out, _ = run_main(capsys, "--help")
    assert code == 0
    assert "interval [PATH ...]" in out and "interval COMMAND" in out
    assert "demo case" in out
    assert re.search(r"^\s+info\s", out, flags=re.M) and re.search(
        r"^\s+convert\s", out, flags=re.M
    )


def test_module_runs_in_a_subprocess():
    result = subprocess.run(
        [sys.executable, "-m", "viewer", "info", "--help"],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: interval info")


def test_cli_does_not_import_qt():
    code = (
        "import sys, viewer.cli.main, viewer.cli.info, viewer.cli.convert, viewer.__main__\n"
        "from viewer.cli.main import run_command\n"
        "run_command(['info', '--help'])\n"
        "print(sorted(m for m in sys.modules if m.startswith(('PySide6', 'shiboken6'))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


@pytest.fixture
def fake_gui(monkeypatch):
    """Stand-in for viewer.ui.app so the dispatch is tested without opening a window."""
    calls = []
    module = types.ModuleType("viewer.ui.app")
    module.run_app = lambda paths: calls.append(list(paths)) or 7
    monkeypatch.setitem(sys.modules, "viewer.ui.app", module)
    return calls


def test_paths_open_the_viewer(capsys, fake_gui, two_series):
    assert main([str(two_series)]) == 7
    assert fake_gui == [[str(two_series)]]


def test_no_arguments_open_the_demo_case(capsys, fake_gui, monkeypatch, tmp_path):
    demo = tmp_path / "sample_scans" / "demo_case" / "dicom"
    monkeypatch.setattr(entry_point, "demo_case_path", lambda: demo)
    code, _, err = run_main(capsys)
    assert code == 1 and fake_gui == []
    assert "demo case is missing" in err and "python sample_scans/generate_demo.py" in err
    demo.mkdir(parents=True)
    assert main([]) == 7
    assert fake_gui == [[str(demo)]]


def test_demo_case_path_is_in_the_repository():
    assert entry_point.demo_case_path() == PROJECT_ROOT / "sample_scans" / "demo_case" / "dicom"


def test_gui_mode_refuses_missing_paths_and_unknown_options(capsys, fake_gui, tmp_path):
    code, _, err = run_main(capsys, "inof", tmp_path)
    assert code == 1 and fake_gui == []
    assert err == (
        "interval: error: inof: no such file or folder "
        "(commands are: info, convert, register, measure, report, pacs; see interval --help)\n"
    )
    code, _, err = run_main(capsys, tmp_path, "--zoom")
    assert code == 2 and "unknown option --zoom" in err
    code, _, err = run_main(capsys, "--zoom")
    assert code == 2 and "unrecognized arguments: --zoom" in err


def test_viewer_that_cannot_start_says_why(capsys, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "viewer.ui.app", None)  # import fails as with missing Qt libs
    code, _, err = run_main(capsys, tmp_path)
    assert code == 1 and err.count("\n") == 1
    assert err.startswith("interval: error: the viewer window cannot start (")
    assert "libegl1" in err and "interval --help" in err
