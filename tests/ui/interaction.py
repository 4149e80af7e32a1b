"""Walks over every tab and layer of an Explorer, with every control that shows data of its own."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from nbviz.compute.model.probe import shared_probe
from nbviz.testing import panel_errors


def walk_everything(ex: Any, sample: int) -> None:
    """Every tab on every layer at ``sample``, plus the controls that show data of their own: global SHAP,
    rules fitted on inputs and on each layer, every slice feature and every saliency method."""
    ex.sample = sample
    assert panel_errors(ex) == []
    ex.tab = "shap"
    shap = ex.panels["shap"]
    shap.wait()
    shap.subset.value = 12
    shap.start_global(wait=True)
    ex.tab = "rules"
    rules = ex.panels["rules"]
    for on_layer in (True, False):
        rules.on_layer.value = on_layer
        for layer in ex.analysis.graph.names:
            ex.layer = layer
    ex.tab = "diagnostics"
    for _, feature in ex.panels["diagnostics"].slice_feature.options:
        ex.panels["diagnostics"].slice_feature.value = feature
    ex.tab = "saliency"
    for _, method in ex.panels["saliency"].method.options:
        ex.panels["saliency"].method.value = method
    for panel in ex.panels.values():
        assert panel.error is None, panel.last_error


def tape_norms(model: keras.Model, names: list[str], loss_of: Any) -> np.ndarray:
    """The L2 norm of d loss / d each named layer's trainable weights, from a GradientTape on ``loss_of()``: what
    LiveTraining's gradient norms of those layers are checked against."""
    import tensorflow as tf

    layers = [shared_probe(model).layers[name] for name in names]
    variables = [v for layer in layers for v in layer.trainable_weights]
    with tf.GradientTape() as tape:
        loss = loss_of()
    grads = iter(tape.gradient(loss, variables))
    norms = []
    for layer in layers:
        parts = [next(grads) for _ in layer.trainable_weights]
        norms.append(np.sqrt(sum(float(tf.reduce_sum(tf.square(g))) for g in parts if g is not None)))
    return np.array(norms)
