"""NIfTI reading and writing: known answers, RELIABILITY B17-B22, round trips, real data."""

from __future__ import annotations

import errno
import gzip
import itertools
import re
import tracemalloc
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nibabel.nifti1 import Nifti1Header
from nibabel.testing import data_path as NIBABEL_DATA

from viewer.core.geometry import LPS2RAS, apply_affine
from viewer.core.volume import Volume, VolumeMetadata
from viewer.errors import IntervalError, InvalidGeometryError, SaveError, UnreadableFileError
from viewer.io.nifti import nifti_series_entry, nifti_voxel2patient, read_nifti, write_nifti

NIBABEL_DATA = Path(NIBABEL_DATA)


def ras_affine(
    zooms=(2.0, 3.0, 4.0), translation=(10.0, 20.0, 30.0), rotation_deg: float = 0.0
) -> np.ndarray:
    """A RAS affine: zooms along (i, j, k), then a rotation about the k (S) axis."""
    c, s = np.cos(np.radians(rotation_deg)), np.sin(np.radians(rotation_deg))
    affine = np.eye(4)
    affine[:3, :3] = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]) @ np.diag(zooms)
    affine[:3, 3] = translation
    return affine


def ijk_ramp(shape=(4, 5, 6), dtype=np.int16) -> np.ndarray:
    """data[i, j, k] = 100 i + 10 j + k: every voxel says where it is."""
    i, j, k = np.indices(shape)
    return (100 * i + 10 * j + k).astype(dtype)


def write_nii(
    path: Path,
    data: np.ndarray,
    affine: np.ndarray | None = None,
    *,
    sform: np.ndarray | None = None,
    qform: np.ndarray | None = None,
    sform_code: int = 1,
    qform_code: int = 1,
    fields: dict | None = None,
) -> Path:
    """Write a NIfTI-1 file, then patch raw header fields (nibabel would 'fix' some on save)."""
    affine = ras_affine() if affine is None else affine
    image = nib.Nifti1Image(data, affine)
    image.set_sform(affine if sform is None else sform, code=sform_code)
    image.set_qform(affine if qform is None else qform, code=qform_code)
    image.header.set_xyzt_units("mm")
    raw = image.to_bytes()
    header = Nifti1Header(raw[:348], endianness="<", check=False)
    for name, value in (fields or {}).items():
        header[name] = value
    raw = header.binaryblock + raw[348:]
    path.write_bytes(gzip.compress(raw) if path.name.endswith(".gz") else raw)
    return path


def corners(shape) -> np.ndarray:
    return np.array(list(itertools.product(*[(0, n - 1) for n in shape])), dtype=float)


# ---------------------------------------------------------------------------------------------
# Geometry and axis order: known answers


def test_axes_and_world_positions_known_answer(tmp_path):
    data = ijk_ramp((4, 5, 6))
    path = write_nii(tmp_path / "ramp.nii", data, ras_affine((2, 3, 4), (10, 20, 30)))
    volume = read_nifti(path)
    assert volume.shape == (6, 5, 4)  # (slice, row, column) = (k, j, i)
    assert volume.array[5, 2, 3] == 100 * 3 + 10 * 2 + 5
    # voxel (i, j, k) = (3, 2, 1) is RAS (10 + 6, 20 + 6, 30 + 4) = LPS (-16, -26, 34)
    np.testing.assert_allclose(apply_affine(volume.voxel2patient, [1, 2, 3]), [-16, -26, 34])
    np.testing.assert_allclose(volume.spacing, [4, 3, 2])
    assert volume.array.dtype == np.int16


def test_every_voxel_lands_where_the_affine_says(tmp_path):
    affine = ras_affine((0.9, 1.1, 2.5), (-80.5, 60.25, -12.0), rotation_deg=23.0)
    data = ijk_ramp((7, 6, 5))
    volume = read_nifti(write_nii(tmp_path / "oblique.nii.gz", data, affine))
    ijk = np.array(list(np.ndindex(*data.shape)), dtype=float)
    src = ijk[:, ::-1]
    np.testing.assert_allclose(
        apply_affine(volume.voxel2patient, src),
        apply_affine(LPS2RAS @ affine, ijk),
        atol=1e-4,
    )
    s, r, c = src.astype(int).T
    i, j, k = ijk.astype(int).T
    np.testing.assert_array_equal(volume.array[s, r, c], data[i, j, k])


@pytest.mark.parametrize(
    ("matrix", "expected"),
    [
        (np.diag([1.0, 1.0, 1.0]), "axial"),
        # i -> R, j -> S, k -> A: coronal slices
        (np.array([[1.0, 0, 0], [0, 0, 1], [0, 1, 0]]), "coronal"),
        # i -> A, j -> S, k -> R: sagittal slices
        (np.array([[0.0, 0, 1], [1, 0, 0], [0, 1, 0]]), "sagittal"),
    ],
)
def test_series_entry_fields(tmp_path, matrix, expected):
    affine = np.eye(4)
    affine[:3, :3] = matrix @ np.diag([0.5, 0.75, 3.0])
    path = write_nii(tmp_path / "img.nii.gz", ijk_ramp((8, 9, 10)), affine)
    entry = nifti_series_entry(path)
    assert entry.format == "nifti"
    assert entry.key == str(path.resolve()) == entry.source
    assert entry.description == "img.nii.gz"
    assert entry.patient_id == "" and entry.study_date is None
    assert entry.shape == (10, 9, 8)
    assert entry.pixel_spacing_mm == pytest.approx((0.75, 0.5))
    assert entry.orientation == expected
    assert entry.frames == 1
    assert entry.warnings == ()
    np.testing.assert_allclose(nifti_voxel2patient(path), read_nifti(path).voxel2patient)


def test_oblique_plane_is_named(tmp_path):
    path = write_nii(tmp_path / "o.nii", ijk_ramp(), ras_affine(rotation_deg=0.0))
    assert nifti_series_entry(path).orientation == "axial"
    tilted = np.eye(4)
    angle = np.radians(20)
    tilted[:3, :3] = [
        [1, 0, 0],
        [0, np.cos(angle), -np.sin(angle)],
        [0, np.sin(angle), np.cos(angle)],
    ]
    path = write_nii(tmp_path / "t.nii", ijk_ramp(), tilted)
    assert nifti_series_entry(path).orientation == "oblique axial"


def test_pair_hdr_img(tmp_path):
    data = ijk_ramp()
    nib.save(nib.Nifti1Pair(data, ras_affine()), tmp_path / "pair.hdr")
    entry = nifti_series_entry(tmp_path / "pair.hdr")
    assert entry.paths == (str(tmp_path / "pair.hdr"), str(tmp_path / "pair.img"))
    np.testing.assert_array_equal(read_nifti(tmp_path / "pair.hdr").array, data.transpose(2, 1, 0))
    (tmp_path / "pair.img").unlink()
    with pytest.raises(UnreadableFileError, match=r"pair\.img .* missing"):
        nifti_series_entry(tmp_path / "pair.hdr")


def test_metres_are_converted_to_mm(tmp_path):
    path = write_nii(tmp_path / "m.nii", ijk_ramp(), ras_affine((0.002, 0.003, 0.004), (0, 0, 0)))
    header = Nifti1Header(path.read_bytes()[:348], check=False)
    header.set_xyzt_units("meter")
    path.write_bytes(header.binaryblock + path.read_bytes()[348:])
    volume = read_nifti(path)
    np.testing.assert_allclose(volume.spacing, [4, 3, 2])
    assert any("metres: converted to mm" in w for w in volume.metadata.warnings)


# ---------------------------------------------------------------------------------------------
# B17 qform vs sform


def test_b17_qform_and_sform_disagree_by_50_mm(tmp_path):
    sform = ras_affine()
    qform = sform.copy()
    qform[:3, 3] += [30.0, 40.0, 0.0]  # 50 mm apart everywhere
    path = write_nii(tmp_path / "b17.nii", ijk_ramp(), sform=sform, qform=qform, qform_code=1)
    entry = nifti_series_entry(path)
    (warning,) = entry.warnings
    assert "disagree by up to 50.0 mm" in warning and "using the sform" in warning
    volume = read_nifti(path)
    assert warning in volume.metadata.warnings
    np.testing.assert_allclose(volume.voxel2patient, LPS2RAS @ sform @ _ijk2src(), atol=1e-5)


def test_b17_small_disagreement_is_silent_and_qform_used_without_sform(tmp_path):
    sform = ras_affine()
    qform = sform.copy()
    qform[:3, 3] += [0.5, 0.0, 0.0]
    path = write_nii(tmp_path / "a.nii", ijk_ramp(), sform=sform, qform=qform)
    assert nifti_series_entry(path).warnings == ()
    path = write_nii(tmp_path / "q.nii", ijk_ramp(), sform=sform, qform=qform, sform_code=0)
    np.testing.assert_allclose(
        read_nifti(path).voxel2patient, LPS2RAS @ qform @ _ijk2src(), atol=1e-5
    )


def test_b17_rotation_disagreement_is_measured_at_the_far_corner(tmp_path):
    sform = ras_affine((1, 1, 1), (0, 0, 0))
    qform = ras_affine((1, 1, 1), (0, 0, 0), rotation_deg=2.0)
    path = write_nii(tmp_path / "r.nii", ijk_ramp((100, 100, 10)), sform=sform, qform=qform)
    expected = max(
        np.linalg.norm(apply_affine(sform, p) - apply_affine(qform, p))
        for p in corners((100, 100, 10))
    )
    (warning,) = nifti_series_entry(path).warnings
    assert f"disagree by up to {expected:.1f} mm" in warning


# ---------------------------------------------------------------------------------------------
# B18 no orientation


def test_b18_no_orientation_warns(tmp_path):
    path = write_nii(tmp_path / "b18.nii", ijk_ramp(), sform_code=0, qform_code=0)
    entry = nifti_series_entry(path)
    assert entry.orientation == "unknown"
    (warning,) = entry.warnings
    assert "no orientation in header" in warning
    assert "registration to other visits needs confirmation" in warning
    volume = read_nifti(path)
    np.testing.assert_allclose(volume.spacing, [4, 3, 2])  # from pixdim, never a placeholder


# ---------------------------------------------------------------------------------------------
# B19 pixdim zero, NaN, negative


@pytest.mark.parametrize("bad", [0.0, np.nan, -3.0])
def test_b19_bad_pixdim_refused_when_the_geometry_depends_on_it(tmp_path, bad):
    pixdim = [1.0, 2.0, bad, 4.0, 1, 1, 1, 1]
    for name, codes in [("q.nii", (0, 1)), ("none.nii", (0, 0))]:
        path = write_nii(
            tmp_path / name,
            ijk_ramp(),
            sform_code=codes[0],
            qform_code=codes[1],
            fields={"pixdim": pixdim},
        )
        for reader in (nifti_series_entry, read_nifti):
            with pytest.raises(InvalidGeometryError, match=r"pixdim\[2\] = (0|nan|-3)") as info:
                reader(path)
            assert str(path) in str(info.value)


@pytest.mark.parametrize("bad", [0.0, np.nan, -3.0])
def test_b19_bad_pixdim_with_a_valid_sform_is_warned_and_uses_the_sform(tmp_path, bad):
    path = write_nii(
        tmp_path / "s.nii", ijk_ramp(), fields={"pixdim": [1.0, 2.0, bad, 4.0, 1, 1, 1, 1]}
    )
    entry = nifti_series_entry(path)
    (warning,) = entry.warnings
    assert "invalid voxel size" in warning and "pixdim[2]" in warning
    assert "voxels of 2 x 3 x 4 mm (i x j x k)" in warning
    np.testing.assert_allclose(read_nifti(path).spacing, [4, 3, 2])


def test_b19_singular_sform_falls_back_to_qform_with_a_warning(tmp_path):
    sform = np.zeros((4, 4))
    sform[3, 3] = 1
    path = write_nii(tmp_path / "z.nii", ijk_ramp(), sform=sform)
    (warning,) = nifti_series_entry(path).warnings
    assert "sform is singular" in warning and "qform is used" in warning
    np.testing.assert_allclose(read_nifti(path).spacing, [4, 3, 2])
    path = write_nii(tmp_path / "zz.nii", ijk_ramp(), sform=sform, qform_code=0)
    with pytest.raises(InvalidGeometryError, match="no usable voxel-to-world transform"):
        nifti_series_entry(path)


# ---------------------------------------------------------------------------------------------
# B20 scaling


@pytest.mark.parametrize("slope", [0.0, np.nan])
def test_b20_slope_zero_or_nan_means_no_scaling_with_a_warning(tmp_path, slope):
    data = ijk_ramp()
    path = write_nii(tmp_path / "s.nii", data, fields={"scl_slope": slope, "scl_inter": 7.0})
    (warning,) = nifti_series_entry(path).warnings
    assert "no scaling applied" in warning
    volume = read_nifti(path)
    assert volume.array.dtype == np.int16
    np.testing.assert_array_equal(volume.array, data.transpose(2, 1, 0))


@pytest.mark.parametrize("field", ["scl_slope", "scl_inter"])
@pytest.mark.parametrize("value", [np.inf, -np.inf])
def test_b20_infinite_scaling_refused(tmp_path, field, value):
    path = write_nii(tmp_path / "inf.nii", ijk_ramp(), fields={field: value})
    for reader in (nifti_series_entry, read_nifti):
        with pytest.raises(UnreadableFileError, match="infinite scaling"):
            reader(path)


def test_b20_infinite_voxels_refused_and_nan_voxels_counted(tmp_path):
    data = ijk_ramp(dtype=np.float32)
    data[1, 1, 1] = np.inf
    with pytest.raises(UnreadableFileError, match="1 voxels are infinite"):
        read_nifti(write_nii(tmp_path / "inf.nii", data))
    data[1, 1, 1] = np.nan
    data[2, 2, 2] = np.nan
    volume = read_nifti(write_nii(tmp_path / "nan.nii", data))
    assert "2 voxels have no value (NaN)" in volume.metadata.warnings


def test_b20_scaling_overflowing_float32_refused(tmp_path):
    path = write_nii(tmp_path / "big.nii", ijk_ramp(), fields={"scl_slope": 3e38})
    with pytest.raises(UnreadableFileError, match="infinite"):
        read_nifti(path)


# ---------------------------------------------------------------------------------------------
# dtypes: integers kept where exact, float32 otherwise, never float64


@pytest.mark.parametrize(
    ("stored", "slope", "inter", "expected_dtype"),
    [
        (np.int16, 1.0, 0.0, np.int16),
        (np.uint8, 1.0, 0.0, np.uint8),
        (np.uint16, 1.0, 0.0, np.uint16),
        (np.int32, 1.0, 0.0, np.int32),
        (np.uint16, 1.0, -1024.0, np.int16),  # CT stored unsigned: exact in int16
        (np.int16, 2.0, -5.0, np.int16),
        (np.int16, 0.5, 0.0, np.float32),
        (np.int16, 1.0, 0.25, np.float32),
        (np.int16, 200.0, 0.0, np.float32),  # exact but beyond int16: float32
        (np.float64, 1.0, 0.0, np.float32),
        (np.float32, 2.0, 1.0, np.float32),
    ],
)
def test_dtype_policy_and_real_values(tmp_path, stored, slope, inter, expected_dtype):
    data = ijk_ramp((4, 5, 6), dtype=stored)
    path = write_nii(tmp_path / "d.nii", data, fields={"scl_slope": slope, "scl_inter": inter})
    volume = read_nifti(path)
    assert volume.array.dtype == expected_dtype
    expected = data.astype(np.float64).transpose(2, 1, 0) * slope + inter
    np.testing.assert_allclose(volume.array.astype(np.float64), expected, rtol=1e-6)


def test_big_endian_file_reads_native(tmp_path):
    volume = read_nifti(NIBABEL_DATA / "anatomical.nii")  # stored >i2
    assert volume.array.dtype == np.dtype("int16") and volume.array.dtype.isnative


# ---------------------------------------------------------------------------------------------
# B21 broken files: clear per-file errors at scan time


def _valid_bytes(tmp_path: Path, shape=(16, 16, 8)) -> bytes:
    rng = np.random.default_rng(21)
    data = rng.integers(-2000, 2000, size=shape, dtype=np.int16)  # incompressible-ish
    return write_nii(tmp_path / "valid.nii", data).read_bytes()


def broken_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    raw = _valid_bytes(tmp_path)
    gz = gzip.compress(raw)
    flipped = bytearray(gz)
    for offset in range(len(gz) // 2, len(gz) // 2 + 40, 7):
        flipped[offset] ^= 0x5A
    header = Nifti1Header(raw[:348], check=False)
    header["magic"] = b"xyz"
    cases = {
        "bad_magic.nii": (header.binaryblock + raw[348:], "bad magic"),
        "short_header.nii": (raw[:100], r"truncated header \(100 of 348 bytes\)"),
        "notes.nii": (
            b"patient notes\nthis is not an image\n" * 20,
            "a text file, not a NIfTI image",
        ),
        "cut_data.nii": (
            raw[: len(raw) - 1000],
            "truncated: the header promises voxel data up to byte",
        ),
        "cut.nii.gz": (gz[: len(gz) // 2], "truncated"),
        "flipped.nii.gz": (bytes(flipped), "damaged"),
        "empty.nii": (b"", "truncated header"),
    }
    out = {}
    for name, (content, reason) in cases.items():
        path = tmp_path / "broken" / name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(content)
        out[name] = (path, reason)
    return out


def test_b21_broken_files_give_clear_errors_at_scan_and_load(tmp_path):
    for name, (path, reason) in broken_files(tmp_path).items():
        for reader in (nifti_series_entry, read_nifti):
            with pytest.raises(UnreadableFileError, match=reason) as info:
                reader(path)
            assert str(path) in str(info.value), name


def test_b21_scan_lists_broken_files_and_keeps_the_good_one(tmp_path):
    from viewer.io import scan_paths

    files = broken_files(tmp_path)
    folder = tmp_path / "broken"
    write_nii(folder / "good.nii.gz", ijk_ramp())
    catalog = scan_paths([folder])
    assert [s.description for s in catalog.all_series()] == ["good.nii.gz"]
    skipped = {Path(s.path).name: s.reason for s in catalog.skipped}
    for name, (_, reason) in files.items():
        if name == "empty.nii":
            assert skipped[name] == "empty file"  # the sniffer already says so
        else:
            assert name in skipped and re.search(reason, skipped[name]), name


def test_b21_bit_flip_in_a_stored_block_is_caught_by_the_crc(tmp_path):
    raw = _valid_bytes(tmp_path)
    # level 0 stores the data verbatim: a flipped byte decodes fine and only the CRC can tell
    gz = bytearray(gzip.compress(raw, compresslevel=0))
    gz[len(gz) // 2] ^= 0x01
    path = tmp_path / "stored.nii.gz"
    path.write_bytes(bytes(gz))
    for reader in (nifti_series_entry, read_nifti):
        with pytest.raises(UnreadableFileError, match="damaged"):
            reader(path)


def test_b21_header_promising_absurd_size_refused_without_allocating(tmp_path):
    raw = _valid_bytes(tmp_path)
    header = Nifti1Header(raw[:348], check=False)
    header["dim"] = [3, 30000, 30000, 30000, 1, 1, 1, 1]
    for name, content in [("huge.nii", header.binaryblock + raw[348:])]:
        path = tmp_path / name
        path.write_bytes(content)
        for reader in (nifti_series_entry, read_nifti):
            with pytest.raises(UnreadableFileError, match="truncated"):
                reader(path)
    path = tmp_path / "huge.nii.gz"
    path.write_bytes(gzip.compress(header.binaryblock + raw[348:]))
    with pytest.raises(UnreadableFileError, match="more than a .*gzip file can hold"):
        read_nifti(path)


# ---------------------------------------------------------------------------------------------
# B22 4-D


def test_b22_4d_frames_are_browsable(tmp_path):
    data = np.stack([ijk_ramp((6, 5, 4)) + 1000 * t for t in range(7)], axis=-1).astype(np.int16)
    path = write_nii(tmp_path / "4d.nii.gz", data)
    entry = nifti_series_entry(path)
    assert entry.frames == 7 and entry.shape == (4, 5, 6)
    for t in (0, 3, 6):
        np.testing.assert_array_equal(
            read_nifti(path, frame=t).array, data[..., t].transpose(2, 1, 0)
        )
    with pytest.raises(IndexError, match="frame 7 requested, the file has 7"):
        read_nifti(path, frame=7)


def test_b22_reading_one_frame_keeps_memory_bounded(tmp_path):
    shape, frames = (64, 64, 32), 40
    frame_bytes = int(np.prod(shape)) * 2
    ramp = ijk_ramp(shape)
    data = np.stack([ramp + t for t in range(frames)], axis=-1)
    path = write_nii(tmp_path / "long.nii.gz", data)
    del data
    tracemalloc.start()
    try:
        volume = read_nifti(path, frame=frames - 3)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(volume.array, (ramp + frames - 3).transpose(2, 1, 0))
    # the whole file is 40 frames (10 MiB); one frame is 256 KiB plus 1 MiB read chunks
    assert peak < frame_bytes + 4 * 2**20 < frames * frame_bytes / 2


def test_b22_nibabel_example4d_matches_nibabel(tmp_path):
    image = nib.load(NIBABEL_DATA / "example4d.nii.gz")
    entry = nifti_series_entry(NIBABEL_DATA / "example4d.nii.gz")
    assert entry.frames == 2
    volume = read_nifti(NIBABEL_DATA / "example4d.nii.gz", frame=1)
    np.testing.assert_array_equal(
        volume.array, np.asarray(image.dataobj[..., 1]).transpose(2, 1, 0)
    )


# ---------------------------------------------------------------------------------------------
# Writing and round trips


def _ijk2src() -> np.ndarray:
    from viewer.io.nifti_header import IJK2SRC

    return IJK2SRC


def oblique_volume(dtype=np.int16, **metadata) -> Volume:
    affine = np.eye(4)
    angle = np.radians(17)
    row = np.array([np.cos(angle), np.sin(angle), 0.0])
    column = np.array([-np.sin(angle), np.cos(angle), 0.0])
    normal = np.cross(row, column)
    affine[:3, 0] = normal * 2.5
    affine[:3, 1] = column * 0.9
    affine[:3, 2] = row * 0.8
    affine[:3, 3] = [-101.3, 37.7, -250.25]
    z, y, x = np.indices((5, 7, 9))
    array = (1000 * z + 20 * y + x - 3000).astype(dtype)
    if dtype == np.float32:
        array = array / np.float32(7)
    return Volume(array, affine, VolumeMetadata(**metadata))


@pytest.mark.parametrize("dtype", [np.int16, np.float32])
@pytest.mark.parametrize("name", ["out.nii", "out.nii.gz"])
def test_write_then_read_is_identical(tmp_path, dtype, name):
    volume = oblique_volume(dtype, modality="MR")
    write_nifti(volume, tmp_path / name)
    back = read_nifti(tmp_path / name)
    assert back.array.dtype == dtype
    np.testing.assert_array_equal(back.array, volume.array)
    np.testing.assert_allclose(back.voxel2patient, volume.voxel2patient, atol=1e-4)
    assert back.metadata.warnings == ()
    header = nib.load(tmp_path / name).header
    assert int(header["sform_code"]) == 1 and int(header["qform_code"]) == 1
    assert header.get_xyzt_units()[0] == "mm"
    np.testing.assert_allclose(header.get_qform(), header.get_sform(), atol=1e-4)
    assert header["descrip"].item() == b"Interval MR"
    assert list(tmp_path.iterdir()) == [tmp_path / name]  # no temporary left behind


def test_written_file_agrees_with_nibabel_in_world_space(tmp_path):
    volume = oblique_volume()
    write_nifti(volume, tmp_path / "w.nii.gz")
    image = nib.load(tmp_path / "w.nii.gz")
    data = np.asarray(image.dataobj)
    for s, r, c in [(0, 0, 0), (4, 6, 8), (2, 3, 1)]:
        assert data[c, r, s] == volume.array[s, r, c]
        np.testing.assert_allclose(
            apply_affine(image.affine, [c, r, s]),
            apply_affine(LPS2RAS @ volume.voxel2patient, [s, r, c]),
            atol=1e-4,
        )


def test_no_patient_identifier_reaches_the_file(tmp_path):
    volume = oblique_volume(
        modality="CT",
        patient_name="CANARY^NAME",
        patient_id="CANARY-ID-42",
        description="CANARY series description",
        study_description="CANARY study",
    )
    write_nifti(volume, tmp_path / "c.nii.gz")
    raw = gzip.decompress((tmp_path / "c.nii.gz").read_bytes())
    assert b"CANARY" not in raw
    assert nib.load(tmp_path / "c.nii.gz").header["descrip"].item() == b"Interval CT"
    odd = oblique_volume(modality="Jane Doe")
    write_nifti(odd, tmp_path / "d.nii")
    assert nib.load(tmp_path / "d.nii").header["descrip"].item() == b"Interval"


def test_sheared_affine_exact_in_sform_nearest_rigid_in_qform(tmp_path):
    volume = oblique_volume()
    sheared = volume.voxel2patient.copy()
    sheared[:3, 0] += 0.8 * sheared[:3, 1] / np.linalg.norm(sheared[:3, 1])  # gantry-tilt-like
    tilted = Volume(volume.array, sheared, volume.metadata)
    write_nifti(tilted, tmp_path / "tilt.nii.gz")
    header = nib.load(tmp_path / "tilt.nii.gz").header
    np.testing.assert_allclose(header.get_sform(), LPS2RAS @ sheared @ _ijk2src(), atol=1e-4)
    qform = header.get_qform()[:3, :3]
    directions = qform / np.linalg.norm(qform, axis=0)
    np.testing.assert_allclose(directions.T @ directions, np.eye(3), atol=1e-5)  # rigid
    back = read_nifti(tmp_path / "tilt.nii.gz")
    np.testing.assert_allclose(back.voxel2patient, sheared, atol=1e-4)
    np.testing.assert_array_equal(back.array, volume.array)
    assert any("shear" in w for w in back.metadata.warnings)


def test_write_refuses_other_extensions_and_reports_disk_full(tmp_path, monkeypatch):
    volume = oblique_volume()
    with pytest.raises(SaveError, match=r"must end in \.nii or \.nii\.gz"):
        write_nifti(volume, tmp_path / "out.img")
    target = tmp_path / "keep.nii.gz"
    target.write_bytes(b"old content")

    def disk_full(image, filename):
        Path(filename).write_bytes(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(nib, "save", disk_full)
    with pytest.raises(SaveError, match="No space left on device") as info:
        write_nifti(volume, target)
    assert str(target) in str(info.value)
    assert target.read_bytes() == b"old content"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.nii.gz"]


@pytest.mark.parametrize(
    "name",
    [
        "anatomical.nii",
        "functional.nii",
        "example4d.nii.gz",
        "standard.nii.gz",
        "example_nifti2.nii.gz",
    ],
)
def test_nibabel_files_read_like_nibabel_and_round_trip(tmp_path, name):
    image = nib.load(NIBABEL_DATA / name)
    expected = np.asanyarray(image.dataobj[..., 0] if image.ndim == 4 else image.dataobj)
    volume = read_nifti(NIBABEL_DATA / name)
    assert volume.array.dtype != np.float64
    np.testing.assert_allclose(volume.array, expected.transpose(2, 1, 0), rtol=1e-6)
    ijk = corners(expected.shape)
    np.testing.assert_allclose(
        apply_affine(volume.voxel2patient, ijk[:, ::-1]),
        apply_affine(LPS2RAS @ image.affine, ijk),
        atol=1e-4,
    )
    write_nifti(volume, tmp_path / "copy.nii.gz")
    copy = nib.load(tmp_path / "copy.nii.gz")
    np.testing.assert_allclose(np.asarray(copy.dataobj), expected, rtol=1e-6)
    np.testing.assert_allclose(copy.affine, image.affine, atol=1e-4)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("analyze.hdr", "Analyze 7.5"),
        ("nifti1.hdr", r"nifti1\.img of this \.hdr/\.img pair is missing"),
        ("row_major.dconn.nii", "6-D data"),
    ],
)
def test_nibabel_files_we_refuse_say_why(name, reason):
    with pytest.raises(UnreadableFileError, match=reason):
        nifti_series_entry(NIBABEL_DATA / name)


# ---------------------------------------------------------------------------------------------
# Real data (skipped where ../shared/data is absent)


def test_brats_case(shared_data, tmp_path):
    folder = shared_data / "brats" / "BraTS-GLI-00001-000"
    for path in sorted(folder.glob("*.nii.gz")):
        entry = nifti_series_entry(path)
        assert entry.shape == (155, 240, 240)
        assert entry.pixel_spacing_mm == (1.0, 1.0)
        assert entry.orientation == "axial"
        assert entry.warnings == ()
    path = folder / "BraTS-GLI-00001-000-t1c.nii.gz"
    volume = read_nifti(path)
    image = nib.load(path)
    assert volume.array.dtype == np.int16
    assert volume.axis_codes == "SPL"  # stored LPS-like: slices go up, rows back, columns left
    np.testing.assert_array_equal(volume.array, np.asarray(image.dataobj).transpose(2, 1, 0))
    write_nifti(volume, tmp_path / "t1c.nii.gz")
    back = read_nifti(tmp_path / "t1c.nii.gz")
    np.testing.assert_array_equal(back.array, volume.array)
    np.testing.assert_allclose(back.voxel2patient, volume.voxel2patient, atol=1e-4)


def test_dicom2nifti_ground_truths_map_voxels_where_their_affine_says(shared_data):
    paths = sorted((shared_data / "dicom2nifti" / "data").rglob("*_ground_truth.nii.gz"))
    assert paths
    for path in paths:
        image = nib.load(path)
        if image.get_data_dtype().names:  # generic/rgb: colour, refused with a reason
            with pytest.raises(UnreadableFileError, match="RGBA? colour voxels are not supported"):
                read_nifti(path)
            continue
        volume = read_nifti(path)
        data = np.asanyarray(image.dataobj[..., 0] if image.ndim == 4 else image.dataobj)
        ijk = corners(data.shape)
        np.testing.assert_allclose(
            apply_affine(volume.voxel2patient, ijk[:, ::-1]),
            apply_affine(LPS2RAS @ image.affine, ijk),
            atol=1e-4,
            err_msg=str(path),
        )
        np.testing.assert_allclose(
            volume.array, data.transpose(2, 1, 0), rtol=1e-6, err_msg=str(path)
        )


# ---------------------------------------------------------------------------------------------
# Fuzzing (F39): damaged bytes give only Interval's documented errors


@pytest.fixture(scope="module")
def valid_nifti_bytes(tmp_path_factory) -> bytes:
    return _valid_bytes(tmp_path_factory.mktemp("fuzz"), shape=(6, 5, 4))


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    edits=st.lists(st.tuples(st.integers(0, 600), st.integers(0, 255)), min_size=1, max_size=8),
    cut=st.one_of(st.none(), st.integers(0, 600)),
    compress=st.booleans(),
)
def test_fuzzed_files_raise_only_interval_errors(valid_nifti_bytes, tmp_path, edits, cut, compress):
    raw = bytearray(valid_nifti_bytes)
    for offset, value in edits:
        if offset < len(raw):
            raw[offset] = value
    if cut is not None:
        raw = raw[:cut]
    content = gzip.compress(bytes(raw)) if compress else bytes(raw)
    path = tmp_path / ("f.nii.gz" if compress else "f.nii")
    path.write_bytes(content)
    for reader in (nifti_series_entry, read_nifti):
        try:
            result = reader(path)
        except IntervalError:
            continue
        if isinstance(result, Volume):
            assert np.all(np.isfinite(result.voxel2patient))
            assert result.array.dtype != np.float64


GEOMETRY_FIELD_OFFSETS = [
    *range(76, 124, 4),
    *range(256, 344, 4),
]  # pixdim, vox_offset, scl, q/sform


@settings(max_examples=150, deadline=None, derandomize=True)
@given(
    edits=st.lists(
        st.tuples(
            st.sampled_from(GEOMETRY_FIELD_OFFSETS),
            st.floats(width=32, allow_nan=True, allow_infinity=True),
        ),
        min_size=1,
        max_size=4,
    ),
    codes=st.tuples(st.integers(-1, 5), st.integers(-1, 5)),
)
def test_fuzzed_geometry_fields_raise_only_interval_errors(
    valid_nifti_bytes, tmp_path_factory, edits, codes
):
    raw = bytearray(valid_nifti_bytes)
    for offset, value in edits:
        raw[offset : offset + 4] = np.float32(value).tobytes()
    raw[252:256] = np.array(codes, dtype="<i2").tobytes()  # qform_code, sform_code
    path = tmp_path_factory.mktemp("geo") / "g.nii"
    path.write_bytes(bytes(raw))
    for reader in (nifti_series_entry, read_nifti):
        try:
            result = reader(path)
        except IntervalError:
            continue
        if isinstance(result, Volume):
            assert np.all(np.isfinite(result.voxel2patient))
            assert not np.any(np.isinf(result.array))  # infinite values are refused


def test_b19_scan_lists_a_file_with_unusable_geometry_as_skipped(tmp_path):
    from viewer.io import scan_paths

    write_nii(tmp_path / "good.nii", ijk_ramp())
    write_nii(
        tmp_path / "flat.nii", ijk_ramp(), sform_code=0, fields={"pixdim": [1, 2, 0, 4, 1, 1, 1, 1]}
    )
    catalog = scan_paths([tmp_path])
    assert [s.description for s in catalog.all_series()] == ["good.nii"]
    (skipped,) = catalog.skipped
    assert skipped.path == str(tmp_path / "flat.nii") and "pixdim[2] = 0" in skipped.reason
