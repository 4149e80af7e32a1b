"""Diagnostics panel: metrics on named datasets, a clickable confusion matrix, calibration and slices."""

from __future__ import annotations

import html
from typing import Any

import bqplot as bq
import ipywidgets as widgets
import numpy as np
import traitlets

from ..compute.diagnostics import DatasetReport, diagnose, slice_metrics
from ..plots import BarsPlot
from .base import Panel, State

OWN = "data"  # the name of the Explorer's own (x, y): only its confusion cells can move the slider


class _CellGrid(bq.GridHeatMap):
    """A GridHeatMap whose selected cells are kept as an (n, 2) int array.

    The browser sends a click as nested [row, column] lists, which bqplot reads as an object array that it
    then cannot send back ("Unsupported dtype object"); a validator makes them numbers.
    """

    @traitlets.validate("selected")
    def _cells(self, proposal: dict[str, Any]) -> Any:
        value = proposal["value"]
        if value is None:
            return None
        cells = np.asarray(np.asarray(value).tolist(), dtype=np.int32)
        return cells.reshape(-1, 2)


class DiagnosticsPanel(Panel):
    """How the model does on each dataset, where it errs, and on which slices of a feature."""

    name = "diagnostics"
    title = "Diagnostics"
    depends_on = ()

    def build(self) -> list[widgets.Widget]:
        session = self.session
        self.reports: dict[str, DatasetReport] = {}
        self.dataset = widgets.Dropdown(options=list(session.datasets), description="dataset")
        self.dataset.observe(lambda change: self.refresh(), names="value")
        self.table = widgets.HTML()
        k = max(session.output_units, 2)
        self.cm_scale = bq.ColorScale(colors=["#ffffff", "#08519c"], min=0.0, max=1.0)
        self.cm = _CellGrid(
            color=np.zeros((k, k), np.float32),
            scales={"row": bq.OrdinalScale(reverse=True), "column": bq.OrdinalScale(), "color": self.cm_scale},
            interactions={"click": "select"},
            selected_style={"stroke": "#d62728", "stroke-width": 3},
            display_format=".0f",
            font_style={"font-size": "11px"},
        )
        self.cm.observe(self._cell_clicked, names="selected")
        self.cm_figure = bq.Figure(
            marks=[self.cm],
            axes=[
                bq.Axis(scale=self.cm.scales["row"], side="left", label="true"),
                bq.Axis(scale=self.cm.scales["column"], side="bottom", label="predicted"),
            ],
            title="confusion matrix (click a cell)",
            fig_margin={"top": 40, "bottom": 50, "left": 60, "right": 10},
            layout=widgets.Layout(width="380px", height="360px"),
        )
        self.recall_plot = BarsPlot("recall per class", horizontal=True, size=("300px", "300px"))
        self.precision_plot = BarsPlot("precision per class", horizontal=True, size=("300px", "300px"))
        cx, cy = bq.LinearScale(min=0.0, max=1.0), bq.LinearScale(min=0.0, max=1.0)
        diagonal = bq.Lines(
            x=[0.0, 1.0], y=[0.0, 1.0], scales={"x": cx, "y": cy}, colors=["#bbbbbb"], line_style="dashed"
        )
        self.calibration = bq.Lines(x=np.zeros(0), y=np.zeros(0), scales={"x": cx, "y": cy}, marker="circle")
        self.calibration_figure = bq.Figure(
            marks=[diagonal, self.calibration],
            axes=[bq.Axis(scale=cx, label="confidence"), bq.Axis(scale=cy, side="left", label="accuracy")],
            title="calibration",
            fig_margin={"top": 40, "bottom": 50, "left": 50, "right": 10},
            layout=widgets.Layout(width="300px", height="300px"),
        )
        tabular = session.x[0].ndim == 2
        names = session.feature_names or [str(i) for i in range(session.x[0].shape[-1])]
        self.slice_feature = widgets.Dropdown(
            options=[(n, i) for i, n in enumerate(names)] if tabular else [], description="slice by"
        )
        self.slice_feature.observe(lambda change: self.refresh(), names="value")
        self.slice_plot = BarsPlot("metric per quantile slice", horizontal=True, size=("380px", "260px"))
        slices = widgets.VBox(
            [self.slice_feature, self.slice_plot.widget], layout=widgets.Layout(display=None if tabular else "none")
        )
        self.misclassified = widgets.Checkbox(value=False, description="slider: misclassified samples only")
        self.misclassified.observe(self._filter, names="value")
        self.values = np.zeros((0, 0), np.float32)
        return [
            widgets.HBox([self.dataset, self.misclassified]),
            self.table,
            widgets.HBox([self.cm_figure, self.recall_plot.widget, self.precision_plot.widget]),
            widgets.HBox([self.calibration_figure, slices]),
        ]

    @property
    def figure(self) -> bq.Figure:
        return self.cm_figure

    def render(self, state: State) -> str:
        session = self.session
        if not session.datasets:
            return "No labels: pass y (or datasets={'train': (x, y), ...}) to explore() for diagnostics."
        if not self.reports:
            self.reports = diagnose(
                session.model, session.datasets, class_names=session.class_names, probe=session.probe
            )
        self.table.value = self._table()
        report = self.reports[str(self.dataset.value)]
        self.misclassified.layout.display = None if report.task == "classification" else "none"
        if report.confusion is None:
            self.values = np.zeros((0, 0), np.float32)
            self.cm_figure.layout.display = "none"
            return ""
        classes = [session.class_name(i) for i in range(len(report.confusion))]
        self.values = report.confusion.astype(np.float32)
        with self.cm.hold_sync(), self.cm_scale.hold_sync():
            self.cm_scale.max = float(max(report.confusion.max(), 1))
            self.cm.row, self.cm.column = np.array(classes), np.array(classes)
            self.cm.color = self.values
        self.recall_plot.show(report.recall, labels=np.array(classes))
        self.precision_plot.show(report.precision, labels=np.array(classes))
        if report.calibration is not None:
            with self.calibration.hold_sync():
                self.calibration.x, self.calibration.y = (a.astype(np.float32) for a in report.calibration)
        if self.slice_feature.value is not None:
            x, y = session.datasets[str(self.dataset.value)]
            sliced = slice_metrics(
                session.model,
                x,
                y,
                int(self.slice_feature.value),
                feature_names=session.feature_names,
                probe=session.probe,
            )
            if session.redact:  # where each slice sits among the samples, not the values at its edges
                share = np.concatenate([[0], np.cumsum(sliced.counts)]) / max(int(sliced.counts.sum()), 1)
                labels = [f"q{lo:.2f} to q{hi:.2f} (n={n})" for lo, hi, n in zip(share[:-1], share[1:], sliced.counts)]
            else:
                labels = [
                    f"{lo:.3g} to {hi:.3g} (n={n})"
                    for lo, hi, n in zip(sliced.edges[:-1], sliced.edges[1:], sliced.counts)
                ]
            self.slice_plot.show(
                sliced.values, labels=np.array(labels), title=f"{sliced.metric_name} by {sliced.feature}"
            )
        return ""

    def _table(self) -> str:
        keys = sorted({k for r in self.reports.values() for k in r.metrics})
        head = "".join(f"<th>{html.escape(k)}</th>" for k in keys)
        rows = "".join(
            f"<tr><td><b>{html.escape(name)}</b> ({r.n})</td>"
            + "".join(f"<td>{r.metrics.get(k, float('nan')):.4g}</td>" for k in keys)
            + "</tr>"
            for name, r in self.reports.items()
        )
        return f"<table><tr><th>dataset</th>{head}</tr>{rows}</table>"

    def _cell_clicked(self, change: dict[str, Any]) -> None:
        selected = change["new"]
        if selected is None or len(selected) == 0:
            return
        row, col = (int(v) for v in np.asarray(selected).reshape(-1, 2)[-1])
        name = str(self.dataset.value)
        if name != OWN:
            self.message.value = (
                f"Cells of '{html.escape(name)}' are not the explored samples: choose '{OWN}' to click through."
            )
            return
        samples = self.reports[name].cell_samples(row, col)
        if samples.size:
            self.navigate(sample=int(samples[0]))

    def _filter(self, change: dict[str, Any]) -> None:
        if change["new"] and OWN in self.session.datasets:
            if not self.reports:
                self.refresh()
            wrong = np.flatnonzero(~self.reports[OWN].correct.astype(bool))
            self.set_sample_filter(wrong if wrong.size else None)
        else:
            self.set_sample_filter(None)
