"""The SHAP panel against shap run independently (the deterministic deep explainer), mark by mark."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import nbviz
from nbviz.compute import ShapExplainer
from nbviz.testing import synced_array as synced


@pytest.fixture(scope="module")
def shap_explorer(cancer):
    ex = nbviz.explore(
        cancer.model,
        cancer.x_test[:60],
        cancer.y_test[:60],
        feature_names=cancer.feature_names,
        class_names=cancer.class_names,
    )
    ex.tab = "shap"
    ex.panels["shap"].explainer_choice.value = "deep"
    return ex


def _independent(ex, x):
    return ShapExplainer(ex.analysis.model, ex.analysis.background, "deep").explain(x)


def test_local_view_holds_the_attribution_for_the_predicted_class(shap_explorer, cancer):
    ex, panel = shap_explorer, shap_explorer.panels["shap"]
    for sample in (0, 9, 31):
        ex.sample = sample
        expected = _independent(ex, cancer.x_test[sample : sample + 1]).for_class(None)
        np.testing.assert_allclose(panel.values, expected.values[0], atol=1e-6)
        top = np.argsort(np.abs(expected.values[0]))[-10:]
        np.testing.assert_allclose(synced(panel.local_plot.mark, "y"), expected.values[0][top], atol=1e-6)
        labels = list(panel.local_plot.mark.x)
        assert labels[-1] == f"{cancer.feature_names[top[-1]]} = {cancer.x_test[sample, top[-1]]:.4g}"
        assert f"f(x) = {expected.outputs[0]:.4g}" in panel.info.value and "explainer: <b>deep</b>" in panel.info.value


def test_switching_class_changes_the_marks(shap_explorer):
    ex, panel = shap_explorer, shap_explorer.panels["shap"]
    ex.sample = 4
    predicted = int(np.argmax(ex.analysis.output(4)))
    before = synced(panel.local_plot.mark, "y").copy()
    panel.class_choice.value = 1 - predicted
    try:
        after = synced(panel.local_plot.mark, "y")
        expected = ex.analysis.shap_values(4, "deep").for_class(1 - predicted).values[0]
        np.testing.assert_allclose(panel.values, expected)
        # Two softmax classes: p1 = 1 - p0, so the other class's attributions are the negatives.
        np.testing.assert_allclose(after, -before, atol=1e-6)
        assert f"class <b>{ex.analysis.policy.class_name(1 - predicted)}</b>" in panel.info.value
    finally:
        panel.class_choice.value = -1


def test_second_visit_hits_the_cache(shap_explorer, monkeypatch):
    ex = shap_explorer
    ex.sample = 11
    explainer = ex.analysis.shap_explainer("deep")
    calls = []
    original = explainer.explain
    monkeypatch.setattr(explainer, "explain", lambda x: calls.append(1) or original(x))
    ex.sample = 12
    ex.sample = 11
    ex.sample = 12
    assert len(calls) == 1  # only sample 12 was new


def test_global_importance_with_progress_and_cache(shap_explorer, cancer):
    ex, panel = shap_explorer, shap_explorer.panels["shap"]
    panel.subset.value = 25
    progress = []
    panel._set_progress = lambda share: progress.append(share)
    panel.start_global(wait=True)
    expected = _independent(ex, cancer.x_test[:25]).for_class(None)
    importance = np.abs(expected.values).mean(axis=0)
    np.testing.assert_allclose(panel.global_values, importance, rtol=1e-5, atol=1e-7)
    top = np.argsort(importance)[-10:]
    np.testing.assert_allclose(synced(panel.importance_plot.mark, "y"), importance[top], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(synced(panel.swarm, "x"), expected.values[:, top].ravel(), atol=1e-6)
    assert progress == [0.4, 0.8, 1.0] and "25 samples" in panel.global_status.value
    assert not panel.run_button.disabled and panel.cancel_button.disabled
    key = (ex.analysis.version, "shap global", "deep", 25)
    cached = ex.analysis.memo.peek(key)
    assert cached is not None
    panel.start_global(wait=True)
    assert ex.analysis.memo.peek(key) is cached  # never recomputed


def test_global_can_be_cancelled_and_the_slider_stays_usable(shap_explorer):
    ex, panel = shap_explorer, shap_explorer.panels["shap"]
    panel.subset.value = 40
    panel._set_progress = lambda share: panel._cancel.set()  # cancel right after the first chunk
    panel.start_global(wait=False)
    ex.sample = 20  # the widget answers while the worker runs
    panel._worker.join()
    assert panel.global_status.value == "cancelled"
    assert (ex.analysis.version, "shap global", "deep", 40) not in ex.analysis.memo
    assert ex.panels["shap"].state.sample == 20


def test_auto_fallback_is_named_in_the_panel(rng):
    tokens = keras.Input((5,), dtype="int32")
    h = keras.layers.GlobalAveragePooling1D()(keras.layers.Embedding(12, 3)(tokens))
    model = keras.Model(tokens, keras.layers.Dense(2, activation="softmax")(h))
    ex = nbviz.explore(model, rng.integers(0, 12, size=(8, 5)))
    ex.tab = "shap"
    info = ex.panels["shap"].info.value
    assert "explainer: <b>permutation</b> (auto fell back: integer inputs" in info
    assert ex.panels["shap"].values.shape == (5,)


def test_image_attributions_as_a_heatmap(digits):
    ex = nbviz.explore(digits.model, digits.x_test[:12])
    ex.tab = "shap"
    panel = ex.panels["shap"]
    panel.explainer_choice.value = "deep"
    expected = ShapExplainer(digits.model, ex.analysis.background, "deep").explain(digits.x_test[:1]).for_class(None)
    np.testing.assert_allclose(panel.values, expected.values[0], atol=1e-6)
    np.testing.assert_allclose(synced(panel.local_plot.mark, "color"), expected.values[0][..., 0], atol=1e-6)
