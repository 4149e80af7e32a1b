"""Faults planted in a model for health checks to find: a NaN or Inf weight, in a copy of a shared model."""

from __future__ import annotations

from typing import Any

import keras


def copy_of(model: keras.Model) -> keras.Model:
    """A separate model with the same architecture and weights, so that a planted fault leaves ``model`` alone."""
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


def plant_weight(variable: Any, index: tuple[int, ...], value: float) -> None:
    """Set one entry of a Keras weight variable (e.g. a layer's ``kernel``) to ``value``."""
    values = variable.numpy()
    values[index] = value
    variable.assign(values)
