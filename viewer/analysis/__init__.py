"""Qt-free measurement, lesion tracking and response assessment, with units in every name."""
