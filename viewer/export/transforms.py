"""Registration transforms as ITK transform files (.tfm), read by SimpleITK and 3D Slicer.

ITK's convention: a file maps points of the FIXED (reference) series' patient space (LPS mm) to
the MOVING series' space, Interval's ``reference2moving``, which is what resampling the moving
series onto the reference grid needs (``sitk.Resample(moving, reference, sitk.ReadTransform(f))``).
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import NamedTuple

import SimpleITK as sitk

from viewer.core.transform import Registration, RegistrationState
from viewer.export.privacy import Privacy
from viewer.io.atomic import save_error, temporary_path
from viewer.registration.sitk_bridge import reference2moving_to_sitk


class SeriesName(NamedTuple):
    """What a transform file is named by: the series' visit date and number (never a UID)."""

    date: dt.date | None
    series_number: int | None


def export_transforms(
    registrations: Iterable[Registration],
    folder: str | os.PathLike[str],
    *,
    series: Mapping[str, SeriesName],
    privacy: Privacy | None = None,
) -> list[Path]:
    """Write each registered series' transform as ``<moving>_to_<reference>.tfm`` in ``folder``.

    Parameters
    ----------
    registrations : iterable of Registration
        Those NOT_REGISTERED, or of a series onto itself, are skipped (nothing to write).
    folder : path-like
        Created if needed.
    series : mapping of str to SeriesName
        Visit date and series number of every series key the registrations name.
    privacy : Privacy, optional
        Names use its case label and relative visit labels (teaching mode by default), e.g.
        ``Case_Day412_S8_to_Day0_S5.tfm``.

    Returns
    -------
    list of Path
        The files written, in the order of ``registrations``.

    Raises
    ------
    KeyError
        A registration names a series missing from ``series``.
    viewer.errors.SaveError
        A file cannot be written (each file is written to a temporary name and renamed).
    """
    privacy = privacy or Privacy()
    folder = Path(folder)
    dates = [name.date for name in series.values() if name.date is not None]
    first = min(dates, default=None)
    written: list[Path] = []
    for registration in registrations:
        if (
            registration.state is RegistrationState.NOT_REGISTERED
            or registration.series_key == registration.reference_key
        ):
            continue
        moving, reference = series[registration.series_key], series[registration.reference_key]
        target_stem = privacy.file_stem(moving.date, first, moving.series_number)
        visit = re.sub(r"[^A-Za-z0-9-]", "", privacy.visit_label(reference.date, first))
        number = "" if reference.series_number is None else f"_S{reference.series_number}"
        target = _unique(folder / f"{target_stem}_to_{visit}{number}.tfm", written)
        _write(reference2moving_to_sitk(registration.transform), target)
        written.append(target)
    return written


def _unique(target: Path, taken: list[Path]) -> Path:
    """Series without a number can share a name: number the later ones."""
    candidate, index = target, 2
    while candidate in taken:
        candidate = target.with_name(f"{target.stem}_{index}{target.suffix}")
        index += 1
    return candidate


def _write(transform: sitk.Transform, target: Path) -> None:
    temporary = temporary_path(target).with_suffix(".tfm")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        sitk.WriteTransform(transform, str(temporary))
        os.replace(temporary, target)
    except (OSError, RuntimeError) as exc:
        temporary.unlink(missing_ok=True)
        error = exc if isinstance(exc, OSError) else OSError(str(exc))
        raise save_error(error, target, "writing the transform") from exc
