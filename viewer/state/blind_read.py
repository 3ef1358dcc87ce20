"""A blind read of a case: read it, state a category per visit, submit, get feedback (no Qt).

The reference stays hidden while the read is open: this module holds nothing of a reference
reading but its :class:`~viewer.teaching.reading_file.ReadingInfo` (who, when, which criteria)
until the trainee submits. Submitting builds the trainee's :class:`~viewer.teaching.reading.Reading`
from the live session, saves it in the case's ``readings/`` folder, and only then reads the
reference and compares the two (:func:`submission_work`, run in a worker by the UI).

The state of the read (which reference, the categories stated so far, whether it was submitted
and logged) is kept in ``<case>/readings/blind-read.json``, written atomically at each change, so
it survives closing and reopening the case. A case whose images have a ``reference.reading``
beside their folder (the demo: ``sample_scans/demo_case/reference.reading``) gets it imported
when it opens (:func:`shipped_reference`).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from psygnal import Signal

from viewer.core.catalog import SeriesEntry
from viewer.core.volume import Volume
from viewer.errors import CaseFileError, SaveError
from viewer.io.atomic import save_error, write_bytes_atomic
from viewer.io.json_fields import json_boolean, json_text
from viewer.io.load import load_series
from viewer.state.case_session import CaseSession
from viewer.state.tracking import Tracking, analysis_events
from viewer.teaching.agreement import Agreement, Patient2Reference, compare_readings
from viewer.teaching.log import LogEntry, append_entry
from viewer.teaching.reading import (
    CATEGORIES,
    HandMeasurement,
    Reader,
    Reading,
    Role,
    build_reading,
)
from viewer.teaching.reading_file import (
    READINGS_FOLDER,
    ReadingInfo,
    ReadingStore,
    read_reading,
    read_reading_info,
)

STATE_FILE = "blind-read.json"
"""The blind read's state, in the case's ``readings/`` folder."""
FORMAT_NAME = "interval-blind-read"
FORMAT_VERSION = 1
SHIPPED_READING = "reference.reading"
"""A reference reading shipped beside a teaching case's image folder (the demo's)."""
DEFAULT_CASE_LABEL = "Case"
STATED_CATEGORIES = CATEGORIES
"""What a trainee may state at a visit (CR, PR, SD, PD, baseline, not evaluable)."""


def shipped_reference(paths: Sequence[str | os.PathLike[str]]) -> Path | None:
    """The reference reading shipped with a teaching case, if any.

    A single opened folder whose parent holds :data:`SHIPPED_READING` (the demo case:
    ``sample_scans/demo_case/dicom`` beside ``sample_scans/demo_case/reference.reading``).
    """
    if len(paths) != 1:
        return None
    first = Path(paths[0]).resolve()
    candidate = first.parent / SHIPPED_READING
    return candidate if first.is_dir() and candidate.is_file() else None


@dataclass(frozen=True)
class BlindReadState:
    """Where a case's blind read stands.

    Attributes
    ----------
    reference : str or None
        File name (in ``readings/``) of the reference the read is against; None: no read.
    started : datetime.datetime or None
        When the read was started (UTC).
    stated : mapping of str to str
        Visit label -> the category the trainee stated; visits not stated are absent.
    submitted : str or None
        File name (in ``readings/``) of the trainee's reading saved at submission; None while
        the read is open.
    logged : bool
        The submission is in the trainee's history log.
    """

    reference: str | None = None
    started: dt.datetime | None = None
    stated: Mapping[str, str] = field(default_factory=dict)
    submitted: str | None = None
    logged: bool = False

    @property
    def open(self) -> bool:
        """A read is under way: the reference must stay hidden."""
        return self.reference is not None and self.submitted is None

    def to_json(self) -> dict[str, Any]:
        """The state as the JSON object of :data:`STATE_FILE`."""
        return {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "reference": self.reference,
            "started": None if self.started is None else self.started.isoformat(),
            "stated": dict(sorted(self.stated.items())),
            "submitted": self.submitted,
            "logged": self.logged,
        }

    @classmethod
    def from_json(cls, item: Any) -> BlindReadState:
        """Parse :meth:`to_json`'s object.

        Raises
        ------
        ValueError, TypeError, KeyError
            Not this format, or a field of the wrong type.
        """
        if not isinstance(item, dict) or item.get("format") != FORMAT_NAME:
            raise ValueError(f"not a {FORMAT_NAME} file")
        if item.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"unknown version {item.get('format_version')!r}")
        stated = item["stated"]
        if not isinstance(stated, dict) or not all(
            isinstance(k, str) and v in STATED_CATEGORIES for k, v in stated.items()
        ):
            raise ValueError(f"stated categories must map visits to one of {STATED_CATEGORIES}")
        started = item["started"]
        return cls(
            _name_or_none(item["reference"]),
            None if started is None else dt.datetime.fromisoformat(json_text(started)),
            dict(stated),
            _name_or_none(item["submitted"]),
            json_boolean(item["logged"]),
        )


@dataclass(frozen=True, eq=False)
class Feedback:
    """A submitted read compared with its reference.

    Attributes
    ----------
    trainee, reference : Reading
    agreement : Agreement
    trainee_path, reference_path : Path
        The two readings' files in the case's ``readings/`` folder.
    """

    trainee: Reading
    reference: Reading
    agreement: Agreement
    trainee_path: Path
    reference_path: Path


class BlindRead:
    """The blind read of the open case.

    Signals
    -------
    changed()
        The state or the feedback changed.
    """

    changed = Signal()

    def __init__(self) -> None:
        self.folder: Path | None = None
        self.read_only = False
        self.state = BlindReadState()
        self.feedback: Feedback | None = None
        """Set once a read is submitted and compared (never while a read is open)."""

    # --- the case --------------------------------------------------------------------------

    @property
    def store(self) -> ReadingStore:
        """The readings of the open case.

        Raises
        ------
        viewer.errors.CaseFileError
            No case is open.
        """
        if self.folder is None:
            raise CaseFileError("open a case first", Path(READINGS_FOLDER))
        return ReadingStore(self.folder)

    @property
    def state_path(self) -> Path | None:
        """``<case>/readings/blind-read.json`` (None: no case open)."""
        return None if self.folder is None else self.folder / READINGS_FOLDER / STATE_FILE

    def open_case(self, folder: Path | None, *, read_only: bool = False) -> list[str]:
        """Take the blind read of a case folder (none: no case); returns warnings to show."""
        self.folder, self.read_only = folder, read_only
        self.state, self.feedback = BlindReadState(), None
        messages = []
        path = self.state_path
        if path is not None and path.is_file():
            try:
                self.state = BlindReadState.from_json(json.loads(path.read_text("utf-8")))
            except (OSError, UnicodeDecodeError, ValueError, TypeError, KeyError) as exc:
                messages.append(f"{path}: the blind read's state could not be read ({exc})")
        self.changed.emit()
        return messages

    def references(self) -> tuple[list[ReadingInfo], list[str]]:
        """The case's reference readings (headers only) and the files that could not be read."""
        if self.folder is None:
            return [], []
        infos, problems = self.store.infos()
        return [i for i in infos if i.reader.role is Role.REFERENCE], problems

    def reference_info(self) -> ReadingInfo | None:
        """The header of the reference the current (or submitted) read is against."""
        path = self.reference_path
        if path is None:
            return None
        try:
            return read_reading_info(path)
        except CaseFileError:
            return None

    @property
    def reference_path(self) -> Path | None:
        """The file of the reference the current (or submitted) read is against."""
        if self.folder is None or self.state.reference is None:
            return None
        return self.folder / READINGS_FOLDER / self.state.reference

    def import_reading(self, path: str | os.PathLike[str]) -> Path:
        """Copy a ``.reading`` file into the case's readings (the same file is kept once).

        Raises
        ------
        viewer.errors.CaseFileError
            Not a valid reading, or no case is open.
        viewer.errors.SaveError
            The folder cannot be written.
        """
        copied = self.store.import_file(path)
        self.changed.emit()
        return copied

    def import_shipped(self, path: Path) -> Path | None:
        """Import a case's shipped reference (on every opening) without reading it again.

        A file already in the case (same bytes) is not read; while a read is open nothing new
        is imported, as importing reads the whole file to check it.

        Returns
        -------
        Path or None
            The copy in the case, or None when it was left out during an open read.
        """
        data = path.read_bytes()
        folder = self.store.folder
        if folder.is_dir():
            for existing in sorted(folder.glob(f"*{path.suffix}")):
                if existing.stat().st_size == len(data) and existing.read_bytes() == data:
                    return existing
        if self.state.open:
            return None
        return self.import_reading(path)

    # --- the read --------------------------------------------------------------------------

    def start(self, info: ReadingInfo) -> None:
        """Start a blind read against a reference of this case (any earlier read is closed).

        Raises
        ------
        ValueError
            ``info`` is not a reference reading in this case's ``readings/`` folder.
        viewer.errors.SaveError
            The state cannot be written.
        """
        if info.reader.role is not Role.REFERENCE:
            raise ValueError(f"{info.path.name} is a trainee's reading, not a reference")
        if self.folder is None or info.path.parent != self.folder / READINGS_FOLDER:
            raise ValueError(f"{info.path} is not a reading of the open case")
        self.feedback = None
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        self._set(BlindReadState(info.path.name, now))

    def state_category(self, visit: str, category: str | None) -> None:
        """The trainee states a visit's category (None: not stated).

        Raises
        ------
        ValueError
            No read is open, or the category is not one of :data:`STATED_CATEGORIES`.
        """
        if not self.state.open:
            raise ValueError("no blind read is open")
        if category is not None and category not in STATED_CATEGORIES:
            raise ValueError(f"category {category!r} is not one of {STATED_CATEGORIES}")
        stated = dict(self.state.stated)
        if category is None:
            stated.pop(visit, None)
        else:
            stated[visit] = category
        if stated != dict(self.state.stated):
            self._set(replace(self.state, stated=stated))

    def submission_work(
        self,
        trainee: Reading,
        volumes: Mapping[str, Volume],
        entries: Mapping[str, SeriesEntry],
        patient2reference: Patient2Reference,
    ) -> Callable[[], Feedback]:
        """What submitting does, to run in a worker: check, save, compare.

        The reference is read only inside the returned function, after the read is submitted.

        Parameters
        ----------
        trainee : Reading
            :func:`trainee_reading` of the session.
        volumes : mapping of str to Volume
            The case's series whose grids are known (a geometry-only Volume is enough).
        entries : mapping of str to SeriesEntry
            Every series of the case, to read the grid of a series not in ``volumes``.
        patient2reference : callable
            ``patient2reference(series_key)`` -> (4, 4) or None: a snapshot, safe in a worker.

        Raises
        ------
        ValueError
            No read is open.
        """
        if not self.state.open or self.reference_path is None:
            raise ValueError("no blind read is open: start one first (Teaching menu)")
        store, reference_path = self.store, self.reference_path

        def work() -> Feedback:
            reference = _checked_reference(reference_path, volumes, entries)
            saved = store.save(trainee)
            agreement = compare_readings(trainee, reference, patient2reference=patient2reference)
            return Feedback(trainee, reference, agreement, saved, reference_path)

        return work

    def take_feedback(self, feedback: Feedback, *, log_folder: Path, reader: str) -> str | None:
        """A comparison is done: keep it; a submission closes the read and is logged once.

        Returns
        -------
        str or None
            A warning to show (the log could not be written), else None.

        Raises
        ------
        viewer.errors.SaveError
            The state cannot be written.
        """
        state = self.state
        if state.open:
            state = replace(state, submitted=feedback.trainee_path.name)
        warning = None
        if not state.logged and state.submitted == feedback.trainee_path.name:
            label = feedback.reference.case_label or DEFAULT_CASE_LABEL
            try:
                append_entry(log_folder, LogEntry.of(feedback.agreement, label, reader=reader))
                state = replace(state, logged=True)
            except SaveError as exc:
                warning = f"Your history could not be updated: {exc}"
        self.feedback = feedback
        self._set(state)
        return warning

    def feedback_work(self, patient2reference: Patient2Reference) -> Callable[[], Feedback]:
        """Compare a read submitted earlier again (the case was reopened), in a worker.

        Raises
        ------
        ValueError
            No read was submitted.
        """
        if self.folder is None or self.state.submitted is None or self.reference_path is None:
            raise ValueError("no blind read was submitted")
        trainee_path = self.folder / READINGS_FOLDER / self.state.submitted
        reference_path = self.reference_path

        def work() -> Feedback:
            trainee = read_reading(trainee_path)
            reference = read_reading(reference_path)
            agreement = compare_readings(trainee, reference, patient2reference=patient2reference)
            return Feedback(trainee, reference, agreement, trainee_path, reference_path)

        return work

    def _set(self, state: BlindReadState) -> None:
        """Take a new state and write it with the case (atomically)."""
        path = self.state_path
        if path is None:
            raise CaseFileError("open a case first", Path(STATE_FILE))
        if self.read_only:
            raise SaveError("the case is open read-only: the blind read cannot be kept", path)
        data = json.dumps(state.to_json(), indent=1, ensure_ascii=False).encode("utf-8")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_bytes_atomic(path, data)
        except OSError as exc:
            raise save_error(exc, path, "writing the blind read") from exc
        self.state = state
        self.changed.emit()


def trainee_reading(
    case_session: CaseSession,
    tracking: Tracking,
    stated: Mapping[str, str],
    volumes: Mapping[str, Volume],
    *,
    case_label: str = "",
) -> Reading:
    """The trainee's reading of the open case, from the live session.

    Parameters
    ----------
    case_session : CaseSession
        Its outlines (``annotations``), their grids (``records``) and its reader's name.
    tracking : Tracking
        The visits and the series each is read on, criteria, baseline, targets chosen by hand
        (none: the criteria choose, as in the Response panel), events and hand calipers.
    stated : mapping of str to str
        Visit label -> the category the trainee stated.
    volumes : mapping of str to Volume
        Loaded series, for their nominal slice thickness (measurability depends on it).
    case_label : str
        The case as the teaching group names it.

    Raises
    ------
    ValueError
        Outlines without a known grid (a series never loaded nor saved).
    """
    notes = case_session.annotations
    labels = {k: v for k, v in notes.label_maps().items() if k not in case_session.refused}
    hand = [
        HandMeasurement(key, number, _ends(c.long_ends_mm), _ends(c.perp_ends_mm))
        for key in labels
        for number, c in tracking.calipers.manuals(key).items()
    ]
    return build_reading(
        Reader(case_session.reader.name, Role.TRAINEE),
        lesions=notes.lesions,
        targets=tracking.target_override or (),
        label_maps=labels,
        grids=case_session.records,
        visits=[(c.label, c.date, c.series_key) for c in tracking.columns()],
        categories=stated,
        hand_measurements=hand,
        criteria_key=tracking.criteria_key,
        baseline_visit=tracking.baseline_label,
        events=analysis_events(tracking.events),
        case_label=case_label,
        slice_thickness_mm={k: v.metadata.slice_thickness_mm for k, v in volumes.items()},
    )


def geometry_volume(shape: tuple[int, int, int], voxel2patient: np.ndarray) -> Volume:
    """A Volume with a grid and no intensities (NaN, no memory): enough to check a grid."""
    return Volume(np.broadcast_to(np.float32(np.nan), shape), voxel2patient)


def _checked_reference(
    path: Path, volumes: Mapping[str, Volume], entries: Mapping[str, SeriesEntry]
) -> Reading:
    """Read the reference and check its outlines lie on this case's grids."""
    reference = read_reading(path)
    if reference.reader.role is not Role.REFERENCE:
        raise CaseFileError("this reading is a trainee's, not a reference", path)
    grids = dict(volumes)
    for key in reference.series:
        if key not in grids and key in entries:
            grids[key] = load_series(entries[key])
    problems = reference.grid_problems(grids)
    if problems:
        raise CaseFileError(
            "the reference reading does not fit this case's images: "
            + "; ".join(problems.values()),
            path,
        )
    return reference


def _ends(points: Sequence[np.ndarray]) -> Any:
    return tuple(tuple(float(v) for v in p) for p in points)


def _name_or_none(value: Any) -> str | None:
    if value is None:
        return None
    name = json_text(value)
    if Path(name).name != name or not name:
        raise ValueError(f"{name!r} is not a file name")
    return name
