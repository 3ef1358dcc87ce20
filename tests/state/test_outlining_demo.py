"""Outlining on the demo case through the comparison views: strokes on a resliced view land in
the visit's native grid at the right anatomical place, and click-to-grow from the view."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import SAMPLE_SCANS
from viewer.core.geometry import apply_affine
from viewer.core.transform import Registration, RegistrationState, Transform
from viewer.display.window import load_presets
from viewer.io import scan_paths
from viewer.io.nifti import read_nifti
from viewer.state.annotations import Annotations
from viewer.state.compare_controller import ComparisonController
from viewer.state.outlining import OutliningController, Tool
from viewer.state.registrations import RegistrationStore
from viewer.state.session import Session, prepare_series

DEMO = SAMPLE_SCANS / "demo_case"
TRUTH = json.loads((DEMO / "ground_truth" / "case.json").read_text(encoding="utf-8"))
SERIES = {s["key"]: s for visit in TRUTH["visits"] for s in visit["series"]}
REFERENCE = "1995-06-12/SE05_AX_T1_POST_GAD"
RECURRENCE = "2002-08-14/SE07_AX_T1_POST_GAD"
VIEWPORT = (400, 400)


@pytest.fixture(scope="module")
def views():
    catalog = scan_paths([DEMO / "dicom"])
    session = Session(max_loaded=4)
    session.set_catalog(catalog)
    registrations = RegistrationStore()
    notes = Annotations()
    comparison = ComparisonController(session, registrations, annotations=notes)
    keys = {
        name: catalog.find_series(SERIES[name]["series_instance_uid"]).key
        for name in (REFERENCE, RECURRENCE)
    }
    presets = load_presets()
    for key in keys.values():
        session.add_loaded(key, prepare_series(session.entry(key), presets))
    comparison.set_reference(keys[REFERENCE])
    truth = Transform(np.array(SERIES[RECURRENCE]["patient2reference"]), "rigid")
    registrations.put(
        Registration(keys[RECURRENCE], keys[REFERENCE], truth, RegistrationState.ACCEPTED)
    )
    comparison.set_layout("1x1")
    comparison.assign(0, keys[RECURRENCE])
    centre = TRUTH["visits"][2]["lesions_analytic"]["1"]["centroid_reference_mm"]
    comparison.state.crosshair_mm = tuple(float(v) for v in centre)
    tools = OutliningController(notes, lambda key: registrations.record(key).transform)
    return comparison, tools, notes, keys


def test_a_brush_dab_on_the_registered_view_lands_under_the_cursor_in_the_native_grid(views):
    comparison, tools, notes, keys = views
    frame = comparison.frame(0, VIEWPORT)
    row, column = frame.crosshair_px
    view = comparison.view_geometry(0, VIEWPORT)
    assert view is not None and view.key == keys[RECURRENCE]
    tools.settings.tool, tools.settings.brush_radius_mm = Tool.BRUSH, 3.0
    tools.press(view, row, column)
    tools.release(view, row, column)
    labels = notes.labels(keys[RECURRENCE])
    painted = np.argwhere(labels > 0)
    assert len(painted) > 3
    volume = view.volume
    reference = apply_affine(
        comparison.registrations.patient2reference(keys[RECURRENCE]),
        apply_affine(volume.voxel2patient, painted.astype(float)),
    )
    distance = np.linalg.norm(reference - np.asarray(comparison.state.crosshair_mm), axis=1)
    # within the brush radius plus half the 3.5 mm slice (the disc lies on the view plane)
    assert distance.max() <= np.hypot(3.0 + 0.8, 1.75) + 1e-6
    # the painted disc is where the crosshair is: its centre within a voxel of the point
    assert np.linalg.norm(reference.mean(axis=0) - comparison.state.crosshair_mm) < 1.8
    # and the overlay shows it on the screen where it was painted
    shown = comparison.frame(0, VIEWPORT).rgba
    before = frame.rgba
    changed = np.any(shown != before, axis=-1)
    rows, columns = np.nonzero(changed)
    assert abs(rows.mean() - row) < 3 and abs(columns.mean() - column) < 3
    notes.undo(keys[RECURRENCE])
    assert not notes.labels(keys[RECURRENCE]).any()


def test_click_to_grow_from_the_view_outlines_the_recurrence(views):
    comparison, tools, notes, keys = views
    frame = comparison.frame(0, VIEWPORT)
    view = comparison.view_geometry(0, VIEWPORT)
    tools.settings.tool = Tool.GROW
    tools.press(view, *frame.crosshair_px)
    proposal = notes.proposal
    assert proposal is not None and proposal.series_key == keys[RECURRENCE]
    truth = read_nifti(DEMO / SERIES[RECURRENCE]["label_map"]).array == 1
    grown = proposal.mask
    dice = 2 * (grown & truth).sum() / (grown.sum() + truth.sum())
    assert dice >= 0.85
    # the slider re-grows the preview from the same click
    tools.settings.grow_sensitivity = 2.5
    assert notes.proposal is not proposal and notes.proposal.mask.sum() >= grown.sum()
    tools.settings.grow_sensitivity = 1.0
    assert tools.accept()
    np.testing.assert_array_equal(notes.labels(keys[RECURRENCE]) > 0, grown)
    assert notes.proposal is None


def test_a_polygon_with_an_intensity_range_thresholds_within_the_outlined_region(views):
    comparison, tools, notes, keys = views
    frame = comparison.frame(0, VIEWPORT)
    view = comparison.view_geometry(0, VIEWPORT)
    row, column = frame.crosshair_px
    corners = [(row - 15, column - 15), (row - 15, column + 15), (row + 15, column + 15),
               (row + 15, column - 15)]  # fmt: skip
    key = keys[RECURRENCE]
    while notes.undo(key) is not None:  # start from no outline
        pass

    def outline(limit: bool) -> np.ndarray:
        tools.settings.tool, tools.settings.limit_to_range = Tool.POLYGON, limit
        for point in corners:
            tools.press(view, *point)
            tools.release(view, *point)
        tools.close_polygon()
        mask = notes.labels(key) > 0
        notes.undo(key)
        return mask

    whole = outline(False)
    image = view.volume.array
    low, high = np.percentile(image[whole], [60, 100])
    tools.settings.range_low, tools.settings.range_high = float(low), float(high)
    bright = outline(True)
    assert 0 < bright.sum() < whole.sum()
    np.testing.assert_array_equal(bright, whole & (image >= low) & (image <= high))
    tools.settings.limit_to_range = False


def test_the_native_view_shows_the_outlines_in_the_visit_own_grid(views):
    from viewer.state.controller import ViewController

    comparison, tools, notes, keys = views
    key = keys[RECURRENCE]
    native = ViewController(comparison.session, annotations=notes)
    native.select_series(key)
    volume = comparison.loaded(key).volume
    centre = np.array(volume.shape) // 2
    native.view.focus_mm = tuple(float(v) for v in apply_affine(volume.voxel2patient, centre))
    before = native.frame().rgba.copy()
    box = tuple(slice(int(c) - 3, int(c) + 4) for c in centre)

    def square(scratch):
        scratch[box] = True
        return box

    notes.paint(key, volume.shape, square, erase=False, description="box")
    after = native.frame().rgba
    changed = np.any(after != before, axis=-1)
    assert 20 <= changed.sum() <= 400  # a 7 x 7 voxel square and its edge, at this zoom
    notes.style.visible = False
    np.testing.assert_array_equal(native.frame().rgba, before)
    notes.style.visible = True
    notes.undo(key)


def test_fill_between_two_outlined_slices_and_clean_up_are_previews_until_accepted(views):
    comparison, tools, notes, keys = views
    key = keys[RECURRENCE]
    while notes.undo(key) is not None:
        pass
    volume = comparison.loaded(key).volume
    # the native view of the series: its acquired slices are the view's slices
    native = comparison.view_geometry(0, VIEWPORT)
    assert native is not None
    labels_before = notes.lesion_mask(key, notes.lesion_for_editing())
    assert labels_before is None or not labels_before.any()
    centre = np.array(volume.shape) // 2
    for offset in (-2, 2):
        z = centre[0] + offset
        box = (
            slice(z, z + 1),
            slice(centre[1] - 5, centre[1] + 5),
            slice(centre[2] - 5, centre[2] + 5),
        )

        def square(scratch, box=box):
            scratch[box] = True
            return box

        notes.paint(key, volume.shape, square, erase=False, description="slice")
    from viewer.state.outlining import ViewGeometry

    axial = np.eye(4)  # screen (row, column, offset) along the native (row, column, slice)
    axial[:3, :3] = [[0, 0, 1], [1, 0, 0], [0, 1, 0]]
    view = ViewGeometry(key, volume, axial, 1.0)
    outlined = notes.labels(key) > 0
    assert tools.fill_between(view)
    proposal = notes.proposal
    assert proposal is not None and proposal.mode == "replace"
    np.testing.assert_array_equal(notes.labels(key) > 0, outlined)  # only previewed
    filled_slices = np.nonzero(proposal.mask.any(axis=(1, 2)))[0]
    np.testing.assert_array_equal(filled_slices, np.arange(centre[0] - 2, centre[0] + 3))
    assert tools.accept()
    assert (notes.labels(key) > 0).sum() == proposal.mask.sum()

    # an island far away is removed by the clean-up, the lesion stays
    def speck(scratch):
        scratch[centre[0], 2, 2] = True
        return (slice(centre[0], centre[0] + 1), slice(2, 3), slice(2, 3))

    notes.paint(key, volume.shape, speck, erase=False, description="speck")
    assert tools.remove_islands(view)
    tools.accept()
    assert not notes.labels(key)[centre[0], 2, 2]
    assert (notes.labels(key) > 0).sum() == proposal.mask.sum()
    while notes.undo(key) is not None:
        pass
