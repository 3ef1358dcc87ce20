"""The main window: case panel on the left, the slice view in the centre, tools on top."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

from PySide6.QtCore import Qt, QThread, QThreadPool, Signal
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QStackedWidget,
    QTextBrowser,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from viewer.core.catalog import Catalog, SeriesEntry
from viewer.core.progress import CancelCheck, ProgressCallback
from viewer.core.volume import Volume
from viewer.display.slicing import PLANES
from viewer.display.window import AUTO_NAME, WindowPreset
from viewer.io.scan import scan_paths
from viewer.registration.automatic import register as automatic_register
from viewer.state.annotations import Annotations
from viewer.state.blind_read import BlindRead
from viewer.state.calipers import CaliperStore
from viewer.state.case_session import CaseSession
from viewer.state.compare_controller import ComparisonController, series_thumbnail
from viewer.state.controller import ViewController
from viewer.state.outlining import OutliningController, Tool
from viewer.state.registrations import RegistrationStore
from viewer.state.session import LoadedSeries, LoadStatus, Session, default_series, prepare_series
from viewer.state.tracking import Tracking
from viewer.state.view import ViewState
from viewer.ui.background_measurer import BackgroundMeasurer
from viewer.ui.caliper_tool import CaliperTool
from viewer.ui.candidates_panel import CandidatesPanel
from viewer.ui.case_manager import CaseManager
from viewer.ui.case_panel import CasePanel
from viewer.ui.compare_tools import CompareTools
from viewer.ui.compare_view import ComparisonView
from viewer.ui.export_menu import ExportMenu
from viewer.ui.help_text import HELP_HTML
from viewer.ui.outlining_hub import OutliningHub
from viewer.ui.pacs_panel import PacsPanel
from viewer.ui.registration_panel import RegistrationPanel
from viewer.ui.registration_runner import RegistrationRunner
from viewer.ui.response_panel import ResponsePanel
from viewer.ui.slice_view import SliceView
from viewer.ui.teaching_panel import TeachingPanel
from viewer.ui.visit_strip import VisitStrip
from viewer.ui.workers import TaskRunner

ScanFunction = Callable[..., Catalog]
"""``scan(paths, *, progress, cancelled) -> Catalog`` (``viewer.io.scan_paths``)."""
PrepareFunction = Callable[..., LoadedSeries]
"""``prepare(entry, presets, *, progress, cancelled) -> LoadedSeries`` (``prepare_series``)."""
RegisterFunction = Callable[..., object]
"""``register(reference_image, moving_image, *, progress, cancelled)`` (automatic registration)."""
MAX_LOADED = 8
"""Series kept in memory: the six views of the largest layout, the reference, and one more."""

RESPONSE_DOCK_HEIGHT = 330
"""Starting height of the lesions-over-time dock, px: the views keep most of the window."""
PLANE_KEYS = {"axial": "A", "coronal": "C", "sagittal": "S"}
AUTO_KEY = "0"
SHUTDOWN_WAIT_MS = 10_000
PROBE_HINT = "Point at the image to read the value (HU for CT) and the position in mm"


class MainWindow(QMainWindow):
    """Interval's main window.

    Parameters
    ----------
    scan, prepare : callable, optional
        How folders are scanned and series loaded (the real readers by default); both run in a
        worker thread and receive ``progress`` and ``cancelled`` callbacks; ``prepare`` also
        receives ``on_preview`` to show a large series before all of it is read.
    """

    _preview_ready = Signal(str, object)  # series key, preview LoadedSeries (from a worker)

    def __init__(
        self,
        *,
        scan: ScanFunction = scan_paths,
        prepare: PrepareFunction = prepare_series,
        register: RegisterFunction = automatic_register,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Interval")
        self.resize(1500, 920)
        self._scan, self._prepare = scan, prepare
        self.session = Session(max_loaded=MAX_LOADED)
        self.view_state = ViewState()
        self.annotations = Annotations()
        self.controller = ViewController(
            self.session, self.view_state, annotations=self.annotations
        )
        self.registrations = RegistrationStore()
        self.comparison = ComparisonController(
            self.session, self.registrations, annotations=self.annotations
        )
        self.outlining = OutliningController(
            self.annotations, lambda key: self.registrations.record(key).transform
        )
        self.calipers = CaliperStore()
        self.tracking = Tracking(
            self.annotations,
            lambda: self.session.catalog,
            self._volume_in_memory,
            lambda: self.case_session.records,
            self.registrations.patient2reference,
            self.calipers,
        )
        self.case_session = CaseSession(self.annotations, self.comparison, self.tracking)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(2)
        self.scanner = TaskRunner(self.pool, self)
        self.loader = TaskRunner(self.pool, self)
        self.pane_loader = TaskRunner(self.pool, self)
        # thumbnails of visits no view shows: one at a time, at low priority, after the views
        self.thumbnail_pool = QThreadPool(self)
        self.thumbnail_pool.setMaxThreadCount(1)
        self.thumbnail_pool.setThreadPriority(QThread.Priority.LowPriority)
        self.thumbnailer = TaskRunner(self.thumbnail_pool, self)
        self.measurer = BackgroundMeasurer(self.tracking, self.pool, self)
        self._thumbnail_failed: set[str] = set()

        self.slice_view = SliceView(self.controller)
        self.comparison_view = ComparisonView(self.comparison)
        self.visit_strip = VisitStrip(self.comparison)
        self.views = QStackedWidget()
        self.views.addWidget(self.comparison_view)
        self.views.addWidget(self.slice_view)
        centre = QWidget()
        centre_layout = QVBoxLayout(centre)
        centre_layout.setContentsMargins(0, 0, 0, 0)
        centre_layout.setSpacing(0)
        centre_layout.addWidget(self.visit_strip)
        centre_layout.addWidget(self.views, 1)
        self.setCentralWidget(centre)
        self.case_panel = CasePanel(self.session)
        dock = QDockWidget("Case", self)
        dock.setObjectName("case")
        dock.setFeatures(QDockWidget.DockWidgetFeature.NoDockWidgetFeatures)
        dock.setWidget(self.case_panel)
        dock.setMinimumWidth(360)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, dock)
        self.registration = RegistrationRunner(
            self.session, self.registrations, self.comparison, register, self
        )
        self.registration_panel = RegistrationPanel(self.comparison, self.registration.landmarks)
        dock = QDockWidget("Registration", self)
        dock.setObjectName("registration")
        dock.setFeatures(QDockWidget.DockWidgetFeature.NoDockWidgetFeatures)
        dock.setWidget(self.registration_panel)
        dock.setMinimumWidth(330)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
        self.outlines = OutliningHub(
            self.annotations, self.outlining, self.comparison, self.comparison_view, self
        )
        outline_dock = QDockWidget("Outlines", self)
        outline_dock.setObjectName("outlines")
        outline_dock.setFeatures(QDockWidget.DockWidgetFeature.NoDockWidgetFeatures)
        outline_dock.setWidget(self.outlines.panel)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, outline_dock)
        self.tabifyDockWidget(dock, outline_dock)
        self.search_runner = TaskRunner(self.pool, self)
        self.search_runner.busy_changed.connect(self._update_busy)
        self.search_runner.progress.connect(self._on_progress)
        self.candidates = CandidatesPanel(self.comparison, self.annotations, self.search_runner)
        self.candidates.jump_requested.connect(self.jump_to)
        self.candidates.confirmed.connect(self._confirm_candidate)
        candidates_dock = QDockWidget("New lesions", self)
        candidates_dock.setObjectName("new_lesions")
        candidates_dock.setFeatures(QDockWidget.DockWidgetFeature.NoDockWidgetFeatures)
        candidates_dock.setWidget(self.candidates)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, candidates_dock)
        self.tabifyDockWidget(outline_dock, candidates_dock)
        self.candidates_dock = candidates_dock
        self.registration_dock = dock
        self.outline_dock = outline_dock
        self.caliper = CaliperTool(
            self.comparison,
            self.tracking,
            self.calipers,
            self.annotations,
            self.outlining,
            self.comparison_view,
            self,
        )
        self.response_panel = ResponsePanel(self.tracking)
        self.response_panel.jump_requested.connect(self.jump_to)
        response_dock = QDockWidget("Response (lesions over time)", self)
        response_dock.setObjectName("response")
        response_dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetClosable)
        # scrolls rather than forcing the window wider than a laptop screen
        response_scroll = QScrollArea()
        response_scroll.setWidgetResizable(True)
        response_scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        response_scroll.setWidget(self.response_panel)
        response_dock.setWidget(response_scroll)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, response_dock)
        self.resizeDocks([response_dock], [RESPONSE_DOCK_HEIGHT], Qt.Orientation.Vertical)
        self.response_dock = response_dock
        self.case_manager = CaseManager(self, self.case_session)
        self.export_runner = TaskRunner(self.pool, self)
        self.export_runner.busy_changed.connect(self._update_busy)
        self.exports = ExportMenu(
            self,
            self.tracking,
            self.comparison,
            self.case_session,
            self.export_runner,
            self.comparison_view,
        )
        self.exports.message.connect(self._show_message)
        self._build_teaching(candidates_dock)
        self._build_pacs(self.teaching_dock)
        self.registration_dock.raise_()  # registration is checked first, when a case opens
        self.case_manager.open_requested.connect(self.open_paths)
        # the native view shows the outlines too
        self.annotations.labels_changed.connect(lambda _: self.slice_view.refresh())
        self.annotations.lesions_changed.connect(lambda: self.slice_view.refresh())
        self.annotations.style.events.connect(lambda *_: self.slice_view.refresh())
        self.case_manager.message.connect(self._show_message)
        self.outlines.message.connect(self._show_message)
        self.caliper.message.connect(self._show_message)
        self._build_toolbar()
        self._build_menus()
        self.compare_tools = CompareTools(self.comparison, self)
        self.addToolBarBreak()
        self.addToolBar(self.compare_tools)
        self._build_status_bar()
        self._help: QDialog | None = None
        # set when a case opens: registration starts once its first views are on screen
        self._register_when_shown = False
        self.registration.connect_views(self.comparison_view, self.registration_panel)
        self.registration.message.connect(lambda text: self.statusBar().showMessage(text, 10_000))
        self.registration.busy_changed.connect(self._update_busy)
        self.registration.progress.connect(self._on_progress)
        self.registration.busy_changed.connect(self._on_registration_busy)
        self.visit_strip.chosen.connect(self._on_visit_chosen)
        for pane in self.comparison_view.panes:
            pane.pressed.connect(self._on_view_pressed)
            pane.probe_changed.connect(self._show_probe)
        self.comparison.state.events.layout.connect(self._on_layout)
        self.comparison.state.events.panes.connect(self._load_views)
        # the case list highlights the series the toolbar acts on
        self.comparison.state.events.active.connect(self._sync_series)
        self.comparison.state.events.panes.connect(self._sync_series)
        for event in (
            self.comparison.state.events.active,
            self.comparison.state.events.panes,
            self.comparison.state.events.layout,
            self.comparison.state.events.ct_window,
            self.comparison.state.events.mr_window,
            self.comparison.state.events.unlinked,
        ):
            event.connect(self._sync_tools)
        self.session.status_changed.connect(self._sync_tools)
        self.thumbnailer.succeeded.connect(self._on_thumbnail)
        self.thumbnailer.failed.connect(self._on_thumbnail_failed)
        self.registrations.changed.connect(self._load_views)
        self.session.status_changed.connect(self._load_views)
        self.session.status_changed.connect(self._note_series)
        self.pane_loader.succeeded.connect(self._on_view_loaded)
        self.pane_loader.failed.connect(self._on_view_load_failed)
        self.pane_loader.cancelled.connect(self._on_load_cancelled)
        self.pane_loader.busy_changed.connect(self._update_busy)

        self.case_panel.series_selected.connect(self._on_series_chosen)
        self.case_panel.series_activated.connect(self._on_series_activated)
        self.slice_view.probe_changed.connect(self._show_probe)
        self.view_state.events.plane.connect(self._sync_plane)
        self.view_state.events.windows.connect(self._sync_tools)
        self.view_state.events.series_key.connect(self._sync_series)
        for runner in (self.scanner, self.loader):
            runner.progress.connect(self._on_progress)
            runner.busy_changed.connect(self._update_busy)
        self.scanner.succeeded.connect(self._on_scanned)
        self.scanner.failed.connect(self._on_scan_failed)
        self.scanner.cancelled.connect(self._on_scan_cancelled)
        self._preview_ready.connect(self._on_preview)
        self.loader.succeeded.connect(self._on_loaded)
        self.loader.failed.connect(self._on_load_failed)
        self.loader.cancelled.connect(self._on_load_cancelled)
        self._sync_series(None)
        self._sync_plane(self.view_state.plane)

    # --- building --------------------------------------------------------------------------

    def _build_toolbar(self) -> None:
        bar = QToolBar("Tools", self)
        bar.setObjectName("tools")
        bar.setMovable(False)
        self.addToolBar(bar)
        open_action = QAction("Open folder…", self)
        open_action.setShortcut(QKeySequence.StandardKey.Open)
        open_action.setToolTip("Open a folder of DICOM or NIfTI files (Ctrl+O)")
        open_action.triggered.connect(self._choose_folder)
        bar.addAction(open_action)
        bar.addSeparator()

        bar.addWidget(QLabel("Plane"))
        self.plane_actions: dict[str, QAction] = {}
        group = QActionGroup(self)
        for plane in PLANES:
            action = QAction(plane.capitalize(), self, checkable=True)
            action.setShortcut(PLANE_KEYS[plane])
            action.setToolTip(f"Show {plane} slices ({PLANE_KEYS[plane]})")
            action.triggered.connect(partial(self._set_plane, plane))
            group.addAction(action)
            bar.addAction(action)
            self.plane_actions[plane] = action
        bar.addSeparator()

        bar.addWidget(QLabel("Window"))
        self.preset_actions: dict[str, QAction] = {}
        presets: Sequence[WindowPreset] = self.controller.presets
        for preset in presets:
            w = preset.window
            tip = f"{preset.name}: width {w.width:g} / level {w.level:g} HU"
            self._add_preset_action(bar, preset.name, preset.key, tip)
        self._add_preset_action(
            bar,
            AUTO_NAME,
            AUTO_KEY,
            "Automatic window from the 1st–99.5th percentile of the tissue (for MRI)",
            label="MRI Auto",
        )
        bar.addSeparator()
        self.native_action = QAction("Native", self, checkable=True)
        self.native_action.setShortcut("N")
        self.native_action.setToolTip(
            "Show the active view's series alone, on its own scanner grid, not resliced into "
            "the reference frame (N)"
        )
        self.native_action.triggered.connect(self.set_native)
        bar.addAction(self.native_action)
        reset = QAction("Reset", self)
        reset.setShortcut("R")
        reset.setToolTip("Fit the image, centre it and restore the window (R or double-click)")
        reset.triggered.connect(self._reset)
        bar.addAction(reset)
        bar.addAction(self.caliper.arm_action)
        spacer = QWidget()
        spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        bar.addWidget(spacer)
        help_action = QAction("Help", self)
        help_action.setShortcut(QKeySequence.StandardKey.HelpContents)
        help_action.setToolTip("Mouse, keys and display conventions (F1)")
        help_action.triggered.connect(self.show_help)
        bar.addAction(help_action)

    def _build_teaching(self, beside: QDockWidget) -> None:
        """The Teaching panel (a tab beside New lesions) and its runner; its menu comes later."""
        self.blind_read = BlindRead()
        self.teaching_runner = TaskRunner(self.pool, self)
        self.teaching_runner.busy_changed.connect(self._update_busy)
        self.teaching_runner.progress.connect(self._on_progress)
        self.teaching = TeachingPanel(
            self.blind_read,
            self.case_session,
            self.tracking,
            self.comparison,
            self.teaching_runner,
            lambda: self.exports.privacy,
        )
        self.teaching.jump_requested.connect(self.jump_to)
        self.teaching.reference_shown.connect(self._on_reference_shown)
        self.teaching.message.connect(self._show_message)
        self.teaching_dock = self._tab_beside(beside, "Teaching", "teaching", self.teaching)

    def _tab_beside(
        self, beside: QDockWidget, title: str, name: str, panel: QWidget
    ) -> QDockWidget:
        """A scrollable panel as a fixed tab beside another dock of the right-hand side."""
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setWidget(panel)
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setFeatures(QDockWidget.DockWidgetFeature.NoDockWidgetFeatures)
        dock.setWidget(scroll)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
        self.tabifyDockWidget(beside, dock)
        return dock

    def _build_pacs(self, beside: QDockWidget) -> None:
        """The PACS panel (a tab beside Teaching): search, retrieve into visits, send back."""
        self.pacs = PacsPanel(self.pool)
        self.pacs.series_retrieved.connect(self._open_retrieved)
        self.pacs.message.connect(self._show_message)
        self.pacs.set_send_source(self.exports.pacs_files)
        self.pacs_dock = self._tab_beside(beside, "PACS", "pacs", self.pacs)
        self.pacs_action = QAction("PACS: find, retrieve, send back…", self)
        self.pacs_action.setShortcut("Ctrl+Shift+P")
        self.pacs_action.triggered.connect(self.pacs_dock.raise_)

    def _open_retrieved(self, folders: list) -> None:
        """Open the series a retrieval completed as the visits of a case."""
        if folders:
            self.open_paths([str(f) for f in folders])

    def _on_reference_shown(self, on: bool) -> None:
        self.comparison_view.invalidate()
        if on:
            self.teaching_dock.raise_()

    def _build_menus(self) -> None:
        case_menu = self.menuBar().addMenu("&Case")
        open_action = QAction("Open folder…", self)
        open_action.triggered.connect(self._choose_folder)
        case_menu.addAction(open_action)
        case_menu.addMenu(self.case_manager.recent_menu)
        case_menu.addSeparator()
        case_menu.addAction(self.case_manager.save_action)
        case_menu.addAction(self.case_manager.save_as_action)
        case_menu.addSeparator()
        case_menu.addAction(self.pacs_action)
        edit_menu = self.menuBar().addMenu("&Edit")
        edit_menu.addAction(self.outlines.undo_action)
        edit_menu.addAction(self.outlines.redo_action)
        edit_menu.aboutToShow.connect(self.outlines.follow_active)
        tools_menu = self.menuBar().addMenu("&Outline")
        for action in self.outlines.panel.tool_actions.values():
            tools_menu.addAction(action)
        tools_menu.addSeparator()
        tools_menu.addAction(self.caliper.arm_action)
        tools_menu.addAction(self.caliper.reset_action)
        self.menuBar().addMenu(self.exports.menu)
        self.menuBar().addMenu(self.teaching.menu)
        view_menu = self.menuBar().addMenu("&View")
        toggle = self.response_dock.toggleViewAction()
        toggle.setText("Response panel (lesions over time)")
        view_menu.addAction(toggle)
        self.statusBar().addPermanentWidget(self.case_manager.read_only_label)

    def _show_message(self, text: str) -> None:
        self.statusBar().showMessage(text, 10_000)

    def _add_preset_action(
        self, bar: QToolBar, name: str, key: str, tip: str, *, label: str | None = None
    ) -> None:
        action = QAction(label or name, self, checkable=True)
        if key:
            action.setShortcut(key)
            tip += f" ({key})"
        action.setToolTip(tip)
        action.triggered.connect(partial(self._apply_preset, name))
        bar.addAction(action)
        self.preset_actions[name] = action

    def _build_status_bar(self) -> None:
        status = self.statusBar()
        self.probe_label = QLabel(PROBE_HINT)
        status.addWidget(self.probe_label, 1)
        self.task_label = QLabel("")
        self.progress_bar = QProgressBar()
        self.progress_bar.setTextVisible(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop reading files; what was already open stays open")
        self.cancel_button.clicked.connect(self.cancel_tasks)
        for widget in (self.task_label, self.progress_bar, self.cancel_button):
            status.addPermanentWidget(widget)
        self._update_busy()

    # --- opening and loading ---------------------------------------------------------------

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a folder of DICOM or NIfTI files")
        if folder:
            self.open_paths([folder])

    def open_paths(self, paths: Sequence[str]) -> None:
        """Scan files and folders in a worker, then show the case (replacing the open one).

        Unsaved outlines of the open case are offered for saving first (Cancel keeps it open).
        """
        if not self.case_manager.may_close():
            return
        paths = [str(p) for p in paths]
        self.loader.cancel()
        self.slice_view.set_notice("Reading the folder…")
        self.task_label.setText("Scanning")
        scan = self._scan

        def work(progress: ProgressCallback, cancelled: CancelCheck) -> Catalog:
            return scan(paths, progress=progress, cancelled=cancelled)

        self.scanner.start(work, context=paths)

    def select_series(self, key: str | None) -> None:
        """Show a series, loading it in a worker if needed."""
        previous = self.loader.context
        if previous is not None and previous != key:
            self.loader.cancel()
        self.controller.select_series(key)
        if key is None or self.session.status(key) in (LoadStatus.LOADED, LoadStatus.LOADING):
            return
        entry = self.session.entry(key)
        self.session.mark_loading(key)
        self.task_label.setText(f"Loading {entry.description or 'series'}")
        self.loader.start(self._load_work(entry), context=key)

    def _load_work(
        self, entry: SeriesEntry
    ) -> Callable[[ProgressCallback, CancelCheck], LoadedSeries]:
        prepare, presets = self._prepare, self.controller.presets
        preview_ready = self._preview_ready

        def on_preview(preview: LoadedSeries) -> None:
            preview_ready.emit(entry.key, preview)  # queued to the GUI thread

        def work(progress: ProgressCallback, cancelled: CancelCheck) -> LoadedSeries:
            return prepare(
                entry, presets, progress=progress, cancelled=cancelled, on_preview=on_preview
            )

        return work

    def _on_preview(self, key: str, preview: LoadedSeries) -> None:
        if self.loader.context == key:  # a superseded load's preview is dropped
            self.session.add_preview(key, preview)

    def cancel_tasks(self) -> None:
        """Cancel the running scan or load."""
        self.scanner.cancel()
        self.loader.cancel()
        self.pane_loader.cancel()
        self.thumbnailer.cancel()
        self.registration.cancel()
        self.search_runner.cancel()
        self.teaching_runner.cancel()

    def _on_scanned(self, paths: object, catalog: Catalog) -> None:
        self.pane_loader.cancel()
        self.thumbnailer.cancel()
        self._thumbnail_failed.clear()
        self.registration.cancel()
        self.session.set_catalog(catalog)
        self.controller.select_series(None)
        self.comparison_view.arrange()
        if not catalog.all_series():
            where = ", ".join(str(p) for p in paths)  # type: ignore[union-attr]
            skipped = (
                f" ({len(catalog.skipped)} files skipped, see the list)" if catalog.skipped else ""
            )
            self.slice_view.set_notice(f"No images found in {where}{skipped}.")
            return
        self.slice_view.set_notice("")
        self.case_manager.open_for(list(paths))  # type: ignore[call-overload]
        self.teaching.case_opened(list(paths))  # type: ignore[call-overload]
        self._register_when_shown = True
        first = default_series(catalog)
        self.select_series(first.key if first else None)
        self._on_layout(self.comparison.state.layout)
        self._load_views()

    def _volume_in_memory(self, key: str) -> Volume | None:
        found = self.comparison.loaded(key)
        return None if found is None else found.volume

    def jump_to(self, key: str, point_mm: object) -> None:
        """Show a lesion: its visit in the active view, every view through the point."""
        if not self.session.knows(key):
            return
        if self.comparison.view_key(self.comparison.state.active) != key:
            self.comparison.assign(self.comparison.state.active, key)
        x, y, z = (float(v) for v in point_mm)  # type: ignore[union-attr]
        self.comparison.state.crosshair_mm = (x, y, z)
        self.set_native(False)

    def _confirm_candidate(self, key: str, point_mm: object) -> None:
        """A confirmed new-lesion candidate: a new lesion, grown from its centre as a preview."""
        self.jump_to(key, point_mm)
        self.outline_dock.raise_()
        index = self.comparison.state.active
        pane = self.comparison_view.panes[index]
        view = self.comparison.view_geometry(index, pane.viewport_px())
        frame = self.comparison.frame(index, pane.viewport_px())
        if view is None or frame is None:
            self._show_message("Wait until the view has loaded its visit, then confirm again")
            return
        self.annotations.add_lesion()
        self.outlining.settings.tool = Tool.GROW
        self.outlining.grow(view, *frame.crosshair_px)
        self._show_message("New lesion grown from the candidate: Enter accepts, Esc discards")

    def _note_series(self, key: str) -> None:
        """A loaded series: its saved outlines must fit its grid, and its grid is remembered."""
        found = self.comparison.loaded(key)
        if found is not None and self.session.knows(key):
            self.case_session.note_series(key, self.session.visit_of(key).label, found.volume)
            refused = self.case_session.refused.get(key)
            if refused:
                self._show_message(refused)

    def _on_scan_failed(self, _: object, message: str) -> None:
        self.slice_view.set_notice(f"The folder could not be read:\n\n{message}")
        self.statusBar().showMessage(message, 10_000)

    def _on_scan_cancelled(self, _: object) -> None:
        self.slice_view.set_notice(
            "Reading the folder was cancelled.\nUse Open folder… to try again."
        )

    def _on_loaded(self, key: object, loaded: LoadedSeries) -> None:
        self.session.add_loaded(str(key), loaded)
        for warning in loaded.volume.metadata.warnings[:1]:
            self.statusBar().showMessage(f"Warning: {warning}", 10_000)

    def _on_load_failed(self, key: object, message: str) -> None:
        self.session.mark_failed(str(key), message)

    def _on_load_cancelled(self, key: object) -> None:
        if key is not None:
            self.session.mark_cancelled(str(key))

    # --- keeping widgets in step with the model --------------------------------------------

    def _on_progress(self, done: int, total: int, message: str) -> None:
        self.progress_bar.setRange(0, max(total, 0))
        self.progress_bar.setValue(min(done, total) if total else 0)
        self.progress_bar.setToolTip(message)
        current = self.controller.current
        if current is not None and current.is_preview:
            self.slice_view.refresh()  # more slices of the shown preview have arrived

    def _update_busy(self, *_: object) -> None:
        busy = (
            self.scanner.busy
            or self.loader.busy
            or self.pane_loader.busy
            or self.registration.busy
            or self.search_runner.busy
            or self.export_runner.busy
            or self.teaching_runner.busy
        )
        for widget in (self.task_label, self.progress_bar, self.cancel_button):
            widget.setVisible(busy)
        if busy:
            self.progress_bar.setRange(0, 0)  # "working" until the first progress report

    def _on_registration_busy(self, busy: bool) -> None:
        if busy:
            self.task_label.setText("Registering visits")

    def _show_probe(self, text: str) -> None:
        self.probe_label.setText(text or PROBE_HINT)

    # The toolbar actions act on ``triggered``, which Qt emits only for user clicks and shortcuts,
    # never for setChecked, so pushing model values into them cannot echo back. Their signals are
    # not blocked because the exclusive QActionGroup needs them to uncheck the other planes.

    def _sync_plane(self, plane: str) -> None:
        action = self.plane_actions.get(plane)
        if action is not None:
            action.setChecked(True)

    def shown_key(self) -> str | None:
        """The series the toolbar acts on: the active comparison view's, or the native view's."""
        if self.comparing:
            key = self.comparison.view_key(self.comparison.state.active)
        else:
            key = self.view_state.series_key
        return key if self.session.knows(key) else None  # None until the new case shows

    def _sync_tools(self, *_: object) -> None:
        """Presets (enabled by modality, checked by window) and title follow the shown series."""
        key = self.shown_key()
        if self.comparing:
            window = self.comparison.window_for(self.comparison.state.active)
        else:
            window = self.view_state.window
        modality = self.session.entry(key).modality if key else ""
        offered = {p.name for p in self.controller.presets if p.applies_to(modality)} | {AUTO_NAME}
        for name, action in self.preset_actions.items():
            action.setEnabled(key is not None and name in offered)
            action.setChecked(window is not None and window.name == name)
        entry = self.session.entry(key) if key else None
        title = (
            f"{entry.description or 'series'} — {self.session.visit_of(key).label}" if entry else ""
        )
        dirty = " *" if self.annotations.dirty else ""
        self.setWindowTitle((f"Interval — {title}" if title else "Interval") + dirty)

    def _sync_series(self, *_: object) -> None:
        self.case_panel.select(self.shown_key())
        self._sync_tools()

    def _apply_preset(self, name: str) -> None:
        # acts on the active comparison view and the views linked to it; the native view shows
        # the active view's series, so it follows when that is the series it shows
        active_key = self.comparison.view_key(self.comparison.state.active)
        if self.comparing or active_key == self.view_state.series_key:
            self.comparison.apply_preset(name)
        if not self.comparing or active_key == self.view_state.series_key:
            self.controller.apply_preset(name)
        self._sync_tools()  # re-check the button even if the window did not change

    # --- the comparison --------------------------------------------------------------------

    @property
    def comparing(self) -> bool:
        """Whether the linked comparison views are shown (not the native single view)."""
        return self.views.currentWidget() is self.comparison_view

    def _set_plane(self, plane: str) -> None:
        self.controller.set_plane(plane)
        self.comparison.set_plane(plane)

    def _reset(self) -> None:
        self.comparison.reset()
        self.controller.reset()

    def _on_series_chosen(self, key: str) -> None:
        """A series picked in the case list goes to the single view and the active view."""
        self.select_series(key)
        if self.comparison.view_key(self.comparison.state.active) != key:
            self.comparison.assign(self.comparison.state.active, key)

    def _on_series_activated(self, key: str) -> None:
        """A double-clicked series goes to the active view, shown in the reference frame."""
        self._on_series_chosen(key)
        self.set_native(False)

    def _on_layout(self, layout: str) -> None:
        """Every layout, 1x1 included, shows linked views in the reference frame."""
        if self.native_action.isChecked():
            self.set_native(False)

    def set_native(self, on: bool) -> None:
        """Show the active view's series alone on its own grid (on), or the linked views (off).

        The native view shows the series in its own patient coordinates, not resliced.
        """
        self.native_action.setChecked(on)
        if on:
            key = self.comparison.view_key(self.comparison.state.active)
            if key is not None and key != self.view_state.series_key:
                self.select_series(key)
            self.views.setCurrentWidget(self.slice_view)
        else:
            self.views.setCurrentWidget(self.comparison_view)
        self._sync_series()

    def _on_visit_chosen(self, key: str) -> None:
        if self.comparing:
            self.statusBar().showMessage("Now click the view that should show this visit", 5000)
        else:
            self.visit_strip.take_pending()
            self.select_series(key)
            self.comparison.assign(self.comparison.state.active, key)

    def _on_view_pressed(self, index: int) -> None:
        key = self.visit_strip.take_pending()
        if key is not None:
            self.comparison.assign(index, key)

    def _load_views(self, *_: object) -> None:
        """Read the next series a comparison view needs (one at a time, in a worker)."""
        if self.pane_loader.busy:
            return
        needed = self.comparison.keys_needed()
        for key in needed:
            if self.session.status(key) is LoadStatus.NOT_LOADED:
                # busy before the status changes, so the status signal does not start another
                self.pane_loader.start(self._load_work(self.session.entry(key)), context=key)
                self.session.mark_loading(key)
                return
        if any(self.session.status(k) is LoadStatus.LOADING for k in needed):
            return
        if self._register_when_shown:
            # the views are painted unregistered first; each result straightens one visit
            self._register_when_shown = False
            self.registration.register_all(quiet=True)
        self._make_thumbnail()

    def _make_thumbnail(self) -> None:
        """Read the next visit no view shows, in the background, keeping only its thumbnail."""
        if self.thumbnailer.busy:
            return
        missing = [
            k for k in self.comparison.thumbnails_missing() if k not in self._thumbnail_failed
        ]
        if not missing:
            return
        entry, prepare, presets = (
            self.session.entry(missing[0]),
            self._prepare,
            self.controller.presets,
        )

        def work(progress: ProgressCallback, cancelled: CancelCheck) -> object:
            found = prepare(entry, presets, progress=progress, cancelled=cancelled)
            return series_thumbnail(found)  # the volume is dropped here: memory stays bounded

        self.thumbnailer.start(work, context=entry.key)

    def _on_thumbnail(self, key: object, rgba: object) -> None:
        self.comparison.store_thumbnail(str(key), rgba)  # type: ignore[arg-type]
        self.visit_strip.refresh()
        self._make_thumbnail()

    def _on_thumbnail_failed(self, key: object, _: str) -> None:
        # the tile stays text-only; loading the series into a view reports the problem
        self._thumbnail_failed.add(str(key))
        self._make_thumbnail()

    def _on_view_loaded(self, key: object, loaded: LoadedSeries) -> None:
        self.session.add_loaded(str(key), loaded)
        self._load_views()

    def _on_view_load_failed(self, key: object, message: str) -> None:
        self.session.mark_failed(str(key), message)
        self._load_views()

    def show_help(self) -> None:
        """Show the mouse/keys help beside the window (not modal)."""
        if self._help is None:
            self._help = QDialog(self)
            self._help.setWindowTitle("Interval — help")
            text = QTextBrowser(self._help)
            text.setHtml(HELP_HTML)
            layout = QVBoxLayout(self._help)
            layout.addWidget(text)
            self._help.resize(620, 560)
        self._help.show()
        self._help.raise_()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        """Ask about unsaved outlines, then stop the workers before the window goes away."""
        if not self.case_manager.may_close():
            event.ignore()
            return
        self.case_manager.close()
        self.scanner.cancel_all()
        self.loader.cancel_all()
        self.pane_loader.cancel_all()
        self.thumbnailer.cancel_all()
        self.pacs.shutdown()
        self.registration.shutdown(SHUTDOWN_WAIT_MS)
        self.pool.waitForDone(SHUTDOWN_WAIT_MS)
        self.thumbnail_pool.waitForDone(SHUTDOWN_WAIT_MS)
        super().closeEvent(event)
