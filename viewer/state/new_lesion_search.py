"""Plan and run the search for new lesions on a visit against the visit before it (no Qt).

The search (``viewer.analysis.new_lesions``) subtracts the previous visit of the same kind (contrast
MRI from contrast MRI, CT from CT) through both registrations; every lesion already outlined on
either visit is known, so only enhancement away from them is listed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from viewer.analysis.matching import lesions_in_reference
from viewer.analysis.new_lesions import Candidate, find_new_lesions
from viewer.core.catalog import Catalog, SeriesEntry
from viewer.core.progress import CancelCheck
from viewer.core.volume import Volume
from viewer.state.session import is_contrast_mri


@dataclass(frozen=True)
class SearchPlan:
    """Which two series a search compares.

    Attributes
    ----------
    current, previous : SeriesEntry
    """

    current: SeriesEntry
    previous: SeriesEntry


def _kind(entry: SeriesEntry) -> tuple[str, bool]:
    return entry.modality, is_contrast_mri(entry)


def plan_search(catalog: Catalog, key: str) -> SearchPlan | str:
    """The pair to compare for a series, or why there is none (text for the reader).

    The previous visit is the latest earlier one with a series of the same kind.
    """
    current = catalog.find_series(key)
    visits = [v for p in catalog.patients for v in p.visits]
    here = next(v for v in visits if any(s.key == key for s in v.series))
    previous = None
    for visit in visits:
        if visit.date is None or here.date is None or visit.date >= here.date:
            continue
        alike = [s for s in visit.series if _kind(s) == _kind(current) and not s.is_localizer]
        if alike and (previous is None or visit.date > previous[0]):
            previous = (visit.date, alike[0])
    if previous is None:
        return (
            f"No earlier visit has a {current.modality} series like this one to compare with: "
            "choose a later visit"
        )
    return SearchPlan(current, previous[1])


def known_lesions(
    labels: dict[str, np.ndarray],
    volumes: dict[str, Volume],
    patient2reference: Callable[[str], np.ndarray | None],
) -> list[np.ndarray]:
    """Voxel centres (reference mm) of every outlined lesion on the given series."""
    known: list[np.ndarray] = []
    for key, label_map in labels.items():
        volume = volumes.get(key)
        if volume is None or label_map.shape != volume.shape or not label_map.any():
            continue
        points = lesions_in_reference(label_map, volume.voxel2patient, patient2reference(key))
        known.extend(points.values())
    return known


def run_search(
    plan: SearchPlan,
    load: Callable[[str], Volume],
    labels: dict[str, np.ndarray],
    patient2reference: Callable[[str], np.ndarray | None],
    *,
    cancelled: CancelCheck | None = None,
) -> list[Candidate]:
    """Run a planned search (in a worker: it reads both series if they are not in memory).

    Parameters
    ----------
    load : callable
        ``load(key) -> Volume``.
    labels : dict of str to ndarray
        Copies of the label maps of the two series (those present), so the reader can go on
        outlining while it runs.
    """
    current, previous = load(plan.current.key), load(plan.previous.key)
    volumes = {plan.current.key: current, plan.previous.key: previous}
    return find_new_lesions(
        current,
        previous,
        current2reference=patient2reference(plan.current.key),
        previous2reference=patient2reference(plan.previous.key),
        known_reference_mm=known_lesions(labels, volumes, patient2reference),
        cancelled=cancelled,
    )
