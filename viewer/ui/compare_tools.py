"""The comparison toolbar: layout, date labels, window linking and the pair modes."""

from __future__ import annotations

import time
from functools import partial

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QLabel,
    QSlider,
    QToolBar,
    QWidget,
)

from viewer.display.compare import DEFAULT_LIMITS, FLICKER_INTERVAL_S, flicker_index
from viewer.state.compare_controller import PAIR_NAMES, ComparisonController
from viewer.state.comparison import LAYOUTS, MAX_VIEWS, PAIR_MODES

LAYOUT_LABELS = {"ortho": "3 planes"}
LAYOUT_KEYS = {"1x1": "Ctrl+1", "1x2": "Ctrl+2", "1x3": "Ctrl+3", "2x2": "Ctrl+4", "2x3": "Ctrl+6",
               "ortho": "Ctrl+T"}  # fmt: skip
FLICKER_TICK_MS = 50


class CompareTools(QToolBar):
    """Controls of the comparison; every widget writes to the state and follows it back."""

    def __init__(self, controller: ComparisonController, parent: QWidget | None = None) -> None:
        super().__init__("Comparison", parent)
        self.setObjectName("comparison")
        self.setMovable(False)
        self.controller = controller
        state = controller.state

        self.addWidget(QLabel("Layout"))
        self.layout_actions: dict[str, QAction] = {}
        group = QActionGroup(self)
        for name in LAYOUTS:
            action = QAction(LAYOUT_LABELS.get(name, name), self, checkable=True)
            action.setShortcut(LAYOUT_KEYS[name])
            tip = "one visit in three orthogonal planes" if name == "ortho" else f"{name} views"
            action.setToolTip(f"Show {tip} ({LAYOUT_KEYS[name]})")
            action.triggered.connect(partial(controller.set_layout, name))
            group.addAction(action)
            self.addAction(action)
            self.layout_actions[name] = action
        self.addSeparator()

        self.day_box = QCheckBox("Day N")
        self.day_box.setToolTip("Label visits as days after the baseline visit instead of dates")
        self.day_box.toggled.connect(
            lambda on: setattr(state, "date_format", "day" if on else "date")
        )
        self.addWidget(self.day_box)
        self.link_box = QCheckBox("Link W/L")
        self.link_box.setToolTip(
            "The active view's window follows the other views of its modality (CT: the same HU "
            "window; MRI: the same window relative to each visit's intensity scale)"
        )
        self.link_box.toggled.connect(self._on_link)
        self.addWidget(self.link_box)
        self.addSeparator()

        self.addWidget(QLabel("Pair"))
        self.mode_combo = QComboBox()
        for mode in PAIR_MODES:
            self.mode_combo.addItem(PAIR_NAMES.get(mode, "Off"), mode)
        self.mode_combo.setToolTip(
            "Compare two views in the first: fade, checkerboard, flicker, or subtraction "
            "(later minus earlier). Also how to check a registration."
        )
        self.mode_combo.activated.connect(self._on_mode)
        self.addWidget(self.mode_combo)
        self.first_combo, self.second_combo = QComboBox(), QComboBox()
        for combo in (self.first_combo, self.second_combo):
            for i in range(MAX_VIEWS):
                combo.addItem(f"view {i + 1}", i)
            combo.activated.connect(self._on_pair)
        self.addWidget(self.first_combo)
        self.addWidget(QLabel("with"))
        self.addWidget(self.second_combo)

        self.fade_slider = QSlider(Qt.Orientation.Horizontal)
        self.fade_slider.setRange(0, 100)
        self.fade_slider.setFixedWidth(110)
        self.fade_slider.setToolTip("Fade from the first view (left) to the second (right)")
        self.fade_slider.valueChanged.connect(lambda v: setattr(state, "fade", v / 100.0))
        self.fade_action = self.addWidget(self.fade_slider)
        self.square_spin = QDoubleSpinBox()
        self.square_spin.setRange(2.0, 100.0)
        self.square_spin.setSingleStep(2.0)
        self.square_spin.setSuffix(" mm")
        self.square_spin.setToolTip("Checkerboard square size")
        self.square_spin.valueChanged.connect(lambda v: setattr(state, "checker_mm", float(v)))
        self.square_action = self.addWidget(self.square_spin)
        self.limit_spin = QDoubleSpinBox()
        self.limit_spin.setRange(0.1, 2000.0)
        self.limit_spin.setDecimals(1)
        self.limit_spin.setToolTip(
            "Subtraction colour range: ± this difference is full red / blue (HU for CT, "
            "interquartile ranges of the head's intensity for MRI)"
        )
        self.limit_spin.valueChanged.connect(
            lambda v: setattr(state, "subtraction_limit", float(v))
        )
        self.limit_action = self.addWidget(self.limit_spin)

        self.flicker_timer = QTimer(self)
        self.flicker_timer.setInterval(FLICKER_TICK_MS)
        self.flicker_timer.timeout.connect(self._flicker)
        self._flicker_start = 0.0
        state.events.connect(self.sync)
        self.sync()

    def sync(self, *_: object) -> None:
        """Show the state in the widgets (without echoing back)."""
        state = self.controller.state
        widgets = (
            self.day_box, self.link_box, self.mode_combo, self.first_combo, self.second_combo,
            self.fade_slider, self.square_spin, self.limit_spin,
        )  # fmt: skip
        for widget in widgets:
            widget.blockSignals(True)
        self.layout_actions[state.layout].setChecked(True)
        self.day_box.setChecked(state.date_format == "day")
        self.link_box.setChecked(self.controller.is_linked(state.active))
        self.mode_combo.setCurrentIndex(PAIR_MODES.index(state.pair_mode))
        self.first_combo.setCurrentIndex(state.pair[0])
        self.second_combo.setCurrentIndex(state.pair[1])
        self.fade_slider.setValue(round(state.fade * 100))
        self.square_spin.setValue(state.checker_mm)
        units = "HU" if self._pair_is_ct() else "IQR"
        self.limit_spin.setSuffix(f" {units}")
        self.limit_spin.setValue(state.subtraction_limit or DEFAULT_LIMITS[units])
        for widget in widgets:
            widget.blockSignals(False)
        mode = state.pair_mode
        self.fade_action.setVisible(mode == "fade")
        self.square_action.setVisible(mode == "checkerboard")
        self.limit_action.setVisible(mode == "subtraction")
        for combo in (self.first_combo, self.second_combo):
            combo.setEnabled(mode != "off")
        if mode == "flicker" and not self.flicker_timer.isActive():
            self._flicker_start = time.monotonic()
            self.flicker_timer.start()
        elif mode != "flicker":
            self.flicker_timer.stop()

    def _pair_is_ct(self) -> bool:
        key = self.controller.view_key(self.controller.state.pair[0])
        found = self.controller.loaded(key)
        return found is not None and found.volume.metadata.units == "HU"

    def _on_link(self, on: bool) -> None:
        self.controller.set_linked(self.controller.state.active, on)

    def _on_mode(self, row: int) -> None:
        self.controller.state.subtraction_limit = None
        self.controller.set_pair_mode(str(self.mode_combo.itemData(row)))

    def _on_pair(self, _: int) -> None:
        first, second = self.first_combo.currentIndex(), self.second_combo.currentIndex()
        if first == second:
            self.sync()  # a view cannot be compared with itself
            return
        self.controller.set_pair_mode(self.controller.state.pair_mode, (first, second))

    def _flicker(self) -> None:
        phase = flicker_index(time.monotonic() - self._flicker_start, interval_s=FLICKER_INTERVAL_S)
        if phase != self.controller.state.flicker_phase:
            self.controller.state.flicker_phase = phase
