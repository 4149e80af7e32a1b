"""Keras on JAX: arrays of numbers only, any layer name traces, shap's DeepExplainer cannot read its functions;
variables are read and assigned as arrays (``common``'s defaults)."""

from __future__ import annotations

from .common import (  # noqa: F401 - the backend's contract, as backend/__init__.py reads it
    CHECKS_NAMES,
    DEEP_EXPLAINER,
    STRINGS_IN_MODEL,
    assign_function,
    call_errors,
    gather_function,
    untraceable_name,
)
