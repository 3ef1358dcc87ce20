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


def test_a_preview_is_shown_while_loading_and_replaced_by_the_whole_series(tmp_path):
    from tests.dicom_factory import ramp_volume, write_series
    from viewer.io import scan_paths
    from viewer.state.controller import ViewController
    from viewer.state.session import LoadStatus, Session, prepare_series

    write_series(tmp_path, ramp_volume((9, 16, 20)))
    session = Session()
    session.set_catalog(scan_paths([tmp_path]))
    (entry,) = session.catalog.all_series()
    controller = ViewController(session)
    controller.select_series(entry.key)
    session.mark_loading(entry.key)
    previews = []

    def on_preview(preview):
        previews.append(preview)
        session.add_preview(entry.key, preview)
        frame = controller.frame()
        assert frame is not None and frame.index == 4  # the middle slice, shown at once
        assert "Reading slices: 1 of 9" in frame.corners["top_right"]
        assert controller.probe(0, 0).value is not None  # middle slice: real data

    loaded = prepare_series(entry, controller.presets, on_preview=on_preview)
    assert len(previews) == 1 and previews[0].is_preview
    assert session.status(entry.key) is LoadStatus.LOADING
    session.add_loaded(entry.key, loaded)
    assert controller.current is loaded and not loaded.is_preview
    assert not any("Reading" in line for line in controller.frame().corners["top_right"])


def test_a_cancelled_load_drops_its_preview(tmp_path):
    from tests.dicom_factory import ramp_volume, write_series
    from viewer.io import scan_paths
    from viewer.state.session import LoadStatus, Session, prepare_series

    write_series(tmp_path, ramp_volume((5, 8, 8)))
    session = Session()
    session.set_catalog(scan_paths([tmp_path]))
    (entry,) = session.catalog.all_series()
    session.mark_loading(entry.key)
    prepare_series(entry, (), on_preview=lambda p: session.add_preview(entry.key, p))
    assert session.loaded(entry.key) is not None
    session.mark_cancelled(entry.key)
    assert session.loaded(entry.key) is None
    assert session.status(entry.key) is LoadStatus.NOT_LOADED
    session.add_preview(entry.key, None)  # a late preview after cancelling is ignored
    assert session.loaded(entry.key) is None
