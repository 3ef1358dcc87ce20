"""How a trainee's reading agrees with a reference reading: outlines, numbers and categories.

Where the outlines are compared
    At each visit, on the series the reference read the visit on (its own grid, nothing
    resampled) when the trainee outlined that series too. A trainee who read the visit on
    another series has their outlines resampled onto the reference's series (nearest
    neighbour) through both series' registrations, when the caller gives them; without them the
    outlines of that visit are not compared, only the measurements.
Which lesions correspond
    The two readings number their lesions independently. A trainee lesion and a reference lesion
    are linked at a visit when they overlap by at least
    :data:`viewer.analysis.matching.MIN_OVERLAP` of the smaller one (the rule the app links
    lesions across visits by: lesions that do not overlap are never paired). Across the case,
    each reference lesion is paired with at most one trainee lesion, the pair sharing the most
    volume first. A reference lesion present at a visit without its trainee partner there is
    *missed* at that visit; a trainee lesion without a reference partner there is *extra*.
Per lesion and visit
    Dice, HD95 and the Hausdorff distance (:mod:`viewer.teaching.surface`); volume difference in
    mL and as a percentage of the reference; longest and perpendicular diameter and product
    differences; whether the diameters lie on the same slice of the reference's measuring grid.
    Differences are trainee minus reference.
Largest disagreement
    The biggest connected region where the two readings' outlines disagree (one outlined, the
    other not, or both but as lesions that do not correspond), with a point deep inside it in
    the series' patient coordinates, for the views to jump to.
Categories
    See :mod:`viewer.teaching.explain`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from viewer.analysis.criteria import CRITERIA, Criteria
from viewer.analysis.matching import MIN_OVERLAP
from viewer.analysis.measure import Diameters, LesionMeasurement, is_axial, true_axial_grid
from viewer.core.geometry import apply_affine, voxel_spacing
from viewer.core.lesions import LesionKind
from viewer.teaching.assessment import ReadingAssessment, assess_reading
from viewer.teaching.explain import VisitCategories, compare_categories
from viewer.teaching.reading import Reading, SeriesOutlines
from viewer.teaching.surface import dice, surface_distance

MATCHED = "matched"
MISSED = "missed"
EXTRA = "extra"
NOT_COMPARED = "not compared"
"""A lesion at a visit the two readings outlined on different series with no registration to
relate them, and with no partner there: whether the other reading has it cannot be told."""

Patient2Reference = Callable[[str], "np.ndarray | None"]
"""``patient2reference(series_key)``: the series' registration (4, 4), or None if unknown."""


@dataclass(frozen=True)
class LesionPair:
    """A reference lesion and the trainee lesion that outlines it.

    Attributes
    ----------
    reference, trainee : int
        Lesion numbers in each reading.
    shared_ml : float
        Volume both outline, summed over the visits, mL.
    visits : tuple of str
        Visits at which they overlap enough to be linked.
    """

    reference: int
    trainee: int
    shared_ml: float
    visits: tuple[str, ...]


@dataclass(frozen=True)
class Correspondence:
    """Which trainee lesion is which reference lesion, across the case.

    Attributes
    ----------
    pairs : tuple of LesionPair
        By reference number.
    unpaired_reference, unpaired_trainee : tuple of int
        Lesions with no partner at any visit.
    notes : tuple of str
        Outlines that overlap more than one lesion of the other reading (split or merged), and
        pairs whose kinds differ.
    """

    pairs: tuple[LesionPair, ...]
    unpaired_reference: tuple[int, ...]
    unpaired_trainee: tuple[int, ...]
    notes: tuple[str, ...] = ()

    def trainee_of(self, reference: int) -> int | None:
        """The trainee's number for a reference lesion (None: not paired)."""
        return next((p.trainee for p in self.pairs if p.reference == reference), None)

    def reference_of(self, trainee: int) -> int | None:
        """The reference's number for a trainee lesion (None: not paired)."""
        return next((p.reference for p in self.pairs if p.trainee == trainee), None)


@dataclass(frozen=True)
class LesionVisitAgreement:
    """One lesion at one visit, trainee against reference.

    Attributes
    ----------
    visit : str
    status : {'matched', 'missed', 'extra', 'not compared'}
    reference_lesion, trainee_lesion : int or None
        None on the side that has no lesion here.
    name : str
        The reference's name of the lesion, or ``"your L<n> (<name>)"`` for an extra one.
    kind : LesionKind
        The reference's kind (the trainee's for an extra lesion).
    kind_agrees : bool or None
        Both readings give it the same kind (None unless matched).
    series_key : str or None
        The grid the outlines were compared on (None: they could not be).
    dice : float or None
        0..1.
    hd95_mm, hausdorff_mm : float or None
        None unless both outlined it on the compared grid.
    reference_volume_ml, trainee_volume_ml : float or None
    volume_difference_ml : float or None
    volume_difference_percent : float or None
        Of the reference volume.
    reference_diameters, trainee_diameters : Diameters or None
    longest_difference_mm, perpendicular_difference_mm : float or None
    product_difference_mm2, product_difference_percent : float or None
    same_slice : bool or None
        Both laid the diameters on the same slice of the reference's measuring grid (None: one
        has no diameters, or the slices cannot be related without a registration).
    """

    visit: str
    status: str
    reference_lesion: int | None
    trainee_lesion: int | None
    name: str
    kind: LesionKind
    kind_agrees: bool | None = None
    series_key: str | None = None
    dice: float | None = None
    hd95_mm: float | None = None
    hausdorff_mm: float | None = None
    reference_volume_ml: float | None = None
    trainee_volume_ml: float | None = None
    volume_difference_ml: float | None = None
    volume_difference_percent: float | None = None
    reference_diameters: Diameters | None = None
    trainee_diameters: Diameters | None = None
    longest_difference_mm: float | None = None
    perpendicular_difference_mm: float | None = None
    product_difference_mm2: float | None = None
    product_difference_percent: float | None = None
    same_slice: bool | None = None


@dataclass(frozen=True)
class Disagreement:
    """A connected region where the outlines disagree.

    Attributes
    ----------
    visit : str
    series_key : str
        The series whose grid the region is on.
    point_patient_mm : tuple of 3 float
        The point of the region farthest from its edge, in that series' patient coordinates
        (LPS, mm): where to jump to.
    volume_ml : float
    reference_lesion, trainee_lesion : int or None
        The lesions the region mostly belongs to in each reading (None: none there).
    description : str
    """

    visit: str
    series_key: str
    point_patient_mm: tuple[float, float, float]
    volume_ml: float
    reference_lesion: int | None
    trainee_lesion: int | None
    description: str


@dataclass(frozen=True)
class Agreement:
    """A trainee's reading compared with a reference reading.

    Attributes
    ----------
    criteria : Criteria
        Both readings were assessed by these (the reference's).
    reference, trainee : ReadingAssessment
    correspondence : Correspondence
    lesions : tuple of LesionVisitAgreement
        By visit (date order), then reference lesion number, extra lesions last.
    categories : tuple of VisitCategories
        One per visit of the reference.
    disagreements : tuple of Disagreement
        Largest first (at most :data:`MAX_DISAGREEMENTS`).
    notes : tuple of str
        What could not be compared, and why.
    """

    criteria: Criteria
    reference: ReadingAssessment
    trainee: ReadingAssessment
    correspondence: Correspondence
    lesions: tuple[LesionVisitAgreement, ...]
    categories: tuple[VisitCategories, ...]
    disagreements: tuple[Disagreement, ...]
    notes: tuple[str, ...] = ()

    @property
    def largest_disagreement(self) -> Disagreement | None:
        """Where the outlines disagree most (None: they agree everywhere)."""
        return self.disagreements[0] if self.disagreements else None

    @property
    def missed(self) -> tuple[LesionVisitAgreement, ...]:
        """Reference lesions the trainee did not outline, by visit."""
        return tuple(row for row in self.lesions if row.status == MISSED)

    @property
    def extra(self) -> tuple[LesionVisitAgreement, ...]:
        """Trainee lesions the reference does not have, by visit."""
        return tuple(row for row in self.lesions if row.status == EXTRA)

    @property
    def mean_dice(self) -> float | None:
        """Mean Dice over the lesion-visits whose outlines were compared.

        Missed and extra lesions count as 0: an outline nobody drew agrees with nothing.
        """
        values = [row.dice for row in self.lesions if row.dice is not None]
        return float(np.mean(values)) if values else None

    @property
    def mean_hd95_mm(self) -> float | None:
        """Mean HD95 over the lesion-visits both outlined, mm."""
        values = [row.hd95_mm for row in self.lesions if row.hd95_mm is not None]
        return float(np.mean(values)) if values else None

    @property
    def categories_agreed(self) -> tuple[int, int]:
        """(visits whose categories agree, visits compared)."""
        return sum(c.agree for c in self.categories), len(self.categories)


MAX_DISAGREEMENTS = 10
"""Disagreement regions kept, largest first."""


def compare_readings(
    trainee: Reading,
    reference: Reading,
    *,
    criteria: Criteria | None = None,
    patient2reference: Patient2Reference | None = None,
) -> Agreement:
    """Compare a trainee's reading with a reference reading of the same case.

    Parameters
    ----------
    trainee, reference : Reading
        Readings of one case (series keys and visit labels of the same catalogue).
    criteria : Criteria, optional
        Both readings are assessed by these; default: the reference's criteria.
    patient2reference : callable, optional
        ``patient2reference(series_key)`` -> the series' registration (4, 4) or None; only
        needed to compare outlines a visit's two readings drew on different series.

    Returns
    -------
    Agreement
    """
    criteria = criteria or CRITERIA[reference.criteria_key]
    reference_assessed = assess_reading(reference, criteria)
    trainee_assessed = assess_reading(trainee, criteria)
    notes: list[str] = []
    if trainee.criteria_key != reference.criteria_key:
        notes.append(
            f"You read the case by {CRITERIA[trainee.criteria_key].name}; both readings are "
            f"compared by the reference's {criteria.name}."
        )
    grids = [
        _visit_grid(trainee, reference, visit.label, patient2reference, notes)
        for visit in reference.visits
    ]
    grids = [grid for grid in grids if grid is not None]
    unknown = [
        v.label for v in trainee.visits if v.label not in {r.label for r in reference.visits}
    ]
    if unknown:
        notes.append(f"Visits {', '.join(unknown)} are not in the reference and were not compared.")
    correspondence = _correspond(grids, trainee, reference)
    rows = []
    for visit in reference.visits:
        grid = next((g for g in grids if g.visit == visit.label), None)
        rows += _visit_rows(
            visit.label,
            grid,
            trainee_assessed,
            reference_assessed,
            correspondence,
            patient2reference,
        )
    regions = sorted(
        (d for grid in grids for d in _disagreements(grid, correspondence, trainee, reference)),
        key=lambda d: -d.volume_ml,
    )
    unrelated = {grid.visit for grid in grids if grid.trainee is None}
    categories = compare_categories(
        trainee_assessed, reference_assessed, correspondence.pairs, unrelated
    )
    return Agreement(
        criteria,
        reference_assessed,
        trainee_assessed,
        correspondence,
        tuple(rows),
        categories,
        tuple(regions[:MAX_DISAGREEMENTS]),
        tuple(notes) + trainee_assessed.notes,
    )


# --------------------------------------------------------------------------- the grids


@dataclass(frozen=True, eq=False)
class _Grid:
    """Both readings' outlines of one visit on one grid (``trainee`` None: not comparable)."""

    visit: str
    outlines: SeriesOutlines  # the grid: the reference's series (or the trainee's if it has none)
    reference: np.ndarray
    trainee: np.ndarray | None

    @property
    def voxel_ml(self) -> float:
        return float(abs(np.linalg.det(self.outlines.voxel2patient[:3, :3]))) / 1000.0


def _visit_grid(
    trainee: Reading,
    reference: Reading,
    label: str,
    patient2reference: Patient2Reference | None,
    notes: list[str],
) -> _Grid | None:
    ours = _reading_outlines(reference, label)
    theirs = _reading_outlines(trainee, label)
    if ours is None and theirs is None:
        return None
    if ours is None:
        assert theirs is not None
        return _Grid(label, theirs, np.zeros(theirs.shape, np.uint16), theirs.labels)
    if theirs is None:
        return _Grid(label, ours, ours.labels, np.zeros(ours.shape, np.uint16))
    if theirs.key == ours.key and theirs.record.fingerprint == ours.record.fingerprint:
        return _Grid(label, ours, ours.labels, theirs.labels)
    resampled = _resampled(theirs, ours, patient2reference)
    if resampled is None:
        notes.append(
            f"{label}: you outlined series {theirs.key}, the reference {ours.key}; without "
            "their registrations the outlines were not compared, only the measurements."
        )
    return _Grid(label, ours, ours.labels, resampled)


def _reading_outlines(reading: Reading, label: str) -> SeriesOutlines | None:
    try:
        key = reading.visit(label).series_key
    except KeyError:
        return None
    return reading.series.get(key) if key else None


def _resampled(
    source: SeriesOutlines, target: SeriesOutlines, patient2reference: Patient2Reference | None
) -> np.ndarray | None:
    """``source``'s label map on ``target``'s grid (nearest neighbour), through registrations."""
    if patient2reference is None:
        return None
    source2ref, target2ref = patient2reference(source.key), patient2reference(target.key)
    if source2ref is None or target2ref is None:
        return None
    target2source = (
        np.linalg.inv(source.voxel2patient)
        @ np.linalg.inv(np.asarray(source2ref, dtype=np.float64))
        @ np.asarray(target2ref, dtype=np.float64)
        @ target.voxel2patient
    )
    result = np.zeros(target.shape, np.uint16)
    rows, columns = np.indices(target.shape[1:])
    for k in range(target.shape[0]):  # a slice at a time: bounded memory
        plane = np.stack([np.full(rows.shape, k), rows, columns], axis=-1)
        index = np.rint(apply_affine(target2source, plane)).astype(np.int64)
        inside = np.all((index >= 0) & (index < np.array(source.shape)), axis=-1)
        picked = index[inside]
        result[k][inside] = source.labels[picked[:, 0], picked[:, 1], picked[:, 2]]
    return result


# --------------------------------------------------------------------------- correspondence


def _overlaps(grid: _Grid) -> tuple[dict[tuple[int, int], int], dict[int, int], dict[int, int]]:
    """Voxels shared by each (reference, trainee) pair, and each lesion's voxel count."""
    assert grid.trainee is not None
    either = (grid.reference > 0) | (grid.trainee > 0)
    codes = grid.reference[either].astype(np.uint32) << 16 | grid.trainee[either]
    values, counts = np.unique(codes, return_counts=True)
    shared: dict[tuple[int, int], int] = {}
    sizes_r: dict[int, int] = {}
    sizes_t: dict[int, int] = {}
    for value, count in zip(values.tolist(), counts.tolist(), strict=True):
        r, t = value >> 16, value & 0xFFFF
        if r:
            sizes_r[r] = sizes_r.get(r, 0) + count
        if t:
            sizes_t[t] = sizes_t.get(t, 0) + count
        if r and t:
            shared[(r, t)] = count
    return shared, sizes_r, sizes_t


def _correspond(grids: Sequence[_Grid], trainee: Reading, reference: Reading) -> Correspondence:
    totals: dict[tuple[int, int], float] = {}
    linked: dict[tuple[int, int], list[str]] = {}
    for grid in grids:
        if grid.trainee is None:
            continue
        shared, sizes_r, sizes_t = _overlaps(grid)
        for (r, t), count in shared.items():
            if count >= MIN_OVERLAP * min(sizes_r[r], sizes_t[t]):
                totals[(r, t)] = totals.get((r, t), 0.0) + count * grid.voxel_ml
                linked.setdefault((r, t), []).append(grid.visit)
    pairs, used_r, used_t = [], set(), set()
    for (r, t), shared_ml in sorted(totals.items(), key=lambda item: (-item[1], item[0])):
        if r not in used_r and t not in used_t:
            pairs.append(LesionPair(r, t, shared_ml, tuple(linked[(r, t)])))
            used_r.add(r)
            used_t.add(t)
    notes = []
    for (r, t), visits in sorted(linked.items()):
        if (r, t) in {(p.reference, p.trainee) for p in pairs}:
            continue
        notes.append(
            f"Your L{t} also overlaps the reference's {reference.lesion(r).name} at "
            f"{', '.join(visits)}: outlined as one lesion where the other reading has two?"
        )
    for pair in pairs:
        ours, theirs = reference.lesion(pair.reference), trainee.lesion(pair.trainee)
        if ours.kind is not theirs.kind:
            notes.append(
                f"Your L{pair.trainee} is the reference's {ours.name}: you called it "
                f"{theirs.kind.value}, the reference {ours.kind.value}."
            )
    return Correspondence(
        tuple(sorted(pairs, key=lambda p: p.reference)),
        tuple(n.number for n in reference.lesions if n.number not in used_r),
        tuple(n.number for n in trainee.lesions if n.number not in used_t),
        tuple(notes),
    )


# --------------------------------------------------------------------------- per lesion and visit


def _visit_rows(
    label: str,
    grid: _Grid | None,
    trainee: ReadingAssessment,
    reference: ReadingAssessment,
    correspondence: Correspondence,
    patient2reference: Patient2Reference | None,
) -> list[LesionVisitAgreement]:
    ours = _measurements(reference, label)
    theirs = _measurements(trainee, label)
    present_r = sorted(set(ours) | _numbers(grid.reference if grid else None))
    present_t = sorted(set(theirs) | _numbers(grid.trainee if grid else None))
    unrelated = grid is not None and grid.trainee is None
    rows, used = [], set()
    for r in present_r:
        lesion = reference.reading.lesion(r)
        t = correspondence.trainee_of(r)
        if t is None or t not in present_t:
            status = NOT_COMPARED if unrelated else MISSED
            rows.append(
                _outline_row(label, status, r, None, lesion.name, lesion.kind, grid)
                | _numbers_row(ours.get(r), None, None)
            )
            continue
        used.add(t)
        row = _outline_row(label, MATCHED, r, t, lesion.name, lesion.kind, grid)
        row["kind_agrees"] = trainee.reading.lesion(t).kind is lesion.kind
        same = _same_slice(ours.get(r), theirs.get(t), reference, trainee, label, patient2reference)
        rows.append(row | _numbers_row(ours.get(r), theirs.get(t), same))
    for t in present_t:
        if t in used:
            continue
        lesion = trainee.reading.lesion(t)
        name = f"your L{t} ({lesion.name})" if lesion.name != f"L{t}" else f"your L{t}"
        rows.append(
            _outline_row(
                label, NOT_COMPARED if unrelated else EXTRA, None, t, name, lesion.kind, grid
            )
            | _numbers_row(None, theirs.get(t), None)
        )
    return [LesionVisitAgreement(**row) for row in rows]


def _measurements(assessed: ReadingAssessment, label: str) -> Mapping[int, LesionMeasurement]:
    visit = assessed.measured(label)
    return {} if visit is None else visit.measurements


def _numbers(labels: np.ndarray | None) -> set[int]:
    return set() if labels is None else {int(n) for n in np.unique(labels) if n}


def _outline_row(
    label: str,
    status: str,
    r: int | None,
    t: int | None,
    name: str,
    kind: LesionKind,
    grid: _Grid | None,
) -> dict:
    row: dict = {
        "visit": label,
        "status": status,
        "reference_lesion": r,
        "trainee_lesion": t,
        "name": name,
        "kind": kind,
    }
    if grid is None or grid.trainee is None:
        return row
    ours = grid.reference == r if r is not None else np.zeros(grid.reference.shape, bool)
    theirs = grid.trainee == t if t is not None else np.zeros(grid.trainee.shape, bool)
    row["series_key"] = grid.outlines.key
    if ours.any() or theirs.any():
        row["dice"] = dice(ours, theirs)
    if ours.any() and theirs.any():
        distance = surface_distance(ours, theirs, voxel_spacing(grid.outlines.voxel2patient))
        row["hd95_mm"], row["hausdorff_mm"] = distance
    return row


def _numbers_row(
    ours: LesionMeasurement | None, theirs: LesionMeasurement | None, same_slice: bool | None
) -> dict:
    row: dict = {
        "reference_volume_ml": None if ours is None else ours.volume_ml,
        "trainee_volume_ml": None if theirs is None else theirs.volume_ml,
        "reference_diameters": None if ours is None else ours.diameters,
        "trainee_diameters": None if theirs is None else theirs.diameters,
        "same_slice": same_slice,
    }
    if ours is None or theirs is None:
        return row
    row["volume_difference_ml"] = theirs.volume_ml - ours.volume_ml
    row["volume_difference_percent"] = _percent(theirs.volume_ml, ours.volume_ml)
    a, b = ours.diameters, theirs.diameters
    if a is not None and b is not None:
        row["longest_difference_mm"] = b.longest_mm - a.longest_mm
        row["perpendicular_difference_mm"] = b.perpendicular_mm - a.perpendicular_mm
        row["product_difference_mm2"] = b.product_mm2 - a.product_mm2
        row["product_difference_percent"] = _percent(b.product_mm2, a.product_mm2)
    return row


def _percent(value: float, of: float) -> float | None:
    return 100.0 * (value - of) / of if of > 0 else None


def _same_slice(
    ours: LesionMeasurement | None,
    theirs: LesionMeasurement | None,
    reference: ReadingAssessment,
    trainee: ReadingAssessment,
    label: str,
    patient2reference: Patient2Reference | None,
) -> bool | None:
    """Whether the trainee's diameters lie on the reference's diameters' slice.

    Slices are those of the grid the reference measures on (its series, or its true-axial
    reslice); the trainee's long axis is brought there through the registrations.
    """
    if ours is None or theirs is None or ours.diameters is None or theirs.diameters is None:
        return None
    our_outlines = reference.reading.series[ours.series_key]
    if theirs.series_key == ours.series_key:
        their2our = np.eye(4)
    else:
        if patient2reference is None:
            return None
        a, b = patient2reference(theirs.series_key), patient2reference(ours.series_key)
        if a is None or b is None:
            return None
        their2our = np.linalg.inv(np.asarray(b, np.float64)) @ np.asarray(a, np.float64)
    v2p = our_outlines.voxel2patient
    grid = v2p if is_axial(v2p) else true_axial_grid(v2p, our_outlines.shape)[0]
    middle = np.mean(np.array(theirs.diameters.longest_ends_mm), axis=0)
    index = apply_affine(np.linalg.inv(grid) @ their2our, middle)[0]
    return int(round(float(index))) == ours.diameters.slice_index


# --------------------------------------------------------------------------- disagreements


def _disagreements(
    grid: _Grid, correspondence: Correspondence, trainee: Reading, reference: Reading
) -> list[Disagreement]:
    if grid.trainee is None:
        return []
    # what the trainee should have at each voxel: the partner of the reference's lesion there
    expected = np.zeros(int(grid.reference.max()) + 1, dtype=np.int32)
    for number in range(1, expected.size):
        partner = correspondence.trainee_of(number)
        expected[number] = -1 if partner is None else partner
    wrong = expected[grid.reference] != grid.trainee
    regions, count = ndimage.label(wrong)
    if count == 0:
        return []
    sizes = np.bincount(regions.ravel())[1:]
    spacing = voxel_spacing(grid.outlines.voxel2patient)
    found = []
    for index in np.argsort(-sizes, kind="stable")[:MAX_DISAGREEMENTS]:
        box = ndimage.find_objects(regions, max_label=index + 1)[index]
        assert box is not None
        inside = regions[box] == index + 1
        # padded so that the region's edge at the grid's border counts as an edge
        depth = ndimage.distance_transform_edt(np.pad(inside, 1), sampling=spacing)
        deep = depth[1:-1, 1:-1, 1:-1]
        deepest = np.unravel_index(int(np.argmax(deep)), inside.shape)
        point = np.array(deepest) + [s.start for s in box]
        r = _mostly(grid.reference[box][inside])
        t = _mostly(grid.trainee[box][inside])
        volume_ml = float(sizes[index]) * grid.voxel_ml
        found.append(
            Disagreement(
                grid.visit,
                grid.outlines.key,
                tuple(float(v) for v in apply_affine(grid.outlines.voxel2patient, point)),
                volume_ml,
                r,
                t,
                _describe(grid.visit, r, t, volume_ml, trainee, reference),
            )
        )
    return found


def _mostly(values: np.ndarray) -> int | None:
    """The most frequent non-zero label among ``values`` (None: all zero)."""
    nonzero = values[values > 0]
    if nonzero.size == 0:
        return None
    numbers, counts = np.unique(nonzero, return_counts=True)
    return int(numbers[np.argmax(counts)])


def _describe(
    visit: str, r: int | None, t: int | None, volume_ml: float, trainee: Reading, reference: Reading
) -> str:
    """In words; every region holds an outline of at least one reading."""
    size = f"{volume_ml:.2f} mL"
    if t is None:
        return f"{visit}: {size} of the reference's {reference.lesion(r).name} you did not outline"
    if r is None:
        return f"{visit}: {size} of your L{t} ({trainee.lesion(t).name}) not in the reference"
    return (
        f"{visit}: {size} the reference calls {reference.lesion(r).name} and you call "
        f"your L{t} ({trainee.lesion(t).name})"
    )
