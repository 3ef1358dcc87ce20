"""The opened case: what the scan found, which series are loaded, and what failed and why."""

from __future__ import annotations

import enum
import re
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from psygnal import Signal

from viewer.core.catalog import Catalog, SeriesEntry, Visit
from viewer.core.progress import CancelCheck, ProgressCallback
from viewer.core.volume import Volume
from viewer.display import sampling
from viewer.display.window import (
    IntensityStats,
    WindowLevel,
    WindowPreset,
    default_window,
    intensity_stats,
)
from viewer.io.dicom_volume import PartialVolume
from viewer.io.load import load_series


class LoadStatus(enum.Enum):
    """Where a series is in its life."""

    NOT_LOADED = "not loaded"
    LOADING = "loading"
    LOADED = "loaded"
    FAILED = "failed"


@dataclass(frozen=True, eq=False)
class LoadedSeries:
    """A series' volume with what is computed once on loading.

    Attributes
    ----------
    volume : Volume
    stats : IntensityStats
        Percentiles for the automatic window and the speed of window drags.
    default_window : WindowLevel
        The window the series opens with (CT Brain for CT, automatic for MRI).
    """

    volume: Volume
    stats: IntensityStats
    default_window: WindowLevel
    filled: np.ndarray | None = None
    """While this is a preview of a series still being read: a live boolean mask over the slices
    (axis 0) that hold their data; ``None`` once the series is complete."""

    @property
    def is_preview(self) -> bool:
        """Whether slices are still being read into this volume."""
        return self.filled is not None


PreviewCallback = Callable[[LoadedSeries], None]
"""Receives a preview :class:`LoadedSeries` (in the loading thread) while the rest is read."""


def prepare_series(
    entry: SeriesEntry,
    presets: Sequence[WindowPreset],
    *,
    progress: ProgressCallback | None = None,
    cancelled: CancelCheck | None = None,
    on_preview: PreviewCallback | None = None,
) -> LoadedSeries:
    """Read a series and summarise its intensities; slow, so it runs in a worker.

    Parameters
    ----------
    on_preview : callable, optional
        Called as soon as the middle slice is in (large DICOM series show at once), with a
        preview whose ``filled`` mask grows as the load goes on; its window comes from the slices
        read so far.

    Raises
    ------
    viewer.errors.IntervalError
        From the reader, naming the file and the problem.
    """

    def preview(partial: PartialVolume) -> None:
        assert on_preview is not None
        stats = intensity_stats(partial.volume.array[np.asarray(partial.filled)])
        window = default_window(partial.volume, presets, stats)
        on_preview(LoadedSeries(partial.volume, stats, window, filled=partial.filled))

    volume = load_series(
        entry,
        progress=progress,
        cancelled=cancelled,
        on_first_slices=preview if on_preview is not None else None,
    )
    stats = intensity_stats(volume.array)
    sampling.prepare(volume)  # compile the oblique sampler here, not in the GUI's first frame
    return LoadedSeries(volume, stats, default_window(volume, presets, stats))


_CONTRAST_WORDS = re.compile(
    r"(\+\s*c\b|post|contrast|gad|\bgd\b|t1c|enhanc|\bce\b)", re.IGNORECASE
)


def is_contrast_mri(entry: SeriesEntry) -> bool:
    """Return whether a series is a contrast-enhanced MRI (by ContrastBolusAgent or its name)."""
    return entry.modality == "MR" and bool(
        entry.contrast_agent or _CONTRAST_WORDS.search(entry.description)
    )


def default_series(catalog: Catalog) -> SeriesEntry | None:
    """Pick what to show first: the latest visit's contrast MRI, else its first series.

    Localizers are never picked when anything else exists.
    """
    for patient in catalog.patients:
        for visit in reversed(patient.visits):
            candidates = [s for s in visit.series if not s.is_localizer]
            contrast = [s for s in candidates if is_contrast_mri(s)]
            if contrast or candidates:
                return (contrast or candidates)[0]
    series = catalog.all_series()
    return series[0] if series else None


class Session:
    """The case being viewed: its catalogue and the series loaded so far.

    Loaded volumes are kept for the ``max_loaded`` most recently used series; older ones are
    dropped (and re-read when selected again) so memory stays bounded.

    Signals
    -------
    catalog_changed()
        A new catalogue replaced the old one.
    status_changed(str)
        The load status of the series with this key changed.
    preview_changed(str)
        A preview of the series with this key (still loading) can be shown.
    """

    catalog_changed = Signal()
    status_changed = Signal(str)
    preview_changed = Signal(str)

    def __init__(self, *, max_loaded: int = 4) -> None:
        self.catalog = Catalog()
        self.max_loaded = max_loaded
        self._entries: dict[str, SeriesEntry] = {}
        self._visits: dict[str, Visit] = {}
        self._status: dict[str, LoadStatus] = {}
        self._errors: dict[str, str] = {}
        self._loaded: OrderedDict[str, LoadedSeries] = OrderedDict()

    def set_catalog(self, catalog: Catalog) -> None:
        """Replace the case with a new scan result (forgets everything loaded)."""
        self.catalog = catalog
        self._entries = {s.key: s for s in catalog.all_series()}
        self._visits = {s.key: v for p in catalog.patients for v in p.visits for s in v.series}
        self._status = dict.fromkeys(self._entries, LoadStatus.NOT_LOADED)
        self._errors.clear()
        self._loaded.clear()
        self.catalog_changed.emit()

    def knows(self, key: str | None) -> bool:
        """Return whether a series belongs to the open case."""
        return key in self._entries

    def entry(self, key: str) -> SeriesEntry:
        """Return the catalogue entry of a series."""
        return self._entries[key]

    def visit_of(self, key: str) -> Visit:
        """Return the visit a series belongs to."""
        return self._visits[key]

    def status(self, key: str) -> LoadStatus:
        """Return the load status of a series."""
        return self._status.get(key, LoadStatus.NOT_LOADED)

    def error(self, key: str) -> str:
        """Return why a series failed to load (``""`` if it did not)."""
        return self._errors.get(key, "")

    def loaded(self, key: str | None) -> LoadedSeries | None:
        """Return a loaded series (and mark it recently used), or None."""
        if key is None or key not in self._loaded:
            return None
        self._loaded.move_to_end(key)
        return self._loaded[key]

    def mark_loading(self, key: str) -> None:
        """Record that a worker is reading the series."""
        self._set_status(key, LoadStatus.LOADING)

    def add_preview(self, key: str, series: LoadedSeries) -> None:
        """Offer a series that is still loading for display (ignored once it is not loading)."""
        if self.status(key) is not LoadStatus.LOADING:
            return
        self._loaded[key] = series
        self._loaded.move_to_end(key)
        self.preview_changed.emit(key)

    def mark_cancelled(self, key: str) -> None:
        """Record that loading stopped without a result (cancelled, or superseded)."""
        if self.status(key) is LoadStatus.LOADING:
            self._drop_preview(key)
            self._set_status(key, LoadStatus.NOT_LOADED)

    def mark_failed(self, key: str, message: str) -> None:
        """Record that the series cannot be loaded, with the reader's message."""
        self._drop_preview(key)
        self._errors[key] = message
        self._set_status(key, LoadStatus.FAILED)

    def _drop_preview(self, key: str) -> None:
        loaded = self._loaded.get(key)
        if loaded is not None and loaded.is_preview:
            del self._loaded[key]

    def add_loaded(self, key: str, series: LoadedSeries) -> None:
        """Keep a loaded series, dropping the least recently used beyond ``max_loaded``."""
        if key not in self._entries:
            return  # the result of a scan that has since been replaced
        self._loaded[key] = series
        self._loaded.move_to_end(key)
        self._errors.pop(key, None)
        self._set_status(key, LoadStatus.LOADED)
        while len(self._loaded) > self.max_loaded:
            old, dropped = self._loaded.popitem(last=False)
            if not dropped.is_preview:
                self._set_status(old, LoadStatus.NOT_LOADED)

    def _set_status(self, key: str, status: LoadStatus) -> None:
        if key in self._entries and self._status.get(key) is not status:
            self._status[key] = status
            self.status_changed.emit(key)
