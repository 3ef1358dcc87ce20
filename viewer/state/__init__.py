"""The evented application state the UI observes (psygnal), and the controller that changes it."""

from viewer.state.controller import Frame, Probe, ViewController
from viewer.state.session import (
    LoadedSeries,
    LoadStatus,
    Session,
    default_series,
    is_contrast_mri,
    prepare_series,
)
from viewer.state.view import ViewState

__all__ = [
    "Frame",
    "LoadStatus",
    "LoadedSeries",
    "Probe",
    "Session",
    "ViewController",
    "ViewState",
    "default_series",
    "is_contrast_mri",
    "prepare_series",
]
