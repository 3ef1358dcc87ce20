"""The Teaching panel and menu: a blind read, its submission, and the feedback that teaches.

While a blind read is open the panel shows only who made the reference and by which criteria
(its :class:`~viewer.teaching.reading_file.ReadingInfo`); the trainee states a category per visit
here and outlines and measures with the usual tools. *Submit* builds the trainee's reading, and a
worker saves it, reads the reference and compares the two. The feedback then lists, per visit,
both categories and why, with the reference's teaching points, and per lesion and visit the
agreement of the outlines and measurements; the views can draw the reference's outlines in cyan
beside the trainee's, and jump to where they disagree most.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QMenu,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from viewer.analysis.criteria import CRITERIA
from viewer.core.geometry import apply_affine
from viewer.core.progress import CancelCheck, ProgressCallback
from viewer.core.volume import Volume
from viewer.errors import IntervalError
from viewer.export.feedback import lesion_columns, write_feedback
from viewer.export.privacy import Privacy
from viewer.io import load_series
from viewer.state.blind_read import (
    DEFAULT_CASE_LABEL,
    STATED_CATEGORIES,
    BlindRead,
    Feedback,
    geometry_volume,
    shipped_reference,
    trainee_reading,
)
from viewer.state.case_session import CaseSession, data_home
from viewer.state.compare_controller import ComparisonController
from viewer.state.tracking import Tracking, case_events
from viewer.teaching.explain import WORDS
from viewer.teaching.log import read_history
from viewer.teaching.reading import Reading
from viewer.teaching.reading_file import ReadingInfo, write_reading
from viewer.ui.workers import TaskRunner, readable_error

NOT_STATED = "not stated"
LESION_HEADERS = (
    "Visit",
    "Lesion",
    "Status",
    "Dice",
    "HD95 mm",
    "ΔVol mL",
    "ΔVol %",
    "ΔLD / ΔPD mm",
    "ΔProduct %",
    "Same slice",
)
LESION_KEYS = (
    "lesion",
    "status",
    "dice",
    "hd95_mm",
    "volume_difference_ml",
    "volume_difference_percent",
    "diameters_difference_mm",
    "product_difference_percent",
    "same_slice",
)
HISTORY_HEADERS = ("Case", "Submitted (UTC)", "Mean Dice", "Categories agreed", "Lesions missed")
AGREE_COLOUR, DISAGREE_COLOUR = "#7ddc8a", "#ff7b72"


class TeachingPanel(QWidget):
    """The blind read and its feedback, and the Teaching menu (:attr:`menu`).

    Parameters
    ----------
    blind : BlindRead
    case_session : CaseSession
    tracking : Tracking
    comparison : ComparisonController
    runner : TaskRunner
        Submitting, re-comparing and the PDF run here, one at a time.
    privacy : callable
        ``privacy() -> Privacy`` for the feedback PDF (the Export menu's choice).

    Signals
    -------
    jump_requested(str, object)
        Series key and reference-frame point (ndarray (3,), LPS mm) to show.
    reference_shown(bool)
        The reference's outlines were switched on or off: the views must be drawn again.
    message(str)
    """

    jump_requested = Signal(str, object)
    reference_shown = Signal(bool)
    message = Signal(str)

    def __init__(
        self,
        blind: BlindRead,
        case_session: CaseSession,
        tracking: Tracking,
        comparison: ComparisonController,
        runner: TaskRunner,
        privacy: Callable[[], Privacy],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.blind, self.case_session, self.tracking = blind, case_session, tracking
        self.comparison, self.runner, self._privacy = comparison, runner, privacy
        self._history: QDialog | None = None
        layout = QVBoxLayout(self)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        buttons = QHBoxLayout()
        self.start_button = QPushButton("Start a blind read")
        self.start_button.clicked.connect(self.start)
        self.submit_button = QPushButton("Submit")
        self.submit_button.setToolTip("Compare your reading with the reference (it stays hidden "
                                      "until then)")  # fmt: skip
        self.submit_button.clicked.connect(self.submit)
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.submit_button)
        layout.addLayout(buttons)
        self.visits = QTableWidget(0, 4)
        self.visits.setHorizontalHeaderLabels(["Visit", "Your category", "Reference", "Agree"])
        self.visits.verticalHeader().setVisible(False)
        self.visits.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.visits.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.visits.cellClicked.connect(
            lambda row, _: self.explanation.scrollToAnchor(self.visits.item(row, 0).text())
        )
        layout.addWidget(self.visits)
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        layout.addWidget(self.summary)
        tools = QHBoxLayout()
        self.reference_check = QCheckBox("Show the reference outlines")
        self.reference_check.setToolTip("Draw the reference's outlines in cyan beside yours")
        self.reference_check.toggled.connect(self.show_reference)
        self.jump_button = QPushButton("Go to the largest disagreement")
        self.jump_button.clicked.connect(self.go_to_largest_disagreement)
        tools.addWidget(self.reference_check)
        tools.addWidget(self.jump_button)
        layout.addLayout(tools)
        self.explanation = QTextBrowser()
        self.explanation.setOpenLinks(False)
        layout.addWidget(self.explanation, 2)
        self.lesions = QTableWidget(0, len(LESION_HEADERS))
        self.lesions.setHorizontalHeaderLabels(list(LESION_HEADERS))
        self.lesions.verticalHeader().setVisible(False)
        self.lesions.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.lesions.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents
        )
        layout.addWidget(self.lesions, 1)
        self.export_button = QPushButton("Export feedback (PDF)…")
        self.export_button.clicked.connect(self.export_feedback)
        layout.addWidget(self.export_button)
        self._build_menu()
        blind.changed.connect(self.refresh)
        runner.succeeded.connect(self._on_done)
        runner.failed.connect(self._on_failed)
        runner.busy_changed.connect(self.refresh)
        self.refresh()

    def _build_menu(self) -> None:
        self.menu = QMenu("&Teaching", self)
        entries: list[tuple[str, str, Callable[[], None]]] = [
            ("Start a blind read", "Ctrl+Shift+B", self.start),
            ("Submit the blind read", "Ctrl+Shift+Return", self.submit),
            ("Import a reference reading…", "", self.import_reading),
            ("Export my reading…", "", self.export_reading),
            ("Export feedback (PDF)…", "", self.export_feedback),
            ("My progress", "", self.show_history),
        ]
        self.actions: dict[str, QAction] = {}
        for text, key, slot in entries:
            action = self.menu.addAction(text)
            if key:
                action.setShortcut(key)
            action.triggered.connect(lambda _=False, s=slot: s())
            self.actions[text] = action

    # --- the case --------------------------------------------------------------------------

    def case_opened(self, paths: list[str]) -> None:
        """A case opened: take its blind read, and import the reference shipped with it."""
        self._set_reference(None)
        for text in self.blind.open_case(self.case_session.folder,
                                         read_only=self.case_session.read_only):  # fmt: skip
            self.message.emit(text)
        shipped = shipped_reference(paths)
        if shipped is not None and self.case_session.folder is not None:
            try:
                self.blind.import_shipped(shipped)
            except (IntervalError, OSError) as exc:
                self.message.emit(f"The case's reference reading was not imported: {exc}")
        self._fill_visits()
        if self.blind.state.submitted is not None:
            self._compare_again()

    def _visit_labels(self) -> list[str]:
        return [
            v.label
            for p in self.comparison.session.catalog.patients
            for v in p.visits
            if v.date is not None
        ]

    def _fill_visits(self) -> None:
        labels = self._visit_labels()
        self.visits.setRowCount(len(labels))
        for row, label in enumerate(labels):
            self.visits.setItem(row, 0, QTableWidgetItem(label))
            combo = QComboBox()
            combo.addItem(NOT_STATED, None)
            for category in STATED_CATEGORIES:
                combo.addItem(category, category)
            combo.activated.connect(lambda _=0, v=label, c=combo: self._stated(v, c))
            self.visits.setCellWidget(row, 1, combo)
        self.refresh()

    def combo(self, visit: str) -> QComboBox | None:
        """The category combo of a visit (None: no such visit)."""
        for row in range(self.visits.rowCount()):
            if self.visits.item(row, 0).text() == visit:
                return self.visits.cellWidget(row, 1)  # type: ignore[return-value]
        return None

    def _stated(self, visit: str, combo: QComboBox) -> None:
        try:
            self.blind.state_category(visit, combo.currentData())
        except (IntervalError, ValueError, OSError) as exc:
            self.message.emit(readable_error(exc))
            self.refresh()

    # --- showing the state -----------------------------------------------------------------

    def refresh(self, *_: object) -> None:
        """Show the read's state and, after submission, the feedback."""
        state, feedback = self.blind.state, self.blind.feedback
        info = self.blind.reference_info()
        busy = self.runner.busy
        if self.blind.folder is None:
            text = "Open a case to read it blind."
        elif state.open:
            who = f" by {info.reader.name}" if info is not None else ""
            text = (
                f"<b>Blind read open</b> against the reference{who}"
                f"{_criteria_text(info)}. It stays hidden until you submit: outline and "
                "measure with the usual tools, state a category at each visit, then Submit."
            )
        elif state.submitted is not None:
            text = "<b>Submitted.</b> " + (
                "The feedback is below." if feedback is not None else "Comparing…"
            )
        else:
            references, _ = self.blind.references()
            text = (
                (
                    "This case has an expert's reference reading."
                    if len(references) == 1
                    else f"This case has {len(references)} reference readings."
                )
                + " Start a blind read: read the case yourself, then compare."
                if references
                else "No reference reading in this case: Teaching > Import a reference reading…"
            )
        self.status.setText(text)
        self.start_button.setEnabled(self.blind.folder is not None and not busy)
        self.submit_button.setEnabled(state.open and not busy)
        self.actions["Submit the blind read"].setEnabled(state.open and not busy)
        has_feedback = feedback is not None and not state.open
        for widget in (self.reference_check, self.jump_button, self.export_button):
            widget.setEnabled(has_feedback)
        self.actions["Export feedback (PDF)…"].setEnabled(has_feedback)
        if not has_feedback and self.reference_check.isChecked():
            self.reference_check.setChecked(False)
        self._show_categories(feedback if has_feedback else None)
        self._show_feedback(feedback if has_feedback else None)

    def _show_categories(self, feedback: Feedback | None) -> None:
        state = self.blind.state
        by_visit = {c.visit: c for c in feedback.agreement.categories} if feedback else {}
        for row in range(self.visits.rowCount()):
            label = self.visits.item(row, 0).text()
            combo: QComboBox = self.visits.cellWidget(row, 1)  # type: ignore[assignment]
            combo.setEnabled(state.open)
            index = combo.findData(state.stated.get(label))
            combo.setCurrentIndex(max(index, 0))
            compared = by_visit.get(label)
            reference = _words(compared.reference_category) if compared else ""
            agree = ("yes" if compared.agree else "no") if compared else ""
            self.visits.setItem(row, 2, QTableWidgetItem(reference))
            item = QTableWidgetItem(agree)
            if compared:
                item.setForeground(Qt.GlobalColor.green if compared.agree else Qt.GlobalColor.red)
            self.visits.setItem(row, 3, item)

    def _show_feedback(self, feedback: Feedback | None) -> None:
        if feedback is None:
            self.summary.setText("")
            self.explanation.setHtml("")
            self.lesions.setRowCount(0)
            return
        agreement = feedback.agreement
        agreed, total = agreement.categories_agreed
        dice = "-" if agreement.mean_dice is None else f"{agreement.mean_dice:.2f}"
        hd95 = "-" if agreement.mean_hd95_mm is None else f"{agreement.mean_hd95_mm:.1f} mm"
        self.summary.setText(
            f"Categories agreed: <b>{agreed} of {total}</b> · mean Dice {dice} · mean HD95 "
            f"{hd95} · missed {len(agreement.missed)} · not in the reference "
            f"{len(agreement.extra)}"
        )
        self.explanation.setHtml(feedback_html(feedback))
        rows = agreement.lesions
        self.lesions.setRowCount(len(rows))
        for index, row in enumerate(rows):
            columns = lesion_columns(row)
            cells = [row.visit, *(columns[k] for k in LESION_KEYS)]
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if row.status in ("missed", "extra"):
                    item.setForeground(Qt.GlobalColor.red)
                self.lesions.setItem(index, column, item)

    # --- the read --------------------------------------------------------------------------

    def start(self) -> None:
        """Start a blind read against one of the case's references (chosen if several)."""
        if self.blind.folder is None:
            self.message.emit("Open a case first")
            return
        if self.blind.state.open:
            self.message.emit("A blind read is already open: submit it first")
            return
        references, problems = self.blind.references()
        for problem in problems:
            self.message.emit(problem)
        if not references:
            self.message.emit(
                "This case has no reference reading: Teaching > Import a reference reading…"
            )
            return
        chosen: ReadingInfo | None = references[-1]
        if len(references) > 1:
            chosen = self._choose(references)
        if chosen is None:
            return
        try:
            self.blind.start(chosen)
        except (IntervalError, ValueError, OSError) as exc:
            self.message.emit(readable_error(exc))
            return
        self._set_reference(None)
        self._take_clinical_context(chosen)
        self.message.emit("Blind read started: the reference stays hidden until you submit")

    def _take_clinical_context(self, reference: ReadingInfo) -> None:
        """Read by the reference's criteria, and with its treatment history if the case has none.

        Both come with a case's request form, not from reading the images: the exercise is the
        read, and a different baseline rule or a missing radiotherapy date would only make the
        categories disagree for a reason the images cannot teach.
        """
        if (
            reference.criteria_key in CRITERIA
            and reference.criteria_key != self.tracking.criteria_key
        ):
            self.tracking.set_criteria(reference.criteria_key)
        if reference.events and not self.tracking.events:
            self.tracking.set_events(case_events(reference.events))

    def _choose(self, references: list[ReadingInfo]) -> ReadingInfo | None:
        names = [
            f"{i.reader.name} — {i.created:%Y-%m-%d %H:%M}{_criteria_text(i)}" for i in references
        ]
        text, ok = QInputDialog.getItem(
            self, "Start a blind read", "Read the case blind against:", names, len(names) - 1, False
        )
        return references[names.index(text)] if ok and text in names else None

    def _volumes(self) -> tuple[dict[str, Volume], dict[str, Volume]]:
        """Loaded volumes, and the grids of every outlined or loaded series."""
        loaded = {}
        for entry in self.comparison.session.catalog.all_series():
            found = self.comparison.loaded(entry.key)
            if found is not None:
                loaded[entry.key] = found.volume
        grids = {
            k: loaded.get(k) or geometry_volume(r.shape, r.voxel2patient)
            for k, r in self.case_session.records.items()
        }
        return loaded, {**grids, **loaded}

    def _trainee(self) -> Reading | None:
        loaded, _ = self._volumes()
        info = self.blind.reference_info()
        try:
            return trainee_reading(
                self.case_session,
                self.tracking,
                self.blind.state.stated,
                loaded,
                case_label=info.case_label if info is not None else DEFAULT_CASE_LABEL,
            )
        except (ValueError, IntervalError) as exc:
            self.message.emit(f"Your reading could not be built: {exc}")
            return None

    def _matrices(self) -> Callable[[str], np.ndarray | None]:
        """The registrations now, as a lookup safe to use in a worker."""
        registrations = self.comparison.registrations
        keys = [s.key for s in self.comparison.session.catalog.all_series()]
        return {k: registrations.patient2reference(k) for k in keys}.get

    def submit(self) -> None:
        """Submit the blind read: save the trainee's reading and compare it, in a worker."""
        if self.runner.busy or not self.blind.state.open:
            return
        trainee = self._trainee()
        if trainee is None:
            return
        _, grids = self._volumes()
        entries = {s.key: s for s in self.comparison.session.catalog.all_series()}
        try:
            work = self.blind.submission_work(trainee, grids, entries, self._matrices())
        except ValueError as exc:
            self.message.emit(str(exc))
            return
        self._run(lambda: work(), "submit")
        self.message.emit("Submitted: comparing your reading with the reference…")

    def _compare_again(self) -> None:
        try:
            work = self.blind.feedback_work(self._matrices())
        except ValueError:
            return
        self._run(lambda: work(), "feedback")

    def _run(self, work: Callable[[], object], context: str) -> None:
        def task(progress: ProgressCallback, cancelled: CancelCheck) -> object:
            progress(0, 0, context)
            return work()

        self.runner.start(task, context=context)
        self.refresh()

    def _on_done(self, context: object, result: object) -> None:
        if context in ("submit", "feedback") and isinstance(result, Feedback):
            try:
                warning = self.blind.take_feedback(
                    result, log_folder=data_home(), reader=self.case_session.reader.name
                )
            except (IntervalError, OSError) as exc:
                self.message.emit(readable_error(exc))
                return
            if warning:
                self.message.emit(warning)
            if context == "submit":
                self.message.emit("Feedback ready: see the Teaching panel")
        elif context == "export":
            self.message.emit(f"Exported to {result}")

    def _on_failed(self, context: object, text: str) -> None:
        what = {"submit": "Submitting", "feedback": "Comparing", "export": "Exporting"}
        self.message.emit(f"{what.get(str(context), 'Teaching')} failed: {text}")
        self.refresh()

    # --- feedback in the views -------------------------------------------------------------

    def show_reference(self, on: bool) -> None:
        """Draw (or stop drawing) the reference's outlines in the views, after submission."""
        feedback = self.blind.feedback
        self._set_reference(feedback.reference if on and feedback is not None else None)

    def _set_reference(self, reading: Reading | None) -> None:
        if reading is None and self.reference_check.isChecked():
            self.reference_check.setChecked(False)  # comes back here with None
            return
        if self.comparison.reference_outlines is not reading:
            self.comparison.reference_outlines = reading
            self.reference_shown.emit(reading is not None)

    def go_to_largest_disagreement(self) -> None:
        """Show the largest disagreement: its visit in the active view, the crosshair on it."""
        feedback = self.blind.feedback
        largest = feedback.agreement.largest_disagreement if feedback is not None else None
        if largest is None:
            self.message.emit("Your outlines and the reference's agree everywhere")
            return
        matrix = self.comparison.registrations.patient2reference(largest.series_key)
        point = np.asarray(largest.point_patient_mm, dtype=np.float64)
        if matrix is not None:
            point = apply_affine(matrix, point)
        self.jump_requested.emit(largest.series_key, point)
        self.message.emit(largest.description)

    # --- files -----------------------------------------------------------------------------

    def import_reading(self) -> None:
        """Copy a ``.reading`` file (a supervisor's reference) into the case's readings."""
        if self.blind.folder is None:
            self.message.emit("Open a case first")
            return
        path, _ = QFileDialog.getOpenFileName(
            self, "Import a reading", "", "Interval readings (*.reading)"
        )
        if not path:
            return
        try:
            copied = self.blind.import_reading(path)
        except (IntervalError, OSError) as exc:
            self.message.emit(readable_error(exc))
            return
        self.message.emit(f"Imported as {copied.name}")

    def export_reading(self) -> None:
        """Write the trainee's reading (outlines, diameters, stated categories) as one file."""
        if self.blind.folder is None:
            self.message.emit("Open a case first")
            return
        path, _ = QFileDialog.getSaveFileName(
            self, "Export my reading", "my.reading", "Interval readings (*.reading)"
        )
        if not path:
            return
        trainee = self._trainee()
        if trainee is not None:
            self._run(lambda: _written(trainee, Path(path)), "export")

    def export_feedback(self) -> None:
        """The feedback as a de-identified PDF (after submission)."""
        feedback = self.blind.feedback
        if feedback is None or self.blind.state.open:
            self.message.emit("Submit a blind read first: the feedback comes after it")
            return
        path, _ = QFileDialog.getSaveFileName(
            self, "Export the feedback", "Case_feedback.pdf", "PDF (*.pdf)"
        )
        if not path:
            return
        privacy = self._privacy()
        largest = feedback.agreement.largest_disagreement
        key = largest.series_key if largest is not None else None
        found = self.comparison.loaded(key)
        session = self.comparison.session
        entry = session.entry(key) if key is not None and session.knows(key) else None

        def work() -> Path:
            volumes = {}
            if found is not None:
                volumes[key] = found.volume
            elif entry is not None:
                volumes[key] = load_series(entry)
            return write_feedback(feedback, path, privacy=privacy, volumes=volumes)

        self._run(work, "export")

    def show_history(self) -> None:
        """The trainee's history across cases, from the local log (not modal)."""
        history = read_history(data_home())
        if self._history is None:
            self._history = QDialog(self)
            self._history.setWindowTitle("Interval — my progress")
            layout = QVBoxLayout(self._history)
            self.history_table = QTableWidget(0, len(HISTORY_HEADERS))
            self.history_table.setHorizontalHeaderLabels(list(HISTORY_HEADERS))
            self.history_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
            layout.addWidget(self.history_table)
            self.history_note = QLabel("")
            self.history_note.setWordWrap(True)
            layout.addWidget(self.history_note)
            self._history.resize(720, 360)
        self.history_table.setRowCount(len(history.entries))
        for row, entry in enumerate(history.entries):
            cells = (
                entry.case_label,
                f"{entry.submitted:%Y-%m-%d %H:%M}",
                "-" if entry.mean_dice is None else f"{entry.mean_dice:.2f}",
                f"{entry.categories_agreed} of {entry.categories_total}",
                str(entry.lesions_missed),
            )
            for column, text in enumerate(cells):
                self.history_table.setItem(row, column, QTableWidgetItem(text))
        self.history_table.resizeColumnsToContents()
        note = "No blind read submitted yet." if not history.entries else ""
        self.history_note.setText("\n".join([note, *history.warnings]).strip())
        self._history.show()
        self._history.raise_()


def feedback_html(feedback: Feedback) -> str:
    """Per visit: both categories, agree or not, the reasons, and the teaching points."""
    points = {v.label: v.teaching_points for v in feedback.reference.visits}
    parts = []
    for visit in feedback.agreement.categories:
        colour = AGREE_COLOUR if visit.agree else DISAGREE_COLOUR
        verdict = "agree" if visit.agree else "disagree"
        parts.append(
            f"<a name='{html.escape(visit.visit)}'></a>"
            f"<h4 style='margin-bottom:2px'>{html.escape(visit.visit)}: you "
            f"{html.escape(_words(visit.trainee_category))}, the reference "
            f"{html.escape(_words(visit.reference_category))} — "
            f"<span style='color:{colour}'>{verdict}</span></h4>"
        )
        parts.append(
            "<ul style='margin-top:0'>"
            + "".join(f"<li>{html.escape(s)}</li>" for s in visit.explanation)
            + "</ul>"
        )
        if points.get(visit.visit):
            parts.append(
                "<p style='margin-bottom:0'><b>Teaching points</b></p><ul style='margin-top:0'>"
                + "".join(f"<li>{html.escape(p)}</li>" for p in points[visit.visit])
                + "</ul>"
            )
    notes = feedback.agreement.correspondence.notes + feedback.agreement.notes
    if notes:
        parts.append(
            "<p><b>Notes</b></p><ul>"
            + "".join(f"<li>{html.escape(n)}</li>" for n in notes)
            + "</ul>"
        )
    return "".join(parts)


def _written(reading: Reading, path: Path) -> Path:
    write_reading(reading, path)
    return path


def _words(category: str | None) -> str:
    return WORDS.get(category, category) if category else NOT_STATED


def _criteria_text(info: ReadingInfo | None) -> str:
    if info is None or info.criteria_key not in CRITERIA:
        return ""
    return f" ({CRITERIA[info.criteria_key].name})"
