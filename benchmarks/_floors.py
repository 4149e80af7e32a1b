"""The floor every nbviz update is measured against: the model's own compiled passes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import numpy as np


def compiled_passes(model: keras.Model, x: Any, y: np.ndarray) -> tuple[Callable[[], object], Callable[[], object]]:
    """One compiled forward pass and one compiled forward+backward pass (d loss / d trainable weights).

    The fastest form: concrete functions traced once, called with tensors, numpy in and numpy out like the
    Probe they are compared with. ``x`` is an array or a dict of them (a KerasHub model's inputs); the loss is
    the model's compiled Keras loss (a KerasHub task's crossentropy on logits), else sparse crossentropy.
    On JAX: ``jax.jit`` of the model's stateless call, and of ``jax.grad`` of its loss. On torch: the model's
    eager call without autograd, and ``torch.autograd.grad`` of its loss (Keras runs torch eagerly).
    """
    compiled = getattr(model, "loss", None)
    loss_fn = compiled if isinstance(compiled, keras.losses.Loss) else keras.losses.SparseCategoricalCrossentropy()
    if keras.backend.backend() == "jax":
        return _jax_passes(model, x, y, loss_fn)
    if keras.backend.backend() == "torch":
        return _torch_passes(model, x, y, loss_fn)
    import tensorflow as tf

    def constants(value: Any) -> Any:
        return tf.nest.map_structure(tf.constant, value)

    xt, yt = constants(x), tf.constant(y)
    forward = tf.function(lambda t: model(t, training=False)).get_concrete_function(xt)

    def forward_backward_body(t: Any, labels: tf.Tensor) -> list[tf.Tensor]:
        with tf.GradientTape() as tape:
            loss = loss_fn(labels, model(t, training=False))
        # Dense, as the Probe returns them (an embedding's gradient comes as IndexedSlices).
        return [tf.convert_to_tensor(g) for g in tape.gradient(loss, model.trainable_variables)]

    forward_backward = tf.function(forward_backward_body).get_concrete_function(xt, yt)
    return (
        lambda: [o.numpy() for o in tf.nest.flatten(forward(constants(x)))],
        lambda: [g.numpy() for g in forward_backward(constants(x), tf.constant(y))],
    )


def _jax_passes(model: keras.Model, x: Any, y: np.ndarray, loss_fn: Any) -> tuple[Callable[[], object], ...]:
    import jax

    trainable = [v.value for v in model.trainable_variables]
    others = [v.value for v in model.non_trainable_variables]

    def outputs(trainable: Any, others: Any, x: Any) -> Any:
        return model.stateless_call(trainable, others, x, training=False)[0]

    def loss(trainable: Any, others: Any, x: Any, y: Any) -> Any:
        return loss_fn(y, outputs(trainable, others, x))

    forward, backward = jax.jit(outputs), jax.jit(jax.grad(loss))
    return (
        lambda: [np.asarray(o) for o in keras.tree.flatten(forward(trainable, others, x))],
        lambda: [np.asarray(g) for g in backward(trainable, others, x, y)],
    )


def _torch_passes(model: keras.Model, x: Any, y: np.ndarray, loss_fn: Any) -> tuple[Callable[[], object], ...]:
    import torch

    trainable = [v.value for v in model.trainable_variables]

    def forward() -> list[np.ndarray]:
        with torch.no_grad():
            return [keras.ops.convert_to_numpy(o) for o in keras.tree.flatten(model(x, training=False))]

    def backward() -> list[np.ndarray]:
        loss = loss_fn(y, model(x, training=False))
        return [g.detach().cpu().numpy() for g in torch.autograd.grad(loss, trainable)]

    return forward, backward
