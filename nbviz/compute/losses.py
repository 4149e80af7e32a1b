"""A model's loss inside a compiled pass, written once with ``keras.ops`` for every backend: labels matched to
the output's rank, a classifier's own predictions as labels, the mean weighted as ``fit`` weighs it, and the
crossentropy's gradient on probabilities written out.

These run only while a pass is traced (``tf.function`` or ``jax.jit``): ``keras.ops`` costs nothing at run time.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops


def is_sparse(loss: Any) -> bool:
    """Whether ``loss`` takes class indices (a sparse crossentropy), by its name."""
    return "sparse" in str(getattr(loss, "name", "") or getattr(loss, "__name__", ""))


def match_rank(y: Any, output: Any) -> Any:
    """Labels (n,) for an output (n, 1), or (n, 1) for (n,): made the same rank, as Keras's own loss does in fit."""
    if len(y.shape) == len(output.shape) - 1 and output.shape[-1] == 1:
        return ops.expand_dims(y, -1)
    if len(y.shape) == len(output.shape) + 1 and y.shape[-1] == 1:
        return ops.squeeze(y, -1)
    return y


def own_labels(output: Any, kind: str, loss: Any = None) -> Any:
    """A classifier's predicted classes, used as labels when none are given: class indices for a sparse loss (a
    language model's SparseCategoricalCrossentropy on logits), else one-hot rows."""
    if kind == "sigmoid":
        return ops.stop_gradient(ops.round(output))
    if kind == "sigmoid logits":
        return ops.stop_gradient(ops.cast(output > 0, output.dtype))
    if is_sparse(loss):
        return ops.stop_gradient(ops.argmax(output, axis=-1))
    return ops.stop_gradient(ops.one_hot(ops.argmax(output, axis=-1), output.shape[-1]))


def expanded(weight: Any, rank: int) -> Any:
    """Weights with trailing axes added up to ``rank`` (per-sample weights over per-position losses)."""
    while len(weight.shape) < rank:
        weight = ops.expand_dims(weight, -1)
    return weight


def mean_loss(loss: Any, y: Any, o: Any, weight: Any | None) -> Any:
    """One output's loss, float32: the mean of its per-sample (per-position) losses, each weighted as ``fit``
    does."""
    if weight is None:
        return ops.mean(ops.cast(loss(y, o), "float32"))
    if isinstance(loss, keras.losses.Loss):  # Keras weighs and reduces it itself, as in fit
        return ops.cast(loss(y, o, sample_weight=weight), "float32")
    values = ops.cast(loss(y, o), "float32")
    return ops.mean(values * expanded(weight, len(values.shape)))


def crossentropy_gradient(loss: Any, y_true: Any, p: Any, weight: Any | None = None) -> Any | None:
    """d mean(loss) / d p for a tagged crossentropy on probabilities ``p``; None for any other loss.

    Written out rather than differentiated: that would need the loss computed again from ``p``, which doubles
    the backward pass of a small model. The crossentropy is taken as Keras takes it on probabilities, clipped to
    [eps, 1 - eps] (no gradient where clipped), but without renormalising ``p``: -log p at the label, so the
    gradient there is -w / (n p), n the number of per-sample losses averaged and w the sample's weight (1
    without weights).
    """
    kind = getattr(loss, "crossentropy", None)
    if kind is None:
        return None
    eps = keras.config.epsilon()
    inside = ops.cast((p > eps) & (p < 1 - eps), p.dtype)
    if weight is not None:  # each loss's weight, on every unit it is taken over
        inside = inside * expanded(ops.cast(weight, p.dtype), len(p.shape))
    clipped = ops.clip(p, eps, 1 - eps)
    size = ops.cast(ops.size(p), p.dtype)
    if kind == "categorical":
        classes = p.shape[-1]
        if not (len(y_true.shape) == len(p.shape) and y_true.shape[-1] == classes):
            y_true = ops.one_hot(ops.cast(ops.reshape(y_true, ops.shape(p)[:-1]), "int32"), classes)
        t = ops.cast(y_true, p.dtype)
        return -t / clipped * inside / (size / classes)  # the count of per-sample (and per-position) losses
    t = ops.cast(y_true, p.dtype)
    return (-t / clipped + (1 - t) / (1 - clipped)) * inside / size  # binary: the mean over units, then samples
