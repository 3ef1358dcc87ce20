"""The session: catalogue, load status events, memory-bounded cache, default series."""

from __future__ import annotations

import datetime as dt

import numpy as np

from tests.dicom_factory import ramp_volume, write_series
from tests.state.helpers import axial_volume, catalog, entry, loaded
from viewer.display import load_presets
from viewer.io import scan_paths
from viewer.state import LoadStatus, Session, default_series, prepare_series

D1, D2 = dt.date(1995, 6, 12), dt.date(2003, 3, 27)


def test_default_is_the_latest_contrast_mri():
    cat = catalog(
        (D1, [entry("a", description="T1 post-contrast")]),
        (
            D2,
            [
                entry("loc", is_localizer=True),
                entry("ct", modality="CT"),
                entry("t2", description="T2"),
                entry("t1c", description="T1 +C"),
                entry("t1gd", contrast_agent="Gadovist"),
            ],
        ),
    )
    assert default_series(cat).key == "t1c"


def test_default_falls_back_to_the_latest_visits_first_series():
    cat = catalog(
        (D1, [entry("a")]), (D2, [entry("loc", is_localizer=True), entry("ct", modality="CT")])
    )
    assert default_series(cat).key == "ct"
    assert default_series(catalog()) is None


def test_status_events_and_errors():
    session = Session()
    seen = []
    session.status_changed.connect(seen.append)
    changed = []
    session.catalog_changed.connect(lambda: changed.append(True))
    session.set_catalog(catalog((D2, [entry("a"), entry("b")])))
    assert changed == [True] and session.status("a") is LoadStatus.NOT_LOADED

    session.mark_loading("a")
    session.mark_failed("a", "IM0003: truncated pixel data")
    session.mark_loading("b")
    session.mark_cancelled("b")
    assert seen == ["a", "a", "b", "b"]
    assert session.status("a") is LoadStatus.FAILED
    assert session.error("a") == "IM0003: truncated pixel data"
    assert session.status("b") is LoadStatus.NOT_LOADED
    assert session.visit_of("b").date == D2


def test_cache_keeps_the_most_recently_used_series():
    keys = ["a", "b", "c"]
    session = Session(max_loaded=2)
    session.set_catalog(catalog((D2, [entry(k) for k in keys])))
    for k in keys[:2]:
        session.add_loaded(k, loaded(axial_volume()))
    assert session.loaded("a") is not None  # touch a: b is now the oldest
    session.add_loaded("c", loaded(axial_volume()))
    assert [session.status(k) for k in keys] == [
        LoadStatus.LOADED,
        LoadStatus.NOT_LOADED,
        LoadStatus.LOADED,
    ]
    assert session.loaded("b") is None


def test_result_of_a_replaced_scan_is_ignored():
    session = Session()
    session.set_catalog(catalog((D2, [entry("a")])))
    session.set_catalog(catalog((D2, [entry("b")])))
    session.add_loaded("a", loaded(axial_volume()))
    assert session.loaded("a") is None


def test_prepare_series_reads_and_summarises_a_dicom_ct(tmp_path):
    array = ramp_volume((6, 16, 20)) + 900  # stored values; CT intercept -1024
    write_series(tmp_path, array, modality="CT")
    (series,) = scan_paths([tmp_path]).all_series()
    progress = []
    result = prepare_series(series, load_presets(), progress=lambda d, t, m: progress.append(d))
    np.testing.assert_array_equal(result.volume.array, array.astype(np.int32) - 1024)
    assert result.default_window.name == "CT Brain"
    assert result.stats.range_high > result.stats.range_low
