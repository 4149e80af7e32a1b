"""Read-only result arrays: the compute core's dataclasses are frozen, and so are the arrays inside them."""

from __future__ import annotations

from typing import Any

import numpy as np


def frozen(arr: Any, dtype: Any = None) -> np.ndarray:
    """A read-only copy of ``arr``; floats become float32 unless ``dtype`` says otherwise."""
    out = np.array(arr, dtype=dtype)
    if dtype is None and np.issubdtype(out.dtype, np.floating):
        out = out.astype(np.float32)
    out.setflags(write=False)
    return out
