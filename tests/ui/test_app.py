"""run_app: the entry point the command line calls."""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication

from viewer.ui.app import run_app
from viewer.ui.main_window import MainWindow


def test_run_app_opens_the_paths_and_returns_when_closed(qtbot, case_folder):
    seen: dict[str, str] = {}
    poll = QTimer()
    poll.setInterval(50)

    def close_when_shown() -> None:
        windows = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow)]
        shown = [w for w in windows if w.isVisible() and w.slice_view.current_frame() is not None]
        if shown:
            poll.stop()
            seen["title"] = shown[0].windowTitle()
            seen["background"] = QApplication.palette().color(QPalette.ColorRole.Window).name()
            shown[0].close()

    poll.timeout.connect(close_when_shown)
    poll.start()
    try:
        assert run_app([str(case_folder)]) == 0
    finally:
        poll.stop()
    assert "AX T1 MPRAGE" in seen["title"] and "2003-03-27" in seen["title"]
    assert seen["background"] == "#1b1d21"  # the dark theme
