"""NaN and Inf said out loud: samples whose inputs, labels or outputs hold them are left out of every aggregate
(each checked against the same computation on the data without them), and repeated names are refused."""

from __future__ import annotations

import re

import keras
import numpy as np
import pytest
from sklearn import metrics as skm

from nbviz.compute.analysis.analysis import analyse
from nbviz.compute.data.nonfinite import finite_rows
from nbviz.compute.methods.attribution import ShapExplainer, default_background
from nbviz.compute.methods.projection import project
from tests.faults import copy_of, plant_weight

BAD = [pytest.param(np.nan, id="nan"), pytest.param(np.inf, id="inf"), pytest.param(-np.inf, id="-inf")]


@pytest.fixture(scope="module")
def log_model() -> keras.Model:
    """A 3-class softmax whose output is NaN (or -Inf logits) for a sample with a negative (or zero) feature 0,
    and finite elsewhere: inputs finite, output not."""
    keras.utils.set_random_seed(7)
    inp = keras.Input((4,), name="features")
    h = keras.layers.Lambda(lambda t: t + keras.ops.log(t[:, :1]), name="log")(inp)
    # tanh, not relu: TensorFlow's fused MatMul + ReLU (grappler's, in a compiled pass on some CPUs) maps NaN to 0.
    h = keras.layers.Dense(5, activation="tanh", name="hidden")(h)
    out = keras.layers.Dense(3, activation="softmax", name="probs")(h)
    return keras.Model(inp, out, name="log_model")


@pytest.fixture(scope="module")
def dead_model() -> keras.Model:
    """Unit 0 of the ReLU layer is dead on every finite sample (a bias of -100)."""
    keras.utils.set_random_seed(8)
    model = keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(4, activation="relu", name="relu"), keras.layers.Dense(1)]
    )
    kernel, bias = model.get_layer("relu").get_weights()
    bias[0] = -100.0
    model.get_layer("relu").set_weights([kernel * 0.1, bias])
    return model


def _samples(n: int = 40, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.uniform(0.5, 2.0, size=(n, 4)).astype("float32"), rng.integers(0, 3, n)


# ------------------------------------------------------------------------------------------ SHAP
def test_one_nan_feature_leaves_shap_as_computed_without_that_sample(cancer):
    x = cancer.x_test[:120].copy()
    x[3, 5] = np.nan
    a = analyse(cancer.model, x, feature_names=cancer.feature_names, class_names=cancer.class_names)
    assert a.compute_shap_global("auto", 30)
    shown = a.shap_global("auto", 30, None, 5)
    clean = np.delete(x, 3, axis=0)
    # Independently: the same explainer on the data without that row (background: its k-means summary).
    explainer = ShapExplainer(cancer.model, default_background(clean), "auto", probe=a.probe)
    expected = explainer.attribution(clean[:29])
    assert shown.n == 29 and np.isfinite(shown.importance).all()
    np.testing.assert_allclose(shown.importance, np.abs(expected.values).mean(axis=0), rtol=1e-5, atol=1e-7)
    assert shown.note == "1 of 30 samples left out: NaN or Inf in its inputs"
    base = a.refine_shap(0, "auto", None).attribution.base_values[0]
    assert np.isfinite(base) and base == pytest.approx(float(expected.base_values[0]), rel=1e-6)


def test_nan_only_in_the_background_set(cancer):
    x, background = cancer.x_test[:20], cancer.x_test[20:60].copy()
    background[[4, 9], 2] = [np.nan, np.inf]
    a = analyse(cancer.model, x, background=background)
    assert a.compute_shap_global("auto", 10)
    shown = a.shap_global("auto", 10, None, 5)
    expected = ShapExplainer(cancer.model, np.delete(background, [4, 9], axis=0), "auto").attribution(x[:10])
    np.testing.assert_allclose(shown.importance, np.abs(expected.values).mean(axis=0), rtol=1e-5, atol=1e-7)
    assert shown.n == 10 and shown.note == "2 background rows left out: NaN or Inf in their values or outputs"


# ------------------------------------------------------------------------------------------ diagnostics
@pytest.mark.parametrize("bad", BAD)
def test_a_nonfinite_prediction_is_not_counted(log_model, bad):
    x, y = _samples()
    x[[2, 11], 0] = [-1.0, 0.0]  # log: NaN and -Inf, so the softmax is NaN; the inputs stay finite
    x[17, 3] = bad  # and an input that is not finite
    a = analyse(log_model, x, y)
    probs = np.asarray(log_model(x))
    ok = finite_rows([probs, x])
    assert list(np.flatnonzero(~ok)) == [2, 11, 17]
    pred = probs[ok].argmax(axis=1)
    report = a.reports()["data"]
    np.testing.assert_array_equal(report.confusion, skm.confusion_matrix(y[ok], pred, labels=[0, 1, 2]))
    assert report.metrics["accuracy"] == pytest.approx(skm.accuracy_score(y[ok], pred), abs=1e-12)
    assert report.metrics["loss"] == pytest.approx(skm.log_loss(y[ok], probs[ok], labels=[0, 1, 2]), abs=1e-5)
    assert report.metrics["recall"] == pytest.approx(skm.recall_score(y[ok], pred, average="macro"), abs=1e-6)
    assert report.n == 37 and report.left_out == 3
    # Rows map back to the samples: a click on a cell, the misclassified filter.
    np.testing.assert_array_equal(a.misclassified(), np.flatnonzero(ok)[pred != y[ok]])
    table = a.metrics_table()
    assert table.rows[0][1] == 37
    assert table.note == "data: 3 of 40 samples left out: NaN or Inf in their inputs (1) and outputs (2)"


def test_nan_labels_are_left_out_and_the_projector_works(log_model):
    x, y = _samples()
    labels = y.astype("float64")
    labels[[5, 6]] = np.nan
    a = analyse(log_model, x, labels)
    assert a.left_out().note() == "2 of 40 samples left out: NaN or Inf in their labels"
    probs = np.asarray(log_model(x))
    keep = np.ones(40, bool)
    keep[[5, 6]] = False
    pred = probs.argmax(axis=1)
    report = a.reports()["data"]
    assert report.metrics["accuracy"] == pytest.approx(skm.accuracy_score(y[keep], pred[keep]), abs=1e-12)
    colours = a.point_colors("true label")  # raised IndexError: index -9223372036854775808
    assert np.isnan(colours.values[[5, 6]]).all() and np.array_equal(colours.values[keep], y[keep])
    shown = a.projection("hidden")
    assert np.isnan(shown.coords[[5, 6]]).all() and np.isfinite(shown.coords[keep]).all()
    expected = project(log_model, x[keep], "hidden", probe=a.probe)
    np.testing.assert_allclose(shown.coords[keep], expected.coords, rtol=1e-4, atol=1e-5)
    assert shown.note == "2 of 40 samples left out: NaN or Inf in their labels"
    assert a.prediction(5).label == "nan" and a.prediction(5).correct is None
    assert a.selection_table({"some": np.array([4, 5, 6, 7])}).rows[1][1] == 2


# ------------------------------------------------------------------------------------------ rules, dead units
@pytest.mark.parametrize("bad", BAD)
def test_rules_and_dead_units_leave_the_sample_out(dead_model, bad):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(30, 3)).astype("float32")
    x[4, 1] = bad
    a = analyse(dead_model, x)
    clean = analyse(dead_model, np.delete(x, 4, axis=0))
    dead, expected = a.dead_units()["relu"], clean.dead_units()["relu"]
    assert dead.dead[0] and np.array_equal(dead.dead, expected.dead) and dead.n_samples == 29
    assert dead.note == "1 of 30 samples left out: NaN or Inf in its inputs"
    rules, expected_rules = a.rules(2, None), clean.rules(2, None)
    assert [r.text for r in rules.rules.rules] == [r.text for r in expected_rules.rules.rules]
    assert rules.note == "1 of 30 samples left out: NaN or Inf in its inputs"


def test_nan_in_a_second_input(two_input_model):
    rng = np.random.default_rng(4)
    a_in, b_in = rng.normal(size=(2, 25, 4)).astype("float32")
    b_in[6, 2] = np.nan
    a = analyse(two_input_model, [a_in, b_in])
    assert a.left_out().note() == "1 of 25 samples left out: NaN or Inf in its inputs"
    clean = analyse(two_input_model, [np.delete(a_in, 6, axis=0), np.delete(b_in, 6, axis=0)])
    assert a.dead_units()["cat"].n_samples == 24
    shown, expected = a.projection("cat"), clean.projection("cat")
    np.testing.assert_allclose(np.delete(shown.coords, 6, axis=0), expected.coords, rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------------------------------ all NaN
def test_a_model_whose_outputs_are_all_nan_says_so(cancer):
    model = copy_of(cancer.model)
    plant_weight(model.layers[-1].bias, (0,), np.nan)
    x, y = cancer.x_test[:30], cancer.y_test[:30]
    a = analyse(model, x, y)
    said = "The model's output is NaN or Inf for every one of the 30 samples"
    for answer in (a.reports(), a.confusion("data"), a.rules(2, None), a.projection(a.graph.names[-2])):
        assert answer.reason.startswith(said)
    assert a.shap_unavailable().startswith(said) and a.outputs_note(0).startswith(said)
    assert a.metrics_table().rows == ()


# ------------------------------------------------------------------------------------------ names
def test_repeated_class_names_are_refused(cancer):
    labels = np.array(["cat", "cat"])[cancer.y_test[:30]]  # two classes merged into one, silently, before
    with pytest.raises(ValueError, match=re.escape("class_names: expected distinct names, got 'cat' twice")):
        analyse(cancer.model, cancer.x_test[:30], labels, class_names=["cat", "cat"])


def test_repeated_feature_names_are_refused(cancer):
    names = list(cancer.feature_names)
    names[4], names[7], names[9] = names[1], names[1], names[2]
    message = f"feature_names: expected distinct names, got {names[1]!r} 3 times, {names[2]!r} twice"
    with pytest.raises(ValueError, match=re.escape(message)):
        analyse(cancer.model, cancer.x_test[:30], feature_names=names)
