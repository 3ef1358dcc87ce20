"""The demo patient's head and tumour, in the phantom's anatomical frame (LPS, mm), visit by visit.

The anatomical frame is the head's own frame: origin near the centre of the brain, x to the
patient's left, y posterior, z superior. Every acquisition samples it through that visit's head
position (see ``generate_demo.py``). The scene is a list of layers painted in order over air:
each layer replaces what is under it by its tissue, weighted by its partial-volume fraction, and
writes its label at the voxel centres it covers. Later layers win, so a cavity painted after a
tumour carves it.

Labels (ground truth): 1 enhancing tumour, 2 necrotic core, 3 oedema, 4 resection cavity.
Lesions: 1 the right frontoparietal glioma and its recurrences, 2 the left occipital metastasis.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from demo_shapes import Ellipsoid, HalfSpace, Intersection, Shape, iter_blocks

ENHANCING, NECROSIS, OEDEMA, CAVITY = 1, 2, 3, 4
LABEL_NAMES = {
    0: "background",
    ENHANCING: "enhancing tumour",
    NECROSIS: "necrotic core",
    OEDEMA: "oedema",
    CAVITY: "resection cavity",
}
LESION_NAMES = {
    1: "L1 right frontoparietal glioma (primary, then recurrence at the resection margin)",
    2: "L2 left occipital metastasis (new on 2003-03-27)",
}

# Tissue values. MR: T1 spin echo after gadolinium, relative to white matter = 1.
# CT: Hounsfield units, plain and after iodinated contrast.
TISSUES: dict[str, dict[str, float]] = {
    "MR": {
        "air": 0.0, "scalp": 1.30, "bone": 0.06, "diploe": 0.75, "csf": 0.20, "gm": 0.70,
        "wm": 1.00, "oedema": 0.78, "enhancing": 1.65, "necrosis": 0.30, "cavity": 0.20,
    },
    "CT": {
        "air": -1000.0, "scalp": 15.0, "bone": 1350.0, "diploe": 560.0, "csf": 8.0, "gm": 40.0,
        "wm": 29.0, "oedema": 17.0, "enhancing": 45.0, "necrosis": 14.0, "cavity": 7.0,
    },
    "CT+C": {
        "air": -1000.0, "scalp": 18.0, "bone": 1350.0, "diploe": 565.0, "csf": 8.0, "gm": 42.0,
        "wm": 30.0, "oedema": 18.0, "enhancing": 78.0, "necrosis": 15.0, "cavity": 7.0,
    },
}  # fmt: skip


@dataclass(frozen=True)
class Layer:
    """One painted region.

    Parameters
    ----------
    name : str
    shape : Shape
    tissue : str
        Key of :data:`TISSUES`.
    label : int
        Ground-truth label written at the voxel centres it covers (0: none, anatomy).
    lesion : int
        Lesion id written with the label (0 for anatomy and for cavities, which are not tumour).
    within : tuple of Shape
        The layer only exists inside all of these (e.g. oedema only in white matter).
    outside : tuple of Shape
        ... and outside all of these (e.g. never inside a ventricle).
    """

    name: str
    shape: Shape
    tissue: str
    label: int = 0
    lesion: int = 0
    within: tuple[Shape, ...] = ()
    outside: tuple[Shape, ...] = ()


# ---------------------------------------------------------------------------------------------
# Anatomy (the same at every visit)

HEAD_CENTRE = (0.0, 2.0, 5.0)
HEAD = Ellipsoid(HEAD_CENTRE, (75.0, 95.0, 82.0), lobes=(0, 0, 0, 0, 0, 0, 0.02, 0.02))
SKULL_OUTER = Ellipsoid(HEAD_CENTRE, (70.0, 90.0, 77.0), lobes=(0, 0, 0, 0, 0, 0, 0.02, 0.02))
DIPLOE_OUTER = Ellipsoid(HEAD_CENTRE, (67.5, 87.5, 74.5), lobes=(0, 0, 0, 0, 0, 0, 0.02, 0.02))
DIPLOE_INNER = Ellipsoid(HEAD_CENTRE, (65.5, 85.5, 72.5), lobes=(0, 0, 0, 0, 0, 0, 0.02, 0.02))
SKULL_INNER = Ellipsoid(HEAD_CENTRE, (63.0, 83.0, 70.0), lobes=(0, 0, 0, 0, 0, 0, 0.02, 0.02))
BRAIN = Ellipsoid((0.0, 0.0, 5.0), (60.0, 80.0, 67.0))
WHITE_MATTER = Ellipsoid((0.0, 0.0, 5.0), (54.5, 74.0, 61.0), ripple=(0.045, 22.0, 0.4, 1.1, 2.3))
VENTRICLE_LEFT = Ellipsoid((11.0, 4.0, 17.0), (6.0, 24.0, 8.0), (0.0, 0.0, -8.0))
VENTRICLE_RIGHT = Ellipsoid((-11.0, 4.0, 17.0), (6.0, 24.0, 8.0), (0.0, 0.0, 8.0))
THIRD_VENTRICLE = Ellipsoid((0.0, 6.0, 0.0), (1.8, 12.0, 7.0))
FISSURE = Intersection(
    (
        HalfSpace((1.0, 0.0, 0.0), 1.4),
        HalfSpace((-1.0, 0.0, 0.0), 1.4),
        HalfSpace((0, 0, -1), -24.0),
    )
)
VENTRICLES = (VENTRICLE_LEFT, VENTRICLE_RIGHT, THIRD_VENTRICLE)

ANATOMY = (
    Layer("scalp", HEAD, "scalp"),
    Layer("skull", SKULL_OUTER, "bone"),
    Layer("diploe", DIPLOE_OUTER, "diploe"),
    Layer("inner table", DIPLOE_INNER, "bone"),
    Layer("subarachnoid csf", SKULL_INNER, "csf"),
    Layer("grey matter", BRAIN, "gm"),
    Layer("white matter", WHITE_MATTER, "wm"),
    Layer("lateral ventricle (left)", VENTRICLE_LEFT, "csf"),
    Layer("lateral ventricle (right)", VENTRICLE_RIGHT, "csf"),
    Layer("third ventricle", THIRD_VENTRICLE, "csf"),
    Layer("interhemispheric fissure", FISSURE, "csf", within=(BRAIN,)),
)

LANDMARKS_MM = {
    "anatomical_origin": (0.0, 0.0, 0.0),
    "right_lateral_ventricle_centre": VENTRICLE_RIGHT.centre_mm,
    "left_lateral_ventricle_centre": VENTRICLE_LEFT.centre_mm,
    "left_centrum_semiovale_white_matter": (25.0, 0.0, 40.0),
}
"""Fixed anatomical points (anatomical frame, LPS mm), the same at every visit."""


# ---------------------------------------------------------------------------------------------
# The tumour, visit by visit


def _unit(v: Sequence[float]) -> np.ndarray:
    a = np.asarray(v, dtype=np.float64)
    return a / np.linalg.norm(a)


def _along(origin: Sequence[float], direction: np.ndarray, distance_mm: float) -> tuple:
    return tuple(float(x) for x in np.round(np.asarray(origin) + distance_mm * direction, 3))


PRIMARY = (-31.0, 2.0, 30.0)
"""Centre of the 1995 glioma: right (x < 0) frontoparietal, at the motor strip."""
MARGIN_DIRECTION = _unit((0.25, 0.75, 0.6))
"""From the first cavity to the postero-superior margin where the tumour recurs."""
CAVITY_1995 = Ellipsoid(_along(PRIMARY, _unit((-1, 0, 1)), 1.5), (14.0, 12.0, 11.5), (10, -5, 25))
CAVITY_2002 = Ellipsoid(_along(PRIMARY, _unit((-1, 0, 1)), 2.5), (10.5, 9.0, 8.5), (10, -5, 25))
NODULE_2002 = _along(CAVITY_2002.centre_mm, MARGIN_DIRECTION, 13.5)
GROWTH_2002 = _along(NODULE_2002, MARGIN_DIRECTION, 4.0)
CAVITY_2002_12 = Ellipsoid(GROWTH_2002, (15.0, 13.0, 12.0), (5, 10, 30), (0, 0, 0, 0.04, 0, 0.03))
RECURRENCE_2003 = _along(GROWTH_2002, _unit((-0.55, 0.75, 0.1)), 6.0)
METASTASIS = (30.0, 52.0, 12.0)
"""Left (x > 0) occipital, at the grey-white junction."""


def _lesion_layers(
    lesion: int,
    *,
    oedema: Ellipsoid | None = None,
    tumour: Ellipsoid | None = None,
    necrosis: Ellipsoid | None = None,
    cavities: Sequence[Ellipsoid] = (),
) -> tuple[Layer, ...]:
    """Layers of one lesion, in painting order: oedema, tumour, necrosis, cavities."""
    layers = []
    if oedema is not None:
        # Vasogenic oedema follows the white matter and never enters the ventricles or the fissure.
        outside = (*VENTRICLES, FISSURE)
        layers.append(
            Layer(f"L{lesion} oedema", oedema, "oedema", OEDEMA, lesion, (WHITE_MATTER,), outside)
        )
    if tumour is not None:
        layers.append(
            Layer(f"L{lesion} enhancing tumour", tumour, "enhancing", ENHANCING, lesion, (BRAIN,))
        )
    if necrosis is not None:
        layers.append(
            Layer(f"L{lesion} necrotic core", necrosis, "necrosis", NECROSIS, lesion, (tumour,))
        )
    for n, cavity in enumerate(cavities, start=1):
        layers.append(
            Layer(f"L{lesion} resection cavity {n}", cavity, "cavity", CAVITY, 0, (BRAIN,))
        )
    return tuple(layers)


VISIT_LESIONS: dict[str, tuple[Layer, ...]] = {
    # Diagnosis: a ring-enhancing glioma with a necrotic core and oedema, about 33 x 28 mm axially.
    "1995-06-12": _lesion_layers(
        1,
        oedema=Ellipsoid(
            _along(PRIMARY, _unit((0.2, 0.3, -1)), 4.0),
            (25.0, 25.0, 23.0),
            (0, 0, 15),
            (0.03, -0.02, 0.0, 0.06, -0.05, 0.04, 0.05, -0.04, 0.03),
        ),
        tumour=Ellipsoid(
            PRIMARY,
            (16.5, 14.0, 13.5),
            (10, -5, 25),
            (0.0, 0.0, 0.0, 0.03, -0.02, 0.02, 0.03, 0.0, 0.02),
        ),
        necrosis=Ellipsoid(
            _along(PRIMARY, _unit((1, 1, 0)), 1.0),
            (8.5, 7.0, 7.0),
            (10, -5, 25),
            (0.0, 0.0, 0.0, -0.04, 0.03, 0.0, 0.04, 0.03, 0.0),
        ),
    ),
    # Post-operative (day 2): the tumour is resected; a CSF-filled cavity and residual oedema.
    "1995-07-01": _lesion_layers(
        1,
        oedema=Ellipsoid(
            _along(PRIMARY, _unit((1, 0, -1)), 3.0),
            (22.0, 19.0, 18.0),
            (0, 0, 15),
            (0.02, 0.0, 0.0, 0.05, -0.04, 0.03, 0.04, -0.03, 0.02),
        ),
        cavities=(CAVITY_1995,),
    ),
    # Recurrence: a small enhancing nodule at the postero-superior margin of the shrunken cavity.
    "2002-08-14": _lesion_layers(
        1,
        oedema=Ellipsoid(NODULE_2002, (15.0, 14.0, 13.0), (0, 0, 20), (0, 0, 0, 0.06, 0.05, -0.05)),
        tumour=Ellipsoid(NODULE_2002, (7.0, 6.5, 6.0), (0, 10, 30), (0, 0, 0, 0.03, 0.0, 0.02)),
        cavities=(CAVITY_2002,),
    ),
    # Marked growth from the margin, with necrosis; the cavity is still there.
    "2002-12-09": _lesion_layers(
        1,
        oedema=Ellipsoid(
            _along(GROWTH_2002, _unit((-1, 0, -1)), 3.0),
            (27.0, 28.0, 25.0),
            (0, 0, 20),
            (0.02, 0.0, 0.0, 0.05, -0.04, 0.04, 0.05, -0.04, 0.03),
        ),
        tumour=Ellipsoid(
            GROWTH_2002,
            (19.0, 16.5, 15.0),
            (5, 10, 30),
            (0.0, 0.0, 0.0, 0.04, 0.03, -0.03, 0.04, 0.0, 0.02),
        ),
        necrosis=Ellipsoid(
            _along(GROWTH_2002, MARGIN_DIRECTION, 2.0),
            (8.0, 7.0, 6.5),
            (5, 10, 30),
            (0.0, 0.0, 0.0, 0.03, -0.03, 0.0, 0.04, 0.0, 0.0),
        ),
        cavities=(CAVITY_2002,),
    ),
    # After the second resection (2002-12-16): a thick irregular enhancing recurrence around the
    # new cavity, larger than in December, and a new ring-enhancing left occipital metastasis.
    "2003-03-27": _lesion_layers(
        1,
        oedema=Ellipsoid(
            _along(RECURRENCE_2003, _unit((-1, 0, -1)), 3.0),
            (29.0, 31.0, 27.0),
            (0, 0, 25),
            (0.02, 0.0, 0.0, 0.05, -0.04, 0.04, 0.05, -0.04, 0.03),
        ),
        tumour=Ellipsoid(
            RECURRENCE_2003,
            (22.5, 20.0, 18.0),
            (5, 10, 40),
            (0.0, 0.0, 0.0, 0.05, 0.04, -0.04, 0.05, 0.0, 0.03),
        ),
        necrosis=Ellipsoid(
            _along(RECURRENCE_2003, _unit((-0.55, 0.75, 0.1)), 8.0), (6.0, 5.0, 5.0), (5, 10, 40)
        ),
        cavities=(CAVITY_2002, CAVITY_2002_12),
    )
    + _lesion_layers(
        2,
        oedema=Ellipsoid(
            METASTASIS,
            (17.0, 15.0, 14.0),
            (0, 0, -20),
            (0.03, 0.0, 0.0, 0.08, -0.06, 0.05, 0.06, -0.05, 0.04),
        ),
        tumour=Ellipsoid(METASTASIS, (7.5, 7.0, 6.5), (0, 0, -20), (0, 0, 0, 0.03, -0.02, 0.02)),
        necrosis=Ellipsoid(METASTASIS, (3.8, 3.5, 3.5), (0, 0, -20)),
    ),
}
"""Lesion layers per visit date (ISO), painted over :data:`ANATOMY`."""


def scene(visit_date: str) -> tuple[Layer, ...]:
    """All layers for one visit (anatomy, then that visit's lesions)."""
    return ANATOMY + VISIT_LESIONS[visit_date]


def render(
    grid_shape: Sequence[int],
    voxel2anatomy: np.ndarray,
    layers: Sequence[Layer],
    tissue_values: Mapping[str, float] | None,
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Paint the layers on a grid.

    Parameters
    ----------
    grid_shape : (Z, Y, X)
    voxel2anatomy : ndarray of shape (4, 4)
        Maps ``(slice, row, column, 1)`` to the anatomical frame, mm.
    layers : sequence of Layer
    tissue_values : mapping tissue -> value, or None
        Intensities (MR relative units or CT HU); None skips the image (labels only, faster).

    Returns
    -------
    image : ndarray of float64, shape (Z, Y, X), or None
        Noise-free partial-volume image.
    labels : ndarray of uint8, shape (Z, Y, X)
        Tissue class at each voxel centre (see module docstring; 0 elsewhere).
    lesions : ndarray of uint8, shape (Z, Y, X)
        Lesion id at each voxel centre labelled 1, 2 or 3.
    """
    want_image = tissue_values is not None
    image = np.full(grid_shape, tissue_values["air"]) if want_image else None
    labels = np.zeros(grid_shape, dtype=np.uint8)
    lesions = np.zeros(grid_shape, dtype=np.uint8)
    for layer in layers:
        if not want_image and layer.label == 0:
            continue
        for block in iter_blocks(grid_shape, voxel2anatomy, layer.shape.bounds()):
            inside, frac = layer.shape.evaluate(voxel2anatomy, block, fraction=want_image)
            for mask_shape in layer.within:
                m_inside, m_frac = mask_shape.evaluate(voxel2anatomy, block, fraction=want_image)
                inside = inside & m_inside
                frac = frac * m_frac if want_image else None
            for mask_shape in layer.outside:
                m_inside, m_frac = mask_shape.evaluate(voxel2anatomy, block, fraction=want_image)
                inside = inside & ~m_inside
                frac = frac * (1.0 - m_frac) if want_image else None
            if want_image:
                region = image[block.slices]
                region += frac * (tissue_values[layer.tissue] - region)
            if layer.label:
                labels[block.slices][inside] = layer.label
                lesions[block.slices][inside] = layer.lesion
    return image, labels, lesions
