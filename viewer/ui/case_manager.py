"""The case file in the window: open, recover, autosave, save, save as, recent cases, quitting.

Nothing here may lose work: a failed save leaves the case marked unsaved and says why (with the
path), a crash leaves a journal that the next start offers to restore, and quitting with unsaved
changes asks first and stays open if the save fails.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QObject, QSettings, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog, QLabel, QMainWindow, QMenu, QMessageBox

from viewer.errors import IntervalError
from viewer.io.case_file import clear_journal
from viewer.state.annotations import Annotations
from viewer.state.case_session import (
    AUTOSAVE_INTERVAL_S,
    CASE_SUFFIX,
    CaseSession,
    OpenReport,
    case_folder_of,
)
from viewer.ui.workers import readable_error

RECENT_KEY = "recent_cases"
MAX_RECENT = 8
AFTER_ACTION_DELAY_MS = 1500
"""Autosave this long after the last tool action: a stroke burst is written once, not per dab."""


class CaseManager(QObject):
    """The case file's life in the window.

    Parameters
    ----------
    window : QMainWindow
        Parent of the dialogs; its title gets a ``*`` while there are unsaved changes.
    case_session : CaseSession
    settings : QSettings, optional
        Where the recent cases list is kept (the application's settings by default).

    Signals
    -------
    message(str)
        A status line.
    open_requested(list)
        The reader chose a recent case: the image paths to open.
    """

    message = Signal(str)
    open_requested = Signal(list)

    def __init__(
        self,
        window: QMainWindow,
        case_session: CaseSession,
        settings: QSettings | None = None,
    ) -> None:
        super().__init__(window)
        self.window = window
        self.case_session = case_session
        self.annotations: Annotations = case_session.annotations
        self.settings = settings if settings is not None else QSettings("Interval", "Interval")
        self.paths: list[str] = []
        self.read_only_label = QLabel("")
        self.read_only_label.setStyleSheet("color: #ff7b72; font-weight: bold; padding: 0 6px")
        self.read_only_label.setVisible(False)
        self.autosave_timer = QTimer(self)
        self.autosave_timer.setInterval(AUTOSAVE_INTERVAL_S * 1000)
        self.autosave_timer.timeout.connect(self.autosave)
        self.after_action = QTimer(self)
        self.after_action.setSingleShot(True)
        self.after_action.setInterval(AFTER_ACTION_DELAY_MS)
        self.after_action.timeout.connect(self.autosave)
        self.annotations.edited.connect(lambda: self.after_action.start())
        self.annotations.dirty_changed.connect(self._show_dirty)
        self.save_action = QAction("Save case", window)
        self.save_action.setShortcut(QKeySequence.StandardKey.Save)
        self.save_action.setToolTip("Save the outlines, lesions, registrations and layout (Ctrl+S)")
        self.save_action.triggered.connect(self.save)
        self.save_as_action = QAction("Save case as…", window)
        self.save_as_action.setShortcut(QKeySequence.StandardKey.SaveAs)
        self.save_as_action.triggered.connect(self.save_as)
        self.recent_menu = QMenu("Open recent", window)
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        self._autosave_warned = False

    # --- opening ---------------------------------------------------------------------------

    def open_for(self, paths: Sequence[str]) -> OpenReport:
        """Open the case of the images just scanned (after the catalogue is shown)."""
        self.autosave_timer.stop()
        self.after_action.stop()
        self.paths = [str(Path(p).resolve()) for p in paths]
        folder = case_folder_of(self.paths)
        report = self.case_session.open(folder)
        if report.error is not None:
            self._refuse(report)
        elif report.journal is not None:
            self._offer_recovery(report)
        self._show_read_only(report)
        for text in report.messages:
            self.message.emit(text)
        if not report.read_only:
            self.autosave_timer.start()
        self._remember(folder)
        self._show_dirty()
        return report

    def _refuse(self, report: OpenReport) -> None:
        QMessageBox.warning(
            self.window,
            "Case not opened",
            f"The saved case in {report.folder} could not be opened:\n\n{report.error}\n\n"
            "Nothing in the folder was changed, and the images are shown without outlines "
            "(read-only). The previous version is kept as manifest.json.bak in that folder.",
        )

    def _offer_recovery(self, report: OpenReport) -> None:
        journal = report.journal
        assert journal is not None
        lesions = len(journal.lesions)
        answer = QMessageBox.question(
            self.window,
            "Restore unsaved work?",
            "Interval was closed without saving this case (a crash or power cut?).\n\n"
            f"The recovery journal in {report.folder} holds {lesions} lesion"
            f"{'s' if lesions != 1 else ''} with unsaved outlines.\n\n"
            "Restore them? (No keeps the last saved version and deletes the journal.)",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.Yes,
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.case_session.restore(journal, dirty=True)
            self.message.emit("Unsaved work restored from the recovery journal: save it (Ctrl+S)")
        else:
            try:
                clear_journal(report.folder)
            except OSError as exc:
                self.message.emit(f"The recovery journal could not be deleted: {exc}")

    def _show_read_only(self, report: OpenReport) -> None:
        reason = next(iter(report.messages), "") if report.read_only else ""
        if report.error is not None:
            reason = f"the saved case could not be opened: {report.error}"
        read_only = report.read_only or report.error is not None
        self.read_only_label.setText("Read-only case" if read_only else "")
        self.read_only_label.setToolTip(reason)
        self.read_only_label.setVisible(read_only)

    # --- saving ----------------------------------------------------------------------------

    def save(self) -> bool:
        """Save to the case folder; on failure say why (with the path) and offer Save As."""
        if self.case_session.folder is None:
            self.message.emit("Open a case first")
            return False
        if self.case_session.read_only:
            return self._failed_save(
                "This case is open read-only (another Interval has it, or its folder cannot be "
                "written)."
            )
        try:
            folder = self.case_session.save()
        except (IntervalError, OSError) as exc:
            return self._failed_save(readable_error(exc))
        self.message.emit(f"Saved the case to {folder}")
        return True

    def _failed_save(self, reason: str) -> bool:
        box = QMessageBox(
            QMessageBox.Icon.Critical,
            "Not saved",
            f"The case was NOT saved:\n\n{reason}\n\nYour changes are still here, unsaved. "
            "Save them to another folder?",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Cancel,
            self.window,
        )
        box.button(QMessageBox.StandardButton.Save).setText("Save as…")
        if box.exec() == QMessageBox.StandardButton.Save:
            return self.save_as()
        return False

    def save_as(self) -> bool:
        """Save into a folder the reader chooses (a new ``*.interval`` folder inside it)."""
        chosen = QFileDialog.getExistingDirectory(self.window, "Save the case in a folder")
        if not chosen:
            return False
        folder = Path(chosen)
        if not folder.name.endswith(CASE_SUFFIX):
            stem = Path(self.paths[0]).name if self.paths else "case"
            folder = folder / f"{stem}{CASE_SUFFIX}"
        try:
            saved = self.case_session.save(folder)
        except (IntervalError, OSError) as exc:
            return self._failed_save(readable_error(exc))
        self.message.emit(f"Saved the case to {saved}")
        self._remember(saved)
        self._show_read_only(OpenReport(saved, read_only=self.case_session.read_only))
        if not self.case_session.read_only:
            self.autosave_timer.start()
        return True

    def autosave(self) -> None:
        """Write the recovery journal (timer and after tool actions); never a dialog."""
        warning = self.case_session.autosave()
        if warning is not None:
            self.message.emit(warning)

    def _show_dirty(self, *_: object) -> None:
        title = self.window.windowTitle().removesuffix(" *")
        self.window.setWindowTitle(f"{title} *" if self.annotations.dirty else title)

    # --- quitting --------------------------------------------------------------------------

    def may_close(self) -> bool:
        """Ask about unsaved changes; False keeps the window open (cancelled, or save failed)."""
        if not self.annotations.dirty:
            return True
        if self.case_session.folder is None:
            return True
        answer = QMessageBox.question(
            self.window,
            "Unsaved outlines",
            "The case has unsaved changes. Save them before closing?",
            QMessageBox.StandardButton.Save
            | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Save,
        )
        if answer == QMessageBox.StandardButton.Cancel:
            return False
        if answer == QMessageBox.StandardButton.Save:
            return self.save()
        self.annotations.mark_clean()  # discarded on purpose: the journal goes with the lock
        return True

    def close(self) -> None:
        """The window is closing: release the case."""
        self.autosave_timer.stop()
        self.after_action.stop()
        self.case_session.close()

    # --- recent cases ----------------------------------------------------------------------

    def recent(self) -> list[dict[str, object]]:
        """Recent cases, newest first: ``{"paths": [...], "folder": str, "opened": iso time}``."""
        raw = self.settings.value(RECENT_KEY, "[]")
        try:
            entries = json.loads(raw if isinstance(raw, str) else "[]")
        except ValueError:
            return []
        return [e for e in entries if isinstance(e, dict) and isinstance(e.get("paths"), list)]

    def _remember(self, folder: Path) -> None:
        if not self.paths:
            return
        entry = {
            "paths": self.paths,
            "folder": str(folder),
            "opened": dt.datetime.now().isoformat(timespec="minutes"),
        }
        others = [e for e in self.recent() if e.get("paths") != self.paths]
        self.settings.setValue(RECENT_KEY, json.dumps([entry, *others][:MAX_RECENT]))

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        entries = self.recent()
        if not entries:
            self.recent_menu.addAction("(no recent cases)").setEnabled(False)
            return
        for entry in entries:
            paths = [str(p) for p in entry["paths"]]  # type: ignore[union-attr]
            name = ", ".join(Path(p).name for p in paths)
            action = self.recent_menu.addAction(f"{name}   ({entry.get('opened', '')})")
            action.setToolTip(f"Images: {os.pathsep.join(paths)}\nCase: {entry.get('folder')}")
            action.setEnabled(all(Path(p).exists() for p in paths))
            action.triggered.connect(lambda _=False, p=paths: self.open_requested.emit(p))
