"""Opening DIMSE associations (pynetdicom) and turning every way they fail into a clear message.

Every socket Interval opens, and every socket its storage SCP accepts, gets ``TCP_NODELAY``
(through pynetdicom's ``EVT_CONN_OPEN`` hook): without it Nagle's algorithm and delayed
acknowledgements hold each small DIMSE message back by ~40 ms, about 44 ms per image.

Failures become :mod:`viewer.pacs.errors` exceptions naming the server: nothing listening,
no answer in time, the association refused (and why: our AE title unknown, the server's AE
title wrong, busy), the connection lost mid-operation. pynetdicom reports these only as an
aborted association, so a :class:`_Monitor` records whether the connection opened and when the
server last answered (each response and each arriving instance touches it), which tells a
timeout from a lost connection.
"""

from __future__ import annotations

import itertools
import socket
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydicom.dataset import Dataset
from pydicom.uid import UID
from pynetdicom import AE, evt
from pynetdicom.association import Association
from pynetdicom.pdu import A_ASSOCIATE_RJ
from pynetdicom.presentation import PresentationContext

from viewer.pacs.config import LocalNode, Server
from viewer.pacs.errors import AssociationRejectedError, PacsError, PacsTimeoutError

_THREAD_JOIN_S = 5.0
"""How long closing waits for pynetdicom's threads of a finished association."""
_TIMEOUT_MARGIN = 0.9
"""A silence this fraction of the timeout long counts as the timeout (timers are not exact)."""

_REJECTION_REASONS = {
    (1, 2): "the server does not support the DICOM application context",
    (1, 3): "the server does not accept Interval's AE title '{calling}' (register Interval's AE "
    "title, address and port on the server)",
    (1, 7): "the server's AE title is not '{called}' (check the AE title in the server settings)",
    (2, 2): "the server does not support the DICOM protocol version",
    (3, 1): "the server is busy (temporary congestion); try again later",
    (3, 2): "the server has reached its limit of simultaneous connections; try again later",
}

Handler = tuple[Any, Callable[..., Any]]


def set_nodelay(event: evt.Event) -> None:
    """``EVT_CONN_OPEN`` handler: send small DIMSE messages at once (TCP_NODELAY)."""
    sock = event.assoc.dul.socket
    if sock is not None and sock.socket is not None:
        sock.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


@dataclass
class _Monitor:
    """What happened on one association's connection."""

    started: float = field(default_factory=time.monotonic)
    connected: bool = False
    last_activity: float = field(default_factory=time.monotonic)
    rejection: tuple[int, int] | None = None
    """(source, reason) of an A-ASSOCIATE-RJ the server sent."""
    sockets: list[socket.socket] = field(default_factory=list)

    def on_open(self, event: evt.Event) -> None:
        set_nodelay(event)
        self.sockets.append(event.assoc.dul.socket.socket)
        self.connected = True
        self.last_activity = time.monotonic()

    def on_pdu(self, event: evt.Event) -> None:
        # pynetdicom can miss a rejection: when the server closes the connection right after
        # its A-ASSOCIATE-RJ, the association may end as aborted with the RJ unread
        if isinstance(event.pdu, A_ASSOCIATE_RJ):
            self.rejection = (int(event.pdu.source), int(event.pdu.reason_diagnostic))

    def touch(self) -> None:
        """The server just answered."""
        self.last_activity = time.monotonic()

    def silent_for(self) -> float:
        """Seconds since the server last answered (or since the attempt started)."""
        return time.monotonic() - self.last_activity

    def close_sockets(self, assoc: Association) -> None:
        """Close the connection's socket once the association is over.

        pynetdicom shuts a socket down before closing it and skips the close when the shutdown
        fails, as it does after the server reset the connection (killed mid-transfer).
        """
        if assoc.is_alive():
            assoc.join(_THREAD_JOIN_S)
        for sock in self.sockets:
            sock.close()
        self.sockets.clear()


class Link:
    """One established association with a server.

    Use :func:`open_link`; close with :meth:`close` (or as a context manager).
    """

    def __init__(self, server: Server, assoc: Association, monitor: _Monitor) -> None:
        self.server = server
        self.assoc = assoc
        self._monitor = monitor
        self._message_ids = itertools.count(1)

    def __enter__(self) -> Link:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def touch(self) -> None:
        """Note that the server just answered (a response, an arriving instance)."""
        self._monitor.touch()

    def next_message_id(self) -> int:
        """A fresh DIMSE message ID for this association (1-65535)."""
        return (next(self._message_ids) - 1) % 65535 + 1

    def context_id(self, abstract_syntax: str) -> int:
        """The accepted presentation context of an SCU service (for C-CANCEL).

        Raises
        ------
        PacsError
            The server did not accept it.
        """
        for context in self.assoc.accepted_contexts:
            if context.abstract_syntax == abstract_syntax and context.as_scu:
                return int(context.context_id)
        raise PacsError(f"{self.server.describe()} does not offer {_name(abstract_syntax)}")

    def require(self, abstract_syntax: str, what: str) -> None:
        """Raise unless the server accepted ``abstract_syntax`` (``what``: e.g. "C-GET").

        Raises
        ------
        PacsError
        """
        if not any(
            c.abstract_syntax == abstract_syntax and c.as_scu for c in self.assoc.accepted_contexts
        ):
            raise PacsError(
                f"{self.server.describe()} does not offer {what} ({_name(abstract_syntax)})"
            )

    def lost(self, doing: str) -> PacsError:
        """The error for a request that got no answer: a timeout or a lost connection.

        Parameters
        ----------
        doing : str
            What was under way, e.g. "retrieving series S7 MR AX T1".
        """
        if self._monitor.silent_for() >= _TIMEOUT_MARGIN * self.server.timeout_s:
            return PacsTimeoutError(
                f"{self.server.describe()} did not answer within {self.server.timeout_s:g} s "
                f"while {doing} (timeout)"
            )
        return PacsError(f"{self.server.describe()} closed the connection while {doing}")

    def close(self) -> None:
        """Release the association (abort it if the server does not answer the release)."""
        if self.assoc.is_established:
            self.assoc.release()
        if self.assoc.is_established:
            self.assoc.abort()
        self._monitor.close_sockets(self.assoc)


def build_ae(local: LocalNode, server: Server) -> AE:
    """An application entity with our AE title and the server's timeouts (seconds)."""
    ae = AE(ae_title=local.ae_title)
    ae.acse_timeout = server.timeout_s
    ae.dimse_timeout = server.timeout_s
    ae.network_timeout = server.timeout_s
    ae.connection_timeout = server.timeout_s
    return ae


def open_link(
    server: Server,
    local: LocalNode,
    contexts: Sequence[PresentationContext],
    *,
    ext_neg: Iterable[Any] = (),
    handlers: Iterable[Handler] = (),
) -> Link:
    """Open an association with a DIMSE server.

    Parameters
    ----------
    server : Server
    local : LocalNode
        Our calling AE title.
    contexts : sequence of PresentationContext
        What to propose (at most 128).
    ext_neg : iterable
        Extended negotiation items (SCP/SCU role selection for C-GET).
    handlers : iterable of (event, callable)
        Extra pynetdicom event handlers (e.g. ``EVT_C_STORE``).

    Returns
    -------
    Link

    Raises
    ------
    PacsError
        Nothing listens at host:port, or the server closed the connection.
    PacsTimeoutError
        The server did not connect or answer within ``server.timeout_s``.
    AssociationRejectedError
        The server refused (the message says why).
    """
    probe_connection(server)
    ae = build_ae(local, server)
    for context in contexts:
        ae.add_requested_context(context.abstract_syntax, context.transfer_syntax)
    monitor = _Monitor()
    events = [(evt.EVT_CONN_OPEN, monitor.on_open), (evt.EVT_PDU_RECV, monitor.on_pdu), *handlers]
    try:
        assoc = ae.associate(
            server.host,
            server.port,
            ae_title=server.ae_title,
            ext_neg=list(ext_neg),
            evt_handlers=events,
        )
    except (OSError, ValueError, RuntimeError) as exc:
        raise PacsError(f"{server.describe()}: cannot start the association ({exc})") from exc
    if assoc.is_established:
        assoc.unbind(evt.EVT_PDU_RECV, monitor.on_pdu)  # only the negotiation matters
        return Link(server, assoc, monitor)
    failure = association_failure(server, local, assoc, monitor)
    monitor.close_sockets(assoc)
    raise failure


def probe_connection(server: Server) -> None:
    """Check something listens at the server's host and port before associating.

    pynetdicom leaks its socket when the connection fails (it shuts down an unconnected socket
    and skips closing it), so a refused or unreachable server is found here instead, which also
    names the network's reason.

    Raises
    ------
    PacsError
        Refused, unreachable, or an unknown host name.
    PacsTimeoutError
        No connection within ``server.timeout_s``.
    """
    where = server.describe()
    try:
        with socket.create_connection((server.host, server.port), timeout=server.timeout_s):
            pass
    except TimeoutError as exc:
        raise PacsTimeoutError(
            f"{where}: no connection to {server.host}:{server.port} within "
            f"{server.timeout_s:g} s (is the host reachable?)"
        ) from exc
    except socket.gaierror as exc:
        raise PacsError(f"{where}: unknown host '{server.host}' ({exc.strerror})") from exc
    except ConnectionRefusedError as exc:
        raise PacsError(
            f"{where}: cannot connect, nothing answers at {server.host}:{server.port} (is the "
            f"server running, and are the host and port right?)"
        ) from exc
    except OSError as exc:
        raise PacsError(
            f"{where}: cannot connect to {server.host}:{server.port} ({exc.strerror or exc})"
        ) from exc


def association_failure(
    server: Server, local: LocalNode, assoc: Association, monitor: _Monitor
) -> PacsError:
    """The error for an association that was not established."""
    where = server.describe()
    elapsed = time.monotonic() - monitor.started
    if not monitor.connected:
        if elapsed >= _TIMEOUT_MARGIN * server.timeout_s:
            return PacsTimeoutError(
                f"{where}: no connection to {server.host}:{server.port} within "
                f"{server.timeout_s:g} s (is the host reachable?)"
            )
        return PacsError(
            f"{where}: cannot connect, nothing answers at {server.host}:{server.port} (is the "
            f"server running, and are the host and port right?)"
        )
    if assoc.is_rejected or monitor.rejection is not None:
        source, diagnostic = monitor.rejection or (
            int(assoc.acceptor.primitive.result_source),
            int(assoc.acceptor.primitive.diagnostic),
        )
        reason = _REJECTION_REASONS.get(
            (source, diagnostic), f"rejection source {source}, reason {diagnostic}"
        ).format(calling=local.ae_title, called=server.ae_title)
        return AssociationRejectedError(f"{where} refused the association: {reason}")
    if elapsed >= _TIMEOUT_MARGIN * server.timeout_s:
        return PacsTimeoutError(
            f"{where} accepted the connection but did not answer the association request within "
            f"{server.timeout_s:g} s (timeout; is it a DICOM server?)"
        )
    return PacsError(f"{where} closed the connection during the association request")


def status_code(status: Dataset | None) -> int | None:
    """The DIMSE status of a response, None when there was no response."""
    if status is None:
        return None
    value = status.get("Status")
    return None if value is None else int(value)


def status_text(status: Dataset, table: dict[int, tuple[str, str]]) -> str:
    """A status for a message: ``0xA801 Move destination unknown``, with the server's comment."""
    code = int(status.Status)
    text = f"0x{code:04X} {table.get(code, ('', 'unknown status'))[1]}"
    comment = str(status.get("ErrorComment", "") or "").strip()
    return f"{text} ({comment})" if comment else text


def _name(uid: str) -> str:
    return UID(uid).name
