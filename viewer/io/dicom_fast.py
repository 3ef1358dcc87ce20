"""The fast lane of DICOM header scanning: a few dozen values straight from the file's bytes.

pydicom parses every element of a header and then converts values through keyword lookups; for a
folder of thousands of classic slices that is most of the time a scan takes. This module walks the
elements of the common case -- a Part 10 file (``DICM`` prefix) whose dataset is explicit or
implicit VR little endian, with native or encapsulated pixel data -- skipping every element it does
not need by its length (sequences of defined or undefined length, items and delimiters included),
recording where the pixel data starts, and converting only the wanted values, exactly as pydicom 3
converts them (same splitting, stripping, number parsing and character decoding).

It never judges a file. Anything it does not fully understand -- big endian, deflate, a command
set, an unknown or unexpected VR, an undefined length outside a sequence, a non-Latin character set
with non-ASCII text, a name with ideographic/phonetic parts, an element running past the end of the
file, nesting deeper than :data:`MAX_DEPTH` -- makes it *decline* (return ``None``), and the caller
reads the file with pydicom, which stays the reference and names any problem. It only reads what the
file holds: the buffer grows by doubling, up to the file size, never by a declared length.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.uid import AllTransferSyntaxes, ImplicitVRLittleEndian, PrivateTransferSyntaxes
from pydicom.valuerep import EXPLICIT_VR_LENGTH_32

from viewer.io.sniff import HEAD_BYTES

MAX_DEPTH = 16
"""Deepest sequence nesting walked; deeper files are left to pydicom."""

_PREAMBLE = 128
_UNDEFINED = 0xFFFFFFFF
_ITEM = 0xFFFEE000
_ITEM_END = 0xFFFEE00D
_SEQUENCE_END = 0xFFFEE0DD
_PIXEL_TAGS = frozenset({0x7FE00010, 0x7FE00008, 0x7FE00009})
"""Where pydicom's ``stop_before_pixels`` stops (PixelData, Float and Double Float Pixel Data)."""
_PIXEL_VRS = frozenset({b"OB", b"OW", b"OD", b"OF", b"UN"})
_LONG_VRS = frozenset(str(vr).encode() for vr in EXPLICIT_VR_LENGTH_32)
_SHORT_VRS = frozenset(
    {b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FD", b"FL", b"IS", b"LO", b"LT", b"PN"}
    | {b"SH", b"SL", b"SS", b"ST", b"TM", b"UI", b"UL", b"US"}
)
_EXPLICIT = struct.Struct("<HH2sH").unpack_from
_IMPLICIT = struct.Struct("<HHL").unpack_from
_LENGTH32 = struct.Struct("<L").unpack_from

_EXPLICIT_LE_SYNTAXES = frozenset(
    str(uid)
    for uid in AllTransferSyntaxes
    if uid.is_little_endian and not uid.is_implicit_VR and not uid.is_deflated
) - frozenset(str(uid) for uid in PrivateTransferSyntaxes)
"""Syntaxes whose dataset is explicit VR little endian as written (native and encapsulated)."""

_CHARSETS = {"": "latin-1", "ISO_IR 6": "latin-1", "ISO_IR 100": "latin-1", "ISO_IR 192": "utf-8"}
"""Specific Character Sets decoded here (as pydicom does: latin-1 is its default); with any other,
non-ASCII text declines."""
_CHARSET_TAG = 0x00080005
_PIXEL_REPRESENTATION_TAG = 0x00280103
_US_OR_SS = b"US or SS"
_CONVERTED: dict[tuple[bytes, bytes, str | None], Any] = {}
"""Converted values by (VR, bytes, text encoding). Values are shared between datasets: read-only."""
_CONVERTED_MAX = 20_000
_META_KEYWORDS = ("TransferSyntaxUID", "MediaStorageSOPClassUID", "MediaStorageSOPInstanceUID")


class _Decline(Exception):
    """The fast lane cannot vouch for this file: pydicom must read it."""


class _NeedMore(Exception):
    """The header continues past the bytes read so far."""


@dataclass(frozen=True)
class TagTable:
    """The elements the fast lane converts, by tag: ``tag -> (keyword, dictionary VR as bytes)``."""

    wanted: dict[int, tuple[str, bytes]]
    flagged: dict[int, str]
    """Sequences whose presence is recorded (as ``keyword -> True``) without reading them."""


def tag_table(keywords: Iterable[str], flagged: Iterable[str] = ()) -> TagTable:
    """Build the lookup table for :func:`parse_header`.

    Parameters
    ----------
    keywords : iterable of str
        DICOM keywords of the dataset (not file meta) values to convert.
    flagged : iterable of str
        Keywords (usually sequences) whose mere presence the caller needs to know.

    Examples
    --------
    >>> table = tag_table(["Rows", "PixelSpacing"])
    >>> sorted(keyword for keyword, _ in table.wanted.values())
    ['MediaStorageSOPClassUID', 'MediaStorageSOPInstanceUID', 'PixelSpacing', 'Rows', \
'SpecificCharacterSet', 'TransferSyntaxUID']
    """
    wanted = {}
    for keyword in (*keywords, *_META_KEYWORDS, "SpecificCharacterSet"):
        tag = tag_for_keyword(keyword)
        if tag is None:
            raise ValueError(f"unknown DICOM keyword {keyword!r}")
        wanted[tag] = (keyword, str(dictionary_VR(tag)).encode())
    return TagTable(wanted, {tag_for_keyword(k): k for k in flagged})  # type: ignore[misc]


class FastDataset(dict):  # type: ignore[type-arg]
    """Converted values by keyword, with ``file_meta`` beside them as on a pydicom Dataset.

    Values have the types pydicom gives (``str``/``int``/``float``, or a ``list`` of them for a
    multi-valued element); an element pydicom could not convert, or an empty one, is ``None``.
    Values may be shared with other datasets: never modify them.
    """

    file_meta: FastDataset


@dataclass(frozen=True)
class FastHeader:
    """What :func:`parse_header` found."""

    dataset: FastDataset
    file_size: int
    """Bytes in the file."""
    pixel_element: tuple[int, int, int | None]
    """(tag, byte offset of the value in the file, value length in bytes; ``None`` if undefined)."""


def parse_header(
    path: str | os.PathLike[str], table: TagTable, head: bytes | None = None
) -> FastHeader | None:
    """Read the wanted values of a classic DICOM file, or decline.

    Parameters
    ----------
    path : path-like
    table : TagTable
        From :func:`tag_table`.
    head : bytes, optional
        The first bytes of the file, when the caller has read them already (e.g. to sniff it).

    Returns
    -------
    FastHeader or None
        ``None`` when the file is not of the simple kind this lane handles (or cannot be read):
        the caller then parses it with pydicom.
    """
    try:
        file_size = os.stat(path).st_size
        if head is None:
            with open(path, "rb") as fh:
                head = fh.read(HEAD_BYTES)
        buffer = head
        while True:
            try:
                dataset, pixel_element = _parse(buffer, file_size, table)
                return FastHeader(dataset, file_size, pixel_element)
            except _NeedMore:
                if len(buffer) >= file_size:
                    return None  # the file changed under us; let pydicom tell
                with open(path, "rb") as fh:
                    buffer = fh.read(min(file_size, 4 * max(len(buffer), HEAD_BYTES)))
    except (_Decline, OSError, UnicodeDecodeError, struct.error):
        return None


def _parse(
    buf: bytes, file_size: int, table: TagTable
) -> tuple[FastDataset, tuple[int, int, int | None]]:
    if len(buf) < _PREAMBLE + 4 or buf[_PREAMBLE : _PREAMBLE + 4] != b"DICM":
        raise _Decline
    meta_raw: dict[int, tuple[bytes, bytes]] = {}
    pos = _walk_meta(buf, _PREAMBLE + 4, file_size, table, meta_raw)
    meta = FastDataset()
    for tag, (vr, value) in meta_raw.items():
        meta[table.wanted[tag][0]] = _convert(vr, value, None)
    syntax = meta.get("TransferSyntaxUID")
    if syntax == ImplicitVRLittleEndian:
        implicit = True
    elif isinstance(syntax, str) and syntax in _EXPLICIT_LE_SYNTAXES:
        implicit = False
    else:
        raise _Decline  # big endian, deflate, private, missing or unknown
    raw: dict[int, tuple[bytes, bytes]] = {}
    flagged: set[str] = set()
    _check_dataset_start(buf, pos, file_size, implicit)
    pixel = _walk_dataset(buf, pos, file_size, implicit, table, raw, flagged)

    encoding = _text_encoding(raw.get(_CHARSET_TAG))
    dataset = FastDataset()
    dataset.file_meta = meta
    if len(_CONVERTED) > _CONVERTED_MAX:
        _CONVERTED.clear()
    for tag, (vr, value) in raw.items():
        if vr == _US_OR_SS:
            vr = _resolve_us_or_ss(raw)
        # The slices of a series repeat most values byte for byte: convert each once.
        key = (vr, value, encoding)
        converted = _CONVERTED.get(key, _CONVERTED)
        if converted is _CONVERTED:
            converted = _CONVERTED[key] = _convert(vr, value, encoding)
        dataset[table.wanted[tag][0]] = converted
    for keyword in flagged:
        dataset[keyword] = True
    return dataset, pixel


def _need(buf: bytes, end: int, file_size: int) -> None:
    """Make sure ``buf[:end]`` is there: ask for more, or decline at the end of the file."""
    if end > len(buf):
        if len(buf) >= file_size or end > file_size:
            raise _Decline
        raise _NeedMore


def _walk_meta(
    buf: bytes, pos: int, file_size: int, table: TagTable, raw: dict[int, tuple[bytes, bytes]]
) -> int:
    """Read the file meta group (explicit VR little endian); return where the dataset starts."""
    wanted = table.wanted
    while True:
        _need(buf, pos + 8, file_size)
        group, element, vr, length = _EXPLICIT(buf, pos)
        if group != 2:
            return pos
        start = pos + 8
        if vr in _LONG_VRS:
            _need(buf, pos + 12, file_size)
            (length,) = _LENGTH32(buf, pos + 8)
            start = pos + 12
        elif vr not in _SHORT_VRS:
            raise _Decline  # not explicit VR: pydicom re-reads it as implicit
        if length == _UNDEFINED:
            raise _Decline
        end = start + length
        tag = group << 16 | element
        if tag in wanted:
            _need(buf, end, file_size)
            if vr != wanted[tag][1]:
                raise _Decline
            raw[tag] = (vr, buf[start:end])
        pos = end


def _check_dataset_start(buf: bytes, pos: int, file_size: int, implicit: bool) -> None:
    """Decline a dataset that is not encoded as its transfer syntax says, or is a command set.

    pydicom would switch encoding with a warning; the fast lane leaves such files to it.
    """
    _need(buf, pos + 6, file_size)
    if buf[pos : pos + 2] == b"\x00\x00":
        raise _Decline  # command set group (0000,eeee)
    looks_implicit = not (0x40 < buf[pos + 4] < 0x5B and 0x40 < buf[pos + 5] < 0x5B)
    if looks_implicit != implicit:
        raise _Decline


def _walk_dataset(
    buf: bytes,
    pos: int,
    file_size: int,
    implicit: bool,
    table: TagTable,
    raw: dict[int, tuple[bytes, bytes]],
    flagged: set[str],
) -> tuple[int, int, int | None]:
    """Walk the top-level elements up to the pixel data; return (tag, value offset, length)."""
    wanted, flag_tags = table.wanted.get, table.flagged
    size = len(buf)
    while True:
        if pos + 12 > size:
            _need(buf, pos + 12, file_size)
        if implicit:
            group, element, length = _IMPLICIT(buf, pos)
            vr = b""
            start = pos + 8
        else:
            group, element, vr, length = _EXPLICIT(buf, pos)
            if vr in _LONG_VRS:
                (length,) = _LENGTH32(buf, pos + 8)
                start = pos + 12
            elif vr in _SHORT_VRS:
                start = pos + 8
            else:
                raise _Decline
        tag = group << 16 | element
        if tag in _PIXEL_TAGS:
            return _pixel_element(buf, pos, file_size, implicit, tag)
        if group == 0xFFFE or group == 2:
            raise _Decline  # a delimiter ends pydicom's dataset here; meta out of place
        entry = wanted(tag)
        if length == _UNDEFINED:
            if entry is not None:
                raise _Decline
            if tag in flag_tags:
                flagged.add(flag_tags[tag])
            pos = _skip_undefined(buf, start, file_size, implicit, vr, tag, 0)
            continue
        pos = start + length
        if entry is not None:
            if pos > size:
                _need(buf, pos, file_size)
            expected = entry[1]
            if implicit:
                vr = expected
            elif vr != expected and not (expected == _US_OR_SS and vr in (b"US", b"SS")):
                raise _Decline  # a VR other than the dictionary's converts differently
            raw[tag] = (vr, buf[start:pos])
        elif pos > file_size:
            raise _Decline  # runs past the end of the file: pydicom names it
        elif tag in flag_tags:
            flagged.add(flag_tags[tag])


def _pixel_element(
    buf: bytes, pos: int, file_size: int, implicit: bool, tag: int
) -> tuple[int, int, int | None]:
    if implicit:
        _need(buf, pos + 8, file_size)
        (length,) = _LENGTH32(buf, pos + 4)
        offset = pos + 8
    else:
        _need(buf, pos + 12, file_size)
        if buf[pos + 4 : pos + 6] not in _PIXEL_VRS:
            raise _Decline
        (length,) = _LENGTH32(buf, pos + 8)
        offset = pos + 12
    return tag, offset, None if length == _UNDEFINED else length


def _skip_undefined(
    buf: bytes, start: int, file_size: int, implicit: bool, vr: bytes, tag: int, depth: int
) -> int:
    """Skip an element of undefined length that pydicom reads as a sequence; return its end."""
    if implicit:
        try:
            is_sequence = dictionary_VR(tag) == "SQ"
        except KeyError:
            # pydicom looks ahead for an item to tell a private sequence
            _need(buf, start + 4, file_size)
            is_sequence = _IMPLICIT(buf, start)[:2] == (0xFFFE, 0xE000)
    else:
        is_sequence = vr in (b"SQ", b"UN")
    if not is_sequence:
        raise _Decline  # pydicom scans for a delimiter; rare enough to leave to it
    return _skip_sequence(buf, start, file_size, implicit, depth + 1)


def _skip_sequence(buf: bytes, pos: int, file_size: int, implicit: bool, depth: int) -> int:
    """Walk the items of an undefined-length sequence; return the position after its delimiter."""
    if depth > MAX_DEPTH:
        raise _Decline
    while True:
        _need(buf, pos + 8, file_size)
        group, element, length = _IMPLICIT(buf, pos)
        tag = group << 16 | element
        pos += 8
        if tag == _SEQUENCE_END:
            return pos
        if tag != _ITEM:
            raise _Decline
        if length == _UNDEFINED:
            pos = _walk_item(buf, pos, None, file_size, implicit, depth)
        else:
            end = pos + length
            if end > file_size:
                raise _Decline
            pos = _walk_item(buf, pos, end, file_size, implicit, depth)


def _walk_item(
    buf: bytes, pos: int, end: int | None, file_size: int, implicit: bool, depth: int
) -> int:
    """Walk the elements of one item (to ``end``, or to its delimiter when ``end`` is None).

    Like pydicom, an item of an explicit VR dataset is read as implicit VR when its first element
    does not start with a VR (allowed inside sequences, PS3.5 6.2.2).
    """
    if not implicit:
        _need(buf, pos + 6, file_size)
        implicit = not (0x40 < buf[pos + 4] < 0x5B and 0x40 < buf[pos + 5] < 0x5B)
    while True:
        if end is not None and pos >= end:
            if pos != end:
                raise _Decline  # an element overran its item
            return pos
        _need(buf, pos + 8, file_size)
        if implicit:
            group, element, length = _IMPLICIT(buf, pos)
            vr = b""
            start = pos + 8
        else:
            group, element, vr, length = _EXPLICIT(buf, pos)
            start = pos + 8
            if group == 0xFFFE:
                (length,) = _LENGTH32(buf, pos + 4)
            elif vr in _LONG_VRS:
                _need(buf, pos + 12, file_size)
                (length,) = _LENGTH32(buf, pos + 8)
                start = pos + 12
            elif vr not in _SHORT_VRS:
                raise _Decline
        tag = group << 16 | element
        if tag == _ITEM_END and end is None:
            return start
        if group == 0xFFFE:
            raise _Decline
        if length == _UNDEFINED:
            pos = _skip_undefined(buf, start, file_size, implicit, vr, tag, depth)
            continue
        pos = start + length
        if pos > file_size:
            raise _Decline


# --- values, converted as pydicom 3 converts them (pydicom/values.py, valuerep.py) ---


def _resolve_us_or_ss(raw: dict[int, tuple[bytes, bytes]]) -> bytes:
    """Implicit VR PixelPaddingValue: signed when PixelRepresentation is 1 (as pydicom decides)."""
    element = raw.get(_PIXEL_REPRESENTATION_TAG)
    representation = _convert(*element, None) if element is not None else None
    if representation == 0:
        return b"US"
    if representation == 1:
        return b"SS"
    raise _Decline


def _text_encoding(charset: tuple[bytes, bytes] | None) -> str | None:
    """Python codec for text VRs, or ``None`` when only ASCII text can be decoded here."""
    if charset is None:
        return "latin-1"
    value = _strings(charset[1])
    return _CHARSETS.get(value) if isinstance(value, str) else None


def _decode(value: bytes, encoding: str | None) -> str:
    if value.isascii() and b"\x1b" not in value:
        return value.decode("ascii")  # the same in every character set pydicom knows
    if encoding is None or b"\x1b" in value:
        raise _Decline  # ISO 2022 escapes or a multi-byte set: pydicom's business
    return value.decode(encoding)  # a UnicodeDecodeError declines


def _strings(value: bytes) -> str | list[str]:
    """AE, AS, CS, DA, DT, TM: latin-1, trailing padding removed, split at backslashes."""
    text = value.decode("latin-1").rstrip(" \x00")
    return text.split("\\") if "\\" in text else text


def _uids(value: bytes) -> str | list[str]:
    text = value.decode("latin-1").rstrip("\x00 ")
    if "\\" not in text:
        return text.strip()
    return [part.strip() for part in text.split("\\")]


def _texts(value: bytes, encoding: str | None) -> str | list[str]:
    """SH, LO, UC: decoded in the character set, each value's trailing padding removed."""
    text = _decode(value, encoding)
    if "\\" not in text:
        return text.rstrip("\x00 ")
    return [part.rstrip("\x00 ") for part in text.split("\\")]


def _person_names(value: bytes, encoding: str | None) -> str | list[str]:
    text = _decode(value.rstrip(b"\x00 "), encoding)
    if "=" in text:
        raise _Decline  # component groups are rewritten by PersonName
    return text.split("\\") if "\\" in text else text


def _decimal(part: str) -> float | str:
    return part if part.strip() == "" else float(part)


def _integer(part: str) -> int | float | str:
    if part.strip() == "":
        return part
    try:
        number: int = int(part)
    except ValueError:
        number = int(float(part))  # "1.0" is accepted when no information is lost
    exact = float(part)
    return exact if number != exact else number


def _binary(value: bytes, code: str, size: int) -> int | float | list[Any]:
    count, odd = divmod(len(value), size)
    if odd:
        raise _Decline  # pydicom refuses the length: leave the wording to it
    numbers = struct.unpack(f"<{count}{code}", value)
    return numbers[0] if count == 1 else list(numbers)


def _decimals(value: bytes, encoding: str | None) -> Any:
    text = value.decode("latin-1").strip().rstrip(" \x00")
    try:
        if "\\" not in text:
            return _decimal(text)
        return [_decimal(part) for part in text.split("\\")]
    except ValueError:
        return _texts(value, encoding)  # pydicom retries a number it cannot parse as text (SH)
    except OverflowError:
        return None  # pydicom raises on access: the scanner reads it as absent


def _integers(value: bytes, encoding: str | None) -> Any:
    text = value.decode("latin-1").rstrip(" \x00")
    try:
        if "\\" not in text:
            return _integer(text)
        return [_integer(part) for part in text.split("\\")]
    except ValueError:
        return _texts(value, encoding)
    except OverflowError:
        return None


_CONVERTERS: dict[bytes, Callable[[bytes, str | None], Any]] = {
    b"DS": _decimals,
    b"IS": _integers,
    b"UI": lambda value, _: _uids(value),
    b"LO": _texts,
    b"SH": _texts,
    b"UC": _texts,
    b"PN": _person_names,
    b"US": lambda value, _: _binary(value, "H", 2),
    b"SS": lambda value, _: _binary(value, "h", 2),
    b"FD": lambda value, _: _binary(value, "d", 8),
    **dict.fromkeys((b"CS", b"DA", b"TM", b"DT", b"AS", b"AE"), lambda value, _: _strings(value)),
}


def _convert(vr: bytes, value: bytes, encoding: str | None) -> Any:
    """Return the value pydicom's ``Dataset.get`` returns for this element.

    ``None`` where pydicom returns an empty value or raises: the scanner reads both as absent.
    """
    if not value:
        return None
    converter = _CONVERTERS.get(vr)
    if converter is None:
        raise _Decline
    return converter(value, encoding)
