"""Fetching studies from a PACS and sending results back (DIMSE and DICOMweb); Qt-free."""
