"""Who hand-measured each caliper and when: stamped on override, saved, restored, forgotten."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from viewer.core.provenance import Reader, Stamp
from viewer.state.calipers import Caliper, CaliperStore

T0 = dt.datetime(2026, 12, 1, 9, 5, 30, tzinfo=dt.UTC)


def caliper(key="s1", lesion=1, length=40.0) -> Caliper:
    return Caliper(key, lesion, ((0, 0, 0), (length, 0, 0)), ((10, -6, 0), (10, 9, 0)))


def test_an_override_is_stamped_with_the_reader_and_time_and_reset_forgets_it():
    times = iter([T0, T0 + dt.timedelta(hours=2)])
    store = CaliperStore(Reader("bob", lambda: next(times)))
    assert store.stamp("s1", 1) is None
    store.override(caliper())
    assert store.stamp("s1", 1) == Stamp("bob", T0)
    store.reader.name = "carol"
    store.override(caliper(length=42.0))  # dragged again: the newest hand measurement counts
    assert store.stamp("s1", 1).text == "carol 2026-12-01 11:05 UTC"
    store.reset("s1", 1)
    assert store.stamp("s1", 1) is None and store.manual("s1", 1) is None


def test_stamps_round_trip_through_json_and_older_entries_restore_without_one():
    store = CaliperStore(Reader("bob", lambda: T0))
    store.override(caliper())
    store.override(caliper("s2", 3))
    saved = json.loads(json.dumps(store.to_json()))
    entry = saved["manual"][0]
    assert (entry["measured_by"], entry["measured_at"]) == ("bob", "2026-12-01T09:05:30Z")
    again = CaliperStore(Reader("someone else", lambda: T0 + dt.timedelta(days=1)))
    again.restore(saved)
    assert again.stamp("s1", 1) == again.stamp("s2", 3) == Stamp("bob", T0)
    del saved["manual"][1]["measured_by"], saved["manual"][1]["measured_at"]
    again.restore(saved)
    assert again.stamp("s2", 3) is None and again.manual("s2", 3) is not None
    assert again.stamp("s1", 1) == Stamp("bob", T0)


def test_a_malformed_stamp_is_refused_with_the_entry_named():
    store = CaliperStore(Reader("bob", lambda: T0))
    store.override(caliper())
    saved = store.to_json()
    saved["manual"][0]["measured_at"] = "yesterday"
    with pytest.raises(ValueError, match="manual caliper 1"):
        CaliperStore().restore(saved)
    saved["manual"][0]["measured_at"] = "2026-12-01T09:05:30"  # no timezone: not a UTC instant
    with pytest.raises(ValueError, match="timezone"):
        CaliperStore().restore(saved)


def test_forgotten_lesions_take_their_stamps_along():
    store = CaliperStore(Reader("bob", lambda: T0))
    store.override(caliper(lesion=1))
    store.override(caliper(lesion=2))
    store.forget_lesions({2})
    assert store.stamp("s1", 1) is None and store.stamp("s1", 2) == Stamp("bob", T0)
