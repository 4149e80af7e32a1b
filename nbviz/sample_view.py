"""The current sample: an image, a bar per feature, or a time x features heatmap, with label and prediction."""

from __future__ import annotations

import html

import ipywidgets as widgets
import numpy as np

from .compute.display import block_mean
from .compute.session import Session
from .plots import GREYS, BarsPlot, HeatmapPlot

MAX_CELLS = 4096


class SampleView:
    """Shows sample ``i`` of the first model input and what the model makes of it."""

    def __init__(self, session: Session) -> None:
        self.session = session
        x = session.x[0]
        # Tabular samples (features,) as bars; images (h, w, c), sequences (time, features) and volumes as a heatmap.
        if x.ndim == 2:
            self.plot: BarsPlot | HeatmapPlot = BarsPlot("sample (z-score per feature)", size=("300px", "240px"))
            finite = np.where(np.isfinite(x), x, np.nan)
            self._mean = np.nanmean(finite, axis=0)
            std = np.nanstd(finite, axis=0)
            self._std = np.where(std > 0, std, 1.0)
        else:
            self.plot = HeatmapPlot("sample", colors=GREYS, size=("240px", "240px"), colorbar=False)
        self.text = widgets.HTML()
        self.widget = widgets.VBox([self.plot.widget, self.text], layout=widgets.Layout(width="310px"))
        self.values = np.zeros(0, np.float32)
        if session.redact:
            self.plot.widget.layout.display = "none"

    def show(self, sample: int) -> None:
        session = self.session
        x = session.x[0][sample]
        if session.redact:  # the plot stays empty and hidden: only the label and prediction are shown
            self.text.value = f"<b>sample {sample}</b> (input values hidden: redact=True)<br>{self._describe(sample)}"
            return
        if isinstance(self.plot, BarsPlot):
            self.values = ((x - self._mean) / self._std).astype(np.float32)
            labels = session.feature_names or [str(i) for i in range(len(x))]
            self.plot.show(self.values, labels=np.array(labels), title=f"sample {sample} (z-score per feature)")
        else:
            image = x.mean(axis=-1) if x.ndim >= 3 else x  # channels averaged for display
            # A volume's depth slices stacked; a thumbnail of at most MAX_CELLS cells is plenty at this size.
            self.values = block_mean(image.reshape(-1, image.shape[-1]), MAX_CELLS)
            finite = self.values[np.isfinite(self.values)]
            lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
            self.plot.show(self.values, lo, hi if hi > lo else lo + 1.0, title=f"sample {sample}")
        self.text.value = self._describe(sample)

    def _describe(self, sample: int) -> str:
        session = self.session
        pred = session.prediction(sample)
        parts = []
        label = session.label(sample)
        if session.probe.is_classifier:
            probs = pred if pred.shape[-1] > 1 else np.array([1 - pred[0], pred[0]])
            k = int(np.argmax(probs))
            if label is not None:
                ok = "&#10003;" if int(label) == k else "&#10007;"
                parts.append(f"label <b>{html.escape(session.class_name(int(label)))}</b>")
                parts.append(f"predicted <b>{html.escape(session.class_name(k))}</b> ({probs[k]:.1%}) {ok}")
            else:
                parts.append(f"predicted <b>{html.escape(session.class_name(k))}</b> ({probs[k]:.1%})")
        else:
            if label is not None:
                parts.append(f"target <b>{np.round(label, 4)}</b>")
            parts.append(f"predicted <b>{np.round(pred, 4)}</b>")
        return "<br>".join(parts)
