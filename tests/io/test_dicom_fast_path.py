"""The fast header lane, the single read per file, the pixel read, and early slices (E37).

The fast lane (viewer.io.dicom_fast) must give exactly the SliceHeader pydicom gives, or decline.
Every DICOM file these tests can reach goes through both lanes: files generated here (through
tests/dicom_factory.py, or byte by byte below, to write what pydicom will not: odd lengths, wrong
VRs, undefined-length sequences, items switching to implicit VR), the files pydicom ships, and the
real scanner files in ../shared/data when present.
"""

from __future__ import annotations

import builtins
import dataclasses
import datetime as dt
import os
import struct
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.data import get_testdata_files
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import ImplicitVRLittleEndian, MRImageStorage

from tests.dicom_factory import ramp_volume, write_series
from viewer.errors import IntervalError
from viewer.io import dicom_fast, load_series, scan_paths
from viewer.io.dicom_scan import (
    _FAST_TABLE,
    CLASSIC_KEYWORDS,
    _headers_from_dataset,
    fast_slice_headers,
    pydicom_slice_headers,
    read_slice_headers,
)
from viewer.io.dicom_volume import PartialVolume, build_volume

EXPLICIT = "1.2.840.10008.1.2.1"
IMPLICIT = "1.2.840.10008.1.2"

# ---------------------------------------------------------------- comparing the two lanes


def typed(value):
    """``value`` with the type of every part spelled out, so 1 and 1.0 compare unequal."""
    if isinstance(value, dict):
        return {key: typed(v) for key, v in value.items()}
    if isinstance(value, list | tuple):
        return (type(value).__name__, [typed(v) for v in value])
    return (type(value).__name__, value)


def as_record(header) -> dict:
    """Every field of a SliceHeader (``extra`` included), typed."""
    return {f.name: typed(getattr(header, f.name)) for f in dataclasses.fields(header)}


def compare_lanes(path) -> bool:
    """Assert that the fast lane declines or agrees with pydicom; return whether it agreed."""
    fast = fast_slice_headers(path)
    try:
        reference = pydicom_slice_headers(path)
    except IntervalError as exc:
        assert fast is None, f"{path}: fast lane accepted a file pydicom refuses ({exc})"
        return False
    if fast is None:
        return False
    assert [as_record(h) for h in fast] == [as_record(h) for h in reference], path
    return True


# ---------------------------------------------------------------- DICOM written byte by byte


def element(tag: int, vr: str, value: bytes, *, implicit: bool = False) -> bytes:
    """One data element; ``value`` is written as given (odd lengths included)."""
    head = struct.pack("<HH", tag >> 16, tag & 0xFFFF)
    if implicit:
        return head + struct.pack("<L", len(value)) + value
    if vr in ("OB", "OW", "OF", "OD", "SQ", "UN", "UT", "UC", "UR", "OL", "OV", "SV", "UV"):
        return head + vr.encode() + b"\0\0" + struct.pack("<L", len(value)) + value
    return head + vr.encode() + struct.pack("<H", len(value)) + value


def sequence(tag: int, items: list[bytes], *, implicit=False, undefined=True, vr="SQ") -> bytes:
    """A sequence of already-encoded items (see :func:`item`)."""
    body = b"".join(items)
    head = struct.pack("<HH", tag >> 16, tag & 0xFFFF)
    length = 0xFFFFFFFF if undefined else len(body)
    head += (
        struct.pack("<L", length) if implicit else vr.encode() + b"\0\0" + struct.pack("<L", length)
    )
    return head + body + (b"\xfe\xff\xdd\xe0\0\0\0\0" if undefined else b"")


def item(content: bytes, *, undefined=True) -> bytes:
    length = 0xFFFFFFFF if undefined else len(content)
    tail = b"\xfe\xff\x0d\xe0\0\0\0\0" if undefined else b""
    return b"\xfe\xff\x00\xe0" + struct.pack("<L", length) + content + tail


def part10(dataset: bytes, syntax: str = EXPLICIT, sop_instance: bytes = b"1.2.3.4") -> bytes:
    """Preamble, DICM and a file meta group (explicit VR, as the standard requires)."""

    def uid(text: bytes) -> bytes:
        return text + b"\0" * (len(text) % 2)

    meta = (
        element(0x00020001, "OB", b"\0\1")
        + element(0x00020002, "UI", uid(str(MRImageStorage).encode()))
        + element(0x00020003, "UI", uid(sop_instance))
        + element(0x00020010, "UI", uid(syntax.encode()))
    )
    return (
        bytes(128)
        + b"DICM"
        + element(0x00020000, "UL", struct.pack("<L", len(meta)))
        + meta
        + dataset
    )


BASE_ELEMENTS = {
    0x00080016: ("UI", str(MRImageStorage).encode()),
    0x00080018: ("UI", b"1.2.3.4"),
    0x00080060: ("CS", b"MR"),
    0x00100010: ("PN", b"Doe^Jane"),
    0x00100020: ("LO", b"ID7 "),
    0x0020000D: ("UI", b"1.2.3.1"),
    0x0020000E: ("UI", b"1.2.3.2"),
    0x00200032: ("DS", b"-10\\-20.5\\30 "),
    0x00200037: ("DS", b"1\\0\\0\\0\\1\\0 "),
    0x00280002: ("US", struct.pack("<H", 1)),
    0x00280004: ("CS", b"MONOCHROME2 "),
    0x00280010: ("US", struct.pack("<H", 4)),
    0x00280011: ("US", struct.pack("<H", 4)),
    0x00280030: ("DS", b"0.5\\0.5 "),
    0x00280100: ("US", struct.pack("<H", 16)),
    0x00280101: ("US", struct.pack("<H", 16)),
    0x00280102: ("US", struct.pack("<H", 15)),
    0x00280103: ("US", struct.pack("<H", 1)),
}
PIXELS = np.arange(16, dtype="<i2").tobytes()


def handmade(
    elements: dict[int, tuple[str, bytes]],
    *,
    syntax: str = EXPLICIT,
    extra: tuple[bytes, ...] = (),
    pixel_vr: str = "OW",
) -> bytes:
    """A small classic MR slice: ``elements`` over the base ones, ``extra`` (already encoded,
    e.g. sequences) each sorted in by its tag, then 4 x 4 int16 pixels."""
    implicit = syntax == IMPLICIT
    merged = {**BASE_ELEMENTS, **elements}
    encoded = {
        tag: element(tag, vr, value, implicit=implicit) for tag, (vr, value) in merged.items()
    }
    for encoded_element in extra:
        group, number = struct.unpack("<HH", encoded_element[:4])
        encoded[group << 16 | number] = encoded_element
    body = b"".join(encoded[tag] for tag in sorted(encoded))
    return part10(body + element(0x7FE00010, pixel_vr, PIXELS, implicit=implicit), syntax)


def write(tmp_path: Path, data: bytes, name: str = "IM0001") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# ---------------------------------------------------------------- generated series


def _private_and_sequences(k, ds):
    block = ds.private_block(0x0029, "ACME 1.0", create=True)
    block.add_new(0x10, "LO", "private text")
    block.add_new(0x11, "OB", bytes(range(7)) * 3)
    code = Dataset()
    code.CodeValue, code.CodeMeaning = "C-1", "gadolinium"
    referenced = Dataset()
    referenced.ReferencedSOPInstanceUID = "1.2.3"
    ds.ReferencedImageSequence = Sequence([referenced, referenced])
    ds.ProcedureCodeSequence = Sequence([code])
    ds["ProcedureCodeSequence"].is_undefined_length = True


def _implicit(k, ds):
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    ds.PixelPaddingValue = -2000 if k % 2 else 7
    _private_and_sequences(k, ds)


def _acquisition(k, ds):
    ds.AcquisitionDateTime = "20030327101502.25+0100"
    ds.RepetitionTime, ds.EchoTime, ds.FlipAngle = "500", "9.5", "90"
    ds.ScanningSequence = ["SE", "IR"]
    ds.EchoNumbers = [1, 2]
    ds.DiffusionBValue = 1000.0
    ds.Manufacturer = "ACME "
    ds.ContrastBolusAgent = "Gadovist"
    ds.GantryDetectorTilt = "0.0"
    ds.BurnedInAnnotation = "NO"


def _missing(k, ds):
    for keyword in ("Modality", "PixelSpacing", "SeriesNumber", "StudyDate", "PatientName"):
        delattr(ds, keyword)


def _latin1(k, ds):
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.PatientName = "Müller^Jürgen"
    ds.SeriesDescription = "T1 Kontrast ä"


def _utf8(k, ds):
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.PatientName = "Müller^Zoë"
    ds.StudyDescription = "Tête"


def _japanese(k, ds):
    ds.SpecificCharacterSet = ["", "ISO 2022 IR 87"]
    ds.PatientName = "Yamada^Tarou=山田^太郎"


def _long_private_header(k, ds):
    block = ds.private_block(0x0029, "ACME 1.0", create=True)
    block.add_new(0x20, "OB", bytes(70_000))  # the header outgrows the first read


def _contrast_sequence_only(k, ds):
    code = Dataset()
    code.CodeMeaning = "gadobutrol"
    ds.ContrastBolusAgentSequence = Sequence([code])


def _contrast_sequence_and_text(k, ds):
    _contrast_sequence_only(k, ds)
    ds.ContrastBolusAgent = "Gadovist"


VARIATIONS = {
    "explicit": None,
    "implicit with padding, private tags and sequences": _implicit,
    "acquisition parameters": _acquisition,
    "private tags and sequences": _private_and_sequences,
    "missing tags": _missing,
    "latin-1": _latin1,
    "utf-8": _utf8,
    "long private header": _long_private_header,
    "contrast as text and code": _contrast_sequence_and_text,
}
DECLINED_VARIATIONS = {
    "ISO 2022 Japanese": _japanese,
    "contrast only as a code": _contrast_sequence_only,
}


@pytest.mark.parametrize("name", list(VARIATIONS))
def test_generated_variations_take_the_fast_lane_and_agree(tmp_path, name):
    paths = write_series(tmp_path, ramp_volume((2, 6, 5)), modality="CT", mutate=VARIATIONS[name])
    assert all(compare_lanes(path) for path in paths)


@pytest.mark.parametrize("name", list(DECLINED_VARIATIONS))
def test_unusual_files_are_left_to_pydicom(tmp_path, name):
    mutate = DECLINED_VARIATIONS[name]
    [path] = write_series(tmp_path, ramp_volume((1, 6, 5)), mutate=mutate)
    assert fast_slice_headers(path) is None
    assert read_slice_headers(path) == pydicom_slice_headers(path)


def test_fast_lane_reads_the_known_values(tmp_path):
    [path] = write_series(tmp_path, ramp_volume((1, 6, 5)), modality="CT", mutate=_acquisition)
    [h] = fast_slice_headers(path)
    assert h.image_position == (-100.0, -120.0, -40.0)
    assert h.pixel_spacing == (1.0, 1.0)
    assert (h.rescale_slope, h.rescale_intercept) == (1.0, -1024.0)
    assert h.acquisition_datetime == dt.datetime(2003, 3, 27, 10, 15, 2, 250000)
    assert h.extra == {
        "RepetitionTime": 500.0,
        "EchoTime": 9.5,
        "FlipAngle": 90.0,
        "Manufacturer": "ACME",
        "ScanningSequence": ["SE", "IR"],
        "EchoNumbers": [1, 2],
        "DiffusionBValue": 1000.0,
    }
    assert h.contrast_agent == "Gadovist"
    assert h.pixel_data_offset == path.stat().st_size - 6 * 5 * 2


def test_every_keyword_the_classic_path_reads_is_parsed(tmp_path):
    """The fast lane converts only CLASSIC_KEYWORDS: the header builder must ask for no other
    (a file with many values and one with few, so that every fallback is asked for)."""
    asked: set[str] = set()

    class Recording(dicom_fast.FastDataset):
        def get(self, keyword, default=None):
            asked.add(keyword)
            return super().get(keyword, default)

        def __contains__(self, keyword):
            asked.add(keyword)
            return super().__contains__(keyword)

    for name, mutate in (("full", _acquisition), ("sparse", _missing)):
        [path] = write_series(tmp_path / name, ramp_volume((1, 4, 4)), mutate=mutate)
        found = dicom_fast.parse_header(path, _FAST_TABLE)
        recording = Recording(found.dataset)
        recording.file_meta = found.dataset.file_meta
        _headers_from_dataset(recording, path, found.file_size, found.pixel_element, None)
    assert {"AcquisitionDate", "ContentDate", "SeriesDate", "ContrastBolusAgentSequence"} <= asked
    flagged = set(_FAST_TABLE.flagged.values())
    assert asked <= set(CLASSIC_KEYWORDS) | flagged, asked - set(CLASSIC_KEYWORDS) - flagged


# ---------------------------------------------------------------- byte-level oddities


def test_odd_lengths_and_padding_agree(tmp_path):
    odd = {
        0x00080060: ("CS", b"MR"),  # even, no padding
        0x0008103E: ("LO", b"odd"),  # odd length, no padding
        0x00100020: ("LO", b"X\0"),  # null padding
        0x00200011: ("IS", b" 7"),
        0x00200013: ("IS", b"3.0 "),
        0x00180050: ("DS", b"2.50\0"),
        0x00281053: ("DS", b" 1 "),
        0x00281052: ("DS", b"-1024"),
    }
    for syntax in (EXPLICIT, IMPLICIT):
        assert compare_lanes(write(tmp_path, handmade(odd, syntax=syntax), f"IM{syntax}"))


@pytest.mark.parametrize("undefined_item", [True, False])
@pytest.mark.parametrize("syntax", [EXPLICIT, IMPLICIT])
def test_nested_undefined_length_sequences_are_skipped_exactly(tmp_path, syntax, undefined_item):
    implicit = syntax == IMPLICIT
    inner = sequence(
        0x00081115,  # ReferencedSeriesSequence
        [item(element(0x00081155, "UI", b"1.2.9", implicit=implicit), undefined=undefined_item)],
        implicit=implicit,
    )
    outer = sequence(
        0x00081140,  # ReferencedImageSequence: items holding a sequence
        [item(inner + element(0x00081150, "UI", b"1.2", implicit=implicit), undefined=True)] * 2,
        implicit=implicit,
    )
    icon = sequence(  # IconImageSequence: pixel data inside an item does not end the header
        0x00880200,
        [item(element(0x7FE00010, "OW", bytes(8), implicit=implicit), undefined=undefined_item)],
        implicit=implicit,
    )
    path = write(tmp_path, handmade({}, syntax=syntax, extra=(outer, icon)))
    assert compare_lanes(path)
    [h] = fast_slice_headers(path)
    assert Path(path).read_bytes()[h.pixel_data_offset :] == PIXELS


def test_items_in_implicit_vr_inside_an_explicit_file(tmp_path):
    """PS3.5 6.2.2: a UN element of undefined length holds implicit VR items."""
    content = element(0x00081150, "UI", b"1.2", implicit=True)
    private = sequence(0x00291010, [item(content), item(content, undefined=False)], vr="UN")
    creator = element(0x00290010, "LO", b"ACME")
    path = write(tmp_path, handmade({}, extra=(creator, private)))
    assert compare_lanes(path)


def test_private_undefined_length_in_implicit_vr(tmp_path):
    creator = element(0x00290010, "LO", b"ACME", implicit=True)
    private = sequence(
        0x00291010, [item(element(0x00291011, "LO", b"x", implicit=True))], implicit=True
    )
    path = write(tmp_path, handmade({}, syntax=IMPLICIT, extra=(creator, private)))
    assert compare_lanes(path)


@pytest.mark.parametrize(
    "changed",
    [
        {0x00200032: ("UN", b"1\\2\\3 ")},  # wrong VR: pydicom converts it by the dictionary
        {0x00280010: ("US", b"\4\0\0")},  # a US of odd length
        {0x00100010: ("PN", b"Yamada^Tarou=Y^T")},  # component groups
        {0x00080005: ("CS", b"ISO 2022 IR 87"), 0x00100010: ("PN", b"\x1b$B;3ED\x1b(B")},
    ],
    ids=["UN", "odd US", "PN groups", "ISO 2022"],
)
def test_values_the_fast_lane_cannot_vouch_for_are_declined(tmp_path, changed):
    path = write(tmp_path, handmade(changed))
    assert fast_slice_headers(path) is None
    compare_lanes(path)


def test_a_declared_length_past_the_end_declines_without_allocating(tmp_path):
    """RELIABILITY A15 in the fast lane: 4 GB declared in a small file."""
    huge = struct.pack("<HH", 0x0029, 0x1010) + b"OB\0\0" + struct.pack("<L", 0xFFFFFFF0)
    path = write(tmp_path, handmade({0x00290010: ("LO", b"ACME")}, extra=(huge + bytes(64),)))
    tracemalloc.start()
    try:
        assert dicom_fast.parse_header(path, _FAST_TABLE) is None
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000, peak
    with pytest.raises(IntervalError, match="4294967280"):
        read_slice_headers(path)


# ---------------------------------------------------------------- every file within reach


def test_every_pydicom_test_file_agrees_or_is_declined():
    accepted = {Path(p).name for p in get_testdata_files() if compare_lanes(p)}
    # the classic single-frame files in the native and encapsulated syntaxes take the fast lane
    assert {"CT_small.dcm", "MR_small.dcm", "MR_small_implicit.dcm", "JPEG2000.dcm"} <= accepted
    assert "MR_small_bigendian.dcm" not in accepted


def test_every_shared_real_file_agrees_or_is_declined(shared_data):
    files = [
        p
        for p in sorted(shared_data.rglob("*"))
        if p.is_file() and not p.name.endswith((".nii", ".nii.gz", ".txt", ".json", ".md"))
    ]
    accepted = [p for p in files if compare_lanes(p)]
    assert len(accepted) > 50, len(accepted)


# ---------------------------------------------------------------- hypothesis

_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", 300))

_PIECES = [b"1", b"0", b"7", b".", b"-", b"+", b"e", b" ", b"\\", b"\0", b"A", b"^", b"="]
_PIECES += [b"\xe9", b"\xc3\xa9", b"\x1b", b"nan", b"inf", b"_", b"\t"]
_TEXT = st.lists(st.sampled_from(_PIECES), max_size=10).map(b"".join)
_CHARSETS = [
    None,
    b"",
    b"ISO_IR 100",
    b"ISO_IR 192",
    b"ISO 2022 IR 87",
    b"GB18030",
    b"\\ISO_IR 100",
    b"x",
]
_VALUE_TAGS = [
    tag
    for tag, (_, vr) in _FAST_TABLE.wanted.items()
    if tag >> 16 != 2 and tag != 0x00080005 and tag not in (0x00280010, 0x00280011, 0x00280100)
]


@st.composite
def odd_slices(draw) -> bytes:
    """A valid 4 x 4 slice whose other wanted values are drawn from awkward bytes."""
    syntax = draw(st.sampled_from([EXPLICIT, IMPLICIT]))
    changed = {}
    charset = draw(st.sampled_from(_CHARSETS))
    if charset is not None:
        changed[0x00080005] = ("CS", charset + b" " * (len(charset) % 2))
    for tag in draw(st.lists(st.sampled_from(_VALUE_TAGS), max_size=12, unique=True)):
        vr = _FAST_TABLE.wanted[tag][1].decode()
        vr = "SS" if vr == "US or SS" else vr
        if vr in ("US", "SS", "FD"):
            value = draw(st.binary(max_size=17))
        else:
            value = draw(_TEXT)
        if syntax == EXPLICIT and draw(st.integers(0, 9)) == 0:
            vr = draw(st.sampled_from(["UN", "LO", "DS", "IS", "US", "SH"]))
        changed[tag] = (vr, value)
    return handmade(changed, syntax=syntax)


@settings(
    max_examples=_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=odd_slices())
def test_awkward_values_convert_exactly_as_pydicom_converts_them(tmp_path, data):
    compare_lanes(write(tmp_path, data))


@pytest.fixture(scope="module")
def rich_file_bytes(tmp_path_factory) -> bytes:
    folder = tmp_path_factory.mktemp("fast_fuzz")
    [path] = write_series(folder, ramp_volume((1, 4, 6)), rescale=(2, -3), mutate=_implicit)
    inner = sequence(0x00081115, [item(element(0x00081155, "UI", b"1.2.9"))])
    nested = sequence(
        0x00081140, [item(inner), item(element(0x00081150, "UI", b"1.2"), undefined=False)]
    )
    return path.read_bytes(), handmade({0x00180050: ("DS", b"2.5 ")}, extra=(nested,))


@settings(
    max_examples=_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_fuzzed_files_never_escape_the_fast_lane_and_agree_when_taken(
    tmp_path, rich_file_bytes, data
):
    """Bit flips, truncation, spliced bytes: the fast lane returns (identical headers) or
    declines; it never raises and never reads more than the file holds."""
    source = bytearray(data.draw(st.sampled_from(rich_file_bytes)))
    kind = data.draw(st.sampled_from(["flip", "truncate", "splice"]))
    if kind == "flip":
        for _ in range(data.draw(st.integers(1, 6))):
            at = data.draw(st.integers(128, len(source) - 1))
            source[at] ^= 1 << data.draw(st.integers(0, 7))
    elif kind == "truncate":
        source = source[: data.draw(st.integers(0, len(source)))]
    else:
        at = data.draw(st.integers(132, len(source) - 1))
        source[at : at + 4] = data.draw(st.binary(min_size=4, max_size=4))
    path = write(tmp_path, bytes(source))
    tracemalloc.start()
    try:
        fast = fast_slice_headers(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2_000_000 + 4 * len(source), peak
    if fast is not None:
        compare_lanes(path)


# ---------------------------------------------------------------- one read per file


def test_scan_opens_each_classic_slice_once(tmp_path, monkeypatch):
    paths = write_series(tmp_path, ramp_volume((3, 6, 5)), mutate=_private_and_sequences)
    opened: list[str] = []
    real_open = builtins.open

    def counting_open(file, *args, **kwargs):
        opened.append(str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", counting_open)
    catalog = scan_paths([tmp_path])
    assert len(catalog.all_series()) == 1
    assert sorted(opened) == sorted(str(p) for p in paths)


# ---------------------------------------------------------------- E37: early slices, memory


def test_middle_slice_arrives_first_with_the_final_geometry(tmp_path):
    stored = ramp_volume((7, 12, 10))
    write_series(tmp_path, stored, modality="CT")
    [entry] = scan_paths([tmp_path]).all_series()
    seen: list[tuple[PartialVolume, np.ndarray, np.ndarray]] = []

    def on_first_slices(partial: PartialVolume) -> None:
        seen.append((partial, partial.filled.copy(), partial.volume.array[3].copy()))

    volume = load_series(entry, on_first_slices=on_first_slices)
    [(partial, filled_then, middle_then)] = seen
    assert filled_then.tolist() == [False, False, False, True, False, False, False]
    np.testing.assert_array_equal(middle_then, stored[3].astype(np.int16) - 1024)
    np.testing.assert_array_equal(partial.volume.voxel2patient, volume.voxel2patient)
    assert partial.volume.metadata.description == volume.metadata.description
    # the preview is a live, read-only view of the array the load returns
    assert partial.filled_count == 7 and partial.filled.all()
    assert np.shares_memory(partial.volume.array, volume.array)
    np.testing.assert_array_equal(partial.volume.array, volume.array)
    assert not partial.volume.array.flags.writeable and not partial.filled.flags.writeable


def test_preview_follows_a_switch_to_float32(tmp_path):
    stored = np.full((3, 4, 4), 100, dtype=np.uint16)
    stored[2] = 60_000  # only the last slice overflows int16, after the middle one arrived
    write_series(tmp_path, stored, modality="CT", rescale=(1.0, 0.0))
    [entry] = scan_paths([tmp_path]).all_series()
    seen: list[PartialVolume] = []
    volume = build_volume(entry.source, on_first_slices=seen.append)
    assert [p.volume.array.dtype for p in seen] == [np.int16, np.float32]
    assert volume.array.dtype == np.float32
    np.testing.assert_array_equal(seen[-1].volume.array, volume.array)


def test_512_matrix_loads_without_a_float64_copy(tmp_path):
    """E37 at a small N: int16 kept, peak allocation well under twice the int16 array."""
    stored = (ramp_volume((12, 512, 512)) % 4000).astype(np.uint16)

    def twelve_bits(k, ds):
        ds.BitsStored, ds.HighBit = 12, 11

    write_series(tmp_path, stored, modality="CT", mutate=twelve_bits)
    [entry] = scan_paths([tmp_path]).all_series()
    tracemalloc.start()
    try:
        volume = load_series(entry)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert volume.array.dtype == np.int16
    assert peak < 1.3 * volume.array.nbytes, (peak, volume.array.nbytes)
    np.testing.assert_array_equal(volume.array, stored.astype(np.int16) - 1024)


@pytest.mark.parametrize("syntax", [EXPLICIT, IMPLICIT])
def test_pixels_are_read_at_the_recorded_offset(tmp_path, syntax):
    stored = ramp_volume((3, 7, 5))

    def mutate(k, ds):
        ds.file_meta.TransferSyntaxUID = syntax
        _private_and_sequences(k, ds)

    write_series(tmp_path, stored, mutate=mutate)
    [entry] = scan_paths([tmp_path]).all_series()
    assert all(h.pixel_data_offset is not None for h in entry.source)
    np.testing.assert_array_equal(load_series(entry).array, stored)
