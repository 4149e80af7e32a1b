"""Rules panel: a shallow decision tree that mimics the model, as readable rules; click one to see a sample.

What it shows first is chosen to be readable (see :mod:`nbviz.compute.methods.rules`): the input features of a table;
otherwise the last hidden layer with weights whose output is one vector of at most RULE_UNITS units per sample (the
demo CNN's ``dense``), or the Explorer's current layer when the model has none (the summary says so); and the
shallowest depth whose rules agree with the model on FIDELITY_GOAL of the held-out samples, else the most faithful
one up to MAX_DEPTH (the summary says that they describe the model only roughly). Moving the depth slider or
picking a layer keeps that choice; "the current layer" in its layer list makes the rules follow the Explorer's
layer. What is shown depends on these choices only, never on the order of earlier clicks elsewhere.
"""

from __future__ import annotations

from typing import Any

import bqplot as bq
import ipywidgets as widgets
import numpy as np

from ...compute.analysis.answers import RulesDisplay, Unavailable
from ...compute.methods.rules import FIDELITY_GOAL, MAX_DEPTH, RULE_UNITS
from ..markup import escape
from ..plots.figures import FULL_WIDTH, BarsPlot, Plot
from .base import Panel, Remark, State, offer

FOLLOW = ""  # the layer choice that follows the Explorer's current layer


class RulesPanel(Panel):
    """Rules from a surrogate tree fitted to the model's predictions on the explored data."""

    name = "rules"
    title = "Rules"
    depends_on = ("layer",)  # only when the rules are fitted on the current layer's activations

    def build(self) -> list[widgets.Widget]:
        self.tabular = self.analysis.data.tabular
        self.depth = widgets.IntSlider(value=3, min=1, max=MAX_DEPTH, description="depth")
        self.on_layer = widgets.Checkbox(
            value=not self.tabular, description="fit on a layer's activations", indent=False
        )
        self.candidates = list(self.analysis.rule_layers())
        options = [("the current layer", FOLLOW)] + [(name, name) for name in self.candidates]
        default = self.candidates[-1] if self.candidates else FOLLOW
        self.layer_choice = widgets.Dropdown(options=options, value=default, description="layer")
        self.auto_depth = True  # until a depth is chosen: the readable one (see the module's docstring)
        self._setting = False  # the panel sets a control itself: no refresh of its own
        self.depth.observe(self._depth_moved, names="value")
        for control in (self.on_layer, self.layer_choice):
            control.observe(lambda change: None if self._setting else self.refresh(), names="value")
        self.summary = widgets.HTML()
        self.rule_list = widgets.Select(options=[], rows=10, layout=widgets.Layout(width=FULL_WIDTH))
        self.rule_list.observe(self._rule_clicked, names="value")
        self.rule_text = widgets.HTML()  # the clicked rule in full: a list's line cuts a long one
        self.coverage = BarsPlot("samples per rule", horizontal=True, size=("460px", "300px"))
        self.shown: RulesDisplay | None = None
        return [
            widgets.HBox([self.depth, self.on_layer, self.layer_choice], layout=widgets.Layout(flex_flow="row wrap")),
            self.summary,
            self.rule_list,
            self.rule_text,
            self.coverage.widget,
        ]

    @property
    def figure(self) -> bq.Figure:
        return self.coverage.figure

    @property
    def plots(self) -> list[Plot]:
        return [self.coverage]

    @property
    def rules(self) -> Any:
        """The rules on show (a :class:`~nbviz.compute.Rules`), or None."""
        return None if self.shown is None else self.shown.rules

    def _clear(self) -> None:
        super()._clear()
        self.shown = None
        self.summary.value = self.rule_text.value = ""
        offer(self.rule_list, [], self._rule_clicked)  # no old rule stays listed, nor clickable

    def _depth_moved(self, change: dict[str, Any]) -> None:
        if self._setting:
            return
        self.auto_depth = False  # a person (or code) chose it: it stays
        self.refresh()

    def _layer(self, state: State) -> str | None:
        if not self.on_layer.value:
            return None
        return self.layer_choice.value or state.layer

    def _question(self, state: State) -> tuple[int, str | None]:
        return int(self.depth.value), self._layer(state)

    def pending(self, state: State) -> str:
        depth, layer = self._question(state)
        where = "layer " + layer if layer else "the inputs"
        if self._searched(layer):
            if self.analysis.answered(self.analysis.readable_depth, layer):
                return ""
            return f"decision trees fitted on {where}, to find the shallowest that agrees with the model"
        if self.analysis.answered(self.analysis.rules, depth, layer):
            return ""
        return f"a decision tree of depth {depth} fitted on {where}"

    def _searched(self, layer: str | None) -> bool:
        """Whether the depth is chosen for its fidelity: until a person chooses one, over the inputs or a readable
        layer (a few trees there cost little; over a feature map of thousands of units, one tree of the slider's
        depth is fitted, as a person who picked that layer asked)."""
        return self.auto_depth and (layer is None or layer in self.candidates)

    def _set(self, control: widgets.Widget, value: Any) -> None:
        self._setting = True
        try:
            control.value = value
        finally:
            self._setting = False

    def render(self, state: State) -> str:
        self.layer_choice.disabled = not self.on_layer.value
        layer, reached = self._layer(state), True
        if self._searched(layer):
            first = self.analysis.rules(int(self.depth.value), layer)
            if isinstance(first, Unavailable):
                return first.reason
            depth, reached = self.analysis.readable_depth(layer)
            self._set(self.depth, depth)
        answer = self.analysis.rules(int(self.depth.value), layer)
        if isinstance(answer, Unavailable):
            return answer.reason
        self.shown = answer
        rules = answer.rules
        self.summary.value = (
            f"{len(rules.rules)} rules over {escape(answer.source)}, depth {rules.max_depth}: fidelity to the model "
            f"<b>{rules.fidelity:.1%}</b> on held-out samples ({rules.train_fidelity:.1%} on those fitted). "
            + self._why(layer, reached)
            + "Click a rule to show a sample it covers."
            + (
                " Thresholds are quantiles of the feature (redact mode): q0.73 is its 73rd percentile."
                if self.analysis.policy.redact
                else ""
            )
        )
        offer(self.rule_list, [(text, i) for i, text in enumerate(answer.texts)], self._rule_clicked)
        self.rule_text.value = ""
        self.values = answer.coverage
        labels = np.array([f"rule {i + 1}" for i in range(len(rules.rules))])
        self.coverage.show(answer.coverage[::-1], labels=labels[::-1])
        return Remark(answer.note)  # the samples left out for NaN or Inf

    def _why(self, layer: str | None, reached: bool) -> str:
        """Why this view was chosen, while it is the default one ('' after a person's choice)."""
        if not self.auto_depth:
            return ""
        why = ""
        if layer is not None and not self.candidates:
            why = (
                f"This model has no hidden layer with weights whose output is one vector of at most {RULE_UNITS} "
                "units per sample, whose units could be read as rule features: these rules are over the current "
                "layer. "
            )
        if not self._searched(layer):
            return why
        if reached:
            return why + f"The shallowest depth whose rules agree with the model on {FIDELITY_GOAL:.0%} is shown. "
        return why + (
            f"No depth up to {MAX_DEPTH} agrees with the model on {FIDELITY_GOAL:.0%} of the held-out samples, so "
            "these rules, of the most faithful depth, describe it only roughly. "
        )

    def sample_for(self, index: int, current: int) -> int | None:
        """A sample covered by rule ``index``: the current one if it is, else the next one after it."""
        assert self.shown is not None
        return self.analysis.rule_sample(int(self.depth.value), self.shown.layer, index, current)

    def _rule_clicked(self, change: dict[str, Any]) -> None:
        if change["new"] is None or self.state is None:
            return
        if self.shown is not None:
            index = int(change["new"])
            self.rule_text.value = f"<b>rule {index + 1}</b>: {escape(self.shown.texts[index])}"
        sample = self.sample_for(int(change["new"]), self.state.sample)
        if sample is not None:
            self.navigate(sample=sample)
