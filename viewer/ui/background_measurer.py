"""Runs Tracking's measurements in a worker, one after another, so the window never waits."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, QThreadPool

from viewer.state.tracking import Tracking
from viewer.ui.workers import TaskRunner


class BackgroundMeasurer(QObject):
    """Becomes ``tracking.background``: queues each series' measurement and runs them in turn.

    Measuring a 256^3 label map takes about 0.1 s; a case with several outlined visits would
    stall the event loop if it ran on the GUI thread. One task at a time, so none cancels another.
    """

    def __init__(self, tracking: Tracking, pool: QThreadPool, parent: QObject | None = None):
        super().__init__(parent)
        self.tracking = tracking
        self.runner = TaskRunner(pool, self)
        self._queue: list[tuple[str, Callable[[], object]]] = []
        self.runner.succeeded.connect(self._on_measured)
        self.runner.failed.connect(self._on_failed)
        self.runner.cancelled.connect(self._on_failed)
        tracking.background = self.submit

    def submit(self, key: str, work: Callable[[], object]) -> None:
        """Queue the measurement of one series."""
        self._queue.append((key, work))
        if not self.runner.busy:
            self._next()

    def _next(self) -> None:
        if self._queue:
            key, work = self._queue.pop(0)
            self.runner.start(lambda progress, cancelled: work(), context=key)

    def _on_measured(self, _: object, result: object) -> None:
        self.tracking.take_result(result)  # type: ignore[arg-type]
        self._next()

    def _on_failed(self, key: object, *_: object) -> None:
        self.tracking.drop_request(str(key))
        self._next()
