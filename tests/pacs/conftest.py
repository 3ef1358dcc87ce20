"""The PACS tests' real server: one Orthanc for the session, loaded with the demo case."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.pacs.orthanc import Orthanc, orthanc_session_fixture


@pytest.fixture(scope="session")
def orthanc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orthanc]:
    """An Orthanc on free loopback ports holding the demo case (skips if Orthanc is missing)."""
    yield from orthanc_session_fixture(tmp_path_factory)
