"""The single-file form of a reading (``*.reading``) and the readings of a case folder.

A ``.reading`` file is a zip archive (see docs/reading-format.md) of ``reading.json`` (who, when,
criteria, lesions, grids, categories, teaching points, hand-laid diameters) and one ``.npz`` per
outlined series holding each lesion's mask, cropped to its bounding box and packed eight voxels a
byte. Members are stored, not deflated, with fixed dates and attributes, so the same reading gives
the same bytes on every machine whatever its zlib. Files are written atomically; a damaged or
foreign file is refused with :class:`viewer.errors.CaseFileError` naming the file and the problem.

A case folder keeps its readings in ``readings/`` (:class:`ReadingStore`), apart from the
reader's own outlines in the case manifest.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import math
import os
import re
import unicodedata
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from viewer.analysis.events import SteroidChange, TreatmentEvent, TreatmentKind
from viewer.core.geometry import bounding_box
from viewer.core.lesions import LesionKind
from viewer.errors import CaseFileError, SaveError
from viewer.io.atomic import save_error, write_bytes_atomic
from viewer.io.json_fields import (
    checked_format,
    json_boolean,
    json_integer,
    json_list,
    json_text,
    loads_strict,
)
from viewer.teaching.reading import (
    HandMeasurement,
    Reader,
    Reading,
    ReadingLesion,
    Role,
    SeriesOutlines,
    VisitStatement,
)

FORMAT_NAME = "interval-reading"
FORMAT_VERSION = 1
SUFFIX = ".reading"
READINGS_FOLDER = "readings"
"""Sub-folder of a case folder holding its readings (``<images>.interval/readings/``)."""

_JSON_NAME = "reading.json"
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # the earliest zip date: no clock in the bytes
_MAX_JSON_BYTES = 64 * 2**20
_MAX_VOXELS = 2**30  # a grid larger than this (2 GB of labels) is no series anyone outlined
_NPY_HEADER_BYTES = 1024  # an .npy header, or a zip entry's headers, take less than this


# --------------------------------------------------------------------------- writing


def reading_bytes(reading: Reading) -> bytes:
    """The reading as the bytes of a ``.reading`` file (the same reading, the same bytes)."""
    series_json = []
    members: list[tuple[str, bytes]] = []
    for index, outlines in enumerate(reading.series.values(), start=1):
        name = f"series-{index}.npz"
        masks, lesion_json = _packed_masks(outlines)
        members.append((name, _zip_bytes(masks)))
        series_json.append(
            {
                "key": outlines.key,
                "visit": outlines.visit,
                "shape": list(outlines.shape),
                "voxel2patient": outlines.voxel2patient.tolist(),
                "slice_thickness_mm": outlines.slice_thickness_mm,
                "file": name,
                "lesions": lesion_json,
            }
        )
    document = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "reader": {"name": reading.reader.name, "role": reading.reader.role.value},
        "created": reading.created.isoformat(),
        "case_label": reading.case_label,
        "criteria": reading.criteria_key,
        "baseline_visit": reading.baseline_visit,
        "events": [
            {
                "date": e.date.isoformat(),
                "kind": e.kind.value,
                "steroid_change": None if e.steroid_change is None else e.steroid_change.value,
                "note": e.note,
            }
            for e in reading.events
        ],
        "lesions": [
            {
                "number": lesion.number,
                "name": lesion.name,
                "kind": lesion.kind.value,
                "target": lesion.target,
                "colour": list(lesion.colour),
                "note": lesion.note,
            }
            for lesion in reading.lesions
        ],
        "series": series_json,
        "visits": [
            {
                "label": v.label,
                "date": v.date.isoformat(),
                "series": v.series_key,
                "category": v.category,
                "new_lesions": list(v.new_lesions),
                "teaching_points": list(v.teaching_points),
            }
            for v in reading.visits
        ],
        "hand_measurements": [
            {
                "series": h.series_key,
                "lesion": h.lesion,
                "long_ends_mm": [list(p) for p in h.long_ends_mm],
                "perp_ends_mm": [list(p) for p in h.perp_ends_mm],
            }
            for h in reading.hand_measurements
        ],
    }
    text = json.dumps(document, indent=1, ensure_ascii=False, allow_nan=False) + "\n"
    return _zip_bytes([(_JSON_NAME, text.encode("utf-8")), *members])


def write_reading(reading: Reading, path: str | os.PathLike[str]) -> None:
    """Write a reading to a ``.reading`` file atomically (the old file stays whole on failure).

    Raises
    ------
    viewer.errors.SaveError
        Disk full, no permission, folder gone: the message names the file.
    """
    path = Path(path)
    data = reading_bytes(reading)
    try:
        write_bytes_atomic(path, data)
    except OSError as exc:
        raise save_error(exc, path, "writing the reading") from exc


def _packed_masks(outlines: SeriesOutlines) -> tuple[list[tuple[str, bytes]], list[dict]]:
    """Each lesion's mask cropped to its box and packed 8 voxels a byte, as ``.npy`` files."""
    members, lesion_json = [], []
    for number in outlines.numbers():
        mask = outlines.labels == number
        box = bounding_box(mask)
        assert box is not None  # numbers() lists only lesions present
        cropped = mask[box]
        members.append((f"L{number}.npy", _npy_bytes(np.packbits(cropped, axis=None))))
        lesion_json.append(
            {
                "number": number,
                "offset": [s.start for s in box],
                "shape": list(cropped.shape),
                "voxels": int(np.count_nonzero(cropped)),
            }
        )
    return members, lesion_json


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.ascontiguousarray(array), version=(1, 0))
    return buffer.getvalue()


def _zip_bytes(members: Sequence[tuple[str, bytes]]) -> bytes:
    """A zip of stored (uncompressed) members with fixed dates and attributes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_STORED
            info.create_system = 3  # the same on every platform
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return buffer.getvalue()


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class ReadingInfo:
    """What a reading file says about itself, without its lesions, outlines or categories.

    Safe to show while a blind read is open: nothing in it tells the trainee what the reference
    found.

    Attributes
    ----------
    path : Path
    reader : Reader
    created : datetime.datetime
    case_label : str
    criteria_key : str
    events : tuple of TreatmentEvent
        The treatments the reading took into account: the case's clinical history, which a
        trainee is given with the images (not a finding).
    """

    path: Path
    reader: Reader
    created: dt.datetime
    case_label: str
    criteria_key: str
    events: tuple[TreatmentEvent, ...] = ()


def read_reading(path: str | os.PathLike[str]) -> Reading:
    """Read a ``.reading`` file.

    Raises
    ------
    viewer.errors.CaseFileError
        Not a reading (not a zip, no ``reading.json``, another format), an unknown version,
        truncated or damaged (zip CRC), or content that does not fit together: the message
        names the file and the problem.
    """
    path = Path(path)
    with _open_archive(path) as archive:
        document = _document(archive, path)
        try:
            return _reading_from(document, archive, path)
        except CaseFileError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError) as exc:
            raise CaseFileError(
                f"the reading's content is invalid ({type(exc).__name__}: {exc})", path
            ) from exc
        except (zipfile.BadZipFile, EOFError, OSError) as exc:
            raise CaseFileError(f"the reading is damaged ({exc})", path) from exc


def read_reading_info(path: str | os.PathLike[str]) -> ReadingInfo:
    """Read only who made a reading, when, for which case, by which criteria and treatments.

    Raises
    ------
    viewer.errors.CaseFileError
        As :func:`read_reading`, for the parts it reads.
    """
    path = Path(path)
    with _open_archive(path) as archive:
        document = _document(archive, path)
    try:
        return ReadingInfo(
            path,
            _reader(document["reader"]),
            _datetime(document["created"]),
            json_text(document["case_label"]),
            json_text(document["criteria"]),
            tuple(_events(document)),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise CaseFileError(
            f"the reading's header is invalid ({type(exc).__name__}: {exc})", path
        ) from exc


def _events(document: dict[str, Any]) -> list[TreatmentEvent]:
    """The treatment events of a reading's JSON document."""
    return [
        TreatmentEvent(
            dt.date.fromisoformat(json_text(item["date"])),
            TreatmentKind(item["kind"]),
            None if item["steroid_change"] is None else SteroidChange(item["steroid_change"]),
            json_text(item["note"]),
        )
        for item in json_list(document["events"])
    ]


def _open_archive(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except FileNotFoundError as exc:
        raise CaseFileError("the reading file does not exist", path) from exc
    except OSError as exc:
        raise CaseFileError(f"cannot read the reading ({exc.strerror or exc})", path) from exc
    except (zipfile.BadZipFile, EOFError, ValueError) as exc:
        raise CaseFileError(
            f"not an Interval reading (not a zip archive, or truncated: {exc})", path
        ) from exc


def _document(archive: zipfile.ZipFile, path: Path) -> dict[str, Any]:
    try:
        info = archive.getinfo(_JSON_NAME)
    except KeyError:
        raise CaseFileError(f"not an Interval reading (no {_JSON_NAME} inside)", path) from None
    if info.file_size > _MAX_JSON_BYTES:
        raise CaseFileError(f"{_JSON_NAME} is implausibly large ({info.file_size:,} bytes)", path)
    try:
        document = loads_strict(archive.read(info).decode("utf-8"))
    except (zipfile.BadZipFile, EOFError, OSError) as exc:
        raise CaseFileError(f"the reading is damaged ({exc})", path) from exc
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise CaseFileError(f"{_JSON_NAME} is not valid JSON ({exc})", path) from exc
    return checked_format(document, path, name=FORMAT_NAME, version=FORMAT_VERSION, what="reading")


def _reading_from(document: Mapping[str, Any], archive: zipfile.ZipFile, path: Path) -> Reading:
    lesions = [
        ReadingLesion(
            number=json_integer(item["number"]),
            name=json_text(item["name"]),
            kind=LesionKind(item["kind"]),
            target=json_boolean(item["target"]),
            colour=tuple(json_integer(c) for c in json_list(item["colour"])),
            note=json_text(item["note"]),
        )
        for item in json_list(document["lesions"])
    ]
    series = [_series_from(item, archive, path) for item in json_list(document["series"])]
    visits = [
        VisitStatement(
            label=json_text(item["label"]),
            date=dt.date.fromisoformat(json_text(item["date"])),
            series_key=None if item["series"] is None else json_text(item["series"]),
            category=None if item["category"] is None else json_text(item["category"]),
            new_lesions=tuple(json_integer(n) for n in json_list(item["new_lesions"])),
            teaching_points=tuple(json_text(p) for p in json_list(item["teaching_points"])),
        )
        for item in json_list(document["visits"])
    ]
    events = _events(document)
    hands = [
        HandMeasurement(
            json_text(item["series"]),
            json_integer(item["lesion"]),
            _points(item["long_ends_mm"]),
            _points(item["perp_ends_mm"]),
        )
        for item in json_list(document["hand_measurements"])
    ]
    baseline = document["baseline_visit"]
    return Reading(
        _reader(document["reader"]),
        _datetime(document["created"]),
        lesions,
        series,
        visits,
        criteria_key=json_text(document["criteria"]),
        baseline_visit=None if baseline is None else json_text(baseline),
        events=events,
        hand_measurements=hands,
        case_label=json_text(document["case_label"]),
        source=path,
    )


def _series_from(item: Mapping[str, Any], archive: zipfile.ZipFile, path: Path) -> SeriesOutlines:
    key = json_text(item["key"])
    shape = tuple(json_integer(n) for n in json_list(item["shape"]))
    if len(shape) != 3 or min(shape) < 1 or math.prod(shape) > _MAX_VOXELS:
        raise ValueError(f"series {key}: implausible shape {shape}")
    labels = np.zeros(shape, dtype=np.uint16)
    name = json_text(item["file"])
    if not re.fullmatch(r"series-[0-9]+\.npz", name):
        raise ValueError(f"series {key}: file name {name!r} is not series-<n>.npz")
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise CaseFileError(f"series {key}: {name} is missing from the reading", path) from None
    # the masks' packed sizes bound the member: a larger one is refused before it is unpacked
    boxes = [math.prod(json_list(lesion["shape"])) for lesion in json_list(item["lesions"])]
    expected = sum((n + 7) // 8 + 3 * _NPY_HEADER_BYTES for n in boxes) + _NPY_HEADER_BYTES
    if info.file_size > expected:
        raise CaseFileError(f"series {key}: {name} is larger than its outlines can be", path)
    masks = zipfile.ZipFile(io.BytesIO(archive.read(info)))
    with masks:
        for lesion in json_list(item["lesions"]):
            number = json_integer(lesion["number"])
            offset = tuple(json_integer(n) for n in json_list(lesion["offset"]))
            size = tuple(json_integer(n) for n in json_list(lesion["shape"]))
            if len(offset) != 3 or len(size) != 3 or min(size) < 1 or min(offset) < 0:
                raise ValueError(f"series {key} lesion {number}: bad box {offset} {size}")
            if any(o + s > n for o, s, n in zip(offset, size, shape, strict=True)):
                raise ValueError(f"series {key} lesion {number}: box leaves the grid {shape}")
            mask = _unpacked(masks, f"L{number}.npy", size)
            if int(np.count_nonzero(mask)) != json_integer(lesion["voxels"]):
                raise CaseFileError(
                    f"series {key} lesion {number}: the outline's voxel count does not match "
                    "(changed or damaged)",
                    path,
                )
            box = tuple(slice(o, o + s) for o, s in zip(offset, size, strict=True))
            region = labels[box]
            if np.any(region[mask]):
                raise ValueError(f"series {key}: lesion {number} overlaps another lesion")
            region[mask] = number
    thickness = item["slice_thickness_mm"]
    return SeriesOutlines(
        key,
        json_text(item["visit"]),
        np.array(item["voxel2patient"], dtype=np.float64),
        labels,
        None if thickness is None else float(thickness),
    )


def _unpacked(masks: zipfile.ZipFile, name: str, size: tuple[int, ...]) -> np.ndarray:
    count = math.prod(size)
    expected = (count + 7) // 8
    info = masks.getinfo(name)  # KeyError: named as invalid content by the caller
    if info.file_size > expected + _NPY_HEADER_BYTES:
        raise ValueError(f"{name} is larger than its box ({info.file_size:,} bytes)")
    packed = np.lib.format.read_array(io.BytesIO(masks.read(info)), allow_pickle=False)
    if packed.dtype != np.uint8 or packed.shape != (expected,):
        raise ValueError(f"{name} holds {packed.dtype} {packed.shape}, not uint8 ({expected},)")
    return np.unpackbits(packed, count=count).astype(bool).reshape(size)


def _reader(item: Any) -> Reader:
    return Reader(json_text(item["name"]), Role(item["role"]))


def _datetime(value: Any) -> dt.datetime:
    return dt.datetime.fromisoformat(json_text(value))


def _points(value: Any) -> tuple[Any, Any]:
    points = json_list(value)
    if len(points) != 2:
        raise ValueError(f"expected two points, got {value!r}")
    return tuple(tuple(float(c) for c in json_list(p)) for p in points)  # type: ignore[return-value]


# --------------------------------------------------------------------------- the case folder


class ReadingStore:
    """The readings kept in a case folder, under ``readings/``.

    Parameters
    ----------
    case_folder : path-like
        The case folder (``<images>.interval``, see ``viewer.state.case_session``).
    """

    def __init__(self, case_folder: str | os.PathLike[str]) -> None:
        self.folder = Path(case_folder) / READINGS_FOLDER

    def infos(self) -> tuple[list[ReadingInfo], list[str]]:
        """Every reading in the folder (headers only), oldest first, and the files skipped.

        Returns
        -------
        infos : list of ReadingInfo
        problems : list of str
            One message per ``.reading`` file that could not be read (naming it and why).
        """
        infos, problems = [], []
        if not self.folder.is_dir():
            return infos, problems
        for path in sorted(self.folder.glob(f"*{SUFFIX}")):
            try:
                infos.append(read_reading_info(path))
            except CaseFileError as exc:
                problems.append(str(exc))
        infos.sort(key=lambda info: (_utc(info.created), info.path.name))
        return infos, problems

    def references(self) -> list[ReadingInfo]:
        """The reference readings, oldest first (unreadable files left out)."""
        return [info for info in self.infos()[0] if info.reader.role is Role.REFERENCE]

    def save(self, reading: Reading) -> Path:
        """Write a reading into the folder under a new name; returns its path.

        Raises
        ------
        viewer.errors.SaveError
            The folder cannot be written (the message names it and why).
        """
        return self._store(reading_bytes(reading), _file_name(reading))

    def import_file(self, path: str | os.PathLike[str]) -> Path:
        """Copy a ``.reading`` file into the folder after checking it reads.

        Importing the same file twice keeps one copy.

        Returns
        -------
        Path
            The copy in the folder.

        Raises
        ------
        viewer.errors.CaseFileError
            The file is not a valid reading (nothing is copied).
        viewer.errors.SaveError
            The folder cannot be written.
        """
        path = Path(path)
        reading = read_reading(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise CaseFileError(f"cannot read the reading ({exc.strerror or exc})", path) from exc
        return self._store(data, _file_name(reading))

    def _store(self, data: bytes, name: str) -> Path:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise save_error(exc, self.folder, "creating the readings folder") from exc
        stem = name[: -len(SUFFIX)]
        for attempt in range(1, 1000):
            target = self.folder / (name if attempt == 1 else f"{stem}-{attempt}{SUFFIX}")
            try:
                if target.read_bytes() == data:
                    return target  # already here
                continue
            except FileNotFoundError:
                pass
            except OSError as exc:
                raise save_error(exc, target, "checking the readings folder") from exc
            try:
                write_bytes_atomic(target, data)
            except OSError as exc:
                raise save_error(exc, target, "writing the reading") from exc
            return target
        raise SaveError(f"999 readings are already named {stem}-*: remove some", self.folder)


def _file_name(reading: Reading) -> str:
    """``<role>-<name>-<YYYYmmddTHHMMSS>.reading``, safe on every file system."""
    # accents dropped (Müller -> muller), everything else but letters and digits -> "-"
    ascii_name = unicodedata.normalize("NFKD", reading.reader.name).encode("ascii", "ignore")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.decode().lower()).strip("-")[:40] or "reader"
    stamp = _utc(reading.created).strftime("%Y%m%dT%H%M%S")
    return f"{reading.reader.role.value}-{slug}-{stamp}{SUFFIX}"


def _utc(moment: dt.datetime) -> dt.datetime:
    """A datetime in UTC (naive ones are taken as UTC)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)
