"""Registration in the app: "Register all visits" in a worker, accepting, landmarks and nudging.

The automatic registrations run one after another in their own thread (SimpleITK releases the
GIL while it optimises, so the window stays responsive); each result is stored as soon as it is
found, so the views straighten up visit by visit.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QObject, Qt, QThreadPool, Signal
from PySide6.QtGui import QKeyEvent

from viewer.core.progress import CancelCheck, ProgressCallback
from viewer.core.transform import Registration, RegistrationState
from viewer.core.volume import Volume
from viewer.display.slicing import plane_axes
from viewer.io.load import load_series
from viewer.state.compare_controller import ComparisonController
from viewer.state.manual import LandmarkEditor, nudge_series
from viewer.state.pane_overlay import Landmark
from viewer.state.registrations import RegistrationStore, registration_jobs, run_jobs
from viewer.state.session import Session
from viewer.ui.compare_view import ComparisonView
from viewer.ui.registration_panel import RegistrationPanel
from viewer.ui.workers import TaskRunner

USER_STATES = (RegistrationState.MANUAL, RegistrationState.ACCEPTED)
"""Registrations the user made or checked; an automatic result arriving later keeps off them."""
NUDGE_STEP_MM = 1.0
NUDGE_STEP_DEG = 1.0
NUDGE_FAST = 5.0
"""Shift multiplies the nudge steps by this."""


class RegistrationRunner(QObject):
    """Runs and fixes registrations for the main window.

    Signals
    -------
    message(str)
        Something to tell the user in the status bar.
    progress(int, int, str)
        done, total, message of "Register all visits".
    busy_changed(bool)
    """

    message = Signal(str)
    progress = Signal(int, int, str)
    busy_changed = Signal(bool)
    _result_ready = Signal(object)  # a Registration, from the worker thread

    def __init__(
        self,
        session: Session,
        registrations: RegistrationStore,
        comparison: ComparisonController,
        register: Callable[..., object],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.registrations = registrations
        self.comparison = comparison
        self._register = register
        self.landmarks = LandmarkEditor(registrations)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(1)
        self.runner = TaskRunner(self.pool, self)
        self.runner.progress.connect(self.progress)
        self.runner.busy_changed.connect(self.busy_changed)
        self.runner.succeeded.connect(self._on_done)
        self.runner.failed.connect(self._on_failed)
        self.runner.cancelled.connect(self._on_cancelled)
        self._result_ready.connect(self._store)
        self.nudging = False
        self._view: ComparisonView | None = None
        self._panel: RegistrationPanel | None = None

    @property
    def busy(self) -> bool:
        """Whether registrations are running."""
        return self.runner.busy

    # --- register all ----------------------------------------------------------------------

    def register_all(self, *, quiet: bool = False) -> None:
        """Register every visit to the reference series in the background.

        ``quiet``: say nothing when there is nothing to register (when a case opens).
        """
        reference = self.registrations.reference_key
        if reference is None:
            if not quiet:
                self.message.emit("Open a case first: there is no reference series.")
            return
        jobs = registration_jobs(self.session.catalog, reference)
        if quiet:  # opening a case: registrations restored from its file are kept
            jobs = [
                job
                for job in jobs
                if self.registrations.state(job.moving_key) is RegistrationState.NOT_REGISTERED
            ]
        if not jobs:
            if not quiet:
                self.message.emit("Nothing to register: every series shares the reference's frame.")
            return
        # volumes already in memory are reused; the others are read in the worker
        in_memory: dict[str, Volume] = {}
        entries = {}
        for key in [reference] + [job.moving_key for job in jobs]:
            found = self.comparison.loaded(key)
            if found is not None:
                in_memory[key] = found.volume
            entries[key] = self.session.entry(key)
        register, ready = self._register, self._result_ready

        def load(key: str) -> Volume:
            return in_memory[key] if key in in_memory else load_series(entries[key])

        def work(progress: ProgressCallback, cancelled: CancelCheck) -> int:
            return run_jobs(
                jobs,
                reference,
                load=load,
                register=register,
                on_result=ready.emit,  # queued to the GUI thread
                progress=progress,
                cancelled=cancelled,
            )

        self.runner.start(work, context=reference)

    def cancel(self) -> None:
        """Stop registering; the visits already registered keep their result."""
        self.runner.cancel()

    def shutdown(self, wait_ms: int) -> None:
        """Stop the worker and wait for it (on closing)."""
        self.runner.cancel_all()
        self.pool.waitForDone(wait_ms)

    def _store(self, registration: Registration) -> None:
        if registration.reference_key != self.registrations.reference_key:
            return  # the reference changed while it ran
        if self.registrations.state(registration.series_key) in USER_STATES:
            return  # the user fixed or accepted this visit meanwhile: their work wins
        self.registrations.put(registration)

    def _on_done(self, _: object, count: int) -> None:
        self.message.emit(
            f"Registered {count} visit{'s' if count != 1 else ''}: check each with the "
            "checkerboard, then Accept (or fix it with landmarks or nudging)"
        )

    def _on_failed(self, _: object, text: str) -> None:
        self.message.emit(f"Registration failed: {text}")

    def _on_cancelled(self, _: object) -> None:
        self.message.emit("Registration cancelled; the visits already registered keep it")

    # --- views and panel -------------------------------------------------------------------

    def connect_views(self, view: ComparisonView, panel: RegistrationPanel) -> None:
        """Wire the comparison views and the registration panel to the tools."""
        self._view, self._panel = view, panel
        panel.register_all_requested.connect(self.register_all)
        panel.accept_requested.connect(self.accept)
        panel.landmarks_toggled.connect(self.set_landmark_mode)
        panel.nudge_toggled.connect(self.set_nudging)
        panel.apply_landmarks_requested.connect(self.apply_landmarks)
        for pane in view.panes:
            pane.clicked.connect(self.add_landmark)
            pane.key_handler = self.handle_key
            pane.markers = self._markers
        self.landmarks.changed.connect(view.invalidate)

    def _target(self) -> str | None:
        return self.comparison.view_key(self.comparison.state.active)

    def accept(self) -> None:
        """Accept the active view's registration."""
        key = self._target()
        if key is not None:
            self.registrations.accept(key)

    def set_landmark_mode(self, on: bool) -> None:
        """Clicks place landmarks (on) or move the crosshair (off)."""
        key = self._target()
        if on:
            if key is None or self.registrations.is_reference(key):
                self.message.emit("Make the view of the visit to fix active first (click it)")
                if self._panel is not None:
                    self._panel.landmark_button.setChecked(False)
                return
            self.landmarks.start(key)
            self.message.emit(
                "Landmarks: click a point on the reference view, then the same point on view "
                f"{self.comparison.state.active + 1}; 3 pairs or more"
            )
        if self._view is not None:
            for pane in self._view.panes:
                pane.landmark_mode = on
            self._view.invalidate()

    def add_landmark(self, index: int, point_mm: np.ndarray) -> None:
        """Add a landmark clicked on a view."""
        key = self.comparison.view_key(index)
        if key is None:
            return
        try:
            self.landmarks.add(key, point_mm)
        except ValueError as exc:
            self.message.emit(str(exc))

    def apply_landmarks(self) -> None:
        """Use the landmark fit as the registration (state manual)."""
        try:
            registration = self.landmarks.apply()
        except ValueError as exc:
            self.message.emit(str(exc))
            return
        worst = max(registration.landmark_residuals_mm)
        self.message.emit(f"Landmark registration applied (largest residual {worst:.1f} mm)")

    def _markers(self, index: int) -> list[Landmark]:
        if self._view is None or not self._view.panes[index].landmark_mode:
            return []
        key = self.comparison.view_key(index)
        return [Landmark(point, label) for point, label in self.landmarks.markers(key)]

    def set_nudging(self, on: bool) -> None:
        """Keys move the active view's visit (on) or scroll (off)."""
        self.nudging = on
        if on:
            self.message.emit(
                "Nudge: arrows and Page Up/Down shift the visit 1 mm, [ and ] rotate it 1° "
                "about the crosshair; Shift for 5x"
            )

    def handle_key(self, index: int, event: QKeyEvent) -> bool:
        """Nudge the view's visit with a key; return whether the key was used."""
        if not self.nudging:
            return False
        key = self.comparison.view_key(index)
        if key is None or self.registrations.is_reference(key):
            return False
        fast = NUDGE_FAST if event.modifiers() & Qt.KeyboardModifier.ShiftModifier else 1.0
        right, down, axis = plane_axes(self.comparison.view_plane(index))
        moves = {
            Qt.Key.Key_Left: -right,
            Qt.Key.Key_Right: right,
            Qt.Key.Key_Up: -down,
            Qt.Key.Key_Down: down,
            Qt.Key.Key_PageUp: axis,
            Qt.Key.Key_PageDown: -axis,
        }
        turns = {Qt.Key.Key_BracketLeft: -1.0, Qt.Key.Key_BracketRight: 1.0}
        pressed = Qt.Key(event.key())
        if pressed in moves:
            shift = moves[pressed] * NUDGE_STEP_MM * fast
            nudge_series(self.registrations, key, translate_mm=shift)
        elif pressed in turns:
            angles = axis * turns[pressed] * NUDGE_STEP_DEG * fast
            nudge_series(
                self.registrations,
                key,
                rotate_deg=angles,
                center_mm=self.comparison.state.crosshair_mm,
            )
        else:
            return False
        return True
