"""Acquire the phantom as a scanner does: a slice grid, a head position, noise and bias.

Each series has its own head position (``anatomy2patient``: the phantom's anatomical frame to that
acquisition's DICOM patient coordinates, LPS mm) and its own slice grid. The geometry written to
DICOM is formatted first (decimal strings, as the tags hold them) and the grid that samples the
phantom is rebuilt from those strings, so the pixels and the tags agree to the last written digit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from demo_phantom import TISSUES, render, scene
from demo_shapes import Block, iter_blocks, rotation_matrix

PLANE_ORIENTATIONS = {
    "axial": ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0)),
    "coronal": ((1.0, 0.0, 0.0), (0.0, 0.0, -1.0)),
}
"""ImageOrientationPatient (row cosine, column cosine) of each plane, before any tilt."""


@dataclass(frozen=True)
class Pose:
    """A head position: ``p_patient = R(angles) @ p_anatomy + translation``.

    Parameters
    ----------
    angles_deg : (ax, ay, az)
        Rotation about x, y, z in degrees (see ``demo_shapes.rotation_matrix``).
    translation_mm : (x, y, z)
        Where the anatomical origin (near the centre of the brain) lies in patient coordinates,
        LPS mm.
    """

    angles_deg: tuple[float, float, float]
    translation_mm: tuple[float, float, float]

    def anatomy2patient(self) -> np.ndarray:
        """The (4, 4) rigid transform from the anatomical frame to patient coordinates."""
        affine = np.eye(4)
        affine[:3, :3] = rotation_matrix(self.angles_deg)
        affine[:3, 3] = self.translation_mm
        return affine


@dataclass(frozen=True)
class SeriesSpec:
    """How one series was acquired.

    Parameters
    ----------
    visit : str
        Study date, ISO (``"1995-06-12"``).
    number : int
        SeriesNumber.
    modality : {"MR", "CT"}
    description : str
        SeriesDescription.
    plane : {"axial", "coronal"}
    matrix : (rows, columns)
    pixel_mm : float
        Square pixel spacing, mm.
    slice_mm : float
        Slice thickness and spacing (contiguous slices), mm.
    n_slices : int
    pose : Pose
        Head position during this acquisition.
    coverage_centre_mm : (x, y, z)
        Anatomical point the technologist centred the field of view on.
    contrast : bool
        Gadolinium (MR) or iodinated contrast (CT) given.
    tilt_deg : float
        Oblique tilt of the slices about the patient's left-right axis, degrees.
    signal : float
        MR only: mean white-matter signal in real (rescaled) units.
    bias : (bx, by, bz, bq)
        MR only: receive-field bias, linear per 100 mm along x, y, z and quadratic in-plane.
    rescale_slope : float
        MR only: RescaleSlope written (stored = real / slope).
    rle : bool
        Write with RLE Lossless compression.
    superior_first : bool
        Number the instances from the top slice down (some scanners do); slice order on disk and in
        the ground truth is always by position along the slice normal.
    time : str
        SeriesTime, HHMMSS.
    """

    visit: str
    number: int
    modality: str
    description: str
    plane: str
    matrix: tuple[int, int]
    pixel_mm: float
    slice_mm: float
    n_slices: int
    pose: Pose
    coverage_centre_mm: tuple[float, float, float]
    contrast: bool
    tilt_deg: float = 0.0
    signal: float = 1000.0
    bias: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    rescale_slope: float = 1.0
    rle: bool = False
    superior_first: bool = False
    time: str = "100000"

    @property
    def folder_name(self) -> str:
        """Series folder name, e.g. ``SE05_AX_T1_POST_GAD``."""
        return f"SE{self.number:02d}_" + self.description.replace(" ", "_").replace("+", "PLUS")

    @property
    def key(self) -> str:
        """Identifier used in the ground truth, e.g. ``1995-06-12/SE05_AX_T1_POST_GAD``."""
        return f"{self.visit}/{self.folder_name}"

    @property
    def tissue_table(self) -> str:
        """Key of ``demo_phantom.TISSUES`` for this acquisition."""
        if self.modality == "CT":
            return "CT+C" if self.contrast else "CT"
        return "MR"

    @property
    def plane_label(self) -> str:
        """Acquisition plane in words."""
        return f"oblique {self.plane}" if self.tilt_deg else self.plane


def format_ds(value: float, decimals: int) -> str:
    """A decimal string for a DS tag (at most 16 characters), without a negative zero."""
    text = f"{round(value, decimals):.{decimals}f}"
    if decimals > 0:
        text = text.rstrip("0").rstrip(".")
    text = "0" if text == "-0" else text
    if len(text) > 16:
        raise ValueError(f"{value} does not fit a DS value")
    return text


@dataclass(frozen=True)
class Geometry:
    """The slice grid of a series as written to DICOM, and its affine rebuilt from those strings.

    ``positions`` are the ImagePositionPatient strings in slice order (ascending along the normal).
    """

    shape: tuple[int, int, int]
    orientation: tuple[str, ...]
    pixel_spacing: tuple[str, str]
    positions: tuple[tuple[str, str, str], ...]
    voxel2patient: np.ndarray


def build_geometry(spec: SeriesSpec) -> Geometry:
    """Lay out the slices of a series around its field-of-view centre.

    Returns
    -------
    Geometry
        ``voxel2patient`` maps ``(slice, row, column, 1)`` to LPS mm, built from the formatted tags.
    """
    row_cos, col_cos = (np.asarray(v) for v in PLANE_ORIENTATIONS[spec.plane])
    if spec.tilt_deg:
        tilt = rotation_matrix((spec.tilt_deg, 0.0, 0.0))
        row_cos, col_cos = tilt @ row_cos, tilt @ col_cos
    orientation = tuple(format_ds(v, 8) for v in (*row_cos, *col_cos))
    iop = np.array([float(v) for v in orientation])
    row_cos, col_cos = iop[:3], iop[3:]
    normal = np.cross(row_cos, col_cos)
    rows, columns = spec.matrix
    centre = spec.pose.anatomy2patient() @ np.append(spec.coverage_centre_mm, 1.0)
    centre = np.round(centre[:3] * 2.0) / 2.0  # the console offers half-millimetre offsets
    first = (
        centre
        - (columns - 1) / 2 * spec.pixel_mm * row_cos
        - (rows - 1) / 2 * spec.pixel_mm * col_cos
        - (spec.n_slices - 1) / 2 * spec.slice_mm * normal
    )
    positions = tuple(
        tuple(format_ds(v, 4) for v in first + k * spec.slice_mm * normal)
        for k in range(spec.n_slices)
    )
    ipp = np.array([[float(v) for v in p] for p in positions])
    spacing = format_ds(spec.pixel_mm, 6)
    affine = np.eye(4)
    affine[:3, 0] = (ipp[-1] - ipp[0]) / (spec.n_slices - 1)
    affine[:3, 1] = col_cos * float(spacing)
    affine[:3, 2] = row_cos * float(spacing)
    affine[:3, 3] = ipp[0]
    return Geometry(
        (spec.n_slices, rows, columns), orientation, (spacing, spacing), positions, affine
    )


def patient2anatomy(spec: SeriesSpec) -> np.ndarray:
    """(4, 4) rigid transform from this series' patient coordinates to the anatomical frame."""
    return np.linalg.inv(spec.pose.anatomy2patient())


def _bias_field(spec: SeriesSpec, geometry: Geometry, block: Block) -> np.ndarray:
    """Smooth multiplicative receive-coil bias over a block, about 1 in the middle of the field."""
    a = geometry.voxel2patient
    centre = a @ np.append((np.asarray(geometry.shape) - 1) / 2.0, 1.0)
    p = [
        (a[n, 0] * block.k + a[n, 1] * block.j + a[n, 2] * block.i + a[n, 3] - centre[n]) / 100.0
        for n in range(3)
    ]
    bx, by, bz, bq = spec.bias
    return 1.0 + bx * p[0] + by * p[1] + bz * p[2] + bq * (p[0] * p[0] + p[1] * p[1])


def acquire(
    spec: SeriesSpec, geometry: Geometry, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sample the phantom on a series grid and add what a scanner adds.

    MR: real signal = ``signal * bias * relative intensity`` with Rician noise (magnitude of complex
    Gaussian noise, sigma 2.5% of white matter); stored values = real / RescaleSlope, uint16.
    CT: Hounsfield units with Gaussian noise (sigma 3.5 HU); stored = HU + 1024, uint16, clipped to
    12 bits as a scanner does.

    Parameters
    ----------
    spec : SeriesSpec
    geometry : Geometry
    seed : int
        Seeds this series' noise (numpy Generator), so the output is reproducible.

    Returns
    -------
    stored : ndarray of uint16, shape (Z, Y, X)
        Pixel values as written to the files.
    labels, lesions : ndarray of uint8, shape (Z, Y, X)
        Ground truth at the voxel centres (see ``demo_phantom.render``).
    """
    voxel2anatomy = patient2anatomy(spec) @ geometry.voxel2patient
    image, labels, lesions = render(
        geometry.shape, voxel2anatomy, scene(spec.visit), TISSUES[spec.tissue_table]
    )
    rng = np.random.default_rng(seed)
    if spec.modality == "CT":
        hu = image + rng.normal(0.0, 3.5, size=image.shape)
        stored = np.clip(np.rint(hu + 1024.0), 0, 4095).astype(np.uint16)
        return stored, labels, lesions
    for block in iter_blocks(geometry.shape, geometry.voxel2patient, None):
        image[block.slices] *= _bias_field(spec, geometry, block)
    sigma = 0.025
    real = rng.normal(0.0, sigma, size=image.shape)
    imaginary = rng.normal(0.0, sigma, size=image.shape)
    magnitude = np.sqrt((image + real) ** 2 + imaginary**2) * spec.signal
    stored = np.clip(np.rint(magnitude / spec.rescale_slope), 0, 65535).astype(np.uint16)
    return stored, labels, lesions
