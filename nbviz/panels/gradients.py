"""Gradients panel: d loss / d the layer's weights and output, input saliency, gradient norms per layer."""

from __future__ import annotations

import ipywidgets as widgets
import numpy as np

from ..compute._arrays import l2_norm
from ..plots import BarsPlot
from .activations import ActivationFigure
from .base import Panel, State
from .weights import TensorView, weight_label


def gradient_norms(weights: dict[str, list[np.ndarray]], layers: list[str]) -> np.ndarray:
    """L2 norm of all weight gradients of each layer, in the order of ``layers``."""
    return np.array([l2_norm(*weights[name]) for name in layers], np.float64)


class GradientsPanel(Panel):
    """Everything the backward pass of the current sample gives, for the current layer and across layers."""

    name = "gradients"
    title = "Gradients"

    def build(self) -> list[widgets.Widget]:
        self.weight_view = TensorView("d loss / d weights", lambda change: self.refresh())
        self.output_view = ActivationFigure("d loss / d output")
        self.saliency_view = ActivationFigure("saliency: d loss / d input")
        leaves = [n for n in self.session.graph.nodes if n.params > 0 and not n.is_model]
        self.norm_layers = [n.name for n in leaves]
        height = f"{max(260, 16 * len(self.norm_layers) + 80)}px"
        self.norms_plot = BarsPlot("log10 |d loss / d weights| per layer", horizontal=True, size=("420px", height))
        self.output_values = np.zeros(0, np.float32)
        self.saliency_values = np.zeros(0, np.float32)
        self.norms = np.zeros(0, np.float64)
        self._sample_shown: int | None = None
        return [
            self.weight_view.widget,
            widgets.HBox([self.output_view.widget, self.saliency_view.widget]),
            self.norms_plot.widget,
        ]

    @property
    def figure(self):  # noqa: ANN201 - bqplot.Figure
        return self.weight_view.heatmap.figure

    def render(self, state: State) -> str:
        session = self.session
        grads = session.gradients(state.sample)
        target = session.gradient_target
        # Three heatmaps share the cell budget of one (half, then an eighth each), so an update stays as small
        # as the other tabs'.
        small = max(16, session.max_cells // 8)
        self.output_values = self.output_view.show(
            grads.outputs[state.layer][0], small, f"d {target} / d {state.layer} output"
        )
        if self._sample_shown != state.sample:  # saliency and norms depend on the sample only: send them once
            saliency = grads.inputs[0] if isinstance(grads.inputs, list) else grads.inputs
            self.saliency_values = self.saliency_view.show(
                saliency[0], small, f"saliency: d {target} / d input", session.feature_names
            )
            self.norms = gradient_norms(dict(grads.weights), self.norm_layers)
            with np.errstate(divide="ignore"):
                logs = np.where(self.norms > 0, np.log10(self.norms), np.nan)
            self.norms_plot.show(logs, labels=np.array(self.norm_layers))
            self._sample_shown = state.sample

        layer = session.probe.layers[state.layer]
        variables = list(layer.weights)
        index = self.weight_view.set_tensors([weight_label(v, f"w{i}") for i, v in enumerate(variables)])
        if not variables:
            self.values = self.output_values
            return f"Layer {state.layer} ({type(layer).__name__}) has no weights; its output gradient is shown."
        label = weight_label(variables[index], "w")
        self.values = self.weight_view.show(
            grads.weights[state.layer][index], f"d {target} / d {label}", max(16, session.max_cells // 2)
        )
        return ""
