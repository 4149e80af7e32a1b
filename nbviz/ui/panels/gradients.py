"""Gradients panel: d loss / d the layer's weights and output, input saliency, gradient norms per layer."""

from __future__ import annotations

import bqplot as bq
import ipywidgets as widgets
import numpy as np

from ...compute.analysis.answers import Unavailable
from ..markup import escape
from ..plots.figures import MUTED, BarsPlot, Plot, row
from .activations import ActivationFigure, sequence_tokens
from .base import Panel, State
from .weights import TensorView

NOT_DIFFERENTIABLE = "not differentiable here: no gradient reaches it"


class GradientsPanel(Panel):
    """Everything the backward pass of the current sample gives, for the current layer and across layers."""

    name = "gradients"
    title = "Gradients"

    def build(self) -> list[widgets.Widget]:
        self.weight_view = TensorView("d loss / d weights", lambda change: self.refresh())
        self.output_view = ActivationFigure("d loss / d output")
        self.saliency_view = ActivationFigure("saliency: d loss / d input")
        self.norm_layers = self.analysis.learning_layers
        height = f"{max(260, 16 * len(self.norm_layers) + 80)}px"
        self.norms_plot = BarsPlot(
            "gradient norm per layer",
            horizontal=True,
            size=("420px", height),
            value_label="|d loss / d weights| (log scale)",
        )
        self.output_values = np.zeros(0, np.float32)
        self.saliency_values = np.zeros(0, np.float32)
        self.norms = np.zeros(0, np.float64)
        self._sample_shown: tuple[int, str] | None = None
        self.info = widgets.HTML()
        self.loss_line = ""
        return [
            self.info,
            self.weight_view.widget,
            row(self.output_view.widget, self.saliency_view.widget),
            self.norms_plot.widget,
        ]

    @property
    def figure(self) -> bq.Figure:
        return self.weight_view.heatmap.figure

    @property
    def plots(self) -> list[Plot]:
        return [*self.weight_view.plots, *self.output_view.plots, *self.saliency_view.plots, self.norms_plot]

    def _clear(self) -> None:
        super()._clear()
        self._sample_shown = None

    def render(self, state: State) -> str:
        analysis = self.analysis
        # The saliency and the norms depend on the sample (and the weights) only: sent once per sample.
        if self._sample_shown != (state.sample, self.version):
            across = analysis.sample_gradients(state.sample)
            if across.saliency is None:
                self.saliency_view.clear(f"saliency: {NOT_DIFFERENTIABLE} (integer inputs)")
                self.saliency_values = np.zeros(0, np.float32)
            else:
                title = f"saliency: d {across.target} / d input"
                self.saliency_values = self.saliency_view.show(across.saliency, title, across.saliency_labels)
            self.norms = across.norms
            # log10 values, drawn from the decade below the smallest: the longest bar is the largest gradient.
            self.norms_plot.show(across.log_norms, labels=np.array(across.layers), decades=True)
            self._sample_shown = (state.sample, self.version)
            self.loss_line = f"<span style='color:{MUTED}'>Differentiated: {escape(across.loss)}.</span>"

        answer = analysis.layer_gradients(state.layer, state.sample, self.weight_view.index)
        if isinstance(answer, Unavailable):
            return answer.reason
        if answer.output is None:
            self.output_view.clear(f"d {answer.target} / d {state.layer} output: {NOT_DIFFERENTIABLE}")
            self.output_values = np.zeros(0, np.float32)
        else:
            title = f"d {answer.target} / d {state.layer} output"
            tokens = sequence_tokens(self.analysis, state, answer.output)  # a sequence's rows named by token
            self.output_values = self.output_view.show(answer.output, title, tokens=tokens)
        self.weight_view.set_tensors(answer.names)
        no_weights = (
            "" if answer.names else f"<br>Layer {escape(state.layer)} has no weights; its output gradient is shown."
        )
        self.info.value = self.loss_line + no_weights
        if not answer.names:
            self.values = self.output_values
        elif answer.weight is None:
            self.weight_view.heatmap.clear(f"d {answer.target} / d this weight: {NOT_DIFFERENTIABLE}")
            self.weight_view.histogram.clear()
            self.values = np.zeros(0, np.float32)
        else:
            self.weight_view.show(answer.weight)
            self.values = answer.weight.image.image
        return ""
