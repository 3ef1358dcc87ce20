"""The response engine against CLINICAL.md's criteria table, its edge cases and the demo story."""

from __future__ import annotations

import datetime as dt
import json
import math

import pytest

from tests.conftest import SAMPLE_SCANS
from viewer.analysis.criteria import CRITERIA, NewLesionRule, SumKind
from viewer.analysis.events import SteroidChange, TreatmentEvent, TreatmentKind
from viewer.analysis.response import (
    THIN_SPACE,
    LesionReading,
    VisitReading,
    assess,
    choose_targets,
    default_baseline,
    format_change,
    format_quantity,
)

D = dt.date
START = D(2020, 1, 6)
STEP_DAYS = 56  # 8 weeks between visits: every response is confirmable by the next visit

# CLINICAL.md's table, copied by hand so a change to criteria.py cannot pass unnoticed:
# key -> (sum unit, PR change from baseline, PD change from nadir, PD absolute minimum, new lesion)
CLINICAL = {
    "rano": ("mm2", -0.50, +0.25, 0.0, "any"),
    "rano2": ("mm2", -0.50, +0.25, 0.0, "measurable"),
    "rano2-vol": ("mL", -0.65, +0.40, 0.0, "measurable"),
    "rano-bm": ("mm", -0.30, +0.20, 0.0, "any"),
    "recist": ("mm", -0.30, +0.20, 5.0, "any"),
}
# baseline sums per criteria: RECIST's 50 mm makes +20 % (10 mm) clear the 5 mm minimum
BASE = {"rano": 100.0, "rano2": 100.0, "rano2-vol": 10.0, "rano-bm": 50.0, "recist": 50.0}


def reading(number, size, key, *, measurable=True, field=None):
    """A lesion whose share of the criteria's sum is ``size``; 0 means gone."""
    if size == 0:
        return LesionReading(number, 0.0, 0.0, 0.0, False, present=False)
    kind = CRITERIA[key].sum_kind
    if kind is SumKind.PRODUCTS:
        args = (size / 10.0, 10.0, 1.0)
    elif kind is SumKind.LONGEST_DIAMETERS:
        args = (size, size / 2.0, 1.0)
    else:
        args = (12.0, 11.0, size)
    return LesionReading(number, *args, measurable, in_radiation_field=field)


def visits(key, *sizes, start=START, step_days=STEP_DAYS):
    """Visits ``step_days`` apart; each entry a size of L1, or a dict lesion -> size or reading."""
    out = []
    for index, entry in enumerate(sizes):
        entry = entry if isinstance(entry, dict) else {1: entry}
        lesions = {
            n: r if isinstance(r, LesionReading) else reading(n, r, key) for n, r in entry.items()
        }
        date = start + dt.timedelta(days=index * step_days)
        out.append(VisitReading(date, f"visit {index}", lesions))
    return out


def categories(assessment):
    return [(v.category, v.status) for v in assessment.visits]


@pytest.mark.parametrize("key", CLINICAL)
def test_criteria_table_matches_clinical(key):
    criteria = CRITERIA[key]
    unit, pr, pd, minimum, rule = CLINICAL[key]
    assert criteria.sum_kind.unit == unit
    assert (criteria.partial_response_change, criteria.progression_change) == (pr, pd)
    assert criteria.progression_min_absolute == minimum
    assert (
        criteria.new_lesion_rule
        is {"any": NewLesionRule.ANY, "measurable": NewLesionRule.MEASURABLE}[rule]
    )


def _threshold_rows():
    rows = []
    for key, (_, pr, pd, _, _) in CLINICAL.items():
        base = BASE[key]
        confirm = "" if CRITERIA[key].confirm_weeks is None else "confirmed"
        rows += [
            (key, base * (1 + pd), "PD", "confirmed"),  # exactly at the progression threshold
            (key, base * (1 + pd - 0.001), "SD", ""),  # just below it
            (key, base * (1 + pr), "PR", confirm),  # exactly at the partial-response threshold
            (key, base * (1 + pr + 0.001), "SD", ""),  # just short of it
            (key, base, "SD", ""),
            (key, 0, "CR", confirm),
        ]
    return rows


@pytest.mark.parametrize(("key", "follow_up", "category", "status"), _threshold_rows())
def test_category_at_and_beside_each_threshold(key, follow_up, category, status):
    # the follow-up value is repeated once more so a response can be confirmed 8 weeks later
    assessment = assess(
        visits(key, BASE[key], follow_up, follow_up), CRITERIA[key], baseline_index=0
    )
    assert assessment.targets == (1,)
    base, first = assessment.visits[0], assessment.visits[1]
    assert (base.category, base.status) == ("baseline", "")
    assert (first.category, first.status) == (category, status)
    assert first.unit == CLINICAL[key][0]
    assert first.sum_value == pytest.approx(follow_up)
    assert first.change_from_baseline == pytest.approx(follow_up / BASE[key] - 1)
    assert first.nadir_value == BASE[key] and first.nadir_label == "visit 0"


@pytest.mark.parametrize("key", CLINICAL)
def test_new_lesions_by_each_rule(key):
    unit, *_, rule = CLINICAL[key]
    small = reading(2, 1.0, key, measurable=False)
    large = reading(2, BASE[key], key)
    measurable_new = assess(
        visits(key, BASE[key], {1: BASE[key], 2: large}), CRITERIA[key], baseline_index=0
    )
    assert measurable_new.visits[1].category == "PD"
    assert measurable_new.visits[1].new_lesions == (2,)
    assert "New lesion L2 means progression." in measurable_new.visits[1].reasons
    # a sum that is also a partial response does not hide a small new lesion
    small_new = assess(
        visits(key, BASE[key], {1: BASE[key] / 10, 2: small}), CRITERIA[key], baseline_index=0
    )
    second = small_new.visits[1]
    assert second.new_lesions == (2,)
    if rule == "any":
        assert second.category == "PD"
    else:
        assert second.category == "SD"
        assert any("L2 is not measurable: under RANO 2.0" in r for r in second.reasons)
        assert any("but new lesion L2 rules out a partial response" in r for r in second.reasons)


@pytest.mark.parametrize(
    ("key", "nadir_sizes", "now_sizes", "raw_change", "category"),
    [
        # 12.5 x 10.7 mm2 over 10.1 x 10.7 mm2 is +25 % exactly, computed as 0.24999999999999986
        ("rano", (10.1 * 10.7,), (12.625 * 10.7,), 0.24999999999999986, "PD"),
        ("rano-bm", (10.1, 10.1), (12.12, 12.12), 0.19999999999999996, "PD"),
        ("rano2-vol", (1.01,), (1.414,), 0.3999999999999999, "PD"),
        ("rano-bm", (10.1, 10.1), (7.07, 7.07), -0.29999999999999993, "PR"),
        ("rano2-vol", (1.14,), (0.399,), -0.6499999999999999, "PR"),
    ],
)
def test_threshold_computed_in_floating_point_still_counts(
    key, nadir_sizes, now_sizes, raw_change, category
):
    before = {n: size for n, size in enumerate(nadir_sizes, 1)}
    after = {n: size for n, size in enumerate(now_sizes, 1)}
    assessment = assess(visits(key, before, after, after), CRITERIA[key], baseline_index=0)
    follow_up = assessment.visits[1]
    # the raw float misses the threshold; only the tolerance makes it count
    assert follow_up.change_from_baseline == raw_change
    threshold = CLINICAL[key][2] if category == "PD" else CLINICAL[key][1]
    assert (raw_change < threshold) if category == "PD" else (raw_change > threshold)
    assert follow_up.category == category
    assert any(format_change(threshold, threshold) + " from the" in r for r in follow_up.reasons)


def test_running_nadir_over_six_visits():
    # shrink to 60 then grow: +25 % from the nadir is progression although -25 % from baseline
    assessment = assess(
        visits("rano2", 100, 80, 60, 70, 74.9, 75), CRITERIA["rano2"], baseline_index=0
    )
    rows = assessment.visits
    assert [v.nadir_value for v in rows] == [100, 100, 80, 60, 60, 60]
    assert [v.nadir_label for v in rows] == ["visit 0", "visit 0", "visit 1"] + ["visit 2"] * 3
    assert [v.category for v in rows] == ["baseline", "SD", "SD", "SD", "SD", "PD"]
    assert rows[5].change_from_baseline == pytest.approx(-0.25)
    assert rows[5].change_from_nadir == pytest.approx(0.25)
    nadir = f"the nadir of 60 mm2 ({rows[2].date})"
    assert rows[5].reasons == (f"SPD 75 mm2 is +25% from {nadir}, at least +25%: progression.",)
    assert rows[4].reasons[0] == f"SPD 75 mm2 is +24.8% from {nadir}, below +25%."
    assert rows[2].reasons[1] == (
        f"SPD 60 mm2 is -40% from the baseline of 100 mm2 ({START}), short of -50%: stable disease."
    )


def test_nadir_after_complete_response_makes_any_measurable_disease_progression():
    assessment = assess(visits("rano", 100, 0, 0, 30), CRITERIA["rano"], baseline_index=0)
    assert categories(assessment)[1:] == [
        ("CR", "confirmed"),
        ("CR", "preliminary"),
        ("PD", "confirmed"),
    ]
    last = assessment.visits[3]
    assert last.nadir_value == 0 and last.change_from_nadir is None
    assert last.reasons[0] == (
        f"No measurable disease at the nadir ({assessment.visits[1].date}); "
        "now L1 (3.0 x 10.0 mm) is measurable: progression."
    )
    assert last.new_lesions == ()  # L1 was there at the baseline: not new


SHORT_OF_5_MM = "at least +20% but less than 5 mm, not progression."


@pytest.mark.parametrize(
    ("nadir_mm", "now_mm", "category", "text"),
    [
        (20.0, 25.0, "PD", "+25% (+5.0 mm) from {nadir}, at least +20% and 5 mm: progression."),
        (25.0, 30.0, "PD", "+20% (+5.0 mm) from {nadir}, at least +20% and 5 mm: progression."),
        (20.0, 24.9, "SD", "+24% (+4.9 mm) from {nadir}: " + SHORT_OF_5_MM),
        (10.0, 14.9, "SD", "+49% (+4.9 mm) from {nadir}: " + SHORT_OF_5_MM),
        (40.0, 47.9, "SD", "+19.7% (+7.9 mm) from {nadir}, below +20%."),
    ],
)
def test_recist_needs_5_mm_more_as_well(nadir_mm, now_mm, category, text):
    assessment = assess(visits("recist", nadir_mm, now_mm), CRITERIA["recist"], baseline_index=0)
    follow_up = assessment.visits[1]
    assert follow_up.category == category
    nadir = f"the nadir of {nadir_mm:.1f} mm ({START})"
    assert follow_up.reasons[0] == f"SLD {now_mm:.1f} mm is " + text.format(nadir=nadir)
    # RANO-BM has the same +20 % but no absolute minimum
    bm = assess(visits("rano-bm", nadir_mm, now_mm), CRITERIA["rano-bm"], baseline_index=0)
    assert bm.visits[1].category == ("PD" if now_mm / nadir_mm - 1 >= 0.2 - 1e-9 else "SD")


RT_END = D(2020, 3, 2)


@pytest.mark.parametrize(
    ("days_after_end", "field", "status", "text"),
    [
        (84, None, "preliminary", "inside the radiation field or not known to be outside it"),
        (84, True, "preliminary", "preliminary progression (possible pseudoprogression)"),
        (30, False, "confirmed", "but outside the radiation field: counts at once."),
        (85, None, "confirmed", None),  # 12 weeks and a day: the window has closed
        (0, None, "confirmed", None),  # a scan on the last day is taken as before it
    ],
)
def test_twelve_week_window_after_radiotherapy(days_after_end, field, status, text):
    events = [
        TreatmentEvent(D(2020, 1, 10), TreatmentKind.RADIOTHERAPY_START),
        TreatmentEvent(RT_END, TreatmentKind.RADIOTHERAPY_END),
    ]
    base = VisitReading(D(2020, 1, 6), "post-op", {1: reading(1, 100, "rano2")})
    grown = VisitReading(
        RT_END + dt.timedelta(days=days_after_end),
        "follow-up",
        {1: reading(1, 130, "rano2", field=field)},
    )
    follow_up = assess([base, grown], CRITERIA["rano2"], events=events, baseline_index=0).visits[1]
    assert (follow_up.category, follow_up.status) == ("PD", status)
    window_notes = [r for r in follow_up.reasons if r.startswith("Within 12 weeks")]
    if text is None:
        assert window_notes == []
    else:
        assert window_notes[0].startswith(f"Within 12 weeks of the end of radiation ({RT_END})")
        assert text in window_notes[0]
    # RANO-BM has no such window
    bm = assess([base, grown], CRITERIA["rano-bm"], events=events, baseline_index=0)
    assert bm.visits[1].status == "confirmed"


def test_new_lesion_outside_the_field_counts_at_once():
    events = [TreatmentEvent(D(2020, 2, 1), TreatmentKind.RADIOSURGERY)]
    base = VisitReading(D(2020, 1, 6), "v0", {1: reading(1, 100, "rano2")})
    inside = {1: reading(1, 140, "rano2", field=True)}
    outside = {**inside, 2: reading(2, 120, "rano2", field=False)}
    for lesions, status in ((inside, "preliminary"), (outside, "confirmed")):
        later = VisitReading(D(2020, 3, 1), "v1", lesions)
        follow_up = assess(
            [base, later], CRITERIA["rano2"], events=events, baseline_index=0
        ).visits[1]
        assert (follow_up.category, follow_up.status) == ("PD", status)


def test_preliminary_progression_is_confirmed_by_a_later_one_or_not():
    events = [TreatmentEvent(START + dt.timedelta(days=10), TreatmentKind.RADIOTHERAPY_END)]
    confirmed = assess(
        visits("rano2", 100, 130, 170), CRITERIA["rano2"], events=events, baseline_index=0
    )
    assert categories(confirmed)[1:] == [("PD", "confirmed"), ("PD", "confirmed")]
    assert (
        confirmed.visits[1].reasons[-1]
        == f"Confirmed by the progression on {confirmed.visits[2].date}."
    )
    # pseudoprogression: the enhancement settles, the next scan is stable
    settled = assess(
        visits("rano2", 100, 130, 110), CRITERIA["rano2"], events=events, baseline_index=0
    )
    assert categories(settled)[1:] == [("PD", "preliminary"), ("SD", "")]
    assert settled.visits[1].reasons[-1] == (
        f"Not confirmed: the scan of {settled.visits[2].date} shows stable disease."
    )


FAINT = LesionReading(1, 8.0, 6.0, 0.2, False)  # back, but too small to measure
HELD = "Held on {d2}, 4 weeks later: confirmed."
HELD_6 = "Held on {d3}, 6 weeks later: confirmed."
WAIT = (
    "Preliminary until a scan at least 4 weeks later (on or after {due}) shows the same or better."
)
NOT_HELD = "Not held: the scan of {d2} shows "
PR_C, PR_P, CR_P, NE = (
    ("PR", "confirmed"),
    ("PR", "preliminary"),
    ("CR", "preliminary"),
    ("not evaluable", ""),
)


@pytest.mark.parametrize(
    ("sizes", "gap_days", "expected", "last_reason"),
    [
        ((100, 50, 45, 48), (20, 8), [PR_C, PR_P, PR_P], "Held on {d3}, 4 weeks later: confirmed."),
        ((100, 50, 40), (27,), [PR_P, PR_P], WAIT),
        ((100, 50, 40), (28,), [PR_C, PR_P], HELD),
        ((100, 50, 0), (28,), [PR_C, CR_P], HELD),
        ((100, 0, FAINT), (28,), [CR_P, PR_P], NOT_HELD + "partial response."),
        ((100, 50, 60), (28,), [PR_P, ("SD", "")], NOT_HELD + "stable disease."),
        ((100, 50, None, 45), (10, 30), [PR_C, NE, PR_P], HELD_6),
    ],
)
def test_response_confirmation_states(sizes, gap_days, expected, last_reason):
    dates = [START, START + dt.timedelta(days=56)]
    for gap in gap_days:
        dates.append(dates[-1] + dt.timedelta(days=gap))

    def read(key):
        def one(size):
            if size is None:  # nothing read: the target is missing
                return {}
            return {1: size if isinstance(size, LesionReading) else reading(1, size, key)}

        return [VisitReading(d, str(d), one(s)) for d, s in zip(dates, sizes, strict=True)]

    assessment = assess(read("rano2"), CRITERIA["rano2"], baseline_index=0)
    assert categories(assessment)[1:] == expected
    named = {f"d{i}": d for i, d in enumerate(dates)} | {"due": dates[1] + dt.timedelta(days=28)}
    assert assessment.visits[1].reasons[-1] == last_reason.format(**named)
    # RECIST 1.1 in Interval asks for no confirmation
    recist = assess(read("recist"), CRITERIA["recist"], baseline_index=0)
    assert {v.status for v in recist.visits if v.category in ("PR", "CR")} == {""}


@pytest.mark.parametrize("key", ["rano2", "rano"])
@pytest.mark.parametrize("sizes", [(100, 120), (100, 130), (100, 40, 45)])
def test_a_steroid_increase_changes_nothing(key, sizes):
    plain = assess(visits(key, *sizes), CRITERIA[key], baseline_index=0)
    flagged = [
        VisitReading(v.date, v.label, v.lesions, steroid_increase=True) for v in visits(key, *sizes)
    ]
    by_flag = assess(flagged, CRITERIA[key], baseline_index=0)
    event = TreatmentEvent(
        START + dt.timedelta(days=3), TreatmentKind.STEROID_CHANGE, SteroidChange.INCREASE
    )
    by_event = assess(visits(key, *sizes), CRITERIA[key], events=[event], baseline_index=0)
    note = "Steroid dose increased: by itself not progression."
    for steroid in (by_flag, by_event):
        assert categories(steroid) == categories(plain)
        for with_note, without in zip(steroid.visits[1:2], plain.visits[1:2], strict=True):
            assert with_note.reasons == (*without.reasons, note)
    assert note not in by_event.visits[2 if len(sizes) > 2 else 1].reasons[:-1]
    if len(sizes) > 2:  # the event lies between the first two visits only
        assert by_event.visits[2].reasons == plain.visits[2].reasons


def test_missing_target_is_not_evaluable_unless_the_others_already_progress():
    key = "rano"
    base = {1: 100, 2: 50}
    unread = assess(visits(key, base, {1: 90}), CRITERIA[key], baseline_index=0).visits[1]
    assert unread.category == "not evaluable" and math.isnan(unread.sum_value)
    assert unread.change_from_baseline is None and unread.change_from_nadir is None
    assert unread.reasons == ("Target L2 was not measured: not evaluable.",)
    grown = assess(visits(key, base, {1: 200}), CRITERIA[key], baseline_index=0).visits[1]
    assert grown.category == "PD"
    assert grown.reasons[0].startswith(
        "SPD of the targets measured 200 mm2 is +33% from the nadir of 150 mm2"
    )


def test_a_lesion_not_read_prevents_a_complete_response():
    key = "rano"
    base = {1: 100, 2: reading(2, 40, key, measurable=False)}
    follow_up = assess(visits(key, base, {1: 0}), CRITERIA[key], baseline_index=0).visits[1]
    assert follow_up.category == "PR"
    assert follow_up.reasons[1] == "L2 was not read, so a complete response cannot be stated."
    # read as gone, it is a complete response; still there, a partial one
    gone = assess(visits(key, base, {1: 0, 2: 0}), CRITERIA[key], baseline_index=0).visits[1]
    assert gone.category == "CR"
    left = assess(visits(key, base, {1: 0, 2: base[2]}), CRITERIA[key], baseline_index=0)
    assert left.visits[1].category == "PR"


def test_baseline_without_measurable_disease():
    key = "rano2"
    small = reading(1, 40, key, measurable=False)
    nothing = assess(visits(key, {1: 0}, {1: 0}), CRITERIA[key], baseline_index=0)
    assert nothing.targets == ()
    assert nothing.visits[0].reasons == (
        "Baseline for RANO 2.0 (bidimensional): no measurable disease, so any measurable disease "
        "later means progression.",
    )
    assert nothing.visits[1].category == "SD"
    assert "no evidence of disease" in nothing.visits[1].reasons[0]
    non_measurable = assess(visits(key, {1: small}, {1: small}), CRITERIA[key], baseline_index=0)
    assert non_measurable.visits[1].category == "SD"
    assert non_measurable.visits[1].reasons == (
        f"No measurable disease at the baseline ({START}) nor now: stable disease.",
    )
    became_measurable = assess(visits(key, {1: small}, {1: 120}), CRITERIA[key], baseline_index=0)
    assert became_measurable.visits[1].category == "PD"
    assert became_measurable.visits[1].new_lesions == ()


def test_brief_example_reason_text():
    nadir_day = D(2002, 8, 14)
    rows = [
        VisitReading(D(2002, 5, 1), "baseline", {1: LesionReading(1, 40.0, 30.0, 10.0, True)}),
        VisitReading(nadir_day, "nadir", {1: LesionReading(1, 39.0, 23.0, 8.0, True)}),
        VisitReading(
            D(2002, 12, 9),
            "now",
            {
                1: LesionReading(1, 40.0, 32.75, 12.0, True),
                3: LesionReading(3, 8.0, 6.0, 0.2, False),
            },
        ),
    ]
    now = assess(rows, CRITERIA["rano"], baseline_index=0).visits[2]
    assert now.reasons == (
        f"SPD 1{THIN_SPACE}310 mm2 is +46% from the nadir of 897 mm2 (2002-08-14), at least +25%: "
        "progression.",
        "New lesion L3 also means progression.",
    )
    assert (now.new_lesions, now.nadir_label, now.nadir_date) == ((3,), "nadir", nadir_day)


def test_formatting():
    assert format_quantity(1310.4, "mm2") == f"1{THIN_SPACE}310 mm2"
    assert format_quantity(1234567.0, "mm2") == f"1{THIN_SPACE}234{THIN_SPACE}567 mm2"
    assert format_quantity(45.94, "mm") == "45.9 mm"
    assert format_quantity(1.0418, "mL") == "1.04 mL"
    assert format_change(0.4604, 0.25) == "+46%"
    assert format_change(0.2499, 0.25) == "+24.99%"
    assert format_change(0.251, 0.25) == "+25.1%"
    assert format_change(0.25 - 1e-12, 0.25) == "+25%"
    assert format_change(-0.5, -0.5) == "-50%"
    assert format_change(-0.003, 0.25) == "-0.3%"
    assert format_change(0.0, 0.25) == "+0%"


def test_choose_targets_by_the_criteria_size():
    lesions = {
        1: LesionReading(1, 30.0, 10.0, 3.0, True),  # product 300, longest 30
        2: LesionReading(2, 20.0, 20.0, 4.0, True),  # product 400, longest 20
        3: LesionReading(3, 15.0, 15.0, 1.5, True),  # product 225
        4: LesionReading(4, 15.0, 15.0, 1.5, True),  # ties with L3: the lower number wins
        5: LesionReading(5, 50.0, 40.0, 20.0, False),  # largest, not measurable
        6: LesionReading(6, 0.0, 0.0, 0.0, False, present=False),
    }
    baseline = VisitReading(START, "v0", lesions)
    assert choose_targets(baseline, CRITERIA["rano2"]) == (1, 2, 3)
    assert choose_targets(baseline, CRITERIA["rano"]) == (1, 2, 3, 4)
    assert choose_targets(baseline, CRITERIA["rano2-vol"]) == (1, 2, 3)
    longest = {n: LesionReading(n, 10.0 + n, 10.0, 1.0, True) for n in range(1, 8)}
    assert choose_targets(VisitReading(START, "v0", longest), CRITERIA["rano-bm"]) == (
        3,
        4,
        5,
        6,
        7,
    )
    # the reader's own choice is kept, sorted
    chosen = assess([baseline], CRITERIA["rano2"], baseline_index=0, targets=[4, 1])
    assert chosen.targets == (1, 4)
    assert chosen.visits[0].sum_value == 300 + 225


@pytest.mark.parametrize(
    ("targets", "message"),
    [([5], "L5 is not measurable"), ([6], "L6 is not measurable"), ([9], "L9 is not measurable"),
     ([1, 1], "repeat"), ([1, 2, 3, 4], "at most 3 targets")],
)  # fmt: skip
def test_bad_targets_are_refused(targets, message):
    lesions = {n: LesionReading(n, 20.0, 20.0, 2.0, True) for n in range(1, 5)}
    lesions[5] = LesionReading(5, 20.0, 20.0, 2.0, False)
    lesions[6] = LesionReading(6, 0.0, 0.0, 0.0, False, present=False)
    with pytest.raises(ValueError, match=message):
        assess(
            [VisitReading(START, "v0", lesions)],
            CRITERIA["rano2"],
            baseline_index=0,
            targets=targets,
        )


def test_bad_inputs_are_refused():
    one = {1: LesionReading(1, 20.0, 20.0, 2.0, True)}
    with pytest.raises(ValueError, match="no visits"):
        assess([], CRITERIA["rano2"])
    with pytest.raises(ValueError, match="comes after"):
        assess(
            [VisitReading(D(2020, 2, 1), "b", one), VisitReading(D(2020, 1, 1), "a", one)],
            CRITERIA["rano2"],
        )
    with pytest.raises(ValueError, match="baseline index 2"):
        assess([VisitReading(START, "a", one)], CRITERIA["rano2"], baseline_index=2)
    with pytest.raises(ValueError, match="key 2 holds lesion L1"):
        VisitReading(START, "a", {2: one[1]})
    with pytest.raises(ValueError, match="volume_ml"):
        LesionReading(1, 20.0, 20.0, math.nan, True)
    with pytest.raises(ValueError, match="measurable and gone"):
        LesionReading(1, 0.0, 0.0, 0.0, True, present=False)
    with pytest.raises(ValueError, match="needs a direction"):
        TreatmentEvent(START, TreatmentKind.STEROID_CHANGE)
    with pytest.raises(ValueError, match="cannot carry a steroid change"):
        TreatmentEvent(START, TreatmentKind.SURGERY, SteroidChange.DECREASE)


# ---- the demo patient (sample_scans/README.md, CLINICAL.md) -----------------------------------

TRUTH = json.loads((SAMPLE_SCANS / "demo_case" / "ground_truth" / "case.json").read_text("utf-8"))
# hand-built from the ground truth of each visit's contrast MRI: axial_diameters_label_map
# (longest, perpendicular mm) and enhancing_ml; lesion 1 the glioma, lesion 2 the 2003 metastasis
DEMO = {
    "1995-06-12": ("SE05_AX_T1_POST_GAD", {1: (33.284, 26.007, 11.2828)}),
    "1995-07-01": ("SE06_COR_T1_POST_GAD", {1: None}),  # post-operative: no enhancing tumour
    "2002-08-14": ("SE07_AX_T1_POST_GAD", {1: (13.427, 11.895, 1.0418)}),
    "2002-12-09": ("SE08_AX_T1_POST_GAD", {1: (38.579, 30.27, 16.7442)}),
    "2003-03-27": (
        "SE09_AX_T1_POST_GAD",
        {1: (46.601, 34.343, 18.5765), 2: (14.534, 12.79, 1.2117)},
    ),
}
DEMO_EVENTS = [
    TreatmentEvent(D(1995, 6, 29), TreatmentKind.SURGERY),
    TreatmentEvent(D(1995, 7, 24), TreatmentKind.RADIOTHERAPY_START),
    TreatmentEvent(D(1995, 8, 11), TreatmentKind.RADIOTHERAPY_END),
    TreatmentEvent(D(2002, 8, 22), TreatmentKind.RADIOSURGERY),
    TreatmentEvent(D(2002, 12, 16), TreatmentKind.SURGERY),
]


def demo_visits():
    out = []
    for date, (_, lesions) in DEMO.items():
        readings = {}
        for number, numbers in lesions.items():
            if numbers is None:
                readings[number] = LesionReading(number, 0.0, 0.0, 0.0, False, present=False)
            else:
                # every diameter >= 10 mm on slices <= 5 mm thick: measurable by all five criteria
                readings[number] = LesionReading(
                    number, *numbers, True, in_radiation_field=None if number == 1 else False
                )
        out.append(VisitReading(D.fromisoformat(date), date, readings))
    return out


def test_demo_numbers_are_the_ground_truth():
    for date, (folder, lesions) in DEMO.items():
        visit = next(v for v in TRUTH["visits"] if v["date"] == date)
        series = next(s for s in visit["series"] if s["folder"].endswith(folder))
        for number, numbers in lesions.items():
            truth = series["lesions"][str(number)]
            if numbers is None:
                assert truth["enhancing_ml"] == 0 and "axial_diameters_label_map" not in truth
            else:
                axial = truth["axial_diameters_label_map"]
                assert numbers == (
                    axial["longest_mm"],
                    axial["perpendicular_mm"],
                    truth["enhancing_ml"],
                )
    treatments = [(h["event"], h["date"]) for h in TRUTH["history"] if h["event"] != "imaging"]
    assert treatments == [(e.kind.value, e.date.isoformat()) for e in DEMO_EVENTS]


def test_demo_default_baselines():
    dates = list(DEMO)
    assert dates[default_baseline(demo_visits(), DEMO_EVENTS, CRITERIA["rano"])] == "1995-07-01"
    assert dates[default_baseline(demo_visits(), DEMO_EVENTS, CRITERIA["rano2"])] == "2002-08-14"
    assert dates[default_baseline(demo_visits(), DEMO_EVENTS, CRITERIA["recist"])] == "1995-06-12"
    assert default_baseline(demo_visits(), (), CRITERIA["rano2"]) == 0
    surgery_only = [e for e in DEMO_EVENTS if e.kind is TreatmentKind.SURGERY]
    assert dates[default_baseline(demo_visits(), surgery_only, CRITERIA["rano2"])] == "1995-07-01"
    on_the_day = [TreatmentEvent(D(1995, 6, 12), TreatmentKind.SURGERY)]
    assert dates[default_baseline(demo_visits(), on_the_day, CRITERIA["rano"])] == "1995-07-01"


@pytest.mark.parametrize("key", ["rano", "rano2"])
def test_demo_story_from_the_post_operative_baseline(key):
    baseline_index = None if key == "rano" else 1  # RANO 2010 takes the post-operative scan itself
    assessment = assess(
        demo_visits(), CRITERIA[key], events=DEMO_EVENTS, baseline_index=baseline_index
    )
    assert assessment.baseline_index == 1 and assessment.targets == ()
    assert categories(assessment) == [
        ("not evaluable", ""),
        ("baseline", ""),
        ("PD", "confirmed"),
        ("PD", "confirmed"),
        ("PD", "confirmed"),
    ]
    diagnosis, post_op, recurrence, growth, metastasis = assessment.visits
    assert diagnosis.reasons == ("Before the baseline (1995-07-01): not assessed.",)
    assert post_op.sum_value == 0
    assert recurrence.reasons[0] == (
        "No measurable disease at the baseline (1995-07-01); "
        "now L1 (13.4 x 11.9 mm) is measurable: progression."
    )
    assert recurrence.new_lesions == (1,)  # nothing enhanced at the baseline
    assert growth.reasons == (
        "No measurable disease at the baseline (1995-07-01); "
        "now L1 (38.6 x 30.3 mm) is measurable: progression.",
    )
    assert metastasis.new_lesions == (2,)
    assert metastasis.reasons[-1] == "New lesion L2 also means progression."


def test_demo_story_by_rano2_from_its_default_baseline():
    assessment = assess(demo_visits(), CRITERIA["rano2"], events=DEMO_EVENTS)
    assert assessment.baseline_index == 2 and assessment.targets == (1,)
    assert [v.category for v in assessment.visits] == [
        "not evaluable",
        "not evaluable",
        "baseline",
        "PD",
        "PD",
    ]
    growth, metastasis = assessment.visits[3:]
    nadir = "the nadir of 160 mm2 (2002-08-14)"
    assert growth.reasons == (
        f"SPD 1{THIN_SPACE}168 mm2 is +631% from {nadir}, at least +25%: progression.",
    )
    # 2002-12-09 is 15.6 weeks after the radiosurgery: outside the pseudoprogression window
    assert growth.status == "confirmed"
    assert metastasis.reasons == (
        f"SPD 1{THIN_SPACE}600 mm2 is +902% from {nadir}, at least +25%: progression.",
        "New lesion L2 also means progression.",
    )
    volumetric = assess(demo_visits(), CRITERIA["rano2-vol"], events=DEMO_EVENTS)
    assert (
        volumetric.visits[3]
        .reasons[0]
        .startswith("Volume 16.74 mL is +1507% from the nadir of 1.04 mL")
    )
