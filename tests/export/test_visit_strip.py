"""The visit strip shows the same anatomy at every visit, through the registrations."""

from __future__ import annotations

import numpy as np
from PIL import Image

from viewer.core.volume import Volume
from viewer.display.window import WindowLevel
from viewer.export.visit_strip import StripPanel, centred_grid, panel_rgba, write_visit_strip
from viewer.state.annotations import Annotations

SHAPE = (20, 64, 64)
AXIAL = np.array([[0, 0, 1.0, 0], [0, 1.0, 0, 0], [2.0, 0, 0, 0], [0, 0, 0, 1]])
"""(slice, row, column) -> (x = column, y = row, z = 2 * slice) mm: axial slices 2 mm apart."""


def visit(centre_voxel) -> Volume:
    z, y, x = np.indices(SHAPE)
    ball = (z - centre_voxel[0]) ** 2 + (y - centre_voxel[1]) ** 2 + (x - centre_voxel[2]) ** 2
    array = np.where(ball <= 16, 1000, 100).astype(np.int16)
    return Volume(array, AXIAL)


def brightest(rgba: np.ndarray) -> np.ndarray:
    assert rgba[..., 0].max() > 200, "the ball is not in the panel"
    rows, columns = np.nonzero(rgba[..., 0] == rgba[..., 0].max())
    return np.array([rows.mean(), columns.mean()])


def test_every_panel_is_centred_on_the_same_anatomy_and_the_png_carries_no_identity(tmp_path):
    window = WindowLevel(550.0, 900.0, "test")
    first = visit((10, 32, 32))
    # the head moved 6 mm to the left (x) and 4 mm back (y) at the second visit
    second = visit((10, 36, 38))
    moved = np.eye(4)
    moved[:3, 3] = [-6.0, -4.0, 0.0]  # its patient mm -> the reference frame
    point = first.voxel2patient @ np.array([10.0, 32.0, 32.0, 1.0])
    panels = [
        StripPanel("a", first, None, window, "Day 0"),
        StripPanel("b", second, moved, window, "Day 412 · PD", "L1 8.0 x 8.0 mm"),
    ]
    notes = Annotations()
    grid = centred_grid(point[:3], 40.0, 0.5)
    centre = (np.array(grid.shape) - 1) / 2
    for panel in panels:
        assert np.abs(brightest(panel_rgba(panel, notes, point[:3], grid)) - centre).max() < 1.0
    path = write_visit_strip(panels, notes, point[:3], tmp_path / "strip.png", title="Case")
    with Image.open(path) as image:
        size, text = image.size, dict(image.text)
    assert size[0] > size[1]  # a row
    assert text == {"Software": "Interval"}  # no identity in any PNG text chunk
    larger = write_visit_strip(panels, notes, point[:3], tmp_path / "strip2.png", scale=2)
    with Image.open(larger) as image:
        assert image.size[0] == 2 * size[0]
