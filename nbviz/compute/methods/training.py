"""TrainingRecorder: what happens inside a model while it trains, as numpy series (no widgets)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from .._arrays import is_int, l2_norm
from .._pipeline import is_dataset, take
from .._validate import as_inputs, as_targets, input_specs, padding_mask, padding_weights
from ..data.dataset import reconstructs
from ..model.probe import Probe, output_names_of, shared_probe
from .display import dead_units
from .series import ColumnBlocks, Growable, MinMaxLine

__all__ = ["STATS", "Heatmap", "Line", "TrainingRecorder"]

POINTS = 2000  # most points per line sent to the display
COLUMNS = 200  # most record columns per heatmap sent to the display (the figures are 440 px wide)
STATS = ("grad_norm", "update_ratio", "act_mean", "act_std", "dead_share")  # per record and layer


@dataclass(frozen=True)
class Line:
    """A line to draw: at most the point budget of points of a series, at their true x (float32)."""

    x: np.ndarray
    y: np.ndarray


@dataclass(frozen=True)
class Heatmap:
    """A picture over records: ``values`` (rows x columns, float32), each column the mean of
    ``records_per_column`` consecutive records (the last one: those since the last full block); ``vmin`` and
    ``vmax`` span its finite values (``vmax > vmin``)."""

    values: np.ndarray
    records_per_column: int
    vmin: float
    vmax: float

    @classmethod
    def of(cls, values: np.ndarray, records_per_column: int, floor: float | None = None) -> Heatmap:
        """``values`` as float32 with their range; ``floor`` fixes ``vmin`` (counts start at 0)."""
        shown = np.asarray(values, dtype=np.float32)
        finite = shown[np.isfinite(shown)]
        lo = float(finite.min()) if finite.size else 0.0
        hi = float(finite.max()) if finite.size else 1.0
        lo = lo if floor is None else floor
        return cls(shown, records_per_column, lo, hi if hi > lo else lo + 1.0)


def _log10_positive(values: np.ndarray) -> np.ndarray:
    """log10 of the positive values, NaN elsewhere (a zero gradient has no place on a log scale)."""
    return np.log10(np.where(values > 0, values, np.nan))


class TrainingRecorder:
    """Records losses every batch and, every ``every`` optimizer steps, per-layer statistics on a monitoring batch.

    Steps are the optimizer's (``model.optimizer.iterations``, read when fit begins and ends and at every
    batch and epoch end): the number of optimizer steps applied so far, as TensorBoard counts them. With
    ``steps_per_execution=k`` Keras calls the batch hooks once per k batches, so the steps seen are those
    between executions (0, k, 2k, ... and the last batch of an epoch). A record is taken before a batch, on
    the training thread, at the first step seen at or after each multiple of ``every`` (at steps 0, every,
    2 * every, ... when each batch is seen), and when fit ends: it sees the weights of its step. A fit with a
    new optimizer (the model compiled again, its count back at 0) continues from the last step seen, so
    steps keep growing over several fits.

    The per-layer statistics come from the compute core's :class:`Probe` on a fixed monitoring batch: the
    gradient norm of the training loss (the compiled loss plus regularisation, with the model in inference
    mode, so dropout does not add noise to the curve), the weights' histogram, the update ratio |dw| / |w|
    since the previous record, and the mean, standard deviation and share of dead units (never above 0 on
    the batch) of each layer's output.

    Every series lives in a :class:`~nbviz.compute.methods.series.Growable` buffer, so ``history`` costs no copy;
    :meth:`batch_line`, :meth:`epoch_line`, :meth:`ratio_line`, :meth:`grad_map` and :meth:`hist_map` give
    bounded pictures of them (``POINTS`` points per line, ``COLUMNS`` columns per heatmap), updated
    incrementally, so drawing costs the same at batch 100 and at batch 100,000.

    Parameters
    ----------
    monitor : array-like, (x, y) tuple, tf.data.Dataset, or None
        The monitoring samples; at most ``max_monitor`` of them are used (a dataset is read only that far).
        None records losses only.
    every : int
        Record layer statistics every ``every`` optimizer steps (and when fit ends).
    bins : int
        Histogram bins per layer; the edges are fixed at the first record (twice the weights' range then),
        and values outside fall in the edge bins, so histograms stack into a bins x steps picture.
    points, columns : int
        Most points per line and columns per heatmap in the pictures.
    """

    def __init__(
        self,
        monitor: Any = None,
        every: int = 50,
        bins: int = 30,
        max_monitor: int = 64,
        points: int = POINTS,
        columns: int = COLUMNS,
        loss: Any = None,
    ) -> None:
        if not is_int(every) or every < 1:
            raise ValueError(f"every: expected a positive int (optimizer steps between records), got {every!r}")
        if not is_int(bins) or bins < 2:
            raise ValueError(f"bins: expected an int >= 2, got {bins!r}")
        if loss is not None and not callable(loss):
            raise TypeError(f"loss: expected a callable loss(y_true, y_pred) or None, got {type(loss).__name__}")
        self.loss = loss
        self.loss_text: str | None = None  # which loss the gradient norms are of, once a model is seen
        self._target_text = ""
        self.every = int(every)
        self.bins = int(bins)
        self.max_monitor = max_monitor
        self.points, self.columns = int(points), int(columns)
        self._monitor_raw = monitor
        self.model: keras.Model | None = None
        self.probe: Probe | None = None
        self.note: str | None = None  # why layer statistics are not recorded, when they cannot be
        self.failure: str | None = None  # why they stopped during fit (see stop)
        self.layers: list[str] = []
        self.step = 0  # optimizer steps done (with the offset below), as last read
        self._optimizer: Any = None  # the optimizer whose count is read
        self._step_offset = 0  # added to its count: the steps of earlier optimizers
        self._frozen = False  # the model has no trainable weight (read when fit begins)
        self.reset()

    def reset(self) -> None:
        """Forget everything recorded (steps stay the optimizer's: they do not start again from zero)."""
        self.batch_step = Growable((), np.int64)
        self._batch_logs: dict[str, Growable] = {}
        self.epoch_step = Growable((), np.int64)
        self.epoch_logs: dict[str, Growable] = {}
        self._new_records()
        self._previous: dict[str, np.ndarray] = {}
        self._lines: dict[str, MinMaxLine] = {}
        self._maps: dict[str, ColumnBlocks] = {}

    def _new_records(self) -> None:
        k = len(self.layers)
        self.grad_step = Growable((), np.int64)
        self._stats = {key: Growable((k,)) for key in STATS}
        self.weight_hist = {name: Growable((self.bins,), np.int64) for name in self.layers}
        self.weight_edges: dict[str, np.ndarray] = {}

    # ----------------------------------------------------------------------------------------- steps
    def _iterations(self) -> Any:
        """The optimizer's step counter, or None where it does not count the batches: no optimizer (a custom loop
        that never applies one), or no trainable weight (a frozen model: Keras applies no step, the count stays)."""
        if self._frozen:
            return None
        return getattr(getattr(self.model, "optimizer", None), "iterations", None)

    def _read_step(self) -> int:
        """Optimizer steps applied so far (plus those of earlier optimizers); without an optimizer step to read
        (see ``_iterations``), the batches seen."""
        optimizer = getattr(self.model, "optimizer", None)
        iterations = self._iterations()
        if iterations is None:
            return self.step
        if optimizer is not self._optimizer:
            # The first optimizer's count is the step; a later one (the model compiled again) counts from its
            # own start, so steps continue from the last one seen.
            self._step_offset = 0 if self._optimizer is None else self.step - int(iterations)
            self._optimizer = optimizer
        self.step = self._step_offset + int(iterations)
        return self.step

    def due(self) -> bool:
        """A record is due: none yet, or a multiple of ``every`` reached since the last one."""
        if not len(self.grad_step):
            return True
        last = int(self.grad_step.values[-1])
        return self.step > last and self.step // self.every > last // self.every

    # ----------------------------------------------------------------------------------------- events
    def begin(self, model: keras.Model) -> None:
        """Called when fit starts: the Probe is built once per model and kept for later fits."""
        if self.model is not model:
            if self.model is not None:  # another model: its steps and layers have nothing to do with these
                self.step, self._optimizer, self._step_offset = 0, None, 0
            self.model = model
            self.probe, self.note, self.failure = None, None, None
            if self._monitor_raw is not None:
                try:
                    self.probe = shared_probe(model)
                except ValueError as err:  # a model without call(): its losses are still recorded, fit goes on
                    self.note = f"Layer statistics are not recorded: {err}"
            if self.probe is not None and self.probe.loss_source(self.loss) == "unknown":
                # No guessed loss: gradient norms of another loss than fit's would mislead.
                self.note = f"Layer statistics are not recorded: {self.probe.loss_name(self.loss)}."
                self.probe = None
            self.layers = self.probe.learning_layers() if self.probe else []
            if self.probe is not None and not self.layers:  # a frozen model still trains: its losses are recorded
                self.note = "No layer statistics: the model has no trainable weights; only losses are recorded."
            self.reset()  # records shaped for this model's layers, before the monitor is read (which may fail)
            if self.probe is not None:
                self._x, self._y, self._w = self._monitor(model)
                self._names = [spec[0] for spec in input_specs(model) or []]
        # trainable=False takes effect at the next compile, so it is read per fit (a stand-in model may have none).
        self._frozen = hasattr(model, "trainable_weights") and not model.trainable_weights
        if self.probe is not None and self.layers:  # compiled again between two fits: the norms are of the new loss
            self.loss_text = "Gradient norms of " + self.probe.loss_name(self.loss) + self._target_text
        self._read_step()

    def batch_begin(self, batch: int) -> bool:
        """Called before a training batch (or execution of several): records layer statistics when due, for
        the weights after ``step`` optimizer steps. True when it recorded.

        The step is the one read when the previous batch ended (or fit began): no optimizer step runs in
        between, and a read costs about 30 us during fit, so each batch reads it once.
        """
        if self.probe is not None and self.layers and self.due():
            self.record()
            return True
        return False

    def batch_end(self, batch: int, logs: dict[str, Any] | None) -> None:
        """Called after a training batch (or execution): its losses, at the optimizer's step then."""
        if self._iterations() is None:
            self.step += 1  # no optimizer step to count: one per batch end
        self.add_batch(self._read_step(), logs)

    def epoch(self, logs: dict[str, Any] | None) -> None:
        """Called at the end of each epoch: epoch losses and metrics, at the optimizer's step."""
        self.add_epoch(self._read_step(), logs)

    def end(self) -> None:
        """Called when fit ends: a last record, of the final weights."""
        self._read_step()
        if not (self.probe is not None and self.layers):
            return
        if not len(self.grad_step) or self.step != int(self.grad_step.values[-1]):
            self.record()

    def stop(self, reason: str) -> None:
        """Record no more layer statistics for this model (losses still are): monitoring failed, for ``reason``.

        Recording watches a fit and must never end it, so the callback calls this instead of raising.
        """
        self.probe = None
        self.failure = f"Layer statistics stopped at step {self.step}: {reason}"

    def record(self) -> None:
        """Per-layer statistics now, on the monitoring batch, at the current step."""
        assert self.probe is not None
        # One pass: gradients and outputs; the loss weighted as fit weighs it (padding tokens carry none).
        grads = self.probe.gradients(self._x, self._y, layers=self.layers, sample_weight=self._w, loss=self.loss)
        acts = grads.activations
        stats: dict[str, list[float]] = {key: [] for key in self._stats}
        hists: dict[str, np.ndarray] = {}
        norms = self.probe.gradient_norms(grads, self.layers)  # over trainable weights, as the Explorer's
        for name in self.layers:
            layer = self.probe.layers[name]
            stats["grad_norm"].append(norms.get(name, np.nan))
            weights = layer.get_weights()
            current = np.concatenate([np.ravel(w) for w in weights]).astype(np.float64)
            previous = self._previous.get(name)
            size = l2_norm(current)
            ratio = np.nan if previous is None or size == 0 else l2_norm(current - previous) / size
            stats["update_ratio"].append(ratio)
            self._previous[name] = current
            hists[name] = self._histogram(name, np.ravel(weights[0]))  # the first tensor: the kernel
            out = acts.get(name)
            if out is None:  # trained but not called by the model's forward pass (a teacher its loss calls)
                for key in ("act_mean", "act_std", "dead_share"):
                    stats[key].append(np.nan)
                continue
            stats["act_mean"].append(float(np.mean(out)))
            stats["act_std"].append(float(np.std(out)))
            # Counted as the Explorer counts (one definition): padding tokens do not count, their units may rest.
            counted = out.ndim >= 2 and out.size > 0
            dead = dead_units(out, mask=self._real_tokens(out, name)).share if counted else np.nan
            stats["dead_share"].append(dead)
        self.add_record(self.step, stats, hists)

    # ----------------------------------------------------------------------------------------- storing
    # What the Keras events store, given the step; tests and benchmarks fill a recorder through them too.
    def add_batch(self, step: int, logs: dict[str, Any] | None) -> None:
        """Store one batch end: ``step`` and the scalar values of ``logs`` (a key new this batch gets NaN for
        the batches before it; a key missing from it gets NaN)."""
        n = len(self.batch_step)
        self.batch_step.append(step)
        values = {k: float(v) for k, v in (logs or {}).items() if np.ndim(v) == 0}
        for key, series in self._batch_logs.items():
            series.append(values.pop(key, np.nan))
        for key, value in values.items():
            series = self._batch_logs[key] = Growable(capacity=max(64, n + 1))
            for _ in range(n):
                series.append(np.nan)
            series.append(value)

    def add_epoch(self, step: int, logs: dict[str, Any] | None) -> None:
        """Store one epoch end: ``step`` and the scalar values of ``logs``."""
        self.epoch_step.append(step)
        for key, value in (logs or {}).items():
            if np.ndim(value) == 0:
                self.epoch_logs.setdefault(key, Growable()).append(float(value))

    def add_record(self, step: int, stats: dict[str, Any], hists: dict[str, np.ndarray]) -> None:
        """Store one record: ``stats`` maps each of "grad_norm", "update_ratio", "act_mean", "act_std" and
        "dead_share" to one value per layer (in ``layers`` order); ``hists`` maps each layer to its ``bins``
        histogram counts."""
        self.grad_step.append(step)
        for key, series in self._stats.items():
            series.append(stats[key])
        for name, series in self.weight_hist.items():
            series.append(hists[name])

    # ----------------------------------------------------------------------------------------- results
    def latest(self, key: str) -> dict[str, float]:
        """The last record's ``key`` ("grad_norm", "update_ratio", "act_mean", "act_std" or "dead_share") per
        layer, its finite values only (the first record has no update ratio); empty before any record."""
        values = self._stats[key].values
        if not len(values):
            return {}
        return {layer: float(v) for layer, v in zip(self.layers, values[-1]) if np.isfinite(v)}

    @property
    def history(self) -> dict[str, Any]:
        """Everything recorded so far as numpy arrays (see :class:`nbviz.LiveTraining` for the keys).

        The arrays are read-only views of the buffers (no copy): the exact, full series.
        """
        out: dict[str, Any] = {
            "loss": self._epoch_values("loss"),
            "val_loss": self._epoch_values("val_loss"),
            "batch_loss": self._batch_values("loss"),
            "batch_step": self.batch_step.values,
            "epoch_step": self.epoch_step.values,
            "layers": list(self.layers),
            "grad_step": self.grad_step.values,
            **{key: series.values for key, series in self._stats.items()},
            "weight_hist": {name: h.values for name, h in self.weight_hist.items()},
            "weight_edges": dict(self.weight_edges),
        }
        for key in self.epoch_logs:
            out.setdefault(key, self._epoch_values(key))
        for key in sorted(set(self._batch_logs) - {"loss"}):
            out[f"batch_{key}"] = self._batch_values(key)
        return out

    def _epoch_values(self, key: str) -> np.ndarray:
        series = self.epoch_logs.get(key)
        return series.values if series is not None else Growable(capacity=1).values

    def _batch_values(self, key: str) -> np.ndarray:
        series = self._batch_logs.get(key)
        return series.values if series is not None else np.full(len(self.batch_step), np.nan)

    # ----------------------------------------------------------------------------------------- pictures
    def _line(self, key: str, x: np.ndarray, y: np.ndarray) -> Line:
        reducer = self._lines.get(key)
        if reducer is None:
            reducer = self._lines[key] = MinMaxLine(self.points)
        px, py = reducer.points(x, y)
        return Line(np.asarray(px, dtype=np.float32), np.asarray(py, dtype=np.float32))

    def batch_line(self) -> Line:
        """The loss per batch against the optimizer's step, at most ``points`` points (min and max per bucket)."""
        return self._line("batch_loss", self.batch_step.values, self._batch_values("loss"))

    def epoch_line(self, key: str) -> Line:
        """An epoch series: a loss against the step at the epoch's end, another metric against the epoch (1, 2,
        ...). Series shorter than the epochs (validation every few epochs) take the first x values."""
        y = self._epoch_values(key)
        x = self.epoch_step.values if key.endswith("loss") else np.arange(1, len(y) + 1)
        return self._line(f"epoch/{key}", x[: len(y)], y[: len(x)])

    def ratio_line(self, layer: str) -> Line:
        """The update ratio |dw| / |w| of one layer against the record's step, its positive values only (the
        display's scale is logarithmic; the first record has none)."""
        column = self.layers.index(layer)
        line = self._line(f"ratio/{layer}", self.grad_step.values, self._stats["update_ratio"].values[:, column])
        keep = np.isfinite(line.y) & (line.y > 0)
        return Line(line.x[keep], line.y[keep])

    def grad_map(self) -> Heatmap:
        """log10 of the gradient norms, layers x record columns (a column's value: the mean of the log10 norms
        of its records, so the geometric mean of the norms; zero norms left out)."""
        reducer = self._maps.get("grad_norm")
        if reducer is None:
            reducer = self._maps["grad_norm"] = ColumnBlocks(self.columns, _log10_positive)
        return Heatmap.of(reducer.picture(self._stats["grad_norm"].values), reducer.width)

    def hist_map(self, layer: str) -> Heatmap:
        """One layer's kernel histogram, bins x record columns, the highest bin on top (a column's value: the
        mean count of its records)."""
        reducer = self._maps.get(f"hist/{layer}")
        if reducer is None:
            reducer = self._maps[f"hist/{layer}"] = ColumnBlocks(self.columns)
        return Heatmap.of(reducer.picture(self.weight_hist[layer].values)[::-1], reducer.width, floor=0.0)

    # ----------------------------------------------------------------------------------------- internals
    def _monitor(self, model: keras.Model) -> tuple[list[np.ndarray], Any, np.ndarray | None]:
        raw, specs = self._monitor_raw, input_specs(model)
        if is_dataset(raw):  # a validation pipeline: its first batches, as far as max_monitor samples
            raw = take(raw, specs, self.max_monitor, "monitor")
        # (x, y) or (x, y, sample_weight), as fit's validation_data; a dataset's padding mask comes as weights.
        x, y, w = (*raw, None)[:3] if isinstance(raw, tuple) and len(raw) in (2, 3) else (raw, None, None)
        inputs = as_inputs(specs, x, "monitor")
        keep = self.max_monitor
        probe = self.probe
        if y is not None and probe is not None and probe.takes_own_targets(y, probe.loss_source(self.loss)):
            # A detector's {"boxes", "labels"}: its compute_loss maps them to its outputs (see CheckedData).
            self._target_text = ""
            own = probe.own_target_arrays(y, len(inputs[0]))
            return [a[:keep] for a in inputs], keras.tree.map_structure(lambda a: a[:keep], own), None
        n_outputs = len(model.outputs) if getattr(model, "outputs", None) else 1
        targets = as_targets(y, len(inputs[0]), n_outputs, "monitor", output_names_of(model))
        self._target_text = ""
        if targets is None and probe is not None and reconstructs(probe, inputs):
            targets, self._target_text = [inputs[0]], ", against the input (an autoencoder's reconstruction)"
        if (
            targets is None
            and probe is not None
            and not probe.is_classifier
            and probe.loss_source(self.loss)
            not in (
                "given",
                "added",
            )
        ):
            raise ValueError("monitor: expected (x, y) to take the loss of a regression model, got x alone")
        inputs = [a[:keep] for a in inputs]
        targets = None if targets is None else [t[:keep] for t in targets]
        weights: np.ndarray | None
        if w is not None and targets is not None:
            weights = np.asarray(keras.tree.flatten(w)[0], np.float32)[:keep]
        else:
            names = [spec[0] for spec in specs or []]
            classifier = self.probe is not None and self.probe.is_classifier
            weights = padding_weights(dict(zip(names, inputs)), None if targets is None else targets[0], classifier)
        return inputs, targets, weights

    def _real_tokens(self, out: np.ndarray, layer: str) -> np.ndarray | None:
        """Where a layer's outputs over the monitoring batch are real tokens, (n, positions) bool; None when the
        model has no padding mask of that length."""
        if out.ndim < 3:
            return None
        return padding_mask(dict(zip(self._names, self._x)), out.shape[:2], layer)

    def _histogram(self, name: str, values: np.ndarray) -> np.ndarray:
        finite = values[np.isfinite(values)]
        if name not in self.weight_edges:
            m = float(np.abs(finite).max()) if finite.size else 1.0
            m = 2 * m if m > 0 else 1.0
            self.weight_edges[name] = np.linspace(-m, m, self.bins + 1)
        edges = self.weight_edges[name]
        # Equal bins given as a count and a range take numpy's fast path (explicit edges would sort the values).
        counts, _ = np.histogram(np.clip(finite, edges[0], edges[-1]), bins=self.bins, range=(edges[0], edges[-1]))
        return counts
