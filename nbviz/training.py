"""LiveTraining: a Keras callback that shows losses, gradients, weights and activations while a model trains."""

from __future__ import annotations

import html
import time
from typing import Any

import bqplot as bq
import ipywidgets as widgets
import keras
import numpy as np

from .compute.training import TrainingRecorder
from .plots import GREYS, HeatmapPlot

LINE_COLORS = {"batch": "#9ecae1", "train": "#08519c", "val": "#e6550d"}


class _UiPoller:
    """Lets the kernel handle widget events (pause, layer choice) while ``fit`` blocks the cell.

    Uses jupyter-ui-poll when it is installed and the code runs in a kernel; anywhere else, or if it fails,
    it does nothing: training never depends on it.
    """

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._context: Any = None
        self._poll: Any = None

    def __enter__(self) -> _UiPoller:
        if not self.enabled:
            return self
        try:
            from IPython import get_ipython

            shell = get_ipython()
            if shell is None or not hasattr(shell, "kernel"):
                return self
            from jupyter_ui_poll import ui_events

            self._context = ui_events()
            self._poll = self._context.__enter__()
        except Exception:  # noqa: BLE001 - an optional nicety: never break training for it
            self._context = self._poll = None
        return self

    def poll(self) -> None:
        if self._poll is not None:
            try:
                self._poll(5)
            except Exception:  # noqa: BLE001
                self._poll = None

    def __exit__(self, *exc: Any) -> None:
        if self._context is not None:
            try:
                self._context.__exit__(*exc)
            finally:
                self._context = self._poll = None


class TrainingView:
    """The live view: curves, gradient norms per layer over time, one layer's weights over time, activations."""

    def __init__(self, recorder: TrainingRecorder) -> None:
        self.recorder = recorder
        self._drawn: dict[str, Any] = {}  # what the marks hold now, so a redraw sends only what is new
        x, y = bq.LinearScale(), bq.LinearScale()
        self.lines = {
            key: bq.Lines(
                x=np.zeros(0, np.float32),
                y=np.zeros(0, np.float32),
                scales={"x": x, "y": y},
                colors=[color],
                labels=[label],
            )
            for key, color, label in (
                ("batch", LINE_COLORS["batch"], "loss per batch"),
                ("train", LINE_COLORS["train"], "loss per epoch"),
                ("val", LINE_COLORS["val"], "val_loss per epoch"),
            )
        }
        self.lines["train"].marker = self.lines["val"].marker = "circle"
        self.loss_figure = bq.Figure(
            marks=list(self.lines.values()),
            axes=[bq.Axis(scale=x, label="batch", tick_format="d"), bq.Axis(scale=y, side="left", tick_format=".3g")],
            title="loss",
            legend_location="top-right",
            fig_margin={"top": 40, "bottom": 40, "left": 60, "right": 20},
            layout=widgets.Layout(width="440px", height="300px"),
        )
        for line in self.lines.values():
            line.display_legend = True
        mx, my = bq.LinearScale(), bq.LinearScale()
        self.metric_lines: dict[str, bq.Lines] = {}
        self.metric_figure = bq.Figure(
            marks=[],
            axes=[bq.Axis(scale=mx, label="epoch", tick_format="d"), bq.Axis(scale=my, side="left", tick_format=".3g")],
            title="metrics per epoch",
            legend_location="bottom-right",
            fig_margin={"top": 40, "bottom": 40, "left": 60, "right": 20},
            layout=widgets.Layout(width="440px", height="300px"),
        )
        self._metric_scales = {"x": mx, "y": my}
        self.grad_map = HeatmapPlot("log10 |d loss / d weights|: layers x records", size=("440px", "320px"))
        self.layer_choice = widgets.Dropdown(options=[], description="layer")
        self.layer_choice.observe(lambda change: self.draw(), names="value")
        self.hist_map = HeatmapPlot("weights over time: bins x records", colors=GREYS[::-1], size=("440px", "320px"))
        rx, ry = bq.LinearScale(), bq.LogScale()
        self.ratio_line = bq.Lines(x=np.zeros(0, np.float32), y=np.zeros(0, np.float32), scales={"x": rx, "y": ry})
        self.ratio_figure = bq.Figure(
            marks=[self.ratio_line],
            axes=[bq.Axis(scale=rx, label="batch", tick_format="d"), bq.Axis(scale=ry, side="left", tick_format=".1e")],
            title="update ratio |dw| / |w|",
            fig_margin={"top": 40, "bottom": 40, "left": 70, "right": 20},
            layout=widgets.Layout(width="440px", height="300px"),
        )
        self.activations = widgets.HTML()
        self.pause = widgets.ToggleButton(value=False, description="Pause display", icon="pause")
        self.status = widgets.HTML("waiting for fit")
        self.widget = widgets.VBox(
            [
                widgets.HBox([self.pause, self.status]),
                widgets.HBox([self.loss_figure, self.metric_figure]),
                widgets.HBox([self.grad_map.widget, widgets.VBox([self.layer_choice, self.hist_map.widget])]),
                widgets.HBox([self.ratio_figure, self.activations]),
            ]
        )

    def draw(self) -> None:
        """Show everything recorded so far: only the parts with new data are sent (marks updated in place)."""
        history = self.recorder.history
        n_batches, n_epochs, n_records = (
            len(history["batch_loss"]),
            len(history["epoch_step"]),
            len(history["grad_step"]),
        )
        if n_batches != self._drawn.get("batches"):
            with self.lines["batch"].hold_sync():
                self.lines["batch"].x = np.arange(1, n_batches + 1, dtype=np.float32)
                self.lines["batch"].y = history["batch_loss"].astype(np.float32)
        if n_epochs != self._drawn.get("epochs"):
            epochs = history["epoch_step"].astype(np.float32)
            for key, values in (("train", history["loss"]), ("val", history["val_loss"])):
                with self.lines[key].hold_sync():
                    self.lines[key].x, self.lines[key].y = epochs[: len(values)], values.astype(np.float32)
            self._draw_metrics(history)
        if list(self.layer_choice.options) != history["layers"]:
            self.layer_choice.options = history["layers"]
        if n_records and (n_records, self.layer_choice.value) != (self._drawn.get("records"), self._drawn.get("layer")):
            with np.errstate(divide="ignore"):
                logs = np.where(history["grad_norm"] > 0, np.log10(history["grad_norm"]), np.nan).T
            finite = logs[np.isfinite(logs)]
            lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
            self.grad_map.show(logs, lo, hi if hi > lo else lo + 1.0)
            self._draw_layer(history)
        self._drawn = {"batches": n_batches, "epochs": n_epochs, "records": n_records, "layer": self.layer_choice.value}
        self.status.value = f"batch {n_batches}, epochs done {n_epochs}, records {n_records}" + (
            " &middot; display paused (training goes on)" if self.pause.value else ""
        )

    def _draw_metrics(self, history: dict[str, Any]) -> None:
        keys = [k for k in self.recorder.epoch_logs if not k.endswith("loss")]
        for key in keys:
            if key not in self.metric_lines:
                color = LINE_COLORS["val"] if key.startswith("val_") else LINE_COLORS["train"]
                self.metric_lines[key] = bq.Lines(
                    scales=self._metric_scales, colors=[color], labels=[key], display_legend=True, marker="circle"
                )
                self.metric_figure.marks = list(self.metric_lines.values())
            values = history[key]
            with self.metric_lines[key].hold_sync():
                self.metric_lines[key].x = np.arange(1, len(values) + 1, dtype=np.float32)
                self.metric_lines[key].y = values.astype(np.float32)

    def _draw_layer(self, history: dict[str, Any]) -> None:
        name = self.layer_choice.value
        if name is None:
            return
        counts = history["weight_hist"][name].T.astype(np.float32)  # bins x records, the highest values on top
        self.hist_map.show(
            counts[::-1], 0.0, max(float(counts.max()), 1.0), title=f"{name}: kernel histogram x records"
        )
        column = history["layers"].index(name)
        ratio = history["update_ratio"][:, column]
        keep = np.isfinite(ratio) & (ratio > 0)
        with self.ratio_line.hold_sync():
            self.ratio_line.x = history["grad_step"][keep].astype(np.float32)
            self.ratio_line.y = ratio[keep].astype(np.float32)
        rows = "".join(
            f"<tr><td>{html.escape(layer)}</td><td>{history['act_mean'][-1, i]:.3g}</td>"
            f"<td>{history['act_std'][-1, i]:.3g}</td><td>{history['dead_share'][-1, i]:.1%}</td></tr>"
            for i, layer in enumerate(history["layers"])
        )
        self.activations.value = (
            "<b>layer outputs on the monitoring batch</b><table><tr><th>layer</th><th>mean</th><th>std</th>"
            f"<th>dead</th></tr>{rows}</table>"
        )


class LiveTraining(keras.callbacks.Callback):
    """A Keras callback that is also a widget: display it, then pass it to ``fit``.

    ``history`` holds, as numpy arrays and usable without any display: "loss" and "val_loss" (and other
    metrics) per epoch, "batch_loss" per batch, "layers" (leaf layers with trainable weights), "grad_step"
    (the batches at which layer statistics were recorded), and per record and layer "grad_norm",
    "update_ratio", "act_mean", "act_std" and "dead_share", plus "weight_hist" and "weight_edges" per layer.

    The gradients are those of the training loss on a fixed monitoring batch, computed with the compute
    core's :class:`~nbviz.compute.Probe` (the model in inference mode) before every ``every``-th batch
    (steps 0, every, 2 * every, ...) and when fit ends. The display redraws at most ``max_fps`` times a
    second whatever the batch rate, always at the end of fit; pausing it never pauses training. Several
    fits accumulate; :meth:`reset` clears.

    Parameters
    ----------
    monitor : array-like, (x, y) or tf.data.Dataset, optional
        Monitoring samples (at most 64 are used; a dataset yielding (x, y) is read only that far); without
        them only losses are recorded.
    every : int
        Batches between two records of layer statistics.
    max_fps : float
        Most display updates per second.
    poll_ui : bool
        In a kernel, let the pause button and the layer choice act while ``fit`` runs (jupyter-ui-poll).
    """

    def __init__(
        self,
        monitor: Any = None,
        every: int = 50,
        bins: int = 30,
        max_fps: float = 5.0,
        poll_ui: bool = True,
    ) -> None:
        super().__init__()
        self.recorder = TrainingRecorder(monitor, every=every, bins=bins)
        self.view = TrainingView(self.recorder)
        self.min_interval = 1.0 / max_fps
        self._last_draw = 0.0
        self._ui = _UiPoller(poll_ui)
        self.draws = 0  # how many times the display was redrawn (tests and benchmarks read it)

    @property
    def history(self) -> dict[str, Any]:
        return self.recorder.history

    @property
    def widget(self) -> widgets.Widget:
        return self.view.widget

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.view.widget._repr_mimebundle_(**kwargs)

    def reset(self) -> None:
        self.recorder.reset()
        self.view.draw()

    def draw(self, force: bool = False) -> None:
        """Redraw now if the throttle allows (or ``force``) and the display is not paused."""
        now = time.perf_counter()
        if force or (not self.view.pause.value and now - self._last_draw >= self.min_interval):
            self._last_draw = now
            self.draws += 1
            self.view.draw()
        self._ui.poll()

    # ----------------------------------------------------------------------------------------- Keras hooks
    # Batch ends may run on Keras's worker threads (async_safe): they only store the batch's losses, so the
    # training loop never waits for them. Records and redraws happen before a batch, on the training thread.
    async_safe = True

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.recorder.begin(self.model)
        self._ui.__enter__()
        self.draw(force=True)

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self.recorder.batch_begin(batch)
        self.draw()

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self.recorder.batch_end(batch, logs)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.recorder.epoch(logs)
        self.draw()

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self.recorder.end()
        self._ui.__exit__(None, None, None)
        self.draw(force=True)  # the last state always shows
