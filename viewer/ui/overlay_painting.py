"""Drawing the text and marks that sit on top of an image view: the same look in every view.

The single-series view and the comparison panes both draw orientation letters, corner text and a
scale bar; they differ only in sizes, which an :class:`OverlayStyle` holds.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPen

from viewer.display.annotations import EdgeLetters, scale_bar

TEXT_COLOUR = QColor("#e6e9ee")
LETTER_COLOUR = QColor("#ffd479")
SHADOW_COLOUR = QColor(0, 0, 0, 220)


@dataclass(frozen=True)
class OverlayStyle:
    """Sizes of the overlay marks of one kind of view, in screen pixels."""

    letter_font_px: int
    letter_margin_px: float
    letter_band_px: float
    """Height of the top/bottom letter boxes and width of the left/right ones."""
    letter_side_px: float
    bar_max_px: float
    """Longest scale bar; it also never exceeds a quarter of the view's width."""
    bar_inset_px: tuple[float, float]
    """(from the right edge, from the bottom edge) to the bar's right end."""
    bar_tick_px: float
    bar_font_px: int
    bar_label_box: tuple[float, float, float]
    """(horizontal padding, distance above the bar, height) of the label box."""


def font(pixel_size: int, *, bold: bool = False) -> QFont:
    """A font of a given pixel size (overlays must not grow with the desktop's point size)."""
    result = QFont()
    result.setPixelSize(pixel_size)
    result.setBold(bold)
    return result


def shadowed_text(
    painter: QPainter, box: QRectF, align: Qt.AlignmentFlag, text: str, colour: QColor
) -> None:
    """Draw text with a dark shadow so it stays readable over bright image regions."""
    painter.setPen(SHADOW_COLOUR)
    painter.drawText(box.translated(1, 1), align, text)
    painter.setPen(colour)
    painter.drawText(box, align, text)


def draw_edge_letters(
    painter: QPainter, letters: EdgeLetters, width: float, height: float, style: OverlayStyle
) -> None:
    """Draw the patient-direction letters at the middle of each edge of a view."""
    painter.setFont(font(style.letter_font_px, bold=True))
    m, band, side = style.letter_margin_px, style.letter_band_px, style.letter_side_px
    centre, middle = Qt.AlignmentFlag.AlignHCenter, Qt.AlignmentFlag.AlignVCenter
    for text, box, align in (
        (letters.top, QRectF(0, m, width, band), centre | Qt.AlignmentFlag.AlignTop),
        (letters.bottom, QRectF(0, height - band - m, width, band), centre),
        (letters.left, QRectF(m, 0, side, height), middle | Qt.AlignmentFlag.AlignLeft),
        (
            letters.right,
            QRectF(width - side - m, 0, side, height),
            middle | Qt.AlignmentFlag.AlignRight,
        ),
    ):
        shadowed_text(painter, box, align, text, LETTER_COLOUR)


def draw_scale_bar(
    painter: QPainter, pixel_mm: float, width: float, height: float, style: OverlayStyle
) -> None:
    """Draw a scale bar of a round length in mm, labelled, near the bottom-right corner.

    ``pixel_mm`` is the size of one screen pixel in mm. Nothing is drawn in a very narrow view.
    """
    max_px = min(width * 0.25, style.bar_max_px)
    if max_px < 20:
        return
    length_mm, length_px = scale_bar(pixel_mm, max_px)
    right, y = width - style.bar_inset_px[0], height - style.bar_inset_px[1]
    left, tick = right - length_px, style.bar_tick_px
    for colour, pen_width in ((SHADOW_COLOUR, 4.0), (TEXT_COLOUR, 2.0)):
        painter.setPen(QPen(colour, pen_width))
        painter.drawLine(QPointF(left, y), QPointF(right, y))
        painter.drawLine(QPointF(left, y - tick), QPointF(left, y + tick))
        painter.drawLine(QPointF(right, y - tick), QPointF(right, y + tick))
    painter.setFont(font(style.bar_font_px))
    pad, above, box_height = style.bar_label_box
    box = QRectF(left - pad, y - above, length_px + 2 * pad, box_height)
    shadowed_text(painter, box, Qt.AlignmentFlag.AlignCenter, f"{length_mm:g} mm", TEXT_COLOUR)
