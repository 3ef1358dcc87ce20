"""The PDF report of the demo case, headless: pages, the response in its text, no identity."""

from __future__ import annotations

import re
import shutil
import time
import zlib

import pydicom
import pytest

from tests.demo_outlined import IMAGES, TRUTH, linked_demo_case, save_demo_case
from viewer.cli.main import run_command

CANARIES = {
    "PatientName": "CANARYNAME^ZQX",
    "PatientID": "CANARYID7731",
    "InstitutionName": "CANARY INSTITUTE QX",
    "ReferringPhysicianName": "CANARYDOC^QX",
    "ImageComments": "CANARYCOMMENT QX",
}
FOLDER_CANARY = "CANARYFOLDER_QX"


def pdf_text(data: bytes) -> bytes:
    """The file's bytes followed by every stream decompressed (text is drawn inside streams)."""
    parts = [data]
    for match in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", data, re.S):
        try:
            parts.append(zlib.decompress(match.group(1)))
        except zlib.error:
            parts.append(match.group(1))
    return b"\n".join(parts)


def page_count(data: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page\b(?!s)", data))


@pytest.fixture(scope="module")
def demo_case(tmp_path_factory):
    return linked_demo_case(tmp_path_factory.mktemp("report"))


def test_report_of_the_demo_case(demo_case, tmp_path, capsys):
    output = tmp_path / "report.pdf"
    started = time.perf_counter()
    code = run_command(
        [
            "report",
            str(demo_case),
            "-o",
            str(output),
            "--criteria",
            "rano",
            "--case-label",
            "Glioma 3",
        ]
    )
    elapsed = time.perf_counter() - started
    assert code == 0, capsys.readouterr().err
    assert str(output) in capsys.readouterr().out
    data = output.read_bytes()
    assert data.startswith(b"%PDF")
    # summary, timeline, L1, L2, provenance
    assert page_count(data) >= 5
    text = pdf_text(data)
    assert b"(Interval report \x97 Glioma 3) Tj" in text  # cp1252 em dash
    assert b"PD \\(confirmed\\)" in text and b"RANO 2010" in text  # "(" is escaped in PDF
    assert b"(L1 39.2 x 30.9 mm, 16.74 mL) Tj" in text  # the key image at Day 2737
    assert b"Day 2737" in text and b"2002-12-09" not in text
    assert b"/Producer (Interval)" in data and b"/Creator (Interval)" in data
    print(f"demo report written in {elapsed:.2f} s")  # the budget is 10 s (issue 6)


def test_report_without_a_saved_case_fails_with_a_message(tmp_path, capsys):
    (tmp_path / "images").mkdir()
    assert run_command(["report", str(tmp_path / "images"), "-o", str(tmp_path / "r.pdf")]) == 1
    assert "no saved case" in capsys.readouterr().err
    assert not (tmp_path / "r.pdf").exists()


def copy_with_canaries(target):
    """Copy the demo's contrast MRIs with a canary in every identifying field and a private tag."""
    for visit in TRUTH["visits"]:
        for series in visit["series"]:
            if series["modality"] != "MR" or not series["contrast"]:
                continue
            source = IMAGES / series["key"]
            destination = target / series["key"]
            destination.mkdir(parents=True)
            for path in sorted(source.iterdir()):
                ds = pydicom.dcmread(path)
                for keyword, value in CANARIES.items():
                    setattr(ds, keyword, value)
                ds.PatientBirthDate = "19250312"
                ds.SeriesDescription = f"{ds.get('SeriesDescription', '')} CANARYDESC"
                ds.StudyDescription = "CANARYSTUDY QX"
                block = ds.private_block(0x0011, "CANARY CREATOR", create=True)
                block.add_new(0x01, "LO", "CANARYPRIVATE QX")
                ds.save_as(destination / path.name)


def test_no_canary_in_the_report_or_its_name(tmp_path, monkeypatch, capsys):
    images = tmp_path / FOLDER_CANARY
    copy_with_canaries(images)
    folder = save_demo_case(images)
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.chdir(out)
    assert run_command(["report", str(folder)]) == 0, capsys.readouterr().err
    written = list(out.iterdir())
    assert [p.name for p in written] == ["Case_report.pdf"]
    data = written[0].read_bytes()
    text = pdf_text(data).upper()
    assert page_count(data) >= 4 and b"PD" in text
    for canary in [
        *CANARIES.values(),
        FOLDER_CANARY,
        "CANARYDESC",
        "CANARYSTUDY",
        "CANARY",
        "1925",
    ]:
        for form in {canary, canary.replace("^", " ")}:
            assert form.upper().encode() not in text, form
    shutil.rmtree(images)
