"""The case panel: the patient's visits by date with their series, warnings and skipped files."""

from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QSplitter,
    QTextBrowser,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from viewer.core.catalog import SeriesEntry
from viewer.state.session import LoadStatus, Session, is_contrast_mri

KEY_ROLE = Qt.ItemDataRole.UserRole
COLUMNS = ("Visit / series", "Mod.", "Matrix", "Thick.")
COLUMN_TIPS = (
    "Visits by date, each with its series (number: description)",
    "Modality (CT, MR, ...)",
    "Columns × rows × slices",
    "Nominal slice thickness",
)
WARNING_COLOUR = QColor("#f0b45a")
ERROR_COLOUR = QColor("#ff7b72")
MUTED_COLOUR = QColor("#8f96a3")


def series_label(entry: SeriesEntry) -> str:
    """Return the series' name in the tree: number, description and flags."""
    number = f"{entry.series_number}: " if entry.series_number is not None else ""
    name = entry.description or "(no description)"
    flags = []
    if is_contrast_mri(entry) or (entry.contrast_agent and entry.modality != "MR"):
        flags.append("+C")
    if entry.orientation != "axial":
        flags.append(entry.orientation)
    if entry.is_localizer:
        flags.append("localizer")
    suffix = f"  [{', '.join(flags)}]" if flags else ""
    warn = "⚠ " if entry.warnings else ""
    return f"{warn}{number}{name}{suffix}"


class CasePanel(QWidget):
    """Tree of visits -> series, with a details box for the selected series.

    Signals
    -------
    series_selected(str)
        The user picked a series (its key).
    series_activated(str)
        The user double-clicked a series (its key): show it in the active comparison view.
    """

    series_selected = Signal(str)
    series_activated = Signal(str)

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.tree = QTreeWidget()
        self.tree.setColumnCount(len(COLUMNS))
        self.tree.setHeaderLabels(list(COLUMNS))
        for column, tip in enumerate(COLUMN_TIPS):
            self.tree.headerItem().setToolTip(column, tip)
        self.tree.setAlternatingRowColors(True)
        self.tree.setRootIsDecorated(True)
        self.tree.setUniformRowHeights(True)
        self.tree.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.tree.header().setStretchLastSection(False)
        self.tree.header().setSectionResizeMode(0, self.tree.header().ResizeMode.Stretch)
        for column in range(1, len(COLUMNS)):
            self.tree.header().setSectionResizeMode(
                column, self.tree.header().ResizeMode.ResizeToContents
            )
        self.details = QTextBrowser()
        self.details.setOpenLinks(False)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.tree)
        splitter.addWidget(self.details)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)
        self._items: dict[str, QTreeWidgetItem] = {}
        self._shown_key: str | None = None
        self.tree.currentItemChanged.connect(self._on_current_changed)
        self.tree.itemDoubleClicked.connect(self._on_double_clicked)
        session.catalog_changed.connect(self.rebuild)
        session.status_changed.connect(self._on_status_changed)
        self.rebuild()

    def rebuild(self) -> None:
        """Fill the tree from the session's catalogue."""
        blocked = self.tree.blockSignals(True)
        try:
            self.tree.clear()
            self._items.clear()
            catalog = self.session.catalog
            several_patients = len(catalog.patients) > 1
            for patient in catalog.patients:
                parent = self.tree.invisibleRootItem()
                if several_patients:
                    parent = QTreeWidgetItem(parent, [f"Patient {patient.patient_id}"])
                    parent.setExpanded(True)
                for visit in patient.visits:
                    modalities = ", ".join(m for m in visit.modalities if m)
                    label = f"{visit.label}   ({modalities})" if modalities else visit.label
                    item = QTreeWidgetItem(parent, [label])
                    item.setFlags(Qt.ItemFlag.ItemIsEnabled)
                    item.setFirstColumnSpanned(True)
                    _bold(item)
                    for entry in visit.series:
                        self._items[entry.key] = self._series_item(item, entry)
                    item.setExpanded(True)
            self._add_problems()
        finally:
            self.tree.blockSignals(blocked)
        self._show_details(self._shown_key if self._shown_key in self._items else None)

    def _series_item(self, parent: QTreeWidgetItem, entry: SeriesEntry) -> QTreeWidgetItem:
        slices, rows, columns = entry.shape
        thickness = f"{entry.slice_thickness_mm:g} mm" if entry.slice_thickness_mm else "–"
        matrix = f"{columns}×{rows}×{slices}"
        item = QTreeWidgetItem(parent, [series_label(entry), entry.modality, matrix, thickness])
        item.setData(0, KEY_ROLE, entry.key)
        tip = f"{entry.description}\n{entry.modality}, {columns}×{rows} pixels, {slices} slices"
        if entry.warnings:
            tip += "\n\nWarnings:\n" + "\n".join(f"• {w}" for w in entry.warnings)
            item.setForeground(0, QBrush(WARNING_COLOUR))
        item.setToolTip(0, tip)
        return item

    def _add_problems(self) -> None:
        catalog = self.session.catalog
        if catalog.warnings:
            top = QTreeWidgetItem(self.tree, [f"⚠ Warnings ({len(catalog.warnings)})"])
            top.setForeground(0, QBrush(WARNING_COLOUR))
            for warning in catalog.warnings:
                child = QTreeWidgetItem(top, [warning])
                child.setToolTip(0, warning)
        if catalog.skipped:
            top = QTreeWidgetItem(self.tree, [f"Skipped files ({len(catalog.skipped)})"])
            top.setForeground(0, QBrush(MUTED_COLOUR))
            top.setToolTip(0, "Files that are not images Interval can read, each with the reason")
            for skipped in catalog.skipped:
                child = QTreeWidgetItem(top, [f"{Path(skipped.path).name} — {skipped.reason}"])
                child.setToolTip(0, f"{skipped.path}\n{skipped.reason}")
                child.setForeground(0, QBrush(MUTED_COLOUR))

    def select(self, key: str | None) -> None:
        """Highlight a series without announcing it (the model chose it)."""
        item = self._items.get(key) if key else None
        blocked = self.tree.blockSignals(True)
        try:
            self.tree.setCurrentItem(item)
        finally:
            self.tree.blockSignals(blocked)
        self._show_details(key)

    def _on_current_changed(self, current: QTreeWidgetItem | None, _: object) -> None:
        key = current.data(0, KEY_ROLE) if current is not None else None
        if key:
            self._show_details(key)
            self.series_selected.emit(key)

    def _on_double_clicked(self, item: QTreeWidgetItem, _: int) -> None:
        key = item.data(0, KEY_ROLE)
        if key:
            self.series_activated.emit(key)

    def _on_status_changed(self, key: str) -> None:
        item = self._items.get(key)
        if item is None:
            return
        status = self.session.status(key)
        entry = self.session.entry(key)
        label = series_label(entry)
        if status is LoadStatus.LOADING:
            label += "   (loading…)"
        elif status is LoadStatus.FAILED:
            label = "✖ " + label
        item.setText(0, label)
        if status is LoadStatus.FAILED:
            item.setForeground(0, QBrush(ERROR_COLOUR))
            item.setToolTip(0, f"Could not be loaded:\n{self.session.error(key)}")
        if key == self._shown_key:
            self._show_details(key)

    def _show_details(self, key: str | None) -> None:
        self._shown_key = key
        if key is None:
            self.details.setHtml(self._case_summary())
            return
        entry = self.session.entry(key)
        visit = self.session.visit_of(key)
        slices, rows, columns = entry.shape
        spacing = (
            f"{entry.pixel_spacing_mm[1]:g} × {entry.pixel_spacing_mm[0]:g} mm"
            if entry.pixel_spacing_mm
            else "unknown"
        )
        facts = [
            ("Visit", visit.label),
            ("Modality", entry.modality or "unknown"),
            ("Series", f"{entry.series_number}" if entry.series_number is not None else "–"),
            ("Matrix", f"{columns} × {rows} pixels, {slices} slices"),
            ("Pixel size", spacing),
            (
                "Slice thickness",
                f"{entry.slice_thickness_mm:g} mm" if entry.slice_thickness_mm else "–",
            ),
            ("Acquired", entry.orientation),
            (
                "Contrast",
                entry.contrast_agent
                or ("yes (by name)" if is_contrast_mri(entry) else "none recorded"),
            ),
            ("Files", str(len(entry.paths)) if entry.paths else "–"),
            ("Status", self.session.status(key).value),
        ]
        rows_html = "".join(
            f"<tr><td style='color:#8f96a3;padding-right:10px'>{html.escape(k)}</td>"
            f"<td>{html.escape(v)}</td></tr>"
            for k, v in facts
        )
        parts = [
            f"<b>{html.escape(entry.description or '(no description)')}</b>",
            f"<table>{rows_html}</table>",
        ]
        error = self.session.error(key)
        if error:
            parts.append(
                f"<p style='color:#ff7b72'><b>Could not be loaded:</b><br>{html.escape(error)}</p>"
            )
        loaded = self.session.loaded(key)
        warnings = list(entry.warnings) + list(loaded.volume.metadata.warnings if loaded else ())
        if warnings:
            items = "".join(f"<li>{html.escape(w)}</li>" for w in dict.fromkeys(warnings))
            parts.append(f"<p style='color:#f0b45a'><b>Warnings</b></p><ul>{items}</ul>")
        self.details.setHtml("".join(parts))

    def _case_summary(self) -> str:
        catalog = self.session.catalog
        series = catalog.all_series()
        if not series and not catalog.skipped:
            return "<p style='color:#8f96a3'>No case open.</p>"
        visits = sum(len(p.visits) for p in catalog.patients)
        text = f"<p>{len(series)} series in {visits} visits.</p>"
        if catalog.skipped:
            text += (
                f"<p style='color:#8f96a3'>{len(catalog.skipped)} files skipped (see the list).</p>"
            )
        return text


def _bold(item: QTreeWidgetItem) -> None:
    font = item.font(0)
    font.setBold(True)
    item.setFont(0, font)
