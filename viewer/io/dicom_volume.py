"""Assemble the slice headers of one DICOM stack into a :class:`viewer.core.Volume`.

Geometry comes only from ImagePositionPatient, ImageOrientationPatient and PixelSpacing: slices are
sorted by their position along the slice normal (never by InstanceNumber or file name) and the slice
step is measured from those positions (never taken from SliceThickness). Irregular stacks are never
stacked as if they were regular:

* **Missing slices** (an isolated step that is a whole multiple of the usual one, over 1.5x it):
  empty slices are inserted where the missing ones belong, flagged in
  ``VolumeMetadata.incomplete_slices`` and filled with the volume minimum, never interpolated.
* **Non-uniform spacing** (e.g. 2.5 mm then 5 mm): resampled by linear interpolation between the two
  nearest real slices onto a regular grid whose step is the smallest real step (as dcm2niix's
  ``_Eq`` output), with a warning that says so.
* **Gantry tilt** (slice positions drift within the slice plane): every slice is shifted in-plane by
  linear interpolation onto an orthogonal grid (as dcm2niix's ``_Tilt`` output), so each voxel lies
  where the DICOM tags of its slice put it. A Volume is therefore never sheared beyond rounding
  noise, and NIfTI export can write the affine as both qform and sform. Voxels that the shift moves
  in from outside the scanned field hold no data and are set to the volume minimum.

Values are rescaled per slice (RescaleSlope/Intercept) into int16 when every slice maps exactly into
int16 range, float32 otherwise; never float64. Peak memory is the output array plus a few slices.

The middle slice is decoded first and can be shown at once (``on_first_slices``, RELIABILITY.md
E37); uncompressed slices are read straight into the output array (:mod:`viewer.io.dicom_pixels`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from viewer.core.geometry import orientation_is_valid, slice_normal
from viewer.core.progress import CancelCheck, ProgressCallback, Reporter
from viewer.core.volume import Volume, VolumeMetadata
from viewer.errors import (
    IncompleteSeriesError,
    InvalidGeometryError,
    MemoryBudgetError,
    UnreadableFileError,
    UnsupportedCompressionError,
)
from viewer.io.dicom_headers import SliceHeader
from viewer.io.dicom_pixels import (
    FLOAT_NO_DATA,
    INT16_NO_DATA,
    FrameReader,
    Rescale,
    ValuesExceedInt16,
    check_decodable,
    decode_real,
    stored_range,
)

POSITION_TOLERANCE = 0.01
"""A slice may sit this fraction of the slice step off the regular grid and still count as on it."""
MIN_POSITION_TOLERANCE_MM = 0.001
SAME_POSITION_MM = 0.001
"""Two slices closer than this along the normal are at the same position (mm)."""
GAP_FACTOR = 1.5
"""A step more than this many times the usual one is a gap (missing slices)."""
TILT_TOLERANCE_PX = 0.05
"""In-plane drift of slice positions (pixels) up to which the drift is kept exactly in the affine as
rounding noise; beyond it the stack is treated as gantry-tilted and resampled."""


@dataclass(frozen=True)
class StackPlan:
    """How the position-sorted source slices map onto the output grid.

    Attributes
    ----------
    voxel2patient : ndarray of shape (4, 4)
        Output grid, LPS mm.
    taps : tuple of (int, int, float)
        Per output slice: source slices ``a`` and ``b`` and the weight of ``b`` in a linear blend;
        ``(-1, -1, 0.0)`` for a missing slice that holds no data.
    shifts_px : ndarray of shape (n_sources, 2) or None
        For a gantry-tilted stack, where on its source slice each output voxel is sampled, as a
        (row, column) offset in pixels; ``None`` when the slices need no in-plane shift.
    warnings : tuple of str
    """

    voxel2patient: np.ndarray
    taps: tuple[tuple[int, int, float], ...]
    shifts_px: np.ndarray | None
    warnings: tuple[str, ...]

    @property
    def n_slices(self) -> int:
        """Number of output slices."""
        return len(self.taps)

    @property
    def is_direct(self) -> bool:
        """Whether every output slice is one source slice as stored (or a missing one)."""
        return self.shifts_px is None and all(a == b for a, b, _ in self.taps)


@dataclass(frozen=True)
class PartialVolume:
    """A volume while its slices are being decoded, for showing it before the load finishes.

    Attributes
    ----------
    volume : Volume
        A read-only view of the array being filled, with the final ``voxel2patient`` and the
        metadata known before decoding (the warnings about gaps, resampling, tilt and rescale;
        not yet those found while decoding, nor ``incomplete_slices``).
    filled : ndarray of shape (Z,), bool
        A read-only, live view: ``filled[k]`` becomes True once slice ``k`` holds its decoded
        values. Voxels without data (padding, missing or unreadable slices) hold the lowest value
        of the dtype until the load completes, when they are set to the volume minimum.

    Notes
    -----
    The arrays keep changing in the loading thread after the callback returns; read a slice only
    once ``filled`` says it is in. The volume the loader returns shares the same memory.
    """

    volume: Volume
    filled: np.ndarray

    @property
    def filled_count(self) -> int:
        """Number of slices decoded so far."""
        return int(np.count_nonzero(self.filled))


FirstSlicesCallback = Callable[[PartialVolume], None]
"""Called (in the loading thread) as soon as the middle slice is decoded, with the volume being
filled; called once more, with a new float32 array, if a later slice does not fit int16."""


def build_volume(
    headers: Sequence[SliceHeader],
    *,
    progress: ProgressCallback | None = None,
    cancelled: CancelCheck | None = None,
    memory_budget_bytes: int | None = None,
    on_first_slices: FirstSlicesCallback | None = None,
) -> Volume:
    """Decode one stack of DICOM slices into a volume in patient space.

    Parameters
    ----------
    headers : sequence of SliceHeader
        One regular stack (``SeriesEntry.source``), in any order.
    progress, cancelled : callable, optional
        See :mod:`viewer.core.progress`; progress is reported once per output slice.
    memory_budget_bytes : int, optional
        Refuse to allocate a volume larger than this. By default, the memory the system reports as
        available (``MemAvailable``), so the loader fails with a message rather than being killed.
    on_first_slices : callable, optional
        ``on_first_slices(partial)`` with a :class:`PartialVolume`, as soon as the middle slice
        (decoded first) is in, so that a viewer can show it at once and refresh as the other
        slices arrive (follow ``partial.filled``, or ``progress``).

    Returns
    -------
    Volume
        ``array`` of shape (slices, rows, columns), int16 where every slice's rescale maps exactly
        into int16, else float32; ``voxel2patient`` in LPS mm; metadata with warnings, the indices
        of slices without data (``incomplete_slices``) and ``source_paths`` in slice order.

    Raises
    ------
    viewer.errors.InvalidGeometryError
        Missing or unusable ImagePositionPatient/ImageOrientationPatient/PixelSpacing, slices that
        do not belong to one stack, or two slices at the same position (the file is named).
    viewer.errors.UnsupportedCompressionError
        No decoder is installed for the transfer syntax (the message says what to install).
    viewer.errors.UnreadableFileError
        Colour pixel data or an unsupported pixel layout.
    viewer.errors.MemoryBudgetError
        The volume would exceed the memory budget (sizes in the message).
    viewer.errors.IncompleteSeriesError
        No slice could be read at all.
    viewer.errors.OperationCancelled
    """
    reporter = Reporter(progress, cancelled)
    reporter.check()
    if not headers:
        raise IncompleteSeriesError("no slices to build a volume from")
    for header in headers:
        _check_geometry(header, headers[0])
    check_decodable(headers)
    ordered = sort_by_position(headers)
    plan = plan_stack(ordered)
    rescales, rescale_warnings = _rescales(ordered)
    dtype = _choose_dtype(ordered, rescales)
    first = ordered[0]
    shape = (plan.n_slices, first.rows, first.columns)
    _check_memory(shape, dtype, first.path, memory_budget_bytes)

    warnings = [*plan.warnings, *rescale_warnings]
    if any(h.photometric_interpretation == "MONOCHROME1" for h in ordered):
        warnings.append("MONOCHROME1 pixel data inverted so that bright means dense")
    if any(h.burned_in_annotation for h in ordered):
        warnings.append(
            "possibly carries patient identifiers burned into the pixels "
            "(BurnedInAnnotation YES or a secondary capture)"
        )
    announce = None
    if on_first_slices is not None:
        preview = _metadata(ordered, warnings, ())

        def announce(array: np.ndarray, filled: np.ndarray) -> None:
            on_first_slices(
                PartialVolume(Volume(_read_only(array), plan.voxel2patient, preview), filled)
            )

    assembler = _Assembler(ordered, rescales, plan, np.empty(shape, dtype), reporter, announce)
    array = assembler.run()
    metadata = _metadata(
        ordered, [*warnings, *assembler.warnings], tuple(sorted(assembler.incomplete))
    )
    return Volume(array, plan.voxel2patient, metadata)


def _read_only(array: np.ndarray) -> np.ndarray:
    """A read-only view of ``array`` that sees later writes to it."""
    view = array.view()
    view.flags.writeable = False
    return view


def _arrival_order(count: int) -> list[int]:
    """Slice indices in decoding order: the middle one first (the one a viewer shows first).

    Examples
    --------
    >>> _arrival_order(5)
    [2, 0, 1, 3, 4]
    """
    middle = count // 2
    return [middle, *range(middle), *range(middle + 1, count)]


def _check_geometry(header: SliceHeader, reference: SliceHeader) -> None:
    """Refuse a slice whose geometry tags are missing or unusable, or that is not of this stack."""
    if header.image_position is None:
        raise InvalidGeometryError(
            "no ImagePositionPatient (0020,0032): the slice cannot be placed in patient space "
            "(Interval does not guess positions)",
            header.path,
        )
    if header.image_orientation is None:
        raise InvalidGeometryError(
            "no ImageOrientationPatient (0020,0037): the slice orientation is unknown", header.path
        )
    if header.pixel_spacing is None:
        raise InvalidGeometryError(
            "no PixelSpacing (0028,0030): distances in the image are unknown", header.path
        )
    if not all(math.isfinite(v) for v in header.image_position):
        raise InvalidGeometryError("ImagePositionPatient is not a finite number", header.path)
    # Slices of a stack nearly always repeat the first slice's values exactly; only a value that
    # differs needs checking again (this runs once per slice).
    same_orientation = header.image_orientation == reference.image_orientation
    if (header is reference or not same_orientation) and not orientation_is_valid(
        header.image_orientation, tolerance=1e-2
    ):
        values = ", ".join(f"{v:g}" for v in header.image_orientation)
        raise InvalidGeometryError(
            f"invalid ImageOrientationPatient ({values}): not two unit vectors at right angles",
            header.path,
        )
    same_spacing = header.pixel_spacing == reference.pixel_spacing
    if (header is reference or not same_spacing) and not all(
        math.isfinite(v) and v > 0 for v in header.pixel_spacing
    ):
        values = ", ".join(f"{v:g}" for v in header.pixel_spacing)
        raise InvalidGeometryError(f"invalid PixelSpacing ({values} mm)", header.path)
    if header is reference:
        return
    problem = None
    if (header.rows, header.columns) != (reference.rows, reference.columns):
        problem = f"matrix {header.rows}x{header.columns}"
    elif not same_orientation and not np.allclose(
        header.image_orientation, reference.image_orientation, atol=1e-3
    ):
        problem = "ImageOrientationPatient"
    elif not same_spacing and not np.allclose(
        header.pixel_spacing, reference.pixel_spacing, rtol=1e-4, atol=1e-4
    ):
        problem = "PixelSpacing"
    elif header.bits_allocated != reference.bits_allocated:
        problem = "BitsAllocated"
    if problem is not None:
        raise InvalidGeometryError(
            f"not part of one stack with {reference.path}: {problem} differs", header.path
        )


def sort_by_position(headers: Sequence[SliceHeader]) -> list[SliceHeader]:
    """Sort slices by their position along the slice normal (row cosine x column cosine).

    Parameters
    ----------
    headers : sequence of SliceHeader
        With valid, shared ImageOrientationPatient and an ImagePositionPatient each.

    Returns
    -------
    list of SliceHeader
        Ascending along the normal, so the volume's slice axis points along the normal.

    Raises
    ------
    viewer.errors.InvalidGeometryError
        Two slices at the same position (both files are named).
    """
    normal = slice_normal(headers[0].image_orientation)  # type: ignore[arg-type]
    distances = [float(np.dot(h.image_position, normal)) for h in headers]  # type: ignore[arg-type]
    order = sorted(range(len(headers)), key=distances.__getitem__)
    for a, b in zip(order, order[1:], strict=False):
        if distances[b] - distances[a] < SAME_POSITION_MM:
            raise InvalidGeometryError(
                f"two images at the same position ({distances[a]:.3f} mm along the slice "
                f"normal): {_frame_name(headers[a])} and {_frame_name(headers[b])}; "
                "one stack cannot hold both",
                headers[b].path,
            )
    return [headers[i] for i in order]


def plan_stack(ordered: Sequence[SliceHeader]) -> StackPlan:
    """Work out the output grid of a stack sorted by :func:`sort_by_position`.

    Parameters
    ----------
    ordered : sequence of SliceHeader
        Sorted along the slice normal, with validated geometry.

    Returns
    -------
    StackPlan
        The grid, how each output slice is made from the source slices, and warnings describing
        any gap, resampling or tilt correction.
    """
    first = ordered[0]
    iop = np.asarray(first.image_orientation, dtype=np.float64)
    row_cosine, column_cosine = iop[:3], iop[3:]
    normal = slice_normal(iop)
    row_spacing, column_spacing = (float(v) for v in first.pixel_spacing)  # type: ignore[union-attr]
    positions = np.array([h.image_position for h in ordered], dtype=np.float64)
    relative = positions - positions[0]
    along = relative @ normal
    inplane = relative - np.outer(along, normal)
    # Drift of each slice's first pixel within the slice plane, in (row, column) pixels.
    drift_px = np.stack(
        [inplane @ column_cosine / row_spacing, inplane @ row_cosine / column_spacing], axis=1
    )

    affine = np.eye(4)
    affine[:3, 1] = column_cosine * row_spacing
    affine[:3, 2] = row_cosine * column_spacing
    affine[:3, 3] = positions[0]
    warnings: list[str] = []
    if len(ordered) == 1:
        thickness = first.slice_thickness
        if thickness is None or not thickness > 0:
            thickness = 1.0
            warnings.append("a single slice without SliceThickness: shown 1 mm thick")
        affine[:3, 0] = normal * thickness
        return StackPlan(affine, ((0, 0, 0.0),), None, tuple(warnings))

    tilted = float(np.abs(drift_px).max()) > TILT_TOLERANCE_PX
    slots = _regular_slots(along, ordered, warnings)
    shifts = None
    if tilted:
        centre = (drift_px.min(axis=0) + drift_px.max(axis=0)) / 2.0
        shifts = centre - drift_px
        affine[:3, 3] = positions[0] + affine[:3, 1:3] @ centre
        warnings.append(_tilt_warning(ordered, along, drift_px, row_spacing, column_spacing))

    if slots is not None:
        count = int(slots[-1]) + 1
        sources = dict(zip(slots.tolist(), range(len(ordered)), strict=True))
        taps = tuple(
            (sources[k], sources[k], 0.0) if k in sources else (-1, -1, 0.0) for k in range(count)
        )
        # Rounding noise in the in-plane drift (below the tilt tolerance) stays in the step, so
        # every slice is exactly where its position puts it.
        step = along[-1] / (count - 1) * normal if tilted else relative[-1] / (count - 1)
        affine[:3, 0] = step
        return StackPlan(affine, taps, shifts, tuple(warnings))

    taps, step_mm = _equidistant_taps(along)
    affine[:3, 0] = normal * step_mm
    steps = np.diff(along)
    widest = int(np.argmax(steps))
    warnings.append(
        f"non-uniform slice spacing (steps from {steps.min():.3g} to {steps.max():.3g} mm, the "
        f"widest between {_frame_name(ordered[widest])} and {_frame_name(ordered[widest + 1])}): "
        f"resampled by linear interpolation onto a regular {step_mm:.3g} mm grid of "
        f"{len(taps)} slices (as dcm2niix's _Eq output); slices are placed where their "
        "ImagePositionPatient puts them"
    )
    return StackPlan(affine, taps, shifts, tuple(warnings))


def _regular_slots(
    along: np.ndarray, ordered: Sequence[SliceHeader], warnings: list[str]
) -> np.ndarray | None:
    """Output slice index of each source slice, or ``None`` when the stack must be resampled.

    A regular stack maps slice i to i. Isolated steps that are a whole multiple of the usual step
    are missing slices: the slices after them move up by the number missing (and a warning says
    where). Any other irregularity needs resampling.
    """
    steps = np.diff(along)
    step = float(np.median(steps))
    tolerance = max(MIN_POSITION_TOLERANCE_MM, POSITION_TOLERANCE * step)
    multiples = np.maximum(np.rint(steps / step), 1.0)
    off_grid = np.abs(steps - multiples * step) > tolerance * multiples
    if off_grid.any():
        return None
    gaps = np.flatnonzero(multiples > 1)
    if len(gaps) and np.any(np.diff(gaps) == 1):
        return None  # runs of larger steps: a protocol change, not lost slices
    if np.any(steps[gaps] <= GAP_FACTOR * step):
        return None
    slots = np.concatenate([[0], np.cumsum(multiples)]).astype(np.int64)
    for gap in gaps:
        missing = int(multiples[gap]) - 1
        first_missing = int(slots[gap]) + 1
        where = (
            f"index {first_missing}"
            if missing == 1
            else f"indices {first_missing}-{first_missing + missing - 1}"
        )
        warnings.append(
            f"missing slice{'s' if missing > 1 else ''}: a {steps[gap]:.3g} mm gap where "
            f"{step:.3g} mm was expected, between {_frame_name(ordered[gap])} and "
            f"{_frame_name(ordered[gap + 1])}; {missing} empty slice{'s' if missing > 1 else ''} "
            f"inserted at {where}, flagged as holding no data (not interpolated); "
            "measurements across the gap are unreliable"
        )
    return slots


def _equidistant_taps(along: np.ndarray) -> tuple[tuple[tuple[int, int, float], ...], float]:
    """Linear-interpolation taps onto a grid whose step is the smallest real step (dcm2niix _Eq)."""
    steps = np.diff(along)
    smallest = float(steps.min())
    extent = float(along[-1])
    count = min(int(math.ceil(extent / smallest - 1e-6)) + 1, 2 * len(along))
    step_mm = extent / (count - 1)
    taps = []
    for k in range(count):
        z = k * step_mm
        b = int(np.searchsorted(along, z, side="left"))
        if b < len(along) and abs(along[b] - z) <= MIN_POSITION_TOLERANCE_MM:
            taps.append((b, b, 0.0))
            continue
        b = min(max(b, 1), len(along) - 1)
        a = b - 1
        weight = (z - along[a]) / (along[b] - along[a])
        taps.append((a, b, float(min(max(weight, 0.0), 1.0))))
    return tuple(taps), step_mm


def _tilt_warning(
    ordered: Sequence[SliceHeader],
    along: np.ndarray,
    drift_px: np.ndarray,
    row_spacing: float,
    column_spacing: float,
) -> str:
    drift_mm = np.hypot(drift_px[:, 0] * row_spacing, drift_px[:, 1] * column_spacing)
    angle = math.degrees(math.atan2(float(drift_mm[-1]), float(along[-1])))
    tags = [h.gantry_tilt_deg for h in ordered if h.gantry_tilt_deg]
    declared = f" (GantryDetectorTilt {tags[0]:g} degrees)" if tags else ""
    edge_mm = float(drift_mm.max()) / 2.0
    return (
        f"gantry tilt of {angle:.2f} degrees{declared}: slice positions drift by up to "
        f"{float(drift_mm.max()):.3g} mm within the slice plane; each slice was shifted in-plane "
        "by linear interpolation onto an orthogonal grid (as dcm2niix's _Tilt output) so every "
        f"voxel is where its slice's ImagePositionPatient puts it; up to {edge_mm:.3g} mm at the "
        "image edges has no data and holds the minimum value"
    )


def _rescales(ordered: Sequence[SliceHeader]) -> tuple[list[Rescale], list[str]]:
    """Per-slice modality LUT; a slope of 0, or a missing slope where one is expected, becomes 1.

    MR images commonly carry no rescale at all (identity); that is not worth a warning. A CT
    without a slope, or any image with an intercept but no slope, is.
    """
    rescales = []
    zero, missing = [], []
    for h in ordered:
        slope = h.rescale_slope
        if slope is None:
            if h.rescale_intercept is not None or h.modality == "CT":
                missing.append(h.path)
            slope = 1.0
        elif slope == 0 or not math.isfinite(slope):
            zero.append(h.path)
            slope = 1.0
        intercept = h.rescale_intercept if h.rescale_intercept is not None else 0.0
        if not math.isfinite(intercept):
            zero.append(h.path)
            intercept = 0.0
        rescales.append(Rescale(float(slope), float(intercept)))
    warnings = []
    for paths, what in ((zero, "RescaleSlope is 0 or not a number"), (missing, "no RescaleSlope")):
        if paths:
            warnings.append(
                f"{what} in {len(set(paths))} file(s) (e.g. {paths[0]}): a slope of 1 was used"
            )
    return rescales, warnings


def _choose_dtype(ordered: Sequence[SliceHeader], rescales: Sequence[Rescale]) -> np.dtype:
    """int16 when every slice's rescale is integral and stored values can map into int16.

    When the declared stored range could overflow int16 but the real values may well not (uint16
    CT with intercept -1024), int16 is chosen optimistically and each slice is checked as it is
    decoded; the first slice that does not fit turns the volume into float32.
    """
    if not all(r.is_integral for r in rescales):
        return np.dtype(np.float32)
    for header, rescale in zip(ordered, rescales, strict=True):
        if header.bits_allocated > 16:
            low, high = stored_range(header)
            real_low, real_high = rescale.real_range(low, high)
            if real_low < -32768 or real_high > 32767:
                return np.dtype(np.float32)
    return np.dtype(np.int16)


def _available_memory_bytes() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _check_memory(
    shape: tuple[int, int, int], dtype: np.dtype, path: str, budget_bytes: int | None
) -> None:
    needed = math.prod(shape) * dtype.itemsize
    source = "the memory budget"
    if budget_bytes is None:
        budget_bytes = _available_memory_bytes()
        source = "the memory available"
    if budget_bytes is not None and needed > budget_bytes:
        raise MemoryBudgetError(
            f"the volume needs {needed / 2**20:.1f} MiB ({shape[0]} slices of {shape[1]} x "
            f"{shape[2]} {dtype.name}) but {source} is {budget_bytes / 2**20:.1f} MiB",
            os.path.dirname(path) or path,
        )


class _Assembler:
    """Fills the output array slice by slice, tracking what holds no data."""

    def __init__(
        self,
        ordered: Sequence[SliceHeader],
        rescales: Sequence[Rescale],
        plan: StackPlan,
        out: np.ndarray,
        reporter: Reporter,
        announce: Callable[[np.ndarray, np.ndarray], None] | None = None,
    ) -> None:
        self.ordered = ordered
        self.rescales = rescales
        self.plan = plan
        self.out = out
        self.reporter = reporter
        self.announce = announce
        self.announced = False
        self.filled = np.zeros(plan.n_slices, dtype=bool)
        self.reader = FrameReader()
        self.scratch: dict[np.dtype, np.ndarray] = {}
        self.low: float | None = None
        self.unranged: list[int] = []
        """Slices decoded in place without computing their range (see :func:`decode_real`)."""
        self.padded = 0
        self.incomplete: set[int] = set()
        self.needs_fill: set[int] = set()
        self.broken: dict[int, str] = {}
        self.warnings: list[str] = []
        self._cache: dict[int, np.ndarray | None] = {}

    def run(self) -> np.ndarray:
        total = self.plan.n_slices
        direct = self.plan.is_direct
        with self.reader:
            for done, k in enumerate(_arrival_order(total)):
                self.reporter.step(done, total, f"Reading slice {done + 1} of {total}")
                a, b, weight = self.plan.taps[k]
                if a < 0:
                    self._mark_no_data(k)
                elif direct:
                    self._direct(k, a)
                else:
                    self._resampled(k, a, b, weight)
                self.filled[k] = True
                if self.announce is not None and not self.announced:
                    self.announced = True
                    self.announce(self.out, _read_only(self.filled))
        self.reporter.step(total, total, "Volume assembled")
        self.warnings.extend(dict.fromkeys(self.reader.warnings))
        if self.low is None and not self.unranged:
            files = "; ".join(f"{self.ordered[i].path}: {why}" for i, why in self.broken.items())
            raise IncompleteSeriesError(
                f"no slice of the series could be read ({files or 'no data'})",
                self.ordered[0].path,
            )
        if self.unranged and (self.needs_fill or self.broken or self.padded):
            lows = [float(self.out[k].min()) for k in self.unranged]
            self.low = min(lows if self.low is None else [self.low, *lows])
        self._fill_no_data()
        self._report()
        return self.out

    def _mark_no_data(self, k: int) -> None:
        self.out[k] = _no_data(self.out.dtype)
        self.incomplete.add(k)
        self.needs_fill.add(k)

    def _decode(self, source: int, k: int | None = None) -> np.ndarray | None:
        """Decode source slice ``source`` into ``out[k]`` (a new slice buffer when ``k`` is None).

        Returns the buffer, or None (and the reason noted) when the slice cannot be read.
        """
        header = self.ordered[source]
        while True:
            dest = self.out[k] if k is not None else np.empty(self.out.shape[1:], self.out.dtype)
            try:
                # Output slices that are source slices as stored hold exactly their real
                # values, so their minimum can be taken at the end, and only if needed.
                low, _, padded = decode_real(
                    self.reader,
                    header,
                    self.rescales[source],
                    dest,
                    self.scratch,
                    value_range=k is None,
                )
            except ValuesExceedInt16:
                self._switch_to_float32()
                continue
            except UnsupportedCompressionError:
                raise
            except UnreadableFileError as exc:
                self.broken[source] = exc.reason
                return None
            break
        if padded and k is not None:
            self.needs_fill.add(k)
        if low is None and not padded and k is not None:
            self.unranged.append(k)
        self.padded += padded
        if low is not None:
            self.low = low if self.low is None else min(self.low, low)
        return dest

    def _switch_to_float32(self) -> None:
        """Convert what is decoded so far to float32 (a slice does not fit int16; a full copy)."""
        converted = self.out.astype(np.float32)
        for k in self.needs_fill:
            converted[k][self.out[k] == INT16_NO_DATA] = FLOAT_NO_DATA
        self.out = converted
        if self.announced and self.announce is not None:
            self.announce(self.out, _read_only(self.filled))

    def _direct(self, k: int, source: int) -> None:
        if self._decode(source, k) is None:
            self._mark_no_data(k)

    def _source(self, source: int) -> np.ndarray | None:
        """Source slice as float64 real values (NaN where no data), shifted for tilt; cached."""
        if source in self._cache:
            return self._cache[source]
        decoded = self._decode(source)
        values = None
        if decoded is not None:
            values = decoded.astype(np.float64)
            values[decoded == decoded.dtype.type(_no_data(decoded.dtype))] = np.nan
            if self.plan.shifts_px is not None:
                values = _shift_image(values, *self.plan.shifts_px[source])
        if len(self._cache) >= 2:
            del self._cache[min(self._cache)]
        self._cache[source] = values
        return values

    def _resampled(self, k: int, a: int, b: int, weight: float) -> None:
        first = self._source(a)
        second = self._source(b) if weight > 0 else first
        if first is None or second is None:
            self._mark_no_data(k)
            return
        values = first if weight == 0 else (1.0 - weight) * first + weight * second
        no_data = np.isnan(values)
        if self.out.dtype == np.int16:
            values = np.rint(values)
        values[no_data] = _no_data(self.out.dtype)
        np.copyto(self.out[k], values, casting="unsafe")
        if no_data.any():
            self.needs_fill.add(k)

    def _fill_no_data(self) -> None:
        if not self.needs_fill:
            return
        marker = _no_data(self.out.dtype)
        fill = self.out.dtype.type(self.low)
        for k in self.needs_fill:
            plane = self.out[k]
            plane[plane == marker] = fill

    def _report(self) -> None:
        units = " HU" if self.ordered[0].modality == "CT" else ""
        if self.broken:
            details = "; ".join(
                f"{_frame_name(self.ordered[i])}: {why}" for i, why in sorted(self.broken.items())
            )
            self.warnings.append(
                f"incomplete series: {len(self.broken)} slice(s) could not be read and hold no "
                f"data (set to the minimum value {self.low:g}{units} and flagged): {details}"
            )
        if self.padded:
            values = sorted({h.pixel_padding_value for h in self.ordered} - {None})
            self.warnings.append(
                f"{self.padded} voxels equal to PixelPaddingValue "
                f"{', '.join(str(v) for v in values)} (outside the scanned field) were set to the "
                f"minimum value {self.low:g}{units}"
            )


def _no_data(dtype: np.dtype) -> float:
    return float(INT16_NO_DATA) if dtype == np.int16 else float(FLOAT_NO_DATA)


def _shift_image(image: np.ndarray, row_shift: float, column_shift: float) -> np.ndarray:
    """Sample ``image`` at ``(row + row_shift, column + column_shift)`` by linear interpolation.

    Parameters
    ----------
    image : ndarray of shape (Y, X), float64
    row_shift, column_shift : float
        Offsets in pixels.

    Returns
    -------
    ndarray of shape (Y, X), float64
        NaN where the sample falls outside the image.

    Examples
    --------
    >>> _shift_image(np.array([[0.0, 10.0, 20.0]]), 0.0, 0.5)
    array([[ 5., 15., nan]])
    """
    return _shift_axis(_shift_axis(image, row_shift, 0), column_shift, 1)


def _shift_axis(image: np.ndarray, shift: float, axis: int) -> np.ndarray:
    if abs(shift) < 1e-9:
        return image
    source = np.moveaxis(image, axis, 0)
    result = np.full_like(source, np.nan)
    length = source.shape[0]
    whole = math.floor(shift)
    fraction = shift - whole
    if fraction < 1e-9:
        fraction = 0.0
    # result[i] = (1 - f) * source[i + whole] + f * source[i + whole + 1]
    start = max(0, -whole)
    stop = min(length, length - whole - (1 if fraction else 0))
    if start < stop:
        target = result[start:stop]
        np.multiply(source[start + whole : stop + whole], 1.0 - fraction, out=target)
        if fraction:
            target += fraction * source[start + whole + 1 : stop + whole + 1]
    return np.moveaxis(result, 0, axis)


def _frame_name(header: SliceHeader) -> str:
    name = os.path.basename(header.path)
    return name if header.frame_index is None else f"{name} frame {header.frame_index + 1}"


def _metadata(
    ordered: Sequence[SliceHeader], warnings: list[str], incomplete: tuple[int, ...]
) -> VolumeMetadata:
    first = ordered[0]
    times = [h.acquisition_datetime for h in ordered if h.acquisition_datetime is not None]
    rescale_type = first.rescale_type.strip().upper()
    if first.modality == "CT" and rescale_type in ("", "HU"):
        units = "HU"
    else:
        units = "" if rescale_type in ("", "US") else first.rescale_type.strip()
    acquisition = dict(first.extra)
    return VolumeMetadata(
        modality=first.modality,
        description=first.series_description,
        units=units,
        series_instance_uid=first.series_instance_uid,
        series_number=first.series_number,
        study_instance_uid=first.study_instance_uid,
        study_date=first.study_date,
        study_description=first.study_description,
        acquisition_datetime=min(times) if times else None,
        frame_of_reference_uid=first.frame_of_reference_uid,
        patient_id=first.patient_id,
        patient_name=first.patient_name,
        patient_birth_date=first.patient_birth_date,
        slice_thickness_mm=first.slice_thickness,
        contrast_agent=next((h.contrast_agent for h in ordered if h.contrast_agent), ""),
        acquisition=acquisition,
        source_paths=tuple(dict.fromkeys(h.path for h in ordered)),
        warnings=tuple(dict.fromkeys(warnings)),
        incomplete_slices=incomplete,
    )
