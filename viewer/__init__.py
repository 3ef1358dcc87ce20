"""Interval: a desktop follow-up viewer for serial brain-tumour CT and MRI."""

__version__ = "0.1.0"
