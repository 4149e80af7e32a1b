"""Every panel works on every kind of Keras model for every layer, or says plainly why it cannot apply."""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest

import nbviz
from nbviz.testing import panel_errors


def _rnn(cls, rng):
    i = keras.Input((6, 3))
    h = cls(5, return_sequences=True, name="rnn")(i)
    o = keras.layers.Dense(2, activation="softmax", name="out")(keras.layers.GlobalAveragePooling1D()(h))
    return keras.Model(i, o), rng.normal(size=(8, 6, 3)).astype("float32")


def _bidirectional(rng):
    i = keras.Input((6, 3))
    h = keras.layers.Bidirectional(keras.layers.LSTM(4), name="bi")(i)
    return keras.Model(i, keras.layers.Dense(2, activation="softmax")(h)), rng.normal(size=(8, 6, 3)).astype("float32")


def _tokens(rng):
    i = keras.Input((7,), dtype="int32")
    h = keras.layers.Conv1D(3, 3, activation="relu")(keras.layers.Embedding(20, 4)(i))
    o = keras.layers.Dense(2, activation="softmax")(keras.layers.GlobalMaxPooling1D()(h))
    return keras.Model(i, o), rng.integers(0, 20, size=(8, 7))


def _conv3d(rng):
    i = keras.Input((4, 4, 4, 1))
    h = keras.layers.Conv3D(2, 2, activation="relu")(i)
    o = keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(h))
    return keras.Model(i, o), rng.normal(size=(6, 4, 4, 4, 1)).astype("float32")


def _attention(rng):
    i = keras.Input((5, 4))
    h = keras.layers.LayerNormalization()(keras.layers.MultiHeadAttention(2, 3, name="mha")(i, i))
    o = keras.layers.Dense(2, activation="softmax")(keras.layers.GlobalAveragePooling1D()(h))
    return keras.Model(i, o), rng.normal(size=(6, 5, 4)).astype("float32")


def _regression(rng):
    i = keras.Input((8, 8, 1))
    h = keras.layers.Conv2D(2, 3)(keras.layers.Rescaling(1 / 255.0)(i))
    h = keras.layers.Dropout(0.2)(keras.layers.BatchNormalization()(h))
    return keras.Model(i, keras.layers.Dense(1)(keras.layers.Flatten()(h))), rng.uniform(0, 255, (6, 8, 8, 1)).astype(
        "float32"
    )


def _normalization(rng):
    norm = keras.layers.Normalization()
    norm.adapt(rng.normal(size=(20, 4)))
    model = keras.Sequential(
        [keras.Input((4,)), norm, keras.layers.Dense(3, activation="relu"), keras.layers.Dense(1, activation="sigmoid")]
    )
    return model, rng.normal(size=(8, 4)).astype("float32")


def _mixed_precision(rng):
    i = keras.Input((8, 8, 1), name="image")
    h = keras.layers.Conv2D(3, 3, activation="relu", dtype="mixed_float16", name="conv")(i)
    h = keras.layers.Flatten(dtype="mixed_float16", name="flat")(h)
    h = keras.layers.Dense(4, activation="relu", dtype="mixed_float16", name="dense")(h)
    out = keras.layers.Dense(3, activation="softmax", dtype="float32", name="probs")(h)
    return keras.Model(i, out), rng.normal(size=(8, 8, 8, 1)).astype("float32")


CASES = {
    "SimpleRNN": lambda rng: _rnn(keras.layers.SimpleRNN, rng),
    "LSTM": lambda rng: _rnn(keras.layers.LSTM, rng),
    "GRU": lambda rng: _rnn(keras.layers.GRU, rng),
    "Bidirectional": _bidirectional,
    "Conv1D over integer tokens": _tokens,
    "Conv3D": _conv3d,
    "MultiHeadAttention": _attention,
    "regression with Rescaling, BatchNorm, Dropout": _regression,
    "Normalization and a sigmoid": _normalization,
    "mixed precision": _mixed_precision,
}


@pytest.mark.parametrize("case", list(CASES))
def test_every_panel_on_every_layer(case, rng):
    keras.utils.set_random_seed(0)
    model, x = CASES[case](rng)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ex = nbviz.explore(model, x)
        assert panel_errors(ex) == []
    assert ex.panels["weights"].state == ex.state or ex.tab != "weights"


@pytest.mark.parametrize("fixture", ["nested_model", "two_input_model", "subclassed_model", "sequential_mlp"])
def test_fixture_models(fixture, request, rng):
    model = request.getfixturevalue(fixture)
    shapes = [tuple(t.shape[1:]) for t in model.inputs] if getattr(model, "inputs", None) else [(3,)]
    x = [rng.normal(size=(6, *s)).astype("float32") for s in shapes]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ex = nbviz.explore(model, x if len(x) > 1 else x[0])
        assert panel_errors(ex) == []


def test_integer_inputs_get_token_attributions_or_a_plain_saliency_note(rng):
    model, x = _tokens(rng)
    ex = nbviz.explore(model, x)
    ex.tab = "saliency"  # token ids into an Embedding: attributions per token (tested in test_token_saliency)
    assert ex.panels["saliency"].error is None and ex.panels["saliency"].values.shape == (7,)
    ids = keras.Input((7,), dtype="int32")
    counts = keras.layers.CategoryEncoding(num_tokens=20, output_mode="count")(ids)
    bag = keras.Model(ids, keras.layers.Dense(2, activation="softmax")(counts))
    ex = nbviz.explore(bag, x)
    ex.tab = "saliency"  # no embedding to attribute through
    assert "integer inputs (token ids) have no gradient" in ex.panels["saliency"].message.value


@pytest.mark.parametrize("case", list(CASES))
def test_live_training_on_every_model_kind(case, rng):
    """LiveTraining records every kind of model; its last record equals a Probe on the final weights."""
    keras.utils.set_random_seed(0)
    model, x = CASES[case](rng)
    units = model(x[:1]).shape[-1]
    if units > 1:
        y, loss = rng.integers(0, units, len(x)), "sparse_categorical_crossentropy"
    elif model.layers[-1].activation.__name__ == "sigmoid":
        y, loss = rng.integers(0, 2, len(x)).astype("float32"), "binary_crossentropy"  # (n,) labels, as fit takes
    else:
        y, loss = rng.normal(size=(len(x), 1)).astype("float32"), "mse"
    model.compile("adam", loss)
    callback = nbviz.LiveTraining(monitor=(x, y), every=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(x, y, epochs=2, batch_size=4, verbose=0, callbacks=[callback])
        history = callback.history
        assert history["grad_norm"].shape == (2 * len(range(0, len(x), 4)) + 1, len(history["layers"]))
        probe = nbviz.compute.Probe(model)
        grads = probe.gradients(x, y, layers=history["layers"])
        # Over each layer's trainable weights (what training updates: BatchNorm's moving statistics left out).
        final = [
            np.sqrt(
                sum(
                    float(np.sum(np.square(g)))
                    for v, g in zip(probe.layers[n].weights, grads.weights[n])
                    if v.trainable
                )
            )
            for n in history["layers"]
        ]
        np.testing.assert_allclose(history["grad_norm"][-1], final, rtol=1e-4)
        ex = nbviz.explore(model, x, y, training=callback)
        assert panel_errors(ex, tabs=["training"]) == []
