"""Shared fixtures: headless Qt, paths to the shared real-scanner data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("INTERVAL_SHARED_DATA", PROJECT_ROOT.parent / "shared" / "data"))
SAMPLE_SCANS = PROJECT_ROOT / "sample_scans"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The ../shared/data folder of real scanner files; tests using it skip where it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real scanner data not found at {SHARED_DATA} (set INTERVAL_SHARED_DATA)")
    return SHARED_DATA
