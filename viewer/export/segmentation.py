"""Label maps other tools open: NIfTI label maps and DICOM Segmentation objects (highdicom).

NIfTI files are written in the series' own grid (or, as an option, resampled onto the reference
series' grid through the registration) with the RAS affine 3D Slicer and ITK-SNAP expect. DICOM SEG
objects hold one segment per lesion, reference the source series and, in teaching mode, carry no
identity: the source datasets are de-identified (:mod:`viewer.export.privacy`) before highdicom
copies their patient and study modules.

Each segment is coded by its lesion's kind (:data:`SEGMENT_CODES`), with the codes of the DICOM
standard's context groups for brain lesion segmentation (PS3.16 CID 7168 "Brain Lesion
Segmentation Types With Necrosis", under the CID 7150 category "Morphologically Abnormal
Structure"), taken from pydicom's code dictionary rather than typed by hand. The standard has no
code for a resection cavity: it is coded as the anatomical structure "Body cavity" (CID 7192), the
nearest standard concept, so no other tool counts it as tumour; its segment label keeps the name.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code

import viewer
from viewer.core.geometry import slice_normal
from viewer.core.lesions import LesionKind, LesionSet
from viewer.core.transform import Transform
from viewer.core.volume import Volume, VolumeMetadata
from viewer.errors import IntervalError, UnreadableFileError
from viewer.export.privacy import Privacy, UidMap, deidentify_dataset, record_deidentification
from viewer.io.atomic import fsync_file, fsync_folder, save_error, temporary_path
from viewer.io.case_file import SeriesRecord
from viewer.io.nifti import write_nifti
from viewer.registration.sitk_bridge import resample_onto

SEGMENT_CODES: dict[LesionKind, tuple[Code, Code]] = {
    LesionKind.ENHANCING: (codes.SCT.MorphologicallyAbnormalStructure, codes.NCIt.EnhancingLesion),
    LesionKind.NON_ENHANCING: (
        codes.SCT.MorphologicallyAbnormalStructure,
        codes.NCIt.NonEnhancingLesion,
    ),
    LesionKind.NECROSIS: (codes.SCT.MorphologicallyAbnormalStructure, codes.SCT.Necrosis),
    LesionKind.RESECTION_CAVITY: (codes.SCT.AnatomicalStructure, codes.SCT.BodyCavity),
}
"""Lesion kind -> (segmented property category, segmented property type) of its segment:
SNOMED CT 49755003 with NCIt C113842 "Enhancing Lesion", NCIt C81175 "Non-Enhancing Lesion" or
SNOMED CT 6574001 "Necrosis" (CID 7168); SNOMED CT 91723000 "Anatomical Structure" with
91806002 "Body cavity" (CID 7192) for a resection cavity."""
TRACKING_PREFIX = "Interval lesion "
"""Each segment's TrackingID is this plus the lesion number (its label value in Interval)."""
SEG_SERIES_NUMBER_OFFSET = 1000
"""A SEG's SeriesNumber is its source series' number plus this."""
_POSITION_TOLERANCE_MM = 1e-3
_PATIENT_STUDY_TYPE2 = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyID",
    "AccessionNumber",
    "ReferringPhysicianName",
    "StudyDate",
    "StudyTime",
)


def export_nifti_labels(
    labels: np.ndarray,
    record_or_volume: SeriesRecord | Volume,
    path: str | os.PathLike[str],
    *,
    reference: tuple[tuple[int, int, int], np.ndarray, np.ndarray] | None = None,
) -> Path:
    """Write a label map as NIfTI (uint16), in the series' grid or resampled to the reference's.

    Parameters
    ----------
    labels : ndarray of shape (Z, Y, X)
        Lesion number per voxel (0 background), indexed (slice, row, column) on the series' grid.
    record_or_volume : SeriesRecord or Volume
        The series the labels were drawn on (its shape and ``voxel2patient``, LPS mm).
    path : path-like
        Ends in ``.nii`` or ``.nii.gz``. The header's ``descrip`` holds no identity.
    reference : (shape, voxel2patient, patient2reference), optional
        Resample onto this grid instead: the reference series' (slices, rows, columns), its (4, 4)
        ``voxel2patient`` (LPS mm), and the (4, 4) registration mapping this series' LPS mm to the
        reference's (``Transform.moving2reference``). Nearest neighbour, so label values stay
        exact; a lesion thinner than the reference's voxels may lose voxels.

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    ValueError
        ``labels`` does not match the series' shape, or holds values outside 0..65535.
    viewer.errors.SaveError
        The file cannot be written (the message names it).
    """
    labels = np.asarray(labels)
    if labels.shape != tuple(record_or_volume.shape):
        raise ValueError(
            f"label map of shape {labels.shape} does not match the series {record_or_volume.shape}"
        )
    if labels.size and (labels.min() < 0 or labels.max() > np.iinfo(np.uint16).max):
        raise ValueError("label values must lie in 0..65535")
    volume = Volume(labels.astype(np.uint16), record_or_volume.voxel2patient, VolumeMetadata())
    if reference is not None:
        shape, voxel2patient, patient2reference = reference
        grid = Volume(np.zeros(tuple(shape), np.uint8), voxel2patient)
        volume = resample_onto(
            volume, grid, _transform(patient2reference), interpolation="nearest", default_value=0
        )
        volume = Volume(volume.array.astype(np.uint16), volume.voxel2patient, VolumeMetadata())
    path = Path(path)
    write_nifti(volume, path)
    return path


def export_dicom_seg(
    labels: np.ndarray,
    lesions: LesionSet,
    source_files: Sequence[str | os.PathLike[str]],
    path: str | os.PathLike[str],
    *,
    privacy: Privacy,
    uid_map: UidMap | None = None,
    first_date: dt.date | None = None,
) -> Path:
    """Write the lesions of one DICOM series as a DICOM Segmentation (binary, one segment each).

    Parameters
    ----------
    labels : ndarray of shape (Z, Y, X)
        Lesion number per voxel (0 background) on the grid of the series built from
        ``source_files`` (slices ascending along the slice normal, as ``load_series`` builds it).
    lesions : LesionSet
        Names and kinds of the lesions; every non-zero label value must be one of them. Each
        lesion present becomes a segment labelled with its name, coded by its kind
        (:data:`SEGMENT_CODES`), algorithm type MANUAL, TrackingID ``"Interval lesion <number>"``.
    source_files : sequence of path-like
        The classic (single-frame) DICOM files of the series, in any order.
    path : path-like
        The file to write, or an existing folder: then the file is named
        ``<privacy.file_stem(...)>_SEG.dcm`` (case label, relative visit, series number).
    privacy : Privacy
        Teaching mode (``include_identity=False``) de-identifies the source datasets before
        highdicom copies their patient and study modules, and records it in the SEG. With
        identity, the SEG keeps the source's identity, UIDs and dates (clinical use: it must
        join its study in a PACS).
    uid_map : UidMap, optional
        Shared across one export so every file maps the same source UID the same way; a new one
        by default.
    first_date : datetime.date, optional
        The case's first visit (Day 0 for shifted dates); by default this series' study date.

    Returns
    -------
    Path
        The file written (atomically: a temporary file renamed into place).

    Raises
    ------
    viewer.errors.UnreadableFileError
        A source file is not DICOM.
    viewer.errors.IntervalError
        The sources do not form the label map's grid, or no lesion is outlined.
    ValueError
        A label value is not a lesion of ``lesions``.
    viewer.errors.SaveError
    """
    labels = np.asarray(labels)
    sources = _sorted_sources(source_files, labels.shape)
    present = [int(v) for v in np.unique(labels) if v != 0]
    if not present:
        raise IntervalError("no lesion is outlined in this series: nothing to export", path)
    unknown = [number for number in present if number not in lesions]
    if unknown:
        raise ValueError(f"label values {unknown} are not lesions of the case")
    first = sources[0]
    study_date = _date(first.get("StudyDate", ""))
    first_date = first_date or study_date
    uid_map = uid_map or UidMap()
    for ds in sources:
        if not privacy.include_identity:
            deidentify_dataset(ds, uid_map, privacy, first_date)
        for keyword in _PATIENT_STUDY_TYPE2:
            if keyword not in ds:  # highdicom copies them; absent in some scanners' files
                setattr(ds, keyword, "")
    segments = np.zeros(labels.shape, np.uint16 if len(present) > 255 else np.uint8)
    descriptions = []
    for segment_number, lesion_number in enumerate(present, start=1):
        lesion = lesions[lesion_number]
        segments[labels == lesion_number] = segment_number
        category, kind = SEGMENT_CODES[lesion.kind]
        descriptions.append(
            hd.seg.SegmentDescription(
                segment_number=segment_number,
                segment_label=lesion.name[:64] or f"L{lesion_number}",
                segmented_property_category=category,
                segmented_property_type=kind,
                algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
                tracking_id=f"{TRACKING_PREFIX}{lesion_number}",
                tracking_uid=uid_map(f"interval-lesion-{lesion_number}-{first.SeriesInstanceUID}"),
                display_color=hd.color.CIELabColor.from_rgb(*lesion.colour),
            )
        )
    series_number = int(first.get("SeriesNumber") or 0)
    seg = hd.seg.Segmentation(
        source_images=sources,
        pixel_array=segments,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=hd.UID(),
        series_number=series_number + SEG_SERIES_NUMBER_OFFSET,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="Interval",
        manufacturer_model_name="Interval",
        software_versions=viewer.__version__,
        device_serial_number="1",
        content_label="LESIONS",
        content_description="Lesion outlines",
        series_description="Interval lesions",
        omit_empty_frames=False,  # every source slice is present, so the grid reads back whole
    )
    if not privacy.include_identity:
        record_deidentification(seg, privacy)
    target = Path(path)
    if target.is_dir():
        stem = privacy.file_stem(study_date, first_date, series_number or None)
        target = target / f"{stem}_SEG.dcm"
    _save_atomic(seg, target)
    return target


def read_dicom_seg(path: str | os.PathLike[str]) -> dict[int, np.ndarray]:
    """Read a SEG written by :func:`export_dicom_seg` back into per-lesion masks.

    Parameters
    ----------
    path : path-like

    Returns
    -------
    dict of int to ndarray
        Lesion number (from the segment's TrackingID, else its SegmentNumber) -> bool mask of
        shape (Z, Y, X) on the source grid, slices ascending along the slice normal.

    Raises
    ------
    viewer.errors.UnreadableFileError
        Not a DICOM SEG, or its frames do not cover the same slices for every segment.
    """
    try:
        seg = hd.seg.segread(path)
    except (InvalidDicomError, OSError, ValueError, AttributeError) as exc:
        raise UnreadableFileError(f"not a readable DICOM SEG ({exc})", path) from exc
    shared = seg.SharedFunctionalGroupsSequence[0]
    normal = slice_normal(shared.PlaneOrientationSequence[0].ImageOrientationPatient)
    pixels = seg.pixel_array.reshape(-1, seg.Rows, seg.Columns)
    frames: dict[int, list[tuple[float, np.ndarray]]] = {}
    for index, group in enumerate(seg.PerFrameFunctionalGroupsSequence):
        # a functional group common to all frames lives in the shared groups
        identification = _group(group, shared, "SegmentIdentificationSequence")
        segment = int(identification.ReferencedSegmentNumber)
        position = np.asarray(_group(group, shared, "PlanePositionSequence").ImagePositionPatient)
        frames.setdefault(segment, []).append(
            (float(position.astype(float) @ normal), pixels[index])
        )
    lesion_numbers = {int(item.SegmentNumber): _lesion_number(item) for item in seg.SegmentSequence}
    masks: dict[int, np.ndarray] = {}
    positions = None
    for segment, stack in frames.items():
        stack.sort(key=lambda pair: pair[0])
        these = np.array([distance for distance, _ in stack])
        if positions is not None and (
            len(these) != len(positions) or np.abs(these - positions).max() > 1e-3
        ):
            raise UnreadableFileError("segments cover different slices", path)
        positions = these
        masks[lesion_numbers[segment]] = np.stack([frame for _, frame in stack]).astype(bool)
    return masks


def _transform(patient2reference: np.ndarray) -> Transform:
    matrix = np.asarray(patient2reference, dtype=np.float64)
    linear = matrix[:3, :3]
    rigid = np.allclose(linear @ linear.T, np.eye(3), atol=1e-6)
    return Transform(matrix, "rigid" if rigid else "affine")


def _sorted_sources(
    source_files: Sequence[str | os.PathLike[str]], shape: tuple[int, ...]
) -> list[Dataset]:
    """Read the sources and sort them along the slice normal; check they form ``shape``."""
    datasets = []
    for file in source_files:
        try:
            datasets.append(pydicom.dcmread(file))
        except (InvalidDicomError, OSError) as exc:
            raise UnreadableFileError(f"cannot read the source slice ({exc})", file) from exc
    if not datasets:
        raise IntervalError("no source files given for the segmentation")
    first = datasets[0]
    where = Path(source_files[0]).parent
    if len(shape) != 3 or len(datasets) != shape[0] or (first.Rows, first.Columns) != shape[1:]:
        raise IntervalError(
            f"{len(datasets)} source slices of {first.Rows}x{first.Columns} do not form the "
            f"label map's grid {tuple(shape)}",
            where,
        )
    if len({str(ds.SeriesInstanceUID) for ds in datasets}) != 1:
        raise IntervalError("the source files belong to more than one series", where)
    normal = slice_normal(first.ImageOrientationPatient)
    distances = [float(np.asarray(ds.ImagePositionPatient, float) @ normal) for ds in datasets]
    order = np.argsort(distances, kind="stable")
    ordered = [datasets[i] for i in order]
    # The SEG's frames sit on the source slices: a grid resampled on loading (gantry tilt, uneven
    # gaps) is not the sources' grid.
    origins = np.array([ds.ImagePositionPatient for ds in ordered], float)
    offsets = origins - origins[0]
    inplane = offsets - np.outer(offsets @ normal, normal)
    steps = np.diff(np.sort(distances))
    if np.abs(inplane).max() > _POSITION_TOLERANCE_MM or (
        steps.size and np.ptp(steps) > _POSITION_TOLERANCE_MM * 10
    ):
        raise IntervalError(
            "the source slices are tilted or unevenly spaced: the label map's grid (resampled "
            "on loading) is not theirs, so no DICOM SEG can reference them",
            where,
        )
    return ordered


def _group(per_frame: Dataset, shared: Dataset, keyword: str) -> Dataset:
    sequence = per_frame.get(keyword) or shared.get(keyword)
    if not sequence:
        raise UnreadableFileError(f"a frame has no {keyword}")
    return sequence[0]


def _lesion_number(item: Dataset) -> int:
    tracking = str(item.get("TrackingID", ""))
    if tracking.startswith(TRACKING_PREFIX) and tracking[len(TRACKING_PREFIX) :].isdigit():
        return int(tracking[len(TRACKING_PREFIX) :])
    return int(item.SegmentNumber)


def _date(text: str) -> dt.date | None:
    try:
        return dt.datetime.strptime(str(text).strip()[:8], "%Y%m%d").date()
    except ValueError:
        return None


def _save_atomic(seg: Dataset, target: Path) -> None:
    temporary = temporary_path(target)
    try:
        seg.save_as(temporary, enforce_file_format=True)
        fsync_file(temporary)
        os.replace(temporary, target)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise save_error(exc, target, "writing the DICOM SEG") from exc
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    try:
        fsync_folder(target.parent)
    except OSError as exc:
        raise save_error(exc, target, "writing the DICOM SEG", replaced=True) from exc
