"""Parse and validate a NIfTI-1/NIfTI-2 header into Interval's geometry, before any voxel is read.

Everything that can be wrong with a NIfTI file's header is found here, at scan time, and reported
with the file name: bad magic, truncated header, unusable spacing, disagreeing qform and sform,
invalid scaling. Voxel reading (:mod:`viewer.io.nifti`) then only has to move bytes.

Axis convention: NIfTI stores voxel ``(i, j, k)`` with ``i`` fastest and maps it to RAS millimetres.
Interval's array axes are ``(slice, row, column) = (k, j, i)``, which is the same memory layout read
in C order, and its ``voxel2patient`` maps to LPS millimetres.
"""

from __future__ import annotations

import gzip
import itertools
import math
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from nibabel.nifti1 import Nifti1Header
from nibabel.nifti2 import Nifti2Header
from nibabel.spatialimages import HeaderDataError
from nibabel.volumeutils import shape_zoom_affine

from viewer.core.geometry import LPS2RAS
from viewer.errors import InvalidGeometryError, UnreadableFileError

IJK2SRC = np.array(
    [[0, 0, 1, 0], [0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1]],
    dtype=np.float64,
)
"""(4, 4) permutation mapping Interval's ``(slice, row, column, 1)`` to NIfTI's ``(i, j, k, 1)``
(it is its own inverse)."""

DISAGREEMENT_LIMIT_MM = 1.0
"""qform and sform may differ by this much anywhere in the volume before the user is warned."""

OBLIQUE_LIMIT_DEG = 10.0
"""A slice normal further than this from every patient axis makes the plane "oblique"."""

_GZIP_MAGIC = b"\x1f\x8b"
_SINGLE_MAGICS = (b"n+1\x00", b"n+2\x00\r\n\x1a\n")
_PAIR_MAGICS = (b"ni1\x00", b"ni2\x00\r\n\x1a\n")
_XFORM_NAMES = {1: "scanner", 2: "aligned", 3: "Talairach", 4: "MNI 152", 5: "template"}
_SPATIAL_UNIT_MM = {
    0: 1.0,
    1: 1000.0,
    2: 1.0,
    3: 0.001,
}  # 0 (unknown) is read as mm, as every tool does
_SPATIAL_UNIT_NAMES = {1: "metres", 3: "micrometres"}


@dataclass(frozen=True)
class NiftiHeader:
    """A validated NIfTI header: where the voxels are, how to decode them and where they lie.

    Attributes
    ----------
    path : Path
        The file holding the header (``.nii``, ``.nii.gz`` or ``.hdr``).
    data_path : Path
        The file holding the voxels (the same file, or the ``.img`` of a pair).
    data_gzipped : bool
        Whether ``data_path`` is gzip-compressed (recognised by content, not name).
    shape_kji : tuple of 3 int
        One frame in Interval order (slices, rows, columns) = NIfTI (k, j, i) sizes.
    frames : int
        Size of the 4th (time) dimension; 1 for 3-D data.
    stored_dtype : numpy.dtype
        On-disk voxel type with its byte order.
    data_offset : int
        Byte offset of the first voxel in ``data_path`` (uncompressed stream).
    voxel2patient : ndarray of shape (4, 4)
        Maps ``(slice, row, column, 1)`` to LPS millimetres.
    slope, intercept : float or None
        Scaling to real values (``real = slope * stored + intercept``); ``None`` when none applies.
    orientation : str
        ``"axial"``, ``"coronal"``, ``"sagittal"``, ``"oblique <plane>"``, or ``"unknown"`` when
        the header holds no orientation.
    warnings : tuple of str
        Problems the user must see (disagreeing transforms, no orientation, odd scaling...).
    """

    path: Path
    data_path: Path
    data_gzipped: bool
    shape_kji: tuple[int, int, int]
    frames: int
    stored_dtype: np.dtype
    data_offset: int
    voxel2patient: np.ndarray
    slope: float | None
    intercept: float | None
    orientation: str
    warnings: tuple[str, ...]

    @property
    def frame_bytes(self) -> int:
        """Bytes of one 3-D frame on disk (uncompressed)."""
        return math.prod(self.shape_kji) * self.stored_dtype.itemsize

    @property
    def data_end(self) -> int:
        """Byte position just after the last voxel in the uncompressed data stream."""
        return self.data_offset + self.frame_bytes * self.frames


def open_maybe_gzipped(path: Path) -> tuple[BinaryIO, bool]:
    """Open a file for reading, decompressing it when its content (not its name) is gzip.

    Returns
    -------
    stream : binary file object
    gzipped : bool
    """
    fh = open(path, "rb")  # noqa: SIM115 - returned to the caller, who closes it
    if fh.read(2) == _GZIP_MAGIC:
        fh.close()
        return gzip.open(path, "rb"), True
    fh.seek(0)
    return fh, False


def describe_read_error(exc: BaseException) -> str:
    """Turn an exception raised while reading (possibly gzipped) bytes into a user-facing reason."""
    if isinstance(exc, EOFError):
        return "truncated: the compressed data ends early"
    if isinstance(exc, gzip.BadGzipFile):
        return f"corrupt compressed data ({exc}); the file is damaged"
    if isinstance(exc, zlib.error):
        return f"corrupt compressed data (zlib: {exc}); the file is damaged"
    if isinstance(exc, OSError):
        return f"cannot be read ({exc.strerror or exc})"
    return str(exc)


def parse_header(path: str | os.PathLike[str]) -> NiftiHeader:
    """Read and validate the header of a NIfTI file; no voxel data is read.

    Parameters
    ----------
    path : path-like
        A ``.nii``, ``.nii.gz`` or ``.hdr`` (with its ``.img``) file.

    Returns
    -------
    NiftiHeader

    Raises
    ------
    viewer.errors.UnreadableFileError
        Not a NIfTI file, truncated or corrupt header, unsupported data type or dimensions.
    viewer.errors.InvalidGeometryError
        No usable voxel-to-world transform (zero, NaN or negative spacing; singular matrices).
    """
    path = Path(path)
    hdr, single = _read_raw_header(path)
    shape_ijk, frames = _data_shape(hdr, path)
    stored_dtype = _stored_dtype(hdr, path)
    data_offset = _data_offset(hdr, path, single)
    data_path = path if single else _pair_image_path(path)
    try:
        with open(data_path, "rb") as fh:
            data_gzipped = fh.read(2) == _GZIP_MAGIC
    except OSError as exc:
        raise UnreadableFileError(describe_read_error(exc), data_path) from exc
    warnings: list[str] = []
    # Corrupt headers can hold huge floats; overflow shows up as non-finite values, checked below.
    with np.errstate(all="ignore"):
        ras, has_orientation = _choose_affine(hdr, shape_ijk, path, warnings)
        voxel2patient = LPS2RAS @ ras @ IJK2SRC
        usable = _usable(voxel2patient, "voxel-to-world transform")[0] is not None
    if not usable:
        raise InvalidGeometryError("the voxel-to-world transform overflows or is singular", path)
    slope, intercept = _scaling(hdr, path, warnings)
    return NiftiHeader(
        path=path,
        data_path=data_path,
        data_gzipped=data_gzipped,
        shape_kji=(shape_ijk[2], shape_ijk[1], shape_ijk[0]),
        frames=frames,
        stored_dtype=stored_dtype,
        data_offset=data_offset,
        voxel2patient=voxel2patient,
        slope=slope,
        intercept=intercept,
        orientation=plane_name(voxel2patient) if has_orientation else "unknown",
        warnings=tuple(warnings),
    )


def plane_name(voxel2patient: np.ndarray) -> str:
    """Name the plane of the slices (the array's axis-0 planes) from a ``voxel2patient`` affine.

    Examples
    --------
    >>> axial = np.eye(4)
    >>> axial[:3, :3] = [[0, 0, 1], [0, 1, 0], [3, 0, 0]]  # slices to S, rows to P, columns to L
    >>> plane_name(axial)
    'axial'
    >>> plane_name(np.diag([3.0, 1.0, 1.0, 1.0]))  # slices step to L
    'sagittal'
    """
    column_direction = voxel2patient[:3, 1]  # down the rows of a slice
    row_direction = voxel2patient[:3, 2]  # along a row
    normal = np.cross(row_direction, column_direction)
    normal = normal / np.linalg.norm(normal)
    axis = int(np.argmax(np.abs(normal)))
    plane = ("sagittal", "coronal", "axial")[axis]
    off_axis_deg = math.degrees(math.acos(min(1.0, float(abs(normal[axis])))))
    return f"oblique {plane}" if off_axis_deg > OBLIQUE_LIMIT_DEG else plane


def _read_raw_header(path: Path) -> tuple[Nifti1Header | Nifti2Header, bool]:
    try:
        fh, _ = open_maybe_gzipped(path)
        with fh:
            block = fh.read(540)
    except (OSError, EOFError, zlib.error) as exc:
        raise UnreadableFileError(describe_read_error(exc), path) from exc
    if len(block) < 4:
        raise UnreadableFileError(f"truncated header ({len(block)} bytes; NIfTI needs 348)", path)
    for endianness, order in (("<", "little"), (">", "big")):  # noqa: B007 - used after break
        size = int.from_bytes(block[:4], order)
        if size in (348, 540):
            break
    else:
        if _looks_like_text(block):
            raise UnreadableFileError("a text file, not a NIfTI image", path)
        raise UnreadableFileError(
            "not a NIfTI file (bad magic: the header-size field is neither 348 nor 540)", path
        )
    if len(block) < size:
        raise UnreadableFileError(f"truncated header ({len(block)} of {size} bytes)", path)
    magic = block[344:348] if size == 348 else block[4:12]
    if magic not in _SINGLE_MAGICS + _PAIR_MAGICS:
        raise UnreadableFileError(
            f"bad magic {magic!r}: not a NIfTI header (an Analyze 7.5 header has no orientation "
            "and is not supported; convert it to NIfTI)",
            path,
        )
    klass = Nifti1Header if size == 348 else Nifti2Header
    return klass(block[:size], endianness=endianness, check=False), magic in _SINGLE_MAGICS


def _looks_like_text(block: bytes) -> bool:
    printable = sum(b in (9, 10, 13) or 32 <= b < 127 for b in block)
    return printable >= 0.95 * len(block)


def _data_shape(hdr: Nifti1Header, path: Path) -> tuple[tuple[int, int, int], int]:
    dim = [int(v) for v in hdr["dim"]]
    ndim = dim[0]
    if not 2 <= ndim <= 7:
        raise UnreadableFileError(
            f"dim[0] is {ndim}: not a 2-D to 7-D image (corrupt header?)", path
        )
    shape = dim[1 : ndim + 1]
    if any(n < 1 for n in shape):
        raise UnreadableFileError(f"image dimensions {tuple(shape)} include a size below 1", path)
    if any(n != 1 for n in shape[4:]):
        raise UnreadableFileError(
            f"{ndim}-D data of size {tuple(shape)} (several values per voxel, e.g. vectors or a "
            "CIFTI matrix) is not an image volume Interval can show",
            path,
        )
    shape += [1] * (4 - len(shape))
    return (shape[0], shape[1], shape[2]), shape[3]


def _stored_dtype(hdr: Nifti1Header, path: Path) -> np.dtype:
    code = int(hdr["datatype"])
    try:
        dtype = hdr.get_data_dtype()
    except (KeyError, ValueError, HeaderDataError) as exc:
        raise UnreadableFileError(f"unknown NIfTI datatype code {code}", path) from exc
    if dtype.kind == "c":
        raise UnreadableFileError("complex-valued voxels are not supported", path)
    if dtype.names:
        colour = "".join(dtype.names)
        raise UnreadableFileError(
            f"{colour} colour voxels are not supported (greyscale only)", path
        )
    if dtype.kind not in "iuf":
        raise UnreadableFileError(f"voxels of type {dtype} are not supported", path)
    return dtype


def _data_offset(hdr: Nifti1Header, path: Path, single: bool) -> int:
    vox_offset = float(hdr["vox_offset"])
    if not math.isfinite(vox_offset) or vox_offset < 0 or vox_offset != int(vox_offset):
        raise UnreadableFileError(f"vox_offset {vox_offset} is not a valid byte offset", path)
    offset = int(vox_offset)
    header_size = int(hdr["sizeof_hdr"])
    if single and offset < header_size:
        raise UnreadableFileError(
            f"vox_offset {offset} points inside the {header_size}-byte header", path
        )
    return offset


def _pair_image_path(path: Path) -> Path:
    name = path.name
    stem = name[: -len(".gz")] if name.lower().endswith(".gz") else name
    if not stem.lower().endswith(".hdr"):
        raise UnreadableFileError(
            "header of a .hdr/.img pair (magic ni1/ni2) but the file is not named .hdr", path
        )
    stem = stem[: -len(".hdr")]
    for suffix in (".img", ".img.gz", ".IMG", ".IMG.GZ"):
        candidate = path.with_name(stem + suffix)
        if candidate.is_file():
            return candidate
    raise UnreadableFileError(f"the voxel file {stem}.img of this .hdr/.img pair is missing", path)


def _choose_affine(
    hdr: Nifti1Header, shape_ijk: tuple[int, int, int], path: Path, warnings: list[str]
) -> tuple[np.ndarray, bool]:
    """Pick the voxel->RAS affine as nibabel does (sform if its code > 0, else qform), validated.

    Returns the (4, 4) RAS affine in mm and whether the header holds an orientation at all.
    """
    unit_code = int(hdr["xyzt_units"]) & 0x07
    to_mm = _SPATIAL_UNIT_MM.get(unit_code, 1.0)
    if unit_code in _SPATIAL_UNIT_NAMES:
        warnings.append(
            f"spatial units are {_SPATIAL_UNIT_NAMES[unit_code]}: converted to mm (x{to_mm:g})"
        )
    pixdim = np.asarray(hdr["pixdim"][1:4], dtype=np.float64)
    bad_pixdim = [
        f"pixdim[{axis + 1}] = {value:g}"
        for axis, value in enumerate(pixdim)
        if not (math.isfinite(value) and value > 0)
    ]
    sform_code, qform_code = int(hdr["sform_code"]), int(hdr["qform_code"])
    sform, sform_problem = None, ""
    if sform_code > 0:
        sform, sform_problem = _usable(hdr.get_sform(), "sform")
    qform, qform_problem = None, ""
    if qform_code > 0:
        if bad_pixdim:
            qform_problem = f"the qform needs positive voxel sizes, but {', '.join(bad_pixdim)}"
        else:
            qform, qform_problem = _usable(_qform(hdr), "qform")

    if sform is not None:
        chosen, name = sform, "sform"
        if qform is not None:
            _compare_transforms(sform, qform, sform_code, shape_ijk, to_mm, warnings)
        elif qform_problem and not bad_pixdim:  # bad pixdim gets its own warning below
            warnings.append(f"{qform_problem}; the sform is used")
    elif qform is not None:
        chosen, name = qform, "qform"
        if sform_problem:
            warnings.append(f"{sform_problem}; the qform is used")
    elif sform_problem or qform_problem:
        raise InvalidGeometryError(
            "; ".join(p for p in (sform_problem, qform_problem) if p)
            + ": no usable voxel-to-world transform",
            path,
        )
    else:
        if bad_pixdim:
            raise InvalidGeometryError(
                f"unusable voxel size ({', '.join(bad_pixdim)}) and no sform or qform", path
            )
        warnings.append(
            "no orientation in header (qform and sform codes are 0): left/right and the position "
            "are unknown; registration to other visits needs confirmation"
        )
        chosen = shape_zoom_affine(shape_ijk, pixdim, x_flip=True)
        return _in_mm(chosen, to_mm), False

    if bad_pixdim and name == "sform":
        spacing = np.linalg.norm(chosen[:3, :3], axis=0) * to_mm
        warnings.append(
            f"invalid voxel size in the header ({', '.join(bad_pixdim)}); geometry taken from the "
            f"sform, which gives voxels of {' x '.join(f'{v:.4g}' for v in spacing)} mm (i x j x k)"
        )
    return _in_mm(chosen, to_mm), True


def _qform(hdr: Nifti1Header) -> np.ndarray | None:
    """Compute the qform affine, reading qfac as nifti1_io does (negative: -1, anything else: 1)."""
    fixed = hdr.copy()
    fixed["pixdim"][0] = -1.0 if float(hdr["pixdim"][0]) < 0 else 1.0
    try:
        return fixed.get_qform()
    except (ValueError, HeaderDataError):
        return None  # quaternion b, c, d not a unit rotation


def _usable(affine: np.ndarray | None, name: str) -> tuple[np.ndarray | None, str]:
    if affine is None:
        return None, f"the {name} rotation is invalid (quaternion b, c, d too large)"
    affine = np.asarray(affine, dtype=np.float64)
    if not np.all(np.isfinite(affine)):
        return None, f"the {name} holds NaN or infinite values"
    spacing = np.linalg.norm(affine[:3, :3], axis=0)
    determinant = abs(np.linalg.det(affine[:3, :3]))
    # Volume refuses |det| < 1e-9 mm^3; the relative test catches (nearly) parallel axes.
    if np.any(spacing < 1e-6) or determinant < 1e-9 or determinant < 1e-6 * np.prod(spacing):
        return None, f"the {name} is singular (a zero voxel size or parallel axes)"
    return affine, ""


def _compare_transforms(
    sform: np.ndarray,
    qform: np.ndarray,
    sform_code: int,
    shape_ijk: tuple[int, int, int],
    to_mm: float,
    warnings: list[str],
) -> None:
    # The difference of two affines is affine, so its largest size over the box is at a corner.
    corners = np.array(list(itertools.product(*[(0, n - 1) for n in shape_ijk], [1])), float)
    distance_mm = float(np.max(np.linalg.norm(corners @ (sform - qform)[:3].T, axis=1))) * to_mm
    if distance_mm <= DISAGREEMENT_LIMIT_MM:
        return
    columns = sform[:3, :3] / np.linalg.norm(sform[:3, :3], axis=0)
    sheared = np.max(np.abs(columns.T @ columns - np.eye(3))) > 1e-3
    why = " (the sform has shear, e.g. gantry tilt, which a qform cannot hold)" if sheared else ""
    warnings.append(
        f"qform and sform disagree by up to {distance_mm:.1f} mm{why}; using the sform "
        f"(code {sform_code}, {_XFORM_NAMES.get(sform_code, 'unknown')})"
    )


def _in_mm(affine: np.ndarray, to_mm: float) -> np.ndarray:
    scaled = np.array(affine, dtype=np.float64)
    scaled[:3] *= to_mm
    return scaled


def _scaling(
    hdr: Nifti1Header, path: Path, warnings: list[str]
) -> tuple[float | None, float | None]:
    slope, intercept = float(hdr["scl_slope"]), float(hdr["scl_inter"])
    if math.isinf(slope) or math.isinf(intercept):
        raise UnreadableFileError(
            f"infinite scaling (scl_slope {slope:g}, scl_inter {intercept:g}): values unusable",
            path,
        )
    if slope == 0 or math.isnan(slope):
        warnings.append(
            f"scl_slope is {slope:g}: no scaling applied (values are the stored values)"
        )
        return None, None
    if math.isnan(intercept):
        warnings.append("scl_inter is NaN: read as 0")
        intercept = 0.0
    if slope == 1 and intercept == 0:
        return None, None
    return slope, intercept
