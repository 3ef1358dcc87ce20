"""Every way a PACS conversation fails gives a clear error naming the server, and a transfer
cut short keeps what arrived without ever looking complete."""

from __future__ import annotations

import datetime as dt
import socket

import pydicom
import pytest

from tests.pacs.demo import demo_instances
from tests.pacs.orthanc import demo_files, free_port, running_orthanc, silent_listener
from viewer.pacs.config import LocalNode, Server
from viewer.pacs.dicomweb import DicomWebClient
from viewer.pacs.dimse import DimseClient
from viewer.pacs.errors import AssociationRejectedError, PacsError, PacsTimeoutError
from viewer.pacs.query import SearchQuery
from viewer.pacs.store import LocalStore, SeriesState

LOCAL = LocalNode("INTERVAL", free_port())
LAST_VISIT = "2003-03-27"


def dimse(port: int, **changes) -> DimseClient:
    settings = dict(name="Ward PACS", ae_title="ORTHANC", host="127.0.0.1", port=port)
    settings.update(changes)
    return DimseClient(Server(**settings), LOCAL)


def test_server_down():
    port = free_port()
    with pytest.raises(
        PacsError,
        match=rf"'Ward PACS' \(ORTHANC@127.0.0.1:{port}\): cannot connect, nothing answers",
    ) as caught:
        dimse(port).echo()
    assert not isinstance(caught.value, PacsTimeoutError)
    web = DicomWebClient(
        Server("Web", protocol="dicomweb", dicomweb_url=f"http://127.0.0.1:{port}/dicom-web")
    )
    with pytest.raises(
        PacsError, match=r"'Web' \(http://127.0.0.1:\d+/dicom-web\): cannot connect"
    ):
        web.find_studies(SearchQuery())


def test_wrong_server_ae_title(orthanc):
    client = DimseClient(orthanc.server(ae_title="WRONGAE"), orthanc.local())
    with pytest.raises(
        AssociationRejectedError,
        match="refused the association: the server's AE title is not 'WRONGAE'",
    ):
        client.echo()


def test_unknown_calling_ae_title_is_rejected(orthanc):
    client = DimseClient(orthanc.server(), orthanc.local(ae_title="STRANGER"))
    with pytest.raises(
        AssociationRejectedError, match="does not accept Interval's AE title 'STRANGER' \\(register"
    ):
        client.find_studies(SearchQuery())


def test_timeouts():
    with silent_listener() as port:
        with pytest.raises(
            PacsTimeoutError, match="did not answer the association request within 1 s"
        ):
            dimse(port, timeout_s=1).echo()
        web = DicomWebClient(
            Server(
                "Web", protocol="dicomweb", dicomweb_url=f"http://127.0.0.1:{port}/dw", timeout_s=1
            )
        )
        with pytest.raises(
            PacsTimeoutError,
            match=r"'Web' .* did not answer within 1 s while searching for studies",
        ):
            web.find_studies(SearchQuery())


def test_dicomweb_wrong_url(orthanc):
    client = DicomWebClient(
        orthanc.server(protocol="dicomweb", dicomweb_url=f"{orthanc.url}/not-dicomweb")
    )
    with pytest.raises(
        PacsError,
        match=r"failed answering a search: not found \(HTTP 404\): is the DICOMweb URL right",
    ):
        client.echo()


def test_storage_port_taken(orthanc, tmp_path):
    client = DimseClient(orthanc.server(retrieve_method="C-MOVE"), orthanc.local())
    [study] = client.find_studies(SearchQuery("INTERVAL-DEMO-001", date_from=dt.date(2003, 3, 27)))
    series = client.find_series([study.study_uid])
    with socket.socket() as busy:
        busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # the last C-MOVE's TIME_WAIT
        busy.bind(("127.0.0.1", orthanc.scp_port))
        busy.listen(1)
        with pytest.raises(
            PacsError, match=f"cannot listen on 127.0.0.1:{orthanc.scp_port} for the C-MOVE"
        ):
            client.retrieve(series, LocalStore(tmp_path))


def last_visit_files():
    return [p for p in demo_files() if p.parent.parent.name == LAST_VISIT]


@pytest.mark.parametrize("method", ["C-GET", "C-MOVE"])
def test_server_killed_mid_series(tmp_path, method):
    with running_orthanc(tmp_path / "orthanc", last_visit_files(), dicomweb=False) as server:
        client = DimseClient(server.server(retrieve_method=method), server.local())
        [study] = client.find_studies(SearchQuery())
        series = client.find_series([study.study_uid])
        mr_first = sorted(series, key=lambda s: s.modality != "MR")
        store = LocalStore(tmp_path / "store")

        def on_series(update):
            if update.received == 12:
                server.kill()

        with pytest.raises(
            PacsError,
            match=(
                r"closed the connection while retrieving series S9 MR AX T1 POST GAD; "
                r"series S9 MR AX T1 POST GAD: \d+ of 48 images received, kept as partial"
            ),
        ):
            client.retrieve(mr_first, store, on_series=on_series)
    cut = store.status(mr_first[0].study_uid, mr_first[0].series_uid)
    assert cut.state is SeriesState.PARTIAL
    assert 12 <= len(cut.received) < 48
    assert set(cut.missing) | set(cut.received) == set(cut.expected)
    sources = demo_instances()
    for uid in cut.received:  # what arrived is whole and correct
        assert (
            pydicom.dcmread(cut.folder / f"{uid}.dcm").PixelData
            == pydicom.dcmread(sources[uid]).PixelData
        )
    assert store.status(mr_first[1].study_uid, mr_first[1].series_uid).state is SeriesState.ABSENT


def test_server_frozen_mid_series_times_out(tmp_path):
    with running_orthanc(tmp_path / "orthanc", last_visit_files(), dicomweb=False) as server:
        client = DimseClient(server.server(timeout_s=1), server.local())
        [study] = client.find_studies(SearchQuery())
        series = [s for s in client.find_series([study.study_uid]) if s.modality == "MR"]
        store = LocalStore(tmp_path / "store")

        def on_series(update):
            if update.received == 10:
                server.pause()

        with pytest.raises(
            PacsTimeoutError,
            match=(
                r"did not answer within 1 s while retrieving series S9 MR AX T1 POST GAD "
                r"\(timeout\); series S9 MR AX T1 POST GAD: 10 of 48 images received, kept as "
                r"partial"
            ),
        ):
            client.retrieve(series, store, on_series=on_series)
    cut = store.status(series[0].study_uid, series[0].series_uid)
    assert (cut.state, len(cut.received)) == (SeriesState.PARTIAL, 10)
