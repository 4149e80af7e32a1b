"""Explorer panels: one module, one class each."""

from .activations import ActivationsPanel
from .attention import AttentionPanel
from .base import Panel, State
from .diagnostics import DiagnosticsPanel
from .findings import FindingsPanel
from .gradients import GradientsPanel
from .projector import ProjectorPanel
from .rules import RulesPanel
from .saliency import SaliencyPanel
from .shap import ShapPanel
from .units import UnitsPanel
from .weights import WeightsPanel

PANELS: tuple[type[Panel], ...] = (
    WeightsPanel,
    ActivationsPanel,
    AttentionPanel,
    GradientsPanel,
    ShapPanel,
    SaliencyPanel,
    RulesPanel,
    DiagnosticsPanel,
    ProjectorPanel,
    UnitsPanel,
    FindingsPanel,
)

__all__ = [
    "PANELS",
    "ActivationsPanel",
    "AttentionPanel",
    "DiagnosticsPanel",
    "FindingsPanel",
    "GradientsPanel",
    "Panel",
    "ProjectorPanel",
    "RulesPanel",
    "SaliencyPanel",
    "ShapPanel",
    "State",
    "UnitsPanel",
    "WeightsPanel",
]
