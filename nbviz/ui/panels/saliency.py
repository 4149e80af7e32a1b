"""Saliency panel: gradient, SmoothGrad, Integrated Gradients, Grad-CAM and Grad-CAM++ over the input; for a text
model, Integrated Gradients and gradient x input per token, drawn as coloured text."""

from __future__ import annotations

import bqplot as bq
import ipywidgets as widgets
import numpy as np

from ...compute.analysis.analysis import CAM, METHOD_NAMES
from ...compute.analysis.answers import Unavailable
from ..markup import escape
from ..plots.figures import BarsPlot, Gutters, HeatmapPlot, ImagePlot, Plot, no_padding, row
from ..plots.tokens import token_chips
from .base import MOST_CLASSES, Panel, State

TOKEN_METHOD_NAMES = {"integrated_gradients": "Integrated Gradients", "gradient_x_input": "gradient x input"}
MOST_TOKEN_BARS = 64


class SaliencyPanel(Panel):
    """Which input values drive the current sample's output for a class; CAM methods for the current layer."""

    name = "saliency"
    title = "Saliency"

    def build(self) -> list[widgets.Widget]:
        data, policy, analysis = self.analysis.data, self.analysis.policy, self.analysis
        # Several scalar inputs (one number each per sample) read as one table: a bar per input.
        self.tabular = len(data.sample_shape) == 1 or analysis.scalar_features
        # Token ids take no gradient: a text model is explained at its embedding's output, token by token.
        self.text = analysis.token_model
        methods = TOKEN_METHOD_NAMES if self.text else METHOD_NAMES
        # The buttons as wide as their names, the group as wide as they are (it shrank to share its row with the
        # class menu, which put Grad-CAM++ on a second row at 1,600 px): the row wraps the menu below it instead,
        # and where the tab is narrower than the group (900 px) its buttons wrap.
        self.method = widgets.ToggleButtons(
            options=[(v, k) for k, v in methods.items()],
            value=next(iter(methods)),
            style={"button_width": "auto"},
            layout=widgets.Layout(flex="0 1 auto", max_width="100%"),
        )
        shown = data.output_units if data.output_units <= MOST_CLASSES else 0
        classes = [("predicted class", -1)] + [(policy.class_name(i), i) for i in range(shown)]
        self.class_choice = widgets.Dropdown(options=classes, value=-1, description="class")
        self.class_choice.layout.display = None if 1 < shown else "none"
        # A language model explains the next token at one position (-1: the last real one). A scalar first
        # input (one feature per input, as in Keras' structured-data example) has no positions.
        positions = data.sample_shape[0] if data.sample_shape else 1
        self.position = widgets.BoundedIntText(value=-1, min=-1, max=max(positions - 1, 0), description="position")
        self.position.layout.display = None if self.text and len(data.output_shape) == 2 else "none"
        for control in (self.method, self.class_choice, self.position):
            control.observe(lambda change: self.refresh(), names="value")
        self.heatmap = HeatmapPlot("saliency", size=("360px", "320px"), picture=True)  # at the input's aspect
        self.gutters = Gutters(self.heatmap)
        self.overlay = ImagePlot("over the input", size=("320px", "320px"))
        no_padding(self.overlay)
        # Its grey is the sample view's (dark strokes on light); a dark theme shows that view light on dark, and
        # style.THEME_CSS turns this class's picture the same way (lightness inverted, hues kept).
        self.overlay.figure.add_class("nbviz-overlay")
        self.bars = BarsPlot("saliency per feature", horizontal=True, size=("460px", "520px"))
        self.heatmap.widget.layout.display = self.overlay.widget.layout.display = (
            "none" if self.tabular or self.text else None
        )
        self.bars.widget.layout.display = None if self.tabular or self.text else "none"
        if policy.redact:  # the overlay is a picture of the input itself
            self.overlay.widget.layout.display = "none"
        self.info = widgets.HTML()
        self.tokens = widgets.HTML(layout=widgets.Layout(max_width="900px"))
        return [
            widgets.HBox([self.method, self.class_choice, self.position], layout=widgets.Layout(flex_flow="row wrap")),
            self.info,
            self.tokens,
            row(self.heatmap.widget, self.overlay.widget, self.bars.widget),
        ]

    @property
    def figure(self) -> bq.Figure:
        return self.bars.figure if self.tabular or self.text else self.heatmap.figure

    @property
    def plots(self) -> list[Plot]:
        return [self.heatmap, self.overlay, self.bars]

    @property
    def class_index(self) -> int | None:
        return None if self.class_choice.value < 0 else int(self.class_choice.value)

    def _question(self, state: State) -> tuple[str, str | None]:
        method = str(self.method.value)
        return method, state.layer if method in CAM else None

    @property
    def at(self) -> int | None:
        return None if self.position.value < 0 or self.position.layout.display == "none" else int(self.position.value)

    def pending(self, state: State) -> str:
        if self.text:
            method = str(self.method.value)
            if self.analysis.answered(self.analysis.token_saliency, state.sample, method, self.class_index, self.at):
                return ""
            return f"{TOKEN_METHOD_NAMES[method]} per token of sample {state.sample}"
        method, layer = self._question(state)
        if self.analysis.answered(self.analysis.saliency_map, state.sample, method, self.class_index, layer):
            return ""
        return f"{METHOD_NAMES[method]} of sample {state.sample}"

    def render(self, state: State) -> str:
        if self.text:
            return self._render_tokens(state)
        method, layer = self._question(state)
        answer = self.analysis.saliency_map(state.sample, method, self.class_index, layer)
        self.info.value = ""
        if isinstance(answer, Unavailable):
            return answer.reason
        self.values = answer.values
        what = f"{METHOD_NAMES[method]}, class {answer.class_name}, sample {state.sample}"
        self.info.value = escape(answer.note)
        if answer.bars is not None:
            self.bars.show(answer.bars.values, labels=np.array(answer.bars.labels), title=what)
            return ""
        assert answer.picture is not None
        picture = answer.picture
        self.heatmap.show(picture.values, picture.vmin, picture.vmax, title=what)
        self.gutters.show()  # between the frames of a volume or a video
        if answer.overlay is not None:
            self.overlay.show(answer.overlay, title="over the input")
        if method in CAM:
            rows, cols = picture.values.shape
            self.info.value = f"{escape(METHOD_NAMES[method])} maps are {rows} x {cols} (layer {escape(state.layer)})"
        return ""

    def _render_tokens(self, state: State) -> str:
        method = str(self.method.value)
        answer = self.analysis.token_saliency(state.sample, method, self.class_index, self.at)
        self.info.value = self.tokens.value = ""
        if isinstance(answer, Unavailable):
            return answer.reason
        self.values = answer.values
        target = (
            f"class {answer.class_name}"
            if answer.position is None
            else (f"next token {answer.class_name} at position {answer.position}")
        )
        what = f"{TOKEN_METHOD_NAMES[method]}, {target}, sample {state.sample}"
        self.tokens.value = f"<b>{escape(what)}</b><br>{token_chips(answer.labels, answer.colors)}"
        check = (
            f"; they add up to {answer.total:.4g}, f(x) - f(baseline) = {answer.change:.4g} "
            f"(gap {answer.gap:.2%}, {answer.steps} steps)"
            if method == "integrated_gradients"
            else ""
        )
        self.info.value = (
            f"At the output of {escape(answer.layer)}, summed per token (baseline: a zero embedding); red "
            f"drives the class up, blue down{check}."
        )
        if len(answer.labels) <= MOST_TOKEN_BARS:
            labels = np.array([f"{i} {label}" for i, label in enumerate(answer.labels)])  # ordinal: one per token
            self.bars.show(answer.values, labels=labels, title=what)
        else:
            self.bars.clear(f"{len(answer.labels)} tokens: the coloured text above shows them all")
        return ""
