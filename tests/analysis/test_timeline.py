"""The response timeline figure: sums, lesions, thresholds, events and category bands."""

from __future__ import annotations

import datetime as dt

from matplotlib.figure import Figure

from viewer.analysis.criteria import CRITERIA
from viewer.analysis.events import TreatmentEvent, TreatmentKind
from viewer.analysis.response import LesionReading, VisitReading, assess
from viewer.analysis.timeline import draw_timeline


def reading(date, label, lesions):
    return VisitReading(
        date,
        label,
        {n: LesionReading(n, ld, pd, ld * pd / 1000, True) for n, (ld, pd) in lesions.items()},
    )


def test_the_timeline_draws_the_sum_lesions_thresholds_events_and_categories():
    visits = [
        reading(dt.date(2002, 1, 10), "2002-01-10", {1: (30.0, 20.0)}),
        reading(dt.date(2002, 4, 10), "2002-04-10", {1: (20.0, 15.0)}),
        reading(dt.date(2002, 7, 10), "2002-07-10", {1: (28.0, 22.0), 2: (12.0, 11.0)}),
    ]
    events = [TreatmentEvent(dt.date(2002, 2, 1), TreatmentKind.CHEMOTHERAPY)]
    assessment = assess(visits, CRITERIA["rano"], events=events, baseline_index=0)
    figure = Figure()
    draw_timeline(figure, visits, assessment, events, lesion_names={1: "L1 recurrence"})
    (axes,) = figure.axes
    labels = [line.get_label() for line in axes.get_lines()]
    assert "L1 recurrence" in labels and "L2" in labels and "SPD (targets)" in labels
    assert "baseline" in labels and any(label.startswith("progression") for label in labels)
    sums = next(line for line in axes.get_lines() if line.get_label() == "SPD (targets)")
    assert list(sums.get_ydata()) == [600.0, 300.0, 616.0]
    texts = [t.get_text() for t in axes.texts]
    assert "PD" in texts and " chemotherapy" in texts
    assert "mm2" in axes.get_ylabel()
