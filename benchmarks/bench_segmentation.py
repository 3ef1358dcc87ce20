"""Outlining tools on a 256^3 volume: a brush stroke and a click-to-grow preview.

Run from the project root::

    .venv/bin/python benchmarks/bench_segmentation.py [--repeats 15]

The volume is a 256x256x256 int16 MR-like phantom (1 x 0.9 x 0.9 mm) with a bright 15 mm sphere
(the enhancing lesion) in noisy tissue. Measured in the same run, as medians in ms:

* **reference**: one full-volume numpy pass (``image > threshold``), what any whole-volume tool
  pays at least;
* **brush stroke**: 10 dabs of a 3-D 5 mm brush along a 20 mm line (``paint_ball``);
* **grow preview**: ``grow_from_seed`` from a click inside the lesion (40 mm maximum radius).
* **brush dab seen**: what the reader waits for after one dab on a registered (20 degrees
  oblique) 512 x 512 view: the dab through ``Annotations`` into the native grid
  (``paint_disc``), then the redraw of the view's outlines (``label_slice``, ``overlay_rgba``,
  ``blend``);
* **grow preview seen**: a click-to-grow from the same view through ``OutliningController``,
  with the preview drawn;
* **autosave**: writing the recovery journal of a 256^3 label map holding the grown lesion
  (on the GUI thread, 1.5 s after the last action).

Goal (issue 4): each of the interactive ones within 100 ms.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from viewer.core.transform import Transform  # noqa: E402
from viewer.core.volume import Volume  # noqa: E402
from viewer.display.labels import blend, label_slice, overlay_rgba  # noqa: E402
from viewer.display.slicing import PlaneGrid  # noqa: E402
from viewer.io.case_file import Case, SeriesRecord, write_journal  # noqa: E402
from viewer.segmentation import grow_from_seed, paint_ball, paint_disc  # noqa: E402
from viewer.state.annotations import Annotations  # noqa: E402
from viewer.state.outlining import OutliningController, Tool, ViewGeometry  # noqa: E402

GRID = np.diag([1.0, 0.9, 0.9, 1.0])


def phantom() -> np.ndarray:
    rng = np.random.default_rng(4)
    image = rng.normal(600, 40, size=(256, 256, 256)).astype(np.int16)
    z, y, x = np.ogrid[:256, :256, :256]
    lesion = (z - 128.0) ** 2 + ((y - 128.0) * 0.9) ** 2 + ((x - 128.0) * 0.9) ** 2 <= 15.0**2
    image[lesion] += 700
    return image


def median_ms(action, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    image = phantom()
    mask = np.zeros(image.shape, dtype=bool)

    def stroke() -> None:
        for step in range(10):
            paint_ball(mask, (128, 100 + 2.2 * step, 100), radius_mm=5.0, voxel2patient=GRID)

    def grow() -> None:
        result = grow_from_seed(image, (128, 128, 128), voxel2patient=GRID)
        assert result.mask[128, 128, 128]

    volume = Volume(image, GRID)
    angle = np.radians(20.0)
    rotation = np.eye(4)
    rotation[1:3, 1:3] = [[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]
    centre = GRID[:3, :3] @ np.array([128.0, 128.0, 128.0])
    rotation[:3, 3] = centre - rotation[:3, :3] @ centre  # about the lesion centre
    grid = PlaneGrid("axial", np.array([centre[0] - 128, centre[1] - 128, 0.0]), 0.5, (512, 512))
    slice2voxel = volume.patient2voxel @ np.linalg.inv(rotation) @ grid.slice2reference(centre[2])
    view = ViewGeometry("bench", volume, slice2voxel, grid.pixel_mm)
    notes = Annotations()
    base = np.zeros((512, 512, 4), np.uint8)
    base[..., 3] = 255

    def redraw(labels: np.ndarray) -> None:
        cut = label_slice(labels, GRID, grid, float(centre[2]), rotation)
        blend(base, overlay_rgba(cut, notes.colours(), opacity=0.35, outline=False))

    def dab_seen() -> None:
        notes.begin_stroke("bench", image.shape, erase=False, description="bench")
        notes.dab(lambda m: paint_disc(m, slice2voxel, (256.0, 230.0), radius_mm=5.0, pixel_mm=0.5))
        notes.end_stroke()
        redraw(notes.labels("bench"))

    tools = OutliningController(notes, lambda key: Transform(rotation, "rigid"))
    tools.settings.tool = Tool.GROW

    def grow_seen() -> None:
        tools.grow(view, 256.0, 256.0)
        redraw(notes.proposal.mask.view(np.uint8))

    grown = grow_from_seed(image, (128, 128, 128), voxel2patient=GRID).mask
    labels = grown.astype(np.uint16)
    case = Case(series={"bench": SeriesRecord("bench", "v", image.shape, GRID)},
                labels={"bench": labels}, lesions=notes.lesions)  # fmt: skip
    journal_folder = Path(tempfile.mkdtemp())

    def autosave() -> None:
        labels[0, 0, 0] ^= 1  # a changed label map is written, as after an edit
        write_journal(case, journal_folder)

    notes.add_lesion()
    results = {
        "reference: full-volume numpy pass": median_ms(lambda: image > 900, args.repeats),
        "brush stroke (10 dabs, 5 mm)": median_ms(stroke, args.repeats),
        "click-to-grow preview": median_ms(grow, args.repeats),
        "brush dab seen (oblique 512x512 view, redraw)": median_ms(dab_seen, args.repeats),
        "grow preview seen (from the view, redraw)": median_ms(grow_seen, args.repeats),
        "autosave: journal of a 256^3 label map": median_ms(autosave, max(args.repeats // 3, 3)),
    }
    shutil.rmtree(journal_folder)
    reference = results["reference: full-volume numpy pass"]
    print("| action | median (ms) | / reference |\n|---|---|---|")
    for name, ms in results.items():
        print(f"| {name} | {ms:.1f} | {ms / reference:.2f} |")


if __name__ == "__main__":
    main()
