"""Every kind of input a user brings: a .keras path, tf.Tensor, tf.data.Dataset, lists and dicts, one sample,
labels as ints, one-hot rows or strings, and a mixed-precision model."""

from __future__ import annotations

import json
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

import nbviz
from nbviz.compute import analyse
from nbviz.testing import panel_errors

from .test_model_coverage import _mixed_precision


# ------------------------------------------------------------------------------------------ a .keras file
def test_a_keras_file_is_explored_like_the_model(cancer, tmp_path):
    path = tmp_path / "cancer.keras"
    cancer.model.save(path)
    x = cancer.x_test[:10]
    expected = nbviz.compute.Probe(cancer.model).activations(x)
    for model in (str(path), path):
        ex = nbviz.explore(model, x, cancer.y_test[:10], class_names=cancer.class_names)
        got = ex.analysis.probe.activations(x)
        assert got.keys() == expected.keys()
        for name in expected:
            np.testing.assert_allclose(got[name], expected[name], rtol=1e-6, atol=1e-6)
    assert nbviz.findings(str(path), x, cancer.y_test[:10]) == nbviz.findings(cancer.model, x, cancer.y_test[:10])


def test_a_keras_file_with_code_in_it_is_refused_without_running_the_code(tmp_path):
    marker = tmp_path / "ran"

    def touch_then_double(t):  # writes the marker whenever Keras runs this layer's code
        marker.touch()
        return t * 2.0

    i = keras.Input((3,))
    model = keras.Model(i, keras.layers.Dense(2)(keras.layers.Lambda(touch_then_double)(i)))
    path = tmp_path / "lambda.keras"
    model.save(path)
    marker.unlink()
    with pytest.raises(ValueError, match=r"model: could not load .*lambda\.keras.* safe mode"):
        nbviz.explore(str(path), np.zeros((2, 3), "float32"))
    assert not marker.exists()


@pytest.mark.parametrize(
    "name, content, match",
    [
        ("model.h5", b"", r"model: expected a keras.Model or a path to a \.keras file, got the path .*model\.h5"),
        ("missing.keras", None, r"model: expected a path to an existing \.keras file, got .*missing\.keras"),
        ("garbage.keras", b"not a zip file", r"model: could not load .*garbage\.keras"),
        ("saved_model", b"", r"model: expected a keras.Model or a path to a \.keras file"),
    ],
)
def test_bad_model_paths(tmp_path, name, content, match):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ValueError, match=match):
        nbviz.explore(str(path), np.zeros((2, 30), "float32"))


# ------------------------------------------------------------------------------------------ tensors and datasets
def test_a_tf_tensor_is_an_array(cancer):
    x = cancer.x_test[:12]
    session = analyse(cancer.model, tf.constant(x), tf.constant(cancer.y_test[:12]))
    np.testing.assert_array_equal(session.data.x[0], x)
    np.testing.assert_array_equal(session.data.y[0], cancer.y_test[:12])


def _counting_dataset(x, y):
    """An endless dataset of (x, y) samples from a Python generator, with a count of the samples it made."""
    made = []

    def generate():
        i = 0
        while True:
            made.append(i)
            yield x[i % len(x)], y[i % len(y)]
            i += 1

    spec = (tf.TensorSpec(x.shape[1:], tf.float32), tf.TensorSpec((), tf.int64))
    return tf.data.Dataset.from_generator(generate, output_signature=spec), made


def test_a_dataset_is_read_only_as_far_as_needed(cancer):
    dataset, made = _counting_dataset(cancer.x_test, cancer.y_test)
    ex = nbviz.explore(cancer.model, dataset.batch(16), max_samples=40, class_names=cancer.class_names)
    np.testing.assert_array_equal(ex.analysis.data.x[0], cancer.x_test[:40])
    np.testing.assert_array_equal(ex.analysis.data.y[0], cancer.y_test[:40])
    # Three batches of 16 are needed. tf.data may read ahead while they are taken, more on a loaded machine (one CI
    # run saw a fourth batch and a sample of a fifth): bounded, where reading on would never end.
    assert 48 <= len(made) <= 48 + 2 * 16 + 1
    assert ex.slider.max == 39

    made.clear()  # unbatched: batched by nbviz, no larger than needed
    session = analyse(cancer.model, dataset, max_samples=10)
    assert session.data.n_samples == 10 and len(made) <= 20


def test_a_dataset_of_strings_dicts_and_named_datasets(cancer, two_input_model, rng):
    names = np.array(cancer.class_names)[cancer.y_test]
    dataset = tf.data.Dataset.from_tensor_slices((cancer.x_test, names)).batch(32)
    session = analyse(cancer.model, dataset, class_names=cancer.class_names, datasets={"again": dataset})
    np.testing.assert_array_equal(session.data.y[0], cancer.y_test)  # every batch of a finite dataset under 1000
    assert session.data.datasets["again"][0].shape == cancer.x_test.shape

    a, b = rng.normal(size=(2, 9, 4)).astype("float32")
    inputs = tf.data.Dataset.from_tensor_slices({"a": a, "b": b}).batch(4)
    session = analyse(two_input_model, inputs)
    np.testing.assert_array_equal(session.data.x[0], a)
    np.testing.assert_array_equal(session.data.x[1], b)


def test_a_dataset_with_labels_and_y_as_well_is_refused(cancer):
    dataset = tf.data.Dataset.from_tensor_slices((cancer.x_test, cancer.y_test)).batch(8)
    with pytest.raises(ValueError, match="y: expected None when x is a tf.data.Dataset that yields labels"):
        nbviz.explore(cancer.model, dataset, cancer.y_test)
    with pytest.raises(ValueError, match=r"datasets\['test'\]: expected a tf.data.Dataset of \(x, y\)"):
        nbviz.explore(cancer.model, cancer.x_test, datasets={"test": dataset.map(lambda x, y: x)})
    with pytest.raises(TypeError, match="max_samples: expected an int or None, got str"):
        nbviz.explore(cancer.model, dataset, max_samples="10")


# ------------------------------------------------------------------------------------------ lists, dicts, labels
def test_lists_and_dicts_for_two_inputs_give_the_same_session(two_input_model, rng):
    a, b = rng.normal(size=(2, 6, 4)).astype("float32")
    by_list = analyse(two_input_model, [a, b])
    by_dict = analyse(two_input_model, {"b": b, "a": a})
    for left, right in zip(by_list.data.x, by_dict.data.x):
        np.testing.assert_array_equal(left, right)
    acts = by_dict.activations(2)
    expected = two_input_model([a[2:3], b[2:3]])
    np.testing.assert_allclose(acts["value"], expected[0], atol=1e-6)
    np.testing.assert_allclose(acts["label"], expected[1], atol=1e-6)


def test_labels_as_ints_one_hot_rows_or_strings_are_the_same(digits):
    x, y = digits.x_test[:30], digits.y_test[:30]
    variants = [y, list(y), np.eye(10)[y], np.array(digits.class_names)[y]]
    for labels in variants:  # explore() hands y to a Session as it is; a Session is all this needs
        session = analyse(digits.model, x, labels, class_names=digits.class_names)
        np.testing.assert_array_equal(session.data.y[0], y)


def test_one_sample(cancer):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ex = nbviz.explore(cancer.model, cancer.x_test[:1], cancer.y_test[:1], class_names=cancer.class_names)
        assert panel_errors(ex) == []
    assert ex.slider.max == 0
    ex.tab = "rules"
    assert "at least 2 samples" in ex.panels["rules"].message.value


# ------------------------------------------------------------------------------------------ mixed precision
def test_mixed_precision_reaches_the_browser_as_float32(rng, recorded):
    keras.utils.set_random_seed(5)
    model, x = _mixed_precision(rng)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ex = nbviz.explore(model, x, rng.integers(0, 3, len(x)))
        assert panel_errors(ex) == []

    acts = ex.analysis.activations(2)
    reference = keras.Model(model.inputs, [model.get_layer(n).output for n in ("conv", "dense")])(x[2:3])
    assert reference[0].dtype == "float16"  # the model really computes in float16
    for name, ref in zip(("conv", "dense"), reference):
        assert acts[name].dtype == np.float32
        np.testing.assert_array_equal(acts[name], np.asarray(ref).astype(np.float32))
    dtypes = {m for text in recorded.texts for m in _array_dtypes(json.loads(text))}
    assert "float32" in dtypes and "float16" not in dtypes


def _array_dtypes(value) -> list[str]:
    """The dtype of every array in a widget message (ipywidgets sends them as {"dtype", "shape", "value"})."""
    if isinstance(value, dict):
        own = [value["dtype"]] if "dtype" in value and "shape" in value else []
        return own + [d for v in value.values() for d in _array_dtypes(v)]
    if isinstance(value, list):
        return [d for v in value for d in _array_dtypes(v)]
    return []


def test_an_unbatched_dataset_of_dicts_is_batched(two_input_model, rng):
    a, b = rng.normal(size=(2, 7, 4)).astype("float32")
    session = analyse(two_input_model, tf.data.Dataset.from_tensor_slices({"b": b, "a": a}), max_samples=5)
    np.testing.assert_array_equal(session.data.x[0], a[:5])
    np.testing.assert_array_equal(session.data.x[1], b[:5])


def test_without_max_samples_a_dataset_is_read_to_a_byte_budget(cancer, monkeypatch):
    from nbviz.compute import _pipeline

    monkeypatch.setattr(_pipeline, "DATASET_BYTES", 20 * 30 * 4)  # 20 samples of 30 float32 features
    dataset, made = _counting_dataset(cancer.x_test, cancer.y_test)
    session = analyse(cancer.model, dataset.batch(8))
    assert session.data.n_samples == 24  # the third batch of 8 passes the budget
    np.testing.assert_array_equal(session.data.x[0], cancer.x_test[:24])
    assert analyse(cancer.model, dataset.batch(8), max_samples=40).data.n_samples == 40  # an explicit limit wins


def test_labels_of_two_outputs_as_a_list_or_a_dict_by_output_name(two_input_model, rng):
    a, b = rng.normal(size=(2, 6, 4)).astype("float32")
    value, label = rng.normal(size=(6, 1)).astype("float32"), rng.integers(0, 3, 6)
    by_list = analyse(two_input_model, [a, b], [value, label])
    by_dict = analyse(two_input_model, [a, b], {"label": label, "value": value})
    for left, right in zip(by_list.data.y, by_dict.data.y):
        np.testing.assert_array_equal(left, right)
    pipeline = tf.data.Dataset.from_tensor_slices(((a, b), {"value": value, "label": label})).batch(4)
    from_data = analyse(two_input_model, [a, b], datasets={"pipe": pipeline})
    np.testing.assert_array_equal(from_data.data.datasets["pipe"][1][1], label)
    with pytest.raises(ValueError, match=r"y: expected a dict with keys \['value', 'label'\], got keys \['label'\]"):
        analyse(two_input_model, [a, b], {"label": label})


def test_a_dataset_as_shap_background_is_summarised_like_x(cancer):
    from nbviz.compute import default_background

    train = tf.data.Dataset.from_tensor_slices((cancer.x_train, cancer.y_train)).batch(64)
    session = analyse(cancer.model, cancer.x_test[:20], background=train, max_samples=300)
    np.testing.assert_array_equal(session.background, default_background(cancer.x_train[:300]))
    given = analyse(cancer.model, cancer.x_test[:20], background=cancer.x_train[:7])
    np.testing.assert_array_equal(given.background, cancer.x_train[:7])  # an array is used as given
