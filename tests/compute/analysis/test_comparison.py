"""Comparison: every number checked against an independent computation (numpy on the models' weights, Keras
sub-models for activations, GradientTape for gradients, the models' own argmax for flips)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from nbviz import demo
from nbviz.compute import analyse
from nbviz.compute.analysis.analysis import analysis_of
from nbviz.compute.analysis.answers import Unavailable
from nbviz.compute.analysis.comparison import Comparison

N = 60  # samples compared


def fine_tuned(seed: int = 0) -> demo.Demo:
    """The demo CNN fine-tuned for one epoch on 300 training digits with every 3 labelled 8: some test digits
    change class, and every layer's weights move."""
    tuned = demo.digits_cnn()
    y = tuned.y_train[:300].copy()
    y[y == 3] = 8
    keras.utils.set_random_seed(seed)
    tuned.model.fit(tuned.x_train[:300], y, epochs=1, batch_size=32, verbose=0)
    return tuned


def comparison_of(model_a: keras.Model, model_b: keras.Model, x: np.ndarray, y: np.ndarray | None) -> Comparison:
    a = analyse(model_a, x, y)
    return Comparison(a, analysis_of(model_b, like=a, argument="model_b"))


def close(actual: np.ndarray, expected: np.ndarray) -> None:
    """Equal in float32 on a loaded machine: relative, with an absolute floor scaled to the values' size."""
    expected = np.asarray(expected, np.float64)
    finite = np.abs(expected[np.isfinite(expected)])
    scale = float(finite.max()) if finite.size else 1.0
    np.testing.assert_allclose(np.asarray(actual, np.float64), expected, rtol=1e-4, atol=1e-5 * max(scale, 1e-3))


def cells(image: np.ndarray) -> np.ndarray:
    """The values a laid-out image holds (gutters left out), sorted: comparable whatever the layout."""
    return np.sort(image[np.isfinite(image)].ravel())


@pytest.fixture(scope="module")
def tuned() -> demo.Demo:
    return fine_tuned()


@pytest.fixture(scope="module")
def pair(digits, tuned) -> Comparison:
    return comparison_of(digits.model, tuned.model, digits.x_test[:N], digits.y_test[:N])


def test_weight_change_per_layer_and_the_three_weight_images_equal_numpy(digits, tuned, pair):
    changes = pair.weight_changes().as_dict()
    assert set(changes) == {"conv1", "conv2", "dense", "probs"}
    for name, change in changes.items():
        wa = [w.astype(np.float64) for w in digits.model.get_layer(name).get_weights()]
        wb = [w.astype(np.float64) for w in tuned.model.get_layer(name).get_weights()]
        expected = np.sqrt(sum(np.sum((b - a) ** 2) for a, b in zip(wa, wb))) / np.sqrt(sum(np.sum(a**2) for a in wa))
        close(change, expected)
        assert change > 0
    assert np.isnan(pair.weight_changes().values[list(pair.weight_changes().layers).index("pool")])

    kernel_a, kernel_b = digits.model.get_layer("conv2").kernel.numpy(), tuned.model.get_layer("conv2").kernel.numpy()
    side = pair.weights("conv2", 0)
    assert not side.downsampled and side.shape == (3, 3, 16, 32)
    close(cells(side.a), np.sort(kernel_a.ravel()))
    close(cells(side.b), np.sort(kernel_b.ravel()))
    close(cells(side.diff), np.sort((kernel_b - kernel_a).ravel()))
    close(side.diff, side.b - side.a)  # one layout for all three: cell by cell, B - A
    top = max(np.abs(kernel_a).max(), np.abs(kernel_b).max())
    close([side.vmin, side.vmax], [-top, top])  # ONE scale for A and B
    close(side.dmax, np.abs(kernel_b - kernel_a).max())  # B - A on its own symmetric scale


def test_activation_change_and_one_samples_outputs_equal_keras_submodels(digits, tuned, pair):
    x = digits.x_test[:N]
    changes = pair.activation_changes()
    assert changes.n_samples == N
    for name in ("conv1", "conv2", "dense", "probs"):
        act_a = np.asarray(keras.Model(digits.model.inputs[0], digits.model.get_layer(name).output)(x), np.float64)
        act_b = np.asarray(keras.Model(tuned.model.inputs[0], tuned.model.get_layer(name).output)(x), np.float64)
        close(changes.as_dict()[name], np.linalg.norm(act_b - act_a) / np.linalg.norm(act_a))

    sample = 7
    dense_a = np.asarray(keras.Model(digits.model.inputs[0], digits.model.get_layer("dense").output)(x[7:8]))[0]
    dense_b = np.asarray(keras.Model(tuned.model.inputs[0], tuned.model.get_layer("dense").output)(x[7:8]))[0]
    side = pair.activations("dense", sample)
    assert side.kind == "bars"
    close(side.a, dense_a)
    close(side.b, dense_b)
    close(side.diff, dense_b - dense_a)
    assert side.vmin == 0.0 and side.vmax == pytest.approx(max(dense_a.max(), dense_b.max()), rel=1e-5)  # ReLU


@pytest.mark.tensorflow_only  # checks against TensorFlow's GradientTape
def test_gradients_of_the_loss_equal_gradient_tape(digits, tuned, pair):
    sample = 11
    x, y = digits.x_test[sample : sample + 1], digits.y_test[sample : sample + 1]

    def kernel_gradient(model: keras.Model) -> np.ndarray:
        with tf.GradientTape() as tape:
            loss = keras.losses.sparse_categorical_crossentropy(y, model(x, training=False))
        return tape.gradient(loss, model.get_layer("conv1").kernel).numpy()

    ga, gb = kernel_gradient(digits.model), kernel_gradient(tuned.model)
    side = pair.gradients("conv1", sample, 0)
    assert side.names == ("kernel", "bias")
    close(cells(side.a), np.sort(ga.ravel()))
    close(cells(side.b), np.sort(gb.ravel()))
    close(cells(side.diff), np.sort((gb - ga).ravel()))


def test_flips_equal_argmax_of_both_models_and_confusions_their_counts(digits, tuned, pair):
    x, y = digits.x_test[:N], digits.y_test[:N]
    pred_a = np.argmax(np.asarray(digits.model(x)), axis=1)
    pred_b = np.argmax(np.asarray(tuned.model(x)), axis=1)
    changes = pair.predictions()
    np.testing.assert_array_equal(changes.flips, np.flatnonzero(pred_a != pred_b))
    assert len(changes.flips) > 0  # the relabelled 3s moved
    np.testing.assert_array_equal(changes.predicted_a, pred_a)
    assert len(changes.texts) == len(changes.flips) and changes.texts[0].startswith(f"sample {changes.flips[0]}: ")

    confusion = pair.confusion()
    expected_a, expected_b = np.zeros((10, 10)), np.zeros((10, 10))
    np.add.at(expected_a, (y, pred_a), 1)
    np.add.at(expected_b, (y, pred_b), 1)
    np.testing.assert_array_equal(confusion.a, expected_a)
    np.testing.assert_array_equal(confusion.b, expected_b)
    np.testing.assert_array_equal(confusion.diff, expected_b - expected_a)
    assert confusion.accuracy_b == pytest.approx(np.mean(pred_b == y))

    outputs = pair.outputs(int(changes.flips[0]))
    s = int(changes.flips[0])
    close(outputs.side.a, np.asarray(digits.model(x[s : s + 1]))[0])
    close(outputs.side.b, np.asarray(tuned.model(x[s : s + 1]))[0])
    assert outputs.prediction_a.class_index == pred_a[s] and outputs.prediction_b.class_index == pred_b[s]


def test_a_clone_with_the_same_weights_shows_zero_everywhere(digits):
    clone = keras.models.clone_model(digits.model)
    clone.set_weights(digits.model.get_weights())
    pair = comparison_of(digits.model, clone, digits.x_test[:20], digits.y_test[:20])
    assert set(pair.weight_changes().as_dict().values()) == {0.0}
    assert set(pair.activation_changes().as_dict().values()) == {0.0}
    assert len(pair.predictions().flips) == 0 and not pair.predictions().change.any()
    for name in pair.graph.names:
        for side in (pair.weights(name), pair.activations(name, 3), pair.gradients(name, 3)):
            if not isinstance(side, Unavailable):
                assert not np.nan_to_num(side.diff).any() and side.change == 0.0, name
                np.testing.assert_array_equal(side.a, side.b)
    assert not pair.confusion().diff.any()


def test_partly_different_architectures_compare_the_layers_of_the_same_name_only():
    keras.utils.set_random_seed(5)

    def mlp(widths: list[tuple[str, int]], name: str) -> keras.Model:
        inputs = keras.Input((5,), name="features")
        h = inputs
        for layer, units in widths:
            h = keras.layers.Dense(units, activation="relu", name=layer)(h)
        return keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="probs")(h), name=name)

    model_a = mlp([("hidden", 8), ("mid", 4)], "a")
    model_b = mlp([("hidden", 8), ("mid", 6), ("extra", 5)], "b")
    x = np.random.default_rng(5).normal(size=(16, 5)).astype("float32")
    pair = comparison_of(model_a, model_b, x, None)

    matches = pair.matches()
    assert pair.only_b == ("extra",)
    assert matches["hidden"].weights and matches["hidden"].outputs
    assert not matches["mid"].weights and not matches["mid"].outputs
    assert not matches["probs"].weights and matches["probs"].outputs  # kernels (4, 3) and (5, 3), outputs alike
    assert set(pair.weight_changes().as_dict()) == {"hidden"}
    assert set(pair.activation_changes().as_dict()) == {"features", "hidden", "probs"}
    wa, wb = model_a.get_layer("hidden").get_weights(), model_b.get_layer("hidden").get_weights()
    expected = np.sqrt(sum(np.sum((b - a) ** 2) for a, b in zip(wa, wb)) / sum(np.sum(a**2) for a in wa))
    close(pair.weight_changes().as_dict()["hidden"], expected)

    refused = pair.weights("mid")
    assert isinstance(refused, Unavailable) and "(8, 4)" in refused.reason and "(8, 6)" in refused.reason
    assert isinstance(pair.activations("mid", 0), Unavailable)
    probs = pair.activations("probs", 0)
    close(probs.diff, np.asarray(model_b(x[:1]))[0] - np.asarray(model_a(x[:1]))[0])
    assert len(pair.predictions().flips) == len(np.flatnonzero(np.argmax(model_a(x), 1) != np.argmax(model_b(x), 1)))
    assert isinstance(pair.confusion(), Unavailable)  # no labels


def test_mobilenet_v3_one_perturbed_layer_changes_only_there_and_after(rng):
    keras.utils.set_random_seed(6)
    model_a = keras.applications.MobileNetV3Small(weights=None, input_shape=(32, 32, 3), classes=4)
    model_b = keras.models.clone_model(model_a)
    model_b.set_weights(model_a.get_weights())
    target = "expanded_conv_5_project"  # a 1x1 conv in the middle of the network
    kernel = model_b.get_layer(target).kernel
    kernel.assign(kernel.numpy() * 1.1)
    x = rng.random((6, 32, 32, 3), dtype=np.float32)
    pair = comparison_of(model_a, model_b, x, None)

    weights = pair.weight_changes().as_dict()
    wa = model_a.get_layer(target).get_weights()
    expected = 0.1 * np.linalg.norm(wa[0]) / np.sqrt(sum(np.sum(w.astype(np.float64) ** 2) for w in wa))
    close(weights[target], expected)
    assert {name for name, v in weights.items() if v != 0} == {target}

    acts = pair.activation_changes().as_dict()
    order = list(pair.graph.names)
    before = [n for n in order[: order.index(target)] if n in acts]
    assert before and all(acts[n] == 0 for n in before)
    assert acts[target] > 0 and acts["logits"] > 0  # (an untrained MobileNet's softmax is uniform: no change there)
    out = model_a.get_layer(target).output
    act_a = np.asarray(keras.Model(model_a.inputs[0], out)(x), np.float64)
    act_b = np.asarray(keras.Model(model_b.inputs[0], model_b.get_layer(target).output)(x), np.float64)
    close(acts[target], np.linalg.norm(act_b - act_a) / np.linalg.norm(act_a))


def test_a_regressor_lists_the_samples_whose_output_moved_most(rng):
    keras.utils.set_random_seed(7)
    model_a = keras.Sequential([keras.Input((4,)), keras.layers.Dense(6, name="h"), keras.layers.Dense(1, name="out")])
    model_b = keras.models.clone_model(model_a)
    model_b.set_weights([w * 1.2 for w in model_a.get_weights()])
    x = rng.normal(size=(30, 4)).astype("float32")
    changes = comparison_of(model_a, model_b, x, rng.normal(size=30).astype("float32")).predictions()
    moved = np.abs(np.asarray(model_b(x)) - np.asarray(model_a(x)))[:, 0]
    assert not changes.is_classifier and len(changes.flips) == 0
    close(changes.change, moved)
    np.testing.assert_array_equal(changes.walk, np.argsort(-moved, kind="stable")[:20])
