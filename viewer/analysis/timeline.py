"""The response timeline as a matplotlib figure: sums and lesions over time, with the criteria.

Qt-free, so the app embeds the same figure that the report prints: the target sum (SPD, SLD or
volume) and each lesion against the visit dates; the baseline, the nadir and the criteria's
progression and response thresholds as lines; treatment events as markers; and each visit's
category as a coloured band behind it.
"""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.dates import date2num
from matplotlib.figure import Figure

from viewer.analysis.events import TreatmentEvent
from viewer.analysis.response import Assessment, VisitReading

CATEGORY_COLOURS = {
    "PD": "#d9534f",
    "SD": "#8f96a3",
    "PR": "#5cb85c",
    "CR": "#2e7dd1",
    "baseline": "#f0b45a",
}
"""Band colour of each response category (matching the lesion table)."""

_TEXT = "#d7dce2"
_GRID = "#3a3f47"


def draw_timeline(
    figure: Figure,
    visits: Sequence[VisitReading],
    assessment: Assessment,
    events: Sequence[TreatmentEvent] = (),
    *,
    lesion_names: dict[int, str] | None = None,
    lesion_colours: dict[int, tuple[int, int, int]] | None = None,
    dark: bool = True,
) -> None:
    """Draw the response timeline into ``figure`` (cleared first).

    Parameters
    ----------
    figure : matplotlib.figure.Figure
    visits : sequence of VisitReading
        Per visit: its date and each lesion's reading (``viewer.analysis.response``).
    assessment : Assessment
        The response of every visit (sums, nadir, categories) by its criteria.
    events : sequence of TreatmentEvent
        Dated treatment events (``date`` and ``kind``), drawn as markers on the time axis.
    lesion_names, lesion_colours : dict, optional
        By lesion number; colours as 8-bit RGB.
    dark : bool
        Colours for the app's dark theme (False: for a printed report).
    """
    figure.clear()
    text = _TEXT if dark else "#202020"
    grid = _GRID if dark else "#d0d0d0"
    figure.patch.set_facecolor("#1f2228" if dark else "white")
    axes = figure.add_subplot(1, 1, 1)
    axes.set_facecolor("#16181c" if dark else "white")
    criteria = assessment.criteria
    kind = criteria.sum_kind
    responses = list(assessment.visits)
    if not responses:
        axes.text(0.5, 0.5, "No visits with outlines yet", ha="center", va="center", color=text)
        axes.set_axis_off()
        return
    dates = [r.date for r in responses]
    x = [date2num(d) for d in dates]

    # category bands: each visit's category from half-way to its neighbours
    edges = [x[0] - 15] + [(a + b) / 2 for a, b in zip(x, x[1:], strict=False)] + [x[-1] + 15]
    for response, left, right in zip(responses, edges, edges[1:], strict=False):
        colour = CATEGORY_COLOURS.get(response.category)
        if colour is not None:
            axes.axvspan(left, right, color=colour, alpha=0.12, linewidth=0)
            label = response.category + ("?" if response.status == "preliminary" else "")
            axes.text(
                (left + right) / 2, 1.0, label, transform=axes.get_xaxis_transform(),
                ha="center", va="bottom", color=colour, fontsize=8, fontweight="bold",
            )  # fmt: skip

    # each lesion, then the sum of the targets
    numbers = sorted({n for v in visits for n in v.lesions})
    for number in numbers:
        points = [
            (date2num(v.date), v.lesions[number].value(kind)) for v in visits if number in v.lesions
        ]
        if not points:
            continue
        rgb = (lesion_colours or {}).get(number, (150, 150, 150))
        name = (lesion_names or {}).get(number, f"L{number}")
        axes.plot(
            [p[0] for p in points], [p[1] for p in points], marker="o", markersize=3,
            linewidth=1, color=tuple(c / 255 for c in rgb), alpha=0.8, label=name,
        )  # fmt: skip
    sums = [r.sum_value for r in responses]
    axes.plot(x, sums, marker="s", linewidth=2.2, color=text, label=f"{kind.short} (targets)")

    # baseline, nadir and thresholds as horizontal lines
    baseline = responses[assessment.baseline_index].sum_value
    nadir = responses[-1].nadir_value
    axes.axhline(baseline, color="#f0b45a", linestyle="--", linewidth=1, label="baseline")
    if nadir != baseline:
        axes.axhline(nadir, color="#9ecbff", linestyle=":", linewidth=1, label="nadir")
    progression = nadir * (1 + criteria.progression_change)
    if nadir > 0:
        axes.axhline(
            progression, color=CATEGORY_COLOURS["PD"], linestyle="-.", linewidth=1,
            label=f"progression ({criteria.progression_change:+.0%} from nadir)",
        )  # fmt: skip
    if baseline > 0:
        axes.axhline(
            baseline * (1 + criteria.partial_response_change), color=CATEGORY_COLOURS["PR"],
            linestyle="-.", linewidth=1,
            label=f"partial response ({criteria.partial_response_change:+.0%} from baseline)",
        )  # fmt: skip

    # treatment events on the time axis
    for event in events:
        when = date2num(event.date)
        axes.axvline(when, color="#c792ea", linewidth=0.8, alpha=0.7)
        name = event.kind.value
        axes.text(
            when, 0.02, f" {name}", rotation=90, transform=axes.get_xaxis_transform(),
            ha="left", va="bottom", color="#c792ea", fontsize=7,
        )  # fmt: skip

    axes.set_ylabel(f"{kind.short} ({kind.unit})", color=text)
    axes.set_title(f"{criteria.name}: {kind.value}", color=text, fontsize=9, pad=14)
    axes.tick_params(colors=text, labelsize=8)
    for spine in axes.spines.values():
        spine.set_color(grid)
    axes.grid(True, color=grid, linewidth=0.5)
    axes.xaxis_date()
    axes.set_ylim(bottom=0)
    legend = axes.legend(loc="upper left", fontsize=7, framealpha=0.6)
    legend.get_frame().set_facecolor("#1f2228" if dark else "white")
    for item in legend.get_texts():
        item.set_color(text)
    for label in axes.get_xticklabels():
        label.set_rotation(30)
        label.set_horizontalalignment("right")
    # fixed margins: tight_layout measures every text and costs ~50 ms per redraw in the GUI
    figure.subplots_adjust(left=0.09, right=0.98, top=0.86, bottom=0.2)
