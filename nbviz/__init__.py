"""nbviz: explore a Keras 3 model's weights, activations and gradients interactively in Jupyter.

The widget parts load on first use, so that ``import nbviz.compute`` stays free of ipywidgets and bqplot.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["CompareView", "Explorer", "LiveTraining", "compare", "explore", "findings", "report"]

_LAZY = {
    "Explorer": "nbviz.explorer",
    "explore": "nbviz.explorer",
    "report": "nbviz.explorer",
    "LiveTraining": "nbviz.training",
    "findings": "nbviz.compute.findings",
    "compare": "nbviz.compare_view",
    "CompareView": "nbviz.compare_view",
}

if TYPE_CHECKING:
    from .compare_view import CompareView, compare
    from .compute.findings import findings
    from .explorer import Explorer, explore, report
    from .training import LiveTraining


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'nbviz' has no attribute {name!r}")
