"""Keras on torch: arrays of numbers only, any layer name runs, shap's DeepExplainer cannot read Keras's modules.

The passes: torch runs eagerly, so ``Compiled`` calls its body on every call (without autograd's bookkeeping
unless the body differentiates) and hands back numpy arrays; ``gradients`` is ``torch.autograd.grad`` over
leaves made of the arguments, as a tape watches them. Layer recording wraps each call as it runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np
import torch

from .common import (  # noqa: F401 - the backend's contract, as backend/__init__.py reads it
    CHECKS_NAMES,
    DEEP_EXPLAINER,
    STRINGS_IN_MODEL,
    UNREACHED_IS_ZERO,
    Ordered,
    untraceable_name,
)


def call_errors() -> tuple[type[BaseException], ...]:
    """What a model call raises when its inputs do not fit it: torch raises RuntimeError ("mat1 and mat2 shapes
    cannot be multiplied")."""
    return (ValueError, TypeError, RuntimeError)


def _numpy(value: Any) -> Any:
    """Every tensor in ``value`` (tuples, lists and dicts of them, their types kept) as a numpy array."""
    if torch.is_tensor(value):
        return value.detach().cpu().numpy()
    if isinstance(value, dict):
        return type(value)((k, _numpy(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return type(value)(_numpy(v) for v in value)
    return value


class Compiled:
    """A pass on torch: the body runs on every call (nothing is traced), with the weights' current values."""

    holds_xla = False

    def __init__(
        self,
        body: Callable[..., Any],
        arrays: Sequence[np.ndarray],
        takes_unit: bool,
        variables: Sequence[Any],
        shapes_now: bool = False,
    ) -> None:
        self._body = body
        self._variables = list(variables)
        if shapes_now:  # what the body learns while it runs is wanted before the first call: one row of zeros
            rows = [np.zeros((1, *a.shape[1:]), a.dtype) for a in arrays]
            self(*rows, *([np.int32(0)] if takes_unit else []))

    def __call__(self, *arrays: np.ndarray) -> Any:
        with torch.no_grad():  # a pass that differentiates turns autograd on where it needs it (gradients)
            values = [v.value for v in self._variables]
            return _numpy(self._body(values, *[keras.ops.convert_to_tensor(a) for a in arrays]))

    def join(self, results: list[Any]) -> Any:
        """The results of a batch run in pieces, joined along the batch axis (what has a row per sample)."""
        return _joined(results)


def _joined(parts: list[Any]) -> Any:
    first = parts[0]
    if isinstance(first, dict):
        return type(first)((k, _joined([p[k] for p in parts])) for k in first)
    if isinstance(first, (list, tuple)):
        return type(first)(_joined(list(items)) for items in zip(*parts))
    if isinstance(first, np.ndarray) and first.ndim:
        return np.concatenate(parts, axis=0)
    return first


def gradients(
    fn: Callable[[list[Any], Any], tuple[Any, Any]], args: Sequence[Any], tapped: bool = False
) -> tuple[Any, Any, list[Any], dict[str, Any]]:
    """d value / d each of ``args`` and d value / d each tensor ``fn`` taps (the contract of
    ``tensorflow.gradients``): float arguments become leaves that autograd watches; a tapped tensor is watched
    when asked (a detached leaf in its place), else it has a gradient only where a watched tensor leads to it."""
    taps: dict[str, Any] = {}
    with torch.enable_grad():
        leaves = [a.detach().requires_grad_(True) if torch.is_floating_point(a) else a for a in args]

        def tap(key: str, tensor: Any, watch: bool = False) -> Any:
            if watch and not tensor.requires_grad:
                tensor = tensor.detach().requires_grad_(True)
            taps[key] = tensor
            return tensor

        value, aux = fn(leaves, tap if tapped else None)
        watched = [i for i, t in enumerate(leaves) if torch.is_tensor(t) and t.requires_grad]
        keys = [k for k, t in taps.items() if torch.is_tensor(t) and t.requires_grad]
        wrt = [leaves[i] for i in watched] + [taps[k] for k in keys]
        reached = wrt and torch.is_tensor(value) and value.requires_grad
        grads = list(torch.autograd.grad(value, wrt, allow_unused=True)) if reached else [None] * len(wrt)
    arg_grads: list[Any] = [None] * len(leaves)
    for i, g in zip(watched, grads):
        arg_grads[i] = g
    return value, aux, arg_grads, dict(zip(keys, grads[len(watched) :]))


def gather_function(variables: Sequence[Any], picks: Sequence[np.ndarray | None]) -> Callable[[], np.ndarray]:
    """A function returning the values at ``picks`` of each variable (all of it where None), as one float32
    vector, read without autograd."""

    def read_values() -> np.ndarray:
        parts = [np.zeros(0, np.float32)]
        with torch.no_grad():
            for v, pick in zip(variables, picks):
                flat = v.value.detach().reshape(-1)
                parts.append((flat if pick is None else flat[torch.as_tensor(pick)]).cpu().numpy().astype(np.float32))
        return np.concatenate(parts)

    return read_values


def assign_function(variables: Sequence[Any]) -> Callable[[Sequence[np.ndarray | None]], None]:
    """A function giving ``variables`` new values (arrays in their order; None leaves a variable as it is)."""

    def assign_values(arrays: Sequence[np.ndarray | None]) -> None:
        if len(arrays) != len(variables):
            raise ValueError(f"arrays: expected {len(variables)} arrays, one per variable, got {len(arrays)}")
        with torch.no_grad():
            for v, array in zip(variables, arrays):
                if array is not None:
                    v.assign(array)

    return assign_values
