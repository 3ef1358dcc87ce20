"""RELIABILITY D36 for the workers: an unexpected failure is logged with its type and the code it
went through, never its message (which names files); the reader still gets the message."""

from __future__ import annotations

import logging

from viewer.ui.workers import _Task, _TaskSignals, code_trace

CANARY = "/data/CANARYWORKER_QX/IM0001"


def load_slice(progress, cancelled):
    try:
        raise KeyError(CANARY)
    except KeyError as exc:
        raise RuntimeError(f"{CANARY}: cannot decode the slice") from exc


def test_an_unexpected_failure_is_logged_without_its_message(qtbot, caplog):
    signals = _TaskSignals()
    failures = []
    signals.failed.connect(lambda task_id, message: failures.append((task_id, message)))
    with caplog.at_level(logging.DEBUG):
        _Task(7, load_slice, signals).run()
    assert failures == [(7, f"Unexpected problem (RuntimeError: {CANARY}: cannot decode the "
                         "slice). Please report it.")]  # fmt: skip
    logged = "\n".join(caplog.handler.format(record) for record in caplog.records)
    assert "CANARYWORKER" not in logged
    # what a developer needs: the task, the exception types, the code they went through
    assert "task 7 failed unexpectedly" in logged
    assert "builtins.RuntimeError" in logged and "caused by builtins.KeyError" in logged
    assert "test_workers_logging.py:" in logged and "in load_slice" in logged


def test_the_check_would_catch_a_message_logged_as_before():
    """The old ``log.exception`` put the message (and the canary) in the log: the check sees it."""
    try:
        load_slice(None, None)
    except RuntimeError as exc:
        record = logging.LogRecord("w", logging.ERROR, __file__, 1, "failed", (), (RuntimeError,
                                   exc, exc.__traceback__))  # fmt: skip
        assert "CANARYWORKER" in logging.Formatter().format(record)
        assert "CANARYWORKER" not in code_trace(exc)
