"""SHAP panel: local attributions for the current sample and class, global importance over a subset."""

from __future__ import annotations

import html
import threading

import bqplot as bq
import ipywidgets as widgets
import numpy as np

from ..compute import EXPLAINERS, Attribution, Explanation
from ..compute.redact import rank_quantiles
from ..plots import BarsPlot, HeatmapPlot
from .base import Panel, State, error_html

SHAP_COLORS = ["#008bfb", "#ff0051"]  # shap's own blue (low feature value) to red (high)


def feature_labels(names: list[str] | None, shape: tuple[int, ...]) -> list[str]:
    """A name per flattened input value: the given names, or positions such as '3,4' for a 2-D input."""
    size = int(np.prod(shape))
    if names is not None and len(names) == size:
        return list(names)
    return (
        [",".join(str(i) for i in idx) for idx in np.ndindex(*shape)]
        if len(shape) > 1
        else [str(i) for i in range(size)]
    )


def top_features(values: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` largest |values|, largest last (bars are drawn bottom up)."""
    order = np.argsort(np.abs(values), kind="stable")
    return order[-k:]


class ShapPanel(Panel):
    """SHAP values from the shap package: the current sample's attribution and, on request, global importance."""

    name = "shap"
    title = "SHAP"
    depends_on = ("sample",)  # attributions are of the model's output, whatever layer is selected

    def build(self) -> list[widgets.Widget]:
        session = self.session
        self.shape = session.x[0].shape[1:]
        self.kind = "bars" if len(self.shape) == 1 else ("sequence" if len(self.shape) == 2 else "image")
        self.labels = feature_labels(session.feature_names, self.shape)
        n_classes = session.output_units
        class_options = [("predicted class", -1)] + [(session.class_name(i), i) for i in range(n_classes)]
        self.explainer_choice = widgets.Dropdown(options=EXPLAINERS, value="auto", description="explainer")
        self.class_choice = widgets.Dropdown(options=class_options, value=-1, description="class")
        self.class_choice.layout.display = None if n_classes > 1 else "none"
        self.top_k = widgets.BoundedIntText(
            value=min(10, len(self.labels)), min=1, max=len(self.labels), description="top"
        )
        self.top_k.layout.width = "140px"
        for control in (self.explainer_choice, self.class_choice, self.top_k):
            control.observe(lambda change: self.refresh(), names="value")
        self.info = widgets.HTML()
        if self.kind == "image":
            self.local_plot: BarsPlot | HeatmapPlot = HeatmapPlot("attribution")
        else:
            self.local_plot = BarsPlot("attribution", horizontal=self.kind == "bars", size=("460px", "340px"))
        self.attribution: Attribution | None = None

        # Global importance: computed in a worker thread, with progress and a cancel button.
        self.subset = widgets.BoundedIntText(
            value=min(200, session.n_samples), min=1, max=session.n_samples, description="samples"
        )
        self.subset.layout.width = "180px"
        self.run_button = widgets.Button(description="Global importance", icon="play")
        self.cancel_button = widgets.Button(description="Cancel", icon="stop", disabled=True)
        self.progress = widgets.FloatProgress(value=0.0, min=0.0, max=1.0, layout=widgets.Layout(width="200px"))
        self.global_status = widgets.HTML()
        self.run_button.on_click(lambda _: self.start_global())
        self.cancel_button.on_click(lambda _: self._cancel.set())
        self._cancel = threading.Event()
        self._worker: threading.Thread | None = None
        self.importance_plot = BarsPlot("mean |SHAP| per feature", horizontal=True, size=("420px", "340px"))
        self._build_beeswarm()
        self.global_values = np.zeros(0, np.float32)
        return [
            widgets.HBox([self.explainer_choice, self.class_choice, self.top_k]),
            self.info,
            self.local_plot.widget,
            widgets.HBox([self.subset, self.run_button, self.cancel_button, self.progress]),
            self.global_status,
            widgets.HBox([self.importance_plot.widget, self.beeswarm_figure]),
        ]

    def _build_beeswarm(self) -> None:
        self.swarm_y = bq.LinearScale(min=-0.5, max=10.5)
        # Integer ticks, each relabelled with its feature: tick_labels are looked up by the printed tick ("3").
        self.swarm_axis = bq.Axis(
            scale=self.swarm_y, side="left", tick_values=np.arange(1.0), tick_labels={}, tick_format="d"
        )
        self.swarm = bq.Scatter(
            x=np.zeros(1, np.float32),
            y=np.zeros(1, np.float32),
            color=np.zeros(1, np.float32),
            scales={
                "x": bq.LinearScale(),
                "y": self.swarm_y,
                "color": bq.ColorScale(colors=SHAP_COLORS, min=0.0, max=1.0),
            },
            default_size=12,
            stroke=None,
            interactions={},
        )
        # An explicit format: bqplot's automatic one fails ("invalid format .undefinedg") on some small ranges.
        x_axis = bq.Axis(
            scale=self.swarm.scales["x"], side="bottom", label="SHAP value", grid_lines="dashed", tick_format=".2g"
        )
        self.beeswarm_figure = bq.Figure(
            marks=[self.swarm],
            axes=[x_axis, self.swarm_axis],
            title=f"SHAP per sample (colour: feature {'rank' if self.session.redact else 'value'})",
            fig_margin={"top": 40, "bottom": 40, "left": 130, "right": 20},
            layout=widgets.Layout(width="460px", height="340px"),
        )

    @property
    def figure(self) -> bq.Figure:
        return self.local_plot.figure

    @property
    def class_index(self) -> int | None:
        return None if self.class_choice.value < 0 else int(self.class_choice.value)

    # ----------------------------------------------------------------------------------------- local view
    def render(self, state: State) -> str:
        session = self.session
        if len(session.x) > 1:
            self.values = np.zeros(0, np.float32)
            return f"SHAP values here need a model with one input; this one has {len(session.x)}."
        name = str(self.explainer_choice.value)
        explanation = session.shap(state.sample, name)
        attribution = explanation.for_class(self.class_index)
        self.attribution = attribution
        values = attribution.values[0]
        self.values = values
        cls = int(attribution.class_index[0])
        x = session.x[0][state.sample]
        target = f"class <b>{html.escape(session.class_name(cls))}</b>, " if session.output_units > 1 else ""
        self.info.value = (
            f"{self._explainer_text(explanation)} &middot; {target}base value E[f] = {attribution.base_values[0]:.4g}, "
            f"f(x) = {attribution.outputs[0]:.4g}, sum of SHAP values = {float(values.sum()):.4g}"
        )
        if self.kind == "bars":
            top = top_features(values, int(self.top_k.value))
            # The feature's value helps read its attribution, unless raw values must stay out (redact).
            labels = [self.labels[i] if session.redact else f"{self.labels[i]} = {x[i]:.4g}" for i in top]
            self.local_plot.show(
                values[top], labels=np.array(labels), title=f"top {len(top)} features, sample {state.sample}"
            )
        elif self.kind == "sequence":
            self.local_plot.show(
                values.sum(axis=1), title=f"SHAP per step (summed over features), sample {state.sample}"
            )
        else:
            image = values.sum(axis=-1) if values.ndim == 3 else values.reshape(-1, values.shape[-1])
            m = float(np.abs(image).max()) or 1.0
            self.local_plot.show(image, -m, m, title=f"attribution, sample {state.sample}")
        self._show_global_if_cached()
        return ""

    def _explainer_text(self, explanation: Explanation) -> str:
        text = f"explainer: <b>{explanation.explainer}</b>"
        if explanation.fallback:
            text += f" (auto fell back: {html.escape(explanation.fallback)})"
        elif self.explainer_choice.value == "auto":
            text += " (auto)"
        return text

    # ----------------------------------------------------------------------------------------- global view
    def start_global(self, wait: bool = False) -> None:
        """Compute global importance in a worker thread (the widget stays usable); ``wait`` joins it."""
        if self._worker is not None and self._worker.is_alive():
            return
        self._cancel.clear()
        self.run_button.disabled, self.cancel_button.disabled = True, False
        self.progress.value = 0.0
        self.global_status.value = "computing..."
        key = (str(self.explainer_choice.value), int(self.subset.value))
        self._worker = threading.Thread(target=self._global_job, args=key, daemon=True)
        self._worker.start()
        if wait:
            self._worker.join()

    def _global_job(self, name: str, n: int) -> None:
        try:
            result = self.session.shap_global(name, n, progress=self._set_progress, cancelled=self._cancel.is_set)
            if result is None:
                self.global_status.value = "cancelled"
            else:
                self._show_global(result)
        except Exception as err:  # noqa: BLE001 - a worker's failure is shown, never lost
            self.global_status.value = error_html("global importance", err)
        finally:
            self.run_button.disabled, self.cancel_button.disabled = False, True

    def _set_progress(self, share: float) -> None:
        self.progress.value = share

    def _show_global_if_cached(self) -> None:
        cached = self.session._shap_global.get((str(self.explainer_choice.value), int(self.subset.value)))
        if cached is not None:
            self._show_global(cached)

    def _show_global(self, explanation: Explanation) -> None:
        attribution = explanation.for_class(self.class_index)
        n = len(attribution.values)
        flat = attribution.values.reshape(n, -1)
        importance = np.abs(flat).mean(axis=0)
        self.global_values = importance.astype(np.float32)
        top = top_features(importance, int(self.top_k.value))
        self.importance_plot.show(importance[top], labels=np.array([self.labels[i] for i in top]))
        features = self.session.x[0][:n].reshape(n, -1)[:, top].astype(np.float64)
        if self.session.redact:  # ranks order the samples as the values do, without being values
            scaled = rank_quantiles(features)
        else:
            lo, hi = np.percentile(features, 5, axis=0), np.percentile(features, 95, axis=0)
            scaled = np.clip((features - lo) / np.where(hi > lo, hi - lo, 1.0), 0.0, 1.0)
        jitter = np.random.default_rng(0).uniform(-0.3, 0.3, size=(n, len(top)))
        rows = np.broadcast_to(np.arange(len(top), dtype=np.float64), (n, len(top))) + jitter
        with self.swarm.hold_sync(), self.swarm_y.hold_sync(), self.swarm_axis.hold_sync():
            self.swarm_y.min, self.swarm_y.max = -0.5, len(top) - 0.5
            self.swarm_axis.tick_values = np.arange(len(top), dtype=np.float64)
            # The front end looks labels up by the tick's printed value ("3", not "3.0").
            self.swarm_axis.tick_labels = {str(i): self.labels[t] for i, t in enumerate(top)}
            self.swarm.x = flat[:, top].ravel().astype(np.float32)
            self.swarm.y = rows.ravel().astype(np.float32)
            self.swarm.color = scaled.ravel().astype(np.float32)
        self.progress.value = 1.0
        self.global_status.value = f"{self._explainer_text(explanation)} &middot; {n} samples"
