"""The response panel: every lesion at every visit, the response by the chosen criteria, the plot.

A lesion table (lesions x visits: volume, diameters, product, status, target marks) with the sum
and the category of each visit below it, the reasons of the selected visit, the timeline plot and
the treatment events. Everything is read from :class:`viewer.state.tracking.Tracking` and redrawn
when it reports a change, at most once per :data:`REFRESH_DELAY_MS`; every choice made here goes
back through it (criteria, baseline, targets, events), so the case file keeps what the reader chose.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence

import numpy as np
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from PySide6.QtCore import QDate, QSignalBlocker, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from viewer.analysis.criteria import CRITERIA, Criteria, NewLesionRule, SumKind
from viewer.analysis.measure import LesionMeasurement, is_measurable
from viewer.analysis.response import (
    BASELINE,
    NOT_EVALUABLE,
    PRELIMINARY,
    Assessment,
    VisitReading,
    VisitResponse,
    default_baseline,
    format_change,
    format_quantity,
)
from viewer.analysis.timeline import CATEGORY_COLOURS, draw_timeline
from viewer.io.case_file import TreatmentEvent, TreatmentKind
from viewer.state.tracking import Tracking, VisitColumn, analysis_events
from viewer.ui.theme import caption, colour_swatch

REFRESH_DELAY_MS = 200
"""Changes are gathered this long before the table and plot are rebuilt (a stroke reports many)."""

COL_LESION, COL_TARGET = 0, 1
FIRST_VISIT_COLUMN = 2
NOT_OUTLINED = "—"
GONE = "gone"

NEW, GROWING, SHRINKING, STABLE = "new", "growing", "shrinking", "stable"
STATUS_COLOURS = {
    NEW: "#f0883e",
    GROWING: CATEGORY_COLOURS["PD"],
    SHRINKING: CATEGORY_COLOURS["PR"],
    STABLE: "#8f96a3",
    GONE: "#5b616b",
}
"""Cell tint per lesion status; growing and shrinking match the PD and PR bands of the plot."""
STATUS_ROLE = int(Qt.ItemDataRole.UserRole) + 1
"""Item data role holding a lesion cell's status ("" when it has none: first seen, not outlined)."""
CELL_TINT_ALPHA = 70
"""Opacity (0..255) of the status tint behind a cell's text, so the text stays readable."""

ERROR_COLOUR = "#ff7b72"
EVENT_KINDS = tuple(k for k in TreatmentKind if k is not TreatmentKind.STEROID_CHANGE)
"""Kinds a new event can have: a steroid change of unknown direction is kept only for old cases."""
_UNITS = {"mm2": "mm²", "mm": "mm", "mL": "mL"}


def quantity_text(value: float, unit: str) -> str:
    r"""A sum or measurement for the table: ``"1 310 mm²"``, ``"45.9 mm"``, ``"1.04 mL"``.

    Parameters
    ----------
    value : float
        In ``unit``.
    unit : str
        ``"mm2"``, ``"mm"`` or ``"mL"`` (as in :class:`viewer.analysis.response.VisitResponse`).

    Returns
    -------
    str
        Thousands separated by a thin space (U+2009), as in the reasons.

    Examples
    --------
    >>> quantity_text(1600.4, "mm2").replace("\u2009", " "), quantity_text(17.042, "mL")
    ('1 600 mm²', '17.04 mL')
    """
    return format_quantity(value, unit).removesuffix(unit) + _UNITS[unit]


def volume_text(volume_ml: float) -> str:
    """A lesion's volume, never shown as 0.00 mL (that would read as "not outlined").

    Examples
    --------
    >>> volume_text(17.0449), volume_text(0.003)
    ('17.04 mL', '<0.01 mL')
    """
    return "<0.01 mL" if volume_ml < 0.005 else quantity_text(volume_ml, "mL")


def measurement_text(m: LesionMeasurement, kind: SumKind) -> str:
    r"""A lesion cell's two lines: volume, then diameters and product (LD first for SLD criteria).

    Parameters
    ----------
    m : LesionMeasurement
    kind : SumKind
        What the criteria sum; for longest diameters the LD comes first.

    Returns
    -------
    str
        E.g. ``"17.04 mL\n46.6 × 34.3 mm = 1 598 mm²"`` or ``"LD 46.6 mm\n17.04 mL · ⟂ 34.3 mm"``.
    """
    volume = volume_text(m.volume_ml)
    d = m.diameters
    if kind is SumKind.LONGEST_DIAMETERS:
        if d is None:
            return f"LD: no axial section\n{volume}"
        return f"LD {d.longest_mm:.1f} mm\n{volume} · ⟂ {d.perpendicular_mm:.1f} mm"
    if d is None:
        return f"{volume}\nno axial section"
    product = quantity_text(d.product_mm2, "mm2")
    return f"{volume}\n{d.longest_mm:.1f} × {d.perpendicular_mm:.1f} mm = {product}"


def short_reference(criteria: Criteria) -> str:
    """First author and year of the criteria's publication.

    Examples
    --------
    >>> short_reference(CRITERIA["rano2"]), short_reference(CRITERIA["recist"])
    ('Wen 2023', 'Eisenhauer 2009')
    """
    words = criteria.reference.replace(",", " ").split()
    return f"{words[0]} {words[-1]}"


def thresholds_text(criteria: Criteria) -> str:
    """The criteria's progression and response thresholds on one line.

    Examples
    --------
    >>> thresholds_text(CRITERIA["rano"])
    'PD: +25% from nadir or new lesion · PR: -50% from baseline, confirmed after 4 weeks · Wen 2010'
    >>> thresholds_text(CRITERIA["recist"])
    'PD: +20% from nadir and +5 mm, or new lesion · PR: -30% from baseline · Eisenhauer 2009'
    """
    unit = _UNITS[criteria.sum_kind.unit]
    progression = f"PD: {criteria.progression_change:+.0%} from nadir"
    if criteria.progression_min_absolute > 0:
        progression += f" and +{criteria.progression_min_absolute:g} {unit},"
    measurable = " measurable" if criteria.new_lesion_rule is NewLesionRule.MEASURABLE else ""
    progression += f" or new{measurable} lesion"
    response = f"PR: {criteria.partial_response_change:+.0%} from baseline"
    if criteria.confirm_weeks is not None:
        response += f", confirmed after {criteria.confirm_weeks:g} weeks"
    return f"{progression} · {response} · {short_reference(criteria)}"


def lesion_status(
    readings: Sequence[VisitReading],
    index: int,
    number: int,
    criteria: Criteria,
    new_lesions: Sequence[int] = (),
) -> str:
    """A lesion's status at one visit, against its own previous measurement.

    Parameters
    ----------
    readings : sequence of VisitReading
        Every visit, in date order.
    index : int
        The visit.
    number : int
        The lesion.
    criteria : Criteria
        Its sum kind says what is compared (product, longest diameter or volume) and its PD and
        PR changes are the thresholds (inclusive).
    new_lesions : sequence of int
        The visit's new lesions by the assessment (first seen after the baseline).

    Returns
    -------
    str
        ``"new"``, ``"growing"``, ``"shrinking"``, ``"stable"``, ``"gone"``, or ``""`` when the
        lesion is not outlined there or has nothing earlier to compare with.
    """
    reading = readings[index].lesions.get(number)
    if reading is None:
        return ""
    if not reading.has_disease:
        return GONE
    if number in new_lesions:
        return NEW
    kind = criteria.sum_kind
    earlier = (
        r.lesions[number].value(kind)
        for r in reversed(readings[:index])
        if number in r.lesions and r.lesions[number].has_disease
    )
    previous = next(earlier, None)
    if previous is None or previous <= 0:
        return ""
    change = (reading.value(kind) - previous) / previous
    if change >= criteria.progression_change:
        return GROWING
    if change <= criteria.partial_response_change:
        return SHRINKING
    return STABLE


def category_text(response: VisitResponse, before_baseline: bool) -> str:
    """A visit's category for the response row: ``"PD"``, ``"PR?"`` (preliminary), ``"baseline"``.

    Examples
    --------
    >>> r = VisitResponse(dt.date(2003, 3, 27), "", 0.0, "mm2", (), None, None, 0.0, "",
    ...                   dt.date(2002, 8, 14), (), "PD", "preliminary", ())
    >>> category_text(r, False), category_text(r, True)
    ('PD?', 'before baseline')
    """
    if before_baseline:
        return "before baseline"
    return response.category + ("?" if response.status == PRELIMINARY else "")


def sum_text(response: VisitResponse, criteria: Criteria, before_baseline: bool) -> str:
    r"""A visit's sum over the targets and its change from the nadir and the baseline.

    Examples
    --------
    >>> r = VisitResponse(dt.date(2003, 3, 27), "", 1600.0, "mm2", (1,), 0.2, 0.46, 1096.0, "",
    ...                   dt.date(2002, 8, 14), (), "PD", "confirmed", ())
    >>> sum_text(r, CRITERIA["rano2"], False).replace("\u2009", " ")
    '1 600 mm² · +46% vs nadir\n+20% vs baseline'
    """
    if math.isnan(response.sum_value):
        return "incomplete\n(a target was not read)"
    total = quantity_text(response.sum_value, response.unit)
    if before_baseline:
        return f"{total}\nbefore baseline"
    if response.category == BASELINE:
        return f"{total} · baseline"
    lines = [total]
    if response.change_from_nadir is not None:
        change = format_change(response.change_from_nadir, criteria.progression_change)
        lines[0] += f" · {change} vs nadir"
    if response.change_from_baseline is not None:
        change = format_change(response.change_from_baseline, criteria.partial_response_change)
        lines.append(f"{change} vs baseline")
    return "\n".join(lines)


def measurement_tooltip(
    m: LesionMeasurement, criteria: Criteria, status_line: str, is_target: bool
) -> str:
    """Every measurement of a lesion cell, with units, and whether it is measurable and why."""
    lines = [status_line] if status_line else []
    lines.append(f"Volume: {volume_text(m.volume_ml)} ({m.voxel_count} voxels)")
    d = m.diameters
    if d is None:
        lines.append("Diameters: no cross-section left on a true-axial slice")
    else:
        grid = "true-axial reslice" if d.resliced else "series"
        lines.append(
            f"Longest diameter {d.longest_mm:.1f} mm × perpendicular {d.perpendicular_mm:.1f} mm"
            f" = {quantity_text(d.product_mm2, 'mm2')}, on slice {d.slice_index} of the {grid}"
        )
    lines.append(f"Seen on {m.slices_spanned} slices of {m.slice_thickness_mm:.3g} mm")
    if math.isnan(m.mean_intensity):
        lines.append("Intensity: unknown (the series is not loaded)")
    else:
        units = m.intensity_units or "arbitrary units"
        lines.append(f"Intensity: mean {m.mean_intensity:.1f}, max {m.max_intensity:.1f} ({units})")
    x, y, z = m.centroid_reference_mm
    lines.append(f"Centre (reference frame, LPS): {x:.1f}, {y:.1f}, {z:.1f} mm")
    measurable, reason = is_measurable(m, criteria)
    lines.append(reason if not measurable else f"Measurable by {criteria.name}: {reason}")
    lines.append("Target lesion" if is_target else "Not a target lesion")
    lines.append("Click to show this lesion on this visit in every view")
    return "\n".join(lines)


def _tint(colour: str) -> QBrush:
    tinted = QColor(colour)
    tinted.setAlpha(CELL_TINT_ALPHA)
    return QBrush(tinted)


def _read_only_item(text: str = "") -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
    return item


class EventDialog(QDialog):
    """Ask for one treatment event: its date, kind and a note.

    Parameters
    ----------
    parent : QWidget, optional
    date : datetime.date, optional
        Shown first (the panel offers the latest visit's date).
    """

    def __init__(self, parent: QWidget | None = None, date: dt.date | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Add treatment event")
        self.date_edit = QDateEdit()
        self.date_edit.setCalendarPopup(True)
        self.date_edit.setDisplayFormat("yyyy-MM-dd")
        when = date or dt.date.today()
        self.date_edit.setDate(QDate(when.year, when.month, when.day))
        self.kind_combo = QComboBox()
        for kind in EVENT_KINDS:
            self.kind_combo.addItem(kind.value.capitalize(), kind)
        self.note_edit = QLineEdit()
        self.note_edit.setPlaceholderText("e.g. Stereotactic radiotherapy (X-knife)")
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow("Date", self.date_edit)
        form.addRow("Kind", self.kind_combo)
        form.addRow("Note", self.note_edit)
        form.addRow(buttons)

    def treatment_event(self) -> TreatmentEvent:
        """The event as entered."""
        return TreatmentEvent(
            self.date_edit.date().toPython(),
            self.kind_combo.currentData(),
            self.note_edit.text().strip(),
        )


class ResponsePanel(QWidget):
    """Lesions over time and the response by the case's criteria (a wide bottom dock).

    Parameters
    ----------
    tracking : Tracking
        The open case's measurements and response; the panel follows its ``changed`` signal and
        sends the reader's choices back to it.
    parent : QWidget, optional

    Attributes
    ----------
    refresh_timer : QTimer
        Single shot: started by every change, rebuilds the panel when it fires.
    figure : matplotlib.figure.Figure
        The timeline, drawn by :func:`viewer.analysis.timeline.draw_timeline`.

    Signals
    -------
    jump_requested(str, object)
        The reader clicked a lesion cell: the series key of that visit and the lesion's centre,
        ndarray (3,) in the reference frame (LPS mm).
    """

    jump_requested = Signal(str, object)

    def __init__(self, tracking: Tracking, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tracking = tracking
        self._columns: list[VisitColumn] = []
        self._readings: list[VisitReading] = []
        self._assessment: Assessment | None = None
        self._error: str | None = None
        self._numbers: list[int] = []
        self._selected_visit: str | None = None

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(4)
        layout.addLayout(self._build_choices())
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self._build_table())
        splitter.addWidget(self._build_plot())
        splitter.addWidget(self._build_events())
        splitter.setStretchFactor(0, 5)
        splitter.setStretchFactor(1, 4)
        splitter.setStretchFactor(2, 1)
        splitter.setSizes([700, 520, 180])
        layout.addWidget(splitter, 1)

        self._plotted: tuple[str, ...] | None = None
        self.refresh_timer = QTimer(self)
        self.refresh_timer.setSingleShot(True)
        self.refresh_timer.setInterval(REFRESH_DELAY_MS)
        self.refresh_timer.timeout.connect(self.refresh)
        changed, slot = tracking.changed, self._schedule
        changed.connect(slot)
        # the tracking outlives a closed panel: a change must not reach its deleted timer
        self.destroyed.connect(lambda *_: changed.disconnect(slot))
        self.refresh()

    # --- building ------------------------------------------------------------------------

    def _build_choices(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.criteria_combo = QComboBox()
        for key, criteria in CRITERIA.items():
            self.criteria_combo.addItem(criteria.name, key)
            self.criteria_combo.setItemData(
                self.criteria_combo.count() - 1,
                f"{criteria.sum_kind.value}, up to {criteria.max_targets} targets; "
                f"{criteria.reference}",
                Qt.ItemDataRole.ToolTipRole,
            )
        self.criteria_combo.setToolTip("The response criteria the case is read by")
        self.criteria_combo.currentIndexChanged.connect(self._choose_criteria)
        self.baseline_combo = QComboBox()
        self.baseline_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.baseline_combo.setToolTip(
            "The visit responses are measured from (the nadir starts there too)"
        )
        self.baseline_combo.currentIndexChanged.connect(self._choose_baseline)
        self.thresholds_label = caption()
        self.thresholds_label.setWordWrap(False)
        row.addWidget(QLabel("Criteria"))
        row.addWidget(self.criteria_combo)
        row.addSpacing(8)
        row.addWidget(QLabel("Baseline"))
        row.addWidget(self.baseline_combo)
        row.addSpacing(8)
        row.addWidget(self.thresholds_label, 1)
        return row

    def _build_table(self) -> QWidget:
        pane = QWidget()
        layout = QVBoxLayout(pane)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(3)
        targets_row = QHBoxLayout()
        self.targets_label = caption()
        self.auto_targets_button = QPushButton("Auto targets")
        self.auto_targets_button.setToolTip(
            "Choose the targets again automatically: the largest measurable lesions at the baseline"
        )
        self.auto_targets_button.clicked.connect(lambda: self.tracking.set_targets(None))
        targets_row.addWidget(self.targets_label, 1)
        targets_row.addWidget(self.auto_targets_button)
        layout.addLayout(targets_row)

        self.table = QTableWidget()
        self.table.verticalHeader().setVisible(False)
        self.table.setWordWrap(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionsClickable(True)
        header.sectionClicked.connect(self._select_visit)
        self.table.cellClicked.connect(self._on_cell_clicked)
        self.table.currentCellChanged.connect(self._on_current_changed)
        self.table.itemChanged.connect(self._on_item_changed)
        layout.addWidget(self.table, 1)

        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet(f"color: {ERROR_COLOUR}; font-weight: bold")
        self.error_label.setVisible(False)
        layout.addWidget(self.error_label)
        self.links_label = QLabel()
        self.links_label.setWordWrap(True)
        self.links_label.setStyleSheet("color: #f0b45a")
        self.links_label.setToolTip(
            "Lesions are matched visit to visit in the reference frame: outlines must share "
            "voxels (at least 10% of the smaller) with centroids within 30 mm"
        )
        self.links_label.setVisible(False)
        layout.addWidget(self.links_label)
        legend = " ".join(
            f'<span style="color: {colour}">■ {status}</span>'
            for status, colour in STATUS_COLOURS.items()
        )
        self.legend_label = caption(f"{legend} · <i>italic</i>: not measurable")
        self.legend_label.setTextFormat(Qt.TextFormat.RichText)
        layout.addWidget(self.legend_label)
        self.reasons_box = QPlainTextEdit()
        self.reasons_box.setReadOnly(True)
        self.reasons_box.setMaximumHeight(80)
        self.reasons_box.setPlaceholderText("Select a visit to read why it got its category")
        layout.addWidget(self.reasons_box)
        return pane

    def _build_plot(self) -> QWidget:
        self.figure = Figure(figsize=(5.0, 3.0), dpi=100)
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setMinimumSize(240, 160)
        return self.canvas

    def _build_events(self) -> QWidget:
        pane = QWidget()
        layout = QVBoxLayout(pane)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(3)
        layout.addWidget(QLabel("Treatment events"))
        self.events_list = QListWidget()
        self.events_list.setToolTip(
            "Surgery, radiotherapy, radiosurgery, chemotherapy and steroid changes: they set the "
            "default baseline and RANO's 12-week window after radiotherapy"
        )
        self.events_list.currentRowChanged.connect(self._sync_remove_button)
        layout.addWidget(self.events_list, 1)
        buttons = QHBoxLayout()
        self.add_event_button = QPushButton("Add event…")
        self.add_event_button.clicked.connect(self._add_event)
        self.remove_event_button = QPushButton("Remove")
        self.remove_event_button.clicked.connect(self._remove_event)
        buttons.addWidget(self.add_event_button)
        buttons.addWidget(self.remove_event_button)
        layout.addLayout(buttons)
        return pane

    # --- following the tracking ----------------------------------------------------------

    def _schedule(self) -> None:
        self.refresh_timer.start()

    def refresh(self) -> None:
        """Rebuild everything from the tracking now (normally the timer calls this)."""
        self.refresh_timer.stop()
        if self.tracking.annotations.stroking:
            # measuring mid-stroke would be wasted: the stroke's end reports another change
            self.refresh_timer.start()
            return
        computed = self._compute()
        if self.tracking.pending:
            # outlines are being measured in a worker; its result triggers the next refresh
            self.thresholds_label.setText("Measuring the outlines…")
            return
        self._columns, self._readings, self._assessment, self._error = computed
        problems = self.tracking.link_problems(self._columns)
        self.links_label.setText("\n".join(f"⚠ {p}" for p in problems))
        self.links_label.setVisible(bool(problems))
        self._sync_choices()
        self._fill_table()
        self._show_reasons()
        self._draw_plot()
        self._sync_events()

    def _compute(
        self,
    ) -> tuple[list[VisitColumn], list[VisitReading], Assessment | None, str | None]:
        """Columns, readings, assessment and the error that stopped the assessment, if any."""
        try:
            columns, readings, assessment = self.tracking.assess()
            return columns, readings, assessment, None
        except ValueError as exc:  # e.g. hand-picked targets the baseline cannot support
            error = str(exc)
        try:
            columns = self.tracking.columns()
            return columns, self.tracking.readings(columns), None, error
        except ValueError:  # the measurements themselves failed: nothing to show but why
            return [], [], None, error

    def _baseline_index(self) -> int | None:
        if self._assessment is not None:
            return self._assessment.baseline_index
        labels = [r.label for r in self._readings]
        if self.tracking.baseline_label in labels:
            return labels.index(self.tracking.baseline_label)
        return None

    def _sync_choices(self) -> None:
        criteria = self.tracking.criteria
        with QSignalBlocker(self.criteria_combo):
            self.criteria_combo.setCurrentIndex(
                self.criteria_combo.findData(self.tracking.criteria_key)
            )
        rule = criteria.default_baseline.value
        default = f"Default ({rule})"
        if self._readings:
            events = analysis_events(self.tracking.events)
            index = default_baseline(self._readings, events, criteria)
            default = f"Default ({rule}: {self._readings[index].label})"
        labels = [r.label for r in self._readings]
        with QSignalBlocker(self.baseline_combo):
            self.baseline_combo.clear()
            self.baseline_combo.addItem(default, None)
            for label in labels:
                self.baseline_combo.addItem(label, label)
            chosen = self.tracking.baseline_label
            self.baseline_combo.setCurrentIndex(labels.index(chosen) + 1 if chosen in labels else 0)
        self.thresholds_label.setText(thresholds_text(criteria))
        self.thresholds_label.setToolTip(
            f"{criteria.name}: {criteria.sum_kind.value}, up to {criteria.max_targets} targets. "
            f"{criteria.reference}"
        )
        manual = self.tracking.target_override is not None
        self.targets_label.setText(
            "Targets: chosen by hand"
            if manual
            else f"Targets: automatic (the largest measurable, up to {criteria.max_targets})"
        )
        self.auto_targets_button.setEnabled(manual)

    def _targets(self) -> tuple[int, ...]:
        if self._assessment is not None:
            return self._assessment.targets
        return self.tracking.target_override or ()

    def _fill_table(self) -> None:
        criteria = self.tracking.criteria
        lesions = self.tracking.annotations.lesions
        self._numbers = sorted({n for r in self._readings for n in r.lesions})
        targets = set(self._targets())
        table = self.table
        with QSignalBlocker(table):
            table.clear()
            table.setRowCount(len(self._numbers) + 2)
            for row in range(table.rowCount()):
                # clear() keeps rows hidden: a summary row hidden before may be a lesion now
                table.setRowHidden(row, False)
            table.setColumnCount(FIRST_VISIT_COLUMN + len(self._columns))
            table.setHorizontalHeaderLabels(
                ["Lesion", "Target", *(column.label for column in self._columns)]
            )
            for index, column in enumerate(self._columns):
                table.horizontalHeaderItem(FIRST_VISIT_COLUMN + index).setToolTip(
                    f"Read on series {column.series_key}; click for this visit's reasons"
                )
            for row, number in enumerate(self._numbers):
                lesion = lesions[number] if number in lesions else None
                name = _read_only_item(lesion.name if lesion else f"L{number}")
                if lesion is not None:
                    name.setIcon(colour_swatch(lesion.colour, 12))
                    name.setToolTip(
                        f"{lesion.kind.value}" + (f": {lesion.note}" if lesion.note else "")
                    )
                table.setItem(row, COL_LESION, name)
                target = QTableWidgetItem()
                target.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsUserCheckable)
                target.setCheckState(
                    Qt.CheckState.Checked if number in targets else Qt.CheckState.Unchecked
                )
                target.setToolTip(
                    "Target lesion: counted in the sum. Changing it chooses the targets by hand"
                )
                table.setItem(row, COL_TARGET, target)
                for index in range(len(self._columns)):
                    table.setItem(
                        row, FIRST_VISIT_COLUMN + index, self._lesion_item(index, number, targets)
                    )
            self._fill_summary_rows(criteria)
        table.resizeRowsToContents()

    def _lesion_item(self, index: int, number: int, targets: set[int]) -> QTableWidgetItem:
        criteria = self.tracking.criteria
        reading = self._readings[index].lesions.get(number)
        measurement = self._columns[index].measurements.get(number)
        new = self._assessment.visits[index].new_lesions if self._assessment else ()
        status = lesion_status(self._readings, index, number, criteria, new)
        if reading is None:
            item = _read_only_item(NOT_OUTLINED)
            item.setToolTip(f"L{number} is not outlined on this visit")
        elif measurement is None:
            item = _read_only_item(GONE)
            item.setToolTip(f"L{number} was outlined before; nothing is left on this visit")
        else:
            item = _read_only_item(measurement_text(measurement, criteria.sum_kind))
            seen = f"Status: {status}" if status else "First measurement of this lesion"
            item.setToolTip(measurement_tooltip(measurement, criteria, seen, number in targets))
            if not reading.measurable:
                font = item.font()
                font.setItalic(True)
                item.setFont(font)
        item.setData(STATUS_ROLE, status)
        if status:
            item.setBackground(_tint(STATUS_COLOURS[status]))
        if status == GONE:
            item.setForeground(QBrush(QColor(STATUS_COLOURS[GONE])))
        return item

    def _fill_summary_rows(self, criteria: Criteria) -> None:
        table = self.table
        sum_row, response_row = len(self._numbers), len(self._numbers) + 1
        kind = criteria.sum_kind
        table.setItem(sum_row, COL_LESION, _read_only_item(f"{kind.short} ({_UNITS[kind.unit]})"))
        table.setItem(response_row, COL_LESION, _read_only_item("Response"))
        for row in (sum_row, response_row):
            table.setItem(row, COL_TARGET, _read_only_item())
        assessment = self._assessment
        for index in range(len(self._columns)):
            column = FIRST_VISIT_COLUMN + index
            if assessment is None:
                table.setItem(sum_row, column, _read_only_item())
                table.setItem(response_row, column, _read_only_item())
                continue
            response = assessment.visits[index]
            before = index < assessment.baseline_index
            total = _read_only_item(sum_text(response, criteria, before))
            total.setToolTip(self._sum_tooltip(response, before))
            table.setItem(sum_row, column, total)
            category = _read_only_item(category_text(response, before))
            colour = CATEGORY_COLOURS.get(response.category)
            if colour is not None and not before:
                category.setForeground(QBrush(QColor(colour)))
                category.setBackground(_tint(colour))
                font = category.font()
                font.setBold(True)
                category.setFont(font)
            category.setToolTip("\n".join(response.reasons))
            table.setItem(response_row, column, category)
        # without an assessment the sums and categories mean nothing: the error says why
        table.setRowHidden(sum_row, assessment is None)
        table.setRowHidden(response_row, assessment is None)
        self.error_label.setVisible(self._error is not None)
        self.error_label.setText(
            f"No response can be given: {self._error}" if self._error is not None else ""
        )

    def _sum_tooltip(self, response: VisitResponse, before_baseline: bool) -> str:
        unit = response.unit
        targets = ", ".join(f"L{n}" for n in response.targets) or "none"
        lines = [f"Sum over the targets ({targets})"]
        if not before_baseline and response.category != BASELINE:
            nadir = quantity_text(response.nadir_value, unit)
            lines.append(f"Nadir before this visit: {nadir} ({response.nadir_date})")
        return "\n".join(lines)

    def _show_reasons(self) -> None:
        labels = [column.label for column in self._columns]
        if self._selected_visit not in labels:
            self._selected_visit = labels[-1] if labels else None
        if not labels:
            self.reasons_box.setPlainText(
                "No visit has outlines yet: outline the lesions to measure them over time."
            )
            return
        if self._assessment is None:
            self.reasons_box.setPlainText(f"No response can be given: {self._error}")
            return
        response = self._assessment.visits[labels.index(self._selected_visit)]
        status = f" ({response.status})" if response.status else ""
        if response.category == NOT_EVALUABLE:
            status = ""
        lines = [f"{response.label}: {response.category}{status}"]
        lines += [f"• {reason}" for reason in response.reasons]
        self.reasons_box.setPlainText("\n".join(lines))

    def _draw_plot(self) -> None:
        lesions = self.tracking.annotations.lesions
        # drawing a figure costs tens of ms on the GUI thread: only when what it shows changed
        shown = (
            repr(self._readings),
            repr(self._assessment),
            repr(self.tracking.events),
            repr(list(lesions)),
        )
        if shown == self._plotted:
            return
        self._plotted = shown
        if self._assessment is None or not self._readings:
            self.figure.clear()
            self.figure.patch.set_facecolor("#1f2228")
            message = (
                "No visits with outlines yet"
                if not self._readings
                else "No response to plot (see the message under the table)"
            )
            self.figure.text(0.5, 0.5, message, ha="center", va="center", color="#d7dce2")
        else:
            draw_timeline(
                self.figure,
                self._readings,
                self._assessment,
                self.tracking.events,
                lesion_names={lesion.number: lesion.name for lesion in lesions},
                lesion_colours=self.tracking.annotations.colours(),
            )
        self.canvas.draw_idle()

    def _sync_events(self) -> None:
        row = self.events_list.currentRow()
        with QSignalBlocker(self.events_list):
            self.events_list.clear()
            for event in self.tracking.events:
                text = f"{event.date} · {event.kind.value}"
                item = QListWidgetItem(text + (f" — {event.note}" if event.note else ""))
                item.setToolTip(event.note or text)
                self.events_list.addItem(item)
            self.events_list.setCurrentRow(min(row, self.events_list.count() - 1))
        self._sync_remove_button()

    def _sync_remove_button(self, *_: object) -> None:
        self.remove_event_button.setEnabled(self.events_list.currentRow() >= 0)

    # --- what the reader does --------------------------------------------------------------

    def _choose_criteria(self, index: int) -> None:
        key = self.criteria_combo.itemData(index)
        if key != self.tracking.criteria_key:
            self.tracking.set_criteria(key)

    def _choose_baseline(self, index: int) -> None:
        label = self.baseline_combo.itemData(index)
        if label != self.tracking.baseline_label:
            self.tracking.set_baseline(label)

    def _on_item_changed(self, item: QTableWidgetItem) -> None:
        if item.column() != COL_TARGET or item.row() >= len(self._numbers):
            return
        chosen = [
            number
            for row, number in enumerate(self._numbers)
            if self.table.item(row, COL_TARGET).checkState() == Qt.CheckState.Checked
        ]
        self.tracking.set_targets(chosen)

    def _visit_index(self, column: int) -> int | None:
        index = column - FIRST_VISIT_COLUMN
        return index if 0 <= index < len(self._columns) else None

    def _select_visit(self, column: int) -> None:
        index = self._visit_index(column)
        if index is not None:
            self._selected_visit = self._columns[index].label
            self._show_reasons()

    def _on_current_changed(self, row: int, column: int, *_: int) -> None:
        if row >= 0:
            self._select_visit(column)

    def _on_cell_clicked(self, row: int, column: int) -> None:
        self._select_visit(column)
        index = self._visit_index(column)
        if index is None or row >= len(self._numbers):
            return
        visit = self._columns[index]
        measurement = visit.measurements.get(self._numbers[row])
        if measurement is not None:
            point = np.asarray(measurement.centroid_reference_mm, dtype=np.float64)
            self.jump_requested.emit(visit.series_key, point)

    def _latest_visit_date(self) -> dt.date | None:
        return self._columns[-1].date if self._columns else None

    def _add_event(self) -> None:
        dialog = EventDialog(self, self._latest_visit_date())
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.tracking.set_events([*self.tracking.events, dialog.treatment_event()])

    def _remove_event(self) -> None:
        row = self.events_list.currentRow()
        events = list(self.tracking.events)
        if 0 <= row < len(events):
            del events[row]
            self.tracking.set_events(events)
