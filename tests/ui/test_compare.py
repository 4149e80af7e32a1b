"""nbviz.compare: the widget shows what the Comparison answers (checked against numpy on the models), clicks and
the slider walk the flips, bad values and arguments raise naming themselves, and after fit the numbers are new."""

from __future__ import annotations

import ast
from pathlib import Path

import keras
import numpy as np
import pytest

import nbviz
from nbviz import demo
from nbviz.testing import raising_panel_errors, synced_array
from tests.compute.analysis.test_comparison import cells, close, fine_tuned, tuned  # noqa: F401 - tuned: a fixture
from tests.ui.test_versions import MATHS

N = 40


@pytest.fixture(scope="module")
def view(digits, tuned):  # noqa: F811 - the imported fixture
    with raising_panel_errors():
        shown = nbviz.compare(
            digits.model, tuned.model, digits.x_test[:N], digits.y_test[:N], class_names=digits.class_names
        )
    yield shown
    shown.close()


def test_every_tab_draws_a_b_and_b_minus_a_as_the_models_give_them(digits, tuned, view):  # noqa: F811
    with raising_panel_errors():
        view.navigate(layer="conv2", tab="weights")
        weights = view.panels["weights"]
        kernel_a, kernel_b = (m.get_layer("conv2").kernel.numpy() for m in (digits.model, tuned.model))
        assert weights.values.shape[0] == 3
        for drawn, expected in zip(weights.values, (kernel_a, kernel_b, kernel_b - kernel_a)):
            close(cells(drawn), np.sort(expected.ravel()))
        # What is sent is what .values says: float32 cells of the three marks, A and B on ONE colour scale.
        marks = weights.triptych.heatmaps
        for plot, drawn in zip(marks, weights.values):
            np.testing.assert_array_equal(synced_array(plot.mark, "color"), drawn)
        assert (marks[0].color_scale.min, marks[0].color_scale.max) == (
            marks[1].color_scale.min,
            marks[1].color_scale.max,
        )
        assert marks[2].color_scale.min == -marks[2].color_scale.max  # B - A: symmetric

        view.navigate(layer="dense", sample=5, tab="activations")
        acts = view.panels["activations"].values
        sub = [keras.Model(m.inputs[0], m.get_layer("dense").output) for m in (digits.model, tuned.model)]
        out_a, out_b = (np.asarray(s(digits.x_test[5:6]))[0] for s in sub)
        close(acts, np.stack([out_a, out_b, out_b - out_a]))
        bars = view.panels["activations"].triptych.bars
        assert (bars[0].y_scale.min, bars[0].y_scale.max) == (bars[1].y_scale.min, bars[1].y_scale.max)

        view.tab = "gradients"
        assert view.panels["gradients"].values.shape == (3, 256, 64)  # d loss / d dense kernel, A | B | B - A

        # The graph is painted by the weight change, per layer, as numpy gives it.
        painted = dict(zip(view.graph_view.visible, view.graph_view.values))
        for name in ("conv1", "dense"):
            wa, wb = digits.model.get_layer(name).get_weights(), tuned.model.get_layer(name).get_weights()
            expected = np.sqrt(sum(np.sum((b - a) ** 2) for a, b in zip(wa, wb)) / sum(np.sum(a**2) for a in wa))
            close(painted[name], expected)
        assert np.isnan(painted["pool"])
        view.graph_view.color_by = "activation_change"
        assert view.graph_view.values[view.graph_view.visible.index("dense")] > 0
        view.graph_view.color_by = "weight_change"


def test_the_flips_list_moves_the_slider_and_flips_only_walks_them(digits, tuned, view):  # noqa: F811
    x = digits.x_test[:N]
    expected = np.flatnonzero(np.argmax(digits.model(x), 1) != np.argmax(tuned.model(x), 1))
    assert view.flips.dtype == np.int64 and len(expected) > 1
    np.testing.assert_array_equal(view.flips, expected)
    with raising_panel_errors():
        view.tab = "predictions"
        panel = view.panels["predictions"]
        assert [value for _, value in panel.flip_list.options] == expected.tolist()
        panel.flip_list.value = int(expected[1])  # a click in the list
        assert view.sample == expected[1]
        s = view.sample
        close(panel.output_values[:2], np.stack([digits.model(x[s : s + 1])[0], tuned.model(x[s : s + 1])[0]]))
        assert panel.values.shape == (3, 10, 10) and panel.values[0].sum() == N

        panel.flips_only.value = True
        assert view.slider.max == len(expected) - 1
        visited = []
        for position in range(len(expected)):
            view.slider.value = position
            visited.append(view.sample)
        assert visited == expected.tolist()
        panel.flips_only.value = False
        assert view.slider.max == N - 1


def test_a_bad_layer_sample_or_tab_raises_naming_it_and_changes_nothing(view):
    before = (view.layer, view.sample, view.tab)
    for attribute, value, error in [
        ("layer", 3, TypeError),
        ("layer", "no such layer", ValueError),
        ("sample", N, ValueError),
        ("sample", "0", TypeError),
        ("tab", "shap", ValueError),
    ]:
        with pytest.raises(error, match=f"^{attribute}: expected"):
            setattr(view, attribute, value)
        assert (view.layer, view.sample, view.tab) == before
    with pytest.raises(ValueError, match="^sample: "):  # all or nothing: the layer stays too
        view.navigate(layer="conv1", sample=-1)
    assert view.layer == before[0]


def test_bad_arguments_name_model_b(digits):
    x = digits.x_test[:8]
    with pytest.raises(TypeError, match="^model_b: expected a keras.Model"):
        nbviz.compare(digits.model, [digits.model], x)
    with pytest.raises(TypeError, match="^model_a: expected a keras.Model"):
        nbviz.compare(None, digits.model, x)
    other_input = keras.Sequential([keras.Input((30,)), keras.layers.Dense(10, activation="softmax")])
    with pytest.raises(ValueError, match="^model_b: expected a model that takes the inputs of"):
        nbviz.compare(digits.model, other_input, x)
    other_output = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(3)])
    with pytest.raises(ValueError, match="^model_b: expected outputs shaped as"):
        nbviz.compare(digits.model, other_output, x)


def test_a_model_compared_with_itself_shows_zero_everywhere(digits):
    with raising_panel_errors():
        same = nbviz.compare(digits.model, digits.model, digits.x_test[:12], digits.y_test[:12])
        assert len(same.flips) == 0
        for tab in same.panels:
            same.tab = tab
            for layer in same.comparison.graph.names:
                same.layer = layer
                values = same.panels[tab].values
                if tab != "predictions" and values.size:
                    np.testing.assert_array_equal(values[0], values[1])
                    assert not np.nan_to_num(values[2]).any(), (tab, layer)
        assert not same.panels["predictions"].values[2].any()
        assert np.nanmax(same.graph_view.values) == 0.0
    same.close()


def test_after_model_b_fits_one_epoch_the_view_shows_new_numbers(digits):
    model_b = demo.digits_cnn().model  # its own copy: fitting it changes no other test's model
    with raising_panel_errors():
        fresh = nbviz.compare(digits.model, model_b, digits.x_test[:N], digits.y_test[:N])
        fresh.navigate(layer="conv2", tab="weights")
        assert not np.nan_to_num(fresh.panels["weights"].values[2]).any()  # the same weights so far
        keras.utils.set_random_seed(1)
        model_b.fit(digits.x_train[:128], digits.y_train[:128], epochs=1, verbose=0)
        fresh.tab = "activations"  # any redraw reads both versions
        fresh.tab = "weights"
        kernel_a, kernel_b = (m.get_layer("conv2").kernel.numpy() for m in (digits.model, model_b))
        assert np.abs(kernel_b - kernel_a).max() > 0
        close(cells(fresh.panels["weights"].values[2]), np.sort((kernel_b - kernel_a).ravel()))
        painted = fresh.graph_view.values[fresh.graph_view.visible.index("conv2")]
        wa, wb = digits.model.get_layer("conv2").get_weights(), model_b.get_layer("conv2").get_weights()
        close(painted, np.sqrt(sum(np.sum((b - a) ** 2) for a, b in zip(wa, wb)) / sum(np.sum(a**2) for a in wa)))
    fresh.close()


def test_the_compare_view_asks_and_displays_only():
    # The rule test_versions applies to panels, applied to the compare view's module: no Keras, no maths.
    path = Path(nbviz.__file__).parent / "ui" / "compare.py"
    tree = ast.parse(path.read_text())
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {
        (n.module or "").split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and not n.level
    }
    assert not imported & {"keras", "tensorflow", "shap", "sklearn"}
    maths = [
        n.lineno
        for n in ast.walk(tree)
        if (isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == "np" and n.attr in MATHS)
        or (isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in MATHS)
    ]
    assert maths == []
