"""Shared layers: one layer called several times (ALBERT's one transformer layer, a Dense called twice, one
sub-model applied to two inputs). Each later call is a node of its own, ``"name@k"``; its activations are that
call's, checked against a spy on the layer's own call; every tab, the findings and LiveTraining work."""

from __future__ import annotations

import warnings
from typing import Any

import keras
import numpy as np
import pytest

import nbviz
from nbviz.compute.model.probe import shared_probe
from nbviz.testing import panel_errors

SEQ = 12
VOCAB = 60
CALLS = 3


def _spied_calls(layer: Any, run: Any) -> list[np.ndarray]:
    """The outputs of every call of ``layer`` while ``run()`` runs the model eagerly: a plain wrapper on the
    layer's ``call``, no nbviz code."""
    outputs: list[np.ndarray] = []
    original = layer.call

    def spy(*args: Any, **kwargs: Any) -> Any:
        out = original(*args, **kwargs)
        outputs.append(np.asarray(keras.ops.convert_to_numpy(out)))
        return out

    had_own = "call" in vars(layer)
    layer.call = spy
    try:
        run()
    finally:
        # Removed, not set back: a layer with a "call" of its own (the bound method) is one that the recording
        # leaves alone, and pytest's monkeypatch below 9.2 sets it back on the instance so.
        if had_own:
            layer.call = original
        else:
            del layer.call
    return outputs


def _no_live_training_warnings(caught: list[warnings.WarningMessage]) -> None:
    messages = [str(w.message) for w in caught if "nbviz" in str(w.message)]
    assert messages == []


@pytest.fixture(scope="module")
def albert() -> tuple[keras.Model, dict[str, np.ndarray], np.ndarray]:
    """A tiny AlbertTextClassifier whose one transformer layer is called three times."""
    keras_hub = pytest.importorskip("keras_hub")
    keras.utils.set_random_seed(0)
    backbone = keras_hub.models.AlbertBackbone(
        vocabulary_size=VOCAB,
        num_layers=CALLS,
        num_heads=2,
        num_groups=1,
        num_inner_repetitions=1,
        embedding_dim=8,
        hidden_dim=16,
        intermediate_dim=32,
        max_sequence_length=SEQ,
    )
    model = keras_hub.models.AlbertTextClassifier(backbone, num_classes=3, preprocessor=None)
    rng = np.random.default_rng(0)
    n = 8
    mask = np.ones((n, SEQ), "int32")
    mask[::2, SEQ - 3 :] = 0  # some padding, so that the mask reaches each call
    x = {
        "token_ids": rng.integers(1, VOCAB, (n, SEQ)).astype("int32"),
        "padding_mask": mask,
        "segment_ids": np.zeros((n, SEQ), "int32"),
    }
    y = rng.integers(0, 3, n)
    return model, x, y


SHARED = "albert_backbone/group_0_inner_layer_0"


def test_albert_calls_are_a_chain_of_nodes(albert):
    model, _, _ = albert
    graph = shared_probe(model).graph
    calls = [SHARED, f"{SHARED}@1", f"{SHARED}@2"]
    assert [n for n in graph.names if n.startswith(SHARED) and "/" not in n[len(SHARED) :]] == calls
    assert {(a, b) for a, b in graph.edges if a in calls and b in calls} == {(calls[0], calls[1]), (calls[1], calls[2])}
    assert [graph.node(n).calls for n in calls] == [CALLS] * CALLS
    assert [graph.node(n).call_of for n in calls] == [None, SHARED, SHARED]
    # The weights count once, at the first call.
    assert graph.node(calls[1]).params == 0 and graph.total_params == model.count_params()


def test_albert_activations_per_call_match_a_spy(albert):
    model, x, _ = albert
    probe = shared_probe(model)
    layer = probe.layers[SHARED]
    expected = _spied_calls(layer, lambda: model(x, training=False))
    assert len(expected) == CALLS
    acts = probe.activations(x)
    for k, want in enumerate(expected):
        name = SHARED if k == 0 else f"{SHARED}@{k}"
        np.testing.assert_allclose(acts[name], want, atol=1e-5)
        # Asked for alone, a call node gives its own call.
        np.testing.assert_allclose(probe.activations(x, [name])[name], want, atol=1e-5)
    assert not np.allclose(expected[0], expected[1])  # the calls differ: a mix-up would show


def test_albert_explore_every_tab_and_layer(albert):
    model, x, y = albert
    ex = nbviz.explore(model, x, y)
    assert f"{SHARED}@2" in ex.analysis.graph.names
    assert panel_errors(ex) == []


def test_albert_findings_and_live_training(albert):
    model, x, y = albert
    found = nbviz.findings(model, x, y)
    names = set(shared_probe(model).graph.names)
    assert all(f.layer is None or f.layer in names for f in found)
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    live = nbviz.LiveTraining(monitor=(x, y))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(x, y, epochs=1, batch_size=4, verbose=0, callbacks=[live])
    _no_live_training_warnings(caught)
    layers = list(live.history["layers"])
    assert len(live.history["grad_step"]) > 0
    # The shared weights are trained and normed once, under their first call's sub-layers.
    assert f"{SHARED}/feedforward_output_dense" in layers
    assert not any("@" in name for name in layers)


@pytest.fixture(scope="module")
def dense_twice() -> tuple[keras.Model, keras.Model, np.ndarray, np.ndarray]:
    """One Dense called on its own output, and a sub-model that exposes both calls' outputs."""
    keras.utils.set_random_seed(1)
    inputs = keras.Input((6,), name="features")
    shared = keras.layers.Dense(6, activation="tanh", name="shared")
    first = shared(inputs)
    second = shared(first)
    out = keras.layers.Dense(3, activation="softmax", name="probs")(second)
    model = keras.Model(inputs, out, name="dense_twice")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    both = keras.Model(inputs, [first, second])  # the independent oracle for each call
    rng = np.random.default_rng(1)
    x = rng.normal(size=(24, 6)).astype("float32")
    y = rng.integers(0, 3, 24)
    return model, both, x, y


def test_dense_called_twice(dense_twice):
    model, both, x, y = dense_twice
    probe = shared_probe(model)
    assert probe.graph.names == ["features", "shared", "shared@1", "probs"]
    assert probe.graph.edges == (("features", "shared"), ("shared", "shared@1"), ("shared@1", "probs"))
    want_first, want_second = (np.asarray(a) for a in both(x))
    acts = probe.activations(x)
    np.testing.assert_allclose(acts["shared"], want_first, atol=1e-6)
    np.testing.assert_allclose(acts["shared@1"], want_second, atol=1e-6)
    np.testing.assert_allclose(probe.activations(x, ["shared@1"])["shared@1"], want_second, atol=1e-6)
    grads = probe.gradients(x[:4], y[:4], layers=["shared@1"])
    np.testing.assert_allclose(grads.activations["shared@1"], want_second[:4], atol=1e-6)
    assert set(grads.outputs) == {"shared@1"} and grads.outputs["shared@1"].shape == (4, 6)
    # Its weights learn once: the gradient norm is the first call's, summed over both calls.
    assert probe.learning_layers() == ["shared", "probs"]

    ex = nbviz.explore(model, x, y)
    assert panel_errors(ex) == []
    graph_view = ex.graph_view
    tips = {}
    for name in ("shared", "shared@1"):
        graph_view._hover(graph_view.nodes, {"data": {"index": graph_view.names.index(name)}})  # as bqplot calls it
        tips[name] = graph_view.tooltip.value
    assert "called 2 times" in tips["shared"] and "call 2 of 2: weights are shared's" in tips["shared@1"]
    nbviz.findings(model, x, y)
    live = nbviz.LiveTraining(monitor=(x, y))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(x, y, epochs=1, batch_size=8, verbose=0, callbacks=[live])
    _no_live_training_warnings(caught)
    assert list(live.history["layers"]) == ["shared", "probs"]


def test_siamese_sub_model(monkeypatch):
    """One sub-model applied to two inputs: its inner layers are shown once (for its first call), its second
    call is a node of its own with that call's output."""
    keras.utils.set_random_seed(2)
    encoder = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="relu", name="inner")], name="enc")
    a, b = keras.Input((4,), name="a"), keras.Input((4,), name="b")
    merged = keras.layers.Concatenate(name="cat")([encoder(a), encoder(b)])
    model = keras.Model([a, b], keras.layers.Dense(2, activation="softmax", name="head")(merged))
    rng = np.random.default_rng(2)
    xa, xb = rng.normal(size=(10, 4)).astype("float32"), rng.normal(size=(10, 4)).astype("float32")
    probe = shared_probe(model)
    graph = probe.graph
    assert graph.node("enc@1").call_of == "enc" and graph.node("enc").calls == 2
    assert ("b", "enc@1") in graph.edges and ("enc@1", "cat") in graph.edges
    assert graph.total_params == model.count_params()
    acts = probe.activations([xa, xb])
    np.testing.assert_allclose(acts["enc"], np.asarray(encoder(xa)), atol=1e-6)
    np.testing.assert_allclose(acts["enc@1"], np.asarray(encoder(xb)), atol=1e-6)
    ex = nbviz.explore(model, [xa, xb], rng.integers(0, 2, 10))
    assert panel_errors(ex) == []
