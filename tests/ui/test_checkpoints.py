"""Checkpoints: LiveTraining keeps the weights at chosen points, and an Explorer given it shows every tab as the
model was then, on a copy: each tab equals a fresh Explorer on a model loaded with the weights that Keras's own
ModelCheckpoint saved at the same epoch, and the live model's weights are bitwise unchanged."""

from __future__ import annotations

import os
import tracemalloc

import keras
import numpy as np
import pytest

import nbviz
from nbviz.compute.model.checkpoints import Snapshots, copy_model
from nbviz.testing import TABS, raising_panel_errors
from tests.faults import copy_of

LAYERS = ("conv1", "dense", "probs")
SHOWN = (*TABS, "shap", "units")


def _compiled_copy(digits) -> keras.Model:
    model = copy_of(digits.model)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy")
    return model


def _weights_bytes(model: keras.Model) -> int:
    return sum(w.nbytes for w in model.get_weights())


@pytest.fixture(scope="module")
def trained(digits, tmp_path_factory):
    """The demo CNN trained 3 epochs with LiveTraining, and Keras's own weight files of every epoch beside it."""
    folder = tmp_path_factory.mktemp("keras-checkpoints")
    model = _compiled_copy(digits)
    live = nbviz.LiveTraining(poll_ui=False)
    x, y = digits.x_test[:24], digits.y_test[:24]
    ex = nbviz.explore(model, x, y, training=live)
    saver = keras.callbacks.ModelCheckpoint(str(folder / "epoch{epoch}.weights.h5"), save_weights_only=True)
    model.fit(digits.x_train[:256], digits.y_train[:256], epochs=3, batch_size=64, verbose=0, callbacks=[live, saver])
    yield model, live, ex, folder, (x, y)
    ex.close()
    live.close()


def test_snapshots_are_taken_before_training_and_at_each_epochs_end(trained):
    model, live, ex, _, _ = trained
    assert [(s.step, s.epoch) for s in live.snapshots] == [(0, 0), (4, 1), (8, 2), (12, 3)]
    assert [label for label, _ in ex.checkpoint_slider.options] == [
        "epoch 0 (step 0)",
        "epoch 1 (step 4)",
        "epoch 2 (step 8)",
        "epoch 3 (step 12)",
        "live",
    ]
    assert ex.checkpoint == -1 and ex.checkpoint_slider.layout.display is None
    # The last snapshot is the model as fit left it.
    for kept, now in zip(live.snapshots.weights(3, model), model.get_weights()):
        np.testing.assert_array_equal(kept, now)


def test_every_tab_at_a_checkpoint_equals_a_fresh_explorer_on_its_weights(trained, digits):
    model, live, ex, folder, (x, y) = trained
    start = [w.copy() for w in model.get_weights()]
    ex.sample = 5
    for epoch in (1, 2):
        ex.checkpoint = epoch
        # The reference: the architecture built again, with the weights Keras's ModelCheckpoint wrote.
        reference = keras.models.clone_model(digits.model)
        reference.load_weights(folder / f"epoch{epoch}.weights.h5")
        fresh = nbviz.explore(reference, x, y)
        fresh.sample = ex.sample
        with raising_panel_errors():
            for tab in SHOWN:
                for layer in LAYERS:
                    ex.tab, ex.layer = tab, layer
                    fresh.tab, fresh.layer = tab, layer
                    np.testing.assert_allclose(
                        ex.panels[tab].values,
                        fresh.panels[tab].values,
                        rtol=1e-5,
                        atol=1e-6,
                        err_msg=f"epoch {epoch}: {tab} {layer}",
                    )
        fresh.close()
    ex.checkpoint = -1
    # Back to live: the activations are the trained model's again, not epoch 2's.
    ex.tab, ex.layer = "activations", "dense"
    live_view = nbviz.explore(model, x, y)
    live_view.tab, live_view.layer, live_view.sample = "activations", "dense", ex.sample
    np.testing.assert_allclose(ex.panels["activations"].values, live_view.panels["activations"].values, rtol=1e-6)
    live_view.close()
    for before, after in zip(start, model.get_weights()):
        assert before.tobytes() == after.tobytes()  # bitwise: the checkpoints were shown on a copy


def test_the_checkpoint_slider_and_the_traitlet_move_together(trained):
    _, live, ex, _, _ = trained
    ex.checkpoint_slider.value = 1
    assert ex.checkpoint == 1 and ex.analysis is not ex.live_analysis
    ex.checkpoint = 2
    assert ex.checkpoint_slider.value == 2
    ex.checkpoint_slider.value = -1
    assert ex.checkpoint == -1 and ex.analysis is ex.live_analysis


@pytest.mark.parametrize(
    ("value", "error", "words"),
    [
        ("1", TypeError, "snapshot index"),
        (True, TypeError, "snapshot index"),
        (4, ValueError, r"\[0, 3\]"),
        (-2, ValueError, "-1"),
    ],
)
def test_a_bad_checkpoint_is_refused_and_changes_nothing(trained, value, error, words):
    _, _, ex, _, _ = trained
    ex.checkpoint = 1
    with pytest.raises(error, match=words):
        ex.checkpoint = value
    assert ex.checkpoint == 1 and ex.checkpoint_slider.value == 1
    ex.checkpoint = -1


def test_an_explorer_without_training_has_only_the_live_model(digits_explorer):
    with pytest.raises(ValueError, match="no training"):
        digits_explorer.checkpoint = 0
    assert digits_explorer.checkpoint == -1 and digits_explorer.checkpoint_slider.layout.display == "none"


def test_checkpoint_model_is_a_copy_with_the_snapshots_weights(trained):
    model, live, _, _, _ = trained
    copy = live.checkpoint_model(1)
    assert copy is not model and [layer.name for layer in copy.layers] == [layer.name for layer in model.layers]
    for kept, loaded in zip(live.snapshots.weights(1, model), copy.get_weights()):
        np.testing.assert_array_equal(kept, loaded)
    with pytest.raises(ValueError, match=r"\[0, 3\]"):
        live.checkpoint_model(7)
    with pytest.raises(TypeError, match="int"):
        live.checkpoint_model("1")


def test_snapshots_past_the_memory_bound_go_to_disk_and_memory_stays_within_it(digits):
    model = _compiled_copy(digits)
    size = _weights_bytes(model)
    bound = int(2.5 * size)
    kept: list[list[np.ndarray]] = []  # an independent record of the weights after each batch
    record = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: kept.append(model.get_weights()))
    live = nbviz.LiveTraining(snapshots=1, max_snapshot_bytes=bound, poll_ui=False)
    # After LiveTraining's batch end (so after its snapshot): the memory Python holds, less the record's.
    held: list[int] = []
    measure = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: held.append(
            tracemalloc.get_traced_memory()[0] - sum(w.nbytes for ws in kept for w in ws)
        )
    )
    tracemalloc.start()
    try:
        model.fit(
            digits.x_train[:320],
            digits.y_train[:320],
            epochs=2,
            batch_size=64,
            verbose=0,
            callbacks=[record, live, measure],
        )
    finally:
        tracemalloc.stop()
    snapshots = live.snapshots
    assert [s.step for s in snapshots] == list(range(11))  # before training, then after every batch
    in_memory = [s.index for s in snapshots if s.path is None]
    assert in_memory == [0, 1] and snapshots.resident_bytes <= bound
    # From the second batch on, every snapshot went to disk: memory grew by far less than the 8 snapshots'
    # worth that keeping them in memory would have taken (Keras's own per-batch objects are the rest).
    assert held[-1] - held[1] < 2 * size, (held, size)
    on_disk = [s for s in snapshots if s.path is not None]
    assert len(on_disk) == 9 and all(s.path.endswith(".weights.h5") and os.path.exists(s.path) for s in on_disk)
    now = [w.copy() for w in model.get_weights()]
    copy = copy_model(model)
    for snapshot in snapshots.items[1:]:  # each as the record has it, read from memory, from its file, or loaded
        for a, b in zip(snapshots.weights(snapshot.index, model), kept[snapshot.index - 1]):
            np.testing.assert_array_equal(a, b)
    for index in (9, 1, 10, 4, 3):  # loaded into a copy, in any order, from disk and from memory
        snapshots.load_into(copy, index)
        for a, b in zip(copy.get_weights(), kept[index - 1]):
            np.testing.assert_array_equal(a, b)
    assert all(np.array_equal(a, b) for a, b in zip(now, model.get_weights()))  # the model itself untouched
    folder = snapshots.folder
    live.close()
    assert len(snapshots) == 0 and not os.path.exists(folder)


def test_reset_forgets_the_snapshots_and_the_explorer_goes_back_to_live(digits):
    model = _compiled_copy(digits)
    live = nbviz.LiveTraining(poll_ui=False)
    ex = nbviz.explore(model, digits.x_test[:16], digits.y_test[:16], training=live)
    model.fit(digits.x_train[:64], digits.y_train[:64], epochs=1, verbose=0, callbacks=[live])
    ex.checkpoint = 0
    live.reset()
    assert ex.checkpoint == -1 and ex.analysis is ex.live_analysis
    assert ex.checkpoint_slider.options == (("live", -1),) and ex.checkpoint_slider.layout.display == "none"
    ex.close()


def test_snapshot_settings_are_checked():
    with pytest.raises(ValueError, match="snapshots: expected 'epoch'"):
        nbviz.LiveTraining(snapshots="batch")
    with pytest.raises(ValueError, match="snapshots"):
        nbviz.LiveTraining(snapshots=0)
    with pytest.raises(ValueError, match="max_snapshot_bytes"):
        nbviz.LiveTraining(max_snapshot_bytes=-1)
    assert len(Snapshots(None)) == 0


def test_a_model_keras_cannot_copy_says_why_and_the_explorer_stays_live():
    from tests.zoo import tied_embedding_example

    case = tied_embedding_example()
    live = nbviz.LiveTraining(poll_ui=False)
    ex = nbviz.explore(case.model, case.x, case.y, training=live)
    case.model.fit(case.x, case.y, epochs=1, verbose=0, callbacks=[live])
    ex.tab = "activations"
    shown = np.array(ex.panels["activations"].values, copy=True)
    ex.checkpoint = 0
    assert "could not copy it" in ex.message.value and ex.checkpoint == -1 and ex.analysis is ex.live_analysis
    np.testing.assert_array_equal(ex.panels["activations"].values, shown)
    ex.sample = 1  # still usable
    assert ex.panels["activations"].error is None
    ex.close()


def test_compare_the_model_with_one_of_its_checkpoints(trained):
    """nbviz.compare(model, live.checkpoint_model(k), x, y): what changed since epoch 1, against numpy."""
    model, live, _, _, (x, y) = trained
    then = live.checkpoint_model(1)
    view = nbviz.compare(model, then, x, y)
    changes = view.comparison.weight_changes().as_dict()
    for layer in ("conv1", "conv2", "dense", "probs"):
        now = np.concatenate([w.ravel() for w in model.get_layer(layer).get_weights()])
        old = np.concatenate([w.ravel() for w in then.get_layer(layer).get_weights()])
        expected = np.linalg.norm(old - now) / np.linalg.norm(now)
        assert changes[layer] == pytest.approx(expected, rel=1e-4), layer
    flips = np.flatnonzero(np.argmax(model(x).numpy(), -1) != np.argmax(then(x).numpy(), -1))
    np.testing.assert_array_equal(view.flips, flips)
    view.close()


def test_frozen_layers_are_kept_once_and_loaded_once(digits):
    """Fine-tuning a head on a frozen backbone: the backbone's weights are the same in every snapshot, so they
    are held once; loads give each snapshot's exact weights whatever the order."""
    model = _compiled_copy(digits)
    for name in ("conv1", "conv2"):
        model.get_layer(name).trainable = False
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy")
    kept: list[list[np.ndarray]] = []
    record = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: kept.append(model.get_weights()))
    live = nbviz.LiveTraining(poll_ui=False)
    model.fit(digits.x_train[:128], digits.y_train[:128], epochs=4, batch_size=64, verbose=0, callbacks=[record, live])
    snapshots = live.snapshots
    frozen = sum(w.nbytes for name in ("conv1", "conv2") for w in model.get_layer(name).get_weights())
    size = _weights_bytes(model)
    assert len(snapshots) == 5 and snapshots.resident_bytes == 5 * size - 4 * frozen
    copy = copy_model(model)
    for index in (4, 1, 3, 2, 4):
        snapshots.load_into(copy, index)
        for a, b in zip(copy.get_weights(), kept[index - 1]):
            np.testing.assert_array_equal(a, b)
    live.close()
