"""Server settings: validation with clear messages, saved atomically in the user's config folder."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from viewer.pacs.config import (
    LocalNode,
    PacsSettings,
    Server,
    load_settings,
    save_settings,
    settings_path,
)
from viewer.pacs.errors import ServerConfigError

GOOD = Server("Main PACS", ae_title="PACS1", host="pacs.example.org", port=104)


def test_settings_live_in_the_sandboxed_config_folder():
    assert settings_path() == Path(os.environ["XDG_CONFIG_HOME"]) / "Interval" / "pacs.json"


def test_round_trip_and_atomic_file(tmp_path):
    web = Server("Web", protocol="dicomweb", dicomweb_url="http://localhost:8042/dicom-web/")
    settings = PacsSettings(LocalNode("MYVIEWER", 11113, "0.0.0.0"), (GOOD, web))
    path = save_settings(settings, tmp_path / "sub" / "pacs.json")
    assert [p.name for p in path.parent.iterdir()] == ["pacs.json"]  # no temporary left
    again = load_settings(path)
    assert again.local == LocalNode("MYVIEWER", 11113, "0.0.0.0")
    assert again.servers[0] == GOOD
    assert again.servers[1].dicomweb_url == "http://localhost:8042/dicom-web"  # trailing / gone
    assert json.loads(path.read_text())["version"] == 1


def test_missing_file_gives_defaults(tmp_path):
    assert load_settings(tmp_path / "none.json") == PacsSettings()


@pytest.mark.parametrize(
    ("server", "words"),
    [
        (Server(""), "needs a name"),
        (Server("A", ae_title="", host="h", port=104), "AE title is empty"),
        (Server("A", ae_title="X" * 17, host="h", port=104), "longer than 16"),
        (Server("A", ae_title="A\\B", host="h", port=104), "backslash"),
        (Server("A", ae_title="PACSé", host="h", port=104), "printable ASCII"),
        (Server("A", ae_title="P", host="", port=104), "host is empty"),
        (Server("A", ae_title="P", host="two words", port=104), "not a host name"),
        (Server("A", ae_title="P", host="h", port=0), "port must be a whole number"),
        (Server("A", ae_title="P", host="h", port=70000), "1 to 65535"),
        (Server("A", ae_title="P", host="h", port=104, retrieve_method="C-PULL"), "C-GET, C-MOVE"),
        (Server("A", ae_title="P", host="h", port=104, timeout_s=0), "timeout must be 1-600 s"),
        (Server("A", protocol="dicomweb", dicomweb_url="ftp://x"), "must start with http"),
        (Server("A", protocol="dicomweb", dicomweb_url="localhost:8042"), "must start with http"),
        (Server("A", protocol="hl7"), "protocol must be one of"),
    ],
)
def test_invalid_servers_are_refused_with_the_field_named(server, words):
    with pytest.raises(ServerConfigError, match=words) as caught:
        server.validated()
    if server.name:
        assert "server 'A'" in str(caught.value)


def test_local_node_is_validated():
    with pytest.raises(ServerConfigError, match="Interval's own AE title is empty"):
        LocalNode(" ").validated()
    with pytest.raises(ServerConfigError, match="Interval's storage port"):
        LocalNode(storage_port=-1).validated()


def test_names_are_unique_and_servers_replaced_in_place():
    settings = PacsSettings().with_server(GOOD)
    with pytest.raises(ServerConfigError, match="already exists"):
        settings.with_server(Server("main pacs", ae_title="B", host="h", port=1))
    other = Server("Other", ae_title="B", host="h", port=1)
    settings = settings.with_server(other)
    renamed = Server("Renamed", ae_title="PACS2", host="h2", port=11112)
    settings = settings.with_server(renamed, replacing="Main PACS")
    assert [s.name for s in settings.servers] == ["Renamed", "Other"]
    assert settings.server("renamed").port == 11112
    with pytest.raises(ServerConfigError, match="no PACS server named 'Gone'.*'Renamed', 'Other'"):
        settings.server("Gone")
    assert [s.name for s in settings.without_server("Other").servers] == ["Renamed"]


def test_a_broken_file_names_itself(tmp_path):
    path = tmp_path / "pacs.json"
    path.write_text("{not json")
    with pytest.raises(ServerConfigError, match="pacs.json: the PACS settings are not valid"):
        load_settings(path)
    path.write_text(json.dumps({"version": 1, "servers": [{"name": "A", "port": 0}]}))
    with pytest.raises(ServerConfigError, match="pacs.json: server 'A'"):
        load_settings(path)
    path.write_text(json.dumps({"version": 7}))
    with pytest.raises(ServerConfigError, match="version 7"):
        load_settings(path)


def test_describe_names_the_server():
    assert GOOD.describe() == "'Main PACS' (PACS1@pacs.example.org:104)"
    web = Server("W", protocol="dicomweb", dicomweb_url="http://h/dw")
    assert web.describe() == "'W' (http://h/dw)"
