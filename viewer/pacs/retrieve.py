"""The part of a retrieval both protocols share: series by series into the local store.

A protocol (DIMSE C-GET/C-MOVE, DICOMweb WADO-RS) supplies two functions: one that lists the
SOP Instance UIDs a series holds on the server, and one that fetches a series into a
:class:`~viewer.pacs.store.SeriesWriter`. :func:`run_retrieval` does the rest: it skips series
already complete in the store, reports progress overall and per series, records each series as
complete or partial, and on a failure or a cancel keeps what arrived (the series under way ends
partial) before raising.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from viewer.core.progress import CancelCheck, ProgressCallback, Reporter
from viewer.errors import IntervalError, OperationCancelled
from viewer.pacs.errors import PacsError
from viewer.pacs.query import SeriesResult
from viewer.pacs.store import LocalStore, SeriesState, SeriesWriter, StoredSeries

Tick = Callable[[], None]
"""Called once per instance written (from whichever thread delivered it)."""
ListInstances = Callable[[SeriesResult], list[str]]
FetchSeries = Callable[[SeriesResult, SeriesWriter, Tick, CancelCheck], str]
"""``fetch(series, writer, tick, cancelled) -> failure``: "" when the server reported success,
else why the series may be incomplete (the retrieval goes on with the next series). Raises
:class:`PacsError` when the connection is gone, :class:`OperationCancelled` when cancelled."""


@dataclass(frozen=True)
class SeriesProgress:
    """Where one series of a retrieval stands.

    Parameters
    ----------
    index, count : int
        Its position (0-based) in the request, and the number of series requested.
    series : SeriesResult
    received, expected : int
        Instances in the store so far, and how many the server holds (0 if unknown).
    state : SeriesState or None
        None while it is transferring; its final state once done (or skipped as complete).
    """

    index: int
    count: int
    series: SeriesResult
    received: int
    expected: int
    state: SeriesState | None


SeriesCallback = Callable[[SeriesProgress], None]


def run_retrieval(
    series: Sequence[SeriesResult],
    store: LocalStore,
    *,
    server: str,
    list_instances: ListInstances,
    fetch: FetchSeries,
    progress: ProgressCallback | None = None,
    cancelled: CancelCheck | None = None,
    on_series: SeriesCallback | None = None,
) -> list[StoredSeries]:
    """Fetch each series into ``store``; see the module docstring.

    Parameters
    ----------
    series : sequence of SeriesResult
    store : LocalStore
    server : str
        How the server is named in markers and messages.
    list_instances, fetch : callable
        The protocol's two functions (see :data:`ListInstances`, :data:`FetchSeries`).
    progress : callable, optional
        ``progress(images done, images expected in all, message)``.
    cancelled : callable, optional
        Checked between instances; the protocol stops the transfer (C-CANCEL) when it is True.
    on_series : callable, optional
        Called with a :class:`SeriesProgress` when a series starts, per instance, and at its end.

    Returns
    -------
    list of StoredSeries
        One per requested series, complete or partial.

    Raises
    ------
    viewer.errors.OperationCancelled
        After the series under way was recorded as partial (earlier series stay complete).
    PacsError, PacsTimeoutError
        The connection failed; the message names the series and how much of it arrived.
    viewer.errors.SaveError
        The store cannot be written (disk full...).
    """
    reporter = Reporter(progress, cancelled)
    is_cancelled = cancelled or (lambda: False)
    total = sum(s.instance_count or 0 for s in series)
    done = 0
    results: list[StoredSeries] = []
    lock = threading.Lock()

    def notify(index: int, item: SeriesResult, received: int, expected: int, state=None) -> None:
        if on_series is not None:
            on_series(SeriesProgress(index, len(series), item, received, expected, state))

    for index, item in enumerate(series):
        reporter.check()
        stored = store.status(item.study_uid, item.series_uid)
        if stored.state is SeriesState.COMPLETE:
            done += len(stored.received)
            total += len(stored.received) - (item.instance_count or 0)
            reporter.step(done, total, f"{item.label()}: already in the local store")
            notify(index, item, len(stored.received), stored.expected_count, stored.state)
            results.append(stored)
            continue
        expected = list_instances(item)
        writer = store.begin(
            item.study_uid,
            item.series_uid,
            server=server,
            expected=expected,
            expected_count=item.instance_count,
        )
        total += writer.expected_count - (item.instance_count or 0)
        start = done
        label = f"Series {index + 1} of {len(series)}, {item.label()}"
        notify(index, item, writer.received_count, writer.expected_count)

        def tick(writer=writer, start=start, label=label, index=index, item=item, total=total):
            with lock:
                received = writer.received_count
                if progress is not None:
                    progress(start + received, max(total, start + received), label)
                notify(index, item, received, writer.expected_count)

        try:
            failure = fetch(item, writer, tick, is_cancelled)
        except OperationCancelled:
            stored = writer.finish("cancelled by the user")
            notify(index, item, len(stored.received), stored.expected_count, stored.state)
            raise
        except IntervalError as exc:
            stored = writer.finish(exc.reason)
            notify(index, item, len(stored.received), stored.expected_count, stored.state)
            if isinstance(exc, PacsError):
                raise type(exc)(
                    f"{exc.reason}; series {item.label()}: {len(stored.received)} of "
                    f"{stored.expected_count} images received, kept as partial"
                ) from exc
            raise
        stored = writer.finish(failure)
        done = start + len(stored.received)
        notify(index, item, len(stored.received), stored.expected_count, stored.state)
        reporter.step(done, max(total, done), f"{label}: {stored.state.value}")
        results.append(stored)
    return results
