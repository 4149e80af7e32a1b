"""Activations panel: the current layer's output for the current sample, and its dead units over a batch."""

from __future__ import annotations

import ipywidgets as widgets
import numpy as np

from ..compute.display import ActivationView, activation_view
from ..plots import BarsPlot, HeatmapPlot
from .base import Panel, State

MAX_BARS = 1024  # one SVG rect per bar: beyond about a thousand the browser slows down


class ActivationFigure:
    """Feature maps tiled in a heatmap, vectors as bars, sequences as time x units: one figure shown at a time."""

    def __init__(self, title: str) -> None:
        self.heatmap = HeatmapPlot(title, size=("400px", "340px"))
        self.bars = BarsPlot(title, size=("400px", "280px"))
        self.widget = widgets.Box([self.heatmap.widget, self.bars.widget])
        self.view: ActivationView | None = None

    @property
    def figure(self):  # noqa: ANN201 - bqplot.Figure
        return self.bars.figure if self.view is not None and self.view.kind == "bars" else self.heatmap.figure

    def hide(self) -> np.ndarray:
        """Show neither figure (redact mode withholds this output); returns the (no) values shown."""
        self.view = None
        self.heatmap.widget.layout.display = self.bars.widget.layout.display = "none"
        return np.zeros(0, np.float32)

    def show(self, a: np.ndarray, max_cells: int, title: str, labels: list[str] | None = None) -> np.ndarray:
        """Draw one sample's array (no batch axis); returns the values shown."""
        bars = np.ndim(a) <= 1
        view = activation_view(a, max_cells=min(max_cells, MAX_BARS) if bars else max_cells)
        self.view = view
        if view.kind == "bars":
            use_labels = labels if labels is not None and len(labels) == len(view.values) else None
            self.bars.show(view.values, labels=np.array(use_labels) if use_labels else None, title=title)
        else:
            grid = (
                f", {view.grid[0]}x{view.grid[1]} maps of {view.tile[0]}x{view.tile[1]}" if view.grid != (1, 1) else ""
            )
            self.heatmap.show(view.values, view.vmin, view.vmax, title=f"{title}{grid}")
        self.heatmap.widget.layout.display = "none" if view.kind == "bars" else None
        self.bars.widget.layout.display = None if view.kind == "bars" else "none"
        return view.values


def is_relu(layer: object) -> bool:
    activation = getattr(layer, "activation", None)
    return type(layer).__name__ == "ReLU" or getattr(activation, "__name__", "") == "relu"


class ActivationsPanel(Panel):
    """Feature maps (conv), bars (dense), time x units (sequences); share of dead ReLU units over a batch."""

    name = "activations"
    title = "Activations"

    def build(self) -> list[widgets.Widget]:
        self.view = ActivationFigure("activations")
        self.dead = widgets.HTML()
        return [self.view.widget, self.dead]

    @property
    def figure(self):  # noqa: ANN201 - bqplot.Figure
        return self.view.figure

    def render(self, state: State) -> str:
        session = self.session
        if state.layer in session.hidden_layers:
            self.values = self.view.hide()
            self.dead.value = ""
            return (
                f"Redacted: {state.layer} outputs the raw input (unlearned: input, preprocessing or reshaping), "
                "and explore(..., redact=True) sends no raw input value. The gradients tab still shows this layer."
            )
        output = session.activations(state.sample)[state.layer][0]
        shape = " x ".join(str(d) for d in output.shape)
        labels = session.feature_names if state.layer in _input_names(session) else None
        self.values = self.view.show(output, session.max_cells, f"{state.layer} output ({shape})", labels)
        layer = session.probe.layers[state.layer]
        if is_relu(layer):
            dead = session.dead_units(state.layer)
            self.dead.value = (
                f"dead units (never above 0 on the first {dead.n_samples} samples): <b>{int(dead.dead.sum())}</b> of "
                f"{dead.dead.size} ({dead.share:.1%})"
            )
        else:
            self.dead.value = ""
        return ""


def _input_names(session) -> set[str]:  # noqa: ANN001 - Session
    return {n.name for n in session.graph.nodes if n.class_name == "InputLayer" and n.parent is None}
