"""Redact by data flow: a raw value is withheld wherever it can be read back, labels that repeat the input included.

A sentinel planted in the input of a causal language model (its labels are its input shifted by one token), a
seq2seq model (its labels are the decoder's input shifted), a wide-and-deep model (a raw feature concatenated with
an embedding) and an autoencoder (its labels are its input) is in nothing the widgets send nor in the saved
report with ``redact=True``; the same search finds it without redact, so each case can fail.
"""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest

import nbviz
from nbviz.compute import model_graph
from nbviz.compute.data.redact import labels_repeat_input, raw_value_layers
from tests.sentinel import SENTINEL, found_in

from .interaction import walk_everything

SAMPLE = 2
VOCAB = 8000  # the sentinel 7777 is a token id
LENGTH = 6


def _tokens(rng: np.random.Generator, n: int = 12) -> np.ndarray:
    ids = rng.integers(1, 50, (n, LENGTH + 1)).astype(np.int32)
    ids[SAMPLE, 3] = int(SENTINEL)
    return ids


def causal_lm(rng):
    keras.utils.set_random_seed(1)
    ids = keras.Input((LENGTH,), dtype="int32", name="token_ids")
    h = keras.layers.Embedding(VOCAB, 8, name="embed")(ids)
    h = keras.layers.Dense(8, activation="relu", name="mix")(h)
    model = keras.Model(ids, keras.layers.Dense(VOCAB, name="logits")(h), name="causal_lm")
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    seq = _tokens(rng)
    return model, seq[:, :-1], seq[:, 1:]  # the labels are the next tokens


def seq2seq(rng):
    keras.utils.set_random_seed(2)
    source = keras.Input((LENGTH,), dtype="int32", name="encoder_token_ids")
    target = keras.Input((LENGTH,), dtype="int32", name="decoder_token_ids")
    context = keras.layers.GlobalAveragePooling1D(name="pool")(keras.layers.Embedding(VOCAB, 8, name="enc")(source))
    h = keras.layers.Embedding(VOCAB, 8, name="dec")(target)
    h = keras.layers.Add(name="join")([h, keras.layers.RepeatVector(LENGTH, name="repeat")(context)])
    model = keras.Model([source, target], keras.layers.Dense(VOCAB, name="logits")(h), name="seq2seq")
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    src, tgt = _tokens(rng), _tokens(rng)
    return model, {"encoder_token_ids": src[:, :-1], "decoder_token_ids": tgt[:, :-1]}, tgt[:, 1:]


def wide_and_deep(rng):
    keras.utils.set_random_seed(3)
    raw = keras.Input((3,), name="raw")
    category = keras.Input((1,), dtype="int32", name="category")
    embedded = keras.layers.Flatten(name="flat")(keras.layers.Embedding(10, 4, name="embed")(category))
    joined = keras.layers.Concatenate(name="join")([raw, embedded])
    h = keras.layers.Dense(6, activation="relu", name="deep")(joined)
    model = keras.Model([raw, category], keras.layers.Dense(2, activation="softmax", name="out")(h), name="wide")
    x = rng.normal(size=(12, 3)).astype(np.float32)
    x[SAMPLE, 1] = SENTINEL
    return model, [x, rng.integers(0, 10, (12, 1)).astype(np.int32)], rng.integers(0, 2, 12)


def autoencoder(rng):
    keras.utils.set_random_seed(4)
    x_in = keras.Input((5,), name="features")
    code = keras.layers.Dense(2, activation="tanh", name="code")(x_in)
    model = keras.Model(x_in, keras.layers.Dense(5, name="reconstruction")(code), name="autoencoder")
    model.compile(loss="mse")
    x = rng.normal(size=(12, 5)).astype(np.float32)
    x[SAMPLE, 4] = SENTINEL
    return model, x, x  # the labels are the input


@pytest.mark.parametrize("redact", [True, False], ids=["redact", "control"])
@pytest.mark.parametrize("build", [causal_lm, seq2seq, wide_and_deep, autoencoder])
def test_no_raw_value_by_any_flow(build, redact, recorded, tmp_path):
    model, x, y = build(np.random.default_rng(0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ex = nbviz.explore(model, x, y, redact=redact)
        walk_everything(ex, SAMPLE)
        path = ex.save_html(tmp_path / "report.html")
    report = path.read_text() if hasattr(path, "read_text") else (tmp_path / "report.html").read_text()
    hits = found_in([*recorded.texts, report], recorded.buffers)
    if redact:
        assert hits == [], hits
    else:  # the same search finds the value when nothing is redacted: it would catch a leak
        assert hits
    ex.close()


def test_a_raw_value_is_followed_through_every_layer_that_copies_it():
    raw = keras.Input((4,), name="raw")
    ids = keras.Input((2,), dtype="int32", name="ids")
    scaled = keras.layers.Rescaling(0.5, name="scale")(raw)
    normed = keras.layers.Normalization(mean=0.0, variance=1.0, name="norm")(scaled)
    reshaped = keras.layers.Reshape((2, 2), name="reshape")(normed)
    flat = keras.layers.Flatten(name="flat")(reshaped)
    embedded = keras.layers.Flatten(name="embed_flat")(keras.layers.Embedding(9, 2, name="embed")(ids))
    joined = keras.layers.Concatenate(name="join")([flat, embedded])
    padded = keras.layers.Reshape((8, 1), name="as_seq")(joined)
    padded = keras.layers.ZeroPadding1D(1, name="pad")(padded)
    learned = keras.layers.Dense(3, name="dense")(keras.layers.Flatten(name="flat2")(padded))
    added = keras.layers.Add(name="add")([learned, keras.layers.Dense(3, name="side")(embedded)])
    model = keras.Model([raw, ids], keras.layers.Activation("softmax", name="out")(added))
    withheld = raw_value_layers(model_graph(model))
    assert withheld == {"raw", "ids", "scale", "norm", "reshape", "flat", "join", "as_seq", "pad", "flat2"}


def test_labels_that_repeat_the_input_are_found():
    rng = np.random.default_rng(5)
    seq = rng.integers(0, 100, (30, 9))
    assert labels_repeat_input([seq[:, :-1]], [seq[:, 1:]])  # a causal LM's next tokens
    assert labels_repeat_input([seq[:, 1:]], [seq[:, :-1]])
    x = rng.normal(size=(30, 4))
    assert labels_repeat_input([x], [x.copy()])  # an autoencoder's
    assert not labels_repeat_input([x], [rng.integers(0, 3, 30)])  # class labels
    assert not labels_repeat_input([seq[:, :-1]], [rng.integers(0, 100, (30, 8))])  # other tokens
    assert not labels_repeat_input([x], None)
