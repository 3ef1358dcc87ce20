"""Edits of the label maps: strokes, protection of other lesions, proposals and undo."""

from __future__ import annotations

import numpy as np
import pytest

from viewer.segmentation import paint_ball
from viewer.state.annotations import Annotations, Proposal

SHAPE = (10, 40, 40)
AXIAL = np.diag([3.0, 1.0, 1.0, 1.0])


def ball(centre, radius_mm=4.0, axis=None):
    def paint(mask):
        return paint_ball(mask, centre, radius_mm=radius_mm, voxel2patient=AXIAL, axis=axis)

    return paint


def test_a_stroke_of_many_dabs_is_one_undo_step_and_undo_restores_exactly():
    notes = Annotations()
    notes.begin_stroke("s", SHAPE, erase=False, description="Brush on L1")
    for column in range(5, 30, 2):
        notes.dab(ball((5, 20, column), axis=0))
    notes.end_stroke()
    labels = notes.labels("s")
    assert labels is not None and labels.sum() > 0
    painted = labels.copy()
    assert notes.undo_text("s") == ("Brush on L1", None)
    assert notes.undo("s") == "Brush on L1"
    assert not notes.labels("s").any()
    assert notes.redo("s") == "Brush on L1"
    np.testing.assert_array_equal(notes.labels("s"), painted)
    assert notes.dirty


def test_painting_one_lesion_never_changes_another_and_the_eraser_removes_only_its_own():
    notes = Annotations()
    first = notes.add_lesion("L1 recurrence").number
    notes.paint("s", SHAPE, ball((5, 20, 15)), erase=False, description="L1")
    second = notes.add_lesion("L2 metastasis").number
    notes.paint("s", SHAPE, ball((5, 20, 20)), erase=False, description="L2")
    labels = notes.labels("s")
    first_only = labels == first
    assert first_only.any() and (labels == second).any()
    # L2's ball overlapped L1: L1 kept its voxels
    notes.set_active(second)
    notes.paint("s", SHAPE, ball((5, 20, 15), radius_mm=8), erase=True, description="erase")
    np.testing.assert_array_equal(notes.labels("s") == first, first_only)


def test_sixty_edits_undo_back_to_empty_and_redo_to_the_end():
    notes = Annotations()
    rng = np.random.default_rng(3)
    for step in range(60):
        centre = (int(rng.integers(0, 10)), int(rng.integers(0, 40)), int(rng.integers(0, 40)))
        notes.paint("s", SHAPE, ball(centre, 2.0), erase=step % 7 == 6, description=f"{step}")
    final = notes.labels("s").copy()
    undone = 0
    while notes.undo("s") is not None:
        undone += 1
    assert undone >= 50
    assert not notes.labels("s").any()
    while notes.redo("s") is not None:
        pass
    np.testing.assert_array_equal(notes.labels("s"), final)


def test_a_proposal_is_previewed_then_applied_as_one_step():
    notes = Annotations()
    number = notes.add_lesion().number
    notes.paint("s", SHAPE, ball((5, 10, 10)), erase=False, description="brush")
    mask = np.zeros(SHAPE, bool)
    mask[4:7, 25:30, 25:30] = True
    seen = []
    notes.proposal_changed.connect(seen.append)
    notes.propose(Proposal("s", number, mask, "replace", "Carry L1 forward"))
    assert notes.proposal is not None and seen == ["s"]
    assert not (notes.labels("s")[mask]).any()  # only a preview
    notes.accept_proposal()
    labels = notes.labels("s")
    np.testing.assert_array_equal(labels == number, mask)  # replace: the old brush is gone
    assert notes.undo("s") == "Carry L1 forward"
    assert (notes.labels("s") == number).sum() > 0 and not notes.labels("s")[mask].any()


def test_deleting_a_lesion_clears_it_everywhere_and_each_visit_can_undo_it():
    notes = Annotations()
    number = notes.add_lesion().number
    notes.add_lesion("L2 metastasis")
    notes.set_active(number)
    notes.paint("a", SHAPE, ball((5, 10, 10)), erase=False, description="a")
    notes.paint("b", SHAPE, ball((5, 30, 30)), erase=False, description="b")
    notes.remove_lesion(number)
    assert not notes.labels("a").any() and not notes.labels("b").any()
    assert number not in notes.lesions
    assert notes.undo("a") is not None and (notes.labels("a") == number).any()
    # undoing the deletion brings the lesion back whole: no voxels of a lesion that is not there
    assert notes.lesions[number].name == "L1"


def test_a_read_only_case_refuses_every_edit():
    notes = Annotations()
    notes.read_only = True
    with pytest.raises(PermissionError):
        notes.begin_stroke("s", SHAPE, erase=False, description="x")
    with pytest.raises(PermissionError):
        notes.add_lesion()


def test_the_first_stroke_without_a_lesion_makes_one():
    notes = Annotations()
    notes.paint("s", SHAPE, ball((5, 20, 20)), erase=False, description="Brush")
    assert len(notes.lesions) == 1 and notes.active == 1
    assert notes.outlined_numbers("s") == [1]


def test_relinking_moves_one_visit_s_outline_to_another_lesion_and_undo_restores_it():
    notes = Annotations()
    first = notes.add_lesion("L1 recurrence").number
    notes.paint("a", SHAPE, ball((5, 10, 10)), erase=False, description="a")
    notes.paint("b", SHAPE, ball((5, 10, 10)), erase=False, description="b")
    second = notes.add_lesion("L2 outlined by mistake").number
    notes.paint("b", SHAPE, ball((5, 30, 30)), erase=False, description="b2")
    before = notes.labels("b").copy()
    notes.relabel("b", second, first)
    after = notes.labels("b")
    assert not (after == second).any()
    np.testing.assert_array_equal(after == first, (before == first) | (before == second))
    assert (notes.labels("a") == first).sum() > 0  # the other visit is untouched
    assert notes.undo("b") == "Relink L2 outlined by mistake to L1 recurrence"
    np.testing.assert_array_equal(notes.labels("b"), before)
