"""The outlines panel: tools and their options, the preview, the lesions and what acts on them.

Every control writes to a model (the tool settings, the overlay style, the annotations) and
follows it back through the model's signals, so keys, views and this panel always agree.
"""

from __future__ import annotations

from functools import partial

import numpy as np
from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtGui import QAction, QActionGroup, QColor, QFont, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QColorDialog,
    QComboBox,
    QDoubleSpinBox,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSlider,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from viewer.core.lesions import Lesion, LesionKind
from viewer.state.annotations import PREVIEW_COLOUR, Annotations
from viewer.state.outlining import (
    BRUSH_RADIUS_LIMITS_MM,
    SENSITIVITY_LIMITS,
    OutliningController,
    Tool,
)
from viewer.ui.theme import caption, colour_swatch

TOOLS: tuple[tuple[Tool, str, str, str], ...] = (
    (Tool.NAVIGATE, "Navigate", "V", "move through the images; clicks do not edit"),
    (Tool.BRUSH, "Brush", "B", "paint the active lesion with a round brush"),
    (Tool.ERASER, "Eraser", "E", "erase the active lesion (other lesions are kept)"),
    (Tool.CONTOUR, "Freehand", "F", "draw around the lesion; the closed outline is filled"),
    (Tool.POLYGON, "Polygon", "P", "click the lesion's corners; the polygon is filled"),
    (Tool.GROW, "Grow", "G", "click inside the enhancing tumour; a 3-D region grows from there"),
)
"""Tool, button text, key, what a click does."""

BRUSH_STEP_MM = 0.5
SENSITIVITY_SCALE = 100
"""The grow sensitivity slider is an int slider: value = sensitivity x 100."""
INTENSITY_LIMITS = (-5000.0, 100000.0)
"""Range of the brush's intensity spin boxes, image units (HU on CT, arbitrary on MRI)."""
COUNT_CHUNK_VOXELS = 1 << 22
"""Voxels per np.bincount call: bincount copies its input to int64, 32 MB per chunk at most."""

OPTION_FIELDS = (
    "brush_radius_mm", "brush_3d", "limit_to_range", "range_low", "range_high", "cut",
    "grow_sensitivity", "refine",
)  # fmt: skip
"""ToolSettings fields the option widgets show (every one but the tool)."""

PAGE_NAVIGATE, PAGE_BRUSH, PAGE_CONTOUR, PAGE_GROW = range(4)
TOOL_PAGE = {
    Tool.NAVIGATE: PAGE_NAVIGATE,
    Tool.BRUSH: PAGE_BRUSH,
    Tool.ERASER: PAGE_BRUSH,
    Tool.CONTOUR: PAGE_CONTOUR,
    Tool.POLYGON: PAGE_CONTOUR,
    Tool.GROW: PAGE_GROW,
}
CONTOUR_HINTS = {
    Tool.CONTOUR: "Drag around the lesion; release to fill",
    Tool.POLYGON: "Click the corners; double-click or Enter to fill",
}

COL_COLOUR, COL_NAME, COL_KIND, COL_SHOW, COL_VOLUME = range(5)
COLUMNS = (
    ("", "Lesion colour, the same on every visit (click to change)"),
    ("Lesion", "Lesion name (double-click or F2 to rename)"),
    ("Kind", "What tissue the outline marks"),
    ("", "Show: draw this lesion in every view"),
    ("Volume", "Volume on the active view's series: voxel count x voxel volume"),
)
NO_VOLUME = "—"
KIND_LABELS = {
    LesionKind.ENHANCING: "Enhancing",
    LesionKind.NON_ENHANCING: "FLAIR",
    LesionKind.RESECTION_CAVITY: "Cavity",
    LesionKind.NECROSIS: "Necrosis",
}
"""Short names that fit the narrow dock; the full kind is the tooltip."""
WHOLE_LESION = (
    ("refit", "Re-fit to this visit", "Re-fit the active lesion to this visit's enhancement"),
    ("fill_between", "Fill between slices", "Interpolate the lesion between outlined slices"),
    ("islands", "Remove islands", "Keep only the lesion's pieces larger than a few voxels"),
    ("holes", "Fill holes", "Fill holes enclosed by the lesion, slice by slice"),
    ("smooth", "Smooth", "Smooth the lesion's surface (opening then closing, 1.5 mm)"),
)
"""Action name, button text, tooltip; each is previewed before it changes anything."""
READ_ONLY_COLOUR = "#ff7b72"
DISABLED_STYLE = "QPushButton:disabled { color: #5b616b; border-color: #363b43; }"
"""dark.qss gives push buttons no disabled look; a read-only case must show its edits are off."""


def lesion_voxel_counts(labels: np.ndarray) -> np.ndarray:
    """Count the voxels of every label value in one pass over a label map.

    Parameters
    ----------
    labels : ndarray of uint16, shape (Z, Y, X)
        Lesion numbers, 0 background.

    Returns
    -------
    counts : ndarray of int64, shape (max label + 1,)
        ``counts[n]`` voxels carry label ``n``.

    Examples
    --------
    >>> lesion_voxel_counts(np.array([[[0, 2, 2]]], dtype=np.uint16)).tolist()
    [1, 0, 2]
    """
    flat = labels.reshape(-1)
    counts = np.zeros(1, np.int64)
    for start in range(0, flat.size, COUNT_CHUNK_VOXELS):
        part = np.bincount(flat[start : start + COUNT_CHUNK_VOXELS])
        if part.size > counts.size:
            counts = np.pad(counts, (0, part.size - counts.size))
        counts[: part.size] += part
    return counts


def volume_text(voxels: int, voxel_ml: float | None) -> str:
    """A lesion's volume for the table, e.g. ``"2.41 mL"``; a dash when it is not outlined.

    Parameters
    ----------
    voxels : int
        Voxel count of the lesion on the series.
    voxel_ml : float or None
        Volume of one voxel of the series in mL (None: the series is not loaded).

    Examples
    --------
    >>> volume_text(241, 0.01), volume_text(0, 0.01), volume_text(3, 0.001)
    ('2.41 mL', '—', '<0.01 mL')
    """
    if voxels <= 0 or voxel_ml is None:
        return NO_VOLUME
    ml = voxels * voxel_ml
    # never show a drawn lesion as 0.00 mL: it would read as "not outlined"
    return "<0.01 mL" if ml < 0.005 else f"{ml:.2f} mL"


class LesionPanel(QWidget):
    """Dock panel to outline lesions: tools, options, preview, lesion table and clean-up.

    Parameters
    ----------
    annotations : Annotations
        The case's lesions and label maps; the panel edits them and follows their signals.
    tools : OutliningController
        Its ``settings`` are the tool and options the panel shows; its messages fill the
        status line.
    parent : QWidget, optional

    Attributes
    ----------
    tool_actions : dict of Tool -> QAction
        Exclusive, checkable, with the tool's key (window-wide): add them to the window.
    option_actions : dict of str -> QAction
        ``"brush_smaller"`` (-), ``"brush_larger"`` (=) and ``"show_outlines"`` (O).

    Signals
    -------
    action_requested(str)
        A button asks the window to act on the active view: ``"accept"``, ``"discard"``,
        ``"carry"`` (from :meth:`carry_source`), ``"refit"``, ``"fill_between"``, ``"islands"``,
        ``"holes"``, ``"smooth"``, ``"undo"``, ``"redo"``.
    """

    action_requested = Signal(str)

    def __init__(
        self,
        annotations: Annotations,
        tools: OutliningController,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.annotations = annotations
        self.tools = tools
        self._key: str | None = None
        self._voxel_ml: float | None = None
        self._counts: np.ndarray | None = None
        self._numbers: list[int] = []
        self._note_lesion: int | None = None
        self._read_only_reason: str | None = None
        self._undo_texts: tuple[str | None, str | None] = (None, None)
        self.tool_actions: dict[Tool, QAction] = {}
        self.option_actions: dict[str, QAction] = {}

        content = QWidget()
        layout = QVBoxLayout(content)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(6)
        self.read_only_label = QLabel()
        self.read_only_label.setWordWrap(True)
        self.read_only_label.setStyleSheet(f"color: {READ_ONLY_COLOUR}; font-weight: bold")
        self.read_only_label.setVisible(False)
        layout.addWidget(self.read_only_label)
        layout.addWidget(self._build_tools())
        layout.addWidget(self._build_options())
        layout.addWidget(self._build_preview())
        layout.addWidget(self._build_lesions(), 1)
        layout.addWidget(self._build_whole_lesion())
        layout.addWidget(self._build_display())
        layout.addLayout(self._build_undo())
        self.status_label = caption("")
        layout.addWidget(self.status_label)

        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(content)
        self.setStyleSheet(DISABLED_STYLE)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)

        settings = tools.settings
        settings.events.tool.connect(self._sync_tool)
        for name in OPTION_FIELDS:
            getattr(settings.events, name).connect(self._sync_options)
        annotations.style.events.connect(self._sync_display)
        annotations.lesions_changed.connect(self._sync_lesions)
        annotations.labels_changed.connect(self._on_labels_changed)
        annotations.proposal_changed.connect(self._sync_preview)
        tools.message.connect(self.show_message)
        self._sync_tool()
        self._sync_options()
        self._sync_display()
        self._sync_lesions()
        self._sync_preview()

    # --- building ------------------------------------------------------------------------

    def _build_tools(self) -> QGroupBox:
        box = QGroupBox("Tools")
        grid = QGridLayout(box)
        grid.setSpacing(2)
        group = QActionGroup(self)
        for index, (tool, text, key, what) in enumerate(TOOLS):
            action = QAction(text, self, checkable=True)
            action.setShortcut(QKeySequence(key))
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            action.setToolTip(f"{text} ({key}): {what}")
            action.triggered.connect(partial(self._choose_tool, tool))
            group.addAction(action)
            self.tool_actions[tool] = action
            button = QToolButton()
            button.setDefaultAction(action)
            button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            grid.addWidget(button, index // 3, index % 3)
        return box

    def _build_options(self) -> QGroupBox:
        self.options_box = QGroupBox()
        self.options_stack = QStackedWidget()
        navigate = caption("Choose a tool to outline: the active lesion is the one edited.")
        for page in (navigate, self._brush_page(), self._contour_page(), self._grow_page()):
            self.options_stack.addWidget(page)
        layout = QVBoxLayout(self.options_box)
        layout.addWidget(self.options_stack)
        layout.addWidget(self.range_row)
        return self.options_box

    def _brush_page(self) -> QWidget:
        settings = self.tools.settings
        page = QWidget()
        grid = QGridLayout(page)
        grid.setContentsMargins(0, 0, 0, 0)
        self.radius_spin = QDoubleSpinBox()
        self.radius_spin.setRange(*BRUSH_RADIUS_LIMITS_MM)
        self.radius_spin.setSingleStep(BRUSH_STEP_MM)
        self.radius_spin.setDecimals(1)
        self.radius_spin.setSuffix(" mm")
        self.radius_spin.setToolTip("Brush radius in mm (- smaller, = larger by 0.5 mm)")
        self.radius_spin.valueChanged.connect(
            lambda value: setattr(settings, "brush_radius_mm", float(value))
        )
        self.sphere_box = QCheckBox("3-D (sphere)")
        self.sphere_box.setToolTip(
            "Paint a ball through the neighbouring slices instead of a disc on the view"
        )
        self.sphere_box.toggled.connect(lambda on: setattr(settings, "brush_3d", on))
        grid.addWidget(QLabel("Radius"), 0, 0)
        grid.addWidget(self.radius_spin, 0, 1)
        grid.addWidget(self.sphere_box, 0, 2, 1, 2)

        self.range_box = QCheckBox("Only intensities from")
        range_tip = (
            "Paint, erase or fill only voxels whose value lies in this range, in the image's "
            "units (HU on CT): e.g. only the enhancing voxels on a T1 post-contrast. With "
            "Freehand or Polygon it thresholds within the outlined region"
        )
        self.range_box.setToolTip(range_tip)
        self.range_box.toggled.connect(lambda on: setattr(settings, "limit_to_range", on))
        self.low_spin, self.high_spin = QDoubleSpinBox(), QDoubleSpinBox()
        for spin, field in ((self.low_spin, "range_low"), (self.high_spin, "range_high")):
            spin.setRange(*INTENSITY_LIMITS)
            spin.setDecimals(0)
            spin.setToolTip(range_tip)
            spin.valueChanged.connect(partial(self._set_range, field))
        # shared by the brush and the contours (threshold within the outlined region)
        self.range_row = QWidget()
        range_grid = QGridLayout(self.range_row)
        range_grid.setContentsMargins(0, 0, 0, 0)
        range_grid.addWidget(self.range_box, 0, 0, 1, 4)
        range_grid.addWidget(self.low_spin, 1, 0, 1, 2)
        range_grid.addWidget(QLabel("to"), 1, 2)
        range_grid.addWidget(self.high_spin, 1, 3)

        smaller = QAction("Smaller brush", self)
        smaller.setShortcut(QKeySequence("-"))
        smaller.setToolTip("Shrink the brush by 0.5 mm (-)")
        smaller.triggered.connect(partial(self._step_radius, -BRUSH_STEP_MM))
        larger = QAction("Larger brush", self)
        larger.setShortcuts([QKeySequence("="), QKeySequence("+")])
        larger.setToolTip("Grow the brush by 0.5 mm (=)")
        larger.triggered.connect(partial(self._step_radius, BRUSH_STEP_MM))
        for name, action in (("brush_smaller", smaller), ("brush_larger", larger)):
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            self.addAction(action)
            self.option_actions[name] = action
        return page

    def _contour_page(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.setContentsMargins(0, 0, 0, 0)
        self.cut_box = QCheckBox("Cut out (instead of add)")
        self.cut_box.setToolTip("The filled outline is removed from the active lesion")
        self.cut_box.toggled.connect(lambda on: setattr(self.tools.settings, "cut", on))
        self.contour_hint = caption("")
        layout.addWidget(self.cut_box)
        layout.addWidget(self.contour_hint)
        return page

    def _grow_page(self) -> QWidget:
        settings = self.tools.settings
        page = QWidget()
        grid = QGridLayout(page)
        grid.setContentsMargins(0, 0, 0, 0)
        self.sensitivity_slider = QSlider(Qt.Orientation.Horizontal)
        low, high = (round(v * SENSITIVITY_SCALE) for v in SENSITIVITY_LIMITS)
        self.sensitivity_slider.setRange(low, high)
        self.sensitivity_slider.setToolTip(
            "How far the region may reach from the clicked tissue's intensity: higher grows "
            "further. The preview follows the slider."
        )
        # valueChanged, not sliderReleased: the preview follows the slider while it moves
        self.sensitivity_slider.valueChanged.connect(
            lambda value: setattr(settings, "grow_sensitivity", value / SENSITIVITY_SCALE)
        )
        self.sensitivity_label = QLabel()
        self.sensitivity_label.setMinimumWidth(32)
        self.refine_box = QCheckBox("Refine with active contour")
        self.refine_box.setToolTip(
            "Smooth the grown region's edge with a morphological active contour (slower)"
        )
        self.refine_box.toggled.connect(lambda on: setattr(settings, "refine", on))
        grid.addWidget(QLabel("Sensitivity"), 0, 0)
        grid.addWidget(self.sensitivity_slider, 0, 1)
        grid.addWidget(self.sensitivity_label, 0, 2)
        grid.addWidget(self.refine_box, 1, 0, 1, 3)
        grid.addWidget(caption("Click inside the enhancing tumour"), 2, 0, 1, 3)
        return page

    def _build_preview(self) -> QFrame:
        self.preview_bar = QFrame()
        self.preview_bar.setObjectName("previewBar")
        r, g, b = PREVIEW_COLOUR
        # the preview's own colour on the views, so the bar reads as "that yellow region"
        self.preview_bar.setStyleSheet(
            f"#previewBar {{ border: 1px solid rgb({r}, {g}, {b}); border-radius: 4px; }}"
        )
        layout = QVBoxLayout(self.preview_bar)
        layout.setContentsMargins(6, 4, 6, 4)
        self.preview_title = QLabel()
        font = QFont(self.preview_title.font())
        font.setBold(True)
        self.preview_title.setFont(font)
        self.preview_detail = caption("")
        buttons = QHBoxLayout()
        self.accept_button = QPushButton("Accept (Enter)")
        self.accept_button.setToolTip(
            "Apply the preview to the lesion as one undoable step (Enter)"
        )
        self.accept_button.clicked.connect(partial(self.action_requested.emit, "accept"))
        self.discard_button = QPushButton("Discard (Esc)")
        self.discard_button.setToolTip("Drop the preview; nothing changes (Esc)")
        self.discard_button.clicked.connect(partial(self.action_requested.emit, "discard"))
        buttons.addWidget(self.accept_button)
        buttons.addWidget(self.discard_button)
        layout.addWidget(self.preview_title)
        layout.addWidget(self.preview_detail)
        layout.addLayout(buttons)
        return self.preview_bar

    def _build_lesions(self) -> QGroupBox:
        box = QGroupBox("Lesions")
        layout = QVBoxLayout(box)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels([title for title, _ in COLUMNS])
        for column, (_, tip) in enumerate(COLUMNS):
            self.table.horizontalHeaderItem(column).setToolTip(tip)
        self.table.verticalHeader().hide()
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(COL_NAME, QHeaderView.ResizeMode.Stretch)
        self.table.setMinimumHeight(110)
        self.table.itemSelectionChanged.connect(self._on_row_selected)
        self.table.itemChanged.connect(self._on_item_changed)
        layout.addWidget(self.table)

        buttons = QHBoxLayout()
        self.add_button = QPushButton("Add lesion")
        self.add_button.setToolTip("A new lesion, numbered and coloured in turn; it becomes active")
        self.add_button.clicked.connect(self._add_lesion)
        self.delete_button = QPushButton("Delete…")
        self.delete_button.setToolTip("Delete the active lesion and its outlines on every visit")
        self.delete_button.clicked.connect(self._delete_lesion)
        self.relink_button = QPushButton("Relink…")
        self.relink_button.setToolTip(
            "On the active view's visit only: make the active lesion's outline part of another "
            "lesion (outlined under the wrong number, or merged); one undoable step"
        )
        self.relink_button.clicked.connect(self._relink)
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.relink_button)
        buttons.addWidget(self.delete_button)
        layout.addLayout(buttons)
        self.note_edit = QLineEdit()
        self.note_edit.setPlaceholderText("Note on the active lesion")
        self.note_edit.setToolTip("A note kept with the active lesion in the case file")
        self.note_edit.editingFinished.connect(self._on_note_edited)
        layout.addWidget(self.note_edit)
        return box

    def _build_whole_lesion(self) -> QGroupBox:
        box = QGroupBox("Whole lesion (active view)")
        grid = QGridLayout(box)
        grid.setSpacing(3)
        self.carry_button = QPushButton("Carry forward from")
        self.carry_button.setToolTip(
            "Bring the active lesion's outline from the chosen visit into the active view's "
            "visit, through both registrations, as a preview to edit"
        )
        self.carry_button.clicked.connect(partial(self.action_requested.emit, "carry"))
        self.carry_combo = QComboBox()
        self.carry_combo.setToolTip("The visit whose outline is carried")
        self.carry_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.carry_combo.setMinimumContentsLength(8)
        grid.addWidget(self.carry_button, 0, 0)
        grid.addWidget(self.carry_combo, 0, 1)
        self.whole_buttons: dict[str, QPushButton] = {}
        for index, (name, text, tip) in enumerate(WHOLE_LESION, start=2):
            button = QPushButton(text)
            button.setToolTip(f"{tip}; shown as a preview to accept or discard")
            button.clicked.connect(partial(self.action_requested.emit, name))
            grid.addWidget(button, index // 2, index % 2)
            self.whole_buttons[name] = button
        return box

    def _build_display(self) -> QGroupBox:
        style = self.annotations.style
        box = QGroupBox("Display")
        grid = QGridLayout(box)
        self.show_box = QCheckBox("Show outlines (O)")
        self.show_box.setToolTip("Draw the outlines; O toggles them to see the image underneath")
        self.show_box.toggled.connect(lambda on: setattr(style, "visible", on))
        show = QAction("Show outlines", self, checkable=True)
        show.setShortcut(QKeySequence("O"))
        show.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        show.setToolTip("Show or hide the outlines (O)")
        show.triggered.connect(lambda on: setattr(style, "visible", on))
        self.addAction(show)
        self.option_actions["show_outlines"] = show
        self.outline_only_box = QCheckBox("Outline only")
        self.outline_only_box.setToolTip("Draw each lesion's boundary without the filling")
        self.outline_only_box.toggled.connect(lambda on: setattr(style, "outline_only", on))
        self.opacity_slider = QSlider(Qt.Orientation.Horizontal)
        self.opacity_slider.setRange(0, 100)
        self.opacity_slider.setToolTip("Opacity of the filling in % (the boundary stays opaque)")
        self.opacity_slider.valueChanged.connect(
            lambda percent: setattr(style, "opacity", percent / 100.0)
        )
        self.opacity_label = QLabel()
        self.opacity_label.setMinimumWidth(36)
        grid.addWidget(self.show_box, 0, 0, 1, 2)
        grid.addWidget(self.outline_only_box, 0, 2)
        grid.addWidget(QLabel("Opacity"), 1, 0)
        grid.addWidget(self.opacity_slider, 1, 1)
        grid.addWidget(self.opacity_label, 1, 2)
        return box

    def _build_undo(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.undo_button = QPushButton("Undo")
        self.undo_button.setToolTip("Undo the newest edit on the active view's visit (Ctrl+Z)")
        self.undo_button.clicked.connect(partial(self.action_requested.emit, "undo"))
        self.redo_button = QPushButton("Redo")
        self.redo_button.setToolTip("Redo on the active view's visit (Ctrl+Shift+Z)")
        self.redo_button.clicked.connect(partial(self.action_requested.emit, "redo"))
        for button in (self.undo_button, self.redo_button):
            button.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
            row.addWidget(button)
        return row

    # --- what the window tells the panel ---------------------------------------------------

    def set_current_series(self, key: str | None, voxel_ml: float | None) -> None:
        """Show the volumes on this series (the active view's).

        Parameters
        ----------
        key : str or None
            Series key; None when the active view is empty.
        voxel_ml : float or None
            Volume of one of its voxels in mL; None until the series is loaded.
        """
        if key != self._key:
            self._key = key
            self._count_voxels()
        self._voxel_ml = voxel_ml
        self._show_volumes()
        self._update_enabled()

    def set_carry_sources(self, sources: list[tuple[str, str]]) -> None:
        """Offer these visits to carry forward from: (series key, label) pairs."""
        combo = self.carry_combo
        current = [(combo.itemData(i), combo.itemText(i)) for i in range(combo.count())]
        if current == list(sources):
            return
        chosen = self.carry_source()
        with QSignalBlocker(combo):
            combo.clear()
            for key, label in sources:
                combo.addItem(label, key)
                combo.setItemData(combo.count() - 1, label, Qt.ItemDataRole.ToolTipRole)
            keys = [key for key, _ in sources]
            if chosen in keys:
                combo.setCurrentIndex(keys.index(chosen))
        self._update_enabled()

    def carry_source(self) -> str | None:
        """The series key chosen to carry forward from, or None when there is none."""
        key = self.carry_combo.currentData()
        return None if key is None else str(key)

    def set_undo_text(self, undo: str | None, redo: str | None) -> None:
        """Name the edits Undo and Redo would take back, e.g. ``"Brush on L1"`` (None: none)."""
        self._undo_texts = (undo, redo)
        self.undo_button.setText(f"Undo {undo}" if undo else "Undo")
        self.redo_button.setText(f"Redo {redo}" if redo else "Redo")
        self.undo_button.setToolTip(
            f"Undo {undo or 'the newest edit'} on the active view's visit (Ctrl+Z)"
        )
        self.redo_button.setToolTip(f"Redo {redo or 'the undone edit'} (Ctrl+Shift+Z)")
        self._update_enabled()

    def set_read_only(self, reason: str | None) -> None:
        """Disable every edit (the case is open read-only), naming why; None makes it editable.

        ``annotations.read_only`` also keeps the panel read-only (with a generic reason).
        """
        self._read_only_reason = reason
        self._update_enabled()

    def show_message(self, text: str) -> None:
        """Show a status line (what a tool did, or why it did nothing)."""
        self.status_label.setText(text)

    @property
    def writable(self) -> bool:
        """Edits are allowed: the case is not open read-only."""
        return self._read_only_reason is None and not self.annotations.read_only

    # --- following the models --------------------------------------------------------------

    def _sync_tool(self, *_: object) -> None:
        tool = self.tools.settings.tool
        self.tool_actions[tool].setChecked(True)  # checked, not triggered: no echo
        name = next(text for t, text, _, _ in TOOLS if t is tool)
        self.options_box.setTitle(f"Options: {name}")
        page = TOOL_PAGE[tool]
        self.options_stack.setCurrentIndex(page)
        # the stack takes the size of its current page only, so the panel stays compact
        for index in range(self.options_stack.count()):
            policy = QSizePolicy.Policy.Preferred if index == page else QSizePolicy.Policy.Ignored
            self.options_stack.widget(index).setSizePolicy(policy, policy)
        if tool in CONTOUR_HINTS:
            self.contour_hint.setText(CONTOUR_HINTS[tool])
        self.range_row.setVisible(page in (PAGE_BRUSH, PAGE_CONTOUR))

    def _sync_options(self, *_: object) -> None:
        s = self.tools.settings
        percent = round(s.grow_sensitivity * SENSITIVITY_SCALE)
        for widget, value in (
            (self.radius_spin, s.brush_radius_mm),
            (self.low_spin, s.range_low),
            (self.high_spin, s.range_high),
            (self.sensitivity_slider, percent),
        ):
            if widget.value() != value:
                with QSignalBlocker(widget):
                    widget.setValue(value)
        for box, on in (
            (self.sphere_box, s.brush_3d),
            (self.range_box, s.limit_to_range),
            (self.cut_box, s.cut),
            (self.refine_box, s.refine),
        ):
            if box.isChecked() != on:
                with QSignalBlocker(box):
                    box.setChecked(on)
        self.sensitivity_label.setText(f"{s.grow_sensitivity:.2f}")
        self.low_spin.setEnabled(s.limit_to_range)
        self.high_spin.setEnabled(s.limit_to_range)

    def _sync_display(self, *_: object) -> None:
        style = self.annotations.style
        percent = round(style.opacity * 100)
        if self.opacity_slider.value() != percent:
            with QSignalBlocker(self.opacity_slider):
                self.opacity_slider.setValue(percent)
        self.opacity_label.setText(f"{percent} %")
        for box, on in (
            (self.show_box, style.visible),
            (self.outline_only_box, style.outline_only),
        ):
            if box.isChecked() != on:
                with QSignalBlocker(box):
                    box.setChecked(on)
        self.option_actions["show_outlines"].setChecked(style.visible)
        self._sync_hidden()

    def _sync_hidden(self) -> None:
        hidden = self.annotations.style.hidden
        with QSignalBlocker(self.table):
            for row, number in enumerate(self._numbers):
                state = Qt.CheckState.Unchecked if number in hidden else Qt.CheckState.Checked
                item = self.table.item(row, COL_SHOW)
                if item is not None and item.checkState() != state:
                    item.setCheckState(state)

    def _sync_lesions(self) -> None:
        lesions = list(self.annotations.lesions)
        numbers = [lesion.number for lesion in lesions]
        with QSignalBlocker(self.table):
            if numbers != self._numbers:
                # rows come and go only on add, delete or a new case: rebuild them then, and
                # otherwise update in place (a rename must not rebuild the row being edited)
                self._numbers = numbers
                self.table.setRowCount(0)
                self.table.setRowCount(len(lesions))
                for row, lesion in enumerate(lesions):
                    self._make_row(row, lesion.number)
            for row, lesion in enumerate(lesions):
                self._fill_row(row, lesion)
            active = self.annotations.active
            if active in self._numbers:
                self.table.selectRow(self._numbers.index(active))
            else:
                self.table.clearSelection()
        self._sync_hidden()
        self._show_volumes()
        self._sync_note()
        self._update_enabled()

    def _make_row(self, row: int, number: int) -> None:
        swatch = QToolButton()
        swatch.setAutoRaise(True)
        swatch.setStyleSheet("padding: 1px")  # the theme's button padding would widen the column
        swatch.clicked.connect(partial(self._choose_colour, number))
        self.table.setCellWidget(row, COL_COLOUR, swatch)
        name = QTableWidgetItem()
        name.setFlags(
            Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsEditable
        )
        self.table.setItem(row, COL_NAME, name)
        kind = QComboBox()
        for value in LesionKind:
            kind.addItem(KIND_LABELS[value], value)
            kind.setItemData(kind.count() - 1, value.value, Qt.ItemDataRole.ToolTipRole)
        kind.activated.connect(partial(self._choose_kind, number, kind))
        self.table.setCellWidget(row, COL_KIND, kind)
        show = QTableWidgetItem()
        show.setFlags(
            Qt.ItemFlag.ItemIsSelectable
            | Qt.ItemFlag.ItemIsEnabled
            | Qt.ItemFlag.ItemIsUserCheckable
        )
        show.setCheckState(Qt.CheckState.Checked)
        self.table.setItem(row, COL_SHOW, show)
        volume = QTableWidgetItem(NO_VOLUME)
        volume.setFlags(Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsEnabled)
        volume.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.table.setItem(row, COL_VOLUME, volume)

    def _fill_row(self, row: int, lesion: Lesion) -> None:
        swatch = self.table.cellWidget(row, COL_COLOUR)
        if swatch.property("colour") != list(lesion.colour):
            swatch.setProperty("colour", list(lesion.colour))
            swatch.setIcon(colour_swatch(lesion.colour))
        swatch.setToolTip(f"Colour of {lesion.name} on every visit (click to change)")
        name = self.table.item(row, COL_NAME)
        if name.text() != lesion.name:
            name.setText(lesion.name)
        tip = f"{lesion.name} (label {lesion.number}), double-click to rename"
        name.setToolTip(f"{tip}\n{lesion.note}" if lesion.note else tip)
        kind = self.table.cellWidget(row, COL_KIND)
        index = kind.findData(lesion.kind)
        if kind.currentIndex() != index:
            with QSignalBlocker(kind):
                kind.setCurrentIndex(index)
        kind.setToolTip(f"{lesion.name} is: {lesion.kind.value}")
        self.table.item(row, COL_SHOW).setToolTip(f"Show {lesion.name} in every view")

    def _on_labels_changed(self, key: str) -> None:
        # mid-stroke every dab reports a change: count once, when the stroke is recorded
        if key in ("", self._key) and not self.annotations.stroking:
            self._count_voxels()
            self._show_volumes()

    def _count_voxels(self) -> None:
        labels = None if self._key is None else self.annotations.labels(self._key)
        self._counts = None if labels is None else lesion_voxel_counts(labels)

    def _show_volumes(self) -> None:
        counts = self._counts
        with QSignalBlocker(self.table):
            for row, number in enumerate(self._numbers):
                voxels = int(counts[number]) if counts is not None and number < counts.size else 0
                text = volume_text(voxels, self._voxel_ml)
                item = self.table.item(row, COL_VOLUME)
                tip = (
                    f"{voxels} voxels x {self._voxel_ml:.4g} mL on this series"
                    if text != NO_VOLUME
                    else "Not outlined on the active view's series"
                )
                if (item.text(), item.toolTip()) != (text, tip):
                    item.setText(text)
                    item.setToolTip(tip)

    def _sync_note(self) -> None:
        active = self.annotations.active
        lesion = self.annotations.lesions[active] if active in self.annotations.lesions else None
        number = None if lesion is None else lesion.number
        # a note being typed for the same lesion is kept until editingFinished stores it
        typing = number == self._note_lesion and self.note_edit.hasFocus()
        self._note_lesion = number
        text = "" if lesion is None else lesion.note
        if self.note_edit.text() != text and not typing:
            self.note_edit.setText(text)
        self.note_edit.setPlaceholderText(
            "Add a lesion to take notes" if lesion is None else f"Note on {lesion.name}"
        )

    def _sync_preview(self, *_: object) -> None:
        proposal = self.annotations.proposal
        self.preview_bar.setVisible(proposal is not None)
        if proposal is not None:
            self.preview_title.setText(f"Preview: {proposal.description}")
            self.preview_detail.setText(proposal.detail)
            self.preview_detail.setVisible(bool(proposal.detail))
        self._update_enabled()

    def _update_enabled(self) -> None:
        writable = self.writable
        if not writable:
            reason = self._read_only_reason or "this case cannot be changed here"
            self.read_only_label.setText(f"Read-only: {reason}")
            if self.tools.settings.tool is not Tool.NAVIGATE:
                self.tools.settings.tool = Tool.NAVIGATE
        self.read_only_label.setVisible(not writable)
        for tool, action in self.tool_actions.items():
            action.setEnabled(writable or tool is Tool.NAVIGATE)
        self.options_box.setEnabled(writable)
        has_active = self.annotations.active in self.annotations.lesions
        self.add_button.setEnabled(writable)
        self.delete_button.setEnabled(writable and has_active)
        self.relink_button.setEnabled(
            writable and has_active and self._key is not None and len(self.annotations.lesions) > 1
        )
        self.note_edit.setEnabled(writable and has_active)
        self.table.setEditTriggers(
            QAbstractItemView.EditTrigger.DoubleClicked
            | QAbstractItemView.EditTrigger.EditKeyPressed
            if writable
            else QAbstractItemView.EditTrigger.NoEditTriggers
        )
        for row in range(len(self._numbers)):
            for column in (COL_COLOUR, COL_KIND):
                self.table.cellWidget(row, column).setEnabled(writable)
        acts = writable and has_active and self._key is not None
        self.carry_button.setEnabled(acts and self.carry_combo.count() > 0)
        self.carry_combo.setEnabled(acts and self.carry_combo.count() > 0)
        for button in self.whole_buttons.values():
            button.setEnabled(acts)
        self.accept_button.setEnabled(writable)
        undo, redo = self._undo_texts
        self.undo_button.setEnabled(writable and undo is not None)
        self.redo_button.setEnabled(writable and redo is not None)

    # --- what the user does ----------------------------------------------------------------

    def _choose_tool(self, tool: Tool) -> None:
        self.tools.settings.tool = tool

    def _step_radius(self, step_mm: float) -> None:
        low, high = BRUSH_RADIUS_LIMITS_MM
        settings = self.tools.settings
        settings.brush_radius_mm = min(max(settings.brush_radius_mm + step_mm, low), high)

    def _set_range(self, field: str, value: float) -> None:
        settings = self.tools.settings
        setattr(settings, field, float(value))
        if settings.range_low > settings.range_high:
            self.show_message("The intensity range is empty (from is above to): nothing is painted")

    def _on_row_selected(self) -> None:
        rows = {index.row() for index in self.table.selectedIndexes()}
        if len(rows) == 1:
            number = self._numbers[rows.pop()]
            if number != self.annotations.active:
                self.annotations.set_active(number)

    def _on_item_changed(self, item: QTableWidgetItem) -> None:
        number = self._numbers[item.row()]
        lesion = self.annotations.lesions[number]
        if item.column() == COL_SHOW:
            hidden = item.checkState() != Qt.CheckState.Checked
            self.annotations.set_hidden(number, hidden)
        elif item.column() == COL_NAME:
            name = item.text().strip()
            if name and name != lesion.name and self.writable:
                self.annotations.update_lesion(number, name=name)
            else:  # an empty name would leave the lesion unnamed in reports: keep the old one
                with QSignalBlocker(self.table):
                    item.setText(lesion.name)

    def _choose_colour(self, number: int) -> None:
        lesion = self.annotations.lesions[number]
        colour = QColorDialog.getColor(QColor(*lesion.colour), self, f"Colour of {lesion.name}")
        if colour.isValid():
            rgb = (colour.red(), colour.green(), colour.blue())
            if rgb != lesion.colour:
                self.annotations.update_lesion(number, colour=rgb)

    def _choose_kind(self, number: int, combo: QComboBox, index: int) -> None:
        kind = combo.itemData(index)
        if kind != self.annotations.lesions[number].kind:
            self.annotations.update_lesion(number, kind=kind)

    def _add_lesion(self) -> None:
        try:
            lesion = self.annotations.add_lesion()
        except ValueError as exc:  # every lesion number has been used
            self.show_message(str(exc))
            return
        self.show_message(f"Added {lesion.name}: it is the lesion the tools now edit")

    def _delete_lesion(self) -> None:
        number = self.annotations.active
        if number not in self.annotations.lesions:
            return
        name = self.annotations.lesions[number].name
        answer = QMessageBox.question(
            self,
            "Delete lesion",
            f"Delete {name}?\n\nIts outlines on every visit go with it. Undo brings them back "
            "one visit at a time (on each visit's view).",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.annotations.remove_lesion(number)
            self.show_message(f"Deleted {name}")

    def _relink(self) -> None:
        number, key = self.annotations.active, self._key
        if number not in self.annotations.lesions or key is None:
            return
        others = [lesion for lesion in self.annotations.lesions if lesion.number != number]
        names = [lesion.name for lesion in others]
        source = self.annotations.lesions[number].name
        chosen, ok = QInputDialog.getItem(
            self, "Relink lesion", f"On this visit, {source} is part of:", names, 0, False
        )
        if not ok:
            return
        target = others[names.index(chosen)].number
        if self.annotations.relabel(key, number, target) is None:
            self.show_message(f"{source} has no outline on this visit")
        else:
            self.show_message(f"{source} on this visit is now part of {chosen} (Ctrl+Z undoes it)")

    def _on_note_edited(self) -> None:
        number = self._note_lesion
        if number is None or number not in self.annotations.lesions or not self.writable:
            return
        note = self.note_edit.text().strip()
        if note != self.annotations.lesions[number].note:
            self.annotations.update_lesion(number, note=note)
