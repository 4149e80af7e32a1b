"""How well a model does on named datasets: metrics, confusion matrix, calibration, and metrics per feature slice.

Predictions come from the compiled forward pass of :class:`Probe` (never ``model.predict``), from the model's
first output. A model counts as a classifier when its outputs end in softmax or sigmoid, or are logits of a
crossentropy compiled with ``from_logits=True`` (``Probe.is_classifier``; logits are turned into probabilities);
a single sigmoid unit is read as the probability of class 1.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from .._arrays import frozen, is_int
from .._validate import as_inputs, input_specs, padding_mask, position_labels
from ..data.nonfinite import NothingFinite, finite_rows
from ..model.probe import Probe, probe_for

__all__ = ["CALIBRATION_BINS", "DatasetReport", "SliceReport", "diagnose", "slice_metrics"]

CALIBRATION_BINS = 10  # equal-width confidence bins over [0, 1]
#: The confusion matrix a view shows: the classes with the most rows, and the rest as one "other" class.
SHOWN_CLASSES = 20
MAX_CONFUSION_CLASSES = 256  # a k x k matrix beyond this is neither drawable nor cheap (a 50k vocabulary)
_PREDICT_CHUNK = 4096  # samples per forward pass: the compiled function is traced once, whatever the chunk size
_CHUNK_BYTES = 64 * 2**20  # ... fewer when their outputs pass this (a language model's 50,000 logits per token)


# eq=False: `==` on arrays is element-wise, so a generated __eq__ could not return a bool.
@dataclass(frozen=True, eq=False)
class DatasetReport:
    """The model's quality on one dataset; arrays are read-only.

    Attributes
    ----------
    name, n : the dataset's name and its count of rows: samples, or tokens for a sequence output (see
        ``sample_of``).
    task : "classification" or "regression".
    metrics : classification: accuracy, loss (crossentropy), precision and recall (macro over the classes present
        in the labels or predictions, as sklearn); regression: mse, mae, r2 (averaged over output units).
    confusion : int64 (k, k), rows = true class, columns = predicted class; None for regression and for more
        than MAX_CONFUSION_CLASSES classes (a language model's vocabulary).
    precision, recall : float32 (k,) per class (0 where undefined, as sklearn); None for regression.
    calibration : (mean confidence, accuracy), float32 (bins,) each, over the non-empty of CALIBRATION_BINS
        equal-width bins of the predicted class's probability; None for regression.
    predicted : int64 (n,) predicted class, or float32 (n,) / (n, m) predicted values.
    correct : bool (n,), or float32 (n,) absolute error (mean over output units) for regression.
    true : int64 (n,) true class, or float32 (n,) / (n, m) targets.
    class_names : one per class; empty for regression.
    sample_of : int64 (n,) the sample each row belongs to when a classifier's output has positions (a language
        model's tokens: each position is a row, padding left out, as ``padding_mask`` says), or when rows were
        left out (``left_out``); None otherwise.
    left_out : rows (samples, or the positions of a sequence output) left out of every figure above because
        their inputs, label or output hold NaN or Inf (see :mod:`nbviz.compute.data.nonfinite`).
    """

    name: str
    n: int
    task: str
    metrics: dict[str, float]
    confusion: np.ndarray | None
    precision: np.ndarray | None
    recall: np.ndarray | None
    calibration: tuple[np.ndarray, np.ndarray] | None
    predicted: np.ndarray
    correct: np.ndarray
    true: np.ndarray
    class_names: tuple[str, ...] = ()
    sample_of: np.ndarray | None = None
    left_out: int = 0

    def samples(self, rows: np.ndarray) -> np.ndarray:
        """The samples (int64, ascending, unique) that rows of this report belong to: rows are samples, or the
        positions of a sequence output (one row per token, padding left out) when ``sample_of`` is set."""
        return np.unique(rows if self.sample_of is None else self.sample_of[rows]).astype(np.int64)

    def cell_samples(self, true: int, pred: int) -> np.ndarray:
        """Indices (int64, ascending) of the samples with a row of true class ``true`` predicted as ``pred``."""
        if self.task != "classification":
            raise ValueError(f"true: expected a classification report, got task {self.task!r}")
        k = len(self.class_names)
        for arg, value in (("true", true), ("pred", pred)):
            if not is_int(value) or not 0 <= value < k:
                raise ValueError(f"{arg}: expected a class index in [0, {k}), got {value!r}")
        return self.samples(np.flatnonzero((self.true == true) & (self.predicted == pred)))


@dataclass(frozen=True, eq=False)
class SliceReport:
    """A metric per quantile slice of one feature; arrays are read-only.

    Attributes
    ----------
    feature : the feature's name.
    edges : float32 (s + 1,) slice edges; slice i is [edges[i], edges[i+1]), the last one closed.
    counts : int64 (s,) samples per slice.
    metric_name : "accuracy" (classification) or "mse" (regression).
    values : float32 (s,) the metric per slice, NaN for an empty slice.
    slice_of : int64 (n,) the slice each sample falls in.
    """

    feature: str
    edges: np.ndarray
    counts: np.ndarray
    metric_name: str
    values: np.ndarray
    slice_of: np.ndarray


# --------------------------------------------------------------------------------------------- shared helpers
def output_chunks(probe: Probe, inputs: list[np.ndarray]) -> Iterator[tuple[int, np.ndarray]]:
    """(start, the first output of samples start, start + 1, ... as probabilities), chunk by chunk: at most
    _PREDICT_CHUNK samples, and fewer when their outputs pass _CHUNK_BYTES, so a large dataset fits in memory."""
    n, start, size = len(inputs[0]), 0, 1  # one sample first, to learn an output's size
    while start < n:
        part = [a[start : start + size] for a in inputs]
        first = probe.probabilities(probe.first_output(part[0] if len(part) == 1 else part))  # logits: probabilities
        yield start, first
        start += len(first)
        size = int(np.clip(_CHUNK_BYTES // max(1, first[0].nbytes), 1, _PREDICT_CHUNK))


def probability_rows(probe: Probe, x: Any) -> np.ndarray:
    """The model's first output for ``x`` as float32 (n, units), logits as probabilities (what diagnostics, rules
    and the projector score by), flattened past the batch, in chunks so a large dataset fits in memory."""
    inputs = as_inputs(input_specs(probe.model), x)
    chunks = [out.reshape(len(out), -1) for _, out in output_chunks(probe, inputs)]
    return np.concatenate(chunks) if len(chunks) > 1 else chunks[0]


def class_probs(out: np.ndarray) -> np.ndarray:
    """(n, k) class probabilities; one sigmoid unit p becomes the two columns (1 - p, p)."""
    return np.concatenate([1 - out, out], axis=1) if out.shape[1] == 1 else out


def _class_labels(y: Any, n: int, k: int | None, name: str) -> np.ndarray:
    """Class indices int64 (n,) from indices or one-hot rows; ``k`` bounds them when known."""
    arr = np.asarray(y)
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise TypeError(f"{name}: expected numeric labels, got an array of dtype {arr.dtype}")
    if arr.ndim == 0 or len(arr) != n:
        raise ValueError(f"{name}: expected labels for {n} samples, got shape {arr.shape}")
    if arr.ndim == 2 and arr.shape[1] > 1:
        if k is not None and arr.shape[1] != k:
            raise ValueError(f"{name}: expected one-hot rows of {k} classes, got shape {arr.shape}")
        return np.argmax(arr, axis=1).astype(np.int64)
    flat = arr.reshape(n, -1)
    if flat.shape[1] != 1:
        raise ValueError(f"{name}: expected class indices (n,) or one-hot rows (n, k), got shape {arr.shape}")
    flat = flat[:, 0]
    if not np.all(np.isfinite(flat)) or not np.all(flat == np.round(flat)) or flat.min() < 0:
        raise ValueError(f"{name}: expected non-negative integer class indices, got values like {flat[:3]}")
    labels = flat.astype(np.int64)
    if k is not None and labels.max() >= k:
        raise ValueError(f"{name}: expected class indices in [0, {k}), got {int(labels.max())}")
    return labels


def _targets(y: Any, n: int, m: int, name: str) -> np.ndarray:
    """Regression targets as float64 (n, m)."""
    arr = np.asarray(y, dtype=np.float64) if np.ndim(y) else np.zeros(0)
    if arr.ndim == 0 or len(arr) != n or arr.size != n * m:
        raise ValueError(f"{name}: expected targets of shape ({n}, {m}) or ({n},) for one unit, got {arr.shape}")
    return arr.reshape(n, m)


def named_classes(class_names: Any, k: int) -> tuple[str, ...]:
    if class_names is None:
        return tuple(f"class {i}" for i in range(k))
    names = tuple(str(c) for c in class_names)
    if len(names) != k:
        raise ValueError(f"class_names: expected {k} names, one per class, got {len(names)}")
    return names


# --------------------------------------------------------------------------------------------- public calls
def diagnose(
    model: keras.Model,
    datasets: Mapping[str, tuple[Any, Any]],
    class_names: Any = None,
    probe: Probe | None = None,
) -> dict[str, DatasetReport]:
    """Evaluate ``model`` on every named ``(x, y)`` pair; labels are class indices, one-hot rows or targets.

    Returns
    -------
    dict of str -> DatasetReport
        One report per dataset, in the order given.
    """
    probe = probe_for(model, probe)
    if not isinstance(datasets, Mapping) or not datasets:
        raise TypeError(f"datasets: expected a non-empty dict of name -> (x, y), got {type(datasets).__name__}")
    reports = {}
    for name, pair in datasets.items():
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            got = f"a {type(pair).__name__} of {len(pair)}" if isinstance(pair, (tuple, list)) else type(pair).__name__
            raise TypeError(f"datasets[{name!r}]: expected an (x, y) pair, got {got}")
        reports[str(name)] = _report(probe, str(name), pair[0], pair[1], class_names)
    return reports


def _report(probe: Probe, name: str, x: Any, y: Any, class_names: Any) -> DatasetReport:
    what = f"datasets[{name!r}] y"
    if not probe.classifies(y):
        out = probability_rows(probe, x)
        n = len(out)
        out = out.reshape(n, -1)  # an image output (an autoencoder's) is scored per pixel
        true, pred = _targets(y, n, out.shape[1], what), out.astype(np.float64)
        # Samples whose inputs, target or prediction hold NaN or Inf are left out: one would make every metric NaN.
        keep = finite_rows([pred, true, *as_inputs(input_specs(probe.model), x)])
        left_out, sample_of = n - int(keep.sum()), None
        if left_out:
            _check_rows_left(int(keep.sum()), n, f"datasets[{name!r}]")
            pred, true, sample_of, n = pred[keep], true[keep], np.flatnonzero(keep), int(keep.sum())
        err = pred - true
        ss_res, ss_tot = (err**2).sum(axis=0), ((true - true.mean(axis=0)) ** 2).sum(axis=0)
        # sklearn's force_finite convention for a constant target: 1 for a perfect fit, else 0.
        with np.errstate(divide="ignore", invalid="ignore"):
            r2 = np.where(ss_tot > 0, 1 - ss_res / np.where(ss_tot > 0, ss_tot, 1), np.where(ss_res == 0, 1.0, 0.0))
        metrics = {"mse": float(np.mean(err**2)), "mae": float(np.mean(np.abs(err))), "r2": float(np.mean(r2))}
        squeeze = (lambda a: a[:, 0]) if out.shape[1] == 1 else (lambda a: a)
        arrays = (frozen(squeeze(pred)), frozen(np.abs(err).mean(axis=1)), frozen(squeeze(true)))
        rows_of = None if sample_of is None else frozen(sample_of, np.int64)
        return DatasetReport(
            name, n, "regression", metrics, None, None, None, None, *arrays, sample_of=rows_of, left_out=left_out
        )
    rows = _classifier_rows(probe, x, y, what)
    pred, true, k, n = rows.pred, rows.true, rows.k, len(rows.pred)
    # Per class without a k x k matrix, so a 50,000-token vocabulary costs O(k).
    hits = np.bincount(true[pred == true], minlength=k).astype(np.float64)
    predicted, actual = np.bincount(pred, minlength=k), np.bincount(true, minlength=k)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.nan_to_num(hits / predicted)
        recall = np.nan_to_num(hits / actual)
    # Macro averages over the classes that occur at all, like sklearn's average="macro".
    present = (predicted + actual) > 0
    eps = float(np.finfo(np.float32).eps)  # sklearn's log_loss clip for float32 probabilities
    p_true = np.clip(rows.p_true.astype(np.float64), eps, 1 - eps)
    metrics = {
        "accuracy": float(np.mean(pred == true)),
        "loss": float(-np.mean(np.log(p_true))),
        "precision": float(precision[present].mean()),
        "recall": float(recall[present].mean()),
    }
    confusion = None
    if k <= MAX_CONFUSION_CLASSES:
        confusion = frozen(np.bincount(true * k + pred, minlength=k * k).reshape(k, k), np.int64)
    per_class = (confusion, frozen(precision), frozen(recall), _calibration(rows.p_pred, pred, true))
    arrays = (frozen(pred), frozen(pred == true), frozen(true))
    sample_of = None if rows.sample_of is None else frozen(rows.sample_of, np.int64)
    return DatasetReport(
        name, n, "classification", metrics, *per_class, *arrays, named_classes(class_names, k), sample_of=sample_of,
        left_out=rows.left_out,
    )  # fmt: skip


@dataclass(frozen=True)
class _Rows:
    """A classifier's rows (samples, or the real positions of a sequence output), reduced to what a report
    reads: predicted class, its probability, the true class's probability, the true class, and each row's
    sample (None when rows are samples, every one kept). ``k`` is the count of classes; ``left_out`` the rows
    left out for NaN or Inf in their inputs, label or output."""

    pred: np.ndarray
    p_pred: np.ndarray
    p_true: np.ndarray
    true: np.ndarray
    k: int
    sample_of: np.ndarray | None
    left_out: int = 0


def _classifier_rows(probe: Probe, x: Any, y: Any, what: str) -> _Rows:
    """One row per sample, or one per position of a sequence output (a language model's tokens) without the
    padding; chunk by chunk, so a 50,000-token head over thousands of tokens is never held whole."""
    specs = input_specs(probe.model)
    inputs = as_inputs(specs, x)
    n = len(inputs[0])
    names = [spec[0] for spec in specs or []]
    labels: Any = None
    parts: list[tuple[np.ndarray, ...]] = []
    k = left_out = 0
    per_sample, labelled = True, np.ones(n, bool)
    for start, out in output_chunks(probe, inputs):
        stop = start + len(out)
        # A row whose inputs, label or output hold NaN or Inf is left out: argmax would count a NaN output as
        # class 0, and one NaN probability makes the loss NaN.
        finite_inputs = finite_rows([a[start:stop] for a in inputs])
        if out.ndim <= 2:  # one class per sample
            probs = class_probs(out.reshape(len(out), -1))
            k = probs.shape[1]
            if labels is None:
                labels, labelled = _class_labels_where_finite(y, n, k, what)
            ok = labelled[start:stop] & finite_inputs & finite_rows([probs])
            left_out += len(ok) - int(ok.sum())
            true, rows = labels[start:stop][ok], np.arange(start, stop)[ok]
            probs = probs if ok.all() else probs[ok]
        else:  # one class per position: the real positions' rows, flattened
            per_sample = False
            if labels is None:
                labels = position_labels(y, (n, *out.shape[1:]), what)
            keep = np.ones(out.shape[:-1], bool)
            mask = padding_mask(dict(zip(names, (a[start:stop] for a in inputs))), out.shape[:-1])
            if mask is not None:
                keep &= mask
            real = keep.copy()
            keep &= np.isfinite(out).all(axis=-1) & finite_inputs.reshape(-1, *[1] * (out.ndim - 2))
            if labels.dtype.kind in "fc":
                keep &= np.isfinite(labels[start:stop])
            left_out += int(real.sum() - keep.sum())
            probs = class_probs(out[keep])
            k = probs.shape[1]
            true = np.zeros(0, np.int64)
            if keep.any():
                true = _class_labels(labels[start:stop][keep], int(keep.sum()), k, what)
            rows = np.broadcast_to(np.arange(start, stop).reshape(-1, *[1] * (out.ndim - 2)), keep.shape)[keep]
        pred = np.argmax(probs, axis=1).astype(np.int64)
        at = np.arange(len(pred))
        parts.append((pred, probs[at, pred], probs[at, true], true, rows))
    pred, p_pred, p_true, true, rows_of = (np.concatenate(column) for column in zip(*parts))
    _check_rows_left(len(pred), len(pred) + left_out, what.rsplit(" ", 1)[0])
    # Rows are the samples themselves unless some were left out or the output has positions.
    sample_of = None if per_sample and not left_out else rows_of
    return _Rows(pred, p_pred, p_true, true, k, sample_of, left_out)


def _class_labels_where_finite(y: Any, n: int, k: int, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Class indices int64 (n,) as :func:`_class_labels` reads them, -1 where the label holds NaN or Inf; and
    bool (n,) where it does not."""
    arr = np.asarray(y)
    if arr.ndim == 0 or len(arr) != n or arr.dtype.kind not in "fc":
        return _class_labels(y, n, k, what), np.ones(n, bool)
    finite = finite_rows([arr])
    labels = np.full(n, -1, np.int64)
    if finite.any():
        labels[finite] = _class_labels(arr[finite], int(finite.sum()), k, what)
    return labels, finite


def _check_rows_left(kept: int, total: int, name: str) -> None:
    """A ValueError (:class:`NothingFinite`) naming the dataset when NaN or Inf left none of its rows to score."""
    if total and not kept:
        raise NothingFinite(
            f"{name}: expected samples whose inputs, labels and outputs are finite, got NaN or Inf in every one of "
            f"its {total:,} rows"
        )


def _calibration(confidence: np.ndarray, pred: np.ndarray, true: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean confidence and accuracy per equal-width bin of the predicted class's probability ``confidence``."""
    confidence = confidence.astype(np.float64)
    edges = np.linspace(0.0, 1.0, CALIBRATION_BINS + 1)
    # Bin i is [edges[i], edges[i+1]); a confidence of exactly 1 belongs to the last bin.
    bins = np.clip(np.searchsorted(edges, confidence, side="right") - 1, 0, CALIBRATION_BINS - 1)
    counts = np.bincount(bins, minlength=CALIBRATION_BINS)
    keep = counts > 0
    mean_conf = np.bincount(bins, weights=confidence, minlength=CALIBRATION_BINS)[keep] / counts[keep]
    accuracy = np.bincount(bins, weights=(pred == true), minlength=CALIBRATION_BINS)[keep] / counts[keep]
    return frozen(mean_conf), frozen(accuracy)


def slice_metrics(
    model: keras.Model,
    x: Any,
    y: Any,
    feature: int | str,
    bins: int = 5,
    feature_names: Any = None,
    probe: Probe | None = None,
    predicted: Any = None,
) -> SliceReport:
    """Accuracy (or mse) per quantile slice of one column of tabular ``x`` (n, features).

    Quantile edges are computed in float32 and de-duplicated, so tied quantiles merge and there may be fewer
    than ``bins`` slices. ``feature`` is a column index, or a name from ``feature_names``. ``predicted`` (e.g. a
    :class:`DatasetReport`'s) skips the forward pass.

    Returns
    -------
    SliceReport
        ``edges`` (s + 1,), ``counts`` and ``values`` (s,), ``slice_of`` (n,).
    """
    arr = np.asarray(x)
    if arr.ndim != 2 or not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"x: expected a numeric 2-D (samples, features) array, got shape {arr.shape}")
    n, d = arr.shape
    names = None if feature_names is None else [str(f) for f in feature_names]
    if names is not None and len(names) != d:
        raise ValueError(f"feature_names: expected {d} names, one per column of x, got {len(names)}")
    if isinstance(feature, str) and names is not None and feature in names:
        feature = names.index(feature)
    if not is_int(feature) or not 0 <= feature < d:
        raise ValueError(f"feature: expected a column index in [0, {d}) or a name from feature_names, got {feature!r}")
    if not is_int(bins) or bins < 1:
        raise ValueError(f"bins: expected a positive int, got {bins!r}")
    probe = probe_for(model, probe)
    classify = probe.classifies(y)
    if predicted is None:
        out = probability_rows(probe, arr)
        predicted = np.argmax(class_probs(out), axis=1) if classify else out
    predicted = np.asarray(predicted)
    if len(predicted) != n:
        raise ValueError(f"predicted: expected predictions for {n} samples, got shape {predicted.shape}")

    if classify:
        hits = _class_labels(predicted, n, None, "predicted") == _class_labels(y, n, None, "y")
        metric_name, sample_metric = "accuracy", hits.astype(np.float64)
    else:
        pred = predicted.reshape(n, -1).astype(np.float64)
        err = pred - _targets(y, n, pred.shape[1], "y")
        metric_name, sample_metric = "mse", (err**2).mean(axis=1)

    column = arr[:, feature].astype(np.float32)
    if not np.all(np.isfinite(column)):
        raise ValueError(f"x: expected finite values in column {feature} to slice on, got NaN or Inf")
    edges = np.unique(np.quantile(column, np.linspace(0, 1, bins + 1)).astype(np.float32))
    if len(edges) == 1:  # a constant column is a single slice
        edges = np.repeat(edges, 2)
    s = len(edges) - 1
    slice_of = np.clip(np.searchsorted(edges, column, side="right") - 1, 0, s - 1).astype(np.int64)
    counts = np.bincount(slice_of, minlength=s)
    with np.errstate(divide="ignore", invalid="ignore"):
        values = np.bincount(slice_of, weights=sample_metric, minlength=s) / counts
    name = names[feature] if names is not None else f"feature {feature}"
    return SliceReport(
        name, frozen(edges), frozen(counts, np.int64), metric_name, frozen(values), frozen(slice_of, np.int64)
    )


# --------------------------------------------------------------------------------------------- bounded views
def top_confusion(true: np.ndarray, pred: np.ndarray, k: int, most: int) -> tuple[np.ndarray, np.ndarray]:
    """A confusion matrix of at most ``most`` rows and columns over ``k`` classes, whatever ``k``.

    Returns the class each row and column stands for (int64 (m,), ascending; -1 last for "other": every class
    not shown) and the counts (float32 (m, m), true rows x predicted columns). With ``k <= most`` every class is
    shown; otherwise the ``most - 1`` classes that occur in the most rows, true or predicted (the lower index
    first on ties), and "other". Costs O(rows log rows): no array of ``k`` (a vocabulary, a million classes).
    """
    true, pred = np.asarray(true, np.int64), np.asarray(pred, np.int64)
    if k <= most:
        counts = np.bincount(true * k + pred, minlength=k * k).reshape(k, k)
        return np.arange(k, dtype=np.int64), counts.astype(np.float32)
    classes, support = np.unique(np.concatenate([true, pred]), return_counts=True)
    top = np.sort(classes[np.lexsort((classes, -support))[: most - 1]])
    m = len(top)

    def slot(values: np.ndarray) -> np.ndarray:  # a class's row, or m for "other"
        at = np.minimum(np.searchsorted(top, values), max(m - 1, 0))
        return np.where(top[at] == values, at, m) if m else np.zeros(len(values), np.int64)

    counts = np.bincount(slot(true) * (m + 1) + slot(pred), minlength=(m + 1) ** 2).reshape(m + 1, m + 1)
    return np.append(top, -1).astype(np.int64), counts.astype(np.float32)


def in_cell(true: np.ndarray, pred: np.ndarray, shown: np.ndarray, row: int, column: int) -> np.ndarray:
    """bool (rows,): the rows in cell (``row``, ``column``) of a matrix whose rows and columns stand for the
    classes ``shown`` (:func:`top_confusion`; -1 is every class not shown)."""
    for arg, value in (("row", row), ("column", column)):
        if not is_int(value) or not 0 <= value < len(shown):
            raise ValueError(f"{arg}: expected a cell index in [0, {len(shown)}), got {value!r}")

    def member(values: np.ndarray, index: int) -> np.ndarray:
        c = int(shown[index])
        return np.asarray(values == c) if c >= 0 else ~np.isin(values, shown[shown >= 0])

    return member(true, row) & member(pred, column)
