"""``interval pacs echo|find|get|send`` against the real Orthanc."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.pacs.orthanc import free_port
from viewer.cli.main import run_command
from viewer.cli.pacs import resolve_server
from viewer.pacs.config import PacsSettings, Server, save_settings
from viewer.pacs.errors import ServerConfigError


def inline(orthanc) -> str:
    return f"ORTHANC@127.0.0.1:{orthanc.dicom_port}"


def test_echo_find_get(orthanc, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    # Interval's AE title and C-MOVE port as this server knows them
    save_settings(PacsSettings(orthanc.local(), (orthanc.server(name="Test"),)))
    assert run_command(["pacs", "echo", "Test"]) == 0
    assert "answers" in capsys.readouterr().out
    assert (
        run_command(["pacs", "find", inline(orthanc), "--name", "DEMO*", "--modality", "MR"]) == 0
    )
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "DEMO^GLIOMA (INTERVAL-DEMO-001, born 1925-03-12)"
    assert [line.split()[0] for line in out.splitlines()[1:]] == [
        "1995-06-12",
        "1995-07-01",
        "2002-08-14",
        "2002-12-09",
        "2003-03-27",
    ]
    command = [
        "pacs",
        "get",
        "Test",
        "--patient-id",
        "INTERVAL-DEMO-001",
        "--from",
        "2002-08-14",
        "--to",
        "2002-08-14",
    ]
    assert run_command(command) == 0
    [line] = capsys.readouterr().out.splitlines()
    state, count, _, folder = line.split()
    assert (state, count) == ("complete", "40")
    assert len(list(Path(folder).glob("*.dcm"))) == 40


def test_failures_are_one_line_errors(orthanc, capsys):
    assert run_command(["pacs", "echo", "Nowhere"]) == 2
    assert "no PACS server named 'Nowhere'" in capsys.readouterr().err
    assert run_command(["pacs", "echo", f"ORTHANC@127.0.0.1:{free_port()}"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("interval pacs echo: error:") and "nothing answers" in err
    assert run_command(["pacs", "find", inline(orthanc), "--from", "March"]) == 2
    assert "--from 'March' is not a date" in capsys.readouterr().err


def test_inline_servers():
    web = resolve_server("http://127.0.0.1:8042/dicom-web", PacsSettings())
    assert (web.protocol, web.dicomweb_url) == ("dicomweb", "http://127.0.0.1:8042/dicom-web")
    move = resolve_server("PACS@pacs.example.org:104", PacsSettings(), move=True)
    assert (move.ae_title, move.host, move.port, move.retrieve_method) == (
        "PACS",
        "pacs.example.org",
        104,
        "C-MOVE",
    )
    named = Server("Main", ae_title="M", host="h", port=1)
    assert resolve_server("main", PacsSettings(servers=(named,))) == named
    with pytest.raises(ServerConfigError):
        resolve_server("bad@host:99999", PacsSettings())
