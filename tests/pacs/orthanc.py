"""A real Orthanc on loopback for the PACS tests: generated configuration, free ports, demo data.

Used by tests/pacs/conftest.py and tests/ui/test_pacs_panel.py (imported there, so both share
the helpers; each test directory starts its own server).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from viewer.pacs.config import LocalNode, Server

ORTHANC = shutil.which("Orthanc")
DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
SERVER_AE = "ORTHANC"
INTERVAL_AE = "INTERVAL"
START_TIMEOUT_S = 20.0
DEMO_DICOM = Path(__file__).resolve().parents[2] / "sample_scans" / "demo_case" / "dicom"


def free_port() -> int:
    """A TCP port nothing listens on right now (loopback)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def require_orthanc() -> str:
    """The Orthanc binary, or skip the test with the reason."""
    if ORTHANC is None:
        pytest.skip("Orthanc is not installed (Debian package 'orthanc'; CI installs it)")
    return ORTHANC


def demo_files() -> list[Path]:
    """Every DICOM file of the demo case, sorted."""
    return sorted(p for p in DEMO_DICOM.rglob("*") if p.is_file())


class Orthanc:
    """One Orthanc process with its own configuration, storage and free loopback ports.

    C-FIND, C-GET and C-MOVE are allowed only to the registered modalities (Orthanc checks the
    calling AE title and host: ``DicomAlways*`` are off); the called AE title is checked too.
    Interval's storage SCP is registered as ``INTERVAL`` at ``127.0.0.1:<scp_port>`` for C-MOVE.
    """

    def __init__(self, root: Path, *, dicomweb: bool = True) -> None:
        self.root = root
        self.dicom_port = free_port()
        self.http_port = free_port()
        self.scp_port = free_port()
        self.dicomweb = dicomweb and DICOMWEB_PLUGIN.is_file()
        self.process: subprocess.Popen | None = None
        self.log = root / "orthanc.log"

    def configuration(self) -> dict:
        storage = str(self.root / "storage")
        config = {
            "Name": "IntervalTests",
            "StorageDirectory": storage,
            "IndexDirectory": storage,
            "StorageCompression": False,
            "HttpPort": self.http_port,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "DicomServerEnabled": True,
            "DicomAet": SERVER_AE,
            "DicomPort": self.dicom_port,
            "DicomCheckCalledAet": True,
            "DicomCheckModalityHost": True,
            "DicomAlwaysAllowEcho": False,
            "DicomAlwaysAllowStore": False,
            "DicomAlwaysAllowFind": False,
            "DicomAlwaysAllowGet": False,
            "DicomAlwaysAllowMove": False,
            "DicomModalities": {
                "interval": {"AET": INTERVAL_AE, "Host": "127.0.0.1", "Port": self.scp_port},
            },
            "DicomScuTimeout": 10,
            "DicomScpTimeout": 30,
            "Plugins": [],
        }
        if self.dicomweb:
            config["Plugins"] = [str(DICOMWEB_PLUGIN)]
            config["DicomWeb"] = {"Enable": True, "Root": "/dicom-web/"}
        return config

    def start(self) -> Orthanc:
        """Start it and wait until both its HTTP and DICOM ports answer."""
        binary = require_orthanc()
        self.root.mkdir(parents=True, exist_ok=True)
        config = self.root / "orthanc.json"
        config.write_text(json.dumps(self.configuration(), indent=2))
        env = dict(os.environ, TCP_NODELAY="1")
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [binary, str(config)], stdout=log, stderr=subprocess.STDOUT, env=env
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Orthanc exited at start:\n{self.log.read_text()[-3000:]}")
            if self._answers():
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"Orthanc did not start in {START_TIMEOUT_S} s")

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/system", timeout=1) as response:
                response.read()
            with socket.create_connection(("127.0.0.1", self.dicom_port), timeout=1):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        """Stop it (terminate, then kill if it lingers)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)

    def kill(self) -> None:
        """Kill it at once (SIGKILL), as a crash or a pulled cable would."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def pause(self) -> None:
        """Freeze it (SIGSTOP): connections stay open but nothing answers."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Unfreeze it (SIGCONT)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def upload(self, paths: Iterable[Path]) -> int:
        """Store files through the REST API; returns how many."""
        count = 0
        for path in paths:
            request = urllib.request.Request(
                f"{self.url}/instances", data=path.read_bytes(), method="POST"
            )
            with urllib.request.urlopen(request, timeout=30) as response:
                response.read()
            count += 1
        return count

    def rest(self, path: str) -> object:
        """GET a REST resource as JSON."""
        with urllib.request.urlopen(f"{self.url}{path}", timeout=30) as response:
            return json.loads(response.read())

    def server(self, **changes: object) -> Server:
        """Interval's settings for this server (DIMSE unless ``protocol="dicomweb"``)."""
        settings = {
            "name": "Test Orthanc",
            "ae_title": SERVER_AE,
            "host": "127.0.0.1",
            "port": self.dicom_port,
            "timeout_s": 10.0,
            "dicomweb_url": f"{self.url}/dicom-web",
        }
        settings.update(changes)
        return Server(**settings)  # type: ignore[arg-type]

    def local(self, **changes: object) -> LocalNode:
        """Interval's node as this server knows it (AE title and C-MOVE port)."""
        settings = {"ae_title": INTERVAL_AE, "storage_port": self.scp_port}
        settings.update(changes)
        return LocalNode(**settings)  # type: ignore[arg-type]


@contextlib.contextmanager
def running_orthanc(root: Path, files: Iterable[Path] = (), **options: object) -> Iterator[Orthanc]:
    """An Orthanc holding ``files`` for the duration of the block.

    It is killed at the end: its storage is temporary, and a graceful stop spends ~3.5 s in
    Orthanc's shutdown polling.
    """
    server = Orthanc(root, **options).start()  # type: ignore[arg-type]
    try:
        server.upload(files)
        yield server
    finally:
        if server.process is not None and server.process.poll() is None:
            server.resume()  # a paused process cannot die of SIGKILL until it runs again
        server.kill()


@contextlib.contextmanager
def silent_listener() -> Iterator[int]:
    """A port that accepts TCP connections and never says a word (for timeouts)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield int(sock.getsockname()[1])


def orthanc_session_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orthanc]:
    """Body of the session fixtures: an Orthanc loaded with the demo case."""
    require_orthanc()
    with running_orthanc(tmp_path_factory.mktemp("orthanc"), demo_files()) as server:
        yield server
