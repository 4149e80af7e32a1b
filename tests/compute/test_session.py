"""Session: labels in every form, byte-bounded caches, streamed dead units, predictions from the shared pass."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from nbviz.compute import Probe, Session, dead_units


@pytest.fixture(scope="module")
def session(digits):
    return Session(digits.model, digits.x_test[:30], digits.y_test[:30], class_names=digits.class_names)


def test_labels_as_indices_one_hot_or_names(digits, session):
    y = digits.y_test[:30]
    np.testing.assert_array_equal(session.y[0], y)
    one_hot = Session(digits.model, digits.x_test[:30], np.eye(10)[y])
    np.testing.assert_array_equal(one_hot.y[0], y)
    names = Session(digits.model, digits.x_test[:30], np.array(digits.class_names)[y], class_names=digits.class_names)
    np.testing.assert_array_equal(names.y[0], y)
    assert names.label(4) == y[4] and names.class_name(int(y[4])) == digits.class_names[y[4]]
    with pytest.raises(ValueError, match=r"y: expected labels from class_names .* got unknown \['cat'\]"):
        Session(digits.model, digits.x_test[:2], ["cat", "1"], class_names=digits.class_names)


def test_prediction_and_gradients_match_the_model(digits, session):
    for sample in (0, 13):
        expected = np.asarray(digits.model(digits.x_test[sample : sample + 1]))[0]
        np.testing.assert_allclose(session.prediction(sample), expected, atol=1e-6)
        direct = Probe(digits.model).gradients(digits.x_test[sample : sample + 1], digits.y_test[sample : sample + 1])
        np.testing.assert_allclose(session.gradients(sample).weights["conv1"][0], direct.weights["conv1"][0], atol=1e-7)
    assert session.gradient_target == "loss"


def test_regressor_without_labels_differentiates_its_output(rng):
    keras.utils.set_random_seed(9)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="tanh"), keras.layers.Dense(1)])
    x = rng.normal(size=(6, 3)).astype("float32")
    session = Session(model, x)
    assert session.gradient_target == "output unit 0"
    expected = Probe(model).gradients(x[2:3], target=0).inputs
    np.testing.assert_allclose(session.gradients(2).inputs, expected, atol=1e-7)


def test_caches_are_bounded_by_bytes(digits):
    one_sample = sum(a.nbytes for a in Probe(digits.model).activations(digits.x_test[:1]).values())
    small = Session(digits.model, digits.x_test[:10], cache_bytes=int(2.5 * one_sample))
    first = small.activations(0)
    assert small.activations(0) is first  # a hit
    for sample in (1, 2, 3):
        small.activations(sample)
    assert list(small._activations) == [2, 3] and small._activations.nbytes <= 2.5 * one_sample
    assert small.activations(0) is not first  # evicted, computed again


def test_dead_units_streamed_over_the_first_samples(digits):
    session = Session(digits.model, digits.x_test[:50])
    session.dead_unit_bytes = 2_000_000  # chunks of about 27 samples: the 50 are streamed in two
    for name in ("conv1", "conv2", "dense"):
        outputs = np.asarray(
            keras.Model(digits.model.inputs[0], digits.model.get_layer(name).output)(digits.x_test[:50])
        )
        expected = dead_units(outputs)
        got = session.dead_units(name)
        np.testing.assert_array_equal(got.dead, expected.dead)
        assert got.n_samples == 50


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"max_cells": 4}, ValueError, "max_cells: expected at least 16 cells, got 4"),
        ({"max_cells": 2.5}, TypeError, "max_cells: expected an int, got float"),
        ({"feature_names": ["a"] * 3}, None, None),  # image input: feature names are not checked against pixels
        ({"class_names": ["a"] * 3}, ValueError, "class_names: expected 10 names, got 3"),
    ],
)
def test_session_arguments(digits, kwargs, exc, match):
    if exc is None:
        Session(digits.model, digits.x_test[:2], **kwargs)
        return
    with pytest.raises(exc, match=match):
        Session(digits.model, digits.x_test[:2], **kwargs)


def test_sample_index_checks(session):
    assert session.check_sample(np.int64(3)) == 3
    with pytest.raises(ValueError, match=r"sample: expected an index in \[0, 30\), got -1"):
        session.check_sample(-1)
    with pytest.raises(TypeError, match="sample: expected an int index into x, got float"):
        session.check_sample(1.0)


def test_tabular_feature_names_must_match(cancer):
    session = Session(cancer.model, cancer.x_test[:5], feature_names=cancer.feature_names)
    assert session.feature_names == cancer.feature_names
    with pytest.raises(ValueError, match="feature_names: expected 30 names, got 29"):
        Session(cancer.model, cancer.x_test[:5], feature_names=cancer.feature_names[1:])
