"""Orientation letters, scale bar, and positions in words."""

from __future__ import annotations

import numpy as np
import pytest

from viewer.display import (
    EdgeLetters,
    direction_label,
    edge_letters,
    format_plane_position,
    format_position,
    scale_bar,
)


def slice2patient(down, right, pixel_mm=0.5) -> np.ndarray:
    matrix = np.eye(4)
    matrix[:3, 0] = np.asarray(down, float) * pixel_mm
    matrix[:3, 1] = np.asarray(right, float) * pixel_mm
    matrix[:3, 2] = np.cross(down, right)
    return matrix


@pytest.mark.parametrize(
    ("down", "right", "expected"),
    [
        ((0, 1, 0), (1, 0, 0), EdgeLetters("A", "L", "P", "R")),  # axial, radiological
        ((0, 0, -1), (1, 0, 0), EdgeLetters("S", "L", "I", "R")),  # coronal
        ((0, 0, -1), (0, 1, 0), EdgeLetters("S", "P", "I", "A")),  # sagittal
        # a feet-first series displayed as acquired (no reslicing): the letters follow the data
        ((0, 1, 0), (-1, 0, 0), EdgeLetters("A", "R", "P", "L")),
        # a prone series displayed as acquired: anterior at the bottom
        ((0, -1, 0), (-1, 0, 0), EdgeLetters("P", "R", "A", "L")),
    ],
)
def test_edge_letters(down, right, expected):
    assert edge_letters(slice2patient(down, right)) == expected


def test_oblique_letters_name_the_strongest_directions_first():
    # an axial view of a head tilted 30 degrees chin-down: screen down points posterior and up
    tilt = np.radians(30)
    down = (0, np.cos(tilt), np.sin(tilt))
    letters = edge_letters(slice2patient(down, (1, 0, 0)))
    assert letters == EdgeLetters(top="AI", right="L", bottom="PS", left="R")
    # 10 degrees is below the 15-degree threshold for a second letter
    small = np.radians(10)
    assert direction_label((0, np.cos(small), np.sin(small))) == "P"
    assert direction_label((0.6, -0.6, 0.53)) == "LAS"


@pytest.mark.parametrize(
    ("mm_per_px", "max_px", "expected_mm"),
    [
        (0.5, 150, 50),
        (0.1, 150, 10),
        (1.0, 150, 100),
        (0.25, 150, 20),
        (2.0, 40, 50),
        (0.01, 150, 1),
    ],
)
def test_scale_bar_is_a_round_length_that_fits(mm_per_px, max_px, expected_mm):
    length_mm, length_px = scale_bar(mm_per_px, max_px)
    assert length_mm == pytest.approx(expected_mm)
    assert length_px == pytest.approx(expected_mm / mm_per_px)
    assert length_px <= max_px


def test_scale_bar_rejects_nonsense():
    with pytest.raises(ValueError):
        scale_bar(0.0, 100)


def test_positions_in_words():
    assert format_position((10.0, -20.06, 0.0)) == "L 10.0  A 20.1  S 0.0 mm"
    assert format_plane_position(0, -31.0) == "R 31.0 mm"
    assert format_plane_position(1, 4.25) == "P 4.2 mm"
