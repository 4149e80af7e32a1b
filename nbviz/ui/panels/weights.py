"""Weights panel: the current layer's weight tensors as a heatmap and a histogram."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import bqplot as bq
import ipywidgets as widgets

from ...compute.analysis.answers import TensorDisplay
from ..plots.figures import BarsPlot, Gutters, HeatmapPlot, Plot, row
from .base import Panel, State
from .pictures import set_picture

VECTOR_HEIGHT = "90px"  # a bias or a scale: one row of cells


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
        self.gutters = Gutters(self.heatmap)  # the grey between a kernel's filters
        self.histogram = BarsPlot(f"distribution of {kind}", size=("320px", "280px"), counts=True)
        self.widget = widgets.VBox([self.selector, row(self.heatmap.widget, self.histogram.widget)])

    @property
    def plots(self) -> list[Plot]:
        return [self.heatmap, self.histogram]

    @property
    def index(self) -> int:
        return int(self.selector.value) if self.selector.value is not None else 0

    def set_tensors(self, labels: tuple[str, ...]) -> None:
        """Offer these tensors; the chosen position is kept when the new layer has it."""
        keep = self.index if self.index < len(labels) else 0
        options = [(label, i) for i, label in enumerate(labels)]
        if self.selector.options != tuple(options):
            # A new layer's tensors are not a person's choice: don't let them trigger a second redraw.
            self.selector.unobserve(self._on_select, names="value")
            self.selector.options = options
            self.selector.value = keep if options else None
            self.selector.observe(self._on_select, names="value")
        self.widget.layout.display = None if labels else "none"

    def show(self, tensor: TensorDisplay) -> None:
        """Draw one tensor: its heatmap titled with its shape (and what its tiles are), and its histogram.

        A conv kernel's filters are a picture (square cells, at the grid's aspect); a vector is a low strip, not
        a 340 px block of one colour per column; a matrix fills the box.
        """
        image = tensor.image
        picture = len(tensor.shape) >= 3
        set_picture(self.heatmap, picture)
        if not picture:
            height = VECTOR_HEIGHT if len(tensor.shape) <= 1 else self.heatmap.size[1]
            if self.heatmap.figure.layout.height != height:
                self.heatmap.figure.layout.height = height
        tiles = f": {image.note}" if image.note else ""
        self.heatmap.show(image.image, image.vmin, image.vmax, title=f"{tensor.name} ({tensor.shape_text}){tiles}")
        self.gutters.show()
        self.histogram.show(
            tensor.counts, labels=tensor.centers, color=tensor.centers, title=f"distribution of {tensor.name}"
        )


class WeightsPanel(Panel):
    """The current layer's weights: kernel tiles or matrix, bias and normalisation vectors, and histograms."""

    name = "weights"
    title = "Weights"
    depends_on = ("layer",)

    def build(self) -> list[widgets.Widget]:
        self.view = TensorView("weights", lambda change: self.refresh())
        return [self.view.widget]

    @property
    def figure(self) -> bq.Figure:
        return self.view.heatmap.figure

    @property
    def plots(self) -> list[Plot]:
        return self.view.plots

    def render(self, state: State) -> str:
        weights = self.analysis.layer_weights(state.layer, self.view.index)
        self.view.set_tensors(weights.names)
        if weights.tensor is None:
            return f"Layer {state.layer} ({weights.class_name}) has no weights."
        self.view.show(weights.tensor)
        self.values = weights.tensor.image.image
        return ""
