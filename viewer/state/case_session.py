"""The open case's folder: where the reader's work is saved, autosaved and recovered (no Qt).

A case lives in a folder next to the images (``<images>.interval``), or in the user's data folder
when the images sit somewhere read-only. :class:`CaseSession` builds the :class:`Case` from the
live state (outlines, lesions, undo, registrations, layout, who drew and measured what), saves it
atomically, autosaves it to the recovery journal, and puts a loaded case back into the live state.

The session carries one reader (:class:`~viewer.core.provenance.Reader`): outlines and hand
measurements are stamped with its name, by default the login name; :meth:`CaseSession.set_reader`
changes it (e.g. from a name the reader types in).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from viewer.core.lesions import LesionSet
from viewer.core.provenance import CaseProvenance, Reader
from viewer.core.transform import RegistrationState
from viewer.core.volume import Volume
from viewer.errors import CaseFileError
from viewer.io.case_file import (
    MANIFEST,
    Case,
    CaseLock,
    RecoveryJournal,
    SeriesRecord,
    TreatmentEvent,
    clear_journal,
    geometry_mismatch,
    open_case,
    read_journal,
    save_case,
)
from viewer.io.scan import CASE_FOLDER_SUFFIX
from viewer.state.annotations import Annotations
from viewer.state.compare_controller import ComparisonController
from viewer.state.comparison import LAYOUTS, PAIR_MODES
from viewer.state.tracking import Tracking

CASE_HOME_VARIABLE = "INTERVAL_CASE_HOME"
"""When set, every case lives in this folder instead of beside its images (the tests use it)."""
CASE_SUFFIX = CASE_FOLDER_SUFFIX
"""Case folders end with this, so scanning a parent folder never reads label maps as images."""
AUTOSAVE_INTERVAL_S = 30


def data_home() -> Path:
    """Where cases of images in read-only places live.

    ``$INTERVAL_CASE_HOME`` if set, else the user's application data folder
    (``$XDG_DATA_HOME/Interval``, by default ``~/.local/share/Interval``).
    """
    override = os.environ.get(CASE_HOME_VARIABLE)
    if override:
        return Path(override)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "Interval"


def case_folder_of(paths: Sequence[str | os.PathLike[str]]) -> Path:
    """The case folder of opened images, as the app and the command line find it."""
    beside = not os.environ.get(CASE_HOME_VARIABLE)
    return default_case_folder(paths, data_home(), beside_images=beside)


def default_case_folder(
    paths: Sequence[str | os.PathLike[str]], data_home: Path, *, beside_images: bool = True
) -> Path:
    """Where the case of some opened images lives.

    Next to the first opened file or folder (``/data/patient7`` -> ``/data/patient7.interval``)
    when that folder's parent is writable; otherwise (or with ``beside_images=False``) in
    ``data_home`` under a name made from the images' path, so the same images always find the
    same case.
    """
    first = Path(paths[0]).resolve()
    if first.name.endswith(CASE_SUFFIX):
        return first
    beside = first.with_name(first.name + CASE_SUFFIX)
    if beside_images and (beside.is_dir() or os.access(first.parent, os.W_OK)):
        return beside
    digest = hashlib.sha256(str(first).encode("utf-8")).hexdigest()[:16]
    return data_home / "cases" / f"{first.name}-{digest}{CASE_SUFFIX}"


@dataclass
class OpenReport:
    """What opening a case folder found, for the UI to tell the reader.

    Attributes
    ----------
    folder : Path
    existed : bool
        A saved case was found (False: a new case, written on the first save or autosave).
    read_only : bool
    messages : list of str
        Warnings to show (read-only because of another instance, dropped undo histories...).
    journal : Case or None
        Unsaved work a crash left behind: ask whether to restore it.
    error : str or None
        The case could not be opened (damaged manifest...): nothing was loaded and the folder
        is left untouched; the app works read-only on the images.
    """

    folder: Path
    existed: bool = False
    read_only: bool = False
    messages: list[str] = field(default_factory=list)
    journal: Case | None = None
    error: str | None = None


class CaseSession:
    """The case folder of the open images, and the bridge between it and the live state.

    Parameters
    ----------
    annotations : Annotations
    comparison : ComparisonController
        Its registrations and view state are saved with the case and restored from it.
    tracking : Tracking, optional
        Its criteria, baseline, targets and treatment events are saved with the case. Its
        calipers are stamped by the outlines' reader from now on (one reader per session).
    """

    def __init__(
        self,
        annotations: Annotations,
        comparison: ComparisonController,
        tracking: Tracking | None = None,
    ) -> None:
        self.annotations = annotations
        self.comparison = comparison
        self.tracking = tracking
        if tracking is not None:
            tracking.calipers.reader = annotations.reader
        self.folder: Path | None = None
        self.lock: CaseLock | None = None
        self.journal: RecoveryJournal | None = None
        self.records: dict[str, SeriesRecord] = {}
        """Series with outlines: the grid each label map lives in."""
        self.refused: dict[str, str] = {}
        """Series whose saved outlines do not fit the loaded image, with the reason."""
        self._case: Case | None = None  # the case as loaded: what we do not edit is kept

    @property
    def reader(self) -> Reader:
        """Who is working: outlines and hand measurements are stamped with this reader."""
        return self.annotations.reader

    def set_reader(self, name: str) -> None:
        """Stamp later outlines and hand measurements with this name (the UI's hook).

        Raises
        ------
        ValueError
            The name is empty.
        """
        self.annotations.reader.name = name

    @property
    def read_only(self) -> bool:
        """The case cannot be written (another instance has it, or the folder is read-only)."""
        return self.lock is None or self.lock.read_only

    # --- opening and closing ---------------------------------------------------------------

    def open(self, folder: Path) -> OpenReport:
        """Open (or start) the case in ``folder`` for the catalogue the session shows."""
        self.close()
        self.folder = folder
        report = OpenReport(folder)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            report.messages.append(
                f"The case folder {folder} cannot be created ({exc.strerror or exc}): outlines "
                "cannot be saved until you choose another folder with Save case as…"
            )
        report.existed = (folder / MANIFEST).is_file()
        try:
            opened = open_case(folder) if report.existed else None
        except CaseFileError as exc:
            report.error = str(exc)
            self.annotations.read_only = True
            return report
        if opened is None:
            # never saved; a crash may still have left a journal behind
            self.lock = CaseLock.acquire(folder) if folder.is_dir() else None
            self._case = Case()
            if self.lock is not None:
                try:
                    report.journal = read_journal(folder)
                except CaseFileError as exc:
                    report.messages.append(f"The recovery journal is damaged: {exc}")
        else:
            self.lock = opened.lock
            self._case = opened.case
            report.journal = opened.journal
            if opened.journal_error:
                report.messages.append(f"The recovery journal is damaged: {opened.journal_error}")
            report.messages += list(opened.case.warnings)
            self.restore(opened.case, dirty=False)
            if self.tracking is not None and self.tracking.problem:
                report.messages.append(self.tracking.problem)
        if self.lock is not None and self.lock.warning:
            report.messages.insert(0, self.lock.warning)
        report.read_only = self.read_only
        self.annotations.read_only = self.read_only
        self.journal = None if self.read_only else RecoveryJournal(folder)
        return report

    def close(self) -> None:
        """Let go of the case: the journal goes when everything was saved, the lock always."""
        if self.folder is not None and self.lock is not None and not self.lock.read_only:
            if not self.annotations.dirty:
                try:
                    clear_journal(self.folder)
                except OSError:
                    pass  # a journal left behind is offered next time, never harmful
            self.lock.release()
        self.folder, self.lock, self.journal, self._case = None, None, None, None
        self.records, self.refused = {}, {}

    # --- from the case to the live state and back ------------------------------------------

    def restore(self, case: Case, *, dirty: bool) -> None:
        """Put a loaded case (or a recovered journal) into the live state."""
        self.records = dict(case.series)
        self.refused = dict(case.refused)
        self.annotations.restore(
            LesionSet(list(case.lesions), case.lesions.next_number),
            {k: v for k, v in case.labels.items() if k in self.records},
            dict(case.histories),
            dirty=dirty,
            provenance=case.provenance,
        )
        self._restore_registrations(case)
        self._restore_layout(case.layout)
        if self.tracking is not None:
            self.tracking.restore(case.assessment, case.events)
        self.check_loaded()

    def _restore_registrations(self, case: Case) -> None:
        store = self.comparison.registrations
        known = {s.key for s in self.comparison.session.catalog.all_series()}
        saved = [r for r in case.registrations if r.series_key in known]
        references = {r.reference_key for r in saved}
        if len(references) == 1:
            reference = references.pop()
            if reference in known and reference != store.reference_key:
                self.comparison.set_reference(reference)
        for registration in saved:
            if registration.reference_key != store.reference_key:
                continue
            if store.is_reference(registration.series_key):
                continue
            if registration.state is RegistrationState.NOT_REGISTERED:
                continue
            store.put(registration)

    def _restore_layout(self, layout: dict[str, Any]) -> None:
        state = self.comparison.state
        known = {s.key for s in self.comparison.session.catalog.all_series()}
        try:
            panes = layout.get("panes")
            if isinstance(panes, list):
                chosen = [p if isinstance(p, str) and p in known else None for p in panes]
                if any(chosen):
                    state.panes = tuple((chosen + list(state.panes))[: len(state.panes)])
            if layout.get("layout") in LAYOUTS:
                state.layout = layout["layout"]
            if layout.get("plane") in ("axial", "coronal", "sagittal"):
                state.plane = layout["plane"]
            crosshair = layout.get("crosshair_mm")
            if isinstance(crosshair, list) and len(crosshair) == 3:
                state.crosshair_mm = tuple(float(v) for v in crosshair)  # type: ignore[assignment]
            zoom = layout.get("zoom")
            if isinstance(zoom, int | float) and 0.1 <= zoom <= 40:
                state.zoom = float(zoom)
            if layout.get("pair_mode") in PAIR_MODES:
                state.pair_mode = layout["pair_mode"]
            active = layout.get("active")
            if isinstance(active, int) and 0 <= active < len(state.panes):
                state.active = active
            style = layout.get("overlay", {})
            if isinstance(style, dict):
                notes = self.annotations.style
                if isinstance(style.get("opacity"), int | float):
                    notes.opacity = min(max(float(style["opacity"]), 0.0), 1.0)
                if isinstance(style.get("outline_only"), bool):
                    notes.outline_only = style["outline_only"]
                if isinstance(style.get("hidden"), list):
                    notes.hidden = frozenset(int(n) for n in style["hidden"] if isinstance(n, int))
        except (TypeError, ValueError):
            pass  # a layout is a convenience: a strange one is ignored, the work still opens
        # the restored crosshair is where the reader left off: do not re-centre on the head
        self.comparison.keep_position()

    def layout(self) -> dict[str, Any]:
        """The view state saved with the case (JSON values)."""
        state, style = self.comparison.state, self.annotations.style
        return {
            "layout": state.layout,
            "panes": list(state.panes),
            "active": state.active,
            "plane": state.plane,
            "crosshair_mm": [float(v) for v in state.crosshair_mm],
            "zoom": float(state.zoom),
            "pair_mode": state.pair_mode,
            "overlay": {
                "opacity": float(style.opacity),
                "outline_only": bool(style.outline_only),
                "hidden": sorted(style.hidden),
            },
        }

    def note_series(self, key: str, visit: str, volume: Volume) -> None:
        """A series loaded: check saved outlines fit it, and remember its grid for saving."""
        record = self.records.get(key)
        if record is not None:
            problem = geometry_mismatch(record, volume)
            if problem is not None and key not in self.refused:
                self.refused[key] = f"Outlines of {visit} were not loaded: {problem}"
                self.annotations.drop_series(key)
            return
        self.records[key] = SeriesRecord.of_volume(key, visit, volume)

    def check_loaded(self) -> None:
        """Check the saved outlines of every series already in memory."""
        session = self.comparison.session
        for key in list(self.records):
            found = self.comparison.loaded(key)
            if found is not None:
                self.note_series(key, session.visit_of(key).label, found.volume)

    def build_case(self) -> Case:
        """The live state as a :class:`Case` (what a save or an autosave writes)."""
        notes = self.annotations
        labels = {k: v for k, v in notes.label_maps().items() if k not in self.refused}
        series = {k: self.records[k] for k in labels if k in self.records}
        missing = [k for k in labels if k not in series]
        if missing:
            raise CaseFileError(f"no grid known for the outlines of series {missing}", self.folder)
        case = Case(
            series=series,
            labels={k: labels[k] for k in series},
            lesions=notes.lesions,
            registrations=self.comparison.registrations.records(),
            events=self._events(),
            notes=dict(self._case.notes) if self._case is not None else {},
            layout=self.layout(),
            assessment=self._assessment(),
        )
        case.histories = {k: h for k, h in notes.histories().items() if k in series}
        live = notes.provenance()
        case.provenance = CaseProvenance(
            {k: v for k, v in live.outlines.items() if k[0] in series},
            {k: v for k, v in live.steps.items() if k in case.histories},
        )
        self._keep_refused(case)
        return case

    def _events(self) -> list[TreatmentEvent]:
        if self.tracking is not None:
            return list(self.tracking.events)
        return list(self._case.events) if self._case is not None else []

    def _assessment(self) -> dict[str, Any]:
        if self.tracking is not None:
            return self.tracking.assessment_json()
        return dict(self._case.assessment) if self._case is not None else {}

    def _keep_refused(self, case: Case) -> None:
        """Outlines that did not fit are written back exactly as loaded: never lost by a save."""
        old = self._case
        if old is None:
            return
        for key in self.refused:
            if key in old.series and key in old.labels:
                case.series[key] = old.series[key]
                case.labels[key] = old.labels[key]
                if key in old.histories:
                    case.histories[key] = old.histories[key]
                    if key in old.provenance.steps:
                        case.provenance.steps[key] = old.provenance.steps[key]
                case.provenance.outlines.update(
                    (k, v) for k, v in old.provenance.outlines.items() if k[0] == key
                )

    # --- saving ----------------------------------------------------------------------------

    def save(self, folder: Path | None = None) -> Path:
        """Save atomically (to ``folder``: Save As), then clear the journal and mark clean.

        Raises
        ------
        viewer.errors.SaveError
            Nothing is marked saved; the previous file is untouched.
        viewer.errors.CaseFileError
            The case is read-only.
        """
        target = folder or self.folder
        if target is None:
            raise CaseFileError("no case folder chosen", Path("."))
        if folder is None and self.read_only:
            raise CaseFileError(
                "the case is open read-only (another Interval has it, or the folder cannot be "
                "written): use Save case as… to keep your work elsewhere",
                target,
            )
        case = self.build_case()
        save_case(case, target, create=folder is not None or not target.exists())
        if folder is not None and folder != self.folder:
            self._move_to(folder)
        try:
            clear_journal(target)
        except OSError:
            pass  # the journal is older than the manifest now, so it is never offered
        self._case = case
        self.annotations.mark_clean()
        return target

    def _move_to(self, folder: Path) -> None:
        if self.lock is not None:
            self.lock.release()
        self.folder = folder
        self.lock = CaseLock.acquire(folder)
        self.annotations.read_only = self.lock.read_only
        self.journal = None if self.lock.read_only else RecoveryJournal(folder)

    def autosave(self) -> str | None:
        """Write the journal if there are unsaved changes; returns a warning to show, if any.

        Never raises: a failing autosave becomes one warning per run of failures.
        """
        if self.journal is None or not self.annotations.dirty:
            return None
        try:
            case = self.build_case()
        except CaseFileError as exc:
            return f"Autosave is failing: {exc}"
        self.journal.write(case)
        return self.journal.take_warning()
