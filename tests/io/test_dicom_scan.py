"""read_slice_headers: classic and enhanced headers, pixel-data offsets, and every refusal.

Fixtures are generated (tests/dicom_factory.py, or by hand below for enhanced multi-frame) or are
files pydicom ships; real scanner data is tested in test_dicom_scan_real.py.
"""

import datetime as dt
import json
import shutil
import struct
import tracemalloc
import warnings

import numpy as np
import pydicom
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import (
    EncapsulatedPDFStorage,
    EnhancedMRImageStorage,
    ExplicitVRLittleEndian,
)

from tests.dicom_factory import ramp_volume, stable_uid, write_series
from viewer.errors import IntervalError, UnreadableFileError
from viewer.io.dicom_scan import read_slice_headers


def _stored_pixels(path, header):
    """The raw stored bytes at the offset the header gives, as the volume builder will read them."""
    with open(path, "rb") as fh:
        fh.seek(header.pixel_data_offset)
        return fh.read(header.pixel_data_length)


def test_classic_header_known_values(tmp_path):
    volume = ramp_volume((3, 16, 20))

    def mutate(k, ds):
        ds.AcquisitionDate = "20030327"
        ds.AcquisitionTime = "101502.25"
        ds.ContrastBolusAgent = "Gadovist"
        ds.RepetitionTime = 500
        ds.EchoTime = 9.5
        ds.MagneticFieldStrength = 1.5
        ds.Manufacturer = "ACME"
        ds.EchoNumbers = 1

    paths = write_series(
        tmp_path,
        volume,
        spacing=(5.0, 0.5, 0.75),
        origin=(-100.0, -120.0, -40.0),
        modality="CT",
        mutate=mutate,
    )
    headers = read_slice_headers(paths[1])
    assert len(headers) == 1
    h = headers[0]
    assert h.path == str(paths[1])
    assert h.frame_index is None
    assert h.number_of_frames == 1
    assert (h.rows, h.columns) == (16, 20)
    assert h.image_position == pytest.approx((-100.0, -120.0, -35.0))
    assert h.image_orientation == (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    assert h.pixel_spacing == (0.5, 0.75)
    assert h.slice_thickness == 5.0
    assert (h.rescale_slope, h.rescale_intercept) == (1.0, -1024.0)
    assert (h.bits_allocated, h.bits_stored, h.high_bit, h.pixel_representation) == (16, 16, 15, 1)
    assert h.photometric_interpretation == "MONOCHROME2"
    assert h.modality == "CT"
    assert h.patient_id == "TEST001"
    assert h.patient_name == "Test^Patient"
    assert h.patient_birth_date == dt.date(1930, 1, 1)
    assert h.study_date == dt.date(2003, 3, 27)
    assert h.acquisition_datetime == dt.datetime(2003, 3, 27, 10, 15, 2, 250000)
    assert h.series_number == 1
    assert h.series_description == "T1 post-contrast"
    assert h.instance_number == 2
    assert h.image_type == ("ORIGINAL", "PRIMARY", "AXIAL")
    assert h.contrast_agent == "Gadovist"
    assert h.burned_in_annotation is False
    assert h.transfer_syntax_uid == ExplicitVRLittleEndian
    assert h.file_size == paths[1].stat().st_size
    assert h.extra["RepetitionTime"] == 500
    assert h.extra["EchoTime"] == 9.5
    assert h.extra["Manufacturer"] == "ACME"
    assert h.extra["EchoNumbers"] == 1
    json.dumps(h.extra)  # plain Python values only
    # the offset points at exactly the stored values of this slice
    assert h.pixel_data_length == 16 * 20 * 2
    stored = np.frombuffer(_stored_pixels(paths[1], h), "<i2").reshape(16, 20)
    np.testing.assert_array_equal(stored, volume[1])


@pytest.mark.parametrize(
    "name",
    ["MR_small.dcm", "MR_small_implicit.dcm", "MR_small_bigendian.dcm", "MR_small_expb.dcm"],
)
def test_pixel_offset_matches_pydicom_in_every_native_syntax(name):
    path = get_testdata_file(name)
    (h,) = read_slice_headers(path)
    full = pydicom.dcmread(path)
    assert h.pixel_data_length == len(full.PixelData)
    assert _stored_pixels(path, h) == full.PixelData
    assert h.image_position == pytest.approx((-83.9063, -91.2, 6.6406))
    assert h.pixel_spacing == pytest.approx((0.3125, 0.3125))


@pytest.mark.parametrize("name", ["MR_small_RLE.dcm", "MR_small_jp2klossless.dcm", "JPEG2000.dcm"])
def test_encapsulated_pixel_data_has_no_offset(name):
    (h,) = read_slice_headers(get_testdata_file(name))
    assert h.pixel_data_offset is None and h.pixel_data_length is None
    assert h.rows > 0 and h.columns > 0


def test_deflated_dataset_is_read_without_offset():
    (h,) = read_slice_headers(get_testdata_file("image_dfl.dcm"))
    assert h.transfer_syntax_uid == "1.2.840.10008.1.2.1.99"
    assert (h.rows, h.columns) == (512, 512)
    assert h.pixel_data_offset is None


def test_classic_multiframe_with_grid_offsets_places_every_frame():
    path = get_testdata_file("rtdose.dcm")
    headers = read_slice_headers(path)
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    offsets = [float(v) for v in ds.GridFrameOffsetVector]
    assert [h.frame_index for h in headers] == list(range(15))
    first = np.array(ds.ImagePositionPatient, float)
    normal = np.cross(
        np.array(ds.ImageOrientationPatient[:3], float), ds.ImageOrientationPatient[3:]
    )
    for h, offset in zip(headers, offsets, strict=True):
        np.testing.assert_allclose(h.image_position, first + offset * normal)
    # every frame shares the offset of the PixelData value; frame k starts k frames later
    assert {h.pixel_data_offset for h in headers} == {headers[0].pixel_data_offset}
    assert headers[0].pixel_data_length == 15 * 10 * 10 * 4


def test_classic_multiframe_without_positions_is_not_guessed():
    headers = read_slice_headers(get_testdata_file("examples_ybr_color.dcm"))
    assert len(headers) == 30
    assert all(h.image_position is None for h in headers)


# --- enhanced multi-frame, generated so every per-frame value is known ---


def write_enhanced_mr(
    path, frames, *, shared_rescale=(1.0, 0.0), drop_position_of=(), contrast_code=None
):
    """An Enhanced MR file: frame k at z = 10 + 3k mm (stored out of order), slope 1 + k/10."""
    order = [2, 0, 3, 1][:frames] if frames == 4 else list(range(frames))
    rows, columns = 6, 8
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = EnhancedMRImageStorage
    meta.MediaStorageSOPInstanceUID = stable_uid(path, "sop")
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = EnhancedMRImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.PatientID = "ENH1"
    ds.PatientName = "Enhanced^Test"
    ds.StudyInstanceUID = stable_uid(path, "study")
    ds.SeriesInstanceUID = stable_uid(path, "series")
    ds.FrameOfReferenceUID = stable_uid(path, "frame")
    ds.StudyDate = "20021201"
    ds.Modality = "MR"
    ds.SeriesNumber = 7
    ds.SeriesDescription = "enhanced T1c"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "T1", "NONE"]
    ds.AcquisitionDateTime = "20021201093000.5+0100"
    ds.Manufacturer = "ACME"
    ds.MagneticFieldStrength = 3
    ds.NumberOfFrames = frames
    ds.Rows, ds.Columns = rows, columns
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1

    measures = Dataset()
    measures.PixelSpacing = [0.8, 0.9]
    measures.SliceThickness = 3.0
    orientation = Dataset()
    orientation.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    timing = Dataset()
    timing.RepetitionTime = 8.1
    timing.FlipAngle = 12
    shared = Dataset()
    shared.PixelMeasuresSequence = Sequence([measures])
    shared.PlaneOrientationSequence = Sequence([orientation])
    shared.MRTimingAndRelatedParametersSequence = Sequence([timing])
    if shared_rescale is not None:
        transform = Dataset()
        transform.RescaleSlope, transform.RescaleIntercept = shared_rescale
        transform.RescaleType = "US"
        shared.PixelValueTransformationSequence = Sequence([transform])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])

    per_frame = []
    for k in range(frames):
        z_index = order[k]
        item = Dataset()
        if k not in drop_position_of:
            position = Dataset()
            position.ImagePositionPatient = [-20.0, -30.0, 10.0 + 3.0 * z_index]
            item.PlanePositionSequence = Sequence([position])
        transform = Dataset()
        transform.RescaleSlope = 1.0 + z_index / 10
        transform.RescaleIntercept = -5.0
        item.PixelValueTransformationSequence = Sequence([transform])
        content = Dataset()
        content.FrameAcquisitionDateTime = f"2002120109300{k}"
        content.StackID = "1"
        content.InStackPositionNumber = z_index + 1
        item.FrameContentSequence = Sequence([content])
        echo = Dataset()
        echo.EffectiveEchoTime = 4.2
        item.MREchoSequence = Sequence([echo])
        per_frame.append(item)
        if contrast_code is not None:
            usage = Dataset()
            usage.ContrastBolusAgentNumber = 1
            usage.ContrastBolusAgentAdministered = "YES"
            item.ContrastBolusUsageSequence = Sequence([usage])
    ds.PerFrameFunctionalGroupsSequence = Sequence(per_frame)
    if contrast_code:
        code = Dataset()
        code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = "C0", "SRT", contrast_code
        code.ContrastBolusAgentNumber = 1
        ds.ContrastBolusAgentSequence = Sequence([code])
    pixels = np.stack([np.full((rows, columns), 100 * order[k], np.int16) for k in range(frames)])
    ds.PixelData = pixels.tobytes()
    pydicom.dcmwrite(path, ds, enforce_file_format=True)
    return pixels, order


def test_enhanced_per_frame_groups_resolve_with_shared_fallback(tmp_path):
    path = tmp_path / "enhanced.dcm"
    pixels, order = write_enhanced_mr(path, 4)
    headers = read_slice_headers(path)
    assert [h.frame_index for h in headers] == [0, 1, 2, 3]
    for h, z_index in zip(headers, order, strict=True):
        assert h.image_position == (-20.0, -30.0, 10.0 + 3.0 * z_index)  # per frame
        assert h.image_orientation == (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)  # shared
        assert h.pixel_spacing == (0.8, 0.9)  # shared
        assert h.slice_thickness == 3.0
        assert h.rescale_slope == pytest.approx(1.0 + z_index / 10)  # per frame beats shared
        assert h.rescale_intercept == -5.0
        assert h.number_of_frames == 4
        assert h.extra["RepetitionTime"] == 8.1
        assert h.extra["FlipAngle"] == 12
        assert h.extra["EchoTime"] == 4.2
        assert h.extra["InStackPositionNumber"] == z_index + 1
        assert h.extra["MagneticFieldStrength"] == 3
    assert headers[2].acquisition_datetime == dt.datetime(2002, 12, 1, 9, 30, 2)
    # frame k's stored values start k frames after the PixelData offset
    frame_bytes = 6 * 8 * 2
    with open(path, "rb") as fh:
        for h in headers:
            fh.seek(h.pixel_data_offset + h.frame_index * frame_bytes)
            frame = np.frombuffer(fh.read(frame_bytes), "<i2").reshape(6, 8)
            np.testing.assert_array_equal(frame, pixels[h.frame_index])


def test_enhanced_without_per_frame_rescale_uses_shared(tmp_path):
    path = tmp_path / "enhanced.dcm"
    write_enhanced_mr(path, 2, shared_rescale=(2.5, 7.0))
    ds = pydicom.dcmread(path)
    for item in ds.PerFrameFunctionalGroupsSequence:
        del item.PixelValueTransformationSequence
    ds.save_as(path, enforce_file_format=True)
    assert [(h.rescale_slope, h.rescale_intercept) for h in read_slice_headers(path)] == [
        (2.5, 7.0),
        (2.5, 7.0),
    ]


def test_enhanced_acquisition_datetime_drops_timezone(tmp_path):
    path = tmp_path / "enhanced.dcm"
    write_enhanced_mr(path, 1)
    ds = pydicom.dcmread(path)
    del ds.PerFrameFunctionalGroupsSequence[0].FrameContentSequence
    ds.save_as(path, enforce_file_format=True)
    (h,) = read_slice_headers(path)
    assert h.acquisition_datetime == dt.datetime(2002, 12, 1, 9, 30, 0, 500000)


@pytest.mark.parametrize("code, expected", [(None, ""), ("Gadobutrol", "Gadobutrol"), ("", "yes")])
def test_enhanced_contrast_agent_from_coded_sequence_or_per_frame_usage(tmp_path, code, expected):
    path = tmp_path / "enhanced.dcm"
    write_enhanced_mr(path, 2, contrast_code=code)
    assert [h.contrast_agent for h in read_slice_headers(path)] == [expected, expected]


def test_corrupt_frame_count_is_refused(tmp_path):
    path = tmp_path / "enhanced.dcm"
    write_enhanced_mr(path, 2)
    data = path.read_bytes()
    # NumberOfFrames (IS "2 ") in an encapsulation-free file: a count no file of this size can hold
    marker = b"\x28\x00\x08\x00IS\x02\x002 "
    assert data.count(marker) == 1
    path.write_bytes(data.replace(marker, b"\x28\x00\x08\x00IS\x08\x0099999999"))
    assert "NumberOfFrames 99999999" in _reason(path)


# --- burned-in annotation, contrast, dates ---


def test_burned_in_annotation_and_secondary_capture_are_flagged(tmp_path):
    def burned(k, ds):
        ds.BurnedInAnnotation = "YES"

    def secondary(k, ds):
        ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"

    (plain,) = read_slice_headers(write_series(tmp_path / "a", ramp_volume((1, 4, 4)))[0])
    (yes,) = read_slice_headers(
        write_series(tmp_path / "b", ramp_volume((1, 4, 4)), mutate=burned)[0]
    )
    (sc,) = read_slice_headers(
        write_series(tmp_path / "c", ramp_volume((1, 4, 4)), mutate=secondary)[0]
    )
    assert (plain.burned_in_annotation, yes.burned_in_annotation, sc.burned_in_annotation) == (
        False,
        True,
        True,
    )


@pytest.mark.parametrize(
    "tags, study_date, acquired",
    [
        ({"StudyDate": "2003.03.27"}, dt.date(2003, 3, 27), None),  # old ACR-NEMA style
        ({"StudyDate": "20031345"}, None, None),
        ({"StudyDate": "garbage", "SeriesDate": "garbage"}, None, None),
        (
            {"AcquisitionDateTime": "20030327101500.123456-0500"},
            dt.date(2003, 3, 27),
            dt.datetime(2003, 3, 27, 10, 15, 0, 123456),
        ),
        (
            {"AcquisitionDateTime": "2003032799", "ContentDate": "20030327", "ContentTime": "0915"},
            dt.date(2003, 3, 27),
            dt.datetime(2003, 3, 27, 9, 15),
        ),
        ({"AcquisitionDate": "20030327", "AcquisitionTime": "xx"}, dt.date(2003, 3, 27), None),
    ],
)
def test_malformed_dates_become_none(tmp_path, tags, study_date, acquired):
    def mutate(k, ds):
        del ds.SeriesDate
        for keyword, value in tags.items():
            setattr(ds, keyword, value)

    path = write_quietly(tmp_path, ramp_volume((1, 4, 4)), mutate=mutate)[0]
    (h,) = read_slice_headers(path)
    assert h.study_date == study_date
    if acquired is None:
        assert h.acquisition_datetime in (None, dt.datetime(2003, 3, 27))
    else:
        assert h.acquisition_datetime == acquired


def write_quietly(*args, **kwargs):
    """write_series with deliberately invalid values (pydicom warns when they are set)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return write_series(*args, **kwargs)


def test_malformed_numbers_become_none(tmp_path):
    path = write_series(
        tmp_path,
        ramp_volume((1, 4, 4)),
        series_number=1234,
        spacing=(9.25, 1, 1),
        rescale=(7.75, 0),
    )[0]
    data = path.read_bytes()
    # pydicom will not write these values, so they are patched into the file, same lengths
    for good, bad in ((b"1234", b"1.5 "), (b"9.25", b"thck"), (b"7.75", b"NaN ")):
        assert data.count(good) == 1
        data = data.replace(good, bad)
    path.write_bytes(data)
    (h,) = read_slice_headers(path)
    assert h.series_number is None
    assert h.slice_thickness is None
    assert h.rescale_slope is None


# --- refusals ---


def _reason(path):
    with pytest.raises(UnreadableFileError) as info:
        read_slice_headers(path)
    assert info.value.path == str(path)
    return info.value.reason


def test_dicomdir_is_refused(tmp_path):
    copy = tmp_path / "DICOMDIR"
    shutil.copy(get_testdata_file("DICOMDIR"), copy)
    assert "DICOMDIR" in _reason(copy)


def test_non_image_sop_classes_are_named(tmp_path):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = EncapsulatedPDFStorage
    meta.MediaStorageSOPInstanceUID = stable_uid("pdf")
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = EncapsulatedPDFStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.EncapsulatedDocument = b"%PDF-1.4 fake"
    pdf = tmp_path / "report.dcm"
    pydicom.dcmwrite(pdf, ds, enforce_file_format=True)
    assert "Encapsulated PDF Storage" in _reason(pdf)
    assert "no pixel data" in _reason(pdf)
    assert "Comprehensive SR" in _reason(get_testdata_file("test-SR.dcm"))
    assert "RT Structure Set" in _reason(
        _copy_with_meta(get_testdata_file("rtstruct.dcm"), tmp_path / "rts")
    )
    assert "segmentation" in _reason(get_testdata_file("liver_1frame.dcm"))


def _copy_with_meta(source, target):
    ds = pydicom.dcmread(source, force=True)  # a trusted pydicom test file lacking its meta header
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2"
    pydicom.dcmwrite(target, ds, enforce_file_format=True)
    return target


def test_file_without_dicm_prefix_is_refused_not_forced():
    reason = _reason(get_testdata_file("no_meta.dcm"))
    assert "DICM" in reason


@pytest.mark.parametrize("keyword", ["Rows", "Columns", "BitsAllocated"])
def test_missing_pixel_description_is_refused(tmp_path, keyword):
    def mutate(k, ds):
        ds["PixelData"].VR = "OW"  # pydicom needs BitsAllocated to choose it otherwise
        delattr(ds, keyword)

    path = write_series(tmp_path, ramp_volume((1, 4, 4)), mutate=mutate)[0]
    assert keyword in _reason(path)


def test_pixel_data_shorter_than_the_image_is_refused(tmp_path):
    def mutate(k, ds):
        ds.PixelData = ds.PixelData[:-8]

    path = write_series(tmp_path, ramp_volume((1, 4, 4)), mutate=mutate)[0]
    assert "pixel data holds 24 bytes" in _reason(path)


def test_header_cut_short_is_refused(tmp_path):
    path = write_series(tmp_path, ramp_volume((1, 16, 16)))[0]
    data = path.read_bytes()
    value_start = len(data) - 16 * 16 * 2
    # every few bytes of the header, and each byte of the pixel data element's own header
    for size in [*range(132, value_start, 7), *range(value_start - 12, value_start)]:
        path.write_bytes(data[:size])
        assert "truncated" in _reason(path), size


def test_file_truncated_inside_pixel_data_keeps_its_header_for_the_builder(tmp_path):
    path = write_series(tmp_path, ramp_volume((1, 16, 16)))[0]
    path.write_bytes(path.read_bytes()[:-100])
    (h,) = read_slice_headers(path)
    assert h.pixel_data_length == 16 * 16 * 2
    assert h.pixel_data_offset + h.pixel_data_length == h.file_size + 100


def _patch_length(path, marker, new_length):
    """Set the 4-byte length of the first explicit-VR element whose header is ``marker``."""
    data = bytearray(path.read_bytes())
    at = data.index(marker)
    data[at + 8 : at + 12] = struct.pack("<L", new_length)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "marker, expected",
    [
        (b"\xe0\x7f\x10\x00OW\x00\x00", "pixel data declares 4294967280 bytes"),  # PixelData
        (b"\x40\x00\x60\xa1UT\x00\x00", "declares 4294967280 bytes"),  # TextValue (UT)
        (b"\x08\x00\x40\x11SQ\x00\x00", "declares 4294967280 bytes"),  # a sequence
    ],
)
def test_huge_declared_length_is_refused_without_allocating(tmp_path, marker, expected):
    """RELIABILITY A15: a 4 GB element length in a 2 kB file costs nothing and is named."""

    def mutate(k, ds):
        ds.TextValue = "free text"
        item = Dataset()
        item.CodeValue = "1"
        ds.ReferencedImageSequence = Sequence([item])

    path = write_series(tmp_path, ramp_volume((1, 8, 8)), mutate=mutate)[0]
    _patch_length(path, marker, 0xFFFFFFF0)
    tracemalloc.start()
    try:
        reason = _reason(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert expected in reason
    assert peak < 5_000_000, f"peak Python allocation {peak} bytes"


# --- fuzzing: only Interval's own error types may escape ---


@pytest.fixture(scope="module")
def valid_file_bytes(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz_source")

    def mutate(k, ds):
        item = Dataset()
        item.CodeValue = "1"
        ds.ReferencedImageSequence = Sequence([item])

    return write_series(folder, ramp_volume((1, 4, 6)), rescale=(2, -3), mutate=mutate)[
        0
    ].read_bytes()


@settings(
    max_examples=int(__import__("os").environ.get("FUZZ_EXAMPLES", 150)),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_fuzz_only_interval_errors_escape(tmp_path, valid_file_bytes, data):
    source = bytearray(valid_file_bytes)
    kind = data.draw(st.sampled_from(["flip", "truncate", "random", "splice"]))
    if kind == "flip":
        for _ in range(data.draw(st.integers(1, 8))):
            at = data.draw(st.integers(128, len(source) - 1))
            source[at] ^= 1 << data.draw(st.integers(0, 7))
    elif kind == "truncate":
        source = source[: data.draw(st.integers(0, len(source)))]
    elif kind == "random":
        source = bytearray(bytes(128) + b"DICM" + data.draw(st.binary(max_size=600)))
    else:
        at = data.draw(st.integers(132, len(source) - 1))
        source[at : at + 4] = data.draw(st.binary(min_size=4, max_size=4))
    path = tmp_path / "IM0001"
    path.write_bytes(bytes(source))
    try:
        headers = read_slice_headers(path)
    except IntervalError:
        return
    for h in headers:
        assert h.rows > 0 and h.columns > 0
        json.dumps(h.extra)


def test_scanning_skips_interval_case_folders(tmp_path):
    from viewer.core.volume import Volume
    from viewer.io import scan_paths
    from viewer.io.nifti import write_nifti

    write_series(tmp_path / "patient", ramp_volume((4, 8, 8)), name="p")
    case = tmp_path / "patient.interval"
    case.mkdir()
    # a case folder's label map is a valid NIfTI: it must not become a series of the patient
    write_nifti(Volume(np.zeros((4, 8, 8), np.uint16), np.eye(4)), case / "labels-x.nii.gz")
    catalog = scan_paths([tmp_path])
    assert len(catalog.all_series()) == 1
    assert not any("labels-x" in s.path for s in catalog.skipped)
    # opening the case folder itself opens the images it was saved for
    (series,) = scan_paths([case]).all_series()
    assert series.modality == "MR"  # the DICOM series, not the label map
    (tmp_path / "patient").rename(tmp_path / "moved")
    with pytest.raises(FileNotFoundError, match="images it belongs to are not beside it"):
        scan_paths([case])
