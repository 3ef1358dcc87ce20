"""All of Qt: the main window, the slice view, panels and workers."""
