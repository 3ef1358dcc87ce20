"""Ground truth of the demo case: label maps as NIfTI, volumes and axial diameters.

"Analytic" numbers sample the exact phantom shapes on a fine grid (0.3 mm for enhancing tumour,
necrosis and cavity, 0.6 mm for oedema, 0.2 mm in-plane for diameters); "label-map" numbers count
the voxels of the ground-truth label maps in the series' own grid. Both use the same shapes, so
their difference is the discretisation of the acquisition grid.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import nibabel as nib
import numpy as np
from demo_phantom import CAVITY, ENHANCING, NECROSIS, OEDEMA, VISIT_LESIONS, Layer, render

LPS2RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
ANALYTIC_TUMOUR_MM = 0.3
ANALYTIC_OEDEMA_MM = 0.6
ANALYTIC_INPLANE_MM = 0.2

# NIfTI voxel axes (i, j, k) = (column, row, slice): the usual order of DICOM-to-NIfTI converters.
_IJK2SRC = np.array([[0, 0, 1, 0], [0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1]], dtype=np.float64)


def nifti_affine(voxel2patient: np.ndarray) -> np.ndarray:
    """RAS affine of a NIfTI holding ``array.transpose(2, 1, 0)`` of a (slice, row, column) grid."""
    return LPS2RAS @ voxel2patient @ _IJK2SRC


def write_label_nifti(
    path: Path, labels: np.ndarray, voxel2patient: np.ndarray, description: str
) -> None:
    """Write a uint8 label map of shape (Z, Y, X) as NIfTI-1 (gzip, reproducible) in RAS.

    The data array is (column, row, slice); qform and sform both hold the scanner-anatomical affine,
    so the map overlays its DICOM series voxel for voxel.
    """
    affine = nifti_affine(voxel2patient)
    image = nib.Nifti1Image(np.ascontiguousarray(labels.transpose(2, 1, 0)), affine)
    image.header.set_xyzt_units("mm")
    image.header["descrip"] = description.encode("ascii")[:79]
    image.set_qform(affine, code=1)
    image.set_sform(affine, code=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(image, path)


def lesion_ids(visit: str) -> list[int]:
    """Lesions present at a visit."""
    return sorted({layer.lesion for layer in VISIT_LESIONS[visit] if layer.lesion})


def _layers_of(visit: str, lesion: int, *, oedema: bool) -> list[Layer]:
    """The layers of one lesion (its cavities count as lesion 1's), with or without oedema."""
    return [
        layer
        for layer in VISIT_LESIONS[visit]
        if (layer.lesion == lesion or (layer.label == CAVITY and lesion == 1))
        and (oedema or layer.label != OEDEMA)
    ]


def _fine_grid(layers: Sequence[Layer], spacing: float) -> tuple[tuple[int, int, int], np.ndarray]:
    """An axis-aligned grid in the anatomical frame (array axes x, y, z) around the layers."""
    spheres = [layer.shape.bounds() for layer in layers]
    low = np.min([c - r for c, r in spheres], axis=0)
    high = np.max([c + r for c, r in spheres], axis=0)
    shape = tuple(int(n) for n in np.ceil((high - low) / spacing) + 1)
    affine = np.eye(4)
    affine[:3, :3] = np.eye(3) * spacing
    affine[:3, 3] = low
    return shape, affine


def centroid(mask: np.ndarray, voxel2space: np.ndarray) -> list[float]:
    """Centroid of a mask's voxel centres, mapped through a (4, 4) affine."""
    index = np.argwhere(mask).mean(axis=0)
    return [float(v) for v in voxel2space[:3, :3] @ index + voxel2space[:3, 3]]


def analytic_lesions(visit: str) -> dict[int, dict]:
    """Volumes (mL) and centroid (anatomical frame, mm) of each lesion, from the exact shapes.

    The centroid is that of the enhancing tumour with its necrotic core, or of the resection cavity
    when there is no tumour (post-operative visit).
    """
    no_oedema = [layer for layer in VISIT_LESIONS[visit] if layer.label != OEDEMA]
    result = {}
    for lesion in lesion_ids(visit):
        shape, affine = _fine_grid(_layers_of(visit, lesion, oedema=False), ANALYTIC_TUMOUR_MM)
        _, labels, lesions = render(shape, affine, no_oedema, None)
        voxel_ml = ANALYTIC_TUMOUR_MM**3 / 1000.0
        mine = lesions == lesion
        tumour = mine & ((labels == ENHANCING) | (labels == NECROSIS))
        cavity = (labels == CAVITY) if lesion == 1 else np.zeros_like(mine)
        region = tumour if tumour.any() else cavity
        stats = {
            "enhancing_ml": np.count_nonzero(mine & (labels == ENHANCING)) * voxel_ml,
            "necrotic_ml": np.count_nonzero(mine & (labels == NECROSIS)) * voxel_ml,
            "cavity_ml": np.count_nonzero(cavity) * voxel_ml,
            "centroid_of": "enhancing+necrotic" if tumour.any() else "cavity",
            "centroid_anatomy_mm": centroid(region, affine),
        }
        shape, affine = _fine_grid(_layers_of(visit, lesion, oedema=True), ANALYTIC_OEDEMA_MM)
        _, labels, lesions = render(shape, affine, VISIT_LESIONS[visit], None)
        stats["oedema_ml"] = (
            np.count_nonzero((lesions == lesion) & (labels == OEDEMA))
            * ANALYTIC_OEDEMA_MM**3
            / 1000
        )
        result[lesion] = stats
    return result


def label_map_lesions(
    labels: np.ndarray, lesions: np.ndarray, voxel2patient: np.ndarray
) -> dict[int, dict]:
    """Volumes (mL) and centroid (patient mm) of each lesion, counted in a series' label maps."""
    voxel_ml = abs(np.linalg.det(voxel2patient[:3, :3])) / 1000.0
    result = {}
    for lesion in sorted(set(np.unique(lesions)) - {0}):
        mine = lesions == lesion
        tumour = mine & ((labels == ENHANCING) | (labels == NECROSIS))
        cavity = (labels == CAVITY) if lesion == 1 else np.zeros_like(mine)
        region = tumour if tumour.any() else cavity
        result[int(lesion)] = {
            "enhancing_ml": np.count_nonzero(mine & (labels == ENHANCING)) * voxel_ml,
            "necrotic_ml": np.count_nonzero(mine & (labels == NECROSIS)) * voxel_ml,
            "oedema_ml": np.count_nonzero(mine & (labels == OEDEMA)) * voxel_ml,
            "cavity_ml": np.count_nonzero(cavity) * voxel_ml,
            "centroid_patient_mm": centroid(region, voxel2patient) if region.any() else None,
        }
    return result


def _boundary(mask: np.ndarray) -> np.ndarray:
    """Pixels of a 2-D mask with at least one 4-neighbour outside it."""
    padded = np.pad(mask, 1)
    interior = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:] & mask
    return mask & ~interior


def diameters(mask: np.ndarray, row_mm: float, column_mm: float) -> tuple[float, float]:
    """Longest diameter of a 2-D mask and the longest extent perpendicular to it, in mm.

    Distances are between pixel centres. The perpendicular diameter is the largest extent of the
    mask along the perpendicular direction within a strip one pixel wide, over all strips along the
    longest diameter (for convex shapes, the longest perpendicular chord).

    Parameters
    ----------
    mask : ndarray of bool, shape (rows, columns)
    row_mm, column_mm : float
        Pixel spacing between rows and between columns, mm.
    """
    # Elementwise arithmetic only (no BLAS), so ties between equal distances resolve the same way
    # on every machine and the ground truth regenerates byte for byte.
    edge = np.argwhere(_boundary(mask)).astype(np.float64) * (row_mm, column_mm)
    best, a, b = -1.0, 0, 0
    for start in range(0, len(edge), 256):
        d_row = edge[start : start + 256, None, 0] - edge[None, :, 0]
        d_col = edge[start : start + 256, None, 1] - edge[None, :, 1]
        squared = d_row * d_row + d_col * d_col
        flat = int(np.argmax(squared))
        if squared.flat[flat] > best:
            best = float(squared.flat[flat])
            a, b = start + flat // len(edge), flat % len(edge)
    longest = float(np.sqrt(best))
    if longest == 0.0:
        return 0.0, 0.0
    u = (edge[b] - edge[a]) / longest
    points = np.argwhere(mask).astype(np.float64) * (row_mm, column_mm)
    along = points[:, 0] * u[0] + points[:, 1] * u[1]
    across = points[:, 1] * u[0] - points[:, 0] * u[1]
    strip = np.floor((along - along.min()) / min(row_mm, column_mm)).astype(int)
    high = np.full(strip.max() + 1, -np.inf)
    low = np.full(strip.max() + 1, np.inf)
    np.maximum.at(high, strip, across)
    np.minimum.at(low, strip, across)
    return longest, float(np.max(high - low))


def slice_diameters(
    labels: np.ndarray, lesions: np.ndarray, lesion: int, row_mm: float, column_mm: float
) -> dict | None:
    """Longest axial diameter of a lesion (enhancing + necrotic) over the slices of a grid.

    Returns the slice with the longest diameter: ``{"slice_index", "longest_mm", "perpendicular_mm",
    "product_mm2"}``, or None when the lesion has no enhancing tumour.
    """
    region = (lesions == lesion) & ((labels == ENHANCING) | (labels == NECROSIS))
    best = None
    for k in np.flatnonzero(region.any(axis=(1, 2))):
        longest, perpendicular = diameters(region[k], row_mm, column_mm)
        if best is None or longest > best["longest_mm"]:
            best = {
                "slice_index": int(k),
                "longest_mm": longest,
                "perpendicular_mm": perpendicular,
                "product_mm2": longest * perpendicular,
            }
    return best


def analytic_slice_diameters(
    visit: str, lesion: int, grid_shape: Sequence[int], voxel2anatomy: np.ndarray
) -> dict | None:
    """As :func:`slice_diameters`, on the exact shapes sampled every 0.2 mm in each slice plane.

    The planes are those of the series' slices (``voxel2anatomy`` maps its voxels to the anatomical
    frame), so the two results compare slice for slice.
    """
    layers = [layer for layer in VISIT_LESIONS[visit] if layer.label != OEDEMA]
    own = _layers_of(visit, lesion, oedema=False)
    centre = np.mean([layer.shape.bounds()[0] for layer in own], axis=0)
    radius = max(
        np.linalg.norm(layer.shape.bounds()[0] - centre) + layer.shape.bounds()[1] for layer in own
    )
    spacing = np.linalg.norm(voxel2anatomy[:3, :3], axis=0)
    centre_index = np.linalg.solve(voxel2anatomy, np.append(centre, 1.0))[:3]
    low = np.maximum(np.floor(centre_index - radius / spacing), 0).astype(int)
    high = np.minimum(np.ceil(centre_index + radius / spacing) + 1, grid_shape).astype(int)
    step = ANALYTIC_INPLANE_MM / spacing[1:]
    fine_shape = (
        int(high[0] - low[0]),
        int((high[1] - low[1]) / step[0]) + 1,
        int((high[2] - low[2]) / step[1]) + 1,
    )
    sub = np.diag([1.0, step[0], step[1], 1.0])
    sub[:3, 3] = low
    _, labels, lesions = render(fine_shape, voxel2anatomy @ sub, layers, None)
    best = slice_diameters(labels, lesions, lesion, ANALYTIC_INPLANE_MM, ANALYTIC_INPLANE_MM)
    if best is not None:
        best["slice_index"] += int(low[0])
    return best
