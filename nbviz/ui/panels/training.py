"""Training panel: a LiveTraining view inside the Explorer, following the Explorer's layer."""

from __future__ import annotations

import bqplot as bq
import ipywidgets as widgets
import numpy as np

from ...compute.analysis.analysis import Analysis
from ..live import LiveTraining
from ..plots.figures import Plot
from .base import Panel, State


class TrainingPanel(Panel):
    """The same live view as the callback's own widget; choosing a layer in the Explorer chooses it here."""

    name = "training"
    title = "Training"
    depends_on = ("layer",)

    def __init__(self, analysis: Analysis, live: LiveTraining) -> None:
        self.live = live
        super().__init__(analysis)

    def build(self) -> list[widgets.Widget]:
        return [self.live.view.widget]

    @property
    def figure(self) -> bq.Figure:
        return self.live.view.loss_figure

    @property
    def plots(self) -> list[Plot]:
        return []  # the live view draws what has been recorded, whatever the note

    def _clear(self) -> None:
        pass  # its notes say which layer the live view shows instead: what it shows stays

    def render(self, state: State) -> str:
        view = self.live.view
        if state.layer in view.layer_choice.options and view.layer_choice.value != state.layer:
            view.layer_choice.value = state.layer  # the view redraws for its new layer, once
        else:
            view.draw()
        self.values = np.asarray(self.live.history["batch_loss"], dtype=np.float32)
        if state.layer in view.layer_choice.options:
            return ""
        if not self.live.history["layers"]:
            return "No layer statistics yet: pass this callback to fit (with monitor data) to record them."
        shown = view.layer_choice.value
        return f"Layer {state.layer} has no trainable weights of its own; the training view shows {shown}."
