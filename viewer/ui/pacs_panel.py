"""The PACS panel: servers, search, a patient's studies on a timeline, retrieve, send back.

Everything that talks to a server runs in a worker (:class:`viewer.ui.workers.TaskRunner`):
searches and connection tests on one runner, transfers on another, so a search never cancels a
retrieval. Progress per series comes from the worker through a queued signal; failures show as a
message in the panel, never as a dialog or a traceback. Retrieved series land in the local
store (:class:`viewer.pacs.store.LocalStore`); when a retrieval ends, the folders of the series
that are complete are announced by :attr:`PacsPanel.series_retrieved` for the window to open as
visits.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QObject, QPointF, QRectF, Qt, QThreadPool, Signal
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from viewer.core.progress import CancelCheck, ProgressCallback
from viewer.errors import IntervalError
from viewer.pacs.client import connect
from viewer.pacs.config import PacsSettings, Server, load_settings, save_settings
from viewer.pacs.errors import ServerConfigError
from viewer.pacs.query import SearchQuery, StudyResult, group_by_patient
from viewer.pacs.retrieve import SeriesProgress
from viewer.pacs.store import LocalStore, SeriesState, StoredSeries
from viewer.ui.theme import MUTED_COLOUR, caption
from viewer.ui.workers import TaskRunner

STUDY_ROLE = Qt.ItemDataRole.UserRole
ERROR_COLOUR = "#ff7b72"
OK_COLOUR = "#7ee787"
_LABEL_WIDTH_PX = 80.0
MODALITIES = ("", "CT", "MR", "PT", "SEG", "DOC", "OT")
"""The modality filter's choices ("" is any); others can be typed."""

SendSource = Callable[[], Callable[[], Sequence[str | Path]] | None]
"""Called on the GUI thread when the user sends: returns a function that writes the files to
send and returns their paths, run in a worker (or None when there is nothing to send)."""


class _Relay(QObject):
    """Carries per-series progress from a worker thread to the GUI thread (queued)."""

    series = Signal(object)


class PacsPanel(QWidget):
    """Configure servers, search, see a patient's studies on a timeline, retrieve and send.

    Parameters
    ----------
    pool : QThreadPool
        Where the workers run.
    settings_file : Path, optional
        The PACS settings (``viewer.pacs.config.settings_path()`` by default).
    store : LocalStore, optional
        Where retrieved series go (the user's data folder by default).

    Signals
    -------
    series_retrieved(list)
        Folders (str) of the series a retrieval completed, for the window to open as visits.
    message(str)
        Every message the panel shows (for a status bar).
    """

    series_retrieved = Signal(list)
    message = Signal(str)

    def __init__(
        self,
        pool: QThreadPool,
        *,
        settings_file: Path | None = None,
        store: LocalStore | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.settings_file = settings_file
        self.store = store or LocalStore()
        self.queries = TaskRunner(pool, self)
        self.transfers = TaskRunner(pool, self)
        self._relay = _Relay(self)
        self._relay.series.connect(self._on_series_progress)
        self._send_source: SendSource | None = None
        self._editing: str | None = None
        self._transfer_rows: dict[str, QTreeWidgetItem] = {}
        try:
            self.settings = load_settings(settings_file)
        except ServerConfigError as exc:
            self.settings = PacsSettings()
            self._show(str(exc), error=True)

        layout = QVBoxLayout(self)
        layout.addWidget(self._build_servers())
        layout.addWidget(self._build_search())
        self.results = QTreeWidget()
        self.results.setHeaderLabels(["Patient / study", "Modalities", "Images", "Description"])
        self.results.itemChanged.connect(self._on_result_checked)
        self.results.currentItemChanged.connect(self._on_result_current)
        layout.addWidget(self.results, 2)
        self.timeline = StudyTimeline()
        layout.addWidget(self.timeline)
        layout.addWidget(self._build_transfers(), 1)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.status)

        for runner in (self.queries, self.transfers):
            runner.busy_changed.connect(self._update_buttons)
        self.queries.succeeded.connect(self._on_query_done)
        self.queries.failed.connect(lambda _, text: self._show(text, error=True))
        self.transfers.succeeded.connect(self._on_transfer_done)
        self.transfers.failed.connect(self._on_transfer_failed)
        self.transfers.cancelled.connect(self._on_transfer_cancelled)
        self.transfers.progress.connect(self._on_transfer_progress)
        self._refresh_servers()

    # --- servers -------------------------------------------------------------------------

    def _build_servers(self) -> QWidget:
        box = QGroupBox("Servers")
        layout = QVBoxLayout(box)
        row = QHBoxLayout()
        self.server_combo = QComboBox()
        self.server_combo.currentIndexChanged.connect(self._update_buttons)
        row.addWidget(self.server_combo, 1)
        self.add_button = QPushButton("Add")
        self.add_button.clicked.connect(lambda: self.edit_server(None))
        self.edit_button = QPushButton("Edit")
        self.edit_button.clicked.connect(lambda: self.edit_server(self.current_server_name()))
        self.remove_button = QPushButton("Remove")
        self.remove_button.clicked.connect(self.remove_server)
        self.test_button = QPushButton("Test connection")
        self.test_button.clicked.connect(self.test_connection)
        for button in (self.add_button, self.edit_button, self.remove_button, self.test_button):
            row.addWidget(button)
        layout.addLayout(row)

        self.editor = QGroupBox("Server settings")
        form = QFormLayout(self.editor)
        self.name_edit = QLineEdit()
        self.protocol_combo = QComboBox()
        self.protocol_combo.addItem("DIMSE (AE title, host, port)", "dimse")
        self.protocol_combo.addItem("DICOMweb (URL)", "dicomweb")
        self.protocol_combo.currentIndexChanged.connect(self._update_editor_fields)
        self.ae_edit = QLineEdit()
        self.host_edit = QLineEdit()
        self.port_spin = QSpinBox()
        self.port_spin.setRange(1, 65535)
        self.method_combo = QComboBox()
        self.method_combo.addItems(["C-GET", "C-MOVE"])
        self.url_edit = QLineEdit()
        self.url_edit.setPlaceholderText("http://localhost:8042/dicom-web")
        self.timeout_spin = QDoubleSpinBox()
        self.timeout_spin.setRange(1, 600)
        self.timeout_spin.setSuffix(" s")
        self.local_ae_edit = QLineEdit()
        self.local_port_spin = QSpinBox()
        self.local_port_spin.setRange(1, 65535)
        self.listen_edit = QLineEdit()
        rows = [
            ("Name", self.name_edit),
            ("Protocol", self.protocol_combo),
            ("Server AE title", self.ae_edit),
            ("Host", self.host_edit),
            ("Port", self.port_spin),
            ("Retrieve with", self.method_combo),
            ("DICOMweb URL", self.url_edit),
            ("Timeout", self.timeout_spin),
            ("Interval's AE title", self.local_ae_edit),
            ("Interval's storage port (C-MOVE)", self.local_port_spin),
            ("Interval listens on", self.listen_edit),
        ]
        for label, widget in rows:
            form.addRow(label, widget)
        buttons = QHBoxLayout()
        self.save_button = QPushButton("Save server")
        self.save_button.clicked.connect(self.save_server)
        self.cancel_edit_button = QPushButton("Cancel")
        self.cancel_edit_button.clicked.connect(lambda: self.editor.setVisible(False))
        buttons.addWidget(self.save_button)
        buttons.addWidget(self.cancel_edit_button)
        form.addRow(buttons)
        self.editor.setVisible(False)
        layout.addWidget(self.editor)
        return box

    def current_server_name(self) -> str | None:
        """The name of the server chosen in the list (None when there is none)."""
        return self.server_combo.currentData()

    def current_server(self) -> Server | None:
        """The server chosen in the list."""
        name = self.current_server_name()
        return None if name is None else self.settings.server(name)

    def edit_server(self, name: str | None) -> None:
        """Open the settings form on a server (None: a new one)."""
        server = self.settings.server(name) if name else Server("", timeout_s=30.0)
        self._editing = name
        self.name_edit.setText(server.name)
        self.protocol_combo.setCurrentIndex(self.protocol_combo.findData(server.protocol))
        self.ae_edit.setText(server.ae_title)
        self.host_edit.setText(server.host)
        self.port_spin.setValue(server.port)
        self.method_combo.setCurrentText(server.retrieve_method)
        self.url_edit.setText(server.dicomweb_url)
        self.timeout_spin.setValue(server.timeout_s)
        local = self.settings.local
        self.local_ae_edit.setText(local.ae_title)
        self.local_port_spin.setValue(local.storage_port)
        self.listen_edit.setText(local.listen_address)
        self._update_editor_fields()
        self.editor.setTitle(f"Server settings: {name}" if name else "New server")
        self.editor.setVisible(True)

    def save_server(self) -> None:
        """Validate the form and save it; a problem is shown in the panel, nothing is saved."""
        server = Server(
            name=self.name_edit.text(),
            protocol=self.protocol_combo.currentData(),
            ae_title=self.ae_edit.text(),
            host=self.host_edit.text(),
            port=self.port_spin.value(),
            retrieve_method=self.method_combo.currentText(),  # type: ignore[arg-type]
            dicomweb_url=self.url_edit.text(),
            timeout_s=self.timeout_spin.value(),
        )
        local = replace(
            self.settings.local,
            ae_title=self.local_ae_edit.text(),
            storage_port=self.local_port_spin.value(),
            listen_address=self.listen_edit.text(),
        )
        try:
            settings = replace(self.settings, local=local).with_server(
                server, replacing=self._editing
            )
            settings = settings.validated()
            save_settings(settings, self.settings_file)
        except IntervalError as exc:
            self._show(str(exc), error=True)
            return
        self.settings = settings
        self.editor.setVisible(False)
        self._refresh_servers(select=server.name.strip())
        self._show(f"Saved the settings of '{server.name.strip()}'.")

    def remove_server(self) -> None:
        """Forget the chosen server."""
        name = self.current_server_name()
        if name is None:
            return
        settings = self.settings.without_server(name)
        try:
            save_settings(settings, self.settings_file)
        except IntervalError as exc:
            self._show(str(exc), error=True)
            return
        self.settings = settings
        self._refresh_servers()
        self._show(f"Removed '{name}'.")

    def test_connection(self) -> None:
        """C-ECHO (or a DICOMweb search) against the chosen server, in a worker."""
        server = self.current_server()
        if server is None:
            return
        local = self.settings.local

        def work(progress: ProgressCallback, cancelled: CancelCheck) -> str:
            with connect(server, local) as client:
                client.echo()
            return f"{server.describe()} answers."

        self._show(f"Testing {server.describe()}…")
        self.queries.start(work, "echo")

    def _refresh_servers(self, select: str | None = None) -> None:
        keep = select or self.current_server_name()
        self.server_combo.blockSignals(True)
        self.server_combo.clear()
        for server in self.settings.servers:
            self.server_combo.addItem(server.describe(), server.name)
        index = self.server_combo.findData(keep) if keep else -1
        self.server_combo.setCurrentIndex(max(index, 0) if self.settings.servers else -1)
        self.server_combo.blockSignals(False)
        self._update_buttons()

    def _update_editor_fields(self) -> None:
        web = self.protocol_combo.currentData() == "dicomweb"
        for widget in (self.ae_edit, self.host_edit, self.port_spin, self.method_combo):
            widget.setEnabled(not web)
        self.url_edit.setEnabled(web)

    # --- search --------------------------------------------------------------------------

    def _build_search(self) -> QWidget:
        box = QGroupBox("Search")
        form = QFormLayout(box)
        self.patient_id_edit = QLineEdit()
        self.patient_name_edit = QLineEdit()
        self.patient_name_edit.setPlaceholderText("FAMILY^GIVEN, wildcards * and ?")
        self.date_from_edit = QLineEdit()
        self.date_from_edit.setPlaceholderText("YYYY-MM-DD (any)")
        self.date_to_edit = QLineEdit()
        self.date_to_edit.setPlaceholderText("YYYY-MM-DD (any)")
        self.modality_combo = QComboBox()
        self.modality_combo.setEditable(True)
        self.modality_combo.addItems(MODALITIES)
        self.search_button = QPushButton("Search")
        self.search_button.clicked.connect(self.search)
        form.addRow("Patient ID", self.patient_id_edit)
        form.addRow("Name", self.patient_name_edit)
        dates = QHBoxLayout()
        dates.addWidget(self.date_from_edit)
        dates.addWidget(QLabel("to"))
        dates.addWidget(self.date_to_edit)
        form.addRow("Study dates", dates)
        form.addRow("Modality", self.modality_combo)
        form.addRow(self.search_button)
        return box

    def search(self) -> None:
        """Search the chosen server with the fields' query, in a worker."""
        server = self.current_server()
        if server is None:
            self._show("Add a server first.", error=True)
            return
        try:
            query = SearchQuery(
                self.patient_id_edit.text(),
                self.patient_name_edit.text(),
                _date(self.date_from_edit.text(), "from"),
                _date(self.date_to_edit.text(), "to"),
                self.modality_combo.currentText(),
            ).validated()
        except ServerConfigError as exc:
            self._show(str(exc), error=True)
            return
        local = self.settings.local

        def work(progress: ProgressCallback, cancelled: CancelCheck) -> list[StudyResult]:
            with connect(server, local) as client:
                return client.find_studies(query)

        self._show(f"Searching {server.describe()}…")
        self.queries.start(work, "search")

    def _on_query_done(self, context: object, result: object) -> None:
        if context == "echo":
            self._show(str(result), ok=True)
            return
        studies: list[StudyResult] = result  # type: ignore[assignment]
        self._fill_results(studies)
        patients = len({s.patient_id for s in studies})
        found = f"{len(studies)} stud{'y' if len(studies) == 1 else 'ies'}"
        whose = f"{patients} patient{'' if patients == 1 else 's'}"
        self._show(f"Found {found} of {whose}.")

    def _fill_results(self, studies: list[StudyResult]) -> None:
        self.results.blockSignals(True)
        self.results.clear()
        for patient in group_by_patient(studies):
            born = f", born {patient.birth_date.isoformat()}" if patient.birth_date else ""
            top = QTreeWidgetItem(
                [f"{patient.patient_name or '(no name)'} ({patient.patient_id}{born})"]
            )
            top.setFlags(top.flags() | Qt.ItemFlag.ItemIsAutoTristate)
            top.setCheckState(0, Qt.CheckState.Unchecked)
            for study in patient.studies:
                date = study.study_date.isoformat() if study.study_date else "undated"
                count = "" if study.instance_count is None else str(study.instance_count)
                child = QTreeWidgetItem(
                    [date, " ".join(study.modalities), count, study.description]
                )
                child.setData(0, STUDY_ROLE, study)
                child.setFlags(child.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                child.setCheckState(0, Qt.CheckState.Unchecked)
                top.addChild(child)
            self.results.addTopLevelItem(top)
            top.setFirstColumnSpanned(True)
            top.setExpanded(True)
        self.results.blockSignals(False)
        for column in range(1, self.results.columnCount()):
            self.results.resizeColumnToContents(column)
        self.results.setColumnWidth(0, self.fontMetrics().horizontalAdvance("0000-00-00") + 70)
        first = self.results.topLevelItem(0)
        if first is not None:
            self.results.setCurrentItem(first)
        else:
            self.timeline.set_studies([])
        self._update_buttons()

    def checked_studies(self) -> list[StudyResult]:
        """The studies ticked for retrieval, in the tree's order."""
        chosen = []
        for i in range(self.results.topLevelItemCount()):
            patient = self.results.topLevelItem(i)
            for j in range(patient.childCount()):
                item = patient.child(j)
                if item.checkState(0) == Qt.CheckState.Checked:
                    chosen.append(item.data(0, STUDY_ROLE))
        return chosen

    def _on_result_current(self, current: QTreeWidgetItem | None, _previous: object) -> None:
        if current is None:
            return
        patient = current.parent() or current
        studies = [patient.child(j).data(0, STUDY_ROLE) for j in range(patient.childCount())]
        self.timeline.set_studies(studies, self.checked_studies())

    def _on_result_checked(self, *_args: object) -> None:
        self.timeline.set_checked(self.checked_studies())
        self._update_buttons()

    # --- retrieve and send ---------------------------------------------------------------

    def _build_transfers(self) -> QWidget:
        box = QGroupBox("Transfers")
        layout = QVBoxLayout(box)
        row = QHBoxLayout()
        self.retrieve_button = QPushButton("Retrieve checked studies")
        self.retrieve_button.clicked.connect(self.retrieve)
        self.send_button = QPushButton("Send to PACS")
        self.send_button.setToolTip("Store the case's results (SEG, report) on the chosen server")
        self.send_button.clicked.connect(self.send)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.transfers.cancel)
        for button in (self.retrieve_button, self.send_button, self.cancel_button):
            row.addWidget(button)
        layout.addLayout(row)
        self.progress_bar = QProgressBar()
        self.progress_bar.setVisible(False)
        layout.addWidget(self.progress_bar)
        self.transfer_list = QTreeWidget()
        self.transfer_list.setHeaderLabels(["Series", "Images", "State"])
        layout.addWidget(self.transfer_list)
        layout.addWidget(caption(f"Retrieved series are kept in {self.store.root}"))
        return box

    def retrieve(self) -> None:
        """Fetch every series of the ticked studies into the local store, in a worker."""
        server = self.current_server()
        studies = self.checked_studies()
        if server is None or not studies:
            return
        local, store, relay = self.settings.local, self.store, self._relay
        self.transfer_list.clear()
        self._transfer_rows.clear()

        def work(progress: ProgressCallback, cancelled: CancelCheck) -> list[StoredSeries]:
            with connect(server, local) as client:
                series = client.find_series([s.study_uid for s in studies])
                return client.retrieve(
                    series,
                    store,
                    progress=progress,
                    cancelled=cancelled,
                    on_series=relay.series.emit,
                )

        self._show(f"Retrieving {len(studies)} studies from {server.describe()}…")
        self.progress_bar.setValue(0)
        self.progress_bar.setVisible(True)
        self.transfers.start(work, "retrieve")

    def set_send_source(self, source: SendSource | None) -> None:
        """Give the panel what "Send to PACS" sends (see :data:`SendSource`); None disables it."""
        self._send_source = source
        self._update_buttons()

    def send(self) -> None:
        """Send the files the send source produces to the chosen server, in a worker."""
        server = self.current_server()
        if server is None or self._send_source is None:
            return
        produce = self._send_source()
        if produce is None:
            self._show("Nothing to send: outline a lesion first.", error=True)
            return
        local = self.settings.local

        def work(progress: ProgressCallback, cancelled: CancelCheck) -> list[str]:
            files = list(produce())
            with connect(server, local) as client:
                return client.send(files, progress=progress, cancelled=cancelled)

        self._show(f"Sending to {server.describe()}…")
        self.progress_bar.setValue(0)
        self.progress_bar.setVisible(True)
        self.transfers.start(work, "send")

    def _on_series_progress(self, update: SeriesProgress) -> None:
        uid = update.series.series_uid
        row = self._transfer_rows.get(uid)
        if row is None:
            row = QTreeWidgetItem([update.series.label(), "", ""])
            self._transfer_rows[uid] = row
            self.transfer_list.addTopLevelItem(row)
            self.transfer_list.resizeColumnToContents(0)
        row.setText(1, f"{update.received} / {update.expected or '?'}")
        row.setText(2, "transferring" if update.state is None else update.state.value)

    def _on_transfer_progress(self, done: int, total: int, message: str) -> None:
        self.progress_bar.setMaximum(max(total, 1))
        self.progress_bar.setValue(done)
        self.status.setText(message)

    def _on_transfer_done(self, context: object, result: object) -> None:
        self.progress_bar.setVisible(False)
        server = self.current_server_name()
        if context == "send":
            sent: list[str] = result  # type: ignore[assignment]
            self._show(
                f"Sent {len(sent)} file{'' if len(sent) == 1 else 's'} to '{server}'.", ok=True
            )
            return
        stored: list[StoredSeries] = result  # type: ignore[assignment]
        complete = [s for s in stored if s.state is SeriesState.COMPLETE]
        partial = len(stored) - len(complete)
        images = sum(len(s.received) for s in complete)
        text = f"Retrieved {len(complete)} series ({images} images) from '{server}'."
        if partial:
            text += f" {partial} series are incomplete (the list says why); retrieve again."
        self._show(text, ok=not partial, error=bool(partial))
        if complete:
            self.series_retrieved.emit([str(s.folder) for s in complete])

    def _on_transfer_failed(self, context: object, text: str) -> None:
        self.progress_bar.setVisible(False)
        what = "Sending" if context == "send" else "Retrieving"
        kept = (
            " Complete series are kept in the local store; retrieve again to finish."
            if context == "retrieve"
            else ""
        )
        self._show(f"{what} failed: {text}.{kept}", error=True)

    def _on_transfer_cancelled(self, context: object) -> None:
        self.progress_bar.setVisible(False)
        if context == "retrieve":
            self._show(
                "Retrieval cancelled: complete series are kept, the interrupted one is marked "
                "partial; retrieve again to finish.",
                error=True,
            )
        else:
            self._show("Sending cancelled.", error=True)

    # --- shared --------------------------------------------------------------------------

    def _update_buttons(self, *_args: object) -> None:
        has_server = self.server_combo.count() > 0
        busy = self.transfers.busy
        for button in (self.edit_button, self.remove_button, self.test_button):
            button.setEnabled(has_server)
        self.search_button.setEnabled(has_server)
        self.retrieve_button.setEnabled(has_server and not busy and bool(self.checked_studies()))
        self.send_button.setEnabled(has_server and not busy and self._send_source is not None)
        self.cancel_button.setEnabled(busy)

    def _show(self, text: str, *, error: bool = False, ok: bool = False) -> None:
        colour = ERROR_COLOUR if error else OK_COLOUR if ok else MUTED_COLOUR
        self.status.setStyleSheet(f"color: {colour}")
        self.status.setText(text)
        self.message.emit(text)

    def shutdown(self) -> None:
        """Stop every transfer (on closing the window)."""
        self.queries.cancel_all()
        self.transfers.cancel_all()


class StudyTimeline(QWidget):
    """A patient's studies as dots on a date axis; ticked studies are filled."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumHeight(96)
        self.studies: list[StudyResult] = []
        self._checked: set[str] = set()

    def set_studies(self, studies: list[StudyResult], checked: Sequence[StudyResult] = ()) -> None:
        """Show these studies in date order (the undated are left out)."""
        dated = [s for s in studies if s.study_date is not None]
        self.studies = sorted(dated, key=lambda s: (s.study_date, s.study_time))
        self.set_checked(checked)

    def set_checked(self, checked: Sequence[StudyResult]) -> None:
        """Fill the dots of these studies."""
        self._checked = {s.study_uid for s in checked}
        self.update()

    def positions(self) -> list[float]:
        """Each dated study's x position in the widget (px), in date order."""
        if not self.studies:
            return []
        first = min(s.study_date for s in self.studies)  # type: ignore[type-var]
        last = max(s.study_date for s in self.studies)  # type: ignore[type-var]
        span = max((last - first).days, 1)
        margin = 40.0
        width = max(self.width() - 2 * margin, 1.0)
        return [
            margin + width * (s.study_date - first).days / span  # type: ignore[operator]
            for s in self.studies
        ]

    def paintEvent(self, _event: object) -> None:
        """Draw the axis, a dot per study (filled if ticked) and its date."""
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        axis_y = self.height() / 2
        painter.setPen(QPen(QColor(MUTED_COLOUR), 1))
        painter.drawLine(QPointF(20, axis_y), QPointF(self.width() - 20, axis_y))
        # labels go in rows above and below the axis, each in the first row it fits in
        row_offsets = (-24.0, 10.0, -40.0, 26.0)
        row_ends = [float("-inf")] * len(row_offsets)
        for study, x in zip(self.studies, self.positions(), strict=True):
            filled = study.study_uid in self._checked
            painter.setPen(QPen(QColor("#6fb3ff"), 2))
            painter.setBrush(QColor("#6fb3ff") if filled else Qt.BrushStyle.NoBrush)
            painter.drawEllipse(QPointF(x, axis_y), 5, 5)
            left = x - _LABEL_WIDTH_PX / 2
            row = next(
                (i for i, end in enumerate(row_ends) if left > end + 4), len(row_offsets) - 1
            )
            row_ends[row] = left + _LABEL_WIDTH_PX
            box = QRectF(left, axis_y + row_offsets[row], _LABEL_WIDTH_PX, 16)
            painter.setPen(QColor("#d8dbe0"))
            painter.drawText(box, Qt.AlignmentFlag.AlignCenter, study.study_date.isoformat())  # type: ignore[union-attr]
        painter.end()


def _date(text: str, which: str) -> dt.date | None:
    text = text.strip()
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise ServerConfigError(f"the date {which} '{text}' is not YYYY-MM-DD") from exc
