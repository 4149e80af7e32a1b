"""Hostile input, table-driven: each case works or raises TypeError/ValueError from the public call, naming
the argument; none surfaces a deep TensorFlow traceback."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

import nbviz
from tests.faults import copy_of, plant_weight

OK = None


def _unbuilt():
    return keras.Sequential([keras.layers.Dense(2)])


def _empty():
    return keras.Sequential()


# (case, builder(digits) -> kwargs for explore, expected exception or OK, message pattern)
CASES = [
    (
        "model is a missing file",
        lambda d: {"model": "no/such/model.keras"},
        ValueError,
        "model: expected a path to an existing",
    ),
    (
        "model is an HDF5 path",
        lambda d: {"model": "model.h5"},
        ValueError,
        r"model: expected a keras.Model or a path to a \.keras",
    ),
    (
        "model is a string, not a path",
        lambda d: {"model": "not a model"},
        ValueError,
        r"model: expected a keras.Model or a path to a \.keras file",
    ),
    ("model is a number", lambda d: {"model": 3}, TypeError, "model: expected a keras.Model"),
    ("model is a list", lambda d: {"model": [1]}, TypeError, "model: expected a keras.Model"),
    ("model is None", lambda d: {"model": None}, TypeError, "model: expected a keras.Model"),
    ("model never built", lambda d: {"model": _unbuilt()}, ValueError, "model: expected a built model"),
    ("model with no layers", lambda d: {"model": _empty()}, ValueError, "model: expected a built model"),
    ("x is None", lambda d: {"x": None}, TypeError, "x: expected a numeric array, got NoneType"),
    ("x is text", lambda d: {"x": "digits"}, TypeError, "x: expected a numeric array, got str"),
    ("x has objects", lambda d: {"x": np.array([[object()]])}, TypeError, "x: expected a numeric"),
    ("x is complex", lambda d: {"x": d.x_test[:3].astype(complex)}, TypeError, "x: expected a numeric .real. array"),
    ("x without a batch axis", lambda d: {"x": d.x_test[0]}, ValueError, r"x: expected shape .*x\[None\]"),
    ("x of the wrong shape", lambda d: {"x": d.x_test[:3, :4]}, ValueError, r"x: expected shape \(None, 8, 8, 1\)"),
    ("x of the wrong rank", lambda d: {"x": d.x_test[:3, :, 0]}, ValueError, r"x: expected shape \(None, 8, 8, 1\)"),
    ("x empty", lambda d: {"x": d.x_test[:0]}, ValueError, "x: expected a non-empty batch"),
    (
        "x as a dict with a wrong key",
        lambda d: {"x": {"pixels": d.x_test[:3]}},
        ValueError,
        "x: expected a dict with keys",
    ),
    ("x as a ragged list", lambda d: {"x": [[1, 2], [3]]}, TypeError, "x: expected a numeric array"),
    ("x with NaN", lambda d: {"x": np.where(np.arange(64).reshape(1, 8, 8, 1) == 5, np.nan, d.x_test[:4])}, OK, ""),
    ("x with Inf", lambda d: {"x": np.where(np.arange(64).reshape(1, 8, 8, 1) == 5, np.inf, d.x_test[:4])}, OK, ""),
    ("x as a tf.Tensor", lambda d: {"x": keras.ops.convert_to_tensor(d.x_test[:4])}, OK, ""),
    ("one sample", lambda d: {"x": d.x_test[:1], "y": d.y_test[:1]}, OK, ""),
    (
        "y of the wrong length",
        lambda d: {"y": d.y_test[:2]},
        ValueError,
        r"y: expected labels for 5 samples, got shape \(2,\)",
    ),
    ("y as text without class names", lambda d: {"y": ["a"] * 5}, TypeError, "y: expected a numeric"),
    (
        "y names an unknown class",
        lambda d: {"y": ["1", "2", "x", "3", "4"], "class_names": d.class_names},
        ValueError,
        "y: expected labels from class_names",
    ),
    (
        "y one-hot of the wrong width",
        lambda d: {"y": np.eye(3)[[0, 1, 2, 0, 1]]},
        ValueError,
        "y: expected class indices or one-hot rows of 10",
    ),
    ("y as one-hot rows", lambda d: {"y": np.eye(10)[d.y_test[:5]]}, OK, ""),
    (
        "y as class-name strings",
        lambda d: {"y": np.array(d.class_names)[d.y_test[:5]], "class_names": d.class_names},
        OK,
        "",
    ),
    (
        "class_names of the wrong length",
        lambda d: {"class_names": ["a", "b"]},
        ValueError,
        "class_names: expected 10 names, got 2",
    ),
    (
        "class_names as one string",
        lambda d: {"class_names": "digits"},
        TypeError,
        "class_names: expected a sequence of strings",
    ),
    (
        "feature_names as one string",
        lambda d: {"feature_names": "pixels"},
        TypeError,
        "feature_names: expected a sequence of strings",
    ),
    (
        "feature_names as a number",
        lambda d: {"feature_names": 64},
        TypeError,
        "feature_names: expected a sequence of strings",
    ),
    ("max_cells of zero", lambda d: {"max_cells": 0}, ValueError, "max_cells: expected at least 16 cells, got 0"),
    ("max_cells as text", lambda d: {"max_cells": "many"}, TypeError, "max_cells: expected an int, got str"),
    ("max_samples of zero", lambda d: {"max_samples": 0}, ValueError, "max_samples: expected at least 1 sample"),
    ("redact as text", lambda d: {"redact": "yes"}, TypeError, "redact: expected True or False, got str"),
    (
        "x an empty tf.data.Dataset",
        lambda d: {"x": tf.data.Dataset.from_tensor_slices(d.x_test[:0]).batch(2)},
        ValueError,
        "x: expected a tf.data.Dataset with at least one sample",
    ),
    (
        "x a tf.data.Dataset of the wrong shape",
        lambda d: {"x": tf.data.Dataset.from_tensor_slices(d.x_test[:4, :5]).batch(2)},
        ValueError,
        r"x: expected shape \(None, 8, 8, 1\)",
    ),
    (
        "background of the wrong shape",
        lambda d: {"background": np.zeros((4, 3))},
        ValueError,
        "background: expected shape",
    ),
    ("datasets not a dict", lambda d: {"datasets": [(d.x_test, d.y_test)]}, TypeError, "datasets: expected a dict"),
    (
        "datasets entry not a pair",
        lambda d: {"datasets": {"test": d.x_test}},
        ValueError,
        r"datasets\['test'\]: expected an \(x, y\) pair",
    ),
    (
        "datasets y of the wrong length",
        lambda d: {"datasets": {"test": (d.x_test[:4], d.y_test[:3])}},
        ValueError,
        r"datasets\['test'\] y: expected labels for 4",
    ),
    ("training not a callback", lambda d: {"training": "live"}, TypeError, "training: expected an nbviz.LiveTraining"),
]


@pytest.mark.parametrize(("case", "build", "exc", "match"), CASES, ids=[c[0] for c in CASES])
def test_explore_with_hostile_input(digits, case, build, exc, match):
    args = {"model": digits.model, "x": digits.x_test[:5], "y": None, **build(digits)}
    model, x = args.pop("model"), args.pop("x")
    if exc is OK:
        ex = nbviz.explore(model, x, **args)
        for tab in ex.panels:
            ex.tab = tab
            error = ex.panels[tab].error
            # A panel that cannot use such data (a tree on NaN, a holdout from one sample) says so plainly.
            assert error is None or ": expected" in error, (tab, error)
        return
    with pytest.raises(exc, match=match) as info:
        nbviz.explore(model, x, **args)
    # Raised by nbviz at the public call, not from deep inside TensorFlow.
    assert "tensorflow" not in str(info.traceback[-1].path)


@pytest.fixture(scope="module")
def ex(digits):
    return nbviz.explore(digits.model, digits.x_test[:10], digits.y_test[:10])


@pytest.mark.parametrize(
    ("attribute", "value", "exc", "match"),
    [
        ("layer", "conv9", ValueError, "layer: expected one of"),
        ("layer", 3, TypeError, "layer: expected a layer name"),
        ("sample", 10, ValueError, r"sample: expected an index in \[0, 10\), got 10"),
        ("sample", -1, ValueError, r"sample: expected an index in \[0, 10\)"),
        ("sample", "3", TypeError, "sample: expected an int index"),
        ("sample", 2.5, TypeError, "sample: expected an int index"),
        ("tab", "nope", ValueError, "tab: expected one of"),
        ("tab", None, TypeError, "tab: expected a tab name"),
    ],
)
def test_running_explorer_refuses_bad_state_and_stays_usable(ex, attribute, value, exc, match):
    ex.tab = "activations"
    before = (ex.layer, ex.sample, ex.tab)
    with pytest.raises(exc, match=match):
        setattr(ex, attribute, value)
    assert (ex.layer, ex.sample, ex.tab) == before
    ex.sample = (ex.sample + 1) % 10  # still answers
    assert ex.panels[ex.tab].state == ex.state


@pytest.mark.parametrize(
    ("name", "samples", "exc", "match"),
    [
        ("", [1], TypeError, "name: expected a non-empty str"),
        ("few", [0.5, 2.0], TypeError, "samples: expected sample indices"),
        ("few", ["a"], TypeError, "samples: expected sample indices"),
        ("few", [3, 10], ValueError, r"sample: expected an index in \[0, 10\), got 10"),
    ],
)
def test_a_bad_selection_is_refused_and_changes_nothing(ex, name, samples, exc, match):
    ex.select("kept", [1, 2])
    with pytest.raises(exc, match=match):
        ex.select(name, samples)
    assert list(ex.selections) == ["kept"]
    ex.select("kept", [])
    assert ex.selections == {}


def test_nan_weights_are_shown_and_found(digits):
    model = copy_of(digits.model)
    plant_weight(model.get_layer("conv1").kernel, (0, 0, 0, 0), np.nan)
    ex = nbviz.explore(model, digits.x_test[:5])
    ex.layer = "conv1"
    assert np.isnan(ex.panels["weights"].values).sum() > 0  # gutters and the planted weight
    assert any(f.kind == "nonfinite_weights" and f.layer == "conv1" for f in nbviz.findings(model, digits.x_test[:5]))


def test_a_dataframe_names_its_features(cancer):
    pandas = pytest.importorskip("pandas")
    frame = pandas.DataFrame(cancer.x_test[:6], columns=cancer.feature_names)
    ex = nbviz.explore(cancer.model, frame)
    assert ex.analysis.data.feature_names == tuple(cancer.feature_names)
