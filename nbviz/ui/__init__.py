"""The widgets: every part of the Explorer, the compare view and LiveTraining (bqplot and ipywidgets)."""
