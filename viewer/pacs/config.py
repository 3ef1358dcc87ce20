"""Which PACS servers the user talks to, and as whom: validated, saved in the user's config folder.

A :class:`Server` is either a DIMSE node (its AE title, host and port; retrieved with C-GET or
with C-MOVE to Interval's own storage SCP) or a DICOMweb service (its base URL). The
:class:`LocalNode` is Interval itself: the calling AE title every server must know, and the port
and address its storage SCP listens on during a C-MOVE. The settings live in
``$XDG_CONFIG_HOME/Interval/pacs.json`` (by default ``~/.config/Interval/pacs.json``), written
atomically.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from viewer.io.atomic import save_error, write_bytes_atomic
from viewer.pacs.errors import ServerConfigError

Protocol = Literal["dimse", "dicomweb"]
RetrieveMethod = Literal["C-GET", "C-MOVE"]
PROTOCOLS: tuple[str, ...] = ("dimse", "dicomweb")
RETRIEVE_METHODS: tuple[str, ...] = ("C-GET", "C-MOVE")
SETTINGS_VERSION = 1
_AE_TITLE_MAX = 16
_HOST = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[0-9A-Za-z.:_-]+)$")
_TIMEOUT_RANGE_S = (1.0, 600.0)


@dataclass(frozen=True)
class Server:
    """One PACS as the user configured it.

    Parameters
    ----------
    name : str
        The user's name for it, unique among the servers (shown in lists and in every message).
    protocol : {"dimse", "dicomweb"}
    ae_title : str
        DIMSE: the server's (called) AE title, 1-16 characters of printable ASCII, no backslash.
    host : str
        DIMSE: host name or IP address.
    port : int
        DIMSE: TCP port, 1-65535.
    retrieve_method : {"C-GET", "C-MOVE"}
        DIMSE: how series are fetched. C-MOVE needs the server to know Interval's AE title,
        address and storage port (:class:`LocalNode`).
    dicomweb_url : str
        DICOMweb: the service's base URL (``http://host:8042/dicom-web``).
    timeout_s : float
        Seconds to wait for any answer before giving up, 1-600.
    """

    name: str
    protocol: Protocol = "dimse"
    ae_title: str = ""
    host: str = ""
    port: int = 104
    retrieve_method: RetrieveMethod = "C-GET"
    dicomweb_url: str = ""
    timeout_s: float = 30.0

    def validated(self) -> Server:
        """Return the server with trimmed fields, or raise on the first invalid one.

        Raises
        ------
        ServerConfigError
            The message names the server, the field and what is wrong.
        """
        name = self.name.strip()
        if not name:
            raise ServerConfigError("a server needs a name")
        server = replace(
            self,
            name=name,
            ae_title=self.ae_title.strip(),
            host=self.host.strip(),
            dicomweb_url=self.dicomweb_url.strip().rstrip("/"),
        )
        where = f"server '{name}'"
        if server.protocol not in PROTOCOLS:
            raise ServerConfigError(f"{where}: protocol must be one of {', '.join(PROTOCOLS)}")
        _check_timeout(server.timeout_s, where)
        if server.protocol == "dicomweb":
            _check_url(server.dicomweb_url, where)
            return server
        check_ae_title(server.ae_title, f"{where}: AE title")
        _check_host(server.host, where)
        check_port(server.port, f"{where}: port")
        if server.retrieve_method not in RETRIEVE_METHODS:
            raise ServerConfigError(
                f"{where}: retrieve method must be one of {', '.join(RETRIEVE_METHODS)}"
            )
        return server

    def describe(self) -> str:
        """How messages name the server: ``'Name' (AE@host:port)`` or ``'Name' (URL)``.

        Examples
        --------
        >>> Server("Local", ae_title="ORTHANC", host="127.0.0.1", port=4242).describe()
        "'Local' (ORTHANC@127.0.0.1:4242)"
        """
        if self.protocol == "dicomweb":
            return f"'{self.name}' ({self.dicomweb_url})"
        return f"'{self.name}' ({self.ae_title}@{self.host}:{self.port})"


@dataclass(frozen=True)
class LocalNode:
    """Interval on the network.

    Parameters
    ----------
    ae_title : str
        Our calling AE title (and the C-MOVE destination); servers must know it.
    storage_port : int
        The port our storage SCP listens on while a C-MOVE runs.
    listen_address : str
        The address the storage SCP binds to: loopback by default (a PACS on this computer);
        this computer's address on the network for a remote PACS.
    """

    ae_title: str = "INTERVAL"
    storage_port: int = 11112
    listen_address: str = "127.0.0.1"

    def validated(self) -> LocalNode:
        """Return the node with trimmed fields, or raise on the first invalid one.

        Raises
        ------
        ServerConfigError
        """
        node = replace(
            self, ae_title=self.ae_title.strip(), listen_address=self.listen_address.strip()
        )
        check_ae_title(node.ae_title, "Interval's own AE title")
        check_port(node.storage_port, "Interval's storage port")
        _check_host(node.listen_address, "Interval's listen address")
        return node


@dataclass(frozen=True)
class PacsSettings:
    """Interval's node and the configured servers (names unique)."""

    local: LocalNode = field(default_factory=LocalNode)
    servers: tuple[Server, ...] = ()

    def validated(self) -> PacsSettings:
        """Return the settings with every part validated.

        Raises
        ------
        ServerConfigError
            An invalid field, or two servers with the same name.
        """
        servers = tuple(server.validated() for server in self.servers)
        names = [server.name.casefold() for server in servers]
        for server in servers:
            if names.count(server.name.casefold()) > 1:
                raise ServerConfigError(f"two servers are named '{server.name}'")
        return PacsSettings(self.local.validated(), servers)

    def server(self, name: str) -> Server:
        """The server called ``name``.

        Raises
        ------
        ServerConfigError
            No such server (the message lists the known ones).
        """
        for server in self.servers:
            if server.name.casefold() == name.strip().casefold():
                return server
        known = ", ".join(f"'{s.name}'" for s in self.servers) or "none configured"
        raise ServerConfigError(f"no PACS server named '{name}' (known: {known})")

    def with_server(self, server: Server, *, replacing: str | None = None) -> PacsSettings:
        """A copy with ``server`` added, or in place of the server named ``replacing``.

        Raises
        ------
        ServerConfigError
            ``server`` is invalid or its name is taken by another server.
        """
        server = server.validated()
        kept = [s for s in self.servers if replacing is None or s.name != replacing]
        if any(s.name.casefold() == server.name.casefold() for s in kept):
            raise ServerConfigError(f"a server named '{server.name}' already exists")
        if replacing is None:
            return replace(self, servers=(*kept, server))
        ordered = [server if s.name == replacing else s for s in self.servers]
        return replace(self, servers=tuple(ordered))

    def without_server(self, name: str) -> PacsSettings:
        """A copy without the server called ``name`` (unchanged if there is none)."""
        return replace(self, servers=tuple(s for s in self.servers if s.name != name))


def settings_path() -> Path:
    """``$XDG_CONFIG_HOME/Interval/pacs.json`` (``~/.config/Interval/pacs.json`` by default)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "Interval" / "pacs.json"


def load_settings(path: Path | None = None) -> PacsSettings:
    """Read the settings; defaults (no server) when the file does not exist yet.

    Raises
    ------
    ServerConfigError
        The file is unreadable, not JSON, of another version, or holds an invalid server
        (the message names the file).
    """
    path = path or settings_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return PacsSettings()
    except OSError as exc:
        raise ServerConfigError(f"cannot read the PACS settings ({exc.strerror})", path) from exc
    try:
        data = json.loads(text)
        if data.get("version") != SETTINGS_VERSION:
            raise ServerConfigError(
                f"PACS settings of version {data.get('version')!r}; this Interval reads "
                f"version {SETTINGS_VERSION}",
                path,
            )
        local = LocalNode(**_known(LocalNode, data.get("local", {})))
        servers = tuple(Server(**_known(Server, item)) for item in data.get("servers", []))
        return PacsSettings(local, servers).validated()
    except ServerConfigError as exc:
        raise ServerConfigError(exc.reason, path) from exc
    except (ValueError, TypeError, AttributeError) as exc:
        raise ServerConfigError(f"the PACS settings are not valid ({exc})", path) from exc


def save_settings(settings: PacsSettings, path: Path | None = None) -> Path:
    """Validate and write the settings atomically; returns the file written.

    Raises
    ------
    ServerConfigError
    viewer.errors.SaveError
    """
    settings = settings.validated()
    path = path or settings_path()
    data = {
        "version": SETTINGS_VERSION,
        "local": asdict(settings.local),
        "servers": [asdict(server) for server in settings.servers],
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(path, (json.dumps(data, indent=2) + "\n").encode("utf-8"))
    except OSError as exc:
        raise save_error(exc, path, "saving the PACS settings") from exc
    return path


def check_ae_title(value: str, what: str) -> None:
    r"""Raise unless ``value`` is a valid AE title (PS3.5 VR AE: 1-16 printable ASCII, no ``\``).

    Raises
    ------
    ServerConfigError
        Named by ``what`` (e.g. "server 'Main': AE title").

    Examples
    --------
    >>> check_ae_title("ORTHANC", "AE title")
    >>> check_ae_title("MY\\AE", "AE title")
    Traceback (most recent call last):
    ...
    viewer.pacs.errors.ServerConfigError: AE title 'MY\AE' may not contain a backslash
    """
    text = value.strip()
    if not text:
        raise ServerConfigError(f"{what} is empty")
    if len(text) > _AE_TITLE_MAX:
        raise ServerConfigError(f"{what} '{text}' is longer than {_AE_TITLE_MAX} characters")
    if "\\" in text:
        raise ServerConfigError(f"{what} '{text}' may not contain a backslash")
    if any(not (" " <= ch <= "~") for ch in text):
        raise ServerConfigError(f"{what} '{text}' may only use printable ASCII characters")


def check_port(value: object, what: str) -> None:
    """Raise unless ``value`` is an integer TCP port 1-65535.

    Raises
    ------
    ServerConfigError
    """
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise ServerConfigError(f"{what} must be a whole number from 1 to 65535, not {value!r}")


def _check_host(value: str, where: str) -> None:
    if not value:
        raise ServerConfigError(f"{where}: the host is empty")
    if len(value) > 253 or not _HOST.match(value):
        raise ServerConfigError(f"{where}: '{value}' is not a host name or IP address")


def _check_url(value: str, where: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ServerConfigError(
            f"{where}: the DICOMweb URL must start with http:// or https:// and name a host "
            f"(e.g. http://localhost:8042/dicom-web), not '{value}'"
        )


def _check_timeout(value: object, where: str) -> None:
    low, high = _TIMEOUT_RANGE_S
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ServerConfigError(f"{where}: the timeout must be {low:g}-{high:g} s, not {value!r}")


def _known(cls: type, item: dict[str, Any]) -> dict[str, Any]:
    """The entries of ``item`` that are fields of the dataclass ``cls`` (newer keys ignored)."""
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in item.items() if k in names}
