"""Exports of the demo case: the PDF report and the tables, against a reference.

Run from the project root::

    .venv/bin/python benchmarks/bench_export.py [--repeats 3]

The demo case is outlined from its ground truth (as the tests do) and saved in a temporary case
folder. Measured in the same run (best of ``--repeats``, seconds): the reference, writing a
one-page PDF with one matplotlib figure (what any PDF export pays at least); ``interval report``
end to end (opening the case, reading the images, measuring, the 5-page PDF); the CSV of every
measurement. Goal (issue 6): the report within 10 s.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from matplotlib.backends.backend_pdf import PdfPages  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from tests.demo_outlined import linked_demo_case  # noqa: E402
from viewer.cli.main import run_command  # noqa: E402


def best_s(action, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        case = linked_demo_case(root)

        def reference() -> None:
            figure = Figure(figsize=(8.27, 11.69))
            figure.add_subplot(1, 1, 1).plot([0, 1], [0, 1])
            with PdfPages(root / "reference.pdf") as pdf:
                pdf.savefig(figure)

        def quiet(arguments: list[str]):
            def run() -> None:
                with contextlib.redirect_stdout(io.StringIO()):
                    assert run_command(arguments) == 0

            return run

        results = {
            "reference: one-page matplotlib PDF": best_s(reference, args.repeats),
            "interval report (demo, 5 pages)": best_s(
                quiet(["report", str(case), "-o", str(root / "r.pdf")]), args.repeats
            ),
            "interval measure --csv (demo)": best_s(
                quiet(["measure", str(case), "--csv"]), args.repeats
            ),
        }
    reference_s = results["reference: one-page matplotlib PDF"]
    print("| export | best (s) | / reference |\n|---|---|---|")
    for name, seconds in results.items():
        print(f"| {name} | {seconds:.2f} | {seconds / reference_s:.1f} |")


if __name__ == "__main__":
    main()
