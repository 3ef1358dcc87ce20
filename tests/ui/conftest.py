"""A small generated case on disk (two visits, CT and MRI, one junk file) and a window helper."""

from __future__ import annotations

import datetime as dt
import os
import threading
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtWidgets import QFileDialog, QInputDialog, QMessageBox

from tests.dicom_factory import write_series
from viewer.core.transform import Transform
from viewer.registration.automatic import RegistrationResult
from viewer.ui.main_window import MainWindow

VISIT_1, VISIT_2 = dt.date(1995, 6, 12), dt.date(2003, 3, 27)
LOAD_TIMEOUT_MS = 20_000


def head(shape=(12, 48, 40), *, brain=400, skull=1600, background=0) -> np.ndarray:
    """An ellipsoid 'head' with a bright rim, stored as int16, distinct value per voxel row."""
    z, y, x = np.indices(shape)
    r = ((z - shape[0] / 2) / (shape[0] / 2)) ** 2
    r = (
        r
        + ((y - shape[1] / 2) / (shape[1] / 2.4)) ** 2
        + ((x - shape[2] / 2) / (shape[2] / 2.4)) ** 2
    )
    array = np.full(shape, background, np.int16)
    array[r < 1.0] = skull
    array[r < 0.8] = brain
    array += (y % 7).astype(np.int16)  # some texture so windows matter
    return array


@pytest.fixture(scope="session")
def case_folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("case")
    write_series(
        root / "v1_ct",
        head(background=-1000 + 1024, brain=1060, skull=2500),
        modality="CT",
        study_date=VISIT_1,
        series_number=1,
        series_description="CT head",
        name="v1ct",
    )
    write_series(
        root / "v1_mr",
        head(),
        study_date=VISIT_1,
        series_number=2,
        series_description="T1 post-contrast",
        name="v1mr",
        spacing=(3.0, 1.0, 1.0),
    )
    write_series(
        root / "v2_ct",
        head(background=24, brain=1064, skull=2600),
        modality="CT",
        study_date=VISIT_2,
        series_number=1,
        series_description="CT head",
        name="v2ct",
    )

    def contrast(index, ds):
        ds.ContrastBolusAgent = "Gadolinium"

    write_series(
        root / "v2_t1c",
        head(brain=500),
        study_date=VISIT_2,
        series_number=3,
        series_description="AX T1 MPRAGE",
        name="v2t1c",
        mutate=contrast,
    )
    write_series(
        root / "v2_t2",
        head(brain=900),
        study_date=VISIT_2,
        series_number=2,
        series_description="AX T2",
        name="v2t2",
    )
    (root / "notes.pdf").write_bytes(b"%PDF-1.4 not an image")
    # a series whose every slice is cut inside its pixel data: it cannot be loaded at all
    broken = write_series(
        root / "v2_broken",
        head(),
        study_date=VISIT_2,
        series_number=9,
        series_description="FLAIR broken",
        name="v2broken",
    )
    for path in broken:
        data = path.read_bytes()
        path.write_bytes(data[:-200])
    return root


def identity_register(reference, moving, *, progress, cancelled) -> RegistrationResult:
    """A stand-in automatic registration that finds the scanner positions already aligned."""
    progress(1, 1, "")
    return RegistrationResult(Transform(), 0.0, 0, 0.0, "identity (test)")


@pytest.fixture(autouse=True)
def no_unexpected_dialogs(monkeypatch):
    """A modal dialog nobody answers would hang the suite: fail the test instead.

    Tests that expect a dialog patch these again with the answer they want.
    """

    def unexpected(*args, **kwargs):
        text = next((a for a in args if isinstance(a, str) and len(a) > 20), args)
        raise AssertionError(f"unexpected modal dialog: {text}")

    for name in ("question", "warning", "critical", "information"):
        monkeypatch.setattr(QMessageBox, name, unexpected)
    monkeypatch.setattr(QMessageBox, "exec", unexpected)
    monkeypatch.setattr(QInputDialog, "getItem", unexpected)
    for name in ("getSaveFileName", "getOpenFileName", "getExistingDirectory"):
        monkeypatch.setattr(QFileDialog, name, unexpected)


@pytest.fixture
def window(qtbot):
    """A main window that is closed (and its workers waited for) after the test."""
    created: list[MainWindow] = []

    def make(**kwargs) -> MainWindow:
        # registration starts by itself on opening; the small generated case is too thin for
        # the real multi-resolution registration, which the demo-case story test runs
        kwargs.setdefault("register", identity_register)
        w = MainWindow(**kwargs)
        # a failed test must not wait on "Save your changes?" when pytest-qt closes the window
        qtbot.addWidget(w, before_close_func=lambda w: w.annotations.mark_clean())
        w.resize(1200, 800)
        w.show()
        created.append(w)
        return w

    yield make
    for w in created:
        w.annotations.mark_clean()
        w.close()


def wait_loaded(qtbot, w: MainWindow, key: str | None = None) -> None:
    """Wait until the selected (or given) series is loaded and shown."""

    def ready() -> bool:
        selected = w.view_state.series_key
        return (
            selected is not None
            and (key is None or selected == key)
            and w.controller.current is not None
            and not w.controller.current.is_preview
            and w.slice_view.current_frame() is not None
        )

    qtbot.waitUntil(ready, timeout=LOAD_TIMEOUT_MS)


class Gate:
    """Holds a worker until the test lets it go (so cancel can be tested deterministically)."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def wait(self) -> None:
        self.entered.set()
        if not self.release.wait(timeout=30):
            raise TimeoutError("the test never released the gate")


os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
