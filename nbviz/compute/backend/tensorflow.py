"""Keras on TensorFlow: string inputs reach the model, tracing refuses some layer names, shap's DeepExplainer
reads its graphs, and variables are read and assigned through TensorFlow's own ops.

TensorFlow is imported on first use (``tf`` below): importing nbviz costs no TensorFlow import of its own.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

STRINGS_IN_MODEL = True
CHECKS_NAMES = True
DEEP_EXPLAINER = True

#: Variables a fingerprint reads in one compiled call; more are read one by one (see gather_function).
COMPILED_GATHER_LIMIT = 1024


class _TensorFlow:
    """``tensorflow``, imported on first use."""

    def __getattr__(self, name: str) -> Any:
        return getattr(importlib.import_module("tensorflow"), name)


tf: Any = _TensorFlow()

# TensorFlow's rules for a name scope (tensorflow/python/framework/ops.py, ``Graph.name_scope``): while a function
# is traced, each Keras layer's call opens a scope under its name, the outermost (the model's own) under the
# stricter rule for a root scope. Eager calls check nothing, so such a model builds, loads and predicts, and fails
# only once traced, where the failed scope is left on Keras's name stack: every later trace in the process fails.
_ROOT_SCOPE = re.compile(r"[A-Za-z0-9.][A-Za-z0-9_.\\/>-]*")
_SCOPE = re.compile(r"[A-Za-z0-9_.\\/>-]*")


def untraceable_name(name: str, root: bool) -> str | None:
    """Why TensorFlow cannot trace a layer named ``name`` (the model itself when ``root``), in words; None when
    it can.

    Returns
    -------
    str or None
        E.g. "TensorFlow refuses '<' in a name scope", or None.
    """
    if not name or (_ROOT_SCOPE if root else _SCOPE).fullmatch(name):  # an empty name opens no scope
        return None
    if root and _SCOPE.fullmatch(name):
        return f"TensorFlow refuses {name[0]!r} as the first character of the outermost name scope"
    bad = next(c for c in name if not _SCOPE.fullmatch(c))
    return (
        f"TensorFlow refuses {bad!r} in a name scope (it allows letters, digits and _ . - / \\ >), and opens one "
        "under each layer's name when it traces the model"
    )


def call_errors() -> tuple[type[BaseException], ...]:
    """What a model call raises when its inputs do not fit it: TensorFlow raises InvalidArgumentError for shapes
    it finds wrong at run time."""
    return (ValueError, tf.errors.InvalidArgumentError)


def variable(v: Any) -> Any:
    """The tf.Variable a Keras 3 variable wraps in ``.value`` (the tape and the raw ops want it)."""
    return getattr(v, "value", v)


def dense(gradient: Any) -> Any:
    """An Embedding's gradient comes as IndexedSlices (rows touched only); panels want the full matrix."""
    return tf.convert_to_tensor(gradient) if isinstance(gradient, tf.IndexedSlices) else gradient


def holds_xla(fn: Any) -> bool:
    """Whether a traced function calls a function that XLA must compile (``tf.function(jit_compile=True)``)."""
    library = fn.graph.as_graph_def().library.function
    return any(f.attr["_XlaMustCompile"].b for f in library if "_XlaMustCompile" in f.attr)


def gather_function(variables: Sequence[Any], picks: Sequence[np.ndarray | None]) -> Callable[[], np.ndarray]:
    """One compiled function returning the values at ``picks`` of each variable (all of it where None) as one
    float32 vector."""
    if len(variables) > COMPILED_GATHER_LIMIT:
        # Tracing one op per variable and the first call's graph optimisation took 11 s for a 3,000-layer model's
        # 4,000 variables; reading them one by one with the bare read op takes 0.05 s (12 us each; the variable's
        # own numpy() costs four times that).
        handles = [(variable(v).handle, variable(v).dtype) for v in variables]

        def read() -> np.ndarray:
            parts = [np.zeros(0, np.float32)]
            for (handle, dtype), pick in zip(handles, picks):
                flat = tf.raw_ops.ReadVariableOp(resource=handle, dtype=dtype).numpy().reshape(-1)
                parts.append((flat if pick is None else flat[pick]).astype(np.float32))
            return np.concatenate(parts)

        return read

    def gather() -> Any:
        parts = [tf.zeros([0])]
        for v, pick in zip(variables, picks):
            flat = tf.reshape(tf.cast(variable(v), tf.float32), [-1])
            parts.append(flat if pick is None else tf.gather(flat, pick))
        return tf.concat(parts, 0)

    function = tf.function(gather, autograph=False).get_concrete_function()
    return lambda: function().numpy()


def assign_function(variables: Sequence[Any]) -> Callable[[Sequence[np.ndarray | None]], None]:
    """A function giving ``variables`` new values (arrays in their order and dtypes; None leaves a variable as it
    is). Keras's ``set_weights`` costs 0.4 ms a variable (its checks and conversions: 130 ms for ResNet50's 320);
    the bare assign op on each variable's handle costs the copy."""
    handles = [variable(v).handle for v in variables]

    def assign(arrays: Sequence[np.ndarray | None]) -> None:
        if len(arrays) != len(handles):
            raise ValueError(f"arrays: expected {len(handles)} arrays, one per variable, got {len(arrays)}")
        for handle, array in zip(handles, arrays):
            if array is not None:
                tf.raw_ops.AssignVariableOp(resource=handle, value=array)

    return assign


# ------------------------------------------------------------------------------------------ the passes' seam
#: JAX gives zeros where no gradient reaches a tensor; the tape gives None (what ``gradients`` passes on).
UNREACHED_IS_ZERO = False


class Compiled:
    """A pass traced once per input signature with the batch axis left free: ``body(values, *arrays)`` as one
    ``tf.function`` concrete function, whose ``values`` are the weights' values read inside the function (so that
    every call sees the weights as they are then).

    Parameters
    ----------
    body : callable
        ``body(values, *arrays, [unit])``: ``values`` in ``variables`` order.
    arrays : list of np.ndarray
        Arrays shaped and typed as the function's inputs will be (the batch size is not kept).
    takes_unit : bool
        Whether the function takes one int32 scalar after the arrays.
    variables : sequence of keras.Variable
        The weights, read in the function.
    shapes_now : bool
        Ignored: the function is traced here, so what the body learns while traced is known before its first call.
    """

    def __init__(
        self,
        body: Callable[..., Any],
        arrays: Sequence[np.ndarray],
        takes_unit: bool,
        variables: Sequence[Any],
        shapes_now: bool = False,
    ) -> None:
        specs = [tf.TensorSpec((None, *a.shape[1:]), tf.as_dtype(a.dtype)) for a in arrays]
        if takes_unit:
            specs.append(tf.TensorSpec((), tf.int32))

        def run(*args: Any) -> Any:
            # One read per weight, mapped by the probe's stateless scope: what the tape watches in its place.
            return body([tf.convert_to_tensor(variable(v)) for v in variables], *args)

        # No autograph: Keras 3 runs its own train step without it too (so any model that fits works here), and
        # converting our wrappers and the loss code took most of the tracing time.
        self._fn = tf.function(run, autograph=False).get_concrete_function(*specs)
        #: Whether the function calls one that XLA compiles again for every new batch size.
        self.holds_xla = holds_xla(self._fn)

    def __call__(self, *arrays: np.ndarray) -> Any:
        # The concrete function is called directly with tensors: that skips tf.function's argument dispatch,
        # which on a small model costs as much as a fifth of the forward pass itself.
        return self._fn(*[tf.constant(a) for a in arrays])

    def join(self, results: list[Any]) -> Any:
        """The results of a batch run in pieces, joined along the batch axis."""
        # Only what has a row per sample is joined (a layer may output a table of its own, without a batch axis).
        batched = tf.nest.map_structure(
            lambda t: bool(t.shape.rank) and t.shape[0] is None, self._fn.structured_outputs
        )
        return tf.nest.map_structure(
            lambda rows, *parts: tf.concat(parts, axis=0) if rows else parts[0], batched, *results
        )


def gradients(
    fn: Callable[[list[Any], Any], tuple[Any, Any]], args: Sequence[Any], tapped: bool = False
) -> tuple[Any, Any, list[Any], dict[str, Any]]:
    """d value / d each of ``args`` and d value / d each tensor ``fn`` taps, where ``value, aux = fn(args, tap)``.

    ``tap(key, tensor, watch=False)`` returns the tensor to use in its place; its gradient is returned under
    ``key``. A tensor is watched only when asked (a scaled embedding that no watched tensor leads to); an
    unwatched one has a gradient only where a watched tensor leads to it, as the tape has it. Gradients that
    nothing reaches are None; an Embedding's (IndexedSlices) is made dense.
    """
    taps: dict[str, Any] = {}
    args = list(args)
    with tf.GradientTape() as tape:
        tape.watch(args)

        def tap(key: str, tensor: Any, watch: bool = False) -> Any:
            if watch:
                tape.watch(tensor)
            taps[key] = tensor
            return tensor

        value, aux = fn(args, tap if tapped else None)
    keys = list(taps)
    grads = tape.gradient(value, [args, [taps[k] for k in keys]], unconnected_gradients=tf.UnconnectedGradients.NONE)
    arg_grads = [None if g is None else dense(g) for g in grads[0]]
    tap_grads = {k: None if g is None else dense(g) for k, g in zip(keys, grads[1])}
    return value, aux, arg_grads, tap_grads
