"""Retrieving the whole demo case from a local Orthanc, against a plain pynetdicom C-GET script.

Run from the project root::

    .venv/bin/python benchmarks/bench_pacs.py [--repeats 3]

An Orthanc (Debian's ``Orthanc``, started with ``TCP_NODELAY=1`` as the PACS tests do) is
started on free loopback ports with the demo case loaded (5 visits, 8 series, 300 images).
Measured in the same run, best of ``--repeats``, each into a fresh folder:

- the reference: the plain pynetdicom C-GET script of pynetdicom's documentation (one
  association, its common storage contexts with the SCP role, a study-level C-GET per study,
  each image decoded and saved with ``ds.save_as``);
- Interval's C-GET (``DimseClient.retrieve``): a series-level C-GET per series after an
  image-level C-FIND listing its instances, images written as received, each series flushed
  to the disk and marked complete;
- Interval's C-MOVE to its own storage SCP, and DICOMweb WADO-RS, for comparison.

Goal (issue 8): Interval's C-GET at least as fast as the reference (images per second).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pydicom.dataset import Dataset  # noqa: E402
from pynetdicom import AE, StoragePresentationContexts, build_role, evt  # noqa: E402
from pynetdicom.sop_class import (  # noqa: E402
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
)

from tests.pacs.orthanc import Orthanc, demo_files, running_orthanc  # noqa: E402
from viewer.pacs.client import connect  # noqa: E402
from viewer.pacs.query import SearchQuery  # noqa: E402
from viewer.pacs.store import LocalStore, SeriesState  # noqa: E402


def plain_pynetdicom_cget(server: Orthanc, out: Path) -> int:
    """The reference: pynetdicom's C-GET example, every study of the server; images saved."""
    out.mkdir()
    saved = []

    def handle_store(event: evt.Event) -> int:
        ds = event.dataset
        ds.file_meta = event.file_meta
        ds.save_as(out / ds.SOPInstanceUID, enforce_file_format=True)
        saved.append(ds.SOPInstanceUID)
        return 0x0000

    ae = AE(ae_title="INTERVAL")
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelGet)
    roles = []
    for context in StoragePresentationContexts[:126]:
        ae.add_requested_context(context.abstract_syntax)
        roles.append(build_role(context.abstract_syntax, scp_role=True))
    assoc = ae.associate(
        "127.0.0.1",
        server.dicom_port,
        ae_title="ORTHANC",
        ext_neg=roles,
        evt_handlers=[(evt.EVT_C_STORE, handle_store)],
    )
    assert assoc.is_established
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.StudyInstanceUID = ""
    studies = [
        identifier.StudyInstanceUID
        for status, identifier in assoc.send_c_find(
            query, StudyRootQueryRetrieveInformationModelFind
        )
        if identifier is not None
    ]
    for study in studies:
        request = Dataset()
        request.QueryRetrieveLevel = "STUDY"
        request.StudyInstanceUID = study
        for _status, _ in assoc.send_c_get(request, StudyRootQueryRetrieveInformationModelGet):
            pass
    assoc.release()
    return len(saved)


def interval_retrieve(server: Orthanc, out: Path, **settings: object) -> int:
    """Interval's retrieval of every series of every study, into a new local store."""
    with connect(server.server(**settings), server.local()) as client:
        studies = client.find_studies(SearchQuery())
        series = client.find_series([s.study_uid for s in studies])
        results = client.retrieve(series, LocalStore(out))
    assert all(r.state is SeriesState.COMPLETE for r in results)
    return sum(len(r.received) for r in results)


def best(action: Callable[[Path], int], root: Path, repeats: int) -> tuple[float, int]:
    """Best time (s) over ``repeats`` runs, each into a new folder, and the images received."""
    times, count = [], 0
    for run in range(repeats):
        folder = root / f"{action.__name__}-{run}-{time.monotonic_ns()}"
        start = time.perf_counter()
        count = action(folder)
        times.append(time.perf_counter() - start)
    return min(times), count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        with running_orthanc(root / "orthanc", demo_files()) as server:
            runs: dict[str, Callable[[Path], int]] = {
                "reference: plain pynetdicom C-GET script": lambda out: plain_pynetdicom_cget(
                    server, out
                ),
                "Interval C-GET": lambda out: interval_retrieve(server, out),
                "Interval C-MOVE": lambda out: interval_retrieve(
                    server, out, retrieve_method="C-MOVE"
                ),
            }
            if server.dicomweb:
                runs["Interval DICOMweb (WADO-RS)"] = lambda out: interval_retrieve(
                    server, out, protocol="dicomweb"
                )
            results = {}
            for name, action in runs.items():
                action.__name__ = name.split(":")[0].replace(" ", "-")
                results[name] = best(action, root, args.repeats)
    reference_s, images = results["reference: plain pynetdicom C-GET script"]
    reference_rate = images / reference_s
    print(f"Demo case: {images} images, best of {args.repeats}\n")
    print("| retrieval | best (s) | images/s | speed / reference |\n|---|---|---|---|")
    for name, (seconds, count) in results.items():
        rate = count / seconds
        print(f"| {name} | {seconds:.2f} | {rate:.0f} | {rate / reference_rate:.2f} |")


if __name__ == "__main__":
    main()
