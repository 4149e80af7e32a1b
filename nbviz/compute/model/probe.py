"""Probe: every layer's output, and every gradient, from one compiled pass over a Keras 3 model."""

from __future__ import annotations

import functools
import math
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import keras
import numpy as np

from .._arrays import frozen, is_int, l2_norm, one_or_list
from .._validate import as_inputs, as_targets, input_specs, resolve_model
from ..backend import NAME, SUPPORTED, Compiled, Ordered, call_errors
from . import passes
from .graph import ModelGraph, activation_of, graph_and_layers, holds_layers, symbolic_graph
from .losses import (
    DEFAULT_LOSSES,
    MSE,
    UnknownLoss,
    compiled_losses,
    loss_config,
    loss_label,
    own_compute_loss,
    own_train_step,
    sample_weights,
)
from .recording import (
    TRACE_LOCK,
    Tap,
    asked,
    attention_style,
    base_key,
    itemsize,
    numeric,
    recording,
)

ops = keras.ops
#: Passes whose rows do not interact (inference mode), so that a batch may run in pieces.
_ROWWISE = {"forward", "input grad", "attention", "embedding grad", "layer grad"}
GRADIENT_BYTES = 2 * 2**30  # what one batched input-gradient pass may hold in activations (and their gradients)
EAGER_CALLS = 8  # one-row forward passes a signature runs eagerly before it is traced (see Probe._outputs)
GRADIENT_ROWS = 64  # at most this many rows per input-gradient pass: beyond it a CPU gains no speed
#: What a model call raises on inputs that do not fit it, on the backend in use.
CALL_ERRORS = call_errors()


def _frozen(value: Any) -> np.ndarray:
    """A read-only float32 array of a tensor: no copy when it is float32 already (the common case, kept cheap)."""
    return frozen(value, np.float32, copy=False)


@dataclass(frozen=True)
class Gradients:
    """Gradients from one forward and backward pass.

    Attributes
    ----------
    weights : Mapping[str, list[np.ndarray]]
        Layer name -> d objective / d each of its weights, in ``layer.weights`` order, each in that weight's shape.
    outputs : Mapping[str, np.ndarray]
        Layer name -> d objective / d that layer's output, in the output's shape (batch first).
    inputs : np.ndarray or list of np.ndarray
        d objective / d input (the saliency), in the input's shape; a list for a model with several inputs.
    objective : float
        The value that was differentiated: the loss (mean over the batch, plus regularisation), or the sum of the
        target unit over the batch.
    activations : Mapping[str, np.ndarray]
        Layer name -> its output in the same forward pass (what :meth:`Probe.activations` returns).
    undefined : frozenset of str
        What no gradient reaches (a tape gives None: not connected to the objective through
        differentiable ops, e.g. after an argmax, or an integer tensor). Their arrays above hold zeros, which
        are not derivatives: views say "not differentiable here" instead. Keys are layer output keys as in
        ``outputs`` (``"dense"``, ``"lstm[1]"``), ``"layer#i"`` for the i-th weight of a layer, and
        ``"input#i"`` for the i-th model input.
    squares : Mapping[str, list[float]]
        Layer name -> the sum of squares of each weight's gradient (in ``weights`` order), summed in the graph:
        what gradient norms are taken from.
    """

    weights: MappingProxyType[str, list[np.ndarray]]
    outputs: MappingProxyType[str, np.ndarray]
    inputs: np.ndarray | list[np.ndarray]
    objective: float
    activations: MappingProxyType[str, np.ndarray]
    undefined: frozenset[str] = frozenset()
    squares: MappingProxyType[str, list[float]] = field(default_factory=lambda: MappingProxyType({}))


class Probe:
    """Reads a model's insides, built once per model and reused.

    Every layer's output is recorded by wrapping each layer's ``call`` while ONE compiled function is traced
    (the wrappers run only at trace time, so a traced call costs the same as the model's own forward pass). This
    works alike for Sequential, Functional, nested and subclassed models, where sub-models built from
    ``layer.output`` fail ("Graph disconnected"). Each pass is written once, with ``keras.ops``, over the
    backend's seam (:mod:`nbviz.compute.backend`: ``Compiled`` traces it once per input signature, with the
    batch axis left free where the backend allows, and ``gradients`` differentiates it), for every backend.

    Parameters
    ----------
    model : keras.Model
        A built Keras 3 model.
    batch_size : int
        Samples per compiled call in :meth:`activations` (bounds memory on large ``x``).
    """

    def __init__(self, model: keras.Model, batch_size: int = 256) -> None:
        if not SUPPORTED:
            raise ValueError(
                f"model: nbviz reads Keras models on the TensorFlow, JAX or torch backend, got KERAS_BACKEND={NAME!r}"
            )
        model = resolve_model(model)
        self._model: keras.Model | None = model
        self._model_ref: weakref.ref[keras.Model] | None = None
        self.batch_size = batch_size
        #: The model's layer graph (:func:`nbviz.compute.model_graph`).
        self.graph: ModelGraph
        self.graph, self.layers = graph_and_layers(model)
        self._specs = input_specs(model)
        self._structure = _input_structure(model)
        self.traces = 0  # how many times a function was traced; tests and benchmarks read it
        self._functions: dict[Any, Any] = {}
        #: Functions that call XLA-compiled ones (Keras compiles grouped and some 3-D convolutions on CPU): XLA
        #: compiles those again for every new batch size, so their batches run in pieces of powers of two.
        self._xla: set[Any] = set()
        #: Batch sizes the XLA-holding functions ran at, per function (what tests read: each size compiles once).
        self.xla_batches: dict[Any, set[int]] = {}
        self._rows: dict[Any, int] = {}
        self._row_seconds: dict[Any, float] = {}
        self._reaches: dict[Any, bool] = {}
        self._shapes: dict[Any, list[tuple[int, ...]]] = {}
        self._eager_calls: dict[Any, int] = {}
        self._custom_losses: dict[int, Any] = {}
        #: The structures of targets a model's own compute_loss takes (a detector's {"boxes", "labels"}), by key.
        self._target_structures: dict[str, Any] = {}
        self._kinds: tuple[str, list[str]] | None = None
        #: Nested models and custom blocks: their weights are their inner layers', which get the norms; and a
        #: shared layer's later calls ("name@1"), whose weights are the first call's (counted once, there).
        self.holders = frozenset(
            name
            for name, layer in self.layers.items()
            if holds_layers(layer) or self.graph.node(name).call_of is not None
        )
        # A subclassed model has no symbolic outputs: its last tracked layer is taken as the output layer.
        outputs = _model_outputs(model)
        #: The layers whose outputs are the model's outputs, in order.
        self.output_layers = [_output_layer(t) for t in outputs] if outputs else [list(self.layers.values())[-1]]
        #: Names of the layers whose outputs are the model's outputs (a nested model's own name if it ends the model).
        self.output_names = [t._keras_history.operation.name for t in outputs] if outputs else [list(self.layers)[-1]]

    @property
    def model(self) -> keras.Model:
        """The model probed (held weakly by a shared probe, see :func:`shared_probe`)."""
        if self._model is not None:
            return self._model
        model = self._model_ref() if self._model_ref is not None else None
        if model is None:
            raise ReferenceError("probe: its model no longer exists")
        return model

    @property
    def layer_names(self) -> list[str]:
        return list(self.layers)

    @property
    def output_kinds(self) -> list[str]:
        """What each output holds: "softmax" or "sigmoid" probabilities, "softmax logits" or "sigmoid logits"
        (a linear head compiled with a ``from_logits=True`` crossentropy, as every KerasHub classifier and the
        Keras ViT example are), "map" (an output shaped like an image, (h, w, channels) per sample: an
        autoencoder's reconstruction, a decoder's image, a segmentation mask, whatever its activation), or
        "values" (regression). Read again after ``compile`` (a ``from_logits`` loss changes what the outputs are),
        kept per compiled loss configuration (:func:`loss_config`)."""
        config = loss_config(self.model)
        if self._kinds is None or self._kinds[0] != config:
            self._kinds = (config, self._output_kinds())
        return self._kinds[1]

    def _output_kinds(self) -> list[str]:
        specs = compiled_losses(self.model, len(self.output_layers), self.output_layers)
        shapes = [tuple(t.shape) for t in _model_outputs(self.model)] or [_known_output_shape(self.output_layers[0])]
        return [
            "map" if len(shape) >= 4 else _output_kind(spec, layer)
            for spec, layer, shape in zip(specs, self.output_layers, shapes)
        ]

    @property
    def is_classifier(self) -> bool:
        """True when every output is a classifier's, probabilities or logits (so labels can default to the
        predictions)."""
        return all(kind not in ("values", "map") for kind in self.output_kinds)

    def classifies(self, y: Any = None) -> bool:
        """Whether the model is taken as a classifier of the labels ``y``: :attr:`is_classifier` (its loss and
        output decide), except that a sigmoid output given labels that are not all 0 or 1 (a rating scaled to
        [0, 1], a soft target: what binary crossentropy also trains on) regresses them. The Explorer's tabs,
        the diagnostics and the findings all ask here, so they agree."""
        if y is not None and len(self.output_kinds) == 1 and self.map_classes() is not None:
            outputs = _model_outputs(self.model)
            shape = tuple(outputs[0].shape) if outputs else _known_output_shape(self.output_layers[0])
            return _class_masks(y, shape[1:])
        if y is None or len(self.output_kinds) != 1 or not self.output_kinds[0].startswith("sigmoid"):
            return self.is_classifier
        try:
            labels = np.asarray(y, dtype=np.float64)
        except (TypeError, ValueError):  # class names, or labels nbviz refuses later with a clear message
            return True
        labels = labels[np.isfinite(labels)]  # a NaN label is reported elsewhere, not taken as a rating
        return bool(np.all((labels == 0) | (labels == 1)))

    def map_classes(self, index: int = 0) -> str | None:
        """What the last axis of an image-shaped output ("map") holds when it is a class per pixel (a
        segmenter's): "softmax" or "sigmoid" by its activation, "softmax logits" or "sigmoid logits" by its
        compiled crossentropy; None for any other output. Labels then decide (:meth:`classifies`)."""
        if self.output_kinds[index] != "map":
            return None
        specs = compiled_losses(self.model, len(self.output_layers), self.output_layers)
        kind = _output_kind(specs[index], self.output_layers[index])
        return None if kind == "values" else kind

    def probabilities(self, out: np.ndarray, index: int = 0) -> np.ndarray:
        """Output ``index``'s values as probabilities: softmax (last axis) or sigmoid of logits, else as they are."""
        kind = self.output_kinds[index]
        kind = (self.map_classes(index) or kind) if kind == "map" else kind
        if kind == "softmax logits":
            z = np.asarray(out, np.float64)
            e = np.exp(z - z.max(axis=-1, keepdims=True))
            return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)
        if kind == "sigmoid logits":
            return (1.0 / (1.0 + np.exp(-np.asarray(out, np.float64)))).astype(np.float32)
        return np.asarray(out)

    def top_classes(self, out: np.ndarray, index: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """The most probable class along the last axis of output ``index``'s values, and its probability (a
        single unit is the probability of class 1). Logits skip the full softmax: the top probability is
        1 / sum(exp(z - max z)), which on a language model's 50,000-token head is a third of the time."""
        if self.output_kinds[index] == "softmax logits":
            z = np.asarray(out, np.float32)
            return np.argmax(z, axis=-1), (1.0 / np.exp(z - z.max(axis=-1, keepdims=True)).sum(axis=-1))
        probs = self.probabilities(out, index)
        if probs.shape[-1] == 1:
            probs = np.concatenate([1 - probs, probs], axis=-1)
        return np.argmax(probs, axis=-1), np.max(probs, axis=-1)

    # ----------------------------------------------------------------------------------------- public calls
    def activations(self, x: Any, layers: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        """Outputs of the requested layers (all by default) for the samples ``x``.

        Returns
        -------
        dict of str -> np.ndarray
            Layer name -> its output as float32, batch first. A layer called twice also has ``"name@1"``; a
            layer with several outputs has ``"name"`` (the first) and ``"name[i]"``.
        """
        inputs = as_inputs(self._specs, x)
        wanted = self._check_layers(layers)
        n = len(inputs[0])
        chunks: list[dict[str, Any]] = []
        for start in range(0, n, self.batch_size):
            _, record = self._call("forward", [a[start : start + self.batch_size] for a in inputs])
            # Only what was asked is kept: "dense" keeps its later calls too, "dense@1" (a call node) its own.
            chunks.append({k: t for k, t in record.items() if asked(k, wanted)})
        return {
            k: _frozen(np.concatenate([np.asarray(c[k]) for c in chunks]) if len(chunks) > 1 else chunks[0][k])
            for k in chunks[0]
        }

    def predict(self, x: Any) -> np.ndarray | list[np.ndarray]:
        """The model's outputs for ``x`` from the same compiled forward pass (never ``model.predict``)."""
        inputs = as_inputs(self._specs, x)
        arrays = [_frozen(o) for o in self._outputs(inputs)]
        return arrays[0] if len(arrays) == 1 else arrays

    def first_output(self, x: Any) -> np.ndarray:
        """The model's first output for ``x`` (what every view of "the output" reads: the one home of taking it
        from :meth:`predict`, which gives a list for a model with several outputs)."""
        out = self.predict(x)
        return out[0] if isinstance(out, list) else out

    def _outputs(self, inputs: list[np.ndarray]) -> list[Any]:
        """The model's outputs on ``inputs``: from the compiled forward pass, or eagerly on a few rows while that
        pass has no trace for their signature, at most :data:`EAGER_CALLS` times. On a 3,000-layer model the trace
        and its first call take 10 s, an eager call 1.2 s: an Explorer then starts (checking the data and showing
        the first sample) without a trace, and its first slider moves cost an eager call each. As in renting
        before buying, the eager calls stop at about what one trace costs (8 of them), so that whether a model
        is small or large, this costs at most twice what the better choice would have. A tab that needs every
        layer's output traces the pass when first shown."""
        key = _signature("forward", inputs)
        if key not in self._functions and len(inputs[0]) <= 4 and self._eager_calls.get(key, 0) < EAGER_CALLS:
            self._eager_calls[key] = self._eager_calls.get(key, 0) + 1
            with TRACE_LOCK:  # not while a trace has the layers' calls wrapped for recording
                outputs = self.model(self.structured([keras.ops.convert_to_tensor(a) for a in inputs]), training=False)
            # As numpy: an eager call on torch keeps autograd's graph on its outputs (a few rows: a cheap copy).
            return [keras.ops.convert_to_numpy(o) for o in keras.tree.flatten(outputs)]
        return list(self._call("forward", inputs)[0])

    def input_gradients(self, x: Any, units: Any, out_index: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """d f_i / d x_i for each row i, where f_i is unit ``units[i]`` of output ``out_index`` in row i.

        The lean pass behind saliency and SHAP's expected gradients: it returns the input's gradient alone (no
        weight or layer gradients), takes one unit per row (so any mix of classes shares one trace), and runs in
        chunks sized to memory (:meth:`gradient_rows`). As with ``target`` in :meth:`gradients`, a unit is summed
        over any axes between batch and units, and the model runs in inference mode, where rows do not interact.

        Parameters
        ----------
        x : array-like
            Float samples of the model's one input, batch first.
        units : int or array-like of ints
            The unit to differentiate, one for all rows or one per row.
        out_index : int
            Which output the units belong to.

        Returns
        -------
        (np.ndarray, np.ndarray)
            The gradients (float32, x's shape; zeros where no gradient reaches the input, see
            :meth:`reaches_input`) and f_i (float32, (n,)).
        """
        x = self._float_input(x, "input gradients")
        n = len(x)
        per_row = self._units_per_row(x, units, out_index)
        grads, values = np.empty(x.shape, np.float32), np.empty(n, np.float32)
        step = self.gradient_rows(x)
        kind = ("input grad", out_index)
        key = _input_grad_signature(x, out_index)
        for start in range(0, n, step):
            warm = key in self._functions  # a pass that traces says nothing of the next one's cost
            began = time.perf_counter()
            g, v, _ = self._call(kind, [x[start : start + step], per_row[start : start + step]])
            grads[start : start + step], values[start : start + step] = g, v
            if warm:
                seconds = (time.perf_counter() - began) / len(g)
                self._row_seconds[key] = 0.5 * (self._row_seconds.get(key, seconds) + seconds)
        return _frozen(grads), _frozen(values)

    def layer_gradients(self, x: Any, layer: str, units: Any, out_index: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """``layer``'s output a_i and d f_i / d a_i for each row i, f_i being unit ``units[i]`` of output
        ``out_index`` in row i (summed over any axes between batch and units, in inference mode): Grad-CAM's
        inputs, from a lean pass traced once per layer and input signature, whatever the mix of units.

        Returns
        -------
        (np.ndarray, np.ndarray)
            The layer's (first) output and its gradient, float32, both shaped as that output (batch first).
        """
        x = self._float_input(x, "layer gradients")
        if layer not in self.layers:
            raise ValueError(f"layer: expected one of the model's layers, got {layer!r}")
        per_row = self._units_per_row(x, units, out_index)
        step = self.gradient_rows(x)
        pieces = [
            self._call(("layer grad", layer, out_index), [x[i : i + step], per_row[i : i + step]])
            for i in range(0, len(x), step)
        ]
        acts = np.concatenate([np.asarray(a) for a, _ in pieces])
        grads = np.concatenate([np.asarray(g) for _, g in pieces])
        return _frozen(acts), _frozen(grads)

    def _float_input(self, x: Any, what: str) -> np.ndarray:
        """The model's one float input from ``x``; a ValueError naming ``x`` and ``what`` needs it otherwise."""
        inputs = as_inputs(self._specs, x)
        if len(inputs) != 1 or not np.issubdtype(inputs[0].dtype, np.floating):
            raise ValueError(f"x: {what} need a model with one float input")
        return inputs[0]

    def _units_per_row(self, x: np.ndarray, units: Any, out_index: int) -> np.ndarray:
        """``units`` (one for all rows or one per row) as int32 per row of ``x``, checked against the output."""
        shapes = self.output_shapes([x])
        _check_target((out_index, 0), shapes)
        k = shapes[out_index][-1] if len(shapes[out_index]) > 1 else 1
        per_row = np.broadcast_to(np.asarray(units, dtype=np.int32), (len(x),))
        if per_row.size and (per_row.min() < 0 or per_row.max() >= k):
            raise ValueError(f"units: expected units in [0, {k}) of output {out_index}, got {units!r}")
        return per_row

    def unit_gradient(self, x: Any, layer: str, unit: int, where: str = "mean") -> tuple[np.ndarray, np.ndarray]:
        """d a_i / d x_i for each row i, where a_i is unit ``unit`` of ``layer``'s output in row i, averaged over
        every axis between the batch and the units (``where="mean"``: a conv filter's mean response over its map;
        a dense unit as it is), or taken at the middle position of those axes (``where="center"``: the one
        neuron of the filter that sees the middle of the input): what activation maximisation climbs.

        One function is traced per layer and input signature, with the unit passed as a tensor: every unit of a
        layer shares that trace. The layer's output is recorded while the pass is traced (its first call, as
        :meth:`activations` names it ``layer``); the model runs in inference mode, in chunks of
        :meth:`gradient_rows`.

        Parameters
        ----------
        x : array-like
            Float samples of the model's one input, batch first.
        layer : str
            A name from :attr:`layers`, whose (first) output is float with the units last, (n, ..., units).
        unit : int
            The unit (channel) of that output.
        where : str
            "mean" or "center", as above.

        Returns
        -------
        (np.ndarray, np.ndarray)
            The gradients (float32, x's shape; zeros where no gradient reaches the input) and a_i (float32, (n,)).
        """
        x = self._float_input(x, "unit gradients")
        if not isinstance(layer, str) or layer not in self.layers:
            raise ValueError(f"layer: expected a layer name from {self.layer_names}, got {layer!r}")
        if not is_int(unit):
            raise TypeError(f"unit: expected an int, got {unit!r}")
        if where not in ("mean", "center"):
            raise ValueError(f"where: expected 'mean' or 'center', got {where!r}")
        kind = ("unit grad", layer, where)
        self._function(kind, [x])  # traced once per signature: the layer's output shape is known from then on
        units = self._shapes[(kind, x.shape[1:])][0][-1]
        if not 0 <= unit < units:
            raise ValueError(f"unit: expected a unit in [0, {units}) of layer {layer!r}, got {unit}")
        n = len(x)
        grads, values = np.empty(x.shape, np.float32), np.empty(n, np.float32)
        step = self.gradient_rows(x)
        for start in range(0, n, step):
            g, v = self._call(kind, [x[start : start + step]], np.int32(unit))
            grads[start : start + step], values[start : start + step] = g, v
        return _frozen(grads), _frozen(values)

    def embedding_gradients(
        self, x: Any, layer: str, scales: Any, units: Any, out_index: int = 0
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """d F_i / d the output of ``layer`` scaled by ``scales[i]``, for each row i: the pass behind token
        attributions (gradients cannot reach token ids, so they are taken at the embedding's output).

        While the pass is traced, the output E of the FIRST call of ``layer`` is multiplied by ``scales[i]`` in
        row i (over every axis past the batch) and watched; the rest of the model sees the scaled tensor. Later
        calls of the layer are left as they are: GPT-2 calls its token embedding again, reversed, as its output
        head, which must not be scaled. F_i is the flat unit ``units[i]`` of output ``out_index``'s row i: a
        classifier's class c is unit c of (n, k), a language model's next token c at position p is unit
        ``p * vocab + c`` of (n, seq, vocab). The model runs in inference mode (rows do not interact) and in
        chunks of :meth:`gradient_rows`; one function is traced per input signature, layer and output.

        Parameters
        ----------
        x : array-like, list or dict
            Samples, in any structure the model's inputs take, batch first (repeat a sample to scale it anew).
        layer : str
            A name from :attr:`layers`, e.g. :func:`nbviz.compute.methods.token_attribution.embedding_layer`'s choice.
        scales : float or array-like of floats
            The factor for each row (one for all rows, or (n,)).
        units : int or array-like of ints
            The flat unit of the output row to differentiate, one for all rows or one per row.
        out_index : int
            Which output the units belong to.

        Returns
        -------
        (np.ndarray, np.ndarray, np.ndarray)
            d F_i / d (scales[i] * E) (float32, (n, *E's shape past the batch); zeros where no gradient reaches
            it), E itself, unscaled (float32, same shape), and F_i (float32, (n,)).
        """
        inputs = as_inputs(self._specs, x)
        if not isinstance(layer, str) or layer not in self.layers:
            raise ValueError(f"layer: expected a layer name from {self.layer_names}, got {layer!r}")
        n = len(inputs[0])
        shapes = self.output_shapes(inputs)
        if not is_int(out_index) or not 0 <= out_index < len(shapes):
            raise ValueError(f"out_index: expected an output index in [0, {len(shapes)}), got {out_index!r}")
        size = math.prod(shapes[out_index][1:])
        try:
            per_row = np.broadcast_to(np.asarray(units), (n,))
            factors = np.broadcast_to(np.asarray(scales, dtype=np.float32), (n,))
        except ValueError:
            raise ValueError(
                f"units, scales: expected one value for all {n} rows or one per row, got shapes "
                f"{np.shape(units)} and {np.shape(scales)}"
            ) from None
        if per_row.dtype.kind not in "iu":
            raise TypeError(f"units: expected ints, got an array of dtype {per_row.dtype}")
        if per_row.size and (per_row.min() < 0 or per_row.max() >= size):
            raise ValueError(
                f"units: expected flat units in [0, {size}) of output {out_index} "
                f"(shape {shapes[out_index][1:]} per row), got {units!r}"
            )
        per_row = per_row.astype(np.int32)
        kind = ("embedding grad", layer, int(out_index))
        step = self.gradient_rows(inputs[0] if len(inputs) == 1 else inputs)
        grads: list[Any] = []
        embedded: list[Any] = []
        values = np.empty(n, np.float32)
        for start in range(0, n, step):
            stop = start + step
            args = [a[start:stop] for a in inputs] + [factors[start:stop], per_row[start:stop]]
            g, e, v = self._call(kind, args)
            grads.append(np.asarray(g))
            embedded.append(np.asarray(e))
            values[start:stop] = v
        join = (lambda parts: parts[0]) if len(grads) == 1 else np.concatenate
        return _frozen(join(grads)), _frozen(join(embedded)), _frozen(values)

    def row_seconds(self, x: Any, out_index: int = 0) -> float | None:
        """Seconds per row of an input-gradient pass on inputs like ``x``, a running mean of the passes so far
        that did not trace; None before there was one."""
        x = as_inputs(self._specs, x)[0]
        return self._row_seconds.get(_input_grad_signature(x, out_index))

    def attention_scores(self, x: Any, layers: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        """Attention weights of every attention layer (of ``layers``, all by default) for the samples ``x``, from
        one compiled forward pass.

        An attention layer is one with Keras's ``_compute_attention`` (``keras.layers.MultiHeadAttention`` and
        the KerasHub layers built on it); while this pass is traced, its calls are asked for their scores
        (``return_attention_scores=True``, which Keras computes without its fused kernel: the same output, with
        the weights kept); or a KerasHub cached decoder attention (Gemma 3, Llama, Qwen 3, Mixtral, ...), whose
        Softmax sub-layer's output is kept while the layer is held to its unfused path; or one that applies a
        Dropout to its weights (see :func:`attention_style`). Layers not asked for keep their fused kernels: one
        layer's weights cost about one layer's unfused attention.
        Returns layer name -> float32 (n, heads, queries, keys); ``name@1`` for a second call.
        """
        return self.attention_pass(x, layers)[0]

    def attention_pass(
        self, x: Any, layers: Sequence[str] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """:meth:`attention_scores` and, from the same pass, every layer's output (as :meth:`activations`)."""
        inputs = as_inputs(self._specs, x)
        kind: Any = "attention" if layers is None else ("attention", tuple(sorted(set(layers))))
        _, scores, record = self._call(kind, inputs)
        return {k: _frozen(v) for k, v in scores.items()}, {k: _frozen(v) for k, v in record.items()}

    @property
    def has_attention(self) -> bool:
        """Whether a layer of the model can record attention weights (known without running it)."""
        return any(attention_style(layer) for layer in self.layers.values())

    def reaches_input(self, x: Any, out_index: int = 0) -> bool:
        """Whether any gradient of output ``out_index`` reaches the model's input (not for token ids feeding an
        embedding, nor values cast to integers); known from the trace, read from one row."""
        x = as_inputs(self._specs, x)[0][:1]
        if not np.issubdtype(x.dtype, np.floating):
            return False
        key = _input_grad_signature(x, out_index)
        if key not in self._reaches:  # a fact of the trace: one pass tells it for good
            self._reaches[key] = bool(self._call(("input grad", out_index), [x, np.zeros(1, np.int32)])[2])
        return self._reaches[key]

    def gradient_rows(self, x: Any) -> int:
        """Rows per input-gradient pass for inputs like ``x``: a power of two that keeps the pass's activations
        (measured on one row, times three for their gradients and the backward's scratch) within
        ``GRADIENT_BYTES``, at most ``GRADIENT_ROWS``. ResNet50 at 224 x 224 keeps about 100 MB per row."""
        x = as_inputs(self._specs, x)
        key = _signature("forward", x)
        if key not in self._rows:
            known = self.known_layer_shapes([a[:1] for a in x])
            if known is not None:  # float32 assumed: never fewer bytes than a narrower dtype's
                per_row = 3 * 4 * sum(int(np.prod(shape)) for shapes in known.values() for shape in shapes)
            else:  # one traced forward pass tells
                _, record = self._call("forward", [a[:1] for a in x])
                per_row = 3 * sum(int(np.prod(t.shape)) * itemsize(t) for t in record.values())
            fit = max(1, min(GRADIENT_ROWS, GRADIENT_BYTES // max(per_row, 1)))
            self._rows[key] = 1 << (fit.bit_length() - 1)
        return self._rows[key]

    def known_layer_shapes(self, inputs: list[np.ndarray]) -> dict[str, tuple[tuple[int, ...], ...]] | None:
        """Each layer's output shapes past the batch axis as Keras's symbolic graph fixes them for inputs shaped as
        ``inputs``, without running the model; None where the graph leaves any open or does not know it (a
        subclassed model, a free length or image size, inputs of other shapes than the graph's)."""
        if not self._specs or [tuple(spec[1][1:]) for spec in self._specs] != [a.shape[1:] for a in inputs]:
            return None
        known: dict[str, tuple[tuple[int, ...], ...]] = {}
        for node in self.graph.nodes:
            shapes = [tuple(shape[1:]) for shape in node.output_shapes]
            if not shapes or any(not isinstance(d, int) for shape in shapes for d in shape):
                return None  # a free size (None), or a shape Keras does not know
            known[node.name] = tuple(tuple(int(d) for d in shape if d is not None) for shape in shapes)
        return known

    def gradients(
        self,
        x: Any,
        y: Any = None,
        layers: Sequence[str] | None = None,
        target: int | tuple[int, int] | None = None,
        sample_weight: Any = None,
        loss: Any = None,
        training: bool = False,
    ) -> Gradients:
        """Gradients of the loss (or of one output unit) from one compiled forward and backward pass.

        The loss is ``loss`` when given, else the model's own ``compute_loss`` where its class overrides it, else
        its compiled loss, else crossentropy for a softmax or sigmoid output and mean squared error otherwise,
        plus the model's regularisation losses (:meth:`loss_name` says which). The model runs in inference mode
        (``training=False``) unless ``training``. Without ``y``, a classifier's own predicted classes serve as
        labels. With ``sample_weight`` each output's loss is weighted as ``fit`` weighs it (the weighted sum over
        the number of per-sample, or per-position, losses).

        Parameters
        ----------
        x : array-like, list or dict
            Samples, batch first.
        y : array-like, optional
            Labels: class indices, one-hot rows or regression targets; a list for several outputs.
        layers : sequence of str, optional
            Layer names to return (all by default).
        target : int or (output index, unit), optional
            Differentiate the sum over the batch of this output unit instead of the loss.
        sample_weight : array-like, optional
            One weight per sample (n,), or per position (n, positions) for a sequence output: what a KerasHub
            preprocessor yields as its third element (the padding mask, so padding tokens carry no loss).
        loss : callable, optional
            ``loss(y_true, y_pred)``: per-sample losses or their mean, for a model that trains on a loss of its
            own (a custom ``train_step``); with several outputs it gets the lists of labels and outputs.
        training : bool
            Run the model as ``fit`` does (BatchNorm on batch statistics, dropout on): what the findings judge
            gradient health by. The updates such a call makes (moving statistics, seeds) are discarded.

        Returns
        -------
        Gradients
        """
        inputs = as_inputs(self._specs, x)
        wanted = self._check_layers(layers)
        n_out = len(self.output_layers)
        if target is not None:
            out_index, unit = _check_target(target, self.output_shapes(inputs))
            grads = self._call(("target", out_index, bool(training)), inputs, np.int32(unit))
        else:
            source = self.loss_source(loss)
            if source == "unknown":
                raise UnknownLoss(self.loss_name(loss))
            structure, targets = None, None
            if self.takes_own_targets(y, source):
                structure, own = self.own_targets(y, len(inputs[0]))
                targets = list(own)
            else:
                targets = as_targets(y, len(inputs[0]), n_out)
            if targets is None and not self.is_classifier and source not in ("given", "added"):
                raise ValueError(
                    "y: expected labels to take the loss of a regression output, got None; pass y or target"
                )
            weighting = [] if sample_weight is None else [sample_weights(sample_weight, len(inputs[0]))]
            args = inputs + (targets or []) + weighting
            # The compiled loss is read when the function is traced: a model compiled again traces a new one.
            compiled = loss_config(self.model) if loss is None else ""
            kind = (
                "loss",
                targets is None,
                len(inputs),
                bool(weighting),
                bool(training),
                self._loss_key(loss),
                compiled,
                structure,
            )
            grads = self._call(kind, args)
        (
            (weight_grads, weight_none, squares),
            (output_grads, output_none),
            (input_grads, input_none),
            objective,
            record,
        ) = grads
        variables = self._variables()
        by_id = {
            id(v): (_frozen(g), bool(none), float(sq))
            for v, g, none, sq in zip(variables, weight_grads, weight_none, np.asarray(squares).tolist())
        }
        weights, undefined, weight_squares = {}, set(), {}
        for name, layer_weights in self.weights_of.items():
            if name in wanted:
                weights[name] = [by_id[id(v)][0] for v in layer_weights]
                weight_squares[name] = [by_id[id(v)][2] for v in layer_weights]
                undefined |= {f"{name}#{i}" for i, v in enumerate(layer_weights) if by_id[id(v)][1]}
        outputs = {k: _frozen(g) for k, g in output_grads.items() if asked(k, wanted)}
        undefined |= {k for k, none in zip(output_grads, output_none) if none and asked(k, wanted)}
        undefined |= {f"input#{i}" for i, none in enumerate(input_none) if none}
        activations = {k: _frozen(t) for k, t in record.items() if asked(k, wanted)}
        saliency = [_frozen(g) for g in input_grads]
        return Gradients(
            weights=MappingProxyType(weights),
            outputs=MappingProxyType(outputs),
            inputs=saliency[0] if len(saliency) == 1 else saliency,
            objective=float(objective),
            activations=MappingProxyType(activations),
            undefined=frozenset(undefined),
            squares=MappingProxyType(weight_squares),
        )

    def gradient_norms(self, grads: Gradients, layers: Sequence[str] | None = None) -> dict[str, float]:
        """The L2 norm of d objective / d each layer's trainable weights, for every layer that has some.

        The one definition that the gradients tab, the findings and LiveTraining share: a layer's gradient
        norm is taken over what training updates, so BatchNorm's moving statistics (whose gradients are real
        at inference) do not count, and nested models are left to their inner layers.
        """
        norms = {}
        for name in self._check_layers(layers) if layers is not None else self.layers:
            if name in self.holders or name not in grads.weights:
                continue
            squares = grads.squares.get(name)
            if squares is None:  # made elsewhere, without the graph's sums
                trained = [g for v, g in zip(self.weights_of[name], grads.weights[name]) if v.trainable]
                if trained:
                    norms[name] = l2_norm(*trained)
                continue
            trained_squares = [sq for v, sq in zip(self.weights_of[name], squares) if v.trainable]
            if trained_squares:
                norms[name] = math.sqrt(sum(trained_squares))
        return {name: norms[name] for name in self.layers if name in norms}

    def learning_layers(self) -> list[str]:
        """Layers with trainable weights of their own, read now: a layer frozen since the probe was made drops out."""
        return [name for name, layer in self.layers.items() if name not in self.holders and layer.trainable_weights]

    # ----------------------------------------------------------------------------------------- internals
    def _check_layers(self, layers: Sequence[str] | None) -> set[str]:
        if layers is None:
            return set(self.layers)
        if isinstance(layers, str):
            layers = [layers]
        unknown = [name for name in layers if name not in self.layers]
        if unknown:
            raise ValueError(f"layers: expected names from {self.layer_names}, got unknown {unknown}")
        return set(layers)

    @functools.cached_property
    def weights_of(self) -> dict[str, list[Any]]:
        """Each layer's weights, read once: Keras's ``layer.weights`` walks the layer on every read (32 reads a
        call cost the demo CNN's gradients a tenth of its backward pass)."""
        return {name: list(layer.weights) for name, layer in self.layers.items()}

    def _variables(self) -> list[Any]:
        """Every weight of the model once, in a fixed order (a copy of the list, made once from
        :attr:`weights_of`: JAX reads it on every call)."""
        return list(self._unique_variables)

    @functools.cached_property
    def _unique_variables(self) -> tuple[Any, ...]:
        seen: dict[int, Any] = {}
        for weights in self.weights_of.values():
            for v in weights:
                seen.setdefault(id(v), v)
        return tuple(seen.values())

    def note_shapes(self, key: Any, shapes: list[tuple[int, ...]]) -> None:
        """Keep ``shapes`` under ``key``: a pass learns a layer's output shape while it is traced (the unit
        gradient's check of a unit index needs it before the first call)."""
        self._shapes[key] = shapes

    def output_shapes(self, inputs: list[np.ndarray]) -> list[tuple[int, ...]]:
        """Each output's shape (batch of one) for inputs shaped as ``inputs``: from Keras's symbolic graph where it
        knows them (:meth:`known_output_shapes`), else from a forward pass on one row."""
        # Known once per input signature: a target check must not cost a forward pass on every call.
        key = tuple(a.shape[1:] for a in inputs)
        if key not in self._shapes:
            known = self.known_output_shapes(inputs)
            self._shapes[key] = known or [tuple(o.shape) for o in self._outputs([a[:1] for a in inputs])]
        return self._shapes[key]

    def known_output_shapes(self, inputs: list[np.ndarray]) -> list[tuple[int, ...]] | None:
        """Each output's shape (batch of one) for inputs shaped as ``inputs`` as Keras knows it without running the
        model: a functional model's outputs where their shapes past the batch axis are fixed, else what its
        ``compute_output_spec`` infers for these shapes (a language model's (length, vocabulary)); None where
        neither tells (a subclassed model). On a 3,002-layer model this takes milliseconds where a first forward
        pass took 9 s."""
        outputs = _model_outputs(self.model)
        if not outputs:
            return None
        shapes = [tuple(o.shape[1:]) for o in outputs]
        if any(None in shape for shape in shapes):
            try:
                specs = [keras.KerasTensor((1, *a.shape[1:]), dtype=str(a.dtype)) for a in inputs]
                inferred = keras.tree.flatten(self.model.compute_output_spec(self.structured(specs)))
                shapes = [tuple(o.shape[1:]) for o in inferred]
            except Exception:  # noqa: BLE001 - whatever Keras cannot infer, a forward pass tells
                return None
            if len(shapes) != len(outputs) or any(None in shape for shape in shapes):
                return None
        return [(1, *(int(d) for d in shape)) for shape in shapes]

    def _call(self, kind: Any, arrays: list[np.ndarray], *extra: np.ndarray) -> Any:
        """Run the compiled function for ``kind`` on ``arrays``, compiling it once per signature."""
        key = _signature(kind, arrays)
        fn = self._function(kind, arrays)
        n = len(arrays[0])
        rowwise = (kind if isinstance(kind, str) else kind[0]) in _ROWWISE
        if key not in self._xla or not rowwise or n & (n - 1) == 0:
            if key in self._xla:
                self.xla_batches.setdefault(key, set()).add(n)
            return fn(*arrays, *extra)
        # 25 rows run as 16 + 8 + 1: every piece a size compiled once, and no padded row computed for nothing
        # (padding 25 to 32 cost ConvNeXtTiny's SmoothGrad 1.29x the floor).
        results, start = [], 0
        for bit in reversed(range(n.bit_length())):
            if n & (1 << bit):
                piece = [a[start : start + (1 << bit)] for a in arrays]
                results.append(self._call(kind, piece, *extra))
                start += 1 << bit
        return fn.join(results)

    def _function(self, kind: Any, arrays: list[np.ndarray]) -> Compiled:
        """The compiled function for ``kind`` on arrays like ``arrays``, compiled on first use."""
        key = _signature(kind, arrays)
        fn = self._functions.get(key)
        if fn is None:
            with TRACE_LOCK:  # the SHAP tab's worker and the widget may ask for the same new function at once
                fn = self._functions.get(key)
                if fn is None:
                    body, takes_unit = self._body(kind, arrays)
                    # The unit check needs the layer's output shape before the first call: learnt while traced.
                    fn = Compiled(body, arrays, takes_unit, self._variables(), shapes_now=kind[0] == "unit grad")
                    if fn.holds_xla:
                        self._xla.add(key)
                    self._functions[key] = fn
        return fn

    def _body(self, kind: Any, arrays: list[np.ndarray]) -> tuple[Callable[..., Any], bool]:
        """The function ``body(values, *arrays)`` that the compiled function for ``kind`` runs (from
        :mod:`.passes`), and whether it takes one int32 scalar after the arrays (a unit)."""
        if kind == "forward":
            return passes.forward_body(self), False
        if kind == "attention" or kind[0] == "attention":
            return passes.attention_body(self, None if kind == "attention" else kind[1]), False
        if kind[0] == "input grad":
            return passes.input_grad_body(self, kind[1]), False
        if kind[0] == "layer grad":
            return passes.layer_grad_body(self, kind[1], kind[2]), False
        if kind[0] == "embedding grad":
            return passes.embedding_grad_body(self, kind[1], kind[2], len(arrays) - 2), False
        if kind[0] == "target":
            return passes.target_body(self, kind[1], kind[2]), True
        if kind[0] == "unit grad":
            return passes.unit_body(self, kind[1], kind[2], (kind, arrays[0].shape[1:])), True
        structure = self._target_structures.get(kind[7]) if len(kind) > 7 else None
        custom = self._custom_losses.get(kind[5])
        return passes.loss_body(self, kind[2], kind[1], kind[3], kind[4], custom, structure), False

    def record(
        self,
        inputs: Sequence[Any],
        values: Sequence[Any],
        training: bool = False,
        tap: Tap | None = None,
        within: Callable[[list[Any]], Any] | None = None,
    ) -> tuple[list[Any], Ordered, Any]:
        """Call the model once on the weight values ``values`` with every layer's output recorded (this runs
        while a pass is traced), and ``within(outputs)`` inside the same scope (a loss reads the losses that
        the layers added there); returns (outputs, record, what ``within`` returned).

        The call runs in a stateless scope that maps each weight to its value: the pass reads the weights it is
        given, and the state updates of a call in training mode (BatchNorm's moving statistics, dropout seeds)
        land in the scope and are dropped: the model is read, never changed."""
        self.traces += 1
        mapping = list(zip(self._variables(), values))
        # collect_losses: add_loss in a stateless scope is kept only when collected (what model.losses reads).
        scope = keras.StatelessScope(state_mapping=mapping, collect_losses=True)
        with TRACE_LOCK, scope:
            with recording(self.layers, tap) as record:
                outputs = keras.tree.flatten(self.model(self.structured(list(inputs)), training=training))
            # After the recording: a loss that calls another model (a distiller's teacher) adds no activations.
            extra = within(outputs) if within is not None else None
        for name, tensor in zip(self.input_layer_names(), inputs):
            if numeric(tensor):
                record.setdefault(name, tensor)
        rank = {name: i for i, name in enumerate(self.layers)}
        ordered = Ordered(sorted(record.items(), key=lambda item: rank.get(base_key(item[0]), len(rank))))
        return outputs, ordered, extra

    def structured(self, inputs: Sequence[Any]) -> Any:
        """The inputs (one per ``model.inputs``, in that order) in the structure the model was built with: a dict
        keyed by input name for a KerasHub model, a list, a nested structure, or the one tensor."""
        if self._structure is not None:
            return keras.tree.pack_sequence_as(self._structure, list(inputs))
        return list(inputs) if len(inputs) > 1 else inputs[0]

    def input_layer_names(self) -> list[str]:
        graph = symbolic_graph(self.model)
        if graph is None:
            return []
        return [t._keras_history.operation.name for t in graph.inputs]

    def takes_own_targets(self, y: Any, source: str) -> bool:
        """Whether labels ``y`` are targets of the model's own making, which its compute_loss maps to its outputs
        (a detector's {"boxes", "labels"} for outputs {"bbox_regression", "cls_logits"}), rather than one label
        per output; ``source`` is :meth:`loss_source`'s answer."""
        return y is not None and source == "compute_loss" and not fits_outputs(y, output_names_of(self.model))

    def own_target_arrays(self, y: Any, n: int) -> Any:
        """Targets of the model's own (:meth:`takes_own_targets`), checked, as arrays in their own structure."""
        key, leaves = self.own_targets(y, n)
        return keras.tree.pack_sequence_as(self._target_structures[key], leaves)

    def own_targets(self, y: Any, n: int) -> tuple[str, list[np.ndarray]]:
        """Targets in a structure of the model's own (what its compute_loss maps to its outputs, as a detector's
        {"boxes", "labels"}): a key for their structure, and their arrays, checked to hold ``n`` rows each."""
        leaves = [np.asarray(a) for a in keras.tree.flatten(y)]
        for leaf in leaves:
            if leaf.ndim == 0 or leaf.shape[0] != n or leaf.dtype.kind not in "biuf":
                raise ValueError(
                    f"y: expected numeric arrays of {n} rows in each target of the model's own compute_loss, got "
                    f"one of dtype {leaf.dtype} and shape {leaf.shape}"
                )
        structure = keras.tree.map_structure(lambda _: 0, y)
        key = repr(structure)
        self._target_structures.setdefault(key, structure)
        return key, [a.astype(np.float32) if a.dtype.kind == "f" else a for a in leaves]

    def structured_outputs(self, outputs: list[Any]) -> Any:
        """The outputs (flattened as ``keras.tree.flatten`` does) in the structure the model returns them: a
        dict keyed by output name for a detector's, else one tensor or a list."""
        graph = symbolic_graph(self.model)
        structure = getattr(graph, "_outputs_struct", None) if graph is not None else None
        if structure is not None and keras.tree.is_nested(structure):
            return keras.tree.pack_sequence_as(structure, list(outputs))
        return one_or_list(outputs)

    def _loss_key(self, loss: Any) -> int | None:
        """A key for ``loss`` among the traced functions (the callable is kept, so its id stays its own)."""
        if loss is None:
            return None
        if not callable(loss):
            raise TypeError(f"loss: expected a callable loss(y_true, y_pred) or None, got {type(loss).__name__}")
        self._custom_losses.setdefault(id(loss), loss)
        return id(loss)

    def loss_source(self, loss: Any = None) -> str:
        """Where the loss :meth:`gradients` differentiates comes from, as ``fit`` finds it: "given" (``loss``),
        "compute_loss" (the model's own override), "compiled", "added" (compiled without a loss: ``fit`` trains on
        what the layers add with ``add_loss``), "unknown" (its own ``train_step`` and no compiled loss: the loss is
        in code nbviz cannot read, and none is guessed), or "default" (never compiled: crossentropy for a softmax
        or sigmoid output, mean squared error otherwise, said in :meth:`loss_name`)."""
        if loss is not None:
            return "given"
        if own_compute_loss(self.model) is not None:
            return "compute_loss"
        specs = compiled_losses(self.model, len(self.output_layers), self.output_layers)
        if any(spec is not None for spec in specs):
            return "compiled"
        if own_train_step(self.model):
            return "unknown"
        return "added" if getattr(self.model, "compiled", False) else "default"

    def loss_name(self, loss: Any = None) -> str:
        """Which loss :meth:`gradients` differentiates, in words (the gradients tab and LiveTraining show it)."""
        source = self.loss_source(loss)
        model = type(self.model).__name__
        if source == "given":
            return f"loss={getattr(loss, '__name__', type(loss).__name__)}"
        if source == "compute_loss":
            return f"{model}.compute_loss"
        if source == "compiled":
            specs = compiled_losses(self.model, len(self.output_layers), self.output_layers)
            names = [loss_label(spec) for spec in specs if spec is not None]
            return "the compiled loss (" + ", ".join(dict.fromkeys(names)) + ")"
        if source == "unknown":
            return (
                f"no loss is known: {model} trains with its own train_step and compiles no loss "
                "(pass loss= to differentiate the one it trains on)"
            )
        if source == "added":
            return "the losses its layers add (add_loss), as it is compiled without a loss"
        default = [DEFAULT_LOSSES.get(str(activation_of(layer)), MSE)[0] for layer in self.output_layers]
        return ", ".join(dict.fromkeys(default)) + ", as the model is not compiled"


_SHARED: weakref.WeakKeyDictionary[keras.Model, Probe] = weakref.WeakKeyDictionary()
_SHARED_LOCK = threading.Lock()


def shared_probe(model: keras.Model | Any) -> Probe:
    """The one Probe that every call on ``model`` without a ``probe=`` shares, so its functions are traced once.

    It holds the model weakly and is dropped with it: keeping a model's probe must not keep the model alive.
    (A Probe made directly holds its model, as a person who makes one expects.)
    """
    model = resolve_model(model)
    with _SHARED_LOCK:
        probe = _SHARED.get(model)
        if probe is None:
            probe = Probe(model)
            probe._model_ref, probe._model = weakref.ref(model), None
            _SHARED[model] = probe
    return probe


def probe_for(model: keras.Model, probe: Probe | None) -> Probe:
    """``probe`` when it is a Probe of ``model`` (its traced functions are reused); the model's shared Probe when
    None (:func:`shared_probe`)."""
    if probe is None:
        return shared_probe(model)
    if not isinstance(probe, Probe):
        raise TypeError(f"probe: expected a nbviz Probe or None, got {type(probe).__name__}")
    if probe.model is not model:
        name = getattr(model, "name", model)
        raise ValueError(f"probe: expected a Probe of model {name!r}, got one of {probe.model.name!r}")
    return probe


# --------------------------------------------------------------------------------------------- helpers
def _signature(kind: Any, arrays: Sequence[np.ndarray]) -> tuple[Any, ...]:
    """What a compiled function is traced for: its kind, and each argument's shape past the batch and dtype."""
    return (kind, tuple((a.shape[1:], a.dtype.str) for a in arrays))


def _input_grad_signature(x: np.ndarray, out_index: int) -> tuple[Any, ...]:
    """The signature of the input-gradient pass on inputs like ``x`` (its units are one int32 per row)."""
    return _signature(("input grad", out_index), [x, np.zeros(1, np.int32)])


def output_names_of(model: keras.Model) -> list[str]:
    """The names ``fit`` keys a dict of labels by (none for a model without symbolic outputs)."""
    try:
        return [str(name) for name in model.output_names]
    except (AttributeError, ValueError):
        return []


def fits_outputs(y: Any, output_names: Sequence[str]) -> bool:
    """Whether labels ``y`` are one per output as ``fit`` matches them to a compiled loss: a dict keyed by the
    output names, a list or tuple of one per output (several outputs), or one array (one output). Without
    output names (a subclassed model) only a dict can be told apart from labels: anything else is taken as them."""
    if isinstance(y, Mapping):
        return set(map(str, y)) == set(output_names)
    if not output_names:
        return True
    if isinstance(y, (list, tuple)) and len(output_names) > 1:
        return len(y) == len(output_names)
    return len(output_names) == 1


def _input_structure(model: keras.Model) -> Any:
    """The structure of a Functional model's inputs when it is not a plain list (a dict, a nested structure), else
    None. ``model.inputs`` is its flattening, in the order Keras flattens it (dict keys sorted)."""
    graph = symbolic_graph(model)
    structure = getattr(graph, "_inputs_struct", None) if graph is not None else None
    if structure is None or not isinstance(structure, (dict, tuple, list)) or not keras.tree.is_nested(structure):
        return None
    if isinstance(structure, list) and all(not keras.tree.is_nested(s) for s in structure):
        return None  # a plain list: passed as one, as before
    return structure


def _model_outputs(model: keras.Model) -> list[Any]:
    graph = symbolic_graph(model)
    return list(graph.outputs) if graph is not None else []


def _known_output_shape(layer: Any) -> tuple[int | None, ...]:
    """A subclassed model's output shape, read off the layer taken as its output where Keras knows it."""
    try:
        return tuple(keras.tree.flatten(layer.output)[0].shape)
    except (AttributeError, ValueError, IndexError):
        return ()


def _output_layer(tensor: Any) -> Any:
    layer = tensor._keras_history.operation
    # Follow a nested model's output to the layer that produced it, to read its activation.
    while isinstance(layer, keras.Model) and (graph := symbolic_graph(layer)) is not None:
        layer = graph.outputs[0]._keras_history.operation
    return layer


def _class_masks(y: Any, shape: Sequence[Any]) -> bool:
    """Whether ``y`` holds a class per position of an output of ``shape`` (h, w, ..., k) per sample: integer class
    indices (n, h, w, ...) or (n, h, w, ..., 1), or one-hot (n, h, w, ..., k); 0 or 1 for a single unit."""
    try:
        labels = np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    positions, k = tuple(shape[:-1]), shape[-1]
    finite = labels[np.isfinite(labels)]
    if labels.shape[1:] == tuple(shape) and k not in (None, 1):  # one-hot rows per position
        return bool(np.all((finite == 0) | (finite == 1)))
    if labels.shape[1:] not in (positions, (*positions, 1)) or not np.all(finite == np.round(finite)):
        return False
    return bool(np.all((finite == 0) | (finite == 1))) if k == 1 else bool(finite.size == 0 or finite.min() >= 0)


def _output_kind(spec: Any, layer: Any) -> str:
    activation = activation_of(layer)
    if activation in ("softmax", "sigmoid"):
        return activation
    if spec is not None:
        fn = keras.losses.get(spec) if isinstance(spec, str) else spec
        name = str(getattr(fn, "__name__", "") or getattr(fn, "name", ""))
        if bool(getattr(fn, "from_logits", False)) and "crossentropy" in name:
            return "sigmoid logits" if "binary" in name else "softmax logits"
    return "values"


def _check_target(target: Any, output_shapes: list[tuple[int, ...]]) -> tuple[int, int]:
    if is_int(target):
        out_index, unit = 0, int(target)
    elif isinstance(target, tuple) and len(target) == 2 and all(isinstance(t, (int, np.integer)) for t in target):
        out_index, unit = int(target[0]), int(target[1])
    else:
        raise TypeError(f"target: expected an int unit or an (output index, unit) tuple, got {target!r}")
    if not 0 <= out_index < len(output_shapes):
        raise ValueError(f"target: expected an output index in [0, {len(output_shapes)}), got {out_index}")
    units = output_shapes[out_index][-1]
    if not 0 <= unit < units:
        raise ValueError(f"target: expected a unit in [0, {units}) of output {out_index}, got {unit}")
    return out_index, unit
