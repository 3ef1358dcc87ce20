import gzip

import nibabel as nib
import numpy as np
import pytest

from tests.dicom_factory import ramp_volume, write_series
from viewer.io.sniff import FileKind, sniff


@pytest.fixture
def files(tmp_path):
    dicom = write_series(tmp_path / "dcm", ramp_volume((1, 4, 4)))[0]
    nii = tmp_path / "image.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((2, 2, 2), np.int16), np.eye(4)), nii)
    (tmp_path / "empty").write_bytes(b"")
    (tmp_path / "photo.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(200))
    (tmp_path / "report").write_bytes(b"%PDF-1.4\n" + bytes(200))
    (tmp_path / "IM0001").write_bytes(np.random.default_rng(1).bytes(4096))
    (tmp_path / "archive.gz").write_bytes(gzip.compress(b"hello" * 100))
    return tmp_path, dicom, nii


def test_formats_are_recognised_by_content_not_name(files):
    tmp_path, dicom, nii = files
    renamed = tmp_path / "scan.jpg"
    renamed.write_bytes(dicom.read_bytes())
    assert sniff(dicom) == (FileKind.DICOM, "")
    assert sniff(renamed) == (FileKind.DICOM, "")
    assert sniff(nii) == (FileKind.NIFTI, "")


@pytest.mark.parametrize(
    "name, reason",
    [
        ("empty", "empty file"),
        ("photo.jpg", "JPEG"),
        ("report", "PDF"),
        ("IM0001", "not a DICOM or NIfTI"),
        ("archive.gz", "gzip"),
    ],
)
def test_junk_is_named_with_its_reason(files, name, reason):
    kind, why = sniff(files[0] / name)
    assert kind is FileKind.OTHER
    assert reason in why


def test_the_data_half_of_a_nifti_pair_is_named_as_such(tmp_path):
    nib.save(nib.Nifti1Pair(np.zeros((2, 2, 2), np.int16), np.eye(4)), tmp_path / "pair.img")
    assert sniff(tmp_path / "pair.hdr") == (FileKind.NIFTI, "")
    kind, why = sniff(tmp_path / "pair.img")
    assert kind is FileKind.OTHER and "pair.hdr" in why
