"""Random changes of an Explorer's state, and the count of live widgets: shared by the rapid-interaction test,
the widget-count tests and ``benchmarks/rapid_interaction.py``."""

from __future__ import annotations

import warnings
from typing import Any

import ipywidgets as widgets
import numpy as np

# Every tab but SHAP (its explainers are slow to build, and tested on their own) and training (none here).
TABS = ("weights", "activations", "gradients", "saliency", "rules", "diagnostics", "findings")


def live_widgets() -> int:
    """How many widgets exist now (ipywidgets' registry of open widgets)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the registry's name is deprecated, not the count
        return len(widgets.Widget.widgets)


def random_change(ex: Any, rng: np.random.Generator) -> None:
    """One change of layer, sample or tab (one in three each), drawn from ``rng``."""
    what = rng.integers(3)
    if what == 0:
        layers = ex.session.graph.names
        ex.layer = layers[int(rng.integers(len(layers)))]
    elif what == 1:
        ex.sample = int(rng.integers(ex.session.n_samples))
    else:
        ex.tab = TABS[int(rng.integers(len(TABS)))]
