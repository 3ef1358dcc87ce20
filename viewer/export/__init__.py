"""Exports that leave the application: images, reports, segmentations, transforms (Qt-free).

Every export goes through :class:`viewer.export.privacy.Privacy`, whose default (teaching mode)
keeps the patient's identity out of file names, file contents and dates.
"""
