"""The DICOM file header of a received instance, encoded directly (PS3.10 7.1).

A C-STORE carries the dataset without the file meta information; writing it as a file needs the
128-byte preamble, ``DICM`` and the group 0002 elements. pydicom's general writer takes about a
millisecond for these few elements, as long as the rest of receiving an image, so they are
encoded here: explicit VR little endian, values padded to even length as PS3.5 requires.
"""

from __future__ import annotations

import struct

from pynetdicom import PYNETDICOM_IMPLEMENTATION_UID, PYNETDICOM_IMPLEMENTATION_VERSION

PREAMBLE = b"\x00" * 128 + b"DICM"
_LONG_VRS = frozenset({b"OB", b"OW", b"OF", b"SQ", b"UT", b"UN"})


def file_header(
    sop_class_uid: str, sop_instance_uid: str, transfer_syntax_uid: str, source_ae_title: str = ""
) -> bytes:
    """Preamble, ``DICM`` prefix and file meta information for one instance.

    Parameters
    ----------
    sop_class_uid, sop_instance_uid, transfer_syntax_uid : str
        From the C-STORE request and its presentation context.
    source_ae_title : str
        The AE title that sent the instance (recorded as SourceApplicationEntityTitle).

    Returns
    -------
    bytes
        To be followed by the dataset, encoded in ``transfer_syntax_uid``.

    Examples
    --------
    >>> from io import BytesIO
    >>> import pydicom
    >>> header = file_header("1.2.840.10008.5.1.4.1.1.2", "1.2.3.4", "1.2.840.10008.1.2.1", "PACS")
    >>> meta = pydicom.dcmread(BytesIO(header)).file_meta
    >>> str(meta.MediaStorageSOPInstanceUID), meta.SourceApplicationEntityTitle
    ('1.2.3.4', 'PACS')
    """
    elements = [
        _element(0x0001, b"OB", b"\x00\x01"),
        _element(0x0002, b"UI", _uid(sop_class_uid)),
        _element(0x0003, b"UI", _uid(sop_instance_uid)),
        _element(0x0010, b"UI", _uid(transfer_syntax_uid)),
        _element(0x0012, b"UI", _uid(PYNETDICOM_IMPLEMENTATION_UID)),
        _element(0x0013, b"SH", _text(PYNETDICOM_IMPLEMENTATION_VERSION)),
    ]
    if source_ae_title.strip():
        elements.append(_element(0x0016, b"AE", _text(source_ae_title.strip())))
    body = b"".join(elements)
    group_length = _element(0x0000, b"UL", struct.pack("<I", len(body)))
    return PREAMBLE + group_length + body


def _element(element: int, vr: bytes, value: bytes) -> bytes:
    if vr in _LONG_VRS:
        return struct.pack("<HH2sHI", 0x0002, element, vr, 0, len(value)) + value
    return struct.pack("<HH2sH", 0x0002, element, vr, len(value)) + value


def _uid(text: str) -> bytes:
    raw = str(text).strip().encode("ascii")
    return raw + b"\x00" if len(raw) % 2 else raw


def _text(text: str) -> bytes:
    raw = str(text).encode("ascii")
    return raw + b" " if len(raw) % 2 else raw
