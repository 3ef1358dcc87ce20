"""The registration panel: the reference, each series' registration state, and the fixing tools."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from viewer.core.transform import RegistrationState
from viewer.state.compare_controller import ComparisonController
from viewer.state.manual import MIN_PAIRS, LandmarkEditor
from viewer.state.registrations import REFERENCE_METHOD

KEY_ROLE = Qt.ItemDataRole.UserRole


class RegistrationPanel(QWidget):
    """Shows and drives the registration of every series to the reference.

    Signals
    -------
    register_all_requested()
    accept_requested()
    landmarks_toggled(bool)
    nudge_toggled(bool)
    apply_landmarks_requested()
    """

    register_all_requested = Signal()
    accept_requested = Signal()
    landmarks_toggled = Signal(bool)
    nudge_toggled = Signal(bool)
    apply_landmarks_requested = Signal()

    def __init__(
        self,
        controller: ComparisonController,
        landmarks: LandmarkEditor,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.controller = controller
        self.landmarks = landmarks
        layout = QVBoxLayout(self)

        row = QHBoxLayout()
        row.addWidget(QLabel("Reference"))
        self.reference_combo = QComboBox()
        self.reference_combo.setToolTip(
            "Every visit is aligned to this series (by default the baseline contrast MRI)"
        )
        self.reference_combo.activated.connect(self._on_reference_chosen)
        row.addWidget(self.reference_combo, 1)
        layout.addLayout(row)

        self.register_button = QPushButton("Register all visits")
        self.register_button.setToolTip(
            "Align every visit to the reference (rigid, mutual information); runs in the "
            "background with progress and Cancel"
        )
        self.register_button.clicked.connect(self.register_all_requested)
        layout.addWidget(self.register_button)

        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["Series", "State", "How"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QTableWidget.SelectionMode.NoSelection)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        layout.addWidget(self.table, 2)

        self.target_label = QLabel()
        self.target_label.setWordWrap(True)
        layout.addWidget(self.target_label)
        buttons = QHBoxLayout()
        self.accept_button = QPushButton("Accept")
        self.accept_button.setToolTip("Mark the active view's registration as checked")
        self.accept_button.clicked.connect(self.accept_requested)
        self.landmark_button = QPushButton("Landmarks")
        self.landmark_button.setCheckable(True)
        self.landmark_button.setToolTip(
            "Click the same points on the reference view and on the active view's visit "
            "(3 or more pairs) for a rigid fit"
        )
        self.landmark_button.toggled.connect(self.landmarks_toggled)
        self.nudge_button = QPushButton("Nudge")
        self.nudge_button.setCheckable(True)
        self.nudge_button.setToolTip(
            "Move the active view's visit with the keys: arrows and Page Up/Down shift 1 mm, "
            "[ and ] rotate 1°, Shift for 5x"
        )
        self.nudge_button.toggled.connect(self.nudge_toggled)
        for button in (self.accept_button, self.landmark_button, self.nudge_button):
            buttons.addWidget(button)
        layout.addLayout(buttons)

        self.landmark_box = QGroupBox("Landmarks")
        box = QVBoxLayout(self.landmark_box)
        self.landmark_hint = QLabel()
        self.landmark_hint.setWordWrap(True)
        box.addWidget(self.landmark_hint)
        self.landmark_table = QTableWidget(0, 2)
        self.landmark_table.setHorizontalHeaderLabels(["Pair", "Residual (mm)"])
        self.landmark_table.verticalHeader().hide()
        self.landmark_table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.landmark_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        box.addWidget(self.landmark_table)
        landmark_buttons = QHBoxLayout()
        self.apply_button = QPushButton("Apply fit")
        self.apply_button.clicked.connect(self.apply_landmarks_requested)
        self.undo_button = QPushButton("Remove last")
        self.undo_button.clicked.connect(landmarks.remove_last)
        self.clear_button = QPushButton("Clear")
        self.clear_button.clicked.connect(landmarks.clear)
        for button in (self.apply_button, self.undo_button, self.clear_button):
            landmark_buttons.addWidget(button)
        box.addLayout(landmark_buttons)
        self.landmark_box.setVisible(False)
        layout.addWidget(self.landmark_box, 1)

        controller.registrations.changed.connect(self.refresh)
        controller.session.catalog_changed.connect(self.refresh)
        controller.state.events.active.connect(self.refresh)
        controller.state.events.panes.connect(self.refresh)
        controller.state.events.date_format.connect(self.refresh)
        landmarks.changed.connect(self.refresh_landmarks)
        self.landmarks_toggled.connect(self.landmark_box.setVisible)
        self.refresh()

    def target_key(self) -> str | None:
        """The series the tools act on: the active view's."""
        return self.controller.view_key(self.controller.state.active)

    def refresh(self, *_: object) -> None:
        """Show every series' registration, and what the tools would act on."""
        controller, store = self.controller, self.controller.registrations
        keys = [
            s.key
            for p in controller.session.catalog.patients
            for v in p.visits
            for s in v.series
            if not s.is_localizer
        ]
        self.reference_combo.blockSignals(True)
        self.reference_combo.clear()
        for key in keys:
            self.reference_combo.addItem(controller.series_label(key), key)
        if store.reference_key in keys:
            self.reference_combo.setCurrentIndex(keys.index(store.reference_key))
        self.reference_combo.blockSignals(False)

        self.table.setRowCount(len(keys))
        for row, key in enumerate(keys):
            record = store.record(key)
            state = "reference" if record.method == REFERENCE_METHOD else record.state.value
            how = record.method
            if record.metric_value is not None:
                how += f", MI {record.metric_value:.3f}"
            if record.elapsed_s is not None:
                how += f", {record.elapsed_s:.1f} s"
            if record.landmark_residuals_mm:
                how += f", max residual {max(record.landmark_residuals_mm):.1f} mm"
            for column, text in enumerate((controller.series_label(key), state, how)):
                item = QTableWidgetItem(text)
                item.setData(KEY_ROLE, key)
                self.table.setItem(row, column, item)

        target = self.target_key()
        movable = target is not None and not store.is_reference(target)
        if target is None:
            self.target_label.setText("The active view is empty.")
        else:
            view = controller.state.active + 1
            self.target_label.setText(
                f"Active view {view}: {controller.series_label(target)} — "
                f"{controller.registration_text(target)}"
            )
        self.accept_button.setEnabled(
            movable and store.state(target) is not RegistrationState.NOT_REGISTERED  # type: ignore[arg-type]
        )
        self.landmark_button.setEnabled(movable or self.landmark_button.isChecked())
        self.nudge_button.setEnabled(movable or self.nudge_button.isChecked())
        self.refresh_landmarks()

    def refresh_landmarks(self) -> None:
        """Show the landmark pairs and their residuals after the fit."""
        editor = self.landmarks
        try:
            fit = editor.fit()
            problem = ""
        except ValueError as exc:
            fit, problem = None, str(exc)
        rows = max(len(editor.reference_points), len(editor.moving_points))
        self.landmark_table.setRowCount(rows)
        for i in range(rows):
            sides = "R" if i < len(editor.reference_points) else "–"
            sides += " + M" if i < len(editor.moving_points) else " + –"
            residual = f"{fit.residuals_mm[i]:.2f}" if fit and i < len(fit.residuals_mm) else ""
            self.landmark_table.setItem(i, 0, QTableWidgetItem(f"{i + 1}: {sides}"))
            self.landmark_table.setItem(i, 1, QTableWidgetItem(residual))
        pairs = editor.pairs()
        if problem:
            hint = problem
        elif pairs < MIN_PAIRS:
            hint = (
                f"{pairs} of at least {MIN_PAIRS} pairs. Click a point on the reference view, "
                "then the same point on the visit being fixed."
            )
        else:
            rms = (sum(r * r for r in fit.residuals_mm) / len(fit.residuals_mm)) ** 0.5  # type: ignore[union-attr]
            hint = f"{pairs} pairs: RMS residual {rms:.2f} mm. Apply to use the fit."
        self.landmark_hint.setText(hint)
        self.apply_button.setEnabled(fit is not None)

    def _on_reference_chosen(self, row: int) -> None:
        key = self.reference_combo.itemData(row)
        if key and key != self.controller.registrations.reference_key:
            self.controller.set_reference(str(key))
