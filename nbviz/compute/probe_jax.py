"""The Probe on Keras's JAX backend: the same contract as the TensorFlow one (:class:`nbviz.compute.Probe`), with
``jax.jit`` for ``tf.function`` and ``jax.value_and_grad`` for the GradientTape.

Every compiled function takes the model's weights as its first argument (their current values, read on each
call) and runs the model through a ``keras.StatelessScope`` that maps each weight to its value: a function
traced once sees every later weight (after ``fit``, a checkpoint), and a call in training mode changes nothing
(BatchNorm's moving statistics and dropout seeds are written into the scope and dropped). Layer outputs are
recorded by the same wrapped layer calls as on TensorFlow. JAX differentiates a function of its arguments
only, so d objective / d a layer's output is taken through a "tap": a zero tensor added to that output where it
is made, whose gradient is the output's.

What differs from TensorFlow: JAX compiles per batch size, so every row-wise pass runs its batch in pieces of
powers of two (as the TensorFlow probe does for XLA-holding models); where no gradient reaches a weight or an
output JAX gives zeros rather than None, so integer tensors are reported as undefined, and an input is taken
to be unreached when its gradient is zero throughout.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import keras
import numpy as np

from ._arrays import one_or_list
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
from .probe import _TRACE_LOCK, Probe
from .recording import attention_recording, base_key, floating, numeric, recording, scaled_first_call, unit_layer_output


class Ordered(dict):
    """A dict that ``jax.jit`` returns in its own key order: JAX flattens a plain dict by sorted keys, which would
    give a record in name order ("backbone/bn" before "backbone/conv1") where the probe promises the model's."""


jax.tree_util.register_pytree_node(
    Ordered, lambda d: (list(d.values()), tuple(d.keys())), lambda keys, values: Ordered(zip(keys, values))
)


class JaxProbe(Probe):
    """:class:`Probe` on the JAX backend (``Probe(model)`` makes one when Keras runs on JAX)."""

    # --------------------------------------------------------------------------- compiling and calling
    def _trace(self, kind: Any, arrays: list[np.ndarray]) -> Any:
        fn = jax.jit(self._body(kind, arrays)[0])
        if kind[0] == "unit grad":  # the unit check needs the layer's output shape now: trace one row abstractly
            rows = [jax.ShapeDtypeStruct((1, *a.shape[1:]), a.dtype) for a in arrays]
            jax.eval_shape(fn, self._values(), *rows, np.int32(0))
        return fn

    def _holds_xla(self, fn: Any) -> bool:
        return True  # every JAX function is compiled by XLA, once per batch size

    def _invoke(self, fn: Any, arrays: Sequence[np.ndarray], extra: Sequence[np.ndarray]) -> Any:
        return fn(self._values(), *arrays, *extra)

    def _join(self, fn: Any, results: list[Any]) -> Any:
        sizes = [_rows(r) for r in results]

        def join(*parts: Any) -> Any:
            if all(getattr(p, "ndim", 0) and p.shape[0] == n for p, n in zip(parts, sizes)):
                return jnp.concatenate(parts, axis=0)
            return parts[0]

        return jax.tree.map(join, *results)

    def _values(self) -> list[Any]:
        """Every weight's current value, in :meth:`_variables` order (what each compiled function takes first)."""
        return [v.value for v in self._variables()]

    def _run(  # type: ignore[override]
        self,
        inputs: Sequence[Any],
        training: bool = False,
        values: Sequence[Any] | None = None,
        taps: dict[str, Any] | None = None,
        within: Callable[[list[Any]], Any] | None = None,
    ) -> Any:
        """Call the model once on ``values`` with every layer's output recorded (at trace time only), and
        ``within(outputs)`` inside the same scope (a loss reads the regularisation losses there)."""
        self.traces += 1
        values = self._values() if values is None else values
        mapping = list(zip(self._variables(), values))
        # collect_losses: add_loss in a stateless scope is kept only when collected (what model.losses reads).
        scope = keras.StatelessScope(state_mapping=mapping, collect_losses=True)
        with _TRACE_LOCK, recording(self.layers, taps) as record, scope:
            outputs = keras.tree.flatten(self.model(self.structured(list(inputs)), training=training))
            extra = within(outputs) if within is not None else None
        for name, tensor in zip(self._input_layer_names(), inputs):
            if numeric(tensor):
                record.setdefault(name, tensor)
        rank = {name: i for i, name in enumerate(self.layers)}
        ordered = Ordered(sorted(record.items(), key=lambda item: rank.get(base_key(item[0]), len(rank))))
        return (outputs, ordered) if within is None else (outputs, ordered, extra)

    # --------------------------------------------------------------------------------------- the bodies
    def _forward_body(self) -> Callable[..., Any]:
        def forward(values: list[Any], *inputs: Any) -> Any:
            return self._run(inputs, values=values)

        return forward

    def _attention_body(self, only: Sequence[str] | None) -> Callable[..., Any]:
        def attention(values: list[Any], *inputs: Any) -> Any:
            with _TRACE_LOCK, attention_recording(self.layers, only) as scores:
                outputs, record = self._run(inputs, values=values)
            return outputs, Ordered(scores), record

        return attention

    def _input_grad_body(self, out_index: int) -> Callable[..., Any]:
        def input_grads(values: list[Any], x: Any, units: Any) -> Any:
            def picked_sum(x: Any) -> Any:
                outputs, _ = self._run([x], values=values)
                out = _as_rows(outputs[out_index])
                picked = jnp.sum(out * jax.nn.one_hot(units, out.shape[-1])[:, None, :], axis=(1, 2))
                return jnp.sum(picked), picked

            (_, picked), grad = jax.value_and_grad(picked_sum, has_aux=True)(x)
            return grad, picked, jnp.any(grad != 0)

        return input_grads

    def _unit_body(self, layer: str, where: str, shape_key: Any) -> Callable[..., Any]:
        def unit_grads(values: list[Any], x: Any, unit: Any) -> Any:
            def unit_sum(x: Any) -> Any:
                _, record = self._run([x], values=values)
                out = unit_layer_output(record, layer)
                self._shapes[shape_key] = [tuple(out.shape)]  # known at trace time: the unit check
                flat = out.reshape(out.shape[0], -1, out.shape[-1])
                if where == "center":  # the middle position, (h // 2, w // 2) of a map
                    middle = np.ravel_multi_index([d // 2 for d in out.shape[1:-1]], out.shape[1:-1])
                    value = jnp.take(flat[:, int(middle)], unit, axis=-1)
                else:
                    value = jnp.mean(jnp.take(flat, unit, axis=-1), axis=1)
                return jnp.sum(value), value

            (_, value), grad = jax.value_and_grad(unit_sum, has_aux=True)(x)
            return grad, value

        return unit_grads

    def _embedding_grad_body(self, layer: str, out_index: int, n_inputs: int) -> Callable[..., Any]:
        target = self.layers[layer]

        def embedding_grads(values: list[Any], *args: Any) -> Any:
            inputs, (scales, units) = args[:n_inputs], args[n_inputs:]
            batch = inputs[0].shape[0]

            def run(tap: Any) -> Any:
                def watch(scaled: Any) -> Any:
                    return scaled if tap is None else scaled + tap

                with _TRACE_LOCK, scaled_first_call(target, layer, scales, watch, batch) as held:
                    outputs, _ = self._run(inputs, values=values)
                if not held:
                    raise ValueError(
                        f"layer: expected a layer that the model calls, got {layer!r}, which it never calls"
                    )
                flat = outputs[out_index].astype(jnp.float32).reshape(batch, -1)
                picked = jnp.take_along_axis(flat, units[:, None], axis=1)[:, 0]
                return jnp.sum(picked), (picked, held[1])

            shape = jax.eval_shape(lambda: run(None)[1][1])
            tap = jnp.zeros(shape.shape, shape.dtype)
            (_, (picked, plain)), grad = jax.value_and_grad(run, has_aux=True)(tap)
            return grad.astype(jnp.float32), plain.astype(jnp.float32), picked

        return embedding_grads

    def _target_body(self, out_index: int, training: bool) -> Callable[..., Any]:
        def target_grads(values: list[Any], *args: Any) -> Any:
            *inputs, unit = args

            def objective(outputs: list[Any]) -> Any:
                return jnp.sum(jnp.take(outputs[out_index].astype(jnp.float32), unit, axis=-1))

            return self._differentiate(values, inputs, objective, training=training)

        return target_grads

    def _loss_body(
        self, n_inputs: int, derive_labels: bool, weighted: bool, training: bool, custom: Any, structure: Any = None
    ) -> Callable[..., Any]:
        losses = loss_functions(self.model, self._output_layers)
        scales = loss_weights(self.model, len(losses))
        own = own_compute_loss(self.model) if custom is None else None
        added = custom is None and self.loss_source() == "added"

        def loss_grads(values: list[Any], *args: Any) -> Any:
            inputs, labels = args[:n_inputs], list(args[n_inputs:])
            weight = labels.pop() if weighted else None
            targets: list[Any] = []

            def objective(outputs: list[Any]) -> Any:
                outputs = [o.astype(jnp.float32) for o in outputs]
                if custom is not None or own is not None:
                    ys = one_or_list([None] * len(outputs) if derive_labels else labels)
                    if structure is not None:  # targets of the model's own making, for its compute_loss
                        ys = keras.tree.pack_sequence_as(structure, labels)
                    if custom is not None:
                        return mean_loss(custom, ys, one_or_list(outputs), weight).astype(jnp.float32)
                    assert own is not None
                    return jnp.asarray(
                        own(self.structured(list(inputs)), ys, self.structured_outputs(outputs), weight), jnp.float32
                    )
                if added:  # fit's loss: only what the layers added while the model ran (read inside the scope)
                    return added_losses(self.model, list(self.model.losses), sum, jnp.float32)
                kinds = self.output_kinds
                ys = [own_labels(o, k, f) for o, k, f in zip(outputs, kinds, losses)] if derive_labels else labels
                targets[:] = [match_rank(y, o) for y, o in zip(ys, outputs)]
                total = sum(
                    s * mean_loss(loss, y, o, weight) for s, loss, y, o in zip(scales, losses, targets, outputs)
                )
                if self.model.losses:  # read inside the scope: the regularisers of the weights being differentiated
                    total = total + sum(jnp.asarray(r, jnp.float32) for r in self.model.losses)
                return total

            def output_grads(outputs: list[Any]) -> list[Any]:
                if added:
                    return [None] * len(outputs)
                grads = [
                    crossentropy_gradient(loss, y, o.astype(jnp.float32), weight)
                    for loss, y, o in zip(losses, targets, outputs)
                ]
                return [None if g is None else s * g for s, g in zip(scales, grads)]

            return self._differentiate(values, inputs, objective, output_grads, training)

        return loss_grads

    def _differentiate(  # type: ignore[override]
        self,
        values: list[Any],
        inputs: Sequence[Any],
        objective_fn: Callable[[list[Any]], Any],
        output_grads_fn: Callable[[list[Any]], list[Any]] | None = None,
        training: bool = False,
    ) -> Any:
        """d objective / d every weight, layer output (through taps) and input, in the TensorFlow probe's
        structure: ((grads, is_undefined, squares), (output grads by key, is_undefined), (input grads,
        is_undefined), objective, record)."""
        inputs = list(inputs)
        weight_at = [i for i, v in enumerate(values) if floating(v)]
        input_at = [i for i, t in enumerate(inputs) if floating(t)]
        shapes = jax.eval_shape(lambda: self._run(inputs, training, values)[1])
        taps = {k: jnp.zeros(s.shape, s.dtype) for k, s in shapes.items() if "float" in str(s.dtype)}

        def objective(weights: list[Any], taps: dict[str, Any], floats: list[Any]) -> Any:
            vals, ins = list(values), list(inputs)
            for i, w in zip(weight_at, weights):
                vals[i] = w
            for i, t in zip(input_at, floats):
                ins[i] = t
            outputs, record, value = self._run(ins, training, vals, taps, within=objective_fn)
            return value, (outputs, record)

        differentiate = jax.value_and_grad(objective, argnums=(0, 1, 2), has_aux=True)
        (value, (outputs, record)), (weight_grads, tap_grads, input_grads) = differentiate(
            [values[i] for i in weight_at], taps, [inputs[i] for i in input_at]
        )
        weights = [jnp.zeros(jnp.shape(v), jnp.float32) for v in values]
        for i, g in zip(weight_at, weight_grads):
            weights[i] = g.astype(jnp.float32)
        weight_none = [i not in weight_at for i in range(len(values))]
        squares = jnp.stack([jnp.sum(jnp.square(g)) for g in weights] or [jnp.zeros([])])
        outputs_by_key = Ordered((k, tap_grads.get(k, jnp.zeros(jnp.shape(t), jnp.float32))) for k, t in record.items())
        output_none: list[Any] = [k not in tap_grads for k in record]
        if output_grads_fn is not None:
            # The crossentropies' gradients on the probabilities, written out as the TensorFlow probe writes
            # them (-1 / (n p) at the label, without Keras's renormalisation), so both backends show the same.
            keys = {id(t): k for k, t in record.items()}
            for o, g in zip(outputs, output_grads_fn(outputs)):
                key = keys.get(id(o))
                if g is not None and key is not None:
                    outputs_by_key[key] = g
        ins = [jnp.zeros(jnp.shape(t), jnp.float32) for t in inputs]
        for i, g in zip(input_at, input_grads):
            ins[i] = g.astype(jnp.float32)
        # JAX gives zeros where TensorFlow's tape gives None: a float input that no gradient reaches (token ids
        # cast to integers for an Embedding) is told by its gradient being zero throughout, as in reaches_input.
        input_none = [jnp.all(ins[i] == 0) if i in input_at else True for i in range(len(inputs))]
        # An input layer's "output" is the input itself (recorded untapped): its gradient is the input's.
        for name, g, none in zip(self._input_layer_names(), ins, input_none):
            if name in outputs_by_key:
                outputs_by_key[name] = g
                output_none[list(record).index(name)] = none
        return (
            (weights, weight_none, squares),
            (outputs_by_key, output_none),
            (ins, input_none),
            value,
            record,
        )


# ------------------------------------------------------------------------------------------------ helpers
def _rows(result: Any) -> int:
    """The batch size of a piece's results: its first array's first axis."""
    leaves = [leaf for leaf in jax.tree.leaves(result) if getattr(leaf, "ndim", 0)]
    return int(leaves[0].shape[0]) if leaves else 0


def _as_rows(out: Any) -> Any:
    """An output as (n, positions, units), float32 (a vector output is one unit per row)."""
    out = out.astype(jnp.float32)
    return out.reshape(out.shape[0], -1, out.shape[-1] if out.ndim > 1 else 1)
