"""Build the demo case's reference reading from its ground truth.

Usage::

    .venv/bin/python sample_scans/demo_reading.py [--out FILE]

Writes ``sample_scans/demo_case/reference.reading`` (or FILE): an expert's reading of the demo
under RANO 2010, made from ``demo_case/ground_truth``. Each visit is read on its contrast MRI:

* L1, the right frontoparietal glioma and its recurrences: the enhancing tumour (label 1 of the
  lesion), at every visit where it enhances;
* L2, the left occipital metastasis, new on 2003-03-27;
* L3, the resection cavity (label 4), where there is one.

Series keys are the series' SeriesInstanceUIDs, which is how Interval keys a DICOM series
wherever the folder lies, and each label map is on the grid Interval loads the series on. The
categories are what Interval's response engine gives for these outlines, checked against the
expert's reading of the story (the script stops if they differ), and the teaching points quote
Interval's own measurements of them (rounded, so that small changes of the measuring code do not
change the text). The output is deterministic: same code, same bytes (tests/teaching checks it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path

import numpy as np

from viewer.analysis.events import TreatmentEvent, TreatmentKind
from viewer.analysis.measure import LesionMeasurement
from viewer.analysis.response import BASELINE, NOT_EVALUABLE, PROGRESSION
from viewer.core.lesions import LesionKind, palette_colour
from viewer.io import load_series, scan_paths
from viewer.io.nifti import read_nifti
from viewer.teaching.assessment import ReadingAssessment, assess_reading
from viewer.teaching.reading import (
    Reader,
    Reading,
    ReadingLesion,
    Role,
    SeriesOutlines,
    VisitStatement,
)
from viewer.teaching.reading_file import write_reading

DEMO = Path(__file__).resolve().parent / "demo_case"
DEFAULT_OUT = DEMO / "reference.reading"
ENHANCING, CAVITY = 1, 4  # ground-truth tissue labels
GLIOMA, METASTASIS, RESECTION = 1, 2, 3  # the reading's lesion numbers
READER = Reader("Interval demo reference (expert reading of a synthetic case)", Role.REFERENCE)
CREATED = dt.datetime(2003, 4, 1, 9, 0, tzinfo=dt.UTC)
CASE_LABEL = "Demo: recurrent right frontoparietal glioma"
EVENT_KINDS = {
    "surgery": TreatmentKind.SURGERY,
    "radiotherapy start": TreatmentKind.RADIOTHERAPY_START,
    "radiotherapy end": TreatmentKind.RADIOTHERAPY_END,
    "radiosurgery": TreatmentKind.RADIOSURGERY,
}
EXPECTED = {
    "1995-06-12": (NOT_EVALUABLE, ()),
    "1995-07-01": (BASELINE, ()),
    "2002-08-14": (PROGRESSION, (GLIOMA,)),
    "2002-12-09": (PROGRESSION, ()),
    "2003-03-27": (PROGRESSION, (METASTASIS,)),
}
"""The expert's category and new lesions at each visit, under RANO 2010."""


def lesions() -> list[ReadingLesion]:
    return [
        ReadingLesion(
            GLIOMA,
            "L1 right frontoparietal glioma",
            LesionKind.ENHANCING,
            colour=palette_colour(GLIOMA),
            note="The primary tumour (1995), then its recurrences at the resection margin.",
        ),
        ReadingLesion(
            METASTASIS,
            "L2 left occipital metastasis",
            LesionKind.ENHANCING,
            colour=palette_colour(METASTASIS),
            note="Ring-enhancing, new on 2003-03-27, in the other hemisphere.",
        ),
        ReadingLesion(
            RESECTION,
            "L3 resection cavity",
            LesionKind.RESECTION_CAVITY,
            colour=palette_colour(RESECTION),
            note="CSF-filled after each resection: never measured as tumour.",
        ),
    ]


def outlines(truth: dict) -> tuple[list[SeriesOutlines], list[VisitStatement]]:
    """Each visit's contrast MRI outlined with the ground truth, on the grid Interval loads."""
    catalog = scan_paths([DEMO / "dicom"])
    series, visits = [], []
    for visit in truth["visits"]:
        (mri,) = [s for s in visit["series"] if s["modality"] == "MR" and s["contrast"]]
        entry = catalog.find_series(mri["series_instance_uid"])
        volume = load_series(entry)
        tissue = read_nifti(DEMO / mri["label_map"]).array
        ids = read_nifti(DEMO / mri["lesion_map"]).array
        if tissue.shape != volume.shape:
            raise SystemExit(f"{mri['label_map']}: {tissue.shape}, series {volume.shape}")
        labels = np.zeros(volume.shape, np.uint16)
        labels[tissue == CAVITY] = RESECTION
        enhancing = tissue == ENHANCING
        labels[enhancing] = np.where(ids[enhancing] == 2, METASTASIS, GLIOMA)
        series.append(
            SeriesOutlines(
                entry.key,
                visit["date"],
                volume.voxel2patient,
                labels,
                volume.metadata.slice_thickness_mm,
            )
        )
        visits.append(
            VisitStatement(visit["date"], dt.date.fromisoformat(visit["date"]), entry.key)
        )
    return series, visits


def events(truth: dict) -> list[TreatmentEvent]:
    return [
        TreatmentEvent(dt.date.fromisoformat(e["date"]), EVENT_KINDS[e["event"]], note=e["note"])
        for e in truth["history"]
        if e["event"] in EVENT_KINDS
    ]


def _size(m: LesionMeasurement) -> str:
    assert m.diameters is not None
    return f"{m.diameters.longest_mm:.0f} x {m.diameters.perpendicular_mm:.0f} mm"


def _spd(m: LesionMeasurement) -> str:
    assert m.diameters is not None
    return f"SPD {round(m.diameters.product_mm2, -1):.0f} mm2"


def _growth(later: LesionMeasurement, earlier: LesionMeasurement) -> str:
    """The change of the product, to two significant digits (``"+610%"``)."""
    assert later.diameters is not None and earlier.diameters is not None
    percent = 100.0 * (later.diameters.product_mm2 / earlier.diameters.product_mm2 - 1.0)
    digits = 1 - int(np.floor(np.log10(abs(percent))))
    return f"{round(percent, digits):+.0f}%"


def _weeks(start: dt.date, end: str) -> int:
    """Whole weeks from a date to a visit."""
    return (dt.date.fromisoformat(end) - start).days // 7


def teaching_points(assessed: ReadingAssessment) -> dict[str, tuple[str, ...]]:
    """What the expert wants a trainee to learn at each visit, with the measured numbers."""
    m = {v.label: v.measurements for v in assessed.visits}
    diagnosis, postop = m["1995-06-12"][GLIOMA], m["1995-07-01"][RESECTION]
    nodule, grown = m["2002-08-14"][GLIOMA], m["2002-12-09"][GLIOMA]
    again, metastasis = m["2003-03-27"][GLIOMA], m["2003-03-27"][METASTASIS]
    (radiosurgery,) = [e.date for e in assessed.reading.events if e.kind.value == "radiosurgery"]
    return {
        "1995-06-12": (
            "Diagnosis, before any treatment: a ring-enhancing tumour in the right "
            f"frontoparietal lobe at the motor strip (L1, {_size(diagnosis)}), with a dark "
            "necrotic core and oedema around it. Left limb weakness later fits this site.",
            "Under RANO 2010 the baseline is the first scan after surgery (1995-07-01), so this "
            "scan is not assessed: it shows where recurrence is to be looked for later.",
        ),
        "1995-07-01": (
            f"Post-operative baseline: the resection cavity (L3, {postop.volume_ml:.0f} mL) is "
            "filled with CSF, dark on T1, and nothing enhances: no measurable disease, so no "
            "target lesion. A cavity is outlined to know where the margin is, never measured "
            "as tumour.",
            "With no measurable disease at the baseline, any measurable enhancement later "
            "means progression. This scan is coronal: Interval measures it on a true-axial "
            "reslice, as the criteria want axial diameters.",
        ),
        "2002-08-14": (
            "New enhancement at the postero-superior margin of the resection cavity (L1, "
            f"{_size(nodule)}, {nodule.volume_ml:.1f} mL): recurrence. Gliomas grow by "
            "infiltration; cells left beyond even a complete resection regrow at its margin.",
            "Not pseudo-progression: that is enhancement growing within about 12 weeks of the "
            "end of radiotherapy (1995-08-11), and this appears seven years later. Radiation "
            "necrosis would not keep growing: by 2002-12-09 this nodule has grown "
            f"{_growth(grown, nodule)} in SPD.",
            "It is measurable (both diameters at least 10 mm, seen on "
            f"{nodule.slices_spanned} slices of {nodule.slice_thickness_mm:g} mm) where the "
            "baseline had no measurable "
            "disease: progression (PD), confirmed at once as it is outside the 12-week window.",
        ),
        "2002-12-09": (
            f"The recurrence (L1) has grown markedly: {_size(grown)}, {_spd(grown)}, against "
            f"{_size(nodule)}, {_spd(nodule)}, on 2002-08-14. Taking that scan, before the "
            f"radiosurgery, as the nadir, the SPD is {_growth(grown, nodule)}: far beyond the "
            "+25% from the nadir that defines progression.",
            f"Radiosurgery was given on {radiosurgery}, "
            f"{_weeks(radiosurgery, '2002-12-09')} weeks before this scan: outside "
            "the 12-week window, so this is progression, not possible pseudo-progression. The "
            f"slices are {grown.slice_thickness_mm:g} mm thick here: RANO raises the 10 mm "
            "minimum only for slices thicker than 5 mm.",
        ),
        "2003-03-27": (
            f"A new ring-enhancing lesion in the left occipital lobe (L2, {_size(metastasis)}), "
            "far from the operated site and in the other hemisphere: a new lesion (a "
            "metastasis). Under RANO 2010 any new lesion is progression, whatever the sums of "
            "the target lesions do.",
            "The tumour has also recurred around the second resection cavity (L1, "
            f"{_size(again)}, {_spd(again)}, {_growth(again, grown)} since 2002-12-09).",
            "Look everywhere at every visit: the new lesion lies far from where the eye is "
            "drawn. Next: a contrast MRI to map the tumour and look for further metastases; no "
            "more radiotherapy so soon after the last.",
        ),
    }


def build() -> Reading:
    truth = json.loads((DEMO / "ground_truth" / "case.json").read_text(encoding="utf-8"))
    series, visits = outlines(truth)
    draft = Reading(
        READER,
        CREATED,
        lesions(),
        series,
        visits,
        criteria_key="rano",
        baseline_visit="1995-07-01",
        events=events(truth),
        case_label=CASE_LABEL,
    )
    assessed = assess_reading(draft)
    for response in assessed.assessment.visits:
        category, new = EXPECTED[response.label]
        if (response.category, response.new_lesions) != (category, new):
            raise SystemExit(
                f"{response.label}: Interval reads {response.category} with new lesions "
                f"{response.new_lesions}, the expert {category} with {new}: {response.reasons}"
            )
    points = teaching_points(assessed)
    stated = [
        VisitStatement(
            v.label,
            v.date,
            v.series_key,
            EXPECTED[v.label][0],
            EXPECTED[v.label][1],
            points[v.label],
        )
        for v in visits
    ]
    return Reading(
        READER,
        CREATED,
        draft.lesions,
        draft.series.values(),
        stated,
        criteria_key=draft.criteria_key,
        baseline_visit=draft.baseline_visit,
        events=draft.events,
        case_label=CASE_LABEL,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the .reading file")
    args = parser.parse_args(argv)
    write_reading(build(), args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
