"""A small synthetic case read twice: spheres on an axial grid, a reference and a trainee.

Grid: 40 slices of 2 mm, 64 x 64 pixels of 1 mm, axial, centred on the patient origin. Visit 1
(baseline) has L1, a sphere of radius 10 mm; at visit 2 L1 has grown to 10.8 mm (SPD about +15 %,
stable under RANO 2010) and the reference also outlines L2, a new sphere of radius 6 mm.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence

import numpy as np

from viewer.core.geometry import apply_affine
from viewer.core.lesions import LesionKind
from viewer.teaching.reading import (
    Reader,
    Reading,
    ReadingLesion,
    Role,
    SeriesOutlines,
    VisitStatement,
)

SHAPE = (40, 64, 64)
VOXEL2PATIENT = np.array([[0, 0, 1.0, -31.5], [0, 1.0, 0, -31.5], [2.0, 0, 0, -39.0], [0, 0, 0, 1]])
VISITS = (("2020-01-06", "S1"), ("2020-03-02", "S2"))
L1_CENTRE_MM = (-5.0, 0.0, 0.0)
L2_CENTRE_MM = (18.0, 12.0, 10.0)
GROWN_MM = 10.8
CREATED = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)


def sphere(
    centre_mm: Sequence[float],
    radius_mm: float,
    *,
    shape: tuple[int, int, int] = SHAPE,
    voxel2patient: np.ndarray = VOXEL2PATIENT,
) -> np.ndarray:
    """Voxels whose centre lies within ``radius_mm`` of ``centre_mm`` (LPS)."""
    points = apply_affine(voxel2patient, np.stack(np.indices(shape), axis=-1))
    return np.sum((points - np.asarray(centre_mm)) ** 2, axis=-1) <= radius_mm**2


def label_map(*lesions: tuple[int, np.ndarray]) -> np.ndarray:
    labels = np.zeros(SHAPE, np.uint16)
    for number, mask in lesions:
        labels[mask & (labels == 0)] = number
    return labels


def reading(
    role: Role,
    maps: Sequence[np.ndarray],
    lesions: Sequence[ReadingLesion],
    categories: Sequence[str | None] = (None, None),
    **options: object,
) -> Reading:
    """A reading of the synthetic case with one label map per visit."""
    series = [
        SeriesOutlines(key, date, VOXEL2PATIENT, labels, 2.0)
        for (date, key), labels in zip(VISITS, maps, strict=True)
    ]
    visits = [
        VisitStatement(date, dt.date.fromisoformat(date), key, category)
        for (date, key), category in zip(VISITS, categories, strict=True)
    ]
    return Reading(Reader(role.value, role), CREATED, lesions, series, visits, **options)


def reference() -> Reading:
    """L1 at both visits, growing 10 -> 10.8 mm; L2 new at visit 2: progression."""
    maps = [
        label_map((1, sphere(L1_CENTRE_MM, 10.0))),
        label_map((1, sphere(L1_CENTRE_MM, GROWN_MM)), (2, sphere(L2_CENTRE_MM, 6.0))),
    ]
    lesions = [
        ReadingLesion(1, "L1 glioma", LesionKind.ENHANCING),
        ReadingLesion(2, "L2 metastasis", LesionKind.ENHANCING),
    ]
    return reading(Role.REFERENCE, maps, lesions, ("baseline", "PD"))


def trainee_missing_l2() -> Reading:
    """The trainee's numbering (L4), L1 outlined exactly, L2 missed; states SD."""
    maps = [
        label_map((4, sphere(L1_CENTRE_MM, 10.0))),
        label_map((4, sphere(L1_CENTRE_MM, GROWN_MM))),
    ]
    return reading(
        Role.TRAINEE, maps, [ReadingLesion(4, "L4", LesionKind.ENHANCING)], ("baseline", "SD")
    )


def as_trainee(source: Reading) -> Reading:
    """The same reading by a trainee (for self-comparison)."""
    return dataclasses.replace(source, reader=Reader("trainee", Role.TRAINEE))
