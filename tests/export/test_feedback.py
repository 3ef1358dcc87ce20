"""The feedback PDF, headless: the demo's reference against a trainee who missed the metastasis,
on the demo's images with a canary planted in every identifying field."""

from __future__ import annotations

import dataclasses
import re

import pytest

from tests.conftest import SAMPLE_SCANS
from tests.export.test_report import (
    CANARIES,
    FOLDER_CANARY,
    copy_with_canaries,
    page_count,
    pdf_text,
)
from viewer.export.feedback import write_feedback_from_files
from viewer.export.privacy import Privacy
from viewer.teaching.reading import Reader, Role
from viewer.teaching.reading_file import read_reading, write_reading

REFERENCE = SAMPLE_SCANS / "demo_case" / "reference.reading"
METASTASIS = 2


@pytest.fixture(scope="module")
def trainee_file(tmp_path_factory):
    """The reference's outlines without the metastasis, no teaching points, SD stated last."""
    reference = read_reading(REFERENCE)
    series = []
    for outlines in reference.series.values():
        labels = outlines.labels.copy()
        labels[labels == METASTASIS] = 0
        series.append(dataclasses.replace(outlines, labels=labels))
    visits = [dataclasses.replace(v, teaching_points=(), new_lesions=()) for v in reference.visits]
    visits[-1] = dataclasses.replace(visits[-1], category="SD")
    trainee = dataclasses.replace(
        reference, reader=Reader("ana trainee", Role.TRAINEE), series=series, visits=visits
    )
    path = tmp_path_factory.mktemp("trainee") / "ana.reading"
    write_reading(trainee, path)
    return path


@pytest.fixture(scope="module")
def canary_images(tmp_path_factory):
    images = tmp_path_factory.mktemp("feedback") / FOLDER_CANARY
    copy_with_canaries(images)
    return images


def test_the_feedback_teaches_and_names_no_patient(trainee_file, canary_images, tmp_path):
    out = tmp_path / "feedback.pdf"
    write_feedback_from_files(
        trainee_file, REFERENCE, out, privacy=Privacy(), images=[canary_images]
    )
    data = out.read_bytes()
    text = pdf_text(data)
    assert data.startswith(b"%PDF") and page_count(data) >= 3
    # the summary and the categories side by side, visits as days
    assert b"(Categories agreed: 4 of 5 visits." in text
    assert re.search(rb"\(Day 2845 +stable disease \\\(SD\\\) +progression \\\(PD\\\) +NO\)", text)
    # why the last visit is progression, and the reference's teaching points
    assert b"The reference counts L2 \\(left occipital metastasis\\) as a new lesion" in text
    assert b"Teaching points" in text and b"Not pseudo-progression" in text
    assert b"(Missed: L2 left occipital metastasis at Day 2845)" in text
    # the key image of the largest disagreement, both outlines drawn on the canary images
    assert b"(The largest disagreement) Tj" in text and b"/Subtype /Image" in data
    assert b"Day 2845: 1.21 mL of the reference's L2 left occipital metastasis" in text
    # no identity, no real date anywhere
    assert re.search(rb"(19|20)\d\d-\d\d-\d\d", text) is None
    for canary in [*CANARIES.values(), FOLDER_CANARY, "CANARYDESC", "CANARYSTUDY", "19250312"]:
        assert canary.encode() not in text, canary
        assert canary.split("^")[0].encode() not in text, canary


def test_real_dates_when_asked_and_no_image_without_the_images(trainee_file, tmp_path):
    out = tmp_path / "dated.pdf"
    write_feedback_from_files(trainee_file, REFERENCE, out, privacy=Privacy(real_dates=True))
    text = pdf_text(out.read_bytes())
    assert b"(Missed: L2 left occipital metastasis at 2003-03-27)" in text
    assert b"image not loaded" in text and b"Day 2845" not in text


def test_a_reading_compared_with_itself(tmp_path):
    out = tmp_path / "same.pdf"
    write_feedback_from_files(REFERENCE, REFERENCE, out, privacy=Privacy())
    text = pdf_text(out.read_bytes())
    assert b"(Categories agreed: 5 of 5 visits.  Mean Dice 1.00, mean HD95 0.0 mm." in text
    assert b"(Missed: none) Tj" in text and b"The largest disagreement" not in text
