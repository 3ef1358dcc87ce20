"""DICOMweb with dicomweb-client: QIDO-RS search, WADO-RS retrieve, STOW-RS store.

The same operations, results, local store and completeness rules as :mod:`viewer.pacs.dimse`:
QIDO-RS lists a series' instances (what "complete" means), WADO-RS streams them into the store,
and HTTP and network failures become :mod:`viewer.pacs.errors` exceptions naming the server.

Query strings keep the DICOM wildcards ``*`` and ``?`` literal (RFC 3986 allows both in a query):
Orthanc 1.10 (Debian 12) does not decode percent-escapes in query parameters, so ``DEMO%2A``
would match nothing there. Other characters are still escaped, so on that Orthanc a name with
``^`` or a space cannot be searched over DICOMweb; ``DEMO*`` works everywhere. Searches take
the server's single answer: paging with ``offset`` loops forever on that Orthanc (it ignores
the offset of some searches), and it returns every match unless configured with a limit.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import requests
from dicomweb_client.api import DICOMwebClient
from pydicom.dataset import Dataset

from viewer.core.progress import CancelCheck, ProgressCallback, Reporter
from viewer.errors import OperationCancelled
from viewer.pacs.config import Server
from viewer.pacs.dimse import read_for_sending
from viewer.pacs.errors import PacsError, PacsTimeoutError
from viewer.pacs.query import (
    SERIES_RETURN_KEYS,
    STUDY_RETURN_KEYS,
    SearchQuery,
    SeriesResult,
    StudyResult,
    is_uid,
    listed_series,
    matches,
    series_from_dataset,
    study_from_dataset,
)
from viewer.pacs.retrieve import SeriesCallback, Tick, run_retrieval
from viewer.pacs.store import LocalStore, SeriesWriter, StoredSeries

T = TypeVar("T")
_LITERAL_IN_QUERY = {"%2A": "*", "%3F": "?"}
_AS_STORED = (("application/dicom", "*"),)
"""WADO-RS media type: instances in the transfer syntax the server stores them in (no
transcoding; Interval decodes every compression it is likely to meet)."""


class _WildcardSession(requests.Session):
    """A session that sends ``*`` and ``?`` in query strings unescaped (see the module doc)."""

    def prepare_request(self, request: requests.Request) -> requests.PreparedRequest:
        prepared = super().prepare_request(request)
        if prepared.url and "?" in prepared.url:
            base, query = prepared.url.split("?", 1)
            for escaped, literal in _LITERAL_IN_QUERY.items():
                query = query.replace(escaped, literal).replace(escaped.lower(), literal)
            prepared.url = f"{base}?{query}"
        return prepared


class DicomWebClient:
    """Talk to one DICOMweb service.

    Parameters
    ----------
    server : Server
        A ``protocol="dicomweb"`` server (validated here).
    """

    def __init__(self, server: Server) -> None:
        self.server = server.validated()
        if self.server.protocol != "dicomweb":
            raise ValueError(f"{self.server.describe()} is not a DICOMweb server")
        self._session = _WildcardSession()
        self._client = DICOMwebClient(
            self.server.dicomweb_url, session=self._session, timeout=self.server.timeout_s
        )
        # a failure is reported at once; the user decides whether to try again
        self._client.set_http_retry_params(retry=False)

    def __enter__(self) -> DicomWebClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the kept-alive HTTP connections (the client stays usable)."""
        self._session.close()

    def echo(self) -> None:
        """Check the service answers a QIDO-RS search.

        Raises
        ------
        PacsError, PacsTimeoutError
        """
        self._call("answering a search", lambda: self._client.search_for_studies(limit=1))

    def find_studies(self, query: SearchQuery) -> list[StudyResult]:
        """QIDO-RS study search: the studies matching ``query`` (by date, then patient).

        Raises
        ------
        viewer.pacs.errors.ServerConfigError
        PacsError, PacsTimeoutError
        """
        query = query.validated()
        filters = {
            "PatientID": query.patient_id,
            "PatientName": query.patient_name,
            "StudyDate": query.date_range(),
            "ModalitiesInStudy": query.modality,
        }
        items = self._call(
            "searching for studies",
            lambda: self._client.search_for_studies(
                fields=list(STUDY_RETURN_KEYS),
                search_filters={k: v for k, v in filters.items() if v},
            ),
        )
        studies = {}
        for item in items:
            study = study_from_dataset(Dataset.from_json(item))
            if is_uid(study.study_uid) and matches(study, query):
                studies[study.study_uid] = study
        return sorted(studies.values(), key=lambda s: (str(s.study_date), s.patient_id))

    def find_series(self, study_uids: Sequence[str]) -> list[SeriesResult]:
        """QIDO-RS series search: every series of the given studies, by study then number.

        Raises
        ------
        PacsError, PacsTimeoutError
        """
        found: list[SeriesResult] = []
        for study_uid in study_uids:
            items = self._call(
                "listing a study's series",
                lambda study_uid=study_uid: self._client.search_for_series(
                    study_uid, fields=list(SERIES_RETURN_KEYS)
                ),
            )
            series = [series_from_dataset(Dataset.from_json(item), study_uid) for item in items]
            found.extend(listed_series(series))
        return found

    def retrieve(
        self,
        series: Sequence[SeriesResult],
        store: LocalStore,
        *,
        progress: ProgressCallback | None = None,
        cancelled: CancelCheck | None = None,
        on_series: SeriesCallback | None = None,
    ) -> list[StoredSeries]:
        """WADO-RS: fetch series into ``store`` (see :func:`viewer.pacs.retrieve.run_retrieval`).

        Raises
        ------
        viewer.errors.OperationCancelled
        PacsError, PacsTimeoutError
        viewer.errors.SaveError
        """
        return run_retrieval(
            series,
            store,
            server=self.server.describe(),
            list_instances=self._instances,
            fetch=self._fetch,
            progress=progress,
            cancelled=cancelled,
            on_series=on_series,
        )

    def send(
        self,
        paths: Sequence[str | os.PathLike[str]],
        *,
        progress: ProgressCallback | None = None,
        cancelled: CancelCheck | None = None,
    ) -> list[str]:
        """STOW-RS the given DICOM files, one request per file (only on an explicit request).

        Returns
        -------
        list of str
            The SOP Instance UIDs the service stored.

        Raises
        ------
        viewer.errors.UnreadableFileError
            A file is not DICOM (nothing is sent).
        PacsError
            The service refused a file; files before it were stored.
        PacsTimeoutError
        viewer.errors.OperationCancelled
        """
        reporter = Reporter(progress, cancelled)
        datasets = [(Path(p), read_for_sending(p)) for p in paths]
        stored = []
        for done, (path, ds) in enumerate(datasets):
            reporter.step(done, len(datasets), f"Sending {path.name}")
            answer = self._call(
                f"storing {path.name}",
                lambda ds=ds: self._client.store_instances([ds], str(ds.StudyInstanceUID)),
            )
            failed = answer.get("FailedSOPSequence") or []
            if failed:
                reason = failed[0].get("FailureReason")
                raise PacsError(
                    f"{self.server.describe()} refused {path.name} (failure reason {reason})"
                )
            stored.append(str(ds.SOPInstanceUID))
        reporter.step(len(datasets), len(datasets), "Sent")
        return stored

    def _instances(self, series: SeriesResult) -> list[str]:
        items = self._call(
            f"listing the images of series {series.label()}",
            lambda: self._client.search_for_instances(
                series.study_uid, series.series_uid, fields=["SOPInstanceUID"]
            ),
        )
        uids = (Dataset.from_json(item).get("SOPInstanceUID", "") for item in items)
        return [str(uid) for uid in uids if is_uid(str(uid))]

    def _fetch(
        self, series: SeriesResult, writer: SeriesWriter, tick: Tick, cancelled: CancelCheck
    ) -> str:
        def stream() -> None:
            instances = self._client.iter_series(
                series.study_uid, series.series_uid, media_types=_AS_STORED
            )
            try:
                for ds in instances:
                    if cancelled():
                        raise OperationCancelled("cancelled by the user")
                    sop_uid = str(ds.get("SOPInstanceUID", ""))
                    if writer.expects(sop_uid) or ds.get("SeriesInstanceUID") == series.series_uid:
                        writer.write_dataset(ds)
                        tick()
            finally:
                instances.close()

        self._call(f"retrieving series {series.label()}", stream)
        return ""

    def _call(self, doing: str, action: Callable[[], T]) -> T:
        """Run one request; turn HTTP and network failures into errors naming the server."""
        try:
            return action()
        except (requests.RequestException, ValueError) as exc:
            # a connection that failed once is not reused (and its socket is closed now)
            self.close()
            raise self._readable(exc, doing) from exc

    def _readable(self, exc: Exception, doing: str) -> PacsError:
        where = self.server.describe()
        if isinstance(exc, requests.Timeout):
            return PacsTimeoutError(
                f"{where} did not answer within {self.server.timeout_s:g} s while {doing} (timeout)"
            )
        if isinstance(exc, requests.HTTPError):
            return PacsError(f"{where} failed {doing}: {_http_reason(exc.response)}")
        if isinstance(exc, requests.ConnectionError):
            return PacsError(
                f"{where}: cannot connect or the connection was lost while {doing} (is the "
                f"server running, and is the URL right?)"
            )
        if isinstance(exc, requests.RequestException):
            return PacsError(f"{where} failed {doing}: {exc}")
        # a multipart answer cut short, or not DICOM
        return PacsError(f"{where} sent an unreadable answer while {doing} ({exc})")


def _http_reason(response: Any) -> str:
    code = getattr(response, "status_code", None)
    reasons = {
        401: "it asks for a login (HTTP 401)",
        403: "access refused (HTTP 403)",
        404: "not found (HTTP 404): is the DICOMweb URL right?",
    }
    return reasons.get(code, f"HTTP {code} {getattr(response, 'reason', '')}".strip())
