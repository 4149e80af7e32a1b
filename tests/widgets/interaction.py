"""Driving an Explorer in widget tests: random changes of its state, the count of live widgets, and walks over
every tab and layer (errors collected). ``benchmarks/rapid_interaction.py`` uses the first two as well."""

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


ERROR_STYLE = "#b00020"  # how a panel shows an exception (a specific "cannot apply" note is grey instead)


def panel_errors(ex: Any, tabs: Any = None) -> list[tuple[str, str, str]]:
    """Show every layer on every tab (or on ``tabs``); returns (tab, layer, message) for each error shown."""
    problems = []
    for tab in ex.panels if tabs is None else tabs:
        ex.tab = tab
        for layer in ex.session.graph.names:
            ex.layer = layer
            message = ex.panels[tab].message.value
            if ERROR_STYLE in message:
                problems.append((tab, layer, message))
    return problems


def walk_everything(ex: Any, sample: int) -> None:
    """Every tab on every layer at ``sample``, plus the controls that show data of their own: global SHAP,
    rules fitted on inputs and on each layer, every slice feature and every saliency method."""
    ex.sample = sample
    assert panel_errors(ex) == []
    ex.tab = "shap"
    shap = ex.panels["shap"]
    shap.subset.value = 12
    shap.start_global(wait=True)
    ex.tab = "rules"
    rules = ex.panels["rules"]
    for on_layer in (True, False):
        rules.on_layer.value = on_layer
        for layer in ex.session.graph.names:
            ex.layer = layer
    ex.tab = "diagnostics"
    for _, feature in ex.panels["diagnostics"].slice_feature.options:
        ex.panels["diagnostics"].slice_feature.value = feature
    ex.tab = "saliency"
    for _, method in ex.panels["saliency"].method.options:
        ex.panels["saliency"].method.value = method
    for panel in ex.panels.values():
        assert panel.last_error is None, panel.last_error
