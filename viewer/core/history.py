"""Undo/redo of label-map edits, one history per series, stored as the voxels each edit changed.

An edit keeps only the bounding box of the voxels it changed, with their values before and after,
so a brush stroke or a 3-D grow of a small lesion costs kilobytes and 100 steps fit in memory
even on a 512x512x300 series. A history serialises to a deterministic ``.npz`` archive (never
pickle), which the case file stores next to the label map it belongs to.
"""

from __future__ import annotations

import io
import operator
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from viewer.core.geometry import bounding_box

BoxBounds = tuple[tuple[int, int], tuple[int, int], tuple[int, int]]
"""(start, stop) voxel indices per axis (slice, row, column); stop is exclusive."""

_FORMAT_VERSION = 1
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed member time stamps: equal histories, equal bytes
_ARRAYS = {
    "version": (np.dtype(np.int64), 0),
    "position": (np.dtype(np.int64), 0),
    "boxes": (np.dtype(np.int64), 3),
    "before": (np.dtype(np.uint16), 1),
    "after": (np.dtype(np.uint16), 1),
    "description_bytes": (np.dtype(np.uint8), 1),
    "description_lengths": (np.dtype(np.int64), 1),
}
"""The arrays of a serialised history: name -> (dtype, number of dimensions)."""


@dataclass(frozen=True, eq=False)
class Edit:
    """One undoable change of a label map: the changed box's voxel values before and after.

    Parameters
    ----------
    box : BoxBounds
        (start, stop) per axis (slice, row, column) of the changed region, ``0 <= start < stop``.
    before : ndarray of uint16, shape of the box
        Label values before the edit (lesion numbers, 0 background).
    after : ndarray of uint16, shape of the box
        Label values after the edit.
    description : str
        What the edit was, e.g. ``"Brush on L1"``; the UI shows ``"Undo Brush on L1"``.

    The arrays are kept as read-only views: an edit never changes once recorded.
    """

    box: BoxBounds
    before: np.ndarray
    after: np.ndarray
    description: str

    def __post_init__(self) -> None:
        box = _box_bounds(self.box)
        extent = tuple(stop - start for start, stop in box)
        for name in ("before", "after"):
            values = getattr(self, name)
            if not isinstance(values, np.ndarray) or values.dtype != np.uint16:
                raise ValueError(f"edit {name} must be a uint16 array")
            if values.shape != extent:
                raise ValueError(f"edit {name} has shape {values.shape}, its box {extent}")
            frozen = values.view()
            frozen.flags.writeable = False
            object.__setattr__(self, name, frozen)
        if not isinstance(self.description, str):
            raise ValueError("edit description must be text")
        object.__setattr__(self, "box", box)

    @property
    def slices(self) -> tuple[slice, slice, slice]:
        """The box as slices indexing a label map."""
        return tuple(slice(start, stop) for start, stop in self.box)  # type: ignore[return-value]

    @property
    def nbytes(self) -> int:
        """Memory the edit holds (before and after), in bytes."""
        return self.before.nbytes + self.after.nbytes


class EditHistory:
    """Undo/redo history of one series' label map.

    ``steps[:position]`` are applied to the label map; ``steps[position:]`` can be redone.

    Parameters
    ----------
    max_steps : int
        Oldest steps beyond this many are dropped (the issue asks for at least 50).
    max_bytes : int
        Oldest steps are dropped while all steps together hold more than this many bytes
        (before + after values); the newest step is always kept, however large.

    Examples
    --------
    >>> labels = np.zeros((2, 4, 4), np.uint16)
    >>> history = EditHistory()
    >>> box = (slice(0, 1), slice(0, 4), slice(0, 4))
    >>> before = labels[box].copy()
    >>> labels[0, 1:3, 1:3] = 1
    >>> history.record(labels, box, before, "Brush on L1").box
    ((0, 1), (1, 3), (1, 3))
    >>> history.undo(labels).description, int(labels.sum()), history.redo_description
    ('Brush on L1', 0, 'Brush on L1')
    """

    DEFAULT_MAX_STEPS = 100
    DEFAULT_MAX_BYTES = 256 * 2**20

    def __init__(
        self, max_steps: int = DEFAULT_MAX_STEPS, max_bytes: int = DEFAULT_MAX_BYTES
    ) -> None:
        if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1:
            raise ValueError(f"max_steps must be a positive int, got {max_steps!r}")
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 0:
            raise ValueError(f"max_bytes must be a non-negative int, got {max_bytes!r}")
        self.max_steps = max_steps
        self.max_bytes = max_bytes
        self._steps: list[Edit] = []
        self._position = 0
        self._nbytes = 0
        self._serialised: bytes | None = None

    # ------------------------------------------------------------------ editing

    def record(
        self,
        labels: np.ndarray,
        box: tuple[slice, slice, slice],
        before: np.ndarray,
        description: str,
    ) -> Edit | None:
        """Record an edit already applied to ``labels`` in place.

        Parameters
        ----------
        labels : ndarray of uint16, shape (slices, rows, columns)
            The label map after the edit.
        box : tuple of 3 slice
            Region the edit may have changed (step 1).
        before : ndarray of uint16, shape of ``labels[box]``
            Copy of ``labels[box]`` taken before the edit.
        description : str
            E.g. ``"Brush on L1"``.

        Returns
        -------
        Edit or None
            The recorded step, its box shrunk to the voxels that changed; None (nothing recorded,
            the redo steps kept) when no voxel changed.

        Raises
        ------
        ValueError
            ``labels`` or ``before`` is not uint16, or ``before`` does not have the box's shape.
        """
        _check_labels(labels)
        slices = _normalised_box(box, labels.shape)
        if not isinstance(before, np.ndarray) or before.dtype != np.uint16:
            raise ValueError("`before` must be a uint16 array (a copy of labels[box])")
        after = labels[slices]
        if before.shape != after.shape:
            raise ValueError(f"`before` has shape {before.shape}, labels[box] {after.shape}")
        inner = bounding_box(before != after)
        if inner is None:
            return None
        bounds = tuple(
            (outer.start + part.start, outer.start + part.stop)
            for outer, part in zip(slices, inner, strict=True)
        )
        edit = Edit(bounds, before[inner].copy(), after[inner].copy(), description)  # type: ignore[arg-type]
        del self._steps[self._position :]
        self._steps.append(edit)
        self._position = len(self._steps)
        self._nbytes = sum(step.nbytes for step in self._steps)
        while len(self._steps) > 1 and (
            len(self._steps) > self.max_steps or self._nbytes > self.max_bytes
        ):
            self._nbytes -= self._steps.pop(0).nbytes
            self._position -= 1
        self._serialised = None
        return edit

    def undo(self, labels: np.ndarray) -> Edit | None:
        """Put back the newest applied step's ``before`` values; None when nothing to undo."""
        if not self.can_undo:
            return None
        edit = self._steps[self._position - 1]
        _check_fits(labels, edit)
        labels[edit.slices] = edit.before
        self._position -= 1
        self._serialised = None
        return edit

    def redo(self, labels: np.ndarray) -> Edit | None:
        """Apply the next undone step's ``after`` values again; None if there is nothing to redo."""
        if not self.can_redo:
            return None
        edit = self._steps[self._position]
        _check_fits(labels, edit)
        labels[edit.slices] = edit.after
        self._position += 1
        self._serialised = None
        return edit

    # ------------------------------------------------------------------ state

    @property
    def can_undo(self) -> bool:
        """A step is applied that can be undone."""
        return self._position > 0

    @property
    def can_redo(self) -> bool:
        """An undone step can be redone."""
        return self._position < len(self._steps)

    @property
    def undo_description(self) -> str | None:
        """Description of the step :meth:`undo` would undo."""
        return self._steps[self._position - 1].description if self.can_undo else None

    @property
    def redo_description(self) -> str | None:
        """Description of the step :meth:`redo` would redo."""
        return self._steps[self._position].description if self.can_redo else None

    @property
    def steps(self) -> tuple[Edit, ...]:
        """All steps, oldest first."""
        return tuple(self._steps)

    @property
    def position(self) -> int:
        """Number of steps applied: ``steps[:position]`` are in the label map."""
        return self._position

    @property
    def nbytes(self) -> int:
        """Memory held by all steps (before and after values), in bytes."""
        return self._nbytes

    def matches(self, labels: np.ndarray) -> bool:
        """Whether this history belongs to ``labels`` as they are now.

        True when the newest applied step's ``after`` and the next redo step's ``before`` both
        equal ``labels`` in their boxes (an empty history matches any label map). A history that
        does not match would undo into the wrong voxels: drop it.
        """
        if not isinstance(labels, np.ndarray) or labels.ndim != 3:
            return False
        checks = []
        if self.can_undo:
            applied = self._steps[self._position - 1]
            checks.append((applied, applied.after))
        if self.can_redo:
            following = self._steps[self._position]
            checks.append((following, following.before))
        for edit, expected in checks:
            if any(stop > n for (_, stop), n in zip(edit.box, labels.shape, strict=True)):
                return False
            if not np.array_equal(labels[edit.slices], expected):
                return False
        return True

    # ------------------------------------------------------------------ storage

    def to_bytes(self) -> bytes:
        """The history as a compressed ``.npz`` archive; equal histories give equal bytes.

        The limits (``max_steps``, ``max_bytes``) are settings, not content, and are not stored.
        """
        if self._serialised is None:
            steps = self._steps
            descriptions = [step.description.encode("utf-8") for step in steps]
            arrays = {
                "version": np.array(_FORMAT_VERSION, np.int64),
                "position": np.array(self._position, np.int64),
                "boxes": np.array([step.box for step in steps], np.int64).reshape(-1, 3, 2),
                "before": _concatenate([step.before for step in steps]),
                "after": _concatenate([step.after for step in steps]),
                "description_bytes": np.frombuffer(b"".join(descriptions), np.uint8),
                "description_lengths": np.array([len(d) for d in descriptions], np.int64),
            }
            buffer = io.BytesIO()
            # np.savez_compressed stamps each member with the current time: same layout, but
            # written here with a fixed time so that the content-hash file name is stable.
            with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
                for name, values in arrays.items():
                    member = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_TIME)
                    member.compress_type = zipfile.ZIP_DEFLATED
                    with archive.open(member, "w", force_zip64=True) as stream:
                        np.lib.format.write_array(stream, values, allow_pickle=False)
            self._serialised = buffer.getvalue()
        return self._serialised

    @classmethod
    def from_bytes(cls, data: bytes, shape: tuple[int, int, int]) -> EditHistory:
        """Read a history written by :meth:`to_bytes` for a label map of ``shape``.

        Parameters
        ----------
        data : bytes
        shape : tuple of 3 int
            (slices, rows, columns) of the label map the history belongs to.

        Returns
        -------
        EditHistory
            With the default limits; all stored steps are kept.

        Raises
        ------
        ValueError
            Not an ``.npz`` archive, an array missing or of the wrong type or shape, a box outside
            ``shape``, or a position out of range: the message says which.
        """
        dims = _shape(shape)
        arrays = _read_arrays(data)
        if int(arrays["version"]) != _FORMAT_VERSION:
            raise ValueError(f"unknown undo history version {int(arrays['version'])}")
        boxes, lengths = arrays["boxes"], arrays["description_lengths"]
        count = len(boxes)
        if boxes.shape[1:] != (3, 2) or lengths.shape != (count,):
            raise ValueError(f"undo history boxes {boxes.shape} and descriptions do not agree")
        position = int(arrays["position"])
        if not 0 <= position <= count:
            raise ValueError(f"undo history position {position} outside 0..{count}")
        if np.any(lengths < 0) or int(lengths.sum()) != arrays["description_bytes"].size:
            raise ValueError("undo history descriptions are damaged")
        for (start, stop), n in zip(boxes.reshape(-1, 2), dims * count, strict=True):
            if not 0 <= start < stop <= n:
                raise ValueError(f"undo history box ({start}, {stop}) outside the label map {dims}")
        sizes = np.prod(np.diff(boxes, axis=2)[..., 0], axis=1)
        total = int(sizes.sum())
        for name in ("before", "after"):
            if arrays[name].size != total:
                raise ValueError(
                    f"undo history holds {arrays[name].size} {name} values, not {total}"
                )
        text = arrays["description_bytes"].tobytes()
        try:
            descriptions = [
                text[a:b].decode("utf-8")
                for a, b in zip(np.cumsum(lengths) - lengths, np.cumsum(lengths), strict=True)
            ]
        except UnicodeDecodeError as exc:
            raise ValueError(f"undo history descriptions are not UTF-8 ({exc})") from exc
        history = cls()
        ends = np.cumsum(sizes)
        for box, start, end, description in zip(
            boxes, ends - sizes, ends, descriptions, strict=True
        ):
            extent = tuple(int(n) for n in box[:, 1] - box[:, 0])
            bounds = tuple((int(a), int(b)) for a, b in box)
            history._steps.append(
                Edit(
                    bounds,  # type: ignore[arg-type]
                    arrays["before"][start:end].reshape(extent),
                    arrays["after"][start:end].reshape(extent),
                    description,
                )
            )
        history._position = position
        history._nbytes = sum(step.nbytes for step in history._steps)
        return history


def _read_arrays(data: bytes) -> dict[str, np.ndarray]:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ValueError("an undo history must be bytes")
    try:
        archive = np.load(io.BytesIO(data), allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise ValueError("not an .npz archive")
        with archive:
            missing = sorted(set(_ARRAYS) - set(archive.files))
            if missing:
                raise ValueError(f"the array(s) {missing} are missing")
            arrays = {name: archive[name] for name in _ARRAYS}
    except ValueError as exc:
        raise ValueError(f"not a valid undo history: {exc}") from exc
    except Exception as exc:  # zipfile, zlib and the .npy reader raise many types on damage
        raise ValueError(f"not a valid undo history ({type(exc).__name__}: {exc})") from exc
    for name, (dtype, ndim) in _ARRAYS.items():
        values = arrays[name]
        if values.dtype != dtype or values.ndim != ndim:
            raise ValueError(
                f"undo history array {name!r} is {values.dtype} with {values.ndim} dimension(s),"
                f" expected {dtype} with {ndim}"
            )
    return arrays


def _concatenate(parts: Sequence[np.ndarray]) -> np.ndarray:
    return np.concatenate([p.ravel() for p in parts]) if parts else np.zeros(0, np.uint16)


def _check_labels(labels: np.ndarray) -> None:
    if not isinstance(labels, np.ndarray) or labels.ndim != 3 or labels.dtype != np.uint16:
        raise ValueError("a label map must be a 3-D uint16 array")


def _check_fits(labels: np.ndarray, edit: Edit) -> None:
    _check_labels(labels)
    if any(stop > n for (_, stop), n in zip(edit.box, labels.shape, strict=True)):
        raise ValueError(f"edit box {edit.box} lies outside the label map {labels.shape}")


def _normalised_box(box: Sequence[slice], shape: tuple[int, ...]) -> tuple[slice, slice, slice]:
    if len(box) != 3 or not all(isinstance(s, slice) for s in box):
        raise ValueError(f"a box must be three slices, got {box!r}")
    normalised = []
    for s, n in zip(box, shape, strict=True):
        start, stop, step = s.indices(n)
        if step != 1:
            raise ValueError(f"a box must have step 1, got {s!r}")
        normalised.append(slice(start, max(start, stop)))
    return tuple(normalised)  # type: ignore[return-value]


def _box_bounds(box: object) -> BoxBounds:
    try:
        bounds = tuple(
            (operator.index(start), operator.index(stop))
            for start, stop in box  # type: ignore[attr-defined]
        )
    except (TypeError, ValueError) as exc:
        raise ValueError(f"an edit box must be three (start, stop) pairs, got {box!r}") from exc
    if len(bounds) != 3 or not all(0 <= start < stop for start, stop in bounds):
        raise ValueError(f"an edit box must be three non-empty (start, stop) pairs, got {box!r}")
    return bounds  # type: ignore[return-value]


def _shape(shape: Sequence[int]) -> tuple[int, int, int]:
    dims = tuple(int(n) for n in shape)
    if len(dims) != 3 or min(dims) < 1:
        raise ValueError(f"a label map shape must be three positive ints, got {shape!r}")
    return dims  # type: ignore[return-value]
