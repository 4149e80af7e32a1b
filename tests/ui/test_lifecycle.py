"""Lifecycle and edges: close() closes every widget a view made and lets go of the model; a comparison's report;
LiveTraining on a frozen model and with a failing monitor; file errors naming the path; actions that cannot apply
are not offered; inputs that are no array are named."""

from __future__ import annotations

import gc
import html
import warnings
import weakref
from pathlib import Path

import keras
import numpy as np
import pytest

import nbviz
from nbviz.testing import live_widgets


def _copy(model: keras.Model) -> keras.Model:
    """A model of its own (the demos are cached and shared by the other tests), with the same weights."""
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


def _dead(ref: weakref.ref) -> bool:
    gc.collect()
    return ref() is None


def _mlp(name: str = "mlp", trainable: bool = True) -> keras.Model:
    keras.utils.set_random_seed(3)
    model = keras.Sequential(
        [
            keras.Input((5,), name="features"),
            keras.layers.Dense(4, activation="relu", name="hidden"),
            keras.layers.Dense(3, activation="softmax", name="probs"),
        ],
        name=name,
    )
    model.trainable = trainable
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    return model


X = np.random.default_rng(0).normal(size=(48, 5)).astype(np.float32)
Y = np.arange(48) % 3


# ----------------------------------------------------------------------------------------- close
@pytest.mark.parametrize("still_referenced", [True, False], ids=["explorer-kept", "explorer-dropped"])
def test_close_closes_every_widget_and_frees_the_model(digits, still_referenced):
    model = _copy(digits.model)
    ref = weakref.ref(model)
    before = live_widgets()
    ex = nbviz.explore(model, digits.x_test[:20], digits.y_test[:20], class_names=digits.class_names)
    for tab in ex.panels:  # every tab drawn: the widgets some make only when first shown are counted too
        ex.tab = tab
    assert live_widgets() - before > 500  # the Explorer is made of many widgets, not one
    ex.close()
    assert live_widgets() == before
    del model
    if not still_referenced:
        del ex
    assert _dead(ref)  # the guarantee holds while the closed Explorer is still referenced (as Out[] keeps it)


def test_close_twice_and_the_closed_explorer_says_so(cancer):
    before = live_widgets()
    ex = nbviz.explore(_copy(cancer.model), cancer.x_test[:10])
    ex.close()
    ex.close()  # nothing more to do, and no error
    assert live_widgets() == before
    assert ex.comm is None and ex.panels == {} and ex.children == ()
    assert not hasattr(ex, "analysis")


def test_close_while_the_shap_worker_runs(cancer):
    model = _copy(cancer.model)
    ref = weakref.ref(model)
    before = live_widgets()
    ex = nbviz.explore(model, cancer.x_test[:40], feature_names=cancer.feature_names)
    ex.tab = "shap"
    panel = ex.panels["shap"]
    panel.start_global()  # a thread that reads the model
    worker = panel._worker
    assert worker is not None and worker.is_alive()
    ex.close()  # stops it and waits for it before closing its widgets
    assert not worker.is_alive()
    assert live_widgets() == before
    del model, panel
    assert _dead(ref)


def test_close_while_the_units_panel_maximises(digits):
    model = _copy(digits.model)
    ref = weakref.ref(model)
    before = live_widgets()
    ex = nbviz.explore(model, digits.x_test[:20])
    ex.navigate(layer="conv2", tab="units")
    panel = ex.panels["units"]
    panel.start()
    job = panel._job.job
    ex.close()
    assert job.done.is_set()  # cancelled and waited for
    assert live_widgets() == before
    del model, panel, job
    assert _dead(ref)


def test_compare_view_close(digits):
    a, b = _copy(digits.model), _copy(digits.model)
    refs = [weakref.ref(a), weakref.ref(b)]
    before = live_widgets()
    view = nbviz.compare(a, b, digits.x_test[:20], digits.y_test[:20])
    for tab in view.panels:
        view.tab = tab
    view.close()
    assert live_widgets() == before
    del a, b
    assert all(_dead(r) for r in refs)


def test_live_training_close_and_the_explorer_leaves_its_view_open():
    model = _mlp()
    before = live_widgets()
    live = nbviz.LiveTraining(monitor=(X[:16], Y[:16]), every=2)
    model.fit(X, Y, epochs=2, batch_size=16, callbacks=[live], verbose=0)
    with_live = live_widgets()
    ex = nbviz.explore(model, X[:10], Y[:10], training=live)
    ex.tab = "training"
    ex.close()
    # The callback is the user's: the Explorer showed its view but does not close it, nor keep listening.
    assert live_widgets() == with_live and live.view.widget.comm is not None
    assert live.listeners == []
    live.draw(force=True)  # still usable
    live.close()
    assert live_widgets() == before
    assert live.history["batch_loss"].shape == (6,)  # the history outlives the display


# ----------------------------------------------------------------------------------------- compare report
def test_compare_save_html_writes_both_models(digits, tmp_path: Path):
    a, b = _copy(digits.model), _copy(digits.model)
    b.name = "tuned"  # a name of its own, so the report can be seen to hold both
    b.get_layer("probs").bias.assign(b.get_layer("probs").bias.numpy() + 1.0)
    view = nbviz.compare(a, b, digits.x_test[:10], digits.y_test[:10])
    try:
        path = view.save_html(tmp_path / "compare.html", layers=["probs"], samples=[0, 1], tabs=list(view.panels))
    finally:
        view.close()
    text = path.read_text(encoding="utf-8")
    assert f"<title>nbviz report: {a.name} vs tuned</title>" in text
    for tab in ("weights", "activations", "gradients", "predictions"):
        assert f'data-tab="{tab}"' in text
    assert text.count("<svg") >= 4  # the figures are drawn, not only named
    assert "B - A" in text


# ----------------------------------------------------------------------------------------- LiveTraining
def test_a_frozen_model_with_a_monitor_trains_and_records_its_losses():
    model = _mlp(trainable=False)
    live = nbviz.LiveTraining(monitor=(X[:16], Y[:16]), every=2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(X, Y, epochs=2, batch_size=16, callbacks=[live], verbose=0)
    # Keras warns of the frozen model; nbviz does not: nothing went wrong.
    assert [str(w.message) for w in caught if "nbviz" in str(w.message)] == []
    h = live.history
    # No optimizer step is applied to a frozen model (Keras's count stays 0): steps are the batches seen.
    np.testing.assert_array_equal(h["batch_step"], np.arange(1, 7))
    np.testing.assert_array_equal(h["epoch_step"], [3, 6])
    assert h["batch_loss"].shape == (6,) and np.all(np.isfinite(h["batch_loss"]))
    # Nothing learns: both epochs have the same loss.
    np.testing.assert_allclose(h["loss"][0], h["loss"][1], rtol=1e-6)
    assert h["layers"] == [] and h["grad_step"].shape == (0,) and h["grad_norm"].shape == (0, 0)
    status = live.view.status.value
    assert "No layer statistics: the model has no trainable weights; only losses are recorded." in status
    assert "Gradient norms" not in status
    live.close()


def test_a_monitor_failure_during_fit_is_shown_and_fit_goes_on(monkeypatch):
    model = _mlp()
    live = nbviz.LiveTraining(monitor=(X[:16], Y[:16]), every=1)
    calls = {"n": 0}
    record = live.recorder.record

    def failing() -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("the monitor broke")
        record()

    monkeypatch.setattr(live.recorder, "record", failing)
    with pytest.warns(UserWarning, match="Layer statistics stopped at step 2") as caught:
        history = model.fit(X, Y, epochs=2, batch_size=16, callbacks=[live], verbose=0)
    assert len(caught) == 1  # warned once, not once per batch
    assert len(history.history["loss"]) == 2  # the fit ran to its end
    h = live.history
    assert h["batch_loss"].shape == (6,)
    np.testing.assert_array_equal(h["grad_step"], [0, 1])  # the records before the failure are kept
    assert calls["n"] == 3  # none tried after it
    expected = "Layer statistics stopped at step 2: recording layer statistics: RuntimeError: the monitor broke"
    assert live.recorder.failure == expected
    assert expected in live.view.status.value
    live.close()


def test_a_bad_monitor_does_not_abort_fit():
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(1, name="out")], name="regressor")
    model.compile(optimizer="sgd", loss="mse")
    live = nbviz.LiveTraining(monitor=X[:8])  # a regressor's loss needs y
    with pytest.warns(UserWarning, match="monitor: expected \\(x, y\\) to take the loss of a regression model"):
        model.fit(X, X[:, 0], epochs=1, batch_size=16, callbacks=[live], verbose=0)
    assert live.history["batch_loss"].shape == (3,)
    assert live.recorder.failure.startswith("Layer statistics stopped at step 0: reading the monitoring data")
    live.close()


# ----------------------------------------------------------------------------------------- file errors
def test_save_html_file_errors_name_the_path(cancer, tmp_path: Path, monkeypatch):
    ex = nbviz.explore(cancer.model, cancer.x_test[:5])
    try:
        with pytest.raises(ValueError, match=f"path: expected a file path, got the folder '{tmp_path}'"):
            ex.save_html(tmp_path)
        missing = tmp_path / "missing" / "r.html"
        with pytest.raises(ValueError, match=f"path: expected a file in an existing folder, got '{missing}'"):
            ex.save_html(missing)
        a_file = tmp_path / "a_file"
        a_file.write_text("")
        with pytest.raises(ValueError, match="path: expected a file in an existing folder"):
            ex.save_html(a_file / "r.html")  # its "folder" is a file

        def refused(self: Path, *args: object, **kwargs: object) -> None:
            raise PermissionError(13, "Permission denied")

        monkeypatch.setattr(Path, "write_text", refused)  # as a read-only folder does (tests may run as root)
        target = tmp_path / "r.html"
        with pytest.raises(PermissionError, match=f"path: cannot write the report to '{target}': Permission denied"):
            ex.save_html(target, tabs=["weights"], samples=[0])
    finally:
        ex.close()


# ----------------------------------------------------------------------------------------- not offered
def test_units_tab_does_not_offer_maximise_on_token_ids():
    keras.utils.set_random_seed(4)
    model = keras.Sequential(
        [
            keras.Input((6,), dtype="int32", name="tokens"),
            keras.layers.Embedding(20, 4, name="embedding"),
            keras.layers.GlobalAveragePooling1D(name="pool"),
            keras.layers.Dense(3, activation="softmax", name="probs"),
        ],
        name="tokens_model",
    )
    x = np.random.default_rng(1).integers(0, 20, size=(12, 6))
    ex = nbviz.explore(model, x)
    try:
        ex.navigate(layer="pool", tab="units")
        panel = ex.panels["units"]
        assert panel.error is None
        assert panel.climb.layout.display == "none"  # no button to press
        reason = (
            "Maximise activation is not offered: it climbs the input along its gradient, and this model's input "
            "is int32 (token ids or flags), which has none."
        )
        assert html.escape(reason) in panel.result.value
        panel.start(wait=True)  # from code: nothing runs, nothing fails
        assert panel._job.job is None and panel.error is None
        assert ex.analysis.maximize("pool", 0).reason == reason
    finally:
        ex.close()


def test_units_tab_offers_maximise_on_float_inputs(cancer):
    ex = nbviz.explore(cancer.model, cancer.x_test[:10])
    try:
        ex.navigate(layer=ex.analysis.graph.names[1], tab="units")
        panel = ex.panels["units"]
        assert panel.climb.layout.display is None and ex.analysis.maximize_reason() == ""
    finally:
        ex.close()


# ----------------------------------------------------------------------------------------- what was given
def _generator():
    yield from X


def _cases():
    import scipy.sparse
    import tensorflow as tf

    return [
        ("generator", lambda: _generator(), "got a generator; collect its samples into an array first"),
        ("iterator", lambda: iter(list(X)), r"got an iterator \(list_iterator\)"),
        ("scipy.sparse", lambda: scipy.sparse.csr_matrix(X), r"got a scipy.sparse csr_matrix of shape \(48, 5\)"),
        ("tf.sparse", lambda: tf.sparse.from_dense(X), r"got a sparse tensor \(tf.SparseTensor\) of shape \(48, 5\)"),
        ("ragged", lambda: tf.ragged.constant([[1.0], [2.0, 3.0]]), r"got a tf.RaggedTensor of shape \(2, None\)"),
    ]


@pytest.mark.parametrize("index", range(5), ids=["generator", "iterator", "scipy.sparse", "tf.sparse", "ragged"])
def test_x_that_is_no_array_is_named(index):
    _, make, words = _cases()[index]
    with pytest.raises(TypeError, match="^x: expected a numeric array, " + words):
        nbviz.explore(_mlp(), make())
