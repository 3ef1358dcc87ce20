"""The demo case outlined with its ground truth and saved, for tests and a benchmark.

The demo's contrast MRIs are outlined with the truth's enhancing tumour (label 1, numbered by the
truth's lesion map), registered by the truth's transforms, with the story's treatment events.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np

from tests.conftest import SAMPLE_SCANS
from viewer.core.lesions import LesionSet
from viewer.core.transform import Registration, RegistrationState, Transform
from viewer.io import load_series, scan_paths
from viewer.io.case_file import Case, SeriesRecord, TreatmentEvent, TreatmentKind, save_case
from viewer.io.nifti import read_nifti

DEMO = SAMPLE_SCANS / "demo_case"
IMAGES = DEMO / "dicom"
TRUTH = json.loads((DEMO / "ground_truth" / "case.json").read_text(encoding="utf-8"))
EVENT_KINDS = {
    "surgery": TreatmentKind.SURGERY,
    "radiotherapy start": TreatmentKind.RADIOTHERAPY_START,
    "radiotherapy end": TreatmentKind.RADIOTHERAPY_END,
    "radiosurgery": TreatmentKind.RADIOSURGERY,
}


def save_demo_case(images: Path) -> Path:
    """Outline the demo's contrast MRIs (found under ``images``) with the truth's enhancing
    tumour, register them by the truth's transforms, and save the case as ``<images>.interval``
    (the case folder the command line finds for a ``*.interval`` path)."""
    catalog = scan_paths([images])
    lesions = LesionSet()
    lesions.add("L1 right frontoparietal glioma")
    lesions.add("L2 left occipital metastasis")
    case = Case(lesions=lesions)
    reference = TRUTH["reference_series"]
    keys = {}
    for visit in TRUTH["visits"]:
        for series in visit["series"]:
            if series["modality"] != "MR" or not series["contrast"]:
                continue
            entry = catalog.find_series(series["series_instance_uid"])
            keys[series["key"]] = entry.key
            tissue = read_nifti(DEMO / series["label_map"]).array
            ids = read_nifti(DEMO / series["lesion_map"]).array
            case.series[entry.key] = SeriesRecord.of_volume(
                entry.key, visit["date"], load_series(entry)
            )
            case.labels[entry.key] = np.where(tissue == 1, ids, 0).astype(np.uint16)
    for visit in TRUTH["visits"]:
        for series in visit["series"]:
            key = keys.get(series["key"])
            if key is None or series["key"] == reference:
                continue
            transform = Transform(np.array(series["patient2reference"]), "rigid")
            case.registrations.append(
                Registration(key, keys[reference], transform, RegistrationState.ACCEPTED)
            )
    case.events = [
        TreatmentEvent(dt.date.fromisoformat(e["date"]), EVENT_KINDS[e["event"]], e["note"])
        for e in TRUTH["history"]
        if e["event"] in EVENT_KINDS
    ]
    folder = images.with_name(images.name + ".interval")
    save_case(case, folder, create=True)
    return folder


def linked_demo_case(root: Path) -> Path:
    """Save the outlined demo case under ``root``, beside a link to the demo's images.

    Returns the ``*.interval`` case folder; nothing is written to the shared case folders.
    """
    (root / "x").symlink_to(IMAGES.resolve(), target_is_directory=True)
    return save_demo_case(root / "x")
