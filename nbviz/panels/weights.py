"""Weights panel: the current layer's weight tensors as a heatmap and a histogram."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ipywidgets as widgets
import numpy as np

from ..compute import histogram, weight_image
from ..plots import BarsPlot, HeatmapPlot
from .base import Panel, State


def weight_label(variable: object, fallback: str) -> str:
    """A weight's short name ('kernel', 'bias', 'gamma'...), from Keras's variable path."""
    name = str(getattr(variable, "name", "") or fallback)
    return name.split("/")[-1].split(":")[0]


class TensorView:
    """A selector over a layer's weight tensors, a heatmap of the chosen one and a histogram of its values.

    Shared by the weights panel (the weights) and the gradients panel (d loss / d weights).
    """

    def __init__(self, kind: str, on_select: Callable[[Any], None]) -> None:
        self.kind = kind
        self._on_select = on_select
        self.selector = widgets.ToggleButtons(options=[], style={"button_width": "auto"})
        self.selector.observe(on_select, names="value")
        self.heatmap = HeatmapPlot(kind)
        self.histogram = BarsPlot(f"distribution of {kind}", size=("320px", "280px"))
        self.widget = widgets.VBox([self.selector, widgets.HBox([self.heatmap.widget, self.histogram.widget])])

    @property
    def index(self) -> int:
        return int(self.selector.value) if self.selector.value is not None else 0

    def set_tensors(self, labels: list[str]) -> int:
        """Offer these tensors; keep the chosen position when the new layer has it. Returns that position."""
        keep = self.index if self.index < len(labels) else 0
        options = [(label, i) for i, label in enumerate(labels)]
        if self.selector.options != tuple(options):
            # A new layer's tensors are not a person's choice: don't let them trigger a second redraw.
            self.selector.unobserve(self._on_select, names="value")
            self.selector.options = options
            self.selector.value = keep if options else None
            self.selector.observe(self._on_select, names="value")
        self.widget.layout.display = None if labels else "none"
        return keep

    def show(self, tensor: np.ndarray, title: str, max_cells: int) -> np.ndarray:
        """Draw one tensor under ``title``; returns the displayed matrix (after downsampling)."""
        image = weight_image(tensor, max_cells=max_cells)
        shape = " x ".join(str(d) for d in tensor.shape) or "scalar"
        note = f", max |.| per {image.block[0]}x{image.block[1]} block" if image.downsampled else ""
        self.heatmap.show(image.image, image.vmin, image.vmax, title=f"{title} ({shape}{note})")
        hist = histogram(tensor, bins=40)
        centers = (hist.edges[:-1] + hist.edges[1:]) / 2
        self.histogram.show(
            hist.counts.astype(np.float32), labels=centers, color=centers, title=f"distribution of {title}"
        )
        return image.image


class WeightsPanel(Panel):
    """The current layer's weights: kernel tiles or matrix, bias and normalisation vectors, and histograms."""

    name = "weights"
    title = "Weights"
    depends_on = ("layer",)

    def build(self) -> list[widgets.Widget]:
        self.view = TensorView("weights", lambda change: self.refresh())
        return [self.view.widget]

    @property
    def figure(self):  # noqa: ANN201 - bqplot.Figure
        return self.view.heatmap.figure

    def render(self, state: State) -> str:
        layer = self.session.probe.layers[state.layer]
        variables = list(layer.weights)
        index = self.view.set_tensors([weight_label(v, f"w{i}") for i, v in enumerate(variables)])
        if not variables:
            self.values = np.zeros((0, 0), np.float32)
            return f"Layer {state.layer} ({type(layer).__name__}) has no weights."
        tensor = np.asarray(variables[index].numpy())
        self.values = self.view.show(tensor, weight_label(variables[index], "w"), self.session.max_cells)
        return ""
