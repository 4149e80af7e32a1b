"""Health checks: each planted problem is found, named and quantified; the healthy demos raise no alarm."""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import pytest

from nbviz.compute.methods.diagnostics import diagnose
from nbviz.compute.methods.findings import DEAD_WARNING, Finding, findings
from nbviz.compute.model.probe import Probe
from tests.faults import plant_weight

RNG = np.random.default_rng(0)
X = RNG.normal(size=(64, 5)).astype("float32")


def mlp(activation: str | None = "relu", seed: int = 0, units: int = 8) -> keras.Model:
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input((5,)),
            keras.layers.Dense(units, activation=activation, name="hidden"),
            keras.layers.Dense(3, activation="softmax", name="probs"),
        ]
    )


def kinds(found: list[Finding]) -> dict[str, Finding]:
    return {f.kind: f for f in found}


@pytest.mark.parametrize("name", ["digits", "cancer"])
def test_healthy_demos_raise_no_alarm(name, request):
    demo = request.getfixturevalue(name)
    datasets = {"train": (demo.x_train, demo.y_train), "test": (demo.x_test, demo.y_test)}
    probe = Probe(demo.model)
    with_labels = findings(demo.model, demo.x_test, demo.y_test, datasets=datasets, probe=probe)
    without = findings(demo.model, demo.x_test, datasets=datasets, class_names=demo.class_names, probe=probe)
    assert [f for f in with_labels + without if f.severity != "info"] == []


def test_dead_relu_layer_is_found():
    model = mlp("relu")
    model.get_layer("hidden").bias.assign(np.full(8, -100.0, "float32"))
    dead = kinds(findings(model, X))["dead_units"]
    assert (dead.layer, dead.severity, dead.value, dead.panel) == ("hidden", "critical", 1.0, "activations")
    assert dead.message == "hidden: 100% of 8 ReLU units never activate on 64 samples."


def test_partly_dead_layer_is_rated_by_its_share():
    model = mlp("relu", units=10)
    bias = np.zeros(10, "float32")
    bias[:6] = -100.0  # 6 of 10 units dead
    model.get_layer("hidden").bias.assign(bias)
    dead = kinds(findings(model, X))["dead_units"]
    assert dead.value == pytest.approx(0.6) and dead.severity == "warning" and DEAD_WARNING <= 0.6
    assert "60% of 10 ReLU units" in dead.message


def test_nan_weight_is_critical_and_named():
    model = mlp("relu")
    plant_weight(model.get_layer("hidden").kernel, (0, 0), np.nan)
    found = findings(model, X)
    assert found[0].severity == "critical"
    bad = kinds(found)["nonfinite_weights"]
    assert (bad.layer, bad.severity, bad.value, bad.panel) == ("hidden", "critical", 1.0, "weights")
    assert bad.message == "hidden: 1 of 48 weights is NaN or Inf."


def test_nan_activations_name_the_first_layer():
    model = mlp(None)  # no ReLU, which would turn NaN into 0
    plant_weight(model.get_layer("hidden").kernel, (2, 3), np.inf)
    x = X.copy()
    x[:16, 2] = 0.0  # inf * 0 is NaN: every sample is hit, either by inf or by NaN
    bad = kinds(findings(model, x))["nonfinite_activations"]
    assert (bad.layer, bad.severity, bad.value) == ("hidden", "critical", 1.0)
    assert bad.message == "hidden: outputs NaN or Inf for 100% of 64 samples (and 1 later layer)."


def test_saturated_tanh_layer_is_found():
    model = mlp("tanh")
    layer = model.get_layer("hidden")
    layer.kernel.assign(layer.kernel.numpy() * 1000)
    found = kinds(findings(model, X))
    sat = found["saturated_units"]
    assert (sat.layer, sat.severity, sat.value, sat.panel) == ("hidden", "critical", 1.0, "activations")
    assert "100% of 8 tanh units are saturated" in sat.message
    assert "saturated_units" not in kinds(findings(mlp("tanh"), X))  # the same layer with sane weights


def deep(*names_and_activations: tuple[str, str | None]) -> keras.Model:
    keras.utils.set_random_seed(0)
    layers = [keras.layers.Dense(8, activation=a, name=n) for n, a in names_and_activations]
    return keras.Sequential([keras.Input((5,)), *layers, keras.layers.Dense(1, name="out")])


def test_vanishing_gradients():
    model = deep(("a", "tanh"), ("b", "tanh"), ("c", "tanh"))
    model.get_layer("b").kernel.assign(model.get_layer("b").kernel.numpy() * 1e-6)
    found = [f for f in findings(model, X, RNG.normal(size=64)) if f.kind.endswith("_gradients")]
    assert [(f.kind, f.layer) for f in found] == [("vanishing_gradients", "a")]
    assert found[0].value < 1e-5 and found[0].panel == "gradients" and f"{found[0].value:.2g}" in found[0].message


def test_exploding_gradients():
    model = deep(("a", "tanh"), ("b", "tanh"), ("big", None))
    model.get_layer("big").kernel.assign(model.get_layer("big").kernel.numpy() * 1e5)
    found = [f for f in findings(model, X, RNG.normal(size=64)) if f.kind.endswith("_gradients")]
    # Every layer explodes in absolute terms; none is called vanishing because the median is huge.
    assert {f.kind for f in found} == {"exploding_gradients"} and {"a", "b", "out"} <= {f.layer for f in found}
    assert all(f.value > 1e3 for f in found) and found[0].severity == "critical"


def test_small_gradients_never_explode():
    # The output layer's kernel scaled by 1e-6 scales every earlier layer's gradient by as much, not its own: the
    # output layer gets over 1e3 x the median norm, though every norm is far below 1 (small, not exploding). The
    # same made MobileNetV3Small at random initialisation "explode" at 9.5e-05 against a median of 4.3e-11.
    model = deep(("a", "tanh"), ("b", "tanh"), ("c", "tanh"))
    model.get_layer("out").kernel.assign(model.get_layer("out").kernel.numpy() * 1e-6)
    y = RNG.normal(size=64).astype("float32")
    probe = Probe(model)
    norms = probe.gradient_norms(probe.gradients(X, y))
    assert norms["out"] > 1e3 * np.median(list(norms.values())) and max(norms.values()) < 1  # the planted shape
    found = [f for f in findings(model, X, y, probe=probe) if f.kind.endswith("_gradients")]
    assert "exploding_gradients" not in {f.kind for f in found}


@pytest.fixture(scope="module")
def memorised():
    """A wide MLP that has memorised 30 random labels, with fresh random data to test it on."""
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(1)
    x_train, y_train = rng.normal(size=(30, 20)).astype("float32"), rng.integers(0, 2, 30)
    x_test, y_test = rng.normal(size=(200, 20)).astype("float32"), rng.integers(0, 2, 200)
    model = keras.Sequential(
        [keras.Input((20,)), keras.layers.Dense(128, activation="relu"), keras.layers.Dense(2, activation="softmax")]
    )
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
    model.fit(x_train, y_train, epochs=80, batch_size=30, verbose=0)
    return model, {"train": (x_train, y_train), "test": (x_test, y_test)}


def test_overfitting_is_found(memorised):
    model, datasets = memorised
    reports = diagnose(model, datasets)
    gap = reports["train"].metrics["accuracy"] - reports["test"].metrics["accuracy"]
    assert reports["train"].metrics["accuracy"] == 1.0 and gap >= 0.25
    over = kinds(findings(model, *datasets["test"], datasets=datasets))["overfitting"]
    assert (over.severity, over.layer, over.panel) == ("critical", None, "diagnostics")
    assert over.value == pytest.approx(gap)
    assert f"gap {gap:.0%}" in over.message and "100% on train" in over.message


def test_regression_overfitting_by_mse_ratio():
    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(1, name="out")])
    clean = Probe(model).predict(X)[:, 0]
    datasets = {"train": (X, clean + 0.1), "valid": (X, clean + 0.3)}  # mse 0.01 against 0.09
    over = kinds(findings(model, X, datasets=datasets))["overfitting"]
    assert over.value == pytest.approx(9.0, rel=1e-3) and over.severity == "critical"
    assert "9.0x" in over.message


def test_error_concentration_names_the_class(digits):
    probe = Probe(digits.model)
    pred = np.argmax(probe.predict(digits.x_test), axis=1)
    y = digits.y_test.copy()
    planted = np.flatnonzero((pred != 3) & (y == pred))[:25]
    y[planted] = 3  # 25 new errors, all of true class "3"
    errors = y != pred
    share = np.mean(y[errors] == 3)
    found = kinds(findings(digits.model, digits.x_test, y, class_names=digits.class_names, probe=probe))
    conc = found["error_concentration"]
    assert (conc.class_name, conc.panel, conc.layer) == ("3", "diagnostics", None)
    assert conc.value == pytest.approx(share) and conc.severity == ("warning" if share >= 0.75 else "info")
    assert f"{share:.0%} of the {errors.sum()} errors" in conc.message and "'3'" in conc.message


def test_order_frozen_and_bad_input():
    model = mlp("relu")
    model.get_layer("hidden").bias.assign(np.full(8, -100.0, "float32"))
    plant_weight(model.get_layer("probs").kernel, (0, 0), np.nan)
    found = findings(model, X)
    ranks = [("critical", "warning", "info").index(f.severity) for f in found]
    assert ranks == sorted(ranks) and {"dead_units", "nonfinite_weights"} <= set(kinds(found))
    with pytest.raises(dataclasses.FrozenInstanceError):
        found[0].value = 0.0  # type: ignore[misc]
    with pytest.raises(ValueError, match="limit: expected a positive int, got 0"):
        findings(model, X, limit=0)
    with pytest.raises(TypeError, match="datasets: expected a non-empty dict"):
        findings(model, X, datasets=[(X, None)])
    with pytest.raises(ValueError, match="y: expected labels for 64 samples"):
        findings(model, X, np.zeros(3))
    with pytest.raises(ValueError, match="probe: expected a Probe of model"):
        findings(model, X, probe=Probe(mlp("tanh")))
