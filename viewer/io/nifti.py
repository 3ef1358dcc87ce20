"""NIfTI (.nii, .nii.gz, .hdr/.img) reading and writing.

Reading converts NIfTI's RAS world to DICOM LPS patient coordinates and its ``(i, j, k)`` voxel
order to Interval's ``(slice, row, column) = (k, j, i)``; no axis is flipped, so the array keeps the
file's memory layout and only the affine says where each voxel lies. Headers are validated when a
folder is scanned (:func:`nifti_series_entry`), so a broken file is reported then, not while
scrolling; see :mod:`viewer.io.nifti_header` for the rules.
"""

from __future__ import annotations

import gzip
import os
import re
import uuid
import zlib
from pathlib import Path
from typing import BinaryIO

import nibabel as nib
import numpy as np

from viewer.core.catalog import SeriesEntry
from viewer.core.geometry import LPS2RAS, voxel_spacing
from viewer.core.volume import Volume, VolumeMetadata
from viewer.errors import MemoryBudgetError, SaveError, UnreadableFileError
from viewer.io.nifti_header import (
    IJK2SRC,
    NiftiHeader,
    describe_read_error,
    open_maybe_gzipped,
    parse_header,
)

_CHUNK_BYTES = 1 << 20
_MAX_DEFLATE_RATIO = 1100
_INT16 = np.iinfo(np.int16)
_WRITABLE_DTYPES = {np.dtype(t) for t in ("uint8", "int8", "int16", "uint16", "int32", "uint32")}


def nifti_series_entry(path: str | os.PathLike[str]) -> SeriesEntry:
    """Catalogue a NIfTI file from its header, checking that all its voxel data can be read.

    Parameters
    ----------
    path : path-like

    Returns
    -------
    SeriesEntry
        ``format="nifti"``, ``key`` and ``source`` the absolute path, ``shape`` in (slices, rows,
        columns) = NIfTI (k, j, i), ``frames`` the 4th dimension, no patient or date (NIfTI has
        none).

    Raises
    ------
    viewer.errors.UnreadableFileError
        Not NIfTI, truncated or corrupt (for ``.gz`` the whole stream is decompressed once, without
        keeping it, so a damaged or cut file is found now rather than when viewed).
    viewer.errors.InvalidGeometryError
        No usable voxel-to-world transform.
    """
    absolute = Path(os.path.abspath(path))  # not resolve(): keep the name the user sees
    header = parse_header(absolute)
    _check_data_complete(header)
    spacing = voxel_spacing(header.voxel2patient)
    paths = tuple(dict.fromkeys((str(header.path), str(header.data_path))))
    return SeriesEntry(
        key=str(absolute),
        format="nifti",
        patient_id="",
        patient_name="",
        patient_birth_date=None,
        modality="",
        description=absolute.name,
        series_number=None,
        series_instance_uid="",
        study_instance_uid="",
        study_date=None,
        series_datetime=None,
        shape=header.shape_kji,
        pixel_spacing_mm=(float(spacing[1]), float(spacing[2])),
        slice_thickness_mm=None,
        orientation=header.orientation,
        frames=header.frames,
        warnings=header.warnings,
        paths=paths,
        source=str(absolute),
    )


def nifti_voxel2patient(path: str | os.PathLike[str]) -> np.ndarray:
    """Read the (4, 4) ``voxel2patient`` affine (slice, row, column -> LPS mm) from the header.

    Raises
    ------
    viewer.errors.UnreadableFileError, viewer.errors.InvalidGeometryError
    """
    return parse_header(path).voxel2patient.copy()


def read_nifti(path: str | os.PathLike[str], *, frame: int = 0) -> Volume:
    """Read one 3-D frame of a NIfTI file as a volume in LPS patient space.

    Parameters
    ----------
    path : path-like
    frame : int, optional
        Index along the 4th (time) dimension; only that frame's bytes are kept in memory.

    Returns
    -------
    Volume
        ``array`` of shape (K, J, I) indexed (slice, row, column), holding the real (scaled)
        values: the stored integer dtype when there is no scaling, int16 when the scaling is exact
        and fits, float32 otherwise (never float64). ``metadata.warnings`` carries every header
        problem found (disagreeing qform/sform, no orientation, ignored scaling, NaN voxels).

    Raises
    ------
    viewer.errors.UnreadableFileError
        Truncated or corrupt file, infinite values.
    viewer.errors.InvalidGeometryError
        No usable voxel-to-world transform.
    IndexError
        ``frame`` outside ``0 .. frames - 1``.
    """
    header = parse_header(path)
    if not 0 <= frame < header.frames:
        raise IndexError(f"{header.path}: frame {frame} requested, the file has {header.frames}")
    _check_size_plausible(header)
    stored = _read_frame(header, frame)
    array, value_warnings = _real_values(stored, header)
    array.setflags(write=False)  # a view of the read buffer: Volume would not freeze it itself
    metadata = VolumeMetadata(
        description=header.path.name,
        units="",
        source_paths=tuple(dict.fromkeys((str(header.path), str(header.data_path)))),
        warnings=header.warnings + value_warnings,
    )
    return Volume(array, header.voxel2patient, metadata)


def write_nifti(volume: Volume, path: str | os.PathLike[str]) -> None:
    """Write a volume as a NIfTI-1 file with the same world geometry and the real voxel values.

    The voxel array is stored in NIfTI order ``(i, j, k) = (column, row, slice)`` with a RAS
    affine in both the sform and the qform (code 1, scanner), and spatial units mm. A qform cannot
    hold shear: for a sheared affine (e.g. a gantry-tilted series kept unresampled) the sform holds
    the exact affine, which every reader that follows the standard (nibabel, dcm2niix, ITK with
    sform preference) uses, and the qform the nearest rigid-plus-scaling transform (polar
    decomposition, as nibabel does). int16 stays int16, float32 stays float32, and other integer
    types are kept; no scaling is stored. ``descrip`` is a neutral ``"Interval <modality>"``, never
    a patient identifier. The file is written next to ``path`` and renamed into place, so an
    interrupted write never leaves a half-written ``path``.

    Parameters
    ----------
    volume : Volume
    path : path-like
        Ends in ``.nii`` or ``.nii.gz`` (gzip-compressed).

    Raises
    ------
    viewer.errors.SaveError
        Bad file name, or the file cannot be written (the message names the path and why).
    """
    path = Path(path)
    lower = path.name.lower()
    if not lower.endswith((".nii", ".nii.gz")):
        raise SaveError("a NIfTI file name must end in .nii or .nii.gz", path)
    suffix = ".nii.gz" if lower.endswith(".gz") else ".nii"
    data = _writable_array(volume.array, path).transpose(2, 1, 0)
    ras = LPS2RAS @ volume.voxel2patient @ IJK2SRC
    image = nib.Nifti1Image(data, ras)
    image.set_sform(ras, code="scanner")
    image.set_qform(ras, code="scanner")  # shear is stripped: nearest rigid + zooms
    image.header.set_data_dtype(data.dtype)
    image.header.set_xyzt_units("mm", "sec")
    image.header["descrip"] = _neutral_description(volume.metadata.modality).encode("ascii")
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp{suffix}")
    try:
        nib.save(image, temporary)
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise SaveError(f"cannot write ({exc.strerror or exc})", path) from exc


def _check_data_complete(header: NiftiHeader) -> None:
    """Make sure every voxel byte exists; for gzip also that the stream is intact (CRC, length)."""
    try:
        if not header.data_gzipped:
            available = header.data_path.stat().st_size
        else:
            available = 0
            with gzip.open(header.data_path, "rb") as fh:
                # Reading to the end makes gzip verify the CRC and length of every member.
                while chunk := fh.read(_CHUNK_BYTES):
                    available += len(chunk)
    except (OSError, EOFError, zlib.error) as exc:
        raise UnreadableFileError(describe_read_error(exc), header.data_path) from exc
    if available < header.data_end:
        raise UnreadableFileError(_truncated(header, available), header.data_path)


def _check_size_plausible(header: NiftiHeader) -> None:
    """Refuse, before allocating anything, a header that promises more data than the file holds."""
    try:
        size = header.data_path.stat().st_size
    except OSError as exc:
        raise UnreadableFileError(describe_read_error(exc), header.data_path) from exc
    if not header.data_gzipped and header.data_end > size:
        raise UnreadableFileError(_truncated(header, size), header.data_path)
    # deflate expands at most ~1032:1, so a gzip file cannot hold more than that
    if header.data_gzipped and header.data_end > size * _MAX_DEFLATE_RATIO:
        raise UnreadableFileError(
            f"the header promises {header.data_end:,} bytes of voxel data, more than a "
            f"{size:,}-byte gzip file can hold: truncated file or corrupt header",
            header.data_path,
        )


def _truncated(header: NiftiHeader, available: int) -> str:
    return (
        f"truncated: the header promises voxel data up to byte {header.data_end:,} "
        f"but the {'decompressed ' if header.data_gzipped else ''}file has {available:,} bytes"
    )


def _read_frame(header: NiftiHeader, frame: int) -> np.ndarray:
    """Read one frame's stored values (native byte order), shape (K, J, I), and no other frame."""
    try:
        buffer = np.empty(header.frame_bytes, dtype=np.uint8)
    except (MemoryError, ValueError) as exc:
        raise MemoryBudgetError(
            f"one frame needs {header.frame_bytes / 2**30:.1f} GiB, more than is available",
            header.data_path,
        ) from exc
    try:
        fh, gzipped = open_maybe_gzipped(header.data_path)
        with fh:
            fh.seek(header.data_offset + frame * header.frame_bytes)
            got = _read_into(fh, memoryview(buffer))
            if gzipped:
                while fh.read(_CHUNK_BYTES):
                    pass  # reach the end so that gzip checks the CRC of what we kept
    except (OSError, EOFError, zlib.error) as exc:
        raise UnreadableFileError(describe_read_error(exc), header.data_path) from exc
    if got < header.frame_bytes:
        missing_from = header.data_offset + frame * header.frame_bytes + got
        raise UnreadableFileError(_truncated(header, missing_from), header.data_path)
    values = buffer.view(header.stored_dtype)
    if not values.dtype.isnative:
        values = values.astype(values.dtype.newbyteorder("="))
    return values.reshape(header.shape_kji)


def _read_into(fh: BinaryIO, target: memoryview) -> int:
    done = 0
    while done < len(target):
        got = fh.readinto(target[done : done + _CHUNK_BYTES])
        if not got:
            break
        done += got
    return done


def _real_values(stored: np.ndarray, header: NiftiHeader) -> tuple[np.ndarray, tuple[str, ...]]:
    """Apply the header's scaling, choosing the smallest exact dtype (never float64)."""
    with np.errstate(over="ignore", invalid="ignore"):  # overflow becomes inf, refused below
        values = _scaled(stored, header.slope, header.intercept)
    warnings: list[str] = []
    if values.dtype.kind == "f":
        infinite = int(np.count_nonzero(np.isinf(values)))
        if infinite:
            raise UnreadableFileError(
                f"{infinite} voxels are infinite (or overflow 32-bit floats): values unusable",
                header.data_path,
            )
        missing = int(np.count_nonzero(np.isnan(values)))
        if missing:
            warnings.append(f"{missing} voxels have no value (NaN)")
    return values, tuple(warnings)


def _scaled(stored: np.ndarray, slope: float | None, intercept: float | None) -> np.ndarray:
    if slope is None or intercept is None:
        values = _identity_values(stored)
    elif (
        stored.dtype.kind in "iu"
        and float(slope).is_integer()
        and float(intercept).is_integer()
        and _fits_int16(stored, slope, intercept)
    ):
        # int32 arithmetic is exact for 8/16-bit data and moderate factors; int64 otherwise
        small = stored.dtype.itemsize <= 2 and abs(slope) < 2**14 and abs(intercept) < 2**30
        wide = stored.astype(np.int32 if small else np.int64)
        wide *= int(slope)
        wide += int(intercept)
        values = wide.astype(np.int16)
    else:
        values = stored.astype(np.float32)
        values *= np.float32(slope)
        values += np.float32(intercept)
    return values


def _identity_values(stored: np.ndarray) -> np.ndarray:
    if stored.dtype.kind == "f":
        return stored.astype(np.float32, copy=False)
    if stored.dtype.itemsize <= 4:
        return stored
    # 64-bit integers: the narrowest exact type that holds them
    if stored.size == 0 or (
        stored.min() >= np.iinfo(np.int32).min and stored.max() <= np.iinfo(np.int32).max
    ):
        return stored.astype(np.int32)
    return stored.astype(np.float32)


def _fits_int16(stored: np.ndarray, slope: float, intercept: float) -> bool:
    if stored.size == 0:
        return True
    ends = np.array([stored.min(), stored.max()], dtype=np.float64) * slope + intercept
    return bool(ends.min() >= _INT16.min and ends.max() <= _INT16.max)


def _writable_array(array: np.ndarray, path: Path) -> np.ndarray:
    if array.dtype in _WRITABLE_DTYPES or array.dtype == np.float32:
        return array
    if array.dtype == np.bool_:
        return array.astype(np.uint8)
    if array.dtype.kind == "f":
        return array.astype(np.float32)
    if array.dtype.kind in "iu" and (
        array.size == 0
        or (array.min() >= np.iinfo(np.int32).min and array.max() <= np.iinfo(np.int32).max)
    ):
        return array.astype(np.int32)
    raise SaveError(f"voxels of type {array.dtype} cannot be written as NIfTI", path)


def _neutral_description(modality: str) -> str:
    # Only a plain modality code (CT, MR, PT...) is written: anything else might identify someone.
    if re.fullmatch(r"[A-Z]{2,4}", modality or ""):
        return f"Interval {modality}"
    return "Interval"
