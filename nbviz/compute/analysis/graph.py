"""Per-layer metrics to paint on the layer graph: parameters, output size, gradient norms, dead units, NaN and
Inf, LiveTraining's update ratios, and findings, each with the reduction a group of layers shows."""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

from .answers import Unavailable
from .datasets import DatasetQuestions


@dataclass(frozen=True)
class Metric:
    """How a metric reads: its legend, a group's reduction of its layers ("sum" or "max"), whether its colours
    follow log10, and what it is computed from ("model", "sample", "data" or "training")."""

    label: str
    reduction: str
    log: bool
    source: str


#: The metrics the graph can be coloured by ("kind", the layer's class family, is the graph's own).
METRICS: dict[str, Metric] = {
    "params": Metric("parameters", "sum", True, "model"),
    "output_size": Metric("output values per sample", "max", True, "model"),
    "grad_norm": Metric("|d loss / d weights|, this sample", "max", True, "sample"),
    "nonfinite": Metric("NaN or Inf values (weights, this sample's outputs)", "sum", False, "sample"),
    "dead_share": Metric("share of dead ReLU units", "max", False, "data"),
    "findings": Metric("findings", "sum", False, "data"),
    "update_ratio": Metric("update ratio |dw| / |w| (LiveTraining)", "max", True, "training"),
    "train_grad_norm": Metric("gradient norm (LiveTraining)", "max", True, "training"),
}


@dataclass(frozen=True, eq=False)
class LayerMetric:
    """One metric's value for each layer it applies to (layers without one are absent)."""

    metric: str
    label: str
    reduction: str
    log: bool
    values: MappingProxyType[str, float]


class GraphQuestions(DatasetQuestions):
    """Per-layer values for the layer graph's overlays."""

    def layer_metric(self, metric: str, sample: int = 0, recorder: Any = None) -> LayerMetric | Unavailable:
        """``metric``'s value per layer (a name from :data:`METRICS`): for the current sample where it says
        so, from ``recorder`` (a LiveTraining's :class:`~nbviz.compute.methods.training.TrainingRecorder`, its latest
        record) for the training ones. Layers that hold layers (nested models, blocks) have no value of their
        own: their inner layers have, and a group shows their reduction."""
        if metric not in METRICS:
            raise ValueError(f"metric: expected one of {['kind', *METRICS]}, got {metric!r}")
        spec = METRICS[metric]
        if spec.source == "training":
            if recorder is None:
                return Unavailable("no LiveTraining: pass explore(..., training=live) and fit with it")
            values = recorder.latest("grad_norm" if metric == "train_grad_norm" else metric)
            if not values:
                return Unavailable("LiveTraining has recorded no layer statistics yet")
        else:
            key = (
                ("layer metric", metric, self.data.check_sample(sample))
                if spec.source == "sample"
                else ("layer metric", metric)
            )
            values = self._ask(key, lambda: self._metric_values(metric, sample))
        return LayerMetric(metric, spec.label, spec.reduction, spec.log, MappingProxyType(dict(values)))

    def _metric_values(self, metric: str, sample: int) -> dict[str, float]:
        nodes = [n for n in self.graph.nodes if not n.is_model and not n.is_block]
        if metric == "params":
            return {n.name: float(n.params) for n in nodes}
        if metric == "output_size":
            return {
                n.name: float(np.prod([d or 1 for d in n.output_shapes[0][1:]]))
                for n in nodes
                if n.output_shapes and all(d is not None for d in n.output_shapes[0][1:])
            }
        if metric == "grad_norm":
            return self.probe.gradient_norms(self.gradients(sample))
        if metric == "nonfinite":
            acts = self.activations(sample)
            bad_counts: dict[str, float] = {}
            for n in nodes:
                weights = self.probe.weights_of[n.name]
                bad = sum(int(np.size(w)) - int(np.isfinite(np.asarray(w)).sum()) for w in weights)
                out = acts.get(n.name)
                if out is not None and np.issubdtype(out.dtype, np.floating):
                    bad += int(out.size - np.isfinite(out).sum())
                bad_counts[n.name] = float(bad)
            return bad_counts
        if metric == "dead_share":
            relu = {n.name for n in nodes if n.activation == "relu"}
            return {name: float(d.share) for name, d in self.dead_units().items() if name in relu}
        counts: dict[str, float] = {}  # findings
        for finding in self.findings():
            if finding.layer is not None:
                counts[finding.layer] = counts.get(finding.layer, 0.0) + 1.0
        return counts
