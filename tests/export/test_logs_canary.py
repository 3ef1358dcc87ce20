"""RELIABILITY D36: logs written during a session contain no canary.

Canary strings are planted in every identifying field of the demo's contrast MRIs (patient name
and ID, birth date, institution, referring physician, descriptions, image comments, a private
tag), in the images' folder name and in a NIfTI's descrip. A load, a measurement, every export
and the ``interval info / measure / report / convert`` commands then run with every log record
captured (the root logger and every other at DEBUG) and standard error captured at the file
descriptor (C libraries included); no canary may appear in either, nor may any log file appear.
Two runs go wrong on purpose, because that is when things get logged: a slice that cannot be
decoded, and a case folder moved away from its images.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from pydicom.encaps import encapsulate

from tests.demo_outlined import save_demo_case
from tests.export.test_report import CANARIES, FOLDER_CANARY, copy_with_canaries
from viewer.cli.case_input import open_case
from viewer.cli.main import run_command
from viewer.display.window import intensity_stats
from viewer.export.cine import cine_frames, write_cine_gif
from viewer.export.privacy import Privacy, UidMap
from viewer.export.report import write_report
from viewer.export.segmentation import export_dicom_seg, export_nifti_labels
from viewer.export.tables import as_json, case_table, write_csv
from viewer.export.transforms import SeriesName, export_transforms
from viewer.export.visit_strip import StripPanel, write_visit_strip
from viewer.io import load_series, scan_paths

NIFTI_CANARY = "CANARYNIFTIDESCRIP QX"
FORBIDDEN = [
    *CANARIES.values(),
    FOLDER_CANARY,
    "CANARYDESC",
    "CANARYSTUDY",
    "CANARYPRIVATE",
    NIFTI_CANARY,
    "CANARY",  # any of them, in any case
    "19250312",  # the planted birth date
]


def leaks(text: str) -> list[str]:
    """The canaries found in ``text`` (also with "^" read as a space), case-insensitively."""
    upper = text.upper()
    return [
        form
        for canary in FORBIDDEN
        for form in {canary.upper(), canary.upper().replace("^", " ")}
        if form in upper
    ]


class Collector(logging.Handler):
    """Every record at every level, formatted with its traceback if it has one."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def all_logs():
    """Capture every record: the root logger at DEBUG, and loggers that do not propagate.

    Libraries keep the levels they set themselves (pydicom's logger is at WARNING unless a
    developer turns on ``pydicom.config.debug``, which logs every file and element it reads):
    what is captured is what the app emits.
    """
    collector = Collector()
    root = logging.getLogger()
    silent = [
        logger
        for logger in logging.Logger.manager.loggerDict.values()
        if isinstance(logger, logging.Logger) and not logger.propagate
    ]
    level = root.level
    root.setLevel(logging.DEBUG)
    for logger in [root, *silent]:
        logger.addHandler(collector)
    yield collector
    root.setLevel(level)
    for logger in [root, *silent]:
        logger.removeHandler(collector)


@pytest.fixture(scope="module")
def canary_images(tmp_path_factory):
    """The demo's contrast MRIs with canaries, a canary NIfTI beside them, and the saved case."""
    root = tmp_path_factory.mktemp("d36")
    images = root / FOLDER_CANARY
    copy_with_canaries(images)
    case = save_demo_case(images)
    nifti = nib.Nifti1Image(np.arange(4 * 5 * 6, dtype=np.int16).reshape(6, 5, 4), np.eye(4))
    nifti.header["descrip"] = NIFTI_CANARY.encode()
    (images / "nifti").mkdir()
    nib.save(nifti, images / "nifti" / "t2.nii.gz")
    return root, images, case


def damage_one_slice(images: Path) -> Path:
    """Declare one slice of an outlined series compressed by a codec nobody has (MPEG-2)."""
    victim = sorted((images / "1995-06-12").rglob("IM*"))[3]
    ds = pydicom.dcmread(victim)
    ds.PixelData = encapsulate([ds.PixelData])
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.100"
    ds.save_as(victim, enforce_file_format=True)
    return victim


def every_export(case: Path, out: Path) -> None:
    """Measure the saved case and export everything the export package writes."""
    opened = open_case(case)
    tracking = opened.tracking
    numbers = {e.key: e.series_number for e in opened.catalog.all_series()}
    table = case_table(tracking, Privacy(), numbers)
    with open(out / "m.csv", "w", encoding="utf-8", newline="") as stream:
        write_csv(table, stream)
    assert as_json(table)["measurements"]
    write_report(tracking, "Case", out / "report.pdf", privacy=Privacy(), volumes=opened.volumes,
                 series_numbers=numbers, registrations=opened.case.registrations)  # fmt: skip
    registrations = {r.series_key: r for r in opened.case.registrations}
    reference = next(iter(registrations.values())).reference_key
    ref_record = opened.case.series[reference]
    uids = UidMap()
    for key, labels in opened.case.labels.items():
        if not labels.any():
            continue
        record = opened.case.series[key]
        export_nifti_labels(labels, record, out / f"{numbers[key]}.nii.gz")
        matrix = registrations[key].transform.moving2reference if key in registrations else None
        if matrix is not None:
            reference_grid = (ref_record.shape, ref_record.voxel2patient, matrix)
            export_nifti_labels(
                labels, record, out / f"{numbers[key]}r.nii", reference=reference_grid
            )
        entry = next(e for e in opened.catalog.all_series() if e.key == key)
        export_dicom_seg(labels, tracking.annotations.lesions, entry.paths, out, privacy=Privacy(),
                         uid_map=uids, first_date=table.first_date)  # fmt: skip
    names = {
        e.key: SeriesName(v.date, e.series_number)
        for p in opened.catalog.patients
        for v in p.visits
        for e in v.series
    }
    export_transforms(opened.case.registrations, out / "tfm", series=names)
    last = table.columns[-1]
    point = np.asarray(last.measurements[1].centroid_reference_mm)
    panels = [
        StripPanel(c.series_key, v, registrations[c.series_key].transform.moving2reference
                   if c.series_key in registrations else None,
                   intensity_stats(v.array).auto_window, table.visit_label(c.date))
        for c in table.columns
        if (v := opened.volumes.get(c.series_key)) is not None
    ]  # fmt: skip
    write_visit_strip(panels, tracking.annotations, point, out / "strip.png", title="Case")
    frames = cine_frames(panels, tracking.annotations, point, half_range_mm=4, field_mm=40)
    write_cine_gif(frames, out / "cine.gif")


def test_d36_no_canary_in_any_log_record_or_standard_error(
    canary_images, tmp_path, monkeypatch, all_logs, capfd
):
    root, images, case = canary_images
    monkeypatch.chdir(tmp_path)
    # load: scan and read every series, NIfTI included
    catalog = scan_paths([images])
    for entry in catalog.all_series():
        load_series(entry)
    assert len(catalog.all_series()) >= 6
    # measure and export everything, through the package and through the commands
    every_export(case, tmp_path)
    for command in (
        ["info", str(images)],
        ["info", str(images), "--json"],
        ["measure", str(case)],
        ["measure", str(case), "--json"],
        ["measure", str(case), "--csv", "--real-dates"],
        ["report", str(case), "-o", str(tmp_path / "cli.pdf")],
        ["convert", str(images), str(tmp_path / "one.nii.gz"), "--series",
         str(catalog.all_series()[0].key)],
    ):  # fmt: skip
        assert run_command(command) == 0, command
    # things going wrong: a slice no decoder reads, and a case moved away from its images
    broken = root / "broken" / FOLDER_CANARY
    shutil.copytree(images, broken)
    broken_case = save_demo_case(broken)
    victim = damage_one_slice(broken)
    assert run_command(["measure", str(broken_case), "--json"]) == 0
    moved = root / "moved" / f"{FOLDER_CANARY}.interval"
    shutil.copytree(case, moved)
    assert run_command(["measure", str(moved)]) == 0

    err = capfd.readouterr().err
    logged = "\n".join(all_logs.lines)
    assert all_logs.lines, "no log record captured: the capture itself is broken"
    assert leaks(logged) == [], [line for line in all_logs.lines if leaks(line)][:5]
    assert leaks(err) == [], err
    # the warnings still say which file and what went wrong, relative to the folder given
    relative = victim.relative_to(broken).as_posix()
    assert f"warning: {relative}: unsupported compression: MPEG2" in err
    assert "warning: the images are not beside the case folder" in err
    # and the app wrote no log file anywhere in the session's folders
    assert not [p for p in (root, tmp_path) for p in p.rglob("*.log")]


def test_the_check_finds_a_canary_planted_in_a_logged_field(canary_images, all_logs):
    """Planting the canary in a logged field (a file's path, as a careless log line would)."""
    _, images, _ = canary_images
    path = next(images.rglob("IM*"))
    logging.getLogger("viewer.io.scan").warning("%s: skipped (truncated)", path)
    assert leaks("\n".join(all_logs.lines)) != []
    ds = pydicom.dcmread(path)
    logging.getLogger("viewer").debug("patient %s", ds.PatientName)
    assert "CANARYNAME^ZQX" in leaks(all_logs.lines[-1])
