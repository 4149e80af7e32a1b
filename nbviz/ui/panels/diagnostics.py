"""Diagnostics panel: metrics on named datasets, a clickable confusion matrix, calibration and slices."""

from __future__ import annotations

from typing import Any

import bqplot as bq
import ipywidgets as widgets
import numpy as np

from ...compute.analysis.answers import MetricsTable, Unavailable
from ..markup import escape
from ..plots import style
from ..plots.figures import BarsPlot, CellGrid, FigurePlot, Plot, row
from .base import Panel, Remark, State

OWN = "data"  # the name of the Explorer's own (x, y): only its confusion cells can move the slider


MAX_LABELLED_CLASSES = 12  # up to this many classes, each cell of the confusion matrix shows its count
CELL_BLUE = "#4292c6"  # the confusion matrix's largest count


#: The metrics table: numbers right-aligned in figures of one width, so a column's digits line up.
TABLE_STYLE = (
    "<style>.nbviz-metrics {border-collapse:collapse; margin:4px 0 8px}"
    " .nbviz-metrics th, .nbviz-metrics td {padding:2px 10px; text-align:right;"
    " font-variant-numeric:tabular-nums}"
    " .nbviz-metrics th:first-child, .nbviz-metrics td:first-child {text-align:left; padding-left:0}"
    " .nbviz-metrics th {border-bottom:1px solid var(--jp-border-color1, #ccc)}</style>"
)


def metrics_html(datasets: MetricsTable, selections: MetricsTable) -> str:
    """One table of the metrics per dataset, then per selection of samples under a header of their own, each
    column written with one precision (4 significant digits for its largest value: 0.9806 / 0.06199)."""
    parts = [(datasets, "dataset (samples)")]
    if selections.rows:
        parts.append((selections, "selection (samples)"))
    tables = []
    for table, what in parts:
        if not table.rows:
            continue
        columns = [
            style.fmt_column([values[j] for _, _, values in table.rows], digits=4) for j in range(len(table.columns))
        ]
        head = "".join(f"<th>{escape(k)}</th>" for k in table.columns)
        rows = "".join(
            f"<tr><td><b>{escape(name)}</b> ({n:,})</td>" + "".join(f"<td>{col[i]}</td>" for col in columns) + "</tr>"
            for i, (name, n, _) in enumerate(table.rows)
        )
        tables.append(f"<tr><th>{escape(what)}</th>{head}</tr>{rows}")
    return f"{TABLE_STYLE}<table class='nbviz-metrics'>{''.join(tables)}</table>" if tables else ""


class DiagnosticsPanel(Panel):
    """How the model does on each dataset, where it errs, and on which slices of a feature."""

    name = "diagnostics"
    title = "Diagnostics"
    depends_on = ("selections",)  # a selection of samples (a region of the projector) is reported beside the datasets

    def build(self) -> list[widgets.Widget]:
        data = self.analysis.data
        self.dataset = widgets.Dropdown(options=list(data.dataset_names), description="dataset")
        self.dataset.observe(lambda change: self.refresh(), names="value")
        self.table = widgets.HTML()
        # White to a mid blue: the counts are black in every cell, and black reads on the darkest (contrast 6.2;
        # on the old dark blue #08519c it was 2.6).
        self.cm_scale = bq.ColorScale(colors=["#ffffff", CELL_BLUE], min=0.0, max=1.0)
        self.cm = CellGrid(
            # Shaped by the first render (at most SHOWN_CLASSES rows, whatever the classes): nothing of size k here.
            color=np.zeros((2, 2), np.float32),
            scales={"row": bq.OrdinalScale(reverse=True), "column": bq.OrdinalScale(), "color": self.cm_scale},
            interactions={"click": "select"},
            selected_style={"stroke": "#d62728", "stroke-width": 3},
            display_format=".0f",
            font_style={"font-size": "11px", "fill": "#000000"},
        )
        self.cm.observe(self._cell_clicked, names="selected")
        self.cm_figure = style.figure(
            marks=[self.cm],
            axes=[
                bq.Axis(scale=self.cm.scales["row"], side="left", label="true"),
                bq.Axis(scale=self.cm.scales["column"], side="bottom", label="predicted", label_offset="40px"),
            ],
            fig_margin={"top": 10, "bottom": 60, "left": 60, "right": 10},
            layout=widgets.Layout(width="380px", height="370px"),
        )
        self.cm_plot = FigurePlot(self.cm_figure, "confusion matrix (click a cell)")
        self.recall_plot = BarsPlot("recall per class", horizontal=True, size=("300px", "300px"))
        self.precision_plot = BarsPlot("precision per class", horizontal=True, size=("300px", "300px"))
        cx, cy = bq.LinearScale(min=0.0, max=1.0), bq.LinearScale(min=0.0, max=1.0)
        diagonal = bq.Lines(
            x=[0.0, 1.0], y=[0.0, 1.0], scales={"x": cx, "y": cy}, colors=["#bbbbbb"], line_style="dashed"
        )
        self.calibration = bq.Lines(x=np.zeros(0), y=np.zeros(0), scales={"x": cx, "y": cy}, marker="circle")
        self.calibration_figure = style.figure(
            marks=[diagonal, self.calibration],
            axes=[bq.Axis(scale=cx, label="confidence"), bq.Axis(scale=cy, side="left", label="accuracy")],
            min_aspect_ratio=1.0,
            max_aspect_ratio=1.0,
            fig_margin={"top": 10, "bottom": 50, "left": 50, "right": 10},
            layout=widgets.Layout(width="300px", height="300px"),
        )
        self.calibration_plot = FigurePlot(self.calibration_figure, "calibration")
        for axis in self.calibration_figure.axes:
            style.set_ticks(axis, 0.0, 1.0)  # 0, 0.2, ..., 1.0: bqplot's own were 0, 0.1, ..., 1 run together
        tabular = data.tabular
        # Only one (samples, features) input has features to slice by: a scalar input has no feature axis.
        names = (data.feature_names or [str(i) for i in range(data.sample_shape[-1])]) if tabular else []
        self.slice_feature = widgets.Dropdown(options=[(n, i) for i, n in enumerate(names)], description="slice by")
        self.slice_feature.observe(lambda change: self.refresh(), names="value")
        self.slice_plot = BarsPlot("metric per quantile slice", horizontal=True, size=("380px", "260px"))
        slices = widgets.VBox(
            [self.slice_feature, self.slice_plot.widget], layout=widgets.Layout(display=None if tabular else "none")
        )
        self.misclassified = widgets.Checkbox(
            value=False, description="slider: misclassified samples only", indent=False
        )
        self.misclassified.observe(self._filter, names="value")
        self.values = np.zeros((0, 0), np.float32)
        return [
            widgets.HBox([self.dataset, self.misclassified]),
            self.table,
            # Wrapped, not squeezed: a narrow panel puts the per-class bars under the matrix instead of clipping it.
            row(self.cm_plot.widget, self.recall_plot.widget, self.precision_plot.widget),
            row(self.calibration_plot.widget, slices),
        ]

    @property
    def figure(self) -> bq.Figure:
        return self.cm_figure

    @property
    def plots(self) -> list[Plot]:
        return [self.cm_plot, self.recall_plot, self.precision_plot, self.calibration_plot, self.slice_plot]

    def pending(self, state: State) -> str:
        n = self.analysis.data.n_samples
        return "" if self.analysis.answered(self.analysis.reports) else f"predictions and metrics over {n} samples"

    def render(self, state: State) -> str:
        analysis = self.analysis
        reports = analysis.reports()
        if isinstance(reports, Unavailable):
            return reports.reason
        metrics = analysis.metrics_table()
        self.table.value = metrics_html(metrics, analysis.selection_table(state.selections))
        name = str(self.dataset.value)
        self.misclassified.layout.display = None if reports[name].task == "classification" else "none"
        confusion = analysis.confusion(name)
        if isinstance(confusion, Unavailable):  # regression, or a vocabulary of classes: metrics only
            for plot in (self.cm_plot, self.recall_plot, self.precision_plot, self.calibration_plot):
                plot.clear(confusion.reason)
            self.values = np.zeros((0, 0), np.float32)
        else:
            self.values = confusion.confusion
            classes = np.array(confusion.classes)
            with self.cm.hold_sync(), self.cm_scale.hold_sync():
                self.cm_scale.max = confusion.most
                # The cells first: bqplot checks row and column against their shape (the shape follows the data).
                with self.cm.hold_trait_notifications():
                    self.cm.color = confusion.confusion
                    self.cm.row, self.cm.column = classes, classes
                # Counts in the cells while they fit (a language model's vocabulary has too many to read).
                self.cm.display_format = ".0f" if len(classes) <= MAX_LABELLED_CLASSES else None
            self._size_matrix([str(c) for c in classes])
            self.cm_plot.show()
            real = classes[confusion.class_index >= 0]  # "other" has no recall of its own
            for plot, values in ((self.recall_plot, confusion.recall), (self.precision_plot, confusion.precision)):
                height = f"{max(300, 16 * len(real) + 60)}px"  # 16 px a class: 20 names ran together in 300 px
                if plot.figure.layout.height != height:
                    plot.figure.layout.height = height
                plot.show(values, labels=real, span=(0.0, 1.0))
            if confusion.calibration is None:
                self.calibration_plot.clear("no predictions to calibrate")
            else:
                with self.calibration.hold_sync():
                    self.calibration.x, self.calibration.y = confusion.calibration
                self.calibration_plot.show()
        if self.slice_feature.value is not None:
            sliced = analysis.slices(name, int(self.slice_feature.value))
            if sliced is not None:
                self.slice_plot.show(sliced.values, labels=np.array(sliced.labels), title=sliced.title)
        shown = "" if isinstance(confusion, Unavailable) else confusion.note  # the classes past the bound
        return Remark("; ".join(text for text in (metrics.note, shown) if text))  # and the samples left out

    def _size_matrix(self, names: list[str]) -> None:
        """Margins that hold the class names, upright when a name is wider than its column (or they run
        together), and rows of at least 16 px (20 classes and "other" overlapped in 300 px)."""
        side = max(300, 16 * len(names))
        width = style.label_px(names, pad=0.0)
        slant = width + 6 > side / max(len(names), 1)  # a name wider than its column
        margin = {
            "top": 10,
            "bottom": 45 + (width if slant else 0),  # upright names below the matrix
            "left": 40 + width,
            "right": 10,
        }
        with self.cm_figure.hold_sync():
            # Upright, not slanted: slanted names 16 px apart overlapped one another.
            self.cm_figure.axes[1].tick_rotate = -90 if slant else 0
            if self.cm_figure.fig_margin != margin:
                self.cm_figure.fig_margin = margin
            height = f"{side + margin['top'] + margin['bottom']}px"
            if self.cm_figure.layout.height != height:
                self.cm_figure.layout.height = height
                self.cm_figure.layout.max_width = f"{side + margin['left'] + margin['right']}px"

    def _cell_clicked(self, change: dict[str, Any]) -> None:
        selected = change["new"]
        if selected is None or len(selected) == 0:
            return
        row, col = (int(v) for v in np.asarray(selected).reshape(-1, 2)[-1])
        name = str(self.dataset.value)
        if name != OWN:
            self.message.value = (
                f"Cells of '{escape(name)}' are not the explored samples: choose '{OWN}' to click through."
            )
            return
        samples = self.analysis.confusion_cell_samples(name, row, col)
        if samples.size:
            self.navigate(sample=int(samples[0]))

    def _filter(self, change: dict[str, Any]) -> None:
        wrong = self.analysis.misclassified() if change["new"] else None
        self.set_sample_filter(wrong if wrong is not None and wrong.size else None)
