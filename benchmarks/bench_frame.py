"""Frame benchmark: reslice through a registration transform + window/level + RGBA, 512x512 views.

Run from the project root::

    .venv/bin/python benchmarks/bench_frame.py [--frames 40] [--views 1 2 4 6] [--no-ct]
                                               [--repeats 3]

A frame is what a linked comparison view draws when the user scrolls: the visit's volume cut on
the reference frame's axial plane through an oblique rigid transform (8/-6/10 degrees, 5/-8/12 mm;
trilinear), windowed, turned into RGBA with the outside made transparent. Each view shows another
visit (its own transform); all views show the same plane position and step through ``--frames``
positions, so no slice is ever reused.

Measured in the same run on the same volumes, grids and positions:

* **issue 2** (the reference): the implementation as of issue 2: scipy ``map_coordinates`` on a
  float64 coordinate grid covering the whole view, per-pixel inside test, ``apply_window``, and a
  four-byte look-up-table gather;
* **now**: ``viewer.display.reslice`` + ``apply_window`` + ``colorize``, sequentially, and with a
  thread pool of two (the compiled sampler takes one core per frame and releases the GIL).

Volumes: a 256x256x180 int16 MR (1 mm) and a 512x512x300 int16 CT (0.5x0.5x1 mm). Reports the
median ms per frame (one view) and per scroll step (all views), each the best of ``--repeats``
passes since the machine may be shared; the ratio now / issue 2; and the one-off cost of getting
the compiled sampler ready (``viewer.display.sampling.prepare``: numba compile, or a load from its
disk cache). It also checks that both implementations
agree: grey levels, and values against scipy ``map_coordinates``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from scipy import ndimage

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.display.phantoms import rigid  # noqa: E402
from viewer.core.volume import Volume  # noqa: E402
from viewer.display import (  # noqa: E402
    GREY_LUT,
    PlaneGrid,
    SliceRequest,
    apply_window,
    colorize,
    reslice,
    shared_grid,
    slice_positions,
    viewport_grid,
)
from viewer.display.sampling import prepare  # noqa: E402

GOAL_MS = 5.0
VIEW_PX = (512, 512)


def head_volume(shape: tuple[int, int, int], spacing: tuple[float, float, float]) -> Volume:
    """An int16 head-like volume (ellipsoid 'brain' with texture, 'skull' shell, air outside)."""
    rng = np.random.default_rng(0)
    z, y, x = np.ogrid[-1 : 1 : shape[0] * 1j, -1 : 1 : shape[1] * 1j, -1 : 1 : shape[2] * 1j]
    radius = np.sqrt((z / 0.85) ** 2 + (y / 0.9) ** 2 + (x / 0.75) ** 2)
    array = np.where(radius < 0.92, 800, 0).astype(np.int16)
    array[(radius >= 0.86) & (radius < 0.92)] = 1500
    texture = rng.integers(-60, 60, size=shape[1:], dtype=np.int16)
    array += np.where(radius < 0.86, texture, 0).astype(np.int16)
    # axial: columns run to the patient's left (x), rows posterior (y), slices superior (z)
    affine = np.zeros((4, 4))
    affine[0, 2], affine[1, 1], affine[2, 0], affine[3, 3] = spacing[2], spacing[1], spacing[0], 1
    affine[:3, 3] = -(np.asarray(shape)[::-1] - 1) / 2 * np.asarray(spacing)[::-1]
    return Volume(array, affine)


def issue2_frame(
    volume: Volume, grid: PlaneGrid, position_mm: float, patient2reference: np.ndarray
) -> np.ndarray:
    """The issue-2 pipeline, kept verbatim here as the reference (RGBA, shape (rows, cols, 4))."""
    slice2voxel = (
        volume.patient2voxel @ np.linalg.inv(patient2reference) @ grid.slice2reference(position_mm)
    )
    shape = grid.shape
    rows = np.arange(shape[0], dtype=np.float64)[:, None]
    columns = np.arange(shape[1], dtype=np.float64)[None, :]
    coords = np.empty((3, *shape), dtype=np.float64)
    for k in range(3):
        coords[k] = slice2voxel[k, 0] * rows + slice2voxel[k, 1] * columns + slice2voxel[k, 3]
    inside = np.ones(shape, dtype=bool)
    for k, n in enumerate(volume.shape):
        inside &= (coords[k] >= -0.5 - 1e-6) & (coords[k] <= n - 0.5 + 1e-6)
    values = ndimage.map_coordinates(
        volume.array, coords, output=np.float32, order=1, mode="nearest", prefilter=False
    )
    rgba = GREY_LUT[apply_window(values, 800.0, 1600.0)]
    rgba[~inside] = 0
    return rgba


def new_frame(
    volume: Volume, grid: PlaneGrid, position_mm: float, patient2reference: np.ndarray
) -> np.ndarray:
    """Interval's frame now (RGBA, shape (rows, cols, 4))."""
    result = reslice(
        SliceRequest(volume, "axial", position_mm, patient2reference=patient2reference, grid=grid)
    )
    return colorize(apply_window(result.values, 800.0, 1600.0), inside=result.inside)


def timed(step: Callable[[float], object], positions, repeats: int) -> tuple[float, float]:
    """Median wall ms and mean CPU ms (all threads) of ``step``; the best of ``repeats`` passes.

    CPU time hardly grows when other processes compete for the cores, so it is the steadier
    measure on a shared machine.
    """
    passes = []
    for _ in range(repeats):
        times = []
        cpu_start = time.process_time()
        for position in positions:
            start = time.perf_counter()
            step(float(position))
            times.append(time.perf_counter() - start)
        cpu_ms = (time.process_time() - cpu_start) * 1e3 / len(times)
        passes.append((statistics.median(times) * 1e3, cpu_ms))
    return min(p[0] for p in passes), min(p[1] for p in passes)


def check_agreement(volume: Volume, grid: PlaneGrid, position: float, transform: np.ndarray):
    old, new = (
        issue2_frame(volume, grid, position, transform),
        new_frame(volume, grid, position, transform),
    )
    grey_diff = int(np.abs(old.astype(np.int16) - new.astype(np.int16)).max())
    result = reslice(
        SliceRequest(volume, "axial", position, patient2reference=transform, grid=grid)
    )
    slice2voxel = volume.patient2voxel @ np.linalg.inv(transform) @ grid.slice2reference(position)
    rows, columns = np.indices(grid.shape)
    coords = [
        slice2voxel[k, 0] * rows + slice2voxel[k, 1] * columns + slice2voxel[k, 3] for k in range(3)
    ]
    reference = ndimage.map_coordinates(
        volume.array, coords, output=np.float64, order=1, mode="nearest", prefilter=False
    )
    inside = result.inside if result.inside is not None else np.ones(grid.shape, bool)
    value_diff = float(np.abs(result.values - reference)[inside].max())
    return grey_diff, value_diff


def bench_volume(
    name: str, volume: Volume, frames: int, view_counts: list[int], repeats: int
) -> list[str]:
    transforms = [
        rigid((8.0 + k, -6.0 + 0.5 * k, 10.0 - k), (5.0 + k, -8.0, 12.0 - 2 * k)) for k in range(6)
    ]
    grid = viewport_grid(shared_grid("axial", [(volume, transforms[0])]), VIEW_PX)
    positions = slice_positions(volume, "axial", patient2reference=transforms[0])
    middle = positions.first_mm + positions.step_mm * positions.count / 2
    span = positions.step_mm * positions.count * 0.4
    scroll = np.linspace(middle - span, middle + span, frames)

    start = time.perf_counter()
    prepare(volume)
    prepare_ms = (time.perf_counter() - start) * 1e3
    grey_diff, value_diff = check_agreement(volume, grid, float(middle) + 0.3, transforms[0])

    pool = ThreadPoolExecutor(2)
    lines = []
    for views in view_counts:
        chosen = transforms[:views]

        def sequential(frame_fn, position, chosen=chosen):
            for transform in chosen:
                frame_fn(volume, grid, position, transform)

        def pooled(position, chosen=chosen):
            futures = [pool.submit(new_frame, volume, grid, position, t) for t in chosen]
            for future in futures:
                future.result()

        old_ms, old_cpu = timed(
            lambda p: sequential(issue2_frame, p), scroll[: max(8, frames // 3)], repeats
        )
        seq_ms, _ = timed(lambda p: sequential(new_frame, p), scroll, repeats)
        pool_ms, _ = timed(pooled, scroll, repeats)
        _, new_cpu = timed(lambda p: sequential(new_frame, p), scroll, repeats)
        best = min(seq_ms, pool_ms)
        lines.append(
            f"| {name} | {views} | {old_ms / views:.2f} | {seq_ms / views:.2f} | "
            f"{pool_ms / views:.2f} | {best:.1f} | {1000 / best:.0f} | {seq_ms / old_ms:.2f} | "
            f"{old_cpu / views:.2f} | {new_cpu / views:.2f} | {new_cpu / old_cpu:.2f} |"
        )
    pool.shutdown()
    lines.append(
        f"{name}: kernel warm-up (``prepare``) {prepare_ms:.0f} ms;"
        f" grey levels within {grey_diff} of issue 2; values within {value_diff:.2g} of scipy"
        " map_coordinates"
    )
    return lines


def gil_check(volume: Volume, calls: int = 20) -> str:
    """Whether each sampler releases the GIL while it works.

    A pure-Python thread counts while the main thread samples; its progress relative to when the
    main thread sleeps is near 1 for a sampler that releases the GIL and far lower for one that
    holds it (a pure-Python loop, shown for comparison, lets it run only between switches).
    """
    transform = rigid((8.0, -6.0, 10.0), (5.0, -8.0, 12.0))
    grid = viewport_grid(shared_grid("axial", [(volume, transform)]), VIEW_PX)
    slice2voxel = volume.patient2voxel @ np.linalg.inv(transform) @ grid.slice2reference(0.0)
    rows, columns = np.indices(grid.shape)
    coords = np.array(
        [
            slice2voxel[k, 0] * rows + slice2voxel[k, 1] * columns + slice2voxel[k, 3]
            for k in range(3)
        ]
    )
    samplers = {
        "scipy map_coordinates": lambda: ndimage.map_coordinates(
            volume.array, coords, output=np.float32, order=1, mode="nearest", prefilter=False
        ),
        "Interval reslice (numba kernel)": lambda: reslice(
            SliceRequest(volume, "axial", 0.0, patient2reference=transform, grid=grid)
        ),
        "a pure-Python loop": lambda: sum(range(300_000)),
    }
    count, stop = [0], threading.Event()

    def spin() -> None:
        while not stop.is_set():
            count[0] += 1

    def progress(call: Callable[[], object]) -> float:
        before, start = count[0], time.perf_counter()
        for _ in range(calls):
            call()
        return (count[0] - before) / (time.perf_counter() - start)

    spinner = threading.Thread(target=spin, daemon=True)
    spinner.start()
    try:
        idle = progress(lambda: time.sleep(0.01))
        parts = [f"{name} {progress(call) / idle:.2f}" for name, call in samplers.items()]
    finally:
        stop.set()
        spinner.join()
    return "GIL check (a Python thread's progress while sampling, 1 = GIL released): " + "; ".join(
        parts
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=40, help="scroll positions per measurement")
    parser.add_argument("--views", type=int, nargs="+", default=[1, 2, 4, 6])
    parser.add_argument("--no-ct", action="store_true", help="skip the 512x512x300 CT")
    parser.add_argument("--repeats", type=int, default=3, help="passes; the best median counts")
    args = parser.parse_args(argv)

    volumes = [("MR 256x256x180", head_volume((180, 256, 256), (1.0, 1.0, 1.0)))]
    if not args.no_ct:
        volumes.append(("CT 512x512x300", head_volume((300, 512, 512), (1.0, 0.5, 0.5))))
    print(f"512x512 views, oblique rigid transform, {args.frames} scroll positions\n")
    print(
        "| volume | views | issue 2 ms/frame | now ms/frame, sequential | now ms/frame, pool(2) |"
        " best ms/step (all views) | steps/s | now / issue 2 (sequential) |"
        " issue 2 CPU ms/frame | now CPU ms/frame | CPU now / issue 2 |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    notes = []
    for name, volume in volumes:
        lines = bench_volume(name, volume, args.frames, args.views, args.repeats)
        print("\n".join(line for line in lines if line.startswith("|")))
        notes += [line for line in lines if not line.startswith("|")]
    print("\n".join(notes))
    print(gil_check(volumes[0][1]))
    print(f"\ngoal: at most {GOAL_MS} ms per frame (median)")


if __name__ == "__main__":
    main()
