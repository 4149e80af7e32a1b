"""LiveTraining: history lengths, gradient norms against a Probe on the same weights, marks, failures."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest

import nbviz
from nbviz import demo
from nbviz.compute import Probe

from .conftest import synced_array as synced

EVERY = 20
BATCH = 32


class Snapshots(keras.callbacks.Callback):
    """Keeps the model's weights at chosen steps (batches done), where LiveTraining records them."""

    def __init__(self, steps, per_epoch):
        super().__init__()
        self.steps, self.per_epoch, self.epoch, self.weights = set(steps), per_epoch, 0, {}

    def keep(self, step):
        if step in self.steps and step not in self.weights:
            self.weights[step] = [w.copy() for w in self.model.get_weights()]

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        self.keep(self.epoch * self.per_epoch + batch)

    def on_epoch_end(self, epoch, logs=None):
        self.keep((epoch + 1) * self.per_epoch)


@pytest.fixture(scope="module")
def trained():
    data = demo.digits_cnn()
    keras.utils.set_random_seed(0)
    model = data.model
    monitor = (data.x_test[:64], data.y_test[:64])
    live = nbviz.LiveTraining(monitor=monitor, every=EVERY)
    per_epoch = math.ceil(len(data.x_train) / BATCH)
    expected_steps = sorted({*range(0, 2 * per_epoch, EVERY), 2 * per_epoch})
    snapshots = Snapshots(expected_steps, per_epoch)
    model.fit(
        data.x_train,
        data.y_train,
        epochs=2,
        batch_size=BATCH,
        validation_data=(data.x_test, data.y_test),
        callbacks=[live, snapshots],
        verbose=0,
    )
    return data, live, snapshots, expected_steps, per_epoch


def test_history_has_every_series(trained):
    data, live, _, expected_steps, per_epoch = trained
    h = live.history
    assert h["batch_loss"].shape == (2 * per_epoch,)
    assert h["loss"].shape == h["val_loss"].shape == h["accuracy"].shape == (2,)
    assert h["layers"] == ["conv1", "conv2", "dense", "probs"]
    assert list(h["grad_step"]) == expected_steps
    for key in ("grad_norm", "update_ratio", "act_mean", "act_std", "dead_share"):
        assert h[key].shape == (len(expected_steps), 4), key
    assert np.isnan(h["update_ratio"][0]).all() and (h["update_ratio"][1:] > 0).all()
    assert h["weight_hist"]["conv2"].shape == (len(expected_steps), 30)
    kernel_size = int(np.prod(data.model.get_layer("conv2").kernel.shape))
    assert (h["weight_hist"]["conv2"].sum(axis=1) == kernel_size).all()  # every weight counted, edge bins clip
    # The epoch loss is Keras's own running mean over the epoch's batches.
    np.testing.assert_allclose(h["loss"][0], h["batch_loss"][per_epoch - 1], rtol=1e-5)


def test_gradient_norms_equal_a_probe_on_the_weights_of_that_step(trained):
    data, live, snapshots, expected_steps, _ = trained
    clone = keras.models.clone_model(data.model)
    clone.compile(loss="sparse_categorical_crossentropy")
    h = live.history
    for row, step in enumerate(expected_steps):
        clone.set_weights(snapshots.weights[step])
        grads = Probe(clone).gradients(data.x_test[:64], data.y_test[:64])
        expected = [np.sqrt(sum(float(np.sum(g**2)) for g in grads.weights[name])) for name in h["layers"]]
        np.testing.assert_allclose(h["grad_norm"][row], expected, rtol=1e-4)
        acts = grads.activations
        np.testing.assert_allclose(h["act_mean"][row], [acts[n].mean() for n in h["layers"]], rtol=1e-4, atol=1e-7)


def test_marks_hold_exactly_the_history(trained):
    _, live, _, _, _ = trained
    h, view = live.history, live.view
    np.testing.assert_array_equal(synced(view.lines["batch"], "y"), h["batch_loss"].astype(np.float32))
    np.testing.assert_array_equal(synced(view.lines["train"], "y"), h["loss"].astype(np.float32))
    np.testing.assert_array_equal(synced(view.lines["val"], "y"), h["val_loss"].astype(np.float32))
    np.testing.assert_array_equal(synced(view.lines["val"], "x"), h["epoch_step"].astype(np.float32))
    np.testing.assert_array_equal(synced(view.metric_lines["val_accuracy"], "y"), h["val_accuracy"].astype(np.float32))
    logs = np.log10(h["grad_norm"]).T.astype(np.float32)
    np.testing.assert_allclose(synced(view.grad_map.mark, "color")[: logs.shape[0], : logs.shape[1]], logs, rtol=1e-6)
    view.layer_choice.value = "dense"
    counts = h["weight_hist"]["dense"].T[::-1].astype(np.float32)
    np.testing.assert_array_equal(synced(view.hist_map.mark, "color")[: counts.shape[0], : counts.shape[1]], counts)


def test_display_is_throttled_and_the_last_state_shows(trained):
    _, live, _, _, per_epoch = trained
    # At most max_fps redraws a second (the fit took a few seconds), never one per batch.
    assert live.draws < per_epoch
    assert "batch 86" in live.view.status.value or f"batch {2 * per_epoch}" in live.view.status.value


def test_fit_that_raises_keeps_the_data_so_far():
    data = demo.digits_cnn()
    live = nbviz.LiveTraining(monitor=(data.x_test[:32], data.y_test[:32]), every=4)

    class Boom(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 9:
                raise RuntimeError("stop here")

    with pytest.raises(RuntimeError, match="stop here"):
        data.model.fit(data.x_train, data.y_train, epochs=1, batch_size=32, callbacks=[live, Boom()], verbose=0)
    h = live.history
    assert h["batch_loss"].shape == (10,) and list(h["grad_step"]) == [0, 4, 8]
    live.draw(force=True)  # the display can be brought up to date by hand
    np.testing.assert_array_equal(synced(live.view.lines["batch"], "y"), h["batch_loss"].astype(np.float32))


def test_paused_display_keeps_recording(trained):
    data = demo.digits_cnn()
    live = nbviz.LiveTraining(monitor=(data.x_test[:32], data.y_test[:32]), every=10)
    live.view.pause.value = True
    data.model.fit(data.x_train[:320], data.y_train[:320], epochs=1, batch_size=32, callbacks=[live], verbose=0)
    assert live.history["batch_loss"].shape == (10,)
    assert live.draws == 2  # only the forced ones: when fit starts and when it ends


def test_without_monitor_only_losses_are_recorded():
    data = demo.digits_cnn()
    live = nbviz.LiveTraining()
    data.model.fit(data.x_train[:64], data.y_train[:64], epochs=1, batch_size=32, callbacks=[live], verbose=0)
    assert live.history["batch_loss"].shape == (2,) and live.history["layers"] == []


def test_explorer_shows_the_training_view_and_follows_the_layer(trained):
    data, live, _, _, _ = trained
    ex = nbviz.explore(data.model, data.x_test[:10], training=live)
    ex.tab = "training"
    panel = ex.panels["training"]
    assert live.view.widget in panel.widget.children
    ex.layer = "conv1"
    assert live.view.layer_choice.value == "conv1"
    np.testing.assert_array_equal(panel.values, live.history["batch_loss"].astype(np.float32))
    ex.layer = "pool"
    assert "no trainable weights" in panel.message.value
    with pytest.raises(TypeError, match="training: expected an nbviz.LiveTraining callback"):
        nbviz.explore(data.model, data.x_test[:10], training="yes")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"every": 0}, "every: expected a positive int"), ({"bins": 1}, "bins: expected an int >= 2")],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        nbviz.LiveTraining(**kwargs)


def test_a_dataset_pipeline_trains_and_monitors():
    """fit on a tf.data pipeline, monitored by a dataset: the same records as with the same samples as arrays."""
    import tensorflow as tf

    data = demo.breast_cancer_mlp()
    train = tf.data.Dataset.from_tensor_slices((data.x_train, data.y_train)).batch(32)
    val = tf.data.Dataset.from_tensor_slices((data.x_test, data.y_test)).batch(10).repeat()  # endless
    by_dataset = nbviz.LiveTraining(monitor=val, every=5)
    by_arrays = nbviz.LiveTraining(monitor=(data.x_test[:64], data.y_test[:64]), every=5)
    data.model.fit(train, epochs=1, callbacks=[by_dataset, by_arrays], verbose=0, shuffle=False)
    a, b = by_dataset.history, by_arrays.history
    assert len(a["grad_step"]) >= 3
    np.testing.assert_array_equal(a["grad_step"], b["grad_step"])
    np.testing.assert_allclose(a["grad_norm"], b["grad_norm"], rtol=1e-6)
    np.testing.assert_allclose(a["act_mean"], b["act_mean"], rtol=1e-6)
