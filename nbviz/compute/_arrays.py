"""Numpy-only helpers of the compute core: read-only result arrays (its dataclasses are frozen, and so are the
arrays inside them), the int check its arguments share, the L2 norm of gradients and weights, and the bytes a
result holds (what the analysis memo is bounded by)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeGuard

import numpy as np


def one_or_list(items: Any) -> Any:
    """One item as it is, several as a list: how Keras takes one model's inputs, labels or outputs."""
    return items[0] if len(items) == 1 else list(items)


def frozen(arr: Any, dtype: Any = None, copy: bool = True) -> np.ndarray:
    """A read-only array of ``arr``; floats become float32 unless ``dtype`` says otherwise.

    ``copy=False`` skips the copy when no conversion is needed (a tensor's own float32 buffer, the common case on
    the probe's hot path); the caller then promises that nobody writes to ``arr``.
    """
    out = np.array(arr, dtype=dtype, copy=True) if copy else np.asarray(arr, dtype=dtype)
    if dtype is None and np.issubdtype(out.dtype, np.floating) and out.dtype != np.float32:
        out = out.astype(np.float32)
    out.setflags(write=False)
    return out


def readonly(arr: np.ndarray) -> np.ndarray:
    """A read-only view: a frozen dataclass cannot be changed through it, while the caller's array stays writable."""
    view = arr.view()
    view.setflags(write=False)
    return view


def is_int(value: Any) -> TypeGuard[int | np.integer]:
    """An int or numpy integer, and not a bool: ``True`` is an int to Python, but surely a mistake as a count."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def l2_norm(*arrays: np.ndarray) -> float:
    """The L2 norm of all values of ``arrays`` together, summed in float64 and without BLAS.

    ``np.linalg.norm`` calls OpenBLAS, whose worker thread then spins for a while: in LiveTraining's records it
    took a core from TensorFlow's training step (fits 40% slower on 2 cores; 0-3% with OPENBLAS_NUM_THREADS=1,
    or this).
    """
    return float(np.sqrt(sum(float(np.sum(np.square(a, dtype=np.float64))) for a in arrays)))


def nbytes(value: Any) -> int:
    """The bytes of the numpy arrays inside ``value`` (arrays, mappings, sequences and dataclasses, nested)."""
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    if isinstance(value, Mapping):
        return sum(nbytes(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(nbytes(v) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return sum(nbytes(getattr(value, f.name)) for f in dataclasses.fields(value))
    return 0
