"""Recognise a file's format from its first bytes, never from its name."""

from __future__ import annotations

import enum
import gzip
import os
import zlib
from pathlib import Path

HEAD_BYTES = 16384
"""Bytes :func:`read_head` reads: a whole classic DICOM header in most files, so that the header
reader can work from them without opening the file again."""


class FileKind(enum.Enum):
    """What a file is, as far as Interval is concerned."""

    DICOM = "dicom"
    NIFTI = "nifti"
    OTHER = "other"


_NIFTI_MAGICS = (b"n+1\x00", b"ni1\x00", b"n+2\x00", b"ni2\x00")
_KNOWN_SIGNATURES = {
    b"\xff\xd8\xff": "a JPEG image, not DICOM",
    b"\x89PNG": "a PNG image, not DICOM",
    b"%PDF": "a PDF document, not DICOM",
    b"\x00\x00\x00\x01Bud1": "a macOS .DS_Store file",
    b"PK\x03\x04": "a ZIP archive (unpack it first)",
}


def read_head(path: str | os.PathLike[str]) -> tuple[bytes | None, str]:
    """Read the first :data:`HEAD_BYTES` bytes of a file (all of it when shorter).

    Returns
    -------
    head : bytes or None
        ``None`` when the file cannot be read.
    reason : str
        Why it cannot be read; ``""`` otherwise.
    """
    try:
        with open(path, "rb") as fh:
            return fh.read(HEAD_BYTES), ""
    except OSError as exc:
        return None, f"cannot be read ({exc.strerror or exc})"


def sniff(path: str | os.PathLike[str], *, head: bytes | None = None) -> tuple[FileKind, str]:
    """Classify a file by content.

    Parameters
    ----------
    path : path-like
    head : bytes, optional
        The file's first bytes from :func:`read_head`, when already read.

    Returns
    -------
    kind : FileKind
    reason : str
        Why an ``OTHER`` file is not an image (empty, JPEG, random bytes...); ``""`` otherwise.
    """
    path = path if isinstance(path, Path) else Path(path)
    if head is None:
        head, reason = read_head(path)
        if head is None:
            return FileKind.OTHER, reason
    if not head:
        return FileKind.OTHER, "empty file"
    if len(head) >= 132 and head[128:132] == b"DICM":
        return FileKind.DICOM, ""
    if head[:2] == b"\x1f\x8b":
        return _sniff_gzip(path)
    if _is_nifti_header(head):
        return FileKind.NIFTI, ""
    for signature, reason in _KNOWN_SIGNATURES.items():
        if head.startswith(signature):
            return FileKind.OTHER, reason
    if _looks_like_headerless_dicom(head):
        return FileKind.DICOM, ""
    if path.suffix.lower() == ".img" and path.with_suffix(".hdr").exists():
        return (
            FileKind.OTHER,
            f"voxel data of a NIfTI pair, read through {path.with_suffix('.hdr').name}",
        )
    if path.name.lower().endswith((".nii", ".nii.gz", ".hdr")):
        return FileKind.NIFTI, ""  # let the NIfTI reader say precisely what is wrong
    return FileKind.OTHER, "not a DICOM or NIfTI file (no DICM prefix, no known header)"


def _sniff_gzip(path: Path) -> tuple[FileKind, str]:
    try:
        with gzip.open(path, "rb") as fh:
            head = fh.read(352)
    except (OSError, EOFError, zlib.error):
        if path.name.lower().endswith(".nii.gz"):
            return FileKind.NIFTI, ""  # corrupt; the NIfTI reader names the problem
        return FileKind.OTHER, "a corrupt gzip file"
    if _is_nifti_header(head) or path.name.lower().endswith(".nii.gz"):
        return FileKind.NIFTI, ""
    return FileKind.OTHER, "a gzip file that does not hold a NIfTI image"


def _is_nifti_header(head: bytes) -> bool:
    return (len(head) >= 348 and head[344:348] in _NIFTI_MAGICS) or (
        len(head) >= 8 and head[4:8] in _NIFTI_MAGICS
    )


def _looks_like_headerless_dicom(head: bytes) -> bool:
    """Old DICOM files lack the 128-byte preamble: they start with a group 0008 element."""
    if len(head) < 8:
        return False
    group_le = int.from_bytes(head[0:2], "little")
    group_be = int.from_bytes(head[0:2], "big")
    if group_le == 0x0008 or (group_le == 0x0002 and head[4:6] in (b"UL", b"OB")):
        # explicit VR has a two-letter VR at offset 4; implicit VR has a 4-byte length there
        return True
    return group_be == 0x0008 and head[4:6].isalpha()
