"""The visit strip: the patient's visits in time order, to choose what each view shows.

Click a visit, then a view; or drag a visit onto a view.
"""

from __future__ import annotations

from PySide6.QtCore import QMimeData, QSize, Qt, Signal
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QListWidget, QListWidgetItem, QWidget

from viewer.state.compare_controller import THUMBNAIL_PX, ComparisonController
from viewer.state.registrations import preferred_series
from viewer.ui.compare_view import SERIES_MIME
from viewer.ui.qt_image import rgba_to_qimage

KEY_ROLE = Qt.ItemDataRole.UserRole


class VisitStrip(QListWidget):
    """One tile per visit (thumbnail, date, day after baseline, modalities), oldest on the left.

    The thumbnail (a middle axial slice) appears once the visit's series is loaded, or once the
    main window has made it in the background (:meth:`refresh` shows it); text until then.

    Signals
    -------
    chosen(str)
        A visit was clicked: its preferred series' key (waiting for a view to be clicked).
    """

    chosen = Signal(str)

    def __init__(self, controller: ComparisonController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.setFlow(QListWidget.Flow.LeftToRight)
        self.setWrapping(False)
        self.setDragEnabled(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setFixedHeight(64)
        self.setIconSize(QSize(THUMBNAIL_PX, THUMBNAIL_PX))
        self.setSpacing(3)
        self.setToolTip("Click a visit, then a view to show it there (or drag it onto a view)")
        self.pending: str | None = None
        self._icons: dict[str, QIcon] = {}
        self.itemClicked.connect(self._on_clicked)
        controller.session.catalog_changed.connect(self.rebuild)
        controller.state.events.date_format.connect(self.rebuild)
        controller.state.events.panes.connect(self._mark_shown)
        controller.registrations.changed.connect(self._mark_shown)
        controller.session.status_changed.connect(self._mark_shown)

    def rebuild(self, *_: object) -> None:
        """Make one tile per visit of the open case."""
        self.clear()
        self.pending = None
        self._icons.clear()
        for patient in self.controller.session.catalog.patients:
            for visit in patient.visits:
                chosen = preferred_series(visit)
                if chosen is None:
                    continue
                item = QListWidgetItem()
                item.setData(KEY_ROLE, chosen.key)
                item.setSizeHint(QSize(226, 54))
                self.addItem(item)
        self._mark_shown()

    def refresh(self) -> None:
        """Show thumbnails that have arrived since the tiles were last drawn."""
        self._mark_shown()

    def _mark_shown(self, *_: object) -> None:
        shown = {self.controller.view_key(i): i + 1 for i in self.controller.visible_indices()}
        session = self.controller.session
        current = {s.key for s in session.catalog.all_series()}
        for row in range(self.count()):
            item = self.item(row)
            key = item.data(KEY_ROLE)
            if key not in current:
                continue  # a tile of the previous case, about to be rebuilt
            visit = session.visit_of(key)
            date = visit.date
            day = ""
            baseline = self.controller.baseline_date()
            if date is not None and baseline is not None:
                day = f"Day {(date - baseline).days}"
            view = f" ▸ view {shown[key]}" if key in shown else ""
            lines = [
                f"{visit.label} {day}{view}",
                f"{'+'.join(visit.modalities)} · {session.entry(key).description}",
            ]
            item.setText("\n".join(lines))
            item.setToolTip(
                f"{self.controller.series_label(key)}\n{self.controller.registration_text(key)}"
            )
            icon = self._icon(key)
            if icon is not None:
                item.setIcon(icon)

    def _icon(self, key: str) -> QIcon | None:
        if key not in self._icons:
            rgba = self.controller.thumbnail(key)
            if rgba is None:
                return None
            self._icons[key] = QIcon(QPixmap.fromImage(rgba_to_qimage(rgba)))
        return self._icons[key]

    def _on_clicked(self, item: QListWidgetItem) -> None:
        self.pending = str(item.data(KEY_ROLE))
        self.chosen.emit(self.pending)

    def take_pending(self) -> str | None:
        """The visit waiting for a view, once (the selection is cleared)."""
        key, self.pending = self.pending, None
        self.clearSelection()
        return key

    def mimeData(self, items: list[QListWidgetItem]) -> QMimeData:  # noqa: N802 - Qt override
        """Carry the dragged visit's series key."""
        data = QMimeData()
        if items:
            data.setData(SERIES_MIME, str(items[0].data(KEY_ROLE)).encode("utf-8"))
        return data

    def mimeTypes(self) -> list[str]:  # noqa: N802 - Qt override
        """The drag type views accept."""
        return [SERIES_MIME]
