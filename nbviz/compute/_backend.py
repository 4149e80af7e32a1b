"""The Keras backend in use, and TensorFlow imported only where it runs the model.

nbviz reads models through a Probe made for the backend (``probe.py`` on TensorFlow, ``probe_jax.py`` on JAX).
The TensorFlow code is written against ``tf``, which imports TensorFlow on first use: with ``KERAS_BACKEND=jax``
that code never runs, and no ``tensorflow`` module is imported (a JAX user may not have it installed at all).
"""

from __future__ import annotations

import importlib
import re
from typing import Any

import keras


def backend() -> str:
    """ "tensorflow", "jax" or "torch": the backend Keras runs on in this process."""
    return str(keras.backend.backend())


class _TensorFlow:
    """``tensorflow``, imported on first use."""

    def __getattr__(self, name: str) -> Any:
        return getattr(importlib.import_module("tensorflow"), name)


tf: Any = _TensorFlow()


# TensorFlow's rules for a name scope (tensorflow/python/framework/ops.py, ``Graph.name_scope``): while a function
# is traced, each Keras layer's call opens a scope under its name, the outermost (the model's own) under the
# stricter rule for a root scope. Eager calls check nothing, so such a model builds, loads and predicts, and fails
# only once traced, where the failed scope is left on Keras's name stack: every later trace in the process fails.
_TF_ROOT_SCOPE = re.compile(r"[A-Za-z0-9.][A-Za-z0-9_.\\/>-]*")
_TF_SCOPE = re.compile(r"[A-Za-z0-9_.\\/>-]*")


def checks_names() -> bool:
    """Whether the backend refuses some layer names when it traces a model (TensorFlow's name scopes)."""
    return backend() == "tensorflow"


def untraceable_name(name: str, root: bool) -> str | None:
    """Why the backend cannot trace a layer named ``name`` (the model itself when ``root``), in words; None when
    it can. Only TensorFlow has such a rule: JAX traces any name.

    Returns
    -------
    str or None
        E.g. "TensorFlow refuses '<' in a name scope", or None.
    """
    if not checks_names():
        return None
    if not name or (_TF_ROOT_SCOPE if root else _TF_SCOPE).fullmatch(name):  # an empty name opens no scope
        return None
    if root and _TF_SCOPE.fullmatch(name):
        return f"TensorFlow refuses {name[0]!r} as the first character of the outermost name scope"
    bad = next(c for c in name if not _TF_SCOPE.fullmatch(c))
    return (
        f"TensorFlow refuses {bad!r} in a name scope (it allows letters, digits and _ . - / \\ >), and opens one "
        "under each layer's name when it traces the model"
    )


def call_errors() -> tuple[type[BaseException], ...]:
    """What a model call raises when its inputs do not fit it: TensorFlow raises InvalidArgumentError for shapes
    it finds wrong at run time, JAX a TypeError (from lax, "dot_general requires contracting dimensions...")."""
    if backend() == "tensorflow":
        return (ValueError, tf.errors.InvalidArgumentError)
    return (ValueError, TypeError)
