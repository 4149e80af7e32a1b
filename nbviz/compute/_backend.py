"""The Keras backend in use, and TensorFlow imported only where it runs the model.

nbviz reads models through a Probe made for the backend (``probe.py`` on TensorFlow, ``probe_jax.py`` on JAX).
The TensorFlow code is written against ``tf``, which imports TensorFlow on first use: with ``KERAS_BACKEND=jax``
that code never runs, and no ``tensorflow`` module is imported (a JAX user may not have it installed at all).
"""

from __future__ import annotations

import importlib
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


def call_errors() -> tuple[type[BaseException], ...]:
    """What a model call raises when its inputs do not fit it: TensorFlow raises InvalidArgumentError for shapes
    it finds wrong at run time, JAX a TypeError (from lax, "dot_general requires contracting dimensions...")."""
    if backend() == "tensorflow":
        return (ValueError, tf.errors.InvalidArgumentError)
    return (ValueError, TypeError)
