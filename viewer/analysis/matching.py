"""Match lesions between visits in the reference frame: links, new, gone, splits and merges.

A reader who outlines with the same lesion keeps its number on every visit, but a lesion may be
numbered differently (carried forward wrongly, an imported reading) or may split or merge. The
matching here checks the numbering and proposes links from the outlines themselves.

Two lesions are linked only when they **touch** in the reference frame: their voxels, rasterised
on a common 1 mm grid, share at least ``min_overlap`` of the smaller lesion, and their centroids
lie within ``max_distance_mm``. Lesions that do not overlap are never paired, however close they
are (a new lesion beside an old one is a new lesion, not the old one moved).

Overlap is measured on the 1 mm grid because the two visits' voxels lie on different grids
(different spacing, slice thickness and head position): each voxel is filled with sub-samples
at most half a grid step apart, so a thick slice covers its whole slab and the same region
drawn on any grid fills the same grid nodes to within half a millimetre.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from viewer.core.geometry import apply_affine

GRID_MM = 1.0
"""Step of the common grid on which overlaps are measured (mm)."""

MIN_OVERLAP = 0.1
"""Default share of the smaller lesion that must lie inside the other for a link.

Measured on the smaller lesion, not as a Dice coefficient, because lesions change size: a 1 mL
nodule that grows into an 18 mL recurrence around it has a Dice of at most 0.1 with it, yet it is
plainly the same lesion. A tenth leaves room for registration error and the half-slab blur of
thick slices, and still refuses two neighbours that only graze each other at a boundary.
"""

MAX_DISTANCE_MM = 30.0
"""Default largest distance between the centroids of linked lesions (mm).

A lesion that grows on one side moves its centroid by up to the difference of the old and new
radii: 30 mm allows a nodule at a cavity's margin to become a 60 mm recurrence around it, while
a lesion that only grazes the edge of a much larger one far away is refused.
"""

_MAX_SAMPLES = 2_000_000
"""Sub-samples rasterised at a time (bounds the memory of large lesions to ~50 MB)."""


@dataclass(frozen=True, eq=False)
class VisitLesions:
    """One visit's lesions, in the reference frame.

    Attributes
    ----------
    visit : str
        Label of the visit, e.g. ``"2002-12-09"``.
    masks_mm : mapping of int to ndarray of shape (N, 3)
        Lesion number -> reference-frame LPS coordinates (mm) of the centres of its voxels; every
        lesion has at least one voxel.
    voxel_volume_ml : float
        Volume of one voxel of the series the lesions were outlined on (mL).
    voxel_axes_mm : ndarray of shape (3, 3), optional
        Columns: the reference-frame vector (mm) of one voxel step along (slice, row, column).
        Tells the rasteriser the voxels' true shape (thick slices, oblique grids); without it a
        voxel is taken as a cube of ``voxel_volume_ml`` aligned with the reference axes.
    """

    visit: str
    masks_mm: Mapping[int, np.ndarray]
    voxel_volume_ml: float
    voxel_axes_mm: np.ndarray | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.voxel_volume_ml) and self.voxel_volume_ml > 0):
            raise ValueError(
                f"visit {self.visit}: voxel volume must be positive, got {self.voxel_volume_ml} mL"
            )
        masks = {}
        for number, points in sorted(self.masks_mm.items()):
            array = np.array(points, dtype=np.float64)
            if array.ndim != 2 or array.shape[1] != 3 or array.shape[0] == 0:
                raise ValueError(
                    f"visit {self.visit}: lesion {number} needs an (N, 3) array of voxel centres "
                    f"with N >= 1, got shape {array.shape} (leave absent lesions out)"
                )
            if not np.all(np.isfinite(array)):
                raise ValueError(f"visit {self.visit}: lesion {number} has non-finite points")
            array.setflags(write=False)
            masks[int(number)] = array
        object.__setattr__(self, "masks_mm", masks)
        if self.voxel_axes_mm is not None:
            axes = np.array(self.voxel_axes_mm, dtype=np.float64)
            if axes.shape != (3, 3) or not np.all(np.isfinite(axes)):
                raise ValueError(
                    f"visit {self.visit}: voxel_axes_mm must be a finite (3, 3) matrix"
                )
            axes_ml = abs(float(np.linalg.det(axes))) / 1000.0
            if not math.isclose(axes_ml, self.voxel_volume_ml, rel_tol=0.01):
                raise ValueError(
                    f"visit {self.visit}: voxel axes span {axes_ml:.6g} mL but the voxel volume "
                    f"is {self.voxel_volume_ml:.6g} mL"
                )
            axes.setflags(write=False)
            object.__setattr__(self, "voxel_axes_mm", axes)

    @classmethod
    def from_label_map(
        cls,
        visit: str,
        labels: np.ndarray,
        voxel2patient: np.ndarray,
        patient2reference: np.ndarray | None = None,
    ) -> VisitLesions:
        """A visit's lesions from its native label map (voxel value = lesion number).

        Parameters
        ----------
        visit : str
        labels : ndarray of int, shape (Z, Y, X)
            0 is background.
        voxel2patient : ndarray of shape (4, 4)
            The label map's series: (slice, row, column, 1) -> LPS mm.
        patient2reference : ndarray of shape (4, 4), optional
            The series' registration (its LPS mm -> reference LPS mm); identity when omitted.

        Returns
        -------
        VisitLesions
        """
        voxel2reference = _voxel2reference(voxel2patient, patient2reference)
        return cls(
            visit=visit,
            masks_mm=lesions_in_reference(labels, voxel2patient, patient2reference),
            voxel_volume_ml=abs(float(np.linalg.det(voxel2reference[:3, :3]))) / 1000.0,
            voxel_axes_mm=voxel2reference[:3, :3],
        )


@dataclass(frozen=True)
class Link:
    """An earlier lesion and the later lesion it became.

    Attributes
    ----------
    earlier, later : int
        Lesion numbers on the earlier and the later visit (they differ when it was renumbered).
    overlap : float
        Dice coefficient of the two on the common 1 mm grid, 0..1.
    distance_mm : float
        Distance between their centroids in the reference frame (mm).
    overlap_of_smaller : float
        Share of the smaller lesion that lies inside the other, 0..1 (what ``min_overlap``
        is compared with).
    """

    earlier: int
    later: int
    overlap: float
    distance_mm: float
    overlap_of_smaller: float


@dataclass(frozen=True)
class Matching:
    """How the lesions of one visit correspond to those of the next.

    Attributes
    ----------
    links : tuple of Link
        Every linked pair, ordered by (earlier, later).
    new : tuple of int
        Later lesions linked to no earlier one.
    gone : tuple of int
        Earlier lesions linked to no later one.
    splits : dict of int to tuple of int
        Earlier lesion -> the several later lesions it is linked to.
    merges : dict of int to tuple of int
        Later lesion -> the several earlier lesions linked to it.
    earlier_visit, later_visit : str
        The visits' labels.
    """

    links: tuple[Link, ...]
    new: tuple[int, ...]
    gone: tuple[int, ...]
    splits: dict[int, tuple[int, ...]] = field(default_factory=dict)
    merges: dict[int, tuple[int, ...]] = field(default_factory=dict)
    earlier_visit: str = ""
    later_visit: str = ""


def lesions_in_reference(
    labels: np.ndarray, voxel2patient: np.ndarray, patient2reference: np.ndarray | None = None
) -> dict[int, np.ndarray]:
    """Voxel centres of every lesion of a native label map, in the reference frame.

    Parameters
    ----------
    labels : ndarray of int, shape (Z, Y, X)
        Lesion number per voxel, 0 for background.
    voxel2patient : ndarray of shape (4, 4)
        (slice, row, column, 1) -> LPS mm of the label map's series.
    patient2reference : ndarray of shape (4, 4), optional
        The series' LPS mm -> reference LPS mm; identity when omitted.

    Returns
    -------
    dict of int to ndarray of shape (N, 3)
        Lesion number -> reference-frame LPS mm of its voxel centres (float64), in number order;
        lesions with no voxel are absent.

    Examples
    --------
    >>> labels = np.zeros((1, 2, 2), np.uint16); labels[0, 1, 1] = 3
    >>> lesions_in_reference(labels, np.diag([5.0, 2.0, 1.0, 1.0]))
    {3: array([[0., 2., 1.]])}
    """
    array = np.asarray(labels)
    if array.ndim != 3 or array.dtype.kind not in "iu":
        raise ValueError(
            f"a label map must be a 3-D integer array, got {array.dtype} {array.shape}"
        )
    voxel2reference = _voxel2reference(voxel2patient, patient2reference)
    indices = np.nonzero(array)
    numbers = array[indices]
    if numbers.size == 0:
        return {}
    order = np.argsort(numbers, kind="stable")
    numbers = numbers[order]
    points = apply_affine(voxel2reference, np.stack(indices, axis=1)[order])
    starts = np.flatnonzero(np.r_[True, numbers[1:] != numbers[:-1]])
    ends = [*starts[1:], numbers.size]
    return {int(numbers[a]): points[a:b] for a, b in zip(starts, ends, strict=True)}


def match_lesions(
    earlier: VisitLesions,
    later: VisitLesions,
    *,
    min_overlap: float = MIN_OVERLAP,
    max_distance_mm: float = MAX_DISTANCE_MM,
) -> Matching:
    """Link the lesions of two visits by overlap and centroid distance in the reference frame.

    A pair is linked when the lesions overlap (at least one shared node of the common 1 mm
    grid), the shared part is at least ``min_overlap`` of the smaller lesion, and the centroids
    are at most ``max_distance_mm`` apart. An earlier lesion linked to several later ones has
    split; a later lesion linked to several earlier ones is a merge.

    Parameters
    ----------
    earlier, later : VisitLesions
        Both in the same reference frame.
    min_overlap : float
        In (0, 1]; see :data:`MIN_OVERLAP` for the default and why it is measured on the
        smaller lesion.
    max_distance_mm : float
        > 0; see :data:`MAX_DISTANCE_MM`.

    Returns
    -------
    Matching
    """
    if not 0.0 < min_overlap <= 1.0:
        raise ValueError(f"min_overlap must be in (0, 1], got {min_overlap}")
    if not max_distance_mm > 0:
        raise ValueError(f"max_distance_mm must be positive, got {max_distance_mm}")
    grid = _Grid(earlier, later)
    links = []
    for a, points_a in earlier.masks_mm.items():
        for b, points_b in later.masks_mm.items():
            if not grid.boxes_touch(earlier, a, later, b):
                continue
            nodes_a, nodes_b = grid.nodes(earlier, a), grid.nodes(later, b)
            shared = np.intersect1d(nodes_a, nodes_b, assume_unique=True).size
            if shared == 0:
                continue
            of_smaller = shared / min(nodes_a.size, nodes_b.size)
            distance_mm = float(np.linalg.norm(points_a.mean(axis=0) - points_b.mean(axis=0)))
            if of_smaller >= min_overlap and distance_mm <= max_distance_mm:
                dice = 2.0 * shared / (nodes_a.size + nodes_b.size)
                links.append(Link(a, b, dice, distance_mm, of_smaller))
    return _matching(links, earlier, later)


def track(visits: Sequence[VisitLesions], **options: Any) -> list[Matching]:
    """Match each visit's lesions to the next visit's (visits in date order).

    Parameters
    ----------
    visits : sequence of VisitLesions
        In the order to follow, usually by date; all in one reference frame.
    **options
        ``min_overlap`` and ``max_distance_mm``, as for :func:`match_lesions`.

    Returns
    -------
    list of Matching
        ``len(visits) - 1`` matchings: visit 0 -> 1, 1 -> 2, ...
    """
    return [match_lesions(a, b, **options) for a, b in zip(visits[:-1], visits[1:], strict=True)]


def _voxel2reference(voxel2patient: np.ndarray, patient2reference: np.ndarray | None) -> np.ndarray:
    matrix = _finite_4x4(voxel2patient, "voxel2patient")
    if patient2reference is None:
        return matrix
    return _finite_4x4(patient2reference, "patient2reference") @ matrix


def _finite_4x4(matrix: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(matrix, dtype=np.float64)
    if array.shape != (4, 4) or not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be a finite (4, 4) matrix, got shape {array.shape}")
    return array


def _matching(links: list[Link], earlier: VisitLesions, later: VisitLesions) -> Matching:
    links.sort(key=lambda link: (link.earlier, link.later))
    to_later: dict[int, list[int]] = {}
    to_earlier: dict[int, list[int]] = {}
    for link in links:
        to_later.setdefault(link.earlier, []).append(link.later)
        to_earlier.setdefault(link.later, []).append(link.earlier)
    return Matching(
        links=tuple(links),
        new=tuple(n for n in later.masks_mm if n not in to_earlier),
        gone=tuple(n for n in earlier.masks_mm if n not in to_later),
        splits={a: tuple(bs) for a, bs in to_later.items() if len(bs) > 1},
        merges={b: tuple(sorted(as_)) for b, as_ in sorted(to_earlier.items()) if len(as_) > 1},
        earlier_visit=earlier.visit,
        later_visit=later.visit,
    )


class _Grid:
    """The common 1 mm grid of two visits: each lesion's filled nodes, as sorted flat indices."""

    def __init__(self, *visits: VisitLesions) -> None:
        self._offsets = {id(v): _subsample_offsets(v) for v in visits}
        self._boxes: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
        for visit in visits:
            reach = np.abs(self._offsets[id(visit)]).max(axis=0)
            for number, points in visit.masks_mm.items():
                low = np.floor((points.min(axis=0) - reach) / GRID_MM + 0.5).astype(np.int64)
                high = np.floor((points.max(axis=0) + reach) / GRID_MM + 0.5).astype(np.int64)
                self._boxes[(id(visit), number)] = (low, high)
        lows, highs = zip(*self._boxes.values(), strict=True) if self._boxes else ([0], [0])
        self._origin = np.min(lows, axis=0)
        self._dims = np.max(highs, axis=0) - self._origin + 1
        self._cache: dict[tuple[int, int], np.ndarray] = {}

    def boxes_touch(self, a: VisitLesions, na: int, b: VisitLesions, nb: int) -> bool:
        low_a, high_a = self._boxes[(id(a), na)]
        low_b, high_b = self._boxes[(id(b), nb)]
        return bool(np.all(low_a <= high_b) and np.all(low_b <= high_a))

    def nodes(self, visit: VisitLesions, number: int) -> np.ndarray:
        key = (id(visit), number)
        if key not in self._cache:
            self._cache[key] = self._rasterise(visit.masks_mm[number], self._offsets[id(visit)])
        return self._cache[key]

    def _rasterise(self, points: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        chunk = max(1, _MAX_SAMPLES // len(offsets))
        parts = []
        for start in range(0, len(points), chunk):
            samples = points[start : start + chunk, None, :] + offsets[None, :, :]
            node = np.floor(samples.reshape(-1, 3) / GRID_MM + 0.5).astype(np.int64)
            node -= self._origin
            parts.append((node[:, 0] * self._dims[1] + node[:, 1]) * self._dims[2] + node[:, 2])
        return np.unique(np.concatenate(parts))


def _subsample_offsets(visit: VisitLesions) -> np.ndarray:
    """Offsets (M, 3) in mm from a voxel's centre to sub-samples filling it, <= half a step apart.

    A lattice of sub-samples with edges of at most half a grid step has a covering radius below
    half a step, so every grid node whose unit cell lies inside the voxels receives a sample.
    """
    if visit.voxel_axes_mm is None:
        edge_mm = (visit.voxel_volume_ml * 1000.0) ** (1.0 / 3.0)
        axes = np.eye(3) * edge_mm
    else:
        axes = visit.voxel_axes_mm
    steps = [max(1, math.ceil(np.linalg.norm(axes[:, k]) / (GRID_MM / 2.0))) for k in range(3)]
    fractions = [(np.arange(n) + 0.5) / n - 0.5 for n in steps]
    grid = np.stack(np.meshgrid(*fractions, indexing="ij"), axis=-1).reshape(-1, 3)
    return grid @ axes.T
