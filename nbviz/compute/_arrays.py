"""Numpy-only helpers of the compute core: read-only result arrays (its dataclasses are frozen, and so are the
arrays inside them), the int check its arguments share, and the L2 norm of gradients and weights."""

from __future__ import annotations

from typing import Any, TypeGuard

import numpy as np


def frozen(arr: Any, dtype: Any = None) -> np.ndarray:
    """A read-only copy of ``arr``; floats become float32 unless ``dtype`` says otherwise."""
    out = np.array(arr, dtype=dtype)
    if dtype is None and np.issubdtype(out.dtype, np.floating):
        out = out.astype(np.float32)
    out.setflags(write=False)
    return out


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
