"""The first picture: ``explore()`` checks the data without running the model, returns before the first forward pass
(in a kernel the view draws its first picture in a worker), says what it waits for, stays usable meanwhile, and
then shows the same numbers as a view drawn at once. The model here waits at a gate the test opens."""

from __future__ import annotations

import gc
import threading
import weakref
from typing import Any

import keras
import keras_hub
import numpy as np
import pytest

import nbviz
from nbviz.compute import analyse
from nbviz.ui import shell
from nbviz.ui.panels import worker


class Gate(keras.layers.Layer):
    """Passes its input on; every call first waits for ``opened`` (a second at most) and counts itself, eager
    (concrete values) or traced."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.opened = threading.Event()
        self.eager = self.traced = 0
        self.broken = False

    def call(self, x: Any) -> Any:
        try:
            np.asarray(x)
            self.eager += 1
        except Exception:  # noqa: BLE001 - a symbolic tensor or a tracer: a trace of the compiled pass
            self.traced += 1
        if not self.opened.wait(60):
            raise TimeoutError("the test never opened the gate")
        if self.broken:
            raise ValueError("broken on purpose")
        return x

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape  # building the model calls nothing


def _gated() -> tuple[keras.Model, Gate, np.ndarray, np.ndarray]:
    keras.utils.set_random_seed(1)
    inputs = keras.Input((6,), name="features")
    hidden = keras.layers.Dense(8, activation="relu", name="hidden")(inputs)
    gate = Gate(name="gate")
    out = keras.layers.Dense(3, activation="softmax", name="out")(gate(hidden))
    model = keras.Model(inputs, out, name="gated")
    rng = np.random.default_rng(0)
    return model, gate, rng.normal(size=(20, 6)).astype("float32"), rng.integers(0, 3, 20)


@pytest.fixture
def background(monkeypatch: pytest.MonkeyPatch) -> None:
    """Views draw their first picture in a worker, as in a kernel."""
    monkeypatch.setattr(shell, "BACKGROUND_START", True)


def _workers_end() -> None:
    for thread in threading.enumerate():
        if thread.name == worker.THREAD_NAME:
            thread.join(60)


def test_checking_the_data_runs_no_forward_pass():
    model, gate, x, y = _gated()
    gate.opened.set()
    analysis = analyse(model, x, y)
    assert (gate.eager, gate.traced) == (0, 0)
    assert analysis.data.output_shape == (3,) and analysis.data.is_classifier and analysis.data.n_outputs == 1


def test_explore_returns_before_the_first_pass_and_fills_in_after_it(background):
    model, gate, x, y = _gated()
    ex = nbviz.explore(model, x, y)
    try:
        assert not ex.wait(0)  # the worker waits at the gate: explore() did not
        waiting = "computing: the first forward pass of 4 layers"
        assert waiting in ex.panels["weights"].message.value and waiting in ex.sample_view.text.value
        # Usable meanwhile: a layer, a tab and a sample chosen return at once, and the new tab says what it waits for.
        ex.layer, ex.tab, ex.sample = "out", "activations", 5
        assert not ex.wait(0)
        assert waiting in ex.panels["activations"].message.value
        gate.opened.set()
        assert ex.wait(60)
        # One eager pass (the sample's prediction) before anything compiled; the sample view read the same one.
        expected = keras.ops.convert_to_numpy(model(x[5:6]))[0]
        np.testing.assert_allclose(ex.panels["activations"].values, expected, rtol=1e-5, atol=1e-6)
        assert ex.panels["activations"].error is None and "computing" not in ex.panels["activations"].message.value
        assert f"predicted <b>{int(np.argmax(expected))}</b>" in ex.sample_view.text.value
        assert ex.sample_view.plot.title_text.startswith("sample 5")
        # The weights tab, left while it waited, is drawn when it is shown again, as a view drawn at once draws it.
        ex.tab, ex.layer = "weights", "hidden"  # clicks: the worker draws them
        assert ex.wait(60)
        np.testing.assert_allclose(ex.panels["weights"].values, model.get_layer("hidden").kernel.numpy(), rtol=1e-6)
    finally:
        gate.opened.set()
        ex.close()


def test_the_first_picture_costs_one_eager_pass_and_serves_the_sample_view(background):
    model, gate, x, y = _gated()
    gate.opened.set()
    ex = nbviz.explore(model, x, y)
    assert ex.wait(60)
    assert (gate.eager, gate.traced) == (1, 0)
    assert ex.panels["weights"].error is None and "predicted <b>" in ex.sample_view.text.value
    ex.close()


def test_a_cell_that_sets_the_state_reads_what_it_set(background, monkeypatch):
    model, gate, x, y = _gated()
    ex = nbviz.explore(model, x, y)
    try:
        monkeypatch.setattr(shell, "running_cell", lambda: True)  # as code in a notebook cell
        threading.Timer(0.3, gate.opened.set).start()
        ex.tab, ex.layer = "activations", "hidden"  # waits for the first picture, then draws this
        expected = keras.ops.convert_to_numpy(model.get_layer("hidden")(x[:1]))[0]
        np.testing.assert_allclose(ex.panels["activations"].values, expected, rtol=1e-5, atol=1e-6)
    finally:
        gate.opened.set()
        ex.close()


def test_a_first_pass_that_fails_is_shown_and_the_view_recovers(background):
    model, gate, x, y = _gated()
    gate.broken = True
    gate.opened.set()
    ex = nbviz.explore(model, x, y)
    assert ex.wait(60)
    assert "broken on purpose" in ex.panels["weights"].message.value
    assert "broken on purpose" in ex.message.value  # the sample view's failure, in the header
    gate.broken = False
    ex.refresh()  # what a person does after mending the model
    assert ex.wait(60)
    assert ex.panels["weights"].error is None and "broken" not in ex.message.value
    assert "predicted <b>" in ex.sample_view.text.value
    ex.close()


def test_closing_while_the_first_pass_runs_ends_the_worker_and_lets_the_model_go(background, monkeypatch):
    failures: list[Any] = []
    monkeypatch.setattr(threading, "excepthook", failures.append)
    model, gate, x, y = _gated()
    ex = nbviz.explore(model, x, y)
    ex.close()
    gate.opened.set()
    _workers_end()
    assert failures == [] and ex.wait(0)
    ref = weakref.ref(model)
    del model, ex
    gc.collect()
    assert ref() is None


def test_save_html_waits_for_the_first_picture(background, tmp_path):
    model, gate, x, y = _gated()
    ex = nbviz.explore(model, x, y)
    threading.Timer(0.3, gate.opened.set).start()
    path = ex.save_html(tmp_path / "report.html", layers=["hidden"], samples=[0], tabs=["activations"])
    assert "computing" not in path.read_text() and ex.wait(0)
    ex.close()


def test_known_output_shapes_are_those_of_a_forward_pass():
    from nbviz.compute.model.probe import shared_probe

    keras.utils.set_random_seed(0)
    backbone = keras_hub.models.GPT2Backbone(
        vocabulary_size=50, num_layers=1, num_heads=2, hidden_dim=8, intermediate_dim=16, max_sequence_length=32
    )
    lm = keras_hub.models.GPT2CausalLM(backbone=backbone, preprocessor=None)
    ids = np.arange(2 * 12, dtype="int32").reshape(2, 12) % 50
    inputs = [ids, np.ones_like(ids)] if [t.name for t in lm.inputs][0] == "token_ids" else [np.ones_like(ids), ids]
    probe = shared_probe(lm)
    known = probe.known_output_shapes(inputs)
    assert known == [tuple(np.shape(o)) for o in keras.tree.flatten(lm(probe.structured([a[:1] for a in inputs])))]
    assert known == [(1, 12, 50)]  # the length of these inputs, from the symbolic graph

    class Subclassed(keras.Model):
        def __init__(self) -> None:
            super().__init__()
            self.dense = keras.layers.Dense(2)

        def call(self, x: Any) -> Any:
            return self.dense(x)

    model = Subclassed()
    model(np.zeros((1, 3), "float32"))
    assert shared_probe(model).known_output_shapes([np.zeros((1, 3), "float32")]) is None  # a call must tell


def test_inputs_that_must_fit_each_other_are_checked_by_one_call_that_serves_the_sample_view():
    keras.utils.set_random_seed(2)
    ids, mask = keras.Input((None,), dtype="int32", name="ids"), keras.Input((None,), name="mask")
    gate = Gate(name="gate")
    embedded = gate(keras.layers.Embedding(20, 4, name="embed")(ids))
    masked = keras.layers.Multiply(name="masked")([embedded, keras.layers.Reshape((-1, 1), name="column")(mask)])
    out = keras.layers.Dense(2, activation="softmax", name="out")(keras.layers.GlobalAveragePooling1D()(masked))
    model = keras.Model({"ids": ids, "mask": mask}, out)
    gate.opened.set()
    x = {"ids": np.arange(60, dtype="int32").reshape(6, 10) % 20, "mask": np.ones((6, 10), "float32")}
    with pytest.raises(ValueError, match=r"x: the model cannot be called on inputs of shapes"):
        nbviz.explore(model, {**x, "mask": x["mask"][:, :4]})  # each fits its own spec, not the other
    gate.eager = 0
    ex = nbviz.explore(model, x)
    assert gate.eager == 1  # the check's call, whose prediction the sample view shows
    expected = keras.ops.convert_to_numpy(model({k: v[:1] for k, v in x.items()}))[0]
    assert f"predicted <b>{int(np.argmax(expected))}</b> ({100 * expected.max():.0f}" in ex.sample_view.text.value
    ex.close()


def test_after_the_first_picture_a_click_that_computes_never_waits(background):
    model, gate, x, y = _gated()
    gate.opened.set()
    ex = nbviz.explore(model, x, y)
    try:
        assert ex.wait(60)
        gate.opened.clear()  # the activations tab traces the pass that records every layer: it waits at the gate
        ex.tab, ex.layer = "activations", "hidden"  # a click's change (no cell runs): the worker draws it
        assert not ex.wait(0.2)
        ex.sample = 3  # another while it draws: drawn after, by the same worker
        gate.opened.set()
        assert ex.wait(60)
        expected = keras.ops.convert_to_numpy(model.get_layer("hidden")(x[3:4]))[0]
        np.testing.assert_allclose(ex.panels["activations"].values, expected, rtol=1e-5, atol=1e-6)
        assert ex.sample_view.plot.title_text.startswith("sample 3")
    finally:
        gate.opened.set()
        ex.close()


def test_a_nan_output_predicts_nothing_in_the_sample_view():
    keras.utils.set_random_seed(3)
    inputs = keras.Input((3,), name="features")
    logits = keras.layers.Dense(2, name="logits")(
        keras.layers.Lambda(lambda t: t * keras.ops.log(t), name="log")(inputs)
    )
    model = keras.Model(inputs, keras.layers.Softmax(name="probs")(logits))
    x = np.array([[-1.0, 2.0, 3.0], [1.0, 2.0, 3.0]], "float32")  # log(-1): NaN in sample 0 only
    ex = nbviz.explore(model, x)
    assert "predicted: none (the output is NaN or Inf)" in ex.sample_view.text.value
    ex.sample = 1
    assert "predicted <b>" in ex.sample_view.text.value and "%)" in ex.sample_view.text.value
    ex.close()
