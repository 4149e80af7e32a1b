"""Saliency, rules, diagnostics and findings panels against the compute core and scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import confusion_matrix

import nbviz
from nbviz.compute import saliency, slice_metrics, surrogate_rules
from nbviz.testing import live_widgets
from nbviz.testing import synced_array as synced
from tests.faults import copy_of, plant_weight


@pytest.fixture(scope="module")
def cancer_datasets_explorer(cancer):
    return nbviz.explore(
        cancer.model,
        cancer.x_test,
        cancer.y_test,
        feature_names=cancer.feature_names,
        class_names=cancer.class_names,
        datasets={"train": (cancer.x_train, cancer.y_train)},
    )


@pytest.mark.parametrize("method", ["gradient", "smoothgrad", "integrated_gradients", "gradcam", "gradcam++"])
def test_saliency_panel_equals_the_compute_core(digits_explorer, digits, method):
    ex = digits_explorer
    ex.tab, ex.layer, ex.sample = "saliency", "conv2", 5
    panel = ex.panels["saliency"]
    panel.method.value = method
    expected = saliency(digits.model, digits.x_test[5:6], method=method, layer="conv2" if "cam" in method else None)[0]
    np.testing.assert_allclose(panel.values, expected, rtol=1e-5, atol=1e-7)
    shown = synced(panel.heatmap.mark, "color")
    if "cam" in method:
        np.testing.assert_allclose(shown[:8, :8], expected, rtol=1e-5, atol=1e-7)
    elif method == "integrated_gradients":
        np.testing.assert_allclose(shown[:8, :8], expected[..., 0], rtol=1e-5, atol=1e-7)
    else:
        np.testing.assert_allclose(shown[:8, :8], np.abs(expected[..., 0]), rtol=1e-5, atol=1e-7)
    before = live_widgets()
    ex.sample = 6  # a new overlay image replaces the old one, which is closed
    assert live_widgets() == before
    panel.method.value = "gradient"


def test_cam_on_a_dense_layer_says_what_to_choose(digits_explorer):
    ex = digits_explorer
    ex.tab = "saliency"
    panel = ex.panels["saliency"]
    panel.method.value = "gradcam"
    ex.layer = "dense"
    assert "needs a convolutional layer" in panel.message.value and "conv1, conv2, pool" in panel.message.value
    panel.method.value = "gradient"


def test_rules_panel_shows_the_surrogate_and_clicks_go_to_a_covered_sample(cancer_datasets_explorer, cancer):
    ex = cancer_datasets_explorer
    ex.tab = "rules"
    panel = ex.panels["rules"]
    expected = surrogate_rules(
        cancer.model, cancer.x_test, max_depth=3, feature_names=cancer.feature_names, class_names=cancer.class_names
    )
    assert [r.text for r in panel.rules.rules] == [r.text for r in expected.rules]
    assert panel.rules.fidelity == expected.fidelity
    assert f"<b>{expected.fidelity:.1%}</b>" in panel.summary.value
    np.testing.assert_array_equal(panel.values, [r.samples for r in expected.rules])
    ex.sample = 0
    for index in range(min(3, len(expected.rules))):
        panel.rule_list.value = index
        assert expected.rules[index].covers(cancer.x_test[ex.sample : ex.sample + 1])[0]
    panel.depth.value = 1
    assert len(panel.rules.rules) == 2 and panel.rule_list.value is None
    panel.depth.value = 3


def test_diagnostics_confusion_matrix_equals_sklearn_and_cells_click_through(cancer_datasets_explorer, cancer):
    ex = cancer_datasets_explorer
    ex.tab = "diagnostics"
    panel = ex.panels["diagnostics"]
    predicted = np.argmax(np.asarray(cancer.model(cancer.x_test)), axis=1)
    expected = confusion_matrix(cancer.y_test, predicted, labels=[0, 1])
    np.testing.assert_array_equal(panel.values, expected)
    np.testing.assert_array_equal(synced(panel.cm, "color"), expected.astype(np.float32))
    assert "<b>train</b>" in panel.table.value and "<b>data</b>" in panel.table.value
    wrong = np.flatnonzero(predicted != cancer.y_test)
    true, pred = int(cancer.y_test[wrong[0]]), int(predicted[wrong[0]])
    panel.cm.set_state({"selected": [[true, pred]]})  # what the browser sends on a click
    assert cancer.y_test[ex.sample] == true and predicted[ex.sample] == pred
    # Slices of the chosen feature equal a direct computation.
    panel.slice_feature.value = 20
    direct = slice_metrics(cancer.model, cancer.x_test, cancer.y_test, 20, feature_names=cancer.feature_names)
    np.testing.assert_allclose(synced(panel.slice_plot.mark, "y"), direct.values.astype(np.float32))


def test_misclassified_only_filter(cancer_datasets_explorer, cancer):
    ex = cancer_datasets_explorer
    ex.tab = "diagnostics"
    panel = ex.panels["diagnostics"]
    predicted = np.argmax(np.asarray(cancer.model(cancer.x_test)), axis=1)
    wrong = np.flatnonzero(predicted != cancer.y_test)
    panel.misclassified.value = True
    try:
        assert ex.slider.max == len(wrong) - 1
        visited = set()
        for position in range(len(wrong)):
            ex.slider.value = position
            visited.add(ex.sample)
        assert visited == set(wrong.tolist())
    finally:
        panel.misclassified.value = False
    assert ex.slider.max == len(cancer.x_test) - 1


def test_findings_panel_lists_a_planted_nan_and_clicks_to_its_layer(digits):
    model = copy_of(digits.model)
    plant_weight(model.get_layer("dense").kernel, (0, 0), np.nan)
    ex = nbviz.explore(model, digits.x_test[:40], digits.y_test[:40])
    ex.tab = "findings"
    panel = ex.panels["findings"]
    kinds = [(f.kind, f.layer) for f in panel.found]
    assert ("nonfinite_weights", "dense") in kinds
    index = kinds.index(("nonfinite_weights", "dense"))
    assert panel.found[index].severity == "critical" and "dense" in panel.finding_list.options[index][0]
    panel.finding_list.value = index
    assert (ex.tab, ex.layer) == (panel.found[index].panel, "dense")


def test_findings_on_the_healthy_demo_are_quiet(cancer_datasets_explorer):
    ex = cancer_datasets_explorer
    ex.tab = "findings"
    assert not [f for f in ex.panels["findings"].found if f.severity in ("warning", "critical")]
