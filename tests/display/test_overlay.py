"""The Qt-free overlay: marks land where they are anchored, at the size asked, every time alike."""

from __future__ import annotations

import numpy as np
import pytest

from viewer.display.annotations import EdgeLetters, scale_bar
from viewer.display.overlay import (
    BACKGROUND,
    ELLIPSIS,
    LETTER_COLOUR,
    TEXT_COLOUR,
    CaliperDrawing,
    Circle,
    ColourBar,
    Polyline,
    Text,
    caliper_marks,
    corner_text_marks,
    crosshair_marks,
    edge_letter_marks,
    elide,
    line_height_px,
    render,
    scale_bar_marks,
    text_width_px,
)
from viewer.state.pane_overlay import PANE_STYLE

WHITE = (255, 255, 255, 255)
RED = (255, 0, 0, 255)


def black(rows: int = 100, columns: int = 160) -> np.ndarray:
    image = np.zeros((rows, columns, 4), np.uint8)
    image[..., 3] = 255
    return image


def box(mask: np.ndarray) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) of the True pixels, inclusive."""
    rows, columns = np.nonzero(mask)
    return rows.min(), columns.min(), rows.max(), columns.max()


def near(picture: np.ndarray, colour, tolerance: int = 0) -> np.ndarray:
    return (np.abs(picture[..., :3].astype(int) - np.array(colour[:3])) <= tolerance).all(axis=2)


def test_transparent_pixels_show_the_background_and_the_input_is_untouched():
    image = black(4, 5)
    image[0, 0] = (200, 100, 50, 255)
    image[1, 1] = (200, 100, 50, 128)  # half covered: halfway to black
    image[2, 2] = (9, 9, 9, 0)
    before = image.copy()
    out = render(image, [])
    assert out.dtype == np.uint8 and out.shape == (4, 5, 4) and (out[..., 3] == 255).all()
    assert tuple(out[0, 0, :3]) == (200, 100, 50)
    assert np.abs(out[1, 1, :3].astype(int) - (100, 50, 25)).max() <= 1
    assert tuple(out[2, 2, :3]) == BACKGROUND[:3]
    np.testing.assert_array_equal(image, before)


def test_a_line_covers_exactly_its_pixels():
    # a 1-pixel horizontal line through pixel centres of row 10, columns 20..59
    out = render(black(), [Polyline(((20.0, 10.5), (60.0, 10.5)), WHITE, 1.0)])
    assert box(near(out, WHITE)) == (10, 20, 10, 59)
    assert not near(out, WHITE, 254)[[9, 11]].any()  # nothing bleeds into the rows beside it


def test_a_dashed_line_has_gaps_and_a_circle_is_round():
    out = render(black(), [Polyline(((10.0, 20.5), (150.0, 20.5)), RED, 1.0, dash_px=(4.0, 4.0))])
    lit = near(out, RED, 60)[20, 10:150]
    assert 0.35 < lit.mean() < 0.65  # half on, half off
    out = render(black(), [Circle(80.0, 50.0, 20.0, WHITE, 1.0)])
    top, left, bottom, right = box(near(out, WHITE, 200))
    assert abs((bottom - top) - 40) <= 2 and abs((right - left) - 40) <= 2
    assert not near(out, WHITE, 250)[50, 80]  # an outline: the centre stays dark


def test_text_is_drawn_at_its_anchor_with_its_shadow():
    text = Text(30.0, 20.0, "Day 412", TEXT_COLOUR, 12.0, anchor="la")
    out = render(black(), [text])
    top, left, bottom, right = box(near(out, TEXT_COLOUR, 40))
    assert 20 <= top <= 23 and 30 <= left <= 32  # the ascender line and left edge
    assert abs((right - left + 1) - text_width_px("Day 412", 12.0)) <= 3  # less side bearings
    assert bottom - top + 1 <= line_height_px(12.0)
    # right-aligned and centred anchors end and centre where they say
    out = render(black(), [Text(150.0, 50.0, "W 80", TEXT_COLOUR, 12.0, anchor="rm")])
    assert 147 <= box(near(out, TEXT_COLOUR, 40))[3] <= 150
    # the shadow is a dark copy one pixel down and right: visible over a white image
    white = black()
    white[..., :3] = 255
    out = render(white, [text])
    assert near(out, (0, 0, 0), 60).sum() > 20


def test_a_long_line_is_elided_to_fit():
    long = "MR  AX T1 POST GAD MPRAGE 1 mm isotropic with fat saturation"
    short = elide(long, 12.0, 100.0)
    assert short.endswith(ELLIPSIS) and text_width_px(short, 12.0) <= 100.0
    assert long.startswith(short[:-1].rstrip())
    assert elide("Day 0", 12.0, 100.0) == "Day 0"
    out = render(black(), [Text(10.0, 10.0, long, TEXT_COLOUR, 12.0, max_width_px=100.0)])
    assert box(near(out, TEXT_COLOUR, 60))[3] <= 10 + 100 + 1


def test_the_scale_bar_is_as_long_as_it_says():
    pixel_mm = 0.37
    size = (300, 600)
    marks = scale_bar_marks(pixel_mm, size, PANE_STYLE)
    length_mm, length_px = scale_bar(pixel_mm, min(size[1] * 0.25, PANE_STYLE.bar_max_px))
    labels = [m for m in marks if isinstance(m, Text)]
    assert [m.text for m in labels] == [f"{length_mm:g} mm"]
    out = render(black(*size), marks)
    row = size[0] - int(PANE_STYLE.bar_inset_px[1])
    lit = np.nonzero(near(out, TEXT_COLOUR, 30)[row])[0]
    assert abs((lit.max() - lit.min() + 1) - length_px) <= 2  # the bar, in screen pixels
    assert abs(length_px * pixel_mm - length_mm) < 1e-6
    assert scale_bar_marks(pixel_mm, (300, 60), PANE_STYLE) == []  # too narrow: no bar


def test_letters_sit_at_the_middle_of_each_edge():
    size = (200, 300)
    out = render(black(*size), edge_letter_marks(EdgeLetters("A", "P", "R", "L"), size, PANE_STYLE))
    lit = near(out, LETTER_COLOUR, 40)
    quarters = {
        "top": lit[:30, 120:180],
        "bottom": lit[-30:, 120:180],
        "left": lit[80:120, :30],
        "right": lit[80:120, -30:],
    }
    assert all(part.sum() > 10 for part in quarters.values())
    lit[:30, 120:180] = lit[-30:, 120:180] = lit[80:120, :30] = lit[80:120, -30:] = False
    assert not lit.any()  # nowhere else


def test_corner_text_stacks_lines_and_colours_chosen_ones():
    size = (200, 300)
    green = (125, 220, 138, 255)
    marks = corner_text_marks(["one", "Registered"], "top_left", size, PANE_STYLE,
                              colours={"Registered": green})  # fmt: skip
    line = line_height_px(PANE_STYLE.text_px)
    assert [m.y for m in marks] == [
        PANE_STYLE.margin_px + line / 2,
        PANE_STYLE.margin_px + 1.5 * line,
    ]
    assert marks[1].colour == green and marks[0].colour == TEXT_COLOUR
    bottom = corner_text_marks(["a", "b"], "bottom_right", size, PANE_STYLE, bottom_gap_px=20)
    assert bottom[-1].y + line / 2 == size[0] - PANE_STYLE.margin_px - 20
    assert all(m.anchor == "rm" and m.x == size[1] - PANE_STYLE.margin_px for m in bottom)


def test_a_caliper_is_drawn_in_its_colour_with_its_label_right_of_it():
    colour = (230, 60, 60)
    drawing = CaliperDrawing(((20.0, 30.0), (80.0, 90.0), (70.0, 40.0), (30.0, 80.0)), colour,
                             "L1 46.6 × 34.3 mm", dashed=False)  # fmt: skip
    marks = caliper_marks(drawing, PANE_STYLE)
    out = render(black(120, 300), marks)
    lit = near(out, colour, 50)
    assert lit[50, 60]  # the middle of the longest diameter: (20,30)-(80,90)
    (label,) = [m for m in marks if isinstance(m, Text)]
    assert label.x > 90 and label.text == "L1 46.6 × 34.3 mm"
    assert lit[:, 100:].sum() > 30  # the label's pixels


def test_a_scaled_style_draws_everything_twice_as_big():
    double = PANE_STYLE.scaled(2)
    assert double.text_px == 2 * PANE_STYLE.text_px and double.scale == 2.0
    assert double.bar_inset_px == (40.0, 40.0) and double.caliper_px == 3.0
    with pytest.raises(ValueError, match="positive"):
        PANE_STYLE.scaled(0)
    small = render(black(), [Text(10.0, 10.0, "L", LETTER_COLOUR, PANE_STYLE.letter_px, True)])
    big = render(black(200, 320), [Text(20.0, 20.0, "L", LETTER_COLOUR, double.letter_px, True)])
    small_box, big_box = box(near(small, LETTER_COLOUR, 60)), box(near(big, LETTER_COLOUR, 60))
    for axis in (0, 1):  # twice as tall and twice as wide
        ratio = (big_box[axis + 2] - big_box[axis] + 1) / (
            small_box[axis + 2] - small_box[axis] + 1
        )
        assert 1.75 < ratio < 2.25
    lines = crosshair_marks(50, 80, (100, 160), double)
    assert all(line.width_px == 2.0 for line in lines)


def test_a_colour_bar_fills_its_rows_and_the_same_marks_give_the_same_bytes():
    bar = ColourBar(10.0, 5.0, 4.0, ((255, 0, 0, 255), (0, 0, 255, 255), (0, 255, 0, 128)))
    out = render(black(), [bar])
    assert near(out[5:6, 10:14], (255, 0, 0)).all() and near(out[6:7, 10:14], (0, 0, 255)).all()
    assert (np.abs(out[7, 10:14, :3].astype(int) - (0, 128, 0)).max()) <= 1
    assert not out[8, 10:14, :3].any() and not out[5, 14, :3].any()
    image = black()
    image[30:60, 40:90, :3] = 120
    marks = [
        bar,
        Text(10.0, 10.0, "x", WHITE, 12.0),
        Polyline(((0.0, 0.0), (150.0, 90.0)), RED, 1.5),
    ]
    np.testing.assert_array_equal(render(image, marks), render(image, marks))


def test_a_bad_image_is_refused():
    with pytest.raises(ValueError, match=r"\(rows, columns, 4\) uint8"):
        render(np.zeros((4, 4, 3), np.uint8), [])
