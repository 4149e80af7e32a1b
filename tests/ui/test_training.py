"""LiveTraining: history lengths, gradient norms against a Probe on the same weights, marks, failures."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest

import nbviz
from nbviz import demo
from nbviz.compute import Probe
from nbviz.compute.methods.training import STATS
from nbviz.testing import recording
from nbviz.testing import synced_array as synced

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
    assert f"step {2 * per_epoch}," in live.view.status.value  # the optimizer's steps: one per batch here


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


# ----------------------------------------------------------------------------------------- steps
def _tiny(steps_per_execution=1):
    keras.utils.set_random_seed(1)
    inputs = keras.Input((5,), name="x")
    hidden = keras.layers.Dense(8, activation="relu", name="hidden")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="probs")(hidden))
    model.compile("adam", "sparse_categorical_crossentropy", steps_per_execution=steps_per_execution)
    rng = np.random.default_rng(1)
    return model, rng.normal(size=(40, 5)).astype("float32"), rng.integers(0, 3, 40)


class Seen(keras.callbacks.Callback):
    """What Keras passes to the batch hooks, the optimizer's count then, and the weights before each batch."""

    def __init__(self):
        super().__init__()
        self.begin_args, self.end_args, self.begins, self.ends, self.epoch_ends = [], [], [], [], []
        self.losses, self.weights = [], {}

    def on_train_batch_begin(self, batch, logs=None):
        step = int(self.model.optimizer.iterations)
        self.begin_args.append(batch)
        self.begins.append(step)
        self.weights[step] = [w.copy() for w in self.model.get_weights()]

    def on_train_batch_end(self, batch, logs=None):
        self.end_args.append(batch)
        self.ends.append(int(self.model.optimizer.iterations))
        self.losses.append(logs["loss"])

    def on_epoch_end(self, epoch, logs=None):
        self.epoch_ends.append(int(self.model.optimizer.iterations))


def test_steps_are_the_optimizers_under_steps_per_execution():
    """2 epochs of 10 batches, 4 batches per execution: records, batch losses and epoch ends at optimizer steps.

    What Keras 3 (keras/src/backend/tensorflow/trainer.py fit, trainers/epoch_iterator.py) does: one
    ``train_function`` call runs ``steps_per_execution`` batches, and the hooks are called once around it,
    ``on_train_batch_begin(begin_step)`` and ``on_train_batch_end(end_step)`` with the epoch's batch indices
    (0, 3), (4, 7), (8, 11): the last execution runs only batches 8 and 9 (the data ends), yet ``end_step``
    says 11. Counting ``end_step + 1`` by hand gave 12 batches an epoch; the optimizer ran 10.
    """
    model, x, y = _tiny(steps_per_execution=4)
    x_monitor, y_monitor = x[:16], y[:16]
    live, seen = nbviz.LiveTraining(monitor=(x_monitor, y_monitor), every=4), Seen()
    model.fit(x, y, epochs=2, batch_size=4, callbacks=[live, seen], verbose=0, shuffle=False)
    assert seen.begin_args == [0, 4, 8] * 2 and seen.end_args == [3, 7, 11] * 2  # Keras's arguments
    assert seen.begins == [0, 4, 8, 10, 14, 18] and seen.ends == [4, 8, 10, 14, 18, 20]
    h = live.history
    final = int(model.optimizer.iterations)
    assert final == 20
    np.testing.assert_array_equal(h["batch_step"], seen.ends)
    np.testing.assert_array_equal(h["batch_loss"], seen.losses)
    np.testing.assert_array_equal(h["epoch_step"], [10, 20])
    # A record at the first step seen at or after each multiple of 4 (12 and 16 fall inside executions), and
    # the final weights when fit ends: every recorded step is one the optimizer was at.
    np.testing.assert_array_equal(h["grad_step"], [0, 4, 8, 14, 18, 20])
    assert h["grad_step"][-1] == final and set(h["grad_step"]) <= {*seen.begins, *seen.ends}
    seen.weights[final] = model.get_weights()
    clone = keras.models.clone_model(model)
    clone.compile(loss="sparse_categorical_crossentropy")
    for row, step in enumerate(h["grad_step"]):
        clone.set_weights(seen.weights[int(step)])
        grads = Probe(clone).gradients(x_monitor, y_monitor)
        expected = [np.sqrt(sum(float(np.sum(g**2)) for g in grads.weights[name])) for name in h["layers"]]
        np.testing.assert_allclose(h["grad_norm"][row], expected, rtol=1e-4)
    np.testing.assert_array_equal(synced(live.view.lines["batch"], "x"), np.asarray(seen.ends, np.float32))


def test_several_fits_accumulate_and_a_new_optimizer_continues():
    model, x, y = _tiny()
    live = nbviz.LiveTraining(monitor=(x[:8], y[:8]), every=3)
    for _ in range(2):
        model.fit(x, y, epochs=1, batch_size=8, callbacks=[live], verbose=0)
    model.compile("sgd", "sparse_categorical_crossentropy")  # a new optimizer: its count starts at 0 again
    model.fit(x, y, epochs=1, batch_size=8, callbacks=[live], verbose=0)
    assert int(model.optimizer.iterations) == 5
    h = live.history
    np.testing.assert_array_equal(h["batch_step"], np.arange(1, 16))
    np.testing.assert_array_equal(h["epoch_step"], [5, 10, 15])
    # Each fit's end recorded once (the next fit's first batch, at the same step, does not record again).
    np.testing.assert_array_equal(h["grad_step"], [0, 3, 5, 6, 9, 10, 12, 15])
    assert h["loss"].shape == (3,)


# ----------------------------------------------------------------------------------------- threads, version
def test_batch_ends_arrive_on_the_training_thread():
    """No async_safe: Keras calls every hook on the thread that runs fit, in order."""
    import threading

    threads = []

    class Watched(nbviz.LiveTraining):
        def on_train_batch_end(self, batch, logs=None):
            threads.append(threading.get_ident())
            super().on_train_batch_end(batch, logs)

    assert not getattr(nbviz.LiveTraining, "async_safe", False)
    model, x, y = _tiny()
    live = Watched(monitor=(x[:8], y[:8]), every=2)
    model.fit(x, y, epochs=1, batch_size=4, callbacks=[live], verbose=0)
    assert threads == [threading.get_ident()] * 10
    np.testing.assert_array_equal(live.history["batch_step"], np.arange(1, 11))


def test_every_batch_end_and_the_end_bump_the_models_version(monkeypatch):
    from nbviz.compute.model import version

    bumped = []
    monkeypatch.setattr(version, "bump", bumped.append)
    model, x, y = _tiny()
    model.fit(x, y, epochs=2, batch_size=8, callbacks=[nbviz.LiveTraining()], verbose=0)
    assert len(bumped) == 2 * 5 + 1 and all(m is model for m in bumped)


# ----------------------------------------------------------------------------------------- messages
@pytest.fixture
def messages():
    with recording() as comm:
        yield comm


def _updates(messages, *widgets):
    ids = {w.model_id: name for name, w in widgets}
    return sorted(ids.get(cid, "other") for cid, _, data, _ in messages.messages if data.get("method") == "update")


def test_one_layer_change_draws_once(messages, monkeypatch):
    data = demo.digits_cnn()
    live = nbviz.LiveTraining(monitor=(data.x_test[:32], data.y_test[:32]), every=5)
    data.model.fit(data.x_train[:320], data.y_train[:320], epochs=1, batch_size=32, callbacks=[live], verbose=0)
    view = live.view
    assert view.layer_choice.value == "conv1"
    marks = [
        ("hist", view.hist_map.mark),
        ("ratio", view.ratio_line),
        ("grads", view.grad_map.mark),
        *((key, line) for key, line in view.lines.items()),
    ]
    computed = []  # every picture the view asks the recorder for
    for name in ("batch_line", "epoch_line", "grad_map", "hist_map", "ratio_line"):
        method = getattr(live.recorder, name)
        monkeypatch.setattr(live.recorder, name, lambda *a, _m=method, _n=name: computed.append(_n) or _m(*a))
    messages.reset()
    view.layer_choice.value = "dense"
    assert sorted(computed) == ["hist_map", "ratio_line"]  # one draw of the layer, nothing else
    assert [name for name in _updates(messages, *marks) if name != "other"] == ["hist", "ratio"]
    counts = live.history["weight_hist"]["dense"].T[::-1].astype(np.float32)
    np.testing.assert_array_equal(synced(view.hist_map.mark, "color")[: counts.shape[0], : counts.shape[1]], counts)
    messages.reset()
    view.draw()  # nothing new: nothing sent
    assert _updates(messages, *marks) == []
    # Through the Explorer: its layer chooses the view's, and the layer is drawn once there too.
    ex = nbviz.explore(data.model, data.x_test[:10], training=live)
    ex.tab = "training"
    messages.reset()
    computed.clear()
    ex.layer = "conv2"
    assert view.layer_choice.value == "conv2"
    assert sorted(computed) == ["hist_map", "ratio_line"]
    assert [name for name in _updates(messages, *marks) if name != "other"] == ["hist", "ratio"]


def _fill(recorder, batches, every=50, start=0):
    """Store ``batches`` synthetic batch ends (a noisy loss) and a record every ``every``, as the hooks would."""
    rng = np.random.default_rng(start)
    loss = np.exp(-np.arange(start, start + batches) / 1e4) + 0.05 * rng.random(batches)
    for i, step in enumerate(range(start + 1, start + batches + 1)):
        recorder.add_batch(step, {"loss": loss[i]})
        if step % every == 0:
            stats = {key: rng.uniform(0.1, 1.0, len(recorder.layers)) for key in STATS}
            recorder.add_record(step, stats, {name: rng.integers(0, 50, recorder.bins) for name in recorder.layers})


def test_a_redraw_sends_the_same_at_any_length(messages):
    """Lines at most 2,000 points (spikes kept, true steps), heatmaps at most 200 columns: bytes stay bounded."""
    data = demo.digits_cnn()
    live = nbviz.LiveTraining(monitor=(data.x_test[:32], data.y_test[:32]))
    live.recorder.begin(data.model)
    sizes = {}
    for n in (15_000, 60_000):
        _fill(live.recorder, n - len(live.recorder.batch_step), start=len(live.recorder.batch_step))
        live.view.draw()
        _fill(live.recorder, 50, start=n)  # one more record and its batches: every picture changes
        messages.reset()
        live.view.draw()
        sizes[n] = messages.sent
    h = live.history
    assert h["batch_loss"].shape == (60_050,) and h["grad_norm"].shape == (1201, 4)  # the full series
    x, y = synced(live.view.lines["batch"], "x"), synced(live.view.lines["batch"], "y")
    assert len(x) <= 2000
    steps = x.astype(np.int64)
    np.testing.assert_array_equal(y, h["batch_loss"][steps - 1].astype(np.float32))  # points at their true step
    spike = int(np.argmax(h["batch_loss"]))
    assert spike + 1 in steps and int(np.argmin(h["batch_loss"])) + 1 in steps
    assert synced(live.view.grad_map.mark, "color").shape[1] <= 200
    assert sizes[60_000] < 1.2 * sizes[15_000] and sizes[60_000] < 100_000, sizes
