"""Progress reporting and cancellation for long operations, without any GUI dependency."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from viewer.errors import OperationCancelled

ProgressCallback = Callable[[int, int, str], None]
"""Called as ``progress(done, total, message)``; ``total`` may be 0 when unknown."""

CancelCheck = Callable[[], bool]
"""Returns True once the user has asked to cancel."""


@dataclass
class Reporter:
    """Bundles an optional progress callback and cancel check for a worker-side loop.

    Examples
    --------
    >>> seen = []
    >>> r = Reporter(lambda d, t, m: seen.append((d, t)))
    >>> r.step(1, 4, "reading")
    >>> seen
    [(1, 4)]
    """

    progress: ProgressCallback | None = None
    cancelled: CancelCheck | None = None

    def step(self, done: int, total: int, message: str = "") -> None:
        """Report progress, then raise :class:`OperationCancelled` if the user has cancelled."""
        if self.progress is not None:
            self.progress(done, total, message)
        self.check()

    def check(self) -> None:
        """Raise :class:`OperationCancelled` if the user has cancelled."""
        if self.cancelled is not None and self.cancelled():
            raise OperationCancelled("cancelled by the user")
