"""A blind read's feedback as a PDF (the report's machinery), without the patient's identity.

Pages: the summary (who read against whom, by which criteria; mean Dice and HD95, categories
agreed, lesions missed), the categories per visit side by side, each visit's reasons and the
reference's teaching points, the per-lesion agreement table, and the key image of the largest
disagreement with both outlines (the trainee's in their lesion colours, the reference's in cyan).

Visit labels and every ISO date in a sentence go through :class:`viewer.export.privacy.Privacy`
("Day N" in teaching mode); series are never named by their description. The header names the
case by the reference's case label (a teaching label, never the patient's name).
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure

from viewer.core.volume import Volume
from viewer.display.labels import blend, label_slice, overlay_rgba
from viewer.display.slicing import SliceRequest, plane_grid, reslice
from viewer.display.window import apply_window, colorize, intensity_stats
from viewer.export.privacy import Privacy
from viewer.export.report import A4_INCHES, PAGE_STYLE, PageFlow, printable
from viewer.io import load_series, scan_paths
from viewer.state.blind_read import Feedback
from viewer.state.compare_controller import REFERENCE_RGB
from viewer.teaching.agreement import Disagreement, LesionVisitAgreement, compare_readings
from viewer.teaching.explain import WORDS
from viewer.teaching.reading_file import read_reading

KEY_IMAGE_FIELD_MM = 90.0
"""Side of the largest disagreement's key image, mm."""
_ISO_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_MARGIN = 0.07


class _Labels:
    """Visit labels and dates in sentences, as the privacy settings allow."""

    def __init__(self, privacy: Privacy, first: dt.date | None) -> None:
        self.privacy, self.first = privacy, first

    def visit(self, label: str) -> str:
        try:
            date = dt.date.fromisoformat(label)
        except ValueError:
            return self.text(label)
        return self.privacy.visit_label(date, self.first or date)

    def text(self, sentence: str) -> str:
        def replaced(match: re.Match[str]) -> str:
            try:
                date = dt.date(*(int(g) for g in match.groups()))
            except ValueError:  # a number that only looks like a date
                return match.group(0)
            return self.privacy.visit_label(date, self.first or date)

        return _ISO_DATE.sub(replaced, sentence)


def write_feedback(
    feedback: Feedback,
    path: str | os.PathLike[str],
    *,
    privacy: Privacy,
    volumes: Mapping[str, Volume],
) -> Path:
    """Write a submitted read's feedback as a PDF.

    Parameters
    ----------
    feedback : Feedback
        The trainee's and the reference's readings and their agreement.
    path : path-like
        The PDF to write (replaced if present).
    privacy : Privacy
        Teaching mode (default: "Day N", no identity) or real dates.
    volumes : mapping of str to Volume
        Loaded images by series key; the largest disagreement's series is drawn if it is here.

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    reference, agreement = feedback.reference, feedback.agreement
    dates = [v.date for v in reference.visits]
    labels = _Labels(privacy, min(dates) if dates else None)
    case_label = reference.case_label or privacy.case_label
    metadata = {
        "Title": f"Interval feedback \u2014 {case_label}",
        "Author": "",
        "Subject": f"Blind read compared with a reference, by {agreement.criteria.name}",
        "Keywords": "Interval, teaching, feedback",
        "Creator": "Interval",
        "Producer": "Interval",
    }
    if not privacy.real_dates:
        metadata["CreationDate"] = None  # the day of writing would date the Day N labels
    with matplotlib.rc_context(PAGE_STYLE), PdfPages(path, metadata=metadata) as pdf:
        flow = PageFlow(pdf)
        _summary(flow, feedback, labels, case_label)
        _visits(flow, feedback, labels)
        _lesions(flow, agreement.lesions, labels)
        notes = agreement.correspondence.notes + agreement.notes
        if notes:
            flow.gap()
            flow.line("Notes", size=11, bold=True)
            for note in notes:
                flow.wrapped(labels.text(note), indent="  ")
        flow.finish()
        largest = agreement.largest_disagreement
        if largest is not None:
            pdf.savefig(_key_image_page(feedback, largest, volumes, labels))
    return path


def write_feedback_from_files(
    trainee_path: str | os.PathLike[str],
    reference_path: str | os.PathLike[str],
    path: str | os.PathLike[str],
    *,
    privacy: Privacy,
    images: Sequence[str | os.PathLike[str]] = (),
) -> Path:
    """Compare two ``.reading`` files and write the feedback PDF (headless, no app needed).

    Parameters
    ----------
    trainee_path, reference_path : path-like
        The trainee's and the reference's readings of one case.
    path : path-like
        The PDF to write.
    privacy : Privacy
    images : sequence of path-like
        The case's images (folders or files), for the key image; none: no image is drawn.
        Without the case's registrations, visits the two read on different series are compared
        by their numbers only.

    Raises
    ------
    viewer.errors.CaseFileError
        A reading cannot be read.
    """
    trainee, reference = read_reading(trainee_path), read_reading(reference_path)
    agreement = compare_readings(trainee, reference)
    volumes: dict[str, Volume] = {}
    largest = agreement.largest_disagreement
    if images and largest is not None:
        catalog = scan_paths([Path(p) for p in images])
        if any(s.key == largest.series_key for s in catalog.all_series()):
            volumes[largest.series_key] = load_series(catalog.find_series(largest.series_key))
    feedback = Feedback(trainee, reference, agreement, Path(trainee_path), Path(reference_path))
    return write_feedback(feedback, path, privacy=privacy, volumes=volumes)


def _summary(flow: PageFlow, feedback: Feedback, labels: _Labels, case_label: str) -> None:
    agreement = feedback.agreement
    flow.line(f"Interval feedback \u2014 {case_label}", size=16, bold=True)
    flow.gap()
    flow.line(
        f"Your reading ({feedback.trainee.reader.name or 'trainee'}) against the reference by "
        f"{feedback.reference.reader.name or 'a reference reader'}."
    )
    flow.line(f"Criteria: {agreement.criteria.name} ({agreement.criteria.reference})")
    agreed, total = agreement.categories_agreed
    dice = "-" if agreement.mean_dice is None else f"{agreement.mean_dice:.2f}"
    hd95 = "-" if agreement.mean_hd95_mm is None else f"{agreement.mean_hd95_mm:.1f} mm"
    flow.line(
        f"Categories agreed: {agreed} of {total} visits.  Mean Dice {dice}, mean HD95 {hd95}.  "
        f"Lesion-visits missed: {len(agreement.missed)}; not in the reference: "
        f"{len(agreement.extra)}."
    )
    if not labels.privacy.real_dates and labels.first is not None:
        flow.line("Visits are labelled in days from the first visit (Day 0).")
    flow.gap()
    flow.line("Categories per visit", size=11, bold=True)
    flow.line(f"{'Visit':<12}{'Yours':<24}{'Reference':<24}Agree", mono=True, bold=True, size=8.5)
    for visit in agreement.categories:
        flow.line(
            f"{labels.visit(visit.visit):<12}{_category(visit.trainee_category):<24}"
            f"{_category(visit.reference_category):<24}{'yes' if visit.agree else 'NO'}",
            mono=True,
            size=8.5,
        )


def _visits(flow: PageFlow, feedback: Feedback, labels: _Labels) -> None:
    points = {v.label: v.teaching_points for v in feedback.reference.visits}
    flow.gap()
    flow.line("Why, visit by visit", size=11, bold=True)
    for visit in feedback.agreement.categories:
        verdict = "agree" if visit.agree else "disagree"
        flow.gap(0.4)
        flow.line(f"{labels.visit(visit.visit)}: you and the reference {verdict}", bold=True)
        for sentence in visit.explanation:
            flow.wrapped(labels.text(sentence), indent="  ")
        if points.get(visit.visit):
            flow.line("  Teaching points:", bold=True)
            for point in points[visit.visit]:
                flow.wrapped("- " + labels.text(point), indent="    ")


def lesion_columns(row: LesionVisitAgreement) -> dict[str, str]:
    """One row of the per-lesion agreement table as text (the panel and the PDF show these).

    Keys: lesion, status, dice, hd95_mm, volume_difference_ml, volume_difference_percent,
    diameters_difference_mm, product_difference_percent, same_slice.
    """

    def number(value: float | None, digits: int, sign: bool = False) -> str:
        if value is None or not np.isfinite(value):
            return "-"
        return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"

    if row.longest_difference_mm is None or row.perpendicular_difference_mm is None:
        diameters = "-"
    else:
        diameters = f"{row.longest_difference_mm:+.1f} / {row.perpendicular_difference_mm:+.1f}"
    same = {True: "yes", False: "no", None: "-"}[row.same_slice]
    return {
        "lesion": row.name,
        "status": row.status,
        "dice": number(row.dice, 2),
        "hd95_mm": number(row.hd95_mm, 1),
        "volume_difference_ml": number(row.volume_difference_ml, 2, True),
        "volume_difference_percent": number(row.volume_difference_percent, 0, True),
        "diameters_difference_mm": diameters,
        "product_difference_percent": number(row.product_difference_percent, 0, True),
        "same_slice": same,
    }


def _lesions(flow: PageFlow, rows: Sequence[LesionVisitAgreement], labels: _Labels) -> None:
    flow.gap()
    flow.line("Lesions per visit (yours minus the reference's)", size=11, bold=True)
    flow.line(
        f"{'Visit':<10}{'Lesion':<26}{'Status':<13}{'Dice':>5}{'HD95mm':>7}{'dVol mL':>8}"
        f"{'dVol%':>6}{'dLD/dPD mm':>13}{'dProd%':>7}{'Slice':>6}",
        mono=True,
        bold=True,
        size=7.5,
    )
    for row in rows:
        c = lesion_columns(row)
        flow.line(
            f"{labels.visit(row.visit):<10}{c['lesion'][:25]:<26}{c['status']:<13}"
            f"{c['dice']:>5}{c['hd95_mm']:>7}{c['volume_difference_ml']:>8}"
            f"{c['volume_difference_percent']:>6}{c['diameters_difference_mm']:>13}"
            f"{c['product_difference_percent']:>7}{c['same_slice']:>6}",
            mono=True,
            size=7.5,
        )
    missed = [f"{r.name} at {labels.visit(r.visit)}" for r in rows if r.status == "missed"]
    extra = [f"{r.name} at {labels.visit(r.visit)}" for r in rows if r.status == "extra"]
    flow.gap(0.4)
    flow.wrapped("Missed: " + ("; ".join(missed) or "none"))
    flow.wrapped("Not in the reference: " + ("; ".join(extra) or "none"))


def _key_image_page(
    feedback: Feedback,
    largest: Disagreement,
    volumes: Mapping[str, Volume],
    labels: _Labels,
) -> Figure:
    """The largest disagreement on an axial slice through it, both outlines drawn."""
    figure = Figure(figsize=A4_INCHES)
    figure.text(_MARGIN, 0.95, "The largest disagreement", fontsize=14, fontweight="bold")
    figure.text(_MARGIN, 0.93, printable(labels.text(largest.description))[:120], fontsize=9,
                parse_math=False)  # fmt: skip
    figure.text(_MARGIN, 0.915, "Cyan: the reference's outline; lesion colours: yours.",
                fontsize=8)  # fmt: skip
    axes = figure.add_axes((0.1, 0.3, 0.8, 0.58))
    axes.set_xticks([])
    axes.set_yticks([])
    volume = volumes.get(largest.series_key)
    if volume is None:
        axes.text(0.5, 0.5, "image not loaded", ha="center", va="center", fontsize=9)
        return figure
    point = np.asarray(largest.point_patient_mm, dtype=np.float64)
    grid = plane_grid(volume, "axial")
    z_mm = float(point[2])
    cut = reslice(SliceRequest(volume, "axial", z_mm, grid=grid))
    window = intensity_stats(volume.array).auto_window
    image = colorize(apply_window(cut.values, window.level, window.width), inside=cut.inside)
    outlines = [(feedback.trainee, None), (feedback.reference, REFERENCE_RGB)]
    for reading, colour in outlines:
        series = reading.series.get(largest.series_key)
        if series is None or series.grid_problem(volume) is not None:
            continue
        slice_labels = label_slice(series.labels, volume.voxel2patient, grid, z_mm, None)
        if slice_labels.any():
            image = blend(image, overlay_rgba(slice_labels, reading.colours(colour),
                                              opacity=0.0, outline=True))  # fmt: skip
    row, column = (np.linalg.inv(cut.slice2patient) @ np.append(point, 1.0))[:2]
    half = KEY_IMAGE_FIELD_MM / 2 / cut.pixel_mm
    top, left = int(max(0, row - half)), int(max(0, column - half))
    bottom = int(min(image.shape[0], row + half))
    right = int(min(image.shape[1], column + half))
    axes.set_facecolor("black")
    axes.imshow(image[top:bottom, left:right], interpolation="nearest")
    axes.plot([column - left], [row - top], marker="+", color="#ffd400", markersize=14)
    for x, y, letter in ((0.02, 0.5, "R"), (0.98, 0.5, "L"), (0.5, 0.97, "A"), (0.5, 0.03, "P")):
        axes.text(x, y, letter, color="white", fontsize=8, ha="center", va="center",
                  transform=axes.transAxes)  # fmt: skip
    axes.set_title(
        f"{labels.visit(largest.visit)}, axial, {largest.volume_ml:.2f} mL where the outlines "
        "disagree (+)",
        fontsize=10,
    )
    return figure


def _category(category: str | None) -> str:
    return WORDS.get(str(category), "not stated") if category else "not stated"
