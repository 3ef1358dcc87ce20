"""Connects the outlining panel, the views' mouse and the keys to the outlines of the open case."""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QWidget

from viewer.state.annotations import Annotations
from viewer.state.compare_controller import ComparisonController
from viewer.state.outlining import OutliningController, Tool, ViewGeometry
from viewer.ui.compare_view import ComparisonView
from viewer.ui.lesion_panel import LesionPanel
from viewer.ui.outline_input import OutlineInput


class OutliningHub(QObject):
    """The outlining tools in the window.

    Parameters
    ----------
    annotations : Annotations
    tools : OutliningController
    comparison : ComparisonController
    view : ComparisonView
        Its panes get the tools' mouse input and repaint when outlines change.
    window : QWidget
        Where the keyboard shortcuts live.

    Signals
    -------
    message(str)
        Status line text.
    """

    message = Signal(str)

    def __init__(
        self,
        annotations: Annotations,
        tools: OutliningController,
        comparison: ComparisonController,
        view: ComparisonView,
        window: QWidget,
    ) -> None:
        super().__init__(window)
        self.annotations = annotations
        self.tools = tools
        self.comparison = comparison
        self.view = view
        self.panel = LesionPanel(annotations, tools)
        self.input = OutlineInput(comparison, tools)
        for pane in view.panes:
            pane.outline_input = self.input
        for action in [*self.panel.tool_actions.values(), *self.panel.option_actions.values()]:
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            window.addAction(action)
        self.undo_action = self._action(window, "Undo", QKeySequence.StandardKey.Undo, self.undo)
        self.redo_action = self._action(window, "Redo", QKeySequence.StandardKey.Redo, self.redo)
        # Enter and Escape are the views' keys: a name being typed in the panel keeps them
        self.input.on_accept, self.input.on_cancel = self._accept, self._cancel
        self.panel.action_requested.connect(self.run)
        tools.message.connect(self.message)
        annotations.labels_changed.connect(self._on_labels)
        annotations.proposal_changed.connect(self._repaint)
        annotations.lesions_changed.connect(self._on_lesions)
        annotations.style.events.connect(self._repaint)
        comparison.state.events.active.connect(self.follow_active)
        comparison.state.events.panes.connect(self.follow_active)
        comparison.session.status_changed.connect(self.follow_active)
        tools.settings.events.tool.connect(self._on_tool)
        self.follow_active()

    @staticmethod
    def _action(window: QWidget, text: str, key: object, slot: object) -> QAction:
        action = QAction(text, window)
        action.setShortcut(key)  # type: ignore[arg-type]
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.triggered.connect(slot)  # type: ignore[arg-type]
        window.addAction(action)
        return action

    # --- the active view -------------------------------------------------------------------

    def active_key(self) -> str | None:
        """The series of the active comparison view."""
        return self.comparison.view_key(self.comparison.state.active)

    def active_geometry(self) -> ViewGeometry | None:
        """The active view's grid in its series' native grid, or None until it is loaded."""
        index = self.comparison.state.active
        pane = self.view.panes[index]
        return self.comparison.view_geometry(index, pane.viewport_px())

    def follow_active(self, *_: object) -> None:
        """The panel shows volumes, carry sources and undo of the active view's series."""
        key = self.active_key()
        found = self.comparison.loaded(key)
        self.panel.set_current_series(key, found.volume.voxel_volume_ml if found else None)
        session = self.comparison.session
        sources = []
        for other in self.annotations.label_maps():
            if other != key and session.knows(other):
                sources.append((other, self.comparison.series_label(other)))
        self.panel.set_carry_sources(sources)
        self.panel.set_undo_text(*self.annotations.undo_text(key))
        if key is not None:
            self.undo_action.setText(_menu_text("Undo", self.annotations.undo_text(key)[0]))
            self.redo_action.setText(_menu_text("Redo", self.annotations.undo_text(key)[1]))

    # --- actions ---------------------------------------------------------------------------

    def run(self, name: str) -> None:
        """Run a panel action on the active view's series."""
        if name == "undo":
            self.undo()
        elif name == "redo":
            self.redo()
        elif name == "accept":
            self._accept()
        elif name == "discard":
            self.annotations.discard_proposal()
        elif self.annotations.read_only:
            self.message.emit("The case is open read-only: outlines cannot be changed")
        else:
            target = self.active_geometry()
            if target is None:
                self.message.emit("Wait until the active view has loaded its visit")
                return
            self._whole_lesion(name, target)

    def _whole_lesion(self, name: str, target: ViewGeometry) -> None:
        if name == "carry":
            source = self.panel.carry_source()
            found = self.comparison.loaded(source)
            if source is None:
                self.message.emit("No other visit has outlines to carry forward yet")
            elif found is None:
                self.message.emit("That visit is not loaded: show it in a view first")
            else:
                self.tools.carry_forward(source, found.volume, target)
            return
        action = {
            "refit": self.tools.refit,
            "fill_between": self.tools.fill_between,
            "islands": self.tools.remove_islands,
            "holes": self.tools.fill_holes,
            "smooth": self.tools.smooth,
        }.get(name)
        if action is not None:
            action(target)

    def undo(self) -> None:
        """Undo the newest edit on the active view's series (Ctrl+Z)."""
        self._step(undo=True)

    def redo(self) -> None:
        """Redo on the active view's series (Ctrl+Shift+Z)."""
        self._step(undo=False)

    def _step(self, *, undo: bool) -> None:
        key = self.active_key()
        if key is None or self.annotations.read_only:
            return
        done = self.annotations.undo(key) if undo else self.annotations.redo(key)
        verb = "Undid" if undo else "Redid"
        self.message.emit(f"{verb}: {done}" if done else f"Nothing to {'undo' if undo else 'redo'}")

    def _accept(self) -> None:
        if self.tools.settings.tool is Tool.POLYGON and self.tools.path:
            self.tools.close_polygon()
        elif self.tools.accept():
            self.message.emit("Preview accepted (Ctrl+Z undoes it)")

    def _cancel(self) -> None:
        self.tools.cancel()
        self._repaint()

    # --- keeping the views in step ---------------------------------------------------------

    def _on_labels(self, key: str) -> None:
        self._repaint()
        if key in ("", self.active_key()):
            self.follow_active()

    def _on_lesions(self) -> None:
        self._repaint()

    def _on_tool(self, *_: object) -> None:
        self._repaint()
        for pane in self.view.panes:
            cursor = Qt.CursorShape.CrossCursor if self.tools.active else Qt.CursorShape.ArrowCursor
            pane.setCursor(cursor)

    def _repaint(self, *_: object) -> None:
        self.view.invalidate()


def _menu_text(verb: str, description: str | None) -> str:
    return f"{verb} {description}" if description else verb
