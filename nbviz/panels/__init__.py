"""Explorer panels: one module, one class each."""

from .activations import ActivationsPanel
from .base import Panel, State
from .gradients import GradientsPanel
from .weights import WeightsPanel

PANELS: tuple[type[Panel], ...] = (WeightsPanel, ActivationsPanel, GradientsPanel)

__all__ = ["PANELS", "ActivationsPanel", "GradientsPanel", "Panel", "State", "WeightsPanel"]
