"""The Export menu: report, measurements, segmentations and transforms, de-identified by default.

Every export runs in a worker on a snapshot of the case (copies of the outlines and choices), so
the reader can go on outlining; teaching mode is the default and including the patient's identity
needs an explicit, warned choice.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction, QGuiApplication
from PySide6.QtWidgets import QFileDialog, QMenu, QMessageBox, QWidget

from viewer.core.lesions import LesionSet
from viewer.core.progress import CancelCheck, ProgressCallback
from viewer.display.window import intensity_stats
from viewer.errors import IntervalError
from viewer.export.cine import cine_frames, write_cine_gif
from viewer.export.privacy import Privacy, UidMap
from viewer.export.report import write_report
from viewer.export.segmentation import export_dicom_seg, export_nifti_labels
from viewer.export.tables import as_json, case_table, write_csv
from viewer.export.transforms import SeriesName, export_transforms
from viewer.export.visit_strip import StripPanel, write_png, write_visit_strip
from viewer.io import load_series
from viewer.io.dicom_grouping import BURNED_IN_WARNING
from viewer.pacs.documents import encapsulate_pdf
from viewer.state.annotations import Annotations
from viewer.state.calipers import CaliperStore
from viewer.state.case_session import CaseSession
from viewer.state.compare_controller import ComparisonController, ViewText
from viewer.state.tracking import Tracking
from viewer.ui.compare_view import ComparisonView
from viewer.ui.qt_image import rgba_to_qimage
from viewer.ui.workers import TaskRunner

CASE_LABEL = "Case"
VIEW_SIZES = {
    1: "At screen size (1x)…",
    2: "2x, for slides…",
    4: "4x, for print…",
}
"""Sizes the active view exports at, as the Export menu names them."""


def snapshot_tracking(
    tracking: Tracking, comparison: ComparisonController, records: dict
) -> Tracking:
    """A Tracking over copies of the outlines and choices, safe to use in a worker."""
    notes = Annotations()
    lesions = LesionSet(
        list(tracking.annotations.lesions), tracking.annotations.lesions.next_number
    )
    labels = {k: v.copy() for k, v in tracking.annotations.label_maps().items()}
    notes.restore(lesions, labels, {}, provenance=tracking.annotations.provenance())
    volumes = {k: found.volume for k in records if (found := comparison.loaded(k)) is not None}
    matrices = {k: comparison.registrations.patient2reference(k) for k in records}
    catalog = comparison.session.catalog
    copy = Tracking(notes, lambda: catalog, volumes.get, lambda: dict(records), matrices.get,
                    CaliperStore())  # fmt: skip
    copy.restore(tracking.assessment_json(), list(tracking.events))
    return copy


class ExportMenu(QObject):
    """Builds the Export menu and runs its exports.

    Signals
    -------
    message(str)
    """

    message = Signal(str)

    def __init__(
        self,
        window: QWidget,
        tracking: Tracking,
        comparison: ComparisonController,
        case_session: CaseSession,
        runner: TaskRunner,
        view: ComparisonView | None = None,
    ) -> None:
        super().__init__(window)
        self.window, self.tracking, self.comparison = window, tracking, comparison
        self.case_session, self.runner, self.view = case_session, runner, view
        self.menu = QMenu("E&xport", window)
        self.identity_action = QAction("Include patient identity (clinical use)", self)
        self.identity_action.setCheckable(True)
        self.identity_action.setToolTip(
            "Off (teaching mode): no name, ID, birth date, institution or real dates in any export"
        )
        self.identity_action.toggled.connect(self._confirm_identity)
        entries: list[tuple[str, Callable[[], None]]] = [
            ("Report (PDF)…", self.export_report),
            ("Visit strip of the active lesion (PNG)…", self.export_strip),
            ("Cine of the active lesion, every visit (GIF)…", self.export_cine),
            ("Measurements (CSV)…", lambda: self.export_table("csv")),
            ("Measurements (JSON)…", lambda: self.export_table("json")),
            ("Outlines as NIfTI (every visit)…", self.export_nifti),
            ("Outlines of the active visit as DICOM SEG…", self.export_seg),
            ("Registrations as ITK transforms…", self.export_transforms),
        ]
        report, *others = entries
        self.menu.addAction(report[0]).triggered.connect(report[1])
        self.view_menu = self.menu.addMenu("The active view, annotated (PNG)")
        for factor, text in VIEW_SIZES.items():
            action = self.view_menu.addAction(text)
            action.triggered.connect(lambda _=False, f=factor: self.export_view(f))
        self.view_menu.addSeparator()
        self.crosshair_action = self.view_menu.addAction("Draw the crosshair")
        self.crosshair_action.setCheckable(True)
        self.crosshair_action.setChecked(True)
        self.copy_action = self.menu.addAction("Copy the active view (annotated)")
        self.copy_action.setShortcut("Ctrl+Shift+C")
        self.copy_action.triggered.connect(self.copy_view)
        for text, slot in others:
            self.menu.addAction(text).triggered.connect(slot)
        self.menu.addSeparator()
        self.menu.addAction(self.identity_action)
        runner.succeeded.connect(lambda _, where: self.message.emit(f"Exported to {where}"))
        runner.failed.connect(lambda _, text: self.message.emit(f"Export failed: {text}"))

    # --- privacy ---------------------------------------------------------------------------

    @property
    def privacy(self) -> Privacy:
        """Teaching mode unless the reader chose to include identity."""
        on = self.identity_action.isChecked()
        return Privacy(include_identity=on, real_dates=on, case_label=CASE_LABEL)

    def _confirm_identity(self, on: bool) -> None:
        if not on:
            return
        answer = QMessageBox.warning(
            self.window,
            "Include patient identity?",
            "Exports will contain the patient's name, ID, birth date, institution and real dates. "
            "Use this only for clinical work inside the hospital, never for teaching files.",
            QMessageBox.StandardButton.Ok | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        if answer != QMessageBox.StandardButton.Ok:
            self.identity_action.setChecked(False)

    # --- the exports -----------------------------------------------------------------------

    def _records(self) -> dict:
        labels = self.tracking.annotations.label_maps()
        return {k: r for k, r in self.case_session.records.items() if k in labels}

    def _series_numbers(self) -> dict[str, int | None]:
        return {s.key: s.series_number for s in self.comparison.session.catalog.all_series()}

    def _pixels_may_go(self, keys: list[str]) -> bool:
        """In teaching mode, ask before exporting pixels of series flagged BurnedInAnnotation."""
        if self.privacy.include_identity:
            return True
        session = self.comparison.session
        flagged = [
            self.comparison.series_label(k)
            for k in dict.fromkeys(keys)
            if session.knows(k) and BURNED_IN_WARNING in session.entry(k).warnings
        ]
        if not flagged:
            return True
        answer = QMessageBox.question(
            self.window,
            "Identifiers in the pixels?",
            "These series are flagged BurnedInAnnotation (or are secondary captures): their "
            "pixels may show the patient's name or ID, which de-identification cannot remove:"
            f"\n\n{chr(10).join(flagged)}\n\nExport their pixels anyway?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        return answer == QMessageBox.StandardButton.Yes

    def _run(self, work: Callable[[], Path]) -> None:
        def task(progress: ProgressCallback, cancelled: CancelCheck) -> Path:
            return work()

        self.runner.start(task)
        self.message.emit("Exporting…")

    def export_report(self) -> None:
        """The case as a PDF report."""
        path, _ = QFileDialog.getSaveFileName(
            self.window, "Save the report", f"{CASE_LABEL}_report.pdf", "PDF (*.pdf)"
        )
        if not path:
            return
        records = self._records()
        if not self._pixels_may_go(list(records)):
            return
        snapshot = snapshot_tracking(self.tracking, self.comparison, records)
        volumes = {k: f.volume for k in records if (f := self.comparison.loaded(k)) is not None}
        privacy, numbers = self.privacy, self._series_numbers()
        registrations = self.comparison.registrations.records()
        self._run(
            lambda: write_report(
                snapshot, CASE_LABEL, path, privacy=privacy, volumes=volumes,
                series_numbers=numbers, registrations=registrations,
            )
        )  # fmt: skip

    @property
    def view_text(self) -> ViewText:
        """What the text on an exported view may say: no descriptions or dates in teaching mode."""
        privacy = self.privacy
        return ViewText(
            descriptions=privacy.include_identity,
            date_format="date" if privacy.real_dates else "day",
        )

    def _view_job(self, factor: int) -> Callable[[], np.ndarray | None] | None:
        """Work drawing the active view (or the pair blend) with its marks; None with a message."""
        if self.view is None:
            return None
        state = self.comparison.state
        index = state.pair[0] if self.comparison.pair_keys() is not None else state.active
        pane = self.view.panes[index]
        if pane.current_frame() is None:
            self.message.emit("The view has nothing to export yet")
            return None
        shown = [self.comparison.view_key(i) for i in (index, *state.pair)]
        if not self._pixels_may_go([k for k in shown if k is not None]):
            return None
        crosshair = self.crosshair_action.isChecked()
        return pane.picture_job(factor, crosshair=crosshair, text=self.view_text)

    def export_view(self, factor: int = 1) -> None:
        """The active view as shown (image, outlines, calipers, text, scale bar), as a PNG.

        ``factor`` 2 or 4 draws the same field of view on 2 or 4 times as many pixels each way,
        with text and lines scaled to match; the drawing and the file are made in a worker.
        """
        job = self._view_job(factor)
        if job is None:
            return
        suffix = "" if factor == 1 else f"_{factor}x"
        path, _ = QFileDialog.getSaveFileName(
            self.window, "Save the view", f"{CASE_LABEL}_view{suffix}.png", "PNG (*.png)"
        )
        if not path:
            return

        def work() -> Path:
            picture = job()
            if picture is None:
                raise IntervalError("the view's series was closed before it could be drawn")
            return write_png(picture, path)

        self._run(work)

    def copy_view(self) -> None:
        """The active view as shown, at screen size, to the clipboard (for slides and notes)."""
        job = self._view_job(1)
        picture = job() if job is not None else None  # at screen size: a few milliseconds
        if picture is not None:
            QGuiApplication.clipboard().setImage(rgba_to_qimage(picture))
            self.message.emit("The view is on the clipboard")

    def _strip_plan(self) -> tuple[np.ndarray, Callable[[], list[StripPanel]], Annotations]:
        """Where to centre, how to build every visit's panel (in a worker), and the outlines."""
        columns, _, assessment = self.tracking.assess()
        lesion = self.tracking.annotations.active
        active_key = self.comparison.view_key(self.comparison.state.active)
        point = np.asarray(self.comparison.state.crosshair_mm, dtype=np.float64)
        for column in columns:
            m = column.measurements.get(lesion) if lesion is not None else None
            if m is not None and column.series_key == active_key:
                point = np.asarray(m.centroid_reference_mm)  # the lesion, else the crosshair
        categories = {}
        if assessment is not None:
            for index, response in enumerate(assessment.visits):
                before = index < assessment.baseline_index
                categories[response.label] = "before baseline" if before else response.category
        privacy, first = self.privacy, self._first_date()
        session, registrations = self.comparison.session, self.comparison.registrations
        plans = []
        for column in columns:
            found = self.comparison.loaded(column.series_key)
            m = column.measurements.get(lesion) if lesion is not None else None
            caption = ""
            if m is not None and m.diameters is not None:
                d = m.diameters
                caption = (
                    f"L{lesion} {d.longest_mm:.1f} x {d.perpendicular_mm:.1f} mm, "
                    f"{m.volume_ml:.2f} mL"
                )
            category = categories.get(column.label, "")
            title = privacy.visit_label(column.date, first) + (f" · {category}" if category else "")
            plans.append(
                (column.series_key, session.entry(column.series_key), found,
                 registrations.patient2reference(column.series_key), title, caption)
            )  # fmt: skip

        def panels() -> list[StripPanel]:
            built = []
            for key, entry, found, matrix, title, caption in plans:
                if found is not None:
                    volume, window = found.volume, found.default_window
                else:
                    volume = load_series(entry)
                    window = intensity_stats(volume.array).auto_window
                built.append(StripPanel(key, volume, matrix, window, title, caption))
            return built

        snapshot = snapshot_tracking(self.tracking, self.comparison, self._records()).annotations
        return point, panels, snapshot

    def export_strip(self) -> None:
        """The active lesion at every visit, on the same anatomical slice (PNG, 2x for slides)."""
        path, _ = QFileDialog.getSaveFileName(
            self.window, "Save the visit strip", f"{CASE_LABEL}_strip.png", "PNG (*.png)"
        )
        if not path:
            return
        point, panels, notes = self._strip_plan()
        if not self._pixels_may_go([c.series_key for c in self.tracking.columns()]):
            return
        self._run(
            lambda: write_visit_strip(panels(), notes, point, path, title=CASE_LABEL, scale=2)
        )

    def export_cine(self) -> None:
        """A scroll through the active lesion's slices at every visit, in step (GIF)."""
        path, _ = QFileDialog.getSaveFileName(
            self.window, "Save the cine", f"{CASE_LABEL}_cine.gif", "GIF (*.gif)"
        )
        if not path:
            return
        point, panels, notes = self._strip_plan()
        if not self._pixels_may_go([c.series_key for c in self.tracking.columns()]):
            return
        self._run(lambda: write_cine_gif(cine_frames(panels(), notes, point), path))

    def export_table(self, kind: str) -> None:
        """The measurements as CSV or JSON (units in the names)."""
        path, _ = QFileDialog.getSaveFileName(
            self.window, "Save the measurements", f"{CASE_LABEL}_measurements.{kind}"
        )
        if not path:
            return
        snapshot = snapshot_tracking(self.tracking, self.comparison, self._records())
        privacy, numbers = self.privacy, self._series_numbers()

        def work() -> Path:
            table = case_table(snapshot, privacy, numbers)
            with open(path, "w", encoding="utf-8", newline="") as stream:
                if kind == "csv":
                    write_csv(table, stream)
                else:
                    json.dump(as_json(table), stream, indent=1)
            return Path(path)

        self._run(work)

    def _visit_names(self) -> dict[str, SeriesName]:
        session = self.comparison.session
        return {
            s.key: SeriesName(session.visit_of(s.key).date, s.series_number)
            for s in session.catalog.all_series()
        }

    def _first_date(self) -> dt.date | None:
        dates = [v.date for p in self.comparison.session.catalog.patients for v in p.visits]
        return min((d for d in dates if d is not None), default=None)

    def export_nifti(self) -> None:
        """Every visit's outlines as NIfTI in its own grid."""
        folder = QFileDialog.getExistingDirectory(self.window, "Export the outlines into")
        if not folder:
            return
        records = self._records()
        labels = {k: v.copy() for k, v in self.tracking.annotations.label_maps().items()}
        names, first, privacy = self._visit_names(), self._first_date(), self.privacy

        def work() -> Path:
            for key, record in records.items():
                name = names.get(key, SeriesName(None, None))
                stem = privacy.file_stem(name.date, first, name.series_number)
                export_nifti_labels(labels[key], record, Path(folder) / f"{stem}_labels.nii.gz")
            return Path(folder)

        self._run(work)

    def export_seg(self) -> None:
        """The active view's outlines as DICOM SEG referencing its series."""
        key = self.comparison.view_key(self.comparison.state.active)
        labels = self.tracking.annotations.labels(key) if key is not None else None
        entry = self.comparison.session.entry(key) if key is not None else None
        if labels is None or entry is None or entry.format != "dicom" or not labels.any():
            self.message.emit("The active view needs a DICOM visit with outlines for a DICOM SEG")
            return
        folder = QFileDialog.getExistingDirectory(self.window, "Export the DICOM SEG into")
        if not folder:
            return
        lesions = LesionSet(
            list(self.tracking.annotations.lesions), self.tracking.annotations.lesions.next_number
        )
        copy, files, privacy = labels.copy(), list(entry.paths), self.privacy
        first = self._first_date()
        self._run(
            lambda: export_dicom_seg(
                copy, lesions, files, folder, privacy=privacy, first_date=first
            )
        )

    def pacs_files(self) -> Callable[[], list[Path]] | None:
        """What *Send to PACS* sends, as work for a worker; None when there is nothing to send.

        The active view's visit's outlines as a DICOM SEG and the case report as an
        Encapsulated PDF, both in that visit's study (one replacement-UID map, so in teaching
        mode they land together in the de-identified study), de-identified unless the reader
        included identity. They are written into the case folder's ``outbox/``: with identity
        they are patient data, kept where the case is kept, not in a shared temporary folder.
        """
        key = self.comparison.view_key(self.comparison.state.active)
        labels = self.tracking.annotations.labels(key) if key is not None else None
        entry = self.comparison.session.entry(key) if key is not None else None
        if labels is None or entry is None or entry.format != "dicom" or not labels.any():
            self.message.emit("Send to PACS needs a DICOM visit with outlines in the active view")
            return None
        records = self._records()
        if not self._pixels_may_go(list(records)):
            return None
        notes = self.tracking.annotations
        lesions = LesionSet(list(notes.lesions), notes.lesions.next_number)
        copy, files, privacy = labels.copy(), list(entry.paths), self.privacy
        first = self._first_date()
        snapshot = snapshot_tracking(self.tracking, self.comparison, records)
        volumes = {k: f.volume for k in records if (f := self.comparison.loaded(k)) is not None}
        numbers, registrations = self._series_numbers(), self.comparison.registrations.records()
        base = self.case_session.folder
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")

        def work() -> list[Path]:
            if base is not None:
                folder = base / "outbox" / stamp
                folder.mkdir(parents=True, exist_ok=True)
            else:
                folder = Path(tempfile.mkdtemp(prefix="interval-outbox-"))
            uids = UidMap()
            seg = export_dicom_seg(copy, lesions, files, folder, privacy=privacy, uid_map=uids,
                                   first_date=first)  # fmt: skip
            pdf = write_report(
                snapshot, CASE_LABEL, folder / f"{CASE_LABEL}_report.pdf", privacy=privacy,
                volumes=volumes, series_numbers=numbers, registrations=registrations,
            )  # fmt: skip
            document = encapsulate_pdf(pdf, files[0], folder, privacy=privacy, uid_map=uids,
                                       first_date=first)  # fmt: skip
            return [seg, document]

        return work

    def export_transforms(self) -> None:
        """Every registration as an ITK .tfm."""
        folder = QFileDialog.getExistingDirectory(self.window, "Export the registrations into")
        if not folder:
            return
        registrations = self.comparison.registrations.records()
        names, privacy = self._visit_names(), self.privacy

        def work() -> Path:
            export_transforms(registrations, folder, series=names, privacy=privacy)
            return Path(folder)

        self._run(work)
