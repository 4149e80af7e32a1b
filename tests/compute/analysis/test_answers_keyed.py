"""An answer is keyed by everything it depends on: the weights, the compiled loss and its configuration.

The oracle for a gradient is the objective ``fit`` differentiates, written out here with the model's own loss
objects and loss weights, taken by central differences in float64 on the weights (any backend).
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from nbviz.compute import analyse
from nbviz.compute.model.losses import loss_config
from nbviz.compute.model.probe import shared_probe
from nbviz.compute.model.version import ModelVersion


def _regressor(seed: int = 7) -> keras.Model:
    keras.utils.set_random_seed(seed)
    x = keras.Input((3,), name="features")
    h = keras.layers.Dense(4, activation="tanh", name="hidden")(x)
    a = keras.layers.Dense(1, name="a")(h)
    b = keras.layers.Dense(2, name="b")(h)
    return keras.Model(x, [a, b], name="two_heads")


def _data(rng: np.random.Generator) -> tuple[np.ndarray, list[np.ndarray]]:
    x = rng.normal(size=(6, 3)).astype(np.float32)
    return x, [rng.normal(size=(6, 1)).astype(np.float32), rng.normal(size=(6, 2)).astype(np.float32)]


def _objective(model: keras.Model, x: np.ndarray, y: list[np.ndarray], losses: list, weights: list[float]) -> float:
    """The weighted sum of each output's mean loss, in float64 numpy (the model's forward pass, then the losses)."""
    outs = [np.asarray(o, np.float64) for o in model(x)]
    return float(sum(w * np.mean(np.asarray(loss(t, o))) for loss, w, t, o in zip(losses, weights, y, outs)))


def _central_difference(model, x, y, losses, weights, variable, index, eps=1e-3) -> float:
    values = variable.numpy().astype(np.float64)
    flat = values.reshape(-1)
    original = flat[index]
    flat[index] = original + eps
    variable.assign(values.astype(np.float32))
    up = _objective(model, x, y, losses, weights)
    flat[index] = original - eps
    variable.assign(values.astype(np.float32))
    down = _objective(model, x, y, losses, weights)
    flat[index] = original
    variable.assign(values.astype(np.float32))
    return (up - down) / (2 * eps)


def _mse(t, o):
    return np.mean((np.asarray(t, np.float64) - o) ** 2, axis=-1)


def _mae(t, o):
    return np.mean(np.abs(np.asarray(t, np.float64) - o), axis=-1)


def test_compiling_again_changes_the_version_and_the_gradients(rng):
    model = _regressor()
    x, y = _data(rng)
    model.compile(loss=["mse", "mse"])
    analysis = analyse(model, x, y)
    kernel = model.get_layer("hidden").kernel
    before_version = analysis.version
    before = np.asarray(analysis.gradients(0).weights["hidden"][0])
    # The same model compiled again: another loss for the second head, and loss weights.
    model.compile(loss=["mse", "mae"], loss_weights=[0.5, 10.0])
    assert analysis.version != before_version  # every answer of the old objective is out of date
    after = np.asarray(analysis.gradients(0).weights["hidden"][0])
    for index in (0, 5, 11):
        expected = _central_difference(model, x[:1], [t[:1] for t in y], [_mse, _mae], [0.5, 10.0], kernel, index)
        np.testing.assert_allclose(after.reshape(-1)[index], expected, rtol=2e-2, atol=2e-4)
    assert not np.allclose(after, before, atol=1e-4)
    assert "mae" in analysis.loss_text and "mse" in analysis.loss_text
    # A new analysis of the same model shares its probe: it shows the new loss's gradients too.
    fresh = analyse(model, x, y)
    np.testing.assert_allclose(np.asarray(fresh.gradients(0).weights["hidden"][0]), after, rtol=1e-5, atol=1e-7)


def test_the_same_weights_compiled_back_find_their_answers_again(rng):
    model = _regressor(8)
    x, y = _data(rng)
    model.compile(loss="mse")
    analysis = analyse(model, x, y)
    first = analysis.version
    analysis.gradients(0)
    model.compile(loss="mae")
    assert analysis.version != first
    model.compile(loss="mse")
    assert analysis.version == first and analysis.cached("gradients", 0)


@pytest.mark.parametrize(
    "change",
    [
        lambda m: m.compile(loss=keras.losses.MeanSquaredError(reduction="sum")),
        lambda m: m.compile(loss=keras.losses.Huber(delta=0.5)),
        lambda m: m.compile(loss="mse", loss_weights=[2.0, 1.0]),
        lambda m: m.compile(loss={"a": "mse", "b": "mae"}),
    ],
    ids=["reduction", "loss object config", "loss weights", "loss per output name"],
)
def test_every_part_of_the_loss_configuration_is_in_the_key(change):
    model = _regressor(9)
    model.compile(loss=keras.losses.Huber(delta=1.0))
    before = loss_config(model)
    change(model)
    assert loss_config(model) != before


def test_from_logits_compiled_later_makes_the_head_logits():
    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="head")])
    model.compile(loss="mse")
    probe = shared_probe(model)
    assert probe.output_kinds == ["values"]
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    assert probe.output_kinds == ["softmax logits"]


def test_work_that_spans_a_fit_is_not_stored(rng, monkeypatch):
    """The SHAP worker's global estimate while ``fit`` runs in the kernel: not stored under the old version, even
    when the old weights come back before it ends."""
    keras.utils.set_random_seed(11)
    model = keras.Sequential(
        [
            keras.Input((4,), name="f"),
            keras.layers.Dense(6, activation="relu"),
            keras.layers.Dense(2, activation="softmax"),
        ]
    )
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    x = rng.normal(size=(24, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    analysis = analyse(model, x, y)
    version = analysis.version
    weights = model.get_weights()

    def fit_meanwhile(share: float) -> None:
        if share < 1:  # between two chunks, as a cell running fit would
            model.fit(x, y, epochs=1, verbose=0)
            model.set_weights(weights)  # and the weights come back

    done = analysis.compute_shap_global("kernel", 20, progress=fit_meanwhile, version=version, chunk=10)
    assert not done and analysis.version == version  # the same weights, the same version...
    assert analysis.shap_global("kernel", 20, None, 5) is None  # ...but the mixed estimate was not kept
    assert analysis.compute_shap_global("kernel", 20, version=version, chunk=10)  # undisturbed: kept
    assert analysis.shap_global("kernel", 20, None, 5) is not None


def test_a_worker_answer_is_dropped_when_the_weights_change_while_it_runs(rng):
    keras.utils.set_random_seed(12)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    x = rng.normal(size=(5, 4)).astype(np.float32)
    analysis = analyse(model, x)
    kernel = model.layers[-1].kernel

    def changes_meanwhile() -> dict:
        out = analysis.probe.activations(x[:1])
        kernel.assign(kernel.numpy() * 2.0)  # another thread's set_weights while this computes
        return out

    version = analysis.version
    analysis._ask(("activations", 0), changes_meanwhile)  # noqa: SLF001 - the memo's one door, driven directly
    assert not analysis.cached("activations", 0, version=version)


def test_the_version_reads_the_loss_only_when_the_gate_moves(digits, monkeypatch):
    import nbviz.compute.model.version as version_module

    count = [1]
    monkeypatch.setattr(version_module, "_execution_count", lambda: count[0])
    model = keras.models.clone_model(digits.model)
    model.compile(loss="sparse_categorical_crossentropy")
    versions = ModelVersion(model)
    first = versions.current()
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(ignore_class=0))
    assert versions.current() == first  # same cell: the gate holds
    count[0] += 1  # the cell ends: the after-cell check reads again
    assert versions.current() != first


def test_live_training_takes_the_loss_of_each_compile(rng):
    """LiveTraining's gradient norms after compiling again: of the new loss (here ten times the old one), not of
    the loss its probe was first traced with. A learning rate of 0 keeps the weights, so only the loss differs."""
    import nbviz

    model = _regressor(13)
    x, y = _data(rng)
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss=["mse", "mse"])
    live = nbviz.LiveTraining(monitor=(x, y), every=1)
    model.fit(x, y, epochs=1, batch_size=6, callbacks=[live], verbose=0)
    before = live.history["grad_norm"][-1]
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss=["mse", "mse"], loss_weights=[10.0, 10.0])
    model.fit(x, y, epochs=1, batch_size=6, callbacks=[live], verbose=0)
    after = live.history["grad_norm"][-1]
    assert np.all(np.isfinite(before)) and np.all(before > 0)
    np.testing.assert_allclose(after, 10 * before, rtol=1e-4)
    live.close()
