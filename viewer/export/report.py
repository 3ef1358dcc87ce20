"""The case report as a PDF (matplotlib PdfPages only): what the trainee found, without identity.

Pages: (1) the case label, criteria, baseline and nadir, the lesions by visit (volume mL,
diameters mm, product mm2, status) and the response per visit with its reasons; (2) the response
timeline with the treatment events; (3...) one page per lesion with its key image at each visit:
the axial slice its diameters were measured on, windowed, the outline drawn over it and the two
caliper lines; (last) registration states and provenance: who drew each outline and when, who
last edited it, and whether its diameters are automatic or hand-measured (by whom, when). Those
times are when the reader worked, in UTC, never a scan's date, so teaching mode keeps them.

Text is set in the PDF core fonts (Helvetica, Courier): nothing is embedded, so the file stays
small and quick to write, and its text can be searched. Visit labels and dates go through
:class:`viewer.export.privacy.Privacy` (teaching mode: "Day N", no real dates, no patient).
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.dates import date2num
from matplotlib.figure import Figure

from viewer import __version__
from viewer.analysis.measure import LesionMeasurement
from viewer.analysis.timeline import draw_timeline
from viewer.core.transform import Registration
from viewer.core.volume import Volume
from viewer.display.labels import blend, label_slice, overlay_rgba
from viewer.display.slicing import SliceRequest, plane_grid, reslice
from viewer.display.window import WindowLevel, apply_window, colorize, intensity_stats
from viewer.export.privacy import Privacy
from viewer.export.tables import CaseTable, MeasurementProvenance, case_table
from viewer.state.tracking import Tracking

A4_INCHES = (8.27, 11.69)
_MARGIN = 0.07  # figure fraction
_KEY_IMAGE_MIN_FIELD_MM = 80.0
"""Smallest side of a key image's field of view, mm: enough anatomy round a small lesion."""
_KEY_IMAGE_FIELD_PER_DIAMETER = 2.5
"""A key image's side as a multiple of the lesion's longest diameter."""
_LONGEST_COLOUR = "#ffd400"
_PERPENDICULAR_COLOUR = "#00d5ff"
PAGE_STYLE = {
    # core fonts: no font embedded, text searchable; matplotlib writes cp1252 text with them
    "pdf.use14corefonts": True,
    "font.family": "sans-serif",
    "font.sans-serif": ["Helvetica"],
    "font.monospace": ["Courier"],
    "axes.unicode_minus": False,
    "font.weight": "medium",
    "axes.titleweight": "medium",
    "axes.labelweight": "medium",  # the core fonts' regular weight (AFM "Medium"), not 400
}


def write_report(
    tracking: Tracking,
    case_label: str,
    path: str | Path,
    *,
    privacy: Privacy,
    volumes: Mapping[str, Volume],
    series_numbers: Mapping[str, int | None] | None = None,
    registrations: Sequence[Registration] = (),
) -> Path:
    """Write the case report as a PDF.

    Parameters
    ----------
    tracking : Tracking
        The case's lesions, measurements and response choices.
    case_label : str
        Shown instead of the patient (never take it from the images).
    path : str or Path
        The PDF to write (replaced if present).
    privacy : Privacy
        Teaching mode (default) or identity / real dates.
    volumes : mapping of str to Volume
        The loaded images by series key; a series missing here gets no key image.
    series_numbers : mapping of str to int or None, optional
        SeriesNumber by series key, to name series "Day 412 S7".
    registrations : sequence of Registration
        The case's registrations, listed with their states.

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    table = case_table(tracking, privacy, series_numbers)
    metadata = {
        "Title": f"Interval report \u2014 {case_label}",
        "Author": "",
        "Subject": f"Response assessment by {table.criteria.name}",
        "Keywords": "Interval, response assessment, " + table.criteria.key,
        "Creator": "Interval",
        "Producer": "Interval",
    }
    if not privacy.real_dates:
        metadata["CreationDate"] = None  # the day of writing, next to Day N labels, dates them
    colours = {lesion.number: lesion.colour for lesion in tracking.annotations.lesions}
    with matplotlib.rc_context(PAGE_STYLE), PdfPages(path, metadata=metadata) as pdf:
        flow = PageFlow(pdf)
        _summary(flow, table, case_label)
        flow.finish()
        pdf.savefig(_timeline_page(table, tracking, colours))
        # one automatic window per visit, shared by every lesion's key image on it
        windows = {k: intensity_stats(v.array).auto_window for k, v in volumes.items()}
        for number in sorted(table.names):
            figure = _lesion_page(table, tracking, number, volumes, windows, colours)
            if figure is not None:
                pdf.savefig(figure)
        flow = PageFlow(pdf)
        _provenance(flow, table, registrations)
        flow.finish()
    return path


class PageFlow:
    """Lines of text down A4 pages, a new page when one is full."""

    def __init__(self, pdf: PdfPages) -> None:
        self._pdf = pdf
        self._figure: Figure | None = None
        self._y = 0.0

    def line(self, text: str, *, size: float = 9, bold: bool = False, mono: bool = False) -> None:
        """One line of text (size in points), on a new page when this one is full."""
        step = size * 1.45 / 72 / A4_INCHES[1]
        if self._figure is None or self._y - step < _MARGIN:
            self.finish()
            self._figure = Figure(figsize=A4_INCHES)
            self._y = 1 - _MARGIN
        self._y -= step
        self._figure.text(
            _MARGIN, self._y, printable(text), fontsize=size,
            fontweight="bold" if bold else "medium",
            family="monospace" if mono else "sans-serif", parse_math=False,
        )  # fmt: skip

    def wrapped(self, text: str, *, indent: str = "", width: int = 105, size: float = 9) -> None:
        """A paragraph wrapped at ``width`` characters, each line indented by ``indent``."""
        for part in textwrap.wrap(text, width, initial_indent=indent, subsequent_indent=indent):
            self.line(part, size=size)

    def gap(self, lines: float = 0.6) -> None:
        """Vertical space of ``lines`` 9-point lines."""
        self._y -= lines * 9 * 1.45 / 72 / A4_INCHES[1]

    def finish(self) -> None:
        """Write the last page."""
        if self._figure is not None:
            self._pdf.savefig(self._figure)
        self._figure = None


def printable(text: str) -> str:
    """Text the PDF core fonts can show: thin spaces (thousands separators) become spaces.

    The core fonts' encoding (cp1252) has no thin space.
    """
    return text.replace("\u2009", " ")


def _summary(flow: PageFlow, table: CaseTable, case_label: str) -> None:
    """Page 1: header, the lesions by visit, the response per visit with its reasons."""
    criteria, assessment = table.criteria, table.assessment
    flow.line(f"Interval report \u2014 {case_label}", size=16, bold=True)
    flow.gap()
    flow.line(f"Criteria: {criteria.name} ({criteria.reference})")
    if assessment is None:
        flow.line("No visit has outlines: nothing was measured.")
        return
    baseline = assessment.visits[assessment.baseline_index]
    last = assessment.visits[-1]
    flow.line(
        f"Baseline: {table.visit_label(baseline.date)}; sum of targets "
        f"{_quantity(baseline.sum_value, baseline.unit)}; targets: "
        + (", ".join(table.lesion_name(n) for n in assessment.targets) or "none")
    )
    if math.isfinite(last.nadir_value):
        flow.line(
            f"Nadir: {_quantity(last.nadir_value, last.unit)} "
            f"at {table.visit_label(last.nadir_date)}"
        )
    if not table.privacy.real_dates:
        first = table.visit_label(table.first_date)
        flow.line(f"Visits are labelled in days from the first visit ({first}).")
    flow.gap()
    flow.line("Lesions by visit", size=11, bold=True)
    header = (
        f"{'Lesion':<8}{'Visit':<11}{'Volume mL':>10}{'Diameters mm':>16}{'Product mm2':>13}"
        "  Status"
    )
    flow.line(header, mono=True, bold=True, size=8.5)
    for number in sorted(table.names):
        for column, reading in zip(table.columns, table.readings, strict=True):
            m = column.measurements.get(number)
            status = _status(table, number, column.date, reading)
            if m is None and status == "":
                continue
            flow.line(_lesion_row(table, number, column.date, m, status), mono=True, size=8.5)
    flow.gap()
    flow.line("Response per visit", size=11, bold=True)
    for response in assessment.visits:
        status = f" ({response.status})" if response.status else ""
        total = (
            _quantity(response.sum_value, response.unit)
            if math.isfinite(response.sum_value)
            else "not measured"
        )
        flow.line(
            f"{table.visit_label(response.date)}: {response.category}{status}   sum {total}",
            bold=True,
        )
        for reason in response.reasons:
            flow.wrapped(table.text(reason), indent="    ")


def _status(table: CaseTable, number: int, date: object, reading: object) -> str:
    lesion = getattr(reading, "lesions", {}).get(number)
    assessment = table.assessment
    if lesion is None:
        return ""
    if not lesion.present:
        return "gone"
    response = next((r for r in assessment.visits if r.date == date), None) if assessment else None
    if response is not None and number in response.new_lesions:
        return "new"
    if assessment is not None and number in assessment.targets:
        return "target"
    return "non-target" + ("" if lesion.measurable else ", not measurable")


def _lesion_row(
    table: CaseTable, number: int, date: object, m: LesionMeasurement | None, status: str
) -> str:
    visit = table.visit_label(date)  # type: ignore[arg-type]
    if m is None:
        return f"{'L' + str(number):<8}{visit:<11}{'-':>10}{'-':>16}{'-':>13}  {status}"
    d = m.diameters
    sizes = f"{d.longest_mm:.1f} x {d.perpendicular_mm:.1f}" if d is not None else "-"
    product = f"{d.product_mm2:.0f}" if d is not None else "-"
    return (
        f"{'L' + str(number):<8}{visit:<11}{m.volume_ml:>10.2f}{sizes:>16}{product:>13}  {status}"
    )


def _quantity(value: float, unit: str) -> str:
    decimals = {"mm2": 0, "mm": 1, "mL": 2}.get(unit, 2)
    return f"{value:,.{decimals}f} {unit}".replace(",", " ")


def _timeline_page(
    table: CaseTable, tracking: Tracking, colours: Mapping[int, tuple[int, int, int]]
) -> Figure:
    """Page 2: the timeline (print colours, visits labelled on the time axis) and the events."""
    figure = Figure(figsize=A4_INCHES)
    if table.assessment is None:
        figure.text(0.5, 0.5, "No visit has outlines.", ha="center")
        return figure
    draw_timeline(
        figure, table.readings, table.assessment, tracking.events,
        lesion_names=table.names, lesion_colours=dict(colours), dark=False,
    )  # fmt: skip
    axes = figure.axes[0]
    # the time axis carries the visit labels, never calendar dates in teaching mode
    axes.set_xticks([date2num(c.date) for c in table.columns])
    axes.set_xticklabels([table.visit_label(c.date) for c in table.columns])
    figure.subplots_adjust(left=0.1, right=0.96, top=0.93, bottom=0.55)
    y = 0.45
    figure.text(_MARGIN, y, "Treatment events", fontsize=11, fontweight="bold")
    events = tracking.events or []
    if not events:
        figure.text(_MARGIN, y - 0.025, "none recorded", fontsize=9)
    for event in events:
        y -= 0.022
        note = f": {table.text(event.note)}" if event.note else ""
        line = f"{table.visit_label(event.date)}  {event.kind.value}{note}"
        figure.text(_MARGIN, y, printable(line)[:110], fontsize=9, parse_math=False)
    return figure


def _lesion_page(
    table: CaseTable,
    tracking: Tracking,
    number: int,
    volumes: Mapping[str, Volume],
    windows: Mapping[str, WindowLevel],
    colours: Mapping[int, tuple[int, int, int]],
) -> Figure | None:
    """A lesion's key image at every visit it was measured at (None: measured nowhere)."""
    visits = [
        (c, c.measurements[number])
        for c in table.columns
        if number in c.measurements and c.measurements[number].diameters is not None
    ]
    if not visits:
        return None
    figure = Figure(figsize=A4_INCHES)
    figure.text(_MARGIN, 0.95, printable(table.lesion_name(number)), fontsize=14,
                fontweight="bold", parse_math=False)  # fmt: skip
    figure.text(_MARGIN, 0.93, "Axial slice of each measurement; longest diameter in yellow, "
                "perpendicular in cyan; outline in the lesion's colour.", fontsize=8)  # fmt: skip
    columns = 2
    rows = max(3, math.ceil(len(visits) / columns))
    grid = figure.add_gridspec(rows, columns, left=0.06, right=0.94, top=0.9, bottom=0.04,
                               hspace=0.25, wspace=0.08)  # fmt: skip
    for index, (column, m) in enumerate(visits):
        axes = figure.add_subplot(grid[index // columns, index % columns])
        axes.set_xticks([])
        axes.set_yticks([])
        title = table.series_label(column.series_key, column.date)
        axes.set_title(title, fontsize=9)
        labels = tracking.annotations.labels(column.series_key)
        volume = volumes.get(column.series_key)
        if volume is None or labels is None:
            axes.text(0.5, 0.5, "image not loaded", ha="center", va="center", fontsize=8)
            continue
        _draw_key_image(axes, volume, windows[column.series_key], labels, m, colours)
        d = m.diameters
        assert d is not None
        axes.set_xlabel(
            f"L{number} {d.longest_mm:.1f} x {d.perpendicular_mm:.1f} mm, {m.volume_ml:.2f} mL",
            fontsize=9,
        )
    return figure


def _draw_key_image(
    axes: object,
    volume: Volume,
    window: WindowLevel,
    labels: np.ndarray,
    m: LesionMeasurement,
    colours: Mapping[int, tuple[int, int, int]],
) -> None:
    """The axial slice through the lesion's diameters, cropped round it, calipers drawn."""
    d = m.diameters
    assert d is not None
    ends = np.array([*d.longest_ends_mm, *d.perpendicular_ends_mm], dtype=np.float64)
    z_mm = float(ends[:, 2].mean())  # the measured slice is axial: its ends share one z
    grid = plane_grid(volume, "axial")
    cut = reslice(SliceRequest(volume, "axial", z_mm, grid=grid))
    grey = colorize(apply_window(cut.values, window.level, window.width), inside=cut.inside)
    outline = overlay_rgba(
        label_slice(labels, volume.voxel2patient, grid, z_mm, None),
        {n: tuple(int(c) for c in rgb) for n, rgb in colours.items()},
        opacity=0.0,
        outline=True,
    )
    image = blend(grey, outline)
    patient2slice = np.linalg.inv(cut.slice2patient)
    pixels = (patient2slice @ np.c_[ends, np.ones(4)].T).T[:, :2]  # (row, column)
    centre = pixels[:2].mean(axis=0)
    field_mm = max(_KEY_IMAGE_MIN_FIELD_MM, _KEY_IMAGE_FIELD_PER_DIAMETER * d.longest_mm)
    half = field_mm / 2 / cut.pixel_mm
    top, left = int(max(0, centre[0] - half)), int(max(0, centre[1] - half))
    bottom = int(min(image.shape[0], centre[0] + half))
    right = int(min(image.shape[1], centre[1] + half))
    crop = image[top:bottom, left:right]
    axes.set_facecolor("black")  # type: ignore[attr-defined]
    axes.imshow(crop, interpolation="nearest")  # type: ignore[attr-defined]
    for (a, b), colour in (((0, 1), _LONGEST_COLOUR), ((2, 3), _PERPENDICULAR_COLOUR)):
        rows = pixels[[a, b], 0] - top
        cols = pixels[[a, b], 1] - left
        axes.plot(cols, rows, color=colour, linewidth=1.2, marker="+", markersize=6)  # type: ignore[attr-defined]
    # screen right is the patient's left (+x in LPS), screen down posterior (+y)
    for x, y, letter in ((0.02, 0.5, "R"), (0.98, 0.5, "L"), (0.5, 0.97, "A"), (0.5, 0.03, "P")):
        axes.text(x, y, letter, color="white", fontsize=7, ha="center", va="center",  # type: ignore[attr-defined]
                  transform=axes.transAxes)  # type: ignore[attr-defined]  # fmt: skip


def _provenance(flow: PageFlow, table: CaseTable, registrations: Sequence[Registration]) -> None:
    """Last page: registrations per series, who made each measurement and how, and by what."""
    flow.line("Registrations", size=11, bold=True)
    by_key = {r.series_key: r for r in registrations}
    references = {r.reference_key for r in registrations}
    for column in table.columns:
        label = table.series_label(column.series_key, column.date)
        registration = by_key.get(column.series_key)
        if registration is not None:
            method = f" ({registration.method})" if registration.method else ""
            state = f"{registration.state.value}{method}"
        elif column.series_key in references:
            state = "reference series"
        else:
            state = "not registered"
        flow.line(f"{label}: {state}")
    flow.gap()
    flow.line("Measurements (who and when, UTC)", size=11, bold=True)
    for column in table.columns:
        for number in sorted(column.measurements):
            made = table.made_by(column.series_key, number)
            outline, diameters = _made_text(made, column.measurements[number].diameters is not None)
            flow.wrapped(f"{table.visit_label(column.date)} L{number}: {outline}")
            flow.wrapped(f"volume from the outline; {diameters}", indent="    ")
    flow.gap()
    flow.line("Provenance", size=11, bold=True)
    mode = (
        "identity included (clinical use)"
        if table.privacy.include_identity
        else "teaching mode: no patient identity; case label instead of the patient"
    )
    flow.line(f"Generated by Interval {__version__}; {mode}.")


def _made_text(made: MeasurementProvenance, has_diameters: bool) -> tuple[str, str]:
    """Who made a measurement, in words: (its outline, its diameters).

    E.g. ("outline drawn by alice 2026-11-30 10:12 UTC", "diameters automatic from the outline").
    """
    outline = made.outline
    if outline is None:
        drawn = "outline: who drew it and when not recorded"
    elif outline.edited == outline.drawn:
        drawn = f"outline drawn by {outline.drawn.text}"
    else:
        drawn = f"outline drawn by {outline.drawn.text}, last edited by {outline.edited.text}"
    if not has_diameters:
        diameters = "no diameters"
    elif not made.manual:
        diameters = "diameters automatic from the outline"
    elif made.calipers is None:
        diameters = "diameters hand-measured (who and when not recorded)"
    else:
        diameters = f"diameters hand-measured by {made.calipers.text}"
    return drawn, diameters
