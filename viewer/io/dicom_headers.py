"""The per-slice header record that DICOM scanning produces and volume assembly consumes.

This is the contract between ``viewer.io.dicom_scan`` (reads headers, groups files into series and
stacks) and ``viewer.io.dicom_volume`` (decodes pixels and builds a :class:`viewer.core.Volume`).
A classic file gives one ``SliceHeader``; an enhanced multi-frame file gives one per frame, with the
per-frame functional groups already resolved (position, orientation, spacing, rescale).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class SliceHeader:
    """Everything needed to place and decode one 2-D frame, read without its pixel data.

    Geometry fields are ``None`` when the tag is absent; the volume builder refuses to guess them.
    """

    path: str
    """File the frame lives in."""
    frame_index: int | None
    """0-based frame number inside a multi-frame file; ``None`` for a single-frame file."""
    sop_instance_uid: str
    sop_class_uid: str
    transfer_syntax_uid: str
    # Grouping keys
    patient_id: str
    patient_name: str
    patient_birth_date: dt.date | None
    study_instance_uid: str
    study_date: dt.date | None
    study_description: str
    series_instance_uid: str
    series_number: int | None
    series_description: str
    modality: str
    frame_of_reference_uid: str
    acquisition_datetime: dt.datetime | None
    instance_number: int | None
    image_type: tuple[str, ...]
    # Geometry (LPS mm)
    image_position: tuple[float, float, float] | None
    image_orientation: tuple[float, float, float, float, float, float] | None
    pixel_spacing: tuple[float, float] | None
    """(between rows, between columns) in mm."""
    slice_thickness: float | None
    gantry_tilt_deg: float | None
    # Pixel description
    rows: int
    columns: int
    bits_allocated: int
    bits_stored: int
    high_bit: int
    pixel_representation: int
    """0 unsigned, 1 two's complement signed."""
    samples_per_pixel: int
    photometric_interpretation: str
    number_of_frames: int
    """Frames in the file (1 for classic)."""
    rescale_slope: float | None
    rescale_intercept: float | None
    rescale_type: str
    pixel_padding_value: int | None
    pixel_data_offset: int | None
    """Byte offset of the PixelData value in the file for native (uncompressed) transfer syntaxes,
    so the volume builder can read the bytes straight into a preallocated array; ``None`` when
    unknown or encapsulated."""
    pixel_data_length: int | None
    """Declared length of the PixelData value in bytes (``None`` if undefined/encapsulated)."""
    file_size: int
    burned_in_annotation: bool
    """BurnedInAnnotation is YES or a secondary capture: the pixels may carry identifiers."""
    contrast_agent: str
    extra: dict[str, Any] = field(default_factory=dict, compare=False)
    """Acquisition parameters by keyword (RepetitionTime, EchoTime, KVP, Manufacturer, ...)."""
