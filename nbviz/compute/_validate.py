"""Checks at the public calls: a clear TypeError or ValueError naming the argument, never a deep traceback."""

from __future__ import annotations

import inspect
import os
import sys
import warnings
import weakref
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import keras
import numpy as np

from .backend import CHECKS_NAMES, untraceable_name

#: Models that passed :func:`check_model`: what it checks (a Keras model, with a call, built, with layers, with
#: names the backend can trace) does not change, so a model is checked once, at the first public call that takes
#: it, and every later one (explore, then its analysis, probe and graph; findings, saliency, ...) costs a lookup.
#: On a 3,002-layer model the walk over its names had run four times for one explore().
_CHECKED: weakref.WeakSet[keras.Model] = weakref.WeakSet()


def check_model(model: Any, name: str = "model") -> keras.Model:
    """Return ``model`` if it is a built Keras 3 model, else raise TypeError or ValueError."""
    if isinstance(model, keras.Model) and model in _CHECKED:
        return model
    if not isinstance(model, keras.Model):
        raise TypeError(
            f"{name}: expected a keras.Model (Keras 3), got {type(model).__module__}.{type(model).__name__}"
        )
    if _without_call(model):
        parts = [k for k, v in vars(model).items() if isinstance(v, keras.Model) and not k.startswith("_")]
        instead = " or ".join(f"nbviz.explore(model.{k}, ...)" for k in parts) or "explore the models it holds"
        raise ValueError(
            f"{name}: expected a model that can be called on data, got {model.name!r} "
            f"({type(model).__name__}), which defines no call() (it trains through its own train_step); "
            f"{instead} instead"
        )
    if not model.built:
        raise ValueError(
            f"{name}: expected a built model, got {model.name!r}, which was never built; "
            "call model.build(input_shape) or call the model once on data"
        )
    if not model.layers:
        raise ValueError(f"{name}: expected a model with layers, got {model.name!r}, which has none")
    _check_names(model, name)
    _CHECKED.add(model)
    return model


def _check_names(model: keras.Model, name: str) -> None:
    """Refuse a model whose names the backend cannot trace, before anything is traced.

    TensorFlow builds, loads and runs such a model eagerly (a ``.keras`` file whose layer names hold markup), and
    fails only when it traces it; a trace that fails on a name leaves TensorFlow's name stack broken, so that
    every later trace in the process fails too (an unrelated ``fit``). Refused here, nothing was traced.
    """
    if not CHECKS_NAMES:
        return
    inner = model._flatten_layers(include_self=False, recursive=True)  # nested models' layers trace too
    for layer, root in [(model, True), *((layer, False) for layer in inner)]:
        why = untraceable_name(str(layer.name), root)
        if why is not None:
            kind = "model" if root else "layer"
            raise ValueError(
                f"{name}: expected names that TensorFlow can trace, got the {kind} {layer.name!r} "
                f"({type(layer).__name__}): {why}; rename it, or explore the model with KERAS_BACKEND=jax, "
                "which traces any name"
            )


def _without_call(model: keras.Model) -> bool:
    """A subclassed model without a forward pass (the Keras VAE example: encoder, decoder and a train_step)."""
    functional = isinstance(model, keras.Sequential) or hasattr(model, "_inputs_struct")
    return not functional and type(model).call is keras.Model.call


def resolve_model(model: Any, name: str = "model") -> keras.Model:
    """Like :func:`check_model`, but a path (str or os.PathLike) to a ``.keras`` file is loaded first.

    The file is loaded with Keras's safe mode, which refuses to deserialise Python code (a ``Lambda`` layer's
    bytecode), so pointing nbviz at a file from elsewhere runs no code from it. Only the ``.keras`` format is
    accepted: the legacy HDF5 and SavedModel formats have no such guard.
    """
    if isinstance(model, (str, os.PathLike)):
        model = load_model(model, name)
    return check_model(model, name)


def load_model(path: str | os.PathLike[str], name: str = "model") -> keras.Model:
    """Load a ``.keras`` file in Keras's safe mode; ValueError naming ``name`` when that is not possible."""
    file = Path(os.fspath(path))
    if file.suffix != ".keras":
        raise ValueError(
            f"{name}: expected a keras.Model or a path to a .keras file, got the path {str(path)!r}; "
            "save the model with model.save('model.keras') (HDF5 and SavedModel files are not loaded)"
        )
    if not file.is_file():
        raise ValueError(f"{name}: expected a path to an existing .keras file, got {str(path)!r}, which does not exist")
    try:
        with warnings.catch_warnings():
            # The optimizer's state is restored only once it is built, which exploring never does: not news.
            warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
            return keras.saving.load_model(file, safe_mode=True)
    except (ValueError, TypeError, OSError, KeyError, zipfile.BadZipFile) as err:
        raise ValueError(f"{name}: could not load {str(path)!r} with Keras safe mode: {err}") from None


InputSpecs = list[tuple[str, tuple[int | None, ...], str]]


def input_specs(model: keras.Model) -> InputSpecs | None:
    """(name, shape, dtype) of each model input, or None when the model has no symbolic inputs (subclassed)."""
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        return None
    if not inputs:
        return None
    return [(t.name, tuple(t.shape), str(t.dtype)) for t in inputs]


def _describe(value: Any) -> str:
    shape = getattr(value, "shape", None)
    if shape is not None:
        return f"{type(value).__name__} of shape {tuple(shape)} and dtype {getattr(value, 'dtype', '?')}"
    return type(value).__name__


# What raw text given for numbers should become, where the numbers are a model's inputs.
_TEXT_FOR_IDS = (
    "a model that takes token ids is explored on what its preprocessor makes of the text: pass "
    "preprocessor(texts), or the preprocessed dataset (dataset.map(model.preprocessor))"
)


def is_dataset(value: Any) -> bool:
    """Whether ``value`` is a ``tf.data.Dataset``, without importing TensorFlow: a dataset exists only where its
    maker imported it (on the JAX backend nbviz never does)."""
    tf = sys.modules.get("tensorflow")
    return tf is not None and isinstance(value, tf.data.Dataset)


def _unlike_an_array(value: Any) -> str | None:
    """What ``value`` is, with what to pass instead, when it holds samples but is no array: numpy would turn it
    into an array of dtype object, and an error saying so would not say what was given. None for anything else."""
    kind, module = type(value).__name__, type(value).__module__
    shape = getattr(value, "shape", None)
    of_shape = f" of shape {tuple(shape)}" if shape is not None else ""
    if module.startswith("scipy.sparse"):
        return f"a scipy.sparse {kind}{of_shape}; pass a dense array (x.toarray())"
    if kind == "SparseTensor":
        return f"a sparse tensor (tf.SparseTensor){of_shape}; pass a dense one (tf.sparse.to_dense(x))"
    if kind == "RaggedTensor":
        return f"a tf.RaggedTensor{of_shape}; pass a padded tensor (x.to_tensor())"
    if inspect.isgenerator(value) or inspect.isasyncgen(value):
        return "a generator; collect its samples into an array first, or pass a tf.data.Dataset"
    if isinstance(value, Iterator):
        return f"an iterator ({kind}); collect its samples into an array first, or pass a tf.data.Dataset"
    if isinstance(value, keras.utils.PyDataset):
        return f"a keras.utils.PyDataset ({kind}); pass arrays or a tf.data.Dataset"
    if is_dataset(value):
        return "a tf.data.Dataset, which is not taken here; pass arrays"
    return None


def _as_numeric(value: Any, what: str, text_hint: str = "") -> np.ndarray:
    if isinstance(value, (str, bytes)) or value is None:
        raise TypeError(f"{what}: expected a numeric array, got {_describe(value)}")
    unlike = _unlike_an_array(value)
    if unlike is not None:
        raise TypeError(f"{what}: expected a numeric array, got {unlike}")
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{what}: expected a numeric array, got {_describe(value)} ({err})") from None
    if arr.dtype.kind in "SU" or (arr.dtype == object and arr.size and isinstance(arr.flat[0], (str, bytes))):
        raise TypeError(f"{what}: expected a numeric array, got strings" + (f"; {text_hint}" if text_hint else ""))
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_) or np.iscomplexobj(arr):
        raise TypeError(f"{what}: expected a numeric (real) array, got an array of dtype {arr.dtype}")
    return arr


def _as_text(value: Any, what: str) -> np.ndarray:
    """A string input's values as an object array of str (TensorFlow takes it as tf.string)."""
    arr = np.asarray(value)
    if arr.dtype.kind == "S" or (arr.dtype == object and arr.size and isinstance(arr.flat[0], bytes)):
        arr = np.vectorize(lambda v: v.decode() if isinstance(v, bytes) else str(v), otypes=[object])(arr)
    elif arr.dtype.kind in ("U", "O"):
        arr = arr.astype(object)
    else:
        raise TypeError(f"{what}: expected strings for a string input, got an array of dtype {arr.dtype}")
    return arr


def as_inputs(specs: InputSpecs | None, x: Any, name: str = "x") -> list[np.ndarray]:
    """Turn ``x`` into one numpy array per model input, checked against ``specs = input_specs(model)``.

    Accepts an array (one input), a list or tuple (several inputs, in ``model.inputs`` order) or a dict
    keyed by input name. Arrays are cast to the input's dtype (float32 for float inputs).  ``specs`` is None for
    a subclassed model, whose input shapes are not known in advance.

    Returns
    -------
    list of np.ndarray
        One array per model input, each with a leading batch axis.
    """
    n_inputs = len(specs) if specs else 1
    if isinstance(x, Mapping):
        if specs is None:
            raise TypeError(f"{name}: expected an array for a subclassed model, got a dict")
        missing = [s[0] for s in specs if s[0] not in x]
        if missing:
            raise ValueError(f"{name}: expected a dict with keys {[s[0] for s in specs]}, got keys {list(x)}")
        parts = [x[s[0]] for s in specs]
    elif isinstance(x, (list, tuple)) and (
        n_inputs > 1 or (len(x) == 1 and hasattr(x[0], "shape") and np.ndim(x[0]) >= 2)
    ):
        # One array per input; for a single input, a list holding one batch array is that array.
        parts = list(x)
    else:
        parts = [x]
    if len(parts) != n_inputs:
        raise ValueError(f"{name}: expected {n_inputs} input arrays for model inputs, got {len(parts)}")

    arrays = []
    for i, part in enumerate(parts):
        key = repr(specs[i][0]) if specs is not None and isinstance(x, Mapping) else str(i)
        what = name if n_inputs == 1 else f"{name}[{key}]"
        text = specs is not None and specs[i][2] == "string"
        arr = _as_text(part, what) if text else _as_numeric(part, what, _TEXT_FOR_IDS)
        if arr.ndim == 0 or arr.shape[0] == 0:
            raise ValueError(f"{what}: expected a non-empty batch of samples, got shape {arr.shape}")
        if specs is not None:
            in_name, shape, dtype = specs[i]

            def fits(a: np.ndarray, shape: tuple[int | None, ...] = shape) -> bool:
                return len(shape) == a.ndim and all(d is None or d == b for d, b in zip(shape[1:], a.shape[1:]))

            # A missing or an extra trailing axis of one, as Keras's own call adjusts it: (n,) for an (n, 1) input.
            if not fits(arr) and shape[-1] == 1 and fits(arr[..., np.newaxis]):
                arr = arr[..., np.newaxis]
            elif not fits(arr) and arr.ndim > 1 and arr.shape[-1] == 1 and fits(arr[..., 0]):
                arr = arr[..., 0]
            if not fits(arr):
                hint = "; add a batch axis, e.g. x[None]" if len(shape) == arr.ndim + 1 else ""
                raise ValueError(
                    f"{what}: expected shape {shape} for model input {in_name!r}, got shape {arr.shape}{hint}"
                )
            arr = arr if text else _cast(arr, dtype, what)
        elif np.issubdtype(arr.dtype, np.floating) or arr.dtype == np.bool_:
            arr = arr.astype(np.float32, copy=False)
        arrays.append(arr)
    if len({a.shape[0] for a in arrays}) > 1:
        raise ValueError(f"{name}: expected the same number of samples in every input, got {[len(a) for a in arrays]}")
    return arrays


def _cast(arr: np.ndarray, dtype: str, what: str) -> np.ndarray:
    target = np.dtype(dtype) if dtype not in ("float16", "bfloat16") else np.dtype(np.float32)
    if np.issubdtype(target, np.integer) and np.issubdtype(arr.dtype, np.floating):
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise ValueError(f"{what}: expected integer values for an input of dtype {dtype}, got non-integer floats")
    return arr.astype(target, copy=False)


def as_targets(
    y: Any, n: int, n_outputs: int = 1, name: str = "y", output_names: list[str] | None = None
) -> list[np.ndarray] | None:
    """Turn labels into one array per model output (None stays None), checking the sample count.

    With several outputs, ``y`` is a list or tuple in output order, or a dict keyed by ``output_names`` (as
    ``model.fit`` takes it); with one, any array-like of labels.
    """
    if y is None:
        return None
    if isinstance(y, Mapping) and output_names:
        missing = [o for o in output_names if o not in y]
        if missing or len(y) != len(output_names):
            raise ValueError(f"{name}: expected a dict with keys {output_names}, got keys {list(y)}")
        y = [y[o] for o in output_names]
    if n_outputs > 1:
        if not isinstance(y, (list, tuple)) or len(y) != n_outputs:
            raise ValueError(f"{name}: expected a list of {n_outputs} label arrays, one per output, got {_describe(y)}")
        parts = list(y)
    elif isinstance(y, (list, tuple)) and len(y) == 1 and hasattr(y[0], "shape") and np.ndim(y[0]) >= 1:
        parts = [y[0]]  # a list holding one output's label array
    else:
        parts = [y]
    arrays = []
    for i, part in enumerate(parts):
        what = name if n_outputs == 1 else f"{name}[{i}]"
        arr = _as_numeric(part, what)
        if arr.ndim == 0 or arr.shape[0] != n:
            raise ValueError(f"{what}: expected labels for {n} samples, got shape {arr.shape}")
        arrays.append(arr)
    return arrays


def padding_mask(inputs: Mapping[str, Any], shape: tuple[int, ...], layer: str = "") -> np.ndarray | None:
    """Where the tokens are real: KerasHub's padding mask input (``padding_mask``, ``encoder_padding_mask``,
    ``decoder_padding_mask``) as bool, the one of shape ``shape`` (samples, positions); None when none fits.

    When two fit (encoder and decoder sequences of one length), the encoder's for a ``layer`` named as an
    encoder's, else the decoder's: a seq2seq model's outputs are the decoder's positions.
    """
    fits = [k for k in inputs if str(k).endswith("padding_mask") and np.shape(inputs[k]) == tuple(shape)]
    if not fits:
        return None
    prefer = "encoder" if "encoder" in layer else "decoder"
    return np.asarray(inputs[next((k for k in fits if prefer in k), fits[0])]).astype(bool)


def position_labels(y: Any, shape: tuple[int, ...], what: str) -> np.ndarray:
    """Class indices (n, positions) for a classifier's output of ``shape`` (n, positions, k): from indices, from
    one-hot rows per position, or from the class (0 or 1) of a single sigmoid unit per position."""
    labels = np.asarray(y)
    if labels.shape == tuple(shape):
        labels = labels.argmax(axis=-1) if shape[-1] > 1 else labels[..., 0]
    elif labels.shape == (*shape[:-1], 1):  # a segmentation mask with its channel axis, (n, h, w, 1)
        labels = labels[..., 0]
    if labels.shape != tuple(shape[:-1]):
        raise ValueError(
            f"{what}: expected class indices of shape {tuple(shape[:-1])}, one per position, got shape {labels.shape}"
        )
    return labels


def padding_weights(inputs: Mapping[str, Any], labels: np.ndarray | None, is_classifier: bool) -> np.ndarray | None:
    """Loss weights where none were given: for a classifier's labels per position (a language model's next
    tokens), the padding mask of their shape as float32, as KerasHub's preprocessors weigh the loss (padding
    carries none); None otherwise."""
    if labels is None or not is_classifier or np.ndim(labels) != 2:
        return None
    mask = padding_mask(inputs, np.shape(labels))
    return None if mask is None else mask.astype(np.float32)
