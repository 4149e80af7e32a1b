"""A model's loss, as ``fit`` finds it and as a compiled pass computes it, written once for every backend.

Which loss: the compiled one per output (or a default by the output's activation), the model's own
``compute_loss``, what its layers add (``add_loss``, regularisers), the loss weights, and a configuration token
that keys what was computed with it. Inside a pass (``keras.ops``, traced once by ``tf.function`` or ``jax.jit``,
so it costs nothing at run time): labels matched to the output's rank, a classifier's own predictions as labels,
the mean weighted as ``fit`` weighs it, and the crossentropy's gradient on probabilities written out.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import keras
import numpy as np
from keras import ops

from .graph import activation_of


def is_sparse(loss: Any) -> bool:
    """Whether ``loss`` takes class indices (a sparse crossentropy), by its name."""
    return "sparse" in str(getattr(loss, "name", "") or getattr(loss, "__name__", ""))


def match_rank(y: Any, output: Any) -> Any:
    """Labels (n,) for an output (n, 1), or (n, 1) for (n,): made the same rank, as Keras's own loss does in fit."""
    if len(y.shape) == len(output.shape) - 1 and output.shape[-1] == 1:
        return ops.expand_dims(y, -1)
    if len(y.shape) == len(output.shape) + 1 and y.shape[-1] == 1:
        return ops.squeeze(y, -1)
    return y


def own_labels(output: Any, kind: str, loss: Any = None) -> Any:
    """A classifier's predicted classes, used as labels when none are given: class indices for a sparse loss (a
    language model's SparseCategoricalCrossentropy on logits), else one-hot rows."""
    if kind == "sigmoid":
        return ops.stop_gradient(ops.round(output))
    if kind == "sigmoid logits":
        return ops.stop_gradient(ops.cast(output > 0, output.dtype))
    if is_sparse(loss):
        return ops.stop_gradient(ops.argmax(output, axis=-1))
    return ops.stop_gradient(ops.one_hot(ops.argmax(output, axis=-1), output.shape[-1]))


def expanded(weight: Any, rank: int) -> Any:
    """Weights with trailing axes added up to ``rank`` (per-sample weights over per-position losses)."""
    while len(weight.shape) < rank:
        weight = ops.expand_dims(weight, -1)
    return weight


def mean_loss(loss: Any, y: Any, o: Any, weight: Any | None) -> Any:
    """One output's loss, float32: the mean of its per-sample (per-position) losses, each weighted as ``fit``
    does."""
    if weight is None:
        return ops.mean(ops.cast(loss(y, o), "float32"))
    if isinstance(loss, keras.losses.Loss):  # Keras weighs and reduces it itself, as in fit
        return ops.cast(loss(y, o, sample_weight=weight), "float32")
    values = ops.cast(loss(y, o), "float32")
    return ops.mean(values * expanded(weight, len(values.shape)))


def crossentropy_gradient(loss: Any, y_true: Any, p: Any, weight: Any | None = None) -> Any | None:
    """d mean(loss) / d p for a tagged crossentropy on probabilities ``p``; None for any other loss.

    Written out rather than differentiated: that would need the loss computed again from ``p``, which doubles
    the backward pass of a small model. The crossentropy is taken as Keras takes it on probabilities, clipped to
    [eps, 1 - eps] (no gradient where clipped), but without renormalising ``p``: -log p at the label, so the
    gradient there is -w / (n p), n the number of per-sample losses averaged and w the sample's weight (1
    without weights).
    """
    kind = getattr(loss, "crossentropy", None)
    if kind is None:
        return None
    eps = keras.config.epsilon()
    inside = ops.cast((p > eps) & (p < 1 - eps), p.dtype)
    if weight is not None:  # each loss's weight, on every unit it is taken over
        inside = inside * expanded(ops.cast(weight, p.dtype), len(p.shape))
    clipped = ops.clip(p, eps, 1 - eps)
    size = ops.cast(ops.size(p), p.dtype)
    if kind == "categorical":
        classes = p.shape[-1]
        if not (len(y_true.shape) == len(p.shape) and y_true.shape[-1] == classes):
            y_true = ops.one_hot(ops.cast(ops.reshape(y_true, ops.shape(p)[:-1]), "int32"), classes)
        t = ops.cast(y_true, p.dtype)
        return -t / clipped * inside / (size / classes)  # the count of per-sample (and per-position) losses
    t = ops.cast(y_true, p.dtype)
    return (-t / clipped + (1 - t) / (1 - clipped)) * inside / size  # binary: the mean over units, then samples


class UnknownLoss(ValueError):
    """No loss is known for a model, and none is guessed: it trains with its own ``train_step`` and compiles no
    loss (its loss lives in code nbviz cannot read), or it is compiled without one and its layers add none."""


#: Loss functions a configuration token names by id, kept so that no other function takes their id.
_NAMED_BY_ID: dict[int, Any] = {}


#: The loss taken for an output when none is compiled, by its activation, with its name in words.
DEFAULT_LOSSES: dict[str, tuple[str, Callable[[Any, Any], Any]]] = {
    "softmax": ("categorical crossentropy", keras.losses.categorical_crossentropy),
    "sigmoid": ("binary crossentropy", keras.losses.binary_crossentropy),
}
MSE: tuple[str, Callable[[Any, Any], Any]] = ("mean squared error", keras.losses.mean_squared_error)


def _overrides(model: keras.Model, method: str) -> bool:
    """Whether ``model``'s class (not Keras itself) defines ``method``: a custom ``train_step`` or ``compute_loss``."""
    owner = next((c for c in type(model).__mro__ if method in vars(c)), None)
    return owner is not None and not owner.__module__.startswith("keras.")


def added_losses(model: keras.Model, terms: list[Any]) -> Any:
    """The sum of ``terms``, the losses ``model``'s layers added in the pass being traced (``add_loss``, and the
    regularisers), as float32."""
    if not terms:
        raise UnknownLoss(
            f"no loss is known: {type(model).__name__} is compiled without a loss and its layers add none "
            "(add_loss); pass loss="
        )
    return sum(keras.ops.cast(t, "float32") for t in terms)


def own_train_step(model: keras.Model) -> bool:
    return _overrides(model, "train_step")


def own_compute_loss(model: keras.Model) -> Callable[..., Any] | None:
    """The model's own ``compute_loss(x, y, y_pred, sample_weight)`` where its class overrides Keras's (what
    ``fit`` differentiates then), else None."""
    if not _overrides(model, "compute_loss"):
        return None
    takes_training = "training" in inspect.signature(model.compute_loss).parameters

    def compute(x: Any, y: Any, y_pred: Any, sample_weight: Any) -> Any:
        extra = {"training": False} if takes_training else {}
        return model.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, **extra)

    return compute


def loss_label(spec: Any) -> str:
    if isinstance(spec, str):
        return spec
    return str(getattr(spec, "name", "") or getattr(spec, "__name__", "") or type(spec).__name__)


def compiled_losses(model: keras.Model, n: int, output_layers: list[Any]) -> list[Any]:
    """The compiled loss of each of the ``n`` outputs (None where there is none)."""
    compiled = getattr(model, "loss", None)
    if isinstance(compiled, dict):
        names = getattr(model, "output_names", None) or [layer.name for layer in output_layers]
        return [compiled.get(name) for name in names]
    if isinstance(compiled, (list, tuple)):
        return list(compiled)
    return [compiled] * n


def loss_config(model: keras.Model) -> str:
    """What the compiled objective depends on, as a string that changes when ``compile`` changes it: each
    output's loss (a built-in's name; a ``Loss`` object's class and configuration, ``from_logits`` and its
    reduction among them; a function's name and identity) and the loss weights."""
    compiled = getattr(model, "loss", None)
    specs = list(compiled.items()) if isinstance(compiled, dict) else compiled
    specs = specs if isinstance(specs, (list, tuple)) else [specs]
    return repr([_loss_token(spec) for spec in specs]) + repr(_user_loss_weights(model))


def _loss_token(spec: Any) -> Any:
    if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], str):  # (output name, its loss)
        return (spec[0], _loss_token(spec[1]))
    if spec is None or isinstance(spec, str):
        return spec
    if isinstance(spec, keras.losses.Loss):
        # Everything the object holds: get_config() leaves out what a wrapper passes to its function (Huber's
        # delta, a crossentropy's from_logits in some versions).
        return (type(spec).__qualname__, sorted((k, repr(v)) for k, v in vars(spec).items()))
    _NAMED_BY_ID.setdefault(id(spec), spec)
    return (getattr(spec, "__qualname__", type(spec).__name__), id(spec))


def _user_loss_weights(model: keras.Model) -> Any:
    # Keras keeps compile()'s loss_weights nowhere public but in get_compile_config(), which serialises the
    # optimizer too (0.5 ms) and fails on a lambda: read them where compile() put them.
    return getattr(getattr(model, "_compile_loss", None), "_user_loss_weights", None)


def loss_weights(model: keras.Model, n: int) -> list[float]:
    """The compiled weight of each of the ``n`` outputs' losses (1.0 where none is given), as ``fit`` sums them."""
    given = _user_loss_weights(model)
    if given is None:
        return [1.0] * n
    if isinstance(given, dict):
        names = list(getattr(model, "output_names", None) or [])
        return [float(given.get(name, 1.0)) for name in names] if len(names) == n else [1.0] * n
    if isinstance(given, (list, tuple)):
        return [float(w) for w in given] if len(given) == n else [1.0] * n
    return [float(given)] * n


def loss_functions(model: keras.Model, output_layers: list[Any]) -> list[Callable[[Any, Any], Any]]:
    """One loss function (y_true, y_pred) per output: the compiled loss when there is one, else a default."""
    specs = compiled_losses(model, len(output_layers), output_layers)
    return [_resolve_loss(spec, layer) for spec, layer in zip(specs, output_layers)]


def _resolve_loss(spec: Any, layer: Any) -> Callable[[Any, Any], Any]:
    if spec is not None:
        fn = keras.losses.get(spec) if isinstance(spec, str) else spec
        return _tagged(fn)
    _, fn = DEFAULT_LOSSES.get(str(activation_of(layer)), MSE)
    return fn if fn is keras.losses.mean_squared_error else _tagged(fn)


def _tagged(fn: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """A crossentropy on probabilities, tagged with its kind ("categorical" or "binary") for the explicit output
    gradient; a categorical one also takes class indices or one-hot rows. Other losses come back as they are."""
    name = str(getattr(fn, "__name__", "") or getattr(fn, "name", ""))
    if bool(getattr(fn, "from_logits", False)):
        return fn  # on logits: no cached logits skip the output, and the tape's gradient is the true one
    if "categorical_crossentropy" in name:

        def loss(y_true: Any, y_pred: Any) -> Any:
            if len(y_true.shape) == len(y_pred.shape) and y_true.shape[-1] == y_pred.shape[-1]:
                return keras.losses.categorical_crossentropy(keras.ops.cast(y_true, y_pred.dtype), y_pred)
            return keras.losses.sparse_categorical_crossentropy(y_true, y_pred)

        loss.crossentropy = "categorical"  # type: ignore[attr-defined]
        return loss
    if "binary_crossentropy" in name:

        def binary(y_true: Any, y_pred: Any) -> Any:
            return fn(y_true, y_pred)

        binary.crossentropy = "binary"  # type: ignore[attr-defined]
        return binary
    return fn


def sample_weights(weight: Any, n: int) -> np.ndarray:
    """``sample_weight`` as float32, checked: one weight per sample, or per sample and position."""
    arr = np.asarray(weight)
    if arr.dtype.kind not in "biuf" or arr.ndim == 0 or arr.shape[0] != n:
        raise ValueError(
            f"sample_weight: expected numbers, one per sample ({n},) or per position, got an array of dtype "
            f"{arr.dtype} and shape {arr.shape}"
        )
    return arr.astype(np.float32)
