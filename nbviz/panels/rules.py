"""Rules panel: a shallow decision tree that mimics the model, as readable rules; click one to see a sample."""

from __future__ import annotations

from typing import Any

import bqplot as bq
import ipywidgets as widgets
import numpy as np

from ..compute.answers import RulesDisplay, Unavailable
from ..markup import escape
from ..plots import FULL_WIDTH, BarsPlot, Plot
from .base import Panel, Remark, State, offer


class RulesPanel(Panel):
    """Rules from a surrogate tree fitted to the model's predictions on the explored data."""

    name = "rules"
    title = "Rules"
    depends_on = ("layer",)  # only when the rules are fitted on the current layer's activations

    def build(self) -> list[widgets.Widget]:
        self.tabular = self.analysis.data.tabular
        self.depth = widgets.IntSlider(value=3, min=1, max=6, description="depth")
        self.on_layer = widgets.Checkbox(
            value=not self.tabular, description="fit on the current layer's activations", indent=False
        )
        for control in (self.depth, self.on_layer):
            control.observe(lambda change: self.refresh(), names="value")
        self.summary = widgets.HTML()
        self.rule_list = widgets.Select(options=[], rows=10, layout=widgets.Layout(width=FULL_WIDTH))
        self.rule_list.observe(self._rule_clicked, names="value")
        self.rule_text = widgets.HTML()  # the clicked rule in full: a list's line cuts a long one
        self.coverage = BarsPlot("samples per rule", horizontal=True, size=("460px", "300px"))
        self.shown: RulesDisplay | None = None
        return [
            widgets.HBox([self.depth, self.on_layer], layout=widgets.Layout(flex_flow="row wrap")),
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

    def _question(self, state: State) -> tuple[int, str | None]:
        return int(self.depth.value), state.layer if self.on_layer.value else None

    def pending(self, state: State) -> str:
        depth, layer = self._question(state)
        if self.analysis.cached("rules", depth, layer):
            return ""
        return f"a decision tree of depth {depth} fitted on {'layer ' + layer if layer else 'the inputs'}"

    def render(self, state: State) -> str:
        answer = self.analysis.rules(*self._question(state))
        if isinstance(answer, Unavailable):
            return answer.reason
        self.shown = answer
        rules = answer.rules
        self.summary.value = (
            f"{len(rules.rules)} rules over {escape(answer.source)}, depth {rules.max_depth}: fidelity to the model "
            f"<b>{rules.fidelity:.1%}</b> on held-out samples ({rules.train_fidelity:.1%} on those fitted). "
            "Click a rule to show a sample it covers."
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
