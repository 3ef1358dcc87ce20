"""Generate Interval's demo case: a synthetic glioma patient followed over five visits (1995-2003).

Usage::

    python sample_scans/generate_demo.py [--out DIR]

Writes ``DIR/dicom/<visit>/<series>/IM00001...`` (one classic DICOM file per slice) and
``DIR/ground_truth/`` (label maps as NIfTI, ``case.json`` with transforms, volumes and diameters,
and a README). The output is deterministic: same code, same bytes. See sample_scans/README.md.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import time
from pathlib import Path

import numpy as np
from demo_acquisition import (
    Geometry,
    Pose,
    SeriesSpec,
    acquire,
    build_geometry,
    patient2anatomy,
)
from demo_dicom import PATIENT, frame_of_reference_uid, series_uid, study_uid, write_series
from demo_phantom import LABEL_NAMES, LANDMARKS_MM, LESION_NAMES
from demo_truth import (
    analytic_lesions,
    analytic_slice_diameters,
    label_map_lesions,
    slice_diameters,
    write_label_nifti,
)

SEED = 20030327
DEFAULT_OUT = Path(__file__).resolve().parent / "demo_case"

VISITS = {
    "1995-06-12": "Diagnosis: first seizure; a ring-enhancing right frontoparietal glioma at the "
    "motor strip, with a necrotic core and oedema.",
    "1995-07-01": "Post-operative (resection 1995-06-29): CSF-filled resection cavity, residual "
    "oedema, no enhancing tumour. Stereotactic radiotherapy followed.",
    "2002-08-14": "Seizures again: a small enhancing nodule at the postero-superior margin of the "
    "cavity (recurrence). Radiosurgery followed.",
    "2002-12-09": "Left limb weakness: the recurrence has grown markedly, with necrosis. A second "
    "resection followed on 2002-12-16.",
    "2003-03-27": "Seizures again: new recurrence around the second cavity, larger than in "
    "December, and a new ring-enhancing metastasis in the left occipital lobe.",
}

HISTORY = [
    (
        "1995-06-12",
        "imaging",
        "First seizure; CT and contrast MRI show a right frontoparietal glioma",
    ),
    ("1995-06-29", "surgery", "Resection of the tumour"),
    ("1995-07-01", "imaging", "Post-operative contrast MRI"),
    ("1995-07-24", "radiotherapy start", "Stereotactic radiotherapy (X-knife)"),
    ("1995-08-11", "radiotherapy end", "Stereotactic radiotherapy completed"),
    ("2002-08-14", "imaging", "Seizures return; contrast MRI"),
    ("2002-08-22", "radiosurgery", "Radiosurgery (Novalis) to the recurrence"),
    ("2002-12-09", "imaging", "Left limb weakness; CT and contrast MRI"),
    ("2002-12-16", "surgery", "Second resection"),
    ("2003-03-27", "imaging", "Seizures return; CT and contrast MRI"),
]

SERIES = (
    SeriesSpec(
        "1995-06-12", 2, "CT", "CT HEAD", "axial", (256, 256), 0.9, 5.0, 30,
        Pose((-4.0, 1.5, -2.0), (-2.5, 4.0, 3.0)), (0.0, 0.0, 12.0), contrast=False,
        superior_first=True, time="081512",
    ),
    SeriesSpec(
        "1995-06-12", 5, "MR", "AX T1 POST GAD", "axial", (192, 192), 1.25, 3.0, 48,
        Pose((3.0, -1.0, 2.0), (1.0, 12.0, -8.0)), (0.0, 0.0, 14.0), contrast=True,
        signal=880.0, bias=(0.06, -0.08, 0.05, -0.10), time="104230",
    ),
    SeriesSpec(
        "1995-07-01", 6, "MR", "COR T1 POST GAD", "coronal", (160, 160), 1.5, 4.0, 44,
        Pose((7.0, 2.0, -3.0), (4.0, 5.0, 2.0)), (0.0, 2.0, 10.0), contrast=True,
        signal=1320.0, bias=(-0.05, 0.04, -0.09, -0.08), time="091005",
    ),
    SeriesSpec(
        "2002-08-14", 7, "MR", "AX T1 POST GAD", "axial", (208, 208), 1.1, 3.5, 40,
        Pose((-2.0, -3.0, 5.0), (-3.0, 15.0, -2.0)), (0.0, 0.0, 16.0), contrast=True,
        tilt_deg=8.0, signal=2150.0, bias=(0.08, 0.05, -0.06, -0.12), rescale_slope=2.5,
        time="143348",
    ),
    SeriesSpec(
        "2002-12-09", 3, "CT", "CT HEAD C+", "axial", (256, 256), 0.95, 5.0, 30,
        Pose((-5.0, 0.5, 4.0), (2.0, 6.0, -1.0)), (0.0, 0.0, 12.0), contrast=True,
        rle=True, time="110210",
    ),
    SeriesSpec(
        "2002-12-09", 8, "MR", "AX T1 POST GAD", "axial", (224, 224), 1.07, 5.0, 30,
        Pose((1.0, 2.5, -4.0), (-1.5, 10.0, 4.0)), (0.0, 0.0, 12.0), contrast=True,
        signal=640.0, bias=(-0.07, -0.06, 0.08, -0.09), time="160521",
    ),
    SeriesSpec(
        "2003-03-27", 2, "CT", "CT HEAD C+", "axial", (256, 256), 0.9, 5.0, 30,
        Pose((-6.0, -2.0, 3.0), (3.5, 3.0, -4.0)), (0.0, 0.0, 12.0), contrast=True,
        rle=True, superior_first=True, time="074455",
    ),
    SeriesSpec(
        "2003-03-27", 9, "MR", "AX T1 POST GAD", "axial", (176, 176), 1.3, 3.0, 48,
        Pose((4.5, 1.0, 6.0), (-4.0, 16.0, -3.0)), (0.0, 0.0, 14.0), contrast=True,
        signal=1010.0, bias=(0.05, 0.07, 0.06, -0.11), time="120938",
    ),
)  # fmt: skip
"""Acquisitions (visit, series number, modality, description, plane, matrix, pixel mm, slice mm,
slices, head pose, field-of-view centre in the anatomical frame, contrast, ...)."""

REFERENCE = SERIES[1]
"""The baseline contrast MRI, whose patient coordinates are the reference frame."""

TRUTH_README = """# Ground truth of the Interval demo case

Synthetic, fictitious patient. Everything here is generated by sample_scans/generate_demo.py;
sample_scans/README.md describes the case and the formats in full.

- `case.json`: visits, series (UIDs, geometry, head pose), the true transforms
  `patient2reference` (4x4, this series' DICOM patient coordinates, LPS mm -> the reference
  series' patient coordinates), lesion volumes (mL), centroids (mm) and axial diameters (mm),
  analytic and from the label maps.
- `<visit>/<series folder>_labels.nii.gz`: tissue labels at the voxel centres of that series' own
  grid (0 background, 1 enhancing tumour, 2 necrotic core, 3 oedema, 4 resection cavity).
- `<visit>/<series folder>_lesions.nii.gz`: lesion id of every voxel labelled 1-3
  (1 the right frontoparietal glioma and its recurrences, 2 the left occipital metastasis).

NIfTI files are RAS with qform = sform (code 1); their data axes are (column, row, slice) of the
DICOM series, slices in ascending order along the slice normal, so they overlay the DICOM exactly.
"""


def _round(values: object, decimals: int) -> object:
    """Round floats (also inside lists and arrays) for a stable, readable JSON."""
    array = np.asarray(values, dtype=np.float64)
    rounded = np.round(array, decimals) + 0.0  # + 0.0 turns -0.0 into 0.0
    return rounded.tolist() if array.ndim else float(rounded)


def _rounded_stats(stats: dict) -> dict:
    out = {}
    for key, value in stats.items():
        if key.endswith("_ml"):
            out[key] = _round(value, 4)
        elif key.endswith("_mm") or key.endswith("_mm2"):
            out[key] = None if value is None else _round(value, 3)
        elif isinstance(value, dict):
            out[key] = _rounded_stats(value)
        else:
            out[key] = value
    return out


def _rotation_angle_deg(rotation: np.ndarray) -> float:
    return math.degrees(math.acos(max(-1.0, min(1.0, (np.trace(rotation) - 1.0) / 2.0))))


def _apply(affine: np.ndarray, point: object) -> np.ndarray:
    return affine[:3, :3] @ np.asarray(point, dtype=np.float64) + affine[:3, 3]


def _series_truth(spec: SeriesSpec, out: Path, visit_index: int, analytic: dict[int, dict]) -> dict:
    """Acquire one series, write its DICOM files and label maps, and describe it."""
    geometry = build_geometry(spec)
    stored, labels, lesions = acquire(spec, geometry, seed=[SEED, visit_index, spec.number])
    folder = Path("dicom") / spec.visit / spec.folder_name
    write_series(out / folder, spec, geometry, stored)
    truth_dir = Path("ground_truth") / spec.visit
    label_path = truth_dir / f"{spec.folder_name}_labels.nii.gz"
    lesion_path = truth_dir / f"{spec.folder_name}_lesions.nii.gz"
    write_label_nifti(
        out / label_path, labels, geometry.voxel2patient, f"Interval demo labels {spec.key}"
    )
    write_label_nifti(
        out / lesion_path, lesions, geometry.voxel2patient, f"Interval demo lesion ids {spec.key}"
    )

    to_anatomy = patient2anatomy(spec)
    anatomy2reference = REFERENCE.pose.anatomy2patient()
    patient2reference = anatomy2reference @ to_anatomy
    anatomy2patient = spec.pose.anatomy2patient()
    rotation_deg = _rotation_angle_deg(patient2reference[:3, :3])
    displacement = float(
        np.linalg.norm(np.subtract(spec.pose.translation_mm, REFERENCE.pose.translation_mm))
    )
    if rotation_deg > 10.5 or displacement > 15.5:
        raise ValueError(f"{spec.key}: head moved {rotation_deg:.1f} deg / {displacement:.1f} mm")

    return {
        "key": spec.key,
        "folder": folder.as_posix(),
        "series_instance_uid": series_uid(spec),
        "frame_of_reference_uid": frame_of_reference_uid(spec),
        "series_number": spec.number,
        "modality": spec.modality,
        "description": spec.description,
        "plane": spec.plane_label,
        "contrast": spec.contrast,
        "matrix_rows_columns": list(spec.matrix),
        "slice_count": spec.n_slices,
        "pixel_spacing_mm": float(geometry.pixel_spacing[0]),
        "slice_thickness_mm": spec.slice_mm,
        "transfer_syntax": "RLE Lossless" if spec.rle else "Explicit VR Little Endian",
        "rescale_slope": 1.0 if spec.modality == "CT" else spec.rescale_slope,
        "rescale_intercept": -1024.0 if spec.modality == "CT" else 0.0,
        "instance_numbers": "from the top slice down" if spec.superior_first else "from the bottom",
        "head_pose": {
            "angles_deg": list(spec.pose.angles_deg),
            "translation_mm": list(spec.pose.translation_mm),
        },
        "rotation_vs_reference_deg": _round(rotation_deg, 3),
        "head_displacement_vs_reference_mm": _round(displacement, 3),
        "patient2reference": _round(patient2reference, 9),
        "patient2anatomy": _round(to_anatomy, 9),
        "voxel2patient": _round(geometry.voxel2patient, 9),
        "label_map": label_path.as_posix(),
        "lesion_map": lesion_path.as_posix(),
        "landmarks_patient_mm": {
            name: _round(_apply(anatomy2patient, point), 4) for name, point in LANDMARKS_MM.items()
        },
        "lesions": _series_lesions(spec, geometry, labels, lesions, analytic),
    }


def _series_lesions(
    spec: SeriesSpec,
    geometry: Geometry,
    labels: np.ndarray,
    lesions: np.ndarray,
    analytic: dict[int, dict],
) -> dict[str, dict]:
    """Per lesion: label-map volumes and centroid, the analytic centroid, and axial diameters."""
    anatomy2patient = spec.pose.anatomy2patient()
    voxel2anatomy = patient2anatomy(spec) @ geometry.voxel2patient
    pixel_mm = float(geometry.pixel_spacing[0])
    result = {}
    for lesion, stats in label_map_lesions(labels, lesions, geometry.voxel2patient).items():
        expected = _apply(anatomy2patient, analytic[lesion]["centroid_anatomy_mm"])
        stats["analytic_centroid_patient_mm"] = expected
        if spec.plane == "axial":  # RANO measures on axial slices (oblique axial included)
            stats["axial_diameters_label_map"] = slice_diameters(
                labels, lesions, lesion, pixel_mm, pixel_mm
            )
            stats["axial_diameters_analytic"] = analytic_slice_diameters(
                spec.visit, lesion, geometry.shape, voxel2anatomy
            )
        result[str(lesion)] = _rounded_stats(stats)
    return result


def generate(out: Path) -> dict:
    """Write the whole demo case into ``out`` and return the ground truth (also in case.json)."""
    for sub in ("dicom", "ground_truth"):
        shutil.rmtree(out / sub, ignore_errors=True)
    anatomy2reference = REFERENCE.pose.anatomy2patient()
    visits = []
    for visit_index, (visit, story) in enumerate(VISITS.items()):
        analytic = analytic_lesions(visit)
        series = [
            _series_truth(spec, out, visit_index, analytic)
            for spec in SERIES
            if spec.visit == visit
        ]
        lesions = {}
        for lesion, stats in analytic.items():
            stats = dict(stats)
            stats["tumour_ml"] = stats["enhancing_ml"] + stats["necrotic_ml"]
            stats["centroid_reference_mm"] = _apply(anatomy2reference, stats["centroid_anatomy_mm"])
            lesions[str(lesion)] = _rounded_stats(stats)
        visits.append(
            {
                "date": visit,
                "story": story,
                "study_instance_uid": study_uid(visit),
                "lesions_analytic": lesions,
                "series": series,
            }
        )
    truth = {
        "format": "interval-demo-ground-truth",
        "format_version": 1,
        "generator": "sample_scans/generate_demo.py",
        "seed": SEED,
        "units": {
            "coordinates": "DICOM patient coordinates, LPS, mm (x to the left, y posterior, "
            "z superior); NIfTI files are RAS",
            "lengths": "mm",
            "areas": "mm^2",
            "volumes": "mL",
            "angles": "degrees",
        },
        "patient": {
            "name": PATIENT["PatientName"],
            "id": PATIENT["PatientID"],
            "sex": PATIENT["PatientSex"],
            "birth_date": "1925-03-12",
            "note": "fictitious; every image is synthetic",
        },
        "labels": {str(k): v for k, v in LABEL_NAMES.items()},
        "lesions": {str(k): v for k, v in LESION_NAMES.items()},
        "history": [{"date": d, "event": e, "note": n} for d, e, n in HISTORY],
        "reference_series": REFERENCE.key,
        "anatomy2reference": _round(anatomy2reference, 9),
        "landmarks_anatomy_mm": {name: list(point) for name, point in LANDMARKS_MM.items()},
        "visits": visits,
    }
    truth_dir = out / "ground_truth"
    truth_dir.mkdir(parents=True, exist_ok=True)
    (truth_dir / "case.json").write_text(json.dumps(truth, indent=1) + "\n", encoding="utf-8")
    (truth_dir / "README.md").write_text(TRUTH_README, encoding="utf-8")
    return truth


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    truth = generate(args.out)
    count = sum(len(v["series"]) for v in truth["visits"])
    print(f"wrote {count} series to {args.out} in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
