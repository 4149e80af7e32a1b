"""Validation once, at the public edge: a model is checked by the first public call that takes it, with a clear
error there, and every later call on it (the analysis, probe and graph an explore() builds, the findings, ...)
costs a lookup instead of another walk over its layers."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import nbviz
from nbviz.compute import _validate, analyse, findings


def _chain(n: int) -> keras.Model:
    inputs = keras.Input((4,))
    h = inputs
    for i in range(n):
        h = keras.layers.Dense(4, name=f"d{i}")(h)
    return keras.Model(inputs, h)


def test_explore_walks_a_models_names_once(monkeypatch):
    walks = []
    real = _validate._check_names
    monkeypatch.setattr(_validate, "_check_names", lambda model, name: (walks.append(model.name), real(model, name)))
    model = _chain(6)
    x = np.random.default_rng(0).normal(size=(8, 4)).astype("f4")
    ex = nbviz.explore(model, x)
    analyse(model, x)
    findings(model, x)
    assert walks == [model.name]  # four walks per explore() before: analyse, analysis_of, Probe, model_graph
    ex.close()


def test_a_bad_model_fails_at_every_public_call_and_a_fixed_one_passes():
    class Unbuilt(keras.Model):
        def __init__(self) -> None:
            super().__init__()
            self.dense = keras.layers.Dense(2)

        def call(self, x):  # noqa: ANN001, ANN201
            return self.dense(x)

    model = Unbuilt()
    x = np.zeros((3, 4), np.float32)
    for call in (lambda: analyse(model, x), lambda: findings(model, x), lambda: nbviz.explore(model, x)):
        with pytest.raises(ValueError, match="never built"):
            call()
    model(x)  # built now: the failed checks remembered nothing
    assert analyse(model, x).probe.model is model
    with pytest.raises(TypeError, match="model: expected a keras.Model"):
        analyse(np.zeros(3), x)  # an array is not hashable: the type is checked before any lookup
