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
