"""TrainingRecorder: what happens inside a model while it trains, as numpy series (no widgets)."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from ._arrays import is_int, l2_norm
from ._pipeline import is_dataset, take
from ._validate import as_inputs, as_targets, input_specs
from .probe import Probe


class TrainingRecorder:
    """Records losses every batch and, every ``every`` batches, per-layer statistics on a monitoring batch.

    Records are taken before a batch (at steps 0, every, 2 * every, ...: the weights after that many
    batches) and when fit ends, on the training thread, so they see the weights of their step.

    The per-layer statistics come from the compute core's :class:`Probe` on a fixed monitoring batch: the
    gradient norm of the training loss (the compiled loss plus regularisation, with the model in inference
    mode, so dropout does not add noise to the curve), the weights' histogram, the update ratio |dw| / |w|
    since the previous record, and the mean, standard deviation and share of dead units (never above 0 on
    the batch) of each layer's output.

    Parameters
    ----------
    monitor : array-like, (x, y) tuple, tf.data.Dataset, or None
        The monitoring samples; at most ``max_monitor`` of them are used (a dataset is read only that far).
        None records losses only.
    every : int
        Record layer statistics every ``every`` training batches (and when fit ends).
    bins : int
        Histogram bins per layer; the edges are fixed at the first record (twice the weights' range then),
        and values outside fall in the edge bins, so histograms stack into a bins x steps picture.
    """

    def __init__(self, monitor: Any = None, every: int = 50, bins: int = 30, max_monitor: int = 64) -> None:
        if not is_int(every) or every < 1:
            raise ValueError(f"every: expected a positive int (batches between records), got {every!r}")
        if not is_int(bins) or bins < 2:
            raise ValueError(f"bins: expected an int >= 2, got {bins!r}")
        self.every = int(every)
        self.bins = int(bins)
        self.max_monitor = max_monitor
        self._monitor_raw = monitor
        self.model: keras.Model | None = None
        self.probe: Probe | None = None
        self.layers: list[str] = []
        self.reset()

    def reset(self) -> None:
        """Forget everything recorded (a new fit with the same recorder starts from zero)."""
        self.step = 0  # training batches done, over all epochs and fits
        self._offset = 0  # batches done before the current epoch
        # (step, logs) per batch: Keras may hand batch ends to worker threads, so they are sorted when read.
        self._batches: list[tuple[int, dict[str, float]]] = []
        self.epoch_logs: dict[str, list[float]] = {}
        self.epoch_step: list[int] = []
        self.grad_step: list[int] = []
        self.grad_norm: list[np.ndarray] = []
        self.update_ratio: list[np.ndarray] = []
        self.act_mean: list[np.ndarray] = []
        self.act_std: list[np.ndarray] = []
        self.dead_share: list[np.ndarray] = []
        self.weight_hist: dict[str, list[np.ndarray]] = {}
        self.weight_edges: dict[str, np.ndarray] = {}
        self._previous: dict[str, np.ndarray] = {}

    # ----------------------------------------------------------------------------------------- events
    def begin(self, model: keras.Model) -> None:
        """Called when fit starts: the Probe is built once per model and kept for later fits."""
        if self.model is not model:
            self.model = model
            self.probe = Probe(model) if self._monitor_raw is not None else None
            self.layers = [n for n, layer in (self.probe.layers.items() if self.probe else []) if _own_weights(layer)]
            if self.probe is not None:
                self._x, self._y = self._monitor(model)

    def batch_begin(self, batch: int) -> bool:
        """Called before training batch ``batch`` of the epoch, on the training thread; records layer
        statistics (for the weights after ``step`` batches) every ``every`` batches. True when it recorded."""
        self.step = self._offset + batch
        if self.probe is not None and self.step % self.every == 0 and self.step not in self.grad_step[-1:]:
            self.record()
            return True
        return False

    def batch_end(self, batch: int, logs: dict[str, Any] | None) -> None:
        """Called after training batch ``batch`` of the epoch (possibly on a worker thread): its losses."""
        values = {k: float(v) for k, v in (logs or {}).items() if np.ndim(v) == 0}
        self._batches.append((self._offset + batch + 1, values))

    def epoch(self, logs: dict[str, Any] | None) -> None:
        """Called at the end of each epoch (after every batch end): epoch losses and metrics."""
        self.step = self._offset = max([step for step, _ in self._batches], default=self._offset)
        for key, value in (logs or {}).items():
            if np.ndim(value) == 0:
                self.epoch_logs.setdefault(key, []).append(float(value))
        self.epoch_step.append(self.step)

    def end(self) -> None:
        """Called when fit ends: a last record, of the final weights."""
        if self.probe is not None and self.step not in self.grad_step[-1:]:
            self.record()

    def record(self) -> None:
        """Per-layer statistics now, on the monitoring batch."""
        assert self.probe is not None
        grads = self.probe.gradients(self._x, self._y, layers=self.layers)  # one pass: gradients and outputs
        acts = grads.activations
        norms, ratios, means, stds, dead = [], [], [], [], []
        for name in self.layers:
            layer = self.probe.layers[name]
            norms.append(l2_norm(*grads.weights[name]))
            weights = layer.get_weights()
            current = np.concatenate([np.ravel(w) for w in weights]).astype(np.float64)
            previous = self._previous.get(name)
            size = l2_norm(current)
            ratios.append(np.nan if previous is None or size == 0 else l2_norm(current - previous) / size)
            self._previous[name] = current
            self._histogram(name, np.ravel(weights[0]))  # the first tensor: the kernel
            out = acts[name]
            means.append(float(np.mean(out)))
            stds.append(float(np.std(out)))
            dead.append(float(np.mean((out.reshape(-1, out.shape[-1]) <= 0).all(axis=0))) if out.ndim >= 2 else np.nan)
        self.grad_step.append(self.step)
        for series, values in (
            (self.grad_norm, norms),
            (self.update_ratio, ratios),
            (self.act_mean, means),
            (self.act_std, stds),
            (self.dead_share, dead),
        ):
            series.append(np.asarray(values, dtype=np.float64))

    # ----------------------------------------------------------------------------------------- results
    @property
    def history(self) -> dict[str, Any]:
        """Everything recorded so far as numpy arrays (see :class:`nbviz.LiveTraining` for the keys)."""
        n_layers = len(self.layers)
        batches = sorted(self._batches, key=lambda item: item[0])

        def stack(series: list[np.ndarray]) -> np.ndarray:
            return np.array(series, dtype=np.float64).reshape(len(series), n_layers)

        out: dict[str, Any] = {
            "loss": np.array(self.epoch_logs.get("loss", []), dtype=np.float64),
            "val_loss": np.array(self.epoch_logs.get("val_loss", []), dtype=np.float64),
            "batch_loss": np.array([logs.get("loss", np.nan) for _, logs in batches], dtype=np.float64),
            "epoch_step": np.array(self.epoch_step, dtype=np.int64),
            "layers": list(self.layers),
            "grad_step": np.array(self.grad_step, dtype=np.int64),
            "grad_norm": stack(self.grad_norm),
            "update_ratio": stack(self.update_ratio),
            "act_mean": stack(self.act_mean),
            "act_std": stack(self.act_std),
            "dead_share": stack(self.dead_share),
            "weight_hist": {name: np.array(h, dtype=np.int64) for name, h in self.weight_hist.items()},
            "weight_edges": dict(self.weight_edges),
        }
        for key, values in self.epoch_logs.items():
            out.setdefault(key, np.array(values, dtype=np.float64))
        for key in sorted({k for _, logs in batches for k in logs} - {"loss"}):
            out[f"batch_{key}"] = np.array([logs.get(key, np.nan) for _, logs in batches], dtype=np.float64)
        return out

    # ----------------------------------------------------------------------------------------- internals
    def _monitor(self, model: keras.Model) -> tuple[list[np.ndarray], list[np.ndarray] | None]:
        raw, specs = self._monitor_raw, input_specs(model)
        if is_dataset(raw):  # a validation pipeline: its first batches, as far as max_monitor samples
            raw = take(raw, specs, self.max_monitor, "monitor")
        x, y = raw if isinstance(raw, tuple) and len(raw) == 2 else (raw, None)
        inputs = as_inputs(specs, x, "monitor")
        n_outputs = len(model.outputs) if getattr(model, "outputs", None) else 1
        targets = as_targets(y, len(inputs[0]), n_outputs, name="monitor")
        if targets is None and self.probe is not None and not self.probe.is_classifier:
            raise ValueError("monitor: expected (x, y) to take the loss of a regression model, got x alone")
        keep = self.max_monitor
        return [a[:keep] for a in inputs], None if targets is None else [t[:keep] for t in targets]

    def _histogram(self, name: str, values: np.ndarray) -> None:
        finite = values[np.isfinite(values)]
        if name not in self.weight_edges:
            m = float(np.abs(finite).max()) if finite.size else 1.0
            m = 2 * m if m > 0 else 1.0
            self.weight_edges[name] = np.linspace(-m, m, self.bins + 1)
        edges = self.weight_edges[name]
        # Equal bins given as a count and a range take numpy's fast path (explicit edges would sort the values).
        counts, _ = np.histogram(np.clip(finite, edges[0], edges[-1]), bins=self.bins, range=(edges[0], edges[-1]))
        self.weight_hist.setdefault(name, []).append(counts)


def _own_weights(layer: Any) -> bool:
    """A leaf layer with trainable weights (a nested model's weights belong to its own layers)."""
    return bool(layer.trainable_weights) and not isinstance(layer, keras.Model)
