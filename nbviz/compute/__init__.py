"""Pure computation over Keras 3 models: numpy in, frozen dataclasses of float32 numpy arrays out.

Nothing here imports a widget library, so everything a panel shows can be computed, tested and benchmarked
without a front end.
"""

from .analysis.analysis import Analysis, analyse
from .analysis.questions import Questions
from .data.dataset import CheckedData, check_data
from .data.policy import DisplayPolicy
from .methods.attribution import (
    EXPLAINERS,
    Attribution,
    Explanation,
    ShapExplainer,
    available_explainers,
    default_background,
    shap_values,
)
from .methods.diagnostics import DatasetReport, SliceReport, diagnose, slice_metrics
from .methods.display import ActivationView, DeadUnits, activation_view, dead_units
from .methods.findings import Finding, findings
from .methods.projection import Projection, project
from .methods.rules import Rule, Rules, surrogate_rules
from .methods.saliency import METHODS, integrated_gradients, saliency
from .methods.units import MaximizedInput, TopExamples, maximize_activation, top_examples, unit_activations
from .methods.weights import Histogram, WeightImage, histogram, weight_image
from .model.graph import LayerNode, ModelGraph, model_graph, qualified_layers
from .model.probe import Gradients, Probe, shared_probe
from .model.version import ModelVersion

__all__ = [
    "Analysis",
    "Questions",
    "CheckedData",
    "DisplayPolicy",
    "ModelVersion",
    "analyse",
    "check_data",
    "shared_probe",
    "METHODS",
    "DatasetReport",
    "Finding",
    "Rule",
    "Rules",
    "SliceReport",
    "diagnose",
    "findings",
    "integrated_gradients",
    "saliency",
    "slice_metrics",
    "surrogate_rules",
    "EXPLAINERS",
    "available_explainers",
    "Attribution",
    "Explanation",
    "ShapExplainer",
    "default_background",
    "shap_values",
    "ActivationView",
    "DeadUnits",
    "activation_view",
    "dead_units",
    "Gradients",
    "Histogram",
    "LayerNode",
    "ModelGraph",
    "Probe",
    "WeightImage",
    "histogram",
    "model_graph",
    "qualified_layers",
    "weight_image",
    "Projection",
    "project",
    "MaximizedInput",
    "TopExamples",
    "maximize_activation",
    "top_examples",
    "unit_activations",
]
