"""What every backend does alike unless its module says otherwise: the defaults of ``backend/__init__.py``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

STRINGS_IN_MODEL = False
CHECKS_NAMES = False
DEEP_EXPLAINER = False
UNREACHED_IS_ZERO = False


class Ordered(dict):
    """A record of layer outputs in the model's order, whatever a backend's compiler does with dicts (``jax.jit``
    returns a plain dict by sorted keys, which would put "backbone/bn" before "backbone/conv1")."""


class Compiled:
    """A backend without compiled passes (see ``tensorflow.Compiled`` for the contract): a Probe refuses it."""

    holds_xla = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError("nbviz has no compiled passes on this Keras backend")


def gradients(fn: Callable[..., Any], args: Sequence[Any], tapped: bool = False) -> Any:
    """See ``tensorflow.gradients`` for the contract: a backend without it cannot differentiate a pass."""
    raise NotImplementedError("nbviz cannot differentiate a pass on this Keras backend")


def untraceable_name(name: str, root: bool) -> str | None:
    """Why the backend cannot trace a layer named ``name`` (the model itself when ``root``); None: it can."""
    return None


def call_errors() -> tuple[type[BaseException], ...]:
    """What a model call raises when its inputs do not fit it (JAX raises a TypeError from lax, "dot_general
    requires contracting dimensions...")."""
    return (ValueError, TypeError)


def gather_function(variables: Sequence[Any], picks: Sequence[np.ndarray | None]) -> Callable[[], np.ndarray]:
    """A function returning the values at ``picks`` of each variable (all of it where None), as one float32 vector:
    here each variable's value is an array already, read without a copy."""

    def read_values() -> np.ndarray:
        parts = [np.zeros(0, np.float32)]
        for v, pick in zip(variables, picks):
            flat = np.asarray(v.value).reshape(-1)
            parts.append((flat if pick is None else flat[pick]).astype(np.float32))
        return np.concatenate(parts)

    return read_values


def assign_function(variables: Sequence[Any]) -> Callable[[Sequence[np.ndarray | None]], None]:
    """A function giving ``variables`` new values (arrays in their order; None leaves a variable as it is)."""

    def assign_values(arrays: Sequence[np.ndarray | None]) -> None:
        if len(arrays) != len(variables):
            raise ValueError(f"arrays: expected {len(variables)} arrays, one per variable, got {len(arrays)}")
        for v, array in zip(variables, arrays):
            if array is not None:
                v.assign(array)

    return assign_values
