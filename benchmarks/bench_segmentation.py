"""Outlining tools on a 256^3 volume: a brush stroke and a click-to-grow preview.

Run from the project root::

    .venv/bin/python benchmarks/bench_segmentation.py [--repeats 15]

The volume is a 256x256x256 int16 MR-like phantom (1 x 0.9 x 0.9 mm) with a bright 15 mm sphere
(the enhancing lesion) in noisy tissue. Measured in the same run, as medians in ms:

* **reference**: one full-volume numpy pass (``image > threshold``), what any whole-volume tool
  pays at least;
* **brush stroke**: 10 dabs of a 3-D 5 mm brush along a 20 mm line (``paint_ball``);
* **grow preview**: ``grow_from_seed`` from a click inside the lesion (40 mm maximum radius).

Goal (issue 4): each within 100 ms.
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

from viewer.segmentation import grow_from_seed, paint_ball  # noqa: E402

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

    results = {
        "reference: full-volume numpy pass": median_ms(lambda: image > 900, args.repeats),
        "brush stroke (10 dabs, 5 mm)": median_ms(stroke, args.repeats),
        "click-to-grow preview": median_ms(grow, args.repeats),
    }
    reference = results["reference: full-volume numpy pass"]
    print("| action | median (ms) | / reference |\n|---|---|---|")
    for name, ms in results.items():
        print(f"| {name} | {ms:.1f} | {ms / reference:.2f} |")


if __name__ == "__main__":
    main()
