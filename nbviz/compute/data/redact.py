"""Redact mode: which layer outputs show the raw input, and input values replaced by their quantiles.

With ``explore(..., redact=True)`` no raw input value reaches the browser, and so none is saved in a notebook's
widget state. What is computed *from* the input through learned weights (activations of learned layers,
gradients, attributions, predictions) is still shown: that is what the Explorer is for.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

import numpy as np

from ..model.graph import LayerNode, ModelGraph


def input_like_layers(graph: ModelGraph) -> frozenset[str]:
    """Layers whose output is a fixed, unlearned function of the raw input alone: the input's preprocessing
    (what Grad-CAM does not point at).

    That is the input layers, and every layer without trainable weights (Rescaling, Normalization, Flatten,
    Reshape, pooling, Dropout, ...) fed only by such layers. Redact mode withholds more: :func:`raw_value_layers`.
    A subclassed model's graph has no edges, so there every layer without trainable weights counts.
    """
    return _flow(graph, lambda node, fed: node.trainable_params == 0 and all(fed))


#: Layers with weights that still pass each value on, rescaled one by one (a raw value is read back from the
#: output with the layer's own statistics): the normalisations.
_ELEMENTWISE = frozenset(
    {"Normalization", "BatchNormalization", "LayerNormalization", "GroupNormalization", "UnitNormalization"}
)


def raw_value_layers(graph: ModelGraph) -> frozenset[str]:
    """Layers from whose output a raw input value can be read back: what redact mode withholds.

    Found by data flow: the input layers, and every layer that takes the output of such a layer through no
    learned transformation: one without trainable weights (copy, reshape, slice, pad, cast, pool, concatenate,
    add, an activation, dropout, a Lambda...) or an elementwise normalisation. A layer joining a raw input with
    a learned one (a wide-and-deep model's ``Concatenate`` of a raw feature and an embedding) passes the raw value
    on too. The first learned transformation on every path (a Dense, a convolution, an embedding) stops it.

    A subclassed model's graph has no edges, so there every layer without trainable weights counts (hiding too
    much rather than too little).
    """

    def passes(node: LayerNode, fed: list[bool]) -> bool:
        unlearned = node.trainable_params == 0 or node.class_name in _ELEMENTWISE
        return unlearned and (node.is_input or not fed or any(fed))

    return _flow(graph, passes)


def _flow(graph: ModelGraph, passes: Callable[[LayerNode, list[bool]], bool]) -> frozenset[str]:
    """The layers (nested models aside) that ``passes(node, fed)`` takes, in topological order: ``fed`` says for
    each of the node's producers whether it was taken."""
    producers: dict[str, list[str]] = defaultdict(list)
    for source, target in graph.edges:
        producers[target].append(source)
    taken: set[str] = set()
    for node in graph.nodes:  # topological order: producers come first
        if not node.is_model and passes(node, [p in taken for p in producers[node.name]]):
            taken.add(node.name)
    return frozenset(taken)


def labels_repeat_input(inputs: list[np.ndarray], labels: list[np.ndarray] | None, rows: int = 256) -> bool:
    """Whether the labels are a copy of an input: equal to it, or to it shifted by one position (a causal
    language model's next tokens, a seq2seq decoder's targets), on most of the first ``rows`` samples. Such labels
    are raw input (an autoencoder's target is the input itself)."""
    for y in labels or []:
        y = np.asarray(y)[:rows]
        for x in inputs:
            x = np.asarray(x)[:rows]
            if x.dtype.kind not in "fiub" or y.dtype.kind not in "fiub" or x.shape[0] != y.shape[0]:
                continue
            if x.shape == y.shape and _share_equal(x, y) > 0.5:
                return True
            if x.ndim >= 2 and y.ndim >= 2 and x.shape[1] == y.shape[1] and x.shape[1] > 1:
                for a, b in ((x[:, 1:], y[:, :-1]), (x[:, :-1], y[:, 1:])):
                    if a.shape == b.shape and _share_equal(a, b) > 0.5:
                        return True
    return False


def _share_equal(a: np.ndarray, b: np.ndarray) -> float:
    with np.errstate(invalid="ignore"):
        return float(np.mean(a == b)) if a.size else 0.0


def quantile_of(column: np.ndarray, value: float) -> float:
    """The share of ``column`` at or below ``value``: where a threshold sits among the data, not the value."""
    column = np.asarray(column)
    return float(np.mean(column <= value)) if column.size else 0.0


def rank_quantiles(table: np.ndarray) -> np.ndarray:
    """Each value of ``table`` (n, k) replaced by its average rank within its column, scaled to [0, 1].

    Ties share a rank, so equal values keep equal quantiles; a single row gets 0.5.
    """
    table = np.asarray(table, dtype=np.float64)
    n = len(table)
    if n < 2:
        return np.full(table.shape, 0.5, np.float32)
    ordered = np.sort(table, axis=0)
    out = np.empty(table.shape, np.float64)
    for j in range(table.shape[1]):
        low = np.searchsorted(ordered[:, j], table[:, j], side="left")
        high = np.searchsorted(ordered[:, j], table[:, j], side="right") - 1
        out[:, j] = (low + high) / 2 / (n - 1)
    return out.astype(np.float32)
