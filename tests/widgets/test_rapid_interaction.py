"""Hundreds of random changes of layer, sample and tab leave every panel as a fresh Explorer would show it."""

from __future__ import annotations

import warnings

import ipywidgets as widgets
import numpy as np

import nbviz

TABS = ("weights", "activations", "gradients", "saliency", "rules", "diagnostics", "findings")


def _live_widgets() -> int:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return len(widgets.Widget.widgets)


def test_500_random_changes(cancer):
    x, y = cancer.x_test[:30], cancer.y_test[:30]
    kwargs = {"feature_names": cancer.feature_names, "class_names": cancer.class_names}
    ex = nbviz.explore(cancer.model, x, y, **kwargs)
    layers = ex.session.graph.names
    for tab in TABS:  # every panel built its marks once
        ex.tab = tab
    before = _live_widgets()
    rng = np.random.default_rng(0)
    for _ in range(500):
        what = rng.integers(3)
        if what == 0:
            ex.layer = layers[int(rng.integers(len(layers)))]
        elif what == 1:
            ex.sample = int(rng.integers(len(x)))
        else:
            ex.tab = TABS[int(rng.integers(len(TABS)))]
    assert _live_widgets() == before
    fresh = nbviz.explore(cancer.model, x, y, **kwargs)
    fresh.layer, fresh.sample = ex.layer, ex.sample
    for tab in TABS:
        ex.tab = fresh.tab = tab
        assert ex.panels[tab].message.value == fresh.panels[tab].message.value, tab
        np.testing.assert_array_equal(ex.panels[tab].values, fresh.panels[tab].values, err_msg=tab)
