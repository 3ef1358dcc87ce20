"""The local store of retrieved series: one folder per series, complete only when proven so.

Layout, under ``<data home>/pacs`` (:func:`viewer.state.case_session.data_home`)::

    <StudyInstanceUID>/<SeriesInstanceUID>/<SOPInstanceUID>.dcm   one file per instance
    <StudyInstanceUID>/<SeriesInstanceUID>.series.json            the marker, written last

Each instance is written to a temporary name and renamed, so a file under its final name is
whole. The marker lists the SOP Instance UIDs expected (what the server said the series holds)
and received; it says ``complete`` only when every expected instance arrived, and it is written
only after every instance file and the folder were flushed to the disk. Starting a transfer
removes the marker first, so a series being fetched, or one whose transfer was killed, never
looks complete; an interrupted transfer ends with a ``partial`` marker and keeps what arrived.
The marker sits beside the series folder, not in it, so scanning the folder finds only images.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import os
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from io import BytesIO
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset

from viewer.io.atomic import (
    TEMP_PREFIX,
    fsync_file,
    fsync_folder,
    remove_stale_temporaries,
    save_error,
    temporary_path,
    write_bytes_atomic,
)
from viewer.pacs.query import is_uid
from viewer.state.case_session import data_home

MARKER_SUFFIX = ".series.json"
MARKER_FORMAT = "interval-pacs-series"
MARKER_VERSION = 1
INSTANCE_SUFFIX = ".dcm"


class SeriesState(enum.Enum):
    """Where a series stands in the local store."""

    ABSENT = "absent"
    """Never fetched."""
    INCOMPLETE = "incomplete"
    """Files but no marker: a transfer is running, or was killed before it could say."""
    PARTIAL = "partial"
    """A transfer ended without every expected instance (the marker says what is missing)."""
    COMPLETE = "complete"
    """Every expected instance arrived and is on the disk."""


@dataclass(frozen=True)
class StoredSeries:
    """What the store knows of one series.

    Parameters
    ----------
    study_uid, series_uid : str
    folder : Path
        The series' folder (its instance files only).
    state : SeriesState
    expected, received : tuple of str
        SOP Instance UIDs, sorted; ``expected`` is empty when the server listed none (then
        ``expected_count`` is what it said).
    expected_count : int
    server : str
        The server it came from, as :meth:`viewer.pacs.config.Server.describe` names it.
    reason : str
        Why a series is partial ("" when complete).
    """

    study_uid: str
    series_uid: str
    folder: Path
    state: SeriesState
    expected: tuple[str, ...] = ()
    received: tuple[str, ...] = ()
    expected_count: int = 0
    server: str = ""
    reason: str = ""

    @property
    def missing(self) -> tuple[str, ...]:
        """Expected SOP Instance UIDs that did not arrive."""
        received = set(self.received)
        return tuple(uid for uid in self.expected if uid not in received)


class LocalStore:
    """The folder retrieved series are written to.

    Parameters
    ----------
    root : Path, optional
        ``<data home>/pacs`` by default.
    """

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root is not None else data_home() / "pacs"

    def series_folder(self, study_uid: str, series_uid: str) -> Path:
        """The folder of a series' instance files.

        Raises
        ------
        ValueError
            A UID is malformed (it would not be a safe folder name).
        """
        for uid in (study_uid, series_uid):
            if not is_uid(uid):
                raise ValueError(f"'{uid}' is not a DICOM UID")
        return self.root / study_uid / series_uid

    def marker_path(self, study_uid: str, series_uid: str) -> Path:
        """The marker file of a series (beside its folder)."""
        folder = self.series_folder(study_uid, series_uid)
        return folder.with_name(folder.name + MARKER_SUFFIX)

    def status(self, study_uid: str, series_uid: str) -> StoredSeries:
        """What the store holds of a series; COMPLETE only with a complete marker and every file."""
        folder = self.series_folder(study_uid, series_uid)
        marker = self.marker_path(study_uid, series_uid)
        try:
            data = json.loads(marker.read_text(encoding="utf-8"))
        except FileNotFoundError:
            state = SeriesState.INCOMPLETE if _has_instances(folder) else SeriesState.ABSENT
            return StoredSeries(study_uid, series_uid, folder, state)
        except (OSError, ValueError):
            return StoredSeries(
                study_uid, series_uid, folder, SeriesState.PARTIAL, reason="unreadable marker"
            )
        stored = _from_marker(data, study_uid, series_uid, folder)
        if stored.state is SeriesState.COMPLETE:
            gone = [uid for uid in stored.received if not _instance_path(folder, uid).is_file()]
            if gone:
                reason = f"{len(gone)} files removed since"
                return replace(stored, state=SeriesState.PARTIAL, reason=reason)
        return stored

    def begin(
        self,
        study_uid: str,
        series_uid: str,
        *,
        server: str,
        expected: Iterable[str] = (),
        expected_count: int | None = None,
    ) -> SeriesWriter:
        """Start (or restart) the transfer of a series; it stops looking complete at once.

        Instances a previous transfer's marker lists as received stay and count as received;
        any other file in the folder (from a killed transfer, so perhaps not on the disk) is
        removed.

        Parameters
        ----------
        study_uid, series_uid : str
        server : str
            Recorded in the marker.
        expected : iterable of str
            SOP Instance UIDs the server lists for the series.
        expected_count : int, optional
            The number of instances, when the server did not list them.

        Raises
        ------
        viewer.errors.SaveError
            The folder cannot be prepared.
        """
        folder = self.series_folder(study_uid, series_uid)
        marker = self.marker_path(study_uid, series_uid)
        previous = self.status(study_uid, series_uid)
        kept = set(previous.received) if previous.state is not SeriesState.INCOMPLETE else set()
        try:
            folder.mkdir(parents=True, exist_ok=True)
            if marker.exists():
                marker.unlink()
                fsync_folder(marker.parent)
            remove_stale_temporaries(folder)
            for path in folder.iterdir():
                if path.suffix == INSTANCE_SUFFIX and path.stem not in kept:
                    path.unlink()
        except OSError as exc:
            raise save_error(exc, folder, "preparing the series folder") from exc
        kept = {uid for uid in kept if _instance_path(folder, uid).is_file()}
        return SeriesWriter(
            study_uid,
            series_uid,
            folder,
            marker,
            server=server,
            expected=expected,
            expected_count=expected_count,
            kept=kept,
        )


class SeriesWriter:
    """Writes the instances of one series as they arrive, then its marker (:meth:`finish`).

    Safe to call from the thread a DIMSE association delivers C-STOREs on.
    """

    def __init__(
        self,
        study_uid: str,
        series_uid: str,
        folder: Path,
        marker: Path,
        *,
        server: str,
        expected: Iterable[str],
        expected_count: int | None,
        kept: set[str],
    ) -> None:
        self.study_uid, self.series_uid = study_uid, series_uid
        self.folder, self.marker, self.server = folder, marker, server
        self.expected = frozenset(expected)
        self.expected_count = len(self.expected) if self.expected else (expected_count or 0)
        self._received = set(kept)
        self._new: list[Path] = []
        self._lock = threading.Lock()
        self.finished: StoredSeries | None = None

    @property
    def received_count(self) -> int:
        """How many instances are in the folder so far."""
        with self._lock:
            return len(self._received)

    def count_reported(self, count: int) -> None:
        """The server's own count of the instances it sent, used only when it listed none."""
        if not self.expected and not self.expected_count:
            self.expected_count = max(0, int(count))

    def expects(self, sop_uid: str) -> bool:
        """Whether the server listed this instance for the series (True if it listed none)."""
        return not self.expected or sop_uid in self.expected

    def write(self, sop_uid: str, chunks: Sequence[bytes]) -> Path:
        """Write one instance (the DICOM file's bytes, in pieces) under its final name.

        Raises
        ------
        ValueError
            ``sop_uid`` is not a UID.
        viewer.errors.SaveError
            Disk full, folder gone...: the instance is not stored.
        """
        if not is_uid(sop_uid):
            raise ValueError(f"'{sop_uid}' is not a DICOM UID")
        target = _instance_path(self.folder, sop_uid)
        temporary = temporary_path(target)
        try:
            with open(temporary, "xb") as file:
                for chunk in chunks:
                    file.write(chunk)
            os.replace(temporary, target)
        except OSError as exc:
            temporary.unlink(missing_ok=True)
            raise save_error(exc, target, "writing a retrieved instance") from exc
        with self._lock:
            self._received.add(sop_uid)
            self._new.append(target)
        return target

    def write_dataset(self, ds: Dataset) -> Path:
        """Write an instance DICOMweb delivered (read by pydicom) in the DICOM file format.

        The bytes the server sent are written as they are when pydicom kept them (a dataset
        read from an in-memory DICOM file); otherwise the dataset is encoded again.

        Raises
        ------
        ValueError
            The dataset has no SOP Instance UID, or cannot be encoded.
        viewer.errors.SaveError
        """
        buffer = getattr(ds, "buffer", None)
        if isinstance(buffer, BytesIO) and buffer.getbuffer()[128:132] == b"DICM":
            data = buffer.getvalue()
        else:
            encoded = BytesIO()
            pydicom.dcmwrite(encoded, ds, enforce_file_format=True)
            data = encoded.getvalue()
        return self.write(str(ds.get("SOPInstanceUID", "")), [data])

    def finish(self, failure: str = "") -> StoredSeries:
        """Flush the instances to the disk, then write the marker: complete or partial.

        Parameters
        ----------
        failure : str
            Why the transfer stopped early ("" when the server reported success); a series
            with a failure is partial even if every instance arrived.

        Returns
        -------
        StoredSeries

        Raises
        ------
        viewer.errors.SaveError
            The files or the marker cannot be flushed or written: the series is not complete.
        """
        with self._lock:
            received = tuple(sorted(self._received))
            new, self._new = self._new, []
        missing = [uid for uid in self.expected if uid not in self._received]
        if failure:
            state, reason = SeriesState.PARTIAL, failure
        elif self.expected and missing:
            state, reason = SeriesState.PARTIAL, f"{len(missing)} expected instances missing"
        elif not self.expected and not self.expected_count:
            state, reason = SeriesState.PARTIAL, "the server did not say how many instances it has"
        elif not self.expected and len(received) < self.expected_count:
            state = SeriesState.PARTIAL
            reason = f"{len(received)} of {self.expected_count} instances received"
        else:
            state, reason = SeriesState.COMPLETE, ""
        stored = StoredSeries(
            self.study_uid,
            self.series_uid,
            self.folder,
            state,
            tuple(sorted(self.expected)),
            received,
            self.expected_count,
            self.server,
            reason,
        )
        try:
            for path in new:
                fsync_file(path)
            fsync_folder(self.folder)
            write_bytes_atomic(self.marker, _marker_bytes(stored))
        except OSError as exc:
            raise save_error(exc, self.marker, "recording the retrieved series") from exc
        self.finished = stored
        return stored


def _instance_path(folder: Path, sop_uid: str) -> Path:
    return folder / f"{sop_uid}{INSTANCE_SUFFIX}"


def _has_instances(folder: Path) -> bool:
    try:
        return any(
            p.suffix == INSTANCE_SUFFIX and not p.name.startswith(TEMP_PREFIX)
            for p in folder.iterdir()
        )
    except OSError:
        return False


def _marker_bytes(stored: StoredSeries) -> bytes:
    data = {
        "format": MARKER_FORMAT,
        "version": MARKER_VERSION,
        "state": stored.state.value,
        "study_instance_uid": stored.study_uid,
        "series_instance_uid": stored.series_uid,
        "server": stored.server,
        "expected_count": stored.expected_count,
        "expected": list(stored.expected),
        "received": list(stored.received),
        "missing": list(stored.missing),
        "reason": stored.reason,
        "finished": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    return (json.dumps(data, indent=1) + "\n").encode("utf-8")


def _from_marker(data: dict, study_uid: str, series_uid: str, folder: Path) -> StoredSeries:
    try:
        if data.get("format") != MARKER_FORMAT or data.get("version") != MARKER_VERSION:
            raise ValueError("unknown marker format")
        if (data["study_instance_uid"], data["series_instance_uid"]) != (study_uid, series_uid):
            raise ValueError("marker of another series")
        return StoredSeries(
            study_uid,
            series_uid,
            folder,
            SeriesState(data["state"]),
            tuple(data["expected"]),
            tuple(data["received"]),
            int(data["expected_count"]),
            str(data.get("server", "")),
            str(data.get("reason", "")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        return StoredSeries(
            study_uid, series_uid, folder, SeriesState.PARTIAL, reason=f"unreadable marker ({exc})"
        )
