"""Headless commands (``interval info``, ``interval convert``, ...); no Qt is imported here."""
