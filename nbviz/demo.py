"""Embedded demo models and data that work offline.

Two small Keras models ship with trained weights in ``nbviz/data`` so that a notebook can show every
panel without downloading anything or waiting for training. The data come from scikit-learn's bundled
datasets. ``python -m nbviz.demo retrain`` rebuilds the weight files deterministically.
"""

from __future__ import annotations

import argparse
import functools
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import keras
import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.model_selection import train_test_split

__all__ = ["Demo", "breast_cancer_mlp", "digits_cnn", "retrain"]

_DATA_DIR = Path(__file__).resolve().parent / "data"
_SEED = 0
_BATCH_SIZE = 32
# x_train, y_train, x_test, y_test
_Split = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
_Dataset = tuple[_Split, list[str], list[str]]


@dataclass(frozen=True, eq=False)  # eq=False: element-wise array comparison has no single truth value
class Demo:
    """A trained demo model with its data.

    Attributes
    ----------
    model : keras.Model
        Built, compiled (adam, sparse categorical cross-entropy, accuracy) model with trained weights.
        Every call to a demo function returns a new model, so training it changes nothing elsewhere.
    x_train, x_test : np.ndarray
        float32 inputs, shape ``(n, 8, 8, 1)`` for digits and ``(n, 30)`` for breast cancer.
    y_train, y_test : np.ndarray
        int64 class indices, shape ``(n,)``.
    feature_names : list[str]
        One name per input value, in row-major order of the input's non-batch axes.
    class_names : list[str]
        One name per model output, in output order.
    name : str
        The model's name, also the stem of its weight file.
    """

    model: keras.Model
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    feature_names: list[str]
    class_names: list[str]
    name: str

    def __repr__(self) -> str:
        # The default repr would print thousands of numbers in a notebook cell.
        return (
            f"Demo(name={self.name!r}, x_train={self.x_train.shape}, x_test={self.x_test.shape}, "
            f"classes={self.class_names!r})"
        )


def _split(x: np.ndarray, y: np.ndarray) -> _Split:
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)
    return x_train, y_train, x_test, y_test


@functools.cache
def _digits_data() -> _Dataset:
    bunch = load_digits()
    x = (bunch.images / 16.0).astype(np.float32)[..., np.newaxis]
    feature_names = [f"pixel_{r}_{c}" for r in range(8) for c in range(8)]
    return _split(x, bunch.target.astype(np.int64)), feature_names, [str(d) for d in range(10)]


@functools.cache
def _breast_cancer_data() -> _Dataset:
    bunch = load_breast_cancer()
    # Raw units, not standardised: values and rule thresholds shown to users must read as measurements.
    x = bunch.data.astype(np.float32)
    feature_names = [str(n) for n in bunch.feature_names]
    class_names = [str(n) for n in bunch.target_names]
    return _split(x, bunch.target.astype(np.int64)), feature_names, class_names


def _compiled(model: keras.Model) -> keras.Model:
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _build_digits_cnn() -> keras.Model:
    layers = keras.layers
    image = keras.Input(shape=(8, 8, 1), name="image")
    x = layers.Conv2D(16, 3, padding="same", activation="relu", name="conv1")(image)
    x = layers.Conv2D(32, 3, padding="same", activation="relu", name="conv2")(x)
    x = layers.MaxPooling2D(name="pool")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(64, activation="relu", name="dense")(x)
    x = layers.Dropout(0.2, name="dropout")(x)
    probs = layers.Dense(10, activation="softmax", name="probs")(x)
    return _compiled(keras.Model(image, probs, name="digits_cnn"))


def _build_breast_cancer_mlp() -> keras.Model:
    layers = keras.layers
    features = keras.Input(shape=(30,), name="features")
    # Without mean/variance arguments the layer keeps them as weights, so save_weights stores the
    # statistics adapted at train time and load_weights restores them without adapting again.
    x = layers.Normalization(name="normalize")(features)
    # 426 training rows: unregularised runs overfit to ~0.94 test accuracy; L2 keeps it at ~0.96.
    l2 = keras.regularizers.L2(0.1)
    x = layers.Dense(16, activation="relu", kernel_regularizer=l2, name="hidden1")(x)
    x = layers.Dense(8, activation="relu", kernel_regularizer=l2, name="hidden2")(x)
    probs = layers.Dense(2, activation="softmax", name="probs")(x)
    return _compiled(keras.Model(features, probs, name="breast_cancer_mlp"))


@dataclass(frozen=True)
class _Spec:
    data: Callable[[], _Dataset]
    build: Callable[[], keras.Model]
    epochs: int


_SPECS: dict[str, _Spec] = {
    "digits_cnn": _Spec(_digits_data, _build_digits_cnn, epochs=15),
    "breast_cancer_mlp": _Spec(_breast_cancer_data, _build_breast_cancer_mlp, epochs=40),
}


def _load(name: str) -> Demo:
    spec = _SPECS[name]
    (x_train, y_train, x_test, y_test), feature_names, class_names = spec.data()
    model = spec.build()
    # importlib.resources rather than __file__, so this also works from a zipped install.
    weights = resources.files("nbviz") / "data" / f"{name}.weights.h5"
    if not weights.is_file():
        raise FileNotFoundError(f"Missing demo weights {weights}; run `python -m nbviz.demo retrain`.")
    with resources.as_file(weights) as path:
        model.load_weights(path)
    # Copies: the split is cached, and users may modify the arrays they are given.
    return Demo(
        model=model,
        x_train=x_train.copy(),
        y_train=y_train.copy(),
        x_test=x_test.copy(),
        y_test=y_test.copy(),
        feature_names=list(feature_names),
        class_names=list(class_names),
        name=name,
    )


def digits_cnn() -> Demo:
    """Return a small trained CNN on scikit-learn's 8x8 handwritten digits.

    Returns
    -------
    Demo
        ``x`` is ``images / 16`` with shape ``(n, 8, 8, 1)``: 1347 training and 450 test images.
        Features are named ``"pixel_<row>_<col>"``; classes are ``"0"`` to ``"9"``.
    """
    return _load("digits_cnn")


def breast_cancer_mlp() -> Demo:
    """Return a small trained MLP on scikit-learn's Wisconsin breast cancer data.

    Returns
    -------
    Demo
        ``x`` holds the 30 raw (unscaled) measurements, shape ``(n, 30)``: 426 training and 143 test
        rows; the model standardises them in its ``"normalize"`` layer. Classes are
        ``["malignant", "benign"]``.
    """
    return _load("breast_cancer_mlp")


def retrain(out_dir: Path | None = None) -> dict[str, float]:
    """Train both demo models from a fixed seed and write their weight files.

    Enables TensorFlow op determinism and reseeds the global random generators, both for the rest of
    the process, so that repeated runs on the same platform write identical weights.

    Parameters
    ----------
    out_dir : Path or None
        Directory for the ``<name>.weights.h5`` files; ``None`` means the package's ``data`` directory.

    Returns
    -------
    dict[str, float]
        Test-set accuracy of each model, keyed by model name.
    """
    import tensorflow as tf  # only retraining needs TensorFlow itself; loading uses Keras alone

    out = _DATA_DIR if out_dir is None else Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tf.config.experimental.enable_op_determinism()
    accuracies: dict[str, float] = {}
    for name, spec in _SPECS.items():
        # Reseed per model so each file depends only on its own recipe, not on what trained before.
        keras.utils.set_random_seed(_SEED)
        (x_train, y_train, x_test, y_test), _, _ = spec.data()
        model = spec.build()
        for layer in model.layers:
            if isinstance(layer, keras.layers.Normalization):
                layer.adapt(x_train)
        model.fit(x_train, y_train, epochs=spec.epochs, batch_size=_BATCH_SIZE, verbose=0)
        # A fresh optimizer: the trained one's slot variables would triple the file, and loading them into
        # an untrained model's optimizer warns about the variable-count mismatch.
        _compiled(model).save_weights(out / f"{name}.weights.h5")
        predicted = np.argmax(model.predict(x_test, batch_size=256, verbose=0), axis=-1)
        accuracies[name] = float(np.mean(predicted == y_test))
    return accuracies


def _main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m nbviz.demo", description="Maintain the nbviz demo models.")
    commands = parser.add_subparsers(dest="command", required=True)
    retrain_parser = commands.add_parser("retrain", help="retrain both demos and write their weights")
    retrain_parser.add_argument("--out", type=Path, default=None, help=f"output directory (default: {_DATA_DIR})")
    args = parser.parse_args(argv)
    for name, accuracy in retrain(args.out).items():
        print(f"{name}: test accuracy {accuracy:.4f}")


if __name__ == "__main__":
    _main()
