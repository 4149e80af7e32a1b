"""Token attributions: Integrated Gradients and gradient x input on a text model's embedding output, per token.

Gradients cannot reach token ids, so the attributions are taken at the output E (n, seq, dim) of the layer that
embeds them: E is scaled by alpha and the model's output differentiated with respect to alpha * E
(:meth:`Probe.embedding_gradients`). With F one scalar of the output and t a position:

- gradient x input: ``sum_d E[t, d] * dF/dE[t, d]`` (alpha = 1);
- Integrated Gradients from the baseline "embedding output = 0": ``sum_d E[t, d] * mean_k dF(a_k E)/d(a_k E)[t, d]``
  over the midpoints ``a_k = (k + 0.5) / steps``, so that ``sum_t IG[t] ~= F(E) - F(0)`` (completeness).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from .._arrays import frozen, is_int
from .._validate import as_inputs, input_specs
from ..model.probe import Probe

METHODS = ("integrated_gradients", "gradient_x_input")


@dataclass(frozen=True, eq=False)
class TokenAttribution:
    """One sample's attribution of one output unit to each position of its token sequence.

    Attributes
    ----------
    values : np.ndarray
        float32 (seq,): one value per position, padding included (the caller picks the real tokens).
    method : str
        "integrated_gradients" or "gradient_x_input".
    layer : str
        The embedding layer whose output was attributed at.
    unit : int
        The flat unit of the output row explained (a class; ``p * vocab + c`` for token c at position p).
    output : float
        F(x): the unit's value for the sample.
    baseline : float
        F with the embedding output set to 0 (computed in the same pass for both methods).
    steps : int
        The midpoints Integrated Gradients averaged over (1 for gradient x input).
    """

    values: np.ndarray
    method: str
    layer: str
    unit: int
    output: float
    baseline: float
    steps: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", frozen(self.values, np.float32))

    @property
    def gap(self) -> float:
        """The completeness error |sum(values) - (output - baseline)| / |output - baseline| (meaningful for
        Integrated Gradients, where it shrinks with more steps)."""
        delta = self.output - self.baseline
        total = float(np.sum(self.values, dtype=np.float64))
        return abs(total - delta) / max(abs(delta), float(np.finfo(np.float32).tiny))


def embedding_layer(probe: Probe) -> str | None:
    """The layer to attribute tokens at: an embedding of the token ids, or None when the model has none.

    A candidate is a ``keras.layers.Embedding`` (KerasHub's ``ReversibleEmbedding`` is one) fed by an input of
    the model: directly in the layer graph (BERT's and GPT-2's ``token_embedding``), or, for an embedding inside
    a custom block that the graph does not look into, a block fed by an input (KerasHub's
    ``TokenAndPositionEmbedding`` in DistilBERT, the Keras example's own ``TokenAndPositionEmbedding``). The
    ids may be held as floats, as in that example: the Embedding casts them. Among candidates the one with the
    largest vocabulary (``input_dim``) wins, the first in :attr:`Probe.layers` order on a tie: so BERT's token
    embedding beats its segment embedding (2 ids), and the Keras example's token embedding beats its position
    embedding (a vocabulary of ``maxlen``). KerasHub's position embeddings are not Embeddings at all. An
    embedding of positions made inside a block (``arange``, as the Keras ViT example's patch encoder) is fed by
    the block's input only when that block is fed by the model's input; a ViT's block is fed by patches, so no
    layer is chosen there. A tied embedding called again as an output head (GPT-2) is named by its first name,
    the backbone's. A subclassed model has no graph to read: None.
    """
    graph = probe.graph
    feeds: dict[str, list[str]] = {}
    for source, target in graph.edges:
        feeds.setdefault(target, []).append(source)
    inputs = {node.name for node in graph.nodes if node.is_input}

    def fed_by_input(name: str) -> bool:
        return any(source in inputs for source in feeds.get(name, ()))

    seen: set[int] = set()
    best: tuple[int, str] | None = None
    for name, layer in probe.layers.items():
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        if not isinstance(layer, keras.layers.Embedding) or name not in graph.names:
            continue
        node = graph.node(name)
        parent = graph.node(node.parent) if node.parent is not None else None
        inside_block = parent is not None and parent.is_block and not feeds.get(name)
        if fed_by_input(name) or (inside_block and parent is not None and fed_by_input(parent.name)):
            size = int(getattr(layer, "input_dim", 0) or 0)
            if best is None or size > best[0]:
                best = (size, name)
    return None if best is None else best[1]


def token_attributions(
    probe: Probe,
    x: Any,
    unit: int,
    method: str = "integrated_gradients",
    layer: str | None = None,
    steps: int = 64,
    out_index: int = 0,
) -> TokenAttribution:
    """Attribute one output unit of ONE sample to its tokens, in one (chunked) embedding-gradient pass.

    Parameters
    ----------
    probe : Probe
        The model's probe.
    x : array-like, list or dict
        One sample as a batch of one, in any structure the model's inputs take.
    unit : int
        The flat unit of output ``out_index``'s row: class c of (n, k); token c at position p of a language
        model's (n, seq, vocab) is ``p * vocab + c``.
    method : str
        "integrated_gradients" (baseline: the embedding output 0) or "gradient_x_input".
    layer : str, optional
        The layer to attribute at; :func:`embedding_layer`'s choice by default.
    steps : int
        The midpoints Integrated Gradients averages over (rows of the pass: steps + 2).
    out_index : int
        Which output ``unit`` belongs to.

    Returns
    -------
    TokenAttribution
        ``values`` (seq,) float32: one per position of the embedding's output, summed over every axis after it.
    """
    if not isinstance(method, str):
        raise TypeError(f"method: expected one of {METHODS}, got {type(method).__name__} {method!r}")
    if method not in METHODS:
        raise ValueError(f"method: expected one of {METHODS}, got {method!r}")
    if not is_int(steps):
        raise TypeError(f"steps: expected a positive int, got {type(steps).__name__} {steps!r}")
    if steps < 1:
        raise ValueError(f"steps: expected a positive int, got {steps!r}")
    if not is_int(unit):
        raise TypeError(f"unit: expected an int (a flat unit of the output row), got {type(unit).__name__} {unit!r}")
    inputs = as_inputs(input_specs(probe.model), x)
    if len(inputs[0]) != 1:
        raise ValueError(f"x: expected one sample (a batch of one), got {len(inputs[0])} samples")
    shapes = probe.output_shapes(inputs)
    if not is_int(out_index) or not 0 <= out_index < len(shapes):
        raise ValueError(f"out_index: expected an output index in [0, {len(shapes)}), got {out_index!r}")
    size = int(np.prod(shapes[out_index][1:]))
    if not 0 <= unit < size:
        raise ValueError(
            f"unit: expected a flat unit in [0, {size}) of output {out_index} (shape {shapes[out_index][1:]} per "
            f"sample), got {unit}"
        )
    if layer is None:
        layer = embedding_layer(probe)
        if layer is None:
            raise ValueError(
                "layer: expected an embedding layer fed by token ids, got None, and this model has none to choose; "
                f"pass one of {probe.layer_names}"
            )
    integrated = method == "integrated_gradients"
    count = int(steps) if integrated else 1
    # Row 0 is the baseline (alpha 0), row 1 the sample itself (alpha 1), then the midpoints for IG.
    alphas = [0.0, 1.0] + ([(k + 0.5) / count for k in range(count)] if integrated else [])
    rows = [np.repeat(a, len(alphas), axis=0) for a in inputs]
    grads, embedded, values = probe.embedding_gradients(rows, layer, np.array(alphas, np.float32), unit, out_index)
    e = embedded[1].astype(np.float64)
    g = grads[2:].astype(np.float64).mean(axis=0) if integrated else grads[1].astype(np.float64)
    product = e * g
    # (seq, dim) as a rule; (seq, ...) summed past the position axis; (dim,) without one is one position.
    per_position = product.reshape(len(product), -1).sum(axis=1) if product.ndim > 1 else product.sum()[None]
    return TokenAttribution(
        values=per_position.astype(np.float32),
        method=method,
        layer=layer,
        unit=int(unit),
        output=float(values[1]),
        baseline=float(values[0]),
        steps=count,
    )
