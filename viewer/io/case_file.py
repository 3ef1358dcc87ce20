"""The case file: a folder holding a reader's work on one patient, written so it cannot be lost.

Layout (see docs/case-file.md)::

    case/
      manifest.json            format, version, series + geometry fingerprints, lesions, ...
      manifest.json.bak        the previous valid manifest
      labels-<sha256>.nii.gz   one label map per annotated series, in that series' native grid
      history-<sha256>.npz     the undo history of a label map (optional)
      journal/                 recovery journal: the same layout for the unsaved state
      case.lock                pid + host + time of the instance that may write

Label and history files are named by the hash of their content and written (and fsynced) before
the manifest that references them is renamed into place, so whatever moment a save is killed at,
the folder holds either the old or the new manifest and every file it names.

Label maps are strict (a damaged one refuses the case); an undo history is a convenience (a damaged
or stale one is dropped with a warning), and so is the record of who drew the outlines and when.
Outlines drawn on another grid than the loaded series are refused for that series alone, and
carried unchanged into the next save.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
import errno
import hashlib
import json
import math
import os
import re
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from viewer.core.history import EditHistory
from viewer.core.lesions import Lesion, LesionKind, LesionSet
from viewer.core.provenance import CaseProvenance
from viewer.core.transform import Registration, RegistrationState, Transform
from viewer.core.volume import Volume
from viewer.errors import CaseFileError, IntervalError, SaveError
from viewer.io.atomic import (
    fsync_file,
    fsync_folder,
    remove_stale_temporaries,
    save_error,
    temporary_path,
    write_bytes_atomic,
)
from viewer.io.json_fields import checked_format, json_list, json_text, loads_strict
from viewer.io.nifti import read_nifti, write_nifti

FORMAT_NAME = "interval-case"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
BACKUP = "manifest.json.bak"
JOURNAL_FOLDER = "journal"
JOURNAL_MANIFEST = "journal.json"
LOCK = "case.lock"
_MAX_MANIFEST_BYTES = 64 * 2**20
_AFFINE_DECIMALS = 4  # fingerprints round the affine to 0.1 micrometre
_GEOMETRY_TOLERANCE_MM = 1e-3
_LABEL_FILE_TOLERANCE_MM = 1e-2  # NIfTI stores the affine in float32
_HISTORY_NAME = re.compile(r"history-[0-9a-f]{64}\.npz")


class TreatmentKind(enum.Enum):
    """Kinds of treatment event on the case's time line."""

    SURGERY = "surgery"
    RADIOTHERAPY_START = "radiotherapy start"
    RADIOTHERAPY_END = "radiotherapy end"
    RADIOSURGERY = "radiosurgery"
    CHEMOTHERAPY = "chemotherapy"
    STEROID_INCREASE = "steroid increase"
    STEROID_DECREASE = "steroid decrease"
    STEROID_CHANGE = "steroid change"
    """A change of dose in an unstated direction (older cases)."""


@dataclass(frozen=True)
class TreatmentEvent:
    """A dated treatment event (surgery, start of radiotherapy...), with a free-text note."""

    date: dt.date
    kind: TreatmentKind
    note: str = ""


@dataclass(frozen=True, eq=False)
class SeriesRecord:
    """A series the case refers to, and the grid its label map lives in.

    Parameters
    ----------
    key : str
        ``SeriesEntry.key`` (SeriesInstanceUID, or the path for NIfTI).
    visit : str
        Visit the series belongs to (e.g. the study date ``"2002-08-14"`` or StudyInstanceUID).
    shape : tuple of 3 int
        (slices, rows, columns) of the series.
    voxel2patient : ndarray of shape (4, 4)
        (slice, row, column, 1) -> LPS mm of the series.
    """

    key: str
    visit: str
    shape: tuple[int, int, int]
    voxel2patient: np.ndarray

    def __post_init__(self) -> None:
        affine = np.array(self.voxel2patient, dtype=np.float64)
        if affine.shape != (4, 4) or not np.all(np.isfinite(affine)):
            raise ValueError(f"series {self.key}: voxel2patient must be a finite (4, 4) matrix")
        shape = tuple(int(n) for n in self.shape)
        if len(shape) != 3 or min(shape) < 1:
            raise ValueError(f"series {self.key}: shape must be three positive ints, got {shape}")
        affine.setflags(write=False)
        object.__setattr__(self, "voxel2patient", affine)
        object.__setattr__(self, "shape", shape)

    @classmethod
    def of_volume(cls, key: str, visit: str, volume: Volume) -> SeriesRecord:
        """The record of a loaded series."""
        return cls(key, visit, volume.shape, volume.voxel2patient)

    @property
    def fingerprint(self) -> str:
        """sha256 of the shape and the rounded affine (see :func:`geometry_fingerprint`)."""
        return geometry_fingerprint(self.shape, self.voxel2patient)


@dataclass(frozen=True, eq=False)
class RefusedOutlines:
    """A series' outlines refused on loading (drawn on another grid), kept for the next save.

    They are not shown, but the next save and journal name the same files again (copying them
    when saving into another folder), so opening the case with the right series brings them back.

    Parameters
    ----------
    record : SeriesRecord
        The grid the outlines were drawn on (the case's record of the series must stay this one).
    label_file : str
        ``labels-<sha256>.nii.gz``.
    label_data : bytes
        The label file's content.
    lesion_numbers : frozenset of int
        Label values present in the label map: these lesions must stay in the case.
    history_file : str or None
        ``history-<sha256>.npz``, None when there is no (usable) undo history.
    history_data : bytes or None
    """

    record: SeriesRecord
    label_file: str
    label_data: bytes
    lesion_numbers: frozenset[int]
    history_file: str | None = None
    history_data: bytes | None = None


@dataclass(eq=False)
class Case:
    """Everything a reader saves: series, registrations, lesions, label maps, events and notes.

    Attributes
    ----------
    series : dict of str to SeriesRecord
        By series key.
    labels : dict of str to ndarray
        Label map per series key, uint16 of that series' shape; voxel value = lesion number, 0 none.
    lesions : LesionSet
    registrations : list of Registration
    events : list of TreatmentEvent
    notes : dict of str to str
        Reader notes by visit (``""`` for the case as a whole).
    layout : dict
        The UI's layout and view state (JSON values), restored on reopening.
    assessment : dict
        The reader's response-assessment choices (JSON values): criteria, baseline visit, target
        lesions, hand-made lesion links, confirmed or dismissed new-lesion candidates.
    histories : dict of str to EditHistory
        Undo history per series key (only for series with a label map in ``labels``).
    refused : dict of str to str
        Series key -> why its outlines were not loaded (geometry mismatch; names the label file
        and the largest corner shift in mm). Filled by loading; shown to the reader.
    refused_outlines : dict of str to RefusedOutlines
        The files of the refused outlines, written again by every save. A series is in
        ``labels`` or here, never both: to draw anew, delete its entry here (and in ``refused``).
    warnings : list of str
        Non-fatal problems found while loading (e.g. a damaged undo history that was dropped),
        each naming the file and the reason.
    provenance : CaseProvenance
        Who drew each outline and when, and each undo step's share of it (the steps of a series
        aligned with its history in ``histories``). Empty for cases saved before it was recorded.
    """

    series: dict[str, SeriesRecord] = field(default_factory=dict)
    labels: dict[str, np.ndarray] = field(default_factory=dict)
    lesions: LesionSet = field(default_factory=LesionSet)
    registrations: list[Registration] = field(default_factory=list)
    events: list[TreatmentEvent] = field(default_factory=list)
    notes: dict[str, str] = field(default_factory=dict)
    layout: dict[str, Any] = field(default_factory=dict)
    assessment: dict[str, Any] = field(default_factory=dict)
    histories: dict[str, EditHistory] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)
    refused_outlines: dict[str, RefusedOutlines] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    provenance: CaseProvenance = field(default_factory=CaseProvenance)


class _StoredFiles(NamedTuple):
    """The files one series' outlines are stored in."""

    labels: str
    history: str | None


def geometry_fingerprint(shape: tuple[int, ...], voxel2patient: np.ndarray) -> str:
    """Fingerprint of a voxel grid: equal grids give equal strings.

    Parameters
    ----------
    shape : tuple of 3 int
        (slices, rows, columns).
    voxel2patient : ndarray of shape (4, 4)
        In LPS mm; rounded to 1e-4 mm so that float noise from re-reading does not matter.

    Returns
    -------
    str
        ``"sha256:<hex>"``.
    """
    rounded = np.round(np.asarray(voxel2patient, dtype=np.float64), _AFFINE_DECIMALS) + 0.0
    text = json.dumps([[int(n) for n in shape], rounded.tolist()])
    return "sha256:" + hashlib.sha256(text.encode("ascii")).hexdigest()


# --------------------------------------------------------------------------- saving


def save_case(case: Case, folder: str | os.PathLike[str], *, create: bool = False) -> None:
    """Save a case into ``folder`` atomically; returns only once everything is on the disk.

    Label maps and undo histories are written first under content-hash names (unchanged ones are
    not rewritten; refused outlines are carried under their old names), then the previous valid
    manifest becomes ``manifest.json.bak``, then the new manifest replaces the old one, then the
    recovery journal is cleared and label and history files no manifest refers to are removed.

    Parameters
    ----------
    case : Case
    folder : path-like
        The case folder. It must exist, unless ``create`` (Save As into a new folder): a folder
        removed while the case was open is reported, not silently re-created.
    create : bool

    Raises
    ------
    viewer.errors.SaveError
        Disk full ("disk full" in the message), no permission, folder gone: the message names the
        path; ``manifest.json`` and the files it names are left byte-identical.
    ValueError
        Nothing is written: a label map does not match its series (shape) or has no series
        record; a history has no label map; a series has both a label map and refused outlines;
        refused outlines whose series record was replaced or whose lesions were deleted.
    """
    folder = Path(folder)
    if create:
        try:
            folder.mkdir(exist_ok=True)
        except OSError as exc:
            raise save_error(exc, folder, "creating the case folder") from exc
    elif not folder.is_dir():
        raise SaveError("the case folder no longer exists (removed or unmounted?)", folder)
    _write_snapshot(case, folder, MANIFEST, keep_backup=True)
    with contextlib.suppress(OSError):  # a stale journal is harmless: the manifest is newer
        clear_journal(folder)


def _check_case(case: Case) -> None:
    """Refuse, before anything is written, a case whose saved form could not be loaded again."""
    for key, labels in case.labels.items():
        record = case.series.get(key)
        if record is None:
            raise ValueError(f"label map for series {key!r}, which the case does not list")
        if np.shape(labels) != record.shape:
            raise ValueError(
                f"label map of {key!r} has shape {np.shape(labels)}, series {record.shape}"
            )
    for key, history in case.histories.items():
        if key not in case.labels:
            raise ValueError(f"undo history for series {key!r}, which has no label map")
        steps = case.provenance.steps.get(key)
        if steps is not None and len(steps) != len(history.steps):
            raise ValueError(
                f"the undo history of {key!r} has {len(history.steps)} steps, its provenance "
                f"{len(steps)}"
            )
    for key, refused in case.refused_outlines.items():
        if key in case.labels:
            raise ValueError(
                f"series {key!r} has both new outlines and refused ones: discard the refused "
                "outlines (Case.refused_outlines) before drawing new ones"
            )
        record = case.series.get(key)
        if record is None or record.fingerprint != refused.record.fingerprint:
            raise ValueError(
                f"the refused outlines of series {key!r} need the series record of the grid they "
                "were drawn on: keep it in Case.series"
            )
        missing = sorted(refused.lesion_numbers - {lesion.number for lesion in case.lesions})
        if missing:
            raise ValueError(
                f"lesion(s) {missing[:5]} were deleted but the refused outlines of series "
                f"{key!r} still hold them"
            )


def _write_snapshot(case: Case, folder: Path, manifest_name: str, *, keep_backup: bool) -> None:
    _check_case(case)
    manifest_path = folder / manifest_name
    stored = {
        key: _StoredFiles(_write_label_map(case, key, folder), _write_history(case, key, folder))
        for key in sorted(case.labels)
    }
    for key in sorted(case.refused_outlines):
        stored[key] = _write_refused_outlines(case.refused_outlines[key], key, folder)
    data = _manifest_bytes(case, stored)
    backup_path = folder / BACKUP
    try:
        if keep_backup:
            previous = _read_valid_manifest_bytes(manifest_path)
            if previous is not None:
                write_bytes_atomic(backup_path, previous)
        write_bytes_atomic(manifest_path, data)
    except OSError as exc:
        replaced = _read_bytes_or_none(manifest_path) == data
        raise save_error(exc, manifest_path, "writing the manifest", replaced=replaced) from exc
    keep = {name for files in stored.values() for name in files if name is not None}
    if keep_backup:
        keep |= _referenced_files(backup_path)
    _remove_unreferenced_files(folder, keep)


def _read_bytes_or_none(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def _write_label_map(case: Case, key: str, folder: Path) -> str:
    record = case.series[key]
    labels = np.ascontiguousarray(case.labels[key], dtype=np.uint16)
    name = f"labels-{_label_hash(labels, record.fingerprint)}.nii.gz"
    target = folder / name
    if target.exists():
        return name  # same content already on disk, written and fsynced by an earlier save
    temporary = temporary_path(target)
    try:
        # a view: Volume freezes an array it is handed, and the reader goes on editing this one
        write_nifti(Volume(labels.view(), record.voxel2patient), temporary)
        fsync_file(temporary)
        os.replace(temporary, target)
        fsync_folder(folder)
    except OSError as exc:  # SaveError from write_nifti included
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)
        cause = exc.__cause__ if isinstance(exc, SaveError) else exc
        if isinstance(cause, OSError):
            raise save_error(cause, target, f"writing the label map of {key}") from exc
        raise
    return name


def _write_history(case: Case, key: str, folder: Path) -> str | None:
    history = case.histories.get(key)
    if history is None:
        return None
    data = history.to_bytes()
    name = f"history-{hashlib.sha256(data).hexdigest()}.npz"
    _write_file_once(folder / name, data, f"writing the undo history of {key}")
    return name


def _write_refused_outlines(refused: RefusedOutlines, key: str, folder: Path) -> _StoredFiles:
    _write_file_once(
        folder / refused.label_file, refused.label_data, f"keeping the refused outlines of {key}"
    )
    if refused.history_file is not None and refused.history_data is not None:
        _write_file_once(
            folder / refused.history_file,
            refused.history_data,
            f"keeping the undo history of the refused outlines of {key}",
        )
        return _StoredFiles(refused.label_file, refused.history_file)
    return _StoredFiles(refused.label_file, None)


def _write_file_once(target: Path, data: bytes, doing: str) -> None:
    """Write a content-named file atomically, unless it is already there."""
    if target.exists():
        return  # same name, same content: written and fsynced by an earlier save
    try:
        write_bytes_atomic(target, data)
    except OSError as exc:
        raise save_error(exc, target, doing) from exc


def _label_hash(labels: np.ndarray, fingerprint: str) -> str:
    digest = hashlib.sha256(fingerprint.encode("ascii"))
    digest.update(f"{labels.dtype.str}{labels.shape}".encode("ascii"))
    digest.update(memoryview(labels).cast("B"))
    return digest.hexdigest()


def _remove_unreferenced_files(folder: Path, keep: set[str]) -> None:
    # Best effort: an extra file wastes space but never harms a manifest.
    with contextlib.suppress(OSError):
        for pattern in ("labels-*.nii.gz", "history-*.npz"):
            for entry in folder.glob(pattern):
                if entry.name not in keep:
                    entry.unlink(missing_ok=True)


def _referenced_files(manifest_path: Path) -> set[str]:
    """Label and history files a manifest names (none if it cannot be read)."""
    try:
        content = _parse_manifest_bytes(manifest_path.read_bytes(), manifest_path)
        names = set()
        for item in content["label_maps"]:
            names.add(str(item["file"]))
            if "history" in item:
                names.add(str(item["history"]))
        return names
    except (OSError, CaseFileError, KeyError, TypeError):
        return set()


def _read_valid_manifest_bytes(path: Path) -> bytes | None:
    """The manifest's bytes if valid (a corrupt one must not replace the backup)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        _parse_manifest_bytes(data, path)
    except CaseFileError:
        return None
    return data


# --------------------------------------------------------------------------- manifest


def _manifest_bytes(case: Case, stored: Mapping[str, _StoredFiles]) -> bytes:
    content = {
        "series": [
            {
                "key": r.key,
                "visit": r.visit,
                "shape": list(r.shape),
                "voxel2patient": r.voxel2patient.tolist(),
                "fingerprint": r.fingerprint,
            }
            for r in case.series.values()
        ],
        "label_maps": [_label_map_json(key, stored[key]) for key in sorted(stored)],
        "lesions": {
            "next_number": case.lesions.next_number,
            "items": [
                {
                    "number": lesion.number,
                    "name": lesion.name,
                    "colour": list(lesion.colour),
                    "kind": lesion.kind.value,
                    "note": lesion.note,
                }
                for lesion in case.lesions
            ],
        },
        "registrations": [_registration_json(r) for r in case.registrations],
        "events": [
            {"date": e.date.isoformat(), "kind": e.kind.value, "note": e.note} for e in case.events
        ],
        "notes": dict(case.notes),
        "layout": case.layout,
        "assessment": case.assessment,
        "provenance": _provenance_json(case, stored),
    }
    document = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "saved_at": time.time(),
        "content": content,
        "checksum": _checksum(content),
    }
    return json.dumps(document, indent=1, allow_nan=False).encode("utf-8")


def _provenance_json(case: Case, stored: Mapping[str, _StoredFiles]) -> dict[str, Any]:
    """Who drew what: only for outlines written, and undo steps only with their history."""
    provenance = CaseProvenance(
        case.provenance.outlines,
        {
            key: steps
            for key, steps in case.provenance.steps.items()
            if key in stored and stored[key].history is not None
        },
    )
    return provenance.to_json(lambda key: key in stored)


def _label_map_json(key: str, files: _StoredFiles) -> dict[str, str]:
    item = {"series": key, "file": files.labels, "sha256": files.labels[7:-7]}
    if files.history is not None:
        item["history"] = files.history  # optional: manifests without it stay valid version 1
    return item


def _checksum(content: Any) -> str:
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _registration_json(registration: Registration) -> dict[str, Any]:
    return {
        "series": registration.series_key,
        "reference": registration.reference_key,
        "moving2reference": registration.transform.moving2reference.tolist(),
        "kind": registration.transform.kind,
        "state": registration.state.value,
        "method": registration.method,
        "metric_value": registration.metric_value,
        "iterations": registration.iterations,
        "elapsed_s": registration.elapsed_s,
        "landmark_residuals_mm": list(registration.landmark_residuals_mm),
    }


def _parse_manifest_bytes(data: bytes, path: Path) -> dict[str, Any]:
    """Check format, version and checksum; return the manifest's ``content`` (and ``saved_at``)."""
    if not data:
        raise CaseFileError("the manifest is empty (truncated by a crash or a full disk?)", path)
    if len(data) > _MAX_MANIFEST_BYTES:
        raise CaseFileError(f"the manifest is implausibly large ({len(data):,} bytes)", path)
    try:
        document = loads_strict(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise CaseFileError(
            f"not a valid manifest (truncated or corrupt JSON: {exc})", path
        ) from exc
    document = checked_format(
        document, path, name=FORMAT_NAME, version=FORMAT_VERSION, what="case manifest"
    )
    content = document.get("content")
    try:
        expected = _checksum(content)
    except (ValueError, RecursionError):  # e.g. 1e999 parses as inf, which no saver writes
        expected = None
    if not isinstance(content, dict) or document.get("checksum") != expected:
        raise CaseFileError("checksum mismatch: the manifest was changed or damaged", path)
    saved_at = document.get("saved_at")
    if (
        not isinstance(saved_at, int | float)
        or isinstance(saved_at, bool)
        or not math.isfinite(saved_at)
    ):
        raise CaseFileError("the manifest has no save time", path)
    return {**content, "saved_at": float(saved_at)}


# --------------------------------------------------------------------------- loading


def load_case(folder: str | os.PathLike[str], volumes: Mapping[str, Volume] | None = None) -> Case:
    """Read a case folder's manifest, label maps and undo histories.

    Parameters
    ----------
    folder : path-like
    volumes : mapping of str to Volume, optional
        Loaded series by key. A series whose grid differs from the one its outlines were drawn on
        (geometry fingerprint) has its outlines refused: they are left out of ``Case.labels``, the
        reason is in ``Case.refused`` and their files in ``Case.refused_outlines``; the rest of
        the case loads.

    Returns
    -------
    Case
        ``Case.warnings`` lists what was dropped on the way (damaged or stale undo histories).

    Raises
    ------
    viewer.errors.CaseFileError
        Missing, truncated, random, unknown-version or checksum-mismatched manifest, or a damaged
        or altered label map: the reason is in the message, and nothing in the folder is changed.
        Offer :func:`load_backup` and :func:`read_journal`.
    """
    return _load_manifest(Path(folder), MANIFEST, volumes)


def load_backup(
    folder: str | os.PathLike[str], volumes: Mapping[str, Volume] | None = None
) -> Case:
    """Read the previous version, ``manifest.json.bak``, with the checks of :func:`load_case`."""
    return _load_manifest(Path(folder), BACKUP, volumes)


def _load_manifest(folder: Path, name: str, volumes: Mapping[str, Volume] | None) -> Case:
    path = folder / name
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CaseFileError(f"cannot read the manifest ({exc.strerror or exc})", path) from exc
    content = _parse_manifest_bytes(data, path)
    try:
        case = _case_from_content(content)
        stored = _stored_files_from_content(content, case)
    except CaseFileError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError) as exc:
        reason = f"the manifest content is invalid ({type(exc).__name__}: {exc})"
        raise CaseFileError(reason, path) from exc
    volumes = volumes or {}
    for key, files in stored.items():
        _load_outlines(case, folder, key, files, volumes.get(key))
    case.provenance = _read_provenance(content.get("provenance"), case, stored, path)
    for key, record in case.series.items():
        volume = volumes.get(key)
        mismatch = None if volume is None or key in stored else geometry_mismatch(record, volume)
        if mismatch is not None:
            case.warnings.append(
                f"{path}: series {key} is not on the grid the case was saved with: {mismatch} "
                "(it has no outlines, so nothing was refused)"
            )
    return case


def _load_outlines(
    case: Case, folder: Path, key: str, files: _StoredFiles, volume: Volume | None
) -> None:
    """Read one series' label map (strictly) and undo history (leniently) into ``case``.

    Outlines drawn on another grid than ``volume`` go to ``case.refused_outlines`` instead.
    """
    record = case.series[key]
    label_path = folder / files.labels
    labels = _read_label_map(label_path, record, case.lesions)
    history, history_data = _read_history(folder, files.history, record, labels, case.warnings)
    mismatch = None if volume is None else geometry_mismatch(record, volume)
    if mismatch is None:
        case.labels[key] = labels
        if history is not None:
            case.histories[key] = history
        return
    case.refused[key] = str(
        CaseFileError(
            f"the outlines of series {key} were drawn on another grid: {mismatch}; "
            "they are refused rather than shown in the wrong place (kept in the case file)",
            label_path,
        )
    )
    case.refused_outlines[key] = RefusedOutlines(
        record,
        files.labels,
        _read_file(label_path, "label map"),
        frozenset(np.unique(labels).tolist()) - {0},
        None if history_data is None else files.history,
        history_data,
    )


def _read_provenance(
    data: Any, case: Case, stored: Mapping[str, _StoredFiles], path: Path
) -> CaseProvenance:
    """Who drew what, as far as it fits the outlines and histories loaded.

    Absent (a case saved before it was recorded) means "not recorded"; a damaged record is
    dropped with a warning, never refusing the case.
    """
    if data is None:
        return CaseProvenance()
    try:
        provenance = CaseProvenance.from_json(data)
    except ValueError as exc:
        case.warnings.append(
            f"{path}: who drew and measured the outlines, and when, was dropped ({exc}); the "
            "outlines are kept"
        )
        return CaseProvenance()
    outlines = {k: v for k, v in provenance.outlines.items() if k[0] in stored}
    steps = {}
    for key, entries in provenance.steps.items():
        history = case.histories.get(key)
        refused = case.refused_outlines.get(key)
        if history is not None and len(entries) == len(history.steps):
            steps[key] = entries
        elif refused is not None and refused.history_data is not None:
            steps[key] = entries  # carried unchecked, like the refused history itself
        elif history is not None:
            case.warnings.append(
                f"{path}: the undo steps of series {key} lost who made them ({len(entries)} "
                f"recorded for {len(history.steps)} steps); undo still works"
            )
    return CaseProvenance(outlines, steps)


def _read_file(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CaseFileError(f"{what} unreadable ({exc.strerror or exc})", path) from exc


def _case_from_content(content: Mapping[str, Any]) -> Case:
    series: dict[str, SeriesRecord] = {}
    for item in json_list(content["series"]):
        record = SeriesRecord(
            json_text(item["key"]),
            json_text(item["visit"]),
            tuple(item["shape"]),
            item["voxel2patient"],
        )
        if item["fingerprint"] != record.fingerprint:
            raise ValueError(f"series {record.key}: stored fingerprint does not match its grid")
        if record.key in series:
            raise ValueError(f"series {record.key} listed twice")
        series[record.key] = record
    lesion_json = content["lesions"]
    lesions = LesionSet(
        [
            Lesion(
                number=item["number"],
                name=item["name"],
                colour=tuple(item["colour"]),
                kind=LesionKind(item["kind"]),
                note=item["note"],
            )
            for item in json_list(lesion_json["items"])
        ],
        next_number=lesion_json["next_number"],
    )
    registrations = [
        Registration(
            series_key=json_text(item["series"]),
            reference_key=json_text(item["reference"]),
            transform=Transform(np.array(item["moving2reference"], dtype=np.float64), item["kind"]),
            state=RegistrationState(item["state"]),
            method=json_text(item["method"]),
            metric_value=_optional_number(item["metric_value"], float),
            iterations=_optional_number(item["iterations"], int),
            elapsed_s=_optional_number(item["elapsed_s"], float),
            landmark_residuals_mm=tuple(float(v) for v in json_list(item["landmark_residuals_mm"])),
        )
        for item in json_list(content["registrations"])
    ]
    events = [
        TreatmentEvent(
            dt.date.fromisoformat(json_text(e["date"])), TreatmentKind(e["kind"]), e["note"]
        )
        for e in json_list(content["events"])
    ]
    notes = content["notes"]
    layout = content["layout"]
    if not isinstance(notes, dict) or not all(isinstance(v, str) for v in notes.values()):
        raise ValueError("notes must map visits to text")
    if not isinstance(layout, dict):
        raise ValueError("layout must be an object")
    assessment = content.get("assessment", {})  # absent in files written before issue 5
    if not isinstance(assessment, dict):
        raise ValueError("assessment must be an object")
    return Case(
        series, {}, lesions, registrations, events, dict(notes), layout, assessment=assessment
    )


def _stored_files_from_content(content: Mapping[str, Any], case: Case) -> dict[str, _StoredFiles]:
    stored: dict[str, _StoredFiles] = {}
    for item in json_list(content["label_maps"]):
        key, name, digest = (
            json_text(item["series"]),
            json_text(item["file"]),
            json_text(item["sha256"]),
        )
        if key not in case.series:
            raise ValueError(f"label map for series {key!r}, which the manifest does not list")
        if key in stored:
            raise ValueError(f"two label maps for series {key!r}")
        if name != f"labels-{digest}.nii.gz" or not all(c in "0123456789abcdef" for c in digest):
            raise ValueError(f"label map file name {name!r} does not match its hash")
        history = item.get("history")  # absent in files written before undo was stored
        if history is not None and not _HISTORY_NAME.fullmatch(json_text(history)):
            raise ValueError(f"undo history file name {history!r} is not history-<sha256>.npz")
        stored[key] = _StoredFiles(name, history)
    return stored


def geometry_mismatch(record: SeriesRecord, volume: Volume) -> str | None:
    """How a loaded series' grid differs from a record's (None: the same grid)."""
    if geometry_fingerprint(volume.shape, volume.voxel2patient) == record.fingerprint:
        return None
    if volume.shape != record.shape:
        return f"the loaded series has shape {volume.shape}, the outlines {record.shape}"
    shift = _max_corner_shift_mm(record.shape, record.voxel2patient, volume.voxel2patient)
    if shift <= _GEOMETRY_TOLERANCE_MM:
        return None  # the fingerprints differ only by rounding at a boundary
    return f"voxel positions differ by up to {shift:.3g} mm"


def _max_corner_shift_mm(shape: tuple[int, ...], a: np.ndarray, b: np.ndarray) -> float:
    corners = np.array([[i, j, k, 1.0] for i in (0, shape[0] - 1) for j in (0, shape[1] - 1)
                        for k in (0, shape[2] - 1)])  # fmt: skip
    return float(np.abs(corners @ (a - b).T)[:, :3].max())


def _read_label_map(path: Path, record: SeriesRecord, lesions: LesionSet) -> np.ndarray:
    try:
        volume = read_nifti(path)
    except IntervalError as exc:
        raise CaseFileError(f"label map unreadable: {exc.reason}", path) from exc
    if volume.shape != record.shape:
        raise CaseFileError(
            f"label map has shape {volume.shape}, its series {record.key} {record.shape}", path
        )
    shift = _max_corner_shift_mm(record.shape, record.voxel2patient, volume.voxel2patient)
    if shift > _LABEL_FILE_TOLERANCE_MM:
        raise CaseFileError(f"label map lies {shift:.3g} mm away from its series' grid", path)
    if volume.array.dtype.kind not in "iu":
        raise CaseFileError(f"label map holds {volume.array.dtype} values, not integers", path)
    if volume.array.size and (volume.array.min() < 0 or volume.array.max() > 65535):
        raise CaseFileError("label map holds values outside 0..65535", path)
    # a writable copy: the loaded outlines are what the reader goes on editing (and undoing)
    labels = np.array(volume.array, dtype=np.uint16, order="C")
    if f"labels-{_label_hash(labels, record.fingerprint)}.nii.gz" != path.name:
        raise CaseFileError("label map content does not match its hash (changed or damaged)", path)
    unknown = sorted(set(np.unique(labels).tolist()) - {0} - {lesion.number for lesion in lesions})
    if unknown:
        raise CaseFileError(f"label map holds label(s) {unknown[:5]} that are no lesion", path)
    return labels


def _read_history(
    folder: Path,
    name: str | None,
    record: SeriesRecord,
    labels: np.ndarray,
    warnings: list[str],
) -> tuple[EditHistory | None, bytes | None]:
    """The undo history of a label map and its file's bytes; (None, None) when unusable.

    An unusable history is only a lost convenience: it is dropped with a warning, never refused.
    """
    if name is None:
        return None, None
    path = folder / name
    try:
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != name[8:-4]:
            raise ValueError("its content does not match its hash (changed or damaged)")
        history = EditHistory.from_bytes(data, record.shape)
        if not history.matches(labels):
            raise ValueError("it does not belong to the saved outlines of series " + record.key)
    except (OSError, ValueError) as exc:
        reason = (exc.strerror or str(exc)) if isinstance(exc, OSError) else str(exc)
        warnings.append(f"{path}: the undo history was dropped ({reason}); the outlines are kept")
        return None, None
    return history, data


def _optional_number(value: Any, kind: type) -> Any:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise TypeError(f"expected a number, got {value!r}")
    return kind(value)


# --------------------------------------------------------------------------- journal


def write_journal(case: Case, folder: str | os.PathLike[str]) -> None:
    """Replace the recovery journal with the current (unsaved) state of the case.

    The journal is a sub-folder with the case-file layout; only changed label maps and undo
    histories are written (refused outlines are copied in once, so a restored journal keeps them).

    Raises
    ------
    viewer.errors.SaveError
    ValueError
        The case could not be loaded again, as for :func:`save_case`.
    """
    journal = Path(folder) / JOURNAL_FOLDER
    try:
        journal.mkdir(exist_ok=True)
    except OSError as exc:
        raise save_error(exc, journal, "creating the recovery journal") from exc
    _write_snapshot(case, journal, JOURNAL_MANIFEST, keep_backup=False)


def read_journal(
    folder: str | os.PathLike[str], volumes: Mapping[str, Volume] | None = None
) -> Case | None:
    """The unsaved state a crash left behind, if its journal is newer than the saved manifest.

    Returns
    -------
    Case or None
        None when there is no journal, or the manifest was saved after it.

    Raises
    ------
    viewer.errors.CaseFileError
        The journal exists and is newer but damaged.
    """
    folder = Path(folder)
    journal = folder / JOURNAL_FOLDER / JOURNAL_MANIFEST
    try:
        journal_time = _parse_manifest_bytes(journal.read_bytes(), journal)["saved_at"]
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CaseFileError(f"cannot read the journal ({exc.strerror or exc})", journal) from exc
    try:
        manifest_path = folder / MANIFEST
        manifest_time = _parse_manifest_bytes(manifest_path.read_bytes(), manifest_path)["saved_at"]
    except (OSError, CaseFileError):
        manifest_time = -math.inf  # no usable manifest: the journal is all there is
    if journal_time <= manifest_time:
        return None
    return _load_manifest(folder / JOURNAL_FOLDER, JOURNAL_MANIFEST, volumes)


def clear_journal(folder: str | os.PathLike[str]) -> None:
    """Delete the recovery journal (after a successful save, or when the reader discards it)."""
    journal = Path(folder) / JOURNAL_FOLDER
    if not journal.is_dir():
        return
    # The manifest goes first: label files without a journal manifest are never offered.
    (journal / JOURNAL_MANIFEST).unlink(missing_ok=True)
    for entry in journal.iterdir():
        entry.unlink(missing_ok=True)
    journal.rmdir()


class RecoveryJournal:
    """Autosave to the journal without ever raising: failures become one warning state.

    The UI calls :meth:`write` every ~30 s and after each tool action, and shows
    :meth:`take_warning` when it returns text: once per run of failures, not once per failure.
    """

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        self.consecutive_failures = 0
        """Autosaves that failed since the last one that worked."""
        self.last_error: str | None = None
        """Message of the latest failure, None once an autosave works again."""
        self._warning_due = False

    def write(self, case: Case) -> bool:
        """Write the journal; True on success, False (and the warning state set) on failure."""
        try:
            write_journal(case, self.folder)
        except (SaveError, OSError) as exc:
            self.consecutive_failures += 1
            self.last_error = str(exc)
            self._warning_due = self.consecutive_failures == 1
            return False
        self.consecutive_failures = 0
        self.last_error = None
        self._warning_due = False
        return True

    def take_warning(self) -> str | None:
        """The warning to show, once for each run of failures; None otherwise."""
        if not self._warning_due:
            return None
        self._warning_due = False
        return f"Autosave is failing; your work is not protected against a crash: {self.last_error}"


# --------------------------------------------------------------------------- lock


@dataclass
class CaseLock:
    """The right to write a case folder, held through ``case.lock`` (pid, host, time).

    Attributes
    ----------
    folder : Path
    read_only : bool
        Another live instance holds the lock: open read-only and show ``warning``.
    warning : str or None
    """

    folder: Path
    read_only: bool
    warning: str | None = None
    _token: str = ""

    @classmethod
    def acquire(cls, folder: str | os.PathLike[str]) -> CaseLock:
        """Take the lock, taking over a stale one (its process is dead); read-only if it is held.

        Raises
        ------
        viewer.errors.SaveError
            The lock file cannot be written (read-only folder): the case opens read-only instead
            if the caller chooses to.
        """
        folder = Path(folder)
        path = folder / LOCK
        token = f"{os.getpid()}-{time.time_ns()}"
        record = {"pid": os.getpid(), "host": socket.gethostname(), "time": time.time()}
        data = json.dumps({**record, "token": token}).encode("utf-8")
        for _ in range(3):
            try:
                if _create_exclusive(path, data):
                    return cls(folder, False, None, token)
            except SaveError as exc:
                return cls(folder, True, f"{exc}: opened read-only")
            holder = _read_lock(path)
            if holder is not None and not _is_stale(holder):
                return cls(
                    folder,
                    True,
                    f"the case is open in another Interval (process {holder.get('pid')} on "
                    f"{holder.get('host')}, since {_when(holder.get('time'))}): opened read-only",
                )
            path.unlink(missing_ok=True)  # stale: its owner died without releasing it
        return cls(folder, True, "could not take the case lock: opened read-only")

    def release(self) -> None:
        """Give the lock back (only if this object holds it)."""
        if self.read_only:
            return
        path = self.folder / LOCK
        holder = _read_lock(path)
        if holder is not None and holder.get("token") == self._token:
            path.unlink(missing_ok=True)
        self.read_only = True


def _when(timestamp: Any) -> str:
    try:
        return dt.datetime.fromtimestamp(float(timestamp)).isoformat(" ", "minutes")
    except (TypeError, ValueError, OverflowError, OSError):
        return "an unknown time"


def _create_exclusive(path: Path, data: bytes) -> bool:
    # Write the content under a temporary name, then link it: the lock appears whole or not at all.
    temporary = temporary_path(path)
    try:
        write_bytes_atomic(temporary, data)
        try:
            os.link(temporary, path)
        except FileExistsError:
            return False
        return True
    except OSError as exc:
        if exc.errno == errno.EEXIST:
            return False
        raise save_error(exc, path, "taking the case lock") from exc
    finally:
        temporary.unlink(missing_ok=True)


def _read_lock(path: Path) -> dict[str, Any] | None:
    try:
        holder = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}  # unreadable lock: treated as stale below
    return holder if isinstance(holder, dict) else {}


def _is_stale(holder: Mapping[str, Any]) -> bool:
    pid, host = holder.get("pid"), holder.get("host")
    if not isinstance(pid, int) or not isinstance(host, str):
        return True
    if host != socket.gethostname():
        return False  # cannot see another machine's processes: assume it is alive
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # exists, owned by someone else
    return False


# --------------------------------------------------------------------------- opening


@dataclass
class OpenedCase:
    """What opening a case folder found.

    Attributes
    ----------
    case : Case
    lock : CaseLock
        ``lock.read_only`` and ``lock.warning`` tell the UI whether it may save.
    journal : Case or None
        Unsaved work from a crash, newer than the manifest: offer to restore it.
    journal_error : str or None
        The journal exists but is damaged (the reason).
    removed_temporaries : list of Path
    """

    case: Case
    lock: CaseLock
    journal: Case | None = None
    journal_error: str | None = None
    removed_temporaries: list[Path] = field(default_factory=list)


def open_case(
    folder: str | os.PathLike[str], volumes: Mapping[str, Volume] | None = None
) -> OpenedCase:
    """Open a case folder for work: lock, clean up after crashes, load, look for a journal.

    Raises
    ------
    viewer.errors.CaseFileError
        From :func:`load_case` (the lock is released again; nothing in the folder is changed
        apart from removed temporaries).
    """
    folder = Path(folder)
    lock = CaseLock.acquire(folder)
    try:
        removed: list[Path] = []
        if not lock.read_only:
            removed = remove_stale_temporaries(folder)
            removed += remove_stale_temporaries(folder / JOURNAL_FOLDER)
        case = load_case(folder, volumes)
        opened = OpenedCase(case, lock, removed_temporaries=removed)
        try:
            opened.journal = read_journal(folder, volumes)
        except CaseFileError as exc:
            opened.journal_error = str(exc)
        return opened
    except BaseException:
        lock.release()
        raise
