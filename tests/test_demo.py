"""Tests for nbviz.demo: shipped weights, data splits and deterministic retraining."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer

from nbviz import demo

N_TEST = {"digits_cnn": 450, "breast_cancer_mlp": 143}
N_TRAIN = {"digits_cnn": 1347, "breast_cancer_mlp": 426}
INPUT_SHAPE = {"digits_cnn": (8, 8, 1), "breast_cancer_mlp": (30,)}
LAYERS = {
    "digits_cnn": ["image", "conv1", "conv2", "pool", "flatten", "dense", "dropout", "probs"],
    "breast_cancer_mlp": ["features", "normalize", "hidden1", "hidden2", "probs"],
}
LOADERS = {"digits_cnn": demo.digits_cnn, "breast_cancer_mlp": demo.breast_cancer_mlp}


@pytest.fixture(scope="module")
def digits() -> demo.Demo:
    return demo.digits_cnn()


@pytest.fixture(scope="module")
def cancer() -> demo.Demo:
    return demo.breast_cancer_mlp()


@pytest.fixture(scope="module", params=["digits", "cancer"])
def any_demo(request: pytest.FixtureRequest) -> demo.Demo:
    return request.getfixturevalue(request.param)


def _accuracy(d: demo.Demo) -> float:
    probs = keras.ops.convert_to_numpy(d.model(d.x_test, training=False))
    return float(np.mean(np.argmax(probs, axis=-1) == d.y_test))


def test_test_accuracy_of_shipped_weights(any_demo: demo.Demo) -> None:
    assert _accuracy(any_demo) >= 0.95


def test_arrays_have_documented_shapes_and_dtypes(any_demo: demo.Demo) -> None:
    name = any_demo.name
    assert any_demo.x_train.shape == (N_TRAIN[name], *INPUT_SHAPE[name])
    assert any_demo.x_test.shape == (N_TEST[name], *INPUT_SHAPE[name])
    assert any_demo.y_train.shape == (N_TRAIN[name],)
    assert any_demo.y_test.shape == (N_TEST[name],)
    assert any_demo.x_train.dtype == any_demo.x_test.dtype == np.float32
    assert any_demo.y_train.dtype == any_demo.y_test.dtype == np.int64
    # Stratified split: every class in both halves.
    n_classes = len(any_demo.class_names)
    assert set(np.unique(any_demo.y_train)) == set(np.unique(any_demo.y_test)) == set(range(n_classes))
    assert len(any_demo.feature_names) == int(np.prod(INPUT_SHAPE[name]))


def test_model_is_named_compiled_and_matches_data(any_demo: demo.Demo) -> None:
    model = any_demo.model
    assert model.name == any_demo.name
    assert [layer.name for layer in model.layers] == LAYERS[any_demo.name]
    assert model.loss == "sparse_categorical_crossentropy"
    assert isinstance(model.optimizer, keras.optimizers.Adam)
    assert tuple(model.input_shape[1:]) == INPUT_SHAPE[any_demo.name]
    assert model.output_shape == (None, len(any_demo.class_names))


def test_digits_names_and_scaling(digits: demo.Demo) -> None:
    assert digits.class_names == [str(d) for d in range(10)]
    assert digits.feature_names[0] == "pixel_0_0"
    assert digits.feature_names[2 * 8 + 5] == "pixel_2_5"
    assert digits.feature_names[-1] == "pixel_7_7"
    x = np.concatenate([digits.x_train, digits.x_test])
    assert x.min() == 0.0 and x.max() == 1.0


def test_breast_cancer_uses_raw_sklearn_features(cancer: demo.Demo) -> None:
    bunch = load_breast_cancer()
    assert cancer.feature_names == list(bunch.feature_names)
    assert cancer.class_names == ["malignant", "benign"]
    x = np.concatenate([cancer.x_train, cancer.x_test])
    # Same rows in raw units (column-wise sorted so the split order does not matter).
    np.testing.assert_array_equal(np.sort(x, axis=0), np.sort(bunch.data.astype(np.float32), axis=0))


def test_normalization_statistics_are_loaded(cancer: demo.Demo) -> None:
    layer = cancer.model.get_layer("normalize")
    stats = {w.name: keras.ops.convert_to_numpy(w) for w in layer.weights}
    np.testing.assert_allclose(stats["mean"], cancer.x_train.mean(axis=0), rtol=1e-4)
    np.testing.assert_allclose(stats["variance"], cancer.x_train.var(axis=0), rtol=1e-3)
    # The layer really uses them: the training data come out standardised.
    z = keras.ops.convert_to_numpy(layer(cancer.x_train))
    np.testing.assert_allclose(z.mean(axis=0), 0.0, atol=1e-3)
    np.testing.assert_allclose(z.std(axis=0), 1.0, atol=1e-3)


def test_each_call_returns_fresh_model_and_arrays_with_shipped_weights(any_demo: demo.Demo) -> None:
    start = time.perf_counter()
    again = LOADERS[any_demo.name]()
    assert time.perf_counter() - start < 2.0  # loading must not train
    assert again.model is not any_demo.model
    for a, b in zip(again.model.get_weights(), any_demo.model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    again.x_train[...] = -1.0  # must not leak into the cached split
    assert LOADERS[any_demo.name]().x_train.min() >= 0.0


def test_weights_differ_from_fresh_initialisation(any_demo: demo.Demo) -> None:
    fresh = keras.models.clone_model(any_demo.model)  # same architecture, newly initialised
    pairs = zip(fresh.trainable_weights, any_demo.model.trainable_weights, strict=True)
    for untrained, trained in pairs:
        assert not np.allclose(keras.ops.convert_to_numpy(untrained), keras.ops.convert_to_numpy(trained))


def test_repr_is_short(digits: demo.Demo) -> None:
    assert repr(digits).startswith("Demo(name='digits_cnn'")
    assert len(repr(digits)) < 200


def test_retrain_reproduces_shipped_weights(tmp_path: Path, digits: demo.Demo, cancer: demo.Demo) -> None:
    # A subprocess: retrain() enables op determinism and reseeds globally for the whole process,
    # which must not leak into other tests. It also exercises the command line.
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run(
        [sys.executable, "-m", "nbviz.demo", "retrain", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        check=True,
    )
    printed = dict(line.split(": test accuracy ") for line in done.stdout.splitlines())
    assert set(printed) == {"digits_cnn", "breast_cancer_mlp"}
    for shipped in (digits, cancer):
        assert float(printed[shipped.name]) >= 0.95
        retrained = LOADERS[shipped.name]().model
        retrained.load_weights(tmp_path / f"{shipped.name}.weights.h5")
        # Bit-identical on the machine that produced the shipped files; the tolerance allows for other
        # CPUs' kernels (disabling oneDNN moves weights by < 1e-6).
        for new, old in zip(retrained.get_weights(), shipped.model.get_weights(), strict=True):
            np.testing.assert_allclose(new, old, rtol=0, atol=1e-5)
