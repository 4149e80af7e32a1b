"""Every layer's output recorded while a pass is traced, written once for every backend: each layer's ``call`` is
wrapped for the pass (and unwrapped after), its outputs (and, where asked, its inputs) land in one dict keyed by
layer name, attention layers give their weights, and a layer's first output can be scaled and watched (integrated
gradients over an embedding).
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import keras
import numpy as np

from .graph import symbolic_graph

#: Held while a pass is traced with the layers' calls wrapped for recording: a call or a trace in another thread
#: (the SHAP tab's worker beside the widget) must not interleave with it.
TRACE_LOCK = threading.RLock()

#: ``tap(key, tensor, watch=False)``: the backend's hook for differentiating with respect to a tensor made inside a
#: pass (see ``backend.gradients``); it returns the tensor to use in its place.
Tap = Callable[..., Any]


@contextmanager
def recording(layers: dict[str, keras.layers.Layer], tap: Tap | None = None) -> Iterator[dict[str, Any]]:
    """Wrap each layer's ``call`` so that its outputs land in the yielded dict, and unwrap on exit.

    ``tap`` (from the backend's ``gradients``): each float output is passed through ``tap(key, output)`` where
    it is made, and what it returns goes on, so that the pass can be differentiated with respect to it.

    A layer called k times is recorded as ``name``, ``name@1``, ... A layer that the graph holds under several
    names (weight tying: GPT-2's token embedding, called inside the backbone and then by the task model as its
    output head) has its last calls recorded under its later names too: the outer graph calls it after the
    nested model it also sits in has run.
    """
    record: dict[str, Any] = {}
    calls: dict[str, int] = {}
    patched: list[keras.layers.Layer] = []
    seen: set[int] = set()
    names_of: dict[int, list[str]] = {}
    for name, layer in layers.items():
        names_of.setdefault(id(layer), []).append(name)
    try:
        for name, layer in layers.items():
            if isinstance(layer, keras.layers.InputLayer) or id(layer) in seen or "call" in vars(layer):
                continue
            seen.add(id(layer))
            original = layer.call

            @functools.wraps(original)
            def call(
                *args: Any, _original: Any = original, _name: str = name, _layer: Any = layer, **kwargs: Any
            ) -> Any:
                _record_inputs(record, _layer, _name, args)
                out = _original(*args, **kwargs)
                k = calls.get(_name, 0)
                calls[_name] = k + 1
                key = _name if k == 0 else f"{_name}@{k}"
                if tap is not None:
                    out = _tapped(out, key, tap)
                _store(record, key, out)
                return out

            # An instance attribute shadows the class method; Keras's __setattr__ tracking is bypassed on purpose.
            vars(layer)["call"] = call
            patched.append(layer)
        yield record
        for first, *later in (names for names in names_of.values() if len(names) > 1):
            count = calls.get(first, 0)
            for j, alias in enumerate(later):
                k = count - len(later) + j
                if k >= 1:
                    key = f"{first}@{k}"
                    for recorded in [r for r in record if r == key or r.startswith(key + "[")]:
                        record[alias + recorded[len(key) :]] = record[recorded]
    finally:
        for layer in patched:
            del vars(layer)["call"]


@contextmanager
def scaled_first_call(
    layer: keras.layers.Layer, name: str, scales: Any, tap: Tap, batch: int | None = None
) -> Iterator[list[Any]]:
    """Wrap ``layer.call`` so that its FIRST call's output is multiplied by ``scales`` (one factor per row,
    broadcast over the other axes) and passed through ``tap`` (watched, as "scaled"); the yielded list then holds
    (scaled, unscaled). Later calls pass through (a tied embedding called again as the output head). Unwrapped on
    exit. ``batch`` is the batch size where it is known at trace time (JAX's; None where it is not: TensorFlow's
    free batch axis)."""
    held: list[Any] = []
    before = vars(layer).get("call")
    original = layer.call

    @functools.wraps(original)
    def call(*args: Any, **kwargs: Any) -> Any:
        out = original(*args, **kwargs)
        if held:
            return out
        if not keras.ops.is_tensor(out) or not floating(out):
            raise ValueError(f"layer: expected a layer with one float output, got {name!r}, which outputs {out!r}")
        if len(out.shape) < 1 or out.shape[0] != batch:
            raise ValueError(
                f"layer: expected a layer whose output has the batch axis first, got {name!r}, which outputs shape "
                f"{tuple(out.shape)} on its first call (an embedding of positions, not of the input's tokens?)"
            )
        factors = keras.ops.reshape(keras.ops.cast(scales, out.dtype), [-1] + [1] * (len(out.shape) - 1))
        scaled = tap("scaled", out * factors, watch=True)
        mask = getattr(out, "_keras_mask", None)
        if mask is not None:  # set in call by a masking ReversibleEmbedding: the layers after it read it there
            scaled._keras_mask = mask
        held[:] = [scaled, out]
        return scaled

    vars(layer)["call"] = call
    try:
        yield held
    finally:
        if before is None:
            del vars(layer)["call"]
        else:
            vars(layer)["call"] = before


def attention_style(layer: Any) -> str | None:
    """How a layer's attention weights are read: "compute" for a layer with Keras's ``_compute_attention`` that
    returns (output, scores) (MultiHeadAttention and the KerasHub layers built on it: asked for its scores);
    "softmax" for a cached decoder attention of KerasHub's own (Gemma, Gemma 3, Llama, Qwen 3, Mistral, Mixtral,
    Phi-3, GPT-NeoX, ...) whose ``_compute_attention`` returns the output alone and whose probabilities come from
    a ``keras.layers.Softmax`` sub-layer (that sub-layer's output is recorded); "dropout" for an attention layer
    of its own making that passes its weights through a Dropout sub-layer (KerasHub's T5 attention, and most
    hand-written ones: that dropout's input is recorded); None for any other layer.

    A layer with ``_compute_attention`` but neither (KerasHub's GPT-OSS, which calls ``ops.softmax`` bare) keeps
    the "compute" style: it records nothing, and the attention tab names it among the layers it cannot read."""
    if isinstance(layer, keras.layers.MultiHeadAttention):
        return "compute"
    if hasattr(type(layer), "_compute_attention"):
        return "softmax" if _weights_softmax(layer) is not None else "compute"
    dropout = _weights_dropout(layer)
    return "dropout" if dropout is not None else None


def _weights_dropout(layer: Any) -> Any:
    """The Dropout sub-layer an attention layer (by its class name) applies to its weights, if it has one."""
    if "attention" not in type(layer).__name__.lower():
        return None
    for attribute in ("dropout_layer", "_dropout_layer", "attention_dropout", "dropout"):
        candidate = getattr(layer, attribute, None)
        if isinstance(candidate, keras.layers.Dropout):
            return candidate
    return None


def _weights_softmax(layer: Any) -> Any:
    """The Softmax sub-layer that a KerasHub cached attention layer turns its logits into weights with, if any
    (``softmax`` in Gemma, Gemma 3, Mixtral and Phi-3, ``_softmax`` in Llama, Qwen 3, Mistral and GPT-NeoX)."""
    for attribute in ("softmax", "_softmax"):
        candidate = getattr(layer, attribute, None)
        if isinstance(candidate, keras.layers.Softmax):
            return candidate
    return None


def _heads_first(weights: Any) -> Any:
    """Softmax weights as (batch, heads, queries, keys): Gemma's grouped-query attention gives (batch, kv heads,
    groups, queries, keys), whose query head ``kv * groups + g`` is the order of the layer's query heads (it
    splits its queries (..., heads, dim) into (..., kv heads, groups, dim)); None for any other shape."""
    shape = tuple(weights.shape)
    if len(shape) == 4:
        return weights
    if len(shape) == 5 and shape[1] is not None and shape[2] is not None:
        return keras.ops.reshape(weights, (-1, shape[1] * shape[2], *shape[3:]))
    return None


def _unfused(layer: Any, patched: list[Any]) -> None:
    """Make ``layer`` take its unfused path while it is traced: on JAX and torch KerasHub's cached attention
    calls one fused ``ops.dot_product_attention`` that keeps no weights, chosen by the instance's
    ``_use_fused_attention_op`` (Gemma, Mixtral) or by its module's ``fused_attention_op_available`` (Llama,
    Qwen 3, Phi-3, ...). Both are shadowed (the instance attribute, the module name) and ``patched`` notes them
    for the caller to restore; the module name is shared by every layer of the class, so it is shadowed once.
    The modules are those of every class the layer inherits from: an inherited ``_compute_attention`` reads
    the name in the module that defines it (a subclass of Llama's attention runs Llama's)."""
    if hasattr(type(layer), "_use_fused_attention_op") and "_use_fused_attention_op" not in vars(layer):
        vars(layer)["_use_fused_attention_op"] = lambda: False
        patched.append((layer, "_use_fused_attention_op"))
    for module in dict.fromkeys(inspect.getmodule(cls) for cls in type(layer).__mro__):
        if module is None or not callable(getattr(module, "fused_attention_op_available", None)):
            continue
        if not getattr(module.fused_attention_op_available, "_nbviz_unfused", False):

            def unavailable() -> bool:
                return False

            unavailable._nbviz_unfused = True  # type: ignore[attr-defined]
            patched.append((module, "fused_attention_op_available", module.fused_attention_op_available))
            setattr(module, "fused_attention_op_available", unavailable)  # noqa: B010 - a module's name, not ours


@contextmanager
def attention_recording(
    layers: dict[str, keras.layers.Layer], only: Sequence[str] | None = None
) -> Iterator[dict[str, Any]]:
    """Wrap each attention layer (of ``only``, all by default) so that its weights land in the yielded dict (the
    wrappers run at trace time only), and unwrap on exit; the other attention layers keep their fused kernels."""
    scores: dict[str, Any] = {}
    patched: list[Any] = []  # (instance, attribute) to delete, or (module, name, original) to put back

    def keep(name: str, weights: Any) -> None:
        k = sum(1 for key in scores if key == name or key.startswith(name + "@"))
        scores[name if k == 0 else f"{name}@{k}"] = weights

    try:
        for name, layer in layers.items():
            style = attention_style(layer)
            if style is None or (only is not None and name not in only):
                continue
            if style == "dropout":
                dropout = _weights_dropout(layer)
                if "call" in vars(dropout):
                    continue

                def dropped(
                    weights: Any, *args: Any, _original: Any = dropout.call, _name: str = name, **kw: Any
                ) -> Any:
                    if len(getattr(weights, "shape", ())) == 4:  # (batch, heads, queries, keys)
                        keep(_name, weights)
                    return _original(weights, *args, **kw)

                vars(dropout)["call"] = dropped
                patched.append((dropout, "call"))
                continue
            if style == "softmax":
                softmax = _weights_softmax(layer)
                if "call" in vars(softmax):
                    continue

                def softened(*args: Any, _original: Any = softmax.call, _name: str = name, **kw: Any) -> Any:
                    weights = _original(*args, **kw)
                    heads = _heads_first(weights)
                    if heads is not None:
                        keep(_name, heads)
                    return weights

                vars(softmax)["call"] = softened
                patched.append((softmax, "call"))
                _unfused(layer, patched)
                continue
            if "_compute_attention" in vars(layer):
                continue
            original = layer._compute_attention

            def compute(*args: Any, _original: Any = original, _name: str = name, **kwargs: Any) -> Any:
                bound = inspect.signature(_original).bind(*args, **kwargs)
                if "return_attention_scores" in inspect.signature(_original).parameters:
                    bound.arguments["return_attention_scores"] = True  # else a fused kernel keeps no weights
                result = _original(*bound.args, **bound.kwargs)
                # A layer whose _compute_attention returns its output alone (GPT-OSS) keeps no weights to read:
                # unpacking it would iterate over a symbolic tensor.
                if isinstance(result, tuple) and len(result) == 2 and result[1] is not None:
                    keep(_name, result[1])
                return result

            vars(layer)["_compute_attention"] = compute
            patched.append((layer, "_compute_attention"))
        yield scores
    finally:
        for entry in reversed(patched):
            if len(entry) == 3:
                setattr(entry[0], entry[1], entry[2])
            else:
                del vars(entry[0])[entry[1]]


def unit_layer_output(record: dict[str, Any], layer: str) -> Any:
    """``layer``'s (first) output in ``record`` as float32, checked: float, with a batch axis and units."""
    if layer not in record or not floating(record[layer]):
        raise ValueError(f"layer: expected a layer that the model calls with a float output, got {layer!r}")
    out = keras.ops.cast(record[layer], "float32")
    if len(out.shape) < 2:
        raise ValueError(
            f"layer: expected an output with a batch axis and units, (n, ..., units), got {layer!r} with shape "
            f"{tuple(out.shape)}"
        )
    return out


def floating(tensor: Any) -> bool:
    return "float" in keras.backend.standardize_dtype(tensor.dtype)


def itemsize(tensor: Any) -> int:
    return np.dtype(keras.backend.standardize_dtype(tensor.dtype)).itemsize


def _record_inputs(record: dict[str, Any], layer: Any, name: str, args: tuple[Any, ...]) -> None:
    """A nested model's inner input layers output what the nested model is given."""
    graph = symbolic_graph(layer) if isinstance(layer, keras.Model) else None
    if graph is None or not args:
        return
    for tensor, kt in zip(keras.tree.flatten(args[0]), graph.inputs):
        if numeric(tensor):
            record.setdefault(f"{name}/{kt._keras_history.operation.name}", tensor)


def numeric(tensor: Any) -> bool:
    """A tensor with numbers in it: strings (a raw text feature) are model inputs, not activations to show."""
    return keras.ops.is_tensor(tensor) and keras.backend.standardize_dtype(tensor.dtype) != "string"


def _store(record: dict[str, Any], key: str, out: Any) -> None:
    tensors = [t for t in keras.tree.flatten(out) if numeric(t)]
    for i, tensor in enumerate(tensors):
        record[key if i == 0 else f"{key}[{i}]"] = tensor


def _tapped(out: Any, key: str, tap: Tap) -> Any:
    """``out`` with each float tensor passed through ``tap`` (keyed as :func:`_store` keys them)."""
    flat = keras.tree.flatten(out)
    positions = [i for i, t in enumerate(flat) if numeric(t)]
    for j, i in enumerate(positions):
        if floating(flat[i]):
            flat[i] = tap(key if j == 0 else f"{key}[{j}]", flat[i])
    return keras.tree.pack_sequence_as(out, flat) if keras.tree.is_nested(out) else flat[0]


def base_key(key: str) -> str:
    """The layer name behind a record key (``"dense@1"`` and ``"lstm[1]"`` belong to ``"dense"``, ``"lstm"``)."""
    return key.split("@")[0].split("[")[0]


def asked(key: str, wanted: set[str]) -> bool:
    """Whether a record key belongs to a wanted layer: ``"dense"`` owns its later calls' keys too, a shared
    layer's call node ``"dense@1"`` (:attr:`LayerNode.call_of`) its own (``"dense@1"``, ``"dense@1[1]"``)."""
    return base_key(key) in wanted or key.split("[")[0] in wanted
