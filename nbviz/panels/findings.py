"""Findings panel: what an automatic check of model and data found; click one to see the evidence."""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
import numpy as np

from ..compute.findings import Finding, findings
from ..plots import BarsPlot
from .base import Panel, State, offer

ICONS = {"critical": "\u26d4", "warning": "\u26a0", "info": "\u2139"}


class FindingsPanel(Panel):
    """Dead or saturated units, vanishing or exploding gradients, NaN or Inf, overfitting, error hot spots."""

    name = "findings"
    title = "Findings"
    depends_on = ()

    def build(self) -> list[widgets.Widget]:
        self.summary = widgets.HTML()
        self.finding_list = widgets.Select(options=[], rows=8, layout=widgets.Layout(width="100%"))
        self.finding_list.observe(self._clicked, names="value")
        self.evidence = BarsPlot("evidence figure per finding", horizontal=True, size=("460px", "260px"))
        self.found: list[Finding] | None = None
        return [self.summary, self.finding_list, self.evidence.widget]

    @property
    def figure(self):  # noqa: ANN201 - bqplot.Figure
        return self.evidence.figure

    def render(self, state: State) -> str:
        session = self.session
        if self.found is None:
            x = session.x[0] if len(session.x) == 1 else session.x
            y = session.y[0] if session.y is not None and len(session.y) == 1 else session.y
            self.found = findings(
                session.model,
                x,
                y,
                datasets=session.datasets if len(session.datasets) > 1 else None,
                class_names=session.class_names,
                probe=session.probe,
            )
        found = self.found
        counts = {s: sum(f.severity == s for f in found) for s in ("critical", "warning", "info")}
        self.summary.value = (
            "Nothing alarming found." if not found else ", ".join(f"{n} {s}" for s, n in counts.items() if n)
        ) + " Click a finding to open the panel that shows it."
        options = [(f"{ICONS[f.severity]} {f.message}", i) for i, f in enumerate(found)]
        offer(self.finding_list, options, self._clicked)
        self.values = np.array([f.value for f in found], dtype=np.float32)
        if found:
            self.evidence.show(
                self.values[::-1], labels=np.array([f"{i + 1}. {f.kind}" for i, f in enumerate(found)])[::-1]
            )
        return ""

    def _clicked(self, change: dict[str, Any]) -> None:
        if change["new"] is None or self.found is None:
            return
        finding = self.found[int(change["new"])]
        self.navigate(layer=finding.layer, tab=finding.panel)
