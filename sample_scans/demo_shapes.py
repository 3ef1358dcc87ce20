"""Analytic shapes for the demo phantom, evaluated on voxel grids with partial-volume fractions.

Every shape lives in the phantom's anatomical frame (LPS, mm). A grid is given by its
``voxel2anatomy`` affine: ``(slice, row, column, 1) -> anatomical mm``. A shape returns, for each
voxel of a block, whether the voxel *centre* is inside (what the ground-truth label maps hold) and
optionally the fraction of the voxel inside (what the image intensities use, so edges are not
aliased).

The fraction comes from linearising the shape's implicit function ``g`` (negative inside) over the
voxel, a unit box in index space: with ``G`` the gradient of ``g`` in index units, the voxel's
values of ``g`` spread over ``g +- |G|_1 / 2``, and the fraction inside is taken as the linear ramp
``clip(0.5 - g / |G|_1, 0, 1)``. Thick slices therefore blur edges along the slice direction, as a
real partial-volume effect does.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

Vector = tuple[float, float, float]

# Basis of the low-order shape modulation: functions of the unit direction (ux, uy, uz) in the
# ellipsoid's own normalised frame. Bounded by 1 on the sphere, so |epsilon| <= sum(|coefficients|).
_LOBE_BASIS = (
    lambda x, y, z: x,
    lambda x, y, z: y,
    lambda x, y, z: z,
    lambda x, y, z: 2.0 * x * y,
    lambda x, y, z: 2.0 * y * z,
    lambda x, y, z: 2.0 * x * z,
    lambda x, y, z: x * x - y * y,
    lambda x, y, z: 1.5 * z * z - 0.5,
    lambda x, y, z: 5.196 * x * y * z,
)


def rotation_matrix(angles_deg: Sequence[float]) -> np.ndarray:
    """Rotation ``Rz @ Ry @ Rx`` from angles about x, y and z, in degrees.

    Parameters
    ----------
    angles_deg : sequence of 3 float
        Rotation about the x (left), y (posterior) and z (superior) axes in degrees, applied in
        that order.

    Returns
    -------
    ndarray of shape (3, 3)
    """
    ax, ay, az = (math.radians(a) for a in angles_deg)
    rx = np.array([[1, 0, 0], [0, math.cos(ax), -math.sin(ax)], [0, math.sin(ax), math.cos(ax)]])
    ry = np.array([[math.cos(ay), 0, math.sin(ay)], [0, 1, 0], [-math.sin(ay), 0, math.cos(ay)]])
    rz = np.array([[math.cos(az), -math.sin(az), 0], [math.sin(az), math.cos(az), 0], [0, 0, 1]])
    return rz @ ry @ rx


@dataclass(frozen=True)
class Block:
    """A rectangular block of a voxel grid, with its index coordinates ready for broadcasting.

    ``k``, ``j`` and ``i`` have shapes (Z, 1, 1), (1, Y, 1) and (1, 1, X): slice, row and column
    indices (float64) of the block's voxels in the full grid.
    """

    slices: tuple[slice, slice, slice]
    k: np.ndarray
    j: np.ndarray
    i: np.ndarray

    @property
    def shape(self) -> tuple[int, int, int]:
        """Block shape (Z, Y, X)."""
        return (self.k.shape[0], self.j.shape[1], self.i.shape[2])


def iter_blocks(
    grid_shape: Sequence[int],
    voxel2anatomy: np.ndarray,
    bounds: tuple[np.ndarray, float] | None,
    *,
    max_voxels: int = 300_000,
) -> Iterator[Block]:
    """Blocks of the grid that cover a bounding sphere, cut along axis 0 to bound memory.

    Parameters
    ----------
    grid_shape : (Z, Y, X)
    voxel2anatomy : ndarray of shape (4, 4)
    bounds : (centre, radius) in anatomical mm, or None for the whole grid
    max_voxels : int
        Upper bound on the voxels in one block (one slice is never split).
    """
    shape = np.asarray(grid_shape, dtype=int)
    lo, hi = np.zeros(3, dtype=int), shape.copy()
    if bounds is not None:
        centre, radius = bounds
        centre_index = np.linalg.solve(voxel2anatomy, np.append(centre, 1.0))[:3]
        # The grid axes are orthogonal, so a sphere's extent along axis n is radius / spacing_n.
        half = radius / np.linalg.norm(voxel2anatomy[:3, :3], axis=0)
        lo = np.clip(np.floor(centre_index - half).astype(int), 0, shape)
        hi = np.clip(np.ceil(centre_index + half).astype(int) + 1, 0, shape)
    if np.any(hi <= lo):
        return
    step = max(1, max_voxels // int((hi[1] - lo[1]) * (hi[2] - lo[2])))
    j = np.arange(lo[1], hi[1], dtype=np.float64)[None, :, None]
    i = np.arange(lo[2], hi[2], dtype=np.float64)[None, None, :]
    for k0 in range(lo[0], hi[0], step):
        k1 = min(k0 + step, hi[0])
        k = np.arange(k0, k1, dtype=np.float64)[:, None, None]
        yield Block((slice(k0, k1), slice(lo[1], hi[1]), slice(lo[2], hi[2])), k, j, i)


def _affine_component(matrix: np.ndarray, offset: np.ndarray, row: int, block: Block) -> np.ndarray:
    """Row ``row`` of ``matrix @ (k, j, i) + offset`` over a block, shape broadcast to the block."""
    m = matrix[row]
    return m[0] * block.k + m[1] * block.j + m[2] * block.i + offset[row]


def _ramp(g: np.ndarray, width: np.ndarray) -> np.ndarray:
    """Partial-volume fraction from an implicit function value and its spread over the voxel."""
    return np.clip(0.5 - g / np.maximum(width, 1e-12), 0.0, 1.0)


@dataclass(frozen=True)
class Ellipsoid:
    """An ellipsoid whose radius is modulated by smooth lobes and an optional cortical ripple.

    In the ellipsoid's own frame scaled by its semi-axes, a point at normalised radius ``rho`` in
    the unit direction ``u`` is inside when ``rho < 1 + sum(lobes[n] * basis_n(u)) + ripple(p)``.

    Parameters
    ----------
    centre_mm : (x, y, z)
        Centre in the anatomical frame, LPS mm.
    semi_axes_mm : (a, b, c)
        Semi-axes before rotation, mm.
    angles_deg : (ax, ay, az)
        Orientation, see :func:`rotation_matrix`.
    lobes : tuple of float
        Up to 9 coefficients of the low-order modulation (dimensionless), see ``_LOBE_BASIS``.
    ripple : (amplitude, wavelength_mm, phase_x, phase_y, phase_z), optional
        A product of three sines of the anatomical coordinates: gyri-like folding of a surface.
    """

    centre_mm: Vector
    semi_axes_mm: Vector
    angles_deg: Vector = (0.0, 0.0, 0.0)
    lobes: tuple[float, ...] = ()
    ripple: tuple[float, float, float, float, float] | None = None

    def __post_init__(self) -> None:
        if len(self.lobes) > len(_LOBE_BASIS):
            raise ValueError(f"at most {len(_LOBE_BASIS)} lobe coefficients")

    def bounds(self) -> tuple[np.ndarray, float]:
        """Bounding sphere: centre (anatomical mm) and radius (mm)."""
        slack = 1.0 + sum(abs(c) for c in self.lobes) + (self.ripple[0] if self.ripple else 0.0)
        return np.asarray(self.centre_mm, dtype=np.float64), max(self.semi_axes_mm) * slack + 1.0

    def evaluate(
        self, voxel2anatomy: np.ndarray, block: Block, *, fraction: bool = True
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Inside-mask of the voxel centres and (optionally) the partial-volume fraction.

        Returns
        -------
        inside : ndarray of bool, shape of the block
        fraction : ndarray of float64, shape of the block, or None
        """
        rotation = rotation_matrix(self.angles_deg)
        semi = np.asarray(self.semi_axes_mm, dtype=np.float64)
        # index -> normalised local frame: v = R^T (A idx + a0 - c) / semi
        linear = (rotation.T @ voxel2anatomy[:3, :3]) / semi[:, None]
        offset = (rotation.T @ (voxel2anatomy[:3, 3] - np.asarray(self.centre_mm))) / semi
        v = [_affine_component(linear, offset, n, block) for n in range(3)]
        rho = np.sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2])
        radius = np.ones_like(rho)
        if self.lobes:
            safe = np.maximum(rho, 1e-12)
            u = [c / safe for c in v]
            for coefficient, basis in zip(self.lobes, _LOBE_BASIS, strict=False):
                radius = radius + coefficient * basis(*u)
        ripple_grad = None
        if self.ripple is not None:
            amplitude, wavelength, *phases = self.ripple
            wave = 2.0 * math.pi / wavelength
            p = [
                _affine_component(voxel2anatomy[:3, :3], voxel2anatomy[:3, 3], n, block)
                for n in range(3)
            ]
            s = [np.sin(wave * p[n] + phases[n]) for n in range(3)]
            radius = radius + amplitude * s[0] * s[1] * s[2]
            if fraction:
                c = [np.cos(wave * p[n] + phases[n]) for n in range(3)]
                d_anat = [
                    amplitude * wave * c[0] * s[1] * s[2],
                    amplitude * wave * s[0] * c[1] * s[2],
                    amplitude * wave * s[0] * s[1] * c[2],
                ]
                a = voxel2anatomy[:3, :3]
                ripple_grad = [sum(d_anat[n] * a[n, m] for n in range(3)) for m in range(3)]
        inside = rho < radius
        if not fraction:
            return inside, None
        safe = np.maximum(rho, 1e-12)
        # gradient of rho in index units (the lobes vary slowly and are left out of it)
        grad = [sum(v[n] * linear[n, m] for n in range(3)) / safe for m in range(3)]
        if ripple_grad is not None:
            grad = [grad[m] - ripple_grad[m] for m in range(3)]
        width = np.abs(grad[0]) + np.abs(grad[1]) + np.abs(grad[2])
        return inside, _ramp(rho - radius, width)


@dataclass(frozen=True)
class HalfSpace:
    """The points with ``dot(normal, p) < offset_mm`` (the normal is normalised first)."""

    normal: Vector
    offset_mm: float

    def bounds(self) -> None:
        """Unbounded."""
        return None

    def evaluate(
        self, voxel2anatomy: np.ndarray, block: Block, *, fraction: bool = True
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Inside-mask and partial-volume fraction, as :meth:`Ellipsoid.evaluate`."""
        n = np.asarray(self.normal, dtype=np.float64)
        n = n / np.linalg.norm(n)
        linear = (n @ voxel2anatomy[:3, :3])[None, :]
        offset = np.array([n @ voxel2anatomy[:3, 3] - self.offset_mm])
        g = _affine_component(linear, offset, 0, block)
        g = np.broadcast_to(g, block.shape)
        inside = g < 0
        if not fraction:
            return inside, None
        return inside, _ramp(g, np.full(block.shape, np.abs(linear).sum()))


@dataclass(frozen=True)
class Intersection:
    """Points inside every part; the fraction is the product of the parts' fractions."""

    parts: tuple[Ellipsoid | HalfSpace, ...]

    def bounds(self) -> tuple[np.ndarray, float] | None:
        """The smallest bounding sphere among the bounded parts."""
        spheres = [b for b in (p.bounds() for p in self.parts) if b is not None]
        return min(spheres, key=lambda b: b[1]) if spheres else None

    def evaluate(
        self, voxel2anatomy: np.ndarray, block: Block, *, fraction: bool = True
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Inside-mask and partial-volume fraction, as :meth:`Ellipsoid.evaluate`."""
        inside, frac = self.parts[0].evaluate(voxel2anatomy, block, fraction=fraction)
        for part in self.parts[1:]:
            part_inside, part_frac = part.evaluate(voxel2anatomy, block, fraction=fraction)
            inside = inside & part_inside
            if fraction:
                frac = frac * part_frac
        return inside, frac


Shape = Ellipsoid | HalfSpace | Intersection
