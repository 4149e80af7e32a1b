"""A shallow decision tree that imitates the model, read back as if-then rules (a global surrogate).

The tree is fit to the *model's* predictions, not to the true labels: its rules describe what the model does,
and ``fidelity`` (agreement with the model on held-out rows) says how far they can be trusted.

The default view (:func:`rule_layers`, :func:`readable_depth`) is chosen so that a person can read it: the input
features of a table (they have names); for other inputs the last hidden layer with weights whose output is one
vector of at most ``RULE_UNITS`` units per sample (a CNN's last hidden Dense layer: the model's own summary of the
picture, where a few units separate the classes, rather than one of 1,443 pixels of a feature map); and the
shallowest depth, from the first that has a leaf for every class, whose rules agree with the model on
``FIDELITY_GOAL`` of the held-out samples (else the most faithful depth up to ``MAX_DEPTH``, said as such).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from .._arrays import is_int
from ..data.redact import quantile_of
from ..model.graph import ModelGraph
from ..model.probe import Probe, probe_for
from .diagnostics import class_probs, named_classes, probability_rows

__all__ = [
    "FIDELITY_GOAL",
    "MAX_DEPTH",
    "REGRESSION_TOLERANCE",
    "RULE_UNITS",
    "Rule",
    "Rules",
    "readable_depth",
    "rule_layers",
    "surrogate_rules",
]

# For a regression model, a leaf "agrees" with the model on a sample when they differ by at most this share of
# the range of the model's predictions on the tree's training rows (exact equality never happens with floats).
REGRESSION_TOLERANCE = 0.1

Condition = tuple[int, str, float]

# The default view. Rules that disagree with the model on more than one held-out sample in 10 describe another
# model too often to be read as this one's; depth 6 (at most 64 rules of 6 conditions) is the deepest a person
# still reads rule by rule, and the panel's largest; a layer of more than 256 units has too many unnamed units
# for a few of them to stand for it (the demo CNN's dense layer has 64, its feature maps 512 to 2,048).
FIDELITY_GOAL, MAX_DEPTH, RULE_UNITS = 0.9, 6, 256


def _column(x: np.ndarray, feature: int) -> np.ndarray:
    # sklearn trees compare float32 features with float64 thresholds; doing the same keeps every row in the leaf
    # that tree.apply() puts it in, even for a value next to a threshold.
    return x[:, feature].astype(np.float32).astype(np.float64)


@dataclass(frozen=True, eq=False)
class Rule:
    """One leaf of the surrogate tree: the path to it, and what the tree predicts there.

    Attributes
    ----------
    conditions : (feature index, "<=" or ">", threshold) from the root to the leaf.
    text : e.g. "if worst radius > 16.8 and worst concave points > 0.14 then malignant" (thresholds "%.3g";
        repeated tests of one feature are merged into the tightest bound).
    prediction : the class name, or the predicted value ("%.3g") for regression.
    samples : training rows reaching the leaf.
    agreement : share of those rows where the model's prediction equals the leaf's (within
        REGRESSION_TOLERANCE for regression).
    """

    conditions: tuple[Condition, ...]
    text: str
    prediction: str
    samples: int
    agreement: float

    def covers(self, x: np.ndarray) -> np.ndarray:
        """Boolean mask (n,) of the rows of 2-D ``x`` (n, features) that meet every condition."""
        arr = np.asarray(x)
        if arr.ndim != 2:
            raise ValueError(f"x: expected a 2-D (samples, features) array, got shape {arr.shape}")
        mask = np.ones(len(arr), dtype=bool)
        for feature, op, threshold in self.conditions:
            column = _column(arr, feature)
            mask &= column <= threshold if op == "<=" else column > threshold
        return mask


@dataclass(frozen=True, eq=False)
class Rules:
    """Every leaf of the surrogate tree as a :class:`Rule`; the rules cover each row exactly once.

    Attributes
    ----------
    rules : one per leaf, most training samples first.
    fidelity : share of held-out rows where the tree predicts what the model predicts; for regression, the R^2
        of the tree's predictions against the model's.
    train_fidelity : the same on the rows the tree was fit to.
    max_depth : the depth limit the tree was grown with.
    feature_names : one per column the conditions refer to.
    """

    rules: tuple[Rule, ...]
    fidelity: float
    train_fidelity: float
    max_depth: int
    feature_names: tuple[str, ...]

    def rule_for(self, x_row: Any) -> Rule:
        """The rule whose leaf the row (features,) falls into."""
        row = np.asarray(x_row, dtype=np.float64).reshape(1, -1) if np.ndim(x_row) else np.zeros((1, 0))
        if row.shape[1] != len(self.feature_names):
            raise ValueError(f"x_row: expected {len(self.feature_names)} values, got shape {np.shape(x_row)}")
        for rule in self.rules:
            if rule.covers(row)[0]:
                return rule
        raise ValueError(f"x_row: expected finite values, got {row[0][~np.isfinite(row[0])][:3]}")


def surrogate_rules(
    model: keras.Model,
    x: Any,
    max_depth: int = 3,
    feature_names: Any = None,
    class_names: Any = None,
    features: Any = None,
    holdout: float = 0.3,
    seed: int = 0,
    probe: Probe | None = None,
    quantiles: bool = False,
    outputs: np.ndarray | None = None,
    classify: bool | None = None,
) -> Rules:
    """Fit a decision tree of depth <= ``max_depth`` to the model's predictions on ``x`` and read off its rules.

    Parameters
    ----------
    x : array-like
        Model inputs. Without ``features`` they are also the tree's features, so they must be 2-D (tabular).
    features : array-like, optional
        The tree's features instead of ``x``, one row per sample (e.g. a layer's activations); flattened to
        (n, -1). Names then default to "unit 0", "unit 1", ...
    holdout : float
        Share of rows held out of the fit to measure ``fidelity``; the split is
        ``train_test_split(range(n), test_size=holdout, random_state=seed)``.
    class_names : sequence of str, optional
        One per class (two for a single sigmoid unit); default "class 0", "class 1", ...
    quantiles : bool
        Write each threshold in the rule texts as the quantile it sits at among the feature's values
        ("radius > q0.73") instead of the value itself, so the texts reveal no data value (redact mode).
        ``Rule.conditions`` keep the thresholds either way.
    outputs : ndarray, optional
        The model's first output on ``x`` as (n, units) float32, probabilities for a classifier (what the
        explorer already holds); computed from ``x`` when omitted.
    classify : bool, optional
        Fit a classification tree to the predicted classes (True) or a regression tree to the output (False); by
        default as :attr:`Probe.is_classifier` says (the Explorer passes what its labels decided: a sigmoid
        output trained on ratings in [0, 1] is a regressor).

    Returns
    -------
    Rules
        One rule per leaf (at most ``2 ** max_depth``), most samples first.
    """
    if not is_int(max_depth) or max_depth < 1:
        raise ValueError(f"max_depth: expected an int >= 1, got {max_depth!r}")
    if isinstance(holdout, bool) or not isinstance(holdout, (float, int)) or not 0 < holdout < 1:
        raise ValueError(f"holdout: expected a share strictly between 0 and 1, got {holdout!r}")
    if features is None:
        table = np.asarray(x)
        if table.ndim != 2:
            raise ValueError(
                f"x: expected a 2-D (samples, features) array for rules on raw inputs, got shape {table.shape}; "
                "pass features= (e.g. a layer's activations flattened) for image or sequence inputs"
            )
        default_name = "feature"
    else:
        table = np.asarray(features)
        if table.ndim < 2:
            raise ValueError(f"features: expected one row of features per sample, got shape {table.shape}")
        table, default_name = table.reshape(len(table), -1), "unit"
    if not np.issubdtype(table.dtype, np.number) or not np.all(np.isfinite(table)):
        what = "x" if features is None else "features"
        raise ValueError(f"{what}: expected finite numbers for the tree, got dtype {table.dtype} or NaN/Inf values")
    n, d = table.shape
    names = tuple(f"{default_name} {i}" for i in range(d)) if feature_names is None else tuple(map(str, feature_names))
    if len(names) != d:
        raise ValueError(f"feature_names: expected {d} names, one per feature column, got {len(names)}")

    probe = probe_for(model, probe)
    out = probability_rows(probe, x) if outputs is None else np.asarray(outputs)
    if len(out) != n:
        raise ValueError(f"features: expected {len(out)} rows, one per sample of x, got {n}")
    if n < 2:
        raise ValueError(f"x: expected at least 2 samples to split off a holdout, got {n}")
    classify = probe.is_classifier if classify is None else classify
    if classify:
        probs = class_probs(out)
        target: np.ndarray = np.argmax(probs, axis=1)
        labels = named_classes(class_names, probs.shape[1])
        tree: Any = DecisionTreeClassifier(max_depth=int(max_depth), random_state=seed)
    elif out.shape[1] == 1:
        target = out[:, 0].astype(np.float64)
        tree = DecisionTreeRegressor(max_depth=int(max_depth), random_state=seed)
    else:
        raise ValueError(f"model: expected a classifier or one regression output unit, got {out.shape[1]} units")

    train, test = train_test_split(np.arange(n), test_size=holdout, random_state=seed)
    features_f32 = table.astype(np.float32)
    tree.fit(features_f32[train], target[train])

    def score(rows: np.ndarray) -> float:
        guess = tree.predict(features_f32[rows])
        if classify:
            return float(np.mean(guess == target[rows]))
        ss_res, ss_tot = np.sum((guess - target[rows]) ** 2), np.sum((target[rows] - target[rows].mean()) ** 2)
        # R^2, with sklearn's convention for a constant model: 1 for a perfect fit, else 0.
        return float(1 - ss_res / ss_tot) if ss_tot > 0 else float(ss_res == 0)

    tolerance = REGRESSION_TOLERANCE * float(np.ptp(target[train])) if not classify else 0.0
    leaf_of = tree.apply(features_f32[train])
    t = tree.tree_
    rules = []
    for leaf, path in _leaf_paths(t):
        value = t.value[leaf][0]
        members = target[train][leaf_of == leaf]
        if classify:
            cls = int(tree.classes_[int(np.argmax(value))])
            prediction, agreement = labels[cls], float(np.mean(members == cls))
        else:
            prediction, agreement = f"{value[0]:.3g}", float(np.mean(np.abs(members - value[0]) <= tolerance))
        conditions = tuple(path)
        described = _describe(conditions, names, features_f32 if quantiles else None)
        text = f"if {described} then {prediction}" if conditions else f"always {prediction}"
        rules.append(Rule(conditions, text, prediction, int(len(members)), agreement))
    rules.sort(key=lambda r: -r.samples)  # stable: leaves with equal counts stay in tree order
    return Rules(tuple(rules), score(test), score(train), int(max_depth), names)


def _leaf_paths(t: Any) -> list[tuple[int, list[Condition]]]:
    """(leaf node id, conditions from the root) for every leaf of a fitted sklearn ``tree_``, depth first."""
    out: list[tuple[int, list[Condition]]] = []
    stack: list[tuple[int, list[Condition]]] = [(0, [])]
    while stack:
        node, path = stack.pop()
        left, right = int(t.children_left[node]), int(t.children_right[node])
        if left == right:  # both -1 at a leaf
            out.append((node, path))
            continue
        feature, threshold = int(t.feature[node]), float(t.threshold[node])
        stack.append((right, [*path, (feature, ">", threshold)]))
        stack.append((left, [*path, (feature, "<=", threshold)]))
    return out


def _describe(conditions: tuple[Condition, ...], names: tuple[str, ...], table: np.ndarray | None = None) -> str:
    """Conditions as text; a feature tested twice the same way keeps only its tighter bound.

    With ``table`` (the tree's features), a threshold is written as its quantile in the feature's column.
    """
    bounds: dict[tuple[int, str], float] = {}
    for feature, op, threshold in conditions:
        key = (feature, op)
        tighter = min if op == "<=" else max
        bounds[key] = tighter(bounds[key], threshold) if key in bounds else threshold

    def bound(feature: int, threshold: float) -> str:
        if table is None:
            return f"{threshold:.3g}"
        return f"q{quantile_of(_column(table, feature), threshold):.2f}"

    return " and ".join(f"{names[f]} {op} {bound(f, threshold)}" for (f, op), threshold in bounds.items())


def rule_layers(graph: ModelGraph, outputs: Collection[str] = ()) -> list[str]:
    """The layers whose activations make readable rule features, in graph order: hidden layers (not an input or
    one of ``outputs``, the model's output layers) with trainable weights, whose output is one vector of at most
    ``RULE_UNITS`` units per sample (Dense layers, a pooled embedding's projection), first calls only. The default
    rules view of a model whose inputs are no table fits on the last of them."""
    found = []
    for node in graph.nodes:
        if node.is_input or node.is_model or node.call_of is not None or node.name in outputs:
            continue
        # Trainable weights: a Normalization layer's statistics make no features of the model's own.
        if node.trainable_params == 0 or len(node.output_shapes) != 1:
            continue
        shape = node.output_shapes[0]
        if len(shape) == 2 and shape[1] is not None and 1 <= shape[1] <= RULE_UNITS:
            found.append(node.name)
    return found


def readable_depth(fidelity: Callable[[int], float | None], classes: int | None = None) -> tuple[int, bool]:
    """The default depth of a rules view: the shallowest from the first that has a leaf for every class
    (``ceil(log2(classes))``; 1 for regression) whose held-out fidelity reaches ``FIDELITY_GOAL``, else the most
    faithful up to ``MAX_DEPTH`` (the shallowest of equals).

    Parameters
    ----------
    fidelity : callable
        The held-out fidelity of the rules of a depth (None when there are none).
    classes : int, optional
        The classifier's classes; None for regression.

    Returns
    -------
    (depth, reached)
        ``reached`` says whether its fidelity reaches the goal.
    """
    first = max(1, min(MAX_DEPTH, int(np.ceil(np.log2(classes))) if classes and classes > 1 else 1))
    best, best_depth = -np.inf, first
    for depth in range(first, MAX_DEPTH + 1):
        value = fidelity(depth)
        if value is None:
            continue
        if value >= FIDELITY_GOAL:
            return depth, True
        if value > best:
            best, best_depth = value, depth
    return best_depth, False
