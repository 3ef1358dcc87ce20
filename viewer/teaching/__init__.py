"""Reference readings, blind reads and the feedback that compares them; Qt-free."""
