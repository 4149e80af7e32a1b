"""Analysis: labels in every form, one byte-bounded memo keyed by the model's version, streamed dead units, and
answers that follow the weights however they change."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from nbviz.compute import DisplayPolicy, ModelVersion, Probe, analyse, dead_units
from nbviz.compute.model.version import bump


@pytest.fixture(scope="module")
def analysis(digits):
    return analyse(digits.model, digits.x_test[:30], digits.y_test[:30], class_names=digits.class_names)


def test_labels_as_indices_one_hot_or_names(digits, analysis):
    y = digits.y_test[:30]
    np.testing.assert_array_equal(analysis.data.y[0], y)
    one_hot = analyse(digits.model, digits.x_test[:30], np.eye(10)[y])
    np.testing.assert_array_equal(one_hot.data.y[0], y)
    names = analyse(digits.model, digits.x_test[:30], np.array(digits.class_names)[y], class_names=digits.class_names)
    np.testing.assert_array_equal(names.data.y[0], y)
    assert names.prediction(4).label == digits.class_names[y[4]] == names.policy.class_name(int(y[4]))
    with pytest.raises(ValueError, match=r"y: expected labels from class_names .* got unknown \['cat'\]"):
        analyse(digits.model, digits.x_test[:2], ["cat", "1"], class_names=digits.class_names)


def test_prediction_and_gradients_match_the_model(digits, analysis):
    for sample in (0, 13):
        expected = np.asarray(digits.model(digits.x_test[sample : sample + 1]))[0]
        np.testing.assert_allclose(analysis.output(sample), expected, atol=1e-6)
        prediction = analysis.prediction(sample)
        assert prediction.class_index == int(np.argmax(expected))
        assert prediction.confidence == pytest.approx(float(expected.max()), abs=1e-6)
        assert prediction.correct == (int(np.argmax(expected)) == digits.y_test[sample])
        direct = Probe(digits.model).gradients(digits.x_test[sample : sample + 1], digits.y_test[sample : sample + 1])
        np.testing.assert_allclose(
            analysis.gradients(sample).weights["conv1"][0], direct.weights["conv1"][0], atol=1e-7
        )
    assert analysis.gradient_target == "loss"


def test_regressor_without_labels_differentiates_its_output(rng):
    keras.utils.set_random_seed(9)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="tanh"), keras.layers.Dense(1)])
    x = rng.normal(size=(6, 3)).astype("float32")
    analysis = analyse(model, x)
    assert analysis.gradient_target == "output unit 0"
    expected = Probe(model).gradients(x[2:3], target=0).inputs
    np.testing.assert_allclose(analysis.gradients(2).inputs, expected, atol=1e-7)


def test_one_memo_bounded_by_bytes(digits):
    one_sample = sum(a.nbytes for a in Probe(digits.model).activations(digits.x_test[:1]).values())
    small = analyse(digits.model, digits.x_test[:10], cache_bytes=int(2.5 * one_sample))
    first = small.activations(0)
    assert small.activations(0) is first  # a hit
    for sample in (1, 2, 3):
        small.activations(sample)
    kept = [key[1:] for key in small.memo._entries if key[1] == "activations"]
    assert kept == [("activations", 2), ("activations", 3)] and small.memo.nbytes <= 2.5 * one_sample
    assert small.activations(0) is not first  # evicted, computed again


def test_dead_units_streamed_over_the_first_samples(digits):
    analysis = analyse(digits.model, digits.x_test[:50])
    analysis.dead_unit_bytes = 2_000_000  # chunks of about 27 samples: the 50 are streamed in two
    for name in ("conv1", "conv2", "dense"):
        outputs = np.asarray(
            keras.Model(digits.model.inputs[0], digits.model.get_layer(name).output)(digits.x_test[:50])
        )
        got = analysis.dead_units()[name]
        np.testing.assert_array_equal(got.dead, dead_units(outputs).dead)
        assert got.n_samples == 50


def test_padding_tokens_do_not_count_for_dead_units():
    """Unit 0 fires only on the padding token and unit 1 only on real ones: over the real tokens (the padding
    mask), unit 0 is dead and unit 1 is not, as a count on the real tokens alone says."""
    tokens = keras.Input((6,), dtype="int32", name="token_ids")
    mask = keras.Input((6,), dtype="int32", name="padding_mask")
    embedding = keras.layers.Embedding(5, 2, name="embedding")
    units = keras.layers.Dense(2, activation="relu", name="units")(embedding(tokens))
    pooled = keras.layers.GlobalAveragePooling1D()(units)
    head = keras.layers.Dense(2, activation="softmax")(pooled)
    model = keras.Model({"token_ids": tokens, "padding_mask": mask}, head)
    embedding.set_weights([np.array([[1.0, -1.0]] + [[-1.0, 1.0]] * 4)])  # token 0 (padding) vs the others
    model.get_layer("units").set_weights([np.eye(2), np.zeros(2)])
    ids = np.array([[1, 2, 3, 0, 0, 0], [4, 1, 2, 3, 4, 0]], "int32")
    x = {"token_ids": ids, "padding_mask": (ids != 0).astype("int32")}
    got = analyse(model, x).dead_units()["units"]
    outputs = np.asarray(keras.Model(model.inputs, units)(x))
    np.testing.assert_array_equal(got.dead, dead_units(outputs[ids != 0][np.newaxis]).dead)
    np.testing.assert_array_equal(got.dead, [True, False])
    assert not dead_units(outputs).dead.any() and got.n_samples == 2  # counting padding, no unit would be dead


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"max_cells": 4}, ValueError, "max_cells: expected at least 16 cells, got 4"),
        ({"max_cells": 2.5}, TypeError, "max_cells: expected an int, got float"),
        ({"feature_names": ["a", "b", "c"]}, None, None),  # image input: not counted against pixels
        ({"class_names": ["a"] * 3}, ValueError, "class_names: expected 10 names, got 3"),
        ({"redact": 1}, TypeError, "redact: expected True or False, got int"),
    ],
)
def test_analyse_arguments(digits, kwargs, exc, match):
    if exc is None:
        analyse(digits.model, digits.x_test[:2], **kwargs)
        return
    with pytest.raises(exc, match=match):
        analyse(digits.model, digits.x_test[:2], **kwargs)


def test_sample_index_checks(analysis):
    assert analysis.data.check_sample(np.int64(3)) == 3
    with pytest.raises(ValueError, match=r"sample: expected an index in \[0, 30\), got -1"):
        analysis.data.check_sample(-1)
    with pytest.raises(TypeError, match="sample: expected an int index into x, got float"):
        analysis.data.check_sample(1.0)


def test_tabular_feature_names_must_match(cancer):
    analysis = analyse(cancer.model, cancer.x_test[:5], feature_names=cancer.feature_names)
    assert analysis.data.feature_names == tuple(cancer.feature_names)
    with pytest.raises(ValueError, match="feature_names: expected 30 names, got 29"):
        analyse(cancer.model, cancer.x_test[:5], feature_names=cancer.feature_names[1:])


# ------------------------------------------------------------------------------------------ the model's version
def _fresh_cnn(digits):
    model = keras.models.clone_model(digits.model)
    model.set_weights(digits.model.get_weights())
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


@pytest.mark.tensorflow_only  # checks against TensorFlow's GradientTape
@pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer")
def test_every_way_of_changing_the_weights_changes_the_answers(digits, tmp_path):
    model = _fresh_cnn(digits)
    x, y = digits.x_test[:20], digits.y_test[:20]
    analysis = analyse(model, x, y)

    def dense_now() -> np.ndarray:
        return np.asarray(keras.Model(model.inputs[0], model.get_layer("dense").output)(x[3:4]))[0]

    def check() -> None:
        np.testing.assert_allclose(analysis.activations(3)["dense"][0], dense_now(), rtol=1e-5, atol=1e-6)

    check()
    before = analysis.version
    original = model.get_weights()
    model.save_weights(tmp_path / "start.weights.h5")

    model.fit(x, y, epochs=2, verbose=0)  # fit
    assert analysis.version != before
    check()
    model.set_weights(original)  # set_weights: back to the start, and to its version
    assert analysis.version == before
    check()
    kernel = model.get_layer("conv1").kernel  # one variable assigned in place
    kernel.assign(kernel.numpy() * 0.5)
    check()
    model.load_weights(tmp_path / "start.weights.h5")  # load_weights
    assert analysis.version == before
    check()

    def step() -> None:  # a custom training loop
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = keras.losses.sparse_categorical_crossentropy(y, model(x, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        model.optimizer.apply(grads, model.trainable_variables)

    step()
    check()


def test_refresh_gives_a_new_version_and_recomputes(analysis):
    first = analysis.activations(2)
    version = analysis.version
    assert analysis.activations(2) is first
    assert analysis.refresh() != version
    again = analysis.activations(2)
    assert again is not first
    np.testing.assert_array_equal(again["dense"], first["dense"])


class _Kernel:
    """Stands for an IPython shell, whose execution count is what the version's gate reads in a kernel."""

    execution_count = 1


def test_in_a_kernel_the_fingerprint_is_read_once_per_cell(digits, monkeypatch):
    import nbviz.compute.model.version as version_module

    shell = _Kernel()
    monkeypatch.setattr(version_module, "_execution_count", lambda: shell.execution_count)
    model = _fresh_cnn(digits)
    versions = ModelVersion(model)
    first = versions.current()
    reads = versions.reads
    for _ in range(5):  # widget interactions between two cells: the gate holds, nothing is read
        assert versions.current() == first
    assert versions.reads == reads
    shell.execution_count += 1  # a cell ran: read again (same weights, same version)
    assert versions.current() == first and versions.reads == reads + 1
    kernel = model.get_layer("dense").kernel
    original = kernel.numpy()
    kernel.assign(original + 1.0)  # changed inside that same cell, after its check
    assert versions.current() == first  # the gate cannot see it...
    assert versions.current(force=True) != first  # ...the Explorer's after-cell check does
    kernel.assign(original)
    bump(model)  # LiveTraining during fit: the gate moves, the weights are read (the original ones again)
    assert versions.current() == first and versions.reads == reads + 3
    model.fit(digits.x_test[:8], digits.y_test[:8], epochs=1, verbose=0)  # a new model.history
    assert versions.current() != first


def test_pinned_checks_the_version_once(analysis):
    reads = analysis.versions.reads
    with analysis.pinned() as version:
        for sample in range(4):
            analysis.activations(sample)
            assert analysis.version == version
    assert analysis.versions.reads == reads + 1


def test_redact_is_enforced_by_the_policy(cancer):
    plain = DisplayPolicy()
    redacted = DisplayPolicy(redact=True)
    assert (
        plain.feature_label("radius", 16.81) == "radius = 16.81" and redacted.feature_label("radius", 16.81) == "radius"
    )
    edges, counts = np.array([0.5, 1.5, 9.0]), np.array([3, 1])
    assert plain.slice_labels(edges, counts) == ["0.5 to 1.5 (n=3)", "1.5 to 9 (n=1)"]
    assert redacted.slice_labels(edges, counts) == ["q0.00 to q0.75 (n=3)", "q0.75 to q1.00 (n=1)"]
    analysis = analyse(cancer.model, cancer.x_test[:20], redact=True)
    assert analysis.sample_display(3).kind == "hidden" and analysis.sample_display(3).values.size == 0
    assert analysis.layer_activation(analysis.graph.names[0], 3).view is None
