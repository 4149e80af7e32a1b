"""The current sample: an image, a bar per feature, or a time x features heatmap, with label and prediction."""

from __future__ import annotations

import math

import ipywidgets as widgets
import numpy as np

from ..compute.analysis.analysis import Analysis
from ..compute.analysis.answers import Prediction
from .markup import escape
from .plots.figures import GREYS, BarsPlot, HeatmapPlot
from .plots.tokens import token_chips

SHOWN_TOKENS = 512  # the sample view's first tokens: 2,048 of them would be a page of text and 80 KB per sample


class SampleView:
    """Shows sample ``i`` of the first model input and what the model makes of it (only the latter in redact
    mode)."""

    def __init__(self, analysis: Analysis) -> None:
        self.analysis = analysis
        # Tabular samples (features,) as bars; images (h, w, c), sequences (time, features) and volumes as a heatmap.
        self.table = widgets.HTML()
        if len(analysis.data.sample_shape) == 1:
            # One named bar per feature, read top to bottom (feature names on a vertical chart's linear axis drew
            # no bars at all), 14 px a feature.
            height = min(600, max(240, 14 * analysis.data.sample_shape[0] + 60))
            self.plot: BarsPlot | HeatmapPlot = BarsPlot(
                "sample (z-score per feature)", horizontal=True, size=("300px", f"{height}px"), value_label="z-score"
            )
        else:
            self.plot = HeatmapPlot("sample", colors=GREYS, size=("240px", "240px"), colorbar=False, picture=True)
        self.text = widgets.HTML()
        # Samples that read best as text (several inputs, token ids, strings) show a table in the plot's place.
        shown = self.table if analysis.data.as_table else self.plot.widget
        # An image-shaped output (an autoencoder's, a decoder's) is drawn with its per-pixel error.
        self.output_plot = HeatmapPlot("output", colors=GREYS, size=("150px", "150px"), colorbar=False, picture=True)
        # |output - target|
        self.error_plot = HeatmapPlot("|error|", size=("150px", "150px"), colorbar=False, picture=True)
        outputs = widgets.HBox([self.output_plot.widget, self.error_plot.widget])
        if len(analysis.data.output_shape) < 3 or analysis.policy.redact:
            outputs.layout.display = "none"
        # The caption stays right under the input (label and prediction); the output comes below it.
        self.widget = widgets.VBox([shown, self.text, outputs], layout=widgets.Layout(width="310px"))
        self.values = np.zeros(0, np.float32)
        if analysis.policy.redact:
            shown.layout.display = "none"

    def show(self, sample: int) -> None:
        shown = self.analysis.sample_display(sample)
        self.values = shown.values
        if shown.kind == "hidden":  # the plot stays empty and hidden: only the label and prediction are shown
            self.text.value = (
                f"<b>sample {sample}</b> (input values hidden: redact=True)<br>{describe(shown.prediction)}"
            )
            return
        if shown.kind == "table":
            cells = "".join(
                f"<tr><td><b>{escape(name)}</b></td><td style='word-break:break-all'>{escape(text)}</td></tr>"
                for name, text in shown.rows
            )
            texts = "".join(
                f"<div style='margin:2px 0'><i>{escape(name)}</i> ({len(tokens)} tokens)<br>"
                f"{token_chips(tokens[:SHOWN_TOKENS])}{' ...' if len(tokens) > SHOWN_TOKENS else ''}</div>"
                for name, tokens in shown.tokens
            )
            table = f"<table style='font-size:0.9em'>{cells}</table>" if cells else ""
            self.table.value = f"<b>sample {sample}</b>{texts}{table}"
            self.text.value = describe(shown.prediction)
            return
        if isinstance(self.plot, BarsPlot):
            self.plot.show(shown.values, labels=np.array(shown.labels), title=f"sample {sample} (z-score per feature)")
        else:
            self.plot.show(shown.values, shown.vmin, shown.vmax, title=f"sample {sample}")
            if shown.boxes or hasattr(self.plot, "_boxes"):  # a detector's: targets in green, predictions orange
                colours = {"target": "#31a354", "predicted": "#e6550d"}
                self.plot.outline(
                    np.concatenate([c for _, c, _ in shown.boxes]) if shown.boxes else np.zeros((0, 4)),
                    [colours[kind] for kind, c, _ in shown.boxes for _ in range(len(c))],
                    [t for _, _, texts in shown.boxes for t in texts],
                )
        if shown.output is not None:  # only image-shaped outputs: other models leave the hidden plots alone
            first, second = shown.output_titles
            self.output_plot.show(shown.output.values, shown.output.vmin, shown.output.vmax, title=first)
            if shown.error is not None:
                self.error_plot.show(shown.error.values, 0.0, shown.error.vmax, title=second)
            else:
                self.error_plot.clear("no target")
        self.text.value = describe(shown.prediction)


def describe(prediction: Prediction) -> str:
    """Label and prediction as HTML lines."""
    parts = []
    if prediction.is_classifier:
        if prediction.label is not None:
            parts.append(f"label <b>{escape(prediction.label)}</b>")
        mark = "" if prediction.correct is None else (" &#10003;" if prediction.correct else " &#10007;")
        if prediction.confidence is not None and math.isfinite(prediction.confidence):
            parts.append(f"predicted <b>{escape(prediction.predicted)}</b> ({prediction.confidence:.1%}){mark}")
        else:  # argmax of NaN is a class by accident: no prediction to show
            parts.append("predicted: none (the output is NaN or Inf)")
    else:
        if prediction.label is not None:
            parts.append(f"target <b>{escape(prediction.label)}</b>")
        parts.append(f"predicted <b>{escape(prediction.predicted)}</b>")
    return "<br>".join(parts)
