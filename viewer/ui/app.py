"""Start the desktop application."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from PySide6.QtWidgets import QApplication

from viewer import __version__
from viewer.ui.main_window import MainWindow
from viewer.ui.theme import apply_dark_theme


def run_app(paths: Sequence[str]) -> int:
    """Open the main window on files and folders and run until it is closed.

    Parameters
    ----------
    paths : sequence of str
        DICOM/NIfTI files or folders, scanned recursively in a worker; none opens an empty window.

    Returns
    -------
    int
        The process exit code (0 after a normal close).
    """
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Interval")
    app.setApplicationVersion(__version__)
    apply_dark_theme(app)  # type: ignore[arg-type]
    window = MainWindow()
    window.showMaximized()
    if paths:
        window.open_paths(list(paths))
    return app.exec()
