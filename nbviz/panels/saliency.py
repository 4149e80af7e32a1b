"""Saliency panel: gradient, SmoothGrad, Integrated Gradients, Grad-CAM and Grad-CAM++ over the input."""

from __future__ import annotations

import ipywidgets as widgets
import numpy as np

from ..compute.saliency import saliency
from ..compute.session import _LRU
from ..plots import BarsPlot, HeatmapPlot, ImagePlot, overlay
from .base import Panel, State

LABELS = {
    "gradient": "gradient",
    "smoothgrad": "SmoothGrad",
    "integrated_gradients": "Integrated Gradients",
    "gradcam": "Grad-CAM",
    "gradcam++": "Grad-CAM++",
}
CAM = ("gradcam", "gradcam++")


class SaliencyPanel(Panel):
    """Which input values drive the current sample's output for a class; CAM methods for the current layer."""

    name = "saliency"
    title = "Saliency"

    def build(self) -> list[widgets.Widget]:
        session = self.session
        self.shape = session.x[0].shape[1:]
        self.tabular = len(self.shape) == 1
        self.method = widgets.ToggleButtons(options=[(v, k) for k, v in LABELS.items()], value="gradient")
        classes = [("predicted class", -1)] + [(session.class_name(i), i) for i in range(session.output_units)]
        self.class_choice = widgets.Dropdown(options=classes, value=-1, description="class")
        self.class_choice.layout.display = None if session.output_units > 1 else "none"
        for control in (self.method, self.class_choice):
            control.observe(lambda change: self.refresh(), names="value")
        self.heatmap = HeatmapPlot("saliency", size=("360px", "320px"))
        self.overlay = ImagePlot("over the input", size=("320px", "320px"))
        self.bars = BarsPlot("saliency per feature", horizontal=True, size=("460px", "520px"))
        self.heatmap.widget.layout.display = self.overlay.widget.layout.display = "none" if self.tabular else None
        self.bars.widget.layout.display = None if self.tabular else "none"
        self._cache = _LRU(64 * 2**20)
        return [
            widgets.HBox([self.method, self.class_choice]),
            widgets.HBox([self.heatmap.widget, self.overlay.widget, self.bars.widget]),
        ]

    @property
    def figure(self):  # noqa: ANN201 - bqplot.Figure
        return self.bars.figure if self.tabular else self.heatmap.figure

    def _conv_layers(self) -> list[str]:
        acts = self.session.activations(0)
        nodes = {n.name: n for n in self.session.graph.nodes}
        return [
            name
            for name in self.session.probe.layers
            if name in acts and acts[name].ndim == 4 and nodes[name].class_name != "InputLayer"
        ]

    def render(self, state: State) -> str:
        session = self.session
        method = str(self.method.value)
        if len(session.x) > 1:
            self.values = np.zeros(0, np.float32)
            return f"Saliency here needs a model with one input; this one has {len(session.x)}."
        if not np.issubdtype(session.x[0].dtype, np.floating):
            self.values = np.zeros(0, np.float32)
            return "Saliency needs float inputs: integer inputs (token ids) have no gradient; see the SHAP tab."
        target = None if self.class_choice.value < 0 else int(self.class_choice.value)
        if method in CAM:
            if self.tabular or state.layer not in self._conv_layers():
                convs = ", ".join(self._conv_layers()) or "none in this model"
                self.values = np.zeros(0, np.float32)
                return f"{LABELS[method]} needs a convolutional layer (h x w x channels); choose one: {convs}."
        layer = state.layer if method in CAM else None
        key = (method, state.sample, target, layer)
        x = session.inputs(state.sample)[0]
        values = self._cache.get_or(
            key, lambda: saliency(session.model, x, method=method, target=target, layer=layer, probe=session.probe)[0]
        )
        self.values = values
        cls = int(np.argmax(session.prediction(state.sample))) if target is None else target
        what = f"{LABELS[method]}, class {session.class_name(cls)}, sample {state.sample}"
        if self.tabular:
            labels = session.feature_names or [str(i) for i in range(len(values))]
            top = np.argsort(np.abs(values), kind="stable")[-15:]
            self.bars.show(values[top], labels=np.array([labels[i] for i in top]), title=what)
            return ""
        # Gradient maps: magnitude summed over channels (as tf-keras-vis shows them); IG keeps its sign.
        if method in CAM:
            shown = values
        elif method == "integrated_gradients":
            shown = values.sum(axis=-1) if values.ndim == 3 else values
        else:
            shown = np.abs(values).sum(axis=-1) if values.ndim == 3 else np.abs(values)
        shown = shown.reshape(-1, shown.shape[-1])
        m = float(np.nanmax(np.abs(shown))) or 1.0
        lo = -m if float(np.nanmin(shown)) < 0 else 0.0
        self.heatmap.show(shown, lo, m, title=what)
        # The overlay is a picture of the input itself: redact mode leaves it out.
        self.overlay.widget.layout.display = "none" if session.redact else None
        if not session.redact:
            image = x[0].mean(axis=-1) if x[0].ndim == 3 else x[0]
            self.overlay.show(overlay(image.reshape(-1, image.shape[-1]), np.abs(shown)), title="over the input")
        return f"Grad-CAM maps are {shown.shape[0]} x {shown.shape[1]} (layer {state.layer})" if method in CAM else ""
