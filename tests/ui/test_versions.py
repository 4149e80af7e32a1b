"""Every number shown is the model as it is now: after fit, set_weights or load_weights every panel shows
what a fresh Explorer shows; notes clear their plots; bad navigation changes nothing; one sample change sends
exactly its messages; panels ask and display, and compute nothing."""

from __future__ import annotations

import ast
from pathlib import Path

import keras
import numpy as np
import pytest

import nbviz
from nbviz.testing import TABS, raising_panel_errors, recording, synced_array
from tests.faults import copy_of

LAYERS = ("conv1", "dense", "probs")


def _compiled_copy(digits):
    model = copy_of(digits.model)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy")
    return model


def _assert_like_a_fresh_explorer(ex, model, x, y):
    fresh = nbviz.explore(model, x, y)
    fresh.sample = ex.sample
    with raising_panel_errors():  # a panel that fails shows its traceback here, not a line in the panel
        for tab in TABS:
            for layer in LAYERS:
                ex.tab, ex.layer = tab, layer
                fresh.tab, fresh.layer = tab, layer
                np.testing.assert_allclose(
                    ex.panels[tab].values, fresh.panels[tab].values, rtol=1e-6, atol=1e-7, err_msg=f"{tab} {layer}"
                )
    fresh.close()


@pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer")
def test_after_fit_set_weights_and_load_weights_every_tab_shows_the_model_as_it_is(digits, tmp_path):
    model = _compiled_copy(digits)
    x, y = digits.x_test[:24], digits.y_test[:24]
    ex = nbviz.explore(model, x, y)
    ex.sample = 3
    looked = {}
    for tab in TABS:  # look at everything once, so that every panel holds numbers of the old weights
        for layer in LAYERS:
            ex.tab, ex.layer = tab, layer
            looked[tab, layer] = ex.panels[tab].values.copy()
    original = model.get_weights()
    model.save_weights(tmp_path / "start.weights.h5")

    model.fit(digits.x_train[:256], digits.y_train[:256], epochs=3, verbose=0)
    _assert_like_a_fresh_explorer(ex, model, x, y)
    ex.tab, ex.layer = "activations", "dense"
    assert not np.allclose(ex.panels["activations"].values, looked["activations", "dense"], atol=1e-3)

    model.set_weights(original)
    _assert_like_a_fresh_explorer(ex, model, x, y)
    for tab in ("weights", "activations", "gradients"):  # the first weights again: the first numbers again
        ex.tab, ex.layer = tab, "dense"
        np.testing.assert_allclose(ex.panels[tab].values, looked[tab, "dense"], rtol=1e-6, atol=1e-7)

    model.fit(digits.x_train[:64], digits.y_train[:64], epochs=1, verbose=0)
    model.load_weights(tmp_path / "start.weights.h5")
    _assert_like_a_fresh_explorer(ex, model, x, y)
    ex.close()


def test_a_panel_drawn_for_old_weights_is_redrawn_when_shown_again(digits):
    model = _compiled_copy(digits)
    ex = nbviz.explore(model, digits.x_test[:10], digits.y_test[:10])
    ex.tab, ex.layer = "activations", "dense"
    before = ex.panels["activations"].values.copy()
    kernel = model.get_layer("dense").kernel
    kernel.assign(kernel.numpy() * 2.0)
    ex.tab = "weights"  # nothing about activations changed in the state...
    ex.tab = "activations"  # ...yet they are drawn again for the new weights
    assert not np.allclose(ex.panels["activations"].values, before)
    expected = keras.Model(model.inputs[0], model.get_layer("dense").output)(digits.x_test[:1])
    np.testing.assert_allclose(ex.panels["activations"].values, np.asarray(expected)[0], rtol=1e-5, atol=1e-6)
    # refresh(): whatever changed, everything on show is computed again.
    version = ex.analysis.version
    ex.refresh()
    assert ex.panels["activations"].version != version


def test_after_a_notebook_cell_changes_the_weights_the_visible_panel_redraws(digits):
    interactiveshell = pytest.importorskip("IPython.core.interactiveshell")
    shell = interactiveshell.InteractiveShell.instance()
    try:
        model = _compiled_copy(digits)
        ex = nbviz.explore(model, digits.x_test[:10], digits.y_test[:10])
        ex.tab, ex.layer = "activations", "dense"
        before = ex.panels["activations"].values.copy()
        shell.user_ns.update(model=model)
        shell.run_cell("kernel = model.get_layer('dense').kernel\nkernel.assign(kernel.numpy() * 2.0)")
        after = ex.panels["activations"].values  # redrawn by the after-cell hook, with no interaction
        assert not np.allclose(after, before)
        expected = keras.Model(model.inputs[0], model.get_layer("dense").output)(digits.x_test[:1])
        np.testing.assert_allclose(after, np.asarray(expected)[0], rtol=1e-5, atol=1e-6)
        reads = ex.analysis.versions.reads
        for sample in range(1, 5):  # slider moves between cells: the gate holds, no fingerprint is read
            ex.sample = sample
        assert ex.analysis.versions.reads == reads
        ex.close()  # unhooked
        assert not any("after_cell" in getattr(f, "__name__", "") for f in shell.events.callbacks["post_run_cell"])
    finally:
        interactiveshell.InteractiveShell.clear_instance()


def test_bad_navigation_rolls_back_whole(digits_explorer):
    ex = digits_explorer
    ex.navigate(layer="conv1", sample=4, tab="weights")
    with pytest.raises(ValueError, match=r"sample: expected an index in \[0, 40\), got 10000"):
        ex.navigate(layer="conv2", sample=10_000)
    assert (ex.layer, ex.sample, ex.tab) == ("conv1", 4, "weights")
    with pytest.raises(TypeError, match="tab: expected a tab name"):
        ex.navigate(layer="dense", tab=3)
    assert (ex.layer, ex.sample, ex.tab) == ("conv1", 4, "weights")
    assert ex.panels["weights"].state.layer == "conv1" and ex.dropdown.value == "conv1"


def _plots_cleared(panel):
    return all(not plot.has_data for plot in panel.plots)


def test_a_note_clears_every_plot_of_the_panel(digits_explorer):
    ex = digits_explorer
    ex.tab, ex.layer = "saliency", "conv2"
    panel = ex.panels["saliency"]
    panel.method.value = "gradcam"
    try:
        assert panel.values.shape == (8, 8) and panel.heatmap.has_data
        ex.layer = "dense"  # Grad-CAM needs a convolution: conv2's map must not stay under the note
        assert "needs a convolutional layer" in panel.message.value
        assert _plots_cleared(panel) and panel.values.size == 0 and panel.heatmap.title_text == ""
    finally:
        panel.method.value = "gradient"
    ex.tab = "rules"
    rules = ex.panels["rules"]
    rules.on_layer.value = True
    assert len(rules.rule_list.options) > 0 and rules.coverage.has_data
    rules.on_layer.value = False  # raw pixels are no tabular data: no old rule stays listed, or clickable
    assert "need tabular data" in rules.message.value
    assert rules.rule_list.options == () and _plots_cleared(rules) and rules.rules is None
    rules.on_layer.value = True


def test_no_empty_figure_shows(cancer):
    ex = nbviz.explore(cancer.model, cancer.x_test[:20], cancer.y_test[:20], feature_names=cancer.feature_names)
    shap = ex.panels["shap"]
    # Never shown yet: a sentence where each figure will be, not an empty (in Chromium: black) one.
    assert not shap.local_plot.has_data and shap.local_plot.note_text == "computing..."
    ex.tab = "shap"
    assert shap.wait(60) and shap.local_plot.has_data
    assert not shap.importance_plot.has_data and "Global importance" in shap.importance_plot.note_text
    assert not shap.beeswarm.has_data
    shap.subset.value = 10
    shap.start_global(wait=True)
    assert shap.importance_plot.has_data and shap.beeswarm.has_data


def test_findings_with_nothing_found_say_so(rng):
    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    ex = nbviz.explore(model, rng.normal(size=(8, 4)).astype("float32"))
    ex.tab = "findings"
    panel = ex.panels["findings"]
    assert panel.found == () and "Nothing alarming" in panel.summary.value
    assert not panel.evidence.has_data and panel.evidence.note_text


def test_one_sample_change_sends_exactly_its_messages(digits):
    with recording() as comm:
        ex = nbviz.explore(digits.model, digits.x_test[:20], digits.y_test[:20])
        ex.tab, ex.layer, ex.sample = "activations", "conv2", 1
        comm.reset()
        ex.sample = 2
    sample, maps = ex.sample_view.plot, ex.panels["activations"].view.heatmap
    names = {
        ex.slider: "slider",
        sample.mark: "sample pixels",
        sample.title: "sample title",
        ex.sample_view.text: "label and prediction",
        maps.mark: "conv2 maps",
        maps.color_scale: "their colour scale",
        maps.bar: "their colour bar",
    }
    by_id = {widget.comm.comm_id: name for widget, name in names.items()}
    sent = [
        (by_id.get(cid, cid), kind, data["method"], tuple(sorted(data["state"])))
        for cid, kind, data, _ in comm.messages
    ]
    # One state update per widget that changed (each held into one message); nothing created, nothing closed.
    # What stays equal is not sent: the pixels' positions, the maps' title (same shape), the sample's colour range
    # (every digit spans 0 to 1) and the maps' lower bound (0 for a ReLU).
    assert sorted(sent) == sorted(
        [
            ("slider", "comm_msg", "update", ("value",)),
            ("sample pixels", "comm_msg", "update", ("color",)),
            ("sample title", "comm_msg", "update", ("value",)),
            ("label and prediction", "comm_msg", "update", ("value",)),
            ("conv2 maps", "comm_msg", "update", ("color",)),
            ("their colour scale", "comm_msg", "update", ("max",)),
            ("their colour bar", "comm_msg", "update", ("value",)),  # its 1-2-5 ticks for the new range
        ]
    )
    assert comm.sent < 16_000
    pixels = [data["state"]["color"] for cid, _, data, _ in comm.messages if by_id.get(cid) == "conv2 maps"][0]
    assert pixels["dtype"] == "float32"  # binary float32, not JSON numbers
    np.testing.assert_array_equal(synced_array(maps.mark, "color"), ex.panels["activations"].values)


PANELS = Path(nbviz.__file__).parent / "ui" / "panels"
MATHS = {"abs", "sum", "mean", "max", "min", "argsort", "argmax", "sort", "log", "log10", "sqrt", "percentile",
         "quantile", "clip", "where", "nanmax", "nanmin", "ptp", "unique", "cumsum", "round", "exp"}  # fmt: skip


def test_panels_ask_and_display_only():
    for path in [*sorted(PANELS.glob("*.py")), PANELS.parent / "sample_view.py"]:
        tree = ast.parse(path.read_text())
        imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        imported |= {
            (n.module or "").split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and not n.level
        }
        assert not imported & {"keras", "tensorflow", "shap", "sklearn"}, path.name
        maths = [
            f"{path.name}:{n.lineno} np.{n.attr}"
            for n in ast.walk(tree)
            if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == "np" and n.attr in MATHS
        ]
        maths += [
            f"{path.name}:{n.lineno} .{n.func.attr}()"
            for n in ast.walk(tree)
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in MATHS
        ]
        assert maths == [], maths
        raw = [  # the raw inputs stay in the analysis: panels read shapes and answers only
            f"{path.name}:{n.lineno}"
            for n in ast.walk(tree)
            if isinstance(n, ast.Attribute)
            and n.attr in ("x", "y", "datasets")
            and ast.unparse(n.value).endswith("data")
        ]
        assert raw == [], raw


def test_the_grep_finds_maths_where_there_is_some(tmp_path):
    # A control: the same reading of a panel that computes finds it.
    source = "import numpy as np\nimport keras\nx = np.abs(v).sum()\n"
    tree = ast.parse(source)
    found = [n for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr in MATHS]
    assert len(found) == 2


def test_one_gradient_norm_for_a_batchnorm_layer_everywhere(nested_model, rng):
    # The gradients tab took BatchNorm's moving statistics into its norm (0.978) while the vanishing-gradient
    # finding did not (0.639): one definition now, over trainable weights, in the tab, the findings and LiveTraining.
    model = copy_of(nested_model)  # the fixture is shared: train a copy
    x = rng.normal(size=(16, 6, 6, 2)).astype("float32")
    y = rng.integers(0, 2, 16)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    ex = nbviz.explore(model, x, y)
    ex.tab = "gradients"
    grads = ex.analysis.gradients(0)
    bn = model.get_layer("backbone").get_layer("bn")
    trained = [g for v, g in zip(bn.weights, grads.weights["backbone/bn"]) if v.trainable]
    everything = grads.weights["backbone/bn"]
    expected = np.sqrt(sum(float(np.sum(np.square(g, dtype=np.float64))) for g in trained))
    assert expected != pytest.approx(np.sqrt(sum(float(np.sum(np.square(g, dtype=np.float64))) for g in everything)))
    panel = ex.panels["gradients"]
    assert panel.norms[panel.norm_layers.index("backbone/bn")] == pytest.approx(expected, rel=1e-6)
    assert ex.analysis.probe.gradient_norms(grads)["backbone/bn"] == pytest.approx(expected, rel=1e-6)
    live = nbviz.LiveTraining(monitor=(x[:1], y[:1]), every=1000)
    weights = model.get_weights()
    model.fit(x, y, epochs=1, batch_size=16, verbose=0, callbacks=[live])
    model.set_weights(weights)  # the record at step 0 saw these weights
    column = live.history["layers"].index("backbone/bn")
    assert live.history["grad_norm"][0, column] == pytest.approx(expected, rel=1e-5)
