"""A saved case opened for a headless command: the images scanned, the Tracking built on it.

``interval measure`` and ``interval report`` read a case the same way: CASE is the images' folder
(the case saved for it is found as the viewer finds it) or the ``*.interval`` case folder itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from viewer.cli.common import print_warning
from viewer.core.catalog import Catalog
from viewer.core.volume import Volume
from viewer.errors import IntervalError
from viewer.io import load_series, scan_paths
from viewer.io.case_file import MANIFEST, Case, load_case
from viewer.state.annotations import Annotations
from viewer.state.case_session import CASE_SUFFIX, case_folder_of
from viewer.state.tracking import Tracking


class NoSavedCase(Exception):
    """CASE names nothing, or no case was saved for it (the message says which)."""


@dataclass
class CaseInput:
    """A saved case with what the headless commands need of it.

    Attributes
    ----------
    case : Case
    catalog : Catalog
        The images scanned (empty when they were not found).
    volumes : dict of str to Volume
        The outlined series that could be read, by series key.
    tracking : Tracking
        Measurements and response, with the case's saved choices restored.
    """

    case: Case
    catalog: Catalog
    volumes: dict[str, Volume]
    tracking: Tracking


def case_paths(path: Path) -> tuple[Path, Path]:
    """The case folder and the images' folder of CASE.

    Raises
    ------
    NoSavedCase
        Nothing at ``path``, or no case saved for it.
    """
    if not path.exists():
        raise NoSavedCase(f"{path}: no such file or folder")
    if path.name.endswith(CASE_SUFFIX):
        folder, images = path, path.with_name(path.name.removesuffix(CASE_SUFFIX))
    else:
        folder, images = case_folder_of([path]), path
    if not (folder / MANIFEST).is_file():
        raise NoSavedCase(
            f"{path}: no saved case (looked for {folder / MANIFEST}); "
            "outline and save in the viewer first"
        )
    return folder, images


def open_case(path: Path) -> CaseInput:
    """Load the case saved for CASE and build its Tracking (warnings go to standard error).

    Warnings name files relative to the images' folder, never the folders above it.

    Raises
    ------
    NoSavedCase
        See :func:`case_paths`.
    IntervalError, OSError, ValueError
        The case cannot be read.
    """
    folder, images = case_paths(path)
    case = load_case(folder)
    volumes: dict[str, Volume] = {}
    if images.exists():
        catalog = scan_paths([images])
        for entry in catalog.all_series():
            if entry.key in case.labels:
                try:
                    volumes[entry.key] = load_series(entry)
                except IntervalError as exc:
                    print_warning(f"{exc} (measured without its intensities)", [images])
    else:
        catalog = Catalog()
        print_warning(
            "the images are not beside the case folder (a folder of its name without "
            f"{CASE_SUFFIX}); visits cannot be dated"
        )
    notes = Annotations()
    notes.restore(case.lesions, case.labels, {}, provenance=case.provenance)
    transforms = {
        r.series_key: r.transform.moving2reference
        for r in case.registrations
        if r.transform.kind != "identity"
    }
    tracking = Tracking(
        notes,
        lambda: catalog,
        volumes.get,
        lambda: case.series,
        transforms.get,
    )
    tracking.restore(case.assessment, case.events)
    return CaseInput(case, catalog, volumes, tracking)
