"""The units tab: the top samples of a unit equal an argsort of the layer's own activations, a filter's box sits
on its strongest cell, and the optimised input beats the best sample."""

from __future__ import annotations

import numpy as np
import pytest

import nbviz
from nbviz.compute.model.probe import shared_probe
from nbviz.testing import raising_panel_errors, synced_array


@pytest.fixture(scope="module")
def ex(digits):
    with raising_panel_errors():
        explorer = nbviz.explore(digits.model, digits.x_test, digits.y_test)
        explorer.tab = "units"
        yield explorer


def test_top_samples_of_a_filter_and_their_boxes(ex, digits):
    panel = ex.panels["units"]
    ex.layer = "conv2"
    panel.unit.value = 5
    maps = shared_probe(digits.model).activations(digits.x_test, ["conv2"])["conv2"][..., 5]
    strongest = maps.reshape(len(maps), -1).max(axis=1)
    expected = np.argsort(-strongest, kind="stable")[:9]
    shown = ex.analysis.unit_examples("conv2", 5)
    np.testing.assert_array_equal(shown.indices, expected)
    np.testing.assert_allclose(panel.values, strongest[expected], rtol=1e-6)
    assert panel.unit.max == 31 and "of 32 (filters)" in panel.count.value
    # The box of each top sample frames the cell of its strongest response (conv2 keeps the 8 x 8 grid).
    x_lines, y_lines = synced_array(panel.boxes, "x"), synced_array(panel.boxes, "y")
    for i, sample in enumerate(expected):
        row, col = np.unravel_index(np.argmax(maps[sample]), maps[sample].shape)
        assert x_lines[i].min() == col - 0.5 + 9 * i and x_lines[i].max() == col + 0.5 + 9 * i
        assert y_lines[i].min() == row - 0.5 and y_lines[i].max() == row + 0.5
    # The strip holds the samples' pictures, 9 of 8 x 8 with gaps.
    assert panel.strip.shown.shape == (8, 9 * 9 - 1)
    panel.top_list.value = int(expected[3])
    assert ex.sample == expected[3]


def test_dense_units_and_layers_without_units(ex, digits):
    panel = ex.panels["units"]
    ex.layer = "dense"
    panel.unit.value = 7
    acts = shared_probe(digits.model).activations(digits.x_test, ["dense"])["dense"][:, 7]
    np.testing.assert_array_equal(ex.analysis.unit_examples("dense", 7).indices, np.argsort(-acts, kind="stable")[:9])
    assert synced_array(panel.boxes, "x").size == 0 and "of 64 (units)" in panel.count.value
    ex.layer = "pool"
    assert "of 32 (filters)" in panel.count.value and panel.unit.value == 7


def test_a_model_with_two_inputs_says_why(two_input_model, rng):
    x = [rng.normal(size=(6, *t.shape[1:])).astype("float32") for t in two_input_model.inputs]
    ex = nbviz.explore(two_input_model, x)
    ex.tab = "units"
    assert "needs a model with one input; this one has 2" in ex.panels["units"].message.value
    assert ex.panels["units"].run.disabled
    ex.close()


def test_maximisation_beats_the_best_sample_and_stops(ex):
    panel = ex.panels["units"]
    ex.layer = "dense"
    panel.unit.value = 5
    panel.start(wait=True)
    found = ex.analysis.maximize("dense", 5)
    assert found.activation > found.best_sample  # the climb beat every explored digit
    assert not found.stopped and found.steps == 256 and panel.progress.value == 256
    assert "after 256 steps" in panel.result.value and panel.optimised_image.has_data
    assert panel.optimised_image.shown.shape == (8, 8)
    # Asked again: the kept result, at once; a stopped run is shown as such and not kept.
    assert ex.analysis.maximize("dense", 5) is found
    stopped = ex.analysis.maximize("dense", 6, cancelled=lambda: True)
    assert stopped.stopped and stopped.steps == 0
    assert ex.analysis.maximize("dense", 6, cancelled=lambda: True) is not stopped


def test_tabular_units_stay_in_the_datas_range(cancer):
    with raising_panel_errors():
        ex = nbviz.explore(cancer.model, cancer.x_test, cancer.y_test, feature_names=cancer.feature_names)
        ex.tab = "units"
        ex.layer = "hidden1"
        panel = ex.panels["units"]
        panel.unit.value = 2
        panel.start(wait=True)
        found = ex.analysis.maximize("hidden1", 2)
        assert not found.image and found.picture.shape == (30,)
        assert found.picture.min() >= 0 and found.picture.max() <= 1  # scaled to the data's per-feature range
        assert panel.optimised_bars.has_data and not panel.strip.has_data  # no pictures of tabular samples
        assert found.activation > found.best_sample
        ex.close()


def test_redact_withholds_the_units_of_input_like_layers(digits):
    ex = nbviz.explore(digits.model, digits.x_test[:30], digits.y_test[:30], redact=True)
    ex.tab = "units"
    ex.layer = "image"  # its one "unit" is the raw pixels: its top samples' activations would be pixel values
    panel = ex.panels["units"]
    assert "redact mode withholds its units" in panel.message.value and panel.values.size == 0
    ex.layer = "conv1"
    assert panel.values.shape == (9,) and not panel.strip.has_data  # learned units, but no sample pictures
    ex.close()
