"""Loading benchmark: Interval's scan+load against SimpleITK (GDCM) and raw file reads.

Run from the project root::

    .venv/bin/python benchmarks/bench_load.py [--repeats 3] [--keep DIR] [--tall N]

Generates, in a temporary folder, a 512x512x300 CT series and a 256x256x180 MR series (one
uncompressed file per slice), then measures in the same run and on the same (cached) files:

* Interval: ``scan_paths`` (header pass, grouping) + ``load_series`` (pixels into a preallocated
  int16 array);
* SimpleITK ``ImageSeriesReader`` (GDCM), including ``GetGDCMSeriesFileNames`` (its header pass);
* reading every file's bytes (the floor any loader pays).

Times are the best of ``--repeats`` runs. Peak memory of Interval's load is measured in a fresh
subprocess (after its header scan) as the growth of the peak resident set size (``VmHWM``, reset
through ``/proc/self/clear_refs`` just before loading; Linux only) over the resident size before
loading, relative to the final array. Prints a markdown table.

With ``--tall N`` it also writes a 512x512xN CT series (RELIABILITY.md E37 asks for N = 2000) and
reports, in a fresh subprocess, the header scan, the time until the middle slice can be shown
(``on_first_slices``), the whole load, the dtype and the peak memory against the int16 array.
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.dicom_factory import stable_uid, write_series  # noqa: E402
from viewer.io import load_series, scan_paths  # noqa: E402

GOAL_TIME_RATIO = 0.5
GOAL_MEMORY_RATIO = 1.3


def generate(folder: Path, kind: str) -> None:
    """Write the benchmark series: a CT (uint16 12-bit, HU via intercept) or an MR (int16)."""
    rng = np.random.default_rng(0)
    if kind == "CT":
        shape, spacing = (300, 512, 512), (1.0, 0.5, 0.5)
    else:
        shape, spacing = (180, 256, 256), (1.0, 1.0, 1.0)
    z, y, x = np.ogrid[: shape[0], : shape[1], : shape[2]]
    head = ((y - shape[1] / 2) ** 2 + (x - shape[2] / 2) ** 2) < (0.4 * shape[1]) ** 2
    if kind == "CT":
        # Scanners typically store CT as unsigned 12-bit with RescaleIntercept -1024.
        base = np.where(head, 1064, 24) + (z % 7)
        array = (base + rng.integers(0, 20, shape)).astype(np.uint16)
        bits = 12
    else:
        array = (np.where(head, 800, 10) + (z % 5) + rng.integers(0, 30, shape)).astype(np.int16)
        bits = 16

    def mutate(k: int, ds) -> None:
        ds.BitsStored, ds.HighBit = bits, bits - 1

    write_series(
        folder,
        array,
        modality=kind,
        spacing=spacing,
        name=f"bench-{kind}",
        mutate=mutate,
    )


def generate_tall(folder: Path, slices: int) -> None:
    """A 512x512 x ``slices`` CT series, written in chunks so that it never sits in memory whole."""
    rng = np.random.default_rng(1)
    chunk = 50
    y, x = np.ogrid[:512, :512]
    head = ((y - 256) ** 2 + (x - 256) ** 2) < 200**2
    for start in range(0, slices, chunk):
        count = min(chunk, slices - start)
        array = (np.where(head, 1064, 24) + rng.integers(0, 20, (count, 512, 512))).astype(
            np.uint16
        )

        def mutate(k, ds, start=start):
            index = start + k
            ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = stable_uid("tall", index)
            ds.InstanceNumber = index + 1
            ds.ImagePositionPatient = [-128.0, -128.0, float(index)]
            ds.BitsStored, ds.HighBit = 12, 11

        write_series(
            folder,
            array,
            modality="CT",
            spacing=(1.0, 0.5, 0.5),
            origin=(-128.0, -128.0, 0.0),
            name="bench-tall",
            file_names=lambda k, start=start: f"IM{start + k + 1:05d}",
            mutate=mutate,
        )


_TALL_PROBE = """
import json, sys, time
sys.path.insert(0, {root!r})
from viewer.io import load_series, scan_paths

def status_kib(field):
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith(field + ":"))

start = time.perf_counter()
[entry] = scan_paths([{folder!r}]).all_series()
scanned = time.perf_counter()
with open("/proc/self/clear_refs", "w") as fh:
    fh.write("5")
before = status_kib("VmRSS")
first = []
volume = load_series(entry, on_first_slices=lambda partial: first.append(time.perf_counter()))
loaded = time.perf_counter()
peak = status_kib("VmHWM")
print(json.dumps({{"scan_s": scanned - start, "first_slice_s": first[0] - scanned,
                  "load_s": loaded - scanned, "grown": (peak - before) * 1024,
                  "nbytes": volume.array.nbytes, "dtype": str(volume.array.dtype),
                  "shape": list(volume.shape)}}))
"""


def tall_row(base: Path, slices: int) -> dict:
    folder = base / "tall"
    generate_tall(folder, slices)
    raw_read(folder)
    code = _TALL_PROBE.format(root=str(ROOT), folder=str(folder))
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def tall_markdown(row: dict) -> str:
    z, y, x = row["shape"]
    return "\n".join(
        [
            "| series | header scan (s) | middle slice shown after (s) | whole load (s) "
            "| dtype | peak memory / final array |",
            "|---|---|---|---|---|---|",
            f"| CT {x}x{y}x{z} ({row['nbytes'] / 2**20:.0f} MiB) | {row['scan_s']:.2f} "
            f"| {row['first_slice_s']:.3f} | {row['load_s']:.2f} | {row['dtype']} "
            f"| {row['grown'] / row['nbytes']:.2f} |",
        ]
    )


def time_best(function, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def interval_load(folder: Path) -> np.ndarray:
    [entry] = scan_paths([folder]).all_series()
    return load_series(entry).array


def simpleitk_load(folder: Path):
    """The SimpleITK image (its voxels stay in ITK's buffer: no copy to numpy is timed)."""
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    return reader.Execute()


def raw_read(folder: Path) -> int:
    total = 0
    for path in sorted(folder.iterdir()):
        total += len(path.read_bytes())
    return total


_MEMORY_PROBE = """
import gc, json, sys
sys.path.insert(0, {root!r})
from viewer.io import load_series, scan_paths

def status_kib(field):
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith(field + ":"))

[entry] = scan_paths([{folder!r}]).all_series()
gc.collect()
with open("/proc/self/clear_refs", "w") as fh:
    fh.write("5")  # reset the peak (VmHWM) to the current resident size
before = status_kib("VmRSS")
volume = load_series(entry)
peak = status_kib("VmHWM")
print(json.dumps({{"grown": (peak - before) * 1024, "nbytes": volume.array.nbytes,
                  "dtype": str(volume.array.dtype)}}))
"""


def interval_peak_memory(folder: Path) -> dict:
    """Peak RSS growth of one load in a fresh interpreter, and the final array size."""
    code = _MEMORY_PROBE.format(root=str(ROOT), folder=str(folder))
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def run(base: Path, repeats: int) -> list[dict]:
    rows = []
    for kind in ("CT", "MR"):
        folder = base / kind
        generate(folder, kind)
        raw_read(folder)  # warm the page cache so every reader sees the same cached files
        ours = interval_load(folder)
        theirs = sitk.GetArrayFromImage(simpleitk_load(folder))
        # Same voxels (SimpleITK applies the rescale too; its slice order follows the normal).
        np.testing.assert_array_equal(ours, theirs)
        shape = ours.shape
        del ours, theirs
        t_interval = time_best(lambda f=folder: interval_load(f), repeats)
        t_scan = time_best(lambda f=folder: scan_paths([f]), repeats)
        [entry] = scan_paths([folder]).all_series()
        t_pixels = time_best(lambda e=entry: load_series(e), repeats)
        t_sitk = time_best(lambda f=folder: simpleitk_load(f), repeats)
        t_raw = time_best(lambda f=folder: raw_read(f), repeats)
        memory = interval_peak_memory(folder)
        rows.append(
            {
                "series": f"{kind} {'x'.join(str(n) for n in shape[::-1])}",
                "interval_s": t_interval,
                "scan_s": t_scan,
                "pixels_s": t_pixels,
                "simpleitk_s": t_sitk,
                "raw_s": t_raw,
                "vs_simpleitk": t_interval / t_sitk,
                "vs_raw": t_interval / t_raw,
                "memory_ratio": memory["grown"] / memory["nbytes"],
                "array_mib": memory["nbytes"] / 2**20,
                "dtype": memory["dtype"],
            }
        )
    return rows


def markdown(rows: list[dict]) -> str:
    lines = [
        "| series | Interval scan+load (s) | = header scan (s) | + pixel load (s) "
        "| SimpleITK/GDCM (s) | raw bytes (s) | Interval / SimpleITK | Interval / raw "
        "| pixel load / SimpleITK | peak memory / final array |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['series']} ({r['dtype']}, {r['array_mib']:.0f} MiB) | {r['interval_s']:.3f} "
            f"| {r['scan_s']:.3f} | {r['pixels_s']:.3f} | {r['simpleitk_s']:.3f} "
            f"| {r['raw_s']:.3f} | {r['vs_simpleitk']:.2f} | {r['vs_raw']:.1f} "
            f"| {r['pixels_s'] / r['simpleitk_s']:.2f} | {r['memory_ratio']:.2f} |"
        )
    met = all(
        r["vs_simpleitk"] <= GOAL_TIME_RATIO and r["memory_ratio"] <= GOAL_MEMORY_RATIO
        for r in rows
    )
    lines.append("")
    lines.append(
        f"Goal: Interval <= {GOAL_TIME_RATIO}x SimpleITK, peak memory <= {GOAL_MEMORY_RATIO}x "
        f"the final array: {'met' if met else 'NOT met'}."
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs per reader (best is kept)")
    parser.add_argument("--keep", type=Path, help="write the series here and keep them")
    parser.add_argument(
        "--tall", type=int, default=0, metavar="N", help="also load a 512x512xN CT series (E37)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="interval-bench-") as tmp:
        base = args.keep or Path(tmp)
        base.mkdir(parents=True, exist_ok=True)
        print(markdown(run(base, args.repeats)))
        if args.tall:
            print()
            print(tall_markdown(tall_row(base, args.tall)))


if __name__ == "__main__":
    main()
