"""Findings panel: what an automatic check of model and data found; click one to see the evidence."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import bqplot as bq
import ipywidgets as widgets
import numpy as np

from ...compute.methods.findings import DEAD_INFO, SATURATED_INFO, Finding, plural
from ..plots.figures import FULL_WIDTH, BarsPlot, Plot
from .base import Panel, State, offer

ICONS = {"critical": "\u26d4", "warning": "\u26a0", "info": "\u2139"}
SEVERITIES = ("critical", "warning", "info")
NOUNS = {"critical": ("critical", "critical"), "warning": ("warning", "warnings"), "info": ("note", "notes")}


def summary(found: Sequence[Finding]) -> str:
    """What the findings come to, in sentences: how many of each severity, and what a click does; with none, what
    was checked (the thresholds: a layer with a third of its units dead passes, and the activations tab still
    counts them)."""
    if not found:
        return (
            f"Nothing alarming found: no layer has {DEAD_INFO:.0%} or more of its ReLU units dead or "
            f"{SATURATED_INFO:.0%} or more of its sigmoid or tanh units saturated, no gradient vanishes or explodes, "
            "and no weight or output is NaN or Inf."
        )
    counts = {s: sum(f.severity == s for f in found) for s in SEVERITIES}
    parts = [plural(n, *NOUNS[s]) for s, n in counts.items() if n]
    listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return f"{plural(len(found), 'finding')}: {listed}. Click a finding to open the tab that shows it."


class FindingsPanel(Panel):
    """Dead or saturated units, vanishing or exploding gradients, NaN or Inf, overfitting, error hot spots."""

    name = "findings"
    title = "Findings"
    depends_on = ()

    def build(self) -> list[widgets.Widget]:
        self.summary = widgets.HTML()
        self.finding_list = widgets.Select(options=[], rows=8, layout=widgets.Layout(width=FULL_WIDTH))
        self.finding_list.observe(self._clicked, names="value")
        self.evidence = BarsPlot("evidence figure per finding", horizontal=True, size=("460px", "260px"))
        self.found: tuple[Finding, ...] | None = None
        return [self.summary, self.finding_list, self.evidence.widget]

    @property
    def figure(self) -> bq.Figure:
        return self.evidence.figure

    @property
    def plots(self) -> list[Plot]:
        return [self.evidence]

    def pending(self, state: State) -> str:
        return (
            ""
            if self.analysis.answered(self.analysis.findings)
            else "findings: activation and gradient statistics over the data"
        )

    def render(self, state: State) -> str:
        found = self.found = self.analysis.findings()
        self.summary.value = summary(found)
        offer(self.finding_list, [(f"{ICONS[f.severity]} {f.message}", i) for i, f in enumerate(found)], self._clicked)
        self.values = np.array([f.value for f in found], dtype=np.float32)
        if found:
            labels = np.array([f"{i + 1}. {f.kind}" for i, f in enumerate(found)])
            self.evidence.show(self.values[::-1], labels=labels[::-1])
        else:
            self.evidence.clear("No evidence to plot: every check passed.")
        # Nothing found: the summary's sentence is all there is to say (an empty list and a stand-in figure
        # below it left about 330 px blank).
        shown = None if found else "none"
        self.finding_list.layout.display = self.evidence.widget.layout.display = shown
        return ""

    def _clicked(self, change: dict[str, Any]) -> None:
        if change["new"] is None or self.found is None:
            return
        finding = self.found[int(change["new"])]
        self.navigate(layer=finding.layer, tab=finding.panel)
