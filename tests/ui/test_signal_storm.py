"""Guard against PySide6 6.12.0 on Python 3.11, which aborts after ~1000 Signal.emit() calls.

That release leaks a reference to True on every emit and the process dies with "Fatal Python
error: bool_dealloc". pyproject.toml pins around it; this test would crash (or fail on the
reference count) if a bad build came back.
"""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, Signal

EMITS = 30_000


class Emitter(QObject):
    flag = Signal(bool)
    number = Signal(int)
    bare = Signal()


def test_tens_of_thousands_of_emits(qtbot):
    emitter = Emitter()
    received = {"flag": 0, "number": 0, "bare": 0}
    emitter.flag.connect(lambda value: received.__setitem__("flag", received["flag"] + 1))
    emitter.number.connect(lambda value: received.__setitem__("number", received["number"] + 1))
    emitter.bare.connect(lambda: received.__setitem__("bare", received["bare"] + 1))
    true_refs = sys.getrefcount(True)
    for i in range(EMITS):
        emitter.flag.emit(i % 2 == 0)
        emitter.number.emit(i)
        emitter.bare.emit()
    assert received == {"flag": EMITS, "number": EMITS, "bare": EMITS}
    # True is immortal from Python 3.12; before that its count must not drift with every emit
    assert abs(sys.getrefcount(True) - true_refs) < 1000
