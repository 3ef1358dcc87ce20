import pytest

from viewer.core.lesions import MAX_LESION_NUMBER, Lesion, LesionKind, LesionSet


def test_numbers_are_stable_and_never_reused():
    lesions = LesionSet()
    first = lesions.add("L1 recurrence")
    second = lesions.add("L2 metastasis", kind=LesionKind.NECROSIS)
    assert (first.number, second.number) == (1, 2)
    assert first.kind is LesionKind.ENHANCING  # the default kind
    lesions.remove(1)
    third = lesions.add()
    assert third.number == 3 and third.name == "L3"
    assert [lesion.number for lesion in lesions] == [2, 3]
    assert 1 not in lesions and 2 in lesions


def test_next_number_survives_a_rebuild():
    lesions = LesionSet()
    for _ in range(3):
        lesions.add()
    lesions.remove(3)
    rebuilt = LesionSet(list(lesions), next_number=lesions.next_number)
    assert rebuilt == lesions
    assert rebuilt.add().number == 4


def test_colours_differ_between_neighbouring_lesions_and_can_be_chosen():
    lesions = LesionSet()
    a, b = lesions.add(), lesions.add()
    assert a.colour != b.colour
    c = lesions.add(colour=(1, 2, 3))
    assert c.colour == (1, 2, 3)


def test_update_keeps_the_number():
    lesions = LesionSet()
    lesions.add("old")
    updated = lesions.update(1, name="L1 recurrence", note="rim", kind=LesionKind.RESECTION_CAVITY)
    assert lesions[1] == updated
    assert (updated.number, updated.name, updated.note) == (1, "L1 recurrence", "rim")
    with pytest.raises(ValueError, match="cannot change"):
        lesions.update(1, number=5)
    with pytest.raises(KeyError, match="no lesion numbered 9"):
        lesions.update(9, name="x")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"number": 0},
        {"number": MAX_LESION_NUMBER + 1},
        {"colour": (0, 0, 256)},
        {"colour": (0, 0)},
        {"colour": (0.5, 0, 0)},
    ],
)
def test_invalid_lesions_are_refused(kwargs):
    values = {"number": 1, "name": "L1", "colour": (255, 0, 0), **kwargs}
    with pytest.raises(ValueError):
        Lesion(**values)


def test_invalid_sets_are_refused():
    lesion = Lesion(2, "L2", (0, 0, 0))
    with pytest.raises(ValueError, match="two lesions"):
        LesionSet([lesion, lesion], next_number=3)
    with pytest.raises(ValueError, match="must exceed"):
        LesionSet([lesion], next_number=2)


def test_numbers_run_out_cleanly():
    lesions = LesionSet(next_number=MAX_LESION_NUMBER)
    assert lesions.add().number == MAX_LESION_NUMBER
    with pytest.raises(ValueError, match="no lesion numbers left"):
        lesions.add()
