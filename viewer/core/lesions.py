"""Lesions of a case: what each label value in a visit's label map means.

A lesion's ``number`` is the voxel value of its outline in every visit's label map, so the same
tumour keeps the same number (and colour) across visits. Numbers are never reused after a lesion is
deleted: an old label map or journal that still holds the number must not be read as another lesion.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass, replace

MAX_LESION_NUMBER = 65535
"""Label maps are stored as uint16, so lesion numbers run from 1 to 65535 (0 is background)."""

_PALETTE: tuple[tuple[int, int, int], ...] = (
    (230, 25, 75),
    (60, 180, 75),
    (255, 225, 25),
    (0, 130, 200),
    (245, 130, 48),
    (145, 30, 180),
    (70, 240, 240),
    (240, 50, 230),
    (210, 245, 60),
    (250, 190, 212),
)
"""Distinct colours (8-bit RGB) handed out in turn to new lesions."""


def palette_colour(number: int) -> tuple[int, int, int]:
    """The colour a lesion numbered ``number`` gets by default (8-bit RGB)."""
    return _PALETTE[(number - 1) % len(_PALETTE)]


class LesionKind(enum.Enum):
    """What tissue a lesion outline marks (the value is what the case file stores)."""

    ENHANCING = "enhancing tumour"
    NON_ENHANCING = "non-enhancing / FLAIR"
    RESECTION_CAVITY = "resection cavity"
    NECROSIS = "necrosis"


@dataclass(frozen=True)
class Lesion:
    """One outlined lesion.

    Parameters
    ----------
    number : int
        Label value in the label maps, 1 .. :data:`MAX_LESION_NUMBER`.
    name : str
        Shown to the reader, e.g. ``"L1 recurrence"``.
    colour : tuple of 3 int
        8-bit RGB, each 0 .. 255.
    kind : LesionKind
    note : str
    """

    number: int
    name: str
    colour: tuple[int, int, int]
    kind: LesionKind = LesionKind.ENHANCING
    note: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.number, bool) or not isinstance(self.number, int):
            raise TypeError(f"lesion number must be an int, got {self.number!r}")
        if not 1 <= self.number <= MAX_LESION_NUMBER:
            raise ValueError(f"lesion number {self.number} outside 1..{MAX_LESION_NUMBER}")
        colour = tuple(self.colour)
        if len(colour) != 3 or not all(
            isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 255 for c in colour
        ):
            raise ValueError(f"lesion colour must be three ints 0..255, got {self.colour!r}")
        object.__setattr__(self, "colour", colour)
        if not isinstance(self.kind, LesionKind):
            raise TypeError(f"lesion kind must be a LesionKind, got {self.kind!r}")
        if not isinstance(self.name, str) or not isinstance(self.note, str):
            raise TypeError("lesion name and note must be strings")


class LesionSet:
    """The lesions of a case, in number order, with numbers that are never reused.

    Parameters
    ----------
    lesions : iterable of Lesion, optional
    next_number : int, optional
        Number the next :meth:`add` will use; at least one more than the largest lesion number.
        A saved case stores it so a deleted lesion's number stays retired after reopening.

    Examples
    --------
    >>> lesions = LesionSet()
    >>> lesions.add("L1 recurrence").number, lesions.add().name
    (1, 'L2')
    >>> _ = lesions.remove(2); lesions.add().number
    3
    """

    def __init__(self, lesions: tuple[Lesion, ...] | list[Lesion] = (), next_number: int = 1):
        self._lesions: dict[int, Lesion] = {}
        for lesion in lesions:
            if lesion.number in self._lesions:
                raise ValueError(f"two lesions numbered {lesion.number}")
            self._lesions[lesion.number] = lesion
        highest = max(self._lesions, default=0)
        if isinstance(next_number, bool) or not isinstance(next_number, int):
            raise TypeError(f"next_number must be an int, got {next_number!r}")
        if not highest < next_number <= MAX_LESION_NUMBER + 1:
            raise ValueError(f"next_number {next_number} must exceed the largest number {highest}")
        self._next = next_number

    @property
    def next_number(self) -> int:
        """Number the next added lesion gets."""
        return self._next

    def add(
        self,
        name: str | None = None,
        kind: LesionKind = LesionKind.ENHANCING,
        colour: tuple[int, int, int] | None = None,
        note: str = "",
    ) -> Lesion:
        """Add a lesion with the next free number.

        Parameters
        ----------
        name : str, optional
            Defaults to ``"L<number>"``.
        kind : LesionKind
        colour : tuple of 3 int, optional
            8-bit RGB; defaults to the palette colour for the number.
        note : str

        Returns
        -------
        Lesion

        Raises
        ------
        ValueError
            All 65535 numbers have been used.
        """
        number = self._next
        if number > MAX_LESION_NUMBER:
            raise ValueError(f"no lesion numbers left (all 1..{MAX_LESION_NUMBER} used)")
        lesion = Lesion(
            number=number,
            name=f"L{number}" if name is None else name,
            colour=palette_colour(number) if colour is None else colour,
            kind=kind,
            note=note,
        )
        self._lesions[number] = lesion
        self._next = number + 1
        return lesion

    def restore(self, lesion: Lesion) -> None:
        """Put a deleted lesion back under its own number (undoing its deletion).

        Raises
        ------
        ValueError
            The number is in use, or was never handed out by this set.
        """
        if lesion.number in self._lesions:
            raise ValueError(f"lesion {lesion.number} exists")
        if lesion.number >= self._next:
            raise ValueError(f"lesion {lesion.number} was never part of this case")
        self._lesions = dict(sorted({**self._lesions, lesion.number: lesion}.items()))

    def update(self, number: int, /, **changes: object) -> Lesion:
        """Change a lesion's name, colour, kind or note (not its number); returns the new value."""
        if "number" in changes:
            raise ValueError("a lesion's number cannot change: it is the label value")
        lesion = replace(self[number], **changes)  # type: ignore[arg-type]
        self._lesions[number] = lesion
        return lesion

    def remove(self, number: int) -> Lesion:
        """Delete a lesion; its number is not given out again. Returns the removed lesion."""
        return self._lesions.pop(self[number].number)

    def __getitem__(self, number: int) -> Lesion:
        try:
            return self._lesions[number]
        except KeyError:
            raise KeyError(f"no lesion numbered {number}") from None

    def __contains__(self, number: object) -> bool:
        return number in self._lesions

    def __iter__(self) -> Iterator[Lesion]:
        return iter(sorted(self._lesions.values(), key=lambda lesion: lesion.number))

    def __len__(self) -> int:
        return len(self._lesions)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LesionSet):
            return NotImplemented
        return self._lesions == other._lesions and self._next == other._next

    def __repr__(self) -> str:
        return f"LesionSet({list(self)!r}, next_number={self._next})"
