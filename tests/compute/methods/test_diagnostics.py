"""Diagnostics: every metric against sklearn or a direct recomputation, on both demos and tiny models."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from sklearn import metrics as skm

from nbviz.compute.methods import diagnostics
from nbviz.compute.methods.diagnostics import CALIBRATION_BINS, DatasetReport, diagnose, slice_metrics
from nbviz.compute.model.probe import Probe


@pytest.fixture(scope="module", params=["digits", "cancer"])
def evaluated(request):
    """(demo, probe, probabilities on x_test, reports for train and test)."""
    demo = request.getfixturevalue(request.param)
    probe = Probe(demo.model)
    datasets = {"train": (demo.x_train, demo.y_train), "test": (demo.x_test, demo.y_test)}
    reports = diagnose(demo.model, datasets, class_names=demo.class_names, probe=probe)
    return demo, probe, probe.predict(demo.x_test), reports


@pytest.fixture(scope="module")
def regression():
    keras.utils.set_random_seed(5)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="tanh"), keras.layers.Dense(1)])
    rng = np.random.default_rng(5)
    x = rng.normal(size=(40, 3)).astype("float32")
    y = (x @ np.array([1.0, -2.0, 0.5]) + rng.normal(scale=0.3, size=40)).astype("float32")
    return model, x, y


# ------------------------------------------------------------------------------------------ classification
def test_confusion_accuracy_precision_recall_equal_sklearn(evaluated):
    demo, _, probs, reports = evaluated
    report, y = reports["test"], demo.y_test
    pred = np.argmax(probs, axis=1)
    assert report.task == "classification" and report.n == len(y)
    np.testing.assert_array_equal(report.predicted, pred)
    np.testing.assert_array_equal(report.confusion, skm.confusion_matrix(y, pred))
    assert report.confusion.dtype == np.int64
    assert report.metrics["accuracy"] == pytest.approx(skm.accuracy_score(y, pred), abs=1e-12)
    np.testing.assert_allclose(report.precision, skm.precision_score(y, pred, average=None), atol=1e-6)
    np.testing.assert_allclose(report.recall, skm.recall_score(y, pred, average=None), atol=1e-6)
    assert report.metrics["precision"] == pytest.approx(skm.precision_score(y, pred, average="macro"), abs=1e-6)
    assert report.metrics["recall"] == pytest.approx(skm.recall_score(y, pred, average="macro"), abs=1e-6)
    np.testing.assert_array_equal(report.correct, pred == y)
    assert report.class_names == tuple(demo.class_names)


def test_loss_equals_sklearn_log_loss(evaluated):
    demo, _, probs, reports = evaluated
    expected = skm.log_loss(demo.y_test, probs, labels=list(range(probs.shape[1])))
    assert reports["test"].metrics["loss"] == pytest.approx(expected, abs=1e-5)


def test_calibration_recomputed_bin_by_bin(evaluated):
    demo, _, probs, reports = evaluated
    confidence = probs.max(axis=1).astype(np.float64)
    hit = np.argmax(probs, axis=1) == demo.y_test
    mean_conf, accuracy = [], []
    for i in range(CALIBRATION_BINS):
        lo, hi = i / CALIBRATION_BINS, (i + 1) / CALIBRATION_BINS
        mask = (confidence >= lo) & ((confidence < hi) if i < CALIBRATION_BINS - 1 else (confidence <= hi))
        if mask.any():
            mean_conf.append(confidence[mask].mean())
            accuracy.append(hit[mask].mean())
    got_conf, got_acc = reports["test"].calibration
    np.testing.assert_allclose(got_conf, mean_conf, rtol=1e-6)
    np.testing.assert_allclose(got_acc, accuracy, rtol=1e-6)
    assert got_conf.dtype == np.float32 and len(got_conf) >= 2


def test_cell_samples_are_exactly_that_cell(evaluated):
    demo, _, _, reports = evaluated
    report = reports["test"]
    k = len(demo.class_names)
    seen = []
    for t in range(k):
        for p in range(k):
            idx = report.cell_samples(t, p)
            np.testing.assert_array_equal(idx, np.flatnonzero((demo.y_test == t) & (report.predicted == p)))
            assert len(idx) == report.confusion[t, p]
            seen.extend(idx)
    assert sorted(seen) == list(range(report.n))
    with pytest.raises(ValueError, match="pred: expected a class index"):
        report.cell_samples(0, k)


def test_one_hot_labels_and_reports_per_dataset(evaluated):
    demo, probe, _, reports = evaluated
    assert list(reports) == ["train", "test"] and reports["train"].n == len(demo.y_train)
    one_hot = np.eye(len(demo.class_names), dtype="float32")[demo.y_test]
    again = diagnose(demo.model, {"test": (demo.x_test, one_hot)}, probe=probe)["test"]
    np.testing.assert_array_equal(again.confusion, reports["test"].confusion)
    assert again.metrics == pytest.approx(reports["test"].metrics)
    assert again.class_names == tuple(f"class {i}" for i in range(len(demo.class_names)))


def test_arrays_read_only_and_probe_reused(evaluated):
    demo, probe, _, reports = evaluated
    report = reports["test"]
    for arr in (report.confusion, report.precision, report.recall, report.predicted, report.correct, report.true):
        with pytest.raises(ValueError):
            arr[0] = arr[0]
    traces = probe.traces
    diagnose(demo.model, {"again": (demo.x_test, demo.y_test)}, probe=probe)
    assert probe.traces == traces  # the compiled forward pass was reused, not traced again


def test_chunked_forward_pass_gives_the_same_report(evaluated, monkeypatch):
    demo, probe, _, reports = evaluated
    monkeypatch.setattr(diagnostics, "_PREDICT_CHUNK", 64)
    chunked = diagnose(demo.model, {"train": (demo.x_train, demo.y_train)}, probe=probe)["train"]
    np.testing.assert_array_equal(chunked.predicted, reports["train"].predicted)
    assert chunked.metrics == pytest.approx(reports["train"].metrics, abs=1e-6)


def test_a_language_model_is_reported_per_real_token_in_bounded_chunks(monkeypatch):
    """GPT-2's logits per position: one row per real token, every metric against sklearn on those rows, the
    same whether the forward passes hold every sample or (chunks bounded by bytes) three at a time."""
    from tests.zoo import ZOO

    case = ZOO["gpt2"]()
    probe = Probe(case.model)
    whole = diagnose(case.model, {"d": (case.x, case.y)}, probe=probe)["d"]
    logits = np.asarray(case.model.predict(case.x, verbose=0), np.float64)
    keep = case.x["padding_mask"].astype(bool)
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    probs = (probs / probs.sum(-1, keepdims=True))[keep]
    true, pred = case.y[keep], probs.argmax(-1)
    assert whole.n == keep.sum() and list(whole.sample_of) == list(np.nonzero(keep)[0])
    np.testing.assert_array_equal(whole.predicted, pred)
    assert whole.metrics["accuracy"] == pytest.approx(skm.accuracy_score(true, pred))
    assert whole.metrics["loss"] == pytest.approx(skm.log_loss(true, probs, labels=range(60)), rel=1e-4)
    monkeypatch.setattr(diagnostics, "_CHUNK_BYTES", 3 * logits[0].size * 4)  # 3 samples of float32 logits
    chunked = diagnose(case.model, {"d": (case.x, case.y)}, probe=probe)["d"]
    np.testing.assert_array_equal(chunked.predicted, whole.predicted)
    np.testing.assert_array_equal(chunked.sample_of, whole.sample_of)
    assert chunked.metrics == pytest.approx(whole.metrics, rel=1e-6)


def test_single_sigmoid_unit_is_two_classes():
    keras.utils.set_random_seed(6)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, activation="sigmoid")])
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(60, 4)).astype("float32"), rng.integers(0, 2, 60)
    report = diagnose(model, {"d": (x, y)})["d"]
    p1 = Probe(model).predict(x)[:, 0]
    pred = (p1 > 0.5).astype(int)
    np.testing.assert_array_equal(report.confusion, skm.confusion_matrix(y, pred, labels=[0, 1]))
    assert report.metrics["loss"] == pytest.approx(skm.log_loss(y, p1), abs=1e-5)


# ------------------------------------------------------------------------------------------ regression
def test_regression_metrics_equal_sklearn(regression):
    model, x, y = regression
    report = diagnose(model, {"d": (x, y)})["d"]
    pred = Probe(model).predict(x)[:, 0]
    assert report.task == "regression" and report.confusion is None and report.calibration is None
    assert report.metrics["mse"] == pytest.approx(skm.mean_squared_error(y, pred), rel=1e-6)
    assert report.metrics["mae"] == pytest.approx(skm.mean_absolute_error(y, pred), rel=1e-6)
    assert report.metrics["r2"] == pytest.approx(skm.r2_score(y, pred), rel=1e-6, abs=1e-6)  # r2 near 0 here
    np.testing.assert_allclose(report.correct, np.abs(pred - y), rtol=1e-5)
    np.testing.assert_allclose(report.predicted, pred, rtol=1e-5, atol=1e-7)  # float32, batched differently
    with pytest.raises(ValueError, match="classification report"):
        report.cell_samples(0, 0)


# ------------------------------------------------------------------------------------------ slices
def test_slice_metrics_equal_a_direct_loop(cancer):
    probe = Probe(cancer.model)
    x, y = cancer.x_test, cancer.y_test
    report = slice_metrics(cancer.model, x, y, feature=0, bins=4, feature_names=cancer.feature_names, probe=probe)
    pred = np.argmax(probe.predict(x), axis=1)
    assert report.feature == "mean radius" and report.metric_name == "accuracy"
    edges, column = report.edges, x[:, 0]
    assert len(edges) == 5 and edges[0] == column.min() and edges[-1] == column.max()
    for i in range(len(edges) - 1):
        last = i == len(edges) - 2
        mask = (column >= edges[i]) & ((column <= edges[i + 1]) if last else (column < edges[i + 1]))
        assert report.counts[i] == mask.sum()
        assert report.values[i] == pytest.approx(np.mean(pred[mask] == y[mask]), abs=1e-6)
        np.testing.assert_array_equal(np.flatnonzero(report.slice_of == i), np.flatnonzero(mask))
    by_name = slice_metrics(cancer.model, x, y, "mean radius", 4, cancer.feature_names, probe, predicted=pred)
    np.testing.assert_array_equal(by_name.values, report.values)


def test_slice_metrics_tied_quantiles_merge(regression):
    model, x, y = regression
    tied = x.copy()
    tied[:, 1] = np.where(np.arange(len(x)) < 30, 0.0, np.arange(len(x)))  # 75% of the column is 0
    report = slice_metrics(model, tied, y, feature=1, bins=8)
    assert len(np.unique(report.edges)) == len(report.edges) < 9
    assert report.counts.sum() == len(x) and report.counts[0] >= 30
    assert report.metric_name == "mse" and report.feature == "feature 1"
    pred = Probe(model).predict(tied)[:, 0]
    for i, count in enumerate(report.counts):
        mask = report.slice_of == i
        assert count == mask.sum()
        assert report.values[i] == pytest.approx(np.mean((pred[mask] - y[mask]) ** 2), rel=1e-5)


# ------------------------------------------------------------------------------------------ bad input
def test_bad_input_raises(cancer, regression):
    model, x, y = cancer.model, cancer.x_test, cancer.y_test
    with pytest.raises(TypeError, match=r"datasets\['test'\]: expected an \(x, y\) pair"):
        diagnose(model, {"test": x})
    with pytest.raises(TypeError, match="expected an"):
        diagnose(model, {"test": (x, y, y)})
    with pytest.raises(ValueError, match=rf"expected labels for {len(x)} samples, got shape \({len(x) - 1},\)"):
        diagnose(model, {"test": (x, y[:-1])})
    with pytest.raises(ValueError, match=r"class indices in \[0, 2\)"):
        diagnose(model, {"test": (x, y + 1)})
    with pytest.raises(ValueError, match="class_names: expected 2 names"):
        diagnose(model, {"test": (x, y)}, class_names=["a"])
    with pytest.raises(TypeError, match="datasets: expected a non-empty dict"):
        diagnose(model, {})
    with pytest.raises(ValueError, match=r"feature: expected a column index in \[0, 30\)"):
        slice_metrics(model, x, y, feature=30)
    with pytest.raises(ValueError, match="feature: expected"):
        slice_metrics(model, x, y, feature="no such feature", feature_names=cancer.feature_names)
    with pytest.raises(ValueError, match="bins: expected a positive int"):
        slice_metrics(model, x, y, feature=0, bins=0)
    with pytest.raises(ValueError, match="x: expected a numeric 2-D"):
        slice_metrics(model, x[0], y, feature=0)
    with pytest.raises(ValueError, match="probe: expected a Probe of model"):
        diagnose(model, {"test": (x, y)}, probe=Probe(regression[0]))
    assert isinstance(diagnose(model, {"test": [x, y]})["test"], DatasetReport)
