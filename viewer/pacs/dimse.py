"""DIMSE with pynetdicom: C-ECHO, C-FIND, C-GET, C-MOVE to Interval's storage SCP, C-STORE.

Retrieval goes series by series over one association (see :mod:`viewer.pacs.retrieve`): an
image-level C-FIND lists the series' SOP Instance UIDs (what "complete" means), then a
series-level C-GET (or C-MOVE) brings them; each arriving C-STORE is written to the store as
the bytes the server sent, without decoding them. Cancelling sends C-CANCEL and waits for the
server's final answer, so the association stays usable and nothing arrives afterwards.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import (
    JPEG2000,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)
from pynetdicom import (
    AE,
    AllStoragePresentationContexts,
    StoragePresentationContexts,
    build_context,
    build_role,
    evt,
)
from pynetdicom.events import Event
from pynetdicom.pdu_primitives import SCP_SCU_RoleSelectionNegotiation
from pynetdicom.presentation import PresentationContext
from pynetdicom.sop_class import (
    BasicTextSRStorage,
    ComprehensiveSRStorage,
    CTImageStorage,
    DeformableSpatialRegistrationStorage,
    EncapsulatedPDFStorage,
    EnhancedCTImageStorage,
    EnhancedMRImageStorage,
    EnhancedPETImageStorage,
    EnhancedSRStorage,
    GrayscaleSoftcopyPresentationStateStorage,
    KeyObjectSelectionDocumentStorage,
    LegacyConvertedEnhancedCTImageStorage,
    LegacyConvertedEnhancedMRImageStorage,
    MRImageStorage,
    MultiFrameGrayscaleByteSecondaryCaptureImageStorage,
    MultiFrameGrayscaleWordSecondaryCaptureImageStorage,
    MultiFrameTrueColorSecondaryCaptureImageStorage,
    NuclearMedicineImageStorage,
    PositronEmissionTomographyImageStorage,
    RawDataStorage,
    RTDoseStorage,
    RTStructureSetStorage,
    SecondaryCaptureImageStorage,
    SegmentationStorage,
    SpatialRegistrationStorage,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
    Verification,
)
from pynetdicom.status import (
    QR_FIND_SERVICE_CLASS_STATUS,
    QR_GET_SERVICE_CLASS_STATUS,
    QR_MOVE_SERVICE_CLASS_STATUS,
    STORAGE_SERVICE_CLASS_STATUS,
    code_to_category,
)

from viewer.core.progress import CancelCheck, ProgressCallback, Reporter
from viewer.errors import IntervalError, OperationCancelled, UnreadableFileError
from viewer.pacs.association import Link, build_ae, open_link, set_nodelay, status_code, status_text
from viewer.pacs.config import LocalNode, Server
from viewer.pacs.errors import PacsError
from viewer.pacs.part10 import file_header
from viewer.pacs.query import (
    SearchQuery,
    SeriesResult,
    StudyResult,
    is_uid,
    listed_series,
    matches,
    series_from_dataset,
    series_identifier,
    study_from_dataset,
    study_identifier,
)
from viewer.pacs.retrieve import SeriesCallback, Tick, run_retrieval
from viewer.pacs.store import LocalStore, SeriesWriter, StoredSeries

MAX_CONTEXTS = 128
"""Presentation contexts one association may propose (PS3.8: odd context IDs 1-255)."""
COMPRESSED_TRANSFER_SYNTAXES = [
    JPEGBaseline8Bit,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEG2000Lossless,
    JPEG2000,
    RLELossless,
]
"""The compressed syntaxes archives commonly store CT and MRI in."""
FIND_MODEL = StudyRootQueryRetrieveInformationModelFind
GET_MODEL = StudyRootQueryRetrieveInformationModelGet
MOVE_MODEL = StudyRootQueryRetrieveInformationModelMove

RECEIVE_TRANSFER_SYNTAXES = [
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    DeflatedExplicitVRLittleEndian,
    *COMPRESSED_TRANSFER_SYNTAXES,
    JPEGExtended12Bit,
    JPEGLossless,
    JPEGLSNearLossless,
    ExplicitVRBigEndian,
]
"""Transfer syntaxes Interval's storage SCP takes (it reads them all), uncompressed first."""

_UNCOMPRESSED = [ExplicitVRLittleEndian, ImplicitVRLittleEndian]
_AS_STORED_CLASSES = [
    CTImageStorage,
    MRImageStorage,
    EnhancedCTImageStorage,
    EnhancedMRImageStorage,
    PositronEmissionTomographyImageStorage,
]
"""Image classes offered in each compressed syntax too, so a C-GET brings them as stored."""
_FIRST_CLASSES = [
    CTImageStorage,
    MRImageStorage,
    EnhancedCTImageStorage,
    EnhancedMRImageStorage,
    LegacyConvertedEnhancedCTImageStorage,
    LegacyConvertedEnhancedMRImageStorage,
    PositronEmissionTomographyImageStorage,
    EnhancedPETImageStorage,
    NuclearMedicineImageStorage,
    SegmentationStorage,
    EncapsulatedPDFStorage,
    SecondaryCaptureImageStorage,
    MultiFrameGrayscaleByteSecondaryCaptureImageStorage,
    MultiFrameGrayscaleWordSecondaryCaptureImageStorage,
    MultiFrameTrueColorSecondaryCaptureImageStorage,
    RTStructureSetStorage,
    RTDoseStorage,
    SpatialRegistrationStorage,
    DeformableSpatialRegistrationStorage,
    GrayscaleSoftcopyPresentationStateStorage,
    BasicTextSRStorage,
    EnhancedSRStorage,
    ComprehensiveSRStorage,
    KeyObjectSelectionDocumentStorage,
    RawDataStorage,
]
"""Storage classes offered first for C-GET; the rest of pynetdicom's common list fills the 128
presentation contexts an association may propose."""


def get_contexts() -> tuple[list[PresentationContext], list[SCP_SCU_RoleSelectionNegotiation]]:
    """Presentation contexts and SCP roles for a C-GET association (at most 128 contexts).

    C-FIND and C-GET, then the image classes of :data:`_AS_STORED_CLASSES` once per compressed
    syntax (the server picks, per instance, a context in the syntax it stores it in), then
    storage classes uncompressed. An instance whose syntax is not accepted is transcoded by the
    server to an uncompressed one.
    """
    contexts = [build_context(FIND_MODEL), build_context(GET_MODEL)]
    for sop_class in _AS_STORED_CLASSES:
        for syntax in COMPRESSED_TRANSFER_SYNTAXES:
            contexts.append(build_context(sop_class, [syntax]))
    common = [context.abstract_syntax for context in StoragePresentationContexts]
    for sop_class in dict.fromkeys([*_FIRST_CLASSES, *common]):
        if len(contexts) == MAX_CONTEXTS:
            break
        contexts.append(build_context(sop_class, _UNCOMPRESSED))
    storage = dict.fromkeys(c.abstract_syntax for c in contexts[2:])
    return contexts, [build_role(sop_class, scp_role=True) for sop_class in storage]


_PENDING = (0xFF00, 0xFF01)
_SUCCESS = 0x0000
_CANCEL = 0xFE00
_SUBOPERATIONS_FAILED = 0xB000
_MOVE_DESTINATION_UNKNOWN = 0xA801
_STORE_OUT_OF_RESOURCES = 0xA700
_STORE_REFUSED = 0xC000
"""Answer to a C-STORE of an instance that is not of the series being fetched ("cannot
understand": Interval stores only what it asked for)."""


class DimseClient:
    """Talk to one DIMSE server as Interval's local node.

    Parameters
    ----------
    server : Server
        A ``protocol="dimse"`` server (validated here).
    local : LocalNode
    """

    def __init__(self, server: Server, local: LocalNode) -> None:
        self.server = server.validated()
        self.local = local.validated()
        if self.server.protocol != "dimse":
            raise ValueError(f"{self.server.describe()} is not a DIMSE server")
        self._receiver = _Receiver(self.server.ae_title)

    def __enter__(self) -> DimseClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Nothing to release: each operation opens and closes its own association."""

    # --- verification and search ----------------------------------------------------------

    def echo(self) -> None:
        """C-ECHO: return if the server answers, raise otherwise.

        Raises
        ------
        PacsError, PacsTimeoutError, AssociationRejectedError
        """
        with open_link(self.server, self.local, [build_context(Verification)]) as link:
            status = link.assoc.send_c_echo(msg_id=link.next_message_id())
            code = status_code(status)
            if code is None:
                raise link.lost("answering C-ECHO")
            if code != _SUCCESS:
                raise PacsError(f"{self.server.describe()} answered C-ECHO with 0x{code:04X}")

    def find_studies(self, query: SearchQuery) -> list[StudyResult]:
        """Study-level C-FIND: the studies matching ``query`` (by date, then patient).

        Raises
        ------
        viewer.pacs.errors.ServerConfigError
            The query is invalid.
        PacsError, PacsTimeoutError, AssociationRejectedError
        """
        query = query.validated()
        with self._find_link() as link:
            rows = self._find(link, study_identifier(query), "searching for studies")
        studies = {}
        for row in rows:
            study = study_from_dataset(row)
            if is_uid(study.study_uid) and matches(study, query):
                studies[study.study_uid] = study
        return sorted(studies.values(), key=lambda s: (str(s.study_date), s.patient_id))

    def find_series(self, study_uids: Sequence[str]) -> list[SeriesResult]:
        """Series-level C-FIND: every series of the given studies, by study then series number.

        Raises
        ------
        PacsError, PacsTimeoutError, AssociationRejectedError
        """
        found: list[SeriesResult] = []
        with self._find_link() as link:
            for study_uid in study_uids:
                rows = self._find(link, series_identifier(study_uid), "listing a study's series")
                series = [series_from_dataset(row, study_uid) for row in rows]
                found.extend(listed_series(series))
        return found

    # --- retrieval -------------------------------------------------------------------------

    def retrieve(
        self,
        series: Sequence[SeriesResult],
        store: LocalStore,
        *,
        progress: ProgressCallback | None = None,
        cancelled: CancelCheck | None = None,
        on_series: SeriesCallback | None = None,
    ) -> list[StoredSeries]:
        """Fetch series into ``store`` with the server's retrieve method (C-GET or C-MOVE).

        See :func:`viewer.pacs.retrieve.run_retrieval` for progress, results and failures.
        C-MOVE starts Interval's storage SCP on ``local.listen_address:local.storage_port`` for
        the duration; the server must know Interval's AE title at that address and port.

        Raises
        ------
        viewer.errors.OperationCancelled
        PacsError, PacsTimeoutError, AssociationRejectedError
        viewer.errors.SaveError
        """
        move = self.server.retrieve_method == "C-MOVE"
        if move:
            contexts, roles = [build_context(FIND_MODEL), build_context(MOVE_MODEL)], []
        else:
            # C-GET brings the instances back over this association: we are their storage SCP
            contexts, roles = get_contexts()
        handlers = [] if move else [(evt.EVT_C_STORE, self._receiver.handle)]
        scp: AbstractContextManager = (
            _StorageScp(self.local, self.server, self._receiver) if move else nullcontext()
        )
        with (
            scp,
            open_link(self.server, self.local, contexts, ext_neg=roles, handlers=handlers) as link,
        ):
            link.require(FIND_MODEL, "C-FIND")
            link.require(MOVE_MODEL if move else GET_MODEL, self.server.retrieve_method)
            return run_retrieval(
                series,
                store,
                server=self.server.describe(),
                list_instances=lambda item: self._instances(link, item),
                fetch=lambda item, writer, tick, stop: self._fetch(link, item, writer, tick, stop),
                progress=progress,
                cancelled=cancelled,
                on_series=on_series,
            )

    def _fetch(
        self,
        link: Link,
        series: SeriesResult,
        writer: SeriesWriter,
        tick: Tick,
        cancelled: CancelCheck,
    ) -> str:
        identifier = Dataset()
        identifier.QueryRetrieveLevel = "SERIES"
        identifier.StudyInstanceUID = series.study_uid
        identifier.SeriesInstanceUID = series.series_uid
        message_id = link.next_message_id()
        move = self.server.retrieve_method == "C-MOVE"
        model = MOVE_MODEL if move else GET_MODEL
        table = QR_MOVE_SERVICE_CLASS_STATUS if move else QR_GET_SERVICE_CLASS_STATUS
        doing = f"retrieving series {series.label()}"
        self._receiver.start(writer, lambda: (link.touch(), tick()))
        final = None
        try:
            if move:
                responses = link.assoc.send_c_move(
                    identifier, self.local.ae_title, model, msg_id=message_id
                )
            else:
                responses = link.assoc.send_c_get(identifier, model, msg_id=message_id)
            cancel_sent = False
            for status, _ in responses:
                code = status_code(status)
                if code is None:
                    break
                link.touch()
                if code not in _PENDING:
                    final = status
                    break
                if not cancel_sent and cancelled():
                    link.assoc.send_c_cancel(message_id, link.context_id(model))
                    cancel_sent = True
        finally:
            failed_write = self._receiver.stop()
        if failed_write is not None:
            raise failed_write
        if final is None:
            raise link.lost(doing)
        code = int(final.Status)
        writer.count_reported(
            sum(
                int(final.get(keyword) or 0)
                for keyword in (
                    "NumberOfCompletedSuboperations",
                    "NumberOfFailedSuboperations",
                    "NumberOfWarningSuboperations",
                )
            )
        )
        if code == _SUCCESS:
            return ""
        if code == _CANCEL:
            raise OperationCancelled("cancelled by the user")
        if code == _MOVE_DESTINATION_UNKNOWN:
            raise PacsError(
                f"{self.server.describe()} does not know Interval's AE title "
                f"'{self.local.ae_title}' as a C-MOVE destination: register it on the server "
                f"with this computer's address and port {self.local.storage_port}"
            )
        if code == _SUBOPERATIONS_FAILED:
            failed = int(final.get("NumberOfFailedSuboperations") or 0)
            return f"the server could not send {failed} of the series' instances"
        return f"the server ended the retrieval with {status_text(final, table)}"

    def _instances(self, link: Link, series: SeriesResult) -> list[str]:
        identifier = Dataset()
        identifier.QueryRetrieveLevel = "IMAGE"
        identifier.StudyInstanceUID = series.study_uid
        identifier.SeriesInstanceUID = series.series_uid
        identifier.SOPInstanceUID = ""
        rows = self._find(
            link, identifier, f"listing the images of series {series.label()}", tolerate=True
        )
        return [uid for row in rows if is_uid(uid := str(row.get("SOPInstanceUID", "")))]

    # --- sending ---------------------------------------------------------------------------

    def send(
        self,
        paths: Sequence[str | os.PathLike[str]],
        *,
        progress: ProgressCallback | None = None,
        cancelled: CancelCheck | None = None,
    ) -> list[str]:
        """C-STORE the given DICOM files to the server (only ever on an explicit request).

        Parameters
        ----------
        paths : sequence of path-like
            DICOM files (a SEG, an encapsulated PDF...), sent as they are.

        Returns
        -------
        list of str
            The SOP Instance UIDs the server accepted.

        Raises
        ------
        viewer.errors.UnreadableFileError
            A file is not DICOM (nothing is sent).
        PacsError
            The server refused a file (the message names it and the status); files before it
            were stored.
        PacsTimeoutError, AssociationRejectedError
        viewer.errors.OperationCancelled
        """
        reporter = Reporter(progress, cancelled)
        datasets = [(Path(p), read_for_sending(p)) for p in paths]
        pairs = {(str(ds.SOPClassUID), str(ds.file_meta.TransferSyntaxUID)) for _, ds in datasets}
        if len(pairs) > 128:
            raise PacsError(f"too many kinds of files to send at once ({len(pairs)} > 128)")
        contexts = [build_context(sop_class, [syntax]) for sop_class, syntax in sorted(pairs)]
        stored = []
        with open_link(self.server, self.local, contexts) as link:
            for done, (path, ds) in enumerate(datasets):
                reporter.step(done, len(datasets), f"Sending {path.name}")
                try:
                    status = link.assoc.send_c_store(ds, msg_id=link.next_message_id())
                except ValueError as exc:  # no accepted context for its SOP class/syntax
                    raise PacsError(
                        f"{self.server.describe()} cannot take {path.name}: {exc}"
                    ) from exc
                code = status_code(status)
                if code is None:
                    raise link.lost(f"sending {path.name}")
                if code_to_category(code) not in ("Success", "Warning"):
                    raise PacsError(
                        f"{self.server.describe()} refused {path.name}: "
                        f"{status_text(status, STORAGE_SERVICE_CLASS_STATUS)}"
                    )
                stored.append(str(ds.SOPInstanceUID))
            reporter.step(len(datasets), len(datasets), "Sent")
        return stored

    # --- shared ------------------------------------------------------------------------------

    def _find_link(self) -> Link:
        return open_link(self.server, self.local, [build_context(FIND_MODEL)])

    def _find(
        self, link: Link, identifier: Dataset, doing: str, *, tolerate: bool = False
    ) -> list[Dataset]:
        """Run a C-FIND; a failure status raises (or, with ``tolerate``, gives no rows)."""
        rows = []
        for status, row in link.assoc.send_c_find(
            identifier, FIND_MODEL, msg_id=link.next_message_id()
        ):
            code = status_code(status)
            if code is None:
                raise link.lost(doing)
            link.touch()
            if code in _PENDING:
                if row is not None:
                    rows.append(row)
            elif code == _SUCCESS:
                return rows
            elif tolerate:
                return []
            else:
                raise PacsError(
                    f"{self.server.describe()} failed {doing}: "
                    f"{status_text(status, QR_FIND_SERVICE_CLASS_STATUS)}"
                )
        raise link.lost(doing)


def read_for_sending(path: str | os.PathLike[str]) -> Dataset:
    """Read a DICOM file to send (no ``force``: a file that is not DICOM is refused).

    Raises
    ------
    viewer.errors.UnreadableFileError
    """
    try:
        ds = pydicom.dcmread(path)
    except (InvalidDicomError, OSError) as exc:
        raise UnreadableFileError(f"not a DICOM file to send ({exc})", path) from exc
    meta = getattr(ds, "file_meta", None)
    if meta is None or "TransferSyntaxUID" not in meta or "SOPClassUID" not in ds:
        raise UnreadableFileError("no transfer syntax or SOP class: not a DICOM file", path)
    return ds


class _Receiver:
    """Routes arriving C-STOREs to the writer of the series being fetched.

    C-GET delivers them on the retrieving association's thread, C-MOVE on the storage SCP's.
    """

    def __init__(self, source_ae_title: str) -> None:
        self._source = source_ae_title
        self._lock = threading.Lock()
        self._writer: SeriesWriter | None = None
        self._tick: Tick | None = None
        self._error: IntervalError | None = None

    def start(self, writer: SeriesWriter, tick: Tick) -> None:
        with self._lock:
            self._writer, self._tick, self._error = writer, tick, None

    def stop(self) -> IntervalError | None:
        """Stop routing; return the first write failure of the series, if any."""
        with self._lock:
            error, self._writer, self._tick, self._error = self._error, None, None, None
        return error

    def handle(self, event: Event) -> int:
        """``EVT_C_STORE`` handler: write the instance, return the C-STORE status."""
        with self._lock:
            writer, tick = self._writer, self._tick
        if writer is None or tick is None:
            return _STORE_REFUSED
        sop_uid = str(event.request.AffectedSOPInstanceUID)
        if not writer.expects(sop_uid) and not _of_series(event, writer.series_uid):
            return _STORE_REFUSED
        try:
            header = file_header(
                str(event.request.AffectedSOPClassUID),
                sop_uid,
                str(event.context.transfer_syntax),
                self._source,
            )
            writer.write(sop_uid, [header, event.encoded_dataset(include_meta=False)])
        except (IntervalError, ValueError) as exc:
            with self._lock:
                if self._error is None:
                    self._error = exc if isinstance(exc, IntervalError) else PacsError(str(exc))
            return _STORE_OUT_OF_RESOURCES
        tick()
        return _SUCCESS


def _of_series(event: Event, series_uid: str) -> bool:
    """Whether an instance the server did not list belongs to the series (added since)."""
    try:
        return str(event.dataset.get("SeriesInstanceUID", "")) == series_uid
    except Exception:  # an instance we cannot even decode is not one we asked for
        return False


class _StorageScp:
    """Interval's storage SCP, listening while a C-MOVE runs."""

    def __init__(self, local: LocalNode, server: Server, receiver: _Receiver) -> None:
        self.local, self.server, self.receiver = local, server, receiver
        self._server = None

    def __enter__(self) -> _StorageScp:
        ae: AE = build_ae(self.local, self.server)
        ae.require_called_aet = True
        for context in AllStoragePresentationContexts:
            ae.add_supported_context(context.abstract_syntax, RECEIVE_TRANSFER_SYNTAXES)
        address = (self.local.listen_address, self.local.storage_port)
        try:
            self._server = ae.start_server(
                address,
                block=False,
                evt_handlers=[
                    (evt.EVT_CONN_OPEN, set_nodelay),
                    (evt.EVT_C_STORE, self.receiver.handle),
                ],
            )
        except OSError as exc:
            raise PacsError(
                f"cannot listen on {address[0]}:{address[1]} for the C-MOVE from "
                f"{self.server.describe()} ({exc.strerror or exc}): is another program using "
                f"the port? Change Interval's storage port in the PACS settings"
            ) from exc
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
