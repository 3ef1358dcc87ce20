"""Who drew each outline and when: stamps from a fake reader and clock, through edits, relinking,
deletion, undo and redo (known answers, no files)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from viewer.core.provenance import OutlineProvenance, Reader, Stamp
from viewer.segmentation import paint_ball
from viewer.state.annotations import Annotations, Proposal

SHAPE = (10, 40, 40)
AXIAL = np.diag([3.0, 1.0, 1.0, 1.0])
T0 = dt.datetime(2026, 11, 30, 10, 12, tzinfo=dt.UTC)


class Clock:
    """A fake clock: every reading is one minute after the previous one, from 10:12 UTC."""

    def __init__(self) -> None:
        self.ticks = 0

    def __call__(self) -> dt.datetime:
        self.ticks += 1
        return T0 + dt.timedelta(minutes=self.ticks - 1)


def at(minute: int) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minute)


def ball(centre, radius_mm=4.0):
    def paint(mask):
        return paint_ball(mask, centre, radius_mm=radius_mm, voxel2patient=AXIAL)

    return paint


@pytest.fixture
def notes() -> Annotations:
    return Annotations(Reader("alice", Clock()))


def brush(notes, key, centre, *, erase=False, radius_mm=4.0):
    notes.paint(key, SHAPE, ball(centre, radius_mm), erase=erase, description="Brush")


def test_the_first_stroke_draws_and_later_strokes_edit_under_the_reader_of_the_moment(notes):
    brush(notes, "s", (5, 20, 15))  # 10:12 alice
    assert notes.outline_provenance("s", 1) == OutlineProvenance(
        Stamp("alice", at(0)), Stamp("alice", at(0))
    )
    notes.reader.name = "bob"
    brush(notes, "s", (5, 20, 22))  # 10:13 bob
    record = notes.outline_provenance("s", 1)
    assert (record.drawn.text, record.edited.text) == (
        "alice 2026-11-30 10:12 UTC",
        "bob 2026-11-30 10:13 UTC",
    )
    assert notes.outline_provenance("other", 1) is None


def test_undo_returns_to_the_provenance_of_the_outline_it_brings_back_and_redo_to_the_step(notes):
    brush(notes, "s", (5, 20, 15))  # 10:12 alice draws
    notes.reader.name = "bob"
    brush(notes, "s", (5, 20, 22))  # 10:13 bob edits
    first = OutlineProvenance(Stamp("alice", at(0)), Stamp("alice", at(0)))
    second = OutlineProvenance(Stamp("alice", at(0)), Stamp("bob", at(1)))
    notes.undo("s")
    assert notes.outline_provenance("s", 1) == first  # not "edited 10:13" on the 10:12 outline
    notes.redo("s")
    assert notes.outline_provenance("s", 1) == second  # the redone step's own stamp
    notes.undo("s")
    notes.undo("s")
    assert notes.outline_provenance("s", 1) is None  # not outlined any more
    notes.redo("s")
    assert notes.outline_provenance("s", 1) == first
    # a new edit after undo drops the redo branch: its stamp is the clock's next reading
    brush(notes, "s", (5, 30, 30))  # 10:14 bob
    assert notes.outline_provenance("s", 1) == OutlineProvenance(
        Stamp("alice", at(0)), Stamp("bob", at(2))
    )
    assert notes.redo("s") is None
    steps = notes.provenance().steps["s"]
    assert len(steps) == len(notes.history("s").steps) == 2
    assert steps[1] == {1: (first, notes.outline_provenance("s", 1))}


def test_an_edit_stamps_only_the_lesion_it_changed_on_its_series(notes):
    brush(notes, "s", (5, 10, 10))  # L1 at 10:12
    notes.add_lesion()
    brush(notes, "s", (5, 30, 30))  # L2 at 10:13
    brush(notes, "t", (5, 30, 30))  # L2 on another series at 10:14
    assert notes.outline_provenance("s", 1).edited.at_utc == at(0)
    assert notes.outline_provenance("s", 2).edited.at_utc == at(1)
    assert notes.outline_provenance("t", 2).drawn.at_utc == at(2)
    assert notes.outline_provenance("t", 1) is None
    # an eraser stroke that touches nothing of its lesion records nothing
    notes.set_active(1)
    brush(notes, "t", (5, 5, 35), erase=True)
    assert notes.outline_provenance("t", 1) is None
    assert len(notes.history("t").steps) == 1


def test_relinking_keeps_the_earliest_drawing_and_undo_restores_both_lesions(notes):
    notes.add_lesion()
    notes.add_lesion()
    notes.set_active(2)
    brush(notes, "s", (5, 10, 10))  # L2 drawn 10:12
    notes.set_active(1)
    brush(notes, "s", (5, 30, 30))  # L1 drawn 10:13
    before_l1 = notes.outline_provenance("s", 1)
    before_l2 = notes.outline_provenance("s", 2)
    notes.reader.name = "carol"
    notes.relabel("s", 2, 1)  # 10:14: L2's voxels become L1's
    merged = notes.outline_provenance("s", 1)
    assert merged == OutlineProvenance(Stamp("alice", at(0)), Stamp("carol", at(2)))
    assert notes.outline_provenance("s", 2) is None
    notes.undo("s")
    assert notes.outline_provenance("s", 1) == before_l1
    assert notes.outline_provenance("s", 2) == before_l2


def test_deleting_a_lesion_forgets_its_provenance_and_undo_brings_it_back(notes):
    brush(notes, "s", (5, 10, 10))
    brush(notes, "t", (5, 10, 10))
    kept = notes.outline_provenance("t", 1)
    notes.remove_lesion(1)
    assert notes.outline_provenance("s", 1) is None and notes.outline_provenance("t", 1) is None
    notes.undo("t")
    assert 1 in notes.lesions and notes.outline_provenance("t", 1) == kept


def test_an_accepted_proposal_is_stamped_and_restore_takes_saved_provenance(notes):
    number = notes.lesion_for_editing()
    mask = np.zeros(SHAPE, bool)
    mask[4:6, 10:15, 10:15] = True
    notes.propose(Proposal("s", number, mask, "add", "Grow L1"))
    notes.accept_proposal()
    saved = notes.provenance()
    assert saved.outlines == {("s", 1): notes.outline_provenance("s", 1)}
    other = Annotations(Reader("dave", Clock()))
    other.restore(notes.lesions, notes.label_maps(), notes.histories(), provenance=saved)
    assert other.outline_provenance("s", 1) == notes.outline_provenance("s", 1)
    other.undo("s")
    assert other.outline_provenance("s", 1) is None
    other.redo("s")
    assert other.outline_provenance("s", 1).drawn.reader == "alice"
    # without saved provenance (an older case) nothing is recorded, and undo invents nothing
    older = Annotations(Reader("dave", Clock()))
    older.restore(notes.lesions, notes.label_maps(), notes.histories())
    assert older.outline_provenance("s", 1) is None
    older.undo("s")
    assert older.outline_provenance("s", 1) is None
    # a step provenance list that does not fit the history is not used
    saved.steps["s"] = saved.steps["s"] * 2
    mismatched = Annotations()
    mismatched.restore(notes.lesions, notes.label_maps(), notes.histories(), provenance=saved)
    assert mismatched.provenance().steps == {}


def test_a_dropped_series_takes_its_provenance_along(notes):
    brush(notes, "s", (5, 10, 10))
    brush(notes, "t", (5, 10, 10))
    notes.drop_series("s")
    assert set(notes.provenance().outlines) == {("t", 1)}


def test_a_naive_clock_is_refused():
    reader = Reader("eve", lambda: dt.datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="timezone"):
        reader.stamp()
    with pytest.raises(ValueError):
        reader.name = "   "
