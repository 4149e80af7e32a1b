"""Models that train on something else than one compiled loss per output, as the official Keras examples write
them: labels keyed by output name, a loss its layers add (``add_loss``, the CTC captcha OCR), a ``compute_loss``
that calls another model (knowledge distillation), a custom ``train_step`` with no compiled loss (the distiller as
written before Keras 3), and a sigmoid output trained with binary crossentropy on ratings in [0, 1]
(collaborative filtering). Each is explored, judged by ``findings()`` and trained with LiveTraining; the
gradients shown are checked against a GradientTape on the loss ``fit`` trains on, written out here."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import pytest
import tensorflow as tf

import nbviz
from nbviz.testing import panel_errors

from .interaction import tape_norms

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

N = 16


def _fit_with_monitor(model: keras.Model, x: Any, y: Any, monitor: Any, **kw: Any) -> nbviz.LiveTraining:
    live = nbviz.LiveTraining(monitor=monitor, every=1, **kw)
    model.fit(x, y, epochs=1, batch_size=8, verbose=0, callbacks=[live])
    return live


# ----------------------------------------------------------------------------------------- labels by output name
def _wide_and_deep() -> tuple[keras.Model, dict[str, np.ndarray], dict[str, np.ndarray]]:
    keras.utils.set_random_seed(3)
    a, b = keras.Input((4,), name="a"), keras.Input((3,), name="b")
    h = keras.layers.Dense(8, activation="relu", name="deep")(keras.layers.Concatenate()([a, b]))
    price = keras.layers.Dense(1, name="price")(h)
    kind = keras.layers.Dense(3, activation="softmax", name="kind")(keras.layers.Concatenate()([h, a]))
    model = keras.Model([a, b], [price, kind])
    model.compile("sgd", {"price": "mse", "kind": "sparse_categorical_crossentropy"})
    rng = np.random.default_rng(3)
    x = {"a": rng.normal(size=(N, 4)).astype("f4"), "b": rng.normal(size=(N, 3)).astype("f4")}
    y = {"price": rng.normal(size=(N, 1)).astype("f4"), "kind": rng.integers(0, 3, N)}
    return model, x, y


def test_the_monitor_takes_labels_keyed_by_output_name_and_its_norms_are_fits_loss():
    model, x, y = _wide_and_deep()
    names = ["deep", "price", "kind"]

    def loss() -> Any:
        price, kind = model([x["a"], x["b"]])
        mse = tf.reduce_mean(tf.square(price - y["price"]))
        return mse + tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y["kind"], kind))

    expected = tape_norms(model, names, loss)  # before the first step: what the first record sees
    live = _fit_with_monitor(model, x, y, (x, y))
    assert live.recorder.failure is None
    history = live.history
    shown = history["grad_norm"][0][[history["layers"].index(n) for n in names]]
    np.testing.assert_allclose(shown, expected, rtol=1e-4)
    # explore() and findings() take the same dict
    assert panel_errors(nbviz.explore(model, x, y), ["gradients", "diagnostics"]) == []
    nbviz.findings(model, x, y)


def test_a_dict_of_labels_with_a_missing_output_is_refused_by_name():
    model, x, y = _wide_and_deep()
    with pytest.raises(
        ValueError, match=r"monitor: expected a dict with keys \['price', 'kind'\], got keys \['price'\]"
    ):
        live = nbviz.LiveTraining(monitor=(x, {"price": y["price"]}))
        live.recorder.begin(model)


# ----------------------------------------------------------------------------------------- add_loss, no y
class _AddedLoss(keras.layers.Layer):
    """As the OCR example's CTC layer: adds the loss of its two inputs, passes the prediction on."""

    def call(self, y_true: Any, y_pred: Any) -> Any:
        self.add_loss(keras.ops.mean(keras.ops.square(y_true - y_pred)))
        return y_pred


def _added_loss_model() -> tuple[keras.Model, dict[str, np.ndarray]]:
    keras.utils.set_random_seed(4)
    image, label = keras.Input((6, 6, 1), name="image"), keras.Input((4,), name="label")
    hidden = keras.layers.Dense(5, activation="tanh", name="hidden")(keras.layers.Flatten()(image))
    out = _AddedLoss(name="ctc")(label, keras.layers.Dense(4, name="pred")(hidden))
    model = keras.Model([image, label], out)
    model.compile("sgd")  # no loss: fit trains on what the layers add
    rng = np.random.default_rng(4)
    return model, {"image": rng.normal(size=(N, 6, 6, 1)).astype("f4"), "label": rng.normal(size=(N, 4)).astype("f4")}


def test_a_model_trained_on_add_loss_needs_no_labels():
    model, x = _added_loss_model()

    def loss() -> Any:
        model([x["image"], x["label"]])
        return tf.add_n(model.losses)

    expected = tape_norms(model, ["hidden", "pred"], loss)
    live = _fit_with_monitor(model, x, None, x)
    assert live.recorder.failure is None and live.recorder.note is None
    history = live.history
    shown = history["grad_norm"][0][[history["layers"].index(n) for n in ["hidden", "pred"]]]
    np.testing.assert_allclose(shown, expected, rtol=1e-4)
    assert "add_loss" in live.recorder.loss_text

    ex = nbviz.explore(model, x)
    assert ex.analysis.gradient_target == "loss" and "add_loss" in ex.analysis.loss_text
    one = {k: v[2:3] for k, v in x.items()}
    weights = model.get_layer("pred").trainable_weights
    with tf.GradientTape() as tape:
        model([one["image"], one["label"]])
        added = tf.add_n(model.losses)
    expected_kernel = tape.gradient(added, weights[0]).numpy()
    np.testing.assert_allclose(ex.analysis.gradients(2).weights["pred"][0], expected_kernel, rtol=1e-4, atol=1e-7)
    assert panel_errors(ex) == []
    assert not [f for f in nbviz.findings(model, x) if f.kind == "no_loss_known"]


# ----------------------------------------------------------------------------------------- distillation
def _cnn(name: str) -> keras.Model:
    inputs = keras.Input((8, 8, 1))
    h = keras.layers.Conv2D(4, 3, activation="relu", name=f"{name}_conv")(inputs)
    return keras.Model(inputs, keras.layers.Dense(10, name=f"{name}_logits")(keras.layers.Flatten()(h)), name=name)


class Pair(keras.Model):
    """A student and its teacher, called as the student."""

    def __init__(self, student: keras.Model, teacher: keras.Model) -> None:
        super().__init__()
        self.teacher, self.student = teacher, student

    def compile(self, optimizer: Any, student_loss: Any, distill_loss: Any, alpha: float = 0.1) -> None:
        super().compile(optimizer=optimizer)
        self.student_loss, self.distill_loss, self.alpha, self.temperature = student_loss, distill_loss, alpha, 3.0

    def distillation_loss(self, x: Any, y: Any, y_pred: Any) -> Any:
        teacher = self.teacher(x, training=False)
        t = self.temperature
        soft = self.distill_loss(keras.ops.softmax(teacher / t, axis=1), keras.ops.softmax(y_pred / t, axis=1))
        return self.alpha * self.student_loss(y, y_pred) + (1 - self.alpha) * soft * t**2

    def call(self, x: Any) -> Any:
        return self.student(x)


class Distiller(Pair):
    """The Keras 3 knowledge distillation example: ``compute_loss`` calls the teacher."""

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, allow_empty=False):  # noqa: ANN001, ANN201
        return self.distillation_loss(x, y, y_pred)


class OldDistiller(Pair):
    """The same, written with its own train_step and no compiled loss, as before Keras 3."""

    def train_step(self, data: Any) -> dict[str, Any]:
        x, y = data
        with tf.GradientTape() as tape:
            loss = self.distillation_loss(x, y, self.student(x, training=True))
        grads = tape.gradient(loss, self.student.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.student.trainable_variables))
        return {"loss": loss}


def _distiller(kind: type[keras.Model]) -> tuple[Any, np.ndarray, np.ndarray]:
    keras.utils.set_random_seed(5)
    model = kind(_cnn("student"), _cnn("teacher"))
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(keras.optimizers.SGD(), loss, keras.losses.KLDivergence())
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(N, 8, 8, 1)).astype("f4"), rng.integers(0, 10, N)
    model(x[:1])
    return model, x, y


def test_a_compute_loss_that_calls_a_teacher_is_monitored():
    model, x, y = _distiller(Distiller)
    names = ["student/student_conv", "student/student_logits"]
    expected = tape_norms(model, names, lambda: model.distillation_loss(x, y, model(x)))
    live = _fit_with_monitor(model, x, y, (x, y))
    assert live.recorder.failure is None
    history = live.history
    shown = history["grad_norm"][0][[history["layers"].index(n) for n in names]]
    np.testing.assert_allclose(shown, expected, rtol=1e-4)
    # The teacher learns too (its weights are the model's), but the forward pass never calls it: no activations.
    teacher = history["layers"].index("teacher/teacher_logits")
    assert np.isnan(history["act_mean"][0][teacher]) and np.isfinite(history["grad_norm"][0][teacher])
    assert "compute_loss" in live.recorder.loss_text
    # Its labels are one per output, as its fit takes them (it has no output names to key them by): kept as labels.
    ex = nbviz.explore(model, x, y)
    assert ex.analysis.data.own_targets is None
    np.testing.assert_array_equal(ex.analysis.data.y[0], y)


def test_an_own_train_step_without_a_compiled_loss_gets_no_guessed_loss():
    model, x, y = _distiller(OldDistiller)
    live = _fit_with_monitor(model, x, y, (x, y))
    assert live.recorder.failure is None
    assert "no loss is known" in live.recorder.note and "train_step" in live.recorder.note
    assert len(live.history["batch_loss"]) == 2  # fit's own losses are still recorded

    found = nbviz.findings(model, x, y)
    assert [f.kind for f in found if f.panel == "gradients"] == ["no_loss_known"]

    ex = nbviz.explore(model, x, y)
    assert ex.analysis.gradient_target == "output unit 0"
    ex.tab, ex.layer = "gradients", "student/student_logits"
    assert "no loss is known" in ex.panels["gradients"].info.value
    assert panel_errors(ex) == []
    # Given the loss it trains on, that loss is differentiated, checked against a tape.
    student_loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    given = nbviz.explore(model, x, y, loss=student_loss)
    kernel = model.student.get_layer("student_logits").kernel
    with tf.GradientTape() as tape:
        loss = student_loss(y[3:4], model(x[3:4]))
    expected = tape.gradient(loss, kernel).numpy()
    shown = given.analysis.gradients(3).weights["student/student_logits"][0]
    np.testing.assert_allclose(shown, expected, rtol=1e-4, atol=1e-7)


# ----------------------------------------------------------------------------------------- ratings
def _ratings_model() -> tuple[keras.Model, dict[str, np.ndarray], np.ndarray]:
    keras.utils.set_random_seed(6)
    user, movie = keras.Input((1,), name="user", dtype="int32"), keras.Input((1,), name="movie", dtype="int32")
    u = keras.layers.Flatten()(keras.layers.Embedding(20, 4, name="users")(user))
    m = keras.layers.Flatten()(keras.layers.Embedding(30, 4, name="movies")(movie))
    out = keras.layers.Activation("sigmoid", name="rating")(keras.layers.Dot(axes=1)([u, m]))
    model = keras.Model([user, movie], out)
    model.compile("adam", keras.losses.BinaryCrossentropy())
    rng = np.random.default_rng(6)
    x = {"user": rng.integers(0, 20, (N, 1)).astype("int32"), "movie": rng.integers(0, 30, (N, 1)).astype("int32")}
    stars = rng.integers(1, 6, (N, 1)).astype("f4")
    return model, x, (stars - 1) / 4  # as the example scales 1..5 stars to [0, 1]


def test_a_sigmoid_output_trained_on_ratings_is_a_regressor_everywhere():
    model, x, y = _ratings_model()
    ex = nbviz.explore(model, x, y)
    assert not ex.analysis.data.is_classifier
    report = ex.analysis.reports()["data"]
    predicted = model.predict(x, verbose=0)
    assert report.task == "regression"
    np.testing.assert_allclose(report.metrics["mse"], np.mean((predicted - y) ** 2), rtol=1e-5)
    np.testing.assert_allclose(report.metrics["mae"], np.mean(np.abs(predicted - y)), rtol=1e-5)
    assert panel_errors(ex) == []
    found = nbviz.findings(model, x, y)  # refused the ratings as class indices before
    assert all(f.kind != "error_concentration" for f in found)
    # Binary crossentropy on the ratings is what is differentiated, checked against a tape.
    kernel = model.get_layer("movies").embeddings
    one = {k: v[4:5] for k, v in x.items()}
    with tf.GradientTape() as tape:
        loss = keras.losses.binary_crossentropy(y[4:5], model(one))
    expected = tf.convert_to_tensor(tape.gradient(loss, kernel)).numpy()
    np.testing.assert_allclose(ex.analysis.gradients(4).weights["movies"][0], expected, rtol=1e-4, atol=1e-7)


def test_a_sigmoid_output_given_zeros_and_ones_stays_a_classifier():
    model, x, y = _ratings_model()
    ex = nbviz.explore(model, x, (y > 0.5).astype("f4"))
    assert ex.analysis.data.is_classifier and ex.analysis.reports()["data"].task == "classification"
