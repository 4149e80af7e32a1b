"""nbviz: explore a Keras 3 model's weights, activations and gradients interactively in Jupyter.

The widget parts load on first use, so that ``import nbviz.compute`` stays free of ipywidgets and bqplot.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from . import _quiet

# Before Keras loads TensorFlow: its C++ start-up log lines would be the first output of every notebook.
_quiet.install()

__version__ = "0.1.0"

__all__ = ["CompareView", "Explorer", "LiveTraining", "compare", "explore", "findings", "report"]

_LAZY = {
    "Explorer": "nbviz.ui.explorer",
    "explore": "nbviz.ui.explorer",
    "report": "nbviz.ui.explorer",
    "LiveTraining": "nbviz.ui.live",
    "findings": "nbviz.compute.methods.findings",
    "compare": "nbviz.ui.compare",
    "CompareView": "nbviz.ui.compare",
}

if TYPE_CHECKING:
    from .compute.methods.findings import findings
    from .ui.compare import CompareView, compare
    from .ui.explorer import Explorer, explore, report
    from .ui.live import LiveTraining


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        try:
            module = importlib.import_module(_LAZY[name])
        except ModuleNotFoundError as err:
            if err.name not in ("tensorflow", "jax"):
                raise
            # Keras imports its backend when it is first imported: the one KERAS_BACKEND names is missing.
            raise ImportError(
                f"nbviz reads Keras models, and Keras cannot load its backend ({err}): pip install "
                f"'nbviz[tensorflow]', or 'nbviz[jax]' and set KERAS_BACKEND=jax"
            ) from err
        return getattr(module, name)
    raise AttributeError(f"module 'nbviz' has no attribute {name!r}")
