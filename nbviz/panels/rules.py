"""Rules panel: a shallow decision tree that mimics the model, as readable rules; click one to see a sample."""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
import numpy as np

from ..compute.rules import Rules, surrogate_rules
from ..plots import BarsPlot
from .base import Panel, State, offer


class RulesPanel(Panel):
    """Rules from a surrogate tree fitted to the model's predictions on the explored data."""

    name = "rules"
    title = "Rules"
    depends_on = ("layer",)  # only when the rules are fitted on the current layer's activations

    def build(self) -> list[widgets.Widget]:
        self.tabular = self.session.x[0].ndim == 2
        self.depth = widgets.IntSlider(value=3, min=1, max=6, description="depth")
        self.on_layer = widgets.Checkbox(value=not self.tabular, description="fit on the current layer's activations")
        for control in (self.depth, self.on_layer):
            control.observe(lambda change: self.refresh(), names="value")
        self.summary = widgets.HTML()
        self.rule_list = widgets.Select(options=[], rows=10, layout=widgets.Layout(width="100%"))
        self.rule_list.observe(self._rule_clicked, names="value")
        self.coverage = BarsPlot("samples per rule", horizontal=True, size=("460px", "300px"))
        self.rules: Rules | None = None
        self._features: np.ndarray | None = None
        self._cache: dict[tuple[int, str | None], tuple[Rules, np.ndarray]] = {}
        return [widgets.HBox([self.depth, self.on_layer]), self.summary, self.rule_list, self.coverage.widget]

    @property
    def figure(self):  # noqa: ANN201 - bqplot.Figure
        return self.coverage.figure

    def render(self, state: State) -> str:
        session = self.session
        layer = state.layer if self.on_layer.value else None
        if len(session.x) > 1:
            return f"Rules here need a model with one input; this one has {len(session.x)}."
        if session.n_samples < 2:
            return "Rules need at least 2 samples (the tree is fitted on some and checked on others); x has 1."
        if layer is None and not self.tabular:
            return "Rules over raw inputs need tabular data (samples x features): tick the box to use activations."
        key = (int(self.depth.value), layer)
        if key not in self._cache:
            if layer is None:
                features, names = session.x[0], session.feature_names
            else:
                acts = session.probe.activations(session.x, layers=[layer])[layer]
                features, names = acts.reshape(len(acts), -1), None
            rules = surrogate_rules(
                session.model,
                session.x[0],
                max_depth=key[0],
                feature_names=names,
                class_names=session.class_names,
                features=None if layer is None else features,
                probe=session.probe,
                quantiles=session.redact,
            )
            self._cache[key] = (rules, features)
        self.rules, self._features = self._cache[key]
        rules = self.rules
        source = f"activations of {layer}" if layer else "input features"
        self.summary.value = (
            f"{len(rules.rules)} rules over {source}, depth {rules.max_depth}: fidelity to the model "
            f"<b>{rules.fidelity:.1%}</b> on held-out samples ({rules.train_fidelity:.1%} on those fitted). "
            "Click a rule to show a sample it covers."
            + (
                " Thresholds are quantiles of the feature (redact mode): q0.73 is its 73rd percentile."
                if session.redact
                else ""
            )
        )
        options = [(f"{r.text}  ({r.samples} samples, {r.agreement:.0%} agree)", i) for i, r in enumerate(rules.rules)]
        offer(self.rule_list, options, self._rule_clicked)
        self.values = np.array([r.samples for r in rules.rules], dtype=np.float32)
        self.coverage.show(self.values[::-1], labels=np.array([f"rule {i + 1}" for i in range(len(rules.rules))])[::-1])
        return ""

    def sample_for(self, index: int, current: int) -> int | None:
        """A sample covered by rule ``index``: the current one if it is, else the next one after it."""
        assert self.rules is not None and self._features is not None
        covered = np.flatnonzero(self.rules.rules[index].covers(self._features))
        if covered.size == 0:
            return None
        if current in covered:
            return current
        later = covered[covered > current]
        return int(later[0] if later.size else covered[0])

    def _rule_clicked(self, change: dict[str, Any]) -> None:
        if change["new"] is None or self.state is None:
            return
        sample = self.sample_for(int(change["new"]), self.state.sample)
        if sample is not None:
            self.navigate(sample=sample)
