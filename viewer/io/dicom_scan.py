"""DICOM header scanning: one :class:`SliceHeader` per 2-D frame, read without the pixel data.

``read_slice_headers`` reads a classic single-frame slice through the fast lane of
:mod:`viewer.io.dicom_fast` (the few dozen values a header needs, straight from the file's bytes,
converted exactly as pydicom converts them). Every other file, and every file the fast lane is not
sure of, is parsed with pydicom (never ``force=True``), the reference path, through a reader that
refuses to read past the end of the file, so a declared element length far beyond the file size
costs nothing. For native (uncompressed) transfer syntaxes it records where the PixelData value
starts, so the volume builder can read the bytes straight into a preallocated array; for a
multi-frame file that offset is the start of the whole value and frame ``k`` starts
``k * rows * columns * samples * bits_allocated / 8`` bytes later.

A file whose PixelData is cut short by truncation is *not* refused here when its declared length is
the one Rows x Columns x frames needs: the header still places the slice, and the builder sees
``pixel_data_offset + pixel_data_length > file_size`` and marks that slice incomplete.

:mod:`viewer.io.dicom_grouping` then sorts the headers of a scan into series entries.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import struct
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import UID

from viewer.errors import UnreadableFileError
from viewer.io import dicom_fast
from viewer.io.dicom_headers import SliceHeader

MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"
SECONDARY_CAPTURE_PREFIX = "1.2.840.10008.5.1.4.1.1.7"
"""Secondary Capture Image Storage and its multi-frame variants (…7.1 to …7.4)."""

_NOT_IMAGES_EVEN_WITH_PIXELS = {
    "1.2.840.10008.5.1.4.1.1.66.4": "a segmentation (label map), not an image",
    "1.2.840.10008.5.1.4.1.1.66": "raw data, not an image",
}
_ENHANCED_SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.2.1",  # Enhanced CT
    "1.2.840.10008.5.1.4.1.1.2.2",  # Legacy Converted Enhanced CT
    "1.2.840.10008.5.1.4.1.1.4.1",  # Enhanced MR
    "1.2.840.10008.5.1.4.1.1.4.4",  # Legacy Converted Enhanced MR
    "1.2.840.10008.5.1.4.1.1.130",  # Enhanced PET
    "1.2.840.10008.5.1.4.1.1.128.1",  # Legacy Converted Enhanced PET
}
_NATIVE_SYNTAXES = {
    "1.2.840.10008.1.2",  # Implicit VR Little Endian
    "1.2.840.10008.1.2.1",  # Explicit VR Little Endian
    "1.2.840.10008.1.2.2",  # Explicit VR Big Endian
}
_PIXEL_DATA = 0x7FE00010
_PIXEL_VRS = {b"OB", b"OW", b"OD", b"OF", b"UN"}
_FLOAT_PIXEL_DATA = {0x7FE00008: "Float Pixel Data", 0x7FE00009: "Double Float Pixel Data"}

EXTRA_KEYWORDS = (
    "RepetitionTime",
    "EchoTime",
    "InversionTime",
    "FlipAngle",
    "MagneticFieldStrength",
    "KVP",
    "Manufacturer",
    "ManufacturerModelName",
    "ScanningSequence",
    "EchoNumbers",
    "AcquisitionNumber",
    "TemporalPositionIdentifier",
    "TriggerTime",
    "DiffusionBValue",
    "SpacingBetweenSlices",
)
"""Acquisition parameters copied into ``SliceHeader.extra`` (never free text that may identify)."""

Values = Dataset | dicom_fast.FastDataset
"""Where header values come from: a pydicom dataset, or the fast lane's converted values."""

CLASSIC_KEYWORDS = (
    "SOPClassUID",
    "SOPInstanceUID",
    "Rows",
    "Columns",
    "BitsAllocated",
    "BitsStored",
    "HighBit",
    "PixelRepresentation",
    "SamplesPerPixel",
    "NumberOfFrames",
    "PhotometricInterpretation",
    "PixelPaddingValue",
    "ImageType",
    "PatientID",
    "PatientName",
    "PatientBirthDate",
    "StudyInstanceUID",
    "StudyDate",
    "StudyDescription",
    "SeriesInstanceUID",
    "SeriesNumber",
    "SeriesDescription",
    "SeriesDate",
    "SeriesTime",
    "Modality",
    "FrameOfReferenceUID",
    "InstanceNumber",
    "GantryDetectorTilt",
    "BurnedInAnnotation",
    "ImagePositionPatient",
    "ImageOrientationPatient",
    "PixelSpacing",
    "SliceThickness",
    "RescaleSlope",
    "RescaleIntercept",
    "RescaleType",
    "ContrastBolusAgent",
    "AcquisitionDateTime",
    "AcquisitionDate",
    "AcquisitionTime",
    "ContentDate",
    "ContentTime",
    *EXTRA_KEYWORDS,
)
"""Every element a classic single-frame header is built from (read by the fast lane)."""
_FAST_TABLE = dicom_fast.tag_table(
    CLASSIC_KEYWORDS,
    flagged=(
        "ContrastBolusAgentSequence",
        "DirectoryRecordSequence",
        "PerFrameFunctionalGroupsSequence",
        "SharedFunctionalGroupsSequence",
    ),
)


def read_slice_headers(
    path: str | os.PathLike[str], *, head: bytes | None = None
) -> list[SliceHeader]:
    """Read the header of one DICOM file: one record per 2-D frame, pixels not decoded.

    Parameters
    ----------
    path : path-like
        A DICOM Part 10 file (with the ``DICM`` prefix).
    head : bytes, optional
        The file's first bytes, when the caller has read them already (:func:`scan_paths` sniffs
        each file with them), so that a classic slice is opened only once.

    Returns
    -------
    list of SliceHeader
        One element for a classic single-frame image; one per frame (``frame_index`` 0, 1, ...)
        for a multi-frame image, with per-frame functional groups resolved.

    Raises
    ------
    viewer.errors.UnreadableFileError
        Not an image: no ``DICM`` prefix, DICOMDIR, no pixel data, a non-image SOP class (named in
        the message), a truncated or corrupt header, missing Rows/Columns/BitsAllocated, a pixel
        data length that does not fit the file.

    Notes
    -----
    A classic single-frame file in explicit or implicit VR little endian goes through
    :mod:`viewer.io.dicom_fast`, which converts only the elements in :data:`CLASSIC_KEYWORDS` and
    gives the same headers as pydicom; every other file, and every file the fast lane is unsure
    of, is parsed by pydicom, which also words every refusal.
    """
    path = _as_path(path)
    headers = fast_slice_headers(path, head=head)
    return headers if headers is not None else pydicom_slice_headers(path)


def pydicom_slice_headers(path: str | os.PathLike[str]) -> list[SliceHeader]:
    """Read the headers of any DICOM file with pydicom: the reference path.

    Same contract as :func:`read_slice_headers`, without the fast lane.
    """
    path = _as_path(path)
    try:
        file_size = path.stat().st_size
        with open(path, "rb") as raw:
            reader = _BoundedReader(raw, file_size)
            with warnings.catch_warnings():
                # pydicom warns about non-conformant values; every value used here is validated
                # below, and warnings must not escape a scan of a user's folder. (This swaps the
                # process-wide filters, so scans are meant to run in one worker thread at a time.)
                warnings.simplefilter("ignore")
                ds = _parse_header(reader, path)
                header_overrun = reader.overrun
                pixel_tag, pixel_offset, pixel_length = _locate_pixel_data(reader, ds)
                return _headers_from_dataset(
                    ds, path, file_size, (pixel_tag, pixel_offset, pixel_length), header_overrun
                )
    except OSError as exc:
        raise UnreadableFileError(f"cannot be read ({exc.strerror or exc})", path) from exc


def fast_slice_headers(
    path: str | os.PathLike[str], *, head: bytes | None = None
) -> list[SliceHeader] | None:
    """The header of a classic single-frame file through the fast lane, without pydicom.

    Parameters
    ----------
    path : path-like
    head : bytes, optional
        The file's first bytes, if already read.

    Returns
    -------
    list of one SliceHeader, or None
        ``None`` when the fast lane declines (anything unusual, and every file that would be
        refused): :func:`pydicom_slice_headers` must read it. Never raises for a bad file.
    """
    path = _as_path(path)
    found = dicom_fast.parse_header(path, _FAST_TABLE, head)
    if found is None:
        return None
    ds = found.dataset
    if (
        "PerFrameFunctionalGroupsSequence" in ds
        or "SharedFunctionalGroupsSequence" in ds
        or "DirectoryRecordSequence" in ds
        or ("ContrastBolusAgentSequence" in ds and not _text(ds, "ContrastBolusAgent"))
    ):
        return None
    try:
        headers = _headers_from_dataset(ds, path, found.file_size, found.pixel_element, None)
    except UnreadableFileError:
        return None
    return headers if len(headers) == 1 and headers[0].frame_index is None else None


class _BoundedReader:
    """A read-only file wrapper that never returns (or allocates) more than the file holds.

    pydicom reads each element's value with ``read(length)``; a corrupt length of gigabytes would
    otherwise make the buffered reader allocate that much. Short reads are remembered so that a
    header which runs off the end of the file can be named as truncated.
    """

    def __init__(self, raw: Any, size: int) -> None:
        self._raw = raw
        self._size = size
        self.name = getattr(raw, "name", "")
        self.overrun: tuple[int, int, int] | None = None
        """(position, bytes asked for, bytes available) of the first read past the end."""

    def read(self, n: int = -1) -> bytes:
        pos = self._raw.tell()
        available = max(self._size - pos, 0)
        if n is None or n < 0:
            n = available
        if n > available:
            # A clean end of the dataset is an 8-byte tag probe that finds nothing left.
            if self.overrun is None and not (available == 0 and n <= 8):
                self.overrun = (pos, n, available)
            n = available
        return self._raw.read(n)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._raw.seek(offset, whence)

    def tell(self) -> int:
        return self._raw.tell()


def _parse_header(reader: _BoundedReader, path: Path) -> Dataset:
    try:
        return pydicom.dcmread(reader, stop_before_pixels=True)
    except InvalidDicomError as exc:
        raise UnreadableFileError(
            "not a DICOM file with a file meta header (no 'DICM' prefix at byte 128); files "
            "without one are not read, to avoid mistaking random bytes for an image",
            path,
        ) from exc
    except Exception as exc:
        # pydicom signals a broken header with many built-in types (struct.error, EOFError,
        # ValueError, KeyError...); all mean the same thing to the user.
        raise UnreadableFileError(
            f"corrupt or truncated DICOM header ({_describe(exc)})", path
        ) from exc


def _locate_pixel_data(
    reader: _BoundedReader, ds: Dataset
) -> tuple[int | None, int | None, int | None]:
    """Find the element pydicom stopped at: (tag, value offset in bytes, value length in bytes).

    ``stop_before_pixels`` leaves the file positioned at the start of the pixel data element.
    Returns ``(None, None, None)`` when there is none; the length is ``None`` when undefined
    (encapsulated). A deflated dataset is parsed from a decompressed copy, so its position says
    nothing about the file: the element is looked up by tag instead, without an offset.
    """
    if _transfer_syntax(ds) == "1.2.840.10008.1.2.1.99":  # Deflated Explicit VR Little Endian
        return _deflated_pixel_element(ds)
    start = reader.tell()
    head = reader.read(12)
    if len(head) < 8:
        return None, None, None
    implicit, little = ds.original_encoding
    endian = "<" if little is not False else ">"
    group, element = struct.unpack(f"{endian}HH", head[:4])
    tag = group << 16 | element
    if tag != _PIXEL_DATA and tag not in _FLOAT_PIXEL_DATA:
        return None, None, None
    if implicit:
        (length,) = struct.unpack(f"{endian}L", head[4:8])
        value_offset = start + 8
    else:
        if len(head) < 12:
            raise UnreadableFileError(
                f"truncated: the file ends inside the pixel data element at byte {start}",
                reader.name,
            )
        if head[4:6] not in _PIXEL_VRS:
            raise UnreadableFileError(
                f"malformed pixel data element at byte {start} (VR {head[4:6]!r})", reader.name
            )
        (length,) = struct.unpack(f"{endian}L", head[8:12])
        value_offset = start + 12
    return tag, value_offset, None if length == 0xFFFFFFFF else length


def _deflated_pixel_element(ds: Dataset) -> tuple[int | None, int | None, int | None]:
    filename = getattr(ds, "filename", None)
    if not filename:
        return None, None, None
    full = pydicom.dcmread(filename)
    for tag in (_PIXEL_DATA, *_FLOAT_PIXEL_DATA):
        if tag in full:
            return tag, None, None
    return None, None, None


def _headers_from_dataset(
    ds: Values,
    path: Path,
    file_size: int,
    pixel_element: tuple[int | None, int | None, int | None],
    header_overrun: tuple[int, int, int] | None,
) -> list[SliceHeader]:
    pixel_tag, pixel_offset, pixel_length = pixel_element
    meta = getattr(ds, "file_meta", None)
    sop_class = _text(ds, "SOPClassUID") or _text(meta, "MediaStorageSOPClassUID")
    if sop_class == MEDIA_STORAGE_DIRECTORY or "DirectoryRecordSequence" in ds:
        raise UnreadableFileError("a DICOMDIR (media directory index), not an image", path)
    if sop_class in _NOT_IMAGES_EVEN_WITH_PIXELS:
        raise UnreadableFileError(
            f"{_sop_name(sop_class)}: {_NOT_IMAGES_EVEN_WITH_PIXELS[sop_class]}", path
        )
    if pixel_tag is None:
        if header_overrun is not None:
            pos, wanted, available = header_overrun
            raise UnreadableFileError(
                f"truncated or corrupt DICOM header: an element at byte {pos} declares "
                f"{wanted} bytes but only {available} remain in the file",
                path,
            )
        if not sop_class:
            raise UnreadableFileError(
                f"no SOP Class UID and no pixel data: truncated after {file_size} bytes, "
                "or not an image",
                path,
            )
        if "Image Storage" in _sop_name(sop_class):
            raise UnreadableFileError(
                f"no pixel data in an {_sop_name(sop_class)} file: probably truncated "
                f"(it ends after {file_size} bytes)",
                path,
            )
        raise UnreadableFileError(f"no pixel data ({_sop_name(sop_class)}): not an image", path)
    if pixel_tag in _FLOAT_PIXEL_DATA:
        raise UnreadableFileError(
            f"{_FLOAT_PIXEL_DATA[pixel_tag]} (a floating-point parametric map) is not supported",
            path,
        )

    rows = _required_int(ds, "Rows", path)
    columns = _required_int(ds, "Columns", path)
    bits_allocated = _required_int(ds, "BitsAllocated", path)
    samples = _int(ds, "SamplesPerPixel") or 1
    frames = _int(ds, "NumberOfFrames") or 1
    if frames < 1 or frames > max(file_size // 8, 1):
        # every frame takes at least one 8-byte item even when compressed; a corrupt count must
        # not make millions of headers
        raise UnreadableFileError(
            f"NumberOfFrames {frames} cannot fit in a file of {file_size} bytes", path
        )
    transfer_syntax = _transfer_syntax(ds)
    photometric = _text(ds, "PhotometricInterpretation").upper()
    if transfer_syntax in _NATIVE_SYNTAXES:
        # YBR_FULL_422 shares one Cb/Cr pair between two pixels: two samples per pixel stored
        stored_samples = 2 if photometric == "YBR_FULL_422" and samples == 3 else samples
        _check_native_length(
            path,
            pixel_offset,
            pixel_length,
            file_size,
            (frames, rows, columns, stored_samples, bits_allocated),
        )
    else:
        pixel_offset, pixel_length = None, None

    common = _common_fields(ds, path, sop_class, transfer_syntax, file_size)
    common.update(
        rows=rows,
        columns=columns,
        bits_allocated=bits_allocated,
        samples_per_pixel=samples,
        number_of_frames=frames,
        pixel_data_offset=pixel_offset,
        pixel_data_length=pixel_length,
    )
    bits_stored = _int(ds, "BitsStored") or bits_allocated
    high_bit = _int(ds, "HighBit")
    common.update(
        bits_stored=bits_stored,
        high_bit=bits_stored - 1 if high_bit is None else high_bit,
        pixel_representation=_int(ds, "PixelRepresentation") or 0,
        photometric_interpretation=photometric,
        pixel_padding_value=_int(ds, "PixelPaddingValue"),
    )
    if "PerFrameFunctionalGroupsSequence" in ds or sop_class in _ENHANCED_SOP_CLASSES:
        return _enhanced_frames(ds, common, frames)
    return _classic_frames(ds, common, frames)


def _check_native_length(
    path: Path,
    offset: int | None,
    length: int | None,
    file_size: int,
    layout: tuple[int, int, int, int, int],
) -> None:
    frames, rows, columns, samples, bits = layout
    needed_bits = frames * rows * columns * samples * bits
    needed = (needed_bits + 7) // 8
    if offset is None or length is None:
        raise UnreadableFileError(
            "pixel data has an undefined length in an uncompressed transfer syntax (corrupt)", path
        )
    if length < needed:
        raise UnreadableFileError(
            f"pixel data holds {length} bytes but {frames} frame(s) of {rows} x {columns} x "
            f"{samples} samples at {bits} bits need {needed}",
            path,
        )
    if offset + length > file_size and length > needed + (needed & 1):
        # A truncated file with a plausible declared length is left to the builder, which marks
        # the slice incomplete; a length that matches no image is corruption (e.g. 4 GB declared).
        raise UnreadableFileError(
            f"pixel data declares {length} bytes but the file holds only "
            f"{max(file_size - offset, 0)} after byte {offset}, and the image needs {needed}",
            path,
        )


def _common_fields(
    ds: Values, path: Path, sop_class: str, transfer_syntax: str, file_size: int
) -> dict[str, Any]:
    image_type = tuple(v.upper() for v in _texts(ds, "ImageType"))
    return dict(
        path=str(path),
        sop_instance_uid=_text(ds, "SOPInstanceUID")
        or _text(getattr(ds, "file_meta", None), "MediaStorageSOPInstanceUID"),
        sop_class_uid=sop_class,
        transfer_syntax_uid=transfer_syntax,
        patient_id=_text(ds, "PatientID"),
        patient_name=_text(ds, "PatientName"),
        patient_birth_date=_date(ds, "PatientBirthDate"),
        study_instance_uid=_text(ds, "StudyInstanceUID"),
        study_date=_date(ds, "StudyDate") or _date(ds, "SeriesDate"),
        study_description=_text(ds, "StudyDescription"),
        series_instance_uid=_text(ds, "SeriesInstanceUID"),
        series_number=_int(ds, "SeriesNumber"),
        series_description=_text(ds, "SeriesDescription"),
        modality=_text(ds, "Modality").upper(),
        frame_of_reference_uid=_text(ds, "FrameOfReferenceUID"),
        instance_number=_int(ds, "InstanceNumber"),
        image_type=image_type,
        gantry_tilt_deg=_float(ds, "GantryDetectorTilt"),
        file_size=file_size,
        burned_in_annotation=_text(ds, "BurnedInAnnotation").upper() == "YES"
        or sop_class.startswith(SECONDARY_CAPTURE_PREFIX),
        extra=_extra(ds),
    )


def _classic_frames(ds: Values, common: dict[str, Any], frames: int) -> list[SliceHeader]:
    position = _floats(ds, "ImagePositionPatient", 3)
    orientation = _floats(ds, "ImageOrientationPatient", 6)
    shared = dict(
        common,
        acquisition_datetime=_acquisition_datetime(ds),
        image_orientation=orientation,
        pixel_spacing=_floats(ds, "PixelSpacing", 2),
        slice_thickness=_float(ds, "SliceThickness"),
        rescale_slope=_float(ds, "RescaleSlope"),
        rescale_intercept=_float(ds, "RescaleIntercept"),
        rescale_type=_text(ds, "RescaleType"),
        contrast_agent=_contrast_agent(ds, administered=False),
    )
    if frames == 1:
        return [SliceHeader(**shared, frame_index=None, image_position=position)]
    # Only an explicit per-frame offset (RT dose grids) places the other frames; anything else
    # would be a guess, so their position stays unknown.
    offsets = _floats(ds, "GridFrameOffsetVector", frames) or (None,) * frames
    return [
        SliceHeader(
            **shared,
            frame_index=k,
            image_position=_offset_position(position, orientation, offsets[k]),
        )
        for k in range(frames)
    ]


def _offset_position(
    position: tuple[float, float, float] | None,
    orientation: tuple[float, ...] | None,
    offset_mm: float | None,
) -> tuple[float, float, float] | None:
    if position is None or orientation is None or offset_mm is None:
        return None
    row, col = orientation[:3], orientation[3:]
    normal = (
        row[1] * col[2] - row[2] * col[1],
        row[2] * col[0] - row[0] * col[2],
        row[0] * col[1] - row[1] * col[0],
    )
    return (
        position[0] + offset_mm * normal[0],
        position[1] + offset_mm * normal[1],
        position[2] + offset_mm * normal[2],
    )


class _FrameGroups:
    """Functional-group lookup for one frame: its per-frame item first, then the shared one."""

    def __init__(self, per_frame: Dataset | None, shared: Dataset | None) -> None:
        self._groups = [g for g in (per_frame, shared) if g is not None]

    def __call__(self, keyword: str) -> Dataset | None:
        for group in self._groups:
            item = _first_item(group, keyword)
            if item is not None:
                return item
        return None


def _enhanced_frames(ds: Dataset, common: dict[str, Any], frames: int) -> list[SliceHeader]:
    shared = _first_item(ds, "SharedFunctionalGroupsSequence")
    per_frame = _items(ds, "PerFrameFunctionalGroupsSequence")
    top_acquired = _acquisition_datetime(ds)
    headers = []
    for k in range(frames):
        group = _FrameGroups(per_frame[k] if k < len(per_frame) else None, shared)
        # Top-level values are the fallback some writers (legacy converted objects) rely on; an
        # empty or missing group item is falsy, so ``or ds`` falls back to them.
        measures = group("PixelMeasuresSequence") or ds
        transform = group("PixelValueTransformationSequence") or ds
        position = group("PlanePositionSequence")
        if position is None and frames == 1:
            position = ds
        frame_type = _texts(
            group("MRImageFrameTypeSequence") or group("CTImageFrameTypeSequence"), "FrameType"
        )
        usage = group("ContrastBolusUsageSequence")
        acquired = _parse_datetime(_text(group("FrameContentSequence"), "FrameAcquisitionDateTime"))
        fields = dict(
            common,
            extra=_enhanced_extra(common["extra"], group),
            image_type=tuple(v.upper() for v in frame_type) or common["image_type"],
        )
        headers.append(
            SliceHeader(
                **fields,
                frame_index=k,
                acquisition_datetime=acquired or top_acquired,
                image_position=_floats(position, "ImagePositionPatient", 3),
                image_orientation=_floats(
                    group("PlaneOrientationSequence") or ds, "ImageOrientationPatient", 6
                ),
                pixel_spacing=_floats(measures, "PixelSpacing", 2),
                slice_thickness=_float(measures, "SliceThickness"),
                rescale_slope=_float(transform, "RescaleSlope"),
                rescale_intercept=_float(transform, "RescaleIntercept"),
                rescale_type=_text(transform, "RescaleType"),
                contrast_agent=_contrast_agent(
                    ds,
                    administered=_text(usage, "ContrastBolusAgentAdministered").upper() == "YES",
                ),
            )
        )
    return headers


def _enhanced_extra(top_level: dict[str, Any], group: _FrameGroups) -> dict[str, Any]:
    """Acquisition parameters that enhanced objects keep in functional groups, not at top level."""
    extra = dict(top_level)
    found = {
        "RepetitionTime": _float(group("MRTimingAndRelatedParametersSequence"), "RepetitionTime"),
        "FlipAngle": _float(group("MRTimingAndRelatedParametersSequence"), "FlipAngle"),
        "InversionTime": _float(group("MRModifierSequence"), "InversionTimes"),
        "KVP": _float(group("CTXRayDetailsSequence"), "KVP"),
        "EchoTime": _float(group("MREchoSequence"), "EffectiveEchoTime"),
        "DiffusionBValue": _float(group("MRDiffusionSequence"), "DiffusionBValue"),
        # these tell apart frames acquired at the same position (see _REPEAT_KEYS)
        "TemporalPositionIndex": _int(group("FrameContentSequence"), "TemporalPositionIndex"),
        "InStackPositionNumber": _int(group("FrameContentSequence"), "InStackPositionNumber"),
        "StackID": _text(group("FrameContentSequence"), "StackID") or None,
    }
    extra.update({keyword: value for keyword, value in found.items() if value is not None})
    return extra


def _contrast_agent(ds: Values, *, administered: bool) -> str:
    """ContrastBolusAgent, else the coded agent's meaning, else ``"yes"`` if a frame says so."""
    agent = _text(ds, "ContrastBolusAgent")
    if agent:
        return agent
    # The (Enhanced) Contrast/Bolus module codes each agent as an item of this sequence.
    for code in _items(ds, "ContrastBolusAgentSequence"):
        if _text(code, "CodeMeaning"):
            return _text(code, "CodeMeaning")
    return "yes" if administered else ""


def _extra(ds: Values) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    for keyword in EXTRA_KEYWORDS:
        value = _plain(_get(ds, keyword))
        if value not in (None, "", []):
            extra[keyword] = value
    return extra


def _acquisition_datetime(ds: Values) -> dt.datetime | None:
    combined = _parse_datetime(_text(ds, "AcquisitionDateTime"))
    if combined is not None:
        return combined
    for date_kw, time_kw in (
        ("AcquisitionDate", "AcquisitionTime"),
        ("ContentDate", "ContentTime"),
    ):
        day = _date(ds, date_kw)
        if day is not None:
            return _combine(day, _text(ds, time_kw))
    day = _date(ds, "SeriesDate")
    return _combine(day, _text(ds, "SeriesTime")) if day else None


def _combine(day: dt.date, time_text: str) -> dt.datetime:
    parsed = _parse_time(time_text)
    return dt.datetime.combine(day, parsed or dt.time())


# --- tolerant value access: a malformed value becomes None (or ""), never an exception ---


def _get(ds: Values | None, keyword: str) -> Any:
    if ds is None:
        return None
    try:
        element = ds.get(keyword)
    except Exception:
        return None
    return element


def _required_int(ds: Values, keyword: str, path: Path) -> int:
    value = _int(ds, keyword)
    if value is None or value <= 0:
        raise UnreadableFileError(f"{keyword} is missing or invalid: no image to read", path)
    return value


def _text(ds: Values | None, keyword: str) -> str:
    value = _get(ds, keyword)
    if value is None:
        return ""
    if isinstance(value, bytes):
        value = value.decode("latin-1", "replace")
    if not isinstance(value, str) and isinstance(value, Sequence):
        value = "\\".join(str(v) for v in value)
    return str(value).strip().replace("\x00", "")


def _texts(ds: Values | None, keyword: str) -> tuple[str, ...]:
    value = _get(ds, keyword)
    if value is None:
        return ()
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        value = [value]
    return tuple(str(v).strip() for v in value if str(v).strip())


def _float(ds: Values | None, keyword: str) -> float | None:
    value = _get(ds, keyword)
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        value = value[0] if len(value) else None
    try:
        result = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return None
    return result if math.isfinite(result) else None


def _int(ds: Values | None, keyword: str) -> int | None:
    number = _float(ds, keyword)
    if number is None or number != int(number):
        return None
    return int(number)


def _floats(ds: Values | None, keyword: str, count: int | None) -> Any:
    """``count`` numbers as a tuple (``None`` if absent or malformed); any count when ``None``.

    Non-finite numbers are kept so that geometry checks can name them.
    """
    value = _get(ds, keyword)
    if value is None:
        return None
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        value = [value]
    try:
        numbers = tuple(float(v) for v in value)
    except (TypeError, ValueError, OverflowError):
        return None
    if count is not None and len(numbers) != count:
        return None
    return numbers or None


def _items(ds: Values | None, keyword: str) -> list[Dataset]:
    value = _get(ds, keyword)
    try:
        return [item for item in value if isinstance(item, Dataset)] if value is not None else []
    except TypeError:
        return []


def _first_item(ds: Dataset | None, keyword: str) -> Dataset | None:
    items = _items(ds, keyword)
    return items[0] if items else None


def _plain(value: Any) -> Any:
    """Copy a pydicom value as plain JSON-serialisable Python (numbers, strings, lists of them)."""
    if value is None:
        return None
    if isinstance(value, bytes):
        return None
    if isinstance(value, str):
        return str(value).strip()
    if isinstance(value, Sequence):
        items = [_plain(v) for v in value]
        return [v for v in items if v is not None]
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            return None
        number = float(value)
        return int(number) if isinstance(value, int) else number
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value).strip()
    if not math.isfinite(number):
        return None
    return int(number) if number.is_integer() and "." not in str(value) else number


def _date(ds: Values | None, keyword: str) -> dt.date | None:
    return _parse_date(_text(ds, keyword))


def _parse_date(text: str) -> dt.date | None:
    """DICOM DA (``YYYYMMDD``, or the old ``YYYY.MM.DD``) as a date; ``None`` when malformed."""
    digits = text.strip().replace(".", "").replace("-", "")
    if len(digits) != 8 or not digits.isdigit():
        return None
    try:
        return dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        return None


def _parse_time(text: str) -> dt.time | None:
    """DICOM TM (``HHMMSS.FFFFFF``, fields optional after the hour, or ``HH:MM:SS``)."""
    text = text.strip().replace(":", "")
    main, _, fraction = text.partition(".")
    if not main.isdigit() or len(main) not in (2, 4, 6) or (fraction and not fraction.isdigit()):
        return None
    hour, minute, second = int(main[:2]), int(main[2:4] or 0), int(main[4:6] or 0)
    micro = int((fraction + "000000")[:6]) if fraction else 0
    try:
        return dt.time(hour, minute, min(second, 59), micro)
    except ValueError:
        return None


def _parse_datetime(text: str) -> dt.datetime | None:
    """DICOM DT (``YYYYMMDDHHMMSS.FFFFFF&ZZXX``) as a naive local datetime, or ``None``."""
    text = text.strip()
    for sign in ("+", "-"):
        if sign in text[8:]:
            text = text[: 8 + text[8:].index(sign)]
    day = _parse_date(text[:8])
    if day is None:
        return None
    rest = text[8:]
    if not rest:
        return dt.datetime.combine(day, dt.time())
    parsed = _parse_time(rest)
    return dt.datetime.combine(day, parsed) if parsed is not None else None


def _transfer_syntax(ds: Values) -> str:
    return _text(getattr(ds, "file_meta", None), "TransferSyntaxUID")


def _sop_name(sop_class: str) -> str:
    name = UID(sop_class).name if sop_class else ""
    return name if name and name != sop_class else f"SOP class {sop_class}"


def _as_path(path: str | os.PathLike[str]) -> Path:
    return path if isinstance(path, Path) else Path(path)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__
