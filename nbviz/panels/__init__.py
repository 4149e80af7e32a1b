"""Explorer panels: one module, one class each."""

from .activations import ActivationsPanel
from .base import Panel, State
from .gradients import GradientsPanel
from .shap import ShapPanel
from .weights import WeightsPanel

PANELS: tuple[type[Panel], ...] = (WeightsPanel, ActivationsPanel, GradientsPanel, ShapPanel)

__all__ = ["PANELS", "ActivationsPanel", "GradientsPanel", "Panel", "ShapPanel", "State", "WeightsPanel"]
