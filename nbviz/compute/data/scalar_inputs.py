"""Models whose every input is one scalar per sample (``keras.Input(shape=())`` per feature, as in the Keras
structured-data example), read as one table of features: a column per input.

Saliency is written for one float input. Such a model is wrapped once into a model of one (n, k) float table that
splits its columns back into the original inputs, so every saliency method runs on it unchanged, and each input
gets one value: a scalar input is one feature.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np

__all__ = ["is_scalar_table", "table_model", "table_rows"]


def is_scalar_table(x: Sequence[np.ndarray]) -> bool:
    """Whether ``x`` (one array per model input, batch first) is several inputs of one number per sample."""
    return len(x) > 1 and all(a.ndim == 1 and a.dtype.kind in "fiub" for a in x)


def table_rows(x: Sequence[np.ndarray]) -> np.ndarray:
    """The inputs as one float32 table (n, k), column i holding input i."""
    return np.column_stack([np.asarray(a, np.float32) for a in x])


def table_model(model: keras.Model, x: Sequence[np.ndarray]) -> keras.Model:
    """``model`` over one (n, k) float table whose column i feeds input i (the weights are ``model``'s own).

    An integer input (a category id) is rounded and clipped to the ids seen in ``x`` before the cast: the noisy
    or interpolated copies that SmoothGrad and Integrated Gradients make stay valid ids for the embedding or
    one-hot layer that reads them. Its gradient is zero (a cast to an integer has none), which the caller says.
    """
    table = keras.Input((len(x),), name="features")
    columns = []
    for i, a in enumerate(x):
        column = table[:, i]
        if a.dtype.kind in "iub":
            column = keras.ops.clip(keras.ops.round(column), float(a.min()), float(a.max()))
        columns.append(keras.ops.cast(column, a.dtype.name))
    return keras.Model(table, model(columns), name=f"{model.name}_as_table")
