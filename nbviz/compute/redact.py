"""Redact mode: which layer outputs show the raw input, and input values replaced by their quantiles.

With ``explore(..., redact=True)`` no raw input value reaches the browser, and so none is saved in a notebook's
widget state. What is computed *from* the input through learned weights (activations of learned layers,
gradients, attributions, predictions) is still shown: that is what the Explorer is for.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from .graph import ModelGraph


def input_like_layers(graph: ModelGraph) -> frozenset[str]:
    """Layers whose output is a fixed, unlearned function of the raw input.

    That is the input layers, and every layer without trainable weights (Rescaling, Normalization, Flatten,
    Reshape, pooling, Dropout, ...) fed only by such layers: their outputs are the input's values scaled,
    reshaped or subsampled. The first layer with trainable weights, and everything after it, is not.

    A subclassed model's graph has no edges, so there every layer without trainable weights counts (hiding too
    much rather than too little).
    """
    producers: dict[str, list[str]] = defaultdict(list)
    for source, target in graph.edges:
        producers[target].append(source)
    like: set[str] = set()
    for node in graph.nodes:  # topological order: producers come first
        if not node.is_model and node.trainable_params == 0 and all(p in like for p in producers[node.name]):
            like.add(node.name)
    return frozenset(like)


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
