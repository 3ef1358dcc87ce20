"""``interval pacs echo|find|get|send SERVER ...``: the PACS without the window.

SERVER is the name of a server in the PACS settings (``$XDG_CONFIG_HOME/Interval/pacs.json``,
edited in the PACS panel), or given inline: ``AE@host:port`` (DIMSE) or a DICOMweb URL
(``http://host:8042/dicom-web``). ``get`` retrieves every series of the matching studies into the
local store and prints each series' folder (what ``interval FOLDER ...`` opens as visits).
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import sys

from viewer.cli.common import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, print_error
from viewer.errors import IntervalError, OperationCancelled
from viewer.pacs.client import connect
from viewer.pacs.config import PacsSettings, Server, load_settings
from viewer.pacs.errors import ServerConfigError
from viewer.pacs.query import SearchQuery, group_by_patient
from viewer.pacs.store import LocalStore, SeriesState

_INLINE_DIMSE = re.compile(r"^(?P<ae>[^@]+)@(?P<host>[^:]+):(?P<port>\d+)$")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``pacs`` subcommand and its actions."""
    parser = subparsers.add_parser(
        "pacs",
        help="talk to a PACS: test it, search, retrieve studies, send files",
        description=(
            "SERVER is a server's name from the PACS settings, or AE@host:port (DIMSE) or a "
            "DICOMweb URL. Exit code 0 on success, 1 when the server fails or a series stays "
            "incomplete, 2 for a wrong command line."
        ),
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    echo = actions.add_parser("echo", help="test the connection (C-ECHO / a DICOMweb search)")
    _server_options(echo)
    find = actions.add_parser("find", help="search studies; prints patients and their studies")
    _server_options(find)
    _query_options(find)
    get = actions.add_parser("get", help="retrieve every series of the matching studies")
    _server_options(get)
    _query_options(get)
    get.add_argument("--study", action="append", metavar="UID", help="only this study (repeat)")
    send = actions.add_parser("send", help="store DICOM files (a SEG, a report) on the server")
    _server_options(send)
    send.add_argument("files", nargs="+", metavar="FILE")
    parser.set_defaults(run=run)


def _server_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("server", metavar="SERVER")
    parser.add_argument(
        "--move", action="store_true", help="retrieve an inline DIMSE server with C-MOVE"
    )


def _query_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--patient-id", default="", metavar="ID")
    parser.add_argument("--name", default="", help="patient name, wildcards * and ?")
    parser.add_argument("--from", dest="date_from", metavar="YYYY-MM-DD", help="first study date")
    parser.add_argument("--to", dest="date_to", metavar="YYYY-MM-DD", help="last study date")
    parser.add_argument("--modality", default="", help="e.g. CT, MR")


def run(args: argparse.Namespace) -> int:
    """Run ``interval pacs ACTION``; returns the exit code."""
    command = f"pacs {args.action}"
    try:
        settings = load_settings()
        server = resolve_server(args.server, settings, move=args.move)
        with connect(server, settings.local) as client:
            if args.action == "echo":
                client.echo()
                print(f"{server.describe()} answers.")
                return EXIT_OK
            if args.action == "send":
                stored = client.send(args.files)
                print(f"Sent {len(stored)} files to {server.describe()}.")
                return EXIT_OK
            query = SearchQuery(
                args.patient_id,
                args.name,
                _date(args.date_from, "--from"),
                _date(args.date_to, "--to"),
                args.modality,
            )
            studies = client.find_studies(query)
            if args.action == "find":
                _print_studies(studies)
                return EXIT_OK if studies else EXIT_FAILED
            if args.study:
                studies = [s for s in studies if s.study_uid in set(args.study)]
            if not studies:
                print_error(command, "no study matches")
                return EXIT_FAILED
            series = client.find_series([s.study_uid for s in studies])
            progress = _progress if sys.stderr.isatty() else None
            results = client.retrieve(series, LocalStore(), progress=progress)
    except ServerConfigError as exc:
        print_error(command, str(exc))
        return EXIT_USAGE
    except OperationCancelled:
        return EXIT_INTERRUPTED
    except IntervalError as exc:
        print_error(command, str(exc))
        return EXIT_FAILED
    if sys.stderr.isatty():
        print(file=sys.stderr)
    for stored in results:
        note = "" if stored.state is SeriesState.COMPLETE else f"  ({stored.reason})"
        print(f"{stored.state.value:9} {len(stored.received):4} images  {stored.folder}{note}")
    return EXIT_OK if all(s.state is SeriesState.COMPLETE for s in results) else EXIT_FAILED


def resolve_server(text: str, settings: PacsSettings, *, move: bool = False) -> Server:
    """A server by its name in the settings, or inline (``AE@host:port`` or a DICOMweb URL).

    Raises
    ------
    ServerConfigError
        Neither a known name nor a valid inline server.

    Examples
    --------
    >>> resolve_server("ORTHANC@127.0.0.1:4242", PacsSettings()).describe()
    "'ORTHANC@127.0.0.1:4242' (ORTHANC@127.0.0.1:4242)"
    """
    if text.startswith(("http://", "https://")):
        return Server(text, protocol="dicomweb", dicomweb_url=text).validated()
    inline = _INLINE_DIMSE.match(text)
    if inline:
        method = "C-MOVE" if move else "C-GET"
        return Server(
            text,
            ae_title=inline["ae"],
            host=inline["host"],
            port=int(inline["port"]),
            retrieve_method=method,
        ).validated()
    return settings.server(text)


def _print_studies(studies: list) -> None:
    for patient in group_by_patient(studies):
        born = f", born {patient.birth_date}" if patient.birth_date else ""
        print(f"{patient.patient_name} ({patient.patient_id}{born})")
        for study in patient.studies:
            date = study.study_date.isoformat() if study.study_date else "undated  "
            modalities = "/".join(study.modalities)
            count = "" if study.instance_count is None else f"{study.instance_count} images"
            print(f"  {date}  {modalities:8} {count:11} {study.description}  {study.study_uid}")


def _progress(done: int, total: int, message: str) -> None:
    print(f"\r{done}/{total} images  {message[:60]:60}", end="", file=sys.stderr, flush=True)


def _date(text: str | None, option: str) -> dt.date | None:
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise ServerConfigError(f"{option} '{text}' is not a date (YYYY-MM-DD)") from exc
