"""The new-lesion finder in the window: search the active view's visit, then confirm or dismiss.

The search runs in a worker (it may read both visits). Each candidate is one click from its place:
selecting it moves every view there; *Confirm* makes it a new lesion and grows it from its centre
as a preview to accept; *Dismiss* takes it off the list.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from viewer.analysis.new_lesions import Candidate
from viewer.core.progress import CancelCheck, ProgressCallback
from viewer.io import load_series
from viewer.state.annotations import Annotations
from viewer.state.compare_controller import ComparisonController
from viewer.state.new_lesion_search import SearchPlan, plan_search, run_search
from viewer.ui.workers import TaskRunner

CANDIDATE_ROLE = Qt.ItemDataRole.UserRole


class CandidatesPanel(QWidget):
    """Search button, the candidates, and what to do with the chosen one.

    Signals
    -------
    jump_requested(str, object)
        Series key and the reference-frame point (ndarray (3,), LPS mm) to show.
    confirmed(str, object)
        The reader confirmed a candidate on this series: make it a lesion at that point.
    message(str)
    """

    jump_requested = Signal(str, object)
    confirmed = Signal(str, object)
    message = Signal(str)

    def __init__(
        self,
        comparison: ComparisonController,
        annotations: Annotations,
        runner: TaskRunner,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.comparison = comparison
        self.annotations = annotations
        self.runner = runner
        self._series_key: str | None = None
        layout = QVBoxLayout(self)
        intro = QLabel(
            "Subtracts the previous visit of the same kind (registered, intensities normalised) "
            "from the active view's visit and lists new enhancement away from the lesions "
            "already outlined. Check each one: vessels and dura can enhance too."
        )
        intro.setWordWrap(True)
        intro.setStyleSheet("color: #8f96a3")
        layout.addWidget(intro)
        self.search_button = QPushButton("Find new lesions on the active view's visit")
        self.search_button.clicked.connect(self.search)
        layout.addWidget(self.search_button)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        self.list = QListWidget()
        self.list.currentItemChanged.connect(self._on_current)
        layout.addWidget(self.list, 1)
        buttons = QHBoxLayout()
        self.confirm_button = QPushButton("Confirm as new lesion")
        self.confirm_button.setToolTip(
            "Add a lesion here and grow it from the candidate's centre (a preview: Enter accepts)"
        )
        self.confirm_button.clicked.connect(self._confirm)
        self.dismiss_button = QPushButton("Dismiss")
        self.dismiss_button.setToolTip("Not a lesion: take it off the list")
        self.dismiss_button.clicked.connect(self._dismiss)
        buttons.addWidget(self.confirm_button)
        buttons.addWidget(self.dismiss_button)
        layout.addLayout(buttons)
        runner.succeeded.connect(self._on_found)
        runner.failed.connect(self._on_failed)
        runner.cancelled.connect(lambda _: self.status.setText("Search cancelled"))
        runner.busy_changed.connect(lambda busy: self.search_button.setEnabled(not busy))
        self._update_buttons()

    # --- searching -------------------------------------------------------------------------

    def search(self) -> None:
        """Search the active view's visit against the visit before it (in a worker)."""
        key = self.comparison.view_key(self.comparison.state.active)
        if key is None:
            self.status.setText("Show a visit in the active view first")
            return
        catalog = self.comparison.session.catalog
        plan = plan_search(catalog, key)
        if isinstance(plan, str):
            self.status.setText(plan)
            return
        self.list.clear()
        self._series_key = key
        self.status.setText(
            f"Comparing {self.comparison.series_label(plan.current.key)} with "
            f"{self.comparison.series_label(plan.previous.key)}…"
        )
        in_memory = {
            k: found.volume
            for k in (plan.current.key, plan.previous.key)
            if (found := self.comparison.loaded(k)) is not None
        }
        entries = {plan.current.key: plan.current, plan.previous.key: plan.previous}
        labels = {
            k: v.copy()
            for k in entries
            if (v := self.annotations.labels(k)) is not None  # copies: outlining goes on
        }
        matrices = {k: self.comparison.registrations.patient2reference(k) for k in entries}

        def work(progress: ProgressCallback, cancelled: CancelCheck) -> list[Candidate]:
            def load(k: str):
                return in_memory[k] if k in in_memory else load_series(entries[k])

            return run_search(plan, load, labels, matrices.get, cancelled=cancelled)

        self.runner.start(work, context=plan)

    def _on_found(self, plan: object, found: object) -> None:
        assert isinstance(plan, SearchPlan)
        candidates: list[Candidate] = list(found)  # type: ignore[call-overload]
        self.list.clear()
        for number, candidate in enumerate(candidates, start=1):
            distance = candidate.distance_to_known_mm
            away = "" if not np.isfinite(distance) else f", {distance:.0f} mm from known lesions"
            item = QListWidgetItem(
                f"{number}. {candidate.volume_ml:.2f} mL, up to "
                f"+{candidate.peak_change:.3g} {candidate.units}{away}"
            )
            item.setToolTip(candidate.reason)
            item.setData(CANDIDATE_ROLE, candidate)
            self.list.addItem(item)
        if candidates:
            self.status.setText(
                f"{len(candidates)} candidate{'s' if len(candidates) != 1 else ''}: select one "
                "to see it, then confirm or dismiss it"
            )
            self.list.setCurrentRow(0)
        else:
            self.status.setText("No new enhancement found away from the outlined lesions")
        self._update_buttons()

    def _on_failed(self, _: object, text: str) -> None:
        self.status.setText(f"The search failed: {text}")

    # --- the chosen candidate --------------------------------------------------------------

    def current(self) -> Candidate | None:
        """The selected candidate."""
        item = self.list.currentItem()
        return None if item is None else item.data(CANDIDATE_ROLE)

    def _on_current(self, *_: object) -> None:
        candidate = self.current()
        if candidate is not None and self._series_key is not None:
            self.jump_requested.emit(self._series_key, np.array(candidate.centre_reference_mm))
        self._update_buttons()

    def _confirm(self) -> None:
        candidate = self.current()
        if candidate is None or self._series_key is None:
            return
        self.confirmed.emit(self._series_key, np.array(candidate.centre_reference_mm))
        self.list.takeItem(self.list.currentRow())
        self._update_buttons()

    def _dismiss(self) -> None:
        if self.current() is not None:
            self.list.takeItem(self.list.currentRow())
            self.message.emit("Candidate dismissed")
        self._update_buttons()

    def _update_buttons(self) -> None:
        chosen = self.current() is not None
        self.confirm_button.setEnabled(chosen and not self.annotations.read_only)
        self.dismiss_button.setEnabled(chosen)
