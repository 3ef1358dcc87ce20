"""Read the stored values of one DICOM frame, before any rescale.

Native little-endian pixel data is read straight from the file into the caller's buffer, using the
byte offset that header scanning recorded (no pydicom, no intermediate copy). Everything else
(compressed, big endian, deflated) is decoded by pydicom with the pylibjpeg plugins.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pydicom
from pydicom.pixels import get_decoder, pixel_array
from pydicom.uid import (
    UID,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000TransferSyntaxes,
    JPEGLSTransferSyntaxes,
    JPEGTransferSyntaxes,
    RLELossless,
)

from viewer.errors import IntervalError, UnreadableFileError, UnsupportedCompressionError
from viewer.io.dicom_headers import SliceHeader

_NATIVE_LITTLE_ENDIAN = frozenset({ImplicitVRLittleEndian, ExplicitVRLittleEndian})


def _install_hint(uid: UID) -> str:
    """Name the pip package that adds a decoder for ``uid`` to pydicom."""
    if uid in JPEG2000TransferSyntaxes or uid.name.startswith("High-Throughput JPEG 2000"):
        return "install pylibjpeg-openjpeg"
    if uid in JPEGTransferSyntaxes or uid in JPEGLSTransferSyntaxes:
        return "install pylibjpeg-libjpeg"
    if uid == RLELossless:
        return "install pylibjpeg-rle"
    return "no decoder for it is known to Interval; convert the series to an uncompressed one"


def check_decodable(headers: Iterable[SliceHeader]) -> None:
    """Refuse, before any pixel is read, a series whose pixels Interval cannot decode.

    Parameters
    ----------
    headers : iterable of SliceHeader

    Raises
    ------
    viewer.errors.UnsupportedCompressionError
        No installed decoder handles a transfer syntax; the message names it and what to install,
        e.g. ``"unsupported compression: JPEG 2000 Image Compression (Lossless Only) -
        install pylibjpeg-openjpeg"``.
    viewer.errors.UnreadableFileError
        Colour (more than one sample per pixel) or an unusual bit depth.
    """
    checked: set[str] = set()
    for header in headers:
        if header.samples_per_pixel != 1:
            raise UnreadableFileError(
                f"colour pixel data ({header.samples_per_pixel} samples per pixel, "
                f"{header.photometric_interpretation}) cannot be shown as a grey-scale volume",
                header.path,
            )
        if header.bits_allocated not in (8, 16, 32) or not 0 < header.bits_stored <= 32:
            raise UnreadableFileError(
                f"unsupported pixel layout: BitsAllocated {header.bits_allocated}, "
                f"BitsStored {header.bits_stored}",
                header.path,
            )
        if header.transfer_syntax_uid in checked:
            continue
        checked.add(header.transfer_syntax_uid)
        uid = UID(header.transfer_syntax_uid)
        try:
            decoder = get_decoder(uid)
        except NotImplementedError:
            raise UnsupportedCompressionError(
                f"unsupported compression: {uid.name} ({uid}) - {_install_hint(uid)}", header.path
            ) from None
        if not decoder.is_available:
            raise UnsupportedCompressionError(
                f"unsupported compression: {uid.name} - {_install_hint(uid)}", header.path
            )


def stored_dtype(header: SliceHeader) -> np.dtype:
    """Return the numpy dtype that holds one stored value of ``header`` (before rescale).

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> stored_dtype(SimpleNamespace(bits_allocated=16, pixel_representation=1))
    dtype('int16')
    """
    kind = "i" if header.pixel_representation == 1 else "u"
    return np.dtype(f"{kind}{header.bits_allocated // 8}")


def stored_range(header: SliceHeader) -> tuple[int, int]:
    """Smallest and largest stored value that ``BitsStored`` and the sign allow.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> stored_range(SimpleNamespace(bits_stored=12, pixel_representation=0))
    (0, 4095)
    >>> stored_range(SimpleNamespace(bits_stored=12, pixel_representation=1))
    (-2048, 2047)
    """
    bits = header.bits_stored
    if header.pixel_representation == 1:
        return -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return 0, (1 << bits) - 1


def normalise_stored(values: np.ndarray, header: SliceHeader) -> None:
    """Keep only the ``BitsStored`` bits of each value, in place, and restore the sign.

    Scanners may leave garbage (overlays, flags) in the bits above ``HighBit``; a 12-bit CT value
    with bit 15 set would otherwise read as a huge number.

    Parameters
    ----------
    values : ndarray of shape (Y, X) and dtype :func:`stored_dtype`
        Modified in place.
    header : SliceHeader

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> h = SimpleNamespace(bits_allocated=16, bits_stored=12, high_bit=11, pixel_representation=1)
    >>> a = np.array([[0x7FFF, 0x0800]], dtype=np.uint16).view(np.int16)
    >>> normalise_stored(a, h)
    >>> a
    array([[   -1, -2048]], dtype=int16)
    """
    bits_allocated, bits = header.bits_allocated, header.bits_stored
    shift = header.high_bit - bits + 1
    if bits >= bits_allocated and shift == 0:
        return
    raw = values.view(np.dtype(f"u{bits_allocated // 8}"))
    if shift > 0:
        raw >>= shift
    raw &= (1 << bits) - 1
    if header.pixel_representation == 1:
        # Two's complement sign extension from bit (bits - 1): (v ^ sign) - sign.
        sign = 1 << (bits - 1)
        values ^= values.dtype.type(sign)
        values -= values.dtype.type(sign)


def invert_monochrome1(values: np.ndarray, header: SliceHeader) -> None:
    """Mirror stored values within their range, in place, so that bright means dense.

    MONOCHROME1 shows the smallest value as white; every other image in Interval shows it black.
    For unsigned values this is ``max - v`` (a XOR with all stored bits set); for signed values
    ``min + max - v = -1 - v`` (a bitwise NOT).
    """
    if header.pixel_representation == 1:
        np.invert(values, out=values)
    else:
        values ^= values.dtype.type((1 << header.bits_stored) - 1)


class FrameReader:
    """Reads the stored values of frames, one at a time, into caller-provided buffers.

    Keeps the last dataset parsed by pydicom, so the frames of an enhanced file are not re-parsed
    for every frame. Use as a context manager or call :meth:`close`.
    """

    def __init__(self) -> None:
        self._dataset_path: str | None = None
        self._dataset: pydicom.Dataset | None = None
        self.warnings: list[str] = []
        """Warnings pydicom raised while decoding, prefixed with the file they concern."""

    def __enter__(self) -> FrameReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Drop the cached dataset."""
        self._dataset_path = None
        self._dataset = None

    def read(self, header: SliceHeader, out: np.ndarray) -> None:
        """Read the stored values of one frame into ``out``, bits normalised, before rescale.

        Parameters
        ----------
        header : SliceHeader
        out : ndarray of shape (rows, columns), C-contiguous, dtype :func:`stored_dtype`

        Raises
        ------
        viewer.errors.UnreadableFileError
            The frame is missing, truncated or cannot be decoded (the message says which).
        """
        if self._is_fast(header):
            self._read_native(header, out)
        else:
            self._read_with_pydicom(header, out)
        normalise_stored(out, header)

    @staticmethod
    def _is_fast(header: SliceHeader) -> bool:
        return (
            header.transfer_syntax_uid in _NATIVE_LITTLE_ENDIAN
            and header.pixel_data_offset is not None
            and np.little_endian
        )

    @staticmethod
    def _read_native(header: SliceHeader, out: np.ndarray) -> None:
        frame_bytes = out.nbytes
        frame = header.frame_index or 0
        needed = (frame + 1) * frame_bytes
        declared = header.pixel_data_length
        if declared is not None and declared < needed:
            raise UnreadableFileError(
                f"pixel data too short: {declared} bytes declared, {needed} needed for "
                f"frame {frame + 1} of {header.rows}x{header.columns} at "
                f"{header.bits_allocated} bits",
                header.path,
            )
        try:
            # One positioned read straight into the destination: no buffer, no seek, no copy.
            fd = os.open(header.path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
            try:
                got = os.preadv(fd, [out], header.pixel_data_offset + frame * frame_bytes)
            finally:
                os.close(fd)
        except OSError as exc:
            raise UnreadableFileError(
                f"cannot read pixel data ({exc.strerror or exc})", header.path
            ) from exc
        if got != frame_bytes:
            raise UnreadableFileError(
                f"file cut short inside the pixel data: {got} of {frame_bytes} bytes "
                f"of frame {frame + 1}",
                header.path,
            )

    def _read_with_pydicom(self, header: SliceHeader, out: np.ndarray) -> None:
        # Recording (not raising) pydicom's warnings keeps a benign complaint about one header
        # from failing the slice; they are reported with the volume instead. (catch_warnings is
        # process-wide before Python 3.14: another thread's warning raised meanwhile lands here.)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                # Parsing the whole dataset (not pixel_array(path)) also inflates deflated files.
                dataset = self._dataset_of(header.path)
                frame = pixel_array(dataset, index=header.frame_index)
            except (IntervalError, MemoryError):
                raise
            except Exception as exc:
                # pydicom and its plugins fail with many built-in types; for the user they all
                # mean that this one frame cannot be decoded.
                raise UnreadableFileError(
                    f"pixel data cannot be decoded ({exc})", header.path
                ) from exc
        for record in caught:
            self.warnings.append(f"{header.path}: {record.message}")
        if frame.shape != out.shape:
            raise UnreadableFileError(
                f"decoded frame has shape {frame.shape}, expected {out.shape}", header.path
            )
        np.copyto(out, frame, casting="unsafe")

    def _dataset_of(self, path: str) -> pydicom.Dataset:
        if self._dataset_path != path:
            self.close()
            self._dataset = pydicom.dcmread(path)
            self._dataset_path = path
        assert self._dataset is not None
        return self._dataset


INT16_NO_DATA = np.int16(-32768)
"""Marks int16 voxels holding no data while a volume is assembled (replaced before it is returned).

Safe because a real value of -32768 is necessarily the volume minimum, which is what no-data voxels
are finally set to."""

FLOAT_NO_DATA = np.float32(-np.inf)
"""Marks float32 voxels that hold no data while a volume is assembled."""


class ValuesExceedInt16(Exception):
    """Raised by :func:`decode_real` when rescaled values do not fit the int16 destination."""


@dataclass(frozen=True)
class Rescale:
    """The modality LUT of one frame: ``real = slope * stored + intercept``."""

    slope: float
    intercept: float

    @property
    def is_integral(self) -> bool:
        """Whether integer stored values map to integers (so int16 can hold them exactly)."""
        return float(self.slope).is_integer() and float(self.intercept).is_integer()

    def real_range(self, low: int, high: int) -> tuple[float, float]:
        """Real values of the stored values ``low`` and ``high``, smallest first."""
        a = self.slope * low + self.intercept
        b = self.slope * high + self.intercept
        return (a, b) if a <= b else (b, a)


def _wrap16(value: float) -> np.int16:
    """Return the int16 congruent to ``value`` modulo 2**16 (for wrap-around arithmetic)."""
    return np.int16(((int(value) + 0x8000) & 0xFFFF) - 0x8000)


def decode_real(
    reader: FrameReader,
    header: SliceHeader,
    rescale: Rescale,
    dest: np.ndarray,
    scratch: dict[np.dtype, np.ndarray],
    *,
    value_range: bool = True,
) -> tuple[float | None, float | None, int]:
    """Decode one frame into ``dest`` as real values (modality LUT applied).

    Parameters
    ----------
    reader : FrameReader
    header : SliceHeader
    rescale : Rescale
    dest : ndarray of shape (rows, columns), int16 or float32, C-contiguous
        Receives the real values; voxels equal to PixelPaddingValue receive the no-data marker
        (:data:`INT16_NO_DATA` or :data:`FLOAT_NO_DATA`). MONOCHROME1 is inverted.
    scratch : dict
        Reusable per-dtype buffers of one frame, so that no buffer is allocated per slice.
    value_range : bool, optional
        If False, ``low`` and ``high`` are left out (``None``) for a frame without padding whose
        every possible stored value fits the int16 destination after rescale: two passes over the
        frame saved, and the caller can take the minimum from ``dest`` should it need it.

    Returns
    -------
    low, high : float or None
        Smallest and largest real value outside the padding; ``None`` when every voxel is padding,
        or when ``value_range`` is False and the range was not needed.
    padded : int
        Number of padding voxels.

    Raises
    ------
    ValuesExceedInt16
        ``dest`` is int16 and the rescaled values of this frame do not fit (nothing is reported
        as read; decode again into a float32 destination).
    viewer.errors.UnreadableFileError
        The frame cannot be read.
    """
    dtype = stored_dtype(header)
    in_place = dest.dtype == np.int16 and dtype.itemsize == 2
    if in_place:
        raw = dest.view(dtype)
    else:
        raw = scratch.get(dtype)
        if raw is None or raw.shape != dest.shape:
            raw = scratch[dtype] = np.empty(dest.shape, dtype)
    reader.read(header, raw)

    pad = None
    if header.pixel_padding_value is not None:
        pad = (
            raw == raw.dtype.type(header.pixel_padding_value)
            if _representable(header.pixel_padding_value, raw.dtype)
            else None
        )
    padded = int(np.count_nonzero(pad)) if pad is not None else 0
    if padded == 0:
        pad = None
    if header.photometric_interpretation == "MONOCHROME1":
        invert_monochrome1(raw, header)

    low = high = None
    if value_range or pad is not None or not _always_fits_int16(dest, header, rescale):
        real_values = raw[~pad] if pad is not None else raw
        if real_values.size:
            stored_low, stored_high = int(real_values.min()), int(real_values.max())
            low, high = rescale.real_range(stored_low, stored_high)

    if dest.dtype == np.int16:
        if low is not None and (low < -32768 or high > 32767):
            raise ValuesExceedInt16
        if in_place:
            # Wrap-around int16 arithmetic gives the exact result whenever the result fits, which
            # was checked above; this keeps the fast path free of any temporary.
            if rescale.slope != 1:
                dest *= _wrap16(rescale.slope)
            if rescale.intercept != 0:
                dest += _wrap16(rescale.intercept)
        else:
            wide = raw.astype(np.int64)
            wide *= int(rescale.slope)
            wide += int(rescale.intercept)
            np.copyto(dest, wide, casting="unsafe")
        if pad is not None:
            dest[pad] = INT16_NO_DATA
    else:
        # One frame of float64 keeps the rescale exact before the single rounding to float32.
        wide = raw.astype(np.float64)
        wide *= rescale.slope
        wide += rescale.intercept
        np.copyto(dest, wide, casting="same_kind")
        if pad is not None:
            dest[pad] = FLOAT_NO_DATA
    return low, high, padded


def _always_fits_int16(dest: np.ndarray, header: SliceHeader, rescale: Rescale) -> bool:
    """Whether ``dest`` is int16 and every value BitsStored allows maps into it."""
    if dest.dtype != np.int16:
        return False
    low, high = rescale.real_range(*stored_range(header))
    return -32768 <= low and high <= 32767


def _representable(value: int, dtype: np.dtype) -> bool:
    info = np.iinfo(dtype)
    return info.min <= value <= info.max
