"""Run slow work (folder scans, series loading) off the GUI thread, with progress and cancel.

A :class:`TaskRunner` runs one kind of task at a time: starting a new one cancels the previous,
and every result carries its task id so a late answer from a superseded task is dropped.

An unexpected failure is logged for diagnosis with its type and where in the code it happened,
never its message: messages name files, and a file's path often holds a patient's name
(RELIABILITY D36). The message itself goes to the reader, who opened the file.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from viewer.core.progress import CancelCheck, ProgressCallback
from viewer.errors import IntervalError, OperationCancelled

log = logging.getLogger(__name__)

Work = Callable[[ProgressCallback, CancelCheck], Any]
"""``work(progress, cancelled) -> result``; raises ``OperationCancelled`` when cancelled."""

PROGRESS_INTERVAL_S = 0.05
"""Progress is forwarded to the GUI at most this often (the last step always is)."""

_task_ids = itertools.count(1)


class _TaskSignals(QObject):
    """Carries a worker's outcome to the GUI thread (queued across threads by Qt)."""

    progress = Signal(int, int, int, str)  # task id, done, total, message
    succeeded = Signal(int, object)
    failed = Signal(int, str)
    cancelled = Signal(int)


def readable_error(exc: BaseException) -> str:
    """Turn an exception into a message for a user: no traceback, the file and the problem."""
    if isinstance(exc, IntervalError):
        return str(exc)
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror or exc}"
    return f"Unexpected problem ({type(exc).__name__}: {exc}). Please report it."


def code_trace(exc: BaseException) -> str:
    """An exception's type and the code it went through (files, lines, functions), no message.

    Enough to find a bug, and nothing of the data it failed on. Chained causes are included.
    """
    parts = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        frames = traceback.extract_tb(current.__traceback__)
        where = "".join(f"\n  {frame.filename}:{frame.lineno} in {frame.name}" for frame in frames)
        parts.append(f"{type(current).__module__}.{type(current).__qualname__}{where}")
        current = current.__cause__ or current.__context__
    return "\ncaused by ".join(parts)


class _Task(QRunnable):
    def __init__(self, task_id: int, work: Work, signals: _TaskSignals) -> None:
        super().__init__()
        self.task_id = task_id
        self.work = work
        self.signals = signals
        self.cancel_event = threading.Event()
        self._last_progress = 0.0

    def _progress(self, done: int, total: int, message: str) -> None:
        now = time.monotonic()
        if done >= total or now - self._last_progress >= PROGRESS_INTERVAL_S:
            self._last_progress = now
            self.signals.progress.emit(self.task_id, done, total, message)

    def run(self) -> None:
        try:
            result = self.work(self._progress, self.cancel_event.is_set)
        except OperationCancelled:
            self.signals.cancelled.emit(self.task_id)
        except Exception as exc:  # a worker must report every failure, never die silently
            if not isinstance(exc, IntervalError | OSError):
                log.error("task %d failed unexpectedly: %s", self.task_id, code_trace(exc))
            self.signals.failed.emit(self.task_id, readable_error(exc))
        else:
            if self.cancel_event.is_set():
                self.signals.cancelled.emit(self.task_id)
            else:
                self.signals.succeeded.emit(self.task_id, result)


class TaskRunner(QObject):
    """Runs tasks of one kind in a thread pool, one at a time as far as results go.

    Signals
    -------
    progress(int, int, str)
        done, total (0 if unknown), message of the current task.
    succeeded(object, object)
        context given to :meth:`start`, result.
    failed(object, str)
        context, readable message.
    cancelled(object)
        context.
    busy_changed(bool)
    """

    progress = Signal(int, int, str)
    succeeded = Signal(object, object)
    failed = Signal(object, str)
    cancelled = Signal(object)
    busy_changed = Signal(bool)

    def __init__(self, pool: QThreadPool, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = pool
        self._signals = _TaskSignals(self)
        self._signals.progress.connect(self._on_progress)
        self._signals.succeeded.connect(self._on_succeeded)
        self._signals.failed.connect(self._on_failed)
        self._signals.cancelled.connect(self._on_cancelled)
        self._current: _Task | None = None
        self._context: Any = None
        self._running: dict[int, _Task] = {}

    @property
    def busy(self) -> bool:
        """Return whether a task's result is awaited."""
        return self._current is not None

    @property
    def context(self) -> Any:
        """Return the context of the awaited task (None when idle)."""
        return self._context if self._current is not None else None

    def start(self, work: Work, context: Any = None) -> int:
        """Run ``work`` in the pool, cancelling (and ignoring) any previous task; return its id."""
        self.cancel()
        task = _Task(next(_task_ids), work, self._signals)
        task.setAutoDelete(False)  # Python keeps the reference until the task reports back
        self._running[task.task_id] = task
        self._current, self._context = task, context
        self._pool.start(task)
        self.busy_changed.emit(True)
        return task.task_id

    def cancel(self) -> None:
        """Ask the current task to stop; it reports ``cancelled`` unless already finished."""
        task, context = self._current, self._context
        if task is None:
            return
        task.cancel_event.set()
        self._current, self._context = None, None
        self.cancelled.emit(context)
        self.busy_changed.emit(False)

    def cancel_all(self) -> None:
        """Ask every running task to stop (on closing)."""
        self.cancel()
        for task in self._running.values():
            task.cancel_event.set()

    def _take(self, task_id: int) -> bool:
        """Forget a finished task; return whether it is the awaited one."""
        self._running.pop(task_id, None)
        if self._current is None or self._current.task_id != task_id:
            return False
        self._current = None
        self.busy_changed.emit(False)
        return True

    def _on_progress(self, task_id: int, done: int, total: int, message: str) -> None:
        if self._current is not None and self._current.task_id == task_id:
            self.progress.emit(done, total, message)

    def _on_succeeded(self, task_id: int, result: object) -> None:
        context = self._context
        if self._take(task_id):
            self.succeeded.emit(context, result)

    def _on_failed(self, task_id: int, message: str) -> None:
        context = self._context
        if self._take(task_id):
            self.failed.emit(context, message)

    def _on_cancelled(self, task_id: int) -> None:
        context = self._context
        if self._take(task_id):
            self.cancelled.emit(context)
