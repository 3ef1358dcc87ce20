"""One entry point for both protocols: a client for a configured server."""

from __future__ import annotations

from viewer.pacs.config import LocalNode, Server
from viewer.pacs.dicomweb import DicomWebClient
from viewer.pacs.dimse import DimseClient

PacsClient = DimseClient | DicomWebClient
"""Both offer ``echo``, ``find_studies``, ``find_series``, ``retrieve``, ``send`` and ``close``
(and work as context managers)."""


def connect(server: Server, local: LocalNode) -> PacsClient:
    """The client for ``server`` (DIMSE or DICOMweb, as configured); nothing is sent yet.

    Raises
    ------
    viewer.pacs.errors.ServerConfigError
        The server's or the local node's settings are invalid.
    """
    if server.validated().protocol == "dicomweb":
        return DicomWebClient(server)
    return DimseClient(server, local)
