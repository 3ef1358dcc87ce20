"""The categories of two readings side by side, and why they differ, in words with numbers.

Each reading's category at a visit is the one its reader stated, or, where none was stated, the
one its outlines and measurements give by the criteria. Both readings' own reasons come from the
response engine (:mod:`viewer.analysis.response`); the sentences here point at what makes the
difference: a new lesion one reading counts and the other does not have, the change of the sum
from the nadir against the threshold, another baseline or other targets, or a stated category
that the reader's own numbers do not support.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Protocol

from viewer.analysis.criteria import NewLesionRule
from viewer.analysis.response import (
    BASELINE,
    COMPLETE_RESPONSE,
    NOT_EVALUABLE,
    PARTIAL_RESPONSE,
    PROGRESSION,
    STABLE_DISEASE,
    VisitResponse,
    format_change,
)
from viewer.teaching.assessment import ReadingAssessment

WORDS = {
    COMPLETE_RESPONSE: "complete response (CR)",
    PARTIAL_RESPONSE: "partial response (PR)",
    STABLE_DISEASE: "stable disease (SD)",
    PROGRESSION: "progression (PD)",
    BASELINE: "baseline",
    NOT_EVALUABLE: "not evaluable",
}
"""Categories as the feedback names them."""

_SAME_CHANGE = 0.005
"""Changes of the sum closer than half a percentage point are not pointed out as a difference."""


class _Pair(Protocol):
    reference: int
    trainee: int


@dataclass(frozen=True)
class VisitCategories:
    """Both readings' categories at one visit.

    Attributes
    ----------
    visit : str
    reference_category, trainee_category : str or None
        Stated, or computed where the reader stated none (None: the trainee's reading has no
        such visit).
    reference_stated, trainee_stated : str or None
        What each reader stated.
    reference_response, trainee_response : VisitResponse or None
        What each reading's numbers give, with the engine's reasons.
    agree : bool
    explanation : tuple of str
        Sentences: the two categories, each reading's reasons, then what makes the difference.
    """

    visit: str
    reference_category: str | None
    trainee_category: str | None
    reference_stated: str | None
    trainee_stated: str | None
    reference_response: VisitResponse | None
    trainee_response: VisitResponse | None
    agree: bool
    explanation: tuple[str, ...]


def compare_categories(
    trainee: ReadingAssessment,
    reference: ReadingAssessment,
    pairs: Sequence[_Pair],
    unrelated: Collection[str] = (),
) -> tuple[VisitCategories, ...]:
    """The categories of both readings at every visit of the reference, explained.

    Parameters
    ----------
    trainee, reference : ReadingAssessment
        Assessed by the same criteria.
    pairs : sequence of LesionPair
        Which trainee lesion is which reference lesion.
    unrelated : collection of str
        Visits whose two readings' outlines could not be related (different series, no
        registration): a lesion without a partner there is not said to be missing.

    Returns
    -------
    tuple of VisitCategories
    """
    return tuple(
        _visit(visit.label, trainee, reference, pairs, visit.label in unrelated)
        for visit in reference.reading.visits
    )


def _visit(
    label: str,
    trainee: ReadingAssessment,
    reference: ReadingAssessment,
    pairs: Sequence[_Pair],
    unrelated: bool,
) -> VisitCategories:
    ours = reference.response(label)
    theirs = trainee.response(label)
    our_stated = reference.reading.visit(label).category
    try:
        their_stated = trainee.reading.visit(label).category
    except KeyError:
        their_stated = None
    our_category = our_stated or (ours.category if ours else None)
    their_category = their_stated or (theirs.category if theirs else None)
    agree = their_category is not None and their_category == our_category
    lines = []
    if agree:
        lines.append(f"Both readings: {WORDS[str(our_category)]}.")
    else:
        lines.append(
            f"You: {WORDS.get(str(their_category), 'no category')}; "
            f"the reference: {WORDS.get(str(our_category), 'no category')}."
        )
    if their_stated and theirs and their_stated != theirs.category:
        lines.append(
            f"You stated {WORDS[their_stated]}, but your own outlines and measurements give "
            f"{WORDS[theirs.category]} by {trainee.criteria.name}."
        )
    if our_stated and ours and our_stated != ours.category:
        lines.append(
            f"The reference states {WORDS[our_stated]} where its measurements alone give "
            f"{WORDS[ours.category]}: see its teaching points."
        )
    if theirs is not None:
        lines.append("Your reading: " + " ".join(theirs.reasons))
    if ours is not None:
        lines.append("The reference: " + " ".join(ours.reasons))
    if ours is not None and theirs is not None:
        lines += _new_lesions(label, ours, theirs, trainee, reference, pairs, unrelated)
        if not agree:
            lines += _sums(ours, theirs, reference)
            lines += _choices(trainee, reference, pairs)
    return VisitCategories(
        label,
        our_category,
        their_category,
        our_stated,
        their_stated,
        ours,
        theirs,
        agree,
        tuple(lines),
    )


def counted_new(response: VisitResponse, assessed: ReadingAssessment) -> tuple[int, ...]:
    """The new lesions at a visit that mean progression by the criteria."""
    if assessed.criteria.new_lesion_rule is NewLesionRule.ANY:
        return response.new_lesions
    visit = next(v for v in assessed.readings if v.label == response.label)
    return tuple(n for n in response.new_lesions if visit.lesions[n].measurable)


def _new_lesions(
    label: str,
    ours: VisitResponse,
    theirs: VisitResponse,
    trainee: ReadingAssessment,
    reference: ReadingAssessment,
    pairs: Sequence[_Pair],
    unrelated: bool,
) -> list[str]:
    to_trainee = {p.reference: p.trainee for p in pairs}
    to_reference = {p.trainee: p.reference for p in pairs}
    their_new = counted_new(theirs, trainee)
    their_present = _present(trainee, label)
    lines = []
    for r in counted_new(ours, reference):
        name = _reference_name(reference, r)
        t = to_trainee.get(r)
        if t is None or t not in their_present:
            where = (
                "your outlines of this visit are on another series and could not be related to it"
                if unrelated
                else "you did not outline it here"
            )
            lines.append(
                f"The reference counts {name} as a new lesion, which makes this visit "
                f"progression whatever the sums do; {where}."
            )
        elif t not in their_new:
            lines.append(
                f"The reference counts {name} as a new lesion, which makes this visit "
                f"progression; your L{t} outlines it, but your reading has it before this visit."
            )
    our_new = set(counted_new(ours, reference))
    for t in their_new:
        r = to_reference.get(t)
        if r is None and unrelated:
            lines.append(f"You count your L{t} as a new lesion: progression at this visit.")
        elif r is None:
            lines.append(
                f"You count your L{t} as a new lesion, which makes this visit progression; the "
                "reference has no lesion there."
            )
        elif r not in our_new:
            lines.append(
                f"You count your L{t} as a new lesion, which makes this visit progression; the "
                f"reference reads it as {_reference_name(reference, r)}, seen before."
            )
    return lines


def _sums(ours: VisitResponse, theirs: VisitResponse, reference: ReadingAssessment) -> list[str]:
    kind = reference.criteria.sum_kind
    threshold = reference.criteria.progression_change
    if theirs.change_from_nadir is None or ours.change_from_nadir is None:
        return []
    if abs(theirs.change_from_nadir - ours.change_from_nadir) < _SAME_CHANGE:
        return []
    return [
        f"Your {kind.short} changed {format_change(theirs.change_from_nadir, threshold)} from "
        f"your nadir, the reference's {format_change(ours.change_from_nadir, threshold)} from "
        f"its nadir; progression starts at {format_change(threshold, threshold)}."
    ]


def _choices(
    trainee: ReadingAssessment, reference: ReadingAssessment, pairs: Sequence[_Pair]
) -> list[str]:
    lines = []
    if trainee.baseline_label != reference.baseline_label:
        lines.append(
            f"You compared with the baseline of {trainee.baseline_label}, the reference with "
            f"{reference.baseline_label}."
        )
    to_reference = {p.trainee: p.reference for p in pairs}
    ours = set(reference.assessment.targets)
    theirs = {to_reference.get(t, -t) for t in trainee.assessment.targets}
    if ours != theirs:
        listed = ", ".join(
            f"your L{t}"
            + (f" (= {_reference_name(reference, to_reference[t])})" if t in to_reference else "")
            for t in trainee.assessment.targets
        )
        wanted = ", ".join(_reference_name(reference, r) for r in sorted(ours))
        lines.append(f"Your targets: {listed or 'none'}; the reference's: {wanted or 'none'}.")
    return lines


def _present(assessed: ReadingAssessment, label: str) -> set[int]:
    visit = assessed.measured(label)
    return set() if visit is None else set(visit.measurements)


def _reference_name(reference: ReadingAssessment, number: int) -> str:
    name = reference.reading.lesion(number).name
    return f"L{number}" if name == f"L{number}" else f"L{number} ({_strip(name, number)})"


def _strip(name: str, number: int) -> str:
    """``"L2 left occipital metastasis"`` -> ``"left occipital metastasis"``."""
    prefix = f"L{number} "
    return name[len(prefix) :] if name.startswith(prefix) else name
