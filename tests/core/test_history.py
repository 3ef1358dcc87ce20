"""Undo/redo history of label-map edits: known answers, limits, storage and damaged files."""

import io
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from viewer.core.history import Edit, EditHistory

SHAPE = (12, 20, 24)


def random_edit(labels, rng, history, number):
    """Paint a random block with a random lesion number (or erase it); record it."""
    box = []
    for n in labels.shape:
        start = int(rng.integers(0, n - 1))
        box.append(slice(start, int(rng.integers(start + 1, min(n, start + 8) + 1))))
    box = tuple(box)
    before = labels[box].copy()
    labels[box] = int(rng.integers(0, 4))
    return history.record(labels, box, before, f"edit {number}")


def edited(history, count, seed=0):
    """A label map and the history of ``count`` recorded random edits (no-ops skipped)."""
    rng = np.random.default_rng(seed)
    labels = np.zeros(SHAPE, np.uint16)
    labels[3:6, 4:9, 5:11] = 1
    states = [labels.copy()]
    while len(states) <= count:
        if random_edit(labels, rng, history, len(states)) is not None:
            states.append(labels.copy())
    return labels, states


def test_60_undos_give_back_the_original_and_60_redos_the_final_labels():
    history = EditHistory()
    labels, states = edited(history, 60)
    assert history.position == len(history.steps) == 60
    for i in range(60, 0, -1):
        assert history.undo_description == f"edit {i}"
        assert history.undo(labels).description == f"edit {i}"
        np.testing.assert_array_equal(labels, states[i - 1])
    assert not history.can_undo and history.undo(labels) is None
    for i in range(1, 61):
        assert history.redo_description == f"edit {i}"
        history.redo(labels)
        np.testing.assert_array_equal(labels, states[i])
    assert not history.can_redo and history.redo(labels) is None
    assert history.redo_description is None


def test_max_steps_keeps_the_newest_steps():
    history = EditHistory(max_steps=5)
    labels, states = edited(history, 8)
    assert [s.description for s in history.steps] == [f"edit {i}" for i in range(4, 9)]
    assert history.position == 5
    while history.undo(labels):
        pass
    np.testing.assert_array_equal(labels, states[3])  # the oldest three steps are gone


def test_max_bytes_drops_the_oldest_but_keeps_the_newest_step_however_large():
    history = EditHistory(max_bytes=1000)
    labels = np.zeros(SHAPE, np.uint16)
    small = (slice(0, 1), slice(0, 2), slice(0, 2))
    before = labels[small].copy()
    labels[small] = 1
    history.record(labels, small, before, "small")  # 2 x 4 voxels x 2 bytes = 16 bytes
    assert history.nbytes == 16
    before = labels.copy()
    labels[:] = 2  # 2 x 5760 voxels x 2 bytes: far beyond max_bytes
    history.record(labels, (slice(None),) * 3, before, "fill")
    assert [s.description for s in history.steps] == ["fill"]
    assert history.nbytes == 2 * labels.size * 2 and history.position == 1
    history.undo(labels)
    np.testing.assert_array_equal(labels, before)


def test_edits_that_change_nothing_are_not_recorded_and_keep_redo():
    history = EditHistory()
    labels, states = edited(history, 3)
    history.undo(labels)
    box = (slice(0, 4), slice(0, 4), slice(0, 4))
    assert history.record(labels, box, labels[box].copy(), "no-op") is None
    assert len(history.steps) == 3 and history.can_redo


def test_a_new_edit_after_undo_drops_the_redo_steps():
    history = EditHistory()
    labels, states = edited(history, 5)
    history.undo(labels)
    history.undo(labels)
    box = (slice(0, 1), slice(0, 1), slice(0, 1))
    before = labels[box].copy()
    labels[box] = before + 7
    history.record(labels, box, before, "new")
    assert [s.description for s in history.steps][-2:] == ["edit 3", "new"]
    assert history.position == 4 and not history.can_redo


def test_the_stored_box_shrinks_to_the_changed_voxels():
    labels = np.zeros((64, 64, 64), np.uint16)
    labels[30:33, 10:14, 50:55] = 3  # a 3-D grow touched only these voxels
    everything = (slice(None), slice(None), slice(None))
    before = np.zeros_like(labels)
    history = EditHistory()
    edit = history.record(labels, everything, before, "Grow L3")
    assert edit.box == ((30, 33), (10, 14), (50, 55))
    assert edit.before.shape == edit.after.shape == (3, 4, 5)
    assert edit.nbytes == 2 * 60 * 2  # 240 bytes instead of 1 MB for the whole box
    assert np.all(edit.after == 3) and np.all(edit.before == 0)


def test_boxes_with_open_or_negative_ends_are_understood():
    labels = np.zeros(SHAPE, np.uint16)
    box = (slice(-2, None), slice(None, 3), slice(5, -5))
    before = labels[box].copy()
    labels[-1, 2, 18] = 4
    edit = EditHistory().record(labels, box, before, "edge")
    assert edit.box == ((11, 12), (2, 3), (18, 19))


def test_edits_are_immutable():
    history = EditHistory()
    edited(history, 2)
    edit = history.steps[0]
    with pytest.raises(ValueError, match="read-only"):
        edit.after[...] = 9


@pytest.mark.parametrize(
    ("labels", "box", "before", "reason"),
    [
        (np.zeros(SHAPE, np.int32), (slice(0, 2),) * 3, np.zeros((2, 2, 2), np.int32), "uint16"),
        (np.zeros(SHAPE, np.uint16), (slice(0, 2),) * 3, np.zeros((2, 2, 3), np.uint16), "shape"),
        (np.zeros(SHAPE, np.uint16), (slice(0, 2),) * 3, np.zeros((2, 2, 2), np.int64), "uint16"),
        (np.zeros(SHAPE, np.uint16), (slice(0, 4, 2),) * 3, np.zeros((2, 2, 2), np.uint16), "step"),
        (np.zeros(SHAPE, np.uint16), (slice(0, 2),) * 2, np.zeros((2, 2), np.uint16), "three"),
    ],
)
def test_record_refuses_wrong_arguments(labels, box, before, reason):
    with pytest.raises(ValueError, match=reason):
        EditHistory().record(labels, box, before, "bad")


def test_matches_tells_whether_the_history_belongs_to_the_labels():
    history = EditHistory()
    assert history.matches(np.zeros(SHAPE, np.uint16))  # an empty history fits anything
    labels, states = edited(history, 4)
    assert history.matches(labels)
    newest = history.steps[-1]
    other = labels.copy()
    other[newest.slices][(0,) * 3] += 1  # e.g. the label map of another save
    assert not history.matches(other)
    assert not history.matches(np.zeros((1, 1, 1), np.uint16))
    while history.undo(labels):
        pass
    assert history.matches(labels)  # all undone: the first redo step's `before` is in place
    assert not history.matches(states[-1])


def test_undo_refuses_a_label_map_the_box_does_not_fit():
    history = EditHistory()
    labels, _ = edited(history, 1)
    with pytest.raises(ValueError, match="outside"):
        history.undo(np.zeros((1, 1, 1), np.uint16))


# ---------------------------------------------------------------- storage


def test_round_trip_behaves_the_same():
    history = EditHistory()
    labels, states = edited(history, 12, seed=3)
    for _ in range(4):
        history.undo(labels)
    data = history.to_bytes()
    loaded = EditHistory.from_bytes(data, SHAPE)
    assert loaded.to_bytes() == data
    assert loaded.position == history.position == 8
    for got, want in zip(loaded.steps, history.steps, strict=True):
        assert (got.box, got.description) == (want.box, want.description)
        np.testing.assert_array_equal(got.before, want.before)
        np.testing.assert_array_equal(got.after, want.after)
    assert loaded.matches(labels)
    copy = labels.copy()
    for _ in range(4):
        loaded.redo(copy)
    np.testing.assert_array_equal(copy, states[12])
    while loaded.undo(copy):
        pass
    np.testing.assert_array_equal(copy, states[0])


def test_descriptions_round_trip_exactly():
    history = EditHistory()
    labels = np.zeros(SHAPE, np.uint16)
    for i, text in enumerate(["", "Brush on L1 — 5 mm", "nul\0end", "λ"]):
        box = (slice(i, i + 1), slice(0, 1), slice(0, 1))
        before = labels[box].copy()
        labels[box] = 1
        history.record(labels, box, before, text)
    loaded = EditHistory.from_bytes(history.to_bytes(), SHAPE)
    assert [s.description for s in loaded.steps] == ["", "Brush on L1 — 5 mm", "nul\0end", "λ"]


def test_equal_histories_give_equal_bytes_at_any_time(monkeypatch):
    first, second = EditHistory(), EditHistory(max_steps=70)
    edited(first, 6, seed=5)
    edited(second, 6, seed=5)
    data = first.to_bytes()
    monkeypatch.setattr(time, "time", lambda: 2e9)  # np.savez would stamp this into the zip
    assert second.to_bytes() == data
    assert EditHistory().to_bytes() == EditHistory().to_bytes()
    assert EditHistory.from_bytes(EditHistory().to_bytes(), SHAPE).steps == ()


def _arrays(history: EditHistory) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(history.to_bytes())) as archive:
        return {name: archive[name] for name in archive.files}


def _npz(arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _damaged(change):
    def make(arrays):
        arrays = dict(arrays)
        change(arrays)
        return _npz(arrays)

    return make


def _set(name, value):
    return _damaged(lambda a: a.__setitem__(name, value))


def _npy_only(arrays) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, arrays["before"])
    return buffer.getvalue()


def _pickled(arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **{**arrays, "before": np.array([object()], dtype=object)})
    return buffer.getvalue()


def _box_outside(arrays):
    boxes = arrays["boxes"].copy()
    boxes[0, 2] = [SHAPE[2] - 1, SHAPE[2] + 1]
    arrays["boxes"] = boxes


def _empty_box(arrays):
    boxes = arrays["boxes"].copy()
    boxes[0, 0, 1] = boxes[0, 0, 0]
    arrays["boxes"] = boxes


DAMAGE = {
    "not an archive": (lambda a: b"not an npz at all", "not a valid undo history"),
    "empty": (lambda a: b"", "not a valid undo history"),
    "a bare .npy": (_npy_only, "not an .npz archive"),
    "truncated": (lambda a: _npz(a)[:-30], "not a valid undo history"),
    "missing array": (_damaged(lambda a: a.pop("after")), r"\['after'\] are missing"),
    "pickled objects": (_pickled, "not a valid undo history"),
    "box outside": (_damaged(_box_outside), "outside the label map"),
    "empty box": (_damaged(_empty_box), "outside the label map"),
    "before too short": (
        _damaged(lambda a: a.__setitem__("before", a["before"][:-1])),
        "before values",
    ),
    "wrong dtype": (
        _damaged(lambda a: a.__setitem__("after", a["after"].astype(np.int32))),
        "'after' is int32",
    ),
    "big-endian": (
        _damaged(lambda a: a.__setitem__("boxes", a["boxes"].astype(">i8"))),
        "'boxes'",
    ),
    "position negative": (_set("position", np.array(-1, np.int64)), "position -1 outside"),
    "position too far": (_set("position", np.array(4, np.int64)), "position 4 outside 0..3"),
    "unknown version": (_set("version", np.array(2, np.int64)), "version 2"),
    "descriptions": (
        _set("description_lengths", np.array([1, 1, 10**6], np.int64)),
        "descriptions are damaged",
    ),
    "not utf-8": (
        _damaged(
            lambda a: a.update(
                description_bytes=np.frombuffer(b"\xff\xfe", np.uint8),
                description_lengths=np.array([1, 1, 0], np.int64),
            )
        ),
        "UTF-8",
    ),
    "box count": (_damaged(lambda a: a.__setitem__("boxes", a["boxes"][:2])), "do not agree"),
}


@pytest.mark.parametrize("kind", sorted(DAMAGE))
def test_from_bytes_refuses_each_damage(kind):
    history = EditHistory()
    edited(history, 3)
    damage, reason = DAMAGE[kind]
    with pytest.raises(ValueError, match=reason):
        EditHistory.from_bytes(damage(_arrays(history)), SHAPE)


def test_from_bytes_refuses_a_history_of_a_smaller_label_map():
    history = EditHistory()
    labels = np.zeros(SHAPE, np.uint16)
    before = labels.copy()
    labels[-1, -1, -1] = 1
    history.record(labels, (slice(None),) * 3, before, "corner")
    data = history.to_bytes()
    assert EditHistory.from_bytes(data, SHAPE).position == 1
    with pytest.raises(ValueError, match="outside the label map"):
        EditHistory.from_bytes(data, (SHAPE[0], SHAPE[1], SHAPE[2] - 1))
    with pytest.raises(ValueError, match="shape"):
        EditHistory.from_bytes(data, (0, 1, 1))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_fuzz_random_bytes_only_raise_value_error(data):
    with pytest.raises(ValueError):
        EditHistory.from_bytes(data, SHAPE)


_VALID = EditHistory()
edited(_VALID, 3)


@settings(max_examples=200, deadline=None)
@given(position=st.floats(0, 1), noise=st.binary(min_size=1, max_size=8), cut=st.booleans())
def test_fuzz_damaged_archives_only_raise_value_error(position, noise, cut):
    data = _VALID.to_bytes()
    at = int(position * (len(data) - 1))
    damaged = data[:at] if cut else data[:at] + noise + data[at + len(noise) :]
    try:
        loaded = EditHistory.from_bytes(damaged, SHAPE)
    except ValueError:
        return
    # the zip's checksums let only changes to unchecked header fields through: same content
    assert loaded.to_bytes() == data


def test_an_edit_checks_its_arrays_against_its_box():
    values = np.zeros((1, 2, 3), np.uint16)
    with pytest.raises(ValueError, match="shape"):
        Edit(((0, 1), (0, 2), (0, 2)), values, values, "x")
    with pytest.raises(ValueError, match="non-empty"):
        Edit(((0, 1), (0, 2), (3, 3)), values, values, "x")
    with pytest.raises(ValueError, match="pairs"):
        Edit(((0, 1.5), (0, 2), (0, 3)), values, values, "x")
