"""The floor every nbviz update is measured against: the model's own compiled passes."""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf


def compiled_passes(
    model: keras.Model, x: np.ndarray, y: np.ndarray
) -> tuple[Callable[[], object], Callable[[], object]]:
    """One compiled forward pass and one compiled forward+backward pass (d loss / d trainable weights).

    The fastest form: concrete functions traced once, called with tensors, numpy in and numpy out like the
    Probe they are compared with.
    """
    xt, yt = tf.constant(x), tf.constant(y)
    forward = tf.function(lambda t: model(t, training=False)).get_concrete_function(xt)
    loss_fn = keras.losses.SparseCategoricalCrossentropy()

    def forward_backward_body(t: tf.Tensor, labels: tf.Tensor) -> list[tf.Tensor]:
        with tf.GradientTape() as tape:
            loss = loss_fn(labels, model(t, training=False))
        return tape.gradient(loss, model.trainable_variables)

    forward_backward = tf.function(forward_backward_body).get_concrete_function(xt, yt)
    return (
        lambda: forward(tf.constant(x)).numpy(),
        lambda: [g.numpy() for g in forward_backward(tf.constant(x), tf.constant(y))],
    )
