"""The Explorer against independent computations: Keras sub-models and a fresh Probe, mark by mark."""

from __future__ import annotations

import threading

import ipywidgets as widgets
import keras
import numpy as np
import pytest

from nbviz.compute import Probe, activation_view, weight_image
from nbviz.compute.methods.weights import filter_grid
from nbviz.testing import live_widgets
from nbviz.testing import synced_array as synced
from nbviz.ui.panels.worker import THREAD_NAME

SAMPLES = (0, 7, 23)


def _heatmap_holds(plot, values: np.ndarray) -> None:
    color = synced(plot.mark, "color")
    assert color.dtype == np.float32
    rows, cols = values.shape
    np.testing.assert_array_equal(color[:rows, :cols], values)  # NaN gutters compare equal


def _bars_hold(plot, values: np.ndarray) -> None:
    y = synced(plot.mark, "y")
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, values)


def _shown(figure_view, values):
    if figure_view.view.kind == "bars":
        _bars_hold(figure_view.shown, values)  # the bars, or the named bars of features
    else:
        _heatmap_holds(figure_view.heatmap, values)


@pytest.mark.parametrize("which", ["digits", "cancer"])
def test_every_panel_equals_an_independent_computation(which, request):
    ex = request.getfixturevalue(f"{which}_explorer")
    data = request.getfixturevalue(which)
    model, x, y = data.model, data.x_test[:40], data.y_test[:40]
    probe = Probe(model)  # a second, independent Probe for the gradients
    for sample in SAMPLES:
        grads = probe.gradients(x[sample : sample + 1], y[sample : sample + 1])
        for layer in model.layers:
            ex.sample, ex.layer = sample, layer.name
            # Activations: a Keras sub-model, not the Probe.
            ex.tab = "activations"
            expected_act = np.asarray(keras.Model(model.inputs[0], layer.output)(x[sample : sample + 1]))[0]
            panel = ex.panels["activations"]
            view = activation_view(expected_act, max_cells=1024 if expected_act.ndim <= 1 else 65_536)
            np.testing.assert_allclose(panel.values, view.values, atol=1e-6)
            _shown(panel.view, panel.values)
            # Weights and their gradients, first tensor.
            for tab, tensors in (
                ("weights", [w.numpy() for w in layer.weights]),
                ("gradients", grads.weights[layer.name]),
            ):
                ex.tab = tab
                panel = ex.panels[tab]
                no_weights = panel.info.value if tab == "gradients" else panel.message.value
                assert panel.message.value == "" or "no weights" in panel.message.value
                if tab == "gradients" and f"{layer.name}#0" in grads.undefined:
                    # No gradient reaches it (a Normalization layer reads constants made from its variables):
                    # said in the heatmap's place, not drawn as zeros.
                    assert panel.values.size == 0 and "not differentiable" in panel.weight_view.heatmap.note_text
                elif tensors:
                    # A conv kernel as the grid of its filters (filter_grid), a matrix as it is (weight_image).
                    layout = filter_grid if np.ndim(tensors[0]) >= 3 else weight_image
                    expected = layout(tensors[0]).image
                    np.testing.assert_allclose(panel.values, expected, rtol=1e-5, atol=1e-7)
                    view = panel.view if tab == "weights" else panel.weight_view
                    _heatmap_holds(view.heatmap, panel.values)
                else:
                    assert "no weights" in no_weights
            np.testing.assert_allclose(
                ex.panels["gradients"].saliency_values,
                np.ravel(grads.inputs[0]) if x.ndim == 2 else activation_view(grads.inputs[0]).values,
                rtol=1e-5,
                atol=1e-7,
            )


def test_weight_selector_shows_the_bias(digits_explorer, digits):
    ex = digits_explorer
    ex.tab, ex.layer = "weights", "conv2"
    panel = ex.panels["weights"]
    assert panel.view.selector.options == (("kernel", 0), ("bias", 1))
    panel.view.selector.value = 1
    bias = digits.model.get_layer("conv2").bias.numpy()
    np.testing.assert_allclose(panel.values, bias[None, :])
    _heatmap_holds(panel.view.heatmap, panel.values)
    ex.layer = "dense"  # the bias stays chosen on the next layer that has one
    np.testing.assert_allclose(panel.values, digits.model.get_layer("dense").bias.numpy()[None, :])
    panel.view.selector.value = 0


def _descendants(widget: widgets.Widget) -> list[widgets.Widget]:
    children = getattr(widget, "children", ())
    return [widget, *(d for child in children for d in _descendants(child))]


def test_plot_titles_are_html_that_bqplot_cannot_drop(digits_explorer, digits):
    # bqplot 0.13 loses a Figure title change that arrives while the figure is first drawn (issue #640), so
    # titles that follow the state are an HTML widget shown above the figure, and the figure has none.
    ex = digits_explorer
    ex.tab, ex.layer = "weights", "dense"
    plot = ex.panels["weights"].view.heatmap
    assert plot.title_text.startswith("kernel (512 x 64")
    assert "kernel (512 x 64" in plot.title.value
    assert plot.figure.title == ""
    assert plot.title in _descendants(ex.panels["weights"].widget)
    assert plot.figure in _descendants(ex.panels["weights"].widget)
    plot.set_title("<b>x</b> & y")
    assert "&lt;b&gt;x&lt;/b&gt; &amp; y" in plot.title.value
    ex.layer = "conv1"
    assert plot.title_text.startswith("kernel (3 x 3 x 1 x 16)")


def test_sample_view_and_prediction(digits_explorer, digits):
    ex = digits_explorer
    ex.sample = 7
    np.testing.assert_allclose(ex.sample_view.values, digits.x_test[7, :, :, 0])
    _heatmap_holds(ex.sample_view.plot, ex.sample_view.values)
    probs = np.asarray(digits.model(digits.x_test[7:8]))[0]
    assert f"label <b>{digits.y_test[7]}</b>" in ex.sample_view.text.value
    assert f"predicted <b>{np.argmax(probs)}</b> ({probs.max():.1%})" in ex.sample_view.text.value


def test_tabular_sample_is_a_bar_per_named_feature(cancer_explorer, cancer):
    ex = cancer_explorer
    ex.sample = 3
    x = cancer.x_test[:40]
    z = (x[3] - x.mean(0)) / x.std(0)
    np.testing.assert_allclose(ex.sample_view.values, z, rtol=1e-4, atol=1e-5)
    assert list(ex.sample_view.plot.mark.x) == cancer.feature_names


def test_controls_and_graph_click_set_the_traitlets(digits_explorer):
    ex = digits_explorer
    ex.dropdown.value = "conv1"
    assert ex.layer == "conv1"
    index = ex.graph_view.names.index("dense")
    ex.graph_view.nodes.set_state({"selected": [index]})  # what the browser sends on a click
    assert ex.layer == "dense" and ex.dropdown.value == "dense"
    ex.slider.value = 11
    assert ex.sample == 11
    ex.sample = 12
    assert ex.slider.value == 12
    ex.layer = "probs"
    assert list(ex.graph_view.nodes.selected) == [ex.graph_view.names.index("probs")]


def test_hidden_panels_catch_up_when_shown(digits_explorer):
    ex = digits_explorer
    ex.tab = "weights"
    ex.layer, ex.sample = "conv1", 2
    ex.layer, ex.sample = "conv2", 3
    assert ex.panels["activations"].stale
    ex.tab = "activations"
    assert ex.panels["activations"].state == ex.state and not ex.panels["activations"].stale
    assert ex.tabs.selected_index == 1
    ex.tabs.selected_index = 2
    assert ex.tab == "gradients" and ex.panels["gradients"].state == ex.state


def test_live_widget_count_is_constant(digits_explorer):
    ex = digits_explorer
    layers = ex.analysis.graph.names
    rng = np.random.default_rng(0)
    for tab in ("weights", "activations", "gradients"):  # what a panel builds on first use is built once
        ex.tab = tab
        for layer in layers:
            ex.layer = layer
    ex.tab = "gradients"
    ex.layer, ex.sample = layers[1], 1
    # A worker thread of another module's Explorer in this process (a SHAP panel still computing) builds widgets.
    for thread in threading.enumerate():
        if thread.name == THREAD_NAME:
            thread.join(timeout=60)
    before = live_widgets()
    for i in range(200):
        ex.tab = ("weights", "activations", "gradients")[i % 3]
        ex.layer = layers[int(rng.integers(len(layers)))]
        ex.sample = int(rng.integers(ex.analysis.data.n_samples))
    assert live_widgets() == before


def test_an_error_inside_a_panel_shows_and_the_next_change_works(digits_explorer, monkeypatch):
    ex = digits_explorer
    ex.tab, ex.layer = "activations", "conv1"
    original = ex.analysis.activations

    def broken(sample):
        if ex.layer == "conv2":
            raise RuntimeError("planted failure")
        return original(sample)

    monkeypatch.setattr(ex.analysis, "activations", broken)
    ex.layer = "conv2"
    panel = ex.panels["activations"]
    assert "RuntimeError: planted failure" in panel.message.value
    assert "planted failure" in panel.last_error
    ex.layer = "dense"
    assert panel.message.value == "" and panel.values.shape == (64,)


def test_bad_state_is_refused_and_nothing_changes(digits_explorer):
    ex = digits_explorer
    ex.layer, ex.sample = "conv1", 4
    with pytest.raises(ValueError, match="layer: expected one of"):
        ex.layer = "conv9"
    with pytest.raises(ValueError, match=r"sample: expected an index in \[0, 40\), got 40"):
        ex.sample = 40
    with pytest.raises(ValueError, match="tab: expected one of"):
        ex.tab = "no such tab"
    assert (ex.layer, ex.sample) == ("conv1", 4)


def test_dead_units_over_the_data(digits_explorer, digits):
    ex = digits_explorer
    ex.tab = "activations"
    for name in ("conv1", "conv2", "dense"):
        ex.layer = name
        outputs = np.asarray(
            keras.Model(digits.model.inputs[0], digits.model.get_layer(name).output)(digits.x_test[:40])
        )
        dead = (outputs.reshape(-1, outputs.shape[-1]) <= 0).all(axis=0)
        text = ex.panels["activations"].dead.value
        assert f"first 40 samples): <b>{int(dead.sum())}</b> of {dead.size} ({dead.mean():.1%})" in text
    ex.layer = "pool"  # not a ReLU layer: no dead-unit line
    assert ex.panels["activations"].dead.value == ""


def test_slider_bursts_are_coalesced_to_the_last_value():
    import asyncio

    from nbviz.ui.state import Coalescer

    applied = []

    async def drag():
        slide = Coalescer(applied.append, delay=0.02, defer=True)  # as in a kernel
        for value in range(10):
            slide(value)
        assert applied == []  # nothing yet: the burst is still coming
        await asyncio.sleep(0.06)
        slide(42)
        await asyncio.sleep(0.06)

    # A thread of its own: its event loop cannot clash with one another test left in the main thread.
    worker = threading.Thread(target=asyncio.run, args=(drag(),))
    worker.start()
    worker.join()
    assert applied == [9, 42]
    direct = Coalescer(applied.append, delay=0.02)  # outside a kernel: applied at once
    direct(5)
    assert applied[-1] == 5


def test_a_failing_sample_view_reports_in_the_header(digits_explorer, monkeypatch):
    ex = digits_explorer
    original = ex.analysis.prediction
    monkeypatch.setattr(ex.analysis, "prediction", lambda sample: 1 / 0 if sample == 5 else original(sample))
    ex.sample = 5
    assert "sample 5: ZeroDivisionError" in ex.message.value
    ex.sample = 6
    assert ex.message.value == "" and "predicted" in ex.sample_view.text.value


def test_sample_filter_and_navigate(digits_explorer):
    ex = digits_explorer
    ex.sample = 0
    ex.set_sample_filter([9, 3, 7])
    try:
        assert ex.slider.max == 2 and ex.sample == 3  # the current sample was outside: the first one is shown
        ex.slider.value = 1
        assert ex.sample == 7
        ex.sample = 9
        assert ex.slider.value == 2
        ex.navigate(layer="dense", sample=3, tab="activations")
        assert (ex.layer, ex.sample, ex.tab, ex.slider.value) == ("dense", 3, "activations", 0)
        assert ex.panels["activations"].state == ex.state
        with pytest.raises(ValueError, match="samples: expected at least one sample index"):
            ex.set_sample_filter([])
    finally:
        ex.set_sample_filter(None)
    assert ex.slider.max == ex.analysis.data.n_samples - 1 and ex.slider.value == 3
