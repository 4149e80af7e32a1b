"""CheckedData: the user's data, checked once, in the structure the model takes.

Everything :func:`nbviz.explore` is given besides the model goes through :func:`check_data`: samples (arrays, a
DataFrame, tensors, lists or dicts for several inputs, a ``tf.data.Dataset``), labels (indices, one-hot rows,
class names, a dict keyed by output name), named datasets for diagnostics, the SHAP background, and the names
of features and classes. Bad input raises a TypeError or ValueError that names the argument.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from .._arrays import is_int
from .._pipeline import is_dataset, take
from .._validate import InputSpecs, as_inputs, as_targets, input_specs, padding_mask, padding_weights, position_labels
from ..backend import NAME, STRINGS_IN_MODEL
from ..model.probe import CALL_ERRORS, Probe, output_names_of
from .nonfinite import reasons
from .policy import check_names


@dataclass(frozen=True, eq=False)
class CheckedData:
    """The explored samples and everything that goes with them, checked against the model.

    Attributes
    ----------
    x : list of np.ndarray
        One array per model input, batch first, cast to the input's dtype.
    y : list of np.ndarray or None
        One label array per model output (class indices for a classifier given one-hot rows or names).
    n_samples : int
    feature_names : tuple of str or None
        One per column of tabular data (a DataFrame's columns by default).
    class_names : tuple of str or None
        One per class of a classifier.
    datasets : dict of name -> (x, y)
        Named datasets for diagnostics; ``(x, y)`` itself joins them as "data" when ``y`` is given.
    background : np.ndarray or None
        The SHAP background as given (None: summarise ``background_rows``).
    background_rows : np.ndarray
        What the default SHAP background summarises: ``x``, or the first batches of a pipeline given as
        background.
    n_outputs, output_units : int
        The model's outputs, and the units of its first output (1 for a single sigmoid or regression unit).
    is_classifier : bool
        Every output ends in softmax or sigmoid, or is a classifier's logits.
    names : tuple of str
        The model's input names, in ``x``'s order (empty for a subclassed model).
    weights : np.ndarray or None
        The sample weights a ``tf.data.Dataset`` yielded with x and y (per sample, or per position).
    output_shape : tuple of int
        The first output's shape for one sample.
    reconstruction : bool
        No ``y`` was given and the model's output is an image of its input's shape (an autoencoder): the input
        is the target, as ``fit(x, x)`` takes it.
    loss : callable or None
        The loss the person passed (``loss(y_true, y_pred)``), for a model that trains on one of its own.
    own_targets : Any
        Labels in a structure of the model's own that its ``compute_loss`` maps to its outputs (a detector's
        ``{"boxes", "labels"}`` for outputs ``{"bbox_regression", "cls_logits"}``), kept as given for the loss;
        ``y`` is None then (they are no label per output to score predictions by). None otherwise.
    nonfinite : np.ndarray or None
        int8 (n,): why each sample is left out of every aggregate by its data alone (see
        :mod:`nbviz.compute.data.nonfinite`: NaN or Inf in an input or a label, 0 where none); None when every
        sample is finite. The analysis adds the samples whose outputs are not finite, per model version.
    first_output : np.ndarray or None
        The first sample's first output (no batch axis) where checking the data took a forward pass on it: the
        sample view's first prediction, so that the model runs once before its compiled pass exists.
    """

    x: list[np.ndarray]
    y: list[np.ndarray] | None
    n_samples: int
    feature_names: tuple[str, ...] | None
    class_names: tuple[str, ...] | None
    datasets: dict[str, tuple[Any, Any]]
    background: np.ndarray | None
    background_rows: np.ndarray
    n_outputs: int
    output_units: int
    is_classifier: bool
    names: tuple[str, ...] = ()
    weights: np.ndarray | None = None
    output_shape: tuple[int, ...] = ()
    reconstruction: bool = False
    loss: Any = None
    nonfinite: np.ndarray | None = None
    own_targets: Any = None
    first_output: np.ndarray | None = None

    def sample_order(self, samples: Any = None) -> np.ndarray:
        """The samples a slider walks: every one (None), or ``samples`` (indices into x) ascending and once each.

        Raises
        ------
        ValueError
            Naming ``samples`` when it is empty, or ``sample`` for an index out of range.
        """
        if samples is None:
            return np.arange(self.n_samples)
        order = np.unique(np.asarray(samples, dtype=np.int64))
        if order.size == 0:
            raise ValueError("samples: expected at least one sample index for the slider, got none")
        self.check_sample(int(order[0]))
        self.check_sample(int(order[-1]))
        return order

    def inputs(self, sample: int) -> list[np.ndarray]:
        """Sample ``sample`` as a batch of one, one array per model input."""
        return [a[sample : sample + 1] for a in self.x]

    def labels(self, sample: int) -> list[np.ndarray] | None:
        """Sample ``sample``'s labels as a batch of one, one array per output; None without labels."""
        return None if self.y is None else [a[sample : sample + 1] for a in self.y]

    def loss_targets(self, sample: int) -> Any:
        """What the loss takes as ``y`` for sample ``sample`` (a batch of one): its labels per output, or the
        targets of the model's own structure (:attr:`own_targets`); None without either."""
        if self.own_targets is not None:
            return keras.tree.map_structure(lambda a: a[sample : sample + 1], self.own_targets)
        return self.labels(sample)

    def sample_weights(self, sample: int) -> np.ndarray | None:
        """Sample ``sample``'s loss weights as a batch of one: the weights its dataset yielded; for labels per
        position without them, the padding mask (KerasHub's preprocessors weigh the loss by it, so padding
        carries no loss); None otherwise."""
        if self.weights is not None:
            return self.weights[sample : sample + 1]
        labels = self.labels(sample)
        inputs = dict(zip(self.names, self.inputs(sample)))
        return padding_weights(inputs, None if labels is None else labels[0], self.is_classifier)

    def check_sample(self, sample: Any) -> int:
        """``sample`` as an index into x; TypeError or ValueError naming ``sample`` otherwise."""
        if not is_int(sample):
            raise TypeError(f"sample: expected an int index into x, got {type(sample).__name__}")
        if not 0 <= sample < self.n_samples:
            raise ValueError(f"sample: expected an index in [0, {self.n_samples}), got {sample}")
        return int(sample)

    @property
    def input_names(self) -> tuple[str, ...]:
        """One name per input, in ``x``'s order (``input`` for a model without symbolic inputs)."""
        return self.names if self.names else tuple(f"input {i}" for i in range(len(self.x)))

    def padding_mask(self, positions: int, layer: str = "") -> np.ndarray | None:
        """Where the tokens of a sequence of ``positions`` are real, (n, positions) bool, from the model's padding
        mask input of that length (the decoder's when ``layer`` is not named as an encoder's); None without."""
        return padding_mask(dict(zip(self.names, self.x)), (self.n_samples, positions), layer)

    @property
    def as_table(self) -> bool:
        """Samples read best as text: several inputs, or one input of token ids or strings."""
        return len(self.x) > 1 or not np.issubdtype(self.x[0].dtype, np.floating)

    @property
    def dataset_names(self) -> tuple[str, ...]:
        """The named datasets' names, "data" (the explored (x, y)) first when there are labels."""
        return tuple(self.datasets)

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """The shape of one sample of the first input (what views lay out, without reading a value)."""
        return tuple(int(d) for d in self.x[0].shape[1:])

    @property
    def tabular(self) -> bool:
        """One input of (samples, features): bars per feature, rules and slices over the features."""
        return len(self.x) == 1 and self.x[0].ndim == 2

    @property
    def n_classes(self) -> int | None:
        """Classes of a classifier's first output (2 for one sigmoid unit); None for regression."""
        if not self.is_classifier:
            return None
        return 2 if self.output_units == 1 else self.output_units


def check_data(
    probe: Probe,
    x: Any,
    y: Any = None,
    feature_names: Sequence[str] | None = None,
    class_names: Sequence[str] | None = None,
    background: Any = None,
    datasets: dict[str, Any] | None = None,
    max_samples: int | None = None,
    loss: Any = None,
) -> CheckedData:
    """Check everything that comes with a model; see :func:`nbviz.explore` for the arguments.

    The outputs' count and shapes come from Keras's symbolic graph (class names are checked against them); a
    forward pass on the first sample only where that cannot tell them or whether the inputs fit together (its
    output is kept for the sample view). A ``tf.data.Dataset`` is read only as far as ``max_samples`` (default
    1000 samples or 256 MB).
    """
    model = probe.model
    max_samples = _check_max_samples(max_samples)
    specs = input_specs(model)  # None for a subclassed model
    weights = None
    if is_dataset(x):
        x, yielded, weights = take(x, specs, max_samples, "x")
        if yielded is not None and y is not None:
            raise ValueError("y: expected None when x is a tf.data.Dataset that yields labels, got labels too")
        y = yielded if y is None else y
    if feature_names is None and hasattr(x, "columns"):  # a pandas DataFrame names its features
        feature_names = [str(c) for c in x.columns]
    inputs = as_inputs(specs, x, "x")
    n = len(inputs[0])
    _check_strings_on_backend(inputs, [spec[0] for spec in specs] if specs else [])
    names = [spec[0] for spec in specs] if specs else []
    shapes = probe.known_output_shapes(inputs)
    first = None
    if shapes is None or _lengths_may_disagree(specs, inputs):
        # Only a call tells: a subclassed model's outputs, or whether token ids of 5 fit a padding mask of 12.
        first = _first_prediction(probe, inputs, names)
        shapes = [tuple(o.shape) for o in (first if isinstance(first, list) else [first])]
    output_shape = shapes[0][1:]
    if loss is not None and not callable(loss):
        raise TypeError(f"loss: expected a callable loss(y_true, y_pred) or None, got {type(loss).__name__}")
    own_targets = None
    if y is not None and probe.takes_own_targets(y, probe.loss_source(loss)):
        # A detector's {"boxes", "labels"}: what its compute_loss maps to its outputs, not one label per output.
        own_targets, y = probe.own_target_arrays(y, n), None
    reconstruction = y is None and own_targets is None and reconstructs(probe, inputs)
    if reconstruction:
        y = inputs[0]
    units = int(shapes[0][-1]) if len(shapes[0]) > 1 else 1
    is_classifier = probe.classifies(y)
    n_classes = (2 if units == 1 else units) if is_classifier else None
    classes = check_names(class_names, "class_names", n_classes)
    features = check_names(feature_names, "feature_names", _n_features(inputs))
    output_names = output_names_of(model)
    labels, raw_labels = _labels(y, n, len(shapes), units, is_classifier, classes, output_names, output_shape)
    named = {} if datasets is None else _datasets(specs, datasets, len(shapes), max_samples, classes, output_names)
    if labels is not None:
        own = inputs[0] if len(inputs) == 1 else inputs
        named = {"data": (own, labels[0] if len(labels) == 1 else labels), **named}
    rows = inputs[0]
    if is_dataset(background):
        rows = as_inputs(specs, take(background, specs, max_samples, "background")[0], "background")[0]
        background = None
    elif background is not None and len(inputs) == 1:
        background = as_inputs(specs, background, "background")[0]
    return CheckedData(
        x=inputs,
        y=labels,
        n_samples=n,
        feature_names=features,
        class_names=classes,
        datasets=named,
        background=background,
        background_rows=rows,
        n_outputs=len(shapes),
        output_units=units,
        is_classifier=is_classifier,
        names=tuple(spec[0] for spec in specs) if specs else (),
        weights=None if weights is None else np.asarray(keras.tree.flatten(weights)[0], np.float32),
        output_shape=output_shape,
        reconstruction=reconstruction,
        loss=loss,
        nonfinite=reasons(inputs, raw_labels),
        own_targets=own_targets,
        first_output=None if first is None else (first[0] if isinstance(first, list) else first)[0],
    )


# --------------------------------------------------------------------------------------------- checks
def reconstructs(probe: Probe, inputs: list[np.ndarray]) -> bool:
    """An image out of one image input of the same shape: an autoencoder, whose target (given no labels) is
    its input, as ``fit(x, x)`` takes it."""
    if len(inputs) != 1 or probe.output_kinds != ["map"]:
        return False
    return probe.output_shapes(inputs)[0][1:] == inputs[0].shape[1:]


def _check_strings_on_backend(inputs: list[np.ndarray], names: list[str]) -> None:
    """Strings reach a model only on TensorFlow: JAX arrays hold numbers, and Keras runs string preprocessing
    (StringLookup, a KerasHub preprocessor) on JAX only in a tf.data pipeline, outside the model."""
    if STRINGS_IN_MODEL:
        return
    for i, a in enumerate(inputs):
        if a.dtype.kind in "OUS":
            name = names[i] if i < len(names) else str(i)
            raise ValueError(
                f"x: input {name!r} holds strings, which a model cannot take on Keras's {NAME} backend (string "
                f"layers run there only in a tf.data pipeline); map them to numbers before the model (the "
                f"lookup layers in that pipeline, or a KerasHub preprocessor applied to x), or use "
                f"KERAS_BACKEND=tensorflow"
            )


def _lengths_may_disagree(specs: InputSpecs | None, inputs: list[np.ndarray]) -> bool:
    """Whether inputs that each fit their own spec may still not fit each other: several inputs, one with a length
    the model leaves open (token ids and a padding mask of (None, None) each)."""
    return len(inputs) > 1 and any(None in tuple(spec[1][1:]) for spec in specs or ())


def _first_prediction(probe: Probe, inputs: list[np.ndarray], names: list[str]) -> Any:
    """The model's outputs on the first sample; a ValueError naming ``x`` when the model cannot take it (inputs
    that each fit their own spec but not each other: token ids of 5 with a padding mask of 12)."""
    try:
        return probe.predict(inputs[0][:1] if len(inputs) == 1 else [a[:1] for a in inputs])
    except CALL_ERRORS as err:
        given = ", ".join(f"{name} {a.shape}" for name, a in zip(names or range(len(inputs)), inputs))
        raise ValueError(f"x: the model cannot be called on inputs of shapes {given}: {keras_reason(err)}") from err


def keras_reason(err: BaseException) -> str:
    """The line of a Keras or TensorFlow error that says what went wrong, without its layer header and colours."""
    # An eager op's error starts with "{{function_node ...}}" and ends with " [Op:AddV2] name:": only the words.
    text = re.sub(r"\{\{function_node [^}]*\}\}\s*|\s*\[Op:\w+\]( name:.*)?$", "", str(err), flags=re.M)
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line).strip() for line in text.splitlines()]
    useful = [line for line in lines if line and not line.startswith(("Exception encountered", "Arguments received"))]
    reason = useful[0] if useful else type(err).__name__
    return reason if len(reason) <= 300 else reason[:297] + "..."


def _n_features(inputs: list[np.ndarray]) -> int | None:
    return inputs[0].shape[-1] if len(inputs) == 1 and inputs[0].ndim == 2 else None


def _labels(
    y: Any,
    n: int,
    n_outputs: int,
    units: int,
    is_classifier: bool,
    class_names: tuple[str, ...] | None,
    output_names: list[str] | None,
    output_shape: tuple[int, ...] = (),
) -> tuple[list[np.ndarray] | None, list[np.ndarray] | None]:
    """Labels as one array per output (a classifier's one-hot rows become class indices), and the labels as
    given, before that (where a NaN still shows: ``argmax`` of a row holding NaN is a class). ``output_shape``
    is the first output's shape without the batch axis."""
    if y is None:
        return None, None
    if n_outputs == 1 and class_names and _is_strings(y):
        y = _indices_of(y, class_names)
    targets = as_targets(y, n, n_outputs, name="y", output_names=output_names)
    assert targets is not None
    given = list(targets)
    first = targets[0]
    if is_classifier and len(output_shape) > 1:  # a class per position (a language model's next tokens)
        targets[0] = position_labels(first, (n, *output_shape), "y")
    elif is_classifier and first.ndim == 2 and first.shape[1] == units > 1:
        targets[0] = np.argmax(first, axis=1)  # one-hot rows become class indices
    elif is_classifier and first.ndim > 1 and first.shape[1:] != (1,):
        raise ValueError(f"y: expected class indices or one-hot rows of {units} columns, got shape {first.shape}")
    return targets, given


def _datasets(
    specs: InputSpecs | None,
    datasets: Any,
    n_outputs: int,
    max_samples: int | None,
    class_names: tuple[str, ...] | None,
    output_names: list[str] | None,
) -> dict[str, tuple[Any, Any]]:
    if not isinstance(datasets, dict):
        raise TypeError(f"datasets: expected a dict of name -> (x, y), got {type(datasets).__name__}")
    checked = {}
    for name, pair in datasets.items():
        if is_dataset(pair):
            pair = take(pair, specs, max_samples, f"datasets[{name!r}]")[:2]
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


def _check_max_samples(value: Any) -> int | None:
    if value is None:
        return None
    if not is_int(value):
        raise TypeError(f"max_samples: expected an int or None, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"max_samples: expected at least 1 sample, got {value}")
    return int(value)


def _is_strings(y: Any) -> bool:
    arr = np.asarray(y)
    return arr.dtype.kind in ("U", "S", "O") and arr.size > 0 and isinstance(arr.flat[0], str)


def _indices_of(y: Any, class_names: Sequence[str], name: str = "y") -> np.ndarray:
    arr = np.asarray(y).astype(str)
    names = list(class_names)
    unknown = sorted(set(arr.tolist()) - set(names))
    if unknown:
        raise ValueError(f"{name}: expected labels from class_names {names}, got unknown {unknown[:5]}")
    lookup = {c: i for i, c in enumerate(names)}
    return np.array([lookup[v] for v in arr.tolist()], dtype=np.int64)
