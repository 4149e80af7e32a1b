"""Saliency panel: gradient, SmoothGrad, Integrated Gradients, Grad-CAM and Grad-CAM++ over the input."""

from __future__ import annotations

import bqplot as bq
import ipywidgets as widgets
import numpy as np

from ..compute.analysis import CAM, METHOD_NAMES
from ..compute.answers import Unavailable
from ..plots import BarsPlot, HeatmapPlot, ImagePlot, Plot
from .base import Panel, State


class SaliencyPanel(Panel):
    """Which input values drive the current sample's output for a class; CAM methods for the current layer."""

    name = "saliency"
    title = "Saliency"

    def build(self) -> list[widgets.Widget]:
        data, policy = self.analysis.data, self.analysis.policy
        self.tabular = len(data.sample_shape) == 1
        self.method = widgets.ToggleButtons(options=[(v, k) for k, v in METHOD_NAMES.items()], value="gradient")
        classes = [("predicted class", -1)] + [(policy.class_name(i), i) for i in range(data.output_units)]
        self.class_choice = widgets.Dropdown(options=classes, value=-1, description="class")
        self.class_choice.layout.display = None if data.output_units > 1 else "none"
        for control in (self.method, self.class_choice):
            control.observe(lambda change: self.refresh(), names="value")
        self.heatmap = HeatmapPlot("saliency", size=("360px", "320px"))
        self.overlay = ImagePlot("over the input", size=("320px", "320px"))
        self.bars = BarsPlot("saliency per feature", horizontal=True, size=("460px", "520px"))
        self.heatmap.widget.layout.display = self.overlay.widget.layout.display = "none" if self.tabular else None
        self.bars.widget.layout.display = None if self.tabular else "none"
        if policy.redact:  # the overlay is a picture of the input itself
            self.overlay.widget.layout.display = "none"
        self.info = widgets.HTML()
        return [
            widgets.HBox([self.method, self.class_choice]),
            self.info,
            widgets.HBox([self.heatmap.widget, self.overlay.widget, self.bars.widget]),
        ]

    @property
    def figure(self) -> bq.Figure:
        return self.bars.figure if self.tabular else self.heatmap.figure

    @property
    def plots(self) -> list[Plot]:
        return [self.heatmap, self.overlay, self.bars]

    @property
    def class_index(self) -> int | None:
        return None if self.class_choice.value < 0 else int(self.class_choice.value)

    def _question(self, state: State) -> tuple[str, str | None]:
        method = str(self.method.value)
        return method, state.layer if method in CAM else None

    def pending(self, state: State) -> str:
        method, layer = self._question(state)
        if self.analysis.cached("saliency", method, state.sample, self.class_index, layer):
            return ""
        return f"{METHOD_NAMES[method]} of sample {state.sample}"

    def render(self, state: State) -> str:
        method, layer = self._question(state)
        answer = self.analysis.saliency_map(state.sample, method, self.class_index, layer)
        self.info.value = ""
        if isinstance(answer, Unavailable):
            return answer.reason
        self.values = answer.values
        what = f"{METHOD_NAMES[method]}, class {answer.class_name}, sample {state.sample}"
        if answer.bars is not None:
            self.bars.show(answer.bars.values, labels=np.array(answer.bars.labels), title=what)
            return ""
        assert answer.picture is not None
        picture = answer.picture
        self.heatmap.show(picture.values, picture.vmin, picture.vmax, title=what)
        if answer.overlay is not None:
            self.overlay.show(answer.overlay, title="over the input")
        if method in CAM:
            rows, cols = picture.values.shape
            self.info.value = f"{METHOD_NAMES[method]} maps are {rows} x {cols} (layer {state.layer})"
        return ""
