"""Every pass of the probe, written once in ``keras.ops`` over the backend seam: the forward pass, attention
scores, and the gradients of a target, a unit, the inputs, an embedding's scale and the loss.

Each ``*_body`` function returns the body ``body(values, *arrays)`` that :class:`~nbviz.compute.backend.Compiled`
traces once per input signature. ``values`` are the weights' values, and the model is called through
:meth:`Probe.record <nbviz.compute.model.probe.Probe.record>`, which runs it in a stateless scope mapping each
weight to its value and records every layer's output. Gradients come from the backend's ``gradients``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import keras
import numpy as np

from .._arrays import one_or_list
from ..backend import UNREACHED_IS_ZERO, Ordered, gradients
from .losses import (
    added_losses,
    crossentropy_gradient,
    loss_functions,
    loss_weights,
    match_rank,
    mean_loss,
    own_compute_loss,
    own_labels,
)
from .recording import TRACE_LOCK, Tap, attention_recording, floating, scaled_first_call, unit_layer_output

if TYPE_CHECKING:
    from .probe import Probe

ops = keras.ops


def forward_body(probe: Probe) -> Callable[..., Any]:
    def forward(values: list[Any], *inputs: Any) -> tuple[list[Any], Ordered]:
        outputs, record, _ = probe.record(inputs, values)
        return outputs, record

    return forward


def attention_body(probe: Probe, only: Sequence[str] | None) -> Callable[..., Any]:
    def attention(values: list[Any], *inputs: Any) -> tuple[list[Any], Ordered, Ordered]:
        with TRACE_LOCK, attention_recording(probe.layers, only) as scores:
            outputs, record, _ = probe.record(inputs, values)
        return outputs, Ordered(scores), record

    return attention


def differentiate(
    probe: Probe,
    values: list[Any],
    inputs: Sequence[Any],
    objective_fn: Callable[[list[Any]], Any],
    output_grads_fn: Callable[[list[Any]], list[Any]] | None = None,
    training: bool = False,
) -> Any:
    """d objective / d every weight, layer output and input, as ((grads, is_undefined, squares), (output
    grads by key, is_undefined), (input grads, is_undefined), objective, record), with the squared sum of
    each weight's gradient taken in the pass rather than in numpy (one array to read, not one per weight).

    Weights include the non-trainable ones (BatchNorm's statistics are used at inference); integer tensors
    (token ids, counters) have no gradient and are reported as undefined. ``output_grads_fn`` gives d
    objective / d each model output directly, where differentiation cannot: Keras computes a crossentropy
    from the logits it caches on a softmax or sigmoid output, so that path skips the output tensor.
    """
    inputs = list(inputs)
    weight_at = [i for i, v in enumerate(values) if floating(v)]
    input_at = [i for i, t in enumerate(inputs) if floating(t)]

    def run(args: list[Any], tap: Tap) -> Any:
        vals, ins = list(values), list(inputs)
        for i, w in zip(weight_at, args[: len(weight_at)]):
            vals[i] = w
        for i, t in zip(input_at, args[len(weight_at) :]):
            ins[i] = t
        outputs, record, value = probe.record(ins, vals, training, tap, within=objective_fn)
        return value, (outputs, record, ins)

    sources = [values[i] for i in weight_at] + [inputs[i] for i in input_at]
    value, (outputs, record, ins), grads, tap_grads = gradients(run, sources, tapped=True)
    weight_grads = dict(zip(weight_at, grads[: len(weight_at)]))
    input_grads = dict(zip(input_at, grads[len(weight_at) :]))
    weights = [_filled(weight_grads.get(i), v) for i, v in enumerate(values)]
    weight_none = [weight_grads.get(i) is None for i in range(len(values))]
    squares = ops.stack([ops.sum(ops.square(g)) for g in weights] or [ops.zeros([])])
    by_key = Ordered((k, _filled(tap_grads.get(k), t)) for k, t in record.items())
    output_none: list[Any] = [tap_grads.get(k) is None for k in record]
    if output_grads_fn is not None:
        keys = {id(t): k for k, t in record.items()}
        for o, g in zip(outputs, output_grads_fn(outputs)):
            key = keys.get(id(o))
            if g is not None and key is not None:
                by_key[key] = g
                output_none[list(record).index(key)] = False
    input_values = [_filled(input_grads.get(i), t) for i, t in enumerate(inputs)]
    input_none = [_unreached(input_grads.get(i)) for i in range(len(inputs))]
    # An input layer's "output" is the input itself (recorded untapped): its gradient is the input's.
    for name, g, none in zip(probe.input_layer_names(), input_values, input_none):
        if name in by_key:
            by_key[name] = g
            output_none[list(record).index(name)] = none
    return (weights, weight_none, squares), (by_key, output_none), (input_values, input_none), value, record


def target_body(probe: Probe, out_index: int, training: bool) -> Callable[..., Any]:
    def target_grads(values: list[Any], *args: Any) -> Any:
        *inputs, unit = args

        def objective(outputs: list[Any]) -> Any:
            return ops.sum(ops.take(ops.cast(outputs[out_index], "float32"), unit, axis=-1))

        return differentiate(probe, values, inputs, objective, training=training)

    return target_grads


def unit_body(probe: Probe, layer: str, where: str, shape_key: Any) -> Callable[..., Any]:
    def unit_grads(values: list[Any], x: Any, unit: Any) -> Any:
        def unit_sum(args: list[Any], tap: Tap) -> Any:
            _, record, _ = probe.record(args, values)
            out = unit_layer_output(record, layer)
            probe.note_shapes(shape_key, [tuple(out.shape)])  # known at trace time: the unit check
            flat = ops.reshape(out, (ops.shape(out)[0], -1, _units(out)))
            if where == "center":  # the middle position, (h // 2, w // 2) of a map
                middle = np.ravel_multi_index([d // 2 for d in out.shape[1:-1]], out.shape[1:-1])
                picked = ops.take(flat[:, int(middle)], unit, axis=-1)
            else:
                picked = ops.mean(ops.take(flat, unit, axis=-1), axis=1)
            return ops.sum(picked), picked

        _, picked, (grad,), _ = gradients(unit_sum, [x])
        return _filled(grad, x), picked

    return unit_grads


def input_grad_body(probe: Probe, out_index: int) -> Callable[..., Any]:
    def input_grads(values: list[Any], x: Any, units: Any) -> Any:
        def picked_sum(args: list[Any], tap: Tap) -> Any:
            outputs, _, _ = probe.record(args, values)
            out = ops.cast(outputs[out_index], "float32")
            k = _units(out) if len(out.shape) > 1 else 1
            out = ops.reshape(out, (ops.shape(out)[0], -1, k))
            picked = ops.sum(out * ops.one_hot(units, k)[:, None, :], axis=(1, 2))
            return ops.sum(picked), picked

        _, picked, (grad,), _ = gradients(picked_sum, [x])
        return _filled(grad, x), picked, ops.logical_not(_unreached(grad))

    return input_grads


def layer_grad_body(probe: Probe, layer: str, out_index: int) -> Callable[..., Any]:
    """``layer``'s output and d f_i / d that output for each row i, f_i being unit ``units[i]`` of output
    ``out_index``: what Grad-CAM needs, from one pass that differentiates nothing else (no weight, no input, no
    other layer), whatever mix of classes the rows have."""

    def layer_grads(values: list[Any], x: Any, units: Any) -> Any:
        def picked_sum(_: list[Any], tap: Tap) -> Any:
            def only(key: str, tensor: Any, watch: bool = False) -> Any:
                # Watched: nothing before it is differentiated, so no watched tensor leads to it.
                return tap(key, tensor, True) if key == layer else tensor

            outputs, record, _ = probe.record([x], values, tap=only)
            if layer not in record:
                raise ValueError(f"layer: expected a layer that the model calls, got {layer!r}, which it never calls")
            out = ops.cast(outputs[out_index], "float32")
            k = _units(out) if len(out.shape) > 1 else 1
            out = ops.reshape(out, (ops.shape(out)[0], -1, k))
            picked = ops.sum(out * ops.one_hot(units, k)[:, None, :], axis=(1, 2))
            return ops.sum(picked), record[layer]

        _, acts, _, taps = gradients(picked_sum, [], tapped=True)
        return ops.cast(acts, "float32"), _filled(taps.get(layer), acts)

    return layer_grads


def embedding_grad_body(probe: Probe, layer: str, out_index: int, n_inputs: int) -> Callable[..., Any]:
    target = probe.layers[layer]

    def embedding_grads(values: list[Any], *args: Any) -> Any:
        inputs, (scales, units) = args[:n_inputs], args[n_inputs:]

        def picked_sum(_: list[Any], tap: Tap) -> Any:
            # The scaling wrapper goes on first: recording leaves a layer that has its own "call" alone.
            with TRACE_LOCK, scaled_first_call(target, layer, scales, tap, inputs[0].shape[0]) as held:
                outputs, *_ = probe.record(inputs, values)
            if not held:
                raise ValueError(f"layer: expected a layer that the model calls, got {layer!r}, which it never calls")
            out = ops.cast(outputs[out_index], "float32")
            flat = ops.reshape(out, (ops.shape(out)[0], -1))
            picked = ops.take_along_axis(flat, ops.expand_dims(units, 1), axis=1)[:, 0]
            return ops.sum(picked), (picked, held[1])

        _, (picked, plain), _, taps = gradients(picked_sum, [], tapped=True)
        return _filled(taps.get("scaled"), plain), ops.cast(plain, "float32"), picked

    return embedding_grads


def loss_body(
    probe: Probe, n_inputs: int, derive_labels: bool, weighted: bool, training: bool, custom: Any, structure: Any = None
) -> Callable[..., Any]:
    losses = loss_functions(probe.model, probe.output_layers)
    scales = loss_weights(probe.model, len(losses))
    own = own_compute_loss(probe.model) if custom is None else None
    added = custom is None and probe.loss_source() == "added"

    def loss_grads(values: list[Any], *args: Any) -> Any:
        inputs, labels = args[:n_inputs], list(args[n_inputs:])
        weight = labels.pop() if weighted else None
        targets: list[Any] = []

        # Runs inside the pass's stateless scope: the losses the layers added (add_loss, the regularisers of
        # the weights being differentiated) are read there, and a loss tracker that the model's own
        # compute_loss updates keeps fit's values.
        def objective(outputs: list[Any]) -> Any:
            outputs = [ops.cast(o, "float32") for o in outputs]
            if custom is not None or own is not None:  # no written-out output gradient: differentiation's stands
                ys = one_or_list([None] * len(outputs) if derive_labels else labels)
                if structure is not None:  # targets of the model's own making, for its compute_loss
                    ys = keras.tree.pack_sequence_as(structure, labels)
                if custom is not None:  # a loss that ignores its labels (a VAE's) gets None without y
                    return ops.cast(mean_loss(custom, ys, one_or_list(outputs), weight), "float32")
                assert own is not None
                predicted = probe.structured_outputs(outputs)
                return ops.cast(own(probe.structured(list(inputs)), ys, predicted, weight), "float32")
            if added:  # fit's loss: only what the layers added while the model ran
                return added_losses(probe.model, list(probe.model.losses))
            kinds = probe.output_kinds
            ys = [own_labels(o, k, f) for o, k, f in zip(outputs, kinds, losses)] if derive_labels else labels
            targets[:] = [match_rank(y, o) for y, o in zip(ys, outputs)]
            total = sum(s * mean_loss(loss, y, o, weight) for s, loss, y, o in zip(scales, losses, targets, outputs))
            regularisers = list(probe.model.losses)
            return total + sum(ops.cast(r, "float32") for r in regularisers) if regularisers else total

        def output_grads(outputs: list[Any]) -> list[Any]:
            if added:
                return [None] * len(outputs)
            # The crossentropies differentiated on the probabilities themselves: -1 / (n p) at the label
            # (without Keras's renormalisation). Other losses use no cached logits: differentiation's stands.
            grads = [
                crossentropy_gradient(loss, y, ops.cast(o, "float32"), weight)
                for loss, y, o in zip(losses, targets, outputs)
            ]
            return [None if g is None else s * g for s, g in zip(scales, grads)]

        return differentiate(probe, values, inputs, objective, output_grads, training)

    return loss_grads


def _filled(gradient: Any, like: Any) -> Any:
    """A gradient as float32, or zeros shaped as ``like`` where none reaches it (they are reported undefined)."""
    return ops.zeros_like(like, "float32") if gradient is None else ops.cast(gradient, "float32")


def _units(tensor: Any) -> Any:
    """The last axis's size: known when traced, or the tensor's own (TensorFlow leaves an axis free when its size
    follows the batch: a similarity matrix's (n, n))."""
    size = tensor.shape[-1]
    return ops.shape(tensor)[-1] if size is None else size


def _unreached(gradient: Any) -> Any:
    """Whether no gradient reached a tensor: None from a tape; on a backend that gives zeros instead (JAX), a
    gradient that is zero throughout (token ids cast to integers for an Embedding)."""
    if gradient is None:
        return ops.convert_to_tensor(True)
    return ops.all(ops.equal(gradient, 0)) if UNREACHED_IS_ZERO else ops.convert_to_tensor(False)
