"""Overlay benchmark: drawing a view's marks (text, letters, calipers, scale bar) onto its image.

Run from the project root::

    .venv/bin/python benchmarks/bench_overlay.py [--repeats 5] [--views 20]

Since issue 6 the screen and the annotated-slice export draw a view's text and lines with the same
Qt-free rasteriser (:func:`viewer.display.overlay.render`), so every repaint of a comparison view
pays for it. Measured in the same run, on the same 512x512 view:

* **frame** (the reference): what a scroll step already computes for that view: the visit's volume
  resliced through an oblique rigid transform, windowed and coloured
  (``benchmarks/bench_frame.py``'s ``new_frame``);
* **picture**: the frame's image with the marks of a busy comparison view drawn over it: crosshair,
  orientation letters, seven corner lines, a scale bar and two calipers with labels;
* **picture at 2x / 4x**: the same marks scaled on a 1024x1024 / 2048x2048 image (the slide and
  print exports; the frame for those is not included).

Reports the median ms of each (best of ``--repeats`` passes) and the ratio picture / frame. Goal:
the marks cost less than the frame they are drawn on (ratio below 1), so scrolling stays as smooth
as before the overlay moved out of Qt.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_frame import head_volume, new_frame  # noqa: E402
from tests.display.phantoms import rigid  # noqa: E402
from viewer.display import shared_grid, viewport_grid  # noqa: E402
from viewer.display.annotations import EdgeLetters  # noqa: E402
from viewer.display.overlay import (  # noqa: E402
    CaliperDrawing,
    caliper_marks,
    corner_text_marks,
    crosshair_marks,
    edge_letter_marks,
    render,
    scale_bar_marks,
)
from viewer.state.pane_overlay import PANE_STYLE  # noqa: E402

VIEW_PX = (512, 512)


def busy_marks(size: tuple[int, int], factor: int = 1) -> list:
    """The marks of a busy comparison view, at ``factor`` times the screen size."""
    style = PANE_STYLE if factor == 1 else PANE_STYLE.scaled(factor)
    f = float(factor)
    marks = crosshair_marks(250 * f, 260 * f, size, style)
    marks += edge_letter_marks(EdgeLetters("A", "P", "R", "L"), size, style)
    marks += corner_text_marks(
        ["Day 2620", "MR  AX T1 POST GAD", "Contrast: GADOPENTETATE", "Registered: accepted ✓"],
        "top_left", size, style, max_width_px=size[1] - 16 * f,
    )  # fmt: skip
    marks += corner_text_marks(["Axial  23 / 48", "S 12.5 mm"], "bottom_right", size, style,
                               bottom_gap_px=36 * f)  # fmt: skip
    marks += corner_text_marks(["View 1", "W 1222  L 767  (Auto)", "Zoom 100%"], "bottom_left",
                               size, style)  # fmt: skip
    marks += scale_bar_marks(0.45 / f, size, style)
    for n, (row, column) in enumerate(((180, 200), (330, 300)), start=1):
        ends = ((row * f, column * f), ((row + 40) * f, (column + 35) * f),
                ((row + 35) * f, (column + 5) * f), ((row + 5) * f, (column + 30) * f))  # fmt: skip
        drawing = CaliperDrawing(ends, (230, 60, 60), f"L{n} 46.6 × 34.3 mm", n == 2)
        marks += caliper_marks(drawing, style)
    return marks


def best_median_ms(step, count: int, repeats: int) -> float:
    """Median ms of ``count`` calls of ``step(i)``; the best of ``repeats`` passes."""
    passes = []
    for _ in range(repeats):
        times = []
        for i in range(count):
            start = time.perf_counter()
            step(i)
            times.append((time.perf_counter() - start) * 1000)
        passes.append(statistics.median(times))
    return min(passes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--views", type=int, default=20, help="frames per pass")
    args = parser.parse_args()

    volume = head_volume((180, 256, 256), (1.0, 1.0, 1.0))
    transform = rigid((8.0, -6.0, 10.0), (5.0, -8.0, 12.0))
    grid = viewport_grid(shared_grid("axial", [(volume, transform)]), VIEW_PX)
    positions = np.linspace(-40.0, 40.0, args.views)
    frame_ms = best_median_ms(
        lambda i: new_frame(volume, grid, positions[i], transform), args.views, args.repeats
    )
    image = new_frame(volume, grid, 0.0, transform)
    rows = []
    for factor in (1, 2, 4):
        size = (VIEW_PX[0] * factor, VIEW_PX[1] * factor)
        big = np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)
        marks = busy_marks(size, factor)
        render(big, marks)  # fonts and glyphs are loaded once per process
        ms = best_median_ms(lambda i, b=big, m=marks: render(b, m), args.views, args.repeats)
        rows.append((factor, size, len(marks), ms))
    print(f"frame (reference), {VIEW_PX[0]}x{VIEW_PX[1]}: {frame_ms:.2f} ms")
    print("| picture | pixels | marks | ms | / frame |")
    print("|---|---|---|---|---|")
    for factor, size, count, ms in rows:
        print(f"| {factor}x | {size[0]}x{size[1]} | {count} | {ms:.2f} | {ms / frame_ms:.2f} |")


if __name__ == "__main__":
    main()
