"""Comparison: two models that take the same inputs, side by side (what :func:`nbviz.compare` shows).

Model A and model B each have their own :class:`~nbviz.compute.analysis.analysis.Analysis` (B made by
:func:`~nbviz.compute.analysis.analysis.analysis_of`, so both read the same checked data under one display policy). A
comparison's answers are derived from both, so they live in the comparison's own memo keyed by (A's version,
B's version, question): after ``fit``, ``set_weights`` or ``load_weights`` on either model, every answer is
computed again; per-model answers (activations, gradients, reports) still come from each analysis's memo.

Layers are matched by name: a layer of A is compared where B has a layer of that name, its weights where every
weight tensor has the same shape in both, its output where the output shapes agree. Arrays are float32 and
read-only, already bounded for display, as in :mod:`nbviz.compute.analysis.answers`.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, TypeVar

import numpy as np

from .._arrays import frozen
from ..methods.diagnostics import output_chunks
from ..methods.display import activation_view
from ..methods.weights import weight_image
from .analysis import Analysis, weight_name
from .answers import ConfusionDisplay, Prediction, Unavailable
from .core import MAX_BARS
from .graph import LayerMetric, Metric
from .memo import Memo
from .questions import key_of, question

__all__ = [
    "CHANGE_METRICS",
    "Comparison",
    "ConfusionChange",
    "LayerChanges",
    "LayerMatch",
    "OutputsCompared",
    "PredictionChanges",
    "SideBySide",
]

T = TypeVar("T")
ACTIVATION_SAMPLES = 256  # the activation change is taken over the first samples of x, at most this many
ACTIVATION_BYTES = 64 * 2**20  # both models' activations of one chunk stay under this
LARGEST = 20  # a regressor's list: the samples whose output moved most
LISTED = 1000  # the flips listed by text (every one stays in ``flips``)

#: What the layer graph of a comparison is painted by (see :class:`~nbviz.ui.layer_graph.LayerGraph`'s ``metrics``).
CHANGE_METRICS: dict[str, Metric] = {
    "weight_change": Metric("weight change |B - A| / |A|", "max", True, "model"),
    "activation_change": Metric("activation change |B - A| / |A| over the data", "max", True, "data"),
}


# --------------------------------------------------------------------------------------------- answers
@dataclass(frozen=True)
class LayerMatch:
    """How one layer of A compares with B's layer of the same name.

    ``weights``: both have weights, of the same shapes, tensor by tensor; ``outputs``: their outputs per sample
    have the same shapes; ``note`` says why something is not compared ('' when everything is).
    """

    name: str
    class_a: str
    class_b: str | None
    weights: bool
    outputs: bool
    note: str

    @property
    def in_b(self) -> bool:
        return self.class_b is not None


@dataclass(frozen=True, eq=False)
class LayerChanges:
    """``||B - A|| / ||A||`` per layer of A, in graph order (Frobenius norms over all of the layer's weights, or
    over its outputs for ``n_samples`` samples; NaN where not compared; inf where A's are all zero and B's not)."""

    what: str
    layers: tuple[str, ...]
    values: np.ndarray
    n_samples: int

    def as_dict(self) -> dict[str, float]:
        """Layer -> change, for the compared layers only."""
        return {name: float(v) for name, v in zip(self.layers, self.values) if not np.isnan(v)}


@dataclass(frozen=True, eq=False)
class SideBySide:
    """One array of A, of B and their difference B - A, laid out alike for three heatmaps ("image") or three bar
    charts ("bars").

    ``a`` and ``b`` share one colour range (``vmin``, ``vmax``); ``diff`` is laid out from the difference of the
    full arrays (when downsampled, each cell keeps its block's largest |B - A|, so it is not ``b - a`` of the
    cells) on the symmetric range (-``dmax``, ``dmax``). ``change`` is ``||B - A|| / ||A||`` of the full arrays.
    ``names`` are the layer's weight tensors where the arrays are a weight or its gradient, ``index`` the one shown.
    """

    title: str
    shape: tuple[int, ...]
    kind: str
    a: np.ndarray
    b: np.ndarray
    diff: np.ndarray
    vmin: float
    vmax: float
    dmax: float
    change: float
    downsampled: bool
    names: tuple[str, ...] = ()
    index: int = 0

    @property
    def span(self) -> float:
        """The top of A's and B's symmetric colour scale (bars are coloured blue to red around zero)."""
        return max(abs(self.vmin), abs(self.vmax))

    @property
    def values(self) -> np.ndarray:
        """(3, ...) float32: A, B and B - A as shown."""
        return frozen(np.stack([self.a, self.b, self.diff]))


@dataclass(frozen=True, eq=False)
class ConfusionChange:
    """The confusion matrices of A and B over the labelled data (true rows x predicted columns, float32 counts)
    and their difference; ``most`` tops A's and B's shared colour scale, ``dmax`` the difference's."""

    classes: tuple[str, ...]
    a: np.ndarray
    b: np.ndarray
    diff: np.ndarray
    most: float
    dmax: float
    accuracy_a: float
    accuracy_b: float

    @property
    def values(self) -> np.ndarray:
        """(3, k, k): A, B and B - A."""
        return frozen(np.stack([self.a, self.b, self.diff]))


@dataclass(frozen=True, eq=False)
class PredictionChanges:
    """What changed in the predictions over every sample of x.

    Attributes
    ----------
    is_classifier : bool
    flips : np.ndarray
        int64, ascending: the samples whose predicted class (argmax of the first output; a single sigmoid unit
        at 0.5; any real position of a sequence output) differs between A and B. Empty for a regressor.
    change : np.ndarray
        float32 (n,): the largest |B - A| over the first output's values of each sample (probabilities for a
        classifier).
    walk : np.ndarray
        int64: what the list shows and the slider can walk: the flips, or for a regressor the ``LARGEST`` samples
        whose output changed most, largest first.
    texts : tuple of str
        One line per listed sample of ``walk`` (at most ``LISTED``).
    predicted_a, predicted_b : np.ndarray
        int64 (n,) predicted classes (a sequence: its first position's); empty for a regressor.
    """

    is_classifier: bool
    flips: np.ndarray
    change: np.ndarray
    walk: np.ndarray
    texts: tuple[str, ...]
    predicted_a: np.ndarray
    predicted_b: np.ndarray


@dataclass(frozen=True, eq=False)
class OutputsCompared:
    """One sample's first output from A and B as bars (``side``), with each model's prediction."""

    side: SideBySide
    prediction_a: Prediction
    prediction_b: Prediction


# --------------------------------------------------------------------------------------------- the comparison
class Comparison:
    """Every question a comparison view asks about model A (``a``) and model B (``b``).

    Parameters
    ----------
    a : Analysis
        Model A with the explored data (:func:`nbviz.compute.analyse`).
    b : Analysis
        Model B on the same data (:func:`nbviz.compute.analysis.analysis.analysis_of` with ``like=a``).
    cache_bytes : int
        The bound of the comparison's own memo.
    """

    def __init__(self, a: Analysis, b: Analysis, cache_bytes: int = 256 * 2**20) -> None:
        if b.data is not a.data:
            raise ValueError("b: expected an analysis on a's data (analysis_of(model_b, like=a))")
        self.a, self.b = a, b
        self.data = a.data
        self.policy = a.policy
        self.graph = a.graph  # the layer graph shown is A's
        self.memo = Memo(cache_bytes)
        self.activation_samples = ACTIVATION_SAMPLES
        self.activation_bytes = ACTIVATION_BYTES
        self._matches = MappingProxyType({n.name: self._match(n.name) for n in a.graph.nodes})

    # ----------------------------------------------------------------------------------------- versions
    @property
    def version(self) -> str:
        """Both models' versions: it changes when either model's weights do."""
        return f"{self.a.version}|{self.b.version}"

    @contextmanager
    def pinned(self) -> Iterator[str]:
        """Check both versions once for a block of questions (one interaction)."""
        with ExitStack() as stack:
            stack.enter_context(self.a.pinned())
            stack.enter_context(self.b.pinned())
            yield self.version

    def check_version(self) -> str:
        """Read both weights' fingerprints now (after a notebook cell ran)."""
        self.a.check_version()
        self.b.check_version()
        return self.version

    def refresh(self) -> str:
        """New versions for both, as if every weight had changed."""
        self.a.refresh()
        self.b.refresh()
        return self.version

    def _ask(self, key: tuple[Hashable, ...], compute: Callable[[], T]) -> T:
        return self.memo.get((self.a.version, self.b.version, *key), compute)

    def answered(self, asked: Callable[..., Any], *args: Any, **kwargs: Any) -> bool:
        """Whether asking ``asked(*args, **kwargs)`` (a question of this comparison, e.g. ``self.predictions``)
        would be answered from the memo for both models' versions now."""
        return (self.a.version, self.b.version, *key_of(asked, args, kwargs)) in self.memo

    def first_layer(self) -> str:
        """The layer to open on: A's first with weights that B has too (else A's own first)."""
        matched = self.matches()
        return next((m.name for m in matched.values() if m.weights), self.a.first_layer())

    # ----------------------------------------------------------------------------------------- layers
    def matches(self) -> MappingProxyType[str, LayerMatch]:
        """How each layer of A (in graph order) matches B's layer of the same name (read from the graphs and the
        weights' shapes once: no value is read, so it is not versioned)."""
        return self._matches

    def _match(self, name: str) -> LayerMatch:
        node_a = self.a.nodes[name]
        node_b = self.b.nodes.get(name)
        if node_b is None:
            return LayerMatch(
                name, node_a.class_name, None, False, False, f"{name} is only in A: B has no layer of that name"
            )
        shapes_a = [tuple(v.shape) for v in self.a.probe.weights_of[name]]
        shapes_b = [tuple(v.shape) for v in self.b.probe.weights_of[name]]
        outputs = [tuple(s[1:]) for s in node_a.output_shapes] == [tuple(s[1:]) for s in node_b.output_shapes]
        holder = name in self.a.probe.holders  # a nested model: its weights are its layers', compared there
        weights = bool(shapes_a) and shapes_a == shapes_b and not holder
        notes = []
        if node_a.class_name != node_b.class_name:
            notes.append(f"A's {name} is a {node_a.class_name}, B's a {node_b.class_name}")
        if shapes_a != shapes_b:
            notes.append(f"weight shapes differ: A {_shapes(shapes_a)}, B {_shapes(shapes_b)}")
        if not outputs:
            notes.append(f"output shapes differ: A {_shapes(node_a.output_shapes)}, B {_shapes(node_b.output_shapes)}")
        return LayerMatch(name, node_a.class_name, node_b.class_name, weights, outputs, "; ".join(notes))

    @property
    def only_b(self) -> tuple[str, ...]:
        """B's layers that A has no layer of the same name for (not shown: the graph is A's)."""
        return tuple(name for name in self.b.graph.names if name not in self.a.nodes)

    def _layer_reason(self, layer: str, what: str) -> str | None:
        """Why ``layer``'s ``what`` ("weights" or "outputs") cannot be compared, or None when it can."""
        if layer not in self.a.nodes:
            known = list(self.a.nodes)
            raise ValueError(f"layer: expected one of {known[:8]}{'...' if len(known) > 8 else ''}, got {layer!r}")
        match = self.matches()[layer]
        if not match.in_b:
            return match.note + "; nothing to compare."
        if what == "weights" and not match.weights:
            if not self.a.probe.weights_of[layer] or layer in self.a.probe.holders:
                return f"Layer {layer} ({match.class_a}) has no weights of its own."
            return f"{layer}: {match.note}: its weights are not compared."
        if what == "outputs" and not match.outputs:
            return f"{layer}: {match.note}: its outputs are not compared."
        return None

    # ----------------------------------------------------------------------------------------- per layer
    @question
    def weight_changes(self) -> LayerChanges:
        """``||W_B - W_A|| / ||W_A||`` per layer of A over all of its weights (NaN for layers without weights,
        absent from B, or with weights of other shapes)."""
        names = tuple(self.a.graph.names)
        values = np.full(len(names), np.nan)
        for i, name in enumerate(names):
            if self.matches()[name].weights:
                wa = [np.asarray(v.numpy()) for v in self.a.probe.weights_of[name]]
                wb = [np.asarray(v.numpy()) for v in self.b.probe.weights_of[name]]
                values[i] = _relative(_sum_squares(wb, wa), _sum_squares(wa))
        return LayerChanges("weights", names, frozen(values, np.float64), 0)

    @question
    def activation_changes(self) -> LayerChanges:
        """``||act_B - act_A|| / ||act_A||`` per layer of A over the first samples of x (at most
        ``activation_samples``; fewer where one sample's activations are large), streamed in chunks through both
        models' compiled passes so that memory stays at one chunk of each."""
        names = tuple(self.a.graph.names)
        layers = [n for n in names if self.matches()[n].outputs and n not in self.a.hidden_layers]
        per_sample = max(1, sum(a.nbytes for k, a in self.a.activations(0).items() if k in layers))
        n = min(self.data.n_samples, self.activation_samples, max(8, self.activation_bytes // per_sample))
        chunk = max(1, min(n, self.activation_bytes // (2 * per_sample)))
        diff = dict.fromkeys(layers, 0.0)
        base = dict.fromkeys(layers, 0.0)
        for start in range(0, n, chunk):
            x = [a[start : min(start + chunk, n)] for a in self.data.x]
            acts_a = self.a.probe.activations(x, layers)
            acts_b = self.b.probe.activations(x, layers)
            for name in layers:
                if name in acts_a and name in acts_b and acts_a[name].shape == acts_b[name].shape:
                    diff[name] += _sum_squares([acts_b[name]], [acts_a[name]])
                    base[name] += _sum_squares([acts_a[name]])
                else:  # not recorded (strings), or shapes that only disagree at run time
                    diff[name] = base[name] = np.nan
        values = np.array([_relative(diff[n], base[n]) if n in diff else np.nan for n in names])
        return LayerChanges("activations", names, frozen(values, np.float64), n)

    def layer_metric(self, metric: str, sample: int = 0) -> LayerMetric | Unavailable:
        """``metric`` (a name from :data:`CHANGE_METRICS`) per layer, for painting the layer graph."""
        if metric not in CHANGE_METRICS:
            raise ValueError(f"metric: expected one of {list(CHANGE_METRICS)}, got {metric!r}")
        spec = CHANGE_METRICS[metric]
        changes = self.weight_changes() if metric == "weight_change" else self.activation_changes()
        values = changes.as_dict()
        if not values:
            return Unavailable(f"no layer of A has {changes.what} that B's layer of the same name can be compared to")
        return LayerMetric(metric, spec.label, spec.reduction, spec.log, MappingProxyType(values))

    @question
    def weights(self, layer: str, index: int = 0) -> SideBySide | Unavailable:
        """Weight tensor ``index`` (kept in range) of ``layer`` in A and B, and B - A, as three heatmaps."""
        reason = self._layer_reason(layer, "weights")
        if reason is not None:
            return Unavailable(reason)
        names = self._weight_names(layer)
        index = index if 0 <= index < len(names) else 0

        wa = np.asarray(self.a.probe.weights_of[layer][index].numpy())
        wb = np.asarray(self.b.probe.weights_of[layer][index].numpy())
        return self._tensors(f"{layer} {names[index]}", wa, wb, names, index)

    @question
    def activations(self, layer: str, sample: int) -> SideBySide | Unavailable:
        """``layer``'s output for one sample in A and B, and B - A (bars for a vector, else a tiled heatmap)."""
        sample = self.data.check_sample(sample)
        reason = self._layer_reason(layer, "outputs")
        if reason is not None:
            return Unavailable(reason)
        if layer in self.a.hidden_layers:
            return Unavailable(f"Redacted: {layer} outputs the raw input, and redact=True sends no raw input value.")
        acts_a, acts_b = self.a.activations(sample), self.b.activations(sample)
        if layer not in acts_a or layer not in acts_b:
            return Unavailable(f"{layer} outputs no numbers that nbviz recorded (strings, or a layer never called).")

        return self._maps(f"{layer} output", acts_a[layer][0], acts_b[layer][0])

    def gradients(self, layer: str, sample: int, index: int = 0) -> SideBySide | Unavailable:
        """d loss / d weight ``index`` of ``layer`` for one sample in A and B, and B - A; for a layer without
        weights, d loss / d its output. What is differentiated is A's (``a.gradient_target``), for both."""
        sample = self.data.check_sample(sample)
        has_weights = bool(self.a.probe.weights_of.get(layer)) and layer not in self.a.probe.holders
        reason = self._layer_reason(layer, "weights" if has_weights else "outputs")
        if reason is not None:
            return Unavailable(reason)
        grads_a, grads_b = self.a.gradients(sample), self.b.gradients(sample)
        target = self.a.gradient_target
        if not has_weights:
            if layer not in grads_a.outputs or layer in grads_a.undefined or layer in grads_b.undefined:
                return Unavailable(f"d {target} / d {layer} output: no gradient reaches it")

            def outputs() -> SideBySide:
                return self._maps(
                    f"d {target} / d {layer} output", grads_a.outputs[layer][0], grads_b.outputs[layer][0]
                )

            return self._ask(("output gradients", layer, sample), outputs)
        names = self._weight_names(layer)
        index = index if 0 <= index < len(names) else 0
        if f"{layer}#{index}" in grads_a.undefined or f"{layer}#{index}" in grads_b.undefined:
            return Unavailable(f"d {target} / d {layer} {names[index]}: no gradient reaches it")

        def weights() -> SideBySide:
            ga, gb = grads_a.weights[layer][index], grads_b.weights[layer][index]
            return self._tensors(f"d {target} / d {layer} {names[index]}", ga, gb, names, index)

        return self._ask(("weight gradients", layer, sample, index), weights)

    def _weight_names(self, layer: str) -> tuple[str, ...]:
        keras_layer = self.a.probe.layers[layer]
        return tuple(weight_name(v, i, keras_layer) for i, v in enumerate(self.a.probe.weights_of[layer]))

    def _tensors(self, title: str, wa: np.ndarray, wb: np.ndarray, names: tuple[str, ...], index: int) -> SideBySide:
        """Two tensors of one shape laid out as the weights tab lays one out, a third of its cells each."""
        cells = max(16, self.policy.max_cells // 3)
        diff = wb.astype(np.float64) - wa.astype(np.float64)
        ia, ib, idiff = weight_image(wa, cells), weight_image(wb, cells), weight_image(diff, cells)
        m = max(abs(ia.vmin), abs(ia.vmax), abs(ib.vmin), abs(ib.vmax))
        return SideBySide(
            title,
            tuple(int(d) for d in wa.shape),
            "image",
            ia.image,
            ib.image,
            idiff.image,
            -m,
            m,
            _top(diff),
            _relative(_sum_squares([wb], [wa]), _sum_squares([wa])),
            ia.downsampled,
            names,
            index,
        )

    def _maps(self, title: str, out_a: np.ndarray, out_b: np.ndarray) -> SideBySide:
        """Two outputs of one sample laid out as the activations tab lays one out, a third of its cells each."""
        cells = max(16, self.policy.max_cells // 3)
        if out_a.ndim <= 1:
            cells = min(cells, MAX_BARS)
        diff = out_b.astype(np.float64) - out_a.astype(np.float64)
        va, vb, vd = (activation_view(v, max_cells=cells) for v in (out_a, out_b, diff))
        lo, hi = min(va.vmin, vb.vmin), max(va.vmax, vb.vmax)
        if lo < 0:  # a diverging map keeps zero in the middle (as activation_view's own range does)
            lo, hi = -max(-lo, hi), max(-lo, hi)
        change = _relative(_sum_squares([out_b], [out_a]), _sum_squares([out_a]))
        shape = tuple(int(d) for d in out_a.shape)
        return SideBySide(
            title, shape, va.kind, va.values, vb.values, vd.values, lo, hi, _top(diff), change, va.downsampled
        )

    # ----------------------------------------------------------------------------------------- predictions
    @question
    def predictions(self) -> PredictionChanges:
        """Which samples of x changed class (or, for a regressor, whose output moved most), from both models'
        first outputs over every sample, streamed in chunks."""
        classifier = self.data.is_classifier
        pred_a, pred_b, change = [], [], []
        chunks = zip(output_chunks(self.a.probe, self.data.x), output_chunks(self.b.probe, self.data.x))
        for (start, out_a), (_, out_b) in chunks:
            n = len(out_a)
            change.append(np.abs(out_b - out_a).reshape(n, -1).max(axis=1))
            if classifier:
                pred_a.append(_classes(self.a, out_a, start))
                pred_b.append(_classes(self.b, out_b, start))
        moved = np.concatenate(change).astype(np.float32)
        if not classifier:
            largest = np.argsort(-moved, kind="stable")[:LARGEST].astype(np.int64)
            texts = tuple(f"sample {i}: output moved by {moved[i]:.3g}" for i in largest)
            empty = np.zeros(0, np.int64)
            return PredictionChanges(False, frozen(empty), frozen(moved), frozen(largest), texts, empty, empty)
        a, b = np.concatenate(pred_a), np.concatenate(pred_b)
        flipped = (a != b).reshape(len(a), -1).any(axis=1)
        flips = np.flatnonzero(flipped).astype(np.int64)
        first_a, first_b = a.reshape(len(a), -1)[:, 0], b.reshape(len(b), -1)[:, 0]
        name = self.policy.class_name
        labels = self.data.y[0].reshape(len(a), -1)[:, 0] if self.data.y is not None else None
        texts = tuple(
            f"sample {i}: {name(int(first_a[i]))} \u2192 {name(int(first_b[i]))}"
            + ("" if labels is None else f" (label {name(int(labels[i]))})")
            for i in flips[:LISTED]
        )
        return PredictionChanges(
            True, frozen(flips), frozen(moved), frozen(flips), texts, frozen(first_a), frozen(first_b)
        )

    @question
    def confusion(self) -> ConfusionChange | Unavailable:
        """A's and B's confusion matrices over the labelled data (x, y), and B - A."""
        if "data" not in self.data.datasets:
            return Unavailable("No labels: pass y to compare() for the confusion matrices.")

        ca, cb = self.a.confusion("data"), self.b.confusion("data")
        if isinstance(ca, Unavailable):
            return ca
        if isinstance(cb, Unavailable):
            return Unavailable(f"B: {cb.reason}")
        return _confusion_change(ca, cb, self.a, self.b)

    @question
    def outputs(self, sample: int) -> OutputsCompared:
        """One sample's first output from A and B (probabilities for a classifier), and B - A, as bars."""
        sample = self.data.check_sample(sample)

        out_a = self.a.probe.probabilities(self.a.output(sample)).reshape(-1)
        out_b = self.b.probe.probabilities(self.b.output(sample)).reshape(-1)
        side = self._maps(f"sample {sample}: first output", out_a, out_b)
        return OutputsCompared(side, self.a.prediction(sample), self.b.prediction(sample))

    def output_labels(self, units: int) -> tuple[str, ...]:
        """A name per bar of the outputs: the class names, or positions."""
        return tuple(self.policy.class_name(i) for i in range(units))


# --------------------------------------------------------------------------------------------- helpers
def _shapes(shapes: Any) -> str:
    return ", ".join(str(tuple(s)) for s in shapes) or "none"


def _sum_squares(arrays: list[Any], minus: list[Any] | None = None) -> float:
    """The sum of squares of all values of ``arrays`` (of ``arrays - minus``, pairwise), in float64."""
    total = 0.0
    for i, a in enumerate(arrays):
        v = np.asarray(a, np.float64)
        if minus is not None:
            v = v - np.asarray(minus[i], np.float64)
        total += float(np.sum(np.square(v)))
    return total


def _relative(diff_squares: float, base_squares: float) -> float:
    """sqrt(diff) / sqrt(base): 0 when nothing changed, inf when A's are all zero and B's not."""
    if np.isnan(diff_squares) or np.isnan(base_squares):
        return float("nan")
    if diff_squares == 0:
        return 0.0
    return float(np.sqrt(diff_squares) / np.sqrt(base_squares)) if base_squares > 0 else float("inf")


def _top(diff: np.ndarray) -> float:
    """The top of a difference's symmetric colour range: its largest finite |value|, or 1 when all are zero."""
    finite = np.abs(diff[np.isfinite(diff)])
    m = float(finite.max()) if finite.size else 0.0
    return m if m > 0 else 1.0


def _classes(analysis: Analysis, out: np.ndarray, start: int) -> np.ndarray:
    """Predicted classes of a chunk of probabilities: (n,) or, for a sequence, (n, positions) with -1 at padding."""
    if out.ndim <= 2:
        probs = np.concatenate([1 - out, out], axis=-1) if out.shape[-1] == 1 else out
        return np.argmax(probs, axis=-1).astype(np.int64)
    top, _ = analysis.probe.top_classes(out)
    top = top.reshape(len(out), -1).astype(np.int64)
    mask = analysis.data.padding_mask(top.shape[1])
    if mask is not None:  # padding positions do not count as flips
        top = np.where(mask[start : start + len(out)], top, -1)
    return top


def _confusion_change(ca: ConfusionDisplay, cb: ConfusionDisplay, a: Analysis, b: Analysis) -> ConfusionChange:
    diff = cb.confusion - ca.confusion
    reports_a, reports_b = a.reports(), b.reports()
    assert not isinstance(reports_a, Unavailable) and not isinstance(reports_b, Unavailable)
    accuracy = [float(r["data"].metrics.get("accuracy", np.nan)) for r in (reports_a, reports_b)]
    return ConfusionChange(
        ca.classes,
        ca.confusion,
        cb.confusion,
        frozen(diff),
        max(ca.most, cb.most),
        _top(diff),
        accuracy[0],
        accuracy[1],
    )
