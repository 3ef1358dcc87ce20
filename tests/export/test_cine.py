"""The cine GIF scrolls every visit through the lesion in step."""

from __future__ import annotations

import numpy as np
from PIL import Image

from tests.export.test_visit_strip import visit
from viewer.display.window import WindowLevel
from viewer.export.cine import cine_frames, write_cine_gif
from viewer.export.visit_strip import StripPanel
from viewer.state.annotations import Annotations


def test_the_lesion_appears_and_goes_at_the_same_frames_in_every_visit(tmp_path):
    window = WindowLevel(550.0, 900.0, "test")
    first, second = visit((10, 32, 32)), visit((10, 36, 38))
    moved = np.eye(4)
    moved[:3, 3] = [-6.0, -4.0, 0.0]
    panels = [
        StripPanel("a", first, None, window, "Day 0"),
        StripPanel("b", second, moved, window, "Day 412"),
    ]
    point = (first.voxel2patient @ np.array([10.0, 32.0, 32.0, 1.0]))[:3]
    frames = cine_frames(panels, Annotations(), point, half_range_mm=10, step_mm=2, field_mm=30)
    assert len(frames) == 11
    width = (frames[0].shape[1] - 4) // 2
    bright = [(f[:, :width, 0].max() > 200, f[:, width + 4 :, 0].max() > 200) for f in frames]
    # the ball (radius 4 voxels of 2 mm = 8 mm) shows in the middle frames, in both visits alike
    assert bright[5] == (True, True) and bright[0] == (False, False)
    assert all(a == b for a, b in bright)
    path = write_cine_gif(frames, tmp_path / "cine.gif")
    with Image.open(path) as gif:
        assert gif.n_frames == 11 and gif.info.get("loop") == 0 and "comment" not in gif.info
