"""Attention heads over the data: how spread each head's weights are, and how much of them sit on the first token.

People find heads worth looking at by these numbers (Clark et al. 2019, "What does BERT look at?"): a head with
low entropy attends sharply; one that puts most of its weight on the first token (or a separator) is often
"resting" there. The weights come from :meth:`Probe.attention_scores`, streamed in batches.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ._arrays import frozen
from ._validate import as_inputs, input_specs, padding_mask
from .probe import Probe


@dataclass(frozen=True, eq=False)
class HeadSummary:
    """Per head of one attention layer, averaged over every real query of every sample.

    Attributes
    ----------
    entropy : np.ndarray
        float32 (heads,): the mean entropy of a query's weights over the keys, in nats (0: all on one key;
        log(keys): spread evenly).
    first_share : np.ndarray
        float32 (heads,): the mean weight a query puts on the first key.
    samples : int
        How many samples the means are over.
    """

    entropy: np.ndarray
    first_share: np.ndarray
    samples: int


def head_summaries(probe: Probe, x: Any, batch_size: int = 32) -> dict[str, HeadSummary]:
    """A :class:`HeadSummary` for every attention layer of ``probe``'s model over the samples ``x``.

    Queries at padding positions (KerasHub's ``padding_mask`` input, where it fits a layer's queries) are left
    out: their rows say nothing of the text.
    """
    specs = input_specs(probe.model)
    inputs = as_inputs(specs, x, "x")
    names = [spec[0] for spec in specs] if specs else [""] * len(inputs)  # what the padding mask is found by
    n = len(inputs[0])
    entropy: dict[str, np.ndarray] = {}
    first: dict[str, np.ndarray] = {}
    queries: dict[str, float] = {}
    for start in range(0, n, batch_size):
        chunk = [a[start : start + batch_size] for a in inputs]
        for layer, weights in probe.attention_scores(chunk).items():
            w = weights.astype(np.float64)  # (b, heads, queries, keys)
            mask = padding_mask(dict(zip(names, chunk)), (len(w), w.shape[2]), layer)
            real = np.ones((len(w), w.shape[2]), bool) if mask is None else mask
            h = -(w * np.log(np.where(w > 0, w, 1.0))).sum(axis=-1)  # (b, heads, queries)
            keep = real[:, None, :]
            entropy[layer] = entropy.get(layer, 0.0) + (h * keep).sum(axis=(0, 2))
            first[layer] = first.get(layer, 0.0) + (w[..., 0] * keep).sum(axis=(0, 2))
            queries[layer] = queries.get(layer, 0.0) + float(real.sum())
    return {
        layer: HeadSummary(
            frozen(entropy[layer] / max(queries[layer], 1.0), np.float32),
            frozen(first[layer] / max(queries[layer], 1.0), np.float32),
            n,
        )
        for layer in entropy
    }
