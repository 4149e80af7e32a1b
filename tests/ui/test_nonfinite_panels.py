"""The panels say what NaN and Inf left out, on their note line, and keep drawing what is left."""

from __future__ import annotations

import numpy as np

import nbviz
from nbviz.testing import TABS, raising_panel_errors
from tests.faults import copy_of, plant_weight


def test_outputs_all_nan_are_said_on_every_tab(cancer):
    model = copy_of(cancer.model)
    plant_weight(model.layers[-1].bias, (0,), np.nan)
    ex = nbviz.explore(model, cancer.x_test[:20], cancer.y_test[:20], feature_names=cancer.feature_names)
    said = "The model&#x27;s output is NaN or Inf for every one of the 20 samples"
    with raising_panel_errors():
        for tab in (*TABS, "shap"):
            ex.tab = tab
            assert said in ex.panels[tab].message.value, tab
    assert ex.panels["diagnostics"].values.size == 0  # no confusion matrix of NaN predictions counted as class 0


def test_a_nan_sample_is_counted_in_the_notes_and_the_rest_drawn(cancer):
    x = cancer.x_test[:30].copy()
    x[3, 5] = np.nan
    ex = nbviz.explore(cancer.model, x, cancer.y_test[:30], feature_names=cancer.feature_names)
    note = "1 of 30 samples left out: NaN or Inf in its inputs"
    with raising_panel_errors():
        for tab in ("diagnostics", "projector", "rules"):
            ex.tab = tab
            assert note in ex.panels[tab].message.value, tab
        assert ex.panels["diagnostics"].values.sum() == 29  # the confusion matrix: every other sample
        assert np.isfinite(ex.panels["projector"].values).all(axis=1).sum() == 29
        ex.tab, ex.layer = "activations", "hidden1"
        assert note in ex.panels["activations"].dead.value
        ex.sample = 3
        assert "Sample 3&#x27;s output holds NaN or Inf" in ex.panels["activations"].message.value
