"""Samples from a ``tf.data.Dataset``: batches are read only until enough samples are in hand."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from ._validate import InputSpecs, is_dataset  # noqa: F401 - is_dataset: imported from here by the callers

# Read from a dataset when the caller sets no limit (the Explorer holds its samples in memory): 1000 samples, or
# fewer when they pass this many bytes (1000 ImageNet-sized images would take 600 MB).
DATASET_SAMPLES = 1000
DATASET_BYTES = 256 * 2**20
UNBATCHED_BATCH = 256  # an unbatched dataset is read in batches of at most this size


def take(dataset: Any, specs: InputSpecs | None, max_samples: int | None, name: str = "x") -> tuple[Any, Any, Any]:
    """The first ``max_samples`` samples of ``dataset`` as numpy: ``(x, y, sample_weight)``, ``y`` None when it
    yields no labels and ``sample_weight`` None when it yields no weights (a KerasHub preprocessor yields the
    padding mask there).

    Without ``max_samples``: the first 1000 samples, or the batches up to 256 MB of inputs if that comes first.

    Elements follow Keras's ``fit`` convention: ``x``, ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)``, where
    ``x`` is an array, a tuple or a dict (several inputs). A batched dataset is read batch by batch and left as
    soon as enough samples are in hand, so an infinite (``repeat()``-ed) or huge dataset is fine; an unbatched
    one (elements one rank below the model input) is batched first.
    """
    limit = DATASET_SAMPLES if max_samples is None else max_samples
    x_spec, _, _ = keras.utils.unpack_x_y_sample_weight(dataset.element_spec)
    if unbatched(x_spec, specs):
        dataset = dataset.batch(min(UNBATCHED_BATCH, limit))

    xs: list[Any] = []
    ys: list[Any] = []
    ws: list[Any] = []
    count = size = 0
    for element in dataset:
        x, y, w = keras.utils.unpack_x_y_sample_weight(element)
        xs.append(keras.tree.map_structure(np.asarray, x))
        ys.append(None if y is None else keras.tree.map_structure(np.asarray, y))
        ws.append(None if w is None else keras.tree.map_structure(np.asarray, w))
        count += len(keras.tree.flatten(xs[-1])[0])
        size += sum(a.nbytes for a in keras.tree.flatten(xs[-1]))
        if count >= limit or (max_samples is None and size >= DATASET_BYTES):
            break
    if count == 0:
        raise ValueError(f"{name}: expected a tf.data.Dataset with at least one sample, got an empty one")
    x_all = _concat(xs, limit)
    y_all = None if any(y is None for y in ys) else _decode(_concat(ys, limit))
    w_all = None if y_all is None or any(w is None for w in ws) else _concat(ws, limit)
    return x_all, y_all, w_all


def unbatched(x_spec: Any, specs: InputSpecs | None) -> bool:
    """True when the dataset's elements are single samples: one rank below the model input they feed."""
    if specs is None:  # a subclassed model's input rank is unknown: take the dataset as batched, as fit does
        return False
    if isinstance(x_spec, dict):  # keras.tree orders a dict by key: compare its first entry with that input
        name = sorted(x_spec)[0]
        spec, rank = x_spec[name], next((len(s[1]) for s in specs if s[0] == name), len(specs[0][1]))
    else:
        spec, rank = keras.tree.flatten(x_spec)[0], len(specs[0][1])
    return getattr(spec, "shape", None) is not None and spec.shape.rank == rank - 1


def _concat(parts: list[Any], limit: int) -> Any:
    """Batches (nested structures of arrays) joined along the batch axis and cut to ``limit`` samples."""
    joined = keras.tree.map_structure(lambda *arrays: np.concatenate(arrays)[:limit], *parts)
    # as_inputs and as_targets take several arrays as a list; a dict stays keyed by input name.
    return list(joined) if isinstance(joined, tuple) else joined


def _decode(y: Any) -> Any:
    """String labels come out of TensorFlow as bytes: make them str, as class_names are."""

    def decode(a: np.ndarray) -> np.ndarray:
        if a.dtype == object and a.size and isinstance(a.flat[0], bytes):
            return np.array([v.decode() for v in a.ravel()]).reshape(a.shape)
        return a

    return keras.tree.map_structure(decode, y)
