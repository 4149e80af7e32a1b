"""Keras on JAX: arrays of numbers only, any layer name traces, shap's DeepExplainer cannot read its functions;
variables are read and assigned as arrays (``common``'s defaults).

The passes: ``jax.jit`` compiles, once per batch size, a function that takes the weights' values as its first
argument (JAX captures no state: they are read on every call), and ``jax.value_and_grad`` differentiates.
JAX differentiates a function of its arguments only, so d value / d a tensor made inside the pass is taken
through a "tap": a zero tensor added to it where it is made, whose gradient is the tensor's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .common import (  # noqa: F401 - the backend's contract, as backend/__init__.py reads it
    CHECKS_NAMES,
    DEEP_EXPLAINER,
    STRINGS_IN_MODEL,
    Ordered,
    assign_function,
    call_errors,
    gather_function,
    untraceable_name,
)

#: Where no gradient reaches a weight, an output or an input, JAX gives zeros (the tape gives None).
UNREACHED_IS_ZERO = True

# jax.jit returns a plain dict by sorted keys: an Ordered record keeps the model's order through it.
jax.tree_util.register_pytree_node(
    Ordered, lambda d: (list(d.values()), tuple(d.keys())), lambda keys, values: Ordered(zip(keys, values))
)


class Compiled:
    """A pass compiled by ``jax.jit`` (once per batch size), called with the weights' current values.

    Parameters
    ----------
    body : callable
        ``body(values, *arrays, [unit])``: ``values`` in ``variables`` order.
    arrays : list of np.ndarray
        Arrays shaped and typed as the function's inputs will be.
    takes_unit : bool
        Whether the function takes one int32 scalar after the arrays.
    variables : sequence of keras.Variable
        The weights, read on every call.
    shapes_now : bool
        Trace one row abstractly now (what the body learns while traced is then known before the first call).
    """

    #: Every JAX function is compiled by XLA, once per batch size.
    holds_xla = True

    def __init__(
        self,
        body: Callable[..., Any],
        arrays: Sequence[np.ndarray],
        takes_unit: bool,
        variables: Sequence[Any],
        shapes_now: bool = False,
    ) -> None:
        self._fn = jax.jit(body)
        self._variables = list(variables)
        if shapes_now:
            rows = [jax.ShapeDtypeStruct((1, *a.shape[1:]), a.dtype) for a in arrays]
            extra = [np.int32(0)] if takes_unit else []
            jax.eval_shape(self._fn, self._values(), *rows, *extra)

    def _values(self) -> list[Any]:
        return [v.value for v in self._variables]

    def __call__(self, *arrays: np.ndarray) -> Any:
        return self._fn(self._values(), *arrays)

    def join(self, results: list[Any]) -> Any:
        """The results of a batch run in pieces, joined along the batch axis (what has a row per sample)."""
        sizes = [_rows(r) for r in results]

        def join(*parts: Any) -> Any:
            if all(getattr(p, "ndim", 0) and p.shape[0] == n for p, n in zip(parts, sizes)):
                return jnp.concatenate(parts, axis=0)
            return parts[0]

        return jax.tree.map(join, *results)


def gradients(
    fn: Callable[[list[Any], Any], tuple[Any, Any]], args: Sequence[Any], tapped: bool = False
) -> tuple[Any, Any, list[Any], dict[str, Any]]:
    """d value / d each of ``args`` and d value / d each tensor ``fn`` taps, where ``value, aux = fn(args, tap)``
    (the contract of ``tensorflow.gradients``; here nothing is None: what no gradient reaches gets zeros).

    The taps' shapes are learnt by tracing ``fn`` abstractly once; then each tapped tensor gets its zero tap."""
    args = list(args)
    taps: dict[str, Any] = {}
    if tapped:
        shapes: dict[str, Any] = {}

        def shape_of(key: str, tensor: Any, watch: bool = False) -> Any:
            shapes[key] = jax.ShapeDtypeStruct(tensor.shape, tensor.dtype)
            return tensor

        jax.eval_shape(lambda: fn(args, shape_of)[0])
        taps = {k: jnp.zeros(s.shape, s.dtype) for k, s in shapes.items()}

    def tapped_fn(args: list[Any], taps: dict[str, Any]) -> Any:
        def tap(key: str, tensor: Any, watch: bool = False) -> Any:
            return tensor + taps[key] if key in taps else tensor

        return fn(args, tap if tapped else None)

    (value, aux), (arg_grads, tap_grads) = jax.value_and_grad(tapped_fn, argnums=(0, 1), has_aux=True)(args, taps)
    return value, aux, list(arg_grads), dict(tap_grads)


def _rows(result: Any) -> int:
    """The batch size of a piece's results: its first array's first axis."""
    leaves = [leaf for leaf in jax.tree.leaves(result) if getattr(leaf, "ndim", 0)]
    return int(leaves[0].shape[0]) if leaves else 0
