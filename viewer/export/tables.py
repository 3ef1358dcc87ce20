"""Every measurement and the response per visit as JSON and CSV (schema: docs/cli-measure.md).

Visit labels and dates go through :class:`viewer.export.privacy.Privacy`: in teaching mode (the
default) a visit is "Day N" from the case's first visit and no real date is written; a series is
named by its visit label and series number ("Day 412 S5"), never by its UID or description. Dates
inside the response's reasons are rewritten the same way.

Each row says who drew the lesion's outline on that series and when, who last edited it, and
whether its diameters are automatic or hand-measured (by whom, when). Those times are when the
reader worked (ISO 8601 UTC), never a scan's date, so they stay in teaching mode; the reader's
name is not the patient's.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO

from viewer.analysis.criteria import Criteria
from viewer.analysis.measure import LesionMeasurement, is_measurable
from viewer.analysis.response import Assessment, VisitReading
from viewer.core.provenance import OutlineProvenance, Stamp
from viewer.export.privacy import Privacy
from viewer.state.tracking import Tracking, VisitColumn

SCHEMA = "interval-measure"
SCHEMA_VERSION = 3
CSV_COLUMNS = (
    "visit",
    "day",
    "date",
    "series",
    "lesion",
    "lesion_name",
    "volume_ml",
    "longest_mm",
    "perpendicular_mm",
    "product_mm2",
    "axial_slice",
    "slices_spanned",
    "mean_intensity",
    "max_intensity",
    "intensity_units",
    "centroid_patient_x_mm",
    "centroid_patient_y_mm",
    "centroid_patient_z_mm",
    "centroid_reference_x_mm",
    "centroid_reference_y_mm",
    "centroid_reference_z_mm",
    "measurable",
    "target",
    "outline_drawn_by",
    "outline_drawn_at_utc",
    "outline_edited_by",
    "outline_edited_at_utc",
    "diameters_source",
    "diameters_measured_by",
    "diameters_measured_at_utc",
)
"""CSV header: one row per lesion and visit; every quantity's unit ends its name."""

_ISO_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")


@dataclass(frozen=True)
class MeasurementProvenance:
    """Who made one measurement (a lesion on a series), and when.

    Attributes
    ----------
    outline : OutlineProvenance or None
        Who first drew the outline and who last edited it (None: not recorded).
    manual : bool
        The diameters are the reader's hand-measured calipers, not the automatic ones.
    calipers : Stamp or None
        Who laid the hand-measured calipers, and when (None: automatic, or not recorded).
    """

    outline: OutlineProvenance | None
    manual: bool = False
    calipers: Stamp | None = None


@dataclass(frozen=True)
class CaseTable:
    """The case's measurements and response at one moment, with the labels an export shows.

    Attributes
    ----------
    criteria : Criteria
    columns : tuple of VisitColumn
        Every dated visit, oldest first.
    readings : tuple of VisitReading
        The visits as the response engine read them (for the timeline).
    assessment : Assessment or None
        None when no visit has outlines.
    names : dict of int to str
        Lesion number -> name.
    privacy : Privacy
    first_date : datetime.date or None
        The case's first visit: "Day 0".
    series_numbers : dict of str to int or None
        Series key -> DICOM SeriesNumber.
    provenance : dict of (str, int) to MeasurementProvenance
        By (series key, lesion number), for every measurement in ``columns``.
    """

    criteria: Criteria
    columns: tuple[VisitColumn, ...]
    readings: tuple[VisitReading, ...]
    assessment: Assessment | None
    names: dict[int, str]
    privacy: Privacy
    first_date: dt.date | None
    series_numbers: dict[str, int | None]
    provenance: dict[tuple[str, int], MeasurementProvenance] = field(default_factory=dict)

    def made_by(self, key: str, number: int) -> MeasurementProvenance:
        """Who made a lesion's measurement on a series (nothing recorded when unknown)."""
        return self.provenance.get((key, number), MeasurementProvenance(None))

    def visit_label(self, date: dt.date) -> str:
        """A date as the export shows it ("Day 412" in teaching mode)."""
        return self.privacy.visit_label(date, self.first_date or date)

    def day(self, date: dt.date) -> int:
        """Days from the case's first visit."""
        return (date - (self.first_date or date)).days

    def date_text(self, date: dt.date) -> str | None:
        """The real date as ISO text, or None when real dates are not exported."""
        return date.isoformat() if self.privacy.real_dates else None

    def series_label(self, key: str, date: dt.date) -> str:
        """A series as "<visit label> S<number>" (no UID, no description)."""
        number = self.series_numbers.get(key)
        return (
            f"{self.visit_label(date)} S{number}" if number is not None else self.visit_label(date)
        )

    def lesion_name(self, number: int) -> str:
        """The lesion's name, or "L<number>"."""
        return self.names.get(number, f"L{number}")

    def text(self, sentence: str) -> str:
        """A sentence with every ISO date in it replaced by its visit label."""

        def label(match: re.Match[str]) -> str:
            try:
                return self.visit_label(dt.date(*(int(g) for g in match.groups())))
            except ValueError:  # not a calendar date: a number that looks like one
                return match.group(0)

        return _ISO_DATE.sub(label, sentence)


def case_table(
    tracking: Tracking, privacy: Privacy, series_numbers: Mapping[str, int | None] | None = None
) -> CaseTable:
    """Measure and assess the case now, for export.

    Parameters
    ----------
    tracking : Tracking
    privacy : Privacy
        Teaching mode or identity/real dates.
    series_numbers : mapping of str to int or None, optional
        Series key -> SeriesNumber, for series labels ("Day 412 S5").
    """
    columns, readings, assessment = tracking.assess()
    notes, calipers = tracking.annotations, tracking.calipers
    provenance = {
        (column.series_key, number): MeasurementProvenance(
            notes.outline_provenance(column.series_key, number),
            number in calipers.manuals(column.series_key),
            calipers.stamp(column.series_key, number),
        )
        for column in columns
        for number in column.measurements
    }
    return CaseTable(
        criteria=tracking.criteria,
        columns=tuple(columns),
        readings=tuple(readings),
        assessment=assessment,
        names={lesion.number: lesion.name for lesion in tracking.annotations.lesions},
        privacy=privacy,
        first_date=columns[0].date if columns else None,
        series_numbers=dict(series_numbers or {}),
        provenance=provenance,
    )


def measurement_rows(table: CaseTable) -> list[dict[str, Any]]:
    """One row per lesion and visit, as in the JSON's ``measurements``."""
    targets = set(table.assessment.targets) if table.assessment is not None else set()
    return [
        _row(table, column, number, m, number in targets)
        for column in table.columns
        for number, m in sorted(column.measurements.items())
    ]


def _row(
    table: CaseTable, column: VisitColumn, number: int, m: LesionMeasurement, target: bool
) -> dict[str, Any]:
    d = m.diameters
    measurable, why = is_measurable(m, table.criteria)
    return {
        "visit": table.visit_label(column.date),
        "day": table.day(column.date),
        "date": table.date_text(column.date),
        "series": table.series_label(column.series_key, column.date),
        "lesion": number,
        "lesion_name": table.lesion_name(number),
        "volume_ml": round(m.volume_ml, 4),
        "longest_mm": None if d is None else round(d.longest_mm, 2),
        "perpendicular_mm": None if d is None else round(d.perpendicular_mm, 2),
        "product_mm2": None if d is None else round(d.product_mm2, 1),
        "axial_slice": None if d is None else d.slice_index,
        "slices_spanned": m.slices_spanned,
        "mean_intensity": number_or_none(m.mean_intensity),
        "max_intensity": number_or_none(m.max_intensity),
        "intensity_units": m.intensity_units,
        "centroid_patient_mm": [round(v, 2) for v in m.centroid_patient_mm],
        "centroid_reference_mm": [round(v, 2) for v in m.centroid_reference_mm],
        "measurable": measurable,
        "measurable_reason": table.text(why),
        "target": target,
        **_provenance_columns(table.made_by(column.series_key, number), d is not None),
    }


def _provenance_columns(made: MeasurementProvenance, measured: bool) -> dict[str, Any]:
    """Who and when, as the rows show it: names, ISO 8601 UTC times, None when not recorded.

    Not passed through :meth:`CaseTable.text`: these are the reader's working times, not scan
    dates, and must not be rewritten as visit labels.
    """
    outline = made.outline
    calipers = made.calipers if made.manual else None
    return {
        "outline_drawn_by": None if outline is None else outline.drawn.reader,
        "outline_drawn_at_utc": None if outline is None else outline.drawn.iso,
        "outline_edited_by": None if outline is None else outline.edited.reader,
        "outline_edited_at_utc": None if outline is None else outline.edited.iso,
        "diameters_source": ("manual" if made.manual else "automatic") if measured else None,
        "diameters_measured_by": None if calipers is None else calipers.reader,
        "diameters_measured_at_utc": None if calipers is None else calipers.iso,
    }


def number_or_none(value: float | None) -> float | None:
    """A finite number rounded to 2 decimals; None for unknown (None or NaN)."""
    return None if value is None or not math.isfinite(value) else round(float(value), 2)


def as_json(table: CaseTable) -> dict[str, Any]:
    """The measurements and the response as the documented JSON object (schema version 3)."""
    criteria = table.criteria
    assessment = table.assessment
    visits = []
    if assessment is not None:
        for response in assessment.visits:
            visits.append(
                {
                    "visit": table.visit_label(response.date),
                    "day": table.day(response.date),
                    "date": table.date_text(response.date),
                    "sum": number_or_none(response.sum_value),
                    "sum_unit": response.unit,
                    "change_from_baseline": number_or_none(response.change_from_baseline),
                    "change_from_nadir": number_or_none(response.change_from_nadir),
                    "nadir": number_or_none(response.nadir_value),
                    "nadir_visit": (
                        table.visit_label(response.nadir_date) if response.nadir_label else None
                    ),
                    "new_lesions": list(response.new_lesions),
                    "category": response.category,
                    "status": response.status,
                    "reasons": [table.text(r) for r in response.reasons],
                }
            )
    baseline = None
    if assessment is not None:
        baseline = table.visit_label(assessment.visits[assessment.baseline_index].date)
    return {
        "schema": SCHEMA,
        "version": SCHEMA_VERSION,
        "case": table.privacy.case_label,
        "criteria": {"key": criteria.key, "name": criteria.name, "reference": criteria.reference},
        "baseline": baseline,
        "targets": [] if assessment is None else list(assessment.targets),
        "measurements": measurement_rows(table),
        "visits": visits,
    }


def write_csv(table: CaseTable, stream: TextIO) -> None:
    """Write one row per lesion and visit under :data:`CSV_COLUMNS`; empty cells are unknown."""
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in measurement_rows(table):
        flat = dict(row)
        for prefix in ("centroid_patient", "centroid_reference"):
            for axis, value in zip("xyz", flat.pop(f"{prefix}_mm"), strict=True):
                flat[f"{prefix}_{axis}_mm"] = value
        writer.writerow(["" if flat[c] is None else flat[c] for c in CSV_COLUMNS])
