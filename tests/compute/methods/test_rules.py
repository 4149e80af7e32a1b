"""Surrogate rules: fidelity and leaf counts recomputed from the rules themselves and from sklearn directly."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from nbviz.compute.methods.rules import REGRESSION_TOLERANCE, Rule, Rules, surrogate_rules
from nbviz.compute.model.probe import Probe


@pytest.fixture(scope="module")
def tabular(cancer):
    """(demo, all rows, model's predicted classes, probe)."""
    x = np.concatenate([cancer.x_test, cancer.x_train])
    probe = Probe(cancer.model)
    return cancer, x, np.argmax(probe.predict(x), axis=1), probe


@pytest.fixture(scope="module")
def rules3(tabular) -> Rules:
    demo, x, _, probe = tabular
    return surrogate_rules(
        demo.model, x, max_depth=3, feature_names=demo.feature_names, class_names=demo.class_names, probe=probe
    )


def split(n: int, holdout: float = 0.3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    return train_test_split(np.arange(n), test_size=holdout, random_state=seed)


def covering(rules: Rules, x: np.ndarray) -> np.ndarray:
    """(rules, rows) mask of which rule covers which row."""
    return np.stack([rule.covers(x) for rule in rules.rules])


def test_demo_fidelity_is_high_and_recomputed_from_the_rules(tabular, rules3):
    demo, x, pred, _ = tabular
    assert rules3.fidelity >= 0.9 and rules3.max_depth == 3
    train, test = split(len(x))
    index = {name: i for i, name in enumerate(demo.class_names)}
    cover = covering(rules3, x)
    leaf_class = np.array([index[rule.prediction] for rule in rules3.rules])
    tree_pred = leaf_class[np.argmax(cover, axis=0)]
    assert rules3.fidelity == pytest.approx(np.mean(tree_pred[test] == pred[test]), abs=1e-12)
    assert rules3.train_fidelity == pytest.approx(np.mean(tree_pred[train] == pred[train]), abs=1e-12)
    # The same tree fit by sklearn directly agrees on every row.
    tree = DecisionTreeClassifier(max_depth=3, random_state=0).fit(x[train], pred[train])
    np.testing.assert_array_equal(tree.predict(x), tree_pred)


def test_rules_partition_the_rows(tabular, rules3):
    _, x, _, _ = tabular
    rng = np.random.default_rng(0)
    jittered = x * rng.uniform(0.8, 1.2, size=x.shape).astype("float32")  # rows the tree never saw
    for rows in (x, jittered):
        np.testing.assert_array_equal(covering(rules3, rows).sum(axis=0), 1)


def test_samples_and_agreement_equal_direct_counts(tabular, rules3):
    demo, x, pred, _ = tabular
    train, _ = split(len(x))
    assert sum(rule.samples for rule in rules3.rules) == len(train)
    assert [r.samples for r in rules3.rules] == sorted((r.samples for r in rules3.rules), reverse=True)
    for rule in rules3.rules:
        mask = rule.covers(x[train])
        assert rule.samples == mask.sum()
        cls = demo.class_names.index(rule.prediction)
        assert rule.agreement == pytest.approx(np.mean(pred[train][mask] == cls), abs=1e-12)


def test_text_names_features_and_classes(tabular, rules3):
    demo, x, _, _ = tabular
    assert rules3.feature_names == tuple(demo.feature_names)
    for rule in rules3.rules:
        assert rule.text.startswith("if ") and rule.text.endswith(f" then {rule.prediction}")
        assert rule.prediction in demo.class_names
        for feature, op, _ in rule.conditions:
            assert op in ("<=", ">")
            assert demo.feature_names[feature] in rule.text
        # Each distinct (feature, op) appears once, with its tightest bound printed to 3 significant digits.
        for feature, op in {(f, o) for f, o, _ in rule.conditions}:
            bounds = [t for f, o, t in rule.conditions if (f, o) == (feature, op)]
            tight = min(bounds) if op == "<=" else max(bounds)
            assert f"{demo.feature_names[feature]} {op} {tight:.3g}" in rule.text
    first = rules3.rules[0]
    assert isinstance(first, Rule) and rules3.rule_for(x[np.flatnonzero(first.covers(x))[0]]) is first


def test_depth_controls_the_number_of_leaves(tabular):
    demo, x, _, probe = tabular
    leaves = []
    for depth in (1, 2, 4):
        rules = surrogate_rules(demo.model, x, max_depth=depth, probe=probe)
        assert 2 <= len(rules.rules) <= 2**depth
        assert max(len(r.conditions) for r in rules.rules) <= depth
        leaves.append(len(rules.rules))
    assert leaves[0] == 2 and leaves[0] < leaves[1] < leaves[2]
    assert surrogate_rules(demo.model, x, max_depth=1, probe=probe).rules[0].text.startswith("if feature ")


def test_features_replace_raw_inputs(digits):
    probe = Probe(digits.model)
    x = digits.x_test[:200]
    hidden = probe.activations(x, ["dense"])["dense"]
    rules = surrogate_rules(digits.model, x, max_depth=4, features=hidden, class_names=digits.class_names, probe=probe)
    assert rules.feature_names == tuple(f"unit {i}" for i in range(hidden.shape[1]))
    assert all("unit " in r.text for r in rules.rules)
    np.testing.assert_array_equal(covering(rules, hidden).sum(axis=0), 1)
    with pytest.raises(ValueError, match="pass features="):
        surrogate_rules(digits.model, x, probe=probe)


def test_regression_model():
    keras.utils.set_random_seed(7)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(8, activation="tanh"), keras.layers.Dense(1)])
    x = np.random.default_rng(7).uniform(-2, 2, size=(300, 2)).astype("float32")
    out = Probe(model).predict(x)[:, 0].astype(np.float64)
    rules = surrogate_rules(model, x, max_depth=3, feature_names=["a", "b"])
    train, test = split(len(x))
    tree = DecisionTreeRegressor(max_depth=3, random_state=0).fit(x[train], out[train])
    assert rules.fidelity == pytest.approx(r2_score(out[test], tree.predict(x[test])), abs=1e-6)
    assert rules.fidelity > 0.5
    tolerance = REGRESSION_TOLERANCE * np.ptp(out[train])
    leaf_value = {leaf: tree.tree_.value[leaf][0, 0] for leaf in np.unique(tree.apply(x[train]))}
    for rule in rules.rules:
        mask = rule.covers(x[train])
        (leaf,) = set(tree.apply(x[train][mask]))
        assert rule.prediction == f"{leaf_value[leaf]:.3g}" and rule.samples == mask.sum()
        assert rule.agreement == pytest.approx(np.mean(np.abs(out[train][mask] - leaf_value[leaf]) <= tolerance))


def test_single_sigmoid_unit_thresholds_at_half():
    keras.utils.set_random_seed(8)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, activation="sigmoid")])
    x = np.random.default_rng(8).normal(size=(200, 3)).astype("float32")
    rules = surrogate_rules(model, x, max_depth=2, class_names=["no", "yes"])
    assert {r.prediction for r in rules.rules} <= {"no", "yes"}
    pred = (Probe(model).predict(x)[:, 0] > 0.5).astype(int)
    train, _ = split(len(x))
    for rule in rules.rules:
        mask = rule.covers(x[train])
        assert rule.agreement == pytest.approx(np.mean(pred[train][mask] == ["no", "yes"].index(rule.prediction)))


def test_bad_input_raises(tabular):
    demo, x, _, probe = tabular
    with pytest.raises(ValueError, match="max_depth: expected an int >= 1, got 0"):
        surrogate_rules(demo.model, x, max_depth=0, probe=probe)
    with pytest.raises(ValueError, match="feature_names: expected 30 names, one per feature column, got 2"):
        surrogate_rules(demo.model, x, feature_names=["a", "b"], probe=probe)
    with pytest.raises(ValueError, match="class_names: expected 2 names"):
        surrogate_rules(demo.model, x, class_names=["a", "b", "c"], probe=probe)
    with pytest.raises(ValueError, match="holdout: expected a share"):
        surrogate_rules(demo.model, x, holdout=1.0, probe=probe)
    with pytest.raises(ValueError, match="features: expected 569 rows"):
        surrogate_rules(demo.model, x, features=x[:10], probe=probe)
    with pytest.raises(ValueError, match="x: expected a 2-D"):
        surrogate_rules(demo.model, x[0], probe=probe)
    rules = surrogate_rules(demo.model, x, max_depth=1, probe=probe)
    with pytest.raises(ValueError, match="x_row: expected 30 values"):
        rules.rule_for(x[0, :5])
