"""Redact mode: a sentinel planted in x is in nothing the widgets send to the browser, on any tab or layer."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import nbviz
from nbviz.compute.data.redact import input_like_layers, quantile_of, rank_quantiles, raw_value_layers
from tests.sentinel import found_in, plant

from .interaction import walk_everything

SAMPLE = 3


@pytest.mark.parametrize("redact", [True, False], ids=["redact", "control"])
@pytest.mark.parametrize("demo", ["digits", "cancer"])
def test_no_raw_input_value_reaches_the_browser(demo, redact, recorded, request):
    data = request.getfixturevalue(demo)
    x = data.x_test[:40]
    x = plant(x, (SAMPLE, 4, 4, 0) if x.ndim == 4 else (SAMPLE, 5))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ex = nbviz.explore(
            data.model,
            x,
            data.y_test[:40],
            feature_names=getattr(data, "feature_names", None),
            class_names=data.class_names,
            redact=redact,
        )
        walk_everything(ex, SAMPLE)
    assert len(recorded.texts) > 100 and recorded.buffers  # the recorder saw the widgets' traffic
    hits = found_in(recorded.texts, recorded.buffers)
    if redact:
        assert hits == []
    else:  # the same search finds the value when nothing is redacted: it would catch a leak
        assert hits


def test_redact_hides_input_like_layers_and_keeps_learned_ones(digits):
    x, y = digits.x_test[:20], digits.y_test[:20]
    ex = nbviz.explore(digits.model, x, y, redact=True)
    plain = nbviz.explore(digits.model, x, y)
    hidden = ex.analysis.hidden_layers
    assert hidden == raw_value_layers(ex.analysis.graph) and plain.analysis.hidden_layers == frozenset()
    nodes = {n.name: n for n in ex.analysis.graph.nodes}
    assert {nodes[h].class_name for h in hidden} >= {"InputLayer"}
    first_learned = next(n.name for n in ex.analysis.graph.nodes if n.trainable_params > 0)
    assert first_learned not in hidden
    for explorer in (ex, plain):
        explorer.tab = "activations"
    for layer in ex.analysis.graph.names:
        ex.layer = plain.layer = layer
        redacted, shown = ex.panels["activations"], plain.panels["activations"]
        if layer in hidden:
            assert redacted.values.size == 0 and "Redacted" in redacted.message.value
            assert shown.values.size > 0
        else:  # a learned layer's activations are shown exactly as without redact
            np.testing.assert_array_equal(redacted.values, shown.values)
    assert ex.sample_view.values.size == 0
    assert ex.sample_view.plot.widget.layout.display == "none"
    assert "redact=True" in ex.sample_view.text.value


def test_input_like_layers_stop_at_the_first_learned_layer(nested_model):
    import keras

    i = keras.Input((8, 8, 1), name="image")
    h = keras.layers.Rescaling(1 / 255.0, name="scale")(i)
    h = keras.layers.MaxPooling2D(name="pool")(h)
    h = keras.layers.Conv2D(2, 3, name="conv")(h)
    h = keras.layers.Flatten(name="flat")(h)
    model = keras.Model(i, keras.layers.Dense(1, name="out")(h))
    graph = nbviz.compute.model_graph(model)
    assert input_like_layers(graph) == {"image", "scale", "pool"}
    # In a nested backbone the inner input layer passes the raw image on too.
    nested = input_like_layers(nbviz.compute.model_graph(nested_model))
    assert nested == {"image", "backbone/backbone_in"}


def test_quantiles_stand_in_for_values():
    column = np.array([5.0, 1.0, 3.0, 3.0, 9.0])
    assert quantile_of(column, 3.0) == 0.6 and quantile_of(column, 0.0) == 0.0 and quantile_of(column, 9.0) == 1.0
    ranks = rank_quantiles(column[:, None])[:, 0]
    np.testing.assert_allclose(ranks, [0.75, 0.0, 0.375, 0.375, 1.0])
    assert np.all(np.argsort(ranks, kind="stable") == np.argsort(column, kind="stable"))


def test_redacted_rules_read_as_quantiles_and_cover_the_same_samples(cancer):
    from nbviz.compute import surrogate_rules

    x = cancer.x_test
    plain = surrogate_rules(cancer.model, x, feature_names=cancer.feature_names)
    quant = surrogate_rules(cancer.model, x, feature_names=cancer.feature_names, quantiles=True)
    for a, b in zip(plain.rules, quant.rules):
        assert a.conditions == b.conditions and a.samples == b.samples
        tightest: dict[tuple[int, str], float] = {}
        for feature, op, threshold in b.conditions:
            bound = min if op == "<=" else max
            tightest[feature, op] = bound(tightest.get((feature, op), threshold), threshold)
        for (feature, op), threshold in tightest.items():
            share = np.mean(x[:, feature].astype(np.float32).astype(np.float64) <= threshold)
            assert f"{cancer.feature_names[feature]} {op} q{share:.2f}" in b.text
    assert found_in([r.text for r in quant.rules], []) == []
