"""Hundreds of random changes of layer, sample and tab leave every panel as a fresh Explorer would show it."""

from __future__ import annotations

import numpy as np

import nbviz
from nbviz.testing import TABS, live_widgets, panel_errors, random_change


def test_500_random_changes(cancer):
    x, y = cancer.x_test[:30], cancer.y_test[:30]
    kwargs = {"feature_names": cancer.feature_names, "class_names": cancer.class_names}
    ex = nbviz.explore(cancer.model, x, y, **kwargs)
    # Every panel built its marks once for every kind of layer (a figure is built on its first use: the input's
    # named bars only when the input layer is first shown), and no panel failed on any layer.
    assert panel_errors(ex, TABS) == []
    before = live_widgets()
    rng = np.random.default_rng(0)
    for _ in range(500):
        random_change(ex, rng)
    assert live_widgets() == before
    fresh = nbviz.explore(cancer.model, x, y, **kwargs)
    fresh.layer, fresh.sample = ex.layer, ex.sample
    for tab in TABS:
        ex.tab = fresh.tab = tab
        assert ex.panels[tab].message.value == fresh.panels[tab].message.value, tab
        np.testing.assert_array_equal(ex.panels[tab].values, fresh.panels[tab].values, err_msg=tab)
