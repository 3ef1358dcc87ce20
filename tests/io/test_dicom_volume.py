"""Volume assembly from DICOM: geometry, pixels, rescale, broken input (RELIABILITY.md A2-A14, E).

Every fixture is generated here (tests/dicom_factory.py) and read through the public API
(``scan_paths`` + ``load_series``); known answers come from how the fixture was built.
"""

from __future__ import annotations

import dataclasses
import os
import random
import tracemalloc
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.pixels import get_decoder
from pydicom.sequence import Sequence
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    EnhancedMRImageStorage,
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    RLELossless,
)

from tests.dicom_factory import ramp_volume, stable_uid, write_series
from viewer.core.catalog import Catalog
from viewer.core.geometry import apply_affine
from viewer.core.volume import Volume
from viewer.errors import (
    IncompleteSeriesError,
    InvalidGeometryError,
    MemoryBudgetError,
    OperationCancelled,
    UnsupportedCompressionError,
)
from viewer.io import load_series, scan_paths
from viewer.io.dicom_pixels import FrameReader, Rescale, decode_real
from viewer.io.dicom_scan import read_slice_headers
from viewer.io.dicom_volume import build_volume


def load_only(folder: Path) -> tuple[Volume, Catalog]:
    """Scan ``folder``, which must hold exactly one image series, and load it."""
    catalog = scan_paths([folder])
    entries = [e for e in catalog.all_series() if not e.is_localizer]
    assert len(entries) == 1, [e.description for e in entries]
    return load_series(entries[0]), catalog


def pixel_positions(ipp, iop, spacing_rc, rows, columns) -> np.ndarray:
    """LPS mm of every pixel centre of a slice, shape (rows, columns, 3)."""
    iop = np.asarray(iop, dtype=float)
    r, c = np.mgrid[0:rows, 0:columns]
    return (
        np.asarray(ipp, float)
        + r[..., None] * spacing_rc[0] * iop[3:]
        + c[..., None] * spacing_rc[1] * iop[:3]
    )


def voxel_positions(volume: Volume) -> np.ndarray:
    """LPS mm of every voxel centre, shape (Z, Y, X, 3)."""
    return apply_affine(volume.voxel2patient, np.moveaxis(np.indices(volume.shape), 0, -1))


# ---------------------------------------------------------------- basics, A8, A10


def test_ct_series_loads_exactly_in_hu_as_int16(tmp_path):
    stored = ramp_volume((6, 16, 20))
    write_series(tmp_path, stored, modality="CT", spacing=(2.5, 0.5, 0.75))
    volume, _ = load_only(tmp_path)
    assert volume.array.dtype == np.int16
    np.testing.assert_array_equal(volume.array, stored.astype(np.int32) - 1024)
    assert volume.metadata.units == "HU"
    np.testing.assert_allclose(volume.spacing, [2.5, 0.5, 0.75])
    assert volume.axis_codes == "SPL"
    np.testing.assert_allclose(volume.voxel2patient[:3, 3], [-100.0, -120.0, -40.0])
    assert volume.metadata.warnings == ()
    assert volume.metadata.incomplete_slices == ()


def test_metadata_comes_from_the_headers(tmp_path):
    def mutate(k: int, ds: Dataset) -> None:
        ds.ContrastBolusAgent = "Gadovist"
        ds.RepetitionTime = 600
        ds.EchoTime = 12

    paths = write_series(
        tmp_path, ramp_volume((4, 8, 8)), series_description="T1 post", mutate=mutate
    )
    volume, _ = load_only(tmp_path)
    meta = volume.metadata
    assert (meta.modality, meta.description, meta.contrast_agent) == ("MR", "T1 post", "Gadovist")
    assert meta.slice_thickness_mm == 2.0
    assert meta.acquisition["RepetitionTime"] == 600
    assert meta.patient_id == "TEST001"
    assert meta.study_date is not None and meta.study_date.isoformat() == "2003-03-27"
    assert meta.source_paths == tuple(str(p) for p in paths)


def test_shuffled_instance_numbers_and_file_names_give_the_same_array(tmp_path):
    """A8: order comes from positions along the normal, never from InstanceNumber or names."""
    stored = ramp_volume((9, 12, 10))
    write_series(tmp_path / "ordered", stored, name="a")
    rng = random.Random(7)
    numbers = list(range(1, 10))
    rng.shuffle(numbers)
    names = [f"{rng.getrandbits(40):x}.dcm" for _ in range(9)]
    write_series(
        tmp_path / "shuffled",
        stored,
        name="b",
        file_names=lambda k: names[k],
        mutate=lambda k, ds: setattr(ds, "InstanceNumber", numbers[k]),
    )
    ordered, _ = load_only(tmp_path / "ordered")
    shuffled, _ = load_only(tmp_path / "shuffled")
    np.testing.assert_array_equal(shuffled.array, ordered.array)
    np.testing.assert_allclose(shuffled.voxel2patient, ordered.voxel2patient)
    np.testing.assert_array_equal(ordered.array, stored)


@pytest.mark.parametrize(
    ("position", "orientation", "codes"),
    [
        ("HFS", (1, 0, 0, 0, 1, 0), "SPL"),
        ("FFS", (-1, 0, 0, 0, 1, 0), "IPR"),
        ("HFP", (-1, 0, 0, 0, -1, 0), "SAR"),
        ("FFP", (1, 0, 0, 0, -1, 0), "IAL"),
        ("HFS coronal", (1, 0, 0, 0, 0, -1), "PIL"),
    ],
)
def test_patient_positions_keep_left_right_and_front_back(tmp_path, position, orientation, codes):
    """A10: a marker at a known patient position lands at the voxel the affine says."""
    stored = np.zeros((5, 20, 24), np.int16)
    marker_index = (3, 4, 17)  # slice, row, column in the stored (file) order
    stored[marker_index] = 1000
    write_series(
        tmp_path,
        stored,
        orientation=orientation,
        spacing=(3.0, 1.0, 1.0),
        mutate=lambda k, ds: setattr(ds, "PatientPosition", position.split()[0]),
    )
    iop = np.asarray(orientation, float)
    normal = np.cross(iop[:3], iop[3:])
    ipp = np.array([-100.0, -120.0, -40.0]) + marker_index[0] * 3.0 * normal
    marker_lps = pixel_positions(ipp, iop, (1.0, 1.0), 20, 24)[marker_index[1:]]

    volume, _ = load_only(tmp_path)
    assert volume.axis_codes == codes
    found = np.argwhere(volume.array == 1000)
    assert len(found) == 1
    np.testing.assert_allclose(apply_affine(volume.voxel2patient, found[0]), marker_lps, atol=1e-6)


def test_slices_written_in_descending_order_are_sorted_along_the_normal(tmp_path):
    stored = ramp_volume((5, 6, 7))
    # Write slice k at the position of slice 4-k: file order runs against the normal.
    write_series(
        tmp_path,
        stored[::-1],
        spacing=(2.0, 1.0, 1.0),
        mutate=lambda k, ds: setattr(ds, "ImagePositionPatient", [0.0, 0.0, 2.0 * (4 - k)]),
    )
    volume, _ = load_only(tmp_path)
    np.testing.assert_array_equal(volume.array, stored)
    np.testing.assert_allclose(volume.voxel2patient[:3, 0], [0, 0, 2.0])


# ---------------------------------------------------------------- A2, A3: broken and missing slices


def test_broken_slices_are_flagged_named_and_never_black(tmp_path):
    """A2: truncated inside the pixel data, cut to 140 and to 100 bytes."""
    stored = ramp_volume((10, 16, 16)) + 200  # every real value is well above 0
    paths = write_series(tmp_path, stored, spacing=(5.0, 1.0, 1.0))
    size = paths[3].stat().st_size
    os.truncate(paths[3], size - 300)
    os.truncate(paths[6], 140)
    os.truncate(paths[7], 100)

    volume, catalog = load_only(tmp_path)
    skipped = {Path(s.path).name for s in catalog.skipped}
    assert {"IM0007", "IM0008"} <= skipped
    meta = volume.metadata
    assert volume.shape == (10, 16, 16)
    assert meta.incomplete_slices == (3, 6, 7)
    text = " ".join(meta.warnings)
    assert "incomplete series" in text and "IM0004" in text
    assert "15 mm gap where 5 mm was expected" in text and "not interpolated" in text
    minimum = int(stored.min())
    for k in meta.incomplete_slices:
        assert np.all(volume.array[k] == minimum)  # no data: the minimum, never 0 (black)
    for k in (0, 1, 2, 4, 5, 8, 9):
        np.testing.assert_array_equal(volume.array[k], stored[k])


def test_missing_middle_slice_is_a_flagged_gap_not_interpolated(tmp_path):
    """A3: the gap is reported in mm, an empty flagged slice keeps the others in place."""
    stored = ramp_volume((7, 8, 9))
    paths = write_series(tmp_path, stored, spacing=(4.0, 1.0, 1.0))
    paths[3].unlink()
    volume, _ = load_only(tmp_path)
    assert volume.shape == (7, 8, 9)
    assert volume.metadata.incomplete_slices == (3,)
    [warning] = volume.metadata.warnings
    assert "8 mm gap where 4 mm was expected" in warning
    assert "IM0003" in warning and "IM0005" in warning and "not interpolated" in warning
    np.testing.assert_allclose(volume.spacing, [4.0, 1.0, 1.0])
    for k in (0, 1, 2, 4, 5, 6):
        np.testing.assert_array_equal(volume.array[k], stored[k])
    assert np.all(volume.array[3] == stored.min())


def test_nothing_readable_is_an_incomplete_series(tmp_path):
    paths = write_series(tmp_path, ramp_volume((3, 8, 8)))
    entry = scan_paths([tmp_path]).all_series()[0]
    for path in paths:
        os.truncate(path, path.stat().st_size - 64)
    with pytest.raises(IncompleteSeriesError, match="no slice of the series could be read"):
        load_series(entry)


def test_broken_compressed_slice_is_flagged(tmp_path):
    stored = ramp_volume((4, 16, 16))
    paths = write_series(tmp_path, stored, mutate=lambda k, ds: ds.compress(RLELossless))
    entry = scan_paths([tmp_path]).all_series()[0]
    data = paths[2].read_bytes()
    paths[2].write_bytes(data[: len(data) - 200])
    volume = load_series(entry)
    assert volume.metadata.incomplete_slices == (2,)
    assert "IM0003" in " ".join(volume.metadata.warnings)
    np.testing.assert_array_equal(volume.array[[0, 1, 3]], stored[[0, 1, 3]])


# ---------------------------------------------------------------- A4: non-uniform spacing


def test_non_uniform_spacing_is_resampled_where_the_tags_put_each_slice(tmp_path):
    """A4: 2.5 mm then 5 mm. Values are linear in z, so linear resampling has a known answer."""
    z_mm = np.array([0.0, 2.5, 5.0, 7.5, 10.0, 15.0, 20.0, 25.0, 30.0])
    rows, columns = 6, 5
    r, c = np.mgrid[0:rows, 0:columns]
    stored = np.stack([(20 * z + r + c).astype(np.int16) for z in z_mm])
    write_series(
        tmp_path,
        stored,
        spacing=(2.5, 1.0, 1.0),
        origin=(0, 0, 0),
        mutate=lambda k, ds: setattr(ds, "ImagePositionPatient", [0.0, 0.0, float(z_mm[k])]),
    )
    volume, _ = load_only(tmp_path)
    assert volume.shape == (13, rows, columns)
    np.testing.assert_allclose(volume.spacing, [2.5, 1.0, 1.0])
    z_of_voxel = voxel_positions(volume)[..., 2]
    np.testing.assert_allclose(volume.array, 20 * z_of_voxel + r + c, atol=0.5)
    [warning] = volume.metadata.warnings
    assert "non-uniform slice spacing" in warning and "resampled" in warning
    # Where a real slice exists, it is copied exactly.
    for z, stored_slice in zip(z_mm, stored, strict=True):
        np.testing.assert_array_equal(volume.array[int(round(z / 2.5))], stored_slice)


# ---------------------------------------------------------------- A5: gantry tilt


def test_gantry_tilted_sphere_lands_where_the_tags_put_it(tmp_path):
    """A5: slices tilted 20 degrees about x, the table stepping along z (as a tilted CT gantry)."""
    tilt = np.radians(20.0)
    iop = (1.0, 0.0, 0.0, 0.0, np.cos(tilt), -np.sin(tilt))
    table_step = np.array([0.0, 0.0, 3.0])
    rows = columns = 48
    pixel = 1.5
    origin = np.array([-36.0, -36.0, -30.0])
    centre = np.array([2.0, -3.0, 6.0])
    slices = []
    for k in range(24):
        lps = pixel_positions(origin + k * table_step, iop, (pixel, pixel), rows, columns)
        inside = np.linalg.norm(lps - centre, axis=-1) <= 12.0
        slices.append(np.where(inside, 1000, 0).astype(np.int16))
    stored = np.stack(slices)

    def mutate(k: int, ds: Dataset) -> None:
        ds.ImagePositionPatient = [float(v) for v in origin + k * table_step]
        ds.GantryDetectorTilt = 20.0

    write_series(
        tmp_path,
        stored,
        modality="CT",
        rescale=(1.0, 0.0),
        orientation=iop,
        spacing=(3.0, pixel, pixel),
        mutate=mutate,
    )
    volume, _ = load_only(tmp_path)
    [warning] = volume.metadata.warnings
    assert "gantry tilt of 20.00 degrees" in warning and "GantryDetectorTilt 20" in warning
    axes = volume.voxel2patient[:3, :3] / volume.spacing
    np.testing.assert_allclose(axes.T @ axes, np.eye(3), atol=1e-9)  # orthogonal grid, no shear

    weights = volume.array.astype(np.float64)
    centroid = (voxel_positions(volume) * weights[..., None]).sum(axis=(0, 1, 2)) / weights.sum()
    voxel_mm = float(volume.spacing.min())
    assert np.linalg.norm(centroid - centre) < voxel_mm
    # Stacking the stored slices without the tilt correction misplaces the sphere by far more.
    untilted = (voxel_positions(volume) * stored.astype(float)[..., None]).sum(
        axis=(0, 1, 2)
    ) / stored.sum()
    assert np.linalg.norm(untilted - centre) > 3 * voxel_mm


# ---------------------------------------------------------------- A9: refusing to guess geometry


@pytest.mark.parametrize(
    ("tag", "value", "message"),
    [
        ("ImagePositionPatient", None, "no ImagePositionPatient"),
        ("PixelSpacing", None, "no PixelSpacing"),
        ("ImageOrientationPatient", [0, 0, 0, 0, 0, 0], "invalid ImageOrientationPatient"),
        ("ImageOrientationPatient", [1, 0, 0, 1, 0, 0], "invalid ImageOrientationPatient"),
    ],
)
def test_unusable_geometry_is_refused_never_a_nan_affine(tmp_path, tag, value, message):
    def mutate(k: int, ds: Dataset) -> None:
        if value is None:
            delattr(ds, tag)
        else:
            setattr(ds, tag, value)

    write_series(tmp_path, ramp_volume((3, 8, 8)), mutate=mutate)
    [entry] = scan_paths([tmp_path]).all_series()
    with pytest.raises(InvalidGeometryError, match=message) as caught:
        load_series(entry)
    assert caught.value.path is not None and Path(caught.value.path).name.startswith("IM000")


def test_build_volume_refuses_a_slice_without_position_or_a_duplicate_position(tmp_path):
    paths = write_series(tmp_path, ramp_volume((4, 8, 8)))
    headers = [h for p in paths for h in read_slice_headers(p)]
    broken = list(headers)
    broken[2] = dataclasses.replace(headers[2], image_position=None)
    with pytest.raises(InvalidGeometryError, match="IM0003: no ImagePositionPatient"):
        build_volume(broken)
    doubled = list(headers)
    doubled[3] = dataclasses.replace(headers[3], image_position=headers[1].image_position)
    with pytest.raises(InvalidGeometryError, match="same position"):
        build_volume(doubled)
    with pytest.raises(IncompleteSeriesError):
        build_volume([])


def test_a_slice_from_another_matrix_is_refused(tmp_path):
    paths = write_series(tmp_path / "a", ramp_volume((3, 8, 8)), name="a")
    other = write_series(tmp_path / "b", ramp_volume((1, 8, 10)), name="b", origin=(0, 0, 50))
    headers = [h for p in [*paths, *other] for h in read_slice_headers(p)]
    with pytest.raises(InvalidGeometryError, match="matrix 8x10"):
        build_volume(headers)


# ---------------------------------------------------------------- A11: rescale


def test_ct_air_is_near_minus_1000_hu(tmp_path):
    stored = np.full((3, 8, 8), 24, np.uint16)  # air in a scanner's unsigned stored values
    stored[:, 4:, :] = 1064  # water-ish 40 HU
    write_series(tmp_path, stored, modality="CT")
    volume, _ = load_only(tmp_path)
    assert volume.array.dtype == np.int16
    assert volume.array.min() == -1000 and volume.array.max() == 40


def test_slope_varying_per_slice_gives_no_banding(tmp_path):
    r, c = np.mgrid[0:8, 0:8]
    real = 8 * (r + c)
    slopes = [0.5, 1.0, 2.0, 4.0]
    stored = np.stack([(real / s).astype(np.int16) for s in slopes])
    write_series(
        tmp_path,
        stored,
        mutate=lambda k, ds: (
            setattr(ds, "RescaleSlope", slopes[k]),
            setattr(ds, "RescaleIntercept", -5),
        ),
    )
    volume, _ = load_only(tmp_path)
    assert volume.array.dtype == np.float32
    for k in range(4):
        np.testing.assert_array_equal(volume.array[k], real - 5)


@pytest.mark.parametrize("problem", ["zero", "missing"])
def test_slope_zero_or_missing_is_treated_as_one_with_a_warning(tmp_path, problem):
    stored = ramp_volume((3, 6, 6))

    def mutate(k: int, ds: Dataset) -> None:
        if problem == "zero":
            ds.RescaleSlope = 0
        else:
            del ds.RescaleSlope

    write_series(tmp_path, stored, modality="CT", mutate=mutate)
    volume, _ = load_only(tmp_path)
    np.testing.assert_array_equal(volume.array, stored.astype(np.int32) - 1024)
    [warning] = volume.metadata.warnings
    expected = "RescaleSlope is 0" if problem == "zero" else "no RescaleSlope"
    assert expected in warning and "slope of 1 was used" in warning


def test_mr_without_rescale_tags_needs_no_warning(tmp_path):
    write_series(tmp_path, ramp_volume((3, 6, 6)))
    volume, _ = load_only(tmp_path)
    assert volume.metadata.warnings == ()
    assert volume.metadata.units == ""


# ---------------------------------------------------------------- A12: stored value quirks


def test_uint16_above_32767_is_kept_exactly_as_float32(tmp_path):
    stored = (ramp_volume((3, 8, 8), dtype=np.uint16).astype(np.uint32) * 20 + 1000).astype(
        np.uint16
    )
    assert stored.max() > 32767
    write_series(tmp_path, stored)
    volume, _ = load_only(tmp_path)
    assert volume.array.dtype == np.float32
    np.testing.assert_array_equal(volume.array, stored)


def test_uint16_ct_whose_values_fit_stays_int16(tmp_path):
    stored = ramp_volume((3, 8, 8), dtype=np.uint16)  # declared range 0..65535, real values small
    write_series(tmp_path, stored, modality="CT")
    volume, _ = load_only(tmp_path)
    assert volume.array.dtype == np.int16
    np.testing.assert_array_equal(volume.array, stored.astype(np.int32) - 1024)


def test_uint16_ct_whose_later_slice_overflows_int16_becomes_float32(tmp_path):
    stored = ramp_volume((4, 8, 8), dtype=np.uint16)
    stored[3, 0, 0] = 40000  # 38976 HU after the intercept: beyond int16
    write_series(tmp_path, stored, modality="CT")
    volume, _ = load_only(tmp_path)
    assert volume.array.dtype == np.float32
    np.testing.assert_array_equal(volume.array, stored.astype(np.int32) - 1024)


def test_integral_slope_keeps_int16_exactly_even_past_the_intermediate_range(tmp_path):
    stored = np.full((2, 4, 4), 17000, np.uint16)  # 17000 * 2 overflows int16 on the way
    stored[:, 0, 0] = 0
    write_series(tmp_path, stored, modality="CT", rescale=(2.0, -3000.0))
    volume, _ = load_only(tmp_path)
    assert volume.array.dtype == np.int16
    np.testing.assert_array_equal(volume.array, stored.astype(np.int32) * 2 - 3000)


def test_eight_bit_pixel_data(tmp_path):
    stored = (ramp_volume((3, 6, 8)) % 256).astype(np.uint16)

    def mutate(k: int, ds: Dataset) -> None:
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
        ds.PixelData = stored[k].astype(np.uint8).tobytes()

    write_series(tmp_path, stored, mutate=mutate)
    volume, _ = load_only(tmp_path)
    assert volume.array.dtype == np.int16
    np.testing.assert_array_equal(volume.array, stored)


def test_negative_int16_values_are_kept(tmp_path):
    stored = (ramp_volume((3, 8, 8)).astype(np.int32) - 3000).astype(np.int16)
    write_series(tmp_path, stored, modality="CT", rescale=(1.0, 0.0))
    volume, _ = load_only(tmp_path)
    assert volume.array.dtype == np.int16
    np.testing.assert_array_equal(volume.array, stored)


@pytest.mark.parametrize("signed", [False, True])
def test_bits_stored_12_ignores_garbage_in_the_high_bits(tmp_path, signed):
    rng = np.random.default_rng(3)
    low, high = (-2048, 2048) if signed else (0, 4096)
    values = rng.integers(low, high, size=(3, 10, 10))
    garbage = rng.integers(0, 16, size=values.shape) << 12
    raw = ((values & 0x0FFF) | garbage).astype(np.uint16)
    stored = raw.view(np.int16) if signed else raw

    def mutate(k: int, ds: Dataset) -> None:
        ds.BitsStored, ds.HighBit = 12, 11

    write_series(tmp_path, stored, mutate=mutate)
    volume, _ = load_only(tmp_path)
    np.testing.assert_array_equal(volume.array, values)


def test_padding_value_becomes_the_minimum_real_value_and_is_noted(tmp_path):
    stored = ramp_volume((3, 12, 12)) + 50
    stored[:, :3, :3] = -2000
    write_series(
        tmp_path,
        stored,
        modality="CT",
        mutate=lambda k, ds: setattr(ds, "PixelPaddingValue", -2000),
    )
    volume, _ = load_only(tmp_path)
    real_min = int(stored[stored != -2000].min()) - 1024
    assert volume.array.min() == real_min
    assert np.all(volume.array[:, :3, :3] == real_min)
    [warning] = volume.metadata.warnings
    assert "27 voxels equal to PixelPaddingValue -2000" in warning and f"{real_min} HU" in warning


def test_padding_in_one_slice_takes_the_minimum_of_every_slice(tmp_path):
    """Slices without padding are not ranged while decoding; their minimum still counts."""
    stored = ramp_volume((3, 12, 12)) + 50
    stored[0, 5, 5] = -70  # the real minimum, in a slice without padding
    stored[2, :2, :2] = -2000

    def mutate(k, ds):
        if k == 2:
            ds.PixelPaddingValue = -2000

    write_series(tmp_path, stored, modality="CT", mutate=mutate)
    volume, _ = load_only(tmp_path)
    assert np.all(volume.array[2, :2, :2] == -70 - 1024)
    assert "4 voxels equal to PixelPaddingValue -2000" in volume.metadata.warnings[0]
    assert "-1094 HU" in volume.metadata.warnings[0]
    np.testing.assert_array_equal(volume.array[:2], stored[:2] - 1024)


def test_monochrome1_is_inverted_so_bright_means_dense(tmp_path):
    stored = ramp_volume((2, 6, 6), dtype=np.uint16) % 4096

    def mutate(k: int, ds: Dataset) -> None:
        ds.PhotometricInterpretation = "MONOCHROME1"
        ds.BitsStored, ds.HighBit = 12, 11

    write_series(tmp_path, stored, mutate=mutate)
    volume, _ = load_only(tmp_path)
    np.testing.assert_array_equal(volume.array, 4095 - stored.astype(np.int32))
    assert "MONOCHROME1" in volume.metadata.warnings[0]


# ---------------------------------------------------------------- A13: transfer syntaxes


@pytest.mark.parametrize("syntax", [RLELossless, JPEG2000Lossless, DeflatedExplicitVRLittleEndian])
def test_compressed_series_decodes_like_the_uncompressed_one(tmp_path, syntax):
    # 64 x 64: OpenJPEG cannot encode images smaller than its default decomposition levels.
    stored = (ramp_volume((3, 64, 64)).astype(np.int32) - 1500).astype(np.int16)

    def mutate(k: int, ds: Dataset) -> None:
        if syntax == DeflatedExplicitVRLittleEndian:
            ds.file_meta.TransferSyntaxUID = syntax
        else:
            ds.compress(syntax)

    write_series(tmp_path / "plain", stored, modality="CT", name="plain")
    write_series(tmp_path / "packed", stored, modality="CT", name="packed", mutate=mutate)
    [entry] = scan_paths([tmp_path / "packed"]).all_series()
    assert entry.source[0].transfer_syntax_uid == syntax
    plain, _ = load_only(tmp_path / "plain")
    packed = load_series(entry)
    np.testing.assert_array_equal(packed.array, plain.array)
    np.testing.assert_allclose(packed.voxel2patient, plain.voxel2patient)


def test_missing_decoder_fails_that_series_alone(tmp_path, monkeypatch):
    stored = ramp_volume((3, 64, 64))
    write_series(tmp_path / "plain", stored, name="plain", series_number=1)
    write_series(
        tmp_path / "j2k",
        stored,
        name="j2k",
        series_number=2,
        mutate=lambda k, ds: ds.compress(JPEG2000Lossless),
    )
    catalog = scan_paths([tmp_path])
    by_number = {e.series_number: e for e in catalog.all_series()}
    monkeypatch.setattr(get_decoder(JPEG2000Lossless), "_available", {})
    np.testing.assert_array_equal(load_series(by_number[1]).array, stored)
    with pytest.raises(UnsupportedCompressionError) as caught:
        load_series(by_number[2])
    message = str(caught.value)
    assert "unsupported compression: JPEG 2000" in message
    assert "install pylibjpeg-openjpeg" in message
    assert "j2k" in message


# ---------------------------------------------------------------- A14: enhanced multi-frame


def write_enhanced(path: Path, classic_folder: Path, frame_order: list[int]) -> None:
    """One Enhanced MR file holding the classic series' slices as frames in ``frame_order``."""
    classic = [pydicom.dcmread(p) for p in sorted(classic_folder.iterdir())]
    first = classic[0]
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = EnhancedMRImageStorage
    meta.MediaStorageSOPInstanceUID = stable_uid("enhanced", path.name)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = EnhancedMRImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    for keyword in (
        "PatientID",
        "PatientName",
        "StudyInstanceUID",
        "StudyDate",
        "FrameOfReferenceUID",
        "Modality",
        "SeriesNumber",
        "SeriesDescription",
        "Rows",
        "Columns",
        "SamplesPerPixel",
        "PhotometricInterpretation",
        "BitsAllocated",
        "BitsStored",
        "HighBit",
        "PixelRepresentation",
    ):
        setattr(ds, keyword, getattr(first, keyword))
    ds.SeriesInstanceUID = stable_uid("enhanced series", path.name)
    ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "NONE"]
    ds.InstanceNumber = 1
    ds.NumberOfFrames = len(frame_order)
    shared = Dataset()
    measures = Dataset()
    measures.PixelSpacing = first.PixelSpacing
    measures.SliceThickness = first.SliceThickness
    orientation = Dataset()
    orientation.ImageOrientationPatient = first.ImageOrientationPatient
    shared.PixelMeasuresSequence = Sequence([measures])
    shared.PlaneOrientationSequence = Sequence([orientation])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    frames = []
    for index in frame_order:
        item = Dataset()
        position = Dataset()
        position.ImagePositionPatient = classic[index].ImagePositionPatient
        item.PlanePositionSequence = Sequence([position])
        transform = Dataset()
        transform.RescaleSlope = classic[index].RescaleSlope
        transform.RescaleIntercept = classic[index].RescaleIntercept
        transform.RescaleType = "US"
        item.PixelValueTransformationSequence = Sequence([transform])
        frames.append(item)
    ds.PerFrameFunctionalGroupsSequence = Sequence(frames)
    ds.PixelData = b"".join(classic[i].PixelData for i in frame_order)
    pydicom.dcmwrite(path, ds, enforce_file_format=True)


def test_enhanced_multiframe_matches_the_same_data_as_classic_files(tmp_path):
    """A14: per-frame positions (frames shuffled) and per-frame scaling."""
    stored = ramp_volume((6, 10, 12))
    slopes = [0.5, 1.5, 1.0, 2.0, 0.25, 3.0]
    write_series(
        tmp_path / "classic",
        stored,
        orientation=(0.8, 0.6, 0, -0.6, 0.8, 0),
        mutate=lambda k, ds: (
            setattr(ds, "RescaleSlope", slopes[k]),
            setattr(ds, "RescaleIntercept", k),
        ),
    )
    (tmp_path / "enhanced").mkdir()
    write_enhanced(tmp_path / "enhanced" / "multi.dcm", tmp_path / "classic", [3, 0, 5, 1, 4, 2])
    classic, _ = load_only(tmp_path / "classic")
    enhanced, _ = load_only(tmp_path / "enhanced")
    np.testing.assert_array_equal(enhanced.array, classic.array)
    np.testing.assert_allclose(enhanced.voxel2patient, classic.voxel2patient, atol=1e-9)
    expected = stored * np.array(slopes)[:, None, None] + np.arange(6)[:, None, None]
    np.testing.assert_allclose(classic.array, expected, rtol=1e-6)
    assert enhanced.metadata.source_paths == (str(tmp_path / "enhanced" / "multi.dcm"),)


# ---------------------------------------------------------------- E37, E38, progress


def test_loading_keeps_int16_without_a_float64_copy(tmp_path):
    """E37 scaled down: peak memory of the load stays near the int16 array itself."""
    stored = ramp_volume((40, 128, 128)) % 3000
    write_series(tmp_path, stored, modality="CT")
    [entry] = scan_paths([tmp_path]).all_series()
    tracemalloc.start()
    try:
        volume = load_series(entry)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert volume.array.dtype == np.int16
    assert peak < 1.3 * volume.array.nbytes, (peak, volume.array.nbytes)


def test_memory_budget_is_refused_with_the_sizes(tmp_path):
    write_series(tmp_path, ramp_volume((10, 64, 64)), modality="CT")
    [entry] = scan_paths([tmp_path]).all_series()
    with pytest.raises(MemoryBudgetError, match=r"needs 0\.1 MiB \(10 slices of 64 x 64 int16\)"):
        build_volume(entry.source, memory_budget_bytes=50_000)
    assert build_volume(entry.source, memory_budget_bytes=100_000).shape == (10, 64, 64)


def test_progress_is_reported_per_slice_and_cancel_is_honoured(tmp_path):
    write_series(tmp_path, ramp_volume((5, 8, 8)))
    [entry] = scan_paths([tmp_path]).all_series()
    seen: list[tuple[int, int]] = []
    load_series(entry, progress=lambda done, total, message: seen.append((done, total)))
    assert seen == [(k, 5) for k in range(6)]
    checks = iter(range(100))
    with pytest.raises(OperationCancelled):
        load_series(entry, cancelled=lambda: next(checks) >= 3)
    assert next(checks) == 4  # stopped at the first check that said "cancel"


# ---------------------------------------------------------------- A13 on real files

PYDICOM_PAIRS = [
    ("pydicom-data_1.0.0/693_UNCR.dcm", "pydicom-data_1.0.0/693_J2KR.dcm"),
    ("pydicom-data_1.0.0/MR2_UNCR.dcm", "pydicom-data_1.0.0/MR2_J2KR.dcm"),
    ("pydicom_3.0.2_test_files/MR_small.dcm", "pydicom_3.0.2_test_files/MR_small_RLE.dcm"),
    ("pydicom_3.0.2_test_files/MR_small.dcm", "pydicom_3.0.2_test_files/MR_small_bigendian.dcm"),
    ("pydicom_3.0.2_test_files/MR_small.dcm", "pydicom_3.0.2_test_files/MR_small_expb.dcm"),
    ("pydicom_3.0.2_test_files/MR_small.dcm", "pydicom_3.0.2_test_files/MR_small_implicit.dcm"),
    ("pydicom_3.0.2_test_files/MR_small.dcm", "pydicom_3.0.2_test_files/MR_small_jp2klossless.dcm"),
    (
        "pydicom_3.0.2_test_files/MR_small.dcm",
        "pydicom_3.0.2_test_files/MR_small_jpeg_ls_lossless.dcm",
    ),
]


def _load_file(path: Path) -> Volume:
    [entry] = scan_paths([path]).all_series()
    return load_series(entry)


@pytest.mark.parametrize(("plain", "packed"), PYDICOM_PAIRS, ids=lambda p: Path(p).name)
def test_pydicom_lossless_pairs_decode_identically(shared_data, plain, packed):
    reference = _load_file(shared_data / "pydicom" / plain)
    other = _load_file(shared_data / "pydicom" / packed)
    np.testing.assert_array_equal(other.array, reference.array)
    np.testing.assert_allclose(other.voxel2patient, reference.voxel2patient)


@pytest.mark.parametrize(
    "variant",
    [
        "emri_small_RLE",
        "emri_small_big_endian",
        "emri_small_jpeg_2k_lossless",
        "emri_small_jpeg_ls_lossless",
    ],
)
def test_enhanced_mr_transfer_syntaxes_decode_identically(shared_data, variant):
    """Multi-frame in RLE, big endian, JPEG 2000, JPEG-LS. These files carry no position, so they
    cannot become a volume (refused, never guessed); their frames are compared directly."""
    folder = shared_data / "pydicom" / "pydicom-data_1.0.0"
    with pytest.raises(InvalidGeometryError, match="no ImagePositionPatient"):
        _load_file(folder / f"{variant}.dcm")

    def frames(path: Path) -> np.ndarray:
        headers = read_slice_headers(path)
        out = np.empty((len(headers), headers[0].rows, headers[0].columns), np.int16)
        with FrameReader() as reader:
            for k, header in enumerate(headers):
                decode_real(reader, header, Rescale(1.0, 0.0), out[k], {})
        return out

    reference = frames(folder / "emri_small.dcm")
    assert reference.shape[0] > 1
    np.testing.assert_array_equal(frames(folder / f"{variant}.dcm"), reference)


def test_dcm_qa_ts_nine_transfer_syntaxes_decode_identically(shared_data):
    """Explicit/implicit LE, big endian, RLE, JPEG lossless, JPEG-LS x3, JPEG 2000 (one image)."""
    folder = shared_data / "dcm_qa_ts" / "In"
    volumes = {path.name: _load_file(path) for path in sorted(folder.glob("*.dcm"))}
    assert len(volumes) == 9
    reference = volumes["1.dcm"]
    assert reference.array.std() > 0
    for name, volume in volumes.items():
        np.testing.assert_array_equal(volume.array, reference.array, err_msg=name)
