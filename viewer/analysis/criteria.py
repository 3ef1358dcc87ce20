"""The response criteria a case can be read by, as data: one row per published table.

The numbers are those of ../shared/CLINICAL.md (Wen 2010, Wen 2023, Lin 2015, Eisenhauer 2009).
Measurement, target choice and the response engine read them from here, so switching criteria
changes every threshold at once and a test can walk the table.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class SumKind(enum.Enum):
    """What is summed over the target lesions."""

    PRODUCTS = "sum of products of diameters (SPD, mm^2)"
    LONGEST_DIAMETERS = "sum of longest diameters (SLD, mm)"
    VOLUMES = "sum of enhancing volumes (mL)"

    @property
    def unit(self) -> str:
        """Unit of the sum."""
        return {"PRODUCTS": "mm2", "LONGEST_DIAMETERS": "mm", "VOLUMES": "mL"}[self.name]

    @property
    def short(self) -> str:
        """Short name used in reasons ("SPD 1 310 mm2 ...")."""
        return {"PRODUCTS": "SPD", "LONGEST_DIAMETERS": "SLD", "VOLUMES": "volume"}[self.name]


class NewLesionRule(enum.Enum):
    """Which new lesions mean progression."""

    ANY = "any new lesion"
    MEASURABLE = "a new measurable lesion"


class Baseline(enum.Enum):
    """Which visit the criteria compare against by default (the reader can choose another)."""

    FIRST = "the first visit"
    AFTER_SURGERY = "the first scan after surgery"
    AFTER_RADIOTHERAPY = "the first scan after the end of radiotherapy"


@dataclass(frozen=True)
class Criteria:
    """One set of response criteria.

    Attributes
    ----------
    key : str
        Short name for the CLI and the case file (``"rano2"``).
    name : str
        As shown to the reader (``"RANO 2.0 (bidimensional)"``).
    reference : str
        The publication.
    sum_kind : SumKind
    max_targets : int
        At most this many target lesions (the largest measurable ones).
    min_long_mm, min_short_mm : float
        A measurable lesion's longest diameter and the diameter perpendicular to it must reach
        these (mm); ``min_short_mm`` 0 means no condition on it.
    min_slices : int
        The lesion must be seen on at least this many slices.
    thick_slice_mm : float or None
        When the series' slices are thicker than this, the minimum longest diameter becomes
        twice the slice thickness (RANO; RECIST measures only on slices up to 5 mm).
    thick_slice_perpendicular : bool
        The doubling applies to the perpendicular diameter too (RANO: "both diameters"); RANO-BM
        keeps its 5 mm perpendicular minimum.
    partial_response_change : float
        Fractional change of the sum from the baseline that is a partial response (-0.5 = -50 %).
    progression_change : float
        Fractional change of the sum from the nadir that is progression (+0.25 = +25 %).
    progression_min_absolute : float
        The increase from the nadir must also reach this, in the sum's unit (RECIST: 5 mm).
    new_lesion_rule : NewLesionRule
    confirm_weeks : float or None
        A response (PR/CR) is preliminary until a scan at least this many weeks later confirms it.
    pseudoprogression_weeks : float or None
        Within this many weeks of the end of radiotherapy, progression is preliminary (RANO).
    default_baseline : Baseline
    min_volume_ml : float
        Volumetric criteria: smallest measurable enhancing volume (mL).
    """

    key: str
    name: str
    reference: str
    sum_kind: SumKind
    max_targets: int
    min_long_mm: float
    min_short_mm: float
    min_slices: int
    thick_slice_mm: float | None
    partial_response_change: float
    progression_change: float
    progression_min_absolute: float = 0.0
    new_lesion_rule: NewLesionRule = NewLesionRule.ANY
    confirm_weeks: float | None = 4.0
    pseudoprogression_weeks: float | None = None
    default_baseline: Baseline = Baseline.FIRST
    min_volume_ml: float = 0.0
    thick_slice_perpendicular: bool = False

    def minimum_diameters_mm(self, slice_thickness_mm: float) -> tuple[float, float]:
        """(longest, perpendicular) a measurable lesion needs on slices of this thickness (mm).

        Examples
        --------
        >>> CRITERIA["rano"].minimum_diameters_mm(3.0), CRITERIA["rano"].minimum_diameters_mm(6.0)
        ((10.0, 10.0), (12.0, 12.0))
        >>> CRITERIA["rano-bm"].minimum_diameters_mm(6.0)
        (12.0, 5.0)
        """
        long_mm, short_mm = self.min_long_mm, self.min_short_mm
        if self.thick_slice_mm is not None and slice_thickness_mm > self.thick_slice_mm:
            long_mm = max(long_mm, 2.0 * slice_thickness_mm)
            if self.thick_slice_perpendicular:
                short_mm = max(short_mm, 2.0 * slice_thickness_mm)
        return long_mm, short_mm


_RANO_COMMON = {
    "min_long_mm": 10.0,
    "min_short_mm": 10.0,
    "min_slices": 2,
    "thick_slice_mm": 5.0,
    "thick_slice_perpendicular": True,
    "pseudoprogression_weeks": 12.0,
    "default_baseline": Baseline.AFTER_SURGERY,
}

CRITERIA: dict[str, Criteria] = {
    c.key: c
    for c in (
        Criteria(
            key="rano",
            name="RANO 2010",
            reference="Wen et al., J Clin Oncol 2010",
            sum_kind=SumKind.PRODUCTS,
            max_targets=5,
            partial_response_change=-0.50,
            progression_change=+0.25,
            **_RANO_COMMON,  # type: ignore[arg-type]
        ),
        Criteria(
            key="rano2",
            name="RANO 2.0 (bidimensional)",
            reference="Wen et al., J Clin Oncol 2023",
            sum_kind=SumKind.PRODUCTS,
            max_targets=3,
            partial_response_change=-0.50,
            progression_change=+0.25,
            new_lesion_rule=NewLesionRule.MEASURABLE,
            **{**_RANO_COMMON, "default_baseline": Baseline.AFTER_RADIOTHERAPY},  # type: ignore[arg-type]
        ),
        Criteria(
            key="rano2-vol",
            name="RANO 2.0 (volumetric)",
            reference="Wen et al., J Clin Oncol 2023",
            sum_kind=SumKind.VOLUMES,
            max_targets=3,
            partial_response_change=-0.65,
            progression_change=+0.40,
            new_lesion_rule=NewLesionRule.MEASURABLE,
            # a 10 mm x 10 mm lesion seen on two slices, as a sphere: the bidimensional minimum
            min_volume_ml=0.52,
            **{**_RANO_COMMON, "default_baseline": Baseline.AFTER_RADIOTHERAPY},  # type: ignore[arg-type]
        ),
        Criteria(
            key="rano-bm",
            name="RANO-BM (brain metastases)",
            reference="Lin et al., Lancet Oncol 2015",
            sum_kind=SumKind.LONGEST_DIAMETERS,
            max_targets=5,
            min_long_mm=10.0,
            min_short_mm=5.0,
            min_slices=2,
            thick_slice_mm=5.0,
            partial_response_change=-0.30,
            progression_change=+0.20,
        ),
        Criteria(
            key="recist",
            name="RECIST 1.1",
            reference="Eisenhauer et al., Eur J Cancer 2009",
            sum_kind=SumKind.LONGEST_DIAMETERS,
            # up to 5 targets, at most 2 per organ: every lesion here is in the brain
            max_targets=2,
            min_long_mm=10.0,
            min_short_mm=0.0,
            min_slices=1,
            thick_slice_mm=5.0,
            partial_response_change=-0.30,
            progression_change=+0.20,
            progression_min_absolute=5.0,
            confirm_weeks=None,
        ),
    )
}
"""Every supported set of criteria by key."""

DEFAULT_CRITERIA = "rano2"
