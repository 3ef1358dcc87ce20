"""A small analytic head for fast registration tests: nested ellipsoids with soft 1 mm edges.

Asymmetric on purpose (ventricles of different sizes, a right-sided lesion, a nose), so that
every rotation and shift changes the image. Rendered straight from the shapes on any grid and in
any head position, so a moved image is never an interpolated copy of the reference.
"""

from __future__ import annotations

import numpy as np

from viewer.core.geometry import apply_affine
from viewer.core.volume import Volume, VolumeMetadata

# (centre mm, semi-axes mm, MR value relative to white matter, CT value in HU), painted in order.
SHAPES = (
    ((0.0, 0.0, 0.0), (72.0, 88.0, 76.0), 1.2, 20.0),  # scalp
    ((0.0, 0.0, 0.0), (67.0, 83.0, 71.0), 0.08, 1100.0),  # skull
    ((0.0, 0.0, 0.0), (61.0, 77.0, 65.0), 0.25, 8.0),  # CSF
    ((0.0, 0.0, 2.0), (58.0, 74.0, 61.0), 0.75, 38.0),  # grey matter
    ((0.0, 3.0, 6.0), (50.0, 64.0, 50.0), 1.0, 29.0),  # white matter
    ((10.0, 6.0, 14.0), (6.0, 22.0, 9.0), 0.25, 8.0),  # left ventricle
    ((-12.0, 2.0, 12.0), (8.0, 18.0, 7.0), 0.25, 8.0),  # right ventricle (larger, offset)
    ((-32.0, -18.0, 28.0), (13.0, 10.0, 11.0), 1.6, 70.0),  # right frontal enhancing lesion
    ((-32.0, -18.0, 28.0), (6.0, 5.0, 5.0), 0.3, 15.0),  # its necrotic core
    ((0.0, -88.0, -20.0), (10.0, 14.0, 18.0), 1.2, 20.0),  # nose
)

EDGE_MM = 1.0
"""Width of the soft edge of every shape, mm (a logistic step going from 12 % to 88 % over it)."""


def grid(shape: tuple[int, int, int], spacing_mm: tuple[float, float, float]) -> np.ndarray:
    """Axial ``voxel2patient`` (4, 4) of a grid centred on the origin: (slice, row, column)."""
    affine = np.zeros((4, 4))
    affine[3, 3] = 1.0
    affine[2, 0] = spacing_mm[0]  # slices go superior
    affine[1, 1] = spacing_mm[1]  # rows go posterior
    affine[0, 2] = spacing_mm[2]  # columns go left
    affine[:3, 3] = -affine[:3, :3] @ ((np.asarray(shape) - 1) / 2.0)
    return affine


def render(
    shape: tuple[int, int, int],
    voxel2patient: np.ndarray,
    anatomy2patient: np.ndarray | None = None,
    *,
    modality: str = "MR",
    scale: float = 1000.0,
    noise: float = 0.02,
    seed: int = 0,
) -> Volume:
    """The head on a grid, in a head position, as an MR (arbitrary units) or CT (HU) volume.

    Parameters
    ----------
    shape : (Z, Y, X)
    voxel2patient : ndarray of shape (4, 4)
    anatomy2patient : ndarray of shape (4, 4), optional
        Head position: anatomical frame -> patient LPS mm (identity by default).
    modality : {"MR", "CT"}
    scale : float
        MR value of white matter.
    noise : float
        Gaussian noise, relative to white matter (MR) or in units of 100 HU (CT).
    seed : int
    """
    pose = np.eye(4) if anatomy2patient is None else anatomy2patient
    voxel2anatomy = np.linalg.inv(pose) @ voxel2patient
    index = np.indices(shape, dtype=np.float64).reshape(3, -1).T
    points = apply_affine(voxel2anatomy, index)
    air = 0.0 if modality == "MR" else -1000.0
    image = np.full(len(points), air)
    for centre, radii, mr_value, ct_value in SHAPES:
        radii_arr = np.asarray(radii)
        rho = np.sqrt(np.sum(((points - centre) / radii_arr) ** 2, axis=1))
        distance_mm = (rho - 1.0) * radii_arr.min()
        fraction = 1.0 / (1.0 + np.exp(np.clip(distance_mm / (EDGE_MM / 4), -50, 50)))
        value = mr_value if modality == "MR" else ct_value
        image += fraction * (value - image)
    rng = np.random.default_rng(seed)
    if modality == "MR":
        array = np.rint((image + rng.normal(0, noise, image.shape)).clip(0) * scale)
    else:
        array = np.rint(image + rng.normal(0, noise * 100, image.shape))
    units = "HU" if modality == "CT" else ""
    metadata = VolumeMetadata(modality=modality, units=units, description=f"phantom {modality}")
    return Volume(array.reshape(shape).astype(np.int16), voxel2patient, metadata)


def rigid(
    angles_deg: tuple[float, float, float], shift_mm: tuple[float, float, float]
) -> np.ndarray:
    """(4, 4) rotation ``Rz @ Ry @ Rx`` by angles about x, y, z (degrees) then a shift (mm)."""
    ax, ay, az = np.deg2rad(angles_deg)
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    matrix = np.eye(4)
    matrix[:3, :3] = rz @ ry @ rx
    matrix[:3, 3] = shift_mm
    return matrix


def tre_mm(found: np.ndarray, true: np.ndarray, points_mm: np.ndarray) -> np.ndarray:
    """Target registration error (N,) in mm of reference points, for moving2reference matrices."""
    moving_points = apply_affine(np.linalg.inv(true), points_mm)
    return np.linalg.norm(apply_affine(found, moving_points) - points_mm, axis=1)


def brain_points(anatomy2patient: np.ndarray | None = None, step_mm: float = 6.0) -> np.ndarray:
    """Points on a regular grid inside the phantom's grey matter, patient LPS mm (N, 3)."""
    centre, radii = np.asarray(SHAPES[3][0]), np.asarray(SHAPES[3][1])
    axis = np.arange(-80.0, 80.1, step_mm)
    cube = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), -1).reshape(-1, 3)
    inside = cube[np.sum(((cube - centre) / radii) ** 2, axis=1) < 1.0]
    return apply_affine(np.eye(4) if anatomy2patient is None else anatomy2patient, inside)
