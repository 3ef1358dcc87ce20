"""The caliper as a tool of the window: its actions (M, reset) and its hook on every view."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction

from viewer.state.annotations import Annotations
from viewer.state.calipers import CaliperStore
from viewer.state.compare_controller import ComparisonController
from viewer.state.outlining import OutliningController, Tool
from viewer.state.tracking import Tracking
from viewer.ui.caliper_input import CaliperInput
from viewer.ui.compare_view import ComparisonView


class CaliperTool(QObject):
    """Arms the caliper (M), resets a hand measurement, and keeps it apart from outlining.

    Signals
    -------
    message(str)
    """

    message = Signal(str)

    def __init__(
        self,
        comparison: ComparisonController,
        tracking: Tracking,
        store: CaliperStore,
        annotations: Annotations,
        outlining: OutliningController,
        view: ComparisonView,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.comparison, self.store, self.annotations = comparison, store, annotations
        self.outlining = outlining
        self.input = CaliperInput(comparison, tracking, store, annotations)
        for pane in view.panes:
            pane.caliper_input = self.input
        self.arm_action = QAction("Caliper", self, checkable=True)
        self.arm_action.setShortcut("M")
        self.arm_action.setToolTip(
            "Measure a lesion by hand (M): drag its long axis on an axial view, then adjust the "
            "ends; drag the ends of a drawn caliper any time. The hand measurement replaces the "
            "automatic one in the response"
        )
        self.arm_action.toggled.connect(self._arm)
        self.reset_action = QAction("Reset caliper to automatic", self)
        self.reset_action.setToolTip(
            "Forget the hand measurement of the active lesion on the active view's visit"
        )
        self.reset_action.triggered.connect(self.reset)
        outlining.settings.events.tool.connect(self._disarm)
        tracking.changed.connect(view.invalidate)

    def _arm(self, on: bool) -> None:
        self.input.armed = on
        if on:
            self.outlining.settings.tool = Tool.NAVIGATE

    def _disarm(self, *_: object) -> None:
        if self.outlining.settings.tool is not Tool.NAVIGATE:
            self.arm_action.setChecked(False)

    def reset(self) -> None:
        """Back to the automatic diameters of the active lesion on the active view's visit."""
        key = self.comparison.view_key(self.comparison.state.active)
        lesion = self.annotations.active
        if key is None or lesion is None or self.store.manual(key, lesion) is None:
            self.message.emit("The active lesion has no hand measurement on this visit")
            return
        self.store.reset(key, lesion)
        self.message.emit("Back to the automatic diameters")
