"""LiveTraining: a Keras callback that shows losses, gradients, weights and activations while a model trains."""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import bqplot as bq
import ipywidgets as widgets
import keras
import numpy as np

from ..compute.methods.training import Heatmap, Line, TrainingRecorder
from ..compute.model import version
from ..compute.model.checkpoints import MAX_BYTES, Snapshots, copy_model
from .lifecycle import close_owned
from .markup import escape
from .plots import style
from .plots.figures import GREYS, MUTED, HeatmapPlot, fluid, legend_html, row

LINE_COLORS = {"batch": "#9ecae1", "train": "#08519c", "val": "#e6550d"}
GRAD_TITLE = "log10 |d loss / d weights|: layers x records"
HIST_TITLE = "kernel histogram x records"
ERROR = "var(--jp-error-color1, #b00020)"  # as the panels' error lines


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
        # Axes with 1-2-5 ticks set on each draw (style.set_ticks); legends above the figures, never over the
        # curves (bqplot's own legend box sat on them).
        self.loss_axes = (bq.Axis(scale=x, label="optimizer step"), bq.Axis(scale=y, side="left", label="loss"))
        self.loss_figure = style.figure(
            marks=list(self.lines.values()),
            axes=list(self.loss_axes),
            title="loss",
            fig_margin={"top": 40, "bottom": 45, "left": 65, "right": 20},
            layout=fluid("440px", "300px"),
        )
        self.loss_legend = widgets.HTML(
            legend_html([(LINE_COLORS[key], line.labels[0]) for key, line in self.lines.items()])
        )
        mx, my = bq.LinearScale(), bq.LinearScale()
        self.metric_lines: dict[str, bq.Lines] = {}
        self.metric_axes = (bq.Axis(scale=mx, label="epoch"), bq.Axis(scale=my, side="left"))
        self.metric_figure = style.figure(
            marks=[],
            axes=list(self.metric_axes),
            title="metrics per epoch",
            fig_margin={"top": 40, "bottom": 45, "left": 65, "right": 20},
            layout=fluid("440px", "300px"),
        )
        self.metric_legend = widgets.HTML()
        self._metric_scales = {"x": mx, "y": my}
        self.grad_map = HeatmapPlot(GRAD_TITLE, size=("440px", "320px"))
        self.layer_choice = widgets.Dropdown(options=[], description="layer")
        self.layer_choice.observe(lambda change: self._draw_layer(), names="value")
        self.hist_map = HeatmapPlot(f"weights over time: {HIST_TITLE}", colors=GREYS[::-1], size=("440px", "320px"))
        rx, ry = bq.LinearScale(), bq.LogScale()
        self.ratio_line = bq.Lines(x=np.zeros(0, np.float32), y=np.zeros(0, np.float32), scales={"x": rx, "y": ry})
        self.ratio_axes = (
            bq.Axis(scale=rx, label="optimizer step"),
            bq.Axis(scale=ry, side="left", label="|dw| / |w|"),
        )
        self.ratio_figure = style.figure(
            marks=[self.ratio_line],
            axes=list(self.ratio_axes),
            title="update ratio |dw| / |w|",
            fig_margin={"top": 40, "bottom": 45, "left": 70, "right": 20},
            layout=fluid("440px", "300px"),
        )
        self.activations = widgets.HTML()
        self.pause = widgets.ToggleButton(value=False, description="Pause display", icon="pause")
        self.status = widgets.HTML("waiting for fit")
        self.widget = widgets.VBox(
            [
                widgets.HTML(f"<style>{style.THEME_CSS}</style>"),
                widgets.HBox([self.pause, self.status]),
                row(
                    widgets.VBox([self.loss_legend, self.loss_figure]),
                    widgets.VBox([self.metric_legend, self.metric_figure]),
                ),
                row(self.grad_map.widget, widgets.VBox([self.layer_choice, self.hist_map.widget])),
                row(self.ratio_figure, self.activations),
            ]
        )
        self.widget.add_class("nbviz-view")  # the theme's colours (style.THEME_CSS)

    def draw(self) -> None:
        """Show everything recorded so far: only the parts with new data are sent (marks updated in place).

        Every picture comes bounded from the recorder (at most its point budget per line and column budget per
        heatmap), so a redraw costs the same however long the run.
        """
        rec = self.recorder
        n_batches, n_epochs, n_records = len(rec.batch_step), len(rec.epoch_step), len(rec.grad_step)
        if n_batches != self._drawn.get("batches"):
            _show_line(self.lines["batch"], rec.batch_line())
        if n_epochs != self._drawn.get("epochs"):
            _show_line(self.lines["train"], rec.epoch_line("loss"))
            _show_line(self.lines["val"], rec.epoch_line("val_loss"))
            self._draw_metrics()
        if n_batches != self._drawn.get("batches") or n_epochs != self._drawn.get("epochs"):
            _tick_lines(self.loss_axes, [self.lines[key] for key in ("batch", "train", "val")])
        if n_records != self._drawn.get("records"):
            picture = rec.grad_map()
            self.grad_map.label(rows=rec.layers, x_title="optimizer step", x_range=self._steps())
            self.grad_map.show(picture.values, picture.vmin, picture.vmax, title=_title(GRAD_TITLE, picture))
        self._drawn.update(batches=n_batches, epochs=n_epochs, records=n_records)
        if list(self.layer_choice.options) != rec.layers:
            # Setting the options may set the value, whose observer then draws the layer: _draw_layer below
            # finds it drawn and sends nothing, so the layer is drawn once. A Dropdown that had no options
            # keeps no value (ipywidgets 8): choose the first layer, or nothing would show until one is chosen.
            self.layer_choice.options = rec.layers
            if self.layer_choice.value is None and rec.layers:
                self.layer_choice.value = rec.layers[0]
        self._draw_layer()
        self.status.value = (
            f"step {rec.step}, epochs done {n_epochs}, records {n_records}"
            + (" &middot; display paused (training goes on)" if self.pause.value else "")
            + ("" if rec.note is None else f'<br><span style="color:{MUTED}">{escape(rec.note)}</span>')
            + ("" if rec.failure is None else f'<br><span style="color:{ERROR}">{escape(rec.failure)}</span>')
            + ("" if rec.loss_text is None else f'<br><span style="color:{MUTED}">{escape(rec.loss_text)}</span>')
        )

    def _steps(self) -> tuple[float, float]:
        """The optimizer steps at the first and last record: the span of the heatmaps' columns ((0, 1) before the
        first record, or when none is ever taken: a frozen model, a model with its own train step)."""
        steps = self.recorder.grad_step.values
        if not len(steps):
            return (0.0, 1.0)
        return (float(steps[0]), float(steps[-1]) if steps[-1] > steps[0] else float(steps[0]) + 1.0)

    def _draw_metrics(self) -> None:
        keys = [k for k in self.recorder.epoch_logs if not k.endswith("loss")]
        for key in keys:
            if key not in self.metric_lines:
                color = LINE_COLORS["val"] if key.startswith("val_") else LINE_COLORS["train"]
                self.metric_lines[key] = bq.Lines(
                    scales=self._metric_scales, colors=[color], labels=[key], display_legend=True, marker="circle"
                )
                self.metric_figure.marks = list(self.metric_lines.values())
            _show_line(self.metric_lines[key], self.recorder.epoch_line(key))
        if keys:
            self.metric_legend.value = legend_html([(self.metric_lines[k].colors[0], k) for k in keys])
            _tick_lines(self.metric_axes, [self.metric_lines[k] for k in keys], integer_x=True)

    def _draw_layer(self) -> None:
        """The chosen layer's pictures, when the layer or the records changed since they were drawn."""
        rec, name = self.recorder, self.layer_choice.value
        key = (len(rec.grad_step), name)
        if key == self._drawn.get("layer"):
            return
        self._drawn["layer"] = key
        if name is None or not len(rec.grad_step):  # nothing recorded (yet, or since a reset): empty pictures
            self.hist_map.show(np.zeros((0, 0)), 0.0, 1.0, title=HIST_TITLE)
            _show_line(self.ratio_line, Line(np.zeros(0, np.float32), np.zeros(0, np.float32)))
            self.activations.value = ""
            return
        picture = rec.hist_map(name)
        edges = rec.weight_edges.get(name)
        # The highest bin is on top: the top edge of the first row is the last edge.
        y_range = None if edges is None else (float(edges[-1]), float(edges[0]))
        self.hist_map.label(x_title="optimizer step", y_title="weight", x_range=self._steps(), y_range=y_range)
        self.hist_map.show(picture.values, picture.vmin, picture.vmax, title=_title(f"{name}: {HIST_TITLE}", picture))
        _show_line(self.ratio_line, rec.ratio_line(name))
        _tick_lines(self.ratio_axes, [self.ratio_line], log_y=True)
        history = rec.history
        # One precision per column, right-aligned, so the numbers line up (style.fmt_column).
        means, stds = style.fmt_column(history["act_mean"][-1]), style.fmt_column(history["act_std"][-1])
        num = "style='text-align:right; padding-left:1em'"
        rows = "".join(
            f"<tr><td>{escape(layer)}</td><td {num}>{means[i]}</td><td {num}>{stds[i]}</td>"
            f"<td {num}>{history['dead_share'][-1, i]:.1%}</td></tr>"
            for i, layer in enumerate(history["layers"])
        )
        self.activations.value = (
            "<b>layer outputs on the monitoring batch</b><table><tr><th>layer</th><th>mean</th><th>std</th>"
            f"<th>dead</th></tr>{rows}</table>"
        )


def _title(title: str, picture: Heatmap) -> str:
    """A heatmap's title, saying how many records a column averages once there are too many to show each."""
    n = picture.records_per_column
    return title if n == 1 else f"{title} ({n} per column)"


def _tick_lines(
    axes: tuple[bq.Axis, bq.Axis], lines: list[bq.Lines], log_y: bool = False, integer_x: bool = False
) -> None:
    """1-2-5 ticks (decades on a log axis) over what ``lines`` hold now, on their x and y axes."""
    xs = [np.asarray(line.x, np.float64) for line in lines if len(line.x)]
    ys = [np.asarray(line.y, np.float64) for line in lines if len(line.y)]
    if not xs:
        return
    x, y = np.concatenate(xs), np.concatenate(ys)
    x, y = x[np.isfinite(x)], y[np.isfinite(y) & ((y > 0) if log_y else True)]
    if x.size:
        hi = max(float(x.max()), float(x.min()) + 1.0) if integer_x else float(x.max())
        style.set_ticks(axes[0], float(x.min()), hi, n=4)
    if y.size:
        style.set_ticks(axes[1], float(y.min()), float(y.max()), n=4, log=log_y)


def _show_line(mark: bq.Lines, line: Line) -> None:
    """Copy a line's points onto its mark: one message (float32 buffers)."""
    with mark.hold_sync():
        mark.x, mark.y = line.x, line.y


class LiveTraining(keras.callbacks.Callback):
    """A Keras callback that is also a widget: display it, then pass it to ``fit``.

    ``history`` holds, as numpy arrays and usable without any display: "loss" and "val_loss" (and other
    metrics) per epoch with "epoch_step" (the step at each epoch's end), "batch_loss" per batch end with
    "batch_step", "layers" (leaf layers with trainable weights), "grad_step" (the steps at which layer
    statistics were recorded), and per record and layer "grad_norm", "update_ratio", "act_mean", "act_std"
    and "dead_share", plus "weight_hist" and "weight_edges" per layer. The arrays are the full, exact series
    (read-only views, no copy); only the display is reduced to a point budget.

    Steps are the optimizer's (``model.optimizer.iterations``: optimizer steps applied so far), as TensorBoard
    counts them. With ``steps_per_execution=k`` Keras calls the batch hooks once per k batches, so batch losses
    come once per execution, at the step after it.

    The gradients are those of the training loss on a fixed monitoring batch, computed with the compute
    core's :class:`~nbviz.compute.Probe` (the model in inference mode) before a batch at the first step seen
    at or after each multiple of ``every`` (steps 0, every, 2 * every, ... when every batch is seen) and when
    fit ends. The display redraws at most ``max_fps`` times a second whatever the batch rate, always at the
    end of fit; pausing it never pauses training. Several fits accumulate (a model compiled again continues
    from the last step); :meth:`reset` clears. Every batch end tells the compute core that the weights may
    have changed (:func:`nbviz.compute.model.version.bump`).

    Parameters
    ----------
    monitor : array-like, (x, y) or tf.data.Dataset, optional
        Monitoring samples (at most 64 are used; a dataset yielding (x, y) is read only that far); without
        them only losses are recorded.
    every : int
        Optimizer steps between two records of layer statistics.
    bins : int
        Histogram bins of each layer's kernel.
    max_fps : float
        Most display updates per second.
    poll_ui : bool
        In a kernel, let the pause button and the layer choice act while ``fit`` runs (jupyter-ui-poll).
    loss : callable, optional
        ``loss(y_true, y_pred)`` for the gradient norms, for a model that trains on a loss of its own (a
        custom ``train_step``); by default the loss the Explorer's gradients tab uses. The status line says
        which loss is differentiated.
    snapshots : "epoch", int or None
        When to keep the weights, so that an Explorer given ``training=`` this callback can show the model as
        it was (its checkpoint slider): at each epoch's end (the default), every ``snapshots`` optimizer steps,
        or never (None). One is also kept when ``fit`` begins, before the first batch.
    max_snapshot_bytes : int
        The most bytes of snapshots held in memory (default 256 MB); later ones are written to a temporary
        folder as Keras ``.weights.h5`` files (one model's weights each), removed by :meth:`close` or
        :meth:`reset`, or when Python exits.
    """

    def __init__(
        self,
        monitor: Any = None,
        every: int = 50,
        bins: int = 30,
        max_fps: float = 5.0,
        poll_ui: bool = True,
        loss: Any = None,
        snapshots: str | int | None = "epoch",
        max_snapshot_bytes: int = MAX_BYTES,
    ) -> None:
        super().__init__()
        #: The weights kept while training (:class:`~nbviz.compute.model.checkpoints.Snapshots`: a list of
        #: :class:`~nbviz.compute.model.checkpoints.Snapshot` with their steps and epochs).
        self.snapshots = Snapshots(snapshots, max_snapshot_bytes)
        self.recorder = TrainingRecorder(monitor, every=every, bins=bins, loss=loss)
        self.view = TrainingView(self.recorder)
        self.min_interval = 1.0 / max_fps
        self._last_draw = 0.0
        self._ui = _UiPoller(poll_ui)
        self.draws = 0  # how many times the display was redrawn (tests and benchmarks read it)
        #: Called after each redraw (an Explorer's layer graph coloured by a training metric).
        self.listeners: list[Callable[[], None]] = []

    @property
    def history(self) -> dict[str, Any]:
        return self.recorder.history

    @property
    def widget(self) -> widgets.Widget:
        return self.view.widget

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.view.widget._repr_mimebundle_(**kwargs)

    def reset(self) -> None:
        """Forget everything recorded, snapshots included, and clear the display (steps stay the optimizer's)."""
        self.recorder.reset()
        self.snapshots.clear()
        self.draw(force=True)

    def close(self) -> None:
        """Remove the snapshots (their temporary files too) and close the display: every widget of it (the
        history stays readable)."""
        self.snapshots.close()
        close_owned(self.view)

    def checkpoint_model(self, index: int) -> keras.Model:
        """A copy of the trained model with snapshot ``index``'s weights (for :func:`nbviz.compare`, or to keep):
        the model itself is not touched."""
        if self.model is None or not len(self.snapshots):
            raise ValueError("index: expected a snapshot, but this LiveTraining has none yet (fit a model with it)")
        if not isinstance(index, (int, np.integer)) or isinstance(index, bool):
            raise TypeError(f"index: expected a snapshot index (int), got {type(index).__name__}")
        if not -len(self.snapshots) <= index < len(self.snapshots):
            raise ValueError(f"index: expected a snapshot index in [0, {len(self.snapshots) - 1}], got {index}")
        copy = copy_model(self.model)
        self.snapshots.load_into(copy, int(index))
        return copy

    def draw(self, force: bool = False) -> None:
        """Redraw now if the throttle allows (or ``force``) and the display is not paused."""
        now = time.perf_counter()
        if force or (not self.view.pause.value and now - self._last_draw >= self.min_interval):
            self._last_draw = now
            self.draws += 1
            try:
                self.view.draw()
                for listener in list(self.listeners):
                    listener()
            except Exception as err:  # noqa: BLE001 - a display must never abort the fit it shows
                self.view.status.value = (
                    f'<span style="color:{ERROR}">drawing the training view: {type(err).__name__}: '
                    f"{escape(str(err))}</span>"
                )
        self._ui.poll()

    # ----------------------------------------------------------------------------------------- Keras hooks
    # Not ``async_safe``: every hook reads the optimizer's step, which must be the step of its batch, so all of
    # them run on the training thread, in order (with TensorFlow, Keras never dispatches callbacks to threads
    # anyway: its backend is not IS_THREAD_SAFE; with JAX or torch, async_safe would let batch ends lag behind).

    @contextlib.contextmanager
    def _watching(self, what: str) -> Iterator[None]:
        """Run one part of a hook so that it never ends the fit it watches: a failure stops the layer statistics
        (losses are still recorded), is shown in the view's status line and warned about once."""
        try:
            yield
        except Exception as err:  # noqa: BLE001 - a monitor must never abort the user's fit
            first = self.recorder.failure is None
            self.recorder.stop(f"{what}: {type(err).__name__}: {err}")
            if first:
                warnings.warn(f"nbviz.LiveTraining: {self.recorder.failure}; training goes on", stacklevel=2)

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        if self.recorder.model is not None and self.recorder.model is not self.model:
            self.snapshots.clear()  # another model's weights: no checkpoint of this one
        with self._watching("reading the monitoring data"):
            self.recorder.begin(self.model)
        with self._watching("keeping a snapshot"):
            self.snapshots.take(self.model, self.recorder.step, len(self.recorder.epoch_step))
        self._ui.__enter__()
        self.draw(force=True)

    # On JAX the weights (and the optimizer's step) live in the trainer's state during fit, and the model's
    # variables are emptied; Keras's ``Callback.model`` writes the state back into them when read
    # (``jax_state_sync``, a no-op when nothing changed since). So every hook that reads weights or the step
    # reads ``self.model`` first; with TensorFlow that is the model itself.

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self.recorder.due():
            self.model  # noqa: B018 - synced on JAX, see above
        with self._watching("recording layer statistics"):
            self.recorder.batch_begin(batch)
        self.draw()

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        model = self.model  # synced on JAX, see above
        version.bump(model)  # the weights changed: the Explorer's analysis must look again
        with self._watching("recording the batch's losses"):
            self.recorder.batch_end(batch, logs)
        with self._watching("keeping a snapshot"):
            if self.snapshots.due(self.recorder.step, epoch_end=False):
                self.snapshots.take(self.model, self.recorder.step, None)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.model  # noqa: B018 - synced on JAX, see above
        with self._watching("recording the epoch's losses"):
            self.recorder.epoch(logs)
        with self._watching("keeping a snapshot"):
            if self.snapshots.due(self.recorder.step, epoch_end=True):
                self.snapshots.take(self.model, self.recorder.step, len(self.recorder.epoch_step))
        self.draw()

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self.model  # noqa: B018 - synced on JAX, see above
        with self._watching("recording layer statistics"):
            self.recorder.end()
        version.bump(self.model)
        self._ui.__exit__(None, None, None)
        self.draw(force=True)  # the last state always shows
