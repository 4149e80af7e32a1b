"""Analysis: every question a panel asks about a model and its data, answered for the model as it is now.

All derived data lives here, in one :class:`~nbviz.compute.memo.Memo` keyed by (model version, question): after
``fit``, ``set_weights`` or ``load_weights`` the version changes (:mod:`nbviz.compute.version`), and every
answer is computed again from the new weights; answers for weights that come back are found again. Panels ask
and display; they hold no derived data of their own.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import keras
import numpy as np

from ._validate import resolve_model
from .answers import (
    ConfusionDisplay,
    LayerActivation,
    LayerGradients,
    LayerWeights,
    MetricsTable,
    Prediction,
    RulesDisplay,
    SaliencyMap,
    SampleDisplay,
    SampleGradients,
    ShapGlobal,
    ShapLocal,
    SliceDisplay,
    Unavailable,
    beeswarm,
    feature_labels,
    input_picture,
    log10_norms,
    saliency_picture,
    signed_picture,
    tensor_display,
    top_bars,
)
from .attribution import Explanation, ShapExplainer, default_background
from .dataset import CheckedData, check_data
from .diagnostics import DatasetReport, diagnose, slice_metrics
from .display import DeadUnits, activation_view, block_mean, dead_units, overlay
from .findings import Finding, findings
from .graph import LayerNode, ModelGraph
from .memo import Memo
from .policy import DisplayPolicy
from .probe import Gradients, Probe, shared_probe
from .redact import input_like_layers
from .rules import surrogate_rules
from .saliency import cam_layers, saliency
from .version import ModelVersion

__all__ = ["Analysis", "analyse"]

T = TypeVar("T")
MAX_BARS = 1024  # one SVG rect per bar: beyond about a thousand the browser slows down
SAMPLE_CELLS = 4096  # the sample thumbnail
SALIENCY_BARS = 15
DEAD_UNIT_SAMPLES = 256
DEAD_UNIT_BYTES = 256 * 2**20
CAM = ("gradcam", "gradcam++")


class Analysis:
    """A model with its checked data and display policy; see the module docstring.

    Parameters
    ----------
    probe : Probe
        The compiled passes over the model.
    data : CheckedData
        The explored samples, labels and names (:func:`nbviz.compute.dataset.check_data`).
    policy : DisplayPolicy
        Cell budget, redact mode and class names.
    cache_bytes : int
        The memo's bound, for every answer together.
    """

    def __init__(self, probe: Probe, data: CheckedData, policy: DisplayPolicy, cache_bytes: int = 512 * 2**20):
        self.probe = probe
        self.model: keras.Model = probe.model
        self.graph: ModelGraph = probe.graph
        self.data = data
        self.policy = policy
        self.memo = Memo(cache_bytes)
        self.versions = ModelVersion(self.model)
        self.nodes: dict[str, LayerNode] = {n.name: n for n in self.graph.nodes}
        #: Layers whose outputs redact mode withholds (they show the raw input); empty without redact.
        self.hidden_layers = input_like_layers(self.graph) if policy.redact else frozenset()
        #: What the gradients differentiate: the loss, or output unit 0 of a regressor given no labels.
        self.gradient_target = "loss" if data.y is not None or data.is_classifier else "output unit 0"
        self.dead_unit_samples, self.dead_unit_bytes = DEAD_UNIT_SAMPLES, DEAD_UNIT_BYTES
        self._pins = threading.local()

    # ----------------------------------------------------------------------------------------- versions
    @property
    def version(self) -> str:
        """The model's version now (see :mod:`nbviz.compute.version`); fixed inside :meth:`pinned`."""
        pinned = getattr(self._pins, "version", None)
        return pinned if pinned is not None else self.versions.current()

    @contextmanager
    def pinned(self) -> Iterator[str]:
        """Check the version once for a block of questions (one interaction), on this thread."""
        outer = getattr(self._pins, "version", None)
        self._pins.version = outer if outer is not None else self.versions.current()
        try:
            yield self._pins.version
        finally:
            self._pins.version = outer

    def check_version(self) -> str:
        """Read the weights' fingerprint now, whatever the gate says (after a notebook cell ran)."""
        return self.versions.current(force=True)

    def refresh(self) -> str:
        """Forget nothing but compute everything again: a new version, as if every weight had changed."""
        return self.versions.refresh()

    def _ask(self, key: tuple[Hashable, ...], compute: Callable[[], T], versioned: bool = True) -> T:
        return self.memo.get(((self.version if versioned else None), *key), compute)

    def cached(self, *key: Hashable) -> bool:
        """Whether the question ``key`` (as the methods below name it) is answered for the current version."""
        return (self.version, *key) in self.memo

    # ----------------------------------------------------------------------------------------- per sample
    def activations(self, sample: int) -> dict[str, np.ndarray]:
        """Every layer's output for one sample (batch axis of 1 kept), from one compiled pass."""
        sample = self.data.check_sample(sample)
        return self._ask(("activations", sample), lambda: self.probe.activations(self.data.inputs(sample)))

    def gradients(self, sample: int) -> Gradients:
        """Gradients for one sample: of the loss with its label (or its predicted class), or of output unit 0."""
        sample = self.data.check_sample(sample)

        def compute() -> Gradients:
            inputs, labels = self.data.inputs(sample), self.data.labels(sample)
            if labels is not None or self.data.is_classifier:
                return self.probe.gradients(inputs, labels)
            return self.probe.gradients(inputs, target=0)

        return self._ask(("gradients", sample), compute)

    def output(self, sample: int) -> np.ndarray:
        """The model's first output for one sample, without the batch axis."""
        acts = self.activations(sample)
        name = self.probe.output_names[0]
        if name in acts:
            return acts[name][0]
        out = self.probe.predict(self.data.inputs(sample))  # the output comes from a bare op, not a layer
        return (out[0] if isinstance(out, list) else out)[0]

    def prediction(self, sample: int) -> Prediction:
        """What the model predicts for one sample, next to its label."""
        out = self.output(sample)
        label = None if self.data.y is None else self.data.y[0][sample]
        if self.data.is_classifier:
            probs = out if out.shape[-1] > 1 else np.array([1 - out[0], out[0]])
            k = int(np.argmax(probs))
            truth = None if label is None else int(np.asarray(label).ravel()[0])
            return Prediction(
                True,
                self.policy.class_name(k),
                float(probs[k]),
                None if truth is None else self.policy.class_name(truth),
                None if truth is None else truth == k,
                k,
            )
        target = None if label is None else str(np.round(label, 4))
        return Prediction(False, str(np.round(out, 4)), None, target, None, None)

    def sample_display(self, sample: int) -> SampleDisplay:
        """The sample as the sample view shows it (nothing of it in redact mode but the prediction)."""
        prediction = self.prediction(sample)
        x = self.data.x[0][sample]
        if self.policy.redact:
            return SampleDisplay("hidden", np.zeros(0, np.float32), (), 0.0, 1.0, prediction)
        if x.ndim == 1:
            mean, std = self._ask(("feature scale",), self._feature_scale, versioned=False)
            z = ((x - mean) / std).astype(np.float32)
            return SampleDisplay("bars", z, tuple(feature_labels(self.data.feature_names, x.shape)), 0, 1, prediction)
        image = block_mean(input_picture(x), SAMPLE_CELLS)
        finite = image[np.isfinite(image)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        return SampleDisplay("image", image, (), lo, hi if hi > lo else lo + 1.0, prediction)

    def _feature_scale(self) -> tuple[np.ndarray, np.ndarray]:
        x = self.data.x[0]
        finite = np.where(np.isfinite(x), x, np.nan)
        std = np.nanstd(finite, axis=0)
        return np.nanmean(finite, axis=0), np.where(std > 0, std, 1.0)

    # ----------------------------------------------------------------------------------------- layers
    def first_layer(self) -> str:
        """The layer to open on: the first with weights (an input layer has nothing to show in most tabs)."""
        return next((n.name for n in self.graph.nodes if n.has_weights), self.graph.names[0])

    def layer_weights(self, layer: str, index: int = 0) -> LayerWeights:
        """A layer's weight tensors, and tensor ``index`` (kept in range) as a heatmap and histogram."""
        variables = list(self.probe.layers[layer].weights)
        names = tuple(weight_name(v, i) for i, v in enumerate(variables))
        if not variables:
            return LayerWeights(layer, self.nodes[layer].class_name, names, None)
        index = index if 0 <= index < len(variables) else 0

        def compute() -> LayerWeights:
            tensor = tensor_display(names[index], np.asarray(variables[index].numpy()), self.policy.max_cells)
            return LayerWeights(layer, self.nodes[layer].class_name, names, tensor)

        return self._ask(("weights", layer, index), compute)

    def layer_activation(self, layer: str, sample: int) -> LayerActivation:
        """A layer's output for one sample as bars or a (tiled) heatmap; withheld in redact mode when it passes
        the raw input on."""
        node = self.nodes[layer]
        output = self.activations(sample)[layer][0]
        shape = tuple(int(d) for d in output.shape)
        if layer in self.hidden_layers:
            return LayerActivation(layer, shape, None, None, True, None)
        bars = output.ndim <= 1
        view = activation_view(
            output, max_cells=min(self.policy.max_cells, MAX_BARS) if bars else self.policy.max_cells
        )
        labels = self.data.feature_names if node.is_input and node.parent is None else None
        dead = self.dead_units().get(layer) if node.activation == "relu" else None
        return LayerActivation(layer, shape, view, labels, False, dead)

    def dead_units(self) -> dict[str, DeadUnits]:
        """Units that never output more than 0 over the first samples of x, for every layer with units.

        One streamed pass: each chunk of samples is reduced at once, so memory stays at one chunk. At most 256
        samples, fewer when one sample's activations are large (about 256 MB in all; at least 8 samples).
        """

        def compute() -> dict[str, DeadUnits]:
            per_sample = max(1, sum(a.nbytes for a in self.activations(0).values()))
            n = min(self.data.n_samples, self.dead_unit_samples, max(8, self.dead_unit_bytes // per_sample))
            chunk = max(1, min(n, self.dead_unit_bytes // (4 * per_sample)))
            dead: dict[str, DeadUnits] = {}
            for start in range(0, n, chunk):
                acts = self.probe.activations([a[start : min(start + chunk, n)] for a in self.data.x])
                for name, a in acts.items():
                    if a.ndim >= 2:
                        dead[name] = dead_units(a, previous=dead.get(name))
            return dead

        return self._ask(("dead units",), compute)

    def layer_gradients(self, layer: str, sample: int, index: int = 0) -> LayerGradients:
        """d target / d a layer's output and d target / d its weight ``index``, for one sample.

        The gradients tab shows three heatmaps, so they share the cell budget of one: an eighth for the output
        and the input saliency each, half for the weight.
        """
        grads = self.gradients(sample)
        target = self.gradient_target
        small = max(16, self.policy.max_cells // 8)
        undefined = layer in grads.undefined
        output = None if undefined else activation_view(grads.outputs[layer][0], max_cells=small)
        variables = list(self.probe.layers[layer].weights)
        names = tuple(weight_name(v, i) for i, v in enumerate(variables))
        if not variables:
            return LayerGradients(layer, target, output, names, None, False)
        index = index if 0 <= index < len(variables) else 0
        if f"{layer}#{index}" in grads.undefined:
            return LayerGradients(layer, target, output, names, None, True)
        tensor = grads.weights[layer][index]
        weight = tensor_display(f"d {target} / d {names[index]}", tensor, max(16, self.policy.max_cells // 2))
        return LayerGradients(layer, target, output, names, weight, False)

    @property
    def learning_layers(self) -> tuple[str, ...]:
        """Layers with trainable weights of their own, in graph order: those a gradient norm is taken of."""
        return tuple(n.name for n in self.graph.nodes if n.learns)

    def sample_gradients(self, sample: int) -> SampleGradients:
        """The input saliency of one sample and the gradient norm of every layer that learns."""
        grads = self.gradients(sample)
        first = grads.inputs[0] if isinstance(grads.inputs, list) else grads.inputs
        saliency_view = None
        if "input#0" not in grads.undefined:
            saliency_view = activation_view(first[0], max_cells=max(16, self.policy.max_cells // 8))
        norms_by_layer = self.probe.gradient_norms(grads)
        layers = self.learning_layers
        norms = np.array([norms_by_layer.get(name, np.nan) for name in layers], np.float64)
        return SampleGradients(
            self.gradient_target, saliency_view, self.data.feature_names, layers, norms, log10_norms(norms)
        )

    # ----------------------------------------------------------------------------------------- saliency
    def cam_layers(self) -> tuple[tuple[str, ...], str | None]:
        """The layers Grad-CAM can use and its default (the last convolution); see :func:`cam_layers`."""

        def compute() -> tuple[tuple[str, ...], str | None]:
            if len(self.data.x) != 1 or not np.issubdtype(self.data.x[0].dtype, np.floating):
                return (), None
            grids, default = cam_layers(self.probe, self.data.x[0][:1])
            return tuple(grids), default

        return self._ask(("cam layers",), compute, versioned=False)

    def saliency_map(self, sample: int, method: str, class_index: int | None, layer: str | None) -> Any:
        """A saliency map of one sample for ``class_index`` (None: the predicted class); CAM methods on
        ``layer``. Returns a :class:`SaliencyMap`, or :class:`Unavailable` saying why not."""
        x = self.data.x
        if len(x) > 1:
            return Unavailable(f"Saliency here needs a model with one input; this one has {len(x)}.")
        if not np.issubdtype(x[0].dtype, np.floating):
            return Unavailable(
                "Saliency needs float inputs: integer inputs (token ids) have no gradient; see the SHAP tab."
            )
        tabular = x[0].ndim == 2
        if method in CAM:
            usable = self.cam_layers()[0]
            if tabular or layer not in usable:
                return Unavailable(
                    f"{METHOD_NAMES[method]} needs a convolutional layer (h x w x channels); choose one: "
                    f"{', '.join(usable) or 'none in this model'}."
                )
        else:
            layer = None
        sample = self.data.check_sample(sample)
        inputs = self.data.inputs(sample)[0]

        def compute() -> np.ndarray:
            return saliency(self.model, inputs, method=method, target=class_index, layer=layer, probe=self.probe)[0]

        values = self._ask(("saliency", method, sample, class_index, layer), compute)
        cls = self.prediction(sample).class_index if class_index is None else class_index
        cls = 0 if cls is None else int(cls)
        if tabular:
            labels = feature_labels(self.data.feature_names, values.shape)
            bars = top_bars(values, labels, SALIENCY_BARS)
            return SaliencyMap(method, cls, self.policy.class_name(cls), values, bars, None, None, layer)
        picture = saliency_picture(values, method)
        # The overlay is a picture of the input itself: redact mode leaves it out.
        shown = None if self.policy.redact else overlay(input_picture(inputs[0]), np.abs(picture.values))
        return SaliencyMap(method, cls, self.policy.class_name(cls), values, None, picture, shown, layer)

    # ----------------------------------------------------------------------------------------- SHAP
    @property
    def background(self) -> np.ndarray:
        """The SHAP background: as given, or a summary of x (computed on first use: k-means takes a moment)."""
        if self.data.background is not None:
            return self.data.background
        return self._ask(("background",), lambda: default_background(self.data.background_rows), versioned=False)

    def shap_explainer(self, name: str = "auto") -> ShapExplainer:
        """The shap explainer ``name`` for the current weights, built once per version ("auto" resolved)."""
        return self._ask(
            ("explainer", name), lambda: ShapExplainer(self.model, self.background, name, probe=self.probe)
        )

    def shap_values(self, sample: int, name: str = "auto") -> Explanation:
        """SHAP values of every class for one sample."""
        sample = self.data.check_sample(sample)
        return self._ask(("shap", name, sample), lambda: self.shap_explainer(name).explain(self.data.inputs(sample)[0]))

    def shap_local(self, sample: int, name: str, class_index: int | None, top_k: int) -> Any:
        """One sample's SHAP values for ``class_index`` (None: the top output), laid out for the SHAP tab."""
        if len(self.data.x) > 1:
            return Unavailable(f"SHAP values here need a model with one input; this one has {len(self.data.x)}.")
        explanation = self.shap_values(sample, name)
        attribution = explanation.for_class(class_index)
        values = attribution.values[0]
        cls = int(attribution.class_index[0])
        bars = steps = picture = None
        x = self.data.x[0][sample]
        if values.ndim == 1:
            names = feature_labels(self.data.feature_names, values.shape)
            labels = [self.policy.feature_label(n, float(v)) for n, v in zip(names, x)]
            bars = top_bars(values, labels, top_k)
        elif values.ndim == 2:
            steps = values.sum(axis=1).astype(np.float32)
        else:
            picture = signed_picture(values.sum(axis=-1) if values.ndim == 3 else values.reshape(-1, values.shape[-1]))
        return ShapLocal(
            explanation.explainer,
            explanation.fallback,
            name == "auto",
            cls,
            self.policy.class_name(cls),
            self.data.output_units > 1,
            float(attribution.base_values[0]),
            float(attribution.outputs[0]),
            float(values.sum()),
            values,
            bars,
            steps,
            picture,
        )

    def compute_shap_global(
        self,
        name: str,
        n: int,
        progress: Callable[[float], None] | None = None,
        cancelled: Callable[[], bool] | None = None,
        version: str | None = None,
        chunk: int = 10,
    ) -> bool:
        """Compute SHAP values of the first ``n`` samples in chunks (``progress`` gets the share done); False
        when ``cancelled()`` turned true. Safe in a worker thread: it builds an explainer of its own, and stores
        its result under ``version`` (the version when the work was asked for; default now)."""
        version = self.version if version is None else version
        key = (version, "shap global", name, n)
        if key in self.memo:
            return True
        resolved = self.shap_explainer(name)
        explainer = ShapExplainer(self.model, self.background, resolved.name, probe=self.probe)
        x = self.data.x[0][:n]
        parts = []
        for start in range(0, len(x), chunk):
            if cancelled is not None and cancelled():
                return False
            parts.append(explainer.explain(x[start : start + chunk]))
            if progress is not None:
                progress(min(start + chunk, len(x)) / len(x))
        result = Explanation(
            values=np.concatenate([p.values for p in parts]),
            base_values=np.concatenate([p.base_values for p in parts]),
            outputs=np.concatenate([p.outputs for p in parts]),
            explainer=resolved.name,
            fallback=resolved.fallback,
        )
        self.memo.put(key, result)
        return True

    def shap_global(self, name: str, n: int, class_index: int | None, top_k: int) -> ShapGlobal | None:
        """Global importance over the first ``n`` samples if computed for this version, else None."""
        explanation = self.memo.peek((self.version, "shap global", name, n))
        if explanation is None:
            return None
        attribution = explanation.for_class(class_index)
        count = len(attribution.values)
        flat = attribution.values.reshape(count, -1)
        importance = np.abs(flat).mean(axis=0)
        labels = feature_labels(self.data.feature_names, self.data.x[0].shape[1:])
        top = top_bars(importance, labels, top_k)
        order = np.argsort(importance, kind="stable")[-top_k:]
        features = self.data.x[0][:count].reshape(count, -1)[:, order]
        x, y, color = beeswarm(flat[:, order], features, ranks=self.policy.redact)
        return ShapGlobal(
            explanation.explainer, explanation.fallback, name == "auto", count, importance.astype(np.float32),
            top, x, y, color, tuple(labels[i] for i in order),
        )  # fmt: skip

    # ----------------------------------------------------------------------------------------- data-wide
    def rules(self, depth: int, layer: str | None) -> Any:
        """Surrogate rules of depth ``depth`` over the input features (``layer`` None) or a layer's activations;
        a :class:`RulesDisplay`, or :class:`Unavailable`."""
        x = self.data.x
        if len(x) > 1:
            return Unavailable(f"Rules here need a model with one input; this one has {len(x)}.")
        if self.data.n_samples < 2:
            return Unavailable(
                "Rules need at least 2 samples (the tree is fitted on some and checked on others); x has 1."
            )
        if layer is None and x[0].ndim != 2:
            return Unavailable(
                "Rules over raw inputs need tabular data (samples x features): tick the box to use activations."
            )

        def compute() -> RulesDisplay:
            features = self._rule_features(layer)
            rules = surrogate_rules(
                self.model,
                x[0],
                max_depth=depth,
                feature_names=self.data.feature_names if layer is None else None,
                class_names=self.policy.class_names or None,
                features=None if layer is None else features,
                probe=self.probe,
                quantiles=self.policy.redact,
            )
            texts = tuple(f"{r.text}  ({r.samples} samples, {r.agreement:.0%} agree)" for r in rules.rules)
            coverage = np.array([r.samples for r in rules.rules], dtype=np.float32)
            source = f"activations of {layer}" if layer else "input features"
            return RulesDisplay(rules, source, layer, coverage, texts)

        return self._ask(("rules", depth, layer), compute)

    def _rule_features(self, layer: str | None) -> np.ndarray:
        if layer is None:
            return self.data.x[0]
        acts = self._ask(("layer over data", layer), lambda: self.probe.activations(self.data.x, layers=[layer])[layer])
        return acts.reshape(len(acts), -1)

    def rule_sample(self, depth: int, layer: str | None, index: int, current: int) -> int | None:
        """A sample covered by rule ``index``: ``current`` if it is, else the next one after it (wrapping)."""
        shown = self.rules(depth, layer)
        if isinstance(shown, Unavailable):
            return None
        covered = np.flatnonzero(shown.rules.rules[index].covers(self._rule_features(layer)))
        if covered.size == 0:
            return None
        if current in covered:
            return current
        later = covered[covered > current]
        return int(later[0] if later.size else covered[0])

    def reports(self) -> dict[str, DatasetReport] | Unavailable:
        """How the model does on every named dataset (``"data"`` is the explored (x, y))."""
        if not self.data.datasets:
            return Unavailable("No labels: pass y (or datasets={'train': (x, y), ...}) to explore() for diagnostics.")
        names = self.policy.class_names or None
        return self._ask(
            ("reports",), lambda: diagnose(self.model, self.data.datasets, class_names=names, probe=self.probe)
        )

    def metrics_table(self) -> MetricsTable:
        reports = self.reports()
        if isinstance(reports, Unavailable):
            return MetricsTable(())
        columns = tuple(sorted({k for r in reports.values() for k in r.metrics}))
        rows = tuple((name, r.n, tuple(r.metrics.get(k, float("nan")) for k in columns)) for name, r in reports.items())
        return MetricsTable(columns, rows)

    def confusion(self, dataset: str) -> ConfusionDisplay | None:
        """One dataset's confusion matrix, recall, precision and calibration; None for a regression model."""
        reports = self.reports()
        report = None if isinstance(reports, Unavailable) else reports[dataset]
        if report is None or report.confusion is None or report.recall is None or report.precision is None:
            return None
        classes = tuple(self.policy.class_name(i) for i in range(len(report.confusion)))
        counts = report.confusion.astype(np.float32)
        most = max(float(counts.max()), 1.0)
        return ConfusionDisplay(dataset, classes, counts, most, report.recall, report.precision, report.calibration)

    def slices(self, dataset: str, feature: int) -> SliceDisplay | None:
        """The metric per quantile slice of a feature of tabular data (labelled by the policy); None otherwise."""
        x, y = self.data.datasets[dataset]
        if not isinstance(x, np.ndarray) or x.ndim != 2:
            return None

        def compute() -> SliceDisplay:
            names = self.data.feature_names
            sliced = slice_metrics(self.model, x, y, feature, feature_names=names, probe=self.probe)
            labels = self.policy.slice_labels(sliced.edges, sliced.counts)
            return SliceDisplay(f"{sliced.metric_name} by {sliced.feature}", sliced.values, tuple(labels))

        return self._ask(("slices", dataset, feature), compute)

    def misclassified(self) -> np.ndarray | None:
        """Indices of the explored samples the classifier gets wrong; None without labels or for regression."""
        reports = self.reports()
        if isinstance(reports, Unavailable) or "data" not in reports or reports["data"].task != "classification":
            return None
        return np.flatnonzero(~reports["data"].correct.astype(bool))

    def cell_samples(self, dataset: str, true: int, predicted: int) -> np.ndarray:
        reports = self.reports()
        assert not isinstance(reports, Unavailable)
        return reports[dataset].cell_samples(true, predicted)

    def findings(self) -> tuple[Finding, ...]:
        """Every health check (:func:`nbviz.compute.findings`) on the explored data and named datasets."""

        def compute() -> tuple[Finding, ...]:
            data = self.data
            x = data.x[0] if len(data.x) == 1 else data.x
            y = data.y[0] if data.y is not None and len(data.y) == 1 else data.y
            others = data.datasets if len(data.datasets) > 1 else None
            names = self.policy.class_names or None
            return tuple(findings(self.model, x, y, datasets=others, class_names=names, probe=self.probe))

        return self._ask(("findings",), compute)


METHOD_NAMES = {
    "gradient": "gradient",
    "smoothgrad": "SmoothGrad",
    "integrated_gradients": "Integrated Gradients",
    "gradcam": "Grad-CAM",
    "gradcam++": "Grad-CAM++",
}


def weight_name(variable: Any, index: int) -> str:
    """A weight's short name ('kernel', 'bias', 'gamma'...), from Keras's variable path."""
    name = str(getattr(variable, "name", "") or f"w{index}")
    return name.split("/")[-1].split(":")[0]


def analyse(
    model: keras.Model | str | os.PathLike[str],
    x: Any,
    y: Any = None,
    *,
    feature_names: Sequence[str] | None = None,
    class_names: Sequence[str] | None = None,
    max_cells: int = 65_536,
    background: Any = None,
    datasets: dict[str, Any] | None = None,
    max_samples: int | None = None,
    redact: bool = False,
    cache_bytes: int = 512 * 2**20,
) -> Analysis:
    """Check a model and its data once and return their :class:`Analysis` (what :func:`nbviz.explore` shows).

    The arguments are :func:`nbviz.explore`'s; ``cache_bytes`` bounds the memo of every answer together.
    """
    model = resolve_model(model)  # held here: the shared probe holds its model weakly
    probe = shared_probe(model)
    if not isinstance(redact, bool):
        raise TypeError(f"redact: expected True or False, got {type(redact).__name__}")
    data = check_data(probe, x, y, feature_names, class_names, background, datasets, max_samples)
    policy = DisplayPolicy(max_cells=max_cells, redact=redact, class_names=data.class_names or ())
    return Analysis(probe, data, policy, cache_bytes=cache_bytes)
