"""The errors a PACS conversation can end in; each message names the server and the problem.

They subclass :class:`viewer.errors.IntervalError` (so the UI shows them as readable messages)
and the built-in a caller unaware of Interval would catch: a network problem is a
``ConnectionError``, a server that stops answering a ``TimeoutError``, a bad setting a
``ValueError``.
"""

from __future__ import annotations

from viewer.errors import IntervalError


class PacsError(IntervalError, ConnectionError):
    """The server cannot be reached, refuses us, or fails a request."""


class PacsTimeoutError(PacsError, TimeoutError):
    """The server did not answer within the configured time."""


class AssociationRejectedError(PacsError):
    """The server refused the association (unknown AE title, too busy...)."""


class ServerConfigError(IntervalError, ValueError):
    """A server setting is invalid (AE title, host, port, URL); the message says which and why."""
