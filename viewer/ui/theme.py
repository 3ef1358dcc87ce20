"""The dark theme: Fusion style, a dark palette and the style sheet in resources/dark.qss."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QColor, QFont, QIcon, QPalette, QPixmap
from PySide6.QtWidgets import QApplication, QLabel

STYLE_SHEET = Path(__file__).resolve().parents[2] / "resources" / "dark.qss"
MUTED_COLOUR = "#8f96a3"
"""Secondary text: hints, captions, legends."""


def apply_dark_theme(app: QApplication) -> None:
    """Give the application the dark look radiology workstations use (dim room, bright images)."""
    app.setStyle("Fusion")
    palette = QPalette()
    colours = {
        QPalette.ColorRole.Window: "#1b1d21",
        QPalette.ColorRole.WindowText: "#d8dbe0",
        QPalette.ColorRole.Base: "#1f2226",
        QPalette.ColorRole.AlternateBase: "#22262b",
        QPalette.ColorRole.Text: "#d8dbe0",
        QPalette.ColorRole.Button: "#2b2f36",
        QPalette.ColorRole.ButtonText: "#d8dbe0",
        QPalette.ColorRole.Highlight: "#1f4f7a",
        QPalette.ColorRole.HighlightedText: "#ffffff",
        QPalette.ColorRole.ToolTipBase: "#2b2f36",
        QPalette.ColorRole.ToolTipText: "#e8eaee",
        QPalette.ColorRole.PlaceholderText: "#7a818c",
        QPalette.ColorRole.Link: "#6fb3ff",
    }
    for role, colour in colours.items():
        palette.setColor(role, QColor(colour))
    palette.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text, QColor("#5b616b"))
    palette.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.ButtonText, QColor("#5b616b"))
    app.setPalette(palette)
    if STYLE_SHEET.is_file():
        app.setStyleSheet(STYLE_SHEET.read_text(encoding="utf-8"))


def caption(text: str = "") -> QLabel:
    """A muted, word-wrapped label for hints and legends."""
    label = QLabel(text)
    label.setWordWrap(True)
    label.setStyleSheet(f"color: {MUTED_COLOUR}")
    return label


def colour_swatch(colour: tuple[int, int, int], size_px: int = 14) -> QIcon:
    """A small square of a lesion's colour (8-bit RGB), for lists and tables."""
    pixmap = QPixmap(size_px, size_px)
    pixmap.fill(QColor(*colour))
    return QIcon(pixmap)


def overlay_font(pixel_size: int, *, bold: bool = False) -> QFont:
    """A font of a given pixel size: text over a view must not grow with the desktop font."""
    result = QFont()
    result.setPixelSize(pixel_size)
    result.setBold(bold)
    return result
