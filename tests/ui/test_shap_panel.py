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


def _show(ex, sample):
    """Move to ``sample`` and wait for the SHAP tab's worker to draw the full result."""
    ex.sample = sample
    assert ex.panels["shap"].wait(60)


def test_local_view_holds_the_attribution_for_the_predicted_class(shap_explorer, cancer):
    ex, panel = shap_explorer, shap_explorer.panels["shap"]
    for sample in (0, 9, 31):
        _show(ex, sample)
        expected = _independent(ex, cancer.x_test[sample : sample + 1]).for_class(None)
        np.testing.assert_allclose(panel.values, expected.values[0], atol=1e-6)
        top = np.argsort(np.abs(expected.values[0]))[-10:]
        np.testing.assert_allclose(synced(panel.local_plot.mark, "y"), expected.values[0][top], atol=1e-6)
        labels = list(panel.local_plot.mark.x)
        assert labels[-1] == f"{cancer.feature_names[top[-1]]} = {cancer.x_test[sample, top[-1]]:.4g}"
        assert f"f(x) = {expected.outputs[0]:.4g}" in panel.info.value and "explainer: <b>deep</b>" in panel.info.value


def test_switching_class_changes_the_marks(shap_explorer):
    ex, panel = shap_explorer, shap_explorer.panels["shap"]
    _show(ex, 4)
    predicted = int(np.argmax(ex.analysis.output(4)))
    before = synced(panel.local_plot.mark, "y").copy()
    panel.class_choice.value = 1 - predicted
    assert panel.wait(60)
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
    _show(ex, 11)
    explainer = ex.analysis.shap_explainer("deep")
    calls = []
    original = explainer.explain
    monkeypatch.setattr(explainer, "explain", lambda x: calls.append(1) or original(x))
    for sample in (12, 11, 12):
        _show(ex, sample)
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
    key = (ex.analysis.version, "shap global", "deep", 25, "every class")  # deep explains every class at once
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
    assert (ex.analysis.version, "shap global", "deep", 40, "every class") not in ex.analysis.memo
    assert ex.panels["shap"].state.sample == 20


def test_auto_fallback_is_named_in_the_panel(rng):
    tokens = keras.Input((5,), dtype="int32")
    h = keras.layers.GlobalAveragePooling1D()(keras.layers.Embedding(12, 3)(tokens))
    model = keras.Model(tokens, keras.layers.Dense(2, activation="softmax")(h))
    ex = nbviz.explore(model, rng.integers(0, 12, size=(8, 5)))
    ex.tab = "shap"
    assert ex.panels["shap"].wait(60)
    info = ex.panels["shap"].info.value
    assert "explainer: <b>permutation</b> (auto fell back: integer inputs" in info
    assert ex.panels["shap"].values.shape == (5,)


def test_image_attributions_as_a_heatmap(digits):
    ex = nbviz.explore(digits.model, digits.x_test[:12])
    ex.tab = "shap"
    panel = ex.panels["shap"]
    panel.explainer_choice.value = "deep"
    assert panel.wait(60)
    expected = ShapExplainer(digits.model, ex.analysis.background, "deep").explain(digits.x_test[:1]).for_class(None)
    np.testing.assert_allclose(panel.values, expected.values[0], atol=1e-6)
    np.testing.assert_allclose(synced(panel.local_plot.mark, "color"), expected.values[0][..., 0], atol=1e-6)


# ------------------------------------------------------------------------------------------------ progressive
@pytest.fixture
def digits_shap(digits, monkeypatch):
    """A digits Explorer on the SHAP tab (auto: expected gradients), whose render leaves all work to the worker."""
    from nbviz.ui.panels import shap as shap_panel

    monkeypatch.setattr(shap_panel, "SYNC_SECONDS", 0.0)
    ex = nbviz.explore(digits.model, digits.x_test[:30], digits.y_test[:30])
    ex.tab = "shap"
    assert ex.panels["shap"].wait(60)
    return ex


def _gradient_reference(ex, sample, cls):
    import shap

    x = ex.analysis.data.x[0][sample : sample + 1]
    values = shap.GradientExplainer(ex.analysis.model, ex.analysis.background).shap_values(x, rseed=0)
    return np.asarray(values)[0, ..., cls]


def test_refined_values_equal_shaps_gradient_explainer(digits_shap):
    ex, panel = digits_shap, digits_shap.panels["shap"]
    for sample in (3, 17):
        _show(ex, sample)
        cls = int(np.argmax(ex.analysis.output(sample)))
        reference = _gradient_reference(ex, sample, cls)
        np.testing.assert_allclose(panel.values, reference, rtol=1e-4, atol=1e-5 * np.abs(reference).max())
        assert "explainer: <b>gradient</b> (auto)" in panel.info.value
        assert panel.local_status.value == "" and panel.local_row.layout.display == "none"  # no empty row


def test_estimates_are_drawn_and_labelled_until_the_full_result(digits_shap):
    ex, panel = digits_shap, digits_shap.panels["shap"]
    drawn = []
    show = panel._show
    panel._show = lambda answer, sample: drawn.append((answer.done, panel.local_status.value)) or show(answer, sample)
    titles = []
    original = panel.local_plot.show
    panel.local_plot.show = lambda *a, **k: titles.append(k["title"]) or original(*a, **k)
    _show(ex, 8)
    done = [d for d, _ in drawn]
    assert len(done) >= 2 and done == sorted(done) and done[-1] == 200, done
    assert (
        titles[0] == f"attribution, sample 8 (estimate: {done[0]} of 200 draws)"
        and titles[-1] == "attribution, sample 8"
    )
    cls = int(np.argmax(ex.analysis.output(8)))
    reference = _gradient_reference(ex, 8, cls)
    np.testing.assert_allclose(panel.values, reference, rtol=1e-4, atol=1e-5 * np.abs(reference).max())


def test_only_the_class_on_show_is_computed(digits_shap):
    ex, panel = digits_shap, digits_shap.panels["shap"]
    _show(ex, 5)
    version, predicted = ex.analysis.version, int(np.argmax(ex.analysis.output(5)))
    keys = [k for k in ex.analysis.memo._entries if k[0] == version and k[1] == "shap" and k[3] == 5]
    assert keys == [(version, "shap", "auto", 5, predicted)]
    assert (version, "shap all", "auto", 5) not in ex.analysis.memo
    other = (predicted + 1) % 10
    panel.class_choice.value = other
    try:
        assert panel.wait(60)
        np.testing.assert_allclose(panel.values, _gradient_reference(ex, 5, other), rtol=1e-4, atol=1e-6)
        assert (version, "shap", "auto", 5, other) in ex.analysis.memo
    finally:
        panel.class_choice.value = -1


def test_stop_keeps_the_estimate_and_refine_goes_on_from_it(digits_shap):
    ex, panel = digits_shap, digits_shap.panels["shap"]
    draw = panel._draw

    def draw_then_stop(key, estimate):
        draw(key, estimate)
        panel.stop_button.click()

    panel._draw = draw_then_stop
    _show(ex, 21)
    panel._draw = draw
    estimate = ex.analysis.shap_estimate(21, "auto", None)
    assert estimate is not None and not estimate.final
    np.testing.assert_array_equal(panel.values, estimate.attribution.values[0])
    assert f"estimate from {estimate.done} of 200 draws (stopped" in panel.local_status.value
    assert panel.refine_button.layout.display is None and panel.stop_button.layout.display == "none"
    assert panel.local_row.layout.display is None
    panel.refine_button.click()
    assert panel.wait(60)
    cls = int(np.argmax(ex.analysis.output(21)))
    reference = _gradient_reference(ex, 21, cls)
    np.testing.assert_allclose(panel.values, reference, rtol=1e-4, atol=1e-5 * np.abs(reference).max())
    assert panel.refine_button.layout.display == "none" and panel.local_status.value == ""
    # Refining went on with the draws' totals too: the standard error is over all 200 draws.
    final = ex.analysis.shap_estimate(21, "auto", None)
    assert final.totals.shape == (200, 1) and ex.analysis.shap_additivity(final).draws == 200
    np.testing.assert_allclose(final.totals[: estimate.done], estimate.totals)
    np.testing.assert_allclose(final.totals.mean(), panel.values.sum(dtype=np.float64), rtol=1e-4)


def test_moving_on_cancels_the_old_samples_work(digits_shap):
    ex, panel = digits_shap, digits_shap.panels["shap"]
    for sample in (10, 11, 12, 13):  # a slider dragged on: each sample's work replaces the one before
        ex.sample = sample
    assert panel.wait(60)
    cls = int(np.argmax(ex.analysis.output(13)))
    reference = _gradient_reference(ex, 13, cls)
    np.testing.assert_allclose(panel.values, reference, rtol=1e-4, atol=1e-5 * np.abs(reference).max())
    assert panel._drawn is not None and panel._key[2] == 13


def test_a_first_time_cost_says_what_it_computes(digits, monkeypatch):
    from nbviz.ui.panels import shap as shap_panel

    monkeypatch.setattr(shap_panel, "SYNC_SECONDS", 0.0)
    model = keras.models.clone_model(digits.model)  # a new model: its gradient pass is traced on first use
    ex = nbviz.explore(model, digits.x_test[:10])
    ex.tab = "shap"
    panel = ex.panels["shap"]
    status = panel.local_status.value
    assert panel.local_row.layout.display is None
    assert "computing: building the explainer (tracing the model&#x27;s gradient pass the first time)" in status
    assert panel.local_plot.note_text.startswith("computing: building the explainer")
    assert panel.wait(60) and panel.values.shape == (8, 8, 1)


def test_latest_job_runs_the_newest_only():
    import threading

    from nbviz.ui.panels.worker import LatestJob

    jobs, gate, ran = LatestJob(), threading.Event(), []

    def slow(cancelled):
        gate.wait(10)
        ran.append(("a", cancelled()))

    first = jobs.submit("a", slow)
    assert jobs.submit("a", slow) is first  # the same question joins the live job
    jobs.submit("b", lambda cancelled: ran.append(("b", cancelled())))
    last = jobs.submit("c", lambda cancelled: ran.append(("c", cancelled())))
    assert first.cancelled and not last.cancelled
    gate.set()
    assert jobs.wait(10)
    assert ran == [("a", True), ("c", False)]  # b was cancelled before its turn: it never started


# ------------------------------------------------------------------------------------------------ additivity
def _per_draw_totals(model, background, x, cls, samples=200, seed=0):
    """Each expected-gradients draw's contribution summed over the features, by a tape: for draw k (shap's
    background row b and blend t), sum((x - b) * d f_cls / d x at t x + (1 - t) b)."""
    import tensorflow as tf

    from nbviz.compute.methods.path_gradients import shap_draws

    index, blend = shap_draws(seed, len(background), samples)
    rows = background[index].astype(np.float64)
    t = blend.reshape(-1, *[1] * x.ndim)
    points = tf.constant((t * x + (1 - t) * rows).astype(np.float32))
    with tf.GradientTape() as tape:
        tape.watch(points)
        score = tf.reduce_sum(model(points)[:, cls])
    grads = tape.gradient(score, points).numpy().astype(np.float64)
    weights = (x.astype(np.float32) - rows.astype(np.float32)).astype(np.float64)
    return (grads * weights).reshape(samples, -1).sum(axis=1)


@pytest.mark.tensorflow_only
def test_the_gap_and_its_standard_error_equal_numpys_over_the_draws(cancer):
    from nbviz.ui.plots.style import fmt

    ex = nbviz.explore(cancer.model, cancer.x_test[:20], feature_names=cancer.feature_names)
    ex.tab = "shap"
    panel = ex.panels["shap"]
    for sample in (3, 12):
        _show(ex, sample)
        estimate = ex.analysis.shap_estimate(sample, "auto", None)
        assert estimate is not None and estimate.final and estimate.attribution.explainer == "gradient"
        cls = int(estimate.attribution.class_index[0])
        background = ex.analysis.shap_explainer("auto").background
        x = cancer.x_test[sample : sample + 1]
        totals = _per_draw_totals(cancer.model, background, x[0], cls)
        f_x = float(np.asarray(cancer.model(x))[0, cls])
        base = float(np.asarray(cancer.model(background), dtype=np.float64)[:, cls].mean())
        gap = f_x - base - totals.mean()
        error = totals.std(ddof=1) / np.sqrt(len(totals))
        got = ex.analysis.shap_additivity(estimate)
        assert got.in_expectation and got.draws == 200 and not got.within_float_error
        np.testing.assert_allclose(got.standard_error, error, rtol=1e-3)
        np.testing.assert_allclose(got.gap, gap, atol=1e-5 + 1e-3 * abs(gap))
        line = (
            f"Expected gradients add up only in expectation: f(x) - E[f] - sum = {fmt(got.gap)} &plusmn; "
            f"{fmt(got.standard_error, 2)} (standard error over 200 draws)."
        )
        assert line in panel.info.value, panel.info.value


def test_the_gap_shrinks_as_the_draws_grow(cancer):
    from nbviz.compute import default_background
    from nbviz.compute.methods.attribution import additivity
    from nbviz.compute.methods.path_gradients import last

    background = default_background(cancer.x_train)
    x = cancer.x_test[:12]
    gaps, errors = [], []
    for draws in (25, 400, 6400):  # fixed seeds: the same draws every run
        estimate = last(ShapExplainer(cancer.model, background, "gradient", samples=draws).estimates(x))
        found = [additivity(estimate, row) for row in range(len(x))]
        gaps.append(np.mean([abs(a.gap) for a in found]))
        errors.append(np.mean([a.standard_error for a in found]))
        # The standard error describes the gap: over 12 samples, the gap is within 4 of them for all.
        assert all(abs(a.gap) <= 4 * a.standard_error for a in found), [(a.gap, a.standard_error) for a in found]
    # 16 times the draws: a quarter of the standard error, and a gap that falls with it (by at least half).
    np.testing.assert_allclose(errors[1] / errors[0], 0.25, rtol=0.3)
    np.testing.assert_allclose(errors[2] / errors[1], 0.25, rtol=0.3)
    assert gaps[2] < 0.5 * gaps[1] < 0.25 * gaps[0], gaps


def test_an_explainer_that_adds_up_says_its_gap_is_float_error(shap_explorer):
    ex, panel = shap_explorer, shap_explorer.panels["shap"]
    _show(ex, 7)
    estimate = ex.analysis.shap_estimate(7, "deep", None)
    got = ex.analysis.shap_additivity(estimate)
    attribution = estimate.attribution
    total = attribution.values[0].sum(dtype=np.float64)
    gap = float(attribution.outputs[0]) - float(attribution.base_values[0]) - total
    np.testing.assert_allclose(got.gap, gap, atol=1e-9)
    assert got.within_float_error and got.standard_error is None and abs(got.gap) < 1e-5
    assert "The deep explainer adds up: f(x) - E[f] - sum = " in panel.info.value
    assert "within float error." in panel.info.value


# ------------------------------------------------------------------------------------------------ beeswarm
def test_input_labels_say_where_each_value_sits():
    from nbviz.compute.methods.attribution import input_labels

    assert input_labels(None, (3,)) == ["0", "1", "2"]
    assert input_labels(("a", "b"), (2,)) == ["a", "b"]
    assert input_labels(None, (2, 2))[1:3] == ["step 0, feature 1", "step 1, feature 0"]
    assert input_labels(None, (2, 3, 1))[4] == "pixel (1, 1)"  # one channel: no channel named
    rgb = input_labels(None, (2, 3, 3))
    assert rgb[5] == "pixel (0, 1), channel 2" and rgb[np.ravel_multi_index((1, 2, 0), (2, 3, 3))] == (
        "pixel (1, 2), channel 0"
    )
    assert input_labels(None, (2, 2, 2, 1))[5] == "frame 1, pixel (0, 1)"


def test_the_beeswarm_names_pixels_pads_its_range_and_says_its_colours(digits):
    ex = nbviz.explore(digits.model, digits.x_test[:20])
    ex.tab = "shap"
    panel = ex.panels["shap"]
    panel.explainer_choice.value = "deep"
    assert panel.wait(60)
    # Not computed yet: one line says what to press, and no figure stands in (no blank area).
    assert panel.global_row.layout.display == "none"
    assert "Press Global importance" in panel.global_status.value
    panel.subset.value = 10
    panel.start_global(wait=True)
    assert panel.global_row.layout.display is None and panel.beeswarm.has_data
    expected = ShapExplainer(digits.model, ex.analysis.background, "deep").explain(digits.x_test[:10])
    values = expected.for_class(None).values.reshape(10, -1)
    top = np.argsort(np.abs(values).mean(axis=0), kind="stable")[-10:]
    names = [f"pixel ({r}, {c})" for r, c, _ in zip(*np.unravel_index(top, (8, 8, 1)))]
    assert [panel.swarm_axis.tick_labels[str(i)] for i in range(10)] == names
    shown = synced(panel.swarm, "x")
    np.testing.assert_allclose(shown, values[:, top].ravel(), atol=1e-6)
    # Every point whole: the scale reaches beyond the outermost values by 6% of their range on either side.
    scale, span = panel.swarm.scales["x"], float(shown.max() - shown.min())
    np.testing.assert_allclose([scale.min, scale.max], [shown.min() - 0.06 * span, shown.max() + 0.06 * span])
    # Ticks on a 1-2-5 step inside the scale, each labelled.
    ticks = np.asarray(panel.swarm_x_axis.tick_values, dtype=np.float64)
    step = np.diff(ticks)
    np.testing.assert_allclose(step, step[0])
    mantissa = step[0] / 10 ** np.floor(np.log10(step[0]))
    assert min(abs(mantissa - m) for m in (1, 2, 5)) < 1e-9 and 3 <= len(ticks) <= 5
    assert scale.min <= ticks[0] and ticks[-1] <= scale.max and len(panel.swarm_x_axis.tick_labels) == len(ticks)
    assert "feature value: low" in panel.swarm_legend.value and "high" in panel.swarm_legend.value
    assert panel.beeswarm_figure.fig_margin["left"] >= 7 * len("pixel (0, 0)")


def test_where_shap_does_not_apply_the_tab_says_so_in_one_line_and_shows_nothing_else(two_input_model, rng):
    ex = nbviz.explore(two_input_model, [rng.normal(size=(6, 4)), rng.normal(size=(6, 4))])
    ex.tab = "shap"
    panel = ex.panels["shap"]
    assert panel.message.value.count("SHAP values here need a model with one input") == 1
    assert all(section.layout.display == "none" for section in panel.sections)
    assert list(panel.widget.children) == [panel.message, *panel.sections]
