"""Session: one model and its data, checked once, with the per-sample results that panels share, cached."""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import keras
import numpy as np

from ._arrays import is_int
from ._dataset import is_dataset, take
from ._validate import InputSpecs, as_inputs, as_targets, input_specs, resolve_model
from .attribution import Explanation, ShapExplainer, default_background
from .display import DeadUnits, dead_units
from .graph import ModelGraph, model_graph
from .probe import Gradients, Probe
from .redact import input_like_layers

T = TypeVar("T")


class _LRU(OrderedDict[Any, Any]):
    """A least-recently-used cache bounded by the bytes of the arrays it holds.

    A person going back and forth between samples hits it; a large model (ResNet50 keeps about 100 MB of
    activations per sample) holds few samples rather than exhausting memory. The newest entry always stays.
    """

    def __init__(self, max_bytes: int) -> None:
        super().__init__()
        self.max_bytes = max_bytes
        self.nbytes = 0

    def get_or(self, key: Any, compute: Callable[[], T]) -> T:
        if key in self:
            self.move_to_end(key)
            return self[key][0]  # type: ignore[no-any-return]
        value = compute()
        size = _nbytes(value)
        self[key] = (value, size)
        self.nbytes += size
        while self.nbytes > self.max_bytes and len(self) > 1:
            _, (_, old) = self.popitem(last=False)
            self.nbytes -= old
        return value

    def clear(self) -> None:
        super().clear()
        self.nbytes = 0


def _nbytes(value: Any) -> int:
    if isinstance(value, np.ndarray):
        return value.nbytes
    if isinstance(value, Explanation):
        return value.values.nbytes
    if isinstance(value, Gradients):
        return _nbytes(list(value.weights.values())) + _nbytes(list(value.outputs.values())) + _nbytes(value.inputs)
    if isinstance(value, dict):
        return _nbytes(list(value.values()))
    if isinstance(value, (list, tuple)):
        return sum(_nbytes(v) for v in value)
    return 0


class Session:
    """A model with its data, as the Explorer's panels use them.

    One forward pass per sample gives every layer's activations and one backward pass every gradient, so
    moving between layers of the same sample costs nothing: both are cached per sample.

    Parameters
    ----------
    model : keras.Model or path
        A built Keras 3 model, or the path of a ``.keras`` file (loaded with Keras's safe mode).
    x : array-like, list, dict or tf.data.Dataset
        Samples, batch first (a list or dict for several inputs); a dataset yields ``x`` or ``(x, y)`` as for
        ``model.fit``, and only its first ``max_samples`` samples are read.
    y : array-like, optional
        Labels: class indices, one-hot rows, class-name strings (with ``class_names``) or regression targets.
        None when ``x`` is a dataset that yields them.
    feature_names, class_names : sequence of str, optional
        Names of the input features (tabular inputs) and of the output classes.
    max_cells : int
        The most cells any heatmap sends to the browser.
    background : array-like or tf.data.Dataset, optional
        The SHAP background, used as given; default :func:`default_background` of ``x``. A dataset's first
        ``max_samples`` samples are summarised the same way.
    datasets : dict of name -> (x, y) or tf.data.Dataset, optional
        Named datasets for diagnostics; ``(x, y)`` itself joins them as "data" when ``y`` is given.
    max_samples : int, optional
        The most samples read from a ``tf.data.Dataset`` (``x`` or one in ``datasets``); by default 1000, or
        fewer once they pass 256 MB. Arrays are used whole.
    redact : bool
        Keep raw input values out of everything shown (see :mod:`nbviz.compute.redact`); panels read it.
    """

    dead_unit_samples = 256
    dead_unit_bytes = 256 * 2**20

    def __init__(
        self,
        model: keras.Model | str | os.PathLike[str],
        x: Any,
        y: Any = None,
        feature_names: Sequence[str] | None = None,
        class_names: Sequence[str] | None = None,
        max_cells: int = 65_536,
        cache_bytes: int = 256 * 2**20,
        background: Any = None,
        datasets: dict[str, Any] | None = None,
        max_samples: int | None = None,
        redact: bool = False,
    ) -> None:
        self.model = model = resolve_model(model)
        if not isinstance(redact, bool):
            raise TypeError(f"redact: expected True or False, got {type(redact).__name__}")
        self.redact = redact
        self.max_samples = _check_max_samples(max_samples)
        specs = input_specs(model)  # None for a subclassed model
        if is_dataset(x):
            x, yielded = take(x, specs, self.max_samples, "x")
            if yielded is not None and y is not None:
                raise ValueError("y: expected None when x is a tf.data.Dataset that yields labels, got labels too")
            y = yielded if y is None else y
        if feature_names is None and hasattr(x, "columns"):  # a pandas DataFrame names its features
            feature_names = [str(c) for c in x.columns]
        self.x = as_inputs(specs, x, "x")
        self.n_samples = len(self.x[0])
        self.probe = Probe(model)
        self.graph: ModelGraph = model_graph(model)
        self.max_cells = _check_max_cells(max_cells)
        first = self.probe.predict(self.inputs(0))
        outputs = first if isinstance(first, list) else [first]
        self.n_outputs = len(outputs)
        self.output_units = int(outputs[0].shape[-1]) if outputs[0].ndim > 1 else 1
        self.class_names = _check_names(class_names, "class_names", self._n_classes())
        self.feature_names = _check_names(feature_names, "feature_names", self._n_features())
        self.y = self._labels(y)
        self.datasets = self._datasets(datasets, specs)
        self._activations = _LRU(cache_bytes)
        self._gradients = _LRU(cache_bytes)
        self._dead: dict[str, DeadUnits] | None = None
        self._hidden: frozenset[str] | None = None
        # Rows the default background summarises: x, or the first batches of a pipeline given as background.
        self._background_rows = self.x[0]
        if is_dataset(background):
            rows = take(background, specs, self.max_samples, "background")[0]
            self._background_rows = as_inputs(specs, rows, "background")[0]
            background = None
        elif background is not None and len(self.x) == 1:
            background = as_inputs(specs, background, "background")[0]
        self._background = background
        self._explainers: dict[str, ShapExplainer] = {}
        self._shap = _LRU(cache_bytes)
        self._shap_global: dict[tuple[str, int], Explanation] = {}

    # ----------------------------------------------------------------------------------------- per sample
    def check_sample(self, sample: Any) -> int:
        if not is_int(sample):
            raise TypeError(f"sample: expected an int index into x, got {type(sample).__name__}")
        if not 0 <= sample < self.n_samples:
            raise ValueError(f"sample: expected an index in [0, {self.n_samples}), got {sample}")
        return int(sample)

    def inputs(self, sample: int) -> list[np.ndarray]:
        """The sample as a batch of one, one array per model input."""
        return [a[sample : sample + 1] for a in self.x]

    def activations(self, sample: int) -> dict[str, np.ndarray]:
        """Every layer's output for one sample (batch axis of 1 kept), from one compiled pass, cached."""
        return self._activations.get_or(sample, lambda: self.probe.activations(self.inputs(sample)))

    def prediction(self, sample: int) -> np.ndarray:
        """The first output of the model for one sample, without the batch axis (from the activations pass)."""
        acts = self.activations(sample)
        name = self.probe.output_names[0]
        if name in acts:
            return acts[name][0]
        out = self.probe.predict(self.inputs(sample))  # the output comes from a bare op, not a layer
        return (out[0] if isinstance(out, list) else out)[0]

    @property
    def gradient_target(self) -> str:
        """What the gradients differentiate: the loss, or output unit 0 of a regressor given no labels."""
        return "loss" if self.y is not None or self.probe.is_classifier else "output unit 0"

    def gradients(self, sample: int) -> Gradients:
        """Gradients for one sample: of the loss with its label (or its predicted class), cached."""

        def compute() -> Gradients:
            if self.y is not None:
                return self.probe.gradients(self.inputs(sample), [y[sample : sample + 1] for y in self.y])
            if self.probe.is_classifier:
                return self.probe.gradients(self.inputs(sample))
            return self.probe.gradients(self.inputs(sample), target=0)

        return self._gradients.get_or(sample, compute)

    def dead_units(self, layer: str) -> DeadUnits:
        """Which units of ``layer`` never output more than 0 over the first samples of ``x``.

        Computed once for every layer in one streamed pass: each chunk of samples is reduced at once, so memory
        stays at one chunk. At most ``dead_unit_samples`` samples are read, fewer when a sample's activations
        are large (about ``dead_unit_bytes`` of activations in all; at least 8 samples).
        """
        if self._dead is None:
            per_sample = max(1, _nbytes(self.activations(0)))
            n = min(self.n_samples, self.dead_unit_samples, max(8, self.dead_unit_bytes // per_sample))
            chunk = max(1, min(n, self.dead_unit_bytes // (4 * per_sample)))
            dead: dict[str, DeadUnits] = {}
            for start in range(0, n, chunk):
                acts = self.probe.activations([a[start : min(start + chunk, n)] for a in self.x])
                for name, a in acts.items():
                    if a.ndim >= 2:
                        dead[name] = dead_units(a, previous=dead.get(name))
            self._dead = dead
        return self._dead[layer]

    @property
    def hidden_layers(self) -> frozenset[str]:
        """Layers whose outputs redact mode withholds (they show the raw input); empty without redact."""
        if not self.redact:
            return frozenset()
        if self._hidden is None:
            self._hidden = input_like_layers(self.graph)
        return self._hidden

    # ----------------------------------------------------------------------------------------- SHAP
    @property
    def background(self) -> np.ndarray:
        """The SHAP background, computed on first use (a k-means summary costs a moment on large data)."""
        if self._background is None:
            self._background = default_background(self._background_rows)
        return self._background

    def shap_explainer(self, name: str = "auto") -> ShapExplainer:
        """The shap explainer called ``name``, built once; "auto" resolves to the one that works."""
        if name not in self._explainers:
            self._explainers[name] = ShapExplainer(self.model, self.background, name, probe=self.probe)
        return self._explainers[name]

    def shap(self, sample: int, name: str = "auto") -> Explanation:
        """SHAP values of every class for one sample, cached per explainer and sample."""
        return self._shap.get_or((name, sample), lambda: self.shap_explainer(name).explain(self.inputs(sample)[0]))

    def shap_global(
        self,
        name: str,
        n: int,
        progress: Callable[[float], None] | None = None,
        cancelled: Callable[[], bool] | None = None,
        chunk: int = 10,
    ) -> Explanation | None:
        """SHAP values of the first ``n`` samples, computed in chunks (``progress`` gets the share done);
        None when ``cancelled()`` turned true. Cached per explainer and subset size.

        Safe to call from a worker thread: it builds an explainer of its own rather than sharing the one
        the local view uses.
        """
        key = (name, n)
        if key in self._shap_global:
            return self._shap_global[key]
        resolved = self.shap_explainer(name).name  # "auto" is resolved once, on this thread
        explainer = ShapExplainer(self.model, self.background, resolved, probe=self.probe)
        x = self.x[0][:n]
        parts = []
        for start in range(0, len(x), chunk):
            if cancelled is not None and cancelled():
                return None
            parts.append(explainer.explain(x[start : start + chunk]))
            if progress is not None:
                progress(min(start + chunk, len(x)) / len(x))
        result = Explanation(
            values=np.concatenate([p.values for p in parts]),
            base_values=np.concatenate([p.base_values for p in parts]),
            outputs=np.concatenate([p.outputs for p in parts]),
            explainer=resolved,
            fallback=self.shap_explainer(name).fallback,
        )
        self._shap_global[key] = result
        return result

    def label(self, sample: int) -> Any:
        """The true label of a sample (class index or value), or None without labels."""
        if self.y is None:
            return None
        value = self.y[0][sample]
        return value.item() if np.ndim(value) == 0 else value

    def class_name(self, index: int) -> str:
        return self.class_names[index] if self.class_names and index < len(self.class_names) else str(index)

    # ----------------------------------------------------------------------------------------- checks
    def _n_classes(self) -> int | None:
        if not self.probe.is_classifier:
            return None
        return 2 if self.output_units == 1 else self.output_units

    def _n_features(self) -> int | None:
        return self.x[0].shape[-1] if len(self.x) == 1 and self.x[0].ndim == 2 else None

    def _datasets(self, datasets: Any, specs: InputSpecs | None) -> dict[str, tuple[Any, Any]]:
        named = {}
        if datasets is not None:
            named = _datasets_checked(self.model, specs, datasets, self.n_outputs, self.max_samples, self.class_names)
        if self.y is not None:
            own = self.x[0] if len(self.x) == 1 else self.x
            named = {"data": (own, self.y[0] if len(self.y) == 1 else self.y), **named}
        return named

    def _labels(self, y: Any) -> list[np.ndarray] | None:
        if y is None:
            return None
        if self.n_outputs == 1 and self.class_names and _is_strings(y):
            y = _indices_of(y, self.class_names)
        targets = as_targets(y, self.n_samples, self.n_outputs, name="y", output_names=_output_names(self.model))
        assert targets is not None
        first = targets[0]
        if self.probe.is_classifier and first.ndim == 2 and first.shape[1] == self.output_units > 1:
            targets[0] = np.argmax(first, axis=1)  # one-hot rows become class indices
        elif self.probe.is_classifier and first.ndim > 1 and first.shape[1:] != (1,):
            raise ValueError(
                f"y: expected class indices or one-hot rows of {self.output_units} columns, got shape {first.shape}"
            )
        return targets


def _datasets_checked(
    model: keras.Model,
    specs: InputSpecs | None,
    datasets: Any,
    n_outputs: int,
    max_samples: int | None,
    class_names: list[str] | None,
) -> dict[str, tuple[Any, Any]]:
    if not isinstance(datasets, dict):
        raise TypeError(f"datasets: expected a dict of name -> (x, y), got {type(datasets).__name__}")
    checked = {}
    output_names = _output_names(model)
    for name, pair in datasets.items():
        if is_dataset(pair):
            pair = take(pair, specs, max_samples, f"datasets[{name!r}]")
            if pair[1] is None:
                raise ValueError(f"datasets[{name!r}]: expected a tf.data.Dataset of (x, y), got one without labels")
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise ValueError(f"datasets[{name!r}]: expected an (x, y) pair, got {type(pair).__name__}")
        inputs = as_inputs(specs, pair[0], f"datasets[{name!r}] x")
        labels = pair[1]
        if n_outputs == 1 and class_names and _is_strings(labels):  # class names become indices, as in y
            labels = _indices_of(labels, class_names, f"datasets[{name!r}] y")
        targets = as_targets(labels, len(inputs[0]), n_outputs, f"datasets[{name!r}] y", output_names)
        if isinstance(labels, Mapping):  # keyed by output name, as model.fit takes them: kept in output order
            labels = targets
        checked[str(name)] = (inputs[0] if len(inputs) == 1 else inputs, labels)
    return checked


def _output_names(model: keras.Model) -> list[str] | None:
    """The names ``model.fit`` keys a dict of labels by, or None for a model without symbolic outputs."""
    try:
        return list(model.output_names)
    except (AttributeError, ValueError):
        return None


def _check_max_samples(value: Any) -> int | None:
    if value is None:
        return None
    if not is_int(value):
        raise TypeError(f"max_samples: expected an int or None, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"max_samples: expected at least 1 sample, got {value}")
    return int(value)


def _check_max_cells(value: Any) -> int:
    if not is_int(value):
        raise TypeError(f"max_cells: expected an int, got {type(value).__name__}")
    if value < 16:
        raise ValueError(f"max_cells: expected at least 16 cells, got {value}")
    return int(value)


def _check_names(names: Any, arg: str, expected: int | None) -> list[str] | None:
    if names is None:
        return None
    if isinstance(names, str) or not isinstance(names, Sequence | np.ndarray):
        raise TypeError(f"{arg}: expected a sequence of strings, got {type(names).__name__}")
    names = [str(n) for n in names]
    if expected is not None and len(names) != expected:
        raise ValueError(f"{arg}: expected {expected} names, got {len(names)}")
    return names


def _is_strings(y: Any) -> bool:
    arr = np.asarray(y)
    return arr.dtype.kind in ("U", "S", "O") and arr.size > 0 and isinstance(arr.flat[0], str)


def _indices_of(y: Any, class_names: list[str], name: str = "y") -> np.ndarray:
    arr = np.asarray(y).astype(str)
    unknown = sorted(set(arr.tolist()) - set(class_names))
    if unknown:
        raise ValueError(f"{name}: expected labels from class_names {class_names}, got unknown {unknown[:5]}")
    lookup = {name: i for i, name in enumerate(class_names)}
    return np.array([lookup[v] for v in arr.tolist()], dtype=np.int64)
