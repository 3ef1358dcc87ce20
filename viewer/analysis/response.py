"""The response engine: from per-visit lesion readings to a category per visit, with its reasons.

Inputs are plain numbers (diameters in mm, volumes in mL), so the rules can be tested from the
criteria tables without images. The rules are those of ../shared/CLINICAL.md, read with the
criteria of :mod:`viewer.analysis.criteria` (RANO 2010: Wen 2010; RANO 2.0: Wen 2023; RANO-BM:
Lin 2015; RECIST 1.1: Eisenhauer 2009):

- The sum (SPD in mm2, SLD in mm or enhancing volume in mL) is taken over the target lesions,
  chosen at the baseline.
- The nadir is the smallest sum so far, the baseline included; it is updated after each visit, so
  a visit is compared with the nadir of the visits before it.
- Progression (PD): the sum is at least ``progression_change`` above the nadir (RECIST: and at least
  ``progression_min_absolute`` more, in the sum's unit); or a new lesion (RANO 2.0: only a new
  *measurable* lesion); or, when the nadir had no measurable disease (a post-operative baseline),
  any measurable disease. RANO's third trigger, unequivocal growth of non-target disease, is a
  reader's judgement with no number to test and is not implemented.
- Partial response (PR): the sum is at most ``partial_response_change`` from the baseline, with no
  new lesion. Complete response (CR): all enhancing disease gone, targets and others, no new lesion.
  Stable disease (SD): none of these.
- Thresholds are inclusive ("at least +25 %": exactly +25 % is progression), compared with a
  tolerance of 1e-9 so a threshold computed in floating point still counts.
- PR/CR are preliminary until a scan at least ``confirm_weeks`` later shows the same or better.
  Progression within ``pseudoprogression_weeks`` of the end of radiation, inside the radiation field
  (or not known to be outside it), is preliminary until the next evaluable scan shows progression
  too; outside the field it counts at once.
- A steroid increase alone is never progression (RANO 2010, RANO 2.0): it only adds a note.
"""

from __future__ import annotations

import datetime as dt
import math
import types
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from viewer.analysis.criteria import Baseline, Criteria, NewLesionRule, SumKind
from viewer.analysis.events import (
    TreatmentEvent,
    TreatmentKind,
    first_visit_after,
    latest_radiation_end,
    steroid_increase_between,
)

COMPLETE_RESPONSE = "CR"
PARTIAL_RESPONSE = "PR"
STABLE_DISEASE = "SD"
PROGRESSION = "PD"
BASELINE = "baseline"
NOT_EVALUABLE = "not evaluable"
CONFIRMED = "confirmed"
PRELIMINARY = "preliminary"

THIN_SPACE = "\u2009"
"""Thousands separator in reasons ("1 310 mm2")."""

_EPS = 1e-9
_WORDS = {
    COMPLETE_RESPONSE: "complete response",
    PARTIAL_RESPONSE: "partial response",
    STABLE_DISEASE: "stable disease",
    PROGRESSION: "progression",
    NOT_EVALUABLE: "not evaluable",
}
_DECIMALS = {"mm2": 0, "mm": 1, "mL": 2}


@dataclass(frozen=True)
class LesionReading:
    """One lesion at one visit.

    Parameters
    ----------
    lesion : int
        Case-wide lesion number (the same lesion has the same number at every visit).
    longest_mm : float
        Longest axial diameter (mm).
    perpendicular_mm : float
        Longest diameter perpendicular to it on the same slice (mm).
    volume_ml : float
        Enhancing volume (mL).
    measurable : bool
        Measurable by the criteria in use (size, slice count, slice thickness).
    present : bool
        False when the lesion was outlined before and nothing is left now (gone). A reading with
        no diameter and no volume is taken as gone too.
    in_radiation_field : bool or None
        None when unknown, treated as inside (the cautious RANO reading).
    """

    lesion: int
    longest_mm: float
    perpendicular_mm: float
    volume_ml: float
    measurable: bool
    present: bool = True
    in_radiation_field: bool | None = None

    def __post_init__(self) -> None:
        for name in ("longest_mm", "perpendicular_mm", "volume_ml"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"lesion L{self.lesion}: {name} must be finite and >= 0: {value}")
        if self.measurable and not self.present:
            raise ValueError(f"lesion L{self.lesion} cannot be measurable and gone")

    @property
    def has_disease(self) -> bool:
        """Whether there is enhancing disease to measure."""
        return self.present and (self.longest_mm > 0 or self.volume_ml > 0)

    def value(self, kind: SumKind) -> float:
        """The lesion's share of the sum (mm2, mm or mL); 0 when gone."""
        if not self.has_disease:
            return 0.0
        if kind is SumKind.PRODUCTS:
            return self.longest_mm * self.perpendicular_mm
        if kind is SumKind.LONGEST_DIAMETERS:
            return self.longest_mm
        return self.volume_ml


@dataclass(frozen=True)
class VisitReading:
    """Every lesion of the case read at one visit.

    Parameters
    ----------
    date : datetime.date
    label : str
        As shown to the reader.
    lesions : mapping of int to LesionReading
        Lesion number -> reading. Give every lesion seen before with ``present=False`` when it is
        gone: a target with no reading makes the visit not evaluable, and a lesion with no reading
        prevents a complete response.
    steroid_increase : bool
        The steroid dose was raised since the previous visit.
    """

    date: dt.date
    label: str
    lesions: Mapping[int, LesionReading]
    steroid_increase: bool = False

    def __post_init__(self) -> None:
        for number, reading in self.lesions.items():
            if number != reading.lesion:
                raise ValueError(f"visit {self.label}: key {number} holds lesion L{reading.lesion}")
        object.__setattr__(self, "lesions", types.MappingProxyType(dict(self.lesions)))


@dataclass(frozen=True)
class VisitResponse:
    """The response at one visit.

    Attributes
    ----------
    date : datetime.date
    label : str
    sum_value : float
        Sum over the targets in ``unit``; NaN when a target was not measured.
    unit : str
        ``"mm2"``, ``"mm"`` or ``"mL"``.
    targets : tuple of int
        The target lesions summed (those of the assessment).
    change_from_baseline, change_from_nadir : float or None
        Fractional change (0.46 = +46 %); None before the baseline, at an incomplete visit or
        when the reference sum is 0.
    nadir_value : float
        The nadir this visit is compared with (the smallest sum of the visits before it, from
        the baseline on), in ``unit``; NaN before the baseline.
    nadir_label : str
    nadir_date : datetime.date
    new_lesions : tuple of int
        Lesions with disease now that had none at the baseline or any visit since.
    category : str
        ``"CR"``, ``"PR"``, ``"SD"``, ``"PD"``, ``"baseline"`` or ``"not evaluable"``.
    status : str
        ``"confirmed"``, ``"preliminary"`` or ``""`` (no confirmation applies).
    reasons : tuple of str
        Sentences with numbers and units.
    """

    date: dt.date
    label: str
    sum_value: float
    unit: str
    targets: tuple[int, ...]
    change_from_baseline: float | None
    change_from_nadir: float | None
    nadir_value: float
    nadir_label: str
    nadir_date: dt.date
    new_lesions: tuple[int, ...]
    category: str
    status: str
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Assessment:
    """A case read by one set of criteria.

    Attributes
    ----------
    criteria : Criteria
    baseline_index : int
        Index of the baseline in ``visits``.
    targets : tuple of int
        Target lesion numbers, ascending.
    visits : tuple of VisitResponse
        One per visit, in date order.
    """

    criteria: Criteria
    baseline_index: int
    targets: tuple[int, ...]
    visits: tuple[VisitResponse, ...]


def format_quantity(value: float, unit: str) -> str:
    """A sum or a measurement as written in reasons: ``"1 310 mm2"``, ``"45.9 mm"``, ``"1.04 mL"``.

    Parameters
    ----------
    value : float
        In ``unit``.
    unit : str
        ``"mm2"`` (whole numbers), ``"mm"`` (one decimal) or ``"mL"`` (two decimals).

    Returns
    -------
    str
        Thousands separated by a thin space (U+2009).
    """
    return f"{value:,.{_DECIMALS[unit]}f}".replace(",", THIN_SPACE) + f" {unit}"


def format_change(change: float, threshold: float) -> str:
    """A fractional change as a signed percentage (``"+46%"``), never rounded onto the threshold.

    Parameters
    ----------
    change : float
        Fractional change (0.46 = +46 %).
    threshold : float
        The fractional threshold it is compared with: a change just beside it gets enough
        decimals to show which side it is on ("+24.9%" against +25 %).

    Returns
    -------
    str
    """
    if abs(change - threshold) <= _EPS:
        return f"{threshold * 100:+.0f}%"
    percent, limit = change * 100, threshold * 100
    for decimals in range(7):
        shown = round(percent, decimals)
        if shown != round(limit, decimals) and (shown != 0 or percent == 0):
            return f"{percent:+.{decimals}f}%"
    return f"{percent:+g}%"


def choose_targets(baseline: VisitReading, criteria: Criteria) -> tuple[int, ...]:
    """The largest measurable lesions at the baseline, up to the criteria's number.

    Size is the product of diameters for SPD criteria, the longest diameter for SLD criteria and
    the enhancing volume for volumetric criteria; ties go to the lower lesion number.

    Parameters
    ----------
    baseline : VisitReading
    criteria : Criteria

    Returns
    -------
    tuple of int
        Lesion numbers, ascending; empty when nothing is measurable.
    """
    kind = criteria.sum_kind
    candidates = [r for r in baseline.lesions.values() if r.has_disease and r.measurable]
    candidates.sort(key=lambda r: (-r.value(kind), r.lesion))
    return tuple(sorted(r.lesion for r in candidates[: criteria.max_targets]))


def default_baseline(
    visits: Sequence[VisitReading], events: Iterable[TreatmentEvent], criteria: Criteria
) -> int:
    """Index of the visit the criteria take as baseline by default.

    After radiotherapy: the first visit after the first end of radiotherapy, else as after
    surgery. After surgery: the first visit after the first surgery, else the first visit. A
    visit on the day of the event is taken as before it (see
    :func:`viewer.analysis.events.first_visit_after`).

    Parameters
    ----------
    visits : sequence of VisitReading
        In date order.
    events : iterable of TreatmentEvent
    criteria : Criteria

    Returns
    -------
    int
    """
    events = tuple(events)
    dates = [visit.date for visit in visits]
    wanted = {
        Baseline.AFTER_RADIOTHERAPY: [TreatmentKind.RADIOTHERAPY_END, TreatmentKind.SURGERY],
        Baseline.AFTER_SURGERY: [TreatmentKind.SURGERY],
        Baseline.FIRST: [],
    }[criteria.default_baseline]
    for kind in wanted:
        index = first_visit_after(dates, events, [kind])
        if index is not None:
            return index
    return 0


def assess(
    visits: Sequence[VisitReading],
    criteria: Criteria,
    *,
    events: Iterable[TreatmentEvent] = (),
    baseline_index: int | None = None,
    targets: Iterable[int] | None = None,
) -> Assessment:
    """Read every visit of a case by one set of criteria (rules in the module docstring).

    Parameters
    ----------
    visits : sequence of VisitReading
        In date order.
    criteria : Criteria
    events : iterable of TreatmentEvent
        Drive the pseudoprogression window, steroid notes and the default baseline.
    baseline_index : int or None
        None: :func:`default_baseline`.
    targets : iterable of int or None
        None: :func:`choose_targets`. Otherwise lesions measurable at the baseline, at most the
        criteria's number.

    Returns
    -------
    Assessment

    Raises
    ------
    ValueError
        No visits, visits out of date order, a baseline index out of range, or targets the
        baseline cannot support.
    """
    visits = tuple(visits)
    events = tuple(events)
    if not visits:
        raise ValueError("no visits to assess")
    for earlier, later in zip(visits, visits[1:], strict=False):
        if later.date < earlier.date:
            raise ValueError(f"visit {later.label} ({later.date}) comes after {earlier.date}")
    if baseline_index is None:
        baseline_index = default_baseline(visits, events, criteria)
    if not 0 <= baseline_index < len(visits):
        raise ValueError(f"baseline index {baseline_index} outside 0..{len(visits) - 1}")
    base = visits[baseline_index]
    targets = (
        choose_targets(base, criteria) if targets is None else _checked(targets, base, criteria)
    )

    drafts = [_before_baseline(v, base, targets, criteria) for v in visits[:baseline_index]]
    base_sum = sum(base.lesions[t].value(criteria.sum_kind) for t in targets)
    drafts.append(_baseline(base, base_sum, targets, criteria))
    nadir = (base_sum, base)
    seen = {n for n, r in base.lesions.items() if r.has_disease}
    for index in range(baseline_index + 1, len(visits)):
        visit = visits[index]
        draft = _follow_up(
            visit, _Context(criteria, targets, base, base_sum, *nadir, frozenset(seen))
        )
        previous = visits[index - 1].date
        draft.steroid_increase = visit.steroid_increase or steroid_increase_between(
            events, previous, visit.date
        )
        drafts.append(draft)
        if not math.isnan(draft.sum_value) and draft.sum_value < nadir[0]:
            nadir = (draft.sum_value, visit)
        seen |= {n for n, r in visit.lesions.items() if r.has_disease}

    _set_statuses(visits, drafts, baseline_index, criteria, events)
    for draft in drafts:
        if draft.steroid_increase:
            draft.reasons.append("Steroid dose increased: by itself not progression.")
    unit = criteria.sum_kind.unit
    responses = tuple(
        VisitResponse(
            date=visit.date,
            label=visit.label,
            sum_value=d.sum_value,
            unit=unit,
            targets=targets,
            change_from_baseline=d.change_from_baseline,
            change_from_nadir=d.change_from_nadir,
            nadir_value=d.nadir[0],
            nadir_label=d.nadir[1].label,
            nadir_date=d.nadir[1].date,
            new_lesions=d.new_lesions,
            category=d.category,
            status=d.status,
            reasons=tuple(d.reasons),
        )
        for visit, d in zip(visits, drafts, strict=True)
    )
    return Assessment(criteria, baseline_index, targets, responses)


@dataclass
class _Draft:
    """A visit's response before confirmation states are known."""

    sum_value: float
    nadir: tuple[float, VisitReading]
    category: str
    reasons: list[str]
    change_from_baseline: float | None = None
    change_from_nadir: float | None = None
    new_lesions: tuple[int, ...] = ()
    progression_outside_field: bool = False
    steroid_increase: bool = False
    status: str = ""


@dataclass(frozen=True)
class _Context:
    """What a follow-up visit is compared with."""

    criteria: Criteria
    targets: tuple[int, ...]
    base: VisitReading
    base_sum: float
    nadir_sum: float
    nadir_visit: VisitReading
    seen: frozenset[int]


def _checked(targets: Iterable[int], base: VisitReading, criteria: Criteria) -> tuple[int, ...]:
    """The reader's targets, ascending, once they are known to fit the baseline."""
    chosen = tuple(targets)
    if len(set(chosen)) != len(chosen):
        raise ValueError(f"targets repeat a lesion: {chosen}")
    if len(chosen) > criteria.max_targets:
        raise ValueError(f"{criteria.name} allows at most {criteria.max_targets} targets")
    for number in chosen:
        reading = base.lesions.get(number)
        if reading is None or not (reading.has_disease and reading.measurable):
            raise ValueError(f"L{number} is not measurable at the baseline ({base.date})")
    return tuple(sorted(chosen))


def _before_baseline(
    visit: VisitReading, base: VisitReading, targets: tuple[int, ...], criteria: Criteria
) -> _Draft:
    """A visit before the baseline: summed for the plot, not assessed."""
    return _Draft(
        _sum(visit, targets, criteria.sum_kind),
        (math.nan, base),
        NOT_EVALUABLE,
        [f"Before the baseline ({base.date}): not assessed."],
    )


def _baseline(
    base: VisitReading, base_sum: float, targets: tuple[int, ...], criteria: Criteria
) -> _Draft:
    """The baseline visit: its sum and targets, or the warning that it has no measurable disease."""
    if targets:
        noun = "target" if len(targets) == 1 else "targets"
        text = (
            f"Baseline for {criteria.name}: {criteria.sum_kind.short} "
            f"{format_quantity(base_sum, criteria.sum_kind.unit)} over {noun} {_names(targets)}."
        )
    else:
        text = (
            f"Baseline for {criteria.name}: no measurable disease, so any measurable disease "
            "later means progression."
        )
    return _Draft(base_sum, (base_sum, base), BASELINE, [text])


def _follow_up(visit: VisitReading, ctx: _Context) -> _Draft:
    """Category and reasons of a visit after the baseline (confirmation comes later)."""
    criteria, kind = ctx.criteria, ctx.criteria.sum_kind
    missing = [t for t in ctx.targets if t not in visit.lesions]
    measured = sum(visit.lesions[t].value(kind) for t in ctx.targets if t in visit.lesions)
    draft = _Draft(math.nan if missing else measured, (ctx.nadir_sum, ctx.nadir_visit), "", [])
    if ctx.base_sum > 0 and not missing:
        draft.change_from_baseline = (measured - ctx.base_sum) / ctx.base_sum
    progression: list[str] = []
    if ctx.nadir_sum > 0:
        change = (measured - ctx.nadir_sum) / ctx.nadir_sum
        sentence, grew = _against_nadir(measured, change, bool(missing), ctx)
        if grew or not missing:
            draft.reasons.append(sentence)
        if not missing:
            draft.change_from_nadir = change
        if grew:
            progression.append(sentence)
            grown = [
                visit.lesions[t]
                for t in ctx.targets
                if t in visit.lesions
                and visit.lesions[t].value(kind) > ctx.nadir_visit.lesions[t].value(kind)
            ]
            draft.progression_outside_field = all(r.in_radiation_field is False for r in grown)
    else:
        now = [r for _, r in sorted(visit.lesions.items()) if r.has_disease and r.measurable]
        if now:
            which = "baseline" if ctx.nadir_visit is ctx.base else "nadir"
            verb = "is" if len(now) == 1 else "are"
            listed = " and ".join(f"L{r.lesion} ({_measurement(r, kind)})" for r in now)
            sentence = (
                f"No measurable disease at the {which} ({ctx.nadir_visit.date}); "
                f"now {listed} {verb} measurable: progression."
            )
            draft.reasons.append(sentence)
            progression.append(sentence)
            draft.progression_outside_field = any(r.in_radiation_field is False for r in now)

    new = tuple(n for n, r in sorted(visit.lesions.items()) if r.has_disease and n not in ctx.seen)
    draft.new_lesions = new
    counted = [
        n
        for n in new
        if criteria.new_lesion_rule is NewLesionRule.ANY or visit.lesions[n].measurable
    ]
    if counted:
        noun, verb = ("lesion", "means") if len(counted) == 1 else ("lesions", "mean")
        also = " also" if progression else ""
        sentence = f"New {noun} {_names(counted)}{also} {verb} progression."
        draft.reasons.append(sentence)
        progression.append(sentence)
        if any(visit.lesions[n].in_radiation_field is False for n in counted):
            draft.progression_outside_field = True
    uncounted = [n for n in new if n not in counted]
    if uncounted:
        verb = "is" if len(uncounted) == 1 else "are"
        draft.reasons.append(
            f"New {'lesion' if len(uncounted) == 1 else 'lesions'} {_names(uncounted)} {verb} "
            f"not measurable: under {criteria.name} only a new measurable lesion means progression."
        )
    if progression:
        draft.category = PROGRESSION
    elif missing:
        verb = "was" if len(missing) == 1 else "were"
        noun = "Target" if len(missing) == 1 else "Targets"
        draft.category = NOT_EVALUABLE
        draft.reasons.append(f"{noun} {_names(missing)} {verb} not measured: not evaluable.")
    else:
        _response(visit, measured, ctx, draft)
    return draft


def _against_nadir(
    measured: float, change: float, partial: bool, ctx: _Context
) -> tuple[str, bool]:
    """The sentence comparing the sum with the nadir, and whether that is progression."""
    criteria, kind = ctx.criteria, ctx.criteria.sum_kind
    unit, threshold = kind.unit, criteria.progression_change
    what = _sentence_start(f"{kind.short} of the targets measured" if partial else kind.short)
    head = f"{what} {format_quantity(measured, unit)} is {format_change(change, threshold)}"
    nadir = f"the nadir of {format_quantity(ctx.nadir_sum, unit)} ({ctx.nadir_visit.date})"
    limit = format_change(threshold, threshold)
    relative = change >= threshold - _EPS
    minimum = criteria.progression_min_absolute
    if minimum <= 0:
        if relative:
            return f"{head} from {nadir}, at least {limit}: progression.", True
        return f"{head} from {nadir}, below {limit}.", False
    increase = measured - ctx.nadir_sum
    shown = f"{'+' if increase >= 0 else '-'}{format_quantity(abs(increase), unit)}"
    head = f"{head} ({shown}) from {nadir}"
    absolute = increase >= minimum - _EPS * max(1.0, ctx.nadir_sum)
    if relative and absolute:
        return f"{head}, at least {limit} and {minimum:g} {unit}: progression.", True
    if relative:
        return f"{head}: at least {limit} but less than {minimum:g} {unit}, not progression.", False
    return f"{head}, below {limit}.", False


def _response(visit: VisitReading, measured: float, ctx: _Context, draft: _Draft) -> None:
    """CR, PR or SD for a complete visit without progression."""
    criteria, kind = ctx.criteria, ctx.criteria.sum_kind
    with_disease = [n for n, r in visit.lesions.items() if r.has_disease]
    known = ctx.seen | set(ctx.targets)
    if not with_disease:
        if not known:
            draft.category = STABLE_DISEASE
            draft.reasons.append(
                f"No enhancing disease at the baseline ({ctx.base.date}) nor since: "
                "no evidence of disease, stable disease."
            )
            return
        unread = sorted(known - set(visit.lesions))
        if not unread:
            draft.category = COMPLETE_RESPONSE
            draft.reasons.append(
                "All enhancing disease is gone and there is no new lesion: complete response."
            )
            return
        verb = "was" if len(unread) == 1 else "were"
        draft.reasons.append(
            f"{_names(unread)} {verb} not read, so a complete response cannot be stated."
        )
    draft.category = STABLE_DISEASE
    if ctx.base_sum <= 0:
        draft.reasons.append(
            f"No measurable disease at the baseline ({ctx.base.date}) nor now: stable disease."
        )
        return
    change = (measured - ctx.base_sum) / ctx.base_sum
    threshold = criteria.partial_response_change
    head = (
        f"{_sentence_start(kind.short)} {format_quantity(measured, kind.unit)} is "
        f"{format_change(change, threshold)}"
        f" from the baseline of {format_quantity(ctx.base_sum, kind.unit)} ({ctx.base.date})"
    )
    limit = format_change(threshold, threshold)
    if change > threshold + _EPS:
        draft.reasons.append(f"{head}, short of {limit}: stable disease.")
    elif draft.new_lesions:
        noun, verb = ("lesion", "rules") if len(draft.new_lesions) == 1 else ("lesions", "rule")
        draft.reasons.append(
            f"{head}, at most {limit}, but new {noun} {_names(draft.new_lesions)} "
            f"{verb} out a partial response: stable disease."
        )
    else:
        draft.category = PARTIAL_RESPONSE
        draft.reasons.append(f"{head}, at most {limit}: partial response.")


def _set_statuses(
    visits: tuple[VisitReading, ...],
    drafts: list[_Draft],
    baseline_index: int,
    criteria: Criteria,
    events: tuple[TreatmentEvent, ...],
) -> None:
    """Preliminary or confirmed, from the categories of the later visits."""
    for index in range(baseline_index + 1, len(visits)):
        draft, date = drafts[index], visits[index].date
        later = list(zip(visits[index + 1 :], drafts[index + 1 :], strict=True))
        if draft.category == PROGRESSION:
            _progression_status(draft, date, later, criteria, events)
        elif draft.category in (PARTIAL_RESPONSE, COMPLETE_RESPONSE):
            _response_status(draft, date, later, criteria)


def _progression_status(
    draft: _Draft,
    date: dt.date,
    later: list[tuple[VisitReading, _Draft]],
    criteria: Criteria,
    events: tuple[TreatmentEvent, ...],
) -> None:
    weeks = criteria.pseudoprogression_weeks
    end = latest_radiation_end(events, date - dt.timedelta(days=1))
    if weeks is None or end is None or (date - end).days > weeks * 7 + _EPS:
        draft.status = CONFIRMED
        return
    window = f"Within {weeks:g} weeks of the end of radiation ({end})"
    if draft.progression_outside_field:
        draft.status = CONFIRMED
        draft.reasons.append(f"{window}, but outside the radiation field: counts at once.")
        return
    draft.status = PRELIMINARY
    draft.reasons.append(
        f"{window}, inside the radiation field or not known to be outside it: preliminary "
        "progression (possible pseudoprogression), a confirmation scan is needed."
    )
    following = next(((v, d) for v, d in later if d.category != NOT_EVALUABLE), None)
    if following is None:
        return
    visit, next_draft = following
    if next_draft.category == PROGRESSION:
        draft.status = CONFIRMED
        draft.reasons.append(f"Confirmed by the progression on {visit.date}.")
    else:
        draft.reasons.append(
            f"Not confirmed: the scan of {visit.date} shows {_WORDS[next_draft.category]}."
        )


def _response_status(
    draft: _Draft, date: dt.date, later: list[tuple[VisitReading, _Draft]], criteria: Criteria
) -> None:
    weeks = criteria.confirm_weeks
    if weeks is None:
        return
    held_by = (
        (COMPLETE_RESPONSE,)
        if draft.category == COMPLETE_RESPONSE
        else (COMPLETE_RESPONSE, PARTIAL_RESPONSE)
    )
    draft.status = PRELIMINARY
    for visit, next_draft in later:
        if next_draft.category == NOT_EVALUABLE:
            continue
        if next_draft.category not in held_by:
            draft.reasons.append(
                f"Not held: the scan of {visit.date} shows {_WORDS[next_draft.category]}."
            )
            return
        days = (visit.date - date).days
        if days >= weeks * 7 - _EPS:
            draft.status = CONFIRMED
            draft.reasons.append(f"Held on {visit.date}, {days / 7:.0f} weeks later: confirmed.")
            return
    due = date + dt.timedelta(days=math.ceil(weeks * 7))
    draft.reasons.append(
        f"Preliminary until a scan at least {weeks:g} weeks later (on or after {due}) "
        "shows the same or better."
    )


def _sum(visit: VisitReading, targets: tuple[int, ...], kind: SumKind) -> float:
    """Sum over the targets; NaN when one has no reading."""
    if any(t not in visit.lesions for t in targets):
        return math.nan
    return sum(visit.lesions[t].value(kind) for t in targets)


def _measurement(reading: LesionReading, kind: SumKind) -> str:
    if kind is SumKind.PRODUCTS:
        return f"{reading.longest_mm:.1f} x {reading.perpendicular_mm:.1f} mm"
    if kind is SumKind.LONGEST_DIAMETERS:
        return format_quantity(reading.longest_mm, "mm")
    return format_quantity(reading.volume_ml, "mL")


def _names(numbers: Iterable[int]) -> str:
    """``"L1"``, ``"L1 and L2"``, ``"L1, L2 and L3"``."""
    names = [f"L{n}" for n in numbers]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _sentence_start(text: str) -> str:
    """``text`` with a capital first letter ("volume" -> "Volume"; "SPD" stays)."""
    return text[:1].upper() + text[1:]
