"""Shared fixtures: headless Qt, paths to the shared real-scanner data."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# the tests' cases, settings and recent-case lists stay out of the images' folders (the demo case
# in the repository) and out of the user's own settings
_SANDBOX = Path(tempfile.mkdtemp(prefix="interval-tests-"))
atexit.register(shutil.rmtree, _SANDBOX, ignore_errors=True)
os.environ["INTERVAL_CASE_HOME"] = str(_SANDBOX / "cases")
os.environ["XDG_CONFIG_HOME"] = str(_SANDBOX / "config")

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("INTERVAL_SHARED_DATA", PROJECT_ROOT.parent / "shared" / "data"))
SAMPLE_SCANS = PROJECT_ROOT / "sample_scans"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The ../shared/data folder of real scanner files; tests using it skip where it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real scanner data not found at {SHARED_DATA} (set INTERVAL_SHARED_DATA)")
    return SHARED_DATA
