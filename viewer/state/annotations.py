"""The reader's outlines: lesions, one label map per series in its native grid, and undo (no Qt).

Every edit goes through :class:`Annotations`, which keeps each series' :class:`EditHistory`, marks
the case dirty and tells observers which series changed. Edits never touch another lesion's
voxels: painting lesion 1 over lesion 2 leaves lesion 2 alone, and the eraser removes only the
lesion being edited, so a slip of the brush cannot silently damage a neighbouring outline.

Every edit is stamped with the session's reader and the time (:mod:`viewer.core.provenance`):
per series and lesion, who first drew the outline and who last changed it. Each undo step keeps
the provenance of the lesions it changed before and after it, so undo returns to the provenance
of the outline it brings back (never leaving a later "edited" time than that outline's) and redo
to the one the step made. Deleting a lesion, or undoing its first stroke on a series, forgets it
there; an outline erased by hand keeps its first "drawn" time if it is drawn again.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field

import numpy as np
from psygnal import Signal, evented

from viewer.core.geometry import bounding_box
from viewer.core.history import Edit, EditHistory
from viewer.core.lesions import Lesion, LesionKind, LesionSet, palette_colour
from viewer.core.provenance import (
    CaseProvenance,
    OutlineProvenance,
    Reader,
    StepProvenance,
)
from viewer.core.volume import Volume
from viewer.display.labels import blend, label_slice, overlay_rgba
from viewer.display.slicing import PlaneGrid

Box = tuple[slice, slice, slice]
PaintFunction = Callable[[np.ndarray], "Box | None"]
"""Draws into a zeroed boolean scratch mask of the series' shape; returns the box it touched."""

MODES = ("add", "cut", "replace")
PREVIEW_COLOUR = (255, 235, 59)
"""A tool's preview (grow, carry forward...) in yellow: not yet part of any lesion."""
PREVIEW_OPACITY = 0.3


@evented
@dataclass
class OverlayStyle:
    """How outlines are drawn. Every field change emits ``style.events.<field>``.

    Attributes
    ----------
    visible : bool
        Outlines shown at all (the ``O`` key toggles it to see the image underneath).
    opacity : float
        Fill opacity, 0..1 (the boundary is always drawn opaque).
    outline_only : bool
        Draw only each lesion's boundary.
    hidden : frozenset of int
        Lesion numbers not drawn.
    """

    visible: bool = True
    opacity: float = 0.35
    outline_only: bool = False
    hidden: frozenset[int] = field(default_factory=frozenset)


@dataclass(frozen=True, eq=False)
class Proposal:
    """A tool's suggestion (grow, carry forward, fill between slices...), previewed until accepted.

    Attributes
    ----------
    series_key : str
    lesion : int
        The lesion it would change.
    mask : ndarray of bool, shape of the series
    mode : {'add', 'replace'}
        Add to the lesion, or make the lesion exactly this mask on this series.
    description : str
        What accepting it records in the undo history, e.g. ``"Grow L1"``.
    detail : str
        Shown beside the preview, e.g. the intensity range used.
    """

    series_key: str
    lesion: int
    mask: np.ndarray
    mode: str
    description: str
    detail: str = ""


@dataclass
class _Stroke:
    key: str
    lesion: int
    erase: bool
    description: str
    dabs: list[tuple[Box, np.ndarray]] = field(default_factory=list)


def _label_values(values: np.ndarray) -> set[int]:
    """The distinct label values of a uint16 array, by table lookup (no sort of millions)."""
    if values.size == 0:
        return set()
    low, high = int(values.min()), int(values.max())
    if low == high:
        return {low}
    seen = np.zeros(high + 1, dtype=bool)
    seen[values] = True
    return set(np.flatnonzero(seen).tolist())


class Annotations:
    """Lesions and label maps of the open case, with per-series undo and provenance.

    Parameters
    ----------
    reader : Reader, optional
        Who is outlining, and the clock edits are stamped with (by default the login name and
        the system clock). ``reader.name`` may be changed at any time; later edits carry it.

    Signals
    -------
    labels_changed(str)
        The label map of this series changed (an edit, undo, redo, or a restored case: ``""``).
    lesions_changed()
        A lesion was added, removed, renamed, recoloured, or the active lesion changed.
    proposal_changed(str)
        The preview of this series appeared, changed or went.
    dirty_changed(bool)
    edited()
        A tool action finished (a stroke, an accepted proposal, undo, redo, a lesion change):
        the moment to autosave.
    """

    labels_changed = Signal(str)
    lesions_changed = Signal()
    proposal_changed = Signal(str)
    dirty_changed = Signal(bool)
    edited = Signal()

    def __init__(self, reader: Reader | None = None) -> None:
        self.reader = reader if reader is not None else Reader()
        self.lesions = LesionSet()
        self.style = OverlayStyle()
        self.active: int | None = None
        self.read_only = False
        self._labels: dict[str, np.ndarray] = {}
        self._histories: dict[str, EditHistory] = {}
        self._scratch: dict[str, np.ndarray] = {}
        self._stroke: _Stroke | None = None
        self._proposal: Proposal | None = None
        self._dirty = False
        # deleted lesions, so undoing the deletion of their outlines brings them back whole
        self._deleted: dict[int, Lesion] = {}
        self._provenance: dict[tuple[str, int], OutlineProvenance] = {}
        # per series, each undo step's provenance change (steps are compared by identity)
        self._step_provenance: dict[str, dict[Edit, StepProvenance]] = {}

    # --- state -----------------------------------------------------------------------------

    @property
    def dirty(self) -> bool:
        """Changes not saved to the case file yet."""
        return self._dirty

    def mark_changed(self) -> None:
        """Something saved with the outlines changed (criteria, targets, events).

        The case needs saving, and the journal an autosave.
        """
        self._set_dirty(True)
        self.edited.emit()

    def mark_clean(self) -> None:
        """The case was saved (call only after the save succeeded)."""
        self._set_dirty(False)

    def _set_dirty(self, dirty: bool) -> None:
        if dirty != self._dirty:
            self._dirty = dirty
            self.dirty_changed.emit(dirty)

    def restore(
        self,
        lesions: LesionSet,
        labels: dict[str, np.ndarray],
        histories: dict[str, EditHistory],
        *,
        dirty: bool = False,
        provenance: CaseProvenance | None = None,
    ) -> None:
        """Replace everything with a loaded case (or a recovered journal).

        ``provenance`` is the case's (None: nothing recorded). A history's step provenance is
        used only when it has one entry per step of that history.
        """
        self._stroke = None
        self._proposal = None
        self.lesions = lesions
        self._labels = {k: np.array(v, dtype=np.uint16) for k, v in labels.items()}
        self._histories = {k: h for k, h in histories.items() if k in self._labels}
        provenance = provenance or CaseProvenance()
        self._provenance = {k: v for k, v in provenance.outlines.items() if k[0] in self._labels}
        self._step_provenance = {}
        for key, history in self._histories.items():
            steps = provenance.steps.get(key)
            if steps is not None and len(steps) == len(history.steps):
                self._step_provenance[key] = {
                    edit: step for edit, step in zip(history.steps, steps, strict=True) if step
                }
        self._scratch.clear()
        self._deleted.clear()
        self.active = next(iter(lesions), None).number if len(lesions) else None
        self._set_dirty(dirty)
        self.lesions_changed.emit()
        self.labels_changed.emit("")

    def clear(self) -> None:
        """Forget everything (a new case is opening)."""
        self.restore(LesionSet(), {}, {})

    def drop_series(self, key: str) -> None:
        """Take a series' outlines out of the live state (they do not fit its image).

        The case session keeps the saved file untouched, so nothing is lost.
        """
        if self._proposal is not None and self._proposal.series_key == key:
            self.discard_proposal()
        if self._stroke is not None and self._stroke.key == key:
            self._stroke = None
        self._labels.pop(key, None)
        self._histories.pop(key, None)
        self._scratch.pop(key, None)
        self._step_provenance.pop(key, None)
        self._provenance = {k: v for k, v in self._provenance.items() if k[0] != key}
        self.labels_changed.emit(key)

    def labels(self, key: str) -> np.ndarray | None:
        """The label map of a series (uint16, its native shape), or None if never outlined.

        Treat it as read-only: edits must go through this class so they can be undone.
        """
        return self._labels.get(key)

    def label_maps(self) -> dict[str, np.ndarray]:
        """Every series' label map, by key (for saving)."""
        return dict(self._labels)

    def histories(self) -> dict[str, EditHistory]:
        """Every series' undo history, by key (for saving)."""
        return dict(self._histories)

    def history(self, key: str) -> EditHistory | None:
        """A series' undo history, or None before its first edit."""
        return self._histories.get(key)

    def outline_provenance(self, key: str, lesion: int) -> OutlineProvenance | None:
        """Who first drew a lesion on a series and who last changed it (None: not recorded)."""
        return self._provenance.get((key, lesion))

    def provenance(self) -> CaseProvenance:
        """Every outline's provenance, and each undo step's, aligned with :meth:`histories`."""
        steps = {}
        for key, history in self._histories.items():
            known = self._step_provenance.get(key, {})
            if known:
                steps[key] = [known.get(edit) for edit in history.steps]
        return CaseProvenance(dict(self._provenance), steps)

    def _ensure(self, key: str, shape: tuple[int, int, int]) -> np.ndarray:
        labels = self._labels.get(key)
        if labels is None:
            labels = self._labels[key] = np.zeros(shape, dtype=np.uint16)
            self._histories[key] = EditHistory()
        elif labels.shape != tuple(shape):
            raise ValueError(
                f"series {key}: label map {labels.shape} does not match the image {tuple(shape)}"
            )
        return labels

    def _check_writable(self) -> None:
        if self.read_only:
            raise PermissionError("the case is open read-only: outlines cannot be changed")

    # --- lesions ---------------------------------------------------------------------------

    def add_lesion(
        self, name: str | None = None, kind: LesionKind = LesionKind.ENHANCING
    ) -> Lesion:
        """Add a lesion (numbered and coloured in turn) and make it the active one."""
        self._check_writable()
        lesion = self.lesions.add(name, kind)
        self.active = lesion.number
        self._lesions_edited()
        return lesion

    def update_lesion(self, number: int, **changes: object) -> Lesion:
        """Rename, recolour, re-kind or annotate a lesion."""
        self._check_writable()
        lesion = self.lesions.update(number, **changes)
        self._lesions_edited()
        return lesion

    def remove_lesion(self, number: int) -> Lesion:
        """Delete a lesion and its outlines on every series (each series' removal can be undone)."""
        self._check_writable()
        self.discard_proposal()
        for key, labels in self._labels.items():
            inside = labels == number
            if inside.any():
                self._replace_region(key, inside, number, "replace", f"Delete {number}", empty=True)
        lesion = self.lesions.remove(number)
        self._deleted[number] = lesion
        if self.active == number:
            self.active = next(iter(self.lesions), None).number if len(self.lesions) else None
        self._lesions_edited()
        return lesion

    def relabel(self, key: str, source: int, target: int) -> Box | None:
        """Make lesion ``source``'s outline on one series part of lesion ``target`` (relink).

        For a lesion outlined under the wrong number on a visit (or one that merged into
        another): one undoable step on that series; other visits keep their numbering.
        """
        self._check_writable()
        if source not in self.lesions or target not in self.lesions or source == target:
            raise KeyError(f"cannot relink lesion {source} to lesion {target}")
        labels = self._labels.get(key)
        if labels is None:
            return None
        moving = labels == source
        box = bounding_box(moving)
        if box is None:
            return None
        region = labels[box]
        before = region.copy()
        region[moving[box]] = target
        name, into = self.lesions[source].name, self.lesions[target].name
        self._record(key, box, before, f"Relink {name} to {into}", gone=(source,))
        return box

    def set_active(self, number: int | None) -> None:
        """Choose the lesion the tools edit."""
        if number is not None and number not in self.lesions:
            raise KeyError(f"there is no lesion {number}")
        if number != self.active:
            self.active = number
            self.lesions_changed.emit()

    def set_hidden(self, number: int, hidden: bool) -> None:
        """Hide or show one lesion in every view."""
        current = set(self.style.hidden)
        current.discard(number)
        if hidden:
            current.add(number)
        self.style.hidden = frozenset(current)

    def colours(self) -> dict[int, tuple[int, int, int]]:
        """Lesion number -> 8-bit RGB, the same on every visit."""
        return {lesion.number: lesion.colour for lesion in self.lesions}

    def lesion_for_editing(self) -> int:
        """The active lesion; a new one is made when there is none (the first stroke just works)."""
        if self.active is None or self.active not in self.lesions:
            return self.add_lesion().number
        return self.active

    def _lesions_edited(self) -> None:
        self._set_dirty(True)
        self.lesions_changed.emit()
        self.edited.emit()

    # --- strokes: brush, eraser, contour ---------------------------------------------------

    def begin_stroke(
        self, key: str, shape: tuple[int, int, int], *, erase: bool, description: str
    ) -> None:
        """Start a brush or eraser stroke on a series.

        Every dab until :meth:`end_stroke` is one undo step.
        """
        self._check_writable()
        self.end_stroke()
        self._ensure(key, shape)
        self._stroke = _Stroke(key, self.lesion_for_editing(), erase, description)

    def dab(self, paint: PaintFunction) -> Box | None:
        """Apply one dab of the current stroke.

        Parameters
        ----------
        paint : callable
            ``paint(scratch)`` sets True the voxels the dab covers in ``scratch`` (a zeroed bool
            array of the series' shape) and returns the box it touched, like
            :func:`viewer.segmentation.paint_ball`.

        Returns
        -------
        Box or None
            The box of the label map that may have changed.
        """
        stroke = self._stroke
        if stroke is None:
            raise RuntimeError("dab() outside a stroke: call begin_stroke() first")
        labels = self._labels[stroke.key]
        scratch = self._scratch_for(stroke.key, labels.shape)
        box = paint(scratch)
        if box is None:
            return None
        covered = scratch[box]
        region = labels[box]
        before = region.copy()
        if stroke.erase:
            region[covered & (region == stroke.lesion)] = 0
        else:
            region[covered & (region == 0)] = stroke.lesion
        covered[...] = False
        if np.array_equal(before, region):
            return None
        stroke.dabs.append((box, before))
        self.labels_changed.emit(stroke.key)
        return box

    def end_stroke(self) -> None:
        """Finish the stroke: record it as one undo step (nothing when it changed nothing)."""
        stroke, self._stroke = self._stroke, None
        if stroke is None or not stroke.dabs:
            return
        union = stroke.dabs[0][0]
        for box, _ in stroke.dabs[1:]:
            union = tuple(
                slice(min(a.start, b.start), max(a.stop, b.stop))
                for a, b in zip(union, box, strict=True)
            )
        labels = self._labels[stroke.key]
        before = labels[union].copy()
        # undo the dabs newest first inside the union: what is left is the label map before it
        for box, old in reversed(stroke.dabs):
            local = tuple(
                slice(b.start - u.start, b.stop - u.start) for b, u in zip(box, union, strict=True)
            )
            before[local] = old
        self._record(stroke.key, union, before, stroke.description)

    @property
    def stroking(self) -> bool:
        """A stroke is in progress."""
        return self._stroke is not None

    def paint(
        self,
        key: str,
        shape: tuple[int, int, int],
        paint: PaintFunction,
        *,
        erase: bool,
        description: str,
    ) -> Box | None:
        """One-shot edit (a filled contour or polygon): a stroke of a single dab."""
        self.begin_stroke(key, shape, erase=erase, description=description)
        try:
            return self.dab(paint)
        finally:
            self.end_stroke()

    def _scratch_for(self, key: str, shape: tuple[int, ...]) -> np.ndarray:
        scratch = self._scratch.get(key)
        if scratch is None or scratch.shape != shape:
            # zeros come from calloc: untouched pages of a large grid cost no memory
            scratch = self._scratch[key] = np.zeros(shape, dtype=bool)
        return scratch

    # --- proposals: grow, carry forward, fill between slices, clean-up ---------------------

    @property
    def proposal(self) -> Proposal | None:
        """The preview waiting to be accepted or discarded."""
        return self._proposal

    def propose(self, proposal: Proposal) -> None:
        """Show a tool's suggestion as a preview (replacing any earlier one)."""
        self._check_writable()
        if proposal.mode not in ("add", "replace"):
            raise ValueError(f"a proposal adds or replaces, not {proposal.mode!r}")
        if proposal.lesion not in self.lesions:
            raise KeyError(f"there is no lesion {proposal.lesion}")
        old = self._proposal
        self._proposal = proposal
        if old is not None and old.series_key != proposal.series_key:
            self.proposal_changed.emit(old.series_key)
        self.proposal_changed.emit(proposal.series_key)

    def discard_proposal(self) -> None:
        """Drop the preview without changing anything."""
        old, self._proposal = self._proposal, None
        if old is not None:
            self.proposal_changed.emit(old.series_key)

    def accept_proposal(self) -> Box | None:
        """Apply the preview to its lesion as one undoable step."""
        proposal = self._proposal
        if proposal is None:
            return None
        self._check_writable()
        self._proposal = None
        self.proposal_changed.emit(proposal.series_key)
        self._ensure(proposal.series_key, proposal.mask.shape)
        return self._replace_region(
            proposal.series_key,
            proposal.mask,
            proposal.lesion,
            proposal.mode,
            proposal.description,
        )

    def lesion_mask(self, key: str, number: int) -> np.ndarray | None:
        """Boolean mask of one lesion on a series (None when the series has no label map)."""
        labels = self._labels.get(key)
        return None if labels is None else labels == number

    def _replace_region(
        self,
        key: str,
        mask: np.ndarray,
        lesion: int,
        mode: str,
        description: str,
        *,
        empty: bool = False,
    ) -> Box | None:
        labels = self._labels[key]
        own = labels == lesion
        touched = mask | own if mode == "replace" or empty else mask
        box = bounding_box(touched)
        if box is None:
            return None
        region = labels[box]
        before = region.copy()
        if empty:
            region[own[box]] = 0
        else:
            inside = mask[box]
            if mode == "replace":
                region[own[box] & ~inside] = 0
            region[inside & (region == 0)] = lesion
        if self._record(key, box, before, description, gone=(lesion,) if empty else ()) is None:
            return None
        return box

    # --- undo ------------------------------------------------------------------------------

    def _record(
        self,
        key: str,
        box: Box,
        before: np.ndarray,
        description: str,
        *,
        gone: Collection[int] = (),
    ) -> Edit | None:
        """Record an edit made in place, stamp it; ``gone``: lesions it took off the series."""
        labels = self._labels[key]
        history = self._histories.setdefault(key, EditHistory())
        edit = history.record(labels, box, before, description)
        if edit is not None:
            self._stamp(key, history, edit, gone)
            self._set_dirty(True)
            self.labels_changed.emit(key)
            self.edited.emit()
        return edit

    def _stamp(self, key: str, history: EditHistory, edit: Edit, gone: Collection[int]) -> None:
        """Give the lesions an edit changed their new provenance, and keep it with the step."""
        changed = edit.before != edit.after
        old, new = edit.before[changed], edit.after[changed]
        numbers = (_label_values(old) | _label_values(new)) - {0}
        relinked = (old != 0) & (new != 0)  # voxels one lesion took from another (a relink)
        stamp = self.reader.stamp()
        step: StepProvenance = {}
        for number in sorted(numbers):
            was = self._provenance.get((key, number))
            if number in gone:
                step[number] = (was, None)
                continue
            drawn = was.drawn if was is not None else stamp
            given = _label_values(old[relinked & (new == number)]) if relinked.any() else set()
            for source in filter(None, (self._provenance.get((key, n)) for n in given)):
                # the voxels were drawn when the lesion they came from was
                if source.drawn.at_utc < drawn.at_utc:
                    drawn = source.drawn
            step[number] = (was, OutlineProvenance(drawn, stamp))
        self._apply_provenance(key, step, after=True)
        live = set(history.steps)  # steps dropped off the history, or its redo branch, go
        steps = self._step_provenance.setdefault(key, {})
        self._step_provenance[key] = {e: s for e, s in steps.items() if e in live}
        self._step_provenance[key][edit] = step

    def _apply_provenance(self, key: str, step: StepProvenance, *, after: bool) -> None:
        for number, change in step.items():
            record = change[1] if after else change[0]
            if record is None:
                self._provenance.pop((key, number), None)
            else:
                self._provenance[(key, number)] = record

    def undo(self, key: str) -> str | None:
        """Undo the newest edit on a series; returns its description (None: nothing to undo)."""
        return self._step(key, undo=True)

    def redo(self, key: str) -> str | None:
        """Redo the newest undone edit on a series; returns its description."""
        return self._step(key, undo=False)

    def _step(self, key: str, *, undo: bool) -> str | None:
        self._check_writable()
        self.end_stroke()
        self.discard_proposal()
        history, labels = self._histories.get(key), self._labels.get(key)
        if history is None or labels is None:
            return None
        edit = history.undo(labels) if undo else history.redo(labels)
        if edit is None:
            return None
        step = self._step_provenance.get(key, {}).get(edit)
        if step is not None:
            self._apply_provenance(key, step, after=not undo)
        self._bring_back_lesions(labels[edit.slices])
        self._set_dirty(True)
        self.labels_changed.emit(key)
        self.edited.emit()
        return edit.description

    def _bring_back_lesions(self, region: np.ndarray) -> None:
        """Undo put back voxels of a deleted lesion: the lesion comes back too, never orphans."""
        missing = [int(n) for n in np.unique(region) if n and int(n) not in self.lesions]
        for number in missing:
            lesion = self._deleted.pop(number, None) or Lesion(
                number, f"L{number}", palette_colour(number)
            )
            self.lesions.restore(lesion)
        if missing:
            self.lesions_changed.emit()

    def undo_text(self, key: str | None) -> tuple[str | None, str | None]:
        """(undo description, redo description) of a series, for the menu."""
        history = self._histories.get(key) if key is not None else None
        if history is None:
            return None, None
        return history.undo_description, history.redo_description

    # --- what the views need ---------------------------------------------------------------

    def outlined_numbers(self, key: str) -> Collection[int]:
        """Lesion numbers present on a series' label map."""
        labels = self._labels.get(key)
        if labels is None:
            return ()
        return [int(n) for n in np.unique(labels) if n]


def outline_slice(
    notes: Annotations,
    key: str,
    volume: Volume,
    grid: PlaneGrid,
    position_mm: float,
    patient2reference: np.ndarray | None,
) -> np.ndarray | None:
    """A series' label map cut on a view's grid (nearest neighbour), as outlines are drawn.

    None when the series has no outlines (or they belong to another grid).

    Returns
    -------
    ndarray of uint16, shape ``grid.shape``, or None
    """
    labels = notes.labels(key)
    if labels is None or labels.shape != volume.shape:
        return None
    return label_slice(labels, volume.voxel2patient, grid, position_mm, patient2reference)


def draw_outlines(
    rgba: np.ndarray,
    notes: Annotations,
    key: str,
    volume: Volume,
    grid: PlaneGrid,
    position_mm: float,
    patient2reference: np.ndarray | None,
    *,
    edge_px: int = 1,
    cut: np.ndarray | None = None,
) -> np.ndarray:
    """A view's pixels with a series' outlines, and the tool's preview, drawn over them.

    Parameters
    ----------
    rgba : ndarray of uint8, shape (rows, columns, 4)
        The view's image.
    notes : Annotations
    key : str
        The series the view shows.
    volume : Volume
        Its image (the grid the label map lives on).
    grid, position_mm, patient2reference
        The view's screen grid, its position along the plane axis (mm) and the series'
        registration, exactly as the image was cut.
    edge_px : int
        Outline thickness in pixels (2 on a picture drawn at twice the screen's size).
    cut : ndarray, optional
        The series' label map already cut on ``grid`` (:func:`outline_slice`), to cut it once.

    Returns
    -------
    ndarray of uint8, shape (rows, columns, 4)
    """
    style = notes.style
    if not style.visible:
        return rgba
    if cut is None:
        cut = outline_slice(notes, key, volume, grid, position_mm, patient2reference)
    if cut is not None and cut.any():
        overlay = overlay_rgba(
            cut,
            notes.colours(),
            opacity=style.opacity,
            outline=style.outline_only,
            hidden=style.hidden,
            highlight=notes.active,
            edge_px=edge_px,
        )
        rgba = blend(rgba, overlay)
    proposal = notes.proposal
    if proposal is not None and proposal.series_key == key:
        mask = proposal.mask.view(np.uint8)
        preview = label_slice(mask, volume.voxel2patient, grid, position_mm, patient2reference)
        if preview.any():
            overlay = overlay_rgba(
                preview.astype(np.uint16),
                {1: PREVIEW_COLOUR},
                opacity=PREVIEW_OPACITY,
                outline=False,
            )
            rgba = blend(rgba, overlay)
    return rgba
