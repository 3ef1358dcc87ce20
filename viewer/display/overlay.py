"""The marks drawn over an image view, rasterised without Qt: one drawing for screen and export.

A view's text (corner lines, orientation letters, scale bar label, caliper values) and lines
(crosshair, calipers, scale bar, landmarks) are described as a list of frozen *marks* and drawn
onto the view's pixels by :func:`render`. The screen shows the result as one image, and the
annotated-slice export writes the same array, so the exported PNG equals the screen pixel for pixel.
A 2x or 4x export draws the same marks from a style scaled by :meth:`OverlayStyle.scaled`.

Lines and circles go through matplotlib's Agg renderer (anti-aliased, exact sub-pixel
geometry); text is rendered by Pillow with the DejaVu fonts matplotlib ships, in Pillow's basic
layout (so every machine draws the same pixels), once per distinct line, on whole pixels.

Coordinates are screen pixels, x to the right and y down, with pixel ``(row, column)`` covering
``[column, column + 1) x [row, row + 1)``: its centre is ``(column + 0.5, row + 0.5)``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import RendererAgg
from matplotlib.path import Path as MplPath
from matplotlib.transforms import Affine2D
from PIL import Image, ImageDraw, ImageFont

from viewer.display.annotations import EdgeLetters, scale_bar

RGBA = tuple[int, int, int, int]

TEXT_COLOUR: RGBA = (230, 233, 238, 255)
LETTER_COLOUR: RGBA = (255, 212, 121, 255)
SHADOW_COLOUR: RGBA = (0, 0, 0, 220)
CROSSHAIR_COLOUR: RGBA = (80, 220, 120, 200)
LANDMARK_COLOUR: RGBA = (255, 95, 210, 255)
BACKGROUND: RGBA = (0, 0, 0, 255)
ELLIPSIS = "…"


# --- marks ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Text:
    """A line of text.

    Attributes
    ----------
    x, y : float
        Screen pixels of the anchor point.
    text : str
    colour : RGBA
    size_px : float
        Font size in pixels (the em height).
    bold : bool
    anchor : str
        Pillow's two-letter anchor: horizontal ``l``/``m``/``r``, vertical ``a`` (ascender, the
        top of the line), ``m`` (middle), ``s`` (baseline) or ``d`` (descender).
    shadow_px : float
        Offset of the dark shadow that keeps text readable over bright image; 0 for none.
    max_width_px : float, optional
        Longer text ends in "…" instead (a narrow view cuts no word in half).
    """

    x: float
    y: float
    text: str
    colour: RGBA
    size_px: float
    bold: bool = False
    anchor: str = "la"
    shadow_px: float = 1.0
    max_width_px: float | None = None


@dataclass(frozen=True)
class Polyline:
    """Straight segments through ``points`` ((x, y) screen pixels), ``width_px`` wide.

    ``dash_px`` gives (on, off) lengths in pixels for a dashed line; empty for a solid one.
    """

    points: tuple[tuple[float, float], ...]
    colour: RGBA
    width_px: float
    dash_px: tuple[float, float] | tuple[()] = ()
    closed: bool = False


@dataclass(frozen=True)
class Circle:
    """A circle outline: centre (x, y) and radius in screen pixels."""

    x: float
    y: float
    radius_px: float
    colour: RGBA
    width_px: float


@dataclass(frozen=True)
class ColourBar:
    """A vertical bar of colours, top row first: ``colours[i]`` fills row ``top + i``."""

    left: float
    top: float
    width_px: float
    colours: tuple[RGBA, ...]


Mark = Text | Polyline | Circle | ColourBar


# --- sizes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class OverlayStyle:
    """Sizes of the overlay marks of one kind of view, in screen pixels at 1x.

    :meth:`scaled` multiplies every size, for a 2x or 4x export whose text and lines keep their
    size relative to the image.
    """

    text_px: float
    """Corner text."""
    margin_px: float
    """Distance of the corner text from the view's edges."""
    letter_px: float
    letter_margin_px: float
    bar_max_px: float
    """Longest scale bar; it also never exceeds a quarter of the view's width."""
    bar_inset_px: tuple[float, float]
    """(from the right edge, from the bottom edge) to the bar's right end."""
    bar_tick_px: float
    bar_text_px: float
    bar_text_gap_px: float
    """From the bar up to the bottom of its label."""
    scale: float = 1.0
    """The factor this style was scaled by (1 on screen), for layout distances of the views."""
    line_px: float = 1.0
    """Thin lines: crosshair, caliper handles."""
    caliper_px: float = 1.5
    caliper_text_px: float = 12.0
    handle_radius_px: float = 3.0
    crosshair_gap_px: float = 12.0
    landmark_radius_px: float = 5.0
    shadow_px: float = 1.0

    def scaled(self, factor: float) -> OverlayStyle:
        """The same style with every size multiplied by ``factor`` (> 0)."""
        if not factor > 0:
            raise ValueError(f"an overlay scale must be positive, got {factor}")
        changes = {}
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, tuple):
                changes[field.name] = tuple(v * factor for v in value)
            else:
                changes[field.name] = value * factor
        return replace(self, **changes)


# --- fonts ---------------------------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def overlay_font(size_px: float, bold: bool = False) -> ImageFont.FreeTypeFont:
    """DejaVu Sans (shipped with matplotlib) at ``size_px`` pixels, in Pillow's basic layout.

    The same font file and layout on every machine: an export looks the same everywhere.
    """
    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    path = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / name
    return ImageFont.truetype(str(path), size=max(1, round(size_px)),
                              layout_engine=ImageFont.Layout.BASIC)  # fmt: skip


def line_height_px(size_px: float, bold: bool = False) -> int:
    """Distance between two lines of text of this size (ascent + descent), pixels."""
    ascent, descent = overlay_font(size_px, bold).getmetrics()
    return ascent + descent


def text_width_px(text: str, size_px: float, bold: bool = False) -> float:
    """Advance width of ``text`` in pixels."""
    return float(overlay_font(size_px, bold).getlength(text))


@functools.lru_cache(maxsize=1024)
def elide(text: str, size_px: float, max_width_px: float, bold: bool = False) -> str:
    """``text``, or its longest start that fits ``max_width_px`` followed by "…"."""
    if text_width_px(text, size_px, bold) <= max_width_px:
        return text
    low, high = 0, len(text)
    while low < high:  # the longest prefix that fits with the ellipsis
        middle = (low + high + 1) // 2
        if text_width_px(text[:middle] + ELLIPSIS, size_px, bold) <= max_width_px:
            low = middle
        else:
            high = middle - 1
    return text[:low].rstrip() + ELLIPSIS if low else ""


# --- rasterising ---------------------------------------------------------------------------


def render(
    image: np.ndarray,
    marks: Iterable[Mark],
    *,
    background: RGBA = BACKGROUND,
) -> np.ndarray:
    """The view's pixels with the marks drawn over them, as the screen shows them.

    Parameters
    ----------
    image : ndarray of uint8, shape (rows, columns, 4)
        Straight RGBA, one pixel per screen pixel; transparent where there is no data.
    marks : iterable of Mark
        Drawn in order, text last (text stays readable over lines).
    background : RGBA
        What transparent pixels show (opaque).

    Returns
    -------
    ndarray of uint8, shape (rows, columns, 4)
        Opaque RGBA.
    """
    if image.ndim != 3 or image.shape[2] != 4 or image.dtype != np.uint8:
        raise ValueError(
            f"a view image is (rows, columns, 4) uint8, got {image.dtype} {image.shape}"
        )
    rows, columns = image.shape[:2]
    canvas = RendererAgg(columns, rows, 72)  # 72 dpi: one point is one pixel
    pixels = np.asarray(canvas.buffer_rgba())
    pixels.view(np.uint32)[...] = np.array(background, np.uint8).view(np.uint32)[0]
    # Agg's image origin is the bottom row; it blends straight RGBA over the background
    canvas.draw_image(canvas.new_gc(), 0, 0, np.ascontiguousarray(image[::-1]))
    marks = list(marks)
    for mark in marks:
        if isinstance(mark, ColourBar):
            _fill_colour_bar(pixels, mark)
    for mark in marks:
        if isinstance(mark, Polyline | Circle):
            _draw_shape(canvas, rows, mark)
    for mark in marks:  # text last: it stays readable over lines
        if isinstance(mark, Text):
            _draw_text(pixels, mark)
    return pixels.copy()


def _gc(canvas: RendererAgg, colour: RGBA, width_px: float, dash_px: Sequence[float] = ()):
    gc = canvas.new_gc()
    gc.set_foreground(tuple(c / 255.0 for c in colour), isRGBA=True)
    gc.set_alpha(colour[3] / 255.0)
    gc.set_linewidth(width_px)
    gc.set_antialiased(True)
    gc.set_snap(False)  # exact geometry: matplotlib's snapping would move lines by half a pixel
    gc.set_capstyle("butt")
    gc.set_joinstyle("miter")
    if dash_px:
        gc.set_dashes(0, list(dash_px))
    return gc


def _draw_shape(canvas: RendererAgg, rows: int, mark: Mark) -> None:
    # Agg's y axis points up from the bottom edge
    flip = Affine2D().scale(1.0, -1.0).translate(0.0, rows)
    if isinstance(mark, Polyline):
        if len(mark.points) < 2:
            return
        gc = _gc(canvas, mark.colour, mark.width_px, mark.dash_px)
        points = list(mark.points) + ([mark.points[0]] if mark.closed else [])
        canvas.draw_path(gc, MplPath(points), flip)
    elif isinstance(mark, Circle):
        gc = _gc(canvas, mark.colour, mark.width_px)
        circle = MplPath.circle((mark.x, mark.y), mark.radius_px)
        canvas.draw_path(gc, circle, flip)


def _fill_colour_bar(pixels: np.ndarray, bar: ColourBar) -> None:
    """Fill whole pixels (the bar's edges rounded), blending each row's colour by its alpha."""
    left, top = round(bar.left), round(bar.top)
    right = round(bar.left + bar.width_px)
    rows, columns = pixels.shape[:2]
    for i, colour in enumerate(bar.colours):
        row = top + i
        if not 0 <= row < rows:
            continue
        span = pixels[row, max(left, 0) : min(right, columns)]
        alpha = colour[3] / 255.0
        span[:, :3] = np.rint(np.asarray(colour[:3]) * alpha + span[:, :3] * (1 - alpha))


@functools.lru_cache(maxsize=2048)
def _glyph_mask(text: str, size_px: float, bold: bool, anchor: str) -> tuple[int, int, np.ndarray]:
    """Coverage (0..1, float32) of a text's pixels, and its top-left offset from the anchor.

    Views redraw the same lines (letters, names, windows) over and over: each is rendered once.
    """
    font = overlay_font(size_px, bold)
    left, top, right, bottom = font.getbbox(text, anchor=anchor)
    mask = Image.new("L", (max(right - left, 1), max(bottom - top, 1)), 0)
    ImageDraw.Draw(mask).text((-left, -top), text, font=font, fill=255, anchor=anchor)
    coverage = np.asarray(mask, dtype=np.float32) / 255.0
    coverage.flags.writeable = False
    return int(left), int(top), coverage


def _blend(pixels: np.ndarray, left: int, top: int, coverage: np.ndarray, colour: RGBA) -> None:
    """Paint ``colour`` through ``coverage`` with its top-left pixel at (``left``, ``top``)."""
    rows, columns = pixels.shape[:2]
    r0, c0 = max(top, 0), max(left, 0)
    r1, c1 = min(top + coverage.shape[0], rows), min(left + coverage.shape[1], columns)
    if r0 >= r1 or c0 >= c1:
        return
    alpha = coverage[r0 - top : r1 - top, c0 - left : c1 - left, None] * (colour[3] / 255.0)
    region = pixels[r0:r1, c0:c1, :3]
    region[...] = np.rint(np.asarray(colour[:3], np.float32) * alpha + region * (1.0 - alpha))


def _draw_text(pixels: np.ndarray, mark: Text) -> None:
    """Draw a text mark (and its shadow) with its anchor at the nearest whole pixel."""
    text = mark.text
    if mark.max_width_px is not None:
        text = elide(text, mark.size_px, mark.max_width_px, mark.bold)
    if not text:
        return
    left, top, coverage = _glyph_mask(text, mark.size_px, mark.bold, mark.anchor)
    x, y = round(mark.x) + left, round(mark.y) + top
    if mark.shadow_px:
        offset = round(mark.shadow_px)
        _blend(pixels, x + offset, y + offset, coverage, SHADOW_COLOUR)
    _blend(pixels, x, y, coverage, mark.colour)


# --- the usual marks -------------------------------------------------------------------------


def edge_letter_marks(
    letters: EdgeLetters, size_px: tuple[int, int], style: OverlayStyle
) -> list[Text]:
    """The patient-direction letters at the middle of each edge of a view of (rows, columns)."""
    rows, columns = size_px
    m, size = style.letter_margin_px, style.letter_px
    return [
        Text(columns / 2, m, letters.top, LETTER_COLOUR, size, True, "ma", style.shadow_px),
        Text(columns / 2, rows - m, letters.bottom, LETTER_COLOUR, size, True, "md",
             style.shadow_px),
        Text(m, rows / 2, letters.left, LETTER_COLOUR, size, True, "lm", style.shadow_px),
        Text(columns - m, rows / 2, letters.right, LETTER_COLOUR, size, True, "rm",
             style.shadow_px),
    ]  # fmt: skip


def scale_bar_marks(pixel_mm: float, size_px: tuple[int, int], style: OverlayStyle) -> list[Mark]:
    """A scale bar of a round length in mm, labelled, near the bottom-right corner.

    ``pixel_mm`` is the size of one screen pixel in mm. Nothing is drawn in a very narrow view.
    """
    rows, columns = size_px
    max_px = min(columns * 0.25, style.bar_max_px)
    if max_px < 20 * style.line_px:
        return []
    length_mm, length_px = scale_bar(pixel_mm, max_px)
    right, y = columns - style.bar_inset_px[0], rows - style.bar_inset_px[1]
    left, tick = right - length_px, style.bar_tick_px
    marks: list[Mark] = []
    for colour, width in ((SHADOW_COLOUR, 4.0 * style.line_px), (TEXT_COLOUR, 2.0 * style.line_px)):
        marks += [
            Polyline(((left, y), (right, y)), colour, width),
            Polyline(((left, y - tick), (left, y + tick)), colour, width),
            Polyline(((right, y - tick), (right, y + tick)), colour, width),
        ]
    label = f"{length_mm:g} mm"
    marks.append(Text((left + right) / 2, y - style.bar_text_gap_px, label, TEXT_COLOUR,
                      style.bar_text_px, anchor="md", shadow_px=style.shadow_px))  # fmt: skip
    return marks


def corner_text_marks(
    lines: Sequence[str],
    corner: str,
    size_px: tuple[int, int],
    style: OverlayStyle,
    *,
    colours: Mapping[str, RGBA] | None = None,
    bottom_gap_px: float = 0.0,
    max_width_px: float | None = None,
) -> list[Text]:
    """Lines of text stacked in a corner of a view of (rows, columns).

    Parameters
    ----------
    lines : sequence of str
        Top line first.
    corner : {"top_left", "top_right", "bottom_left", "bottom_right"}
    colours : mapping of str to RGBA, optional
        A colour for particular lines (e.g. the registration state); others are
        :data:`TEXT_COLOUR`.
    bottom_gap_px : float
        Extra room kept free below a bottom corner's lines (e.g. for the scale bar).
    max_width_px : float, optional
        Longer lines end in "…".
    """
    rows, columns = size_px
    m, size = style.margin_px, style.text_px
    line = line_height_px(size)
    right = corner.endswith("right")
    x = columns - m if right else m
    if corner.startswith("top"):
        first = m
    else:
        first = rows - m - bottom_gap_px - len(lines) * line
    colours = colours or {}
    return [
        Text(
            x,
            first + i * line + line / 2,
            text,
            colours.get(text, TEXT_COLOUR),
            size,
            anchor="rm" if right else "lm",
            shadow_px=style.shadow_px,
            max_width_px=max_width_px,
        )  # fmt: skip
        for i, text in enumerate(lines)
    ]


def crosshair_marks(
    row: float, column: float, size_px: tuple[int, int], style: OverlayStyle
) -> list[Polyline]:
    """Four lines from the view's edges to a small gap around pixel (row, column)."""
    rows, columns = size_px
    x, y, gap = column + 0.5, row + 0.5, style.crosshair_gap_px
    width = style.line_px
    return [
        Polyline(((0.0, y), (x - gap, y)), CROSSHAIR_COLOUR, width),
        Polyline(((x + gap, y), (float(columns), y)), CROSSHAIR_COLOUR, width),
        Polyline(((x, 0.0), (x, y - gap)), CROSSHAIR_COLOUR, width),
        Polyline(((x, y + gap), (x, float(rows))), CROSSHAIR_COLOUR, width),
    ]


def landmark_marks(row: float, column: float, label: str, style: OverlayStyle) -> list[Mark]:
    """A landmark: a ring around pixel (row, column) and its label above right."""
    x, y, radius = column + 0.5, row + 0.5, style.landmark_radius_px
    return [
        Circle(x, y, radius, LANDMARK_COLOUR, 2.0 * style.line_px),
        Text(x + radius + style.line_px, y - radius, label, LANDMARK_COLOUR, style.text_px,
             True, "ls", style.shadow_px),
    ]  # fmt: skip


@dataclass(frozen=True)
class CaliperDrawing:
    """A bidirectional caliper as a view draws it.

    Attributes
    ----------
    ends_px : tuple of 4 (row, column)
        Screen pixels of the longest diameter's two ends, then the perpendicular's.
    colour : tuple of 3 int
        8-bit RGB (the lesion's colour).
    label : str
        E.g. ``"L1 46.6 × 34.3 mm"``.
    dashed : bool
        Hand-edited calipers are dashed.
    lesion : int
        The lesion's number (0: a caliper being drawn for no lesion yet).
    """

    ends_px: tuple[tuple[float, float], ...]
    colour: tuple[int, int, int]
    label: str
    dashed: bool
    lesion: int = 0


def caliper_marks(caliper: CaliperDrawing, style: OverlayStyle) -> list[Mark]:
    """Two lines in the lesion's colour, end handles, and the label right of the rightmost end."""
    colour: RGBA = (*caliper.colour, 255)
    points = [(c + 0.5, r + 0.5) for r, c in caliper.ends_px]
    dash = (4.0 * style.caliper_px, 2.0 * style.caliper_px) if caliper.dashed else ()
    marks: list[Mark] = [
        Polyline((points[0], points[1]), colour, style.caliper_px, dash),
        Polyline((points[2], points[3]), colour, style.caliper_px, dash),
    ]
    marks += [Circle(x, y, style.handle_radius_px, colour, style.line_px) for x, y in points]
    x, y = max(points, key=lambda p: p[0])
    marks.append(Text(x + 2 * style.handle_radius_px, y, caliper.label, colour,
                      style.caliper_text_px, True, "lm", style.shadow_px))  # fmt: skip
    return marks


def colour_bar_marks(
    colours: Sequence[Sequence[int]],
    ticks: Sequence[tuple[float, str]],
    limit: float,
    size_px: tuple[int, int],
    style: OverlayStyle,
) -> list[Mark]:
    """A vertical colour bar at the right edge, largest value on top, with labelled ticks.

    Parameters
    ----------
    colours : sequence of RGBA
        From the lowest value (-limit) to the highest (+limit), one per bar row.
    ticks : sequence of (value, label)
        Values in -limit .. +limit.
    limit : float
        Half the range the bar spans (> 0).
    """
    rows, columns = size_px
    height = len(colours)
    width = 12.0 * style.line_px
    left, top = columns - 34.0 * style.line_px, (rows - height) / 2.0
    bar = tuple(tuple(int(c) for c in colour) for colour in colours[::-1])
    marks: list[Mark] = [
        ColourBar(left, top, width, bar),  # type: ignore[arg-type]
        Polyline(((left, top), (left + width, top), (left + width, top + height),
                  (left, top + height)), TEXT_COLOUR, style.line_px, closed=True),
    ]  # fmt: skip
    for value, label in ticks:
        y = top + (1 - (value + limit) / (2 * limit)) * height
        marks.append(Text(left - 6 * style.line_px, y, label, TEXT_COLOUR, style.bar_text_px,
                          anchor="rm", shadow_px=style.shadow_px))  # fmt: skip
    return marks


def lesion_name_marks(
    number: int, colour: tuple[int, int, int], row: int, column: int, style: OverlayStyle
) -> list[Mark]:
    """A lesion's name ("L1") in its colour, just above and right of pixel (row, column)."""
    x = column + 1 + 2 * style.line_px
    return [Text(x, float(row), f"L{number}", (*colour, 255), style.caliper_text_px, True, "ld",
                 style.shadow_px)]  # fmt: skip
