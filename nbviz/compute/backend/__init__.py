"""The Keras backend nbviz runs on, chosen once from ``keras.backend.backend()`` as Keras chooses its own
(``keras/src/backend/__init__.py``).

This package is the only place that names tensorflow, jax or torch. What differs between backends is a flag or a
function of the chosen module (``tensorflow.py``, ``jax.py``); code elsewhere reads the flag and never asks which
backend runs. A backend nbviz does not read yet gets ``common``'s defaults and ``SUPPORTED`` False: importing
nbviz works there, and making a Probe says why it cannot.

Flags
-----
STRINGS_IN_MODEL
    A model may take string inputs (TensorFlow's tf.string; JAX arrays hold numbers only).
CHECKS_NAMES
    Tracing refuses some layer names (TensorFlow's name scopes): :func:`untraceable_name` says which.
DEEP_EXPLAINER
    shap's DeepExplainer reads this backend's graphs.
UNREACHED_IS_ZERO
    Where no gradient reaches a tensor, the backend gives zeros (JAX) rather than None (a tape's answer).

The passes
----------
Compiled
    A pass traced once per input signature, ``body(values, *arrays)`` with the weights' values read on each call.
gradients
    d value / d arguments and d value / d tensors tapped inside the pass.
Ordered
    The record type a compiled pass returns its layer outputs in, in the model's order.
"""

from __future__ import annotations

from types import ModuleType

import keras

from . import common

#: "tensorflow", "jax" or "torch": the backend Keras runs on in this process (for messages; decisions read flags).
NAME: str = str(keras.backend.backend())


def _chosen(name: str) -> ModuleType:
    if name == "tensorflow":
        from . import tensorflow

        return tensorflow
    if name == "jax":
        from . import jax

        return jax
    if name == "torch":
        from . import torch

        return torch
    return common


_BACKEND = _chosen(NAME)

SUPPORTED: bool = _BACKEND is not common
STRINGS_IN_MODEL: bool = _BACKEND.STRINGS_IN_MODEL
CHECKS_NAMES: bool = _BACKEND.CHECKS_NAMES
DEEP_EXPLAINER: bool = _BACKEND.DEEP_EXPLAINER
UNREACHED_IS_ZERO: bool = _BACKEND.UNREACHED_IS_ZERO

Compiled = _BACKEND.Compiled
gradients = _BACKEND.gradients
Ordered = common.Ordered

untraceable_name = _BACKEND.untraceable_name
call_errors = _BACKEND.call_errors
gather_function = _BACKEND.gather_function
assign_function = _BACKEND.assign_function


__all__ = [
    "CHECKS_NAMES",
    "DEEP_EXPLAINER",
    "NAME",
    "STRINGS_IN_MODEL",
    "SUPPORTED",
    "UNREACHED_IS_ZERO",
    "Compiled",
    "Ordered",
    "gradients",
    "assign_function",
    "call_errors",
    "gather_function",
    "untraceable_name",
]
